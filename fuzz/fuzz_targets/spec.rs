//! config.json as `create` reads it: parse, validate, then what create
//! derives from the spec before touching the system (the seccomp program,
//! compiled in-process and never loaded; cgroup writes; mount options;
//! capability sets). Any input must give Ok or Err, never a panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_core::cgroups::{v1, v2};
use ward_core::config;
use ward_core::rootfs::options::MountOptions;
use ward_core::security::{seccomp, CapSets};

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = config::parse_spec(data) else {
        return;
    };
    if config::validate(&spec).is_err() {
        return;
    }
    if let Some(process) = spec.process() {
        let _ = CapSets::from_spec(process.capabilities().as_ref());
    }
    for m in spec.mounts().iter().flatten() {
        let o = MountOptions::parse(m.options().as_deref().unwrap_or(&[]));
        let _ = o.data_string();
    }
    if let Some(linux) = spec.linux() {
        if let Some(s) = linux.seccomp() {
            let _ = seccomp::compile(s);
        }
        if let Some(r) = linux.resources() {
            let _ = v2::resource_writes(r);
            let _ = v1::resource_writes(r);
        }
    }
});
