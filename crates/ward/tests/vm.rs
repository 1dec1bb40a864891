//! The test VM harness (tests/vm/run), driven from the host: the guest runs
//! Debian's stock kernel on a pure cgroup v2 hierarchy, a command's output
//! and exit status come back, the host's files (those under /tmp included)
//! are seen at their own paths and can't be changed from the guest, a
//! checkout anywhere works (under /tmp, with white space in its path,
//! read-only with the build directory elsewhere), a hung guest is killed at
//! its time bound and a guest that fails to boot fails fast, both with their
//! console log named, no qemu outlives the harness, and Debian's criu passes
//! `criu check` there.
//!
//! Most tests boot a guest (about 5 s under TCG emulation on the CI
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

/// The harness's cache (kernel, initramfs, run directories), by the
/// harness's own rule: WARD_VM_CACHE, else $CARGO_TARGET_DIR/vm, else
/// <repo>/target/vm.
fn cache() -> PathBuf {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    let dir = match (var("WARD_VM_CACHE"), var("CARGO_TARGET_DIR")) {
        (Some(c), _) => PathBuf::from(c),
        (None, Some(t)) => PathBuf::from(t).join("vm"),
        (None, None) => repo().join("target/vm"),
    };
    // Relative ones are taken from the working directory, which for the
    // harness is the repository's root (vm_command).
    repo().join(dir)
}

/// WARD_TEST_VM=0 (as for scripts/test.sh) skips the guest boots, saying so.
fn skip_vm(test: &str) -> bool {
    let skip = std::env::var("WARD_TEST_VM").is_ok_and(|v| v == "0");
    if skip {
        eprintln!("SKIP: {test}: WARD_TEST_VM=0");
    }
    skip
}

/// `tests/vm/run ARGS`, from the repository's root.
fn vm_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(harness());
    cmd.args(args).current_dir(repo());
    cmd
}

/// Runs `tests/vm/run ARGS` from the repository's root, time bounded.
fn vm(ctx: &Ctx, args: &[&str]) -> Out {
    Proc::spawn(vm_command(args), &ctx.dir, GUEST_BOUND).wait()
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
    let marker_path = cache().join(format!("write-probe-{}", std::process::id()));
    let marker = marker_path.to_str().unwrap();
    let marker = sh_quote(marker);
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
        !Path::new(&marker_path).exists(),
        "a file written in the guest appeared on the host: {}",
        marker_path.display()
    );
    assert!(out.stdout.contains("to-stderr"), "{}", out.describe());
    // A failing command keeps its run directory, with the console log.
    let dir = kept_run_dir(&out);
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
    let mut proc = Proc::spawn(
        vm_command(&["--", "sh", "-c", "echo guest-up; sleep 1000"]),
        &ctx.dir,
        GUEST_BOUND,
    );
    // A harness that failed (a guest that could not boot, say) has exited
    // with its console log named: that ends the wait at once.
    let up = wait_until(GUEST_BOUND, || {
        proc.stdout_now().contains("guest-up") || proc.exited()
    });
    assert!(
        up && !proc.exited(),
        "the guest did not start (harness exited: {})\n--- stdout ---\n{}\n--- stderr ---\n{}",
        proc.exited(),
        proc.stdout_now(),
        proc.stderr_now()
    );
    // The run directory is on qemu's command line (ward.run=...).
    let runs = cache().join("runs");
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
        .map(decode_path)
        .expect("ward.run= on qemu's command line");
    assert!(
        run_dir
            .canonicalize()
            .unwrap()
            .starts_with(runs.canonicalize().unwrap()),
        "{} is not under {}",
        run_dir.display(),
        runs.display()
    );
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

/// A path as the harness writes it on the kernel command line: bytes
/// outside [A-Za-z0-9/._-] as %XX.
fn decode_path(s: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
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
    for (args, words) in [
        (
            &["--numa", "0", "true"][..],
            "--numa wants a count of 1 to 8, not '0'",
        ),
        (
            &["--numa", "3", "--mem", "1024", "true"][..],
            "does not split evenly",
        ),
    ] {
        let out = vm(&ctx, args);
        out.assert_code(125);
        assert!(out.stderr.contains(words), "{}", out.describe());
    }
}

/// `s` quoted for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A field `key=value` of the guest's output.
fn field(out: &Out, key: &str) -> String {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim_end_matches('\r').to_string())
        .unwrap_or_else(|| panic!("no {key}= line\n{}", out.describe()))
}

