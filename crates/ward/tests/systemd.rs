//! The systemd cgroup driver against a real systemd: one boot of the test
//! VM with Debian's systemd as PID 1 (`tests/vm/run --systemd --numa 2`),
//! in which [`in_the_systemd_guest`] runs every check in turn:
//!
//! * a container under `--systemd-cgroup` is its scope in `systemctl
//!   status`, with Delegate=yes and the limits as properties, and the
//!   cgroup files hold the exact values;
//! * the limits are enforced (pids.max: a fork fails);
//! * `update` goes through systemd (the properties change) and the files;
//! * `systemctl daemon-reload` undoes none of it; pause and resume work;
//! * `delete` leaves no unit and no cgroup;
//! * `systemctl stop` of the scope stops the container;
//! * a create that fails after the scope started leaves no unit;
//! * podman with `--cgroup-manager systemd` runs a container with ward as
//!   its runtime, in its libpod scope; `podman container checkpoint` and
//!   `restore` put it back in a libpod scope;
//! * rootless: a user's container is a scope of the user's own systemd
//!   instance (user@UID.service), with its limit;
//! * linux.memoryPolicy across the guest's two NUMA nodes (numa_maps);
//! * checkpoint and restore under `--systemd-cgroup` (Debian's criu works
//!   on the guest's kernel): the restored container is a new scope with
//!   the properties, its processes in it, and its delete leaves nothing;
//!   the same in systemd's hybrid mode (v1 controllers).
//!
//! The checks change the guest's systemd (drop-ins, a user) and so run
//! only there, never on a host.
//!
//! The host side ([`systemd_guest`]) boots the guest and passes the
//! guest's status back. The boot and the checks take about a minute
//! under TCG on the CI machine. This file is not run in the ordinary
//! test VM (scripts/vm-test.sh): it boots its own.

mod common;
mod engine_support;

use common::*;
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Set in the guest's environment by the host side.
const GUEST_VAR: &str = "WARD_SYSTEMD_GUEST";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository's root")
}

/// Boots the systemd guest (`extra` options of tests/vm/run) and runs
/// [`in_the_systemd_guest`] in it with GUEST_VAR=`mode`.
fn boot(mode: &str, extra: &[&str]) {
    if std::env::var_os(GUEST_VAR).is_some() {
        return;
    }
    if std::env::var("WARD_TEST_VM").is_ok_and(|v| v == "0") {
        eprintln!("SKIP: the systemd guest ({mode}): WARD_TEST_VM=0");
        return;
    }
    let ctx = Ctx::new(&format!("sdvm{mode}"));
    let exe = std::env::current_exe().expect("this test binary");
    let mut cmd = std::process::Command::new(repo().join("tests/vm/run"));
    cmd.current_dir(repo())
        .arg("--systemd")
        .args(extra)
        .args(["--timeout", "900", "--env", &format!("{GUEST_VAR}={mode}")])
        .args(["--env", "RUST_BACKTRACE=1"]);
    if !testing_ward() {
        cmd.args([
            "--env",
            &format!("WARD_TEST_BIN={}", runtime_bin().display()),
        ]);
    }
    cmd.arg("--").arg(&exe).args([
        "--exact",
        "in_the_systemd_guest",
        "--nocapture",
        "--test-threads=1",
    ]);
    let started = std::time::Instant::now();
    let out = Proc::spawn(cmd, &ctx.dir, Duration::from_secs(960)).wait();
    eprintln!(
        "systemd guest ({mode}): {:.1} s\n{}",
        started.elapsed().as_secs_f64(),
        out.stdout
    );
    out.assert_ok();
    assert!(
        out.stdout.contains("systemd guest: every check passed"),
        "{}",
        out.describe()
    );
}

#[test]
fn systemd_guest() {
    boot("v2", &["--numa", "2", "--mem", "2048"]);
}

/// systemd's hybrid mode: v1 controllers, the legacy property names, and
/// the v1 hierarchies systemd doesn't manage joined by ward.
#[test]
fn systemd_guest_hybrid() {
    boot("hybrid", &["--hybrid"]);
}

