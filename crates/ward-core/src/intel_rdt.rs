//! linux.intelRdt: cache and memory-bandwidth allocation (and monitoring)
//! through the kernel's resctrl file system.
//!
//! ward refuses a config that sets it, before anything is made, with one
//! line saying why: where no resctrl file system is mounted (no Intel RDT
//! or AMD PQoS, or not enabled: this build machine and the test VM), as
//! runc does ("Intel RDT/CAT is not enabled"); and where one is, because
//! ward doesn't yet write a resctrl group, so that a limit asked for is
//! never silently dropped.

use std::path::PathBuf;

use oci_spec::runtime::Spec;

use crate::error::{Error, Result};

/// Where resctrl is mounted, if it is.
pub fn resctrl_mount() -> Option<PathBuf> {
    crate::procfs::mountinfo()
        .ok()?
        .into_iter()
        .find(|m| m.fstype == "resctrl")
        .map(|m| m.mount_point)
}

/// Refuses linux.intelRdt (see the module's comment). `mount` is where
/// resctrl is mounted.
pub fn check(spec: &Spec, mount: impl FnOnce() -> Option<PathBuf>) -> Result<()> {
    if spec
        .linux()
        .as_ref()
        .and_then(|l| l.intel_rdt().as_ref())
        .is_none()
    {
        return Ok(());
    }
    refuse(mount())
}

#[cold]
#[inline(never)]
fn refuse(mount: Option<PathBuf>) -> Result<()> {
    Err(match mount {
        None => Error::invalid(
            "linux.intelRdt",
            "Intel RDT is not enabled on this host: no resctrl file system is mounted",
        ),
        Some(at) => Error::invalid(
            "linux.intelRdt",
            format!(
                "ward does not apply Intel RDT settings (resctrl is mounted at {}): refused rather than ignored",
                at.display()
            ),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_with_or_without_resctrl() {
        let spec = |v: serde_json::Value| -> Spec {
            let mut s = Spec::default();
            let mut l = s.linux().clone().unwrap_or_default();
            l.set_intel_rdt(serde_json::from_value(v).ok());
            s.set_linux(Some(l));
            s
        };
        assert!(check(&Spec::default(), || None).is_ok());
        let s = spec(
            serde_json::json!({"closID": "c", "schemata": ["L3:0=f"], "enableMonitoring": true}),
        );
        let e = check(&s, || None).unwrap_err().to_string();
        assert!(
            e.contains("linux.intelRdt") && e.contains("no resctrl"),
            "{e}"
        );
        let e = check(&s, || Some("/sys/fs/resctrl".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/sys/fs/resctrl"), "{e}");
    }
}
