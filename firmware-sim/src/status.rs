//! CTAP2 status codes (CTAP 2.1 §8.2 "Status codes"), the first byte of every CBOR response.

use std::fmt;

/// A CTAP2 status code; `Ok` (0x00) precedes a successful response's CBOR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)] // The variant names are the specification's names.
pub enum StatusCode {
    Ok = 0x00,
    InvalidCommand = 0x01,
    InvalidParameter = 0x02,
    InvalidLength = 0x03,
    InvalidSeq = 0x04,
    Timeout = 0x05,
    ChannelBusy = 0x06,
    LockRequired = 0x0A,
    InvalidChannel = 0x0B,
    CborUnexpectedType = 0x11,
    InvalidCbor = 0x12,
    MissingParameter = 0x14,
    LimitExceeded = 0x15,
    CredentialExcluded = 0x19,
    Processing = 0x21,
    InvalidCredential = 0x22,
    UserActionPending = 0x23,
    OperationPending = 0x24,
    NoOperations = 0x25,
    UnsupportedAlgorithm = 0x26,
    OperationDenied = 0x27,
    KeyStoreFull = 0x28,
    NoOperationPending = 0x2A,
    UnsupportedOption = 0x2B,
    InvalidOption = 0x2C,
    KeepaliveCancel = 0x2D,
    NoCredentials = 0x2E,
    UserActionTimeout = 0x2F,
    NotAllowed = 0x30,
    PinInvalid = 0x31,
    PinBlocked = 0x32,
    PinAuthInvalid = 0x33,
    PinAuthBlocked = 0x34,
    PinNotSet = 0x35,
    PuatRequired = 0x36,
    PinPolicyViolation = 0x37,
    RequestTooLarge = 0x39,
    ActionTimeout = 0x3A,
    UpRequired = 0x3B,
    UvBlocked = 0x3C,
    IntegrityFailure = 0x3D,
    InvalidSubcommand = 0x3E,
    UvInvalid = 0x3F,
    UnauthorizedPermission = 0x40,
    Other = 0x7F,
}

impl StatusCode {
    /// The byte on the wire.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The specification's name, e.g. `CTAP2_ERR_NO_CREDENTIALS`.
    pub fn name(self) -> &'static str {
        use StatusCode::*;
        match self {
            Ok => "CTAP2_OK",
            InvalidCommand => "CTAP1_ERR_INVALID_COMMAND",
            InvalidParameter => "CTAP1_ERR_INVALID_PARAMETER",
            InvalidLength => "CTAP1_ERR_INVALID_LENGTH",
            InvalidSeq => "CTAP1_ERR_INVALID_SEQ",
            Timeout => "CTAP1_ERR_TIMEOUT",
            ChannelBusy => "CTAP1_ERR_CHANNEL_BUSY",
            LockRequired => "CTAP1_ERR_LOCK_REQUIRED",
            InvalidChannel => "CTAP1_ERR_INVALID_CHANNEL",
            CborUnexpectedType => "CTAP2_ERR_CBOR_UNEXPECTED_TYPE",
            InvalidCbor => "CTAP2_ERR_INVALID_CBOR",
            MissingParameter => "CTAP2_ERR_MISSING_PARAMETER",
            LimitExceeded => "CTAP2_ERR_LIMIT_EXCEEDED",
            CredentialExcluded => "CTAP2_ERR_CREDENTIAL_EXCLUDED",
            Processing => "CTAP2_ERR_PROCESSING",
            InvalidCredential => "CTAP2_ERR_INVALID_CREDENTIAL",
            UserActionPending => "CTAP2_ERR_USER_ACTION_PENDING",
            OperationPending => "CTAP2_ERR_OPERATION_PENDING",
            NoOperations => "CTAP2_ERR_NO_OPERATIONS",
            UnsupportedAlgorithm => "CTAP2_ERR_UNSUPPORTED_ALGORITHM",
            OperationDenied => "CTAP2_ERR_OPERATION_DENIED",
            KeyStoreFull => "CTAP2_ERR_KEY_STORE_FULL",
            NoOperationPending => "CTAP2_ERR_NO_OPERATION_PENDING",
            UnsupportedOption => "CTAP2_ERR_UNSUPPORTED_OPTION",
            InvalidOption => "CTAP2_ERR_INVALID_OPTION",
            KeepaliveCancel => "CTAP2_ERR_KEEPALIVE_CANCEL",
            NoCredentials => "CTAP2_ERR_NO_CREDENTIALS",
            UserActionTimeout => "CTAP2_ERR_USER_ACTION_TIMEOUT",
            NotAllowed => "CTAP2_ERR_NOT_ALLOWED",
            PinInvalid => "CTAP2_ERR_PIN_INVALID",
            PinBlocked => "CTAP2_ERR_PIN_BLOCKED",
            PinAuthInvalid => "CTAP2_ERR_PIN_AUTH_INVALID",
            PinAuthBlocked => "CTAP2_ERR_PIN_AUTH_BLOCKED",
            PinNotSet => "CTAP2_ERR_PIN_NOT_SET",
            PuatRequired => "CTAP2_ERR_PUAT_REQUIRED",
            PinPolicyViolation => "CTAP2_ERR_PIN_POLICY_VIOLATION",
            RequestTooLarge => "CTAP2_ERR_REQUEST_TOO_LARGE",
            ActionTimeout => "CTAP2_ERR_ACTION_TIMEOUT",
            UpRequired => "CTAP2_ERR_UP_REQUIRED",
            UvBlocked => "CTAP2_ERR_UV_BLOCKED",
            IntegrityFailure => "CTAP2_ERR_INTEGRITY_FAILURE",
            InvalidSubcommand => "CTAP2_ERR_INVALID_SUBCOMMAND",
            UvInvalid => "CTAP2_ERR_UV_INVALID",
            UnauthorizedPermission => "CTAP2_ERR_UNAUTHORIZED_PERMISSION",
            Other => "CTAP1_ERR_OTHER",
        }
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:02X})", self.name(), self.as_u8())
    }
}

/// The result type of CTAP2 processing.
pub(crate) type CtapResult<T> = Result<T, StatusCode>;
