//! The control API's client, as the CLI uses it: one HTTP/1.1 request per connection over the
//! daemon's Unix socket (hyper's client connection; no pool needed for a command-line call).

use std::path::{Path, PathBuf};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Why a request to the daemon failed before an answer came.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No daemon listens on the socket.
    #[error(
        "no authsim daemon answers on {0} (start one: authsim daemon; or point AUTHSIM_API_SOCKET at its socket, or --state-dir at its state directory)"
    )]
    NoDaemon(PathBuf),
    /// The HTTP exchange failed.
    #[error("talking to the daemon on {path} failed: {message}")]
    Http {
        /// The socket.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// An answer from the daemon.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body (JSON, or text for the PEM and YAML resources).
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON (`Null` when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The daemon's error message, for a non-2xx answer.
    pub fn error_message(&self) -> String {
        let v = self.json();
        match v.get("message").and_then(Value::as_str) {
            Some(m) => m.to_owned(),
            None => format!("the daemon answered {}", self.status),
        }
    }
}

/// Whether a daemon answers on `socket` (a connect succeeds).
pub fn daemon_listening(socket: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket).is_ok()
}

/// Sends one request to the daemon on `socket`.
pub async fn request<B: serde::Serialize + ?Sized>(
    socket: &Path,
    method: Method,
    path: &str,
    body: Option<&B>,
) -> Result<Answer, ClientError> {
    let http = |message: String| ClientError::Http {
        path: socket.to_path_buf(),
        message,
    };
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|_| ClientError::NoDaemon(socket.to_path_buf()))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| http(e.to_string()))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let bytes = match body {
        Some(v) => Bytes::from(serde_json::to_vec(v).map_err(|e| http(e.to_string()))?),
        None => Bytes::new(),
    };
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, "authsim");
    if body.is_some() {
        req = req.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    let req = req
        .body(Full::new(bytes))
        .map_err(|e| http(e.to_string()))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| http(e.to_string()))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| http(e.to_string()))?
        .to_bytes();
    driver.abort();
    Ok(Answer { status, body })
}

/// [`request`] from synchronous code (a private single-threaded runtime). Synchronous code
/// may itself run inside a runtime (the AWS flows ask the daemon for codes from async code,
/// where blocking on a second runtime panics): there the private runtime runs on a thread of
/// its own.
pub fn request_blocking<B: serde::Serialize + ?Sized>(
    socket: &Path,
    method: Method,
    path: &str,
    body: Option<&B>,
) -> Result<Answer, ClientError> {
    if tokio::runtime::Handle::try_current().is_err() {
        return block_on_private(socket, method, path, body);
    }
    // The body as a value another thread may read (`B` need not be `Sync`).
    let value = body
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| ClientError::Http {
            path: socket.to_path_buf(),
            message: e.to_string(),
        })?;
    std::thread::scope(|s| {
        s.spawn(|| block_on_private(socket, method, path, value.as_ref()))
            .join()
            .unwrap_or_else(|_| {
                Err(ClientError::Http {
                    path: socket.to_path_buf(),
                    message: "the request thread panicked".into(),
                })
            })
    })
}

/// [`request`] on a new single-threaded runtime.
fn block_on_private<B: serde::Serialize + ?Sized>(
    socket: &Path,
    method: Method,
    path: &str,
    body: Option<&B>,
) -> Result<Answer, ClientError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClientError::Http {
            path: socket.to_path_buf(),
            message: e.to_string(),
        })?;
    rt.block_on(request(socket, method, path, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocking_request_from_inside_a_runtime_answers_instead_of_panicking() {
        // The AWS flows ask the daemon for codes from async code; this panicked with "Cannot
        // start a runtime from within a runtime" whenever a daemon was running.
        let socket =
            std::env::temp_dir().join(format!("authsim-no-daemon-{}.sock", std::process::id()));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let got = rt.block_on(async {
            request_blocking(&socket, Method::POST, "/totp/x/fresh", Some(&[1, 2, 3]))
        });
        assert!(matches!(got, Err(ClientError::NoDaemon(p)) if p == socket));
        // And from plain synchronous code, as before.
        let got = request_blocking(&socket, Method::GET, "/totp", None::<&()>);
        assert!(matches!(got, Err(ClientError::NoDaemon(_))));
    }
}
