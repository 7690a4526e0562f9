//! Fuzz harnesses: the bodies of the cargo-fuzz targets (fuzz/), also run by the stable
//! replay test over every committed corpus file (tests/fuzz_corpora.rs). Each takes arbitrary
//! bytes and must not panic; an invariant a harness asserts is a finding like a panic.

use std::collections::HashSet;
use std::sync::OnceLock;

use super::{HidHost, MemStore, SeededRng, TestEnv};
use crate::credential::Algorithm;
use crate::ctap2::messages::{
    ClientPinRequest, ClientPinResponse, ConfigRequest, CredentialManagementRequest,
    CredentialManagementResponse, GetAssertionRequest, GetAssertionResponse, GetInfoResponse,
    LargeBlobsRequest, LargeBlobsResponse, MakeCredentialRequest, MakeCredentialResponse, Message,
};
use crate::ctaphid::{BROADCAST_CID, REPORT_LEN, Report, cmd};
use crate::{ImportedCredential, PrivateKey, Token, TokenConfig, UserEntity};

/// The PIN of the key every harness starts from.
pub const PIN: &str = "1234";
/// The relying party of the discoverable credential stored on that key.
pub const RP: &str = "example.com";
/// Separates the messages of one input for the multi-message harnesses.
pub const SEPARATOR: &[u8] = b"\xDE\xAD";
/// How many channels the CTAPHID harness remembers (broadcast included).
const MAX_CHANNELS: usize = 8;

/// The store of a key past its first boot, with a PIN and one discoverable credential: each
/// input starts from a copy, so runs are independent and cheap (no attestation PKI per input).
fn template() -> &'static MemStore {
    static TEMPLATE: OnceLock<MemStore> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let mut env = TestEnv::new(1);
        let mut token = Token::new(TokenConfig::default(), &mut env);
        token.check_store(&mut env).ok();
        token.set_pin(&mut env, PIN).ok();
        if let Ok(key) = PrivateKey::generate(Algorithm::Es256, &mut SeededRng::new(2)) {
            let credential = ImportedCredential {
                id: vec![0xAB; 16],
                rp_id: RP.into(),
                user: Some(UserEntity {
                    id: b"fuzz".to_vec(),
                    name: Some("fuzz".into()),
                    display_name: None,
                }),
                key,
                sign_count: 0,
                discoverable: true,
                options: Default::default(),
            };
            token.import_credential(&mut env, credential).ok();
        }
        env.store
    })
}

/// A fresh token over a copy of the template store.
fn booted() -> (Token, TestEnv) {
    let mut env = TestEnv::new(3);
    env.store = template().clone();
    let token = Token::new(TokenConfig::default(), &mut env);
    (token, env)
}

fn cid_of(report: &Report) -> u32 {
    u32::from_be_bytes([report[0], report[1], report[2], report[3]])
}

/// CTAPHID reassembly across channels. The input is records of one selector byte and up to 64
/// report bytes. Selector bit 7: advance the clock by `(sel & 0x78) * 25` ms and tick first;
/// bit 2 clear: the report's CID is replaced by remembered channel `sel & 3` (0 is broadcast,
/// then the channels INIT handed out), set: the CID is the report's own bytes. Checks that the
/// token answers only on channels the host used and that every INIT it answers is well formed.
pub fn ctaphid(data: &[u8]) {
    let (mut token, mut env) = booted();
    let mut cids = vec![BROADCAST_CID];
    let mut used = HashSet::new();
    for record in data.chunks(REPORT_LEN + 1) {
        let Some((&sel, body)) = record.split_first() else {
            continue;
        };
        let mut out = Vec::new();
        if sel & 0x80 != 0 {
            env.clock.advance(u64::from(sel & 0x78) * 25);
            out.extend(token.tick(&mut env));
        }
        let mut report = [0u8; REPORT_LEN];
        report[..body.len()].copy_from_slice(body);
        if sel & 0x04 == 0 {
            let cid = cids[usize::from(sel & 3) % cids.len()];
            report[..4].copy_from_slice(&cid.to_be_bytes());
        }
        used.insert(cid_of(&report));
        out.extend(token.handle_report(&mut env, &report));
        for r in &out {
            let cid = cid_of(r);
            assert!(
                used.contains(&cid),
                "a report on channel {cid:#x} the host never used"
            );
            if r[4] == 0x80 | cmd::INIT {
                let len = usize::from(u16::from_be_bytes([r[5], r[6]]));
                assert_eq!(len, 17, "an INIT response carries 17 bytes");
                let new = u32::from_be_bytes([r[15], r[16], r[17], r[18]]);
                assert!(
                    new != 0 && new != BROADCAST_CID,
                    "INIT hands out a usable CID"
                );
                if cids.len() < MAX_CHANNELS && !cids.contains(&new) {
                    cids.push(new);
                }
            }
        }
    }
}

/// Decodes one message type; what decodes must encode and decode again.
fn round_trip<M: Message>(data: &[u8]) {
    if let Ok(message) = M::from_cbor(data) {
        let again = message.to_cbor();
        assert!(
            M::from_cbor(&again).is_ok(),
            "{}: what decoded and was encoded again does not decode",
            std::any::type_name::<M>()
        );
    }
}

/// Every typed CTAP2 decoder (requests a token reads, responses a host reads) on the same bytes.
pub fn ctap2_messages(data: &[u8]) {
    round_trip::<MakeCredentialRequest>(data);
    round_trip::<GetAssertionRequest>(data);
    round_trip::<ClientPinRequest>(data);
    round_trip::<CredentialManagementRequest>(data);
    round_trip::<ConfigRequest>(data);
    round_trip::<LargeBlobsRequest>(data);
    round_trip::<MakeCredentialResponse>(data);
    round_trip::<GetAssertionResponse>(data);
    round_trip::<GetInfoResponse>(data);
    round_trip::<ClientPinResponse>(data);
    round_trip::<CredentialManagementResponse>(data);
    round_trip::<LargeBlobsResponse>(data);
}

/// Sends each [`SEPARATOR`]-separated part of `data` as one CTAPHID message of `command` on one
/// channel, waiting for each answer (a missing answer is a finding: every request is answered).
fn messages(data: &[u8], command: u8) {
    let (mut token, mut env) = booted();
    let host = HidHost::connect(&mut token, &mut env).expect("INIT on a fresh token");
    for part in split(data) {
        let reply = host.request(&mut token, &mut env, command, part);
        assert!(
            !matches!(reply, Err(super::HostError::NoResponse)),
            "every request is answered"
        );
    }
}

/// The parts of `data` between separators.
pub fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
        parts.push(&rest[..at]);
        rest = &rest[at + SEPARATOR.len()..];
    }
    parts.push(rest);
    parts
}

/// CTAP2 commands (command byte and CBOR parameters) through a whole token with a PIN and a
/// stored credential.
pub fn ctap2_commands(data: &[u8]) {
    messages(data, cmd::CBOR);
}

/// CTAP1/U2F APDUs through a whole token (CTAPHID_MSG).
pub fn ctap1_apdus(data: &[u8]) {
    messages(data, cmd::MSG);
}