#[test]
fn guest_sees_the_hosts_tmp_and_has_its_own_run_and_dev_shm() {
    if skip_vm("guest_sees_the_hosts_tmp_and_has_its_own_run_and_dev_shm") {
        return;
    }
    let ctx = Ctx::new("vm-tmp");
    assert!(ctx.dir.starts_with("/tmp"), "{}", ctx.dir.display());
    // Made by the host under /tmp before the boot: the guest reads it at
    // the same path, may change it, and the host's copy stays as it was.
    let file = ctx.dir.join("from-host");
    let content = format!("made by the host, pid {}", std::process::id());
    fs::write(&file, &content).unwrap();
    // Host files under /run and /dev/shm are the host's runtime state, which
    // the guest doesn't see: it has its own, empty.
    let tag = format!("ward-test-vm-{}", std::process::id());
    let host_run = Path::new("/run").join(&tag);
    let host_shm = Path::new("/dev/shm").join(&tag);
    fs::write(&host_run, "host").unwrap();
    fs::write(&host_shm, "host").unwrap();
    let f = sh_quote(file.to_str().unwrap());
    let script = format!(
        "echo read=$(cat {f}); \
         echo changed > {f} && echo rewritten=$(cat {f}); \
         echo new > {f}.guest && echo created=$(cat {f}.guest); \
         echo tmpfs=$(stat -fc %T /tmp); \
         echo run=$(stat -fc %T /run) $(test -e /run/{tag} && echo host-file || echo own); \
         echo shm=$(stat -fc %T /dev/shm) $(test -e /dev/shm/{tag} && echo host-file || echo own); \
         touch /run/w /dev/shm/w && echo writable=yes"
    );
    let out = vm(&ctx, &["--", "sh", "-c", &script]);
    let _ = fs::remove_file(&host_run);
    let _ = fs::remove_file(&host_shm);
    out.assert_ok();
    assert_eq!(field(&out, "read"), content, "{}", out.describe());
    assert_eq!(field(&out, "rewritten"), "changed");
    assert_eq!(field(&out, "created"), "new");
    // The root's overlay (host files underneath, the guest's writes on top).
    assert_eq!(field(&out, "tmpfs"), "overlayfs");
    assert_eq!(field(&out, "run"), "tmpfs own");
    assert_eq!(field(&out, "shm"), "tmpfs own");
    assert_eq!(field(&out, "writable"), "yes");
    assert_eq!(fs::read_to_string(&file).unwrap(), content);
    assert!(!Path::new(&format!("{}.guest", file.display())).exists());
}

/// Copies what the harness needs of a checkout (tests/vm, scripts/deps.sh),
/// times kept so that the cached initramfs stays current.
fn copy_harness(ctx: &Ctx, checkout: &Path) {
    fs::create_dir_all(checkout.join("tests")).unwrap();
    fs::create_dir_all(checkout.join("scripts")).unwrap();
    let (vm_dir, deps) = (repo().join("tests/vm"), repo().join("scripts/deps.sh"));
    let (to_tests, to_scripts) = (checkout.join("tests"), checkout.join("scripts"));
    for (from, to) in [(&vm_dir, &to_tests), (&deps, &to_scripts)] {
        run_host(
            &ctx.dir,
            "cp",
            &["-a", from.to_str().unwrap(), to.to_str().unwrap()],
        )
        .assert_ok();
    }
}

#[test]
fn read_only_checkout_under_tmp_with_spaces_and_target_dir_elsewhere() {
    if skip_vm("read_only_checkout_under_tmp_with_spaces_and_target_dir_elsewhere") {
        return;
    }
    let ctx = Ctx::new("vm-paths");
    // The checkout: the harness, read-only (a bind mount), under /tmp, with
    // a space in its path.
    let checkout = ctx.dir.join("check out");
    copy_harness(&ctx, &checkout);
    let co = checkout.to_str().unwrap();
    ctx.track_host_mount(&checkout);
    run_host(&ctx.dir, "mount", &["--bind", co, co]).assert_ok();
    run_host(&ctx.dir, "mount", &["-o", "remount,bind,ro", co, co]).assert_ok();
    assert!(
        fs::write(checkout.join("probe"), "x").is_err(),
        "the checkout should be read-only"
    );
    // The build directory elsewhere, also with a space, named by
    // CARGO_TARGET_DIR only: the harness's cache goes to its vm/, which
    // shares the fetched kernel with this build's cache. A binary built on
    // the host is in it.
    let target = ctx.dir.join("target dir");
    fs::create_dir_all(target.join("vm")).unwrap();
    std::os::unix::fs::symlink(cache().join("kernel"), target.join("vm/kernel")).unwrap();
    let ward = target.join("ward bin");
    fs::copy(env!("CARGO_BIN_EXE_ward"), &ward).unwrap();
    // The working directory, with a file the host made.
    let work = ctx.dir.join("work dir");
    fs::create_dir(&work).unwrap();
    fs::write(work.join("host made"), "from the host\n").unwrap();

    let mut cmd = Command::new(checkout.join("tests/vm/run"));
    cmd.args([
        "--timeout",
        "200",
        "--",
        "sh",
        "-c",
        "echo pwd=$PWD; echo read=$(cat 'host made'); \"$0\" --version | sed 's/^/ward=/'",
        ward.to_str().unwrap(),
    ])
    .current_dir(&work)
    .env_remove("WARD_VM_CACHE")
    .env("CARGO_TARGET_DIR", &target);
    let out = Proc::spawn(cmd, &ctx.dir, GUEST_BOUND).wait();
    out.assert_ok();
    assert_eq!(field(&out, "pwd"), work.to_str().unwrap());
    assert_eq!(field(&out, "read"), "from the host");
    assert!(
        field(&out, "ward").starts_with("ward "),
        "{}",
        out.describe()
    );
    // The run went to the cache under CARGO_TARGET_DIR and, as it passed,
    // was removed.
    let runs: Vec<_> = fs::read_dir(target.join("vm/runs"))
        .expect("the cache's runs directory under CARGO_TARGET_DIR")
        .collect();
    assert!(runs.is_empty(), "{runs:?}");
}

