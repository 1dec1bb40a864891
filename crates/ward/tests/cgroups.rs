//! cgroups: placement of the container in every hierarchy, the resource
//! limits of `linux.resources` (memory, pids, cpu, cpuset, devices), the
//! freezer behind pause/resume, and the commands that act on a container's
//! cgroup: update, events, ps, kill --all and delete --force. Bad cgroup input
//! is refused and leaves nothing behind.
//!
//! Everything is judged from the host, by reading the container's cgroup
//! files and /proc/<pid>/cgroup. The tests work on a v1 (or hybrid) host and
//! on a pure cgroup v2 host: [`Knob`] maps a setting to the v1 or the v2 file.
//!
//! Every container gets an explicit absolute `linux.cgroupsPath` below a
//! parent unique to the test (`/wardtest-<pid>-<n>/<id>`), so ward and runc put
//! it in the same place. A [`Fixture`] removes every cgroup directory below
//! that parent, in every hierarchy and deepest first, even when the test
//! panics.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;

// ---------------------------------------------------------------------------
// The host's cgroup hierarchies
// ---------------------------------------------------------------------------

/// One mounted cgroup hierarchy below /sys/fs/cgroup.
#[derive(Debug, Clone)]
struct Hierarchy {
    mount: PathBuf,
    /// v1: the controllers (and `name=…`) bound to it; v2: the controllers
    /// its root offers (cgroup.controllers).
    controllers: Vec<String>,
    v2: bool,
}

const V1_CONTROLLERS: [&str; 14] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// The cgroup hierarchies mounted below /sys/fs/cgroup, one per superblock.
fn hierarchies() -> &'static [Hierarchy] {
    static H: OnceLock<Vec<Hierarchy>> = OnceLock::new();
    H.get_or_init(|| {
        let text = fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
        let mut seen_dev = Vec::new();
        let mut v = Vec::new();
        for m in parse_mountinfo(&text) {
            if !Path::new(&m.mount_point).starts_with("/sys/fs/cgroup")
                || !(m.fstype == "cgroup" || m.fstype == "cgroup2")
                || seen_dev.contains(&m.dev)
            {
                continue;
            }
            seen_dev.push(m.dev.clone());
            let mount = PathBuf::from(&m.mount_point);
            if m.fstype == "cgroup2" {
                let controllers = fs::read_to_string(mount.join("cgroup.controllers"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_string)
                    .collect();
                v.push(Hierarchy {
                    mount,
                    controllers,
                    v2: true,
                });
            } else {
                let controllers = m
                    .super_opts
                    .iter()
                    .filter(|o| V1_CONTROLLERS.contains(&o.as_str()) || o.starts_with("name="))
                    .cloned()
                    .collect();
                v.push(Hierarchy {
                    mount,
                    controllers,
                    v2: false,
                });
            }
        }
        assert!(
            !v.is_empty(),
            "no cgroup hierarchy is mounted below /sys/fs/cgroup"
        );
        v
    })
}

/// True on a pure cgroup v2 host (cgroup2 mounted at /sys/fs/cgroup).
fn pure_v2() -> bool {
    hierarchies()
        .iter()
        .any(|h| h.v2 && h.mount == Path::new("/sys/fs/cgroup"))
}

/// The hierarchy that holds `controller`'s files: on a v1/hybrid host the v1
/// hierarchy the controller is bound to, on a pure v2 host the unified one.
fn hierarchy_of(controller: &str) -> &'static Hierarchy {
    let hs = hierarchies();
    let found = if pure_v2() {
        hs.iter().find(|h| h.v2)
    } else {
        hs.iter()
            .find(|h| !h.v2 && h.controllers.iter().any(|c| c == controller))
    };
    found.unwrap_or_else(|| {
        panic!("no cgroup hierarchy for controller {controller} on this host: {hs:#?}")
    })
}

/// A setting or counter of a container's cgroup, found in the v1 or the v2
/// file as the host has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Knob {
    /// memory.limit_in_bytes | memory.max
    MemoryLimit,
    /// memory.memsw.limit_in_bytes (memory + swap) | memory.swap.max (swap only)
    MemorySwap,
    /// memory.soft_limit_in_bytes | memory.low
    MemoryReservation,
    /// memory.usage_in_bytes | memory.current
    MemoryUsage,
    /// pids.max
    PidsMax,
    /// pids.current
    PidsCurrent,
    /// cpu.shares | cpu.weight (converted)
    CpuShares,
    /// cpu.cfs_quota_us | cpu.max (first field)
    CpuQuota,
    /// cpu.cfs_period_us | cpu.max (second field)
    CpuPeriod,
    /// cpu.stat
    CpuStat,
    /// cpuset.cpus
    CpusetCpus,
    /// cpuset.mems
    CpusetMems,
    /// freezer.state | cgroup.freeze
    Freezer,
}

impl Knob {
    /// (controller, v1 file, v2 file)
    fn files(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Knob::MemoryLimit => ("memory", "memory.limit_in_bytes", "memory.max"),
            Knob::MemorySwap => ("memory", "memory.memsw.limit_in_bytes", "memory.swap.max"),
            Knob::MemoryReservation => ("memory", "memory.soft_limit_in_bytes", "memory.low"),
            Knob::MemoryUsage => ("memory", "memory.usage_in_bytes", "memory.current"),
            Knob::PidsMax => ("pids", "pids.max", "pids.max"),
            Knob::PidsCurrent => ("pids", "pids.current", "pids.current"),
            Knob::CpuShares => ("cpu", "cpu.shares", "cpu.weight"),
            Knob::CpuQuota => ("cpu", "cpu.cfs_quota_us", "cpu.max"),
            Knob::CpuPeriod => ("cpu", "cpu.cfs_period_us", "cpu.max"),
            Knob::CpuStat => ("cpu", "cpu.stat", "cpu.stat"),
            Knob::CpusetCpus => ("cpuset", "cpuset.cpus", "cpuset.cpus"),
            Knob::CpusetMems => ("cpuset", "cpuset.mems", "cpuset.mems"),
            Knob::Freezer => ("freezer", "freezer.state", "cgroup.freeze"),
        }
    }

    fn controller(self) -> &'static str {
        self.files().0
    }

    /// The file name on this host.
    fn file_name(self) -> &'static str {
        let (_, v1, v2) = self.files();
        if pure_v2() {
            v2
        } else {
            v1
        }
    }
}

/// A limit value: None means unlimited ("max", "-1", or v1's page-rounded
/// LLONG_MAX).
fn parse_limit(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "max" || s == "-1" {
        return None;
    }
    let n: u64 = s
        .parse()
        .unwrap_or_else(|e| panic!("cgroup limit {s:?} is not a number: {e}"));
    (n < (1u64 << 62)).then_some(n)
}

/// The number after `key` on a `key value` line (cpu.stat, memory.events…).
fn stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key)).then(|| it.next()?.parse().ok())?
    })
}

