use super::*;
use keysource::KeyError;
use std::os::unix::fs::PermissionsExt;

fn tmpdir(tag: &str) -> PathBuf {
    let mut r = [0u8; 8];
    getrandom::fill(&mut r).unwrap();
    std::env::temp_dir().join(format!("authsim-store-{tag}-{}", hex::encode(r)))
}

fn file_source() -> KeySource {
    KeySource::new(None, Keyring::Off)
}

const KEY_A: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const KEY_B: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

fn put(store: &mut Store, ns: &str, k: &str, v: &str) {
    store
        .transaction(|tx| tx.put(ns, k.as_bytes(), v.as_bytes()))
        .unwrap();
}

#[test]
fn new_store_uses_a_private_key_file_and_reopens() {
    let dir = tmpdir("file");
    let mut s = Store::open(&dir, &file_source()).unwrap();
    assert_eq!(
        s.key_origin(),
        &KeyOrigin::File(dir.join(keysource::KEY_FILE))
    );
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    let sealed = s.seal(b"ad", b"hello").unwrap();
    put(&mut s, "ns", "k", "v");
    drop(s);
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(DB_FILE)), 0o600);
    assert_eq!(mode(&dir.join(keysource::KEY_FILE)), 0o600);
    let s = Store::open(&dir, &file_source()).unwrap();
    assert_eq!(&*s.open_sealed(b"ad", &sealed).unwrap(), b"hello");
    assert_eq!(s.get("ns", b"k").unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(s.list("ns").unwrap().len(), 1);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_key_that_does_not_open_the_store_is_refused_and_nothing_changes() {
    let dir = tmpdir("mismatch");
    let mut s = Store::open(&dir, &file_source()).unwrap();
    put(&mut s, "ns", "k", "v");
    drop(s);
    let key_file = fs::read(dir.join(keysource::KEY_FILE)).unwrap();
    let err = Store::open(&dir, &KeySource::new(Some(KEY_B.into()), Keyring::Off)).unwrap_err();
    assert!(
        matches!(err, StoreError::Key(KeyError::Mismatch { .. })),
        "{err}"
    );
    assert!(!err.to_string().contains(KEY_B), "the key is never quoted");
    assert_eq!(fs::read(dir.join(keysource::KEY_FILE)).unwrap(), key_file);
    let s = Store::open(&dir, &file_source()).unwrap();
    assert_eq!(s.get("ns", b"k").unwrap().as_deref(), Some(&b"v"[..]));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn env_key_vaults_need_the_same_env_key() {
    let dir = tmpdir("env");
    let s = Store::open(&dir, &KeySource::new(Some(KEY_A.into()), Keyring::Off)).unwrap();
    assert_eq!(s.key_origin(), &KeyOrigin::Env);
    drop(s);
    assert!(!dir.join(keysource::KEY_FILE).exists());
    let err = Store::open(&dir, &file_source()).unwrap_err();
    assert!(
        matches!(err, StoreError::Key(KeyError::EnvRequired)),
        "{err}"
    );
    assert!(
        !dir.join(keysource::KEY_FILE).exists(),
        "no new key over an old vault"
    );
    let err = Store::open(&dir, &KeySource::new(Some(KEY_B.into()), Keyring::Off)).unwrap_err();
    assert!(matches!(err, StoreError::Key(KeyError::Mismatch { .. })));
    Store::open(&dir, &KeySource::new(Some(KEY_A.into()), Keyring::Off)).unwrap();
    let err = Store::open(&dir, &KeySource::new(Some("nothex".into()), Keyring::Off)).unwrap_err();
    assert!(matches!(err, StoreError::Key(KeyError::BadEnvKey)));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_or_open_key_file_is_refused_without_making_a_new_key() {
    let dir = tmpdir("keyfile");
    drop(Store::open(&dir, &file_source()).unwrap());
    let kf = dir.join(keysource::KEY_FILE);
    fs::set_permissions(&kf, fs::Permissions::from_mode(0o644)).unwrap();
    let err = Store::open(&dir, &file_source()).unwrap_err();
    assert!(err.to_string().contains("chmod 600"), "{err}");
    fs::remove_file(&kf).unwrap();
    let err = Store::open(&dir, &file_source()).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    assert!(!kf.exists(), "no new key over an old vault");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn keyring_holds_the_key_when_one_answers() {
    let dir = tmpdir("keyring");
    let ring: Arc<keyring_core::CredentialStore> = keyring_core::mock::Store::new().unwrap();
    let src = KeySource::new(None, Keyring::Store(ring.clone()));
    let mut s = Store::open(&dir, &src).unwrap();
    assert!(matches!(s.key_origin(), KeyOrigin::Keyring(_)));
    assert!(!dir.join(keysource::KEY_FILE).exists());
    put(&mut s, "ns", "k", "v");
    drop(s);
    let s = Store::open(&dir, &src).unwrap();
    assert_eq!(s.get("ns", b"k").unwrap().as_deref(), Some(&b"v"[..]));
    drop(s);
    // A keyring without the entry (another session, another machine) is a clear error.
    let other: Arc<keyring_core::CredentialStore> = keyring_core::mock::Store::new().unwrap();
    let err = Store::open(&dir, &KeySource::new(None, Keyring::Store(other))).unwrap_err();
    assert!(
        matches!(err, StoreError::Key(KeyError::Keyring { .. })),
        "{err}"
    );
    // So is no keyring at all; and no key file appears.
    let err = Store::open(&dir, &file_source()).unwrap_err();
    assert!(
        matches!(err, StoreError::Key(KeyError::Keyring { .. })),
        "{err}"
    );
    assert!(!dir.join(keysource::KEY_FILE).exists());
    fs::remove_dir_all(&dir).unwrap();
}

use std::sync::Arc;

#[test]
fn newer_schema_is_refused() {
    let dir = tmpdir("newer");
    drop(Store::open(&dir, &file_source()).unwrap());
    let c = Connection::open(dir.join(DB_FILE)).unwrap();
    c.pragma_update(None, "user_version", 7).unwrap();
    drop(c);
    let err = Store::open(&dir, &file_source()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NewerSchema {
                found: 7,
                supported: SCHEMA_VERSION,
                ..
            }
        ),
        "{err}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupted_database_is_refused_and_left_alone() {
    let dir = tmpdir("corrupt");
    fs::create_dir_all(&dir).unwrap();
    let garbage = vec![0x5au8; 8192];
    fs::write(dir.join(DB_FILE), &garbage).unwrap();
    let err = Store::open(&dir, &file_source()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert_eq!(fs::read(dir.join(DB_FILE)).unwrap(), garbage);
    assert!(!dir.join(keysource::KEY_FILE).exists());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn failed_transaction_writes_nothing() {
    let dir = tmpdir("txn");
    let mut s = Store::open(&dir, &file_source()).unwrap();
    let r: Result<(), StoreError> = s.transaction(|tx| {
        tx.put("ns", b"a", b"1")?;
        Err(StoreError::Sqlite {
            path: PathBuf::new(),
            detail: "boom".into(),
        })
    });
    assert!(r.is_err());
    assert_eq!(s.get("ns", b"a").unwrap(), None);
    s.transaction(|tx| {
        assert!(tx.insert_new("ns", b"a", b"1")?);
        assert!(!tx.insert_new("ns", b"a", b"2")?);
        assert_eq!(tx.get("ns", b"a")?.as_deref(), Some(&b"1"[..]));
        assert!(tx.delete("ns", b"a")?);
        assert!(!tx.delete("ns", b"a")?);
        Ok::<_, StoreError>(())
    })
    .unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_processes_opening_a_new_directory_agree_on_one_key() {
    let dir = tmpdir("race");
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut s = Store::open(&dir, &file_source()).unwrap();
                let k = format!("k{i}");
                s.transaction(|tx| tx.put("ns", k.as_bytes(), b"v"))
                    .unwrap();
                s.seal(b"ad", b"x").unwrap()
            })
        })
        .collect();
    let sealed: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let s = Store::open(&dir, &file_source()).unwrap();
    for v in &sealed {
        assert_eq!(&*s.open_sealed(b"ad", v).unwrap(), b"x");
    }
    assert_eq!(s.list("ns").unwrap().len(), 4);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_last_connection_leaves_an_empty_wal_so_a_reader_writes_nothing() {
    let dir = tmpdir("wal");
    let mut s = Store::open(&dir, &file_source()).unwrap();
    put(&mut s, "ns", "k", "v");
    drop(s);
    let wal = dir.join(format!("{DB_FILE}-wal"));
    // The -wal file is kept (persistent WAL) but emptied: had its checkpointed frames stayed
    // valid, each later process would have checkpointed them again as it closed (three fsyncs
    // for a read such as `authsim totp code`).
    assert_eq!(fs::metadata(&wal).unwrap().len(), 0);
    let db = fs::read(dir.join(DB_FILE)).unwrap();
    let s = Store::open(&dir, &file_source()).unwrap();
    assert_eq!(s.get("ns", b"k").unwrap().as_deref(), Some(&b"v"[..]));
    drop(s);
    assert_eq!(fs::metadata(&wal).unwrap().len(), 0);
    assert_eq!(
        fs::read(dir.join(DB_FILE)).unwrap(),
        db,
        "a reader leaves the file as it was"
    );
    fs::remove_dir_all(&dir).unwrap();
}
