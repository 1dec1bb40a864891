//! ward as the runtime of real container engines: podman (through conmon),
//! containerd (`ctr`, through containerd-shim-runc-v2) and docker (dockerd
//! on that containerd). Each engine is one test, so a failure in one hides
//! nothing of the others; each starts its own daemons with every state
//! directory, socket and cgroup parent of its own, and puts back what it
//! touched on the host, also when it fails (`engine_support`).
//!
//! The image is made here, with no registry: common::build_rootfs's busybox
//! tree, `podman import`ed, `podman save`d for `ctr image import` and
//! `docker load`.

mod common;
mod engine_support;

use common::Ctx;
use engine_support::checks::{
    common_checks, exec_checks, in_a_row, join_checks, published_port, stop_and_kill_checks,
    wait_logs, IN_A_ROW,
};
use engine_support::ctr::{in_pty, start_containerd, Ctr, CtrCleanup};
use engine_support::docker::{Docker, DockerCleanup};
use engine_support::podman::{podman_image, Podman, PodmanCleanup};
use engine_support::EngineCli;
use engine_support::{self as es, Daemon, HostGuard, ENGINE_TIMEOUT, IMAGE};
use std::fs;
use std::os::unix::fs::symlink;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn podman_with_ward() {
    if !es::can_run("podman_with_ward") {
        return;
    }
    es::ensure_installed();
    let started = Instant::now();
    // Dropped after ctx (declared first): cgroups go once ctx has killed
    // whatever was left in them.
    let mut host = HostGuard::new();
    let ctx = Ctx::new("eng-podman");
    host.snapshot_iptables();
    host.link_if_new("podman0");
    let podman = Podman::new(&ctx, &mut host, "main");
    let _cleanup = PodmanCleanup {
        ctx: &ctx,
        podman: &podman,
    };
    podman_image(&ctx, &podman, None);

    common_checks(&ctx, &|args| podman.run(&ctx, args), "podman");

    // Detached, then exec, top, logs, pause, stats, restart, stop.
    podman.ok(
        &ctx,
        &[
            "run",
            "-d",
            "--name",
            "long",
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            "echo started; trap 'echo got-term; exit 0' TERM; while :; do sleep 0.2; done",
        ],
    );
    wait_logs(&|a| podman.run(&ctx, a), "long", "started", 1);
    exec_checks(&|args| podman.run(&ctx, args), "long", 127);
    join_checks(&|args| podman.run(&ctx, args), "long", "podman");
    // A user namespace with a mapping (podman chowns the image's copy).
    let out = podman.run(
        &ctx,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--uidmap",
            "0:100000:65536",
            "--gidmap",
            "0:100000:65536",
            IMAGE,
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map",
        ],
    );
    let text = out.assert_ok().stdout.clone();
    let words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(
        words,
        ["0", "0", "100000", "65536"],
        "podman --uidmap: {text}"
    );
    let top = podman.ok(&ctx, &["top", "long"]);
    assert!(
        top.contains("sleep") || top.contains("while"),
        "podman top:\n{top}"
    );
    podman.ok(&ctx, &["pause", "long"]);
    assert_eq!(podman.inspect(&ctx, "long", "{{.State.Status}}"), "paused");
    podman.ok(&ctx, &["unpause", "long"]);
    assert_eq!(podman.inspect(&ctx, "long", "{{.State.Status}}"), "running");
    let stats = podman.ok(
        &ctx,
        &[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.PIDs}} {{.MemUsage}}",
            "long",
        ],
    );
    assert!(stats.starts_with("long "), "podman stats:\n{stats}");
    podman.ok(&ctx, &["restart", "-t", "10", "long"]);
    assert_eq!(podman.inspect(&ctx, "long", "{{.State.Status}}"), "running");
    wait_logs(&|a| podman.run(&ctx, a), "long", "started", 2);
    let t = Instant::now();
    podman.ok(&ctx, &["stop", "-t", "10", "long"]);
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "SIGTERM should have stopped it"
    );
    assert_eq!(podman.inspect(&ctx, "long", "{{.State.ExitCode}}"), "0");
    let logs = podman.ok(&ctx, &["logs", "long"]);
    assert!(logs.contains("got-term"), "podman logs:\n{logs}");
    podman.ok(&ctx, &["rm", "long"]);

    stop_and_kill_checks(&ctx, &|args| podman.run(&ctx, args), "podman");

    // OOM: conmon (2.1.6, cgroup v1) writes its `oom` file into its *cwd*,
    // while podman 4.3 looks for it in the container's userdata dir; conmon
    // inherits podman's cwd, so `podman start` runs from that dir (runc and
    // crun report OOMKilled=false otherwise too; what is checked here is
    // that the OOM kill happens in ward's memory cgroup and reaches podman).
    podman.ok(
        &ctx,
        &[
            "create",
            "--name",
            "oom",
            "--network",
            "none",
            "-m",
            "32m",
            "--memory-swap",
            "32m",
            IMAGE,
            "sh",
            "-c",
            "x=a; while :; do x=$x$x; done",
        ],
    );
    let userdata = podman.inspect(&ctx, "oom", "{{.StaticDir}}");
    let mut start = podman.command(&["start", "-a", "oom"]);
    start.current_dir(&userdata);
    es::run(&ctx, start, ENGINE_TIMEOUT).assert_code(137);
    assert_eq!(podman.inspect(&ctx, "oom", "{{.State.OOMKilled}}"), "true");
    podman.ok(&ctx, &["rm", "oom"]);

    // Published port through netavark's bridge (podman's default network).
    published_port(
        &ctx,
        &|args| podman.run(&ctx, args),
        "podman",
        &["rm", "-f", "-t", "0"],
    );

    in_a_row(&|args| podman.run(&ctx, args), "podman");

    // podman passes `--log-format=json --log FILE` only to runtimes whose
    // name it knows (runc, crun…) and then reads errors from that file:
    // ward installed as `crun` (a symlink) and as `runc` (a copy).
    let named = ctx.dir.join("named");
    fs::create_dir_all(&named).unwrap();
    symlink(es::ward_bin(), named.join("crun")).unwrap();
    fs::copy(es::ward_bin(), named.join("runc")).unwrap();
    for name in ["crun", "runc"] {
        let p = podman.with_runtime(named.join(name));
        let out = p.run(
            &ctx,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                IMAGE,
                "sh",
                "-c",
                "echo as-$0; exit 4",
                name,
            ],
        );
        out.assert_code(4);
        assert_eq!(out.stdout.trim(), format!("as-{name}"));
        let out = p.run(&ctx, &["run", "--rm", "--network", "none", IMAGE, "nosuch"]);
        out.assert_code(127);
        out.assert_stderr_has_any(&["executable file not found"]);
        p.ok(
            &ctx,
            &[
                "run",
                "-d",
                "--name",
                "named",
                "--network",
                "none",
                IMAGE,
                "sleep",
                "1000",
            ],
        );
        p.run(&ctx, &["exec", "named", "sh", "-c", "exit 6"])
            .assert_code(6);
        p.ok(&ctx, &["rm", "-f", "-t", "0", "named"]);
    }

    eprintln!("podman_with_ward: {:.1?}", started.elapsed());
}