/// cgroup v2's cpu.weight for a v1 cpu.shares value, by the conversion runc
/// (>= 1.3.2) and crun (>= 1.23) use: a parabola in log2 space through
/// (2, 1), (1024, 100) and (262144, 10000), so v1's default maps to v2's.
fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let l = (shares.clamp(2, 262_144) as f64).log2();
    10f64.powf((l * l + 125.0 * l) / 612.0 - 7.0 / 34.0).ceil() as u64
}

/// A container's cgroup: `rel` below the root of every hierarchy.
#[derive(Debug, Clone)]
struct Cg {
    /// e.g. "/wardtest-123-4/wt-mem-123-9"
    rel: String,
}

impl Cg {
    fn dir_in(&self, h: &Hierarchy) -> PathBuf {
        h.mount.join(self.rel.trim_start_matches('/'))
    }

    /// The directory in each hierarchy.
    fn dirs(&self) -> Vec<PathBuf> {
        hierarchies().iter().map(|h| self.dir_in(h)).collect()
    }

    fn path(&self, knob: Knob) -> PathBuf {
        self.dir_in(hierarchy_of(knob.controller()))
            .join(knob.file_name())
    }

    /// Raw content of `knob`'s file, trimmed; panics naming the file.
    #[track_caller]
    fn read(&self, knob: Knob) -> String {
        let p = self.path(knob);
        fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
            .trim()
            .to_string()
    }

    /// A numeric limit (None = unlimited), in v1 terms for the CPU ones.
    #[track_caller]
    fn limit(&self, knob: Knob) -> Option<u64> {
        let raw = self.read(knob);
        if pure_v2() && matches!(knob, Knob::CpuQuota | Knob::CpuPeriod) {
            let mut it = raw.split_whitespace();
            let quota = it.next().unwrap_or("max");
            let period = it.next().unwrap_or("100000");
            return parse_limit(if knob == Knob::CpuQuota {
                quota
            } else {
                period
            });
        }
        parse_limit(&raw)
    }

    /// Asserts `knob` holds `want` (v1 terms: shares are converted to a v2
    /// weight on a v2 host).
    #[track_caller]
    fn assert_limit(&self, knob: Knob, want: Option<u64>) {
        let want = match (knob, want) {
            (Knob::CpuShares, Some(s)) if pure_v2() => Some(shares_to_weight(s)),
            _ => want,
        };
        let got = self.limit(knob);
        assert_eq!(
            got,
            want,
            "{} holds {:?}",
            self.path(knob).display(),
            self.read(knob)
        );
    }

    /// Asserts the swap setting for memory `limit` and memory+swap `total`
    /// (v1: memsw = total; v2: swap.max = total - limit).
    #[track_caller]
    fn assert_swap(&self, limit: u64, total: u64) {
        let want = if pure_v2() { total - limit } else { total };
        let p = self.path(Knob::MemorySwap);
        if !p.exists() {
            eprintln!("note: {} does not exist (no swap accounting)", p.display());
            return;
        }
        assert_eq!(
            self.limit(Knob::MemorySwap),
            Some(want),
            "{} holds {:?}",
            p.display(),
            self.read(Knob::MemorySwap)
        );
    }

    /// Host pids in the cgroup (cgroup.procs of the pids hierarchy, or the
    /// unified one).
    fn procs(&self) -> Vec<i32> {
        let h = hierarchy_of("pids");
        read_lossy(&self.dir_in(h).join("cgroup.procs"))
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Whether the cgroup is frozen, by the freezer file.
    fn frozen(&self) -> bool {
        if pure_v2() {
            let ev = read_lossy(&self.dir_in(hierarchy_of("freezer")).join("cgroup.events"));
            stat_value(&ev, "frozen") == Some(1)
        } else {
            self.read(Knob::Freezer) == "FROZEN"
        }
    }

    fn thawed(&self) -> bool {
        if pure_v2() {
            let ev = read_lossy(&self.dir_in(hierarchy_of("freezer")).join("cgroup.events"));
            stat_value(&ev, "frozen") == Some(0)
        } else {
            self.read(Knob::Freezer) == "THAWED"
        }
    }

    /// Directories of this cgroup that still exist.
    fn existing(&self) -> Vec<PathBuf> {
        self.dirs().into_iter().filter(|d| d.exists()).collect()
    }

    /// Asserts (waiting a little) that the cgroup is gone in every hierarchy.
    #[track_caller]
    fn assert_gone(&self) {
        let mut left = Vec::new();
        let ok = wait_until(Duration::from_secs(5), || {
            left = self.existing();
            left.is_empty()
        });
        assert!(ok, "cgroup directories left behind: {left:?}");
    }

    /// Asserts `pid` is in this cgroup in every hierarchy, both by
    /// /proc/<pid>/cgroup and by the cgroup's cgroup.procs.
    #[track_caller]
    fn assert_holds(&self, pid: i32) {
        let text = fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .unwrap_or_else(|e| panic!("read /proc/{pid}/cgroup: {e}"));
        for h in hierarchies() {
            let line = text.lines().find(|l| {
                let mut parts = l.splitn(3, ':');
                let _ = parts.next();
                let ctrls = parts.next().unwrap_or("");
                if h.v2 {
                    ctrls.is_empty()
                } else {
                    ctrls
                        .split(',')
                        .any(|c| h.controllers.iter().any(|x| x == c))
                }
            });
            let line = line.unwrap_or_else(|| {
                panic!(
                    "/proc/{pid}/cgroup has no line for the hierarchy at {}:\n{text}",
                    h.mount.display()
                )
            });
            let path = line.splitn(3, ':').nth(2).unwrap_or("");
            assert_eq!(
                path,
                self.rel,
                "process {pid} is not in {} in the hierarchy at {} (line {line:?})\n{text}",
                self.rel,
                h.mount.display()
            );
            let procs = read_lossy(&self.dir_in(h).join("cgroup.procs"));
            assert!(
                procs.lines().any(|l| l.trim() == pid.to_string()),
                "{} does not list {pid}: {procs:?}",
                self.dir_in(h).join("cgroup.procs").display()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Per-test fixture: a Ctx plus the cgroup directories to remove
// ---------------------------------------------------------------------------

static CG_SEQ: AtomicUsize = AtomicUsize::new(0);

/// A [`Ctx`] (dereferenced to) plus cgroup cleanup: on drop, after the Ctx
/// has force-deleted its containers and killed their processes, every cgroup
/// directory at or below a tracked path is thawed, emptied (SIGKILL to what
/// is still in it) and removed, deepest first, in every hierarchy.
struct Fixture {
    ctx: Option<Ctx>,
    /// "/wardtest-<pid>-<n>": the parent of every container cgroup.
    parent: String,
    /// Paths (relative to each hierarchy's root) whose subtrees to remove.
    tracked: Mutex<Vec<String>>,
}

impl Deref for Fixture {
    type Target = Ctx;
    fn deref(&self) -> &Ctx {
        self.ctx.as_ref().expect("fixture context")
    }
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let parent = format!(
            "/wardtest-{}-{}",
            std::process::id(),
            CG_SEQ.fetch_add(1, Ordering::SeqCst)
        );
        Fixture {
            ctx: Some(Ctx::new(name)),
            tracked: Mutex::new(vec![parent.clone()]),
            parent,
        }
    }

    /// Registers another cgroup path for removal (with its subtree).
    fn track_cgroup(&self, rel: &str) {
        self.tracked.lock().unwrap().push(rel.to_string());
    }

    /// The cgroup the container `id` gets: `<parent>/<id>`.
    fn cg(&self, id: &str) -> Cg {
        Cg {
            rel: format!("{}/{id}", self.parent),
        }
    }

    /// A fresh ID and a bundle whose cgroupsPath is `<parent>/<id>`.
    fn container(&self, tag: &str) -> (String, Bundle, Cg) {
        let id = self.id(tag);
        let mut b = self.bundle(&format!("b-{id}"));
        let cg = self.cg(&id);
        b.linux()["cgroupsPath"] = json!(cg.rel);
        (id, b, cg)
    }

    /// Asserts nothing of `id` is left: [`Ctx::assert_nothing_left`] plus
    /// its cgroup in every hierarchy.
    #[track_caller]
    fn assert_clean(&self, id: &str, cg: &Cg) {
        self.assert_nothing_left(&[id]);
        cg.assert_gone();
    }
}

/// All directories at or below `top`, deepest first.
fn subtree_deepest_first(top: &Path) -> Vec<PathBuf> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(rd) = fs::read_dir(d) {
            for e in rd.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    walk(&e.path(), out);
                }
            }
        }
        out.push(d.to_path_buf());
    }
    let mut v = Vec::new();
    if top.is_dir() {
        walk(top, &mut v);
    }
    v
}

