//! Each namespace is really separate (judged from the host through
//! /proc/<pid>/ns/* and from inside), and namespaces can be joined by path.

mod common;

use common::*;
use serde_json::json;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Asserts the container init's namespace `ns` differs from the host's.
#[track_caller]
fn assert_ns_separate(pid: i32, ns: &str) {
    let inner = ns_link(&pid.to_string(), ns);
    let outer = ns_link("self", ns);
    assert_ne!(inner, outer, "container {ns} namespace is the host's");
}

/// Interface names listed in a /proc/net/dev text.
fn interfaces(net_dev: &str) -> BTreeSet<String> {
    net_dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':').map(|(n, _)| n.trim().to_string()))
        .collect()
}

#[test]
fn pid_namespace() {
    let ctx = Ctx::new("pidns");
    let id = ctx.id("pidns");
    let mut b = ctx.bundle("b");
    b.long_running(
        "echo \"SELF=$$\"; echo \"PIDS=$(ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' ')\"; \
         echo \"PS=$(ps -o pid | tail -n +2 | wc -l)\"",
    );
    let (pid, out) = ctx.start_long(&b, &id);
    let text = out.stdout_now();
    assert_eq!(
        kv(&text, "SELF"),
        "1",
        "container init is not pid 1 inside:\n{text}"
    );
    let pids: Vec<u32> = kv(&text, "PIDS")
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(pids.contains(&1), "pid 1 not listed inside: {pids:?}");
    assert!(
        pids.len() <= 10,
        "host processes are visible inside the container: {pids:?}"
    );
    let host_count = all_pids().len();
    assert!(host_count > 20, "host has too few processes for this check");
    let ps: usize = kv(&text, "PS").parse().unwrap();
    assert!(ps <= 10, "ps inside lists {ps} processes");

    assert_ns_separate(pid, "pid");
    // From the host: the process's pid in its innermost namespace is 1.
    let nspid = status_field(pid, "NSpid").expect("NSpid in status");
    let levels: Vec<&str> = nspid.split_whitespace().collect();
    assert_eq!(
        levels.first(),
        Some(&pid.to_string().as_str()),
        "NSpid {nspid}"
    );
    assert_eq!(levels.last(), Some(&"1"), "NSpid {nspid}: not pid 1 inside");
    assert!(levels.len() >= 2, "NSpid {nspid}: no nested pid namespace");
}

#[test]
fn uts_namespace() {
    let ctx = Ctx::new("utsns");
    let id = ctx.id("utsns");
    let host_before = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let mut b = ctx.bundle("b");
    b.config["hostname"] = json!("wt-uts-host");
    b.long_running("echo \"HN=$(hostname)\"");
    let (pid, out) = ctx.start_long(&b, &id);
    let text = out.stdout_now();
    assert_eq!(kv(&text, "HN"), "wt-uts-host", "{text}");
    assert_ns_separate(pid, "uts");
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_before,
        "host hostname changed"
    );
}

#[test]
fn uts_domainname() {
    if !testing_ward() {
        // runc 1.1 (the reference runtime on this host) ignores domainname.
        eprintln!("SKIP: domainname: only checked against ward");
        return;
    }
    let ctx = Ctx::new("utsdom");
    let id = ctx.id("utsdom");
    let dom_before = fs::read_to_string("/proc/sys/kernel/domainname").unwrap();
    let mut b = ctx.bundle("b");
    b.config["domainname"] = json!("wt-uts-domain");
    b.long_running("echo \"DN=$(cat /proc/sys/kernel/domainname)\"");
    let (pid, out) = ctx.start_long(&b, &id);
    assert_eq!(kv(&out.stdout_now(), "DN"), "wt-uts-domain");
    assert_ns_separate(pid, "uts");
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/domainname").unwrap(),
        dom_before,
        "host domainname changed"
    );
}

