//! The socket transport's tests: binding, eviction, framing and ordering.

use super::*;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn temp_dir() -> PathBuf {
    let mut r = [0u8; 8];
    getrandom::fill(&mut r).unwrap();
    let d = std::env::temp_dir().join(format!("authsim-unix-{}", hex::encode(r)));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn binds_0600_replaces_stale_refuses_live_and_foreign_files() {
    let rt = rt();
    let _guard = rt.enter();
    let dir = temp_dir();
    let path = dir.join("hid.sock");
    // A stale socket (its listener is gone) is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let t = UnixTransport::bind(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A live one is refused, and left alone.
    assert!(matches!(
        UnixTransport::bind(&path),
        Err(TransportError::InUse(_))
    ));
    assert!(path.exists());
    drop(t);
    assert!(!path.exists(), "removed on drop");
    // Anything that is not a socket is refused and left alone.
    std::fs::write(&path, b"data").unwrap();
    assert!(matches!(
        UnixTransport::bind(&path),
        Err(TransportError::NotASocket(_))
    ));
    assert_eq!(std::fs::read(&path).unwrap(), b"data");
    // A socket file replaced by someone else is not removed by us.
    std::fs::remove_file(&path).unwrap();
    let t = UnixTransport::bind(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"theirs").unwrap();
    drop(t);
    assert_eq!(std::fs::read(&path).unwrap(), b"theirs");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn idle_connections_are_evicted_before_a_new_one_is_refused() {
    let live = LiveConnections::new();
    let mut evicted = Vec::new();
    for id in 0..3 {
        let (tx, rx) = tokio::sync::oneshot::channel();
        live.add(id, tx);
        evicted.push(rx);
    }
    // Full, and every one has sent something recently: refused.
    for id in 0..3 {
        live.lock().get(&id).unwrap().0.touch();
    }
    assert!(!live.make_room(3, std::time::Duration::from_secs(3600)));
    // Connection 1 has been silent the longest: it goes for the new one.
    for id in [0, 2] {
        live.lock()
            .get(&id)
            .unwrap()
            .0
            .last_ms
            .store(10_000_000, Ordering::Relaxed);
    }
    live.lock()
        .get(&1)
        .unwrap()
        .0
        .last_ms
        .store(1, Ordering::Relaxed);
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert!(live.make_room(3, std::time::Duration::from_millis(1)));
    assert!(evicted[1].try_recv().is_ok(), "connection 1 was told to go");
    assert!(evicted[0].try_recv().is_err() && evicted[2].try_recv().is_err());
    assert_eq!(live.lock().len(), 2);
    // One that never sent anything goes first, however long the others were silent.
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    live.add(9, tx);
    assert!(live.make_room(3, std::time::Duration::from_secs(3600)));
    assert!(rx.try_recv().is_ok());
}

/// A host that reads late: the device's writes fill the socket, the rest waits in the
/// writer task's queue, whole batches are dropped when that is full too, and the device
/// keeps delivering while the host drains the socket. What the host reads is whole
/// reports in the order they were delivered.
#[test]
fn a_slow_reader_gets_whole_reports_in_order() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = temp_dir();
    let path = dir.join("hid.sock");
    let (inbox, outbox) = crate::transport::device_queue();
    let t = rt.block_on(async { UnixTransport::bind(&path) }).unwrap();
    rt.spawn(t.serve(inbox));
    let mut client = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let (outbox, ev) = rt.block_on(crate::transport::next_event(outbox));
    let HostEvent::Opened { mut sink, .. } = ev else {
        panic!("expected Opened");
    };
    client
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    // The host starts reading after 50 ms, while the device still delivers.
    let reader = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut client, &mut all).unwrap();
        all
    });
    // Far more than a socket buffer and the queue hold: 6,000 batches of 3 reports,
    // delivered over ~120 ms.
    let batches = 6000u32;
    for b in 0..batches {
        let reports: Vec<Report> = (0..3u32)
            .map(|i| {
                let mut r = [0u8; REPORT_LEN];
                r[..4].copy_from_slice(&(b * 3 + i).to_be_bytes());
                r[REPORT_LEN - 4..].copy_from_slice(&(b * 3 + i).to_be_bytes());
                r
            })
            .collect();
        assert!(sink.deliver(&reports));
        if b % 50 == 49 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    // The device forgets the host: the writer task drains its queue and closes.
    drop(sink);
    drop(outbox);
    let all = reader.join().unwrap();
    assert_eq!(all.len() % REPORT_LEN, 0, "a report was cut");
    let seq: Vec<u32> = all
        .chunks_exact(REPORT_LEN)
        .map(|r| {
            let head = u32::from_be_bytes(r[..4].try_into().unwrap());
            let tail = u32::from_be_bytes(r[REPORT_LEN - 4..].try_into().unwrap());
            assert_eq!(head, tail, "a report was spliced");
            head
        })
        .collect();
    assert!(seq.windows(2).all(|w| w[0] < w[1]), "out of order");
    assert_eq!(seq.len() % 3, 0, "only whole batches are dropped");
    assert_eq!(seq[0], 0);
    assert_eq!(
        *seq.last().unwrap(),
        3 * batches - 1,
        "the last batch arrives"
    );
    drop(rt);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn forwards_whole_reports_and_writes_replies() {
    let rt = rt();
    rt.block_on(async {
        let dir = temp_dir();
        let path = dir.join("hid.sock");
        let t = UnixTransport::bind(&path).unwrap();
        let (inbox, outbox) = crate::transport::device_queue();
        tokio::spawn(t.serve(inbox));
        let mut client = tokio::net::UnixStream::connect(&path).await.unwrap();
        // 1.5 reports: one whole report arrives, the half waits for the rest.
        let mut data = vec![1u8; REPORT_LEN];
        data.extend_from_slice(&[2u8; 32]);
        client.write_all(&data).await.unwrap();
        use crate::transport::next_event;
        let (outbox, ev) = next_event(outbox).await;
        let HostEvent::Opened { host, mut sink } = ev else {
            panic!("expected Opened");
        };
        let (outbox, ev) = next_event(outbox).await;
        let HostEvent::Reports { host: h, reports } = ev else {
            panic!("expected Reports");
        };
        assert_eq!((h, reports), (host, vec![[1u8; REPORT_LEN]]));
        client.write_all(&[2u8; 32]).await.unwrap();
        let (outbox, ev) = next_event(outbox).await;
        let HostEvent::Reports { reports, .. } = ev else {
            panic!("expected Reports");
        };
        assert_eq!(reports, vec![[2u8; REPORT_LEN]]);
        assert!(sink.deliver(&[[7u8; REPORT_LEN], [8u8; REPORT_LEN]]));
        let mut back = [0u8; 2 * REPORT_LEN];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(&back[..REPORT_LEN], &[7u8; REPORT_LEN]);
        assert_eq!(&back[REPORT_LEN..], &[8u8; REPORT_LEN]);
        drop(client);
        let (_outbox, ev) = next_event(outbox).await;
        let HostEvent::Closed { host: h } = ev else {
            panic!("expected Closed");
        };
        assert_eq!(h, host);
        let _ = std::fs::remove_dir_all(dir);
    });
}
