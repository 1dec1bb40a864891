//! Rootless containers: a user without root runs ward on a bundle with a
//! user namespace and gets root inside, with no privilege on the host.
//! Each test makes its own host user (useradd, with a subordinate id range)
//! and removes it afterwards; ward runs as that user through setpriv.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::chown;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// useradd and userdel lock /etc/passwd: one at a time.
static USERDB: Mutex<()> = Mutex::new(());
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A host user made for one test, with 65536 subordinate uids and gids;
/// deleted on drop.
struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
    sub_start: u32,
}

impl TestUser {
    fn new() -> TestUser {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let name = format!("wardrl{}x{n}", std::process::id());
        // A subordinate range of our own, far from the usual 100000+.
        let sub_start = 1_000_000 + ((std::process::id() % 1000) * 8 + n) * 65536;
        let sub = format!("{sub_start}-{}", sub_start + 65535);
        let _g = USERDB.lock().unwrap();
        let run = |prog: &str, args: &[&str]| {
            let out = Command::new(prog).args(args).output().expect(prog);
            assert!(
                out.status.success(),
                "{prog} {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        run("useradd", &["-M", "-U", "-s", "/bin/sh", &name]);
        let user = TestUser {
            uid: run("id", &["-u", &name]).parse().unwrap(),
            gid: run("id", &["-g", &name]).parse().unwrap(),
            name,
            sub_start,
        };
        run(
            "usermod",
            &["--add-subuids", &sub, "--add-subgids", &sub, &user.name],
        );
        user
    }

    /// The runtime as this user, with `--root` of `ctx`, started.
    fn spawn(&self, ctx: &Ctx, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--clear-groups")
            .arg("--")
            .arg(runtime_bin())
            .arg("--root")
            .arg(&ctx.root)
            .args(args)
            .envs(env.iter().copied());
        ctx.spawn_cmd(cmd, RUN_TIMEOUT)
    }

    /// The runtime run as this user, with `--root` of `ctx`.
    fn rt(&self, ctx: &Ctx, args: &[&str]) -> Out {
        self.spawn(ctx, args, &[]).wait()
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _g = USERDB.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}

/// A scratch dir the user may write (for ward's --root), and a bundle with
/// a user namespace mapping the user to root, as `spec --rootless` makes.
fn rootless_bundle(ctx: &Ctx, user: &TestUser) -> Bundle {
    chown(&ctx.dir, Some(user.uid), Some(user.gid)).unwrap();
    let mut b = ctx.bundle("rl");
    b.add_namespace(json!({"type": "user"}));
    b.linux()["uidMappings"] = json!([{"containerID": 0, "hostID": user.uid, "size": 1}]);
    b.linux()["gidMappings"] = json!([{"containerID": 0, "hostID": user.gid, "size": 1}]);
    // devpts' gid=5 doesn't exist in a one-id user namespace.
    for m in b.config["mounts"].as_array_mut().unwrap() {
        if m["type"] == "devpts" {
            let opts: Vec<Value> = m["options"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|o| *o != "gid=5")
                .cloned()
                .collect();
            m["options"] = Value::Array(opts);
        }
    }
    b
}

fn host_status(pid: i32, key: &str) -> Vec<u32> {
    status_field(pid, key)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

#[test]
fn rootless_container_is_root_inside_and_the_user_outside() {
    if skip_unless_ward("rootless run") {
        return;
    }
    let ctx = Ctx::new("rootless-run");
    let user = TestUser::new();
    let mut b = rootless_bundle(&ctx, &user);
    b.long_running("id -u > /tmp/uid; cat /proc/self/uid_map > /tmp/map");
    b.write();
    let id = ctx.id("rl");
    let log = ctx.dir.join("ward.log");
    let log_arg = log.to_str().unwrap();
    let out = user.rt(
        &ctx,
        &[
            "--log",
            log_arg,
            "run",
            "--detach",
            "--bundle",
            b.path(),
            &id,
        ],
    );
    out.assert_ok();
    // Nothing on stderr: the config asks for no limits, so running without
    // a cgroup of its own (the user may not make one) changes nothing the
    // user asked for. Engines copy stderr to their users; it goes to the log.
    assert_eq!(out.stderr, "", "{}", out.describe());
    let logged = fs::read_to_string(&log).unwrap_or_default();
    assert!(
        logged.contains("without a cgroup of its own"),
        "the log doesn't say the container has no cgroup: {logged:?}"
    );
    let st: Value = serde_json::from_str(&user.rt(&ctx, &["state", &id]).stdout).unwrap();
    let pid = st["pid"].as_i64().unwrap() as i32;
    wait_exec(pid, &["sleep", "1000"]);
    // From the host: every uid of the process is the user's.
    let uids = host_status(pid, "Uid");
    assert_eq!(uids, vec![user.uid; 4], "host view of the container's uids");
    // Inside: root, through a one-line map of the user's uid.
    let root = b.rootfs();
    assert_eq!(
        fs::read_to_string(root.join("tmp/uid")).unwrap().trim(),
        "0"
    );
    let map: Vec<String> = fs::read_to_string(root.join("tmp/map"))
        .unwrap()
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(map, ["0", &user.uid.to_string(), "1"]);
    // list shows the user as the owner; exec joins the namespaces.
    let list = user.rt(&ctx, &["list"]);
    assert!(list.stdout.contains(&user.name), "{}", list.describe());
    let ex = user.rt(
        &ctx,
        &["exec", &id, "sh", "-c", "id -u; readlink /proc/1/exe"],
    );
    ex.assert_ok();
    assert_eq!(ex.stdout.lines().collect::<Vec<_>>(), ["0", "/bin/busybox"]);
    user.rt(&ctx, &["delete", "--force", &id]).assert_ok();
    assert!(!pid_alive(pid), "init {pid} survived delete --force");
    assert!(!ctx.root.join(&id).exists(), "state left behind");
}

#[test]
fn rootless_multi_id_map_goes_through_newuidmap() {
    if skip_unless_ward("rootless newuidmap") {
        return;
    }
    let ctx = Ctx::new("rootless-map");
    let user = TestUser::new();
    let mut b = rootless_bundle(&ctx, &user);
    let map = |own: u32| {
        json!([
            {"containerID": 0, "hostID": own, "size": 1},
            {"containerID": 1, "hostID": user.sub_start, "size": 65536}
        ])
    };
    b.linux()["uidMappings"] = map(user.uid);
    b.linux()["gidMappings"] = map(user.gid);
    // File ownership by a mapped id other than root: 1000 inside is
    // sub_start + 999 outside.
    b.sh("cat /proc/self/uid_map; touch /tmp/f && chown 1000:1000 /tmp/f && echo chowned");
    b.write();
    let id = ctx.id("rlmap");
    let out = user.rt(&ctx, &["run", "--bundle", b.path(), &id]);
    out.assert_ok();
    assert!(out.stdout.contains("chowned"), "{}", out.describe());
    let lines: Vec<String> = out
        .stdout
        .lines()
        .take(2)
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines,
        [
            format!("0 {} 1", user.uid),
            format!("1 {} 65536", user.sub_start)
        ],
        "{}",
        out.describe()
    );
    let meta = fs::metadata(b.rootfs().join("tmp/f")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(meta.uid(), user.sub_start + 999);
    assert!(!ctx.root.join(&id).exists(), "state left behind");
}

#[test]
fn rootless_map_of_ids_the_user_does_not_own_is_refused() {
    if skip_unless_ward("rootless refused map") {
        return;
    }
    let ctx = Ctx::new("rootless-bad");
    let user = TestUser::new();
    let mut b = rootless_bundle(&ctx, &user);
    // uid 0 of the host is nobody's to give.
    b.linux()["uidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 1}]);
    b.long_running("");
    b.write();
    let id = ctx.id("rlbad");
    let out = user.rt(&ctx, &["create", "--bundle", b.path(), &id]);
    out.assert_fail();
    out.assert_error_line("create", &id);
    out.assert_stderr_has_any(&["newuidmap"]);
    let left = ctx.leftovers(&[&id]);
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn rootless_limits_without_a_writable_cgroup_fail_cleanly() {
    if skip_unless_ward("rootless limits") {
        return;
    }
    let ctx = Ctx::new("rootless-limit");
    let user = TestUser::new();
    let mut b = rootless_bundle(&ctx, &user);
    b.linux()["resources"] = json!({"memory": {"limit": 64 * 1024 * 1024}});
    b.long_running("");
    b.write();
    let id = ctx.id("rllim");
    let out = user.rt(&ctx, &["create", "--bundle", b.path(), &id]);
    out.assert_fail();
    out.assert_error_line("create", &id);
    out.assert_stderr_has_any(&["permission denied"]);
    assert!(!ctx.root.join(&id).exists(), "state left behind");
    let left = ctx.leftovers(&[&id]);
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn rootless_exec_reports_its_pid_before_it_speaks() {
    // Without root, exec joins the pid namespace in a first child that forks
    // the process (two steps). Held up between that fork and the report of
    // the pid (WARD_FAULT_DELAY), the process's seccomp listener fd must
    // still reach the agent with the process's own pid, not the first
    // child's.
    if skip_unless_ward("rootless two-step exec") {
        return;
    }
    use std::os::fd::AsFd;
    let ctx = Ctx::new("rootless-exec");
    let user = TestUser::new();
    // The base config has a pid namespace already.
    let mut b = rootless_bundle(&ctx, &user);
    let sock = ctx.dir.join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    chown(&sock, Some(user.uid), Some(user.gid)).unwrap();
    b.linux()["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock.to_str().unwrap(),
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    b.long_running("");
    b.write();
    let id = ctx.id("rlexec");
    let create = user.spawn(&ctx, &["run", "--detach", "--bundle", b.path(), &id], &[]);
    let Some(conn) = accept_within(&listener, CMD_TIMEOUT) else {
        panic!(
            "create never reached the agent\n{}",
            create.wait().describe()
        );
    };
    let _ = recv_with_fds(conn.as_fd());
    create.wait().assert_ok();
    let st: Value = serde_json::from_str(&user.rt(&ctx, &["state", &id]).stdout).unwrap();
    let init = st["pid"].as_i64().unwrap() as i32;

    let exec = user.spawn(
        &ctx,
        &["exec", &id, "mkdir", "/tmp/d"],
        &[("WARD_FAULT_DELAY", "spawn:init-pid")],
    );
    let conn = accept_within(&listener, CMD_TIMEOUT).expect("exec never reached the agent");
    let (bytes, _fds) = recv_with_fds(conn.as_fd());
    let msg: Value = serde_json::from_slice(&bytes).unwrap();
    let pid = msg["pid"].as_i64().unwrap_or(0) as i32;
    // Read while the process is blocked in its mkdir, which waits for the
    // agent; once the agent's fd is gone, the call fails and it exits.
    let pidns = ns_link(&pid.to_string(), "pid");
    drop((conn, _fds));
    exec.wait();
    assert_ne!(pid, init, "{msg}");
    assert_eq!(
        pidns,
        ns_link(&init.to_string(), "pid"),
        "the agent got pid {pid}, which is not in the container's pid namespace: {msg}"
    );
    user.rt(&ctx, &["delete", "--force", &id]).assert_ok();
}
