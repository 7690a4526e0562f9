//! Credentials: key pairs, sealed non-resident ids, resident records and signature counters.

pub(crate) mod counter;
pub(crate) mod id;
pub(crate) mod keys;
pub(crate) mod resident;

pub use keys::{Algorithm, KeyError, PrivateKey};
pub use resident::UserEntity;
