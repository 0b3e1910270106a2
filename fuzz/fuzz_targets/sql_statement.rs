//! Fuzz target: see `aeflow_fuzz::sql_statement`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| aeflow_fuzz::sql_statement(data));
