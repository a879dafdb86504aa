#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| linli_fuzz_targets::fuzz(linli_fuzz_targets::apply_changes, data));
