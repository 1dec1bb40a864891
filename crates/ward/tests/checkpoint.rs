//! checkpoint and restore (issue 16), against the real kernel and Debian's
//! criu. Where criu can't work (this host: criu 3.17's self-test fails on
//! kernel 6.18) every test that needs it says SKIP with the reason, and
//! the host runs what needs no CRIU: flag checks, status checks, bad
//! images and IDs, and the clean refusal itself. In the test VM
//! (scripts/vm-test.sh: Debian's 6.1 kernel, pure cgroup v2) they all run.
//!
//! Kept lean for the emulated guest: small containers, one checkpoint and
//! one restore per test where that shows the point, several failure cases
//! sharing one set of images.

mod common;
mod engine_support;

use common::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// Bound on one checkpoint or restore under emulation.
const CR_TIMEOUT: Duration = Duration::from_secs(180);

// ---------------------------------------------------------------------------
// Whether CRIU works here
// ---------------------------------------------------------------------------

/// None when criu works on this kernel; else why not (criu's self-test,
/// run once per test binary).
fn criu_broken() -> Option<&'static str> {
    static WHY: OnceLock<Option<String>> = OnceLock::new();
    WHY.get_or_init(|| {
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Some("needs root".into());
        }
        let Some(criu) = ["/usr/sbin/criu", "/sbin/criu", "/usr/bin/criu"]
            .iter()
            .find(|p| Path::new(p).is_file())
        else {
            return Some("criu is not installed".into());
        };
        let dir = std::env::temp_dir();
        let out = run_host(&dir, criu, &["check"]);
        if out.success() {
            None
        } else {
            let why = out
                .stderr
                .lines()
                .chain(out.stdout.lines())
                .find(|l| l.contains("Error"))
                .unwrap_or("criu check fails")
                .to_string();
            Some(format!(
                "criu check fails on this kernel ({}): {why}",
                fs::read_to_string("/proc/sys/kernel/osrelease")
                    .unwrap_or_default()
                    .trim()
            ))
        }
    })
    .as_deref()
}

fn criu_bin() -> &'static str {
    ["/usr/sbin/criu", "/sbin/criu", "/usr/bin/criu"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .unwrap_or("criu")
}

/// Asserts that nothing of the container `id` exists (its state entry,
/// cgroup, a temporary directory of its create) and that no process
/// appeared besides `baseline` (another container of the test may run).
#[track_caller]
fn assert_gone(ctx: &Ctx, id: &str, baseline: &[i32]) {
    let mut last = Vec::new();
    let ok = wait_until(Duration::from_secs(5), || {
        last.clear();
        if ctx.root.join(id).exists() {
            last.push(format!("state entry {id}"));
        }
        for n in names(&ctx.root) {
            if n.starts_with(".new-") && n.ends_with(id) {
                last.push(format!("temporary dir {n}"));
            }
        }
        for cg in cgroups_named(id) {
            last.push(format!("cgroup {}", cg.display()));
        }
        for p in ctx.related_pids() {
            if !baseline.contains(&p) {
                last.push(format!("process {p} {:?}", proc_cmdline(p)));
            }
        }
        last.is_empty()
    });
    assert!(ok, "left behind by {id}: {last:?}");
}

