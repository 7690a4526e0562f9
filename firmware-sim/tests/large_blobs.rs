//! authenticatorLargeBlobs (0x0C) and the largeBlobKey extension over real CTAPHID framing:
//! reads, fragmented writes with and without a PIN, every refusal (each checked to change
//! nothing), abandoned writes, a power cut at every write of a set, and reset. The serialized
//! array and its trailer are built by the test with sha2 directly.

mod common;

use ciborium::value::Value;
use common::pin::*;
use common::*;
use firmware_sim::testing::{HidHost, TestEnv};
use firmware_sim::{Token, TokenConfig};
use sha2::{Digest, Sha256};

const PIN: &str = "1234";
const LB: u8 = 0x0C;
const MAX_FRAGMENT: usize = 7609 - 64;

const INVALID_LENGTH: u8 = 0x03;
const INVALID_SEQ: u8 = 0x04;
const LARGE_BLOB_STORAGE_FULL: u8 = 0x18;
const INTEGRITY_FAILURE: u8 = 0x3D;
const INVALID_OPTION: u8 = 0x2C;
const INVALID_COMMAND: u8 = 0x01;
const CBOR_UNEXPECTED_TYPE: u8 = 0x11;

/// LEFT(SHA-256(data), 16) appended: a serialized large-blob array.
fn serialized(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    out.extend_from_slice(&Sha256::digest(data)[..16]);
    out
}

fn initial() -> Vec<u8> {
    serialized(&[0x80])
}

/// A CBOR array of one byte string of `n` bytes, serialized.
fn array_of(n: usize, fill: u8) -> Vec<u8> {
    let mut cbor = Vec::new();
    ciborium::into_writer(&Value::Array(vec![Value::Bytes(vec![fill; n])]), &mut cbor).unwrap();
    serialized(&cbor)
}

fn get_req(get: usize, offset: usize) -> Value {
    imap(vec![(1, int(get as i64)), (3, int(offset as i64))])
}

/// One set request; with `auth`, pinUvAuthParam over 32×0xff ‖ 0x0c00 ‖ uint32LE(offset) ‖
/// SHA-256(fragment).
fn set_req(
    fragment: &[u8],
    offset: usize,
    length: Option<usize>,
    auth: Option<(u8, &[u8])>,
) -> Value {
    let mut m = vec![(2, bytes(fragment)), (3, int(offset as i64))];
    if let Some(l) = length {
        m.push((4, int(l as i64)));
    }
    if let Some((protocol, token)) = auth {
        let mut msg = vec![0xFF; 32];
        msg.extend([0x0C, 0x00]);
        msg.extend((offset as u32).to_le_bytes());
        msg.extend(Sha256::digest(fragment));
        m.push((5, bytes(&authenticate(protocol, token, &msg))));
        m.push((6, int(protocol.into())));
    }
    imap(m)
}

fn lb(t: &mut Token, env: &mut TestEnv, host: &HidHost, req: &Value) -> (u8, Option<Value>) {
    host.ctap2(t, env, LB, Some(req)).unwrap()
}

/// The whole stored array, read in fragments of `chunk`.
fn read_all(t: &mut Token, env: &mut TestEnv, host: &HidHost, chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let (status, body) = lb(t, env, host, &get_req(chunk, out.len()));
        assert_eq!(status, OK);
        let part = as_bytes(get(&body.unwrap(), 1).unwrap());
        let done = part.len() < chunk;
        out.extend(part);
        if done {
            return out;
        }
    }
}

/// Writes `array` in fragments of `chunk`; the statuses of every fragment.
fn write_all(
    t: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    array: &[u8],
    chunk: usize,
    auth: Option<(u8, &[u8])>,
) -> Vec<u8> {
    array
        .chunks(chunk)
        .enumerate()
        .map(|(i, part)| {
            let offset = i * chunk;
            let length = (offset == 0).then_some(array.len());
            lb(t, env, host, &set_req(part, offset, length, auth)).0
        })
        .collect()
}

