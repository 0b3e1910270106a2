//! Fuzz target: see `aeflow_fuzz::model_file`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| aeflow_fuzz::model_file(data));