#[test]
fn read_only_checkout_without_a_writable_cache_is_refused() {
    if skip_vm("read_only_checkout_without_a_writable_cache_is_refused") {
        return;
    }
    let ctx = Ctx::new("vm-rocache");
    let checkout = ctx.dir.join("checkout");
    copy_harness(&ctx, &checkout);
    let co = checkout.to_str().unwrap();
    ctx.track_host_mount(&checkout);
    run_host(&ctx.dir, "mount", &["--bind", co, co]).assert_ok();
    run_host(&ctx.dir, "mount", &["-o", "remount,bind,ro", co, co]).assert_ok();
    let mut cmd = Command::new(checkout.join("tests/vm/run"));
    cmd.args(["--", "true"])
        .current_dir(&ctx.dir)
        .env_remove("WARD_VM_CACHE")
        .env_remove("CARGO_TARGET_DIR");
    let out = Proc::spawn(cmd, &ctx.dir, CMD_TIMEOUT).wait();
    out.assert_code(125);
    let want = format!("the VM cache {co}/target/vm is not writable");
    assert!(out.stderr.contains(&want), "{}", out.describe());
}

#[test]
fn paths_the_guest_replaces_are_refused_without_booting() {
    if skip_vm("paths_the_guest_replaces_are_refused_without_booting") {
        return;
    }
    let ctx = Ctx::new("vm-refuse");
    // The guest has its own /dev/shm (and /run): a working directory there
    // would not be the host's.
    let shm = Path::new("/dev/shm").join(format!("ward-test-vm-{}", std::process::id()));
    fs::create_dir_all(&shm).unwrap();
    let mut cmd = vm_command(&["--", "true"]);
    cmd.current_dir(&shm);
    let out = Proc::spawn(cmd, &ctx.dir, CMD_TIMEOUT).wait();
    let _ = fs::remove_dir(&shm);
    out.assert_code(125);
    let want = format!(
        "ward-vm: the working directory {} is under /dev, which the guest replaces with its own",
        shm.display()
    );
    assert!(out.stderr.contains(&want), "{}", out.describe());
    let mut cmd = vm_command(&["--", "true"]);
    cmd.env("WARD_VM_CACHE", "/run/ward-test-vm-cache");
    let out = Proc::spawn(cmd, &ctx.dir, CMD_TIMEOUT).wait();
    out.assert_code(125);
    assert!(
        out.stderr
            .contains("the VM cache /run/ward-test-vm-cache is under /run"),
        "{}",
        out.describe()
    );
    assert!(!Path::new("/run/ward-test-vm-cache").exists());
}

#[test]
fn guest_that_cannot_boot_fails_fast_with_its_console_log() {
    if skip_vm("guest_that_cannot_boot_fails_fast_with_its_console_log") {
        return;
    }
    let ctx = Ctx::new("vm-noboot");
    // No such init in the initramfs: the kernel panics (panic=-1 reboots,
    // and -no-reboot ends qemu) instead of reaching the command.
    let mut cmd = vm_command(&["--", "sh", "-c", "echo guest-up; sleep 1000"]);
    cmd.env("WARD_VM_APPEND", "rdinit=/no-such-init");
    let out = Proc::spawn(cmd, &ctx.dir, GUEST_BOUND).wait();
    out.assert_code(125);
    assert!(
        out.stderr
            .contains("the guest ended without an exit status"),
        "{}",
        out.describe()
    );
    assert!(!out.stdout.contains("guest-up"), "{}", out.describe());
    let dir = kept_run_dir(&out);
    let log = read_lossy(&dir.join("console.log"));
    assert!(log.contains("Kernel panic"), "{log}");
    fs::remove_dir_all(&dir).unwrap();

    // A guest that has not reached its command within the boot bound is
    // killed then, not at --timeout. ward.stall makes stage 1 hang.
    let mut cmd = vm_command(&["--timeout", "600", "--", "true"]);
    cmd.env("WARD_VM_APPEND", "ward.stall")
        .env("WARD_VM_BOOT_TIMEOUT", "3");
    let out = Proc::spawn(cmd, &ctx.dir, GUEST_BOUND).wait();
    out.assert_code(125);
    assert!(
        out.stderr
            .contains("the guest did not reach its command within 3s"),
        "{}",
        out.describe()
    );
    let dir = kept_run_dir(&out);
    assert!(
        qemu_processes(dir.to_str().unwrap()).is_empty(),
        "a qemu of the run stopped at its boot bound is still alive"
    );
    fs::remove_dir_all(&dir).unwrap();
}
