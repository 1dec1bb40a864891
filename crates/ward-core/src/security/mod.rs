//! The process's privileges: capabilities (all five sets), the user and
//! groups it runs as, rlimits and no_new_privs. Applied by init, last thing
//! before it reports ready.

pub mod lsm;
pub mod seccomp;

use nix::sys::resource::{setrlimit, Resource};
use oci_spec::runtime::{
    Capabilities, Capability, LinuxCapabilities, PosixRlimit, PosixRlimitType, User,
};

use crate::error::{Error, Result};
use crate::sys;

/// A capability set of the spec as a kernel bitmask. Names the running kernel
/// doesn't know are left out, as runc does (a spec may list newer ones).
pub fn cap_mask(set: Option<&Capabilities>) -> u64 {
    let last = crate::procfs::cap_last_cap();
    let mut mask = 0u64;
    for cap in set.into_iter().flatten() {
        if let Some(idx) = cap_index(cap) {
            if idx <= last {
                mask |= 1u64 << idx;
            }
        }
    }
    mask
}

/// The kernel's number of a capability of the spec.
fn cap_index(cap: &Capability) -> Option<u32> {
    use caps::Capability as K;
    use Capability as C;
    #[allow(unreachable_patterns)]
    let k = match cap {
        C::AuditControl => K::CAP_AUDIT_CONTROL,
        C::AuditRead => K::CAP_AUDIT_READ,
        C::AuditWrite => K::CAP_AUDIT_WRITE,
        C::BlockSuspend => K::CAP_BLOCK_SUSPEND,
        C::Bpf => K::CAP_BPF,
        C::CheckpointRestore => K::CAP_CHECKPOINT_RESTORE,
        C::Chown => K::CAP_CHOWN,
        C::DacOverride => K::CAP_DAC_OVERRIDE,
        C::DacReadSearch => K::CAP_DAC_READ_SEARCH,
        C::Fowner => K::CAP_FOWNER,
        C::Fsetid => K::CAP_FSETID,
        C::IpcLock => K::CAP_IPC_LOCK,
        C::IpcOwner => K::CAP_IPC_OWNER,
        C::Kill => K::CAP_KILL,
        C::Lease => K::CAP_LEASE,
        C::LinuxImmutable => K::CAP_LINUX_IMMUTABLE,
        C::MacAdmin => K::CAP_MAC_ADMIN,
        C::MacOverride => K::CAP_MAC_OVERRIDE,
        C::Mknod => K::CAP_MKNOD,
        C::NetAdmin => K::CAP_NET_ADMIN,
        C::NetBindService => K::CAP_NET_BIND_SERVICE,
        C::NetBroadcast => K::CAP_NET_BROADCAST,
        C::NetRaw => K::CAP_NET_RAW,
        C::Perfmon => K::CAP_PERFMON,
        C::Setgid => K::CAP_SETGID,
        C::Setfcap => K::CAP_SETFCAP,
        C::Setpcap => K::CAP_SETPCAP,
        C::Setuid => K::CAP_SETUID,
        C::SysAdmin => K::CAP_SYS_ADMIN,
        C::SysBoot => K::CAP_SYS_BOOT,
        C::SysChroot => K::CAP_SYS_CHROOT,
        C::SysModule => K::CAP_SYS_MODULE,
        C::SysNice => K::CAP_SYS_NICE,
        C::SysPacct => K::CAP_SYS_PACCT,
        C::SysPtrace => K::CAP_SYS_PTRACE,
        C::SysRawio => K::CAP_SYS_RAWIO,
        C::SysResource => K::CAP_SYS_RESOURCE,
        C::SysTime => K::CAP_SYS_TIME,
        C::SysTtyConfig => K::CAP_SYS_TTY_CONFIG,
        C::Syslog => K::CAP_SYSLOG,
        C::WakeAlarm => K::CAP_WAKE_ALARM,
        _ => return None,
    };
    Some(k.index() as u32)
}

/// The five sets as masks.
#[derive(Debug, Default, Clone, Copy)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

impl CapSets {
    /// Absent sets are empty: a container gets no capability it wasn't given.
    pub fn from_spec(c: Option<&LinuxCapabilities>) -> CapSets {
        let Some(c) = c else {
            return CapSets::default();
        };
        CapSets {
            bounding: cap_mask(c.bounding().as_ref()),
            effective: cap_mask(c.effective().as_ref()),
            permitted: cap_mask(c.permitted().as_ref()),
            inheritable: cap_mask(c.inheritable().as_ref()),
            ambient: cap_mask(c.ambient().as_ref()),
        }
    }
}

