//! The control API's listeners: a Unix socket that only this user may use (file mode 0600 in a
//! 0700 directory, and every connection's peer uid checked with SO_PEERCRED), and, when asked,
//! loopback TCP where every request must carry `Authorization: Bearer TOKEN`.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use crate::httpd::Limits;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, UnixListener, UnixStream};

use crate::transport::TransportError;
use crate::transport::unix::{SocketFile, bind_socket};

/// Why an API listener could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The Unix socket could not be bound.
    #[error(transparent)]
    Socket(#[from] TransportError),
    /// The TCP address is not a loopback address.
    #[error("refusing to serve the API on {0}: it binds only loopback addresses (127.0.0.1, ::1)")]
    NotLoopback(SocketAddr),
    /// Binding TCP or writing the token file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The Unix-socket listener that refuses peers of another uid.
pub struct PeerCheckedListener {
    listener: UnixListener,
    uid: u32,
    _file: SocketFile,
}

impl PeerCheckedListener {
    /// Binds `path` (0600; a stale socket is replaced, a live one refused).
    pub fn bind(path: &Path) -> Result<PeerCheckedListener, ListenError> {
        if let Some(parent) = path.parent() {
            create_private_dir(parent)?;
        }
        let (std_listener, file) = bind_socket(path)?;
        let listener = UnixListener::from_std(std_listener).map_err(|source| ListenError::Io {
            what: format!("cannot listen on {}", path.display()),
            source,
        })?;
        let uid = crate::transport::effective_uid();
        Ok(PeerCheckedListener {
            listener,
            uid,
            _file: file,
        })
    }
}

impl axum::serve::Listener for PeerCheckedListener {
    type Io = UnixStream;
    type Addr = ();

    async fn accept(&mut self) -> (UnixStream, ()) {
        loop {
            let stream = match self.listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting an API connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            match stream.peer_cred() {
                Ok(c) if c.uid() == self.uid => return (stream, ()),
                Ok(c) => {
                    tracing::warn!(
                        peer_uid = c.uid(),
                        "API connection from another user refused"
                    );
                    tokio::spawn(refuse(stream));
                }
                Err(e) => tracing::warn!(error = %e, "API connection without credentials refused"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Answers a connection from another user with 403 and closes it (its request is not read).
async fn refuse(mut stream: UnixStream) {
    let body = r#"{"error":"forbidden","message":"this daemon serves only the user that runs it"}"#;
    let reply = format!(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        let _ = stream.write_all(reply.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Creates `dir` (and parents) 0700 if it does not exist.
fn create_private_dir(dir: &Path) -> Result<(), ListenError> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.exists() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| ListenError::Io {
            what: format!("cannot create {}", dir.display()),
            source,
        })
}

/// A bound loopback TCP listener and the token its requests must carry.
pub struct TcpApi {
    listener: TcpListener,
    token: zeroize::Zeroizing<String>,
    /// Where the token was written (0600); removed when the server stops.
    pub token_file: PathBuf,
}

/// The token file, removed when the TCP server stops (a stale token helps nobody, and names a
/// port another program may own next).
struct TokenFile(PathBuf);

impl Drop for TokenFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl TcpApi {
    /// Binds `addr` (loopback only) and writes a fresh random token to `token_file` (0600).
    pub async fn bind(addr: SocketAddr, token_file: &Path) -> Result<TcpApi, ListenError> {
        if !addr.ip().is_loopback() {
            return Err(ListenError::NotLoopback(addr));
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ListenError::Io {
                what: format!("cannot listen on {addr}"),
                source,
            })?;
        let mut raw = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut raw[..]).map_err(|e| ListenError::Io {
            what: "the system random source failed".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let token = zeroize::Zeroizing::new(hex::encode(&raw[..]));
        let io = |source| ListenError::Io {
            what: format!("cannot write the token file {}", token_file.display()),
            source,
        };
        if let Some(parent) = token_file.parent() {
            create_private_dir(parent)?;
        }
        // Written to a temporary name first, so a reader never sees half a token.
        let tmp = token_file.with_extension("tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        f.write_all(token.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, token_file).map_err(io)?;
        Ok(TcpApi {
            listener,
            token,
            token_file: token_file.to_path_buf(),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves `router` behind the bearer-token gate until `stop` turns true, then removes the
    /// token file.
    pub async fn serve(self, router: Router, stop: tokio::sync::watch::Receiver<bool>) {
        let file = TokenFile(self.token_file.clone());
        let token = self.token;
        let gate: crate::httpd::Gate = Arc::new(move |req: &Request<hyper::body::Incoming>| {
            (!bearer_matches(req.headers(), &token)).then(unauthorized)
        });
        crate::httpd::serve(
            self.listener,
            router,
            Limits::new(MAX_CONNECTIONS, MAX_UNAUTHENTICATED),
            Some(gate),
            stop,
        )
        .await;
        drop(file);
    }
}

/// Connections one API listener serves at once.
pub const MAX_CONNECTIONS: usize = 128;
/// TCP connections that have not yet sent a request with the token.
pub const MAX_UNAUTHENTICATED: usize = 16;

/// Whether the headers carry `Authorization: Bearer TOKEN` (the scheme in any case, RFC 9110
/// section 11.1) with this token.
fn bearer_matches(headers: &axum::http::HeaderMap, token: &str) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let Some((scheme, given)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    // Constant time in the token's length: every byte is compared.
    let (a, b) = (given.trim().as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::WWW_AUTHENTICATE, "Bearer"),
        ],
        r#"{"error":"unauthorized","message":"send Authorization: Bearer TOKEN with the token from the daemon's token file"}"#,
    )
        .into_response()
}

/// Where the control API listens: the binary builds this from the command line and hands it
/// to the daemon, which starts it once its keys run.
#[derive(Debug, Clone)]
pub struct Listeners {
    /// The Unix socket (0600, peer uid checked).
    pub unix: PathBuf,
    /// Loopback TCP too, with a bearer token written to this file.
    pub tcp: Option<(SocketAddr, PathBuf)>,
}

impl crate::daemon::ControlApi for Listeners {
    async fn start(
        self,
        daemon: std::sync::Arc<crate::daemon::Daemon>,
        stop: tokio::sync::watch::Receiver<bool>,
        on_ready: &mut dyn FnMut(&crate::daemon::Ready),
    ) -> Result<Vec<tokio::task::JoinHandle<()>>, crate::daemon::DaemonError> {
        use crate::daemon::{DaemonError, Ready};
        let api_error = |e: ListenError| DaemonError::Api(Box::new(e));
        let router = super::router(daemon);
        let mut servers = Vec::new();
        if let Some((addr, token_file)) = &self.tcp {
            let tcp = TcpApi::bind(*addr, token_file).await.map_err(api_error)?;
            let bound = tcp.local_addr().unwrap_or(*addr);
            let file = tcp.token_file.clone();
            servers.push(tokio::spawn(tcp.serve(router.clone(), stop.clone())));
            on_ready(&Ready::ApiTcp(bound, file));
        }
        let unix = PeerCheckedListener::bind(&self.unix).map_err(api_error)?;
        servers.push(tokio::spawn(crate::httpd::serve(
            unix,
            router,
            Limits::new(MAX_CONNECTIONS, MAX_CONNECTIONS),
            None,
            stop,
        )));
        on_ready(&Ready::ApiSocket(self.unix.clone()));
        Ok(servers)
    }
}
