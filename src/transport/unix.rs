//! The Unix stream socket transport: each accepted connection is one host that opened the
//! device. The host writes 64-byte output reports back to back and reads 64-byte input reports
//! (no report-id byte, no other framing). The socket file is 0600 and removed on shutdown, and
//! every connection's peer uid is checked (SO_PEERCRED) too: a socket file whose mode was
//! loosened, or one handed to another user's process, still serves only the daemon's user.

use std::collections::HashMap;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

use super::{DeviceInbox, HostEvent, HostId, HostSink, REPORT_LEN, Report, TransportError};

/// Most hosts connected at once. A new connection beyond it evicts one that never sent a
/// report (it holds nothing on the key), else the one silent the longest if it has been silent
/// for [`EVICT_IDLE`]; otherwise the new one is closed at once.
pub const MAX_CONNECTIONS: usize = 64;

/// How long a connection that has sent reports must have been silent to be evicted.
pub const EVICT_IDLE: std::time::Duration = std::time::Duration::from_millis(500);

/// Batches of input reports that may wait for a slow reader before reports are dropped.
const SINK_CAPACITY: usize = 256;

/// A listening Unix socket; the socket file is removed when this (and its server) is dropped.
#[derive(Debug)]
pub struct UnixTransport {
    listener: UnixListener,
    file: SocketFile,
}

/// A socket file, removed on drop if it is still the one this process created.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    id: Option<(u64, u64)>,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .ok()
            .is_some_and(|m| Some((m.dev(), m.ino())) == self.id);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Binds a Unix stream socket at `path` (mode 0600, non-blocking). A stale socket file nobody
/// listens on is replaced; a live one, or any other file, is refused. The returned
/// [`SocketFile`] removes the file when dropped.
pub fn bind_socket(
    path: &Path,
) -> Result<(std::os::unix::net::UnixListener, SocketFile), TransportError> {
    let shown = path.display().to_string();
    let bind_err = |source| TransportError::Bind {
        what: shown.clone(),
        source,
    };
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(TransportError::NotASocket(shown));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(TransportError::InUse(shown));
        }
        tracing::info!(path = %shown, "removing a stale socket file");
        std::fs::remove_file(path).map_err(bind_err)?;
    }
    let std_listener = std::os::unix::net::UnixListener::bind(path).map_err(bind_err)?;
    let meta = std::fs::symlink_metadata(path).map_err(bind_err)?;
    let file = SocketFile {
        path: path.to_path_buf(),
        id: Some((meta.dev(), meta.ino())),
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(bind_err)?;
    std_listener.set_nonblocking(true).map_err(bind_err)?;
    Ok((std_listener, file))
}

impl UnixTransport {
    /// Listens on `path` (inside a tokio runtime), as [`bind_socket`] binds it.
    pub fn bind(path: &Path) -> Result<UnixTransport, TransportError> {
        let (std_listener, file) = bind_socket(path)?;
        let listener =
            UnixListener::from_std(std_listener).map_err(|source| TransportError::Bind {
                what: path.display().to_string(),
                source,
            })?;
        Ok(UnixTransport { listener, file })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// Accepts hosts until the device stops; each connection runs as its own task.
    pub async fn serve(self, inbox: DeviceInbox) {
        let live = LiveConnections::new();
        let mut next_id = 0u64;
        let me = super::effective_uid();
        loop {
            let stream = match self.listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            if !same_user(&stream, me) {
                drop(stream);
                continue;
            }
            if !live.make_room(MAX_CONNECTIONS, EVICT_IDLE) {
                tracing::warn!(
                    "{MAX_CONNECTIONS} busy connections; closing a new one (idle ones are evicted first)"
                );
                drop(stream);
                continue;
            }
            next_id += 1;
            let (evict_tx, evict_rx) = tokio::sync::oneshot::channel();
            let activity = live.add(next_id, evict_tx);
            let inbox = inbox.clone();
            let live = live.clone();
            let id = next_id;
            tokio::spawn(async move {
                connection(stream, inbox, activity, evict_rx).await;
                live.remove(id);
            });
        }
    }
}

/// Whether the peer of `stream` runs as `uid` (a refusal is logged, rate-limited).
fn same_user(stream: &UnixStream, uid: u32) -> bool {
    match stream.peer_cred() {
        Ok(c) if c.uid() == uid => true,
        Ok(c) => {
            tracing::warn!(
                peer_uid = c.uid(),
                "HID connection from another user refused"
            );
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, "HID connection without credentials refused");
            false
        }
    }
}

/// One open connection: its activity, and the sender that tells it to go.
type LiveEntry = (Activity, tokio::sync::oneshot::Sender<()>);

/// The open connections of one socket: when each last sent something, and how to evict it.
#[derive(Clone)]
struct LiveConnections {
    origin: Instant,
    conns: Arc<Mutex<HashMap<u64, LiveEntry>>>,
}

/// When a connection last sent a report (milliseconds since its socket's origin).
#[derive(Clone)]
struct Activity {
    origin: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    /// Records a report from the connection (0 stays "never sent anything").
    fn touch(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms.saturating_add(1), Ordering::Relaxed);
    }
}

