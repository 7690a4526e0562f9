//! The UDP transport, loopback only: each datagram is one 64-byte report; each sender address
//! is one host, and its input reports go back to that address. Datagrams of any other size
//! are dropped. Peers are forgotten oldest first beyond [`MAX_PEERS`], and after
//! [`PEER_IDLE`] without a datagram (whatever their channels were doing is abandoned).
//!
//! Loopback UDP carries no peer credentials, so every datagram's sender is looked up in the
//! kernel's table of UDP sockets (`/proc/net/udp`, `/proc/net/udp6`): only datagrams from a
//! socket owned by the daemon's own user are served (other users can neither use the key nor
//! keep it busy). Unprivileged users cannot forge a loopback source address, and a sender
//! port shared between sockets of different users (SO_REUSEADDR) is refused.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::{DeviceInbox, HostEvent, HostId, HostSink, REPORT_LEN, Report, TransportError};

/// Most UDP peers remembered at once.
pub const MAX_PEERS: usize = 256;

/// A peer that sent nothing for this long is forgotten, and its channels abandoned (longer
/// than the token's 30-second wait for a touch, during which a client only listens).
pub const PEER_IDLE: Duration = Duration::from_secs(45);

/// How long a refused sender stays refused without being looked up again.
const REFUSED_FOR: Duration = Duration::from_secs(1);

/// Reports that may wait for the socket before they are dropped.
const OUT_CAPACITY: usize = 1024;

/// A bound loopback UDP socket.
#[derive(Debug)]
pub struct UdpTransport {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    owner: Option<u32>,
    idle: Duration,
}

impl UdpTransport {
    /// Binds `addr` (inside a tokio runtime); refuses anything but a loopback address.
    pub fn bind(addr: SocketAddr) -> Result<UdpTransport, TransportError> {
        if !addr.ip().is_loopback() {
            return Err(TransportError::NotLoopback(addr.to_string()));
        }
        let bind_err = |source| TransportError::Bind {
            what: addr.to_string(),
            source,
        };
        let std_socket = std::net::UdpSocket::bind(addr).map_err(bind_err)?;
        std_socket.set_nonblocking(true).map_err(bind_err)?;
        let local = std_socket.local_addr().map_err(bind_err)?;
        let socket = UdpSocket::from_std(std_socket).map_err(bind_err)?;
        Ok(UdpTransport {
            socket: Arc::new(socket),
            local,
            owner: Some(effective_uid().map_err(bind_err)?),
            idle: PEER_IDLE,
        })
    }

    /// The bound address (with the port the system chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Receives datagrams until the device stops.
    pub async fn serve(self, inbox: DeviceInbox) {
        let (tx, rx) = mpsc::channel(OUT_CAPACITY);
        let writer = tokio::spawn(write_loop(self.socket.clone(), rx));
        let mut peers = Peers::default();
        let mut refused: HashMap<SocketAddr, Instant> = HashMap::new();
        let mut sweep = tokio::time::interval((self.idle / 4).max(Duration::from_millis(50)));
        let mut buf = [0u8; 2048];
        loop {
            let received = tokio::select! {
                r = self.socket.recv_from(&mut buf) => Some(r),
                _ = sweep.tick() => None,
            };
            let (n, from) = match received {
                None => {
                    refused.retain(|_, at| at.elapsed() < REFUSED_FOR);
                    for host in peers.idle(self.idle) {
                        tracing::debug!(%host, "UDP peer idle; its channels are abandoned");
                        if inbox.send(HostEvent::Closed { host }).await.is_err() {
                            writer.abort();
                            return;
                        }
                    }
                    continue;
                }
                Some(Ok(x)) => x,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "UDP receive failed");
                    continue;
                }
            };
            let Ok(report) = <Report>::try_from(&buf[..n]) else {
                tracing::debug!(%from, len = n, "dropping a datagram that is not one 64-byte report");
                continue;
            };
            if let Some(owner) = self.owner
                && !self.sender_allowed(from, owner, &mut refused)
            {
                continue;
            }
            let host = match peers.get(from) {
                Some(h) => h,
                None => {
                    if let Some(old_host) = peers.evict_beyond(MAX_PEERS - 1)
                        && inbox
                            .send(HostEvent::Closed { host: old_host })
                            .await
                            .is_err()
                    {
                        break;
                    }
                    let host = HostId::fresh();
                    let sink = Box::new(UdpSink {
                        to: from,
                        tx: tx.clone(),
                    });
                    if inbox.send(HostEvent::Opened { host, sink }).await.is_err() {
                        break;
                    }
                    tracing::debug!(%host, %from, "new UDP peer");
                    peers.insert(from, host);
                    host
                }
            };
            let event = HostEvent::Reports {
                host,
                reports: vec![report],
            };
            if inbox.send(event).await.is_err() {
                break;
            }
        }
        writer.abort();
    }

    /// Whether the datagram's sender is a socket of the daemon's user (refusals are
    /// remembered for [`REFUSED_FOR`], so a flood costs one lookup per second and sender).
    fn sender_allowed(
        &self,
        from: SocketAddr,
        owner: u32,
        refused: &mut HashMap<SocketAddr, Instant>,
    ) -> bool {
        if refused
            .get(&from)
            .is_some_and(|at| at.elapsed() < REFUSED_FOR)
        {
            return false;
        }
        match socket_owners(from) {
            Ok(uids) if !uids.is_empty() && uids.iter().all(|u| *u == owner) => true,
            Ok(uids) => {
                tracing::warn!(
                    %from,
                    owners = ?uids,
                    "UDP datagram from a socket of another user refused (the key serves only its owner)"
                );
                refused.insert(from, Instant::now());
                false
            }
            Err(e) => {
                tracing::warn!(%from, error = %e, "cannot tell who sent a UDP datagram; refused");
                refused.insert(from, Instant::now());
                false
            }
        }
    }
}

