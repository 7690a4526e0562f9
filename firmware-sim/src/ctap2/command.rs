//! CTAP2 command bytes (CTAP 2.1 §6).

/// authenticatorMakeCredential.
pub const MAKE_CREDENTIAL: u8 = 0x01;
/// authenticatorGetAssertion.
pub const GET_ASSERTION: u8 = 0x02;
/// authenticatorGetInfo.
pub const GET_INFO: u8 = 0x04;
/// authenticatorClientPIN.
pub const CLIENT_PIN: u8 = 0x06;
/// authenticatorReset.
pub const RESET: u8 = 0x07;
/// authenticatorGetNextAssertion.
pub const GET_NEXT_ASSERTION: u8 = 0x08;
/// authenticatorBioEnrollment (not implemented).
pub const BIO_ENROLLMENT: u8 = 0x09;
/// authenticatorCredentialManagement.
pub const CREDENTIAL_MANAGEMENT: u8 = 0x0A;
/// authenticatorSelection.
pub const SELECTION: u8 = 0x0B;
/// authenticatorLargeBlobs.
pub const LARGE_BLOBS: u8 = 0x0C;
/// authenticatorConfig.
pub const CONFIG: u8 = 0x0D;
/// The CTAP 2.1 prototype of authenticatorCredentialManagement.
pub const CREDENTIAL_MANAGEMENT_PREVIEW: u8 = 0x41;

/// The specification's name of a CTAP2 command byte (for logs), `"unknown"` otherwise.
pub fn name(command: u8) -> &'static str {
    match command {
        MAKE_CREDENTIAL => "authenticatorMakeCredential",
        GET_ASSERTION => "authenticatorGetAssertion",
        GET_INFO => "authenticatorGetInfo",
        CLIENT_PIN => "authenticatorClientPIN",
        RESET => "authenticatorReset",
        GET_NEXT_ASSERTION => "authenticatorGetNextAssertion",
        BIO_ENROLLMENT => "authenticatorBioEnrollment",
        CREDENTIAL_MANAGEMENT => "authenticatorCredentialManagement",
        SELECTION => "authenticatorSelection",
        LARGE_BLOBS => "authenticatorLargeBlobs",
        CONFIG => "authenticatorConfig",
        CREDENTIAL_MANAGEMENT_PREVIEW => "authenticatorCredentialManagement (preview)",
        _ => "unknown",
    }
}
