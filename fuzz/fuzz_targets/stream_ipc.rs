//! Fuzz target: see `aeflow_fuzz::stream_ipc`.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: aeflow_fuzz::report_panics_without_aborting(),
    |data: &[u8]| aeflow_fuzz::stream_ipc(data)
);