fn tracked_dirs(tracked: &[String]) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for rel in tracked {
        let rel = rel.trim_start_matches('/');
        if rel.is_empty() || rel.split('/').any(|c| c == "..") {
            continue;
        }
        for h in hierarchies() {
            v.extend(subtree_deepest_first(&h.mount.join(rel)));
        }
    }
    v
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let tracked = self.tracked.lock().map(|g| g.clone()).unwrap_or_default();
        // Thaw first, so that a test failing while paused can be cleaned up.
        for d in tracked_dirs(&tracked) {
            let _ = fs::write(d.join("freezer.state"), "THAWED");
            let _ = fs::write(d.join("cgroup.freeze"), "0");
        }
        // The Ctx force-deletes its containers and kills their processes.
        drop(self.ctx.take());
        // Whatever still runs in our cgroups is ours (the paths are unique).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let dirs = tracked_dirs(&tracked);
            let mut busy = false;
            for d in &dirs {
                for pid in read_lossy(&d.join("cgroup.procs"))
                    .lines()
                    .filter_map(|l| l.trim().parse::<i32>().ok())
                {
                    busy = true;
                    // SAFETY: kill(2) has no memory-safety preconditions; the
                    // pid is in a cgroup only this test made.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
            for d in &dirs {
                let _ = fs::remove_dir(d);
            }
            if (!busy && tracked_dirs(&tracked).is_empty()) || Instant::now() >= deadline {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let left = tracked_dirs(&tracked);
        if !left.is_empty() {
            eprintln!("WARNING: could not remove cgroup directories: {left:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

/// Starts a long-running container (see [`Bundle::long_running`]) and checks
/// its init is in `cg`.
#[track_caller]
fn start_in(fx: &Fixture, b: &Bundle, id: &str, cg: &Cg) -> (i32, Out) {
    let (pid, out) = fx.start_long(b, id);
    cg.assert_holds(pid);
    (pid, out)
}

/// Waits until `cg` holds exactly `n` processes; returns them.
#[track_caller]
fn wait_procs(cg: &Cg, n: usize) -> Vec<i32> {
    let mut last = Vec::new();
    let ok = wait_until(WAIT_TIMEOUT, || {
        last = cg.procs();
        last.len() == n
    });
    assert!(ok, "cgroup {} never held {n} processes: {last:?}", cg.rel);
    last
}

/// Runs `update` with `json` on its standard input (`--resources -`).
#[track_caller]
fn update_stdin(fx: &Fixture, id: &str, json: &Value) -> Out {
    let file = fx.dir.join(format!(
        "resources-{}.json",
        CG_SEQ.fetch_add(1, Ordering::SeqCst)
    ));
    fs::write(&file, json.to_string()).expect("write resources file");
    let bin = runtime_bin();
    fx.host(
        "sh",
        &[
            "-c",
            "exec \"$0\" --root \"$1\" update --resources - \"$2\" < \"$3\"",
            bin.to_str().expect("utf-8 runtime path"),
            fx.root.to_str().expect("utf-8 root"),
            id,
            file.to_str().expect("utf-8 path"),
        ],
    )
}

/// Parses one JSON object printed by `events`.
#[track_caller]
fn parse_event(line: &str) -> Value {
    serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("events line is not JSON ({e}): {line:?}"))
}

/// The newline-terminated, non-empty lines of `text` (a stream may hold a
/// partly written last line).
fn complete_lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n') && !l.trim().is_empty())
        .map(str::trim)
        .collect()
}

/// Content of a counter file written by a container (empty while it is
/// being rewritten).
fn counter(p: &Path) -> String {
    read_lossy(p).trim().to_string()
}

// ---------------------------------------------------------------------------
// Placement
// ---------------------------------------------------------------------------

#[test]
fn placement_in_every_hierarchy_and_removed_on_delete() {
    let fx = Fixture::new("cgplace");
    let (id, mut b, cg) = fx.container("place");
    b.long_running("");
    let (pid, _) = start_in(&fx, &b, &id, &cg);
    eprintln!(
        "hierarchies: {:?}",
        hierarchies()
            .iter()
            .map(|h| h.mount.display().to_string())
            .collect::<Vec<_>>()
    );
    for d in cg.dirs() {
        assert!(d.is_dir(), "{} does not exist", d.display());
    }

    fx.rt(&["kill", &id, "KILL"]).assert_ok();
    fx.wait_status(&id, "stopped");
    fx.rt(&["delete", &id]).assert_ok();
    assert!(wait_until(WAIT_TIMEOUT, || !pid_alive(pid)));
    fx.assert_clean(&id, &cg);
}

#[test]
fn default_cgroup_path_is_ward_dash_id() {
    if skip_unless_ward("default cgroupsPath /ward-<id>") {
        return;
    }
    let fx = Fixture::new("cgdefault");
    let id = fx.id("dflt");
    let cg = Cg {
        rel: format!("/ward-{id}"),
    };
    fx.track_cgroup(&cg.rel);
    let mut b = fx.bundle("b");
    b.long_running("");
    let (pid, _) = start_in(&fx, &b, &id, &cg);
    assert!(pid > 0);
    fx.rt(&["delete", "--force", &id]).assert_ok();
    fx.assert_clean(&id, &cg);
}

// ---------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------

#[test]
fn memory_limit_is_written() {
    let fx = Fixture::new("cgmemlim");
    let (id, mut b, cg) = fx.container("memlim");
    b.linux()["resources"] = json!({
        "memory": {"limit": 64 * MIB, "reservation": 32 * MIB, "swap": 96 * MIB}
    });
    b.long_running("");
    start_in(&fx, &b, &id, &cg);
    cg.assert_limit(Knob::MemoryLimit, Some(64 * MIB));
    cg.assert_limit(Knob::MemoryReservation, Some(32 * MIB));
    cg.assert_swap(64 * MIB, 96 * MIB);
    fx.rt(&["delete", "--force", &id]).assert_ok();
    fx.assert_clean(&id, &cg);
}

/// The memory hog: busybox sh keeps a command substitution's output in
/// memory, 200 MiB of it here.
const HOG: &str = "x=$(head -c 200m /dev/zero | tr '\\0' a)";

#[test]
fn memory_hog_is_oom_killed() {
    let fx = Fixture::new("cgoom");

    // A hog in a subshell: it is killed, the container lives on and its
    // cgroup tells of the OOM kill.
    let (id, mut b, cg) = fx.container("oomsub");
    b.linux()["resources"] = json!({"memory": {"limit": 32 * MIB}});
    b.long_running(&format!("({HOG}); echo hog-rc=$?"));
    let (pid, out) = start_in(&fx, &b, &id, &cg);
    let text = out.stdout_now();
    assert_eq!(
        kv(&text, "hog-rc"),
        "137",
        "the memory hog was not SIGKILLed; output:\n{text}"
    );
    assert!(pid_alive(pid), "the container's init died too");
    cg.assert_limit(Knob::MemoryLimit, Some(32 * MIB));
    let mdir = cg.dir_in(hierarchy_of("memory"));
    if pure_v2() {
        let ev = read_lossy(&mdir.join("memory.events"));
        assert!(
            stat_value(&ev, "oom_kill").unwrap_or(0) > 0,
            "memory.events shows no oom_kill: {ev}"
        );
    } else {
        let failcnt: u64 = read_lossy(&mdir.join("memory.failcnt"))
            .trim()
            .parse()
            .unwrap_or(0);
        let oom = read_lossy(&mdir.join("memory.oom_control"));
        assert!(
            failcnt > 0 || stat_value(&oom, "oom_kill").unwrap_or(0) > 0,
            "neither memory.failcnt ({failcnt}) nor memory.oom_control shows the OOM: {oom}"
        );
    }
    fx.rt(&["delete", "--force", &id]).assert_ok();
    fx.assert_clean(&id, &cg);

    // The hog as the container's init: `run` exits 137.
    let (id, mut b, cg) = fx.container("oomrun");
    b.linux()["resources"] = json!({"memory": {"limit": 32 * MIB}});
    b.sh(&format!("{HOG}; echo survived"));
    let out = fx.run(&b, &id);
    assert!(
        !out.stdout.contains("survived"),
        "the hog was not killed\n{}",
        out.describe()
    );
    out.assert_code(137);
    fx.rt(&["delete", "--force", &id]);
    fx.assert_clean(&id, &cg);
    // The host goes on: this process is alive and its own memory is intact.
    assert!(pid_alive(std::process::id() as i32));
}

// ---------------------------------------------------------------------------
// pids
// ---------------------------------------------------------------------------

#[test]
fn pids_limit_stops_a_fork_loop() {
    let fx = Fixture::new("cgpids");
    let (id, mut b, cg) = fx.container("pids");
    b.linux()["resources"] = json!({"pids": {"limit": 20}});
    b.long_running("(for i in $(seq 100); do sleep 1000 & done) 2>&1; echo loop-done");
    let (_pid, out) = start_in(&fx, &b, &id, &cg);
    cg.assert_limit(Knob::PidsMax, Some(20));
    let text = out.stdout_now();
    assert!(
        text.contains("can't fork"),
        "the shell never failed to fork; output:\n{text}"
    );
    let procs = cg.procs();
    assert!(
        procs.len() <= 20,
        "{} processes in a cgroup limited to 20: {procs:?}",
        procs.len()
    );
    eprintln!("{} processes in the pids-limited cgroup", procs.len());
    assert!(
        procs.len() >= 10,
        "the loop should have filled most of the limit; cgroup.procs: {procs:?}"
    );
    let current: u64 = cg.read(Knob::PidsCurrent).parse().expect("pids.current");
    assert!(current <= 20, "pids.current is {current}");
    fx.rt(&["delete", "--force", &id]).assert_ok();
    fx.assert_clean(&id, &cg);
}

// ---------------------------------------------------------------------------
// cpu and cpuset
// ---------------------------------------------------------------------------

#[test]
fn cpu_quota_period_shares_written_and_throttled() {
    let fx = Fixture::new("cgcpu");
    let (id, mut b, cg) = fx.container("cpu");
    b.linux()["resources"] = json!({
        "cpu": {"quota": 10000, "period": 100000, "shares": 512}
    });
    b.long_running("(while :; do :; done) & true");
    start_in(&fx, &b, &id, &cg);
    cg.assert_limit(Knob::CpuQuota, Some(10000));
    cg.assert_limit(Knob::CpuPeriod, Some(100000));
    cg.assert_limit(Knob::CpuShares, Some(512));
    let mut stat = String::new();
    let throttled = wait_until(WAIT_TIMEOUT, || {
        stat = cg.read(Knob::CpuStat);
        stat_value(&stat, "nr_throttled").unwrap_or(0) > 0
    });
    assert!(
        throttled,
        "a busy loop under quota 10000/100000 was never throttled; cpu.stat:\n{stat}"
    );
    fx.rt(&["delete", "--force", &id]).assert_ok();
    fx.assert_clean(&id, &cg);
}

#[test]
fn cpuset_pins_the_process() {
    let fx = Fixture::new("cgcpuset");
    let (id, mut b, cg) = fx.container("cpuset");
    b.linux()["resources"] = json!({"cpu": {"cpus": "0", "mems": "0"}});
    b.long_running("");
    let (pid, _) = start_in(&fx, &b, &id, &cg);
    assert_eq!(cg.read(Knob::CpusetCpus), "0");
    assert_eq!(cg.read(Knob::CpusetMems), "0");
    assert_eq!(
        status_field(pid, "Cpus_allowed_list").as_deref(),
        Some("0"),
        "Cpus_allowed_list of the container's init"
    );
    assert_eq!(
        status_field(pid, "Mems_allowed_list").as_deref(),
        Some("0"),
        "Mems_allowed_list of the container's init"
    );
    fx.rt(&["delete", "--force", &id]).assert_ok();
    fx.assert_clean(&id, &cg);
}

// ---------------------------------------------------------------------------
// devices
// ---------------------------------------------------------------------------

#[test]
fn device_rules_are_enforced() {
    let fx = Fixture::new("cgdev");
    let (id, mut b, cg) = fx.container("dev");
    b.linux()["resources"] = json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}
    ]});
    // /dev/myzero is /dev/zero's number; /dev/nodrv is a minor of the mem
    // driver that has no device behind it: opening it gives ENXIO when the
    // cgroup lets it through and EPERM when the cgroup refuses it. Neither
    // number is among runc's built-in allowed devices.
    b.linux()["devices"] = json!([
        {"path": "/dev/myzero", "type": "c", "major": 1, "minor": 5,
         "fileMode": 438, "uid": 0, "gid": 0},
        {"path": "/dev/nodrv", "type": "c", "major": 1, "minor": 200,
         "fileMode": 438, "uid": 0, "gid": 0}
    ]);
    b.sh("head -c 4 /dev/myzero >/dev/null; echo myzero=$?; \
         head -c 4 /dev/nodrv >/dev/null; echo nodrv=$?; \
         head -c 4 /dev/null; echo null=$?; echo x > /dev/null; echo nullw=$?; \
         mknod /tmp/blk b 7 0; echo mknodb=$?");
    let out = fx.run(&b, &id);
    out.assert_ok();
    let text = format!("{}\n{}", out.stdout, out.stderr);
    eprintln!("container output:\n{text}");
    assert_eq!(kv(&out.stdout, "null"), "0", "reading /dev/null\n{text}");
    assert_eq!(kv(&out.stdout, "nullw"), "0", "writing /dev/null\n{text}");
    assert_ne!(kv(&out.stdout, "nodrv"), "0", "{text}");
    assert!(
        out.stderr
            .lines()
            .any(|l| l.contains("/dev/nodrv") && l.contains("Operation not permitted")),
        "opening /dev/nodrv (c 1:200, no allow rule) was not refused with EPERM\n{text}"
    );
    // Like runc, ward appends the standard devices (c 1:5 among them) and
    // mknod of any node after the config's rules, so that a "deny all"
    // config can still use /dev/zero: both runtimes let these through.
    assert_eq!(
        kv(&out.stdout, "myzero"),
        "0",
        "reading /dev/myzero (c 1:5)\n{text}"
    );
    assert_eq!(
        kv(&out.stdout, "mknodb"),
        "0",
        "mknod of a block device\n{text}"
    );
    fx.rt(&["delete", "--force", &id]);
    fx.assert_clean(&id, &cg);
}