/// A key without a PIN, past its first boot (so the store holds what it always will).
fn no_pin() -> (Token, TestEnv, HidHost) {
    let (mut t, mut env, host) = setup(TokenConfig::default());
    info(&mut t, &mut env, &host);
    (t, env, host)
}

fn with_pin(protocol: u8) -> (Token, TestEnv, HidHost) {
    let (mut t, mut env, host) = setup(TokenConfig::default());
    assert_eq!(set_pin(&mut t, &mut env, &host, protocol, PIN), OK);
    (t, env, host)
}

#[test]
fn get_info_claims_large_blobs_and_the_initial_array_is_there() {
    let (mut t, mut env, host) = no_pin();
    let i = info(&mut t, &mut env, &host);
    assert_eq!(
        tget(get(&i, 4).unwrap(), "largeBlobs"),
        Some(&Value::Bool(true))
    );
    let max = as_int(get(&i, 0x0B).unwrap());
    assert!(max >= 1024, "maxSerializedLargeBlobArray {max}");
    let exts: Vec<String> = match get(&i, 2).unwrap() {
        Value::Array(a) => a.iter().map(as_text).collect(),
        _ => panic!(),
    };
    assert!(exts.contains(&"largeBlobKey".to_owned()));
    assert_eq!(read_all(&mut t, &mut env, &host, 5), initial());
    assert_eq!(read_all(&mut t, &mut env, &host, MAX_FRAGMENT), initial());
    // A CTAP 2.0 key: none of it.
    let (mut t, mut env, host) = setup(TokenConfig {
        protocol: firmware_sim::Protocol::Ctap2_0,
        ..TokenConfig::default()
    });
    let i = info(&mut t, &mut env, &host);
    assert_eq!(tget(get(&i, 4).unwrap(), "largeBlobs"), None);
    assert!(get(&i, 0x0B).is_none() && get(&i, 2).is_none());
    assert_eq!(
        lb(&mut t, &mut env, &host, &get_req(10, 0)).0,
        INVALID_COMMAND
    );
}

#[test]
fn malformed_reads_get_their_status() {
    let (mut t, mut env, host) = no_pin();
    let len = initial().len();
    let cases = vec![
        (get_req(MAX_FRAGMENT + 1, 0), INVALID_LENGTH),
        (get_req(5, len + 1), INVALID_PARAMETER),
        (
            imap(vec![(1, int(5)), (3, int(0)), (4, int(17))]),
            INVALID_PARAMETER,
        ),
        (
            imap(vec![
                (1, int(5)),
                (3, int(0)),
                (5, bytes(&[0; 16])),
                (6, int(2)),
            ]),
            INVALID_PARAMETER,
        ),
        (
            imap(vec![(1, int(5)), (2, bytes(&[0x80])), (3, int(0))]),
            INVALID_PARAMETER,
        ),
        (imap(vec![(3, int(0))]), INVALID_PARAMETER),
        (imap(vec![(1, int(5))]), MISSING_PARAMETER),
    ];
    for (req, want) in cases {
        assert_eq!(lb(&mut t, &mut env, &host, &req).0, want, "{req:?}");
    }
    // Reading at the end gives nothing.
    let (status, body) = lb(&mut t, &mut env, &host, &get_req(5, len));
    assert_eq!(status, OK);
    assert_eq!(as_bytes(get(&body.unwrap(), 1).unwrap()), Vec::<u8>::new());
}

