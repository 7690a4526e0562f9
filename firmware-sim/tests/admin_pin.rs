//! The PIN from a control API: the PIN and UV retries it reads (the same numbers getPINRetries
//! and getUVRetries answer a host) and the factory reset that clears the PIN, the credentials
//! and the retries without authenticatorReset's power-up window.

mod common;

use common::pin::*;
use common::*;
use firmware_sim::{PinStatus, TokenConfig};

const PIN: &str = "1234";
const RP: &str = "example.com";

#[test]
fn pin_status_follows_what_the_host_sees() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let status = token.pin_status(&mut env).unwrap();
    assert_eq!(
        status,
        PinStatus {
            pin_set: false,
            pin_retries: Some(8),
            uv_retries: None
        }
    );
    token.set_pin(&mut env, PIN).unwrap();
    assert!(token.pin_status(&mut env).unwrap().pin_set);
    // A wrong PIN over CTAP counts down what the control API reads.
    assert!(pin_token(&mut token, &mut env, &host, 2, "9999", Some(1), Some(RP)).is_err());
    let status = token.pin_status(&mut env).unwrap();
    assert_eq!(status.pin_retries, Some(7));
    assert_eq!(pin_retries(&mut token, &mut env, &host).0, 7);
}

#[test]
fn uv_retries_are_shown_on_a_key_with_built_in_uv() {
    let (mut token, mut env, host) = setup(TokenConfig {
        user_verification: true,
        ..TokenConfig::default()
    });
    let status = token.pin_status(&mut env).unwrap();
    assert_eq!(status.uv_retries, Some(8));
    assert_eq!(uv_retries(&mut token, &mut env, &host), 8);
}

#[test]
fn a_2_0_key_has_no_pin_status() {
    let (mut token, mut env, _host) = setup(TokenConfig {
        protocol: firmware_sim::Protocol::Ctap2_0,
        ..TokenConfig::default()
    });
    assert_eq!(
        token.pin_status(&mut env).unwrap(),
        PinStatus {
            pin_set: false,
            pin_retries: None,
            uv_retries: None
        }
    );
}

#[test]
fn factory_reset_clears_the_pin_and_the_credentials_outside_the_window() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    token.set_pin(&mut env, PIN).unwrap();
    assert!(pin_token(&mut token, &mut env, &host, 2, "9999", Some(1), Some(RP)).is_err());
    let token_before = pin_token(&mut token, &mut env, &host, 2, PIN, Some(1), Some(RP)).unwrap();
    let mc = Mc {
        rk: Some(true),
        ..Mc::new(RP, b"u")
    }
    .with_token(2, &token_before);
    make_credential(&mut token, &mut env, &host, &mc);
    assert_eq!(token.credentials(&mut env).unwrap().len(), 1);
    // Long after power-up: authenticatorReset would be NOT_ALLOWED now.
    env.clock.advance(60_000);
    assert_eq!(
        host.ctap2(&mut token, &mut env, RESET, None).unwrap().0,
        0x30
    );
    token.factory_reset(&mut env).unwrap();
    assert_eq!(
        token.pin_status(&mut env).unwrap(),
        PinStatus {
            pin_set: false,
            pin_retries: Some(8),
            uv_retries: None
        }
    );
    assert!(token.credentials(&mut env).unwrap().is_empty());
    // The host sees it too: no PIN, and a new PIN can be set.
    assert_eq!(pin_retries(&mut token, &mut env, &host).0, 8);
    assert_eq!(set_pin(&mut token, &mut env, &host, 2, "5678"), OK);
}
