//! Boxes: the host view, names, --rm, detached boxes with logs and stop,
//! exit codes, the image config, limits in the cgroup, a killed `run`, and
//! bad input. Real boxes on the real kernel, as root.

mod common;
use common::*;
use serde_json::{json, Value};
use std::fs;
use std::process::Command;
use std::time::Duration;

fn busybox(env: &Env, name: &str, config: Value) {
    let mut img = Image::busybox();
    img.config = config;
    let layout = env.dir.join(format!("layout-{name}"));
    img.write_layout(&layout, "t");
    env.wb(&["image", "import", "-q", layout.to_str().unwrap(), name])
        .assert_ok();
}

fn inspect(env: &Env, b: &str) -> Value {
    let out = env.wb(&["box", "inspect", b]);
    out.assert_ok();
    serde_json::from_str::<Value>(&out.stdout).unwrap()[0].clone()
}

#[test]
fn host_view_reads_usr_cannot_write_it_and_sees_nothing_of_the_host() {
    if skip_unless_root("boxes") {
        return;
    }
    let env = Env::new("hostview");
    let script = "cat /etc/os-release >/dev/null && ls /usr/bin/env >/dev/null && echo read-ok; \
        touch /usr/x 2>/dev/null || echo usr-ro; touch /etc/x 2>/dev/null || echo etc-ro; \
        echo procs=$(ls /proc | grep -c '^[0-9]'); echo pid=$$; \
        echo ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ,); \
        touch /tmp/ok && echo tmp-rw; touch /x 2>/dev/null || echo root-ro; \
        touch /root/ok /var/tmp/ok /home/ok && echo writable-places";
    let out = env.wb(&["box", "run", "--rm", "--", "/bin/sh", "-c", script]);
    out.assert_ok();
    let o = &out.stdout;
    for want in [
        "read-ok",
        "usr-ro",
        "etc-ro",
        "pid=1",
        "ifaces=lo,",
        "tmp-rw",
        "root-ro",
        "writable-places",
    ] {
        assert!(o.contains(want), "missing {want}\n{}", out.describe());
    }
    let procs: usize = o
        .lines()
        .find_map(|l| l.strip_prefix("procs="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        procs <= 4,
        "the box sees host processes ({procs})\n{}",
        out.describe()
    );
    env.assert_no_boxes_left(&[]);
}

#[test]
fn host_view_binds_the_current_directory_with_dash_v_dot() {
    if skip_unless_root("boxes") {
        return;
    }
    let env = Env::new("dashv");
    let work = env.dir.join("work");
    fs::create_dir_all(&work).unwrap();
    let mut c = env.cmd(&[
        "box",
        "-v",
        ".",
        "--rm",
        "--",
        "/bin/sh",
        "-c",
        "pwd; echo built > out.txt",
    ]);
    c.current_dir(&work);
    let out = run_cmd(c, *TIMEOUT);
    out.assert_ok();
    assert_eq!(
        out.stdout.trim(),
        work.to_str().unwrap(),
        "the box starts in the bound directory"
    );
    assert_eq!(fs::read_to_string(work.join("out.txt")).unwrap(), "built\n");
    // Without -v . the directory isn't there.
    let mut c = env.cmd(&[
        "box",
        "run",
        "--rm",
        "--",
        "/bin/sh",
        "-c",
        "test -e out.txt || echo absent; pwd",
    ]);
    c.current_dir(&work);
    let out = run_cmd(c, *TIMEOUT);
    out.assert_ok();
    assert_eq!(out.stdout, "absent\n/\n");
    // A destination in a top-level directory the host view lacks: the
    // box gets a tmpfs there, and the bind below it.
    let vol = format!("{}:/data/sub:ro", work.display());
    let out = env.wb(&["box", "-v", &vol, "--", "/bin/cat", "/data/sub/out.txt"]);
    out.assert_ok();
    assert_eq!(out.stdout, "built\n");
    // One-off boxes share a skeleton root, made once per set of top-level
    // directories (the test's directory is under /tmp, a tmpfs of the
    // box's own, so the first two runs used the same), and nothing was
    // ever written into one below its own entries.
    let skeletons = list(&env.store.join("hostroot"));
    assert_eq!(skeletons.len(), 2, "two skeletons: {skeletons:?}");
    for k in &skeletons {
        let root = env.store.join("hostroot").join(k);
        for top in list(&root) {
            let p = root.join(&top);
            if p.is_dir() && !p.is_symlink() && top != "var" {
                assert!(list(&p).is_empty(), "{} was written into", p.display());
            }
        }
    }
    env.assert_no_boxes_left(&[]);
}

#[test]
fn exit_codes_names_and_rm() {
    if skip_unless_root("boxes") {
        return;
    }
    let env = Env::new("names");
    busybox(&env, "bb", json!({"Cmd": ["sh"]}));
    env.wb(&[
        "box", "run", "-q", "--name", "three", "bb", "sh", "-c", "exit 3",
    ])
    .assert_code(3);
    // An init that ignores SIGTERM (pid 1 has no default action): stop
    // kills it after -t, and the box records 128+9.
    env.wb(&[
        "box", "run", "-d", "-q", "--name", "killed", "bb", "sleep", "1000",
    ])
    .assert_ok();
    env.wb(&["box", "stop", "-t", "1", "killed"]).assert_ok();
    // A name in use: one line, and nothing of the second box.
    let before = env.box_ids();
    env.wb(&["box", "run", "-q", "--name", "three", "bb", "true"])
        .assert_one_line_error("box run", &["three", "already in use"]);
    assert_eq!(env.box_ids(), before);
    let ls = env.wb(&["box", "ls"]);
    ls.assert_ok();
    assert!(
        ls.stdout.contains("three") && ls.stdout.contains("exited (3)"),
        "{}",
        ls.describe()
    );
    assert!(
        ls.stdout.contains("killed") && ls.stdout.contains("exited (137)"),
        "{}",
        ls.describe()
    );
    // A generated name.
    env.wb(&["box", "run", "-q", "bb", "true"]).assert_ok();
    let all: Vec<Value> =
        serde_json::from_str(&env.wb(&["box", "ls", "--format", "json"]).stdout).unwrap();
    assert_eq!(all.len(), 3);
    assert!(
        all.iter()
            .any(|b| b["name"].as_str().unwrap().contains('_')),
        "{all:?}"
    );
    // --rm leaves nothing.
    env.wb(&["box", "run", "--rm", "-q", "bb", "true"])
        .assert_ok();
    assert_eq!(env.box_ids().len(), 3);
    let ids = env.box_ids();
    for b in &ids {
        env.wb(&["box", "rm", b]).assert_ok();
    }
    env.assert_no_boxes_left(&ids);
    env.wb(&["box", "rm", "three"])
        .assert_one_line_error("box rm three", &["no such box"]);
}

#[test]
fn detached_box_logs_stop_start_and_exec() {
    if skip_unless_root("boxes") {
        return;
    }
    let env = Env::new("detach");
    busybox(&env, "bb", json!({"Cmd": ["sh"], "StopSignal": "SIGUSR1"}));
    let script = "echo started; echo to-stderr >&2; trap 'echo got-usr1; exit 7' USR1; while true; do sleep 0.1; done";
    let out = env.wb(&[
        "box", "run", "-d", "-q", "--name", "d", "bb", "sh", "-c", script,
    ]);
    out.assert_ok();
    let id = out.stdout.trim().to_string();
    assert_eq!(id.len(), 64, "{}", out.describe());
    // The CLI is gone; the supervisor keeps the box.
    assert!(wait_until(Duration::from_secs(10), || env
        .wb(&["box", "logs", "d"])
        .stdout
        .contains("to-stderr")));
    let v = inspect(&env, "d");
    assert_eq!(v["status"], "running", "{v}");
    let e = env.wb(&["box", "exec", "d", "sh", "-c", "echo in-box; exit 5"]);
    e.assert_code(5);
    assert_eq!(e.stdout, "in-box\n");
    env.wb(&["box", "rm", "d"])
        .assert_one_line_error("box rm d", &["running"]);
    env.wb(&["box", "stop", "d"]).assert_ok();
    let v = inspect(&env, "d");
    assert_eq!(
        v["exitCode"], 7,
        "the image's StopSignal (SIGUSR1) reached the trap: {v}"
    );
    assert!(env.wb(&["box", "logs", "d"]).stdout.contains("got-usr1"));
    assert!(
        env.box_mounts().is_empty(),
        "a stopped box keeps no mount: {:?}",
        env.box_mounts()
    );
    // Start it again: the same upper dir, a new run.
    env.wb(&["box", "start", "d"]).assert_ok();
    assert!(wait_until(Duration::from_secs(10), || inspect(&env, "d")
        ["status"]
        == "running"));
    // logs -f follows until the box stops.
    let mut f = env.cmd(&["box", "logs", "-f", "d"]);
    f.stdout(std::process::Stdio::piped())
        .stdin(std::process::Stdio::null());
    let follower = f.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    env.wb(&["box", "stop", "d"]).assert_ok();
    let followed = follower.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&followed.stdout)
            .matches("got-usr1")
            .count(),
        2
    );
    env.wb(&["box", "rm", "d"]).assert_ok();
    env.assert_no_boxes_left(&[id]);
}