/// A host without systemd (this build machine): `--systemd-cgroup` is
/// refused with one line and nothing is left, as runc 1.1.5 refuses it
/// ("systemd not running on this host, cannot use systemd cgroups
/// manager").
#[test]
fn without_systemd_the_driver_is_refused() {
    if std::env::var_os(GUEST_VAR).is_some() || Path::new("/run/systemd/system").exists() {
        return;
    }
    let ctx = Ctx::new("nosd");
    let id = ctx.id("n");
    let mut b = ctx.bundle("n");
    b.linux()["cgroupsPath"] = json!(format!("system.slice:ward:{id}"));
    b.write();
    let out = ctx.rt(&["--systemd-cgroup", "create", "--bundle", b.path(), &id]);
    out.assert_code(1);
    out.assert_stderr_has_any(&["systemd is not running", "systemd not running"]);
    if testing_ward() {
        out.assert_error_line("create", &id);
    }
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn in_the_systemd_guest() {
    if std::env::var_os(GUEST_VAR).is_none() {
        return;
    }
    assert_eq!(
        fs::read_to_string("/proc/1/comm").unwrap().trim(),
        "systemd",
        "PID 1"
    );
    match std::env::var(GUEST_VAR).as_deref() {
        Ok("hybrid") => hybrid_checks(),
        _ => in_the_systemd_guest_checks(),
    }
}

/// `systemctl ARGS`.
fn systemctl(ctx: &Ctx, args: &[&str]) -> Out {
    ctx.host("systemctl", args)
}

/// Properties of a unit (`systemctl show -p A,B unit`), as "A=value" lines.
fn show(ctx: &Ctx, unit: &str, props: &str) -> String {
    let out = systemctl(ctx, &["show", "-p", props, unit]);
    out.assert_ok();
    out.stdout
}

/// The device rules at work in container `id`: /dev/kmsg opens for
/// writing and not for reading. Returns the exec's output.
#[track_caller]
fn kmsg_writes_but_not_reads(ctx: &Ctx, id: &str, round: &str) -> Out {
    let out = ctx.rt(&[
        "exec",
        id,
        "sh",
        "-c",
        "echo ward-device-check >/dev/kmsg; echo W=$?; head -c1 /dev/kmsg >/dev/null; echo R=$?",
    ]);
    assert_eq!(kv(&out.stdout, "W"), "0", "{round}: {}", out.describe());
    assert_ne!(kv(&out.stdout, "R"), "0", "{round}: {}", out.describe());
    out
}

fn read(p: impl AsRef<Path>) -> String {
    fs::read_to_string(p.as_ref())
        .unwrap_or_else(|e| panic!("read {}: {e}", p.as_ref().display()))
        .trim()
        .to_string()
}

fn in_the_systemd_guest_checks() {
    if skip_unless_ward("the systemd driver's checks") {
        return;
    }
    let ctx = Ctx::new("sd");
    let cgroot = Path::new("/sys/fs/cgroup");

    // --- a scope with its properties --------------------------------------
    let id = ctx.id("a");
    let unit = format!("ward-{id}.scope");
    let mut b = ctx.bundle("a");
    b.linux()["cgroupsPath"] = json!(format!("wardtest.slice:ward:{id}"));
    b.linux()["resources"] = json!({
        "memory": {"limit": 67108864, "swap": 67108864},
        "pids": {"limit": 8},
        "cpu": {"quota": 50000, "period": 100000, "shares": 512, "cpus": "0"},
        // /dev/kmsg (c 1:11) for writing only; reading it, which
        // CAP_SYSLOG allows, is left to the device rules to refuse.
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"},
        ],
    });
    b.add_cap("CAP_SYSLOG");
    b.long_running("");
    b.write();
    let out = ctx.rt(&["--systemd-cgroup", "create", "--bundle", b.path(), &id]);
    out.assert_ok();
    ctx.rt(&["start", &id]).assert_ok();
    let pid: i32 = {
        let st = ctx.rt(&["state", &id]);
        let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
        v["pid"].as_i64().unwrap() as i32
    };
    wait_exec(pid, &["sleep", "1000"]);
    let status = systemctl(&ctx, &["status", "--no-pager", &unit]);
    status.assert_ok();
    assert!(
        status.stdout.contains(&pid.to_string()) && status.stdout.contains("wardtest.slice"),
        "{}",
        status.describe()
    );
    let props = show(
        &ctx,
        &unit,
        "ActiveState,Delegate,ControlGroup,MemoryMax,MemorySwapMax,TasksMax,CPUQuotaPerSecUSec,CPUWeight,AllowedCPUs",
    );
    for want in [
        "ActiveState=active",
        "Delegate=yes",
        &format!("ControlGroup=/wardtest.slice/{unit}"),
        "MemoryMax=67108864",
        "MemorySwapMax=0",
        "TasksMax=8",
        "CPUQuotaPerSecUSec=500ms",
        "CPUWeight=59",
        "AllowedCPUs=0",
    ] {
        assert!(props.lines().any(|l| l == want), "{want} not in\n{props}");
    }
    // The device rules as systemd's DevicePolicy/DeviceAllow (ward's
    // defaults included: mknod of any device, the pts devices).
    let props = show(&ctx, &unit, "DevicePolicy,DeviceAllow");
    for want in [
        "DevicePolicy=strict",
        "DeviceAllow=/dev/char/1:11 w",
        "DeviceAllow=char-* m",
        "DeviceAllow=block-* m",
        "DeviceAllow=/dev/char/1:3 rwm",
        "DeviceAllow=char-136 rwm",
    ] {
        assert!(props.lines().any(|l| l == want), "{want} not in\n{props}");
    }
    let dir = cgroot.join("wardtest.slice").join(&unit);
    assert_eq!(
        read(format!("/proc/{pid}/cgroup")),
        format!("0::/wardtest.slice/{unit}")
    );
    assert_eq!(read(dir.join("memory.max")), "67108864");
    assert_eq!(read(dir.join("pids.max")), "8");
    assert_eq!(read(dir.join("cpu.max")), "50000 100000");
    assert_eq!(read(dir.join("cpu.weight")), "59");
    eprintln!("ok: the scope, its properties and its files");

    // --- enforced ----------------------------------------------------------
    let out = ctx.rt(&[
        "exec", &id, "sh", "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 & done; echo forked; kill $(jobs -p) 2>/dev/null; true",
    ]);
    assert!(
        out.stderr.to_lowercase().contains("fork") || !out.success(),
        "ten forks under pids.max 8 all worked\n{}",
        out.describe()
    );
    let events = read(dir.join("pids.events"));
    assert!(!events.contains("max 0"), "pids.events: {events}");
    eprintln!("ok: pids.max enforced ({events})");

    // --- update through systemd, kept over daemon-reload --------------------
    ctx.rt(&[
        "update",
        "--memory",
        "134217728",
        "--memory-swap",
        "134217728",
        "--pids-limit",
        "16",
        &id,
    ])
    .assert_ok();
    ctx.rt(&["exec", &id, "mknod", "/dev/kmsg", "c", "1", "11"])
        .assert_ok();
    for round in ["after update", "after daemon-reload", "after set-property"] {
        let props = show(&ctx, &unit, "ActiveState,MemoryMax,TasksMax");
        for want in ["ActiveState=active", "MemoryMax=134217728", "TasksMax=16"] {
            assert!(
                props.lines().any(|l| l == want),
                "{round}: {want} not in\n{props}"
            );
        }
        assert_eq!(read(dir.join("memory.max")), "134217728", "{round}");
        assert_eq!(read(dir.join("pids.max")), "16", "{round}");
        assert_eq!(ctx.status(&id).as_deref(), Some("running"), "{round}");
        // The device rules: /dev/kmsg opens for writing, not for reading
        // (systemd's program and ward's both say so; after set-property
        // systemd's allows it, ward's still doesn't).
        let out = kmsg_writes_but_not_reads(&ctx, &id, round);
        assert!(
            out.stderr.contains("Operation not permitted"),
            "{round}: {}",
            out.describe()
        );
        if round == "after update" {
            systemctl(&ctx, &["daemon-reload"]).assert_ok();
        } else if round == "after daemon-reload" {
            systemctl(
                &ctx,
                &[
                    "set-property",
                    "--runtime",
                    &unit,
                    "DevicePolicy=auto",
                    "DeviceAllow=/dev/kmsg rw",
                ],
            )
            .assert_ok();
        } else {
            let props = show(&ctx, &unit, "DevicePolicy");
            assert!(props.contains("DevicePolicy=auto"), "{props}");
        }
    }
    eprintln!("ok: update through SetUnitProperties, kept over daemon-reload; devices held over daemon-reload and set-property");

    // --- pause and resume: the freezer of the scope's cgroup ----------------
    ctx.rt(&["pause", &id]).assert_ok();
    assert_eq!(ctx.status(&id).as_deref(), Some("paused"));
    assert_eq!(read(dir.join("cgroup.freeze")), "1");
    ctx.rt(&["resume", &id]).assert_ok();
    assert_eq!(ctx.status(&id).as_deref(), Some("running"));
    eprintln!("ok: pause and resume");

    // --- delete: no unit, no cgroup -----------------------------------------
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    let props = show(&ctx, &unit, "LoadState,ActiveState");
    assert!(props.contains("LoadState=not-found"), "{props}");
    assert!(!dir.exists(), "{} left", dir.display());
    ctx.assert_nothing_left(&[&id]);
    eprintln!("ok: delete leaves no unit and no cgroup");

    // --- systemctl stop stops the container ---------------------------------
    let id = ctx.id("s");
    let unit = format!("ward-{id}.scope");
    let mut b = ctx.bundle("s");
    b.linux()["cgroupsPath"] = json!(format!("wardtest.slice:ward:{id}"));
    // An init that ends on SIGTERM: a pid namespace's init ignores the
    // signals it has no handler for, even from systemd, which would then
    // wait TimeoutStopSec (90 s) before its SIGKILL (as under runc).
    b.sh(&format!(
        "trap 'exit 0' TERM; echo {READY}; sleep 1000 & wait"
    ));
    b.write();
    ctx.rt(&["--systemd-cgroup", "create", "--bundle", b.path(), &id])
        .assert_ok();
    ctx.rt(&["start", &id]).assert_ok();
    systemctl(&ctx, &["stop", &unit]).assert_ok();
    ctx.wait_status(&id, "stopped");
    ctx.rt(&["delete", &id]).assert_ok();
    assert!(show(&ctx, &unit, "LoadState").contains("not-found"));
    ctx.assert_nothing_left(&[&id]);
    eprintln!("ok: systemctl stop of the scope stops the container");

    // --- a create that fails after the scope started leaves no unit ---------
    let id = ctx.id("f");
    let unit = format!("ward-{id}.scope");
    let mut b = ctx.bundle("f");
    b.linux()["cgroupsPath"] = json!(format!("wardtest.slice:ward:{id}"));
    // Found missing by init, after the scope started (create fails, as
    // runc's does).
    b.set_args(&["/no/such/binary"]);
    b.write();
    let out = ctx.rt(&["--systemd-cgroup", "create", "--bundle", b.path(), &id]);
    out.assert_fail();
    out.assert_error_line("create", &id);
    assert!(
        show(&ctx, &unit, "LoadState").contains("not-found"),
        "{unit} left"
    );
    ctx.assert_nothing_left(&[&id]);
    eprintln!("ok: a failed create leaves no unit");

    // --- a slice as the name part: the container's unit is that slice -----
    let id = ctx.id("p");
    let unit = format!("wardtest-pod{}.slice", std::process::id());
    let mut b = ctx.bundle("p");
    b.linux()["cgroupsPath"] = json!(format!("wardtest.slice:ward:{unit}"));
    b.linux()["resources"] = json!({"pids": {"limit": 12}});
    b.long_running("");
    b.write();
    ctx.rt(&["--systemd-cgroup", "create", "--bundle", b.path(), &id])
        .assert_ok();
    ctx.rt(&["start", &id]).assert_ok();
    let pid = ctx.pid_of(&id);
    assert_eq!(
        read(format!("/proc/{pid}/cgroup")),
        format!("0::/wardtest.slice/{unit}")
    );
    let props = show(&ctx, &unit, "ActiveState,ControlGroup,TasksMax");
    for want in [
        "ActiveState=active",
        &format!("ControlGroup=/wardtest.slice/{unit}"),
        "TasksMax=12",
    ] {
        assert!(props.lines().any(|l| l == want), "{want} not in\n{props}");
    }
    let dir = cgroot.join("wardtest.slice").join(&unit);
    assert_eq!(read(dir.join("pids.max")), "12");
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    // A slice name always loads (slices need no unit file): stopped, and
    // no longer the transient unit ward made.
    let props = show(&ctx, &unit, "ActiveState,Transient");
    for want in ["ActiveState=inactive", "Transient=no"] {
        assert!(props.lines().any(|l| l == want), "{want} not in\n{props}");
    }
    assert!(!dir.exists(), "{} left", dir.display());
    // A slice that systemd would put elsewhere than the path says.
    let id = ctx.id("q");
    let mut b = ctx.bundle("q");
    b.linux()["cgroupsPath"] = json!("wardtest.slice:ward:elsewhere.slice");
    b.write();
    let out = ctx.rt(&["--systemd-cgroup", "create", "--bundle", b.path(), &id]);
    out.assert_code(1);
    out.assert_error_line("create", &id);
    out.assert_stderr_has_any(&["systemd puts the slice elsewhere.slice in -.slice"]);
    ctx.assert_nothing_left(&[&id]);
    eprintln!("ok: a .slice name part: the container's unit is that slice");
    // --- checkpoint, then restore into a new scope ---------------------------
    checkpoint_and_restore(&ctx, false);

    // --- podman --cgroup-manager systemd ------------------------------------
    systemctl(&ctx, &["start", "dbus.service"]).assert_ok();
    let pm = ctx.dir.join("podman");
    let rootfs = ctx.bundle("pm").rootfs();
    let bin = runtime_bin();
    let pm_args = |rest: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "--runtime",
            bin.to_str().unwrap(),
            "--cgroup-manager",
            "systemd",
            "--storage-driver",
            "vfs",
            "--root",
            pm.join("root").to_str().unwrap(),
            "--runroot",
            "/run/ward-test-podman",
            "--events-backend",
            "file",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    };
    let podman = |rest: &[&str]| -> Out {
        let a = pm_args(rest);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        ctx.host("podman", &a)
    };
    let out = podman(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--cgroupns",
        "host",
        "--rootfs",
        rootfs.to_str().unwrap(),
        "sh",
        "-c",
        "cat /proc/self/cgroup",
    ]);
    out.assert_ok();
    assert!(
        out.stdout.contains("0::/machine.slice/libpod-") && out.stdout.contains(".scope"),
        "{}",
        out.describe()
    );
    let left = systemctl(&ctx, &["list-units", "--all", "--no-legend", "libpod-*"]);
    assert!(!left.stdout.contains(".scope"), "{}", left.describe());
    eprintln!(
        "ok: podman --cgroup-manager systemd with ward: {}",
        out.stdout.trim()
    );

    // --- containerd, SystemdCgroup, ward as its runc binary -----------------
    containerd_with_systemd_cgroup();

    // podman container checkpoint and restore with the systemd manager:
    // the restored container is in a libpod scope again.
    podman(&[
        "run",
        "-d",
        "--name",
        "crsd",
        "--network",
        "none",
        "--cgroupns",
        "host",
        "--rootfs",
        rootfs.to_str().unwrap(),
        "sh",
        "-c",
        "i=0; while :; do i=$((i+1)); echo $i; sleep 0.2; done",
    ])
    .assert_ok();
    let last = || -> u64 {
        podman(&["logs", "crsd"])
            .stdout
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .max()
            .unwrap_or(0)
    };
    assert!(
        wait_until(Duration::from_secs(60), || last() > 2),
        "podman's counter"
    );
    podman(&["container", "checkpoint", "crsd"]).assert_ok();
    let at = last();
    podman(&["container", "restore", "crsd"]).assert_ok();
    let pid = podman(&["inspect", "--format", "{{.State.Pid}}", "crsd"]);
    pid.assert_ok();
    let cg = read(format!("/proc/{}/cgroup", pid.stdout.trim()));
    assert!(
        cg.starts_with("0::/machine.slice/libpod-") && cg.ends_with(".scope"),
        "the restored container is not in a libpod scope: {cg}"
    );
    assert!(
        wait_until(Duration::from_secs(60), || last() > at + 2),
        "podman's restored counter stays at {at}"
    );
    podman(&["rm", "-f", "crsd"]).assert_ok();
    let left = systemctl(&ctx, &["list-units", "--all", "--no-legend", "libpod-*"]);
    assert!(!left.stdout.contains(".scope"), "{}", left.describe());
    eprintln!("ok: podman container checkpoint and restore with --cgroup-manager systemd: {cg}");

    // --- rootless: the user's own systemd instance --------------------------
    rootless(&ctx);

    // --- memoryPolicy over two nodes ----------------------------------------
    let nodes = read("/sys/devices/system/node/online");
    if nodes == "0-1" {
        let id = ctx.id("m");
        let mut b = ctx.bundle("m");
        b.linux()["memoryPolicy"] = json!({"mode": "MPOL_INTERLEAVE", "nodes": "0-1"});
        b.sh("head -n1 /proc/self/numa_maps");
        let out = ctx.run(&b, &id);
        out.assert_ok();
        assert!(
            out.stdout.contains(" interleave:0-1 "),
            "{}",
            out.describe()
        );
        ctx.assert_nothing_left(&[&id]);
        eprintln!("ok: memoryPolicy interleave:0-1");
    } else {
        panic!("the guest has NUMA nodes {nodes}, not 0-1 (tests/vm/run --numa 2)");
    }
    println!("systemd guest: every check passed");
}

