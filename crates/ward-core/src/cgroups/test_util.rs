//! Helpers shared by the unit tests of the v1, v2 and update write lists.

use oci_spec::runtime::LinuxResources;

use super::Write;

/// linux.resources from JSON.
pub fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).expect("test JSON")
}

/// Writes as `controller/file=value`, in order.
pub fn files(ws: &[Write]) -> Vec<String> {
    ws.iter()
        .map(|w| format!("{}/{}={}", w.controller, w.file, w.value))
        .collect()
}