#[test]
fn mount_namespace() {
    let ctx = Ctx::new("mntns");
    let id = ctx.id("mntns");
    let mut b = ctx.bundle("b");
    let mut caps: Vec<&str> = BASE_CAPS.to_vec();
    caps.push("CAP_SYS_ADMIN");
    b.process()["capabilities"] = json!({
        "bounding": caps, "effective": caps, "permitted": caps
    });
    b.long_running("mkdir -p /mnt/inside && mount -t tmpfs -o size=1m wardinside /mnt/inside");
    let (pid, _out) = ctx.start_long(&b, &id);
    assert_ns_separate(pid, "mnt");
    let inner = mounts_of(pid);
    let m = mount_at(&inner, "/mnt/inside")
        .unwrap_or_else(|| panic!("mount done inside is missing from the container: {inner:#?}"));
    assert_eq!(m.fstype, "tmpfs");
    let host = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !parse_mountinfo(&host)
            .iter()
            .any(|m| m.source == "wardinside"),
        "a mount made inside the container shows up on the host"
    );
}

/// Without a mount namespace in the config, the container inherits ward's
/// (runtime spec; runtime-tools' linux_ns_itype): its root is a chroot,
/// its mounts are on the host under the rootfs, exec lands in its root,
/// and delete takes those mounts away again.
#[test]
fn no_mount_namespace_is_inherited_and_cleaned_up() {
    let ctx = Ctx::new("nomntns");
    let id = ctx.id("nomntns");
    let mut b = ctx.bundle("b");
    b.remove_namespace("mount");
    fs::write(b.rootfs().join("wt-marker"), "inside\n").unwrap();
    b.long_running("");
    let (pid, _out) = ctx.start_long(&b, &id);
    assert_eq!(
        ns_link(&pid.to_string(), "mnt"),
        ns_link("self", "mnt"),
        "the container has a mount namespace of its own"
    );
    let rootfs = fs::canonicalize(b.rootfs()).unwrap();
    assert_eq!(
        fs::read_link(format!("/proc/{pid}/root")).unwrap(),
        rootfs,
        "the container's root is not its rootfs"
    );
    let under_rootfs = || {
        let host = fs::read_to_string("/proc/self/mountinfo").unwrap();
        parse_mountinfo(&host)
            .into_iter()
            .filter(|m| Path::new(&m.mount_point).starts_with(&rootfs))
            .map(|m| m.mount_point)
            .collect::<Vec<_>>()
    };
    assert!(
        under_rootfs().iter().any(|m| m.ends_with("/proc")),
        "the container's /proc is not on the host: {:?}",
        under_rootfs()
    );
    let out = ctx.rt(&["exec", &id, "cat", "/wt-marker"]);
    out.assert_ok();
    assert_eq!(
        out.stdout.trim(),
        "inside",
        "exec is not in the container's root"
    );
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    assert_eq!(
        under_rootfs(),
        Vec::<String>::new(),
        "delete left the container's mounts on the host"
    );
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn network_namespace() {
    let ctx = Ctx::new("netns");
    let id = ctx.id("netns");
    let mut b = ctx.bundle("b");
    b.long_running("cat /proc/net/dev; echo \"SYSNET=$(ls /sys/class/net | tr '\\n' ' ')\"");
    let (pid, out) = ctx.start_long(&b, &id);
    let text = out.stdout_now();
    let ifs = interfaces(&text);
    assert_eq!(
        ifs,
        ["lo".to_string()].into_iter().collect(),
        "container sees interfaces other than lo:\n{text}"
    );
    assert_eq!(kv(&text, "SYSNET"), "lo", "/sys/class/net inside:\n{text}");
    assert_ns_separate(pid, "net");
    // Same view from the host through the container's /proc/<pid>/net.
    let from_host = fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap();
    assert_eq!(interfaces(&from_host).len(), 1, "{from_host}");
}

struct ShmSegment(i32);

impl Drop for ShmSegment {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID with a null buffer is valid for shmctl(2).
        unsafe {
            libc::shmctl(self.0, libc::IPC_RMID, std::ptr::null_mut());
        }
    }
}