/// Prints how long a test took when it ends (for docs/testing.md: the
/// tests run two at a time in the guest, so each is wall time beside one
/// other).
struct Timer(&'static str, Instant);

impl Drop for Timer {
    fn drop(&mut self) {
        eprintln!("TIME {}: {:.1} s", self.0, self.1.elapsed().as_secs_f64());
    }
}

/// For the tests that need a working CRIU: prints SKIP and returns true
/// where there is none (or another runtime is under test).
fn skip_without_criu(test: &str) -> bool {
    if skip_unless_ward(test) {
        return true;
    }
    match criu_broken() {
        Some(why) => {
            eprintln!("SKIP: {test}: {why} (runs in the test VM: scripts/vm-test.sh)");
            true
        }
        None => false,
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A runtime command with its stdio as given, bounded in time.
struct Run {
    code: Option<i32>,
    stderr: String,
    took: Duration,
}

impl Run {
    #[track_caller]
    fn ok(&self, what: &str) -> &Self {
        assert_eq!(self.code, Some(0), "{what} failed: {}", self.stderr);
        self
    }

    /// Fails with exactly one `ward: <cmd> <id>: ...` line.
    #[track_caller]
    fn one_line_error(&self, cmd: &str, id: &str) -> String {
        assert!(
            self.code.is_some() && self.code != Some(0),
            "{cmd} {id} was expected to fail: {}",
            self.stderr
        );
        let t = self.stderr.trim_end();
        assert!(!t.contains('\n'), "more than one line on stderr:\n{t}");
        let prefix = format!("ward: {cmd} {id}: ");
        assert!(t.starts_with(&prefix), "not a {prefix:?} line: {t}");
        t.to_string()
    }
}

fn spawn_rt(
    ctx: &Ctx,
    args: &[&str],
    stdin: Stdio,
    stdout: Stdio,
) -> (std::process::Child, PathBuf) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let err = ctx.dir.join(format!("rt{n}.err"));
    let mut cmd = ctx.command(args);
    // Appending: a container's stderr that is this file can be handed
    // any file at restore (see stdout_to_a_pipe_and_to_a_plain_file).
    let f = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&err)
        .unwrap();
    cmd.stdin(stdin).stdout(stdout).stderr(f);
    (cmd.spawn().expect("spawn ward"), err)
}

#[track_caller]
fn wait_child(mut c: std::process::Child, err: &Path, timeout: Duration) -> Run {
    let start = Instant::now();
    loop {
        if let Some(st) = c.try_wait().unwrap() {
            return Run {
                code: st.code(),
                stderr: read_lossy(err),
                took: start.elapsed(),
            };
        }
        if start.elapsed() > timeout {
            let _ = c.kill();
            let _ = c.wait();
            panic!("TIMEOUT after {timeout:?}: {}", read_lossy(err));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the runtime with stdin from /dev/null and stdout appended to `out`.
#[track_caller]
fn rt_out(ctx: &Ctx, args: &[&str], out: &Path, timeout: Duration) -> Run {
    let f = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(out)
        .unwrap();
    let (c, err) = spawn_rt(ctx, args, Stdio::null(), Stdio::from(f));
    wait_child(c, &err, timeout)
}

/// `run -d` with stdout appended to `<dir>/<id>.out`; returns the file.
#[track_caller]
fn run_detached(ctx: &Ctx, b: &Bundle, id: &str) -> PathBuf {
    b.write();
    let out = ctx.dir.join(format!("{id}.out"));
    rt_out(
        ctx,
        &["run", "-d", "--bundle", b.path(), id],
        &out,
        CMD_TIMEOUT,
    )
    .ok("run -d");
    out
}

#[track_caller]
fn checkpoint(ctx: &Ctx, id: &str, img: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["checkpoint", "--image-path", img.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(id);
    rt_out(ctx, &args, &ctx.dir.join("checkpoint.out"), CR_TIMEOUT)
}

/// The arguments of `restore -d` of `img` as `id`, the bundle written.
fn restore_args<'a>(b: &'a Bundle, id: &'a str, img: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    b.write();
    let mut args = vec![
        "restore",
        "-d",
        "--image-path",
        img.to_str().unwrap(),
        "--bundle",
        b.path(),
    ];
    args.extend_from_slice(extra);
    args.push(id);
    args
}

/// `restore -d`, stdout appended to `out`.
#[track_caller]
fn restore(ctx: &Ctx, b: &Bundle, id: &str, img: &Path, out: &Path, extra: &[&str]) -> Run {
    rt_out(ctx, &restore_args(b, id, img, extra), out, CR_TIMEOUT)
}

/// A counter: writes 1, 2, 3... to stdout and to /tmp/count in the rootfs.
fn counter(b: &mut Bundle) {
    b.sh("i=0; while :; do i=$((i+1)); echo $i; echo $i > /tmp/count; sleep 0.1; done");
}

fn count(b: &Bundle) -> u64 {
    read_lossy(&b.rootfs().join("tmp/count"))
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Waits until the counter passes `n`; returns its value.
#[track_caller]
fn count_past(b: &Bundle, n: u64) -> u64 {
    let mut last = 0;
    assert!(
        wait_until(Duration::from_secs(60), || {
            last = count(b);
            last > n
        }),
        "the counter never passed {n} (last {last})"
    );
    last
}

fn status_field_of(pid: i32, f: &str) -> String {
    status_field(pid, f).unwrap_or_default()
}

/// The names in a directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn pages_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("pages-"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

/// The memory program: fills N MiB with a pattern, prints READY, and on
/// each SIGUSR1 checks every page and prints `CHECKED pages bad N`.
const MEMTEST_C: &str = r#"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static volatile sig_atomic_t go;
static void on_usr1(int s) { (void)s; go = 1; }
static unsigned long want(size_t page, size_t off) { return (page * 2654435761UL) ^ off; }
int main(int argc, char **argv) {
    size_t n = (size_t)atoi(argv[1]) << 20, ps = 4096;
    unsigned char *p = malloc(n);
    if (!p) return 1;
    for (size_t i = 0; i < n; i += ps)
        for (size_t j = 0; j < ps; j += 8) *(unsigned long *)(p + i + j) = want(i / ps, j);
    signal(SIGUSR1, on_usr1);
    printf("READY %zu\n", n >> 20);
    fflush(stdout);
    for (;;) {
        pause();
        if (!go) continue;
        go = 0;
        size_t bad = 0;
        for (size_t i = 0; i < n; i += ps)
            for (size_t j = 0; j < ps; j += 8)
                if (*(unsigned long *)(p + i + j) != want(i / ps, j)) { bad++; break; }
        printf("CHECKED %zu bad %zu\n", n / ps, bad);
        fflush(stdout);
    }
}
"#;

/// The memory program, built once per test binary; None (after a SKIP
/// line) without a C compiler.
fn memtest(ctx: &Ctx, test: &str) -> Option<PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        let keep = std::env::temp_dir().join(format!("ward-memtest-{}", std::process::id()));
        build_static_c(ctx, MEMTEST_C, &keep, test).then_some(keep)
    })
    .clone()
}

/// A bundle running the memory program over `mib` MiB.
fn memory_bundle(ctx: &Ctx, name: &str, mib: u32, test: &str) -> Option<Bundle> {
    let bin = memtest(ctx, test)?;
    let mut b = ctx.bundle(name);
    fs::copy(&bin, b.rootfs().join("bin/memtest")).unwrap();
    b.set_args(&["memtest", &mib.to_string()]);
    Some(b)
}

/// Signals the memory program and waits for its verdict in `out`; returns
/// (pages, bad).
#[track_caller]
fn check_memory(ctx: &Ctx, id: &str, out: &Path) -> (u64, u64) {
    let before = read_lossy(out).matches("CHECKED").count();
    ctx.rt(&["kill", id, "USR1"]).assert_ok();
    let mut text = String::new();
    assert!(
        wait_until(Duration::from_secs(120), || {
            text = read_lossy(out);
            text.matches("CHECKED").count() > before
        }),
        "no CHECKED line in {}:\n{text}",
        out.display()
    );
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with("CHECKED"))
        .unwrap();
    let f: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (f[0], f[1])
}

fn cgroup_procs(id: &str) -> Vec<i32> {
    let dirs = cgroups_named(id);
    dirs.iter()
        .flat_map(|d| {
            read_lossy(&d.join("cgroup.procs"))
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

// ---------------------------------------------------------------------------
// What needs no CRIU (host and guest)
// ---------------------------------------------------------------------------

/// On a kernel this criu can't handle, checkpoint refuses before anything
/// happens: one line naming criu, the kernel and the fix; the container
/// runs on, its state untouched, no images directory made.
#[test]
fn checkpoint_refuses_cleanly_where_criu_cannot_work() {
    if skip_unless_ward("checkpoint_refuses_cleanly_where_criu_cannot_work") {
        return;
    }
    if criu_broken().is_none() {
        eprintln!(
            "SKIP: checkpoint_refuses_cleanly_where_criu_cannot_work: criu works on this kernel"
        );
        return;
    }
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP: checkpoint_refuses_cleanly_where_criu_cannot_work: needs root");
        return;
    }
    let ctx = Ctx::new("cr-refuse");
    let mut b = ctx.bundle("b");
    counter(&mut b);
    let id = ctx.id("refuse");
    run_detached(&ctx, &b, &id);
    let state_file = ctx.root.join(&id).join("state.json");
    let before = fs::read(&state_file).unwrap();
    let img = ctx.dir.join("img");
    let r = checkpoint(&ctx, &id, &img, &[]);
    let line = r.one_line_error("checkpoint", &id);
    assert!(line.contains("criu"), "{line}");
    assert!(line.contains("does not work with this kernel"), "{line}");
    assert!(line.contains("would fix it"), "{line}");
    assert!(!img.exists(), "an images directory was made");
    assert_eq!(fs::read(&state_file).unwrap(), before, "state.json changed");
    assert_eq!(ctx.status(&id).as_deref(), Some("running"));
    let n = count(&b);
    count_past(&b, n);
    // The same for restore of images ward made, before it makes anything.
    let fake = ctx.dir.join("fake");
    fs::create_dir(&fake).unwrap();
    fs::write(fake.join("inventory.img"), b"x").unwrap();
    fs::write(
        fake.join("ward-checkpoint.json"),
        json!({"madeBy": "ward", "kind": "dump", "id": "x", "bundle": b.path(),
               "rootfs": b.rootfs(), "stdio": [], "created": ""})
        .to_string(),
    )
    .unwrap();
    let r = restore(&ctx, &b, "wt-never", &fake, &ctx.dir.join("o"), &[]);
    let line = r.one_line_error("restore", "wt-never");
    assert!(line.contains("does not work with this kernel"), "{line}");
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id, "wt-never"]);
}

/// checkpoint of an unknown, created or stopped container fails as runc's
/// does, with one line, before CRIU is asked anything.
#[test]
fn checkpoint_refuses_unknown_created_and_stopped_containers() {
    if skip_unless_ward("checkpoint_refuses_unknown_created_and_stopped_containers") {
        return;
    }
    let ctx = Ctx::new("cr-status");
    let img = ctx.dir.join("img");
    let r = checkpoint(&ctx, "wt-nosuch", &img, &[]);
    assert!(r
        .one_line_error("checkpoint", "wt-nosuch")
        .contains("does not exist"));
    let mut b = ctx.bundle("b");
    b.set_args(&["sleep", "100"]);
    let id = ctx.id("created");
    ctx.create_ok(&b, &id);
    let r = checkpoint(&ctx, &id, &img, &[]);
    let line = r.one_line_error("checkpoint", &id);
    assert!(
        line.ends_with("cannot checkpoint container: it is created"),
        "{line}"
    );
    let mut b2 = ctx.bundle("b2");
    b2.set_args(&["true"]);
    let stopped = ctx.id("stopped");
    ctx.create_ok(&b2, &stopped);
    ctx.start_ok(&stopped);
    ctx.wait_status(&stopped, "stopped");
    let r = checkpoint(&ctx, &stopped, &img, &[]);
    let line = r.one_line_error("checkpoint", &stopped);
    assert!(
        line.ends_with("cannot checkpoint container: it is stopped"),
        "{line}"
    );
    assert!(!img.exists());
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.rt(&["delete", "--force", &stopped]).assert_ok();
    ctx.assert_nothing_left(&[&id, &stopped]);
}

/// Bad flags are refused with one line before anything starts.
#[test]
fn bad_checkpoint_and_restore_flags_are_one_line_each() {
    if skip_unless_ward("bad_checkpoint_and_restore_flags_are_one_line_each") {
        return;
    }
    let ctx = Ctx::new("cr-flags");
    let mut b = ctx.bundle("b");
    b.set_args(&["sleep", "100"]);
    let id = ctx.id("flags");
    run_detached(&ctx, &b, &id);
    let img = ctx.dir.join("img");
    for (extra, want) in [
        (
            &["--manage-cgroups-mode", "bogus"][..],
            "not one of soft, full, strict, ignore",
        ),
        (&["--page-server", "nocolon"], "use ADDRESS:PORT"),
        (&["--empty-ns", "pid"], "namespace is not supported"),
        (&["--parent-path", "/abs"], "must be relative"),
        (&["--parent-path", "missing"], "is not a directory"),
        (&["--status-fd", "77"], "--status-fd 77"),
    ] {
        let r = checkpoint(&ctx, &id, &img, extra);
        let line = r.one_line_error("checkpoint", &id);
        assert!(line.contains(want), "{extra:?}: {line}");
        assert_eq!(ctx.status(&id).as_deref(), Some("running"));
    }
    assert!(!img.exists());
    ctx.rt(&["delete", "--force", &id]).assert_ok();
}

/// A restore that fails before CRIU leaves nothing: a missing or empty
/// images directory, a checkpoint ward did not make, an ID that exists.
#[test]
fn restore_refuses_bad_images_and_taken_ids_leaving_nothing() {
    if skip_unless_ward("restore_refuses_bad_images_and_taken_ids_leaving_nothing") {
        return;
    }
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP: restore_refuses_bad_images_and_taken_ids_leaving_nothing: needs root");
        return;
    }
    let ctx = Ctx::new("cr-badimg");
    let mut b = ctx.bundle("b");
    b.set_args(&["sleep", "100"]);
    let id = ctx.id("new");
    let out = ctx.dir.join("o");
    let missing = ctx.dir.join("missing");
    let line = restore(&ctx, &b, &id, &missing, &out, &[]).one_line_error("restore", &id);
    assert!(line.contains("no such directory"), "{line}");
    let empty = ctx.dir.join("empty");
    fs::create_dir(&empty).unwrap();
    let line = restore(&ctx, &b, &id, &empty, &out, &[]).one_line_error("restore", &id);
    assert!(line.contains("no checkpoint there"), "{line}");
    // Another runtime's images: CRIU's inventory and runc's descriptors,
    // no record of ward's.
    let other = ctx.dir.join("other");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("inventory.img"), b"\x54\x48\x4f\x52").unwrap();
    fs::write(other.join("descriptors.json"), "[\"/dev/null\"]").unwrap();
    let line = restore(&ctx, &b, &id, &other, &out, &[]).one_line_error("restore", &id);
    assert!(line.contains("a checkpoint ward did not make"), "{line}");
    // A taken ID: the running container is left alone.
    let taken = ctx.id("taken");
    run_detached(&ctx, &b, &taken);
    let pid = ctx.pid_of(&taken);
    let line = restore(&ctx, &b, &taken, &other, &out, &[]).one_line_error("restore", &taken);
    assert!(line.contains("container with id exists"), "{line}");
    assert_eq!(ctx.pid_of(&taken), pid);
    // --systemd-cgroup where no systemd runs: refused as create refuses
    // it, before CRIU is asked anything.
    if !Path::new("/run/systemd/system").exists() {
        let ours = ctx.dir.join("ours");
        fs::create_dir(&ours).unwrap();
        fs::write(ours.join("inventory.img"), b"\x54\x48\x4f\x52").unwrap();
        let meta = json!({"madeBy": "ward", "kind": "dump", "id": id, "bundle": b.path(),
            "rootfs": b.rootfs(), "stdio": [], "created": "2026-01-01T00:00:00Z"});
        fs::write(ours.join("ward-checkpoint.json"), meta.to_string()).unwrap();
        b.linux()["cgroupsPath"] = json!(format!("system.slice:ward:{id}"));
        b.write();
        let r = rt_out(
            &ctx,
            &[
                "--systemd-cgroup",
                "restore",
                "-d",
                "--image-path",
                ours.to_str().unwrap(),
                "--bundle",
                b.path(),
                &id,
            ],
            &out,
            CR_TIMEOUT,
        );
        let line = r.one_line_error("restore", &id);
        assert!(line.contains("systemd is not running"), "{line}");
    }
    ctx.rt(&["delete", "--force", &taken]).assert_ok();
    ctx.assert_nothing_left(&[&id, &taken]);
}

