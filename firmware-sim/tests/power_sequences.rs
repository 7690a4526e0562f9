//! A power cut at every store write of every state-changing sequence (tests/common/power.rs
//! drives them): registration of discoverable credentials on a PIN key, assertion counters
//! (per credential and global), setPIN, changePIN, wrong PINs, reset, credential-management
//! delete and a bulk import. After each cut the store opens, every credential whose response
//! left the token is there, every counter is above the last one sent, and the PIN retries are
//! never above the last value the token let out. (A cut at every write of a large-blob set is in
//! tests/large_blobs.rs; of a first registration and a replacement, in tests/power.rs.)

mod common;

use ciborium::value::Value;
use common::pin::*;
use common::power::{Start, cut_at_every_write};
use common::*;
use firmware_sim::credential::Algorithm;
use firmware_sim::testing::{HidHost, SeededRng, TestEnv};
use firmware_sim::{CounterMode, ImportedCredential, PrivateKey, Token, TokenConfig, UserEntity};
use sha2::{Digest, Sha256};

const RP: &str = "example.com";
const PIN: &str = "1234";
const CM: u8 = 0x0A;
const CM_DELETE: u8 = 0x06;
const NO_CREDENTIALS: u8 = 0x2E;

/// A fresh key past its first boot (the store holds its secret and PKI).
fn booted<S>(config: TokenConfig, seen: S) -> Start<S> {
    let (mut token, mut env, host) = setup(config);
    info(&mut token, &mut env, &host);
    Start {
        token,
        env,
        host,
        seen,
    }
}

/// A fresh key with a PIN.
fn with_pin<S>(seen: S) -> Start<S> {
    let mut s = booted(TokenConfig::default(), seen);
    assert_eq!(set_pin(&mut s.token, &mut s.env, &s.host, 2, PIN), OK);
    s
}

/// Registers a discoverable credential with a PIN token; `None` when a step failed.
fn register_rk(
    t: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    user: &[u8],
) -> Option<Registered> {
    let tok = pin_token(t, env, host, 2, PIN, Some(PERM_MC), Some(RP)).ok()?;
    let mut mc = Mc::new(RP, user).with_token(2, &tok);
    mc.rk = Some(true);
    let (status, body) = host.ctap2(t, env, MC, Some(&mc.value())).unwrap();
    if status != OK {
        return None;
    }
    let ad = parse_auth_data(&as_bytes(get(body.as_ref()?, 2)?));
    Some(Registered {
        id: ad.credential_id.clone()?,
        key: PublicKey::from_cose(ad.public_key.as_ref()?),
        auth_data: ad,
        response: body?,
    })
}

/// One assertion with the credential listed: its counter, or the failing status.
fn assert_once(
    t: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    reg: &Registered,
) -> Result<u32, u8> {
    let ga = Ga::new(RP).allow(&reg.id);
    match host.ctap2(t, env, GA, Some(&ga.value())).unwrap() {
        (OK, Some(body)) => Ok(assert_signed(&body, &reg.key, &ga.client_data_hash).sign_count),
        (status, _) => Err(status),
    }
}

/// Every credential in `regs` is stored and signs with a counter above `floor(i)`.
fn all_sign_above(
    t: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    regs: &[Registered],
    floor: impl Fn(usize) -> u32,
    n: u64,
) {
    for (i, reg) in regs.iter().enumerate() {
        let count = assert_once(t, env, host, reg).unwrap_or_else(|s| {
            panic!("n={n}: credential {i} whose response left is gone ({s:#04x})")
        });
        assert!(
            count > floor(i),
            "n={n}: credential {i} counted {count}, not above {} sent before the cut",
            floor(i)
        );
    }
}

