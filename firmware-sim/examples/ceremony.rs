//! Registers a credential and signs in with it through the real CTAPHID framing, all in
//! process with the in-memory environment, then repeats the sign-in to give a rough rate.
//!
//! `cargo run -p firmware-sim --example ceremony -- [rounds]`
//!
//! Later benchmarks can reuse this shape: `TestEnv` + `Token` + `HidHost` is the whole token.

use std::time::Instant;

use ciborium::value::{Integer, Value};
use firmware_sim::testing::{HidHost, TestEnv};
use firmware_sim::{Token, TokenConfig, cbor, ctap2_command};

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn int(n: i64) -> Value {
    Value::Integer(Integer::from(n))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let mut env = TestEnv::new(1);
    let mut token = Token::new(TokenConfig::default(), &mut env);
    let host = HidHost::connect(&mut token, &mut env)?;

    let make_credential = cbor::int_map(vec![
        (1, Value::Bytes(vec![0x11; 32])),
        (2, cbor::text_map(vec![("id", text("example.com"))])),
        (
            3,
            cbor::text_map(vec![("id", Value::Bytes(b"user".to_vec()))]),
        ),
        (
            4,
            Value::Array(vec![cbor::text_map(vec![
                ("alg", int(-7)),
                ("type", text("public-key")),
            ])]),
        ),
    ]);
    let (status, body) = host.ctap2(
        &mut token,
        &mut env,
        ctap2_command::MAKE_CREDENTIAL,
        Some(&make_credential),
    )?;
    println!("makeCredential: status 0x{status:02X}");
    let auth_data = match body.as_ref().and_then(|b| lookup(b, 2)) {
        Some(Value::Bytes(b)) => b.clone(),
        _ => return Err("no authData in the response".into()),
    };
    let id_len = match auth_data.get(53..55) {
        Some(&[hi, lo]) => usize::from(u16::from_be_bytes([hi, lo])),
        _ => return Err("authData too short".into()),
    };
    let credential_id = auth_data
        .get(55..55 + id_len)
        .ok_or("authData too short")?
        .to_vec();
    println!("credential id: {} bytes", credential_id.len());

    let get_assertion = cbor::int_map(vec![
        (1, text("example.com")),
        (2, Value::Bytes(vec![0x22; 32])),
        (
            3,
            Value::Array(vec![cbor::text_map(vec![
                ("id", Value::Bytes(credential_id)),
                ("type", text("public-key")),
            ])]),
        ),
    ]);
    let started = Instant::now();
    for _ in 0..rounds {
        let (status, _) = host.ctap2(
            &mut token,
            &mut env,
            ctap2_command::GET_ASSERTION,
            Some(&get_assertion),
        )?;
        if status != 0 {
            return Err(format!("getAssertion failed: 0x{status:02X}").into());
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{rounds} getAssertion ceremonies in {elapsed:?} ({:.0}/s)",
        f64::from(rounds) / elapsed.as_secs_f64()
    );
    println!("store: {:?}", env.store);
    Ok(())
}

fn lookup(map: &Value, key: i64) -> Option<&Value> {
    match map {
        Value::Map(entries) => entries.iter().find_map(|(k, v)| match k {
            Value::Integer(i) if i128::from(*i) == i128::from(key) => Some(v),
            _ => None,
        }),
        _ => None,
    }
}
