//! CTAP 2.1 authenticatorConfig (enterprise attestation, alwaysUv, setMinPINLength and
//! forcePINChange) and authenticatorReset of a key with a PIN, over real CTAPHID framing.

mod common;

use common::pin::*;
use common::pin_key::*;
use common::*;
use firmware_sim::testing::{HidHost, TestEnv};
use firmware_sim::{Token, TokenConfig};

#[test]
fn force_pin_change_and_a_raised_minimum_pin_length() {
    let (mut token, mut env, host) = with_pin(2);
    let acfg = pin_token(&mut token, &mut env, &host, 2, PIN, Some(PERM_ACFG), None).unwrap();
    // Lowering the minimum is refused; raising it above the PIN's length forces a change.
    let lower = imap(vec![(1, int(3))]);
    assert_eq!(
        config(
            &mut token,
            &mut env,
            &host,
            3,
            Some(lower),
            Some((2, &acfg))
        ),
        PIN_POLICY_VIOLATION
    );
    let raise = imap(vec![
        (1, int(6)),
        (2, ciborium::Value::Array(vec![text(RP)])),
    ]);
    assert_eq!(
        config(
            &mut token,
            &mut env,
            &host,
            3,
            Some(raise),
            Some((2, &acfg))
        ),
        OK
    );
    let got = info(&mut token, &mut env, &host);
    assert_eq!(as_int(get(&got, 13).unwrap()), 6);
    assert_eq!(get(&got, 12), Some(&ciborium::Value::Bool(true)));
    // getPinToken: PIN_INVALID; with permissions: PIN_POLICY_VIOLATION (the PIN is right, so
    // the retries are full).
    assert_eq!(
        pin_token(&mut token, &mut env, &host, 2, PIN, None, None),
        Err(PIN_INVALID)
    );
    assert_eq!(
        pin_token(&mut token, &mut env, &host, 2, PIN, Some(PERM_GA), Some(RP)),
        Err(PIN_POLICY_VIOLATION)
    );
    assert_eq!(pin_retries(&mut token, &mut env, &host).0, 8);
    // The new PIN must follow the new minimum and differ from the current one.
    assert_eq!(
        change_pin(&mut token, &mut env, &host, 2, PIN, "12345"),
        PIN_POLICY_VIOLATION
    );
    assert_eq!(
        change_pin(&mut token, &mut env, &host, 1, PIN, "123456"),
        OK
    );
    let got = info(&mut token, &mut env, &host);
    assert_eq!(get(&got, 12), Some(&ciborium::Value::Bool(false)));
    assert!(pin_token(&mut token, &mut env, &host, 2, "123456", None, None).is_ok());

    // forceChangePin on its own, and the same PIN refused while it holds.
    let acfg = pin_token(
        &mut token,
        &mut env,
        &host,
        1,
        "123456",
        Some(PERM_ACFG),
        None,
    )
    .unwrap();
    let force = imap(vec![(3, ciborium::Value::Bool(true))]);
    assert_eq!(
        config(
            &mut token,
            &mut env,
            &host,
            3,
            Some(force),
            Some((1, &acfg))
        ),
        OK
    );
    assert_eq!(
        change_pin(&mut token, &mut env, &host, 2, "123456", "123456"),
        PIN_POLICY_VIOLATION
    );
    assert_eq!(
        change_pin(&mut token, &mut env, &host, 2, "123456", "654321"),
        OK
    );
    assert!(pin_token(&mut token, &mut env, &host, 2, "654321", None, None).is_ok());
}

#[test]
fn config_needs_an_acfg_token_once_a_pin_is_set() {
    for protocol in PROTOCOLS {
        let (mut token, mut env, host) = setup(TokenConfig::default());
        // No PIN, no UV: the key is not protected, config needs no token.
        assert_eq!(config(&mut token, &mut env, &host, 2, None, None), OK);
        assert_eq!(
            tget(&info_options(&mut token, &mut env, &host), "alwaysUv"),
            Some(&ciborium::Value::Bool(true))
        );
        // ...but now it is (alwaysUv): toggling back needs a token.
        assert_eq!(
            config(&mut token, &mut env, &host, 2, None, None),
            PUAT_REQUIRED
        );
        assert_eq!(set_pin(&mut token, &mut env, &host, protocol, PIN), OK);
        let no_acfg = pin_token(
            &mut token,
            &mut env,
            &host,
            protocol,
            PIN,
            Some(PERM_MC),
            Some(RP),
        )
        .unwrap();
        assert_eq!(
            config(
                &mut token,
                &mut env,
                &host,
                2,
                None,
                Some((protocol, &no_acfg))
            ),
            PIN_AUTH_INVALID
        );
        let acfg = pin_token(
            &mut token,
            &mut env,
            &host,
            protocol,
            PIN,
            Some(PERM_ACFG),
            None,
        )
        .unwrap();
        let mut wrong = acfg.clone();
        wrong[0] ^= 1;
        assert_eq!(
            config(
                &mut token,
                &mut env,
                &host,
                2,
                None,
                Some((protocol, &wrong))
            ),
            PIN_AUTH_INVALID
        );
        assert_eq!(
            config(
                &mut token,
                &mut env,
                &host,
                2,
                None,
                Some((protocol, &acfg))
            ),
            OK
        );
        let options = info_options(&mut token, &mut env, &host);
        assert_eq!(
            tget(&options, "alwaysUv"),
            Some(&ciborium::Value::Bool(false))
        );
        assert_eq!(
            tget(&options, "makeCredUvNotRqd"),
            Some(&ciborium::Value::Bool(true))
        );
        // Enterprise attestation on a key that cannot: invalid.
        assert_eq!(
            config(
                &mut token,
                &mut env,
                &host,
                1,
                None,
                Some((protocol, &acfg))
            ),
            INVALID_PARAMETER
        );
        assert_eq!(
            config(
                &mut token,
                &mut env,
                &host,
                0x7F,
                None,
                Some((protocol, &acfg))
            ),
            0x3E
        );
    }
}

