//! Fuzz target: see `aeflow_fuzz::stream_csv`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| aeflow_fuzz::stream_csv(data));
