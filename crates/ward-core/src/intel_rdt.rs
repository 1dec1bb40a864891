//! linux.intelRdt: cache and memory-bandwidth allocation (and monitoring)
//! through the kernel's resctrl file system.
//!
//! - Stage 1 ([`plan`]): where no resctrl file system is mounted (found in
//!   /proc/self/mountinfo: no Intel RDT or AMD PQoS, or not enabled, as on
//!   the build machine and the test VM), refused with one line, as runc
//!   does ("Intel RDT/CAT is not enabled"). The group's name (closID, or
//!   the container's ID) is checked as one path component.
//! - Stage 2 ([`Group::make`]): the group `<resctrl>/<closID or ID>` made
//!   with mkdir, unless closID names a group that exists already, which is
//!   joined as it is (runc's rule, and the spec's: a closID given without
//!   any schema must exist); each schema line (l3CacheSchema, memBwSchema,
//!   then each `schemata` entry) written to its `schemata` file, a refused
//!   one reported with resctrl's info/last_cmd_status; with
//!   enableMonitoring, a monitoring group `mon_groups/<ID>` under it.
//! - After the clone, before `start` ([`Group::place`]): init's pid into
//!   the group's `tasks` (and the monitoring group's); an exec'd process
//!   writes its own pid there before it joins the namespaces
//!   ([`Group::join_self`]).
//! - delete, or a failed create ([`Group::remove`]): the monitoring group,
//!   and the group if ward made it; a group named by closID (which other
//!   containers may share, which is why runc never removes one) only
//!   while no task is left in it. A pre-made closID group is never
//!   removed.
//!
//! None of this has run on RDT hardware: the unit tests below use a
//! temporary directory standing for the resctrl root.

use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where resctrl is mounted, if it is.
pub fn resctrl_mount() -> Option<PathBuf> {
    resctrl_in(&std::fs::read_to_string("/proc/self/mountinfo").ok()?)
}

/// The first resctrl mount point in a mountinfo text.
pub fn resctrl_in(mountinfo: &str) -> Option<PathBuf> {
    crate::procfs::parse_mountinfo(mountinfo)
        .into_iter()
        .find(|m| m.fstype == "resctrl")
        .map(|m| m.mount_point)
}

/// A resctrl group of the container, as planned in stage 1 and then kept
/// in the state for exec and delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// `<resctrl>/<closID or ID>`.
    pub dir: PathBuf,
    /// Whether ward makes the group (false: a closID group that existed).
    pub made: bool,
    /// Named by closID: other containers may join it.
    pub shared: bool,
    /// enableMonitoring: `<dir>/mon_groups/<ID>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mon: Option<PathBuf>,
    /// The schema lines to write (stage 2 only).
    #[serde(skip)]
    pub lines: Vec<String>,
}

/// Checks a resctrl group name: one path component, not a name resctrl
/// uses itself.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid(what, format!("{name:?}: {why}")));
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > 255 {
        return bad("longer than 255 bytes");
    }
    if name == "." || name == ".." || name.contains('/') {
        return bad("not a single path component");
    }
    if name.chars().any(|c| c.is_control()) {
        return bad("has a control character");
    }
    if ["info", "mon_groups", "mon_data"].contains(&name) {
        return bad("a name resctrl uses itself");
    }
    Ok(())
}

/// Stage 1: what linux.intelRdt asks for, checked against the resctrl
/// mounted (`mount` finds it); nothing is made.
pub fn plan(
    spec: &Spec,
    id: &str,
    mount: impl FnOnce() -> Option<PathBuf>,
) -> Result<Option<Group>> {
    let Some(rdt) = spec.linux().as_ref().and_then(|l| l.intel_rdt().as_ref()) else {
        return Ok(None);
    };
    let Some(root) = mount() else {
        return Err(not_enabled());
    };
    let clos = rdt.clos_id().as_deref().filter(|c| !c.is_empty());
    let name = match clos {
        Some(c) => {
            check_name("linux.intelRdt.closID", c)?;
            c
        }
        None => {
            check_name("linux.intelRdt (the container ID as its group)", id)?;
            id
        }
    };
    let mut lines = Vec::new();
    let given = [rdt.l3_cache_schema(), rdt.mem_bw_schema()];
    for l in given
        .into_iter()
        .flatten()
        .chain(rdt.schemata().iter().flatten())
    {
        if l.contains('\n') {
            return Err(Error::invalid(
                "linux.intelRdt",
                format!("{l:?}: a schema is one line"),
            ));
        }
        if !l.trim().is_empty() {
            lines.push(l.clone());
        }
    }
    let dir = root.join(name);
    let exists = std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir());
    if clos.is_some() && lines.is_empty() && !exists {
        return Err(Error::invalid(
            "linux.intelRdt.closID",
            format!(
                "{}: no such resctrl group (a closID without schemata must be made beforehand)",
                dir.display()
            ),
        ));
    }
    if clos.is_none() && exists {
        return Err(Error::invalid(
            "linux.intelRdt",
            format!(
                "{}: a resctrl group of that name exists already",
                dir.display()
            ),
        ));
    }
    let mon = rdt
        .enable_monitoring()
        .unwrap_or(false)
        .then(|| dir.join("mon_groups").join(id));
    if let Some(m) = mon
        .as_ref()
        .filter(|m| std::fs::symlink_metadata(m).is_ok())
    {
        // Not ours to join or to remove.
        return Err(Error::invalid(
            "linux.intelRdt.enableMonitoring",
            format!(
                "{}: a monitoring group of that name exists already",
                m.display()
            ),
        ));
    }
    Ok(Some(Group {
        made: !exists,
        shared: clos.is_some(),
        mon,
        lines,
        dir,
    }))
}

