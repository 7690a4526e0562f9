//! CTAP2 status codes (CTAP 2.1 §8.2 "Status codes"), the first byte of every CBOR response.

use std::fmt;

/// A CTAP2 status code; `Ok` (0x00) precedes a successful response's CBOR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum StatusCode {
    /// Successful response.
    Ok = 0x00,
    /// The command is not a valid CTAP command.
    InvalidCommand = 0x01,
    /// The command included an invalid parameter.
    InvalidParameter = 0x02,
    /// Invalid message or item length.
    InvalidLength = 0x03,
    /// Invalid message sequencing.
    InvalidSeq = 0x04,
    /// Message timed out.
    Timeout = 0x05,
    /// Channel busy.
    ChannelBusy = 0x06,
    /// Command requires channel lock.
    LockRequired = 0x0A,
    /// Command not allowed on this channel.
    InvalidChannel = 0x0B,
    /// Invalid or unexpected CBOR type.
    CborUnexpectedType = 0x11,
    /// Error when parsing CBOR (including non-canonical encodings).
    InvalidCbor = 0x12,
    /// A mandatory parameter is missing.
    MissingParameter = 0x14,
    /// A limit for the number of items was exceeded.
    LimitExceeded = 0x15,
    /// The serialized large-blob array would not fit.
    LargeBlobStorageFull = 0x18,
    /// A valid credential in the exclude list was found.
    CredentialExcluded = 0x19,
    /// Processing (lengthy operation is in progress).
    Processing = 0x21,
    /// The credential is not valid for the authenticator.
    InvalidCredential = 0x22,
    /// Authentication is waiting for user interaction.
    UserActionPending = 0x23,
    /// Processing, lengthy operation is in progress.
    OperationPending = 0x24,
    /// No request is pending.
    NoOperations = 0x25,
    /// The authenticator does not support any requested algorithm.
    UnsupportedAlgorithm = 0x26,
    /// The user (or the authenticator) refused the operation.
    OperationDenied = 0x27,
    /// Internal key storage is full.
    KeyStoreFull = 0x28,
    /// No outstanding operations.
    NoOperationPending = 0x2A,
    /// An unsupported option was requested.
    UnsupportedOption = 0x2B,
    /// An option was set to a value the authenticator cannot honour.
    InvalidOption = 0x2C,
    /// A pending operation was cancelled by CTAPHID_CANCEL.
    KeepaliveCancel = 0x2D,
    /// No valid credentials were provided or found.
    NoCredentials = 0x2E,
    /// A user action timed out.
    UserActionTimeout = 0x2F,
    /// Continuation command not allowed (or not allowed now).
    NotAllowed = 0x30,
    /// PIN invalid.
    PinInvalid = 0x31,
    /// PIN blocked.
    PinBlocked = 0x32,
    /// pinUvAuthParam verification failed.
    PinAuthInvalid = 0x33,
    /// pinUvAuthToken blocked until power cycle.
    PinAuthBlocked = 0x34,
    /// No PIN has been set.
    PinNotSet = 0x35,
    /// A pinUvAuthToken is required for this operation.
    PuatRequired = 0x36,
    /// The PIN does not meet the policy.
    PinPolicyViolation = 0x37,
    /// The request is too large.
    RequestTooLarge = 0x39,
    /// The current operation has timed out.
    ActionTimeout = 0x3A,
    /// User presence is required for the operation.
    UpRequired = 0x3B,
    /// Built-in user verification is blocked.
    UvBlocked = 0x3C,
    /// A checksum did not match.
    IntegrityFailure = 0x3D,
    /// The requested subcommand is invalid.
    InvalidSubcommand = 0x3E,
    /// Built-in user verification was unsuccessful.
    UvInvalid = 0x3F,
    /// The permissions RP id does not match.
    UnauthorizedPermission = 0x40,
    /// Other unspecified error.
    Other = 0x7F,
}

impl StatusCode {
    /// The byte on the wire.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The status code with this wire value, if the token knows it.
    pub fn from_u8(value: u8) -> Option<Self> {
        use StatusCode::*;
        Some(match value {
            0x00 => Ok,
            0x01 => InvalidCommand,
            0x02 => InvalidParameter,
            0x03 => InvalidLength,
            0x04 => InvalidSeq,
            0x05 => Timeout,
            0x06 => ChannelBusy,
            0x0A => LockRequired,
            0x0B => InvalidChannel,
            0x11 => CborUnexpectedType,
            0x12 => InvalidCbor,
            0x14 => MissingParameter,
            0x15 => LimitExceeded,
            0x18 => LargeBlobStorageFull,
            0x19 => CredentialExcluded,
            0x21 => Processing,
            0x22 => InvalidCredential,
            0x23 => UserActionPending,
            0x24 => OperationPending,
            0x25 => NoOperations,
            0x26 => UnsupportedAlgorithm,
            0x27 => OperationDenied,
            0x28 => KeyStoreFull,
            0x2A => NoOperationPending,
            0x2B => UnsupportedOption,
            0x2C => InvalidOption,
            0x2D => KeepaliveCancel,
            0x2E => NoCredentials,
            0x2F => UserActionTimeout,
            0x30 => NotAllowed,
            0x31 => PinInvalid,
            0x32 => PinBlocked,
            0x33 => PinAuthInvalid,
            0x34 => PinAuthBlocked,
            0x35 => PinNotSet,
            0x36 => PuatRequired,
            0x37 => PinPolicyViolation,
            0x39 => RequestTooLarge,
            0x3A => ActionTimeout,
            0x3B => UpRequired,
            0x3C => UvBlocked,
            0x3D => IntegrityFailure,
            0x3E => InvalidSubcommand,
            0x3F => UvInvalid,
            0x40 => UnauthorizedPermission,
            0x7F => Other,
            _ => return None,
        })
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
            LargeBlobStorageFull => "CTAP2_ERR_LARGE_BLOB_STORAGE_FULL",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_has_a_spec_name() {
        let mut known = 0;
        for b in 0..=u8::MAX {
            if let Some(code) = StatusCode::from_u8(b) {
                known += 1;
                assert_eq!(code.as_u8(), b);
                assert!(code.name().starts_with("CTAP"));
                assert!(code.to_string().contains(&format!("0x{b:02X}")));
            }
        }
        assert_eq!(known, 46);
        assert_eq!(StatusCode::from_u8(0x2E), Some(StatusCode::NoCredentials));
        assert_eq!(StatusCode::from_u8(0x10), None);
    }
}
