//! The token's persistent memory: namespaced records with atomic batch commits, like flash.

use thiserror::Error;
use zeroize::Zeroize;

/// Failure of the record store.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The (simulated) power went away; nothing of the failing batch was written.
    #[error("power lost during a store operation; the batch was not written")]
    PowerLost,
    /// The backing store reported an error (its own message, never a secret).
    #[error("record store backend failed: {0}")]
    Backend(String),
}

/// One write inside a batch.
#[derive(Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// Create or replace the record `(ns, key)`.
    Put {
        /// The namespace.
        ns: String,
        /// The record key.
        key: Vec<u8>,
        /// The new value.
        value: Vec<u8>,
    },
    /// Remove the record `(ns, key)` if it exists.
    Delete {
        /// The namespace.
        ns: String,
        /// The record key.
        key: Vec<u8>,
    },
}

impl std::fmt::Debug for WriteOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may hold key material: show only their size.
        match self {
            WriteOp::Put { ns, key, value } => f
                .debug_struct("Put")
                .field("ns", ns)
                .field("key_len", &key.len())
                .field("value_len", &value.len())
                .finish(),
            WriteOp::Delete { ns, key } => f
                .debug_struct("Delete")
                .field("ns", ns)
                .field("key_len", &key.len())
                .finish(),
        }
    }
}

/// A list of writes that a [`RecordStore`] applies all together or not at all.
///
/// Values may hold key material; they are wiped when the batch is dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<WriteOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a put of `value` at `(ns, key)`.
    pub fn put(&mut self, ns: &str, key: &[u8], value: Vec<u8>) -> &mut Self {
        self.ops.push(WriteOp::Put {
            ns: ns.to_owned(),
            key: key.to_vec(),
            value,
        });
        self
    }

    /// Adds a delete of `(ns, key)`.
    pub fn delete(&mut self, ns: &str, key: &[u8]) -> &mut Self {
        self.ops.push(WriteOp::Delete {
            ns: ns.to_owned(),
            key: key.to_vec(),
        });
        self
    }

    /// The writes, in the order they were added (later writes to the same record win).
    pub fn ops(&self) -> &[WriteOp] {
        &self.ops
    }

    /// Whether the batch has no writes.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The number of writes in the batch.
    pub fn len(&self) -> usize {
        self.ops.len()
    }
}

impl Drop for WriteBatch {
    fn drop(&mut self) {
        for op in &mut self.ops {
            if let WriteOp::Put { value, .. } = op {
                value.zeroize();
            }
        }
    }
}

/// The `(key, value)` pairs of one namespace, in ascending key order.
pub type Records = Vec<(Vec<u8>, Vec<u8>)>;

/// Persistent storage with the shape of a `records(ns TEXT, key BLOB, value BLOB)` table.
///
/// Contract: `commit` either applies every write of the batch (in order) or none of them, and a
/// successful `commit` is durable before it returns: the token sends a response only after the
/// writes it depends on were committed.
pub trait RecordStore {
    /// Reads one record.
    fn get(&self, ns: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Lists every `(key, value)` of a namespace, in ascending key order.
    fn list(&self, ns: &str) -> Result<Records, StoreError>;
    /// Calls `f` with every `(key, value)` of a namespace, in ascending key order: what
    /// [`RecordStore::list`] returns, without collecting it (a store may hand every value out
    /// of one reused buffer). On `Err`, `f` may have seen some records already; the caller
    /// must then treat the whole namespace as unreadable, as a failed `list`.
    fn for_each(&self, ns: &str, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<(), StoreError> {
        for (key, mut value) in self.list(ns)? {
            f(&key, &value);
            value.zeroize();
        }
        Ok(())
    }
    /// Applies a batch atomically.
    fn commit(&mut self, batch: &WriteBatch) -> Result<(), StoreError>;
    /// A tag of the store's contents: it changes with every commit (failed ones too), and two
    /// stores of the process show the same tag only while their contents are the same (fresh
    /// tags come from [`fresh_version`]; an empty test store may show 0). The token keeps what it
    /// derives from a whole namespace (the count of discoverable credentials, which getInfo
    /// reports) while the tag stays the same. `None`, the default, means the store keeps no
    /// tag: everything is read again each time.
    fn version(&self) -> Option<u64> {
        None
    }
}

/// A [`RecordStore::version`] tag never handed out before in this process.
pub fn fresh_version() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