#[test]
fn a_fragmented_write_commits_only_when_complete() {
    let (mut t, mut env, host) = no_pin();
    let array = array_of(200, 0xAB);
    let before = env.store.snapshot();
    let parts: Vec<&[u8]> = array.chunks(90).collect();
    assert_eq!(parts.len(), 3);
    for (i, part) in parts.iter().enumerate() {
        let length = (i == 0).then_some(array.len());
        assert_eq!(
            lb(
                &mut t,
                &mut env,
                &host,
                &set_req(part, i * 90, length, None)
            )
            .0,
            OK
        );
        if i < 2 {
            assert_eq!(
                env.store.snapshot(),
                before,
                "nothing stored before the last fragment"
            );
            assert_eq!(read_all(&mut t, &mut env, &host, 64), initial());
        }
    }
    assert_eq!(read_all(&mut t, &mut env, &host, 64), array);
    assert_eq!(read_all(&mut t, &mut env, &host, MAX_FRAGMENT), array);
    // Persisted: it survives a power cycle.
    t.power_cycle(&mut env);
    let host = HidHost::connect(&mut t, &mut env).unwrap();
    assert_eq!(read_all(&mut t, &mut env, &host, 100), array);
    t.check_store(&mut env).unwrap();
}

#[test]
fn refused_writes_change_nothing() {
    let (mut t, mut env, host) = no_pin();
    let max = as_int(get(&info(&mut t, &mut env, &host), 0x0B).unwrap()) as usize;
    let array = array_of(100, 1);
    // One good array stored first.
    assert_eq!(
        write_all(&mut t, &mut env, &host, &array, 50, None),
        [OK, OK, OK]
    );
    let before = env.store.snapshot();
    let bad_hash = {
        let mut a = array_of(100, 2);
        let n = a.len();
        a[n - 1] ^= 1;
        a
    };
    let cases: Vec<(Value, u8)> = vec![
        (
            set_req(&vec![0; MAX_FRAGMENT + 1], 0, Some(MAX_FRAGMENT + 1), None),
            INVALID_LENGTH,
        ),
        (set_req(&array, 0, None, None), INVALID_PARAMETER),
        (
            set_req(&array, 0, Some(max + 1), None),
            LARGE_BLOB_STORAGE_FULL,
        ),
        (set_req(&[0x80; 16], 0, Some(16), None), INVALID_PARAMETER),
        (
            set_req(&array, 0, Some(array.len() - 1), None),
            INVALID_PARAMETER,
        ),
        (set_req(&array[..10], 10, None, None), INVALID_SEQ),
        (
            set_req(&bad_hash, 0, Some(bad_hash.len()), None),
            INTEGRITY_FAILURE,
        ),
    ];
    for (req, want) in cases {
        assert_eq!(lb(&mut t, &mut env, &host, &req).0, want, "{req:?}");
        assert_eq!(env.store.snapshot(), before);
    }
    // In the middle of a write: a wrong offset, a length again, a fragment past the end.
    let next = array_of(100, 3);
    assert_eq!(
        lb(
            &mut t,
            &mut env,
            &host,
            &set_req(&next[..40], 0, Some(next.len()), None)
        )
        .0,
        OK
    );
    for (req, want) in [
        (set_req(&next[41..80], 41, None, None), INVALID_SEQ),
        (
            set_req(&next[40..80], 40, Some(next.len()), None),
            INVALID_PARAMETER,
        ),
        (set_req(&[0; 200], 40, None, None), INVALID_PARAMETER),
    ] {
        assert_eq!(lb(&mut t, &mut env, &host, &req).0, want);
    }
    // None of those disturbed the write in progress.
    assert_eq!(
        lb(
            &mut t,
            &mut env,
            &host,
            &set_req(&next[40..], 40, None, None)
        )
        .0,
        OK
    );
    assert_eq!(read_all(&mut t, &mut env, &host, 1000), next);
    // After a complete write (or a failed last fragment) nothing continues.
    assert_eq!(
        lb(
            &mut t,
            &mut env,
            &host,
            &set_req(&[0], next.len(), None, None)
        )
        .0,
        INVALID_SEQ
    );
}

