//! What the PIN suites (pin.rs, pin_tokens.rs, pin_config.rs) share: a key with a PIN set over
//! either PIN/UV auth protocol, and the status of a makeCredential or getAssertion.
#![allow(dead_code)]

use firmware_sim::testing::{HidHost, TestEnv};
use firmware_sim::{Token, TokenConfig};

use super::pin::set_pin;
use super::{GA, Ga, MC, Mc, OK, setup};

/// The relying party of the PIN suites.
pub const RP: &str = "example.com";
/// The PIN the suites set.
pub const PIN: &str = "1234";
/// Both PIN/UV auth protocols.
pub const PROTOCOLS: [u8; 2] = [1, 2];

/// A fresh key whose PIN was set with `protocol`.
pub fn with_pin(protocol: u8) -> (Token, TestEnv, HidHost) {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    assert_eq!(set_pin(&mut token, &mut env, &host, protocol, PIN), OK);
    (token, env, host)
}

/// The status of a makeCredential.
pub fn mc_status(token: &mut Token, env: &mut TestEnv, host: &HidHost, mc: &Mc) -> u8 {
    host.ctap2(token, env, MC, Some(&mc.value())).unwrap().0
}

/// The status of a getAssertion.
pub fn ga_status(token: &mut Token, env: &mut TestEnv, host: &HidHost, ga: &Ga) -> u8 {
    host.ctap2(token, env, GA, Some(&ga.value())).unwrap().0
}