/// Without root, checkpoint and restore are refused with one line that
/// says why: Debian's criu 3.17 has no unprivileged mode.
#[test]
fn rootless_checkpoint_and_restore_are_refused() {
    let t = "rootless_checkpoint_and_restore_are_refused";
    if skip_unless_ward(t) {
        return;
    }
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("SKIP: {t}: needs root and setpriv to become another user");
        return;
    }
    let ctx = Ctx::new("cr-rootless");
    fs::set_permissions(
        &ctx.dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let root = ctx.dir.join("user-root");
    for args in [
        vec!["checkpoint", "--image-path", "/tmp/none", "c1"],
        vec!["restore", "--image-path", "/tmp/none", "c1"],
    ] {
        let mut cmd = Command::new("/usr/bin/setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(runtime_bin())
            .arg("--root")
            .arg(&root)
            .args(&args);
        let out = ctx.spawn_cmd(cmd, CMD_TIMEOUT).wait();
        let line = out.stderr.trim_end().to_string();
        assert!(
            !line.contains('\n') && out.code == Some(1),
            "{}",
            out.describe()
        );
        assert!(
            line.starts_with(&format!("ward: {} c1: {} needs root", args[0], args[0]))
                && line.contains("no unprivileged mode"),
            "{line}"
        );
    }
    assert!(!root.exists(), "a root directory was made");
}

// ---------------------------------------------------------------------------
// With CRIU (the test VM)
// ---------------------------------------------------------------------------

/// A counter keeps counting from where it was; the restored container is
/// a real ward container: state, list, ps, events, exec, pause, resume,
/// kill, delete, checkpoint again, and its hooks; its seccomp, capabilities
/// and no_new_privs are the same; stdout that was a file opened for
/// appending goes on into the file the restore was given.
#[test]
fn counter_continues_and_the_restored_container_is_a_real_one() {
    let t = "counter_continues_and_the_restored_container_is_a_real_one";
    if skip_without_criu(t) {
        return;
    }
    let _time = Timer(t, Instant::now());
    let ctx = Ctx::new("cr-counter");
    let mut b = ctx.bundle("b");
    counter(&mut b);
    // An external bind mount: the counter also goes to a host directory.
    let data = ctx.dir.join("data");
    fs::create_dir(&data).unwrap();
    b.add_mount(json!({"destination": "/data", "type": "bind", "source": data.to_str().unwrap(), "options": ["rbind", "rw"]}));
    b.sh("i=0; while :; do i=$((i+1)); echo $i; echo $i > /tmp/count; echo $i > /data/count; sleep 0.1; done");
    b.linux()["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO"}]
    });
    let hooklog = ctx.dir.join("hooks.log");
    let hook = ctx.dir.join("hook.sh");
    fs::write(
        &hook,
        format!("#!/bin/sh\necho \"$1 $(cat)\" >> {}\n", hooklog.display()),
    )
    .unwrap();
    fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let h = |kind: &str| json!([{"path": hook.to_str().unwrap(), "args": ["hook.sh", kind]}]);
    b.config["hooks"] =
        json!({"prestart": h("prestart"), "poststart": h("poststart"), "poststop": h("poststop")});
    let id = ctx.id("counter");
    let out = run_detached(&ctx, &b, &id);
    let at = count_past(&b, 3);
    let pid = ctx.pid_of(&id);
    let (seccomp, nnp, caps) = (
        status_field_of(pid, "Seccomp"),
        status_field_of(pid, "NoNewPrivs"),
        status_field_of(pid, "CapEff"),
    );
    let img = ctx.dir.join("img");
    let r = checkpoint(&ctx, &id, &img, &[]);
    r.ok("checkpoint");
    eprintln!("checkpoint took {:?}", r.took);
    // Without --leave-running the container is gone, as with runc.
    assert!(ctx.status(&id).is_none(), "the container is still there");
    assert!(cgroups_named(&id).is_empty(), "its cgroup is still there");
    let frozen = count(&b);
    assert!(frozen >= at);
    let out2 = ctx.dir.join("restored.out");
    fs::write(&hooklog, "").unwrap();
    let r = restore(&ctx, &b, &id, &img, &out2, &[]);
    r.ok("restore");
    eprintln!("restore took {:?}", r.took);
    let again = count_past(&b, frozen);
    assert!(
        again < frozen + 1000,
        "the counter restarted or jumped: {frozen} -> {again}"
    );
    // stdout goes on in the restore's file, not the old one.
    let old_len = fs::metadata(&out).unwrap().len();
    assert!(
        wait_until(WAIT_TIMEOUT, || read_lossy(&out2).lines().count() >= 2),
        "nothing written to the restore's stdout"
    );
    let first: u64 = read_lossy(&out2)
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        first > frozen && first <= frozen + 2,
        "{frozen} then {first}"
    );
    assert_eq!(
        fs::metadata(&out).unwrap().len(),
        old_len,
        "the old stdout file grew"
    );

    let st = ctx.state(&id);
    assert_eq!(st["status"], "running");
    let npid = st["pid"].as_i64().unwrap() as i32;
    assert_eq!(status_field_of(npid, "Seccomp"), seccomp);
    assert_eq!(status_field_of(npid, "NoNewPrivs"), nnp);
    assert_eq!(status_field_of(npid, "CapEff"), caps);
    assert!(
        cgroup_procs(&id).contains(&npid),
        "init is not in the container's cgroup"
    );
    let list = ctx.rt(&["list", "-q"]);
    assert!(list.stdout.lines().any(|l| l == id), "{}", list.stdout);
    let ps = ctx.rt(&["ps", "--format", "json", &id]);
    ps.assert_ok();
    assert!(ps.stdout.contains(&npid.to_string()), "{}", ps.stdout);
    let ev = ctx.rt(&["events", "--stats", &id]);
    ev.assert_ok();
    assert!(ev.stdout.contains("\"pids\""), "{}", ev.stdout);
    let ex = ctx.rt(&["exec", &id, "cat", "/tmp/count"]);
    ex.assert_ok();
    let log = read_lossy(&hooklog);
    assert!(
        log.contains("prestart ") && log.contains("poststart "),
        "{log}"
    );
    assert!(
        log.contains(&format!("\"pid\":{npid}")),
        "hooks got another pid: {log}"
    );
    ctx.rt(&["pause", &id]).assert_ok();
    assert_eq!(ctx.status(&id).as_deref(), Some("paused"));
    let p = count(&b);
    thread::sleep(Duration::from_millis(500));
    assert_eq!(count(&b), p, "counting while paused");
    ctx.rt(&["resume", &id]).assert_ok();
    count_past(&b, p);
    // Checkpoint again, this time leaving it running.
    let img2 = ctx.dir.join("img2");
    checkpoint(&ctx, &id, &img2, &["--leave-running"]).ok("second checkpoint");
    assert_eq!(ctx.status(&id).as_deref(), Some("running"));
    count_past(&b, count(&b));
    ctx.rt(&["kill", &id, "KILL"]).assert_ok();
    ctx.wait_status(&id, "stopped");
    ctx.rt(&["delete", &id]).assert_ok();
    assert!(
        read_lossy(&hooklog).contains("poststop "),
        "no poststop hook"
    );
    ctx.assert_nothing_left(&[&id]);
}

/// A foreground restore waits for the process, exits with its code, and
/// deletes the container, as `run` does.
#[test]
fn foreground_restore_exits_with_the_process_code() {
    let t = "foreground_restore_exits_with_the_process_code";
    if skip_without_criu(t) {
        return;
    }
    let _time = Timer(t, Instant::now());
    let ctx = Ctx::new("cr-fg");
    let mut b = ctx.bundle("b");
    b.sh("echo up > /tmp/up; while [ ! -e /tmp/stop ]; do sleep 0.1; done; exit 7");
    let id = ctx.id("fg");
    run_detached(&ctx, &b, &id);
    assert!(wait_until(WAIT_TIMEOUT, || b
        .rootfs()
        .join("tmp/up")
        .exists()));
    let img = ctx.dir.join("img");
    checkpoint(&ctx, &id, &img, &[]).ok("checkpoint");
    let args = [
        "restore",
        "--image-path",
        img.to_str().unwrap(),
        "--bundle",
        b.path(),
        &id,
    ];
    // The container's stdout was a file (appending): restore's is another.
    let out = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(ctx.dir.join("fg2.out"))
        .unwrap();
    let (mut c, err) = spawn_rt(&ctx, &args, Stdio::null(), Stdio::from(out));
    let running = wait_until(CR_TIMEOUT, || {
        ctx.status(&id).as_deref() == Some("running") || c.try_wait().unwrap().is_some()
    });
    assert!(
        running && c.try_wait().unwrap().is_none(),
        "the foreground restore did not get the container running: {}",
        read_lossy(&err)
    );
    fs::write(b.rootfs().join("tmp/stop"), "").unwrap();
    let r = wait_child(c, &err, CR_TIMEOUT);
    assert_eq!(r.code, Some(7), "foreground restore: {}", r.stderr);
    assert!(ctx.status(&id).is_none(), "the container is still there");
    ctx.assert_nothing_left(&[&id]);
}