// ---------------------------------------------------------------------------
// freezer: pause / resume
// ---------------------------------------------------------------------------

#[test]
fn pause_freezes_and_resume_thaws() {
    let fx = Fixture::new("cgfreeze");
    let (id, mut b, cg) = fx.container("freeze");
    b.long_running(
        "(i=0; while :; do i=$((i+1)); echo $i > /tmp/counter; sleep 0.05; done) & true",
    );
    let (pid, _) = start_in(&fx, &b, &id, &cg);
    let counter_file = b.rootfs().join("tmp/counter");
    let first = counter(&counter_file);
    assert!(
        wait_until(WAIT_TIMEOUT, || {
            let c = counter(&counter_file);
            !c.is_empty() && c != first
        }),
        "the counter loop never advanced before pause"
    );

    fx.rt(&["pause", &id]).assert_ok();
    assert_eq!(fx.status(&id).as_deref(), Some("paused"));
    assert!(cg.frozen(), "cgroup of {id} is not frozen after pause");
    let procs = cg.procs();
    assert!(procs.contains(&pid) && procs.len() >= 2, "procs: {procs:?}");
    // Frozen: the counter does not move, however often we look.
    for _ in 0..3 {
        let a = read_lossy(&counter_file);
        thread::sleep(Duration::from_millis(300));
        let b2 = read_lossy(&counter_file);
        assert_eq!(a, b2, "the counter advanced while the container was paused");
    }
    let paused_at = read_lossy(&counter_file);

    fx.rt(&["resume", &id]).assert_ok();
    assert_eq!(fx.status(&id).as_deref(), Some("running"));
    assert!(cg.thawed(), "cgroup of {id} is not thawed after resume");
    let mut now = String::new();
    assert!(
        wait_until(WAIT_TIMEOUT, || {
            now = read_lossy(&counter_file);
            now != paused_at && !now.trim().is_empty()
        }),
        "the counter did not advance after resume (stuck at {now:?})"
    );
    fx.rt(&["delete", "--force", &id]).assert_ok();
    fx.assert_clean(&id, &cg);
}

