//! The UDP transport, loopback only: each datagram is one 64-byte report; each sender address
//! is one host, and its input reports go back to that address. Datagrams of any other size
//! are dropped. Peers are forgotten oldest first beyond [`MAX_PEERS`].

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::{DeviceInbox, HostEvent, HostId, HostSink, REPORT_LEN, Report, TransportError};

/// Most UDP peers remembered at once.
pub const MAX_PEERS: usize = 256;

/// Reports that may wait for the socket before they are dropped.
const OUT_CAPACITY: usize = 1024;

/// A bound loopback UDP socket.
#[derive(Debug)]
pub struct UdpTransport {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
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
        let mut peers: HashMap<SocketAddr, HostId> = HashMap::new();
        let mut order: VecDeque<SocketAddr> = VecDeque::new();
        let mut buf = [0u8; 2048];
        loop {
            let (n, from) = match self.socket.recv_from(&mut buf).await {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!(error = %e, "UDP receive failed");
                    continue;
                }
            };
            let Ok(report) = <Report>::try_from(&buf[..n]) else {
                tracing::debug!(%from, len = n, "dropping a datagram that is not one 64-byte report");
                continue;
            };
            let host = match peers.get(&from) {
                Some(h) => *h,
                None => {
                    if order.len() >= MAX_PEERS
                        && let Some(old) = order.pop_front()
                        && let Some(old_host) = peers.remove(&old)
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
                    order.push_back(from);
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