/// containerd with ward as its runc binary and SystemdCgroup (ctr's
/// `--runc-systemd-cgroup`: the shim passes `--systemd-cgroup` and a
/// `slice:prefix:name` path), running a busybox image imported from a tar
/// made here (podman import + save): the task is in its scope, with the
/// memory limit as the scope's MemoryMax, and nothing is left after.
fn containerd_with_systemd_cgroup() {
    use engine_support::ctr::{start_containerd, Ctr, CtrCleanup};
    use engine_support::podman::{podman_image, Podman, PodmanCleanup};
    use engine_support::HostGuard;
    // The guest's /tmp is an overlay, which overlayfs (podman's and
    // containerd's storage) can't stack on: a tmpfs over the test's own
    // directory, unmounted when the Ctx goes.
    let ctx = &Ctx::new("sdctr");
    ctx.host(
        "mount",
        &["-t", "tmpfs", "-o", "mode=0755", "tmpfs", ctx.dir_str()],
    )
    .assert_ok();
    ctx.track_host_mount(&ctx.dir);
    // The Ctx's command logs, hidden by the mount.
    fs::create_dir(ctx.dir.join("logs")).unwrap();
    let unit = "ward-c-sd.scope";
    // containerd, its cleanup and the host's things go (in reverse order)
    // at the end of the block, before what is left is checked.
    {
        let mut host = HostGuard::new();
        host.dir_if_new("/run/containerd");
        let podman = Podman::new(ctx, &mut host, "sd-ctr");
        let archive = ctx.dir.join("image.tar");
        {
            let _cleanup = PodmanCleanup {
                ctx,
                podman: &podman,
            };
            podman_image(ctx, &podman, Some(&archive));
        }
        let cdir = ctx.dir.join("containerd");
        let _containerd = start_containerd(&cdir);
        let ctr = Ctr {
            sock: cdir.join("containerd.sock"),
            ns: "ward-sd".into(),
            runc_root: cdir.join("runc-root"),
            fifo: cdir.join("fifo"),
        };
        let _cleanup = CtrCleanup { ctx, ctr: &ctr };
        ctr.run(ctx, &["image", "import", archive.to_str().unwrap()])
            .assert_ok();
        // The task looks at its own cgroup and then waits to be looked at.
        let flags = [
            "--runc-systemd-cgroup",
            "--cgroup",
            "wardtest.slice:ward:c-sd",
            "--memory-limit",
            "67108864",
            "-d",
        ];
        let out = ctr.ctr_run(
            ctx,
            &flags,
            "c-sd",
            &[
                "sh",
                "-c",
                "cat /proc/self/cgroup >/tmp/cg; exec sleep 1000",
            ],
        );
        out.assert_ok();
        assert!(
            wait_until(Duration::from_secs(30), || show(ctx, unit, "ActiveState")
                .contains("ActiveState=active")),
            "{unit} never active"
        );
        let props = show(ctx, unit, "ControlGroup,Delegate,MemoryMax");
        for want in [
            &format!("ControlGroup=/wardtest.slice/{unit}")[..],
            "Delegate=yes",
            "MemoryMax=67108864",
        ] {
            assert!(props.lines().any(|l| l == want), "{want} not in\n{props}");
        }
        let out = ctr.run(
            ctx,
            &["task", "exec", "--exec-id", "e1", "c-sd", "cat", "/tmp/cg"],
        );
        assert_eq!(
            out.assert_ok().stdout.trim(),
            format!("0::/wardtest.slice/{unit}")
        );
        let dir = Path::new("/sys/fs/cgroup/wardtest.slice").join(unit);
        assert_eq!(read(dir.join("memory.max")), "67108864");
        ctr.run(ctx, &["task", "kill", "-s", "SIGKILL", "c-sd"])
            .assert_ok();
        assert!(
            wait_until(Duration::from_secs(30), || ctr.task_status(ctx, "c-sd")
                == "STOPPED"),
            "the task did not stop"
        );
        ctr.run(ctx, &["task", "delete", "c-sd"]).assert_ok();
        ctr.run(ctx, &["container", "rm", "c-sd"]).assert_ok();
        assert!(show(ctx, unit, "LoadState").contains("LoadState=not-found"));
        assert!(!dir.exists(), "{} left", dir.display());
    }
    ctx.assert_nothing_left(&[]);
    eprintln!("ok: containerd with SystemdCgroup and ward: {unit}, MemoryMax");
}

