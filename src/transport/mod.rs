//! Where a virtual key's 64-byte HID reports come from and go to.

pub mod uhid;
