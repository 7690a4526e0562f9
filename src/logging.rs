//! Log set-up for every command (stderr, filtered by `RUST_LOG`), with warnings rate-limited:
//! a misbehaving client must not be able to fill a disk through the daemon's log.
//!
//! Each warning (or error) call site may log [`BURST`] lines per [`WINDOW`]; past that its
//! lines are counted instead, and the next line of that call site after the window is preceded
//! by one summary line, `... repeated K more times`. Less severe levels (only shown when
//! `RUST_LOG` asks for them) are not limited.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Mutex;
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
    fn judge(&mut self, site: Identifier, now: Instant) -> Verdict {
        let w = self.sites.entry(site).or_insert(Window {
            started: now,
            logged: 0,
            suppressed: 0,
        });
        let mut verdict = Verdict::Log;
        if now.duration_since(w.started) >= WINDOW {
            if w.suppressed > 0 {
                verdict = Verdict::SummaryThenLog(w.suppressed);
            }
            *w = Window {
                started: now,
                logged: 0,
                suppressed: 0,
            };
        }
        if w.logged >= BURST {
            w.suppressed += 1;
            return Verdict::Suppress;
        }
        w.logged += 1;
        verdict
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
    limiter: Mutex<Limiter>,
}

impl<L> RateLimited<L> {
    /// Wraps `inner`.
    pub fn new(inner: L) -> Self {
        RateLimited {
            inner,
            limiter: Mutex::new(Limiter::default()),
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
            .judge(meta.callsite(), Instant::now());
        match verdict {
            Verdict::Suppress => {}
            Verdict::Log => self.inner.on_event(event, ctx),
            Verdict::SummaryThenLog(k) => {
                IN_SUMMARY.with(|f| f.set(true));
                tracing::warn!(
                    site = meta.name(),
                    target_module = meta.target(),
                    repeated = k,
                    "... the next message repeated {k} more times in the last {} s (rate-limited)",
                    WINDOW.as_secs()
                );
                IN_SUMMARY.with(|f| f.set(false));
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
            assert_eq!(l.judge(a.clone(), t0), Verdict::Log);
        }
        for _ in 0..1000 {
            assert_eq!(l.judge(a.clone(), t0), Verdict::Suppress);
        }
        // Another call site has its own budget.
        assert_eq!(l.judge(b.clone(), t0), Verdict::Log);
        // Next window: one summary with the count, then a fresh budget.
        let t1 = t0 + WINDOW;
        assert_eq!(l.judge(a.clone(), t1), Verdict::SummaryThenLog(1000));
        for _ in 1..BURST {
            assert_eq!(l.judge(a.clone(), t1), Verdict::Log);
        }
        assert_eq!(l.judge(a.clone(), t1), Verdict::Suppress);
        // A window without suppressed lines needs no summary.
        assert_eq!(l.judge(b, t1), Verdict::Log);
    }
}
