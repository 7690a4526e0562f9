//! The answers the HTTP layer gives before a request reaches a service (a connection over the
//! cap; a request hyper cannot parse), in the listener's error shape.
//!
//! hyper answers a request it cannot parse (a malformed request line or header, a URI or a
//! header section over its limits) itself, with an empty body and no content type, and offers
//! no hook to change that. [`Rewrite`] sits between hyper and the socket and replaces exactly
//! such an answer (a 4xx or 5xx head with `content-length: 0` and no `content-type`, which no
//! service here ever sends) with the same status and a body in the listener's shape, so every
//! error a client meets is the documented one.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Whose error shape the HTTP layer's own answers take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The control API: `{"error": CODE, "message": TEXT}`.
    Api,
    /// The AWS stand-in: the query protocol's `<ErrorResponse>` (the protocol of a request
    /// that was never read is unknown; botocore's JSON clients fall back to the status).
    Aws,
}

/// A complete `connection: close` answer with `status` in `dialect`'s shape.
pub fn answer(dialect: Dialect, status: u16) -> Vec<u8> {
    let (reason, api_code, aws_code, message) = match status {
        400 => (
            "Bad Request",
            "invalid-argument",
            "MalformedRequest",
            "the request is not HTTP/1.1 this server can read (a malformed request line or header)",
        ),
        414 => (
            "URI Too Long",
            "too-large",
            "RequestURITooLong",
            "the URI of the request is too long",
        ),
        431 => (
            "Request Header Fields Too Large",
            "too-large",
            "RequestHeaderSectionTooLarge",
            "the header section of the request is too large",
        ),
        503 => (
            "Service Unavailable",
            "unavailable",
            "ServiceUnavailable",
            "too many connections; try again shortly",
        ),
        505 => (
            "HTTP Version Not Supported",
            "invalid-argument",
            "HttpVersionNotSupported",
            "use HTTP/1.1",
        ),
        _ => (
            "Error",
            "invalid-argument",
            "InvalidRequest",
            "the request could not be read",
        ),
    };
    let (content_type, body) = match dialect {
        Dialect::Api => (
            "application/json",
            serde_json::json!({"error": api_code, "message": message}).to_string(),
        ),
        Dialect::Aws => (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{aws_code}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
                // The messages above hold no character XML escapes.
                format_args!("{message}."),
                uuid_like()
            ),
        ),
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A request id for an answer to a request that has none.
fn uuid_like() -> String {
    let mut r = [0u8; 16];
    if getrandom::fill(&mut r).is_err() {
        return "00000000-0000-4000-8000-000000000000".to_owned();
    }
    let h = hex::encode(r);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The status of `buf` if it is exactly one of hyper's own bare error answers: a 4xx or 5xx
/// head, complete, with `content-length: 0`, no `content-type`, and nothing after it.
fn bare_error_status(buf: &[u8]) -> Option<u16> {
    let rest = buf.strip_prefix(b"HTTP/1.1 ")?;
    let status = std::str::from_utf8(rest.get(..3)?)
        .ok()?
        .parse::<u16>()
        .ok()?;
    if !(400..600).contains(&status) || !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let head = std::str::from_utf8(&buf[..buf.len() - 4]).ok()?;
    let mut lines = head.split("\r\n").skip(1);
    let mut empty = false;
    for line in lines.by_ref() {
        let (name, value) = line.split_once(':')?;
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "content-type" | "transfer-encoding" => return None,
            "content-length" => empty = value.trim() == "0",
            _ => {}
        }
    }
    empty.then_some(status)
}

/// What [`Rewrite`] is doing with the bytes hyper hands it.
enum State {
    /// Passing them through.
    Passing,
    /// Writing `bytes` (from `written`) in place of a bare answer of `claimed` bytes.
    Replacing {
        bytes: Vec<u8>,
        written: usize,
        claimed: usize,
    },
}

/// An I/O stream whose writes pass through, except hyper's bare error answers, which are
/// replaced with [`answer`]s in `dialect`'s shape.
pub struct Rewrite<I> {
    inner: I,
    dialect: Dialect,
    state: State,
}

impl<I> Rewrite<I> {
    /// Wraps `inner`.
    pub fn new(inner: I, dialect: Dialect) -> Self {
        Rewrite {
            inner,
            dialect,
            state: State::Passing,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Rewrite<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Rewrite<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let State::Passing = this.state {
            match bare_error_status(buf) {
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
                Some(status) => {
                    this.state = State::Replacing {
                        bytes: answer(this.dialect, status),
                        written: 0,
                        claimed: buf.len(),
                    };
                }
            }
        }
        // Replacing: hyper calls again with the same bytes until they are all taken.
        loop {
            let State::Replacing {
                bytes,
                written,
                claimed,
            } = &mut this.state
            else {
                unreachable!("set above");
            };
            if *written == bytes.len() {
                let claimed = (*claimed).min(buf.len());
                this.state = State::Passing;
                return Poll::Ready(Ok(claimed));
            }
            let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    // Not vectored: hyper then hands over each answer's head as one buffer.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_bare_error_answers_are_recognised() {
        let bare = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 00:00:00 GMT\r\n\r\n";
        assert_eq!(bare_error_status(bare), Some(400));
        assert_eq!(
            bare_error_status(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n"
            ),
            Some(431)
        );
        for ours in [
            &b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nmore",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
            b"{\"error\":\"x\"}",
        ] {
            assert_eq!(bare_error_status(ours), None, "{}", String::from_utf8_lossy(ours));
        }
    }

    #[test]
    fn answers_are_in_the_listeners_shape() {
        let api = String::from_utf8(answer(Dialect::Api, 431)).unwrap();
        let (head, body) = api.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 ") && head.contains("application/json"));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"], "too-large");
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let aws = String::from_utf8(answer(Dialect::Aws, 400)).unwrap();
        assert!(aws.contains("<Code>MalformedRequest</Code>"), "{aws}");
    }

    #[tokio::test]
    async fn a_bare_answer_is_replaced_and_everything_else_passes() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (a, mut b) = tokio::io::duplex(16);
        let mut w = Rewrite::new(a, Dialect::Api);
        let bare = b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        let writer = tokio::spawn(async move {
            // A small pipe: the replacement is written over several partial writes.
            assert_eq!(w.write(bare).await.unwrap(), bare.len());
            w.write_all(b"plain").await.unwrap();
            w.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        let mut want = answer(Dialect::Api, 414);
        want.extend_from_slice(b"plain");
        assert_eq!(got, want);
    }
}