#[cold]
#[inline(never)]
fn not_enabled() -> Error {
    Error::invalid(
        "linux.intelRdt",
        "Intel RDT is not enabled on this host: no resctrl file system is mounted",
    )
}

impl Group {
    /// Stage 2: the group made, its schemata written, the monitoring group
    /// made. On failure, what was made is removed.
    pub fn make(&self) -> Result<()> {
        self.make_inner().inspect_err(|_| {
            let _ = self.remove();
        })
    }

    fn make_inner(&self) -> Result<()> {
        if self.made {
            mkdir(&self.dir)?;
        }
        let file = self.dir.join("schemata");
        for line in &self.lines {
            // One write per line: the kernel takes (or refuses) each whole.
            let written = std::fs::OpenOptions::new()
                .write(true)
                .open(&file)
                .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
            if let Err(e) = written {
                return Err(self.refused(&file, line, e));
            }
        }
        if let Some(mon) = &self.mon {
            mkdir(mon)?;
        }
        Ok(())
    }

    /// A schema line the kernel refused: resctrl's own reason when it
    /// gives one (info/last_cmd_status, one level up from the group).
    #[cold]
    fn refused(&self, file: &Path, line: &str, e: std::io::Error) -> Error {
        let status = self
            .dir
            .parent()
            .and_then(|root| std::fs::read_to_string(root.join("info/last_cmd_status")).ok())
            .map(|s| s.trim().replace('\n', "; "))
            .filter(|s| !s.is_empty() && s != "ok");
        Error::invalid(
            "linux.intelRdt",
            format!(
                "write {line:?} to {}: {}",
                file.display(),
                status.unwrap_or_else(|| e.to_string())
            ),
        )
    }

    /// Puts `pid` in the group (and in its monitoring group).
    pub fn place(&self, pid: i32) -> Result<()> {
        let s = pid.to_string();
        write_tasks(&self.dir, &s)?;
        if let Some(mon) = &self.mon {
            write_tasks(mon, &s)?;
        }
        Ok(())
    }

    /// Puts the calling process in the group: exec's child, before it
    /// joins the container's namespaces (its pid as its pid namespace
    /// sees it, which is how resctrl reads a pid).
    pub fn join_self(&self) -> Result<()> {
        self.place(nix::unistd::getpid().as_raw())
    }

    /// What ward made, removed (see the module's comment). A group already
    /// gone is not an error.
    pub fn remove(&self) -> Result<()> {
        if let Some(mon) = &self.mon {
            rmdir(mon)?;
        }
        if !self.made {
            return Ok(());
        }
        if self.shared {
            let busy =
                std::fs::read_to_string(self.dir.join("tasks")).is_ok_and(|t| !t.trim().is_empty());
            if busy {
                crate::note(&format!(
                    "intelRdt: {} kept: other tasks are in it",
                    self.dir.display()
                ));
                return Ok(());
            }
        }
        rmdir(&self.dir)
    }
}

fn mkdir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(dir)
        .map_err(|e| Error::path("mkdir", dir, e))
}

fn rmdir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::path("rmdir", dir, e)),
        _ => Ok(()),
    }
}

fn write_tasks(dir: &Path, pid: &str) -> Result<()> {
    let file = dir.join("tasks");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .and_then(|mut f| f.write_all(pid.as_bytes()))
        .map_err(|e| Error::path("write", file, e))
}

