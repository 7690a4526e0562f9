//! In-memory implementations of the environment for tests, benchmarks and examples: a manual
//! clock, a seeded deterministic RNG, scripted user presence, a record store that can cut the
//! power at the Nth write, and a host-side CTAPHID client.

pub mod fuzz;
mod host;
mod seeds;

use std::collections::{BTreeMap, VecDeque};

pub use host::{HidHost, HidResponse, HostError};

use sha2::{Digest, Sha256};

use crate::env::{
    Clock, Env, Environment, PresenceRequest, PresenceStatus, RecordStore, Records, Rng,
    StoreError, UserPresence, WriteBatch, WriteOp,
};

/// A clock that moves only when told to.
#[derive(Clone, Debug)]
pub struct ManualClock {
    now_ms: u64,
    unix_base: u64,
}

impl ManualClock {
    /// Monotonic time 0, wall time 2026-01-01T00:00:00Z.
    pub fn new() -> Self {
        Self {
            now_ms: 0,
            unix_base: 1_767_225_600,
        }
    }

    /// Moves time forward by `ms` milliseconds.
    pub fn advance(&mut self, ms: u64) {
        self.now_ms += ms;
    }

    /// The current monotonic time in milliseconds.
    pub fn now(&self) -> u64 {
        self.now_ms
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now_ms
    }

    fn unix_seconds(&self) -> u64 {
        self.unix_base + self.now_ms / 1000
    }
}

/// A deterministic random source (SHA-256 in counter mode over a seed). Not for production.
#[derive(Clone, Debug)]
pub struct SeededRng {
    seed: u64,
    counter: u64,
    buffer: Vec<u8>,
}

impl SeededRng {
    /// A generator whose output depends only on `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            counter: 0,
            buffer: Vec::new(),
        }
    }
}

impl Rng for SeededRng {
    fn fill_bytes(&mut self, out: &mut [u8]) {
        for byte in out.iter_mut() {
            if self.buffer.is_empty() {
                let mut h = Sha256::new();
                h.update(b"authsim SeededRng");
                h.update(self.seed.to_be_bytes());
                h.update(self.counter.to_be_bytes());
                self.counter += 1;
                self.buffer = h.finalize().to_vec();
            }
            *byte = self.buffer.remove(0);
        }
    }
}

/// User presence that answers from a script, then with a default answer.
#[derive(Clone, Debug)]
pub struct ScriptedPresence {
    script: VecDeque<PresenceStatus>,
    default: PresenceStatus,
    requests: Vec<PresenceRequest>,
    polls: u64,
    finished: Vec<u64>,
}

impl ScriptedPresence {
    /// Answers `default` to every poll once the script is used up.
    pub fn new(default: PresenceStatus) -> Self {
        Self {
            script: VecDeque::new(),
            default,
            requests: Vec::new(),
            polls: 0,
            finished: Vec::new(),
        }
    }

    /// Approves every request at once.
    pub fn approving() -> Self {
        Self::new(PresenceStatus::Approved)
    }

    /// Denies every request at once.
    pub fn denying() -> Self {
        Self::new(PresenceStatus::Denied)
    }

    /// Touches every request at once, but built-in user verification always fails
    /// ([`PresenceStatus::NotVerified`]): requests that asked for UV fail, others are approved.
    pub fn not_verifying() -> Self {
        Self::new(PresenceStatus::NotVerified)
    }

    /// Never answers (every poll is pending).
    pub fn waiting() -> Self {
        Self::new(PresenceStatus::Pending)
    }

    /// Queues answers for the next polls, in order.
    pub fn script(&mut self, answers: impl IntoIterator<Item = PresenceStatus>) -> &mut Self {
        self.script.extend(answers);
        self
    }

    /// Changes the answer given once the script is used up.
    pub fn set_default(&mut self, default: PresenceStatus) -> &mut Self {
        self.default = default;
        self
    }

    /// Every distinct request seen, in order.
    pub fn requests(&self) -> &[PresenceRequest] {
        &self.requests
    }

    /// How many polls were answered.
    pub fn polls(&self) -> u64 {
        self.polls
    }

    /// The ids of requests reported finished.
    pub fn finished_ids(&self) -> &[u64] {
        &self.finished
    }
}

impl UserPresence for ScriptedPresence {
    fn poll(&mut self, request: &PresenceRequest) -> PresenceStatus {
        if self.requests.last().is_none_or(|r| r.id != request.id) {
            self.requests.push(request.clone());
        }
        self.polls += 1;
        self.script.pop_front().unwrap_or(self.default)
    }

    fn finished(&mut self, id: u64) {
        self.finished.push(id);
    }
}

/// An in-memory record store with atomic batches and a power cut at a chosen write.
///
/// Every put or delete counts as one write. After [`MemStore::cut_power_at_write`]`(n)`, the
/// commit containing the n-th next write fails with [`StoreError::PowerLost`] and applies
/// nothing, and every later operation fails the same way until [`MemStore::restore_power`].
#[derive(Clone, Default)]
pub struct MemStore {
    records: BTreeMap<(String, Vec<u8>), Vec<u8>>,
    writes: u64,
    commits: u64,
    cut_at: Option<u64>,
    dead: bool,
    /// [`RecordStore::version`]: 0 while nothing was ever committed (the store is empty).
    version: u64,
}

