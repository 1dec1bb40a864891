//! Mount options of config.json (`ro`, `nosuid`, `rbind`, `rslave`, ...) turned
//! into mount(2) flags, mount_setattr(2) attributes and the data string that
//! the file system itself reads.

use crate::sys;

/// One mount's options, parsed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MountOptions {
    /// MS_* flags for mount(2).
    pub flags: u64,
    /// Propagation changes (MS_SHARED, MS_SLAVE | MS_REC, ...) in order.
    pub propagation: Vec<u64>,
    /// Options the file system itself reads (size=, mode=, ...).
    pub data: Vec<String>,
    /// `bind` or `rbind` was given.
    pub bind: bool,
    /// `rbind`: the whole tree below the source.
    pub recursive: bool,
    /// MOUNT_ATTR_* to set and to clear on a bind mount.
    pub attr_set: u64,
    pub attr_clr: u64,
}

impl MountOptions {
    pub fn parse<S: AsRef<str>>(options: &[S]) -> MountOptions {
        let mut o = MountOptions::default();
        for opt in options {
            let opt = opt.as_ref();
            let ms = |f: libc::c_ulong| f as u64;
            // (flags to set, flags to clear, attributes to set, attributes to clear)
            let (set, clr, aset, aclr): (u64, u64, u64, u64) = match opt {
                "ro" => (ms(libc::MS_RDONLY), 0, sys::MOUNT_ATTR_RDONLY, 0),
                "rw" => (0, ms(libc::MS_RDONLY), 0, sys::MOUNT_ATTR_RDONLY),
                "nosuid" => (ms(libc::MS_NOSUID), 0, sys::MOUNT_ATTR_NOSUID, 0),
                "suid" => (0, ms(libc::MS_NOSUID), 0, sys::MOUNT_ATTR_NOSUID),
                "nodev" => (ms(libc::MS_NODEV), 0, sys::MOUNT_ATTR_NODEV, 0),
                "dev" => (0, ms(libc::MS_NODEV), 0, sys::MOUNT_ATTR_NODEV),
                "noexec" => (ms(libc::MS_NOEXEC), 0, sys::MOUNT_ATTR_NOEXEC, 0),
                "exec" => (0, ms(libc::MS_NOEXEC), 0, sys::MOUNT_ATTR_NOEXEC),
                "sync" => (ms(libc::MS_SYNCHRONOUS), 0, 0, 0),
                "async" => (0, ms(libc::MS_SYNCHRONOUS), 0, 0),
                "dirsync" => (ms(libc::MS_DIRSYNC), 0, 0, 0),
                "remount" => (ms(libc::MS_REMOUNT), 0, 0, 0),
                "mand" => (ms(libc::MS_MANDLOCK), 0, 0, 0),
                "nomand" => (0, ms(libc::MS_MANDLOCK), 0, 0),
                "atime" => (0, ms(libc::MS_NOATIME), 0, 0),
                "noatime" => (
                    ms(libc::MS_NOATIME),
                    0,
                    sys::MOUNT_ATTR_NOATIME,
                    sys::MOUNT_ATTR__ATIME,
                ),
                "diratime" => (0, ms(libc::MS_NODIRATIME), 0, sys::MOUNT_ATTR_NODIRATIME),
                "nodiratime" => (ms(libc::MS_NODIRATIME), 0, sys::MOUNT_ATTR_NODIRATIME, 0),
                "relatime" => (
                    ms(libc::MS_RELATIME),
                    0,
                    sys::MOUNT_ATTR_RELATIME,
                    sys::MOUNT_ATTR__ATIME,
                ),
                "norelatime" => (0, ms(libc::MS_RELATIME), 0, 0),
                "strictatime" => (
                    ms(libc::MS_STRICTATIME),
                    0,
                    sys::MOUNT_ATTR_STRICTATIME,
                    sys::MOUNT_ATTR__ATIME,
                ),
                "nostrictatime" => (0, ms(libc::MS_STRICTATIME), 0, 0),
                "lazytime" => (ms(libc::MS_LAZYTIME), 0, 0, 0),
                "nolazytime" => (0, ms(libc::MS_LAZYTIME), 0, 0),
                "nosymfollow" => (ms(libc::MS_NOSYMFOLLOW), 0, sys::MOUNT_ATTR_NOSYMFOLLOW, 0),
                "symfollow" => (0, ms(libc::MS_NOSYMFOLLOW), 0, sys::MOUNT_ATTR_NOSYMFOLLOW),
                "bind" => {
                    o.bind = true;
                    continue;
                }
                "rbind" => {
                    o.bind = true;
                    o.recursive = true;
                    continue;
                }
                "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave"
                | "unbindable" | "runbindable" => {
                    o.propagation.push(propagation_flags(opt).unwrap_or(0));
                    continue;
                }
                // Options that other runtimes define and that have no meaning
                // for a mount(2) call: never pass them to the file system.
                "tmpcopyup" | "idmap" | "ridmap" | "defaults" => continue,
                _ => {
                    o.data.push(opt.to_string());
                    continue;
                }
            };
            o.flags = (o.flags | set) & !clr;
            // The atime modes are a field, not bits: clearing MOUNT_ATTR__ATIME
            // and setting one value in it is how mount_setattr changes it.
            o.attr_set = (o.attr_set & !aclr) | aset;
            o.attr_clr = (o.attr_clr & !aset) | aclr;
        }
        o
    }

    pub fn data_string(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
}

/// MS_* flags of a propagation keyword (rootfsPropagation or a mount option).
pub fn propagation_flags(name: &str) -> Option<u64> {
    let rec = libc::MS_REC as u64;
    Some(match name {
        "private" => libc::MS_PRIVATE as u64,
        "rprivate" => libc::MS_PRIVATE as u64 | rec,
        "shared" => libc::MS_SHARED as u64,
        "rshared" => libc::MS_SHARED as u64 | rec,
        "slave" => libc::MS_SLAVE as u64,
        "rslave" => libc::MS_SLAVE as u64 | rec,
        "unbindable" => libc::MS_UNBINDABLE as u64,
        "runbindable" => libc::MS_UNBINDABLE as u64 | rec,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_default_dev_mount() {
        let o = MountOptions::parse(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, (libc::MS_NOSUID | libc::MS_STRICTATIME) as u64);
        assert_eq!(o.data_string().as_deref(), Some("mode=755,size=65536k"));
        assert!(!o.bind);
    }

    #[test]
    fn bind_with_attributes_and_propagation() {
        let o = MountOptions::parse(&["rbind", "ro", "nosuid", "nodev", "noexec", "rslave"]);
        assert!(o.bind && o.recursive);
        assert_eq!(
            o.attr_set,
            sys::MOUNT_ATTR_RDONLY
                | sys::MOUNT_ATTR_NOSUID
                | sys::MOUNT_ATTR_NODEV
                | sys::MOUNT_ATTR_NOEXEC
        );
        assert_eq!(o.propagation, vec![(libc::MS_SLAVE | libc::MS_REC) as u64]);
        assert!(o.data.is_empty());
    }

    #[test]
    fn later_options_win() {
        let o = MountOptions::parse(&["ro", "rw", "noexec", "exec"]);
        assert_eq!(o.flags, 0);
        assert_eq!(o.attr_set, 0);
        assert_eq!(o.attr_clr, sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOEXEC);
        let o = MountOptions::parse(&["bind", "noatime"]);
        assert_eq!(o.attr_set, sys::MOUNT_ATTR_NOATIME);
        assert_eq!(o.attr_clr, sys::MOUNT_ATTR__ATIME);
    }
}