/// The UDP peers, with when each last sent a datagram.
#[derive(Debug, Default)]
struct Peers {
    hosts: HashMap<SocketAddr, (HostId, Instant)>,
    order: VecDeque<SocketAddr>,
}

impl Peers {
    fn get(&mut self, from: SocketAddr) -> Option<HostId> {
        let (host, seen) = self.hosts.get_mut(&from)?;
        *seen = Instant::now();
        Some(*host)
    }

    fn insert(&mut self, from: SocketAddr, host: HostId) {
        self.hosts.insert(from, (host, Instant::now()));
        self.order.push_back(from);
    }

    /// Forgets the oldest peer while more than `keep` are known; returns it.
    fn evict_beyond(&mut self, keep: usize) -> Option<HostId> {
        if self.hosts.len() <= keep {
            return None;
        }
        let old = self.order.pop_front()?;
        self.hosts.remove(&old).map(|(h, _)| h)
    }

    /// Forgets every peer silent for `idle` or longer; returns them.
    fn idle(&mut self, idle: Duration) -> Vec<HostId> {
        let mut gone = Vec::new();
        self.hosts.retain(|_, (host, seen)| {
            let keep = seen.elapsed() < idle;
            if !keep {
                gone.push(*host);
            }
            keep
        });
        let hosts = &self.hosts;
        self.order.retain(|a| hosts.contains_key(a));
        gone
    }
}

/// This process's effective uid (the owner of `/proc/self`).
fn effective_uid() -> std::io::Result<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid())
}

/// The owners (uids) of every local UDP socket that a datagram from `from` can have come from:
/// bound to its address and port, or to the wildcard address on its port (IPv4 senders may be
/// dual-stack IPv6 sockets too).
fn socket_owners(from: SocketAddr) -> std::io::Result<Vec<u32>> {
    let mut uids = Vec::new();
    if from.is_ipv4() {
        let table = std::fs::read_to_string("/proc/net/udp")?;
        owners_in(&table, from, &mut uids);
    }
    // Absent when the kernel has no IPv6.
    if let Ok(table) = std::fs::read_to_string("/proc/net/udp6") {
        owners_in(&table, from, &mut uids);
    }
    uids.sort_unstable();
    uids.dedup();
    Ok(uids)
}

/// Adds the uids of the sockets of one `/proc/net/udp{,6}` table that match `from`.
fn owners_in(table: &str, from: SocketAddr, uids: &mut Vec<u32>) {
    for line in table.lines().skip(1) {
        let mut cols = line.split_whitespace();
        let (Some(local), Some(uid)) = (cols.nth(1), cols.nth(5)) else {
            continue;
        };
        let Some((addr, port)) = local.split_once(':') else {
            continue;
        };
        if u16::from_str_radix(port, 16).ok() != Some(from.port()) {
            continue;
        }
        let Some(ip) = parse_proc_ip(addr) else {
            continue;
        };
        if matches_sender(ip, from.ip())
            && let Ok(uid) = uid.parse::<u32>()
        {
            uids.push(uid);
        }
    }
}

/// An address as `/proc/net/udp{,6}` prints it: 8 or 32 hex digits, each 32-bit word in the
/// kernel's (little-endian on the machines authsim runs on) byte order.
fn parse_proc_ip(hex: &str) -> Option<IpAddr> {
    let word = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::from_be);
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(hex)?.to_be_bytes()))),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                let w = word(hex.get(i * 8..i * 8 + 8)?)?;
                b[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
            }
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

/// Whether a socket bound to `bound` receives (and so may send from) the sender's address.
fn matches_sender(bound: IpAddr, sender: IpAddr) -> bool {
    let canonical = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    bound.is_unspecified() || canonical(bound) == canonical(sender)
}

/// Input reports for one UDP peer.
struct UdpSink {
    to: SocketAddr,
    tx: mpsc::Sender<(SocketAddr, Report)>,
}

