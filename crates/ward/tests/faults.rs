//! Fault injection (issue 9): whatever happens to ward mid-operation, a
//! later `delete --force` leaves nothing, and nothing is corrupted.
//!
//! - every named stop point (WARD_FAULT=<point>, debug builds: see
//!   ward-core/src/fault.rs) of create, start and delete;
//! - SIGKILL after a random delay of create, start, exec, kill and delete,
//!   with a seeded PRNG: the seed is printed, and WARD_FAULT_SEED=<n>
//!   replays a run;
//! - concurrent storms on one container, N creates of one ID, many
//!   containers at once;
//! - a full --root, a memory limit too small for setup, fd and pid
//!   exhaustion, and damaged state files.
//!
//! After each case the host is checked: no entry under --root, no cgroup in
//! any hierarchy, no mount, no process (common's `assert_nothing_left`).
//! docs/reliability.md has the figures.

mod common;

use common::*;
use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// A small PRNG (xorshift64*), seeded once per run
// ---------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    /// The run's seed (WARD_FAULT_SEED, or the clock), printed so a failing
    /// run can be replayed; each test mixes in its own name.
    fn for_test(name: &str) -> Rng {
        let seed = std::env::var("WARD_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("faults: {name}: seed {seed} (replay with WARD_FAULT_SEED={seed})");
        let mix = name.bytes().fold(seed ^ 0x9e37_79b9_7f4a_7c15, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
        Rng(mix | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in 0..n.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Random-kill iterations per command.
const ITERATIONS: usize = 10;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn killed(out: &Out) -> bool {
    out.signal == Some(libc::SIGKILL)
}

/// No panic, no backtrace: ward failed (or not) with its one-line error.
#[track_caller]
fn no_panic(out: &Out) {
    assert!(
        out.code.is_some()
            && !out.stderr.contains("panicked")
            && !out.stderr.contains("RUST_BACKTRACE"),
        "ward crashed\n{}",
        out.describe()
    );
}

/// After a fault: `list` works and every container it shows can be told
/// (`state` doesn't crash) and deleted; then nothing is left.
#[track_caller]
fn assert_recoverable(ctx: &Ctx, id: &str) {
    let list = ctx.rt(&["list", "--format", "json"]);
    list.assert_ok();
    let listed: serde_json::Value = serde_json::from_str(list.stdout.trim())
        .unwrap_or_else(|e| panic!("list is not JSON ({e})\n{}", list.describe()));
    let mut ids: Vec<String> = listed
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if !ids.iter().any(|i| i == id) {
        ids.push(id.to_string());
    }
    for i in &ids {
        no_panic(&ctx.rt(&["state", i]));
        ctx.rt(&["delete", "--force", i]).assert_ok();
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    ctx.assert_nothing_left(&refs);
}

/// A long-running container's bundle, written.
fn long_bundle(ctx: &Ctx, name: &str) -> Bundle {
    let mut b = ctx.bundle(name);
    b.long_running("");
    b.write();
    b
}

/// `ward <args>` with WARD_FAULT=point; it must die by SIGKILL there.
#[track_caller]
fn run_to_point(ctx: &Ctx, point: &str, args: &[&str]) -> Out {
    let mut cmd = ctx.command(args);
    cmd.env("WARD_FAULT", point);
    let out = ctx.spawn_cmd(cmd, CMD_TIMEOUT).wait();
    assert!(
        killed(&out),
        "ward was to die at {point}\n{}",
        out.describe()
    );
    out
}

// ---------------------------------------------------------------------------
// Named stop points
// ---------------------------------------------------------------------------

const CREATE_POINTS: [&str; 5] = [
    "create:dir",
    "create:cgroup",
    "create:cloned",
    "create:ready",
    "create:saved",
];
const START_POINTS: [&str; 2] = ["start:connected", "start:unlinked"];
const DELETE_POINTS: [&str; 3] = ["delete:killed", "delete:cgroup", "delete:files"];

#[test]
fn killed_at_every_create_point() {
    if skip_unless_ward("WARD_FAULT stop points") {
        return;
    }
    let ctx = Ctx::new("fault-create");
    let b = long_bundle(&ctx, "b");
    for point in CREATE_POINTS {
        let id = ctx.id("cp");
        run_to_point(&ctx, point, &["create", "--bundle", b.path(), &id]);
        // A killed create is never left "creating" for ever. From
        // create:cloned on, the child it cloned holds the container's lock
        // (an inherited descriptor) until it dies of its parent's death,
        // which on a loaded machine is not at once: "creating" until then.
        let mut status = None;
        wait_until(WAIT_TIMEOUT, || {
            status = ctx.status(&id);
            status.as_deref() != Some("creating")
        });
        if let Some(s) = status {
            assert!(
                s == "stopped" || (point == "create:saved" && s == "created"),
                "{point}: status {s}"
            );
        }
        assert_recoverable(&ctx, &id);
        // The ID is free again.
        ctx.create(&b, &id).assert_ok();
        ctx.rt(&["delete", "--force", &id]).assert_ok();
        ctx.assert_nothing_left(&[&id]);
    }
}

/// create's stage 1 (validate) finds every mistake in the input before
/// stage 2 makes anything: with a stop point at the first thing made
/// (create:dir), bad input must fail with ward's error, never reach it.
/// linux.resources are checked there too, through the cgroup planners.
#[test]
fn bad_input_fails_before_anything_is_made() {
    if skip_unless_ward("WARD_FAULT stop points") {
        return;
    }
    let ctx = Ctx::new("fault-stage1");
    let cases: [(&str, serde_json::Value); 4] = [
        // Valid JSON and spec, refused only when converted for the cgroup.
        (
            "swap below memory",
            serde_json::json!({"memory": {"limit": 67108864, "swap": 1048576}}),
        ),
        (
            "cpu quota without period",
            serde_json::json!({"cpu": {"quota": 0, "period": 1}}),
        ),
        (
            "unknown unified controller",
            serde_json::json!({"unified": {"nosuchctl.max": "1"}}),
        ),
        (
            "device rule of a bad type",
            serde_json::json!({"devices": [{"allow": true, "type": "x"}]}),
        ),
    ];
    for (row, resources) in cases {
        let mut b = long_bundle(&ctx, &format!("b{}", ctx.id("x")));
        b.linux()["resources"] = resources;
        b.write();
        let id = ctx.id("s1");
        let mut cmd = ctx.command(&["create", "--bundle", b.path(), &id]);
        cmd.env("WARD_FAULT", "create:dir");
        let out = ctx.spawn_cmd(cmd, CMD_TIMEOUT).wait();
        assert!(
            !killed(&out),
            "{row}: create got as far as making the state dir\n{}",
            out.describe()
        );
        out.assert_fail();
        out.assert_error_line("create", &id);
        ctx.assert_nothing_left(&[&id]);
    }
}

/// A bug of ward's (a panic, made here by `WARD_FAULT=panic:<point>`) is
/// not lost: it is said on stderr and in the --log file an engine reads,
/// as an error line of the log's format.
#[test]
fn a_panic_reaches_the_log_file() {
    if skip_unless_ward("WARD_FAULT stop points") {
        return;
    }
    let ctx = Ctx::new("fault-panic");
    let b = long_bundle(&ctx, "b");
    let id = ctx.id("p");
    let log = ctx.dir.join("panic.log");
    let log_s = log.to_str().unwrap();
    let mut cmd = ctx.command(&[
        "--log",
        log_s,
        "--log-format",
        "json",
        "create",
        "--bundle",
        b.path(),
        &id,
    ]);
    cmd.env("WARD_FAULT", "panic:create:dir");
    let out = ctx.spawn_cmd(cmd, CMD_TIMEOUT).wait();
    out.assert_fail();
    assert!(
        out.stderr.contains("ward: internal error: panicked at")
            && out.stderr.contains("WARD_FAULT: a panic at create:dir"),
        "the panic is not on stderr\n{}",
        out.describe()
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let errors: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l:?}: {e}")))
        .filter(|v: &serde_json::Value| v["level"] == "error")
        .collect();
    assert!(
        errors.iter().any(|v| v["msg"]
            .as_str()
            .is_some_and(|m| m.contains("internal error") && m.contains("a panic at create:dir"))),
        "no error line for the panic in {log_s}: {text:?}"
    );
    ctx.rt(&["delete", "--force", &id]);
}

/// A foreground `run` has no start.sock: its init waits on a pair whose
/// other end dies with ward, so a run killed between its create and its
/// start leaves no init waiting for a start that can't come.
#[test]
fn foreground_run_killed_before_start_leaves_no_waiting_init() {
    if skip_unless_ward("WARD_FAULT stop points") {
        return;
    }
    let ctx = Ctx::new("fault-runfg");
    let b = long_bundle(&ctx, "b");
    let id = ctx.id("rf");
    run_to_point(&ctx, "create:saved", &["run", "--bundle", b.path(), &id]);
    // `state` prints pid 0 for a stopped container: the stored one.
    let stored = fs::read_to_string(ctx.root.join(&id).join("state.json")).unwrap();
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    let pid = stored["pid"].as_i64().unwrap_or(0) as i32;
    assert!(pid > 0, "no init pid stored: {stored}");
    assert!(
        wait_until(WAIT_TIMEOUT, || !pid_alive(pid)),
        "init {pid} outlived the run that was to start it"
    );
    assert_eq!(ctx.status(&id).as_deref(), Some("stopped"));
    assert_recoverable(&ctx, &id);
}

#[test]
fn killed_at_every_start_and_delete_point() {
    if skip_unless_ward("WARD_FAULT stop points") {
        return;
    }
    let ctx = Ctx::new("fault-startdel");
    let b = long_bundle(&ctx, "b");
    for point in START_POINTS {
        let id = ctx.id("sp");
        let (pid, out) = ctx.create_ok(&b, &id);
        run_to_point(&ctx, point, &["start", &id]);
        // The program runs, and state says so although start.sock may
        // still be there.
        wait_for_marker(&out.stdout_path, READY);
        assert_eq!(ctx.status(&id).as_deref(), Some("running"), "{point}");
        assert!(!ctx.rt(&["start", &id]).success(), "{point}: started twice");
        assert!(pid_alive(pid));
        assert_recoverable(&ctx, &id);
    }
    for point in DELETE_POINTS {
        let id = ctx.id("dp");
        ctx.start_long(&b, &id);
        run_to_point(&ctx, point, &["delete", "--force", &id]);
        assert_recoverable(&ctx, &id);
    }
}

// ---------------------------------------------------------------------------
// SIGKILL at random moments
// ---------------------------------------------------------------------------

/// Spawns `args`, SIGKILLs it after `delay_us`, and returns how it ended.
fn kill_after(ctx: &Ctx, args: &[&str], delay_us: u64) -> Out {
    let p = ctx.spawn(args, CMD_TIMEOUT);
    thread::sleep(Duration::from_micros(delay_us));
    p.signal(libc::SIGKILL);
    p.wait()
}

fn random_kills(name: &str, max_delay_us: u64, setup: &str, victim: &[&str]) {
    let ctx = Ctx::new(name);
    let b = long_bundle(&ctx, "b");
    let mut rng = Rng::for_test(name);
    let mut ended_early = 0;
    for i in 0..ITERATIONS {
        let id = ctx.id("rk");
        let mut out = None;
        if setup == "created" || setup == "running" {
            out = Some(ctx.create_ok(&b, &id).1);
        }
        if setup == "running" {
            ctx.start_ok(&id);
            wait_for_marker(&out.as_ref().unwrap().stdout_path, READY);
        }
        let delay = rng.below(max_delay_us);
        let args: Vec<&str> = victim
            .iter()
            .map(|a| match *a {
                "ID" => id.as_str(),
                "BUNDLE" => b.path(),
                a => a,
            })
            .collect();
        let res = kill_after(&ctx, &args, delay);
        if !killed(&res) {
            ended_early += 1;
            no_panic(&res);
        }
        // Whatever was killed, the container tells the truth: a created
        // one can still be started, a running one runs.
        if ctx.status(&id).as_deref() == Some("created") {
            ctx.start_ok(&id);
        }
        eprintln!("{name}: iteration {i}: killed after {delay} us");
        assert_recoverable(&ctx, &id);
    }
    eprintln!("{name}: {ended_early} of {ITERATIONS} commands finished before the kill");
}

#[test]
fn random_kill_create() {
    random_kills(
        "rk-create",
        80_000,
        "",
        &["create", "--bundle", "BUNDLE", "ID"],
    );
}

#[test]
fn random_kill_start() {
    random_kills("rk-start", 30_000, "created", &["start", "ID"]);
}

#[test]
fn random_kill_exec() {
    random_kills(
        "rk-exec",
        60_000,
        "running",
        &["exec", "ID", "sh", "-c", "sleep 500"],
    );
}

#[test]
fn random_kill_kill() {
    random_kills("rk-kill", 15_000, "running", &["kill", "ID", "CONT"]);
}

#[test]
fn random_kill_delete() {
    random_kills("rk-delete", 40_000, "running", &["delete", "--force", "ID"]);
}

// ---------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------

#[test]
fn concurrent_creates_of_one_id_have_one_winner() {
    let ctx = Ctx::new("fault-race");
    let b = long_bundle(&ctx, "b");
    let id = ctx.id("race");
    let procs: Vec<Proc> = (0..8)
        .map(|_| ctx.spawn(&["create", "--bundle", b.path(), &id], CMD_TIMEOUT))
        .collect();
    let outs: Vec<Out> = procs.into_iter().map(Proc::wait).collect();
    let winners = outs.iter().filter(|o| o.success()).count();
    assert_eq!(
        winners,
        1,
        "{}",
        outs.iter().map(Out::describe).collect::<String>()
    );
    for o in outs.iter().filter(|o| !o.success()) {
        o.assert_stderr_has_any(&["exists"]);
    }
    // The winner is whole: created, and it starts.
    let winner = outs.iter().find(|o| o.success()).unwrap();
    assert_eq!(ctx.status(&id).as_deref(), Some("created"));
    ctx.start_ok(&id);
    wait_for_marker(&winner.stdout_path, READY);
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn command_storm_on_one_container() {
    let ctx = Ctx::new("fault-storm");
    let b = long_bundle(&ctx, "b");
    let id = ctx.id("storm");
    ctx.start_long(&b, &id);
    let verbs: [&[&str]; 9] = [
        &["state", "ID"],
        &["kill", "ID", "CONT"],
        &["pause", "ID"],
        &["resume", "ID"],
        &["ps", "ID"],
        &["events", "--stats", "ID"],
        &["exec", "ID", "true"],
        &["exec", "--ignore-paused", "ID", "true"],
        &["list"],
    ];
    let start = Instant::now();
    let procs: Vec<Proc> = (0..36)
        .map(|i| {
            let args: Vec<&str> = verbs[i % verbs.len()]
                .iter()
                .map(|a| if *a == "ID" { id.as_str() } else { a })
                .collect();
            ctx.spawn(&args, CMD_TIMEOUT)
        })
        .collect();
    // exec --ignore-paused waits, frozen, until the container is resumed
    // (as in runc): if a pause came last, nothing would ever thaw it, so a
    // resumer keeps thawing until every command is done.
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(300));
                let _ = ctx.rt(&["resume", &id]);
            }
        });
        for p in procs {
            no_panic(&p.wait());
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    eprintln!("storm of 36 commands: {:?}", start.elapsed());
    // Not corrupted: the state parses, and the container is running (or
    // paused, if a pause came last) and answers.
    let text = fs::read_to_string(ctx.root.join(&id).join("state.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).expect("state.json is JSON");
    if ctx.status(&id).as_deref() == Some("paused") {
        ctx.rt(&["resume", &id]).assert_ok();
    }
    assert_eq!(ctx.status(&id).as_deref(), Some("running"));
    ctx.rt(&["exec", &id, "true"]).assert_ok();
    // Deletes racing each other and everything else: all of them succeed.
    let procs: Vec<(bool, Proc)> = (0..16)
        .map(|i| {
            let args: &[&str] = match i % 4 {
                0 => &["delete", "--force", &id],
                1 => &["state", &id],
                2 => &["kill", &id, "KILL"],
                _ => &["pause", &id],
            };
            (i % 4 == 0, ctx.spawn(args, CMD_TIMEOUT))
        })
        .collect();
    for (is_delete, p) in procs {
        let out = p.wait();
        no_panic(&out);
        if is_delete {
            out.assert_ok();
        }
    }
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn many_containers_in_parallel() {
    let ctx = Ctx::new("fault-many");
    let b = long_bundle(&ctx, "b");
    let ids: Vec<String> = (0..12).map(|_| ctx.id("par")).collect();
    thread::scope(|s| {
        for id in &ids {
            let (ctx, b) = (&ctx, &b);
            s.spawn(move || {
                ctx.rt(&["create", "--bundle", b.path(), id]).assert_ok();
                ctx.rt(&["start", id]).assert_ok();
                ctx.rt(&["state", id]).assert_ok();
                ctx.rt(&["delete", "--force", id]).assert_ok();
            });
        }
    });
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    ctx.assert_nothing_left(&refs);
}

// ---------------------------------------------------------------------------
// Exhaustion
// ---------------------------------------------------------------------------

#[test]
fn full_root_file_system() {
    let ctx = Ctx::new("fault-enospc");
    let b = long_bundle(&ctx, "b");
    let mnt = ctx.dir.join("tiny");
    fs::create_dir(&mnt).unwrap();
    let m = mnt.to_str().unwrap();
    ctx.host("mount", &["-t", "tmpfs", "-o", "size=64k", "tmpfs", m])
        .assert_ok();
    ctx.track_host_mount(&mnt);
    let root = mnt.join("root");
    let rt = |args: &[&str]| {
        let mut c = std::process::Command::new(runtime_bin());
        c.arg("--root").arg(&root).args(args);
        ctx.spawn_cmd(c, CMD_TIMEOUT).wait()
    };
    let fill = mnt.join("fill");
    // Free pages 0, 1, 2...: create fails at a different write each time.
    let mut failures = 0;
    for free in 0..6u64 {
        let id = ctx.id("full");
        let _ = fs::remove_file(&fill);
        let _ = fs::write(&fill, vec![0u8; (16 - free as usize) * 4096]);
        let out = rt(&["create", "--bundle", b.path(), &id]);
        no_panic(&out);
        if out.success() {
            rt(&["delete", "--force", &id]).assert_ok();
        } else {
            failures += 1;
            out.assert_error_line("create", &id);
            out.assert_stderr_has_any(&["no space left on device"]);
            assert!(
                out.stderr.contains(root.to_str().unwrap()),
                "the error names no path under --root\n{}",
                out.describe()
            );
        }
        // No half state, nothing in the cgroups.
        let left: Vec<_> = fs::read_dir(&root)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{free} pages free: left {left:?}");
        ctx.assert_nothing_left(&[&id]);
        // With space, the same ID works.
        fs::remove_file(&fill).unwrap();
        rt(&["create", "--bundle", b.path(), &id]).assert_ok();
        rt(&["delete", "--force", &id]).assert_ok();
    }
    assert!(failures > 0, "a full --root never failed a create");
    ctx.host("umount", &[m]).assert_ok();
}

#[test]
fn memory_limit_too_small_for_setup() {
    let ctx = Ctx::new("fault-oom");
    let mut b = ctx.bundle("b");
    b.long_running("");
    b.linux()["resources"] = serde_json::json!({"memory": {"limit": 4096}});
    let id = ctx.id("oom");
    let out = ctx.create(&b, &id);
    no_panic(&out);
    if out.success() {
        // Setup fit (a kernel that charges less): only the cleanup is
        // checked then.
        eprintln!("note: setup fit in a 4 KiB memory limit on this kernel");
    } else {
        if testing_ward() {
            out.assert_error_line("create", &id);
            out.assert_stderr_has_any(&["memory"]);
        }
        assert!(ctx.status(&id).is_none(), "a failed create left a state");
    }
    ctx.rt(&["delete", "--force", &id]);
    ctx.assert_nothing_left(&[&id]);
}

/// ward with a soft RLIMIT_NOFILE of n.
fn with_nofile(ctx: &Ctx, n: u64, args: &[&str]) -> Out {
    use std::os::unix::process::CommandExt;
    let mut c = ctx.command(args);
    // SAFETY: setrlimit is async-signal-safe and touches no memory of ours
    // but the struct on the stack.
    unsafe {
        c.pre_exec(move || {
            // The soft limit only (ulimit -Sn): the container's own
            // RLIMIT_NOFILE may still be raised up to the hard one.
            let mut r = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            r.rlim_cur = n;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    ctx.spawn_cmd(c, CMD_TIMEOUT).wait()
}

#[test]
fn fd_exhaustion() {
    let ctx = Ctx::new("fault-fds");
    let b = long_bundle(&ctx, "b");
    let mut failed = 0;
    for n in 4..16 {
        let id = ctx.id("fds");
        let out = with_nofile(&ctx, n, &["create", "--bundle", b.path(), &id]);
        no_panic(&out);
        if out.success() {
            let st = with_nofile(&ctx, n, &["start", &id]);
            no_panic(&st);
        } else {
            failed += 1;
            if testing_ward() {
                out.assert_error_line("create", &id);
                out.assert_stderr_has_any(&["too many open files"]);
            }
            assert!(ctx.status(&id).is_none(), "ulimit -n {n}: state left");
        }
        let del = with_nofile(&ctx, n, &["delete", "--force", &id]);
        no_panic(&del);
        if !del.success() {
            ctx.rt(&["delete", "--force", &id]).assert_ok();
        }
        ctx.assert_nothing_left(&[&id]);
    }
    assert!(failed > 0, "no ulimit -n was too small");
}

/// Where the pids controller is: its v1 hierarchy, or the v2 root when v2
/// offers it.
fn pids_hierarchy() -> Option<std::path::PathBuf> {
    let v1 = Path::new("/sys/fs/cgroup/pids");
    if v1.join("pids.max").exists() || v1.join("cgroup.procs").exists() {
        return Some(v1.to_path_buf());
    }
    let v2 = Path::new("/sys/fs/cgroup");
    let ctrls = fs::read_to_string(v2.join("cgroup.controllers")).ok()?;
    ctrls
        .split_whitespace()
        .any(|c| c == "pids")
        .then(|| v2.to_path_buf())
}

#[test]
fn pid_exhaustion() {
    let Some(h) = pids_hierarchy() else {
        eprintln!("SKIP: no pids cgroup controller on this host");
        return;
    };
    let ctx = Ctx::new("fault-pids");
    let mut b = ctx.bundle("b");
    b.long_running("");
    // The container's cgroup below ward's limited one: on a v2 host the
    // clone is charged where CLONE_INTO_CGROUP puts it.
    let top = format!("wardtest-pids-{}", std::process::id());
    b.linux()["cgroupsPath"] = serde_json::json!(format!("/{top}/c"));
    let parent = h.join(&top);
    let own = parent.join("self");
    if h == Path::new("/sys/fs/cgroup") {
        let _ = fs::write(h.join("cgroup.subtree_control"), "+pids");
    }
    fs::create_dir_all(&own).unwrap();
    fs::write(parent.join("pids.max"), "1").unwrap();
    b.write();
    let id = ctx.id("pids");
    // The paths as arguments, not in the script: a checkout's may hold
    // white space.
    let procs = own.join("cgroup.procs");
    let (bin, root) = (runtime_bin(), ctx.root.clone());
    let out = ctx.host(
        "sh",
        &[
            "-c",
            "echo $$ > \"$0\" && exec \"$1\" --root \"$2\" create --bundle \"$3\" \"$4\"",
            procs.to_str().unwrap(),
            bin.to_str().unwrap(),
            root.to_str().unwrap(),
            b.path(),
            &id,
        ],
    );
    // Cleanup first, so that an assertion failure leaves nothing.
    let _ = fs::write(parent.join("pids.max"), "max");
    ctx.rt(&["delete", "--force", &id]);
    let mut left = Vec::new();
    for d in cgroups_named(&top) {
        for sub in ["c", "self"] {
            let _ = fs::remove_dir(d.join(sub));
        }
        if fs::remove_dir(&d).is_err() {
            left.push(d);
        }
    }
    no_panic(&out);
    out.assert_fail();
    if testing_ward() {
        out.assert_error_line("create", &id);
        out.assert_stderr_has_any(&["resource temporarily unavailable"]);
    }
    assert!(left.is_empty(), "cgroups left: {left:?}");
    ctx.assert_nothing_left(&[&id]);
}

// ---------------------------------------------------------------------------
// Damaged state
// ---------------------------------------------------------------------------

#[test]
fn damaged_state_files() {
    if skip_unless_ward("ward's state files") {
        return;
    }
    let ctx = Ctx::new("fault-damaged");
    let b = long_bundle(&ctx, "b");
    // (what is done to state.json, whether recovery.json is damaged too)
    let cases: [(&str, bool); 5] = [
        ("truncated", false),
        ("empty", false),
        ("garbage", false),
        ("truncated", true),
        ("removed", true),
    ];
    for (how, both) in cases {
        let id = ctx.id("dmg");
        let (pid, _) = ctx.start_long(&b, &id);
        let start = pid_starttime(pid);
        let dir = ctx.root.join(&id);
        let state = dir.join("state.json");
        let text = fs::read(&state).unwrap();
        match how {
            "truncated" => fs::write(&state, &text[..text.len() / 2]).unwrap(),
            "empty" => fs::write(&state, b"").unwrap(),
            "garbage" => fs::write(&state, b"\x00\xff{{not json").unwrap(),
            _ => fs::remove_file(&state).unwrap(),
        }
        if both {
            fs::write(dir.join("recovery.json"), b"{\"cgroup\": [").unwrap();
        }
        let out = ctx.rt(&["state", &id]);
        no_panic(&out);
        if how != "removed" {
            out.assert_fail();
            out.assert_error_line("state", &id);
            out.assert_stderr_has_any(&["damaged"]);
            let del = ctx.rt(&["delete", &id]);
            no_panic(&del);
            del.assert_fail();
        }
        no_panic(&ctx.rt(&["list"]));
        ctx.rt(&["delete", "--force", &id]).assert_ok();
        assert!(
            wait_until(Duration::from_secs(5), || !same_process_alive(pid, start)),
            "{how}: init {pid} survived delete --force"
        );
        ctx.assert_nothing_left(&[&id]);
    }
}
