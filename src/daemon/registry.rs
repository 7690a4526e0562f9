//! The daemon's keys by name: running ones, ones being started, and stored ones that failed to
//! start (listed with their reason, so they can be seen and removed).
//!
//! The map's lock is held only to look a key up or change the map, never across a key's work:
//! each running key is shared (`Arc`) and does its work on its own thread, so a long operation
//! on one key (a 10,000-credential import) never delays another key or the API's other routes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::keys::{KeySpec, VirtualKey};

/// A stored key that did not start, and why.
#[derive(Debug, Clone)]
pub struct FailedKey {
    /// Its stored spec.
    pub spec: KeySpec,
    /// Why it did not start.
    pub reason: String,
}

/// One name's entry.
#[derive(Debug, Clone)]
pub enum Slot {
    /// Being started (the name is taken).
    Starting,
    /// Running.
    Running(Arc<VirtualKey>),
    /// Stored, but it failed to start.
    Failed(Arc<FailedKey>),
}

/// The daemon's keys by name.
#[derive(Debug, Default)]
pub struct KeyRegistry {
    map: Mutex<BTreeMap<String, Slot>>,
}

impl KeyRegistry {
    /// An empty registry.
    pub fn new() -> KeyRegistry {
        KeyRegistry::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Slot>> {
        // Only plain map updates happen under the lock; a panic leaves a usable map.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The names of the running keys, in order.
    pub fn names(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, s)| matches!(s, Slot::Running(_)))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Every running or failed key, in name order (keys being started are left out).
    pub fn all(&self) -> Vec<Slot> {
        self.lock()
            .values()
            .filter(|s| !matches!(s, Slot::Starting))
            .cloned()
            .collect()
    }

    /// The entry of `name`, if any.
    pub fn get(&self, name: &str) -> Option<Slot> {
        self.lock().get(name).cloned()
    }

    /// The running key `name`, if it runs.
    pub fn running(&self, name: &str) -> Option<Arc<VirtualKey>> {
        match self.get(name) {
            Some(Slot::Running(k)) => Some(k),
            _ => None,
        }
    }

    /// Takes `name` for a key about to start; false when the name is taken (in any state).
    pub fn reserve(&self, name: &str) -> bool {
        let mut map = self.lock();
        if map.contains_key(name) {
            return false;
        }
        map.insert(name.to_owned(), Slot::Starting);
        true
    }

    /// Frees a name reserved by [`KeyRegistry::reserve`] whose key did not start.
    pub fn release(&self, name: &str) {
        let mut map = self.lock();
        if matches!(map.get(name), Some(Slot::Starting)) {
            map.remove(name);
        }
    }

    /// Puts a started key in place (of its reservation, if any); returns the shared key.
    pub fn install(&self, key: VirtualKey) -> Arc<VirtualKey> {
        let key = Arc::new(key);
        self.lock()
            .insert(key.spec.name.clone(), Slot::Running(key.clone()));
        key
    }

    /// Records a stored key that did not start.
    pub fn fail(&self, spec: KeySpec, reason: String) {
        let name = spec.name.clone();
        self.lock()
            .insert(name, Slot::Failed(Arc::new(FailedKey { spec, reason })));
        tracing::debug!("a stored key is listed as failed");
    }

    /// Removes `name` (running or failed; a key being started stays) and returns its entry.
    pub fn take(&self, name: &str) -> Option<Slot> {
        let mut map = self.lock();
        match map.get(name) {
            None | Some(Slot::Starting) => None,
            Some(_) => map.remove(name),
        }
    }

    /// Removes every running key (at shutdown) and returns them.
    pub fn drain(&self) -> Vec<Arc<VirtualKey>> {
        std::mem::take(&mut *self.lock())
            .into_values()
            .filter_map(|s| match s {
                Slot::Running(k) => Some(k),
                _ => None,
            })
            .collect()
    }
}