#[test]
fn delete_force_of_a_paused_container() {
    let fx = Fixture::new("cgdelpaused");
    let (id, mut b, cg) = fx.container("delpaused");
    b.long_running("sleep 1001 & true");
    let (pid, _) = start_in(&fx, &b, &id, &cg);
    fx.rt(&["pause", &id]).assert_ok();
    assert_eq!(fx.status(&id).as_deref(), Some("paused"));
    fx.rt(&["delete", "--force", &id]).assert_ok();
    assert!(wait_until(WAIT_TIMEOUT, || !pid_alive(pid)));
    fx.assert_clean(&id, &cg);
}

// ---------------------------------------------------------------------------
// update
// ---------------------------------------------------------------------------

#[test]
fn update_flags_change_live_files() {
    let fx = Fixture::new("cgupd");
    let (id, mut b, cg) = fx.container("upd");
    b.linux()["resources"] = json!({
        "memory": {"limit": 64 * MIB},
        "pids": {"limit": 30},
        "cpu": {"shares": 1024}
    });
    b.long_running("");
    start_in(&fx, &b, &id, &cg);
    cg.assert_limit(Knob::MemoryLimit, Some(64 * MIB));
    cg.assert_limit(Knob::PidsMax, Some(30));

    fx.rt(&["update", "--memory", "100m", "--pids-limit", "40", &id])
        .assert_ok();
    cg.assert_limit(Knob::MemoryLimit, Some(100 * MIB));
    cg.assert_limit(Knob::PidsMax, Some(40));

    fx.rt(&[
        "update",
        "--memory",
        &(128 * MIB).to_string(),
        "--memory-swap",
        &(192 * MIB).to_string(),
        "--memory-reservation",
        &(48 * MIB).to_string(),
        &id,
    ])
    .assert_ok();
    cg.assert_limit(Knob::MemoryLimit, Some(128 * MIB));
    cg.assert_limit(Knob::MemoryReservation, Some(48 * MIB));
    cg.assert_swap(128 * MIB, 192 * MIB);

    fx.rt(&[
        "update",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "50000",
        "--cpuset-cpus",
        "0",
        "--cpuset-mems",
        "0",
        &id,
    ])
    .assert_ok();
    cg.assert_limit(Knob::CpuQuota, Some(20000));
    cg.assert_limit(Knob::CpuPeriod, Some(50000));
    assert_eq!(cg.read(Knob::CpusetCpus), "0");
    assert_eq!(cg.read(Knob::CpusetMems), "0");

    // The pids limit survives updates that do not name it.
    cg.assert_limit(Knob::PidsMax, Some(40));
    fx.rt(&["delete", "--force", &id]).assert_ok();
    fx.assert_clean(&id, &cg);
}

