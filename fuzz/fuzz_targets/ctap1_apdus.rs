#![no_main]
//! firmware_sim::testing::fuzz::ctap1_apdus
libfuzzer_sys::fuzz_target!(|data: &[u8]| firmware_sim::testing::fuzz::ctap1_apdus(data));
