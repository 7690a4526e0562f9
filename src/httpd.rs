//! The HTTP/1.1 connection loop shared by the control API and the stand-in: read timeouts, an
//! idle keep-alive timeout, caps on connections (in total, and before authentication), and
//! memory handed back to the system once a storm of connections is over.
//!
//! `axum::serve` offers none of these knobs, so connections are served here with hyper's own
//! HTTP/1 connection (its header read timeout also bounds the wait for the next request on a
//! kept-alive connection). Body read timeouts and body caps belong to each service, which
//! answers them in its own error shape.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

mod bare;
pub use bare::Dialect;

/// The environment variable that shortens (or lengthens) every read timeout, in milliseconds
/// (tests use it; the default is [`DEFAULT_READ_TIMEOUT`]).
pub const READ_TIMEOUT_ENV: &str = "AUTHSIM_HTTP_READ_TIMEOUT_MS";

/// How long a client may take to send a request's headers, to send its body, or to start its
/// next request on a kept-alive connection.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The read timeout in force: [`READ_TIMEOUT_ENV`] when set to a number of milliseconds
/// (100 ms to one hour), else [`DEFAULT_READ_TIMEOUT`].
pub fn read_timeout() -> Duration {
    std::env::var(READ_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| (100..=3_600_000).contains(ms))
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_READ_TIMEOUT)
}

/// The limits of one listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Headers, and the idle wait between requests of a kept-alive connection.
    pub read_timeout: Duration,
    /// Connections open at once; further ones are answered 503 and closed.
    pub max_connections: usize,
    /// Connections that have not yet sent an authenticated request (listeners with a gate).
    pub max_unauthenticated: usize,
    /// The shape of the HTTP layer's own errors (a connection over the cap, a request that
    /// does not parse).
    pub dialect: Dialect,
}

impl Limits {
    /// `max_connections` in total, `max_unauthenticated` before authentication, and the read
    /// timeout of [`read_timeout`].
    pub fn new(max_connections: usize, max_unauthenticated: usize) -> Limits {
        Limits {
            read_timeout: read_timeout(),
            max_connections,
            max_unauthenticated,
            dialect: Dialect::Api,
        }
    }

    /// The same limits, the HTTP layer's own errors in `dialect`'s shape.
    pub fn in_dialect(self, dialect: Dialect) -> Limits {
        Limits { dialect, ..self }
    }
}

/// Decides whether a request is authenticated: `None` lets it through, `Some` is the answer to
/// send instead.
pub type Gate = Arc<dyn Fn(&Request<Incoming>) -> Option<Response> + Send + Sync>;

/// What a listener's connections share: how many are open, how many are not authenticated
/// yet, and the peak since memory was last handed back.
#[derive(Debug, Default)]
struct Counters {
    live: AtomicUsize,
    unauthenticated: AtomicUsize,
    peak: AtomicUsize,
}

/// Counts one open connection (and, until [`ConnGuard::authenticated`], one unauthenticated
/// one) for as long as it lives.
struct ConnGuard {
    counters: Arc<Counters>,
    unauthenticated: AtomicBool,
}

impl ConnGuard {
    fn authenticated(&self) {
        if self.unauthenticated.swap(false, Ordering::AcqRel) {
            self.counters.unauthenticated.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.authenticated();
        let left = self.counters.live.fetch_sub(1, Ordering::AcqRel) - 1;
        // Once a storm is over (the open connections fell to an eighth of their peak), the
        // memory its connections used goes back to the system (glibc keeps freed heap
        // otherwise: 427 MB after 20,000 idle connections).
        let peak = self.counters.peak.load(Ordering::Acquire);
        if peak >= TRIM_AFTER_PEAK
            && left.saturating_mul(8) <= peak
            && self
                .counters
                .peak
                .compare_exchange(peak, left, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            crate::memory::release_free_memory();
        }
    }
}

/// A storm worth handing memory back after (connections open at once).
const TRIM_AFTER_PEAK: usize = 16;

/// Serves `router` on `listener` under `limits` until `stop` turns true; with a `gate`, each
/// request must pass it (and connections count as unauthenticated until one does). On stop,
/// open connections finish their request in flight and close.
pub async fn serve<L>(
    mut listener: L,
    router: Router,
    limits: Limits,
    gate: Option<Gate>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    L: axum::serve::Listener,
{
    let counters = Arc::new(Counters::default());
    loop {
        let accepted = tokio::select! {
            (io, _) = listener.accept() => Some(io),
            _ = stop.wait_for(|s| *s) => None,
        };
        let Some(io) = accepted else { break };
        let live = counters.live.load(Ordering::Acquire);
        let unauth = counters.unauthenticated.load(Ordering::Acquire);
        if live >= limits.max_connections
            || (gate.is_some() && unauth >= limits.max_unauthenticated)
        {
            tracing::warn!(
                live,
                unauthenticated = unauth,
                "too many connections; refusing a new one"
            );
            tokio::spawn(refuse(io, limits.dialect));
            continue;
        }
        let now = counters.live.fetch_add(1, Ordering::AcqRel) + 1;
        counters.peak.fetch_max(now, Ordering::AcqRel);
        let guard = Arc::new(ConnGuard {
            counters: counters.clone(),
            unauthenticated: AtomicBool::new(gate.is_some()),
        });
        if gate.is_some() {
            counters.unauthenticated.fetch_add(1, Ordering::AcqRel);
        }
        tokio::spawn(connection(
            io,
            router.clone(),
            limits,
            gate.clone(),
            guard,
            stop.clone(),
        ));
    }
}

/// One connection: HTTP/1.1 with keep-alive, until the client goes, a read times out, or the
/// server stops (the request in flight is answered first).
async fn connection<I>(
    io: I,
    router: Router,
    limits: Limits,
    gate: Option<Gate>,
    guard: Arc<ConnGuard>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc_guard = guard.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let mut router = router.clone();
        let gate = gate.clone();
        let guard = svc_guard.clone();
        async move {
            if let Some(gate) = &gate {
                match gate(&req) {
                    None => guard.authenticated(),
                    Some(answer) => return Ok::<_, Infallible>(answer),
                }
            }
            let req = req.map(Body::new);
            tower_service::Service::call(&mut router, req).await
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.read_timeout)
        .keep_alive(true);
    let io = bare::Rewrite::new(io, limits.dialect);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let stopping = tokio::select! {
        _ = conn.as_mut() => false,
        _ = stop.wait_for(|s| *s) => true,
    };
    if stopping {
        conn.as_mut().graceful_shutdown();
        let _ = tokio::time::timeout(Duration::from_secs(2), conn.as_mut()).await;
    }
    drop(guard);
}

/// Answers a connection beyond the cap with 503 and closes it (its request is not read).
async fn refuse<I: AsyncWrite + Unpin>(mut io: I, dialect: Dialect) {
    let reply = bare::answer(dialect, 503);
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = io.write_all(&reply).await;
        let _ = io.shutdown().await;
    })
    .await;
}

