//! Garbage in never panics the token, never wedges it, and never damages its store.

mod common;

use common::*;
use firmware_sim::ctaphid::{BROADCAST_CID, cmd};
use firmware_sim::env::Rng;
use firmware_sim::testing::{HidHost, SeededRng, TestEnv};
use firmware_sim::{Token, TokenConfig};

fn byte(rng: &mut SeededRng) -> u8 {
    let mut b = [0u8; 1];
    rng.fill_bytes(&mut b);
    b[0]
}

fn below(rng: &mut SeededRng, n: usize) -> usize {
    let mut b = [0u8; 4];
    rng.fill_bytes(&mut b);
    u32::from_be_bytes(b) as usize % n
}

/// The token still answers a full ceremony and its store is consistent.
fn assert_healthy(token: &mut Token, env: &mut TestEnv) {
    env.store.restore_power();
    for _ in 0..10 {
        env.clock.advance(1_000);
        token.tick(env);
    }
    token.check_store(env).expect("store consistent");
    let host = HidHost::connect(token, env).unwrap();
    let reg = make_credential(token, env, &host, &Mc::new("example.com", b"u"));
    let ga = Ga::new("example.com").allow(&reg.id);
    let (status, body) = host.ctap2(token, env, GA, Some(&ga.value())).unwrap();
    assert_eq!(status, OK);
    assert_signed(&body.unwrap(), &reg.key, &ga.client_data_hash);
}

#[test]
fn random_reports_on_random_channels() {
    let mut env = TestEnv::new(11);
    let mut token = Token::new(TokenConfig::default(), &mut env);
    let hosts: Vec<HidHost> = (0..3)
        .map(|_| HidHost::connect(&mut token, &mut env).unwrap())
        .collect();
    let mut rng = SeededRng::new(12);
    for _ in 0..20_000 {
        let mut report = [0u8; 64];
        rng.fill_bytes(&mut report);
        let cid = match below(&mut rng, 5) {
            0 => BROADCAST_CID,
            1 => 0,
            2 => u32::from_be_bytes(report[..4].try_into().unwrap()),
            i => hosts[i - 2].cid(),
        };
        report[..4].copy_from_slice(&cid.to_be_bytes());
        if below(&mut rng, 2) == 0 {
            // Mostly plausible commands and lengths.
            let commands = [
                cmd::PING,
                cmd::MSG,
                cmd::CBOR,
                cmd::WINK,
                cmd::LOCK,
                cmd::INIT,
                cmd::CANCEL,
            ];
            report[4] = 0x80 | commands[below(&mut rng, commands.len())];
            report[5] = 0;
            report[6] = byte(&mut rng) % 80;
            if report[4] == 0x80 | cmd::LOCK {
                report[7] = byte(&mut rng) % 3;
            }
        }
        for r in token.handle_report(&mut env, &report) {
            if r[..4] == [0, 0, 0, 0] {
                // The reserved channel only ever hears that it is invalid.
                assert_eq!(&r[4..8], &[0xBF, 0, 1, 0x0B]);
            }
        }
        if below(&mut rng, 8) == 0 {
            env.clock.advance(below(&mut rng, 800) as u64);
            token.tick(&mut env);
        }
    }
    assert_healthy(&mut token, &mut env);
}

#[test]
fn random_and_mutated_ctap2_requests() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let reg = make_credential(&mut token, &mut env, &host, &Mc::new("example.com", b"u"));
    let mut rk = Mc::new("example.com", b"r");
    rk.rk = Some(true);
    let templates = [
        [&[MC][..], &firmware_sim::cbor::encode(&rk.value())].concat(),
        [
            &[GA][..],
            &firmware_sim::cbor::encode(&Ga::new("example.com").allow(&reg.id).value()),
        ]
        .concat(),
        [
            &[GA][..],
            &firmware_sim::cbor::encode(&Ga::new("example.com").value()),
        ]
        .concat(),
    ];
    let mut rng = SeededRng::new(13);
    for i in 0..3_000 {
        let mut payload = templates[i % templates.len()].clone();
        match below(&mut rng, 4) {
            0 => {
                let at = below(&mut rng, payload.len());
                payload[at] = byte(&mut rng);
            }
            1 => payload.truncate(1 + below(&mut rng, payload.len())),
            2 => {
                let at = 1 + below(&mut rng, payload.len() - 1);
                payload.insert(at, byte(&mut rng));
            }
            _ => {
                let len = below(&mut rng, 300);
                payload = vec![0u8; len + 1];
                rng.fill_bytes(&mut payload);
                payload[0] = [MC, GA, INFO, RESET, GNA, SELECTION][below(&mut rng, 6)];
            }
        }
        let reply = host
            .request(&mut token, &mut env, cmd::CBOR, &payload)
            .unwrap();
        assert_eq!(reply.command, cmd::CBOR);
        assert!(!reply.payload.is_empty());
        if reply.payload[0] == OK && reply.payload.len() > 1 {
            firmware_sim::cbor::decode(&reply.payload[1..]).expect("responses are canonical CBOR");
        }
    }
    assert_healthy(&mut token, &mut env);
}

#[test]
fn random_and_mutated_apdus() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let mut rng = SeededRng::new(14);
    for _ in 0..3_000 {
        // Short bodies often, to reach every length-parsing branch.
        let len = if below(&mut rng, 2) == 0 {
            below(&mut rng, 10)
        } else {
            below(&mut rng, 200)
        };
        let mut apdu = vec![0u8; len];
        rng.fill_bytes(&mut apdu);
        if apdu.len() >= 4 && below(&mut rng, 2) == 0 {
            apdu[0] = 0;
            apdu[1] = 1 + byte(&mut rng) % 3;
            apdu[2] = [0x03, 0x07, 0x08, 0x00][below(&mut rng, 4)];
            if apdu.len() > 4 && below(&mut rng, 2) == 0 {
                apdu[4] = 0;
            }
        }
        let reply = host.request(&mut token, &mut env, cmd::MSG, &apdu).unwrap();
        assert_eq!(reply.command, cmd::MSG);
        assert!(reply.payload.len() >= 2, "always a status word");
    }
    assert_healthy(&mut token, &mut env);
}

#[test]
fn deeply_nested_cbor_is_refused_without_exhausting_the_stack() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    for depth in [100usize, 255, 300, 5_000] {
        // {1: [[[ ... ]]]}
        let mut payload = vec![MC, 0xA1, 0x01];
        payload.extend(std::iter::repeat_n(0x81, depth));
        payload.push(0x00);
        let reply = host
            .request(&mut token, &mut env, cmd::CBOR, &payload)
            .unwrap();
        assert_eq!(reply.payload.len(), 1);
        assert!(
            [0x11, 0x12].contains(&reply.payload[0]),
            "depth {depth}: got 0x{:02x}",
            reply.payload[0]
        );
    }
    assert_healthy(&mut token, &mut env);
}