#[test]
fn the_image_config_is_honoured() {
    if skip_unless_root("boxes") {
        return;
    }
    let env = Env::new("config");
    busybox(
        &env,
        "cfg",
        json!({
            "Entrypoint": ["/bin/sh", "-c"],
            "Cmd": ["echo $GREETING; pwd; id -u; id -g; grep -c ' /data ' /proc/self/mountinfo"],
            "Env": ["PATH=/bin", "GREETING=hello"],
            "WorkingDir": "/tmp",
            "User": "app",
            "Volumes": {"/data": {}},
        }),
    );
    let out = env.wb(&["box", "run", "--rm", "-q", "cfg"]);
    out.assert_ok();
    assert_eq!(
        out.stdout,
        "hello\n/tmp\n1234\n4321\n1\n",
        "{}",
        out.describe()
    );
    // Flags win: -e, -w, -u, a command after the image.
    let out = env.wb(&[
        "box",
        "run",
        "--rm",
        "-q",
        "-e",
        "GREETING=bye",
        "-w",
        "/",
        "-u",
        "0:0",
        "cfg",
        "echo $GREETING; pwd; id -u",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout, "bye\n/\n0\n");
}

/// Reads a cgroup file of `pid`'s cgroup for `controller` (v1 or v2).
fn cgroup_value(pid: i64, v1_controller: &str, v1_file: &str, v2_file: &str) -> String {
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in cg.lines() {
        let parts: Vec<&str> = line.splitn(3, ':').collect();
        if parts[1].split(',').any(|c| c == v1_controller) {
            return fs::read_to_string(format!(
                "/sys/fs/cgroup/{v1_controller}{}/{v1_file}",
                parts[2]
            ))
            .unwrap()
            .trim()
            .to_string();
        }
        if parts[0] == "0"
            && parts[1].is_empty()
            && std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
        {
            return fs::read_to_string(format!("/sys/fs/cgroup{}/{v2_file}", parts[2]))
                .unwrap()
                .trim()
                .to_string();
        }
    }
    panic!("no {v1_controller} cgroup for {pid}: {cg}");
}

#[test]
fn limits_land_in_the_cgroup() {
    if skip_unless_root("boxes") {
        return;
    }
    let env = Env::new("limits");
    busybox(&env, "bb", json!({"Cmd": ["sh"]}));
    let out = env.wb(&[
        "box", "run", "-d", "-q", "--name", "lim", "--memory", "64m", "--pids", "42", "--cpus",
        "0.5", "bb", "sleep", "1000",
    ]);
    out.assert_ok();
    let pid = inspect(&env, "lim")["pid"].as_i64().unwrap();
    assert!(pid > 0);
    assert_eq!(
        cgroup_value(pid, "memory", "memory.limit_in_bytes", "memory.max"),
        (64u64 << 20).to_string()
    );
    assert_eq!(cgroup_value(pid, "pids", "pids.max", "pids.max"), "42");
    let cpu = cgroup_value(pid, "cpu", "cpu.cfs_quota_us", "cpu.max");
    assert!(cpu == "50000" || cpu == "50000 100000", "cpu quota: {cpu}");
    let id = inspect(&env, "lim")["id"].as_str().unwrap().to_string();
    env.wb(&["box", "rm", "-f", "lim"]).assert_ok();
    env.assert_no_boxes_left(&[id]);
}

/// `ward box run` killed at each step leaves a box that `ls` lists and
/// `rm` removes whole.
#[test]
fn a_killed_run_leaves_nothing_rm_cannot_clean() {
    if skip_unless_root("boxes") {
        return;
    }
    let env = Env::new("killed");
    busybox(&env, "bb", json!({"Cmd": ["sh"]}));
    for point in ["after-record", "after-prepare", "after-spawn"] {
        let mut c = env.cmd(&["box", "run", "-q", "--name", point, "bb", "sleep", "1000"]);
        c.env("WARD_BOX_FAULT", point);
        if point == "after-spawn" {
            // ward box creates a foreground box through ward-core in its
            // own process: the runtime library's stop point once the
            // container exists is where it dies.
            c.env("WARD_FAULT", "create:saved");
        }
        let out = run_cmd(c, *TIMEOUT);
        assert!(!out.ok(), "{point}: {}", out.describe());
        let ls = env.wb(&["box", "ls"]);
        assert!(
            ls.stdout.contains(point),
            "{point}: ls lists it\n{}",
            ls.describe()
        );
        let ids = env.box_ids();
        env.wb(&["box", "rm", "-f", point]).assert_ok();
        env.assert_no_boxes_left(&ids);
    }
    // SIGKILL to a foreground run whose box runs.
    let mut c = env.cmd(&["box", "run", "-q", "--name", "fg", "bb", "sleep", "1000"]);
    c.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    assert!(wait_until(Duration::from_secs(20), || env
        .wb(&["box", "ls"])
        .stdout
        .contains("running")));
    child.kill().unwrap();
    child.wait().unwrap();
    let ids = env.box_ids();
    assert!(env.wb(&["box", "ls"]).stdout.contains("fg"));
    env.wb(&["box", "rm", "fg"])
        .assert_one_line_error("box rm fg", &["running"]);
    env.wb(&["box", "rm", "-f", "fg"]).assert_ok();
    env.assert_no_boxes_left(&ids);
}

#[test]
fn bad_input_is_one_line_and_leaves_nothing() {
    if skip_unless_root("boxes") {
        return;
    }
    let env = Env::new("bad");
    busybox(&env, "bb", json!({"Cmd": ["sh"]}));
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "box",
                "run",
                "-q",
                "-v",
                "/nonexistent-ward-box:/x",
                "bb",
                "true",
            ],
            "nonexistent-ward-box",
        ),
        (
            &["box", "run", "-q", "--memory", "lots", "bb", "true"],
            "--memory",
        ),
        (
            &["box", "run", "-q", "--net", "ns:relative", "bb", "true"],
            "absolute path",
        ),
        (
            &["box", "run", "-q", "--name", "../x", "bb", "true"],
            "name",
        ),
        (
            &["box", "run", "-q", "--cap-add", "CAP_NOPE", "bb", "true"],
            "unknown capability",
        ),
        (
            &["box", "run", "-q", "-u", "nosuchuser", "bb", "true"],
            "nosuchuser",
        ),
        (
            &[
                "box",
                "run",
                "-q",
                "--rootfs",
                "/nonexistent-ward-box",
                "--",
                "true",
            ],
            "nonexistent-ward-box",
        ),
        (
            &["box", "run", "-q", "./no-such-layout", "true"],
            "no-such-layout",
        ),
    ];
    for (args, needle) in cases {
        let out = env.wb(args);
        out.assert_one_line_error("box run", &[needle]);
        assert!(
            out.code == Some(125) || out.code == Some(2),
            "{}",
            out.describe()
        );
        env.assert_no_boxes_left(&[]);
    }
    // A program that doesn't exist: the runtime's error, and no box left.
    let out = env.wb(&["box", "run", "-q", "bb", "/no/such/program"]);
    assert_eq!(out.code, Some(125), "{}", out.describe());
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.describe());
    env.assert_no_boxes_left(&[]);
}

