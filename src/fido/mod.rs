//! The host side of FIDO: what a platform (a browser, an OS) does to talk to an authenticator.
//!
//! - [`hid`]: one CTAPHID connection (INIT, requests, keepalives, CANCEL, timeouts) over any
//!   [`hid::HidIo`], on firmware-sim's host-side framing.
//! - [`device`]: the I/O: a hidraw node, a daemon key's Unix socket or UDP address, a key
//!   inside the daemon.
//! - [`ctap2`]: an authenticator: typed CTAP2 commands (firmware-sim's messages) over it.
//! - [`pin`]: pinUvAuthTokens through the PIN or built-in UV (the platform's clientPIN).
//! - [`sysfs`]: FIDO devices among the hidraw nodes (usage page 0xF1D0), without udev.
//!
//! Used by the WebAuthn client, `authsim realkey` and the tests: host-side CTAPHID exists once.

pub mod ctap2;
pub mod device;
pub mod hid;
pub mod pin;
pub mod sysfs;