#[test]
fn update_cpu_share_flag() {
    // runc spells the flag --cpu-share; ward also takes --cpu-shares.
    let fx = Fixture::new("cgupdshares");
    let (id, mut b, cg) = fx.container("updshares");
    b.long_running("");
    start_in(&fx, &b, &id, &cg);
    fx.rt(&["update", "--cpu-share", "256", &id]).assert_ok();
    cg.assert_limit(Knob::CpuShares, Some(256));
    if testing_ward() {
        fx.rt(&["update", "--cpu-shares", "128", &id]).assert_ok();
        cg.assert_limit(Knob::CpuShares, Some(128));
    }
    fx.rt(&["delete", "--force", &id]).assert_ok();
    fx.assert_clean(&id, &cg);
}

#[test]
fn update_blkio_weight() {
    let fx = Fixture::new("cgupdblkio");
    let (id, mut b, cg) = fx.container("updblkio");
    b.long_running("");
    start_in(&fx, &b, &id, &cg);
    let out = fx.rt(&["update", "--blkio-weight", "300", &id]);
    let dir = cg.dir_in(hierarchy_of(if pure_v2() { "io" } else { "blkio" }));
    let candidates: &[&str] = if pure_v2() {
        &["io.bfq.weight", "io.weight"]
    } else {
        &["blkio.weight", "blkio.bfq.weight"]
    };
    let file = candidates.iter().map(|f| dir.join(f)).find(|p| p.exists());
    match file {
        None => {
            eprintln!(
                "note: no weight file in {}; update said:\n{}",
                dir.display(),
                out.describe()
            );
        }
        Some(p) => {
            out.assert_ok();
            // io.weight has another range: 10..1000 maps onto 1..10000.
            let want = if p.ends_with("io.weight") {
                (1 + (300 - 10) * 9999 / 990).to_string()
            } else {
                "300".to_string()
            };
            let text = read_lossy(&p);
            assert!(
                text.split_whitespace().any(|w| w == want),
                "{} holds {text:?}, not {want}",
                p.display()
            );
        }
    }
    fx.rt(&["delete", "--force", &id]).assert_ok();
    fx.assert_clean(&id, &cg);
}

#[test]
fn update_resources_from_stdin_and_file() {
    let fx = Fixture::new("cgupdres");
    let (id, mut b, cg) = fx.container("updres");
    b.linux()["resources"] = json!({"memory": {"limit": 32 * MIB}, "pids": {"limit": 20}});
    b.long_running("");
    start_in(&fx, &b, &id, &cg);

    let out = update_stdin(
        &fx,
        &id,
        &json!({"memory": {"limit": 64 * MIB}, "pids": {"limit": 50}}),
    );
    out.assert_ok();
    cg.assert_limit(Knob::MemoryLimit, Some(64 * MIB));
    cg.assert_limit(Knob::PidsMax, Some(50));

    let file = fx.dir.join("res.json");
    fs::write(
        &file,
        json!({"memory": {"limit": 80 * MIB}, "cpu": {"shares": 300}}).to_string(),
    )
    .unwrap();
    fx.rt(&["update", "--resources", file.to_str().unwrap(), &id])
        .assert_ok();
    cg.assert_limit(Knob::MemoryLimit, Some(80 * MIB));
    cg.assert_limit(Knob::CpuShares, Some(300));
    cg.assert_limit(Knob::PidsMax, Some(50));
    fx.rt(&["delete", "--force", &id]).assert_ok();
    fx.assert_clean(&id, &cg);
}

#[test]
fn update_memory_below_current_usage() {
    let fx = Fixture::new("cgupdlow");
    let (id, mut b, cg) = fx.container("updlow");
    b.linux()["resources"] = json!({"memory": {"limit": 128 * MIB}});
    // The init shell keeps ~24 MiB in a variable and stays alive.
    b.sh(&format!(
        "x=$(head -c 24m /dev/zero | tr '\\0' a); echo {READY}; while :; do sleep 1; done"
    ));
    let (pid, out) = fx.create_ok(&b, &id);
    fx.start_ok(&id);
    wait_for_marker(&out.stdout_path, READY);
    cg.assert_holds(pid);
    let usage = parse_limit(&cg.read(Knob::MemoryUsage)).unwrap_or(0);
    assert!(usage > 8 * MIB, "memory usage is only {usage}");

    let upd = fx.rt(&["update", "--memory", &(4 * MIB).to_string(), &id]);
    eprintln!(
        "update --memory 4MiB with {usage} bytes in use:\n{}",
        upd.describe()
    );
    if upd.success() {
        // Accepted: the limit is in place (the kernel reclaims or OOM-kills).
        cg.assert_limit(Knob::MemoryLimit, Some(4 * MIB));
    } else {
        upd.assert_stderr_has_any(&["memory"]);
        // Refused: the old limit stays and the container is untouched.
        cg.assert_limit(Knob::MemoryLimit, Some(128 * MIB));
        assert!(pid_alive(pid), "the container died after a refused update");
        if testing_ward() {
            upd.assert_error_line("update", &id);
            upd.assert_stderr_has_any(&[Knob::MemoryLimit.file_name()]);
        }
    }
    fx.rt(&["delete", "--force", &id]).assert_ok();
    fx.assert_clean(&id, &cg);
}

// ---------------------------------------------------------------------------
// events
// ---------------------------------------------------------------------------

#[track_caller]
fn check_stats(ev: &Value, id: &str, mem_limit: u64, pids_limit: u64) {
    assert_eq!(ev["type"], "stats", "event: {ev}");
    assert_eq!(ev["id"], json!(id), "event: {ev}");
    let data = &ev["data"];
    assert!(data["cpu"].is_object(), "no cpu stats: {ev}");
    let usage = data["memory"]["usage"]["usage"].as_u64().unwrap_or(0);
    assert!(usage > 0, "memory usage is not > 0: {ev}");
    assert_eq!(
        data["memory"]["usage"]["limit"].as_u64(),
        Some(mem_limit),
        "memory limit in stats: {ev}"
    );
    let current = data["pids"]["current"].as_u64().unwrap_or(0);
    assert!(current >= 1, "pids current is not >= 1: {ev}");
    assert_eq!(
        data["pids"]["limit"].as_u64(),
        Some(pids_limit),
        "pids limit in stats: {ev}"
    );
}

