//! Log set-up for every command (stderr, filtered by `RUST_LOG`), with warnings rate-limited:
//! a misbehaving client must not be able to fill a disk through the daemon's log.
//!
//! Each warning (or error) call site may log [`BURST`] lines per [`WINDOW`]; past that its
//! lines are counted instead, and the next line of that call site after the window is preceded
//! by one summary line, `... repeated K more times`. A flood that stops is summarised too: once a
//! call site has had lines suppressed, a background thread writes the count of every window
//! that ended without a later line of its own. Less severe levels (only shown when `RUST_LOG`
//! asks for them) are not limited.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use tracing::callsite::Identifier;
use tracing::{Event, Level, Metadata, Subscriber, span};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// Lines one call site may log per window.
pub const BURST: u32 = 10;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(10);

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human-readable lines (coloured only on a terminal).
    Text,
    /// One JSON object per line.
    Json,
}

/// Logs go to stderr, filtered by RUST_LOG (default: warnings only; the AWS SDK's own
/// warnings about where it looked for credentials and regions are left out by default: the
/// command's error says what is missing).
pub fn init(format: Format) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,aws_config=error,aws_smithy_runtime=error")
    });
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let _ = match format {
        // Colours only on a terminal: escape codes in a log file or a CI log are noise.
        Format::Text => tracing_subscriber::registry()
            .with(filter)
            .with(RateLimited::new(fmt.with_ansi(
                std::io::IsTerminal::is_terminal(&std::io::stderr()),
            )))
            .try_init(),
        Format::Json => tracing_subscriber::registry()
            .with(filter)
            .with(RateLimited::new(fmt.json().with_current_span(false)))
            .try_init(),
    };
}

/// One call site's window.
#[derive(Debug)]
struct Window {
    /// The call site's name (`event src/file.rs:LINE`) and target, for its summary.
    site: &'static str,
    target: &'static str,
    started: Instant,
    logged: u32,
    suppressed: u64,
}

/// What to do with one event.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Log it.
    Log,
    /// Log a summary of `K` suppressed lines first, then it.
    SummaryThenLog(u64),
    /// Count it, do not log it.
    Suppress,
}

/// The per-call-site counting, apart from tracing so it can be tested with a given clock.
#[derive(Debug, Default)]
struct Limiter {
    sites: HashMap<Identifier, Window>,
}

impl Limiter {
    /// What to do with a line of call site `id` (named `site`, of `target`) at `now`.
    fn judge(
        &mut self,
        id: Identifier,
        (site, target): (&'static str, &'static str),
        now: Instant,
    ) -> Verdict {
        let w = self.sites.entry(id).or_insert(Window {
            site,
            target,
            started: now,
            logged: 0,
            suppressed: 0,
        });
        let mut verdict = Verdict::Log;
        if now.duration_since(w.started) >= WINDOW {
            if w.suppressed > 0 {
                verdict = Verdict::SummaryThenLog(w.suppressed);
            }
            w.restart(now);
        }
        if w.logged >= BURST {
            w.suppressed += 1;
            return Verdict::Suppress;
        }
        w.logged += 1;
        verdict
    }
}

impl Window {
    fn restart(&mut self, now: Instant) {
        self.started = now;
        self.logged = 0;
        self.suppressed = 0;
    }
}

/// A call site's suppressed lines of a window that has ended.
#[derive(Debug, PartialEq, Eq)]
struct Overdue {
    site: &'static str,
    target: &'static str,
    suppressed: u64,
}

impl Limiter {
    /// The windows that ended with lines suppressed and no later line to carry their summary;
    /// each is restarted, so its count is reported once.
    fn overdue(&mut self, now: Instant) -> Vec<Overdue> {
        let mut due = Vec::new();
        for w in self.sites.values_mut() {
            if w.suppressed > 0 && now.duration_since(w.started) >= WINDOW {
                due.push(Overdue {
                    site: w.site,
                    target: w.target,
                    suppressed: w.suppressed,
                });
                w.restart(now);
            }
        }
        due
    }
}

/// Writes the summary of `k` suppressed lines of a call site (never itself limited).
fn summarise(site: &str, target: &str, k: u64, next_follows: bool) {
    IN_SUMMARY.with(|f| f.set(true));
    let what = if next_follows {
        "the next message"
    } else {
        "a message"
    };
    tracing::warn!(
        site,
        target_module = target,
        repeated = k,
        "... {what} repeated {k} more times in the last {} s (rate-limited)",
        WINDOW.as_secs()
    );
    IN_SUMMARY.with(|f| f.set(false));
}

/// Every window, writes the summaries no later line carried (started at the first suppression,
/// so a process that never floods has no such thread).
fn start_flusher(limiter: Arc<Mutex<Limiter>>) {
    let spawned = std::thread::Builder::new()
        .name("log-summaries".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(WINDOW / 2);
                let due = limiter
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .overdue(Instant::now());
                for o in due {
                    summarise(o.site, o.target, o.suppressed, false);
                }
            }
        });
    if let Err(e) = spawned {
        tracing::debug!(error = %e, "no thread for log summaries; counts wait for the next line");
    }
}