fn rlimit_resource(t: PosixRlimitType) -> Option<Resource> {
    Some(match t {
        PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

pub fn apply_rlimits(rlimits: &[PosixRlimit]) -> Result<()> {
    for r in rlimits {
        let name = r.typ();
        let res = rlimit_resource(r.typ())
            .ok_or_else(|| Error::invalid("process.rlimits", format!("{name}: not supported")))?;
        setrlimit(res, r.soft(), r.hard()).map_err(|e| {
            Error::sys(
                format!("setrlimit {name} soft {} hard {}", r.soft(), r.hard()),
                e,
            )
        })?;
    }
    Ok(())
}

/// Becomes `user` with exactly the capability sets `caps`. Order matters:
/// the bounding set can only shrink while CAP_SETPCAP is effective, and
/// setuid to a non-root user clears the effective set (KEEPCAPS keeps the
/// permitted one, from which capset then picks).
pub fn switch_user(user: &User, caps: &CapSets) -> Result<()> {
    let last = crate::procfs::cap_last_cap();
    for cap in 0..=last {
        if caps.bounding & (1u64 << cap) == 0 {
            sys::prctl(libc::PR_CAPBSET_DROP, cap as u64, 0).map_err(|e| {
                Error::sys(format!("drop capability {cap} from the bounding set"), e)
            })?;
        }
    }
    let gids: Vec<nix::unistd::Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    // setgroups is denied in user namespaces whose owner wrote "deny" to
    // /proc/PID/setgroups (rootless); only then is an empty list acceptable.
    if let Err(e) = nix::unistd::setgroups(&gids) {
        if !(gids.is_empty() && e == nix::errno::Errno::EPERM) {
            return Err(Error::sys(
                format!(
                    "setgroups {:?}",
                    user.additional_gids().as_deref().unwrap_or(&[])
                ),
                e,
            ));
        }
    }
    sys::prctl(libc::PR_SET_KEEPCAPS, 1, 0).map_err(|e| Error::sys("keep capabilities", e))?;
    let gid = nix::unistd::Gid::from_raw(user.gid());
    nix::unistd::setresgid(gid, gid, gid)
        .map_err(|e| Error::sys(format!("setgid {}", user.gid()), e))?;
    let uid = nix::unistd::Uid::from_raw(user.uid());
    nix::unistd::setresuid(uid, uid, uid)
        .map_err(|e| Error::sys(format!("setuid {}", user.uid()), e))?;
    sys::prctl(libc::PR_SET_KEEPCAPS, 0, 0).map_err(|e| Error::sys("keep capabilities", e))?;
    sys::capset(caps.effective, caps.permitted, caps.inheritable)
        .map_err(|e| Error::sys("set capabilities", e))?;
    // Ambient capabilities start cleared; raise the asked ones. The kernel
    // only allows those both permitted and inheritable: like runc, skip the
    // others (`runc spec` itself lists ambient ones without inheritable).
    sys::prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as u64,
        0,
    )
    .map_err(|e| Error::sys("clear ambient capabilities", e))?;
    let raisable = caps.ambient & caps.permitted & caps.inheritable;
    for cap in 0..=last {
        if raisable & (1u64 << cap) != 0 {
            sys::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as u64,
                cap as u64,
            )
            .map_err(|e| Error::sys(format!("raise ambient capability {cap}"), e))?;
        }
    }
    Ok(())
}

/// Field `field` (0 name, 5 home, ...) of the /etc/passwd entry with `uid`,
/// read from `passwd` (the host's or, after pivot_root, the container's).
pub fn passwd_field(passwd: &str, uid: u32, field: usize) -> Option<String> {
    let file = std::fs::read_to_string(passwd).ok()?;
    let uid = uid.to_string();
    file.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > field && f.len() > 2 && f[2] == uid).then(|| f[field].to_string())
    })
}

pub fn set_no_new_privs() -> Result<()> {
    sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0)
        .map(drop)
        .map_err(|e| Error::sys("set no_new_privs", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_capability_has_its_kernel_number() {
        use std::str::FromStr;
        // The spec's names, as the spec writes them, against caps' table.
        for name in caps::all().iter().map(|c| c.to_string()) {
            let Ok(spec) = Capability::from_str(name.trim_start_matches("CAP_")) else {
                continue;
            };
            let kernel = caps::Capability::from_str(&name).unwrap();
            assert_eq!(cap_index(&spec), Some(kernel.index() as u32), "{name}");
        }
        assert_eq!(cap_index(&Capability::Chown), Some(0));
        assert_eq!(cap_index(&Capability::CheckpointRestore), Some(40));
    }

    #[test]
    fn passwd_lookup() {
        let p = std::env::temp_dir().join(format!("ward-passwd-{}", std::process::id()));
        std::fs::write(
            &p,
            "root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n",
        )
        .unwrap();
        let path = p.to_str().unwrap();
        assert_eq!(passwd_field(path, 1000, 0).as_deref(), Some("bob"));
        assert_eq!(passwd_field(path, 0, 5).as_deref(), Some("/root"));
        assert_eq!(passwd_field(path, 7, 0), None);
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn masks_of_known_caps() {
        let set: Capabilities = [
            Capability::Chown,
            Capability::Kill,
            Capability::NetBindService,
        ]
        .into_iter()
        .collect();
        assert_eq!(cap_mask(Some(&set)), (1 << 0) | (1 << 5) | (1 << 10));
        assert_eq!(cap_mask(None), 0);
    }
}
