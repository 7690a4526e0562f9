//! The power-cut driver: a state-changing sequence runs once from a fixed start to count its
//! store writes, then once more from the same start for every write index n with the power cut
//! at write n. After each cut the power comes back, the token is replugged, its store must open
//! (`check_store`), and the test's own check runs against what the sequence saw leave the token.

use firmware_sim::Token;
use firmware_sim::testing::{HidHost, TestEnv};

/// A token at the start of a sequence, with the test's record of what has left it so far.
pub struct Start<S> {
    /// The token.
    pub token: Token,
    /// Its environment (the store to cut).
    pub env: TestEnv,
    /// A host with an open channel.
    pub host: HidHost,
    /// What the sequence saw leave the token (filled in as responses arrive).
    pub seen: S,
}

/// Restores power, replugs, and checks that the store opens and is consistent.
pub fn recover(token: &mut Token, env: &mut TestEnv) -> HidHost {
    env.store.restore_power();
    token.power_cycle(env);
    token
        .check_store(env)
        .expect("store consistent after the power cut");
    HidHost::connect(token, env).unwrap()
}

/// Runs `sequence` from `setup` uncut (then `check`s it), then once per write index with the
/// power cut there; after each cut, recovers and calls `check(…, n)`. `sequence` must stop at
/// the first failure and record in its state only what a successful response carried out.
/// Returns the number of write indices cut (at least one: the sequence changes state).
pub fn cut_at_every_write<S>(
    setup: impl Fn() -> Start<S>,
    sequence: impl Fn(&mut Token, &mut TestEnv, &HidHost, &mut S),
    check: impl Fn(&mut Token, &mut TestEnv, &HidHost, &S, u64),
) -> u64 {
    let Start {
        mut token,
        mut env,
        host,
        mut seen,
    } = setup();
    let before = env.store.writes();
    sequence(&mut token, &mut env, &host, &mut seen);
    let total = env.store.writes() - before;
    assert!(total >= 1, "a state-changing sequence writes");
    let host = recover(&mut token, &mut env);
    check(&mut token, &mut env, &host, &seen, 0);

    for n in 1..=total {
        let Start {
            mut token,
            mut env,
            host,
            mut seen,
        } = setup();
        env.store.cut_power_at_write(n);
        sequence(&mut token, &mut env, &host, &mut seen);
        assert!(
            !env.store.is_powered(),
            "the same start writes the same way: write {n} of {total} was reached"
        );
        let host = recover(&mut token, &mut env);
        check(&mut token, &mut env, &host, &seen, n);
    }
    total
}