#[test]
fn events_stats_and_interval() {
    let fx = Fixture::new("cgevents");
    let (id, mut b, cg) = fx.container("events");
    b.linux()["resources"] = json!({"memory": {"limit": 64 * MIB}, "pids": {"limit": 25}});
    b.long_running("sleep 1001 & true");
    start_in(&fx, &b, &id, &cg);

    let out = fx.rt(&["events", "--stats", &id]);
    out.assert_ok();
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "events --stats printed:\n{}", out.stdout);
    let ev = parse_event(lines[0]);
    check_stats(&ev, &id, 64 * MIB, 25);
    assert!(
        ev["data"]["pids"]["current"].as_u64().unwrap_or(0) >= 2,
        "init and its sleep are 2 pids: {ev}"
    );

    let stream = fx.spawn(&["events", "--interval", "1s", &id], WAIT_TIMEOUT * 2);
    let mut text = String::new();
    let two = wait_until(WAIT_TIMEOUT, || {
        text = stream.stdout_now();
        complete_lines(&text).len() >= 2
    });
    drop(stream);
    assert!(two, "events --interval 1s did not print 2 lines:\n{text}");
    for line in complete_lines(&text).into_iter().take(2) {
        check_stats(&parse_event(line), &id, 64 * MIB, 25);
    }
    fx.rt(&["delete", "--force", &id]).assert_ok();
    fx.assert_clean(&id, &cg);
}

// ---------------------------------------------------------------------------
// ps, kill --all, delete --force
// ---------------------------------------------------------------------------

#[test]
fn ps_lists_init_and_child() {
    let fx = Fixture::new("cgps");
    let (id, mut b, cg) = fx.container("ps");
    b.long_running("sleep 1001 & true");
    let (pid, _) = start_in(&fx, &b, &id, &cg);
    let procs = wait_procs(&cg, 2);
    let child = *procs.iter().find(|p| **p != pid).expect("child pid");
    wait_exec(child, &["sleep", "1001"]);

    let out = fx.rt(&["ps", "--format", "json", &id]);
    out.assert_ok();
    let v: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("ps --format json is not JSON ({e})\n{}", out.describe()));
    let mut listed: Vec<i64> = v
        .as_array()
        .unwrap_or_else(|| panic!("ps json is not an array: {v}"))
        .iter()
        .map(|p| {
            p.as_i64()
                .unwrap_or_else(|| panic!("non-integer pid in {v}"))
        })
        .collect();
    listed.sort();
    let mut want = vec![pid as i64, child as i64];
    want.sort();
    assert_eq!(listed, want, "ps --format json");

    let out = fx.rt(&["ps", &id]);
    out.assert_ok();
    let mut lines = out.stdout.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().unwrap_or("");
    let col = header
        .split_whitespace()
        .position(|c| c == "PID")
        .unwrap_or_else(|| panic!("ps table has no PID column\n{}", out.describe()));
    // runc prints ps(1)'s own table (`ps -ef`: UID, PID, …), so the PID
    // column is found by its header rather than by position.
    let mut table: Vec<i64> = lines
        .filter_map(|l| l.split_whitespace().nth(col)?.parse().ok())
        .collect();
    table.sort();
    assert_eq!(table, want, "ps table:\n{}", out.stdout);

    // Stopped: no processes, and success (runc 1.1.5 prints its header, and
    // `null` for JSON; ward `[]`).
    fx.rt(&["kill", &id, "KILL"]).assert_ok();
    fx.wait_status(&id, "stopped");
    let out = fx.rt(&["ps", "--format", "json", &id]);
    out.assert_ok();
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert!(
        v.is_null() || v == serde_json::json!([]),
        "{}",
        out.describe()
    );
    let out = fx.rt(&["ps", &id]);
    out.assert_ok();
    assert_eq!(
        out.stdout.lines().filter(|l| !l.trim().is_empty()).count(),
        1,
        "{}",
        out.describe()
    );

    fx.rt(&["delete", "--force", &id]).assert_ok();
    fx.assert_clean(&id, &cg);
}

#[test]
fn kill_all_signals_every_process() {
    let fx = Fixture::new("cgkillall");
    let (id, mut b, cg) = fx.container("killall");
    b.long_running("sleep 1001 & sleep 1002 & sleep 1003 & true");
    let (pid, _) = start_in(&fx, &b, &id, &cg);
    let procs = wait_procs(&cg, 4);
    let children: Vec<(i32, Option<u64>)> = procs
        .iter()
        .filter(|p| **p != pid)
        .map(|p| (*p, pid_starttime(*p)))
        .collect();
    assert_eq!(children.len(), 3);

    // TERM reaches each sleep (init, a pid namespace's init without a
    // handler, is immune to it from here).
    fx.rt(&["kill", "--all", &id, "TERM"]).assert_ok();
    for (p, st) in &children {
        assert!(
            wait_until(WAIT_TIMEOUT, || !same_process_alive(*p, *st)),
            "child {p} survived kill --all TERM"
        );
    }

    fx.rt(&["kill", "--all", &id, "KILL"]).assert_ok();
    assert!(
        wait_until(WAIT_TIMEOUT, || !pid_alive(pid)),
        "init {pid} survived kill --all KILL"
    );
    fx.wait_status(&id, "stopped");
    fx.rt(&["delete", &id]).assert_ok();
    fx.assert_clean(&id, &cg);
}

#[test]
fn kill_all_kill_reaches_every_process() {
    let fx = Fixture::new("cgkillall9");
    let (id, mut b, cg) = fx.container("killall9");
    b.long_running("sleep 1001 & sleep 1002 & sleep 1003 & true");
    let (pid, _) = start_in(&fx, &b, &id, &cg);
    let procs = wait_procs(&cg, 4);
    let all: Vec<(i32, Option<u64>)> = procs.iter().map(|p| (*p, pid_starttime(*p))).collect();
    fx.rt(&["kill", "--all", &id, "KILL"]).assert_ok();
    for (p, st) in &all {
        assert!(
            wait_until(WAIT_TIMEOUT, || !same_process_alive(*p, *st)),
            "process {p} survived kill --all KILL"
        );
    }
    assert!(!pid_alive(pid));
    fx.wait_status(&id, "stopped");
    fx.rt(&["delete", &id]).assert_ok();
    fx.assert_clean(&id, &cg);
}

#[test]
fn delete_force_of_running_container_removes_its_cgroups() {
    let fx = Fixture::new("cgdelforce");
    let (id, mut b, cg) = fx.container("delforce");
    b.linux()["resources"] = json!({"memory": {"limit": 64 * MIB}, "pids": {"limit": 20}});
    b.long_running("sleep 1001 & true");
    let (pid, _) = start_in(&fx, &b, &id, &cg);
    let procs = wait_procs(&cg, 2);
    fx.rt(&["delete", "--force", &id]).assert_ok();
    for p in procs {
        assert!(
            wait_until(WAIT_TIMEOUT, || !pid_alive(p)),
            "process {p} survived delete --force"
        );
    }
    assert!(!pid_alive(pid));
    fx.assert_clean(&id, &cg);
}

// ---------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------

/// `create` of `b` must fail and leave nothing behind (no state, process or
/// cgroup). Returns the output.
#[track_caller]
fn create_refused(fx: &Fixture, b: &Bundle, id: &str, cg: &Cg) -> Out {
    let out = fx.create(b, id);
    eprintln!("{}", out.describe());
    out.assert_fail();
    if testing_ward() {
        out.assert_error_line("create", id);
    }
    fx.assert_clean(id, cg);
    out
}