/// Why a request body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than the limit (what was sent was read and dropped, up to [`DRAIN_MAX`], so the
    /// client can read the answer instead of meeting a closed connection).
    TooLarge,
    /// It did not arrive within the read timeout.
    Timeout,
    /// The client went away or sent a broken body.
    Failed,
}

/// The most of an oversized body read (and dropped) before answering.
pub const DRAIN_MAX: usize = 64 * 1024 * 1024;

/// Reads a whole request body of at most `limit` bytes within [`read_timeout`]. A body whose
/// declared length (Content-Length) is over `limit` is too large whatever arrives: it is
/// answered at once when it is over [`DRAIN_MAX`], and never as a timeout.
pub async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, BodyError> {
    use http_body_util::BodyExt;
    use hyper::body::Body as _;
    let declared = usize::try_from(body.size_hint().lower()).unwrap_or(usize::MAX);
    if declared > DRAIN_MAX {
        return Err(BodyError::TooLarge);
    }
    let declared_too_large = declared > limit;
    let mut body = body;
    let mut buf: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| BodyError::Failed)?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            seen = seen.saturating_add(data.len());
            if seen > DRAIN_MAX {
                return Err(BodyError::TooLarge);
            }
            if seen <= limit {
                buf.extend_from_slice(&data);
            }
        }
        if seen > limit {
            Err(BodyError::TooLarge)
        } else {
            Ok(())
        }
    };
    match tokio::time::timeout(read_timeout(), read).await {
        Err(_) if declared_too_large => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Timeout),
        Ok(Err(_)) if declared_too_large => Err(BodyError::TooLarge),
        Ok(Err(e)) => Err(e),
        Ok(Ok(())) => Ok(axum::body::Bytes::from(buf)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body that declares `len` bytes, sends `first`, then waits for ever.
    struct Stalled {
        len: u64,
        first: Option<axum::body::Bytes>,
    }

    impl hyper::body::Body for Stalled {
        type Data = axum::body::Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Infallible>>> {
            match self.first.take() {
                Some(b) => std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(b)))),
                None => std::task::Poll::Pending,
            }
        }

        fn size_hint(&self) -> hyper::body::SizeHint {
            hyper::body::SizeHint::with_exact(self.len)
        }
    }

    fn stalled(len: u64) -> Body {
        Body::new(Stalled {
            len,
            first: Some(axum::body::Bytes::from_static(b"{}")),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_declared_length_over_the_limit_is_too_large_never_a_timeout() {
        // Content-Length says 100 GB (or 2 KiB over a 1 KiB limit); two bytes arrive and the
        // client waits: 413, at once for the 100 GB, after the read timeout for the other.
        assert_eq!(
            read_body(stalled(100_000_000_000), 1024).await.unwrap_err(),
            BodyError::TooLarge
        );
        assert_eq!(
            read_body(stalled(2048), 1024).await.unwrap_err(),
            BodyError::TooLarge
        );
        // Within the limit, a body that stops is a timeout.
        assert_eq!(
            read_body(stalled(100), 1024).await.unwrap_err(),
            BodyError::Timeout
        );
    }

    #[tokio::test]
    async fn a_body_within_the_limit_is_read() {
        let body = Body::from("{\"a\":1}");
        assert_eq!(&read_body(body, 1024).await.unwrap()[..], b"{\"a\":1}");
        assert_eq!(
            read_body(Body::from(vec![b'x'; 2048]), 1024)
                .await
                .unwrap_err(),
            BodyError::TooLarge
        );
    }
}
