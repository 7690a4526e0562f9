//! PIN/UV auth protocols (CTAP 2.1 §6.5): the two protocols behind one trait ([`protocol`]) and
//! the pinUvAuthToken state ([`token`]).

// Used by authenticatorClientPIN, which lands on top of this module.
#![allow(dead_code)]

pub(crate) mod protocol;
pub(crate) mod token;
