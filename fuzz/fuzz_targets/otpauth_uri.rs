#![no_main]
//! authsim::fuzzing::otpauth_uri
libfuzzer_sys::fuzz_target!(|data: &[u8]| authsim::fuzzing::otpauth_uri(data));