#[test]
fn bad_cgroups_path_escaping_the_root() {
    let fx = Fixture::new("cgescape");
    let id = fx.id("escape");
    let top = format!(
        "wardtest-esc-{}-{}",
        std::process::id(),
        CG_SEQ.fetch_add(1, Ordering::SeqCst)
    );
    // If a runtime cleans the path lexically it lands in /<top>/x.
    fx.track_cgroup(&format!("/{top}"));
    let cleaned = Cg {
        rel: format!("/{top}/x"),
    };
    let mut b = fx.bundle("b");
    b.linux()["cgroupsPath"] = json!(format!("/../../{top}/x"));
    b.long_running("");
    // Where an unclean path would escape to, from each hierarchy.
    let escaped: Vec<PathBuf> = hierarchies()
        .iter()
        .filter_map(|h| h.mount.parent()?.parent().map(|p| p.join(&top)))
        .collect();

    if testing_ward() {
        let out = create_refused(&fx, &b, &id, &cleaned);
        out.assert_stderr_has_any(&["cgroupsPath"]);
    } else {
        let out = fx.create(&b, &id);
        eprintln!(
            "{} with cgroupsPath /../../{top}/x:\n{}",
            runtime_name(),
            out.describe()
        );
        if out.success() {
            let pid = fx.pid_of(&id);
            // Accepted: it must stay inside the hierarchies.
            cleaned.assert_holds(pid);
            fx.rt(&["delete", "--force", &id]).assert_ok();
            fx.assert_clean(&id, &cleaned);
        } else {
            fx.assert_clean(&id, &cleaned);
        }
    }
    for p in escaped {
        assert!(
            !p.exists(),
            "{} was made outside the cgroup root",
            p.display()
        );
    }
}

#[test]
fn bad_cpuset_outside_host_cpus() {
    let fx = Fixture::new("cgbadcpuset");
    let (id, mut b, cg) = fx.container("badcpuset");
    b.linux()["resources"] = json!({"cpu": {"cpus": "99"}});
    b.long_running("");
    let out = create_refused(&fx, &b, &id, &cg);
    if testing_ward() {
        out.assert_stderr_has_any(&["cpuset.cpus"]);
    }
}

#[test]
fn bad_unified_key() {
    let fx = Fixture::new("cgbadunified");
    let (id, mut b, cg) = fx.container("badunified");
    b.linux()["resources"] = json!({"unified": {"memory.bogus": "1"}});
    b.long_running("");
    let out = create_refused(&fx, &b, &id, &cg);
    if testing_ward() {
        if pure_v2() {
            out.assert_stderr_has_any(&["memory.bogus"]);
        } else {
            out.assert_stderr_has_any(&["unified", "cgroup v2", "memory.bogus"]);
        }
    }
}

#[test]
fn bad_device_rule_type() {
    let fx = Fixture::new("cgbaddev");
    let (id, mut b, cg) = fx.container("baddev");
    b.linux()["resources"] = json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "x", "major": 1, "minor": 3, "access": "rw"}
    ]});
    b.long_running("");
    let out = create_refused(&fx, &b, &id, &cg);
    if testing_ward() {
        out.assert_stderr_has_any(&["type", "device"]);
    }
}

#[test]
fn bad_update_of_a_missing_container() {
    let fx = Fixture::new("cgupdmissing");
    let id = fx.id("missing");
    let out = fx.rt(&["update", "--memory", "64m", &id]);
    out.assert_fail();
    out.assert_stderr_has_any(&["does not exist", "not exist", "not found"]);
    if testing_ward() {
        out.assert_error_line("update", &id);
    }
    fx.assert_nothing_left(&[&id]);
}

// ---------------------------------------------------------------------------
// A tiny memory limit
// ---------------------------------------------------------------------------

#[test]
fn tiny_memory_limit_512k_runs_echo() {
    let fx = Fixture::new("cgtiny");
    let (id, mut b, cg) = fx.container("tiny");
    b.linux()["resources"] = json!({"memory": {"limit": 524288, "swap": 524288}});
    b.set_args(&["echo", "hi"]);
    if !testing_ward() {
        let out = fx.run(&b, &id);
        eprintln!(
            "SKIP: 512 KiB memory limit: ward-only; {} did:\n{}",
            runtime_name(),
            out.describe()
        );
        fx.rt(&["delete", "--force", &id]);
        return;
    }
    b.write();
    let (pid, out) = fx.create_ok(&b, &id);
    cg.assert_limit(Knob::MemoryLimit, Some(524288));
    cg.assert_swap(524288, 524288);
    cg.assert_holds(pid);
    fx.start_ok(&id);
    fx.wait_status(&id, "stopped");
    assert_eq!(out.stdout_now(), "hi\n", "output of echo hi");
    fx.rt(&["delete", &id]).assert_ok();
    fx.assert_clean(&id, &cg);
    // And as a foreground run.
    let (id, mut b, cg) = fx.container("tinyrun");
    b.linux()["resources"] = json!({"memory": {"limit": 524288, "swap": 524288}});
    b.set_args(&["echo", "hi"]);
    assert_eq!(fx.run_ok(&b, &id), "hi\n");
    fx.assert_clean(&id, &cg);
}

/// linux.resources.network: written to net_cls and net_prio where a v1
/// hierarchy has them; refused in one line, with nothing made, where none
/// does (this host, hybrid, leaves them unmounted; a pure-v2 host has
/// none at all).
#[test]
fn resources_network_is_written_or_refused_in_one_line() {
    let fx = Fixture::new("cgnet");
    let (id, mut b, cg) = fx.container("net");
    b.linux()["resources"] = json!({
        "network": {"classID": 1048577, "priorities": [{"name": "lo", "priority": 5}]}
    });
    let v1 = |c: &str| {
        hierarchies()
            .iter()
            .find(|h| !h.v2 && h.controllers.iter().any(|x| x == c))
    };
    match (v1("net_cls"), v1("net_prio")) {
        (Some(cls), Some(prio)) if !pure_v2() => {
            b.long_running("");
            start_in(&fx, &b, &id, &cg);
            let read = |h: &Hierarchy, f: &str| read_lossy(&cg.dir_in(h).join(f));
            assert_eq!(read(cls, "net_cls.classid").trim(), "1048577");
            assert!(
                read(prio, "net_prio.ifpriomap")
                    .lines()
                    .any(|l| l == "lo 5"),
                "{}",
                read(prio, "net_prio.ifpriomap")
            );
            fx.rt(&["delete", "--force", &id]).assert_ok();
        }
        _ => {
            if skip_unless_ward("the refusal of linux.resources.network") {
                return;
            }
            eprintln!("net_cls/net_prio are not mounted here: the config must be refused");
            let out = fx.create(&b, &id);
            out.assert_error_line("create", &id);
            assert!(
                out.stderr.contains("net_cls"),
                "the error does not name net_cls: {}",
                out.describe()
            );
            fx.assert_nothing_left(&[&id]);
        }
    }
    fx.assert_clean(&id, &cg);
}