/// A terminal container: its pty master goes to --console-socket at run,
/// and a new one (CRIU makes the pty again) at restore; the shell behind
/// it answers.
#[test]
fn console_socket_gets_the_restored_terminal() {
    use std::io::Write;
    use std::os::unix::net::UnixListener;
    let t = "console_socket_gets_the_restored_terminal";
    if skip_without_criu(t) {
        return;
    }
    let _time = Timer(t, Instant::now());
    let ctx = Ctx::new("cr-tty");
    let mut b = ctx.bundle("b");
    b.process()["terminal"] = json!(true);
    b.sh("echo TTY-UP; while read l; do echo \"got:$l\"; done");
    b.write();
    let id = ctx.id("tty");
    let sock = ctx.dir.join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let master = receive_console_master(&listener, || {
        ctx.rt(&[
            "run",
            "-d",
            "--console-socket",
            sock.to_str().unwrap(),
            "--bundle",
            b.path(),
            &id,
        ])
        .assert_ok();
    });
    assert!(read_pty_until(&master, "TTY-UP", WAIT_TIMEOUT).contains("TTY-UP"));
    let img = ctx.dir.join("img");
    checkpoint(&ctx, &id, &img, &[]).ok("checkpoint");
    drop(master);
    let master = receive_console_master(&listener, || {
        restore(
            &ctx,
            &b,
            &id,
            &img,
            &ctx.dir.join("o"),
            &["--console-socket", sock.to_str().unwrap()],
        )
        .ok("restore --console-socket");
    });
    let mut f = fs::File::from(master.try_clone().unwrap());
    f.write_all(b"hello\n").unwrap();
    let text = read_pty_until(&master, "got:hello", WAIT_TIMEOUT);
    assert!(
        text.contains("got:hello"),
        "the restored terminal: {text:?}"
    );
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

/// A network namespace joined by path is left alone by the dump (external)
/// and the restored container is in that same namespace again.
#[test]
fn namespace_joined_by_path_is_reconnected() {
    let t = "namespace_joined_by_path_is_reconnected";
    if skip_without_criu(t) {
        return;
    }
    let _time = Timer(t, Instant::now());
    let ctx = Ctx::new("cr-nspath");
    let pin = ctx.dir.join("netns");
    fs::write(&pin, "").unwrap();
    ctx.host("unshare", &[&format!("--net={}", pin.display()), "true"])
        .assert_ok();
    ctx.track_host_mount(&pin);
    let ino = |p: &str| {
        fs::metadata(p)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap_or(0)
    };
    let want = ino(pin.to_str().unwrap());
    let mut b = ctx.bundle("b");
    b.set_namespace(
        "network",
        json!({"type": "network", "path": pin.to_str().unwrap()}),
    );
    counter(&mut b);
    let id = ctx.id("nspath");
    run_detached(&ctx, &b, &id);
    assert_eq!(ino(&format!("/proc/{}/ns/net", ctx.pid_of(&id))), want);
    let img = ctx.dir.join("img");
    checkpoint(&ctx, &id, &img, &[]).ok("checkpoint");
    let frozen = count(&b);
    restore(&ctx, &b, &id, &img, &ctx.dir.join("o"), &[]).ok("restore");
    assert_eq!(
        ino(&format!("/proc/{}/ns/net", ctx.pid_of(&id))),
        want,
        "another network namespace"
    );
    count_past(&b, frozen);
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.host("umount", &[pin.to_str().unwrap()]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

/// What checkpoint did with the container's network namespace, from the
/// images' record: ("fresh" | "whole" | "empty", lo up, why whole).
fn network_of(img: &Path) -> (String, bool, String) {
    let m: serde_json::Value =
        serde_json::from_str(&read_lossy(&img.join("ward-checkpoint.json"))).unwrap_or_default();
    (
        m["network"].as_str().unwrap_or("").to_string(),
        m["loUp"].as_bool().unwrap_or(false),
        m["networkWholeBecause"].as_str().unwrap_or("").to_string(),
    )
}

/// A network namespace that holds nothing a fresh one doesn't is dumped
/// empty (lo's state recorded); one with an address, a route, a rule, a
/// changed sysctl or a firewall table is dumped whole, and comes back with
/// them.
#[test]
fn network_namespace_dumped_empty_only_when_it_holds_nothing() {
    let t = "network_namespace_dumped_empty_only_when_it_holds_nothing";
    if skip_without_criu(t) {
        return;
    }
    let _time = Timer(t, Instant::now());
    let ctx = Ctx::new("cr-netns");
    let mut b = ctx.bundle("b");
    counter(&mut b);
    let id = ctx.id("net");
    run_detached(&ctx, &b, &id);
    let ns = format!("--net=/proc/{}/ns/net", ctx.pid_of(&id));
    let ip = |args: &[&str]| {
        let mut a = vec![ns.as_str(), "ip"];
        a.extend_from_slice(args);
        ctx.host("nsenter", &a).assert_ok();
    };
    let mut n = 0;
    let mut dump = |want: &str, lo_up: bool, because: &str| {
        n += 1;
        let img = ctx.dir.join(format!("img{n}"));
        checkpoint(&ctx, &id, &img, &["--leave-running"]).ok("checkpoint --leave-running");
        let (net, up, why) = network_of(&img);
        assert_eq!(
            (net.as_str(), up),
            (want, lo_up),
            "dump {n} (expected {want}, lo up {lo_up}, because {because:?}; said: {why:?})"
        );
        assert!(why.contains(because), "dump {n}: {why:?}, not {because:?}");
        fs::remove_dir_all(&img).unwrap();
    };
    dump("fresh", false, "");
    ip(&["addr", "add", "10.1.2.3/24", "dev", "lo"]);
    dump("whole", false, "an address");
    ip(&["addr", "del", "10.1.2.3/24", "dev", "lo"]);
    ip(&["link", "set", "lo", "up"]);
    dump("fresh", true, "");
    ip(&["route", "add", "10.9.0.0/16", "dev", "lo"]);
    dump("whole", false, "a route");
    ip(&["route", "del", "10.9.0.0/16", "dev", "lo"]);
    ip(&[
        "rule",
        "add",
        "from",
        "10.7.0.0/16",
        "table",
        "100",
        "priority",
        "100",
    ]);
    dump("whole", false, "a routing rule");
    ip(&["rule", "del", "priority", "100"]);
    ctx.host(
        "nsenter",
        &[&ns, "sysctl", "-q", "-w", "net.ipv4.conf.lo.forwarding=1"],
    )
    .assert_ok();
    dump("whole", false, "sysctl ipv4/conf/lo/forwarding");
    ctx.host(
        "nsenter",
        &[&ns, "sysctl", "-q", "-w", "net.ipv4.conf.lo.forwarding=0"],
    )
    .assert_ok();
    dump("fresh", true, "");
    // Whatever backend iptables has here, a table is left behind.
    ctx.host(
        "nsenter",
        &[
            &ns, "iptables", "-w", "-A", "INPUT", "-s", "10.5.5.5", "-j", "DROP",
        ],
    )
    .assert_ok();
    dump("whole", false, "tables");
    // Dumped whole, restored with what it held.
    ip(&["addr", "add", "10.1.2.3/24", "dev", "lo"]);
    let img = ctx.dir.join("img");
    checkpoint(&ctx, &id, &img, &[]).ok("checkpoint");
    assert_eq!(network_of(&img).0, "whole");
    let frozen = count(&b);
    restore(&ctx, &b, &id, &img, &ctx.dir.join("o"), &[]).ok("restore");
    count_past(&b, frozen);
    let ns = format!("--net=/proc/{}/ns/net", ctx.pid_of(&id));
    let addrs = ctx.host("nsenter", &[&ns, "ip", "addr", "show", "dev", "lo"]);
    addrs.assert_ok();
    assert!(
        addrs.stdout.contains("10.1.2.3/24") && addrs.stdout.contains("UP"),
        "after the restore: {}",
        addrs.stdout
    );
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

/// A container with a user namespace (root mapped to 100000), as root:
/// criu 3.17 dumps it (its default devices, binds of the host's there,
/// are external mounts) and restores it with the same mapping, counting on.
/// Its stdio is the container's own /dev/null: a regular file outside as
/// stdio can't come back in a user namespace (CRIU reopens the restore's
/// fd through /proc as the container's root, which the file's permissions
/// refuse: "Can't open file fd/1 on restore: Permission denied").
#[test]
fn user_namespace_container_survives() {
    let t = "user_namespace_container_survives";
    if skip_without_criu(t) {
        return;
    }
    let _time = Timer(t, Instant::now());
    let ctx = Ctx::new("cr-userns");
    let mut b = ctx.bundle("b");
    b.add_namespace(json!({"type": "user"}));
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.linux()["uidMappings"] = map.clone();
    b.linux()["gidMappings"] = map;
    b.sh("exec </dev/null >/dev/null 2>&1; i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.1; done");
    ctx.host(
        "chown",
        &["-R", "100000:100000", b.rootfs().to_str().unwrap()],
    )
    .assert_ok();
    let id = ctx.id("uns");
    run_detached(&ctx, &b, &id);
    count_past(&b, 3);
    let img = ctx.dir.join("img");
    checkpoint(&ctx, &id, &img, &[]).ok("checkpoint");
    let frozen = count(&b);
    restore(&ctx, &b, &id, &img, &ctx.dir.join("o"), &[]).ok("restore");
    count_past(&b, frozen);
    let pid = ctx.pid_of(&id);
    let uid_map = read_lossy(Path::new(&format!("/proc/{pid}/uid_map")));
    assert_eq!(
        uid_map.split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"],
        "the restored init's uid_map"
    );
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

/// --leave-running, then a restore under a new ID: both run, each in a
/// cgroup of its own (runc puts the second into the first's on cgroup v2),
/// and deleting both leaves no cgroup.
#[test]
fn leave_running_then_restore_under_a_new_id() {
    let t = "leave_running_then_restore_under_a_new_id";
    if skip_without_criu(t) {
        return;
    }
    let _time = Timer(t, Instant::now());
    let ctx = Ctx::new("cr-twin");
    let mut b = ctx.bundle("b");
    b.sh("i=0; while :; do i=$((i+1)); echo $i > /tmp/count-$(hostname); sleep 0.1; done");
    let id = ctx.id("orig");
    run_detached(&ctx, &b, &id);
    let img = ctx.dir.join("img");
    checkpoint(&ctx, &id, &img, &["--leave-running"]).ok("checkpoint");
    // The twin needs a rootfs of the same content, not the same directory
    // (the original keeps writing into its own).
    let mut b2 = ctx.bundle("b2");
    b2.config = b.config.clone();
    let twin = ctx.id("twin");
    restore(&ctx, &b2, &twin, &img, &ctx.dir.join("twin.out"), &[]).ok("restore");
    assert_eq!(ctx.status(&id).as_deref(), Some("running"));
    assert_eq!(ctx.status(&twin).as_deref(), Some("running"));
    let (p1, p2) = (ctx.pid_of(&id), ctx.pid_of(&twin));
    assert_ne!(p1, p2);
    assert!(cgroup_procs(&id).contains(&p1) && !cgroup_procs(&id).contains(&p2));
    assert!(
        cgroup_procs(&twin).contains(&p2),
        "the twin is not in its own cgroup"
    );
    let c2 = b2.rootfs().join("tmp/count-ward-test");
    let n = read_lossy(&c2).trim().parse::<u64>().unwrap_or(0);
    assert!(
        wait_until(Duration::from_secs(30), || read_lossy(&c2)
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
            > n),
        "the twin does not count"
    );
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.rt(&["delete", "--force", &twin]).assert_ok();
    ctx.assert_nothing_left(&[&id, &twin]);
}

/// 128 MiB with a pattern, checked page by page after the restore; and a
/// pid namespace with several processes and a zombie comes back whole.
#[test]
fn memory_pattern_and_a_process_tree_with_a_zombie_survive() {
    let t = "memory_pattern_and_a_process_tree_with_a_zombie_survive";
    if skip_without_criu(t) {
        return;
    }
    let _time = Timer(t, Instant::now());
    let ctx = Ctx::new("cr-mem");
    let Some(mut b) = memory_bundle(&ctx, "b", 128, t) else {
        return;
    };
    // init: a shell that keeps two sleepers and a zombie (a child that
    // exited, never reaped by the exec'd memtest), then becomes memtest.
    b.sh("sleep 1000 & sleep 1000 & (sleep 0.5; exit 0) & exec memtest 128");
    let id = ctx.id("mem");
    let out = run_detached(&ctx, &b, &id);
    wait_for_marker(&out, "READY 128");
    let init = ctx.pid_of(&id);
    // init and its children (a zombie has no namespace links left, but is
    // still its parent's child).
    let tree = |init: i32| {
        let mut v: Vec<(i32, char)> = std::iter::once(init)
            .chain(children_of(init))
            .map(|p| (p, proc_state(p).unwrap_or('?')))
            .collect();
        v.sort();
        v
    };
    let mut before = Vec::new();
    assert!(
        wait_until(Duration::from_secs(30), || {
            before = tree(init);
            before.len() == 4 && before.iter().filter(|p| p.1 == 'Z').count() == 1
        }),
        "no tree of four with a zombie: {before:?}"
    );
    let ns_pids = |init: i32| -> Vec<String> {
        let mut v: Vec<String> = tree(init)
            .iter()
            .map(|p| {
                status_field_of(p.0, "NSpid")
                    .split_whitespace()
                    .last()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        v.sort();
        v
    };
    let inner = ns_pids(init);
    let img = ctx.dir.join("img");
    let r = checkpoint(&ctx, &id, &img, &[]);
    r.ok("checkpoint");
    let pages = pages_bytes(&img);
    eprintln!("128 MiB: checkpoint {:?}, pages {pages} bytes", r.took);
    assert!(pages >= 128 << 20, "{pages}");
    let out2 = ctx.dir.join("restored.out");
    let r = restore(&ctx, &b, &id, &img, &out2, &[]);
    r.ok("restore");
    eprintln!("128 MiB: restore {:?}", r.took);
    let init2 = ctx.pid_of(&id);
    let after = tree(init2);
    assert_eq!(after.len(), 4, "{after:?}");
    assert_eq!(
        after.iter().filter(|p| p.1 == 'Z').count(),
        1,
        "the zombie is gone: {after:?}"
    );
    assert_eq!(ns_pids(init2), inner, "pids inside the namespace changed");
    let (n, bad) = check_memory(&ctx, &id, &out2);
    assert_eq!((n, bad), (128 * 256, 0), "pages checked / bad");
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

/// A TCP connection over the container's loopback keeps going after the
/// restore: the same connection (the server takes one and exits with it,
/// the client never reconnects), with lo and the namespace as they were.
#[test]
fn tcp_connection_over_loopback_survives() {
    let t = "tcp_connection_over_loopback_survives";
    if skip_without_criu(t) {
        return;
    }
    let _time = Timer(t, Instant::now());
    let ctx = Ctx::new("cr-tcp");
    let mut b = ctx.bundle("b");
    let mut caps: Vec<&str> = BASE_CAPS.to_vec();
    caps.push("CAP_NET_ADMIN");
    b.process()["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    // The client connects once the server listens, and never again. The
    // server's stdin never ends (busybox nc quits at EOF on it).
    b.sh(
        "ip link set lo up || exit 1; sleep 100000 | nc -l -p 5000 > /tmp/got & \
         while ! netstat -ltn | grep -q ':5000 '; do sleep 0.1; done; \
         i=0; while :; do i=$((i+1)); echo $i; sleep 0.1; done | nc 127.0.0.1 5000",
    );
    let id = ctx.id("tcp");
    let out = run_detached(&ctx, &b, &id);
    let got = b.rootfs().join("tmp/got");
    let last = |p: &Path| -> u64 {
        read_lossy(p)
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0)
    };
    assert!(
        wait_until(Duration::from_secs(30), || last(&got) > 3),
        "no traffic; the container said: {}",
        read_lossy(&out)
    );
    let img = ctx.dir.join("img");
    let r = checkpoint(&ctx, &id, &img, &["--tcp-established"]);
    r.ok("checkpoint --tcp-established");
    // lo up and nothing else: dumped empty, lo brought up at restore.
    assert_eq!(network_of(&img).0, "fresh");
    assert!(network_of(&img).1, "lo was up");
    let frozen = last(&got);
    restore(
        &ctx,
        &b,
        &id,
        &img,
        &ctx.dir.join("o"),
        &["--tcp-established"],
    )
    .ok("restore");
    assert!(
        wait_until(Duration::from_secs(30), || last(&got) > frozen + 5),
        "the connection did not go on (last {} at {frozen})",
        last(&got)
    );
    // One connection, in order, nothing lost or repeated.
    let lines: Vec<u64> = read_lossy(&got)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert!(
        lines.windows(2).all(|w| w[1] == w[0] + 1),
        "the stream has a gap or repeats: {:?}",
        &lines[..lines.len().min(50)]
    );
    let ex = ctx.rt(&["exec", &id, "cat", "/sys/class/net/lo/operstate"]);
    ex.assert_ok();
    assert!(!ex.stdout.contains("down"), "lo: {}", ex.stdout);
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

/// stdout to a pipe: the restored process writes into the pipe the restore
/// was given. And a file opened for plain writing (>) can only come back
/// unchanged: any other is refused before anything starts.
#[test]
fn stdout_to_a_pipe_and_to_a_plain_file() {
    let t = "stdout_to_a_pipe_and_to_a_plain_file";
    if skip_without_criu(t) {
        return;
    }
    let _time = Timer(t, Instant::now());
    let ctx = Ctx::new("cr-pipe");
    let mut b = ctx.bundle("b");
    counter(&mut b);
    b.write();
    let id = ctx.id("pipe");
    // The container's stdout: a pipe whose reader is a `cat` into a file.
    let log1 = ctx.dir.join("pipe1.log");
    let mut cat1 = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(fs::File::create(&log1).unwrap())
        .spawn()
        .unwrap();
    let (c, err) = spawn_rt(
        &ctx,
        &["run", "-d", "--bundle", b.path(), &id],
        Stdio::null(),
        Stdio::from(cat1.stdin.take().unwrap()),
    );
    wait_child(c, &err, CMD_TIMEOUT).ok("run -d");
    assert!(wait_until(WAIT_TIMEOUT, || read_lossy(&log1)
        .lines()
        .count()
        > 3));
    let img = ctx.dir.join("img");
    checkpoint(&ctx, &id, &img, &[]).ok("checkpoint");
    let _ = cat1.wait();
    let frozen = read_lossy(&log1)
        .lines()
        .last()
        .unwrap()
        .trim()
        .parse::<u64>()
        .unwrap();
    let log2 = ctx.dir.join("pipe2.log");
    let mut cat2 = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(fs::File::create(&log2).unwrap())
        .spawn()
        .unwrap();
    let (c, err) = spawn_rt(
        &ctx,
        &[
            "restore",
            "-d",
            "--image-path",
            img.to_str().unwrap(),
            "--bundle",
            b.path(),
            &id,
        ],
        Stdio::null(),
        Stdio::from(cat2.stdin.take().unwrap()),
    );
    wait_child(c, &err, CR_TIMEOUT).ok("restore into a new pipe");
    assert!(
        wait_until(WAIT_TIMEOUT, || read_lossy(&log2).lines().count() > 3),
        "nothing came through the new pipe"
    );
    let first: u64 = read_lossy(&log2)
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // What sat in the pipe at the dump may come again, nothing is skipped.
    assert!(
        first <= frozen + 1 && first + 5 >= frozen,
        "the output did not go on where it was: {frozen} then {first}"
    );
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    let _ = cat2.wait();

    // A plain file: another file at restore is refused up front.
    let id2 = ctx.id("plain");
    let plain = ctx.dir.join("plain.out");
    let f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&plain)
        .unwrap();
    let (c, err) = spawn_rt(
        &ctx,
        &["run", "-d", "--bundle", b.path(), &id2],
        Stdio::null(),
        Stdio::from(f),
    );
    wait_child(c, &err, CMD_TIMEOUT).ok("run -d > file");
    thread::sleep(Duration::from_millis(500));
    let img2 = ctx.dir.join("img2");
    checkpoint(&ctx, &id2, &img2, &[]).ok("checkpoint");
    let r = restore(&ctx, &b, &id2, &img2, &ctx.dir.join("other.out"), &[]);
    let line = r.one_line_error("restore", &id2);
    assert!(
        line.contains("stdout") && line.contains("not opened for appending"),
        "{line}"
    );
    ctx.assert_nothing_left(&[&id2]);
    // The same file, unchanged, brings it back.
    let (c, err) = spawn_rt(
        &ctx,
        &[
            "restore",
            "-d",
            "--image-path",
            img2.to_str().unwrap(),
            "--bundle",
            b.path(),
            &id2,
        ],
        Stdio::null(),
        Stdio::from(fs::OpenOptions::new().append(true).open(&plain).unwrap()),
    );
    wait_child(c, &err, CR_TIMEOUT).ok("restore with the same file");
    assert_eq!(ctx.status(&id2).as_deref(), Some("running"));
    ctx.rt(&["delete", "--force", &id2]).assert_ok();
    ctx.assert_nothing_left(&[&id, &id2]);
}

// ---------------------------------------------------------------------------
// Pre-dump, page server, lazy pages
// ---------------------------------------------------------------------------

/// A pre-dump copies the memory while the container runs; the final dump
/// on top of it (--parent-path) is much smaller than a full one, and the
/// restore from it has every page.
#[test]
fn pre_dump_then_a_smaller_final_dump() {
    let t = "pre_dump_then_a_smaller_final_dump";
    if skip_without_criu(t) {
        return;
    }
    let _time = Timer(t, Instant::now());
    let ctx = Ctx::new("cr-predump");
    let Some(b) = memory_bundle(&ctx, "b", 64, t) else {
        return;
    };
    let id = ctx.id("pre");
    let out = run_detached(&ctx, &b, &id);
    wait_for_marker(&out, "READY 64");
    let base = ctx.dir.join("cp");
    let pre = base.join("pre");
    let r = checkpoint(&ctx, &id, &pre, &["--pre-dump"]);
    r.ok("pre-dump");
    assert_eq!(
        ctx.status(&id).as_deref(),
        Some("running"),
        "pre-dump stopped it"
    );
    let fin = base.join("final");
    let r2 = checkpoint(&ctx, &id, &fin, &["--parent-path", "../pre"]);
    r2.ok("final dump");
    let (p, f) = (pages_bytes(&pre), pages_bytes(&fin));
    eprintln!(
        "pre-dump {p} bytes in {:?}; final {f} bytes in {:?}",
        r.took, r2.took
    );
    assert!(p >= 64 << 20, "pre-dump pages: {p}");
    assert!(
        f * 4 < p,
        "the final dump ({f}) is not much smaller than the pre-dump ({p})"
    );
    let out2 = ctx.dir.join("restored.out");
    restore(&ctx, &b, &id, &fin, &out2, &[]).ok("restore from the final dump");
    assert_eq!(check_memory(&ctx, &id, &out2), (64 * 256, 0));
    // A pre-dump alone is not a checkpoint to restore.
    let r = restore(&ctx, &b, "wt-from-pre", &pre, &out2, &[]);
    assert!(r
        .one_line_error("restore", "wt-from-pre")
        .contains("pre-dump"));
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id, "wt-from-pre"]);
}

/// A free port on the guest's loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// --page-server: the memory goes to CRIU's page server (started by the
/// test), the rest to the images directory; together they restore.
#[test]
fn page_server_gets_the_memory() {
    let t = "page_server_gets_the_memory";
    if skip_without_criu(t) {
        return;
    }
    let _time = Timer(t, Instant::now());
    let ctx = Ctx::new("cr-ps");
    let Some(b) = memory_bundle(&ctx, "b", 32, t) else {
        return;
    };
    let id = ctx.id("ps");
    let out = run_detached(&ctx, &b, &id);
    wait_for_marker(&out, "READY 32");
    let served = ctx.dir.join("served");
    fs::create_dir(&served).unwrap();
    let port = free_port();
    let server = ctx.spawn_cmd(
        {
            let mut c = Command::new(criu_bin());
            c.args([
                "page-server",
                "--images-dir",
                served.to_str().unwrap(),
                "--port",
                &port.to_string(),
            ]);
            c
        },
        CR_TIMEOUT,
    );
    thread::sleep(Duration::from_millis(500));
    let img = ctx.dir.join("img");
    checkpoint(
        &ctx,
        &id,
        &img,
        &["--page-server", &format!("127.0.0.1:{port}")],
    )
    .ok("checkpoint --page-server");
    server.wait().assert_ok();
    assert_eq!(
        pages_bytes(&img),
        0,
        "pages were written locally: {:?}",
        names(&img)
    );
    assert!(pages_bytes(&served) >= 32 << 20, "{:?}", names(&served));
    for n in names(&served) {
        fs::copy(served.join(&n), img.join(&n)).unwrap();
    }
    let out2 = ctx.dir.join("restored.out");
    restore(&ctx, &b, &id, &img, &out2, &[]).ok("restore");
    assert_eq!(check_memory(&ctx, &id, &out2), (32 * 256, 0));
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

/// The children of `pid` named `comm`.
fn children_named(pid: i32, comm: &str) -> Vec<i32> {
    children_of(pid)
        .into_iter()
        .filter(|c| read_lossy(Path::new(&format!("/proc/{c}/comm"))).trim() == comm)
        .collect()
}

/// Lazy restore: the dump serves the memory (--lazy-pages, --status-fd);
/// the restore starts CRIU's lazy-pages daemon against it. The serving
/// CRIU is stopped the moment the restore returns: the process runs then
/// with a fraction of its memory resident (the rest still to come); once
/// the server goes on, every page is there.
#[test]
fn lazy_restore_runs_before_the_pages_arrive() {
    let t = "lazy_restore_runs_before_the_pages_arrive";
    if skip_without_criu(t) {
        return;
    }
    let _time = Timer(t, Instant::now());
    let ctx = Ctx::new("cr-lazy");
    let Some(b) = memory_bundle(&ctx, "b", 64, t) else {
        return;
    };
    let id = ctx.id("lazy");
    let out = run_detached(&ctx, &b, &id);
    wait_for_marker(&out, "READY 64");
    let img = ctx.dir.join("img");
    let port = free_port();
    // --status-fd: the write end of a pipe, as fd 3 of the checkpoint.
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two fds into the array we own.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let mut cmd = ctx.command(&[
        "checkpoint",
        "--lazy-pages",
        "--page-server",
        &format!("127.0.0.1:{port}"),
        "--status-fd",
        "3",
        "--image-path",
        img.to_str().unwrap(),
        &id,
    ]);
    pass_fds(&mut cmd, &[fds[1]]);
    let dump = ctx.spawn_cmd(cmd, CR_TIMEOUT + Duration::from_secs(60));
    // SAFETY: our copy of the write end, no longer needed.
    unsafe { libc::close(fds[1]) };
    let mut byte = [1u8; 1];
    // SAFETY: fds[0] is our pipe's read end; a blocking read of one byte.
    let n = unsafe { libc::read(fds[0], byte.as_mut_ptr().cast(), 1) };
    // SAFETY: closing our own fd.
    unsafe { libc::close(fds[0]) };
    assert_eq!(
        (n, byte[0]),
        (1, 0),
        "no NUL on --status-fd: {}",
        dump.stdout_now()
    );
    let server: Vec<i32> = children_named(dump.pid(), "criu");
    assert_eq!(server.len(), 1, "the dump's criu: {server:?}");
    // Under a new ID: the dumped container goes only once its pages have
    // all been served (as on another host, where the ID would be free).
    let out2 = ctx.dir.join("restored.out");
    b.write();
    let ps = format!("127.0.0.1:{port}");
    let lazy = ctx.id("lazy2");
    let args = [
        "restore",
        "-d",
        "--lazy-pages",
        "--page-server",
        &ps,
        "--image-path",
        img.to_str().unwrap(),
        "--bundle",
        b.path(),
        &lazy,
    ];
    let f = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&out2)
        .unwrap();
    let (mut c, err) = spawn_rt(&ctx, &args, Stdio::null(), Stdio::from(f));
    // The moment the restore is done, the serving criu is stopped: what
    // the process has then is what came before it ran.
    let start = Instant::now();
    let status = loop {
        if let Some(s) = c.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < CR_TIMEOUT, "lazy restore: no end");
        thread::sleep(Duration::from_millis(2));
    };
    // SAFETY: kill(2) on the criu our checkpoint command started.
    unsafe { libc::kill(server[0], libc::SIGSTOP) };
    let st: serde_json::Value = serde_json::from_slice(
        &fs::read(ctx.root.join(&lazy).join("state.json")).unwrap_or_default(),
    )
    .unwrap_or_default();
    let pid = st["pid"].as_i64().unwrap_or(0) as i32;
    let rss_kb: u64 = status_field_of(pid, "VmRSS")
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX);
    let state = proc_state(pid);
    // SAFETY: as above.
    unsafe { libc::kill(server[0], libc::SIGCONT) };
    assert!(status.success(), "lazy restore: {}", read_lossy(&err));
    eprintln!(
        "lazy restore took {:?}; VmRSS {rss_kb} kB of 65536 kB when it returned",
        start.elapsed()
    );
    assert!(
        matches!(state, Some('S' | 'R')),
        "the restored process is {state:?}"
    );
    assert!(
        rss_kb < 32 * 1024,
        "the pages were all there before the server went on: {rss_kb} kB"
    );
    assert_eq!(check_memory(&ctx, &lazy, &out2), (64 * 256, 0));
    let d = dump.wait();
    d.assert_ok();
    assert!(
        ctx.status(&id).is_none(),
        "the dumped container is still there"
    );
    ctx.rt(&["delete", "--force", &lazy]).assert_ok();
    ctx.assert_nothing_left(&[&id, &lazy]);
}

// ---------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------

/// criu SIGKILLed in the middle of writing the memory: checkpoint fails
/// with one line naming criu's log; the container runs on (thawed, its
/// memory intact), its state.json unchanged, and the images directory holds
/// nothing but the log.
#[test]
fn criu_killed_mid_dump_leaves_the_container_running() {
    let t = "criu_killed_mid_dump_leaves_the_container_running";
    if skip_without_criu(t) {
        return;
    }
    let _time = Timer(t, Instant::now());
    let ctx = Ctx::new("cr-killdump");
    let Some(b) = memory_bundle(&ctx, "b", 128, t) else {
        return;
    };
    let id = ctx.id("kd");
    let out = run_detached(&ctx, &b, &id);
    wait_for_marker(&out, "READY 128");
    let state_file = ctx.root.join(&id).join("state.json");
    let before = fs::read(&state_file).unwrap();
    let img = ctx.dir.join("img");
    let args = ["checkpoint", "--image-path", img.to_str().unwrap(), &id];
    let (c, err) = spawn_rt(&ctx, &args, Stdio::null(), Stdio::null());
    let ward_pid = c.id() as i32;
    // Killed once the memory is being written.
    let mut killed = false;
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let writing = names(&img).iter().any(|n| n.starts_with("pages-"));
        if writing {
            for p in children_named(ward_pid, "criu") {
                // SAFETY: kill(2) on the criu our checkpoint started.
                unsafe { libc::kill(p, libc::SIGKILL) };
                killed = true;
            }
        }
        if killed || !pid_alive(ward_pid) {
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let r = wait_child(c, &err, CR_TIMEOUT);
    assert!(
        killed,
        "criu finished before it could be killed: {}",
        r.stderr
    );
    let line = r.one_line_error("checkpoint", &id);
    assert!(
        line.contains("killed by signal 9") && line.contains("criu's log"),
        "{line}"
    );
    assert_eq!(ctx.status(&id).as_deref(), Some("running"));
    assert_eq!(fs::read(&state_file).unwrap(), before, "state.json changed");
    let left: Vec<String> = names(&img)
        .into_iter()
        .filter(|n| !n.ends_with(".log"))
        .collect();
    assert!(left.is_empty(), "left in the images directory: {left:?}");
    assert_eq!(
        check_memory(&ctx, &id, &out),
        (128 * 256, 0),
        "memory after the killed dump"
    );
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

/// A disk that fills up while dumping (a 16 MiB tmpfs for 64 MiB of
/// memory): one line with the reason and the log; the container runs.
#[test]
fn disk_full_while_dumping_leaves_the_container_running() {
    let t = "disk_full_while_dumping_leaves_the_container_running";
    if skip_without_criu(t) {
        return;
    }
    let _time = Timer(t, Instant::now());
    let ctx = Ctx::new("cr-full");
    let Some(b) = memory_bundle(&ctx, "b", 64, t) else {
        return;
    };
    let id = ctx.id("full");
    let out = run_detached(&ctx, &b, &id);
    wait_for_marker(&out, "READY 64");
    let small = ctx.dir.join("small");
    fs::create_dir(&small).unwrap();
    ctx.host(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "size=16m",
            "tmpfs",
            small.to_str().unwrap(),
        ],
    )
    .assert_ok();
    ctx.track_host_mount(&small);
    let work = ctx.dir.join("work");
    let r = checkpoint(
        &ctx,
        &id,
        &small.join("img"),
        &["--work-path", work.to_str().unwrap()],
    );
    let line = r.one_line_error("checkpoint", &id);
    assert!(
        line.contains("criu dump failed") && line.contains("criu's log"),
        "{line}"
    );
    assert!(
        read_lossy(&work.join("dump.log")).contains("No space left"),
        "dump.log does not say the disk is full"
    );
    assert_eq!(ctx.status(&id).as_deref(), Some("running"));
    let left: Vec<String> = names(&small.join("img"))
        .into_iter()
        .filter(|n| !n.ends_with(".log"))
        .collect();
    assert!(left.is_empty(), "left: {left:?}");
    assert_eq!(check_memory(&ctx, &id, &out), (64 * 256, 0));
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.host("umount", &[small.to_str().unwrap()]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

/// Copies an images directory.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for n in names(from) {
        fs::copy(from.join(&n), to.join(&n)).unwrap();
    }
}

/// A counter running as container "src" (bundle "b"), past 2, and a
/// `--leave-running` checkpoint of it in `<test dir>/img`.
fn counting_with_a_checkpoint(ctx: &Ctx) -> (Bundle, String, PathBuf) {
    let mut b = ctx.bundle("b");
    counter(&mut b);
    let id = ctx.id("src");
    run_detached(ctx, &b, &id);
    count_past(&b, 2);
    let img = ctx.dir.join("img");
    checkpoint(ctx, &id, &img, &["--leave-running"]).ok("checkpoint");
    (b, id, img)
}

/// Restores that fail in CRIU leave nothing (no state entry, cgroup,
/// process or mount), each with one line naming criu's log: a pages image
/// cut in half, a rootfs that differs from the checkpointed one, criu
/// killed mid-restore, and runc's own checkpoint.
#[test]
fn failed_restores_leave_nothing() {
    let t = "failed_restores_leave_nothing";
    if skip_without_criu(t) {
        return;
    }
    let _time = Timer(t, Instant::now());
    let ctx = Ctx::new("cr-badrst");
    let (b, id, img) = counting_with_a_checkpoint(&ctx);
    let out = ctx.dir.join("o");
    let baseline = ctx.related_pids();

    // A pages image cut in half (bounded: criu 3.17 may spin on it).
    let cut = ctx.dir.join("cut");
    copy_dir(&img, &cut);
    for n in names(&cut).iter().filter(|n| n.starts_with("pages-")) {
        let p = cut.join(n);
        let len = fs::metadata(&p).unwrap().len();
        fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
    }
    let rid = ctx.id("cut");
    let cmd_env = |extra: &[&str], rid: &str, dir: &Path, bundle: &Bundle| {
        bundle.write();
        let mut args = vec![
            "restore",
            "-d",
            "--image-path",
            dir.to_str().unwrap(),
            "--bundle",
            bundle.path(),
        ];
        args.extend_from_slice(extra);
        args.push(rid);
        let mut c = ctx.command(&args);
        c.env("WARD_CRIU_TIMEOUT", "60");
        let err = ctx.dir.join(format!("{rid}.err"));
        c.stdin(Stdio::null())
            .stdout(
                fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(&out)
                    .unwrap(),
            )
            .stderr(fs::File::create(&err).unwrap());
        wait_child(c.spawn().unwrap(), &err, CR_TIMEOUT)
    };
    let r = cmd_env(&[], &rid, &cut, &b);
    let line = r.one_line_error("restore", &rid);
    assert!(
        line.contains("criu") && line.contains("criu's log"),
        "{line}"
    );
    assert_gone(&ctx, &rid, &baseline);

    // A rootfs that differs: another busybox binary (a different size).
    let mut other = ctx.bundle("other");
    other.config = b.config.clone();
    let bb = other.rootfs().join("bin/busybox");
    let mut data = fs::read(&bb).unwrap();
    data.extend_from_slice(&[0u8; 4096]);
    fs::write(&bb, data).unwrap();
    let rid = ctx.id("otherfs");
    let r = cmd_env(&[], &rid, &img, &other);
    let line = r.one_line_error("restore", &rid);
    assert!(
        line.contains("criu restore failed") && line.contains("criu's log"),
        "{line}"
    );
    assert_gone(&ctx, &rid, &baseline);

    // criu killed mid-restore: a prestart hook (run at CRIU's
    // setup-namespaces step, with CRIU waiting) kills it.
    let mut hooked = ctx.bundle("hooked");
    hooked.config = b.config.clone();
    let hook = ctx.dir.join("kill-criu.sh");
    fs::write(
        &hook,
        "#!/bin/sh\nfor p in $(cat /proc/$PPID/task/*/children); do\n  [ \"$(cat /proc/$p/comm)\" = criu ] && kill -9 $p\ndone\nexit 0\n",
    )
    .unwrap();
    fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    hooked.config["hooks"] = json!({"prestart": [{"path": hook.to_str().unwrap()}]});
    let rid = ctx.id("killed");
    let r = cmd_env(&[], &rid, &img, &hooked);
    let line = r.one_line_error("restore", &rid);
    assert!(
        line.contains("criu") && line.contains("killed by signal 9"),
        "{line}"
    );
    assert_gone(&ctx, &rid, &baseline);

    // runc's checkpoint of the same kind of container.
    if let Some(runc) = ["/usr/sbin/runc", "/usr/bin/runc"]
        .iter()
        .find(|p| Path::new(p).is_file())
    {
        // runc's stdio: pipes (a file outside the container's mounts is
        // what runc's dump can't handle).
        let mut rb = ctx.bundle("runcb");
        rb.config = b.config.clone();
        rb.set_args(&["sleep", "1000"]);
        rb.write();
        let rroot = ctx.dir.join("runc-root");
        let rid = format!("wt-runc-{}", std::process::id());
        let runc_out = ctx.dir.join("runc.out");
        let f = || {
            fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&runc_out)
                .unwrap()
        };
        let mut run = Command::new(runc)
            .args([
                "--root",
                rroot.to_str().unwrap(),
                "run",
                "-d",
                "--bundle",
                rb.path(),
                &rid,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let st = run.wait().unwrap();
        assert!(st.success(), "runc run failed");
        let rimg = ctx.dir.join("runc-img");
        let st = Command::new(runc)
            .args([
                "--root",
                rroot.to_str().unwrap(),
                "checkpoint",
                "--image-path",
                rimg.to_str().unwrap(),
                &rid,
            ])
            .stdin(Stdio::null())
            .stdout(f())
            .stderr(f())
            .status()
            .unwrap();
        let _ = Command::new(runc)
            .args(["--root", rroot.to_str().unwrap(), "delete", "-f", &rid])
            .status();
        if st.success() {
            let mine = ctx.id("fromrunc");
            let r = cmd_env(&[], &mine, &rimg, &b);
            let line = r.one_line_error("restore", &mine);
            assert!(line.contains("a checkpoint ward did not make"), "{line}");
            assert_gone(&ctx, &mine, &baseline);
        } else {
            eprintln!(
                "note: runc could not checkpoint here: {}",
                read_lossy(&runc_out)
            );
        }
    }
    assert_eq!(
        ctx.status(&id).as_deref(),
        Some("running"),
        "the source container"
    );
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

/// The mounts come back as they were: a read-only root stays read-only;
/// the empty tmpfs mounts (/dev/shm, the masked /proc/acpi and
/// /sys/firmware) are named in the record, not archived by CRIU, and come
/// back fresh with their flags and options (a masked one read-only,
/// /dev/shm writable with its size); one that holds a file is archived
/// and comes back with it.
#[test]
fn mounts_come_back_as_they_were() {
    let t = "mounts_come_back_as_they_were";
    if skip_without_criu(t) {
        return;
    }
    let _time = Timer(t, Instant::now());
    let ctx = Ctx::new("cr-mounts");
    let mut b = ctx.bundle("b");
    b.config["root"]["readonly"] = json!(true);
    b.add_mount(json!({"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=755", "size=1024k"]}));
    b.set_args(&["sleep", "1000"]);
    let id = ctx.id("m");
    run_detached(&ctx, &b, &id);
    ctx.rt(&["exec", &id, "sh", "-c", "echo kept > /run/file"])
        .assert_ok();
    let look = "touch /x 2>&1; touch /proc/acpi/x 2>&1; touch /sys/firmware/x 2>&1; \
                echo a > /dev/shm/a && cat /dev/shm/a && rm /dev/shm/a; cat /run/file; \
                grep -E ' /(dev/shm|proc/acpi|sys/firmware|run) ' /proc/self/mountinfo | \
                awk '{for (i = 7; $i != \"-\"; i++); print $5, $6, $(i+2), $(i+3)}' | sed 's/,inode64//' | sort";
    let before = ctx.rt(&["exec", &id, "sh", "-c", look]);
    before.assert_ok();
    for want in [
        "touch: /x: Read-only file system",
        "touch: /proc/acpi/x: Read-only file system",
        "touch: /sys/firmware/x: Read-only file system",
        "\na\nkept\n",
        "/dev/shm rw,nosuid,nodev,noexec,relatime shm rw,size=65536k",
    ] {
        assert!(
            before.stdout.contains(want),
            "before: no {want:?} in {}",
            before.stdout
        );
    }
    let img = ctx.dir.join("img");
    checkpoint(&ctx, &id, &img, &[]).ok("checkpoint");
    let meta: serde_json::Value =
        serde_json::from_slice(&fs::read(img.join("ward-checkpoint.json")).unwrap()).unwrap();
    let mut fresh: Vec<String> = meta["freshTmpfs"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| t["destination"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    fresh.sort();
    assert_eq!(fresh, ["/dev/shm", "/proc/acpi", "/sys/firmware"], "{meta}");
    // One archive only (CRIU names them tmpfs-dev-N.tar.gz.img): /run's.
    // /dev holds the device nodes and is archived too.
    let tars = names(&img)
        .into_iter()
        .filter(|n| n.starts_with("tmpfs-dev-"))
        .count();
    assert_eq!(tars, 2, "tmpfs archives: {:?}", names(&img));
    let out = ctx.dir.join("restored.out");
    restore(&ctx, &b, &id, &img, &out, &[]).ok("restore");
    let after = ctx.rt(&["exec", &id, "sh", "-c", look]);
    after.assert_ok();
    // The same, but for the source name CRIU's fresh tmpfs has.
    assert_eq!(
        after
            .stdout
            .replace(" tmpfs rw,size=65536k", " shm rw,size=65536k"),
        before.stdout
    );
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

/// The processes whose environment holds `tag` (a CRIU that ward started
/// inherits ward's environment).
fn tagged_pids(tag: &str) -> Vec<i32> {
    let mut v = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let env = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if env.split(|c| *c == 0).any(|kv| kv == tag.as_bytes()) && pid_alive(pid) {
            v.push(pid);
        }
    }
    v
}

/// ward starts CRIU before its request is ready. A ward killed then (a
/// debug build's fault points: checkpoint:criu, with CRIU started and the
/// container not yet frozen; restore:dir, with CRIU started and the state
/// directory and cgroup made) leaves no CRIU behind: it reads the end of
/// its socket and exits. The container runs on; `delete --force` clears
/// the half-made restore.
#[test]
fn ward_killed_with_criu_started_leaves_no_criu() {
    let t = "ward_killed_with_criu_started_leaves_no_criu";
    if skip_without_criu(t) {
        return;
    }
    if !cfg!(debug_assertions) {
        // ward is built with the tests' profile.
        eprintln!("SKIP: {t}: the fault points are in debug builds of ward only");
        return;
    }
    let _time = Timer(t, Instant::now());
    let ctx = Ctx::new("cr-faultcriu");
    let (b, id, img) = counting_with_a_checkpoint(&ctx);
    let baseline = ctx.related_pids();
    let killed = |point: &str, args: &[&str]| {
        let tag = format!("WARD_TEST_TAG={}-{point}", ctx.dir_str());
        let (k, v) = tag.split_once('=').unwrap();
        let err = ctx.dir.join(format!("{point}.err").replace(':', "-"));
        // The container's stdout (a file) is handed a file again, as in
        // failed_restores_leave_nothing.
        let out = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(ctx.dir.join("o"))
            .unwrap();
        let mut c = ctx.command(args);
        c.env("WARD_FAULT", point)
            .env(k, v)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(fs::File::create(&err).unwrap());
        let st = c.status().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&st),
            Some(libc::SIGKILL),
            "ward at {point}: {st:?}: {}",
            read_lossy(&err)
        );
        let mut left = Vec::new();
        let gone = wait_until(Duration::from_secs(10), || {
            left = tagged_pids(&tag);
            left.is_empty()
        });
        for p in &left {
            // SAFETY: kill(2) on a CRIU this test's ward started (tagged).
            unsafe { libc::kill(*p, libc::SIGKILL) };
        }
        assert!(gone, "left by a ward killed at {point}: {left:?}");
    };

    let img2 = ctx.dir.join("img2");
    killed(
        "checkpoint:criu",
        &["checkpoint", "--image-path", img2.to_str().unwrap(), &id],
    );
    assert_eq!(ctx.status(&id).as_deref(), Some("running"));
    let n = count(&b);
    count_past(&b, n + 1);

    let rid = ctx.id("rst");
    killed("restore:dir", &restore_args(&b, &rid, &img, &[]));
    ctx.rt(&["delete", "--force", &rid]).assert_ok();
    assert_gone(&ctx, &rid, &baseline);
    assert_eq!(ctx.status(&id).as_deref(), Some("running"));
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

/// A paused container is checkpointed as it is; with --leave-running it
/// stays paused, and its restore runs.
#[test]
fn paused_container_checkpoints_and_stays_paused() {
    let t = "paused_container_checkpoints_and_stays_paused";
    if skip_without_criu(t) {
        return;
    }
    let _time = Timer(t, Instant::now());
    let ctx = Ctx::new("cr-paused");
    let mut b = ctx.bundle("b");
    counter(&mut b);
    let id = ctx.id("paused");
    run_detached(&ctx, &b, &id);
    count_past(&b, 2);
    ctx.rt(&["pause", &id]).assert_ok();
    let img = ctx.dir.join("img");
    checkpoint(&ctx, &id, &img, &["--leave-running"]).ok("checkpoint of a paused container");
    assert_eq!(ctx.status(&id).as_deref(), Some("paused"));
    let mut b2 = ctx.bundle("b2");
    b2.config = b.config.clone();
    let twin = ctx.id("twin");
    restore(&ctx, &b2, &twin, &img, &ctx.dir.join("o"), &[]).ok("restore");
    let st = ctx.status(&twin).unwrap();
    assert!(st == "running" || st == "paused", "{st}");
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.rt(&["delete", "--force", &twin]).assert_ok();
    ctx.assert_nothing_left(&[&id, &twin]);
}

// ---------------------------------------------------------------------------
// podman
// ---------------------------------------------------------------------------

/// podman's `container checkpoint` and `container restore`, also with
/// `--export` and `--import`, with ward as podman's runtime (conmon calls
/// ward's checkpoint and restore). One container, one log stream: the
/// counter goes on after each restore.
#[test]
fn podman_checkpoint_and_restore_with_ward() {
    use engine_support::podman::{podman_image, Podman, PodmanCleanup};
    use engine_support::{EngineCli, HostGuard, IMAGE};
    let t = "podman_checkpoint_and_restore_with_ward";
    if skip_without_criu(t) || !engine_support::can_run(t) {
        return;
    }
    let _time = Timer(t, Instant::now());
    if engine_support::which("podman").is_none() || engine_support::which("conmon").is_none() {
        eprintln!("SKIP: {t}: podman or conmon is not installed (scripts/test.sh installs them)");
        return;
    }
    let started = Instant::now();
    let mut host = HostGuard::new();
    let ctx = Ctx::new("cr-podman");
    let podman = Podman::new(&ctx, &mut host, "cr");
    let _cleanup = PodmanCleanup {
        ctx: &ctx,
        podman: &podman,
    };
    podman_image(&ctx, &podman, None);
    let last = |name: &str| -> u64 {
        podman
            .run(&ctx, &["logs", name])
            .stdout
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .max()
            .unwrap_or(0)
    };
    let grows = |name: &str, from: u64| {
        let mut now = 0;
        assert!(
            wait_until(Duration::from_secs(60), || {
                now = last(name);
                now > from + 2
            }),
            "{name}: the counter stays at {now} (from {from})"
        );
    };
    podman.ok(
        &ctx,
        &[
            "run",
            "-d",
            "--name",
            "c1",
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            "i=0; while :; do i=$((i+1)); echo $i; sleep 0.2; done",
        ],
    );
    grows("c1", 0);
    podman.ok(&ctx, &["container", "checkpoint", "c1"]);
    assert_eq!(podman.inspect(&ctx, "c1", "{{.State.Status}}"), "exited");
    let at = last("c1");
    podman.ok(&ctx, &["container", "restore", "c1"]);
    assert_eq!(podman.inspect(&ctx, "c1", "{{.State.Status}}"), "running");
    grows("c1", at);
    let tar = ctx.dir.join("c1.tar.gz");
    podman.ok(
        &ctx,
        &[
            "container",
            "checkpoint",
            "--export",
            tar.to_str().unwrap(),
            "c1",
        ],
    );
    let at = last("c1");
    podman.ok(&ctx, &["rm", "-f", "c1"]);
    podman.ok(
        &ctx,
        &[
            "container",
            "restore",
            "--import",
            tar.to_str().unwrap(),
            "--name",
            "c2",
        ],
    );
    assert_eq!(podman.inspect(&ctx, "c2", "{{.State.Status}}"), "running");
    let from = last("c2");
    assert!(
        from + 5 >= at,
        "the imported container started over: {from} after {at}"
    );
    grows("c2", from);
    podman.ok(&ctx, &["rm", "-f", "c2"]);
    eprintln!(
        "podman checkpoint/restore with ward: {:?}",
        started.elapsed()
    );
}
