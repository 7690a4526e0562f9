#![no_main]
//! firmware_sim::testing::fuzz::ctap2_commands
libfuzzer_sys::fuzz_target!(|data: &[u8]| firmware_sim::testing::fuzz::ctap2_commands(data));