#[test]
fn ipc_namespace() {
    let ctx = Ctx::new("ipcns");
    let id = ctx.id("ipcns");
    // SAFETY: shmget(2) with IPC_PRIVATE has no memory-safety preconditions.
    let shmid = unsafe { libc::shmget(libc::IPC_PRIVATE, 4096, libc::IPC_CREAT | 0o600) };
    assert!(shmid >= 0, "shmget failed");
    let _seg = ShmSegment(shmid);
    let host_list = fs::read_to_string("/proc/sysvipc/shm").unwrap();
    let has_id = |text: &str| {
        text.lines()
            .skip(1)
            .any(|l| l.split_whitespace().nth(1) == Some(shmid.to_string().as_str()))
    };
    assert!(
        has_id(&host_list),
        "host does not see its own segment {shmid}"
    );

    let mut b = ctx.bundle("b");
    b.long_running("echo SHM-BEGIN; cat /proc/sysvipc/shm; echo SHM-END");
    let (pid, out) = ctx.start_long(&b, &id);
    let text = out.stdout_now();
    let inner = text
        .split_once("SHM-BEGIN")
        .and_then(|(_, r)| r.split_once("SHM-END"))
        .map(|(m, _)| m.to_string())
        .expect("markers in output");
    assert!(
        !has_id(&inner),
        "host SysV segment {shmid} is visible inside the container:\n{inner}"
    );
    assert_ns_separate(pid, "ipc");
}

