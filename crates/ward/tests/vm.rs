//! The test VM harness (tests/vm/run), driven from the host: the guest runs
//! Debian's stock kernel on a pure cgroup v2 hierarchy, a command's output
//! and exit status come back, the host's files can't be changed from the
//! guest, a hung guest is killed at its time bound with its console log
//! kept, no qemu outlives the harness, and Debian's criu passes
//! `criu check` there.
//!
//! Each test boots a guest (about 5 s under TCG emulation on the CI
//! machine). `scripts/vm-test.sh` runs the other integration tests inside the
//! guest; this file is not run there (no VM inside the VM).

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Bound for one guest command: boot plus the command, with a wide margin
/// for a loaded CI machine (the harness's own --timeout is tighter).
const GUEST_BOUND: Duration = Duration::from_secs(240);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository's root")
}

fn harness() -> PathBuf {
    repo().join("tests/vm/run")
}

/// WARD_TEST_VM=0 (as for scripts/test.sh) skips the guest boots, saying so.
fn skip_vm(test: &str) -> bool {
    let skip = std::env::var("WARD_TEST_VM").is_ok_and(|v| v == "0");
    if skip {
        eprintln!("SKIP: {test}: WARD_TEST_VM=0");
    }
    skip
}

/// Runs `tests/vm/run ARGS` from the repository's root, time bounded.
fn vm(ctx: &Ctx, args: &[&str]) -> Out {
    let mut cmd = Command::new(harness());
    cmd.args(args).current_dir(repo());
    Proc::spawn(cmd, &ctx.dir, GUEST_BOUND).wait()
}

/// Every process whose command line names qemu-system and `needle`.
fn qemu_processes(needle: &str) -> Vec<i32> {
    all_pids()
        .into_iter()
        .filter(|p| {
            let argv = proc_cmdline(*p);
            argv.first().is_some_and(|a| a.contains("qemu-system"))
                && argv.iter().any(|a| a.contains(needle))
        })
        .collect()
}

/// The run directory the harness names in its failure message.
fn kept_run_dir(out: &Out) -> PathBuf {
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("console log: "))
        .unwrap_or_else(|| panic!("no console log named\n{}", out.describe()));
    let log = PathBuf::from(line.rsplit("console log: ").next().unwrap().trim());
    log.parent().unwrap().to_path_buf()
}