impl LiveConnections {
    fn new() -> LiveConnections {
        LiveConnections {
            origin: Instant::now(),
            conns: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, LiveEntry>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, id: u64, evict: tokio::sync::oneshot::Sender<()>) -> Activity {
        let activity = Activity {
            origin: self.origin,
            last_ms: Arc::new(AtomicU64::new(0)),
        };
        self.lock().insert(id, (activity.clone(), evict));
        activity
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Whether one more connection fits under `max`, evicting the connection silent the
    /// longest if it has been silent for `idle` or more.
    fn make_room(&self, max: usize, idle: std::time::Duration) -> bool {
        let mut conns = self.lock();
        if conns.len() < max {
            return true;
        }
        let now_ms = u64::try_from(self.origin.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        // Never sent anything (0) sorts first, oldest connection (lowest id) first among those.
        let oldest = conns
            .iter()
            .map(|(id, (a, _))| (*id, a.last_ms.load(Ordering::Relaxed)))
            .min_by_key(|(id, last)| (*last, *id));
        match oldest {
            Some((id, last))
                if last == 0
                    || now_ms.saturating_sub(last)
                        >= u64::try_from(idle.as_millis()).unwrap_or(0) =>
            {
                if let Some((_, evict)) = conns.remove(&id) {
                    let _ = evict.send(());
                }
                tracing::debug!("evicted the connection idle the longest for a new one");
                true
            }
            _ => false,
        }
    }
}

/// Input reports for one connection. The device's thread writes them straight to the socket
/// (a second descriptor of it, non-blocking) when nothing is queued before them: an answer
/// then costs one write, not a wake-up of the connection's writer task. What the socket does
/// not take at once goes to the writer task, and everything after it too until the task has
/// written it all, so reports keep their order and a report is never cut.
struct ChannelSink {
    host: HostId,
    direct: Option<std::os::unix::net::UnixStream>,
    /// Batches handed to the writer task and not yet written.
    queued: Arc<AtomicUsize>,
    tx: mpsc::Sender<Vec<u8>>,
}

impl ChannelSink {
    /// Writes what the socket takes now; how many bytes, or `None` when the host is gone.
    fn write_now(&self, bytes: &[u8]) -> Option<usize> {
        let Some(mut direct) = self.direct.as_ref() else {
            return Some(0);
        };
        let mut written = 0;
        while written < bytes.len() {
            match direct.write(&bytes[written..]) {
                Ok(0) => return None,
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => return None,
            }
        }
        Some(written)
    }
}

impl HostSink for ChannelSink {
    fn deliver(&mut self, reports: &[Report]) -> bool {
        let bytes = reports.as_flattened();
        let mut written = 0;
        if self.queued.load(Ordering::Acquire) == 0 {
            match self.write_now(bytes) {
                Some(n) if n == bytes.len() => return true,
                Some(n) => written = n,
                None => return false,
            }
        }
        self.queued.fetch_add(1, Ordering::AcqRel);
        // With nothing queued the channel is empty, so the rest of a report cut by a short
        // write always fits: only whole batches are ever dropped.
        match self.tx.try_send(bytes[written..].to_vec()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.queued.fetch_sub(1, Ordering::AcqRel);
                tracing::warn!(host = %self.host, "host is not reading; input reports dropped");
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

async fn connection(
    stream: UnixStream,
    inbox: DeviceInbox,
    activity: Activity,
    evict: tokio::sync::oneshot::Receiver<()>,
) {
    let host = HostId::fresh();
    // Without a second descriptor (out of them) every answer goes through the writer task.
    let direct = stream
        .as_fd()
        .try_clone_to_owned()
        .map(std::os::unix::net::UnixStream::from)
        .ok();
    let (rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::channel(SINK_CAPACITY);
    let queued = Arc::new(AtomicUsize::new(0));
    let sink = Box::new(ChannelSink {
        host,
        direct,
        queued: queued.clone(),
        tx,
    });
    if inbox.send(HostEvent::Opened { host, sink }).await.is_err() {
        return;
    }
    tracing::debug!(%host, "host connected");
    let writer = tokio::spawn(write_loop(wr, rx, queued));
    tokio::select! {
        () = read_loop(rd, host, &inbox, &activity) => {}
        _ = evict => tracing::debug!(%host, "evicted: idle while the socket was full"),
    }
    let _ = inbox.send(HostEvent::Closed { host }).await;
    // The device drops the sink on Closed, which ends the writer.
    let _ = writer.await;
    tracing::debug!(%host, "host disconnected");
}

/// Reads whole reports and forwards them in batches; a trailing partial report at EOF is dropped.
async fn read_loop(mut rd: OwnedReadHalf, host: HostId, inbox: &DeviceInbox, activity: &Activity) {
    let mut buf = vec![0u8; REPORT_LEN * 32];
    let mut filled = 0;
    loop {
        let n = match rd.read(&mut buf[filled..]).await {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(%host, error = %e, "read failed");
                return;
            }
        };
        filled += n;
        activity.touch();
        let whole = filled / REPORT_LEN;
        if whole == 0 {
            continue;
        }
        let reports: Vec<Report> = buf[..whole * REPORT_LEN]
            .chunks_exact(REPORT_LEN)
            .filter_map(|c| c.try_into().ok())
            .collect();
        buf.copy_within(whole * REPORT_LEN..filled, 0);
        filled -= whole * REPORT_LEN;
        if inbox
            .send(HostEvent::Reports { host, reports })
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Writes every batch of input reports the device could not write at once, then says how
/// many it wrote; ends when the device drops the sink or the host goes.
async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Vec<u8>>,
    queued: Arc<AtomicUsize>,
) {
    let mut out = Vec::with_capacity(REPORT_LEN * 8);
    while let Some(batch) = rx.recv().await {
        out.clear();
        out.extend_from_slice(&batch);
        let mut batches = 1;
        while let Ok(more) = rx.try_recv() {
            out.extend_from_slice(&more);
            batches += 1;
        }
        if wr.write_all(&out).await.is_err() {
            return;
        }
        queued.fetch_sub(batches, Ordering::AcqRel);
    }
    let _ = wr.shutdown().await;
}

#[cfg(test)]
mod tests;