#[test]
fn an_abandoned_write_is_discarded() {
    let (mut t, mut env, host) = no_pin();
    let old = array_of(100, 4);
    let new = array_of(60, 5);
    // Two fragments of three, then a new write starts over.
    assert_eq!(
        lb(
            &mut t,
            &mut env,
            &host,
            &set_req(&old[..40], 0, Some(old.len()), None)
        )
        .0,
        OK
    );
    assert_eq!(
        lb(
            &mut t,
            &mut env,
            &host,
            &set_req(&old[40..80], 40, None, None)
        )
        .0,
        OK
    );
    assert_eq!(write_all(&mut t, &mut env, &host, &new, 1000, None), [OK]);
    assert_eq!(
        lb(
            &mut t,
            &mut env,
            &host,
            &set_req(&old[80..], 80, None, None)
        )
        .0,
        INVALID_SEQ
    );
    assert_eq!(read_all(&mut t, &mut env, &host, 1000), new);
    // A power cycle drops a write in progress.
    assert_eq!(
        lb(
            &mut t,
            &mut env,
            &host,
            &set_req(&old[..40], 0, Some(old.len()), None)
        )
        .0,
        OK
    );
    t.power_cycle(&mut env);
    let host = HidHost::connect(&mut t, &mut env).unwrap();
    assert_eq!(
        lb(
            &mut t,
            &mut env,
            &host,
            &set_req(&old[40..], 40, None, None)
        )
        .0,
        INVALID_SEQ
    );
    assert_eq!(read_all(&mut t, &mut env, &host, 1000), new);
}

#[test]
fn a_pin_key_takes_only_fragments_authorised_by_an_lbw_token() {
    for protocol in [1u8, 2] {
        let (mut t, mut env, host) = with_pin(protocol);
        let array = array_of(150, 6);
        let before = env.store.snapshot();
        assert_eq!(
            write_all(&mut t, &mut env, &host, &array, 1000, None),
            [PUAT_REQUIRED]
        );
        let ga = pin_token(
            &mut t,
            &mut env,
            &host,
            protocol,
            PIN,
            Some(PERM_GA),
            Some("a.example"),
        )
        .unwrap();
        assert_eq!(
            write_all(&mut t, &mut env, &host, &array, 1000, Some((protocol, &ga))),
            [PIN_AUTH_INVALID],
            "no lbw permission"
        );
        let lbw = pin_token(&mut t, &mut env, &host, protocol, PIN, Some(PERM_LBW), None).unwrap();
        // The MAC covers the offset: one made for another offset does not verify.
        let mut req = set_req(&array[..80], 0, Some(array.len()), Some((protocol, &lbw)));
        let forged = set_req(&array[..80], 1, None, Some((protocol, &lbw)));
        if let (Value::Map(r), Value::Map(f)) = (&mut req, &forged) {
            let mac = f.iter().find(|(k, _)| *k == int(5)).unwrap().1.clone();
            r.iter_mut().find(|(k, _)| *k == int(5)).unwrap().1 = mac;
        }
        assert_eq!(lb(&mut t, &mut env, &host, &req).0, PIN_AUTH_INVALID);
        assert_eq!(
            lb(
                &mut t,
                &mut env,
                &host,
                &set_req(
                    &array[..10],
                    0,
                    Some(array.len()),
                    Some((3 - protocol, &lbw))
                )
            )
            .0,
            PIN_AUTH_INVALID
        );
        // Missing or unknown protocol.
        let mut m = vec![
            (2, bytes(&array)),
            (3, int(0)),
            (4, int(array.len() as i64)),
            (5, bytes(&[0; 32])),
        ];
        assert_eq!(
            lb(&mut t, &mut env, &host, &imap(m.clone())).0,
            MISSING_PARAMETER
        );
        m.push((6, int(7)));
        assert_eq!(lb(&mut t, &mut env, &host, &imap(m)).0, INVALID_PARAMETER);
        assert_eq!(env.store.snapshot(), before, "nothing changed");
        // The right token, fragment by fragment; reading needs none.
        assert_eq!(
            write_all(&mut t, &mut env, &host, &array, 70, Some((protocol, &lbw))),
            [OK, OK, OK]
        );
        assert_eq!(read_all(&mut t, &mut env, &host, 1000), array);
        // lbw survives a getAssertion that uses up mc and ga.
        let tok = pin_token(
            &mut t,
            &mut env,
            &host,
            protocol,
            PIN,
            Some(PERM_MC | PERM_GA | PERM_LBW),
            Some("a.example"),
        )
        .unwrap();
        let mut mc = Mc::new("a.example", b"u").with_token(protocol, &tok);
        mc.rk = Some(true);
        make_credential(&mut t, &mut env, &host, &mc);
        let second = array_of(10, 7);
        assert_eq!(
            write_all(
                &mut t,
                &mut env,
                &host,
                &second,
                1000,
                Some((protocol, &tok))
            ),
            [OK]
        );
        assert_eq!(read_all(&mut t, &mut env, &host, 1000), second);
    }
}