/// `ward box ...` through the runtime binary, and its one line when
/// ward-box can't be found.
#[test]
fn ward_execs_ward_box_for_its_front_verbs() {
    let env = Env::new("dispatch");
    let mut c = Command::new(ward_bin());
    c.args(["box", "--root"])
        .arg(&env.store)
        .arg("--runroot")
        .arg(&env.run)
        .arg("ls");
    let out = run_cmd(c, *TIMEOUT);
    // `ward box --root ...`: the front parses its own flags.
    assert!(out.ok() || out.code == Some(2), "{}", out.describe());
    let mut c = Command::new(ward_bin());
    c.arg("image")
        .arg("--root")
        .arg(&env.store)
        .arg("--runroot")
        .arg(&env.run)
        .arg("ls");
    run_cmd(c, *TIMEOUT).assert_ok();
    // Global options before the verb are passed on (`ward --root X image
    // ...`): the store is the one named, in both spellings.
    for (i, before) in [
        ["--root".to_string()],
        [format!("--root={}", env.store.display())],
    ]
    .iter()
    .enumerate()
    {
        let mut c = Command::new(ward_bin());
        c.args(before);
        if i == 0 {
            c.arg(&env.store);
        }
        c.arg("image").arg("--runroot").arg(&env.run).arg("ls");
        run_cmd(c, *TIMEOUT).assert_ok();
    }
    let not_dir = env.dir.join("not-a-dir");
    fs::write(&not_dir, "").unwrap();
    let mut c = Command::new(ward_bin());
    c.arg("--root")
        .arg(not_dir.join("store"))
        .arg("image")
        .arg("--runroot")
        .arg(&env.run)
        .arg("ls");
    let out = run_cmd(c, *TIMEOUT);
    assert!(!out.ok(), "{}", out.describe());
    out.assert_one_line_error("image", &[not_dir.to_str().unwrap(), "not a directory"]);
    // A ward without ward-box beside it or on PATH.
    let lone = env.dir.join("lone");
    fs::create_dir_all(&lone).unwrap();
    fs::copy(ward_bin(), lone.join("ward")).unwrap();
    let mut c = Command::new(lone.join("ward"));
    c.args(["box", "ls"]).env("PATH", "/nonexistent");
    let out = run_cmd(c, *TIMEOUT);
    out.assert_code(127);
    out.assert_one_line_error("box", &["ward-box not found"]);
}

