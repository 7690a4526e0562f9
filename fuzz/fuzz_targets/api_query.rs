#![no_main]
//! authsim::fuzzing::api_query
libfuzzer_sys::fuzz_target!(|data: &[u8]| authsim::fuzzing::api_query(data));