#[test]
fn registering_discoverable_credentials_on_a_pin_key_keeps_every_one_that_was_answered() {
    let cuts = cut_at_every_write(
        || with_pin(Vec::<Registered>::new()),
        |t, env, host, seen| {
            for user in [b"u1", b"u2", b"u3"] {
                match register_rk(t, env, host, user) {
                    Some(reg) => seen.push(reg),
                    None => return,
                }
            }
        },
        |t, env, host, seen, n| {
            if n == 0 {
                assert_eq!(seen.len(), 3);
            }
            let stored = t.resident_credentials(env).unwrap();
            assert!(stored.len() >= seen.len() && stored.len() <= 3, "n={n}");
            all_sign_above(t, env, host, seen, |_| 0, n);
        },
    );
    assert!(cuts >= 3, "at least one write per registration ({cuts})");
}

/// The persisted high-water mark of `reg`'s counter (of the token's counter in global mode).
fn persisted_mark(env: &TestEnv, mode: CounterMode, reg: &Registered) -> u32 {
    let key = match mode {
        CounterMode::Global => ("meta".to_owned(), b"global-counter".to_vec()),
        _ => ("ctr".to_owned(), Sha256::digest(&reg.id).to_vec()),
    };
    let value = env.store.snapshot().get(&key).cloned().unwrap_or_default();
    u32::from_be_bytes(value.try_into().expect("a 4-byte counter record"))
}

/// Two credentials asserted in turns, with a restart (a clean power cycle) in the middle of the
/// run; each counter sent is at most the persisted high-water mark when it leaves the token.
/// After a cut at any write each credential signs above the last count sent (per credential),
/// or above every count sent (global). Returns the number of write indices cut.
fn counters_survive_every_cut(mode: CounterMode, reserve: u32) -> u64 {
    let config = TokenConfig {
        counter_mode: mode,
        counter_reserve: reserve,
        ..TokenConfig::default()
    };
    type Seen = (Vec<Registered>, Vec<u32>);
    cut_at_every_write(
        || {
            let mut s = booted(config.clone(), (Vec::new(), vec![0, 0]));
            for user in [b"a", b"b"] {
                let reg = make_credential(&mut s.token, &mut s.env, &s.host, &Mc::new(RP, user));
                s.seen.1[s.seen.0.len()] = reg.auth_data.sign_count;
                s.seen.0.push(reg);
            }
            s
        },
        |t, env, host, seen: &mut Seen| {
            let mut host = *host;
            for (step, i) in [0, 1, 0, 1, 1, 9, 0, 1, 0, 0, 1].into_iter().enumerate() {
                if i == 9 {
                    t.power_cycle(env);
                    host = HidHost::connect(t, env).unwrap();
                    continue;
                }
                match assert_once(t, env, &host, &seen.0[i]) {
                    Ok(count) => {
                        let floor = match mode {
                            CounterMode::Global => *seen.1.iter().max().unwrap(),
                            _ => seen.1[i],
                        };
                        assert!(count > floor, "step {step}: {count} not above {floor}");
                        let mark = persisted_mark(env, mode, &seen.0[i]);
                        assert!(count <= mark, "step {step}: {count} sent above mark {mark}");
                        seen.1[i] = count;
                    }
                    Err(status) => {
                        assert_eq!(
                            status, 0x7F,
                            "CTAP1_ERR_OTHER: no signature without a counter"
                        );
                        return;
                    }
                }
            }
        },
        |t, env, host, seen: &Seen, n| {
            let max = *seen.1.iter().max().unwrap();
            all_sign_above(
                t,
                env,
                host,
                &seen.0,
                |i| match mode {
                    CounterMode::Global => max,
                    _ => seen.1[i],
                },
                n,
            );
        },
    )
}

#[test]
fn per_credential_counters_never_repeat_a_value_sent_across_a_cut() {
    // One write per assertion, one per reservation crossing, and the default (one per
    // credential per power-up).
    assert!(counters_survive_every_cut(CounterMode::PerCredential, 1) >= 10);
    let crossing = counters_survive_every_cut(CounterMode::PerCredential, 2);
    assert!((4..10).contains(&crossing), "{crossing}");
    assert_eq!(
        counters_survive_every_cut(CounterMode::PerCredential, 1024),
        4,
        "a reservation per credential before and after the restart"
    );
}

