//! The authsim token as firmware would be: 64-byte HID reports in, 64-byte HID reports out.
//!
//! Module plan (filled in by the virtual-key issue):
//! - `env/`: one small trait per outside service — clock, randomness, user presence, and a
//!   record store with atomic commit (modelled on flash).
//! - `ctaphid`: CTAPHID framing, channels, keepalives.
//! - `ctap2/`: one file per command family (get_info, make_credential, get_assertion, reset,
//!   selection, client_pin later).
//! - `ctap1`: CTAP1/U2F APDUs.
//! - `credential`: credential ids (AEAD-wrapped keys) and resident-credential records.
//! - `attestation`: packed self / batch x5c, fido-u2f.
#![forbid(unsafe_code)]