#[test]
fn a_power_cut_at_any_write_of_a_set_leaves_the_old_or_the_new_array() {
    let old = array_of(80, 8);
    let new = array_of(120, 9);
    // How many writes a complete run performs.
    let (mut t, mut env, host) = no_pin();
    assert_eq!(write_all(&mut t, &mut env, &host, &old, 1000, None), [OK]);
    let start = env.store.writes();
    assert_eq!(
        write_all(&mut t, &mut env, &host, &new, 50, None),
        [OK, OK, OK]
    );
    let total = env.store.writes() - start;
    assert!(total >= 1);
    for n in 1..=total + 1 {
        let (mut t, mut env, host) = no_pin();
        assert_eq!(write_all(&mut t, &mut env, &host, &old, 1000, None), [OK]);
        env.store.cut_power_at_write(n);
        let statuses = write_all(&mut t, &mut env, &host, &new, 50, None);
        let cut = !env.store.is_powered();
        env.store.restore_power();
        t.power_cycle(&mut env);
        t.check_store(&mut env).unwrap();
        let host = HidHost::connect(&mut t, &mut env).unwrap();
        let stored = read_all(&mut t, &mut env, &host, 1000);
        if statuses.iter().all(|s| *s == OK) {
            assert!(!cut, "n={n}: success only when committed");
            assert_eq!(stored, new, "n={n}");
        } else {
            assert_eq!(stored, old, "n={n}: the old array, whole");
        }
    }
}

#[test]
fn reset_restores_the_initial_array() {
    let (mut t, mut env, host) = no_pin();
    let array = array_of(30, 10);
    assert_eq!(write_all(&mut t, &mut env, &host, &array, 1000, None), [OK]);
    // And a write in progress is dropped too.
    assert_eq!(
        lb(
            &mut t,
            &mut env,
            &host,
            &set_req(&array[..10], 0, Some(array.len()), None)
        )
        .0,
        OK
    );
    t.power_cycle(&mut env);
    let host = HidHost::connect(&mut t, &mut env).unwrap();
    assert_eq!(host.ctap2(&mut t, &mut env, RESET, None).unwrap().0, OK);
    assert_eq!(read_all(&mut t, &mut env, &host, 1000), initial());
    assert_eq!(
        lb(
            &mut t,
            &mut env,
            &host,
            &set_req(&array[10..], 10, None, None)
        )
        .0,
        INVALID_SEQ
    );
}

/// `request` with the extensions map (member `key`) added.
fn with_extensions(request: Value, key: i64, extensions: Value) -> Value {
    let Value::Map(mut entries) = request else {
        panic!()
    };
    entries.push((int(key), extensions));
    entries.sort_by_key(|(k, _)| as_int(k));
    Value::Map(entries)
}

fn lbk(value: Value) -> Value {
    tmap(vec![("largeBlobKey", value)])
}

