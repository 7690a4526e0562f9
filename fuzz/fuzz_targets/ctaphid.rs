#![no_main]
//! firmware_sim::testing::fuzz::ctaphid
libfuzzer_sys::fuzz_target!(|data: &[u8]| firmware_sim::testing::fuzz::ctaphid(data));
