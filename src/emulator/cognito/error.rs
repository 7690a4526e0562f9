//! Cognito's error shape: the exception name, its message, the HTTP status.

use serde_json::Value;

/// A Cognito error: `__type`, message, HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CognitoError {
    /// The exception name (`NotAuthorizedException`, ...).
    pub kind: &'static str,
    /// The message.
    pub message: String,
    /// The HTTP status (400 unless a server fault).
    pub status: u16,
}

impl CognitoError {
    /// A client error (400).
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        CognitoError {
            kind,
            message: message.into(),
            status: 400,
        }
    }

    /// `InvalidParameterException`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterException", message)
    }

    /// `NotAuthorizedException`.
    pub fn not_authorized(message: impl Into<String>) -> Self {
        Self::new("NotAuthorizedException", message)
    }

    /// `ResourceNotFoundException`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", message)
    }

    /// `UserNotFoundException: User does not exist.`
    pub fn user_not_found() -> Self {
        Self::new("UserNotFoundException", "User does not exist.")
    }

    /// `ResourceNotFoundException: Device does not exist.` (amazon-cognito-identity-js
    /// retries without its device on a not-found error naming the device).
    pub fn device_not_found() -> Self {
        Self::not_found("Device does not exist.")
    }

    /// `InternalErrorException` (500).
    pub fn internal(message: impl Into<String>) -> Self {
        CognitoError {
            kind: "InternalErrorException",
            message: message.into(),
            status: 500,
        }
    }

    /// The validation error for a missing required member.
    pub fn null_member(member: &str) -> Self {
        Self::invalid(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    }

    /// `NotAuthorizedException: Incorrect username or password.`
    pub fn incorrect_password() -> Self {
        Self::not_authorized("Incorrect username or password.")
    }

    /// `NotAuthorizedException: User is disabled.`
    pub fn user_disabled() -> Self {
        Self::not_authorized("User is disabled.")
    }

    /// `InvalidParameterException: Missing required parameter NAME` (an absent
    /// AuthParameters or ChallengeResponses entry).
    pub fn missing_param(name: &str) -> Self {
        Self::invalid(format!("Missing required parameter {name}"))
    }

    /// The JSON body.
    pub fn to_json(&self) -> Value {
        serde_json::json!({"__type": self.kind, "message": self.message})
    }
}