#[test]
fn the_global_counter_never_repeats_a_value_sent_across_a_cut() {
    assert!(counters_survive_every_cut(CounterMode::Global, 1) >= 10);
    let crossing = counters_survive_every_cut(CounterMode::Global, 3);
    assert!((3..10).contains(&crossing), "{crossing}");
    assert_eq!(
        counters_survive_every_cut(CounterMode::Global, 1024),
        2,
        "one reservation before and one after the restart"
    );
}

/// A clean power-down (the daemon stopping the key) gives the reserved values back: after it
/// each counter continues from the last value sent, and a cut at any write around it (the
/// settling commit included) still never repeats a value.
fn clean_power_down_continues_counters(mode: CounterMode) {
    let config = TokenConfig {
        counter_mode: mode,
        ..TokenConfig::default()
    };
    type Seen = (Option<Registered>, Vec<u32>, bool);
    let cuts = cut_at_every_write(
        || {
            let mut s = booted(config.clone(), (None, Vec::new(), false));
            let reg = make_credential(&mut s.token, &mut s.env, &s.host, &Mc::new(RP, b"a"));
            s.seen.1.push(reg.auth_data.sign_count);
            s.seen.0 = Some(reg);
            s
        },
        |t, env, host, seen: &mut Seen| {
            let reg = seen.0.clone().unwrap();
            let mut host = *host;
            for step in 0..6 {
                if step == 3 {
                    if t.power_down(env).is_err() {
                        return;
                    }
                    t.power_cycle(env);
                    host = HidHost::connect(t, env).unwrap();
                    seen.2 = true;
                    continue;
                }
                match assert_once(t, env, &host, &reg) {
                    Ok(count) => {
                        let last = *seen.1.last().unwrap();
                        assert!(count > last, "step {step}: {count} not above {last}");
                        seen.1.push(count);
                    }
                    Err(_) => return,
                }
            }
        },
        |t, env, host, seen: &Seen, n| {
            if n == 0 {
                // Uncut: no gap across the clean restart.
                let sent = &seen.1[1..];
                assert!(seen.2);
                assert!(
                    sent.windows(2).all(|w| w[1] == w[0] + 1),
                    "counters continue without a gap across a clean power-down: {sent:?}"
                );
            }
            let last = *seen.1.last().unwrap();
            let reg = seen.0.as_ref().unwrap();
            all_sign_above(t, env, host, std::slice::from_ref(reg), |_| last, n);
        },
    );
    assert!(
        cuts >= 2,
        "the reservations and the settling commit are cut ({cuts})"
    );
}

#[test]
fn a_clean_power_down_continues_the_counters_without_a_gap() {
    clean_power_down_continues_counters(CounterMode::PerCredential);
    clean_power_down_continues_counters(CounterMode::Global);
}

#[test]
fn set_pin_is_either_done_and_answered_or_not_done() {
    cut_at_every_write(
        || booted(TokenConfig::default(), None),
        |t, env, host, seen: &mut Option<u8>| {
            *seen = Some(set_pin(t, env, host, 2, PIN));
        },
        |t, env, host, seen, n| {
            let has_pin = matches!(
                tget(&info_options(t, env, host), "clientPin"),
                Some(Value::Bool(true))
            );
            if *seen == Some(OK) {
                assert!(has_pin, "n={n}: an answered setPIN is durable");
            }
            if has_pin {
                assert!(
                    pin_token(t, env, host, 2, PIN, Some(PERM_GA), None).is_ok(),
                    "n={n}"
                );
                assert_eq!(pin_retries(t, env, host).0, 8, "n={n}");
            } else {
                assert_eq!(
                    set_pin(t, env, host, 2, PIN),
                    OK,
                    "n={n}: setPIN works again"
                );
            }
        },
    );
}