#[test]
fn reset_clears_the_pin_and_the_configuration() {
    let config = TokenConfig {
        enterprise_attestation: true,
        ..TokenConfig::default()
    };
    let (mut token, mut env, host) = setup(config);
    assert_eq!(
        tget(&info_options(&mut token, &mut env, &host), "ep"),
        Some(&ciborium::Value::Bool(false))
    );
    assert_eq!(set_pin(&mut token, &mut env, &host, 2, "123456"), OK);
    let acfg = pin_token(
        &mut token,
        &mut env,
        &host,
        2,
        "123456",
        Some(PERM_ACFG),
        None,
    )
    .unwrap();
    assert_eq!(config_ok(&mut token, &mut env, &host, 1, None, &acfg), OK);
    assert_eq!(
        config_ok(
            &mut token,
            &mut env,
            &host,
            3,
            Some(imap(vec![(1, int(5))])),
            &acfg
        ),
        OK
    );
    assert_eq!(config_ok(&mut token, &mut env, &host, 2, None, &acfg), OK);
    let options = info_options(&mut token, &mut env, &host);
    assert_eq!(tget(&options, "ep"), Some(&ciborium::Value::Bool(true)));
    assert_eq!(
        tget(&options, "alwaysUv"),
        Some(&ciborium::Value::Bool(true))
    );
    // Enterprise attestation, platform-managed: epAtt and the batch statement.
    let t = pin_token(&mut token, &mut env, &host, 2, "123456", None, None).unwrap();
    let mut mc = Mc::new(RP, b"u").with_token(2, &t);
    mc.ep = Some(2);
    let reg = make_credential(&mut token, &mut env, &host, &mc);
    assert_eq!(get(&reg.response, 4), Some(&ciborium::Value::Bool(true)));
    assert_eq!(get(&reg.response, 1), Some(&text("packed")));
    // Vendor-facilitated for an RP the key does not know: an ordinary attestation.
    let t = pin_token(&mut token, &mut env, &host, 2, "123456", None, None).unwrap();
    let mut mc = Mc::new(RP, b"v").with_token(2, &t);
    mc.ep = Some(1);
    let reg = make_credential(&mut token, &mut env, &host, &mc);
    assert_eq!(get(&reg.response, 4), None);

    token.power_cycle(&mut env);
    let host = HidHost::connect(&mut token, &mut env).unwrap();
    assert_eq!(host.ctap2(&mut token, &mut env, RESET, None).unwrap().0, OK);
    let info = info(&mut token, &mut env, &host);
    let options = get(&info, 4).unwrap();
    assert_eq!(
        tget(options, "clientPin"),
        Some(&ciborium::Value::Bool(false))
    );
    assert_eq!(tget(options, "ep"), Some(&ciborium::Value::Bool(false)));
    assert_eq!(
        tget(options, "alwaysUv"),
        Some(&ciborium::Value::Bool(false))
    );
    assert_eq!(as_int(get(&info, 13).unwrap()), 4);
    assert_eq!(pin_retries(&mut token, &mut env, &host), (8, Some(false)));
    // Enterprise attestation is off again.
    let mut mc = Mc::new(RP, b"u");
    mc.ep = Some(2);
    assert_eq!(
        mc_status(&mut token, &mut env, &host, &mc),
        INVALID_PARAMETER
    );
    assert_eq!(set_pin(&mut token, &mut env, &host, 1, "4321"), OK);
}

fn config_ok(
    token: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    sub: u8,
    params: Option<ciborium::Value>,
    acfg: &[u8],
) -> u8 {
    config(token, env, host, sub, params, Some((2, acfg)))
}
