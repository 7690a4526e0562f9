//! Credentials: key pairs, sealed non-resident ids, users, signature counters and derived
//! hmac-secret CredRandom values (the stored record format is `persist::record`'s).

pub(crate) mod counter;
pub(crate) mod cred_random;
pub(crate) mod id;
pub(crate) mod keys;
pub(crate) mod user;

#[cfg(all(feature = "aws-lc", feature = "testing"))]
pub use keys::decoded_signing_keys;
pub use keys::{Algorithm, KeyError, PrivateKey, forget_signing_keys};
pub use user::UserEntity;
