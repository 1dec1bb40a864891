//! `update --resources` JSON: parse, lay it over the current resources as
//! update does (over nothing, and over itself), then turn the result into
//! cgroup v1 and v2 writes. Sizes of `update --memory` and friends too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::LinuxResources;
use ward_core::cgroups::update::{parse_resources_json, parse_size};
use ward_core::cgroups::{merge_resources, v1, v2};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_size("--memory", s);
    }
    let Ok(patch) = parse_resources_json(data) else {
        return;
    };
    let Ok(merged) = merge_resources(LinuxResources::default(), &patch) else {
        return;
    };
    let _ = v2::resource_writes(&merged);
    let _ = v1::resource_writes(&merged);
    let _ = v1::resource_writes_update(Some(1 << 20), &merged);
    if let Ok(twice) = merge_resources(merged.clone(), &patch) {
        let _ = v1::resource_writes_update(None, &twice);
    }
});
