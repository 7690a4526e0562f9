#![no_main]
//! firmware_sim::testing::fuzz::ctap2_messages
libfuzzer_sys::fuzz_target!(|data: &[u8]| firmware_sim::testing::fuzz::ctap2_messages(data));