#[test]
fn guest_runs_stock_kernel_on_pure_cgroup_v2_and_returns_status() {
    if skip_vm("guest_runs_stock_kernel_on_pure_cgroup_v2_and_returns_status") {
        return;
    }
    let ctx = Ctx::new("vm-basic");
    // A path on the host's file system that the guest will try to create:
    // the guest's writes go to its tmpfs overlay, never to the host.
    let marker = repo().join(format!("target/vm-write-probe-{}", std::process::id()));
    let marker = marker.to_str().unwrap().to_string();
    let script = format!(
        "echo kernel=$(uname -r); \
         echo fs=$(stat -fc %T /sys/fs/cgroup); \
         echo controllers=$(cat /sys/fs/cgroup/cgroup.controllers); \
         echo v1=$(grep -c ' cgroup ' /proc/mounts); \
         echo env=$WARD_VM_PROBE; \
         echo pwd=$PWD; \
         echo written > {marker} && echo wrote=$(cat {marker}); \
         echo to-stderr >&2; \
         exit 7"
    );
    let out = vm(
        &ctx,
        &["--env", "WARD_VM_PROBE=a b", "--", "sh", "-c", &script],
    );
    out.assert_code(7);
    let field = |k: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {k}= line\n{}", out.describe()))
    };
    let host_kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let kernel = field("kernel");
    assert!(
        kernel.starts_with("6.1.") && kernel.ends_with("-amd64") && kernel != host_kernel.trim(),
        "the guest should run Debian's 6.1 kernel, not the host's\n{}",
        out.describe()
    );
    assert_eq!(field("fs"), "cgroup2fs", "{}", out.describe());
    let controllers = field("controllers");
    for c in ["cpu", "cpuset", "io", "memory", "pids"] {
        assert!(
            controllers.split_whitespace().any(|x| x == c),
            "controller {c} missing in the guest\n{}",
            out.describe()
        );
    }
    assert_eq!(field("v1"), "0", "no cgroup v1 mount in the guest");
    assert_eq!(field("env"), "a b", "--env reaches the command");
    assert_eq!(
        Path::new(&field("pwd")).canonicalize().unwrap(),
        repo().canonicalize().unwrap(),
        "the command runs in the caller's directory"
    );
    assert_eq!(field("wrote"), "written", "the guest's root is writable");
    assert!(
        !Path::new(&marker).exists(),
        "a file written in the guest appeared on the host: {marker}"
    );
    assert!(out.stdout.contains("to-stderr"), "{}", out.describe());
    // A failing command keeps its run directory, with the console log.
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("run directory kept: "))
        .unwrap_or_else(|| panic!("{}", out.describe()));
    let dir = PathBuf::from(line.rsplit("kept: ").next().unwrap().trim());
    assert!(
        read_lossy(&dir.join("console.log")).contains("Power down"),
        "the guest's console log is kept in {}",
        dir.display()
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hung_guest_is_killed_at_the_bound_with_its_log_kept() {
    if skip_vm("hung_guest_is_killed_at_the_bound_with_its_log_kept") {
        return;
    }
    let ctx = Ctx::new("vm-hang");
    let out = vm(&ctx, &["--timeout", "10", "--", "sleep", "1000"]);
    out.assert_code(124);
    assert!(
        out.stderr.contains("did not finish within 10s"),
        "{}",
        out.describe()
    );
    let dir = kept_run_dir(&out);
    let log = read_lossy(&dir.join("console.log"));
    assert!(
        log.contains("Linux version 6.1"),
        "the kept console log holds the guest kernel's boot\n{log}"
    );
    assert!(
        qemu_processes(dir.to_str().unwrap()).is_empty(),
        "a qemu of the timed-out run is still alive"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn killed_harness_leaves_no_qemu() {
    if skip_vm("killed_harness_leaves_no_qemu") {
        return;
    }
    let ctx = Ctx::new("vm-kill");
    let mut cmd = Command::new(harness());
    cmd.args(["--", "sh", "-c", "echo guest-up; sleep 1000"])
        .current_dir(repo());
    let proc = Proc::spawn(cmd, &ctx.dir, GUEST_BOUND);
    assert!(
        wait_until(Duration::from_secs(120), || proc
            .stdout_now()
            .contains("guest-up")),
        "the guest did not start: {}",
        proc.stdout_now()
    );
    // The run directory is on qemu's command line (ward.run=...).
    let runs = repo().join("target/vm/runs");
    let mine: Vec<i32> = all_pids()
        .into_iter()
        .filter(|p| {
            let argv = proc_cmdline(*p);
            argv.first().is_some_and(|a| a.contains("qemu-system")) && descends_from(*p, proc.pid())
        })
        .collect();
    assert_eq!(mine.len(), 1, "one qemu under the harness: {mine:?}");
    let qemu = mine[0];
    let argv = proc_cmdline(qemu).join(" ");
    let run_dir = argv
        .split_whitespace()
        .find_map(|a| a.strip_prefix("ward.run="))
        .map(PathBuf::from)
        .expect("ward.run= on qemu's command line");
    assert!(run_dir.starts_with(&runs), "{}", run_dir.display());
    let start = pid_starttime(qemu);
    // SIGKILL: the harness gets no chance to clean up.
    proc.signal(libc::SIGKILL);
    assert!(
        wait_until(Duration::from_secs(20), || !same_process_alive(qemu, start)),
        "qemu {qemu} outlived its SIGKILLed harness"
    );
    drop(proc);
    let _ = fs::remove_dir_all(run_dir);
}

/// True when `pid` has `ancestor` among its ancestors.
fn descends_from(mut pid: i32, ancestor: i32) -> bool {
    for _ in 0..64 {
        let stat = read_lossy(Path::new(&format!("/proc/{pid}/stat")));
        // The parent pid is the second field after the ")" of comm.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            return false;
        };
        let Some(ppid) = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok()) else {
            return false;
        };
        if ppid == ancestor {
            return true;
        }
        if ppid <= 1 {
            return false;
        }
        pid = ppid;
    }
    false
}

#[test]
fn criu_check_passes_in_the_guest() {
    if skip_vm("criu_check_passes_in_the_guest") {
        return;
    }
    let ctx = Ctx::new("vm-criu");
    let out = vm(&ctx, &["--", "criu", "check"]);
    out.assert_ok();
    assert!(out.stdout.contains("Looks good"), "{}", out.describe());
}

#[test]
fn bad_harness_options_are_refused_without_booting() {
    if skip_vm("bad_harness_options_are_refused_without_booting") {
        return;
    }
    let ctx = Ctx::new("vm-bad");
    let out = vm(&ctx, &["--timeout", "soon", "--", "true"]);
    out.assert_code(125);
    assert!(
        out.stderr.contains("--timeout wants seconds, not 'soon'"),
        "{}",
        out.describe()
    );
    let out = vm(&ctx, &["--frobnicate", "true"]);
    out.assert_code(125);
    assert!(
        out.stderr.contains("unknown option '--frobnicate'"),
        "{}",
        out.describe()
    );
}
