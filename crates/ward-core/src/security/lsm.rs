//! Linux security module labels: process.apparmorProfile and
//! process.selinuxLabel, applied at the process's execve by writing the
//! kernel's "exec" attribute.
//!
//! On a host without the LSM, an AppArmor profile is an error (as runc: the
//! spec asks for a confinement the host can't give, so refusing is the
//! safe reading), while an SELinux label is ignored (as runc, whose SELinux
//! calls do nothing when SELinux is disabled; and linux.mountLabel likewise).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use oci_spec::runtime::Process;

use crate::error::{Error, Result};

/// Whether AppArmor is enabled in the running kernel.
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

/// Whether SELinux is enabled (its file system is mounted).
pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Refuses a label the host can't apply, before anything is made.
pub fn validate(process: &Process) -> std::result::Result<(), String> {
    if let Some(p) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        if !apparmor_enabled() {
            return Err(format!("{p:?}: AppArmor is not enabled on this host"));
        }
    }
    Ok(())
}

/// Sets the labels the process gets at its execve (in the container, with
/// its /proc mounted).
pub fn set_exec_labels(process: &Process) -> Result<()> {
    if let Some(p) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        // The LSM-specific attribute file (stacking kernels) first, then the
        // generic one, which belongs to the first "major" LSM.
        let value = format!("exec {p}");
        write_attr("apparmor/exec", &value)
            .or_else(|_| write_attr("exec", &value))
            .map_err(|e| Error::sys(format!("set AppArmor profile {p:?}"), e))?;
    }
    if let Some(l) = process.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        if selinux_enabled() {
            write_attr("exec", l).map_err(|e| Error::sys(format!("set SELinux label {l:?}"), e))?;
        }
    }
    Ok(())
}

/// Writes /proc/thread-self/attr/<name> in one write(2), as the kernel wants,
/// after checking that the file opened is procfs's: a label written into
/// an image's own file would leave the process unconfined without a word
/// (CVE-2019-16884). rootfs setup already refuses a /proc that isn't a
/// directory; this holds whatever else is mounted on top.
fn write_attr(name: &str, value: &str) -> std::io::Result<()> {
    let path = format!("/proc/thread-self/attr/{name}");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)?;
    let fs = nix::sys::statfs::fstatfs(&f).map_err(std::io::Error::from)?;
    if fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err(std::io::Error::other(format!("{path} is not on procfs")));
    }
    f.write_all(value.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::ProcessBuilder;

    #[test]
    fn apparmor_profile_needs_apparmor() {
        let p = ProcessBuilder::default()
            .apparmor_profile("ward-test")
            .build()
            .unwrap();
        match validate(&p) {
            Ok(()) => assert!(apparmor_enabled()),
            Err(e) => {
                assert!(!apparmor_enabled());
                assert!(e.contains("AppArmor is not enabled"), "{e}");
            }
        }
        // No profile, or an SELinux label only: always fine.
        let p = ProcessBuilder::default()
            .selinux_label("system_u:system_r:container_t:s0")
            .build()
            .unwrap();
        assert_eq!(validate(&p), Ok(()));
    }
}
