//! Passwords: the pool's policy, the SRP verifier kept instead of the password, temporary
//! passwords.

use super::error::CognitoError;
use super::model::{PasswordPolicy, PasswordVerifier, User, UserPool};
use super::srp;
use crate::emulator::crypto::{self, SecretString};

/// Check a password against the pool's policy.
pub fn check_policy(policy: &PasswordPolicy, password: &str) -> Result<(), CognitoError> {
    let fail = |why: &str| {
        Err(CognitoError::new(
            "InvalidPasswordException",
            format!("Password did not conform with policy: {why}"),
        ))
    };
    if password.chars().count() < policy.minimum_length as usize {
        return fail("Password not long enough");
    }
    if policy.require_lowercase && !password.chars().any(|c| c.is_ascii_lowercase()) {
        return fail("Password must have lowercase characters");
    }
    if policy.require_uppercase && !password.chars().any(|c| c.is_ascii_uppercase()) {
        return fail("Password must have uppercase characters");
    }
    if policy.require_numbers && !password.chars().any(|c| c.is_ascii_digit()) {
        return fail("Password must have numeric characters");
    }
    if policy.require_symbols
        && !password
            .chars()
            .any(|c| "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ".contains(c))
    {
        return fail("Password must have symbol characters");
    }
    Ok(())
}

/// Make a password verifier for `username` in `pool`.
pub fn make_verifier(pool: &UserPool, username: &str, password: &str) -> PasswordVerifier {
    let salt = srp::new_salt();
    let v = srp::verifier(pool.srp_name(), username, password, &salt);
    PasswordVerifier {
        salt: srp::to_hex(&salt),
        verifier: SecretString::new(srp::to_hex(&v)),
    }
}

/// Whether `password` matches the user's verifier.
pub fn password_matches(pool: &UserPool, user: &User, password: &str) -> bool {
    let Some(pv) = &user.password else {
        return false;
    };
    let Some(salt) = srp::from_hex(&pv.salt) else {
        return false;
    };
    let v = srp::verifier(pool.srp_name(), &user.username, password, &salt);
    crypto::ct_eq(srp::to_hex(&v).as_bytes(), pv.verifier.expose().as_bytes())
}

/// A random temporary password that meets the pool's policy.
pub fn generate_temporary_password(policy: &PasswordPolicy) -> String {
    let len = (policy.minimum_length as usize).max(12);
    loop {
        let mut pw = crypto::random_string(crypto::ALNUM, len - 2);
        pw.push(char::from(b'0' + crypto::random_bytes(1)[0] % 10));
        pw.push('!');
        if check_policy(policy, &pw).is_ok() {
            return pw;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy() {
        let p = PasswordPolicy::default();
        assert!(check_policy(&p, "Passw0rd!").is_ok());
        for bad in [
            "Pa0!",
            "password0!",
            "PASSWORD0!",
            "Password!!",
            "Password00",
        ] {
            let e = check_policy(&p, bad).expect_err(bad);
            assert_eq!(e.kind, "InvalidPasswordException");
        }
    }

    #[test]
    fn temporary_passwords_meet_policy() {
        let p = PasswordPolicy::default();
        for _ in 0..20 {
            assert!(check_policy(&p, &generate_temporary_password(&p)).is_ok());
        }
    }
}