#[test]
fn change_pin_leaves_the_old_or_the_answered_new_pin() {
    const NEW: &str = "98765";
    cut_at_every_write(
        || with_pin(None),
        |t, env, host, seen: &mut Option<u8>| {
            *seen = Some(change_pin(t, env, host, 2, PIN, NEW));
        },
        |t, env, host, seen, n| {
            let new_ok = pin_token(t, env, host, 2, NEW, Some(PERM_GA), None).is_ok();
            if *seen == Some(OK) {
                assert!(new_ok, "n={n}: an answered changePIN is durable");
            } else {
                assert!(!new_ok, "n={n}: an unanswered changePIN did nothing");
                assert!(
                    pin_token(t, env, host, 2, PIN, Some(PERM_GA), None).is_ok(),
                    "n={n}: the old PIN still works"
                );
            }
        },
    );
}

#[test]
fn pin_retries_never_go_back_up_across_a_cut() {
    // The lowest retries value the token let out (an answer PIN_INVALID means one fewer than the
    // value before it; an answered right PIN means back to 8).
    cut_at_every_write(
        || {
            let mut s = with_pin(8i128);
            s.seen = pin_retries(&mut s.token, &mut s.env, &s.host).0;
            s
        },
        |t, env, host, known: &mut i128| {
            for pin in ["0000", "1111", PIN, "2222"] {
                if !env.store.is_powered() {
                    return;
                }
                match pin_token(t, env, host, 2, pin, Some(PERM_GA), None) {
                    Ok(_) => *known = 8,
                    Err(PIN_INVALID) => *known -= 1,
                    Err(_) => return,
                }
                if !env.store.is_powered() {
                    return;
                }
                let (status, body) = client_pin(t, env, host, vec![(1, int(2)), (2, int(1))]);
                if status != OK {
                    return;
                }
                let reported = as_int(get(&body.unwrap(), 3).unwrap());
                assert_eq!(reported, *known, "the answers agree with each other");
            }
        },
        |t, env, host, known, n| {
            let after = pin_retries(t, env, host).0;
            assert!(
                after <= *known,
                "n={n}: {after} retries after the cut, but {known} were let out before it"
            );
        },
    );
}

#[test]
fn reset_is_all_or_nothing_and_durable_once_answered() {
    type Seen = (Option<Registered>, Option<u8>);
    cut_at_every_write(
        || {
            let mut s = with_pin((None, None));
            let reg = register_rk(&mut s.token, &mut s.env, &s.host, b"u").unwrap();
            s.seen.0 = Some(reg);
            // A reset is accepted only just after power-up.
            s.token.power_cycle(&mut s.env);
            s.host = HidHost::connect(&mut s.token, &mut s.env).unwrap();
            s
        },
        |t, env, host, seen: &mut Seen| {
            seen.1 = Some(host.ctap2(t, env, RESET, None).unwrap().0);
        },
        |t, env, host, seen: &Seen, n| {
            let reg = seen.0.as_ref().unwrap();
            let stored = t.resident_credentials(env).unwrap();
            let has_pin = matches!(
                tget(&info_options(t, env, host), "clientPin"),
                Some(Value::Bool(true))
            );
            if seen.1 == Some(OK) {
                assert!(
                    stored.is_empty() && !has_pin,
                    "n={n}: an answered reset is durable"
                );
                assert_eq!(assert_once(t, env, host, reg), Err(NO_CREDENTIALS), "n={n}");
            } else {
                assert_eq!(stored.len(), 1, "n={n}: nothing was reset");
                assert!(has_pin, "n={n}");
                all_sign_above(t, env, host, std::slice::from_ref(reg), |_| 0, n);
            }
        },
    );
}

