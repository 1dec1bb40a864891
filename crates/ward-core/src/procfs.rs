//! What ward reads from /proc, parsed in one place: mountinfo (with its
//! octal escapes undone), a process's stat line, and /proc/self/cgroup.
//! Only the fields ward uses are kept.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

/// One line of a mountinfo file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// The mount's id (field 1).
    pub id: u64,
    /// The super block's device (field 3, major:minor), as st_dev.
    pub dev: u64,
    /// Where it is mounted (field 5), unescaped.
    pub mount_point: PathBuf,
    /// The mount's own options (field 6: rw or ro, nosuid, ...).
    pub mount_options: String,
    /// The file system type (the first field after " - ").
    pub fstype: String,
    /// The super block's options (the third field after " - ").
    pub super_options: String,
}

/// The mounts of ward's own mount namespace, in mountinfo's order (parents
/// before children).
pub fn mountinfo() -> io::Result<Vec<MountInfo>> {
    Ok(parse_mountinfo(&std::fs::read_to_string(
        "/proc/self/mountinfo",
    )?))
}

/// Parses a mountinfo file; lines it can't read are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let mut pre = pre.split(' ');
            let id = pre.next()?.parse().ok()?;
            let (major, minor) = pre.nth(1)?.split_once(':')?;
            let dev = libc::makedev(major.parse().ok()?, minor.parse().ok()?);
            let mount_point = unescape(pre.nth(1)?);
            let mount_options = pre.next().unwrap_or("").to_string();
            let mut post = post.split(' ');
            let fstype = post.next()?.to_string();
            let super_options = post.nth(1).unwrap_or("").to_string();
            Some(MountInfo {
                id,
                dev,
                mount_point,
                mount_options,
                fstype,
                super_options,
            })
        })
        .collect()
}

/// mountinfo writes space, tab, newline and backslash in paths as `\ooo`.
fn unescape(s: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// The fields of /proc/PID/stat ward uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// The state letter (R, S, D, Z, X, ...).
    pub state: char,
    /// Start time in clock ticks since boot (field 22): with the pid it
    /// names one process for ever.
    pub start_time: u64,
    /// How many threads the process has (field 20).
    pub threads: u32,
}

impl Stat {
    /// Whether the process has exited (a zombie, or dead).
    pub fn exited(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// The stat line of `pid`, or None if there is no such process.
pub fn stat(pid: i32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn parse_stat(s: &str) -> Option<Stat> {
    // comm may hold spaces and parentheses: the fields start after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    // rest starts at field 3: threads is field 20, start time field 22.
    let threads = fields.nth(20 - 4)?.parse().ok()?;
    let start_time = fields.nth(22 - 21)?.parse().ok()?;
    Some(Stat {
        state,
        start_time,
        threads,
    })
}

/// ward's own cgroup in each hierarchy, from /proc/self/cgroup: v1
/// controller (or `name=X`) -> path, and the v2 path.
pub fn own_cgroups() -> (BTreeMap<String, PathBuf>, Option<PathBuf>) {
    parse_cgroup(&std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default())
}

fn parse_cgroup(text: &str) -> (BTreeMap<String, PathBuf>, Option<PathBuf>) {
    let mut v1 = BTreeMap::new();
    let mut v2 = None;
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if ctrls.is_empty() {
            v2 = Some(PathBuf::from(path));
        } else {
            for c in ctrls.split(',') {
                v1.insert(c.to_string(), PathBuf::from(path));
            }
        }
    }
    (v1, v2)
}

/// Highest capability number assumed when the kernel does not say
/// (`CAP_CHECKPOINT_RESTORE`, Linux 5.9).
pub const FALLBACK_LAST_CAP: u8 = 40;

/// The highest capability number the running kernel knows (read once:
/// capability sets are built five times on every start), or
/// [`FALLBACK_LAST_CAP`] if unreadable.
pub fn cap_last_cap() -> u32 {
    static LAST: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(FALLBACK_LAST_CAP as u32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_fields_and_escapes() {
        let text = "36 35 98:0 /mnt1 /mnt\\040with\\011tab\\134x rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
                    40 36 0:33 / /sys/fs/cgroup/cpu,cpuacct rw shared:2 - cgroup cgroup rw,cpu,cpuacct\n\
                    garbage line\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].id, 36);
        assert_eq!(m[0].mount_point, PathBuf::from("/mnt with\ttab\\x"));
        assert_eq!(m[0].fstype, "ext3");
        assert_eq!(m[0].super_options, "rw,errors=continue");
        assert_eq!(m[0].dev, libc::makedev(98, 0));
        assert_eq!(m[0].mount_options, "rw,noatime");
        assert_eq!(m[1].dev, libc::makedev(0, 33));
        assert_eq!(
            m[1].mount_point,
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(m[1].super_options, "rw,cpu,cpuacct");
    }

    #[test]
    fn stat_after_a_hostile_comm() {
        let line = "42 (a) b) (c) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 0 0";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                state: 'S',
                start_time: 987654,
                threads: 1
            })
        );
        assert_eq!(parse_stat("42 (x"), None);
        let me = stat(std::process::id() as i32).unwrap();
        assert!(me.start_time > 0);
        assert!("RS".contains(me.state), "{}", me.state);
        assert!(!me.exited());
        assert!(stat(i32::MAX).is_none());
    }

    #[test]
    fn cgroup_file() {
        let (v1, v2) = parse_cgroup("12:cpu,cpuacct:/a\n1:name=systemd:/s\n0::/u\n");
        assert_eq!(v1["cpu"], PathBuf::from("/a"));
        assert_eq!(v1["cpuacct"], PathBuf::from("/a"));
        assert_eq!(v1["name=systemd"], PathBuf::from("/s"));
        assert_eq!(v2, Some(PathBuf::from("/u")));
    }
}