// ---------------------------------------------------------------------------
// containerd
// ---------------------------------------------------------------------------
#[test]
fn containerd_with_ward() {
    if !es::can_run("containerd_with_ward") {
        return;
    }
    es::ensure_installed();
    let started = Instant::now();
    // Dropped after ctx (declared first): cgroups go once ctx has killed
    // whatever was left in them.
    let mut host = HostGuard::new();
    let ctx = Ctx::new("eng-ctr");
    host.dir_if_new("/run/containerd");
    let ns = format!("ward-engines-ctr-{}", std::process::id());
    // ctr puts a container in the cgroup /<namespace>/<id>.
    host.cgroup_parent(&ns);
    // The systemd form of the cgroup path, below a slice of our own.
    let slice = format!("wardeng{}.slice", std::process::id());
    host.cgroup_parent(&slice);
    let podman = Podman::new(&ctx, &mut host, "ctr-image");
    let archive = ctx.dir.join("image.tar");
    {
        let _cleanup = PodmanCleanup {
            ctx: &ctx,
            podman: &podman,
        };
        podman_image(&ctx, &podman, Some(&archive));
    }
    let cdir = ctx.dir.join("containerd");
    let containerd = start_containerd(&cdir);
    let ctr = Ctr {
        sock: cdir.join("containerd.sock"),
        ns,
        runc_root: cdir.join("runc-root"),
        fifo: cdir.join("fifo"),
    };
    let _cleanup = CtrCleanup {
        ctx: &ctx,
        ctr: &ctr,
    };
    ctr.run(&ctx, &["image", "import", archive.to_str().unwrap()])
        .assert_ok();

    // Output, exit code; the shim always passes --log FILE --log-format
    // json, and its error is the message ward logged there.
    let out = ctr.ctr_run(&ctx, &["--rm"], "c-out", &["sh", "-c", "echo out; exit 3"]);
    out.assert_code(3);
    assert_eq!(out.stdout.trim(), "out");
    let out = ctr.ctr_run(&ctx, &["--rm"], "c-nosuch", &["nosuch"]);
    out.assert_fail();
    out.assert_stderr_has_any(&["executable file not found in $PATH"]);
    let out = ctr.ctr_run(&ctx, &["--rm"], "c-noexec", &["/etc/passwd"]);
    out.assert_fail();
    out.assert_stderr_has_any(&["permission denied"]);
    // A failed create leaves nothing behind in containerd.
    ctr.run(&ctx, &["container", "rm", "c-nosuch"]);
    ctr.run(&ctx, &["container", "rm", "c-noexec"]);

    let out = ctr.ctr_run(
        &ctx,
        &["--rm", "--env", "FOO=bar", "--cwd", "/tmp"],
        "c-env",
        &["sh", "-c", "echo $FOO; pwd"],
    );
    assert_eq!(out.assert_ok().stdout, "bar\n/tmp\n");
    // SystemdCgroup (--runc-systemd-cgroup): the shim passes
    // --systemd-cgroup and a slice:prefix:name path. On a host without
    // systemd ward refuses it, as runc 1.1.5 does ("systemd not running on
    // this host"); with systemd (the systemd guest, tests/systemd.rs) it
    // asks systemd for the scope.
    let sd = format!("{slice}:ward:c-sd");
    let out = ctr.ctr_run(
        &ctx,
        &["--rm", "--runc-systemd-cgroup", "--cgroup", &sd],
        "c-sd",
        &["sh", "-c", "grep memory /proc/self/cgroup"],
    );
    if std::path::Path::new("/run/systemd/system").is_dir() {
        assert!(
            out.assert_ok()
                .stdout
                .contains(&format!("/{slice}/ward-c-sd.scope")),
            "{}",
            out.describe()
        );
    } else {
        out.assert_fail();
        out.assert_stderr_has_any(&["systemd is not running"]);
        ctr.run(&ctx, &["container", "rm", "c-sd"]);
    }
    let a = ctr.run_args(&["--rm", "-t"], "c-tty", &["sh", "-c", "tty; sleep 0.5"]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let out = in_pty(&ctx, &ctr.command(&a));
    assert!(
        out.stdout.contains("/dev/pts/"),
        "ctr -t: {}",
        out.describe()
    );
    // ctr takes no ALL: every capability of its default spec, one by one.
    let mut flags = vec!["--rm", "--read-only"];
    for cap in common::BASE_CAPS {
        flags.extend(["--cap-drop", cap]);
    }
    let out = ctr.ctr_run(
        &ctx,
        &flags,
        "c-ro",
        &[
            "sh",
            "-c",
            "grep CapEff /proc/self/status; touch /x && echo wrote",
        ],
    );
    assert!(
        out.stdout.contains("0000000000000000"),
        "{}",
        out.describe()
    );
    assert!(
        out.stderr.contains("Read-only file system"),
        "{}",
        out.describe()
    );
    let vol = ctx.dir.join("vol");
    fs::create_dir_all(&vol).unwrap();
    fs::write(vol.join("in"), "from-host\n").unwrap();
    let bind = format!("type=bind,src={},dst=/data,options=rbind:rw", vol.display());
    let out = ctr.ctr_run(
        &ctx,
        &[
            "--rm",
            "--mount",
            &bind,
            "--mount",
            "type=tmpfs,src=tmpfs,dst=/scratch,options=size=1m",
        ],
        "c-mounts",
        &[
            "sh",
            "-c",
            "cat /data/in; echo from-ctr > /data/out; grep ' /scratch ' /proc/mounts",
        ],
    );
    let text = out.assert_ok().stdout.clone();
    assert!(
        text.starts_with("from-host\n") && text.contains("tmpfs /scratch tmpfs"),
        "{text}"
    );
    assert_eq!(fs::read_to_string(vol.join("out")).unwrap(), "from-ctr\n");

    // The memory limit is ward's to set, and the kernel's OOM killer acts in
    // that cgroup: its oom_kill counter, read before `task delete` removes
    // it. (containerd 1.6.20's shim publishes no /tasks/oom event for these
    // ctr containers on this cgroup v1 host, with runc as with ward; docker
    // on the same shim does see the OOM, checked in docker_with_ward.)
    ctr.ctr_run(
        &ctx,
        &["-d", "--memory-limit", "33554432"],
        "c-oom",
        &["sh", "-c", "x=a; while :; do x=$x$x; done"],
    )
    .assert_ok();
    let ok = common::wait_until(Duration::from_secs(20), || {
        ctr.task_status(&ctx, "c-oom") == "STOPPED"
    });
    assert!(ok, "c-oom never stopped");
    let cg = format!("{}/c-oom", ctr.ns);
    assert_eq!(
        es::cgroup_file(&cg, "memory.limit_in_bytes").as_deref(),
        Some("33554432")
    );
    let oom = es::cgroup_file(&cg, "memory.oom_control").unwrap_or_default();
    assert!(
        oom.contains("oom_kill 1"),
        "memory.oom_control of {cg}:\n{oom}"
    );
    let out = ctr.run(&ctx, &["task", "delete", "c-oom"]);
    assert!(
        out.assert_ok().stderr.contains("exit code 137"),
        "{}",
        out.describe()
    );
    ctr.run(&ctx, &["container", "rm", "c-oom"]).assert_ok();

    // Detached: exec, ps, pause/resume, metrics, kill (ctr 1.6 has no
    // `task update`; docker_with_ward checks update).
    ctr.ctr_run(
        &ctx,
        &["-d"],
        "c-long",
        &[
            "sh",
            "-c",
            "trap 'echo got-term; exit 0' TERM; while :; do sleep 0.2; done",
        ],
    )
    .assert_ok();
    let out = ctr.run(
        &ctx,
        &[
            "task",
            "exec",
            "--exec-id",
            "e1",
            "--cwd",
            "/tmp",
            "c-long",
            "sh",
            "-c",
            "pwd; exit 5",
        ],
    );
    out.assert_code(5);
    assert_eq!(out.stdout.trim(), "/tmp");
    let out = ctr.run(
        &ctx,
        &[
            "task",
            "exec",
            "--exec-id",
            "e2",
            "--user",
            "65534",
            "c-long",
            "id",
            "-u",
        ],
    );
    assert_eq!(out.assert_ok().stdout.trim(), "65534");
    ctr.run(
        &ctx,
        &["task", "exec", "--exec-id", "e3", "c-long", "nosuch"],
    )
    .assert_fail()
    .assert_stderr_has_any(&["executable file not found"]);
    let out = in_pty(
        &ctx,
        &ctr.command(&[
            "task",
            "exec",
            "-t",
            "--exec-id",
            "e4",
            "c-long",
            "sh",
            "-c",
            "tty; sleep 0.5",
        ]),
    );
    assert!(
        out.stdout.contains("/dev/pts/"),
        "ctr exec -t: {}",
        out.describe()
    );
    let ps = ctr.run(&ctx, &["task", "ps", "c-long"]);
    assert!(
        ps.assert_ok().stdout.lines().count() >= 2,
        "{}",
        ps.describe()
    );
    ctr.run(&ctx, &["task", "pause", "c-long"]).assert_ok();
    assert_eq!(ctr.task_status(&ctx, "c-long"), "PAUSED");
    ctr.run(&ctx, &["task", "resume", "c-long"]).assert_ok();
    assert_eq!(ctr.task_status(&ctx, "c-long"), "RUNNING");
    let m = ctr.run(&ctx, &["task", "metrics", "c-long"]);
    match es::unmounted_v1_hierarchy() {
        None => assert!(
            m.assert_ok().stdout.contains("pids.current"),
            "{}",
            m.describe()
        ),
        Some(h) => eprintln!(
            "NOTE: ctr task metrics not checked: the v1 hierarchy {h:?} is mounted \
             nowhere, so containerd's shim cannot load any task's cgroup (runc \
             alike); containerd.log:\n{}",
            es::tail(
                &common::read_lossy(&containerd.log)
                    .lines()
                    .filter(|l| l.contains("loading cgroup"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                2
            )
        ),
    }
    ctr.run(&ctx, &["task", "kill", "c-long"]).assert_ok();
    let ok = common::wait_until(Duration::from_secs(10), || {
        ctr.task_status(&ctx, "c-long") == "STOPPED"
    });
    assert!(ok, "SIGTERM did not stop c-long");
    ctr.run(&ctx, &["task", "delete", "c-long"]).assert_ok();
    ctr.run(&ctx, &["container", "rm", "c-long"]).assert_ok();

    // SIGTERM ignored, then SIGKILL.
    ctr.ctr_run(
        &ctx,
        &["-d"],
        "c-stubborn",
        &["sh", "-c", "trap '' TERM; while :; do sleep 0.2; done"],
    )
    .assert_ok();
    ctr.run(&ctx, &["task", "kill", "c-stubborn"]).assert_ok();
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(ctr.task_status(&ctx, "c-stubborn"), "RUNNING");
    ctr.run(&ctx, &["task", "kill", "-s", "SIGKILL", "c-stubborn"])
        .assert_ok();
    let ok = common::wait_until(Duration::from_secs(10), || {
        ctr.task_status(&ctx, "c-stubborn") == "STOPPED"
    });
    assert!(ok, "SIGKILL did not stop c-stubborn");
    let out = ctr.run(&ctx, &["task", "delete", "c-stubborn"]);
    assert!(
        out.assert_ok().stderr.contains("exit code 137"),
        "{}",
        out.describe()
    );
    ctr.run(&ctx, &["container", "rm", "c-stubborn"])
        .assert_ok();

    let t = Instant::now();
    for i in 0..IN_A_ROW {
        let id = format!("c-row{i}");
        let out = ctr.ctr_run(&ctx, &["--rm"], &id, &["sh", "-c", &format!("echo n{i}")]);
        assert_eq!(out.assert_ok().stdout.trim(), format!("n{i}"));
    }
    eprintln!("ctr: {IN_A_ROW} containers in a row: {:.1?}", t.elapsed());

    drop(_cleanup);
    drop(containerd);
    eprintln!("containerd_with_ward: {:.1?}", started.elapsed());
}

// ---------------------------------------------------------------------------
// docker
// ---------------------------------------------------------------------------
#[test]
fn docker_with_ward() {
    if !es::can_run("docker_with_ward") {
        return;
    }
    es::ensure_installed();
    let started = Instant::now();
    // Dropped after ctx (declared first): cgroups go once ctx has killed
    // whatever was left in them.
    let mut host = HostGuard::new();
    let ctx = Ctx::new("eng-docker");
    host.dir_if_new("/run/containerd");
    host.dir_if_new("/etc/docker");
    // dockerd makes /run/docker/plugins whatever its --exec-root.
    host.dir_if_new("/run/docker");
    host.file_if_new("/etc/docker/key.json");
    let pid = std::process::id();
    let ns = format!("ward-engines-docker-{pid}");
    let cgroup_parent = format!("ward-engines-docker-{pid}");
    host.cgroup_parent(&cgroup_parent);
    // Our own bridge, so that docker0 is never made or touched; without
    // iptables rules (--iptables=false), published ports go through
    // docker-proxy, which is all a curl to 127.0.0.1 needs.
    let bridge = format!("wardbr{}", pid % 100_000);
    host.link_if_new(&bridge);
    for args in [
        vec!["link", "add", &bridge, "type", "bridge"],
        vec!["addr", "add", "10.213.77.1/24", "dev", &bridge],
        vec!["link", "set", &bridge, "up"],
    ] {
        ctx.host("ip", &args).assert_ok();
    }

    let podman = Podman::new(&ctx, &mut host, "docker-image");
    let archive = ctx.dir.join("image.tar");
    {
        let _cleanup = PodmanCleanup {
            ctx: &ctx,
            podman: &podman,
        };
        podman_image(&ctx, &podman, Some(&archive));
    }
    let cdir = ctx.dir.join("containerd");
    let containerd = start_containerd(&cdir);
    let ddir = ctx.dir.join("docker");
    fs::create_dir_all(ddir.join("client")).unwrap();
    fs::write(ddir.join("daemon.json"), "{}\n").unwrap();
    let docker = Docker {
        sock: ddir.join("docker.sock"),
        config: ddir.join("client"),
    };
    let mut cmd = Command::new("dockerd");
    cmd.arg("--data-root")
        .arg(ddir.join("data"))
        .arg("--exec-root")
        .arg(ddir.join("exec"))
        .arg("--pidfile")
        .arg(ddir.join("docker.pid"))
        .arg("--config-file")
        .arg(ddir.join("daemon.json"))
        .arg("-H")
        .arg(format!("unix://{}", docker.sock.display()))
        .arg("--containerd")
        .arg(cdir.join("containerd.sock"))
        .arg("--containerd-namespace")
        .arg(&ns)
        .arg("--containerd-plugins-namespace")
        .arg(format!("{ns}-plugins"))
        .arg("--add-runtime")
        .arg(format!("ward={}", es::ward_bin().display()))
        .arg("--cgroup-parent")
        .arg(format!("/{cgroup_parent}"))
        .arg("--exec-opt")
        .arg("native.cgroupdriver=cgroupfs")
        .arg("--bridge")
        .arg(&bridge)
        .arg("--iptables=false")
        .arg("--ip-masq=false")
        .arg("--ip-forward=false")
        .arg("--userland-proxy=true")
        .arg("--log-level=warn");
    cmd.env("DOCKER_CONFIG", &docker.config);
    let mut dockerd = Daemon::spawn("dockerd", cmd, ddir.join("dockerd.log"));
    dockerd.wait_ready(Duration::from_secs(60), || {
        docker.sock.exists()
            && docker
                .command(&["version"])
                .output()
                .is_ok_and(|o| o.status.success())
    });
    let _cleanup = DockerCleanup {
        ctx: &ctx,
        docker: &docker,
    };
    docker.ok(&ctx, &["load", "-q", "-i", archive.to_str().unwrap()]);
    let runtimes = docker.ok(&ctx, &["info", "-f", "{{json .Runtimes}}"]);
    assert!(
        runtimes.contains("\"ward\""),
        "docker info runtimes: {runtimes}"
    );

    // See es::unmounted_v1_hierarchy: with such a host, the shim has no
    // stats and no OOM events for any runtime.
    let broken_shim_cgroups = es::unmounted_v1_hierarchy();
    common_checks(&ctx, &|args| docker.run(&ctx, args), "docker");

    // --ipc shareable: docker lets another container join only such an
    // IPC namespace (join_checks).
    docker.ok(
        &ctx,
        &[
            "run",
            "-d",
            "--name",
            "long",
            "--network",
            "none",
            "--ipc",
            "shareable",
            IMAGE,
            "sh",
            "-c",
            "echo started; trap 'echo got-term; exit 0' TERM; while :; do sleep 0.2; done",
        ],
    );
    assert_eq!(
        docker.inspect(&ctx, "long", "{{.HostConfig.Runtime}}"),
        "ward"
    );
    wait_logs(&|a| docker.run(&ctx, a), "long", "started", 1);
    // docker 20.10 answers 126 to any exec that fails to start, the
    // runtime's words notwithstanding (runc alike).
    exec_checks(&|args| docker.run(&ctx, args), "long", 126);
    join_checks(&|args| docker.run(&ctx, args), "long", "docker");
    let top = docker.ok(&ctx, &["top", "long"]);
    assert!(
        top.contains("sleep") || top.contains("while"),
        "docker top:\n{top}"
    );
    docker.ok(&ctx, &["pause", "long"]);
    assert_eq!(docker.inspect(&ctx, "long", "{{.State.Status}}"), "paused");
    docker.ok(&ctx, &["unpause", "long"]);
    assert_eq!(docker.inspect(&ctx, "long", "{{.State.Status}}"), "running");
    let stats = docker.ok(
        &ctx,
        &[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.PIDs}} {{.MemUsage}}",
            "long",
        ],
    );
    assert!(stats.starts_with("long "), "docker stats:\n{stats}");
    // The numbers come from the shim's view of the cgroup.
    if broken_shim_cgroups.is_none() {
        let pids = stats.split_whitespace().nth(1).unwrap_or("");
        assert!(
            pids.parse::<u32>().is_ok_and(|n| n >= 1),
            "docker stats:\n{stats}"
        );
    }
    // docker update: ward update --resources - under the shim.
    docker.ok(
        &ctx,
        &["update", "--memory", "64m", "--memory-swap", "128m", "long"],
    );
    assert_eq!(
        docker.inspect(&ctx, "long", "{{.HostConfig.Memory}}"),
        "67108864"
    );
    let id = docker.inspect(&ctx, "long", "{{.Id}}");
    let cg = format!("{cgroup_parent}/{id}");
    let limit = es::cgroup_file(&cg, "memory.limit_in_bytes")
        .or_else(|| es::cgroup_file(&cg, "memory.max"));
    assert_eq!(limit.as_deref(), Some("67108864"), "cgroup {cg}");
    docker.ok(&ctx, &["restart", "-t", "10", "long"]);
    assert_eq!(docker.inspect(&ctx, "long", "{{.State.Status}}"), "running");
    wait_logs(&|a| docker.run(&ctx, a), "long", "started", 2);
    let t = Instant::now();
    docker.ok(&ctx, &["stop", "-t", "10", "long"]);
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "SIGTERM should have stopped it"
    );
    assert_eq!(docker.inspect(&ctx, "long", "{{.State.ExitCode}}"), "0");
    let logs = docker.ok(&ctx, &["logs", "long"]);
    assert!(logs.contains("got-term"), "docker logs:\n{logs}");
    docker.ok(&ctx, &["rm", "long"]);

    stop_and_kill_checks(&ctx, &|args| docker.run(&ctx, args), "docker");

    let out = docker.run(
        &ctx,
        &[
            "run",
            "--name",
            "oom",
            "--network",
            "none",
            "-m",
            "32m",
            "--memory-swap",
            "32m",
            IMAGE,
            "sh",
            "-c",
            "x=a; while :; do x=$x$x; done",
        ],
    );
    out.assert_code(137);
    // dockerd learns of the OOM kill from the shim's /tasks/oom event.
    let oom_killed = docker.inspect(&ctx, "oom", "{{.State.OOMKilled}}");
    match &broken_shim_cgroups {
        None => assert_eq!(oom_killed, "true"),
        Some(h) => eprintln!(
            "NOTE: OOMKilled={oom_killed} not checked: the v1 hierarchy {h:?} is \
             mounted nowhere, so the shim cannot watch the task's memory cgroup"
        ),
    }
    docker.ok(&ctx, &["rm", "oom"]);

    // --init: docker-init (tini) bind-mounted in as PID 1.
    let out = docker.run(
        &ctx,
        &[
            "run",
            "--rm",
            "--init",
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            "cat /proc/1/cmdline | tr '\\0' ' '",
        ],
    );
    assert!(
        out.assert_ok().stdout.contains("docker-init"),
        "{}",
        out.describe()
    );

    published_port(
        &ctx,
        &|args| docker.run(&ctx, args),
        "docker",
        &["rm", "-f"],
    );

    in_a_row(&|args| docker.run(&ctx, args), "docker");

    drop(_cleanup);
    drop(dockerd);
    drop(containerd);
    eprintln!("docker_with_ward: {:.1?}", started.elapsed());
}