#[test]
fn large_blob_key_is_made_for_discoverable_credentials_and_returned_on_request() {
    let (mut t, mut env, host) = no_pin();
    let mut mc = Mc::new("a.example", b"u1");
    mc.rk = Some(true);
    let (status, body) = host
        .ctap2(
            &mut t,
            &mut env,
            MC,
            Some(&with_extensions(mc.value(), 6, lbk(Value::Bool(true)))),
        )
        .unwrap();
    assert_eq!(status, OK);
    let body = body.unwrap();
    let key = as_bytes(get(&body, 5).unwrap());
    assert_eq!(key.len(), 32);
    let ad = parse_auth_data(&as_bytes(get(&body, 2).unwrap()));
    assert_eq!(ad.flags & 0x80, 0, "no authenticator-data extension output");
    let id = ad.credential_id.unwrap();
    // getAssertion returns it when asked, and only then.
    let ga = Ga::new("a.example");
    let (status, body) = host
        .ctap2(
            &mut t,
            &mut env,
            GA,
            Some(&with_extensions(ga.value(), 4, lbk(Value::Bool(true)))),
        )
        .unwrap();
    assert_eq!(status, OK);
    let body = body.unwrap();
    assert_eq!(as_bytes(get(&body, 7).unwrap()), key);
    assert_eq!(credential_id_of(&body), id);
    let (_, body) = host.ctap2(&mut t, &mut env, GA, Some(&ga.value())).unwrap();
    assert!(get(&body.unwrap(), 7).is_none());
    // A credential made without it has none.
    let mut mc = Mc::new("b.example", b"u2");
    mc.rk = Some(true);
    let plain = make_credential(&mut t, &mut env, &host, &mc);
    assert!(get(&plain.response, 5).is_none());
    let ga = Ga::new("b.example");
    let (status, body) = host
        .ctap2(
            &mut t,
            &mut env,
            GA,
            Some(&with_extensions(ga.value(), 4, lbk(Value::Bool(true)))),
        )
        .unwrap();
    assert_eq!(status, OK);
    assert!(get(&body.unwrap(), 7).is_none());
}

#[test]
fn large_blob_key_refusals_change_nothing() {
    let (mut t, mut env, host) = no_pin();
    let before = env.store.snapshot();
    let mut rk = Mc::new("a.example", b"u1");
    rk.rk = Some(true);
    let nr = Mc::new("a.example", b"u1");
    for (mc, input, want) in [
        (&nr, Value::Bool(true), INVALID_OPTION),
        (&rk, Value::Bool(false), INVALID_OPTION),
        (&rk, int(1), CBOR_UNEXPECTED_TYPE),
    ] {
        let (status, _) = host
            .ctap2(
                &mut t,
                &mut env,
                MC,
                Some(&with_extensions(mc.value(), 6, lbk(input))),
            )
            .unwrap();
        assert_eq!(status, want);
        assert_eq!(env.store.snapshot(), before);
    }
    make_credential(&mut t, &mut env, &host, &rk);
    let (status, _) = host
        .ctap2(
            &mut t,
            &mut env,
            GA,
            Some(&with_extensions(
                Ga::new("a.example").value(),
                4,
                lbk(Value::Bool(false)),
            )),
        )
        .unwrap();
    assert_eq!(status, INVALID_OPTION);
    // A CTAP 2.0 key does not know the extension: ignored.
    let (mut t, mut env, host) = setup(TokenConfig {
        protocol: firmware_sim::Protocol::Ctap2_0,
        ..TokenConfig::default()
    });
    let (status, body) = host
        .ctap2(
            &mut t,
            &mut env,
            MC,
            Some(&with_extensions(rk.value(), 6, lbk(Value::Bool(true)))),
        )
        .unwrap();
    assert_eq!(status, OK);
    assert!(get(&body.unwrap(), 5).is_none());
}