#[test]
fn credential_management_delete_is_durable_once_answered_and_spares_the_others() {
    type Seen = (Vec<Registered>, Option<u8>);
    cut_at_every_write(
        || {
            let mut s = with_pin((Vec::new(), None));
            for user in [b"keep", b"gone"] {
                let reg = register_rk(&mut s.token, &mut s.env, &s.host, user).unwrap();
                s.seen.0.push(reg);
            }
            s
        },
        |t, env, host, seen: &mut Seen| {
            let Ok(tok) = pin_token(t, env, host, 2, PIN, Some(PERM_CM), None) else {
                return;
            };
            let params = imap(vec![(2, descriptor(&seen.0[1].id))]);
            let mut msg = vec![CM_DELETE];
            msg.extend(firmware_sim::cbor::encode(&params));
            let request = imap(vec![
                (1, int(CM_DELETE.into())),
                (2, params),
                (3, int(2)),
                (4, bytes(&authenticate(2, &tok, &msg))),
            ]);
            seen.1 = Some(host.ctap2(t, env, CM, Some(&request)).unwrap().0);
        },
        |t, env, host, seen: &Seen, n| {
            all_sign_above(t, env, host, &seen.0[..1], |_| 0, n);
            let gone = assert_once(t, env, host, &seen.0[1]);
            if seen.1 == Some(OK) {
                assert_eq!(
                    gone,
                    Err(NO_CREDENTIALS),
                    "n={n}: an answered delete is durable"
                );
            } else {
                assert!(gone.is_ok(), "n={n}: an unanswered delete did nothing");
            }
        },
    );
}

fn imported(i: u8, discoverable: bool) -> (ImportedCredential, PublicKey) {
    let key =
        PrivateKey::generate(Algorithm::Es256, &mut SeededRng::new(100 + u64::from(i))).unwrap();
    let public = PublicKey::from_cose(&key.cose_public_key().unwrap());
    let cred = ImportedCredential {
        id: vec![0xC0 | i; 16],
        rp_id: RP.into(),
        user: discoverable.then(|| UserEntity {
            id: vec![i],
            name: Some(format!("imported{i}")),
            display_name: None,
        }),
        key,
        sign_count: 10 * u32::from(i),
        discoverable,
        options: Default::default(),
    };
    (cred, public)
}

#[test]
fn a_bulk_import_is_all_or_nothing_and_spares_what_was_there() {
    type Seen = (Vec<Registered>, Option<bool>);
    let cuts = cut_at_every_write(
        || {
            let mut s = booted(TokenConfig::default(), (Vec::new(), None));
            let mut mc = Mc::new(RP, b"native");
            mc.rk = Some(true);
            let reg = make_credential(&mut s.token, &mut s.env, &s.host, &mc);
            assert_eq!(assert_once(&mut s.token, &mut s.env, &s.host, &reg), Ok(1));
            s.seen.0.push(reg);
            s
        },
        |t, env, _host, seen: &mut Seen| {
            let batch = (1..=3).map(|i| imported(i, i != 2).0).collect();
            seen.1 = Some(t.import_credentials(env, batch).is_ok());
        },
        |t, env, host, seen: &Seen, n| {
            all_sign_above(t, env, host, &seen.0, |_| 1, n);
            let stored = t.credentials(env).unwrap().len();
            let answered = seen.1 == Some(true);
            assert_eq!(
                stored,
                if answered { 4 } else { 1 },
                "n={n}: all or nothing"
            );
            for i in 1..=3u8 {
                let (cred, public) = imported(i, i != 2);
                let ga = Ga::new(RP).allow(&cred.id);
                let (status, body) = host.ctap2(t, env, GA, Some(&ga.value())).unwrap();
                if answered {
                    assert_eq!(status, OK, "n={n}: imported {i} is there");
                    let count =
                        assert_signed(&body.unwrap(), &public, &ga.client_data_hash).sign_count;
                    assert!(count > cred.sign_count, "n={n}");
                } else {
                    assert_eq!(status, NO_CREDENTIALS, "n={n}");
                }
            }
        },
    );
    assert!(cuts >= 1);
}
