//! process.json as `exec --process` reads it: parse, then validate.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_core::config;
use ward_core::security::CapSets;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = config::parse_process(data) {
        if config::validate_process(&p).is_ok() {
            let _ = CapSets::from_spec(p.capabilities().as_ref());
        }
    }
});
