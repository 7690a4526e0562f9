#![no_main]
//! authsim::fuzzing::api_import
libfuzzer_sys::fuzz_target!(|data: &[u8]| authsim::fuzzing::api_import(data));