#[test]
fn read_only_tmpfs_hostname_and_capabilities() {
    if skip_unless_root("boxes") {
        return;
    }
    let env = Env::new("flags");
    busybox(&env, "bb", json!({"Cmd": ["sh"]}));
    let script =
        "touch /x 2>/dev/null || echo root-ro; touch /scratch/x && echo tmpfs-rw; hostname; \
        grep CapEff /proc/self/status | cut -f2";
    let out = env.wb(&[
        "box",
        "run",
        "--rm",
        "-q",
        "--read-only",
        "--tmpfs",
        "/scratch",
        "--hostname",
        "hh",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "net_raw",
        "bb",
        "sh",
        "-c",
        script,
    ]);
    out.assert_ok();
    // CAP_NET_RAW is bit 13.
    assert_eq!(
        out.stdout,
        "root-ro\ntmpfs-rw\nhh\n0000000000002000\n",
        "{}",
        out.describe()
    );
}

/// Unmounts (lazily) what a test mounted, when the test ends.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A store on overlayfs (ward box run inside another container's root, or
/// this test VM's /tmp) can't hold a box's overlay: the error says so,
/// instead of the kernel's bare "invalid argument", and leaves no box.
#[test]
fn a_store_on_overlayfs_is_named_in_the_error() {
    if skip_unless_root("boxes") {
        return;
    }
    let env = Env::new("ovlstore");
    for d in ["lower", "upper", "work"] {
        fs::create_dir(env.dir.join(d)).unwrap();
    }
    fs::create_dir_all(&env.store).unwrap();
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        env.dir.join("lower").display(),
        env.dir.join("upper").display(),
        env.dir.join("work").display()
    );
    let st = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &opts])
        .arg(&env.store)
        .status()
        .unwrap();
    assert!(st.success(), "mount an overlay on {}", env.store.display());
    let _unmount = Unmount(env.store.clone());
    busybox(&env, "bb", json!({"Cmd": ["sh"]}));
    let out = env.wb(&["box", "run", "-q", "--rm", "bb", "true"]);
    out.assert_one_line_error(
        "box run",
        &[
            "mount the overlay",
            "the store is itself on overlayfs",
            "--root",
        ],
    );
    assert!(
        env.box_ids().is_empty(),
        "box dirs left: {:?}",
        env.box_ids()
    );
    assert!(
        env.runtime_ids().is_empty(),
        "runtime containers left: {:?}",
        env.runtime_ids()
    );
    let store = env.store.display().to_string();
    let mounts: Vec<String> = env
        .box_mounts()
        .into_iter()
        .filter(|m| *m != store)
        .collect();
    assert!(mounts.is_empty(), "mounts left: {mounts:?}");
}