impl std::fmt::Debug for MemStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values hold key material: show only the shape.
        f.debug_struct("MemStore")
            .field("records", &self.records.len())
            .field("writes", &self.writes)
            .field("commits", &self.commits)
            .field("powered", &!self.dead)
            .finish()
    }
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Arranges for the `n`-th write from now (1 = the next one) to cut the power.
    pub fn cut_power_at_write(&mut self, n: u64) {
        self.cut_at = Some(self.writes + n.max(1));
    }

    /// Powers the store again (records written before the cut are all there).
    pub fn restore_power(&mut self) {
        self.dead = false;
        self.cut_at = None;
    }

    /// Whether the power is on.
    pub fn is_powered(&self) -> bool {
        !self.dead
    }

    /// Writes applied so far (puts and deletes of successful commits).
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// Successful commits so far.
    pub fn commits(&self) -> u64 {
        self.commits
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the store holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Number of records in one namespace.
    pub fn count(&self, ns: &str) -> usize {
        self.records.keys().filter(|(n, _)| n == ns).count()
    }

    /// A copy of every record (for before/after comparisons in tests).
    pub fn snapshot(&self) -> BTreeMap<(String, Vec<u8>), Vec<u8>> {
        self.records.clone()
    }

    fn alive(&self) -> Result<(), StoreError> {
        if self.dead {
            Err(StoreError::PowerLost)
        } else {
            Ok(())
        }
    }
}

impl RecordStore for MemStore {
    fn get(&self, ns: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.alive()?;
        Ok(self.records.get(&(ns.to_owned(), key.to_vec())).cloned())
    }

    fn list(&self, ns: &str) -> Result<Records, StoreError> {
        self.alive()?;
        Ok(self
            .records
            .iter()
            .filter(|((n, _), _)| n == ns)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    fn version(&self) -> Option<u64> {
        Some(self.version)
    }

    fn commit(&mut self, batch: &WriteBatch) -> Result<(), StoreError> {
        // A failed commit changes nothing, but whoever cached a count reads again all the same.
        self.version = crate::env::fresh_version();
        self.alive()?;
        let n = batch.len() as u64;
        if let Some(cut) = self.cut_at
            && self.writes + n >= cut
        {
            self.dead = true;
            return Err(StoreError::PowerLost);
        }
        for op in batch.ops() {
            match op {
                WriteOp::Put { ns, key, value } => {
                    self.records
                        .insert((ns.clone(), key.clone()), value.clone());
                }
                WriteOp::Delete { ns, key } => {
                    self.records.remove(&(ns.clone(), key.clone()));
                }
            }
        }
        self.writes += n;
        self.commits += 1;
        Ok(())
    }
}

/// A complete in-memory environment.
#[derive(Debug)]
pub struct TestEnv {
    /// The manual clock.
    pub clock: ManualClock,
    /// The seeded random source.
    pub rng: SeededRng,
    /// Scripted presence (approves everything by default).
    pub presence: ScriptedPresence,
    /// The in-memory store.
    pub store: MemStore,
}

impl TestEnv {
    /// A fresh environment: clock at 0, RNG seeded with `seed`, presence approving, empty store.
    pub fn new(seed: u64) -> Self {
        Self {
            clock: ManualClock::new(),
            rng: SeededRng::new(seed),
            presence: ScriptedPresence::approving(),
            store: MemStore::new(),
        }
    }
}

impl Environment for TestEnv {
    fn env(&mut self) -> Env<'_> {
        Env::new(
            &self.clock,
            &mut self.rng,
            &mut self.presence,
            &mut self.store,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_rng_is_deterministic() {
        let (mut a, mut b, mut c) = (SeededRng::new(1), SeededRng::new(1), SeededRng::new(2));
        let (mut x, mut y, mut z) = ([0u8; 40], [0u8; 40], [0u8; 40]);
        a.fill_bytes(&mut x);
        b.fill_bytes(&mut y);
        c.fill_bytes(&mut z);
        assert_eq!(x, y);
        assert_ne!(x, z);
    }

    #[test]
    fn power_cut_fails_the_whole_batch_and_later_operations() {
        let mut s = MemStore::new();
        let mut b = WriteBatch::new();
        b.put("a", b"1", vec![1]);
        s.commit(&b).unwrap();
        s.cut_power_at_write(2);
        let mut b = WriteBatch::new();
        b.put("a", b"2", vec![2])
            .put("a", b"3", vec![3])
            .delete("a", b"1");
        assert_eq!(s.commit(&b), Err(StoreError::PowerLost));
        assert_eq!(s.get("a", b"1"), Err(StoreError::PowerLost));
        s.restore_power();
        assert_eq!(s.list("a").unwrap(), vec![(b"1".to_vec(), vec![1])]);
        assert_eq!(s.writes(), 1);
        s.commit(&b).unwrap();
        assert_eq!(s.count("a"), 2);
        assert!(format!("{s:?}").contains("records"));
    }

    #[test]
    fn scripted_presence_follows_its_script() {
        let mut p = ScriptedPresence::approving();
        p.script([PresenceStatus::Pending, PresenceStatus::Denied]);
        let r = PresenceRequest {
            id: 1,
            purpose: crate::env::PresencePurpose::Selection,
            rp_id: None,
            user_verification: false,
        };
        assert_eq!(p.poll(&r), PresenceStatus::Pending);
        assert_eq!(p.poll(&r), PresenceStatus::Denied);
        assert_eq!(p.poll(&r), PresenceStatus::Approved);
        assert_eq!(p.requests().len(), 1);
        assert_eq!(p.polls(), 3);
    }
}
