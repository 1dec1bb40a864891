//! A `linux.seccomp` object: the raw-JSON name checker, then the typed parse
//! and the compile to BPF (in-process; the program is never loaded).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::LinuxSeccomp;
use ward_core::security::seccomp;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = seccomp::check_json(&v).map_err(|e| e.to_string());
    if let Ok(s) = serde_json::from_value::<LinuxSeccomp>(v) {
        let _ = seccomp::compile(&s).map_err(|e| e.to_string());
    }
});
