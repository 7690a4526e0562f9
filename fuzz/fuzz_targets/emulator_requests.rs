#![no_main]
//! authsim::fuzzing::emulator_requests
libfuzzer_sys::fuzz_target!(|data: &[u8]| authsim::fuzzing::emulator_requests(data));
