//! The AWS MFA flows: Cognito sign-in and TOTP enrollment, IAM virtual MFA, STS sessions.

pub mod srp;
