//! Serves one virtual FIDO2 key through `/dev/uhid` until SIGTERM or SIGINT.
//!
//! The key is a firmware-sim `Token` with the in-memory test environment: presence is
//! approved at once, nothing is persisted (every start is a fresh key). Prints `ready` on
//! standard output once the kernel device is created and `destroyed` after it was removed
//! on exit. With `--power-cycle-after-ms N` it destroys and re-creates the device once, N ms
//! after start (the hidraw node goes away and comes back), and prints `power-cycled`.
//!
//! ```text
//! cargo run --example uhid_token -- [--name NAME] [--uniq ID] [--power-cycle-after-ms N]
//! ```
//!
//! Needs read-write access to /dev/uhid (see udev/README.md). The daemon replaces this with
//! its own key loop; this is the smallest complete user of the transport API.

// Signal handling with libc (each block says why it is sound).
#![allow(unsafe_code)]

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use authsim::transport::uhid::{UhidConfig, UhidDevice, UhidEvent};
use firmware_sim::testing::TestEnv;
use firmware_sim::{Token, TokenConfig};

/// Set by the signal handler; the loop checks it at least every `MAX_WAIT`.
static STOP: AtomicBool = AtomicBool::new(false);

/// The longest the loop sleeps without looking at the stop flag or the clock.
const MAX_WAIT: Duration = Duration::from_millis(100);

extern "C" fn on_signal(_signal: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Routes SIGTERM and SIGINT to `on_signal`, without SA_RESTART so a poll in progress
/// returns at once.
fn install_signal_handlers() -> Result<()> {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: a zeroed sigaction is a valid value (empty mask, no flags); the handler
        // only stores to an atomic, which is async-signal-safe; the pointers passed are
        // valid for the duration of the calls.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error()).context("installing a signal handler");
        }
    }
    Ok(())
}

struct Args {
    name: String,
    uniq: String,
    power_cycle_after: Option<Duration>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        name: "authsim virtual key".into(),
        uniq: "example".into(),
        power_cycle_after: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--name" => args.name = value()?,
            "--uniq" => args.uniq = value()?,
            "--power-cycle-after-ms" => {
                let ms: u64 = value()?
                    .parse()
                    .context("--power-cycle-after-ms takes milliseconds")?;
                args.power_cycle_after = Some(Duration::from_millis(ms));
            }
            "-h" | "--help" => {
                println!("usage: uhid_token [--name NAME] [--uniq ID] [--power-cycle-after-ms N]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    Ok(args)
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // Nothing useful to do if standard output is gone.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Moves the token's manual clock up to the real time elapsed since `start`.
fn sync_clock(env: &mut TestEnv, start: Instant) -> u64 {
    let now = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    let behind = now.saturating_sub(env.clock.now());
    env.clock.advance(behind);
    env.clock.now()
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("uhid_token: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args = parse_args()?;
    install_signal_handlers()?;

    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        ^ u64::from(std::process::id());
    let mut env = TestEnv::new(seed);
    let mut token = Token::new(TokenConfig::default(), &mut env);

    let config = UhidConfig::new(args.name, &args.uniq);
    let mut device = UhidDevice::create(&config)?;
    let start = Instant::now();
    say("ready");
    let mut power_cycle_at = args.power_cycle_after.map(|d| start + d);

    while !STOP.load(Ordering::SeqCst) {
        let now_ms = sync_clock(&mut env, start);

        if power_cycle_at.is_some_and(|at| Instant::now() >= at) {
            power_cycle_at = None;
            device.recreate().context("power cycle")?;
            token.power_cycle(&mut env);
            say("power-cycled");
        }

        // Sleep until the token has timed work, the power cycle is due, or MAX_WAIT.
        let mut wait = MAX_WAIT;
        if let Some(deadline) = token.next_deadline() {
            wait = wait.min(Duration::from_millis(deadline.saturating_sub(now_ms)));
        }
        if let Some(at) = power_cycle_at {
            wait = wait.min(at.saturating_duration_since(Instant::now()));
        }
        if device.wait_readable(Some(wait))? {
            while let Some(event) = device.read_event()? {
                match event {
                    UhidEvent::Output(report) => {
                        sync_clock(&mut env, start);
                        for reply in token.handle_report(&mut env, &report) {
                            device.write_input(&reply)?;
                        }
                    }
                    other => eprintln!("uhid event: {other:?}"),
                }
            }
        }

        let now_ms = sync_clock(&mut env, start);
        if token.next_deadline().is_some_and(|d| d <= now_ms) {
            for reply in token.tick(&mut env) {
                device.write_input(&reply)?;
            }
        }
    }

    device.destroy()?;
    say("destroyed");
    Ok(())
}