/// A container under `--systemd-cgroup` checkpointed (its scope goes with
/// it) and restored under `--systemd-cgroup`: a scope again, with the
/// limits as properties and files, the restored processes in it, counting
/// on; delete leaves no unit and no cgroup.
fn checkpoint_and_restore(ctx: &Ctx, hybrid: bool) {
    let cgroot = Path::new("/sys/fs/cgroup");
    let id = ctx.id("c");
    let unit = format!("ward-{id}.scope");
    let rel = format!("wardtest.slice/{unit}");
    let mut b = ctx.bundle("c");
    b.linux()["cgroupsPath"] = json!(format!("wardtest.slice:ward:{id}"));
    b.linux()["resources"] = json!({
        "memory": {"limit": 67108864},
        "pids": {"limit": 32},
    });
    // stdio on the container's own /dev/null: nothing outside its mounts
    // for CRIU to hand back.
    b.sh("exec </dev/null >/dev/null 2>&1; i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.1; done");
    b.write();
    let count = || -> u64 {
        fs::read_to_string(b.rootfs().join("tmp/count"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    ctx.rt(&["--systemd-cgroup", "run", "-d", "--bundle", b.path(), &id])
        .assert_ok();
    assert!(
        wait_until(Duration::from_secs(60), || count() > 3),
        "the counter does not count"
    );
    let img = ctx.dir.join("img-c");
    let img_s = img.to_str().unwrap();
    ctx.spawn(
        &["--systemd-cgroup", "checkpoint", "--image-path", img_s, &id],
        Duration::from_secs(300),
    )
    .wait()
    .assert_ok();
    assert!(
        show(ctx, &unit, "LoadState").contains("not-found"),
        "the checkpointed container's scope is left"
    );
    let frozen = count();
    ctx.spawn(
        &[
            "--systemd-cgroup",
            "restore",
            "-d",
            "--image-path",
            img_s,
            "--bundle",
            b.path(),
            &id,
        ],
        Duration::from_secs(300),
    )
    .wait()
    .assert_ok();
    let pid = ctx.pid_of(&id);
    let memory = if hybrid { "MemoryLimit" } else { "MemoryMax" };
    let props = show(
        ctx,
        &unit,
        &format!("ActiveState,Delegate,ControlGroup,{memory},TasksMax"),
    );
    for want in [
        "ActiveState=active",
        "Delegate=yes",
        &format!("ControlGroup=/{rel}"),
        &format!("{memory}=67108864"),
        "TasksMax=32",
    ] {
        assert!(props.lines().any(|l| l == want), "{want} not in\n{props}");
    }
    let cgroups = read(format!("/proc/{pid}/cgroup"));
    let dirs: Vec<PathBuf> = if hybrid {
        for ctrl in ["memory", "pids", "freezer", "name=systemd"] {
            assert!(
                cgroups
                    .lines()
                    .any(|l| l.contains(&format!(":{ctrl}")) && l.ends_with(&format!("/{rel}"))),
                "{ctrl}: the restored init is not in {rel}\n{cgroups}"
            );
        }
        assert_eq!(
            read(
                cgroot
                    .join("memory")
                    .join(&rel)
                    .join("memory.limit_in_bytes")
            ),
            "67108864"
        );
        assert_eq!(read(cgroot.join("pids").join(&rel).join("pids.max")), "32");
        ["memory", "pids", "freezer", "systemd", "unified"]
            .iter()
            .map(|h| cgroot.join(h).join(&rel))
            .collect()
    } else {
        assert_eq!(
            cgroups,
            format!("0::/{rel}"),
            "the restored init is not in its scope"
        );
        let dir = cgroot.join(&rel);
        assert_eq!(read(dir.join("pids.max")), "32");
        assert_eq!(read(dir.join("memory.max")), "67108864");
        vec![dir]
    };
    let status = systemctl(ctx, &["status", "--no-pager", &unit]);
    status.assert_ok();
    assert!(
        status.stdout.contains(&pid.to_string()),
        "{}",
        status.describe()
    );
    assert!(
        wait_until(Duration::from_secs(60), || count() > frozen + 3),
        "the restored counter does not go on from {frozen}"
    );
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    assert!(show(ctx, &unit, "LoadState").contains("not-found"));
    for d in dirs {
        assert!(!d.exists(), "{} left", d.display());
    }
    ctx.assert_nothing_left(&[&id]);
    eprintln!(
        "ok: checkpoint and restore under --systemd-cgroup{} (the restored scope, its limits, delete)",
        if hybrid { ", hybrid" } else { "" }
    );
}

/// A user's container under `--systemd-cgroup`: a scope of the user's
/// systemd instance. The guest's logind and user@.service come up without
/// sysinit.target (drop-ins in the guest's /run: minutes under TCG
/// otherwise); the user is made in the guest's overlay only.
fn rootless(ctx: &Ctx) {
    for u in [
        "user@.service",
        "user-runtime-dir@.service",
        "systemd-logind.service",
        "systemd-user-sessions.service",
    ] {
        let d = Path::new("/run/systemd/system").join(format!("{u}.d"));
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("ward-test.conf"), "[Unit]\nDefaultDependencies=no\n").unwrap();
    }
    systemctl(ctx, &["daemon-reload"]).assert_ok();
    systemctl(ctx, &["start", "systemd-logind.service"]).assert_ok();
    ctx.host("useradd", &["-M", "-U", "-s", "/bin/sh", "wardsd"])
        .assert_ok();
    let uid = ctx.host("id", &["-u", "wardsd"]).stdout.trim().to_string();
    let gid = ctx.host("id", &["-g", "wardsd"]).stdout.trim().to_string();
    systemctl(ctx, &["start", &format!("user@{uid}.service")]).assert_ok();

    let id = ctx.id("r");
    let mut b = ctx.bundle("r");
    let (u, g): (u32, u32) = (uid.parse().unwrap(), gid.parse().unwrap());
    b.linux()["uidMappings"] = json!([{"containerID": 0, "hostID": u, "size": 1}]);
    b.linux()["gidMappings"] = json!([{"containerID": 0, "hostID": g, "size": 1}]);
    b.add_namespace(json!({"type": "user"}));
    b.linux()["cgroupsPath"] = json!(format!("wardtest.slice:ward:{id}"));
    b.linux()["resources"] = json!({"pids": {"limit": 20}});
    // No new network namespace's sysfs for a user: the host's /sys, bound.
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| m["destination"] != "/sys");
    // gid 5 (tty) is not mapped: devpts without it, as `spec --rootless`.
    for m in mounts.iter_mut().filter(|m| m["destination"] == "/dev/pts") {
        m["options"] = json!([
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620"
        ]);
    }
    mounts.push(
        json!({"destination": "/sys", "type": "bind", "source": "/sys",
                       "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}),
    );
    b.sh("p=$(sed -n 's/^0:://p' /proc/self/cgroup); echo CG=$p; echo PIDSMAX=$(cat /sys/fs/cgroup$p/pids.max)");
    b.write();
    let state = ctx.dir.join("rl-state");
    fs::create_dir_all(&state).unwrap();
    ctx.host(
        "chown",
        &[
            "-R",
            &format!("{uid}:{gid}"),
            state.to_str().unwrap(),
            b.path(),
        ],
    )
    .assert_ok();
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args([
        &format!("--reuid={uid}"),
        &format!("--regid={gid}"),
        "--clear-groups",
        "--",
    ])
    .arg(runtime_bin())
    .args(["--systemd-cgroup", "--root", state.to_str().unwrap()])
    .args(["run", "--bundle", b.path(), &id])
    .env("XDG_RUNTIME_DIR", format!("/run/user/{uid}"));
    let out = ctx.spawn_cmd(cmd, RUN_TIMEOUT).wait();
    out.assert_ok();
    let cg =
        format!("/user.slice/user-{uid}.slice/user@{uid}.service/wardtest.slice/ward-{id}.scope");
    assert_eq!(kv(&out.stdout, "CG"), cg, "{}", out.describe());
    assert_eq!(kv(&out.stdout, "PIDSMAX"), "20", "{}", out.describe());
    assert!(
        !Path::new("/sys/fs/cgroup").join(&cg[1..]).exists(),
        "{cg} left"
    );
    eprintln!("ok: rootless, in the user's instance: {cg}");
}

/// The hybrid guest: a scope with the legacy properties; its v1
/// directories, those systemd made and those ward made (cpuset, freezer),
/// with init in each; update and daemon-reload; delete.
fn hybrid_checks() {
    if skip_unless_ward("the systemd driver's checks") {
        return;
    }
    let ctx = Ctx::new("sdh");
    let v1 = Path::new("/sys/fs/cgroup");
    assert!(
        v1.join("memory").is_dir() && v1.join("unified").is_dir(),
        "not a hybrid guest"
    );
    let id = ctx.id("h");
    let unit = format!("ward-{id}.scope");
    let rel = format!("wardtest.slice/{unit}");
    let mut b = ctx.bundle("h");
    b.linux()["cgroupsPath"] = json!(format!("wardtest.slice:ward:{id}"));
    b.linux()["resources"] = json!({
        "memory": {"limit": 67108864},
        "pids": {"limit": 8},
        "cpu": {"shares": 512, "cpus": "0"},
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"},
        ],
    });
    b.add_cap("CAP_SYSLOG");
    b.long_running("");
    b.write();
    ctx.rt(&["--systemd-cgroup", "create", "--bundle", b.path(), &id])
        .assert_ok();
    ctx.rt(&["start", &id]).assert_ok();
    let st = ctx.rt(&["state", &id]);
    let pid = serde_json::from_str::<serde_json::Value>(&st.stdout).unwrap()["pid"]
        .as_i64()
        .unwrap() as i32;
    let props = show(
        &ctx,
        &unit,
        "ActiveState,Delegate,MemoryLimit,TasksMax,CPUShares",
    );
    for want in [
        "ActiveState=active",
        "Delegate=yes",
        "MemoryLimit=67108864",
        "TasksMax=8",
        "CPUShares=512",
    ] {
        assert!(props.lines().any(|l| l == want), "{want} not in\n{props}");
    }
    assert_eq!(
        read(v1.join("memory").join(&rel).join("memory.limit_in_bytes")),
        "67108864"
    );
    assert_eq!(read(v1.join("pids").join(&rel).join("pids.max")), "8");
    assert_eq!(
        read(v1.join("cpu,cpuacct").join(&rel).join("cpu.shares")),
        "512"
    );
    assert_eq!(read(v1.join("cpuset").join(&rel).join("cpuset.cpus")), "0");
    let cgroups = read(format!("/proc/{pid}/cgroup"));
    for ctrl in [
        "memory",
        "pids",
        "cpuset",
        "freezer",
        "devices",
        "name=systemd",
    ] {
        assert!(
            cgroups
                .lines()
                .any(|l| l.ends_with(&format!(":{ctrl}:/{rel}"))
                    || (l.contains(&format!(":{ctrl}")) && l.ends_with(&format!("/{rel}")))),
            "{ctrl}: init not in {rel}\n{cgroups}"
        );
    }
    eprintln!("ok: hybrid: the scope, legacy properties, v1 files, init in every hierarchy");

    ctx.rt(&["update", "--memory", "134217728", &id])
        .assert_ok();
    systemctl(&ctx, &["daemon-reload"]).assert_ok();
    assert!(show(&ctx, &unit, "MemoryLimit").contains("MemoryLimit=134217728"));
    assert_eq!(
        read(v1.join("memory").join(&rel).join("memory.limit_in_bytes")),
        "134217728"
    );
    assert_eq!(ctx.status(&id).as_deref(), Some("running"));
    eprintln!("ok: hybrid: update, kept over daemon-reload");

    // The device rules: systemd's list (the v1 devices.list it rewrites)
    // holds what ward's does, before and after a daemon-reload.
    let props = show(&ctx, &unit, "DevicePolicy,DeviceAllow");
    for want in ["DevicePolicy=strict", "DeviceAllow=/dev/char/1:11 w"] {
        assert!(props.lines().any(|l| l == want), "{want} not in\n{props}");
    }
    ctx.rt(&["exec", &id, "mknod", "/dev/kmsg", "c", "1", "11"])
        .assert_ok();
    let list = v1.join("devices").join(&rel).join("devices.list");
    for round in ["before", "after another daemon-reload"] {
        let l = read(&list);
        assert!(
            l.lines().any(|x| x == "c 1:11 w") && !l.contains("a *:*"),
            "{round}: devices.list\n{l}"
        );
        kmsg_writes_but_not_reads(&ctx, &id, round);
        systemctl(&ctx, &["daemon-reload"]).assert_ok();
    }
    eprintln!("ok: hybrid: device rules as DevicePolicy/DeviceAllow, kept over daemon-reload");

    ctx.rt(&["delete", "--force", &id]).assert_ok();
    assert!(show(&ctx, &unit, "LoadState").contains("not-found"));
    for h in ["memory", "pids", "cpuset", "freezer", "systemd", "unified"] {
        assert!(!v1.join(h).join(&rel).exists(), "{h}/{rel} left");
    }
    // The slice ward made in the hierarchies systemd doesn't manage.
    for h in ["cpuset", "freezer", "perf_event"] {
        let s = v1.join(h).join("wardtest.slice");
        assert!(!s.exists(), "{} left", s.display());
    }
    ctx.assert_nothing_left(&[&id]);
    eprintln!("ok: hybrid: delete leaves no unit and no directory");
    checkpoint_and_restore(&ctx, true);
    println!("systemd guest: every check passed");
}
