#![no_main]
//! authsim::fuzzing::qr_png
libfuzzer_sys::fuzz_target!(|data: &[u8]| authsim::fuzzing::qr_png(data));