impl HostSink for UdpSink {
    fn deliver(&mut self, reports: &[Report]) -> bool {
        for r in reports {
            match self.tx.try_send((self.to, *r)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(to = %self.to, "UDP output queue full; report dropped");
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
        }
        true
    }
}

async fn write_loop(socket: Arc<UdpSocket>, mut rx: mpsc::Receiver<(SocketAddr, Report)>) {
    while let Some((to, report)) = rx.recv().await {
        debug_assert_eq!(report.len(), REPORT_LEN);
        if let Err(e) = socket.send_to(&report, to).await {
            tracing::debug!(%to, error = %e, "UDP send failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_loopback_addresses() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        for addr in ["0.0.0.0:0", "192.0.2.1:0", "[::]:0"] {
            assert!(matches!(
                UdpTransport::bind(addr.parse().unwrap()),
                Err(TransportError::NotLoopback(_))
            ));
        }
        let t = UdpTransport::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        assert!(t.local_addr().ip().is_loopback() && t.local_addr().port() != 0);
    }

    #[test]
    fn proc_tables_name_the_owner_of_a_sender() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
   1: 0100007F:A2B4 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 123 2 0 0\n\
   2: 00000000:A2B5 00000000:0000 07 00000000:00000000 00:00000000 00000000 65534        0 124 2 0 0\n";
        let mut uids = Vec::new();
        owners_in(v4, "127.0.0.1:41652".parse().unwrap(), &mut uids);
        assert_eq!(uids, vec![1000]);
        uids.clear();
        owners_in(v4, "127.0.0.1:41653".parse().unwrap(), &mut uids);
        assert_eq!(uids, vec![65534], "a wildcard socket on the port");
        uids.clear();
        owners_in(v4, "127.0.0.2:41652".parse().unwrap(), &mut uids);
        assert!(uids.is_empty());
        let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
   5: 00000000000000000000000001000000:A2B6 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     7        0 9 2 0 0\n";
        uids.clear();
        owners_in(v6, "[::1]:41654".parse().unwrap(), &mut uids);
        assert_eq!(uids, vec![7]);
        assert_eq!(
            parse_proc_ip("0000000000000000FFFF00000100007F"),
            Some("::ffff:127.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn the_daemons_own_sockets_are_found_and_allowed() {
        let me = effective_uid().unwrap();
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(socket_owners(s.local_addr().unwrap()).unwrap(), vec![me]);
        let s6 = std::net::UdpSocket::bind("[::1]:0");
        if let Ok(s6) = s6 {
            assert_eq!(socket_owners(s6.local_addr().unwrap()).unwrap(), vec![me]);
        }
    }

    #[test]
    fn idle_peers_are_forgotten_and_their_host_closed() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut t = UdpTransport::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            t.idle = Duration::from_millis(200);
            let addr = t.local_addr();
            let (inbox, outbox) = crate::transport::device_queue();
            tokio::spawn(t.serve(inbox));
            let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            client.send_to(&[5u8; REPORT_LEN], addr).await.unwrap();
            use crate::transport::next_event;
            let (outbox, ev) = next_event(outbox).await;
            let HostEvent::Opened { host, .. } = ev else {
                panic!("expected Opened");
            };
            let (outbox, ev) = next_event(outbox).await;
            assert!(matches!(ev, HostEvent::Reports { .. }));
            // Silence: the peer is forgotten, and the device hears that it went away.
            let (_outbox, ev) = next_event(outbox).await;
            let HostEvent::Closed { host: h } = ev else {
                panic!("expected Closed");
            };
            assert_eq!(h, host);
        });
    }

    #[test]
    fn one_datagram_one_report_replies_to_the_sender() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let t = UdpTransport::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = t.local_addr();
            let (inbox, outbox) = crate::transport::device_queue();
            tokio::spawn(t.serve(inbox));
            let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            client.send_to(&[9u8; 63], addr).await.unwrap();
            client.send_to(&[5u8; REPORT_LEN], addr).await.unwrap();
            use crate::transport::next_event;
            let (outbox, ev) = next_event(outbox).await;
            let HostEvent::Opened { mut sink, .. } = ev else {
                panic!("expected Opened");
            };
            let (_outbox, ev) = next_event(outbox).await;
            let HostEvent::Reports { reports, .. } = ev else {
                panic!("expected Reports");
            };
            assert_eq!(
                reports,
                vec![[5u8; REPORT_LEN]],
                "the 63-byte datagram was dropped"
            );
            assert!(sink.deliver(&[[6u8; REPORT_LEN]]));
            let mut buf = [0u8; 128];
            let (n, from) = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                client.recv_from(&mut buf),
            )
            .await
            .unwrap()
            .unwrap();
            assert_eq!((n, from), (REPORT_LEN, addr));
            assert_eq!(buf[..n], [6u8; REPORT_LEN]);
        });
    }
}