/// Unit tests of the pure logic: a temporary directory stands for the
/// resctrl root (no RDT hardware here, so no real resctrl can be mounted;
/// the kernel's own refusals are not exercised).
#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> Spec {
        let mut s = Spec::default();
        let mut l = s.linux().clone().unwrap_or_default();
        l.set_intel_rdt(Some(serde_json::from_value(v).unwrap()));
        s.set_linux(Some(l));
        s
    }

    /// A directory standing for the resctrl root, removed on drop.
    struct Root(PathBuf);
    impl Root {
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for Root {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn root() -> Root {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "ward-rdt-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        Root(d)
    }

    #[test]
    fn mountinfo_resctrl_line_is_found() {
        let text = "22 1 0:21 / / rw,relatime - ext4 /dev/sda1 rw\n\
                    40 22 0:35 / /sys/fs/resctrl rw,relatime shared:20 - resctrl resctrl rw,mba_MBps\n";
        assert_eq!(resctrl_in(text), Some(PathBuf::from("/sys/fs/resctrl")));
        let moved = "41 22 0:35 / /mnt/rdt\\040x rw - resctrl resctrl rw\n";
        assert_eq!(resctrl_in(moved), Some(PathBuf::from("/mnt/rdt x")));
        assert_eq!(resctrl_in(&text[..text.find('\n').unwrap()]), None);
    }

    #[test]
    fn refused_where_no_resctrl_is_mounted() {
        assert!(plan(&Spec::default(), "c", || None).unwrap().is_none());
        let e = plan(
            &spec(serde_json::json!({"l3CacheSchema": "L3:0=f"})),
            "c",
            || None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("linux.intelRdt") && e.contains("no resctrl"),
            "{e}"
        );
    }

    #[test]
    fn closid_is_one_safe_component() {
        let long = "x".repeat(256);
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "/x",
            "../x",
            "a\nb",
            "info",
            "mon_groups",
            &long,
        ] {
            assert!(check_name("closID", bad).is_err(), "{bad:?} accepted");
        }
        for good in ["c1", "ward-test", "a.b", &"x".repeat(255)] {
            check_name("closID", good).unwrap();
        }
        let r = root();
        let at = || Some(r.path().to_path_buf());
        let e = plan(
            &spec(serde_json::json!({"closID": "../etc", "schemata": ["L3:0=f"]})),
            "c",
            at,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("closID") && e.contains("../etc"), "{e}");
        assert_eq!(std::fs::read_dir(r.path()).unwrap().count(), 0);
    }

    #[test]
    fn lines_go_to_schemata_and_pid_to_tasks() {
        let r = root();
        let s = spec(serde_json::json!({
            "l3CacheSchema": "L3:0=ff",
            "memBwSchema": "MB:0=50",
            "schemata": ["L2:0=f", ""],
            "enableMonitoring": true,
        }));
        let g = plan(&s, "ctr", || Some(r.path().to_path_buf()))
            .unwrap()
            .unwrap();
        assert_eq!(g.dir, r.path().join("ctr"));
        assert!(g.made && !g.shared);
        assert_eq!(g.lines, ["L3:0=ff", "MB:0=50", "L2:0=f"]);
        // The kernel makes a group's files and mon_groups; a plain directory
        // doesn't, so they are made as resctrl would have them.
        std::fs::create_dir_all(g.dir.join("mon_groups")).unwrap();
        let log = g.dir.join("schemata");
        std::fs::write(&log, "").unwrap();
        // Each line is its own write from the start of the file: in a
        // plain file only the last stays, so check them one by one.
        for (i, line) in g.lines.iter().enumerate() {
            let one = Group {
                lines: vec![line.clone()],
                mon: None,
                made: false,
                ..g.clone()
            };
            std::fs::write(&log, "").unwrap();
            one.make().unwrap();
            assert_eq!(
                std::fs::read_to_string(&log).unwrap(),
                format!("{line}\n"),
                "{i}"
            );
        }
        std::fs::remove_dir(g.dir.join("mon_groups")).unwrap();
        std::fs::remove_file(&log).unwrap();
        std::fs::remove_dir(&g.dir).unwrap();
        // The whole make: the group and the monitoring group appear.
        let mk = Group {
            lines: Vec::new(),
            ..g.clone()
        };
        std::fs::create_dir(&g.dir).unwrap();
        std::fs::create_dir(g.dir.join("mon_groups")).unwrap();
        let premade = Group {
            made: false,
            ..mk.clone()
        };
        premade.make().unwrap();
        assert!(g.dir.join("mon_groups/ctr").is_dir());
        std::fs::write(g.dir.join("tasks"), "").unwrap();
        std::fs::write(g.dir.join("mon_groups/ctr/tasks"), "").unwrap();
        premade.place(4242).unwrap();
        assert_eq!(
            std::fs::read_to_string(g.dir.join("tasks")).unwrap(),
            "4242"
        );
        assert_eq!(
            std::fs::read_to_string(g.dir.join("mon_groups/ctr/tasks")).unwrap(),
            "4242"
        );
    }

    #[test]
    fn delete_removes_what_ward_made_only() {
        let r = root();
        let at = || Some(r.path().to_path_buf());
        // A container's own group (no closID) with monitoring: both go.
        // (In resctrl, a group's mon_groups is the kernel's and goes with
        // it; here it stays, so the group's rmdir fails naming it: that
        // shows it was tried after the monitoring group went.)
        let g = plan(
            &spec(serde_json::json!({"enableMonitoring": true})),
            "c1",
            at,
        )
        .unwrap()
        .unwrap();
        std::fs::create_dir_all(g.dir.join("mon_groups/c1")).unwrap();
        let e = g.remove().unwrap_err().to_string();
        assert!(e.contains("rmdir") && e.contains("c1"), "{e}");
        assert!(!g.dir.join("mon_groups/c1").exists());
        std::fs::remove_dir(g.dir.join("mon_groups")).unwrap();
        g.remove().unwrap();
        assert!(!g.dir.exists());
        g.remove().unwrap(); // gone already: not an error
                             // A pre-made closID group: joined, never removed; its monitoring
                             // group ward made is.
        std::fs::create_dir_all(r.path().join("pre/mon_groups")).unwrap();
        let p = plan(
            &spec(serde_json::json!({"closID": "pre", "enableMonitoring": true})),
            "c2",
            at,
        )
        .unwrap()
        .unwrap();
        assert!(!p.made && p.shared);
        std::fs::create_dir(r.path().join("pre/mon_groups/c2")).unwrap();
        p.remove().unwrap();
        assert!(r.path().join("pre").is_dir());
        assert!(!r.path().join("pre/mon_groups/c2").exists());
        // A closID group ward made: kept while other tasks are in it.
        let n = plan(
            &spec(serde_json::json!({"closID": "new", "schemata": ["L3:0=f"]})),
            "c3",
            at,
        )
        .unwrap()
        .unwrap();
        assert!(n.made && n.shared);
        std::fs::create_dir(&n.dir).unwrap();
        std::fs::write(n.dir.join("tasks"), "77\n").unwrap();
        n.remove().unwrap();
        assert!(n.dir.is_dir(), "a shared group with tasks was removed");
        // Empty: its removal is tried (a plain directory with a tasks file
        // can't be rmdir'ed; resctrl's can).
        std::fs::write(n.dir.join("tasks"), "").unwrap();
        let e = n.remove().unwrap_err().to_string();
        assert!(e.contains("rmdir") && e.contains("new"), "{e}");
        std::fs::remove_file(n.dir.join("tasks")).unwrap();
        n.remove().unwrap();
        assert!(!n.dir.exists());
    }

    #[test]
    fn closid_without_schemata_must_exist_and_own_group_must_not() {
        let r = root();
        let at = || Some(r.path().to_path_buf());
        let e = plan(&spec(serde_json::json!({"closID": "nope"})), "c", at)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no such resctrl group"), "{e}");
        std::fs::create_dir(r.path().join("c")).unwrap();
        let e = plan(
            &spec(serde_json::json!({"l3CacheSchema": "L3:0=f"})),
            "c",
            at,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("exists already"), "{e}");
        let e = plan(
            &spec(serde_json::json!({"schemata": ["L3:0=f\nMB:0=1"]})),
            "d",
            at,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("one line"), "{e}");
        std::fs::create_dir_all(r.path().join("pre/mon_groups/d")).unwrap();
        let e = plan(
            &spec(serde_json::json!({"closID": "pre", "enableMonitoring": true})),
            "d",
            at,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("monitoring group") && e.contains("exists"),
            "{e}"
        );
    }

    #[test]
    fn failed_write_removes_the_group_and_names_last_cmd_status() {
        let r = root();
        std::fs::create_dir(r.path().join("info")).unwrap();
        std::fs::write(
            r.path().join("info/last_cmd_status"),
            "Unknown domain ID 7\n",
        )
        .unwrap();
        let g = plan(
            &spec(serde_json::json!({"schemata": ["L3:7=f"], "enableMonitoring": true})),
            "c",
            || Some(r.path().to_path_buf()),
        )
        .unwrap()
        .unwrap();
        // mkdir succeeds, but a plain directory has no schemata file to
        // open for writing (the kernel's refusal stands in as ENOENT).
        let e = g.make().unwrap_err().to_string();
        assert!(
            e.contains("linux.intelRdt")
                && e.contains("L3:7=f")
                && e.contains("Unknown domain ID 7"),
            "{e}"
        );
        assert!(!e.contains('\n'));
        assert!(!g.dir.exists(), "the group was left behind");
    }
}