thread_local! {
    /// Set while this layer logs its own summary line (which is never limited).
    static IN_SUMMARY: Cell<bool> = const { Cell::new(false) };
}

/// A layer that passes events to `inner`, warnings and errors rate-limited per call site.
#[derive(Debug)]
pub struct RateLimited<L> {
    inner: L,
    limiter: Arc<Mutex<Limiter>>,
    flusher: Once,
}

impl<L> RateLimited<L> {
    /// Wraps `inner`.
    pub fn new(inner: L) -> Self {
        RateLimited {
            inner,
            limiter: Arc::new(Mutex::new(Limiter::default())),
            flusher: Once::new(),
        }
    }
}

impl<S, L> Layer<S> for RateLimited<L>
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    L: Layer<S>,
{
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.inner.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.inner.on_layer(subscriber);
    }

    fn register_callsite(
        &self,
        metadata: &'static Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        self.inner.register_callsite(metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.enabled(metadata, ctx)
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_new_span(attrs, id, ctx);
    }

    fn on_record(&self, span: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        self.inner.on_record(span, values, ctx);
    }

    fn on_follows_from(&self, span: &span::Id, follows: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_follows_from(span, follows, ctx);
    }

    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.event_enabled(event, ctx)
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() > Level::WARN || IN_SUMMARY.with(Cell::get) {
            self.inner.on_event(event, ctx);
            return;
        }
        let verdict = self
            .limiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .judge(
                meta.callsite(),
                (meta.name(), meta.target()),
                Instant::now(),
            );
        match verdict {
            Verdict::Suppress => {
                let limiter = &self.limiter;
                self.flusher
                    .call_once(|| start_flusher(Arc::clone(limiter)));
            }
            Verdict::Log => self.inner.on_event(event, ctx),
            Verdict::SummaryThenLog(k) => {
                summarise(meta.name(), meta.target(), k, true);
                self.inner.on_event(event, ctx);
            }
        }
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_exit(id, ctx);
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        self.inner.on_close(id, ctx);
    }

    fn on_id_change(&self, old: &span::Id, new: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_id_change(old, new, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Not zero-sized: two zero-sized statics may share an address (and so an Identifier).
    struct Site(#[allow(dead_code)] u8);
    static SITE_A: Site = Site(1);
    static SITE_B: Site = Site(2);
    const A: (&str, &str) = ("event a.rs:1", "t");
    const B: (&str, &str) = ("event b.rs:2", "t");
    impl tracing::callsite::Callsite for Site {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            unreachable!("not called by the limiter")
        }
    }

    #[test]
    fn a_burst_per_window_then_one_summary() {
        let mut l = Limiter::default();
        let t0 = Instant::now();
        let a = Identifier(&SITE_A);
        let b = Identifier(&SITE_B);
        for _ in 0..BURST {
            assert_eq!(l.judge(a.clone(), A, t0), Verdict::Log);
        }
        for _ in 0..1000 {
            assert_eq!(l.judge(a.clone(), A, t0), Verdict::Suppress);
        }
        // Another call site has its own budget.
        assert_eq!(l.judge(b.clone(), B, t0), Verdict::Log);
        // Next window: one summary with the count, then a fresh budget.
        let t1 = t0 + WINDOW;
        assert_eq!(l.judge(a.clone(), A, t1), Verdict::SummaryThenLog(1000));
        for _ in 1..BURST {
            assert_eq!(l.judge(a.clone(), A, t1), Verdict::Log);
        }
        assert_eq!(l.judge(a.clone(), A, t1), Verdict::Suppress);
        // A window without suppressed lines needs no summary.
        assert_eq!(l.judge(b, B, t1), Verdict::Log);
    }

    #[test]
    fn a_flood_that_stops_is_summarised_once_its_window_ends() {
        let mut l = Limiter::default();
        let t0 = Instant::now();
        let a = Identifier(&SITE_A);
        let b = Identifier(&SITE_B);
        for _ in 0..BURST + 48_000 {
            l.judge(a.clone(), A, t0);
        }
        for _ in 0..BURST {
            l.judge(b.clone(), B, t0);
        }
        assert!(
            l.overdue(t0 + WINDOW / 2).is_empty(),
            "not before the window ends"
        );
        // Only the call site that lost lines is summarised, with its name and count.
        assert_eq!(
            l.overdue(t0 + WINDOW),
            vec![Overdue {
                site: "event a.rs:1",
                target: "t",
                suppressed: 48_000
            }]
        );
        assert!(
            l.overdue(t0 + WINDOW * 3).is_empty(),
            "each count is reported once"
        );
        // The next line of that site is not preceded by the same count again.
        assert_eq!(l.judge(a, A, t0 + WINDOW * 3), Verdict::Log);
    }
}