/// The pid of the box (its init, on the host) named `name`, once it runs.
fn running_pid(env: &Env, name: &str) -> Option<i64> {
    let all: Vec<Value> =
        serde_json::from_str(&env.wb(&["box", "ls", "--format", "json"]).stdout).ok()?;
    let b = all.iter().find(|b| b["name"] == name)?;
    (b["status"] == "running")
        .then(|| b["pid"].as_i64())
        .flatten()
}

/// A one-off host-view box (no name, no limits): made by ward-core in
/// ward box's own process, with no cgroup of its own (it stays in the
/// caller's, as a bwrap sandbox does) and its volumes nodev; listed while
/// it runs; a SIGTERM to `ward box` goes to the box, whose exit code comes
/// back, and nothing is left; a SIGKILLed `ward box` leaves a box that
/// `ls` lists and `rm -f` removes whole. With a limit it gets its cgroup.
#[test]
fn a_one_off_host_view_box_runs_in_process_without_a_cgroup() {
    if skip_unless_root("boxes") {
        return;
    }
    let env = Env::new("oneoff");
    let work = env.dir.join("work");
    fs::create_dir_all(&work).unwrap();
    // Each run's box is the only one: its name is the one `ls` shows.
    let name_of = |env: &Env| -> Option<String> {
        let all: Vec<Value> =
            serde_json::from_str(&env.wb(&["box", "ls", "--format", "json"]).stdout).ok()?;
        all.first()
            .and_then(|b| b["name"].as_str().map(String::from))
    };
    let script = "trap 'exit 3' TERM; sleep 1000 & wait";
    let mut c = env.cmd(&["box", "-v", ".", "--", "/bin/sh", "-c", script]);
    c.current_dir(&work)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let mut pid = None;
    assert!(
        wait_until(Duration::from_secs(20), || {
            pid = name_of(&env).and_then(|n| running_pid(&env, &n));
            pid.is_some()
        }),
        "the box is listed as running: {}",
        env.wb(&["box", "ls"]).describe()
    );
    let pid = pid.unwrap();
    // Its init is ward box's child (no `ward` process between them).
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let ppid: u32 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(ppid, child.id(), "the box's parent is ward box");
    // No cgroup of its own: the same cgroups as this test's process.
    let cg = |p: &str| {
        let mut v: Vec<String> = fs::read_to_string(format!("/proc/{p}/cgroup"))
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        v.sort();
        v
    };
    assert_eq!(cg(&pid.to_string()), cg("self"), "the box's cgroups");
    let id = env.box_ids().pop().unwrap();
    assert!(cgroups_of(&id).is_empty(), "{:?}", cgroups_of(&id));
    // -v . is nodev there.
    let info = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let line = info
        .lines()
        .find(|l| l.split(' ').nth(4) == work.to_str())
        .unwrap_or_else(|| panic!("no bind of {} in\n{info}", work.display()));
    let opts = line.split(' ').nth(5).unwrap();
    assert!(opts.split(',').any(|o| o == "nodev"), "{line}");
    // SIGTERM to ward box: forwarded; its code is the box's; nothing left.
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(3), "{st:?}");
    env.assert_no_boxes_left(&[id]);
    // SIGKILL to ward box: the box is listed, then removed whole.
    let mut c = env.cmd(&["box", "--", "/bin/sleep", "1000"]);
    c.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    assert!(wait_until(Duration::from_secs(20), || name_of(&env)
        .and_then(|n| running_pid(&env, &n))
        .is_some()));
    child.kill().unwrap();
    child.wait().unwrap();
    let name = name_of(&env).expect("the killed run's box is listed");
    let ids = env.box_ids();
    env.wb(&["box", "rm", "-f", &name]).assert_ok();
    env.assert_no_boxes_left(&ids);
    // A limit: a cgroup of its own, with it.
    let out = env.wb(&[
        "box",
        "--pids",
        "77",
        "--",
        "/bin/sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "77", "{}", out.describe());
    env.assert_no_boxes_left(&[]);
}

/// The one-off host view's shared skeleton root is kept between runs, and
/// one found damaged is made again (nothing of either left in tmp).
#[test]
fn the_host_view_skeleton_is_kept_and_a_damaged_one_rebuilt() {
    if skip_unless_root("boxes") {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let env = Env::new("skeleton");
    env.wb(&["box", "--", "/bin/true"]).assert_ok();
    let keys = list(&env.store.join("hostroot"));
    assert_eq!(keys.len(), 1, "{keys:?}");
    let root = env.store.join("hostroot").join(&keys[0]);
    let ino = fs::metadata(&root).unwrap().ino();
    env.wb(&["box", "--", "/bin/true"]).assert_ok();
    assert_eq!(fs::metadata(&root).unwrap().ino(), ino, "kept between runs");
    // Damaged: a mount point gone, a top-level entry of the host's changed.
    fs::remove_dir(root.join("proc")).unwrap();
    let out = env.wb(&[
        "box",
        "--",
        "/bin/sh",
        "-c",
        "ls /proc/self >/dev/null && echo ok",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout, "ok\n", "{}", out.describe());
    assert!(root.join("proc").is_dir(), "made again");
    assert_ne!(fs::metadata(&root).unwrap().ino(), ino, "a new skeleton");
    let etc = root.join("etc");
    fs::remove_dir(&etc).unwrap();
    fs::write(&etc, b"").unwrap();
    env.wb(&["box", "--", "/bin/cat", "/etc/passwd"])
        .assert_ok();
    assert!(etc.is_dir(), "etc is a directory again");
    assert_eq!(list(&env.store.join("hostroot")), keys);
    assert!(
        env.tmp_entries().is_empty(),
        "left in the store's tmp: {:?}",
        env.tmp_entries()
    );
    env.assert_no_boxes_left(&[]);
}