#[test]
fn user_namespace_with_mappings() {
    let ctx = Ctx::new("userns");
    let id = ctx.id("userns");
    let mut b = ctx.bundle("b");
    b.add_namespace(json!({"type": "user"}));
    b.linux()["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.linux()["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    b.long_running("echo \"UID=$(id -u)\"; echo \"GID=$(id -g)\"");
    let (pid, out) = ctx.start_long(&b, &id);
    let text = out.stdout_now();
    assert_eq!(kv(&text, "UID"), "0", "{text}");
    assert_eq!(kv(&text, "GID"), "0", "{text}");
    assert_ns_separate(pid, "user");
    let map = |f: &str| -> Vec<Vec<u64>> {
        fs::read_to_string(format!("/proc/{pid}/{f}"))
            .unwrap()
            .lines()
            .map(|l| l.split_whitespace().map(|n| n.parse().unwrap()).collect())
            .collect()
    };
    assert_eq!(map("uid_map"), vec![vec![0, 100000, 65536]], "uid_map");
    assert_eq!(map("gid_map"), vec![vec![0, 200000, 65536]], "gid_map");
    let uid = status_field(pid, "Uid").unwrap();
    assert_eq!(
        uid.split_whitespace().next(),
        Some("100000"),
        "host uid: {uid}"
    );
    let gid = status_field(pid, "Gid").unwrap();
    assert_eq!(
        gid.split_whitespace().next(),
        Some("200000"),
        "host gid: {gid}"
    );
}

#[test]
fn cgroup_namespace() {
    let ctx = Ctx::new("cgns");
    let id = ctx.id("cgns");
    let mut b = ctx.bundle("b");
    b.add_namespace(json!({"type": "cgroup"}));
    b.long_running("echo CG-BEGIN; cat /proc/self/cgroup; echo CG-END");
    let (pid, out) = ctx.start_long(&b, &id);
    assert_ns_separate(pid, "cgroup");
    let text = out.stdout_now();
    let inner = text
        .split_once("CG-BEGIN")
        .and_then(|(_, r)| r.split_once("CG-END"))
        .map(|(m, _)| m.trim().to_string())
        .expect("markers in output");
    assert!(!inner.is_empty(), "no /proc/self/cgroup output");
    for line in inner.lines() {
        assert!(
            line.ends_with(":/"),
            "inside a cgroup namespace every cgroup path must be '/': {line}\n{inner}"
        );
    }
}

#[test]
fn time_namespace_with_offsets() {
    if !testing_ward() {
        // runc 1.1 (the reference runtime on this host) predates time
        // namespace support in the runtime spec.
        eprintln!("SKIP: time namespace: only checked against ward");
        return;
    }
    let ctx = Ctx::new("timens");
    let id = ctx.id("timens");
    let mut b = ctx.bundle("b");
    b.add_namespace(json!({"type": "time"}));
    let boot_off: u64 = 86400 * 3650;
    let mono_off: u64 = 86400 * 365;
    b.linux()["timeOffsets"] = json!({
        "boottime": {"secs": boot_off, "nanosecs": 0},
        "monotonic": {"secs": mono_off, "nanosecs": 0}
    });
    b.long_running("echo \"UPTIME=$(cut -d' ' -f1 /proc/uptime)\"");
    let (pid, out) = ctx.start_long(&b, &id);
    assert_ns_separate(pid, "time");
    let offsets = fs::read_to_string(format!("/proc/{pid}/timens_offsets")).unwrap();
    let find = |clock: &str| -> Vec<String> {
        offsets
            .lines()
            .find(|l| l.split_whitespace().next() == Some(clock))
            .map(|l| l.split_whitespace().skip(1).map(str::to_string).collect())
            .unwrap_or_default()
    };
    assert_eq!(
        find("monotonic"),
        vec![mono_off.to_string(), "0".into()],
        "{offsets}"
    );
    assert_eq!(
        find("boottime"),
        vec![boot_off.to_string(), "0".into()],
        "{offsets}"
    );
    let uptime: f64 = kv(&out.stdout_now(), "UPTIME").parse().unwrap();
    assert!(
        uptime >= boot_off as f64,
        "uptime inside ({uptime}) does not include the boottime offset"
    );
}

#[test]
fn join_uts_namespace_of_other_container() {
    let ctx = Ctx::new("joinuts");
    let owner = ctx.id("owner");
    let joiner = ctx.id("joiner");
    let mut a = ctx.bundle("a");
    a.config["hostname"] = json!("wt-ns-owner");
    a.long_running("");
    let (apid, _) = ctx.start_long(&a, &owner);

    let mut b = ctx.bundle("b");
    b.config.as_object_mut().unwrap().remove("hostname");
    b.set_namespace(
        "uts",
        json!({"type": "uts", "path": format!("/proc/{apid}/ns/uts")}),
    );
    b.long_running("echo \"HN=$(hostname)\"");
    let (bpid, out) = ctx.start_long(&b, &joiner);
    assert_eq!(
        ns_link(&bpid.to_string(), "uts"),
        ns_link(&apid.to_string(), "uts"),
        "joined uts namespace differs from the one named by path"
    );
    assert_ns_separate(bpid, "uts");
    // The joiner has its own other namespaces.
    assert_ne!(
        ns_link(&bpid.to_string(), "pid"),
        ns_link(&apid.to_string(), "pid")
    );
    assert_eq!(kv(&out.stdout_now(), "HN"), "wt-ns-owner");
}

#[test]
fn join_persistent_network_namespace_by_path() {
    if !std::path::Path::new("/usr/bin/unshare").exists() {
        eprintln!("SKIP: unshare(1) not installed");
        return;
    }
    let ctx = Ctx::new("joinnet");
    let id = ctx.id("joinnet");
    let nsfile = ctx.dir.join("netns");
    fs::write(&nsfile, "").unwrap();
    ctx.track_host_mount(&nsfile);
    let nsarg = format!("--net={}", nsfile.display());
    ctx.host("unshare", &[&nsarg, "true"]).assert_ok();
    let ino = fs::metadata(&nsfile).unwrap().ino();
    let expected = format!("net:[{ino}]");
    assert_ne!(
        expected,
        ns_link("self", "net"),
        "persisted netns is the host's"
    );

    let mut b = ctx.bundle("b");
    b.set_namespace(
        "network",
        json!({"type": "network", "path": nsfile.to_str().unwrap()}),
    );
    b.long_running("cat /proc/net/dev");
    let (pid, out) = ctx.start_long(&b, &id);
    assert_eq!(
        ns_link(&pid.to_string(), "net"),
        expected,
        "container did not join the netns"
    );
    assert_eq!(
        interfaces(&out.stdout_now()),
        ["lo".to_string()].into_iter().collect()
    );
}

/// A bundle whose init is made by an intermediate process (time offsets
/// need one), for the handshake-order tests below.
fn two_step_bundle(ctx: &Ctx) -> Bundle {
    let mut b = ctx.bundle("b");
    b.add_namespace(json!({"type": "time"}));
    b.linux()["timeOffsets"] = json!({"monotonic": {"secs": 1000, "nanosecs": 0}});
    b.long_running("");
    b
}

/// `create` with the intermediate held up between forking init and
/// reporting init's pid (WARD_FAULT_DELAY, debug builds), so that init's
/// first message would come first if init could speak before that.
fn create_with_late_init_pid(ctx: &Ctx, b: &Bundle, id: &str) -> Proc {
    b.write();
    let mut cmd = ctx.command(&["create", "--bundle", b.path(), id]);
    cmd.env("WARD_FAULT_DELAY", "spawn:init-pid");
    ctx.spawn_cmd(cmd, CMD_TIMEOUT)
}

/// The pid `ward state` reports must be the container's init: in the
/// container's time namespace, with the offsets.
#[track_caller]
fn assert_is_init(ctx: &Ctx, id: &str, pid: i32) {
    assert_eq!(ctx.pid_of(id), pid, "state's pid");
    let off = fs::read_to_string(format!("/proc/{pid}/timens_offsets")).unwrap_or_default();
    assert!(
        off.lines()
            .any(|l| l.starts_with("monotonic") && l.contains("1000")),
        "pid {pid} is not the container's init (timens_offsets {off:?})"
    );
}

#[test]
fn init_ready_before_its_pid_would_arrive() {
    if skip_unless_ward("WARD_FAULT_DELAY") {
        return;
    }
    let ctx = Ctx::new("hsready");
    let id = ctx.id("hsready");
    let b = two_step_bundle(&ctx);
    let out = create_with_late_init_pid(&ctx, &b, &id).wait();
    out.assert_ok();
    assert!(!out.stderr.contains("panicked"), "{}", out.describe());
    let pid = ctx.pid_of(&id);
    assert_is_init(&ctx, &id, pid);
    ctx.start_ok(&id);
    wait_for_marker(&out.stdout_path, READY);
}

#[test]
fn create_runtime_hook_gets_init_pid_not_the_intermediates() {
    if skip_unless_ward("WARD_FAULT_DELAY") {
        return;
    }
    let ctx = Ctx::new("hshook");
    let id = ctx.id("hshook");
    let mut b = two_step_bundle(&ctx);
    let got = ctx.dir.join("hook-state.json");
    b.config["hooks"] = json!({"createRuntime": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("cat > {}", got.display())]
    }]});
    let out = create_with_late_init_pid(&ctx, &b, &id).wait();
    out.assert_ok();
    let state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&got).unwrap()).unwrap();
    let pid = state["pid"].as_i64().unwrap_or(0) as i32;
    assert_is_init(&ctx, &id, pid);
}

#[test]
fn seccomp_agent_gets_init_pid_not_the_intermediates() {
    if skip_unless_ward("WARD_FAULT_DELAY") {
        return;
    }
    use std::os::fd::AsFd;
    let ctx = Ctx::new("hsscmp");
    let id = ctx.id("hsscmp");
    let mut b = two_step_bundle(&ctx);
    let sock = ctx.dir.join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    b.linux()["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock.to_str().unwrap(),
        "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    let create = create_with_late_init_pid(&ctx, &b, &id);
    let conn = accept_within(&listener, CMD_TIMEOUT).expect("ward never reached the agent");
    let (bytes, _fds) = recv_with_fds(conn.as_fd());
    create.wait().assert_ok();
    let msg: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let pid = msg["pid"].as_i64().unwrap_or(0) as i32;
    assert_eq!(msg["state"]["pid"], msg["pid"], "{msg}");
    assert_is_init(&ctx, &id, pid);
}
