//! linux.seccomp: the filter config.json describes is installed on the
//! container process (and only rejects what it names), bad profiles are
//! refused before anything starts, SCMP_ACT_NOTIFY hands the listener fd
//! with the container state to listenerPath, and `features` reports it.
//!
//! Checked against runc 1.1.5 with libseccomp 2.5.4.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;

/// A profile that allows everything but `rules`.
fn allow_all_but(rules: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules})
}

fn mkdir_rule(action: &str, errno: Option<u32>) -> Value {
    let mut r = json!({"names": ["mkdir", "mkdirat"], "action": action});
    if let Some(e) = errno {
        r["errnoRet"] = json!(e);
    }
    r
}

#[test]
fn errno_rule_blocks_only_the_named_syscall() {
    let ctx = Ctx::new("scerrno");
    for (tag, errno, text) in [
        ("eperm", Some(1), "Operation not permitted"),
        ("enosys", Some(38), "Function not implemented"),
        // errnoRet unset: EPERM, as the spec says.
        ("default", None, "Operation not permitted"),
    ] {
        let id = ctx.id(tag);
        let mut b = ctx.bundle(tag);
        b.linux()["seccomp"] = allow_all_but(json!([mkdir_rule("SCMP_ACT_ERRNO", errno)]));
        b.sh(
            "mkdir /tmp/blocked; echo MKDIR=$?; touch /tmp/file && echo TOUCH=ok; \
             ls / >/dev/null && echo LS=ok; grep Seccomp: /proc/self/status",
        );
        let out = ctx.run(&b, &id);
        out.assert_ok();
        let t = &out.stdout;
        assert_eq!(kv(t, "MKDIR"), "1", "{}", out.describe());
        assert!(out.stderr.contains(text), "{tag}: {}", out.describe());
        assert_eq!(kv(t, "TOUCH"), "ok", "{}", out.describe());
        assert_eq!(kv(t, "LS"), "ok", "{}", out.describe());
        assert_eq!(field_in(t, "Seccomp").as_deref(), Some("2"), "{t}");
        assert!(!b.rootfs().join("tmp/blocked").exists());
        assert!(b.rootfs().join("tmp/file").exists());
        ctx.assert_nothing_left(&[&id]);
    }
}

/// Profiles older than close_range and faccessat2 (runtime-tools' default
/// among them) deny both with EPERM. Without no_new_privs the filter is on
/// before the last setup steps, which must get by without them: the
/// program still runs, and no fd of ward's reaches it.
#[test]
fn profile_without_close_range_and_faccessat2() {
    let ctx = Ctx::new("scold");
    let id = ctx.id("scold");
    let mut b = ctx.bundle("b");
    b.process()["noNewPrivileges"] = json!(false);
    b.linux()["seccomp"] = allow_all_but(json!([
        {"names": ["close_range", "faccessat2"], "action": "SCMP_ACT_ERRNO"}
    ]));
    // ls holds one fd of its own for the directory.
    b.sh("echo FDS=$(ls /proc/self/fd | tr '\\n' ' ')");
    let out = ctx.run(&b, &id);
    out.assert_ok();
    assert_eq!(kv(&out.stdout, "FDS"), "0 1 2 3", "{}", out.describe());
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn args_rule_matches_only_the_given_value() {
    // personality(PER_LINUX32 = 8) is refused; personality(PER_LINUX = 0)
    // is not. busybox's linux32/linux64 make exactly these calls.
    let ctx = Ctx::new("scargs");
    let id = ctx.id("scargs");
    let mut b = ctx.bundle("b");
    b.linux()["seccomp"] = allow_all_but(json!([{
        "names": ["personality"],
        "action": "SCMP_ACT_ERRNO",
        "errnoRet": 38,
        "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]
    }]));
    b.sh("linux32 true; echo L32=$?; linux64 true; echo L64=$?");
    let out = ctx.run(&b, &id);
    out.assert_ok();
    assert_eq!(kv(&out.stdout, "L32"), "1", "{}", out.describe());
    assert_eq!(kv(&out.stdout, "L64"), "0", "{}", out.describe());
    assert!(
        out.stderr.contains("Function not implemented"),
        "{}",
        out.describe()
    );
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn masked_eq_and_multiple_args() {
    // SCMP_CMP_MASKED_EQ: arg & value == valueTwo (here: the low byte of
    // the persona is PER_LINUX32).
    let ctx = Ctx::new("scmask");
    let id = ctx.id("scmask");
    let mut b = ctx.bundle("b");
    b.linux()["seccomp"] = allow_all_but(json!([{
        "names": ["personality"],
        "action": "SCMP_ACT_ERRNO",
        "errnoRet": 1,
        "args": [{"index": 0, "value": 255, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]
    }]));
    b.sh("linux32 true; echo L32=$?; linux64 true; echo L64=$?");
    let out = ctx.run(&b, &id);
    out.assert_ok();
    assert_eq!(kv(&out.stdout, "L32"), "1", "{}", out.describe());
    assert_eq!(kv(&out.stdout, "L64"), "0", "{}", out.describe());
    assert!(
        out.stderr.contains("Operation not permitted"),
        "{}",
        out.describe()
    );
}

#[test]
fn kill_actions_kill_with_sigsys() {
    let ctx = Ctx::new("sckill");
    for action in [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
    ] {
        let tag = action.trim_start_matches("SCMP_ACT_").to_lowercase();
        let id = ctx.id(&tag);
        let mut b = ctx.bundle(&tag);
        b.linux()["seccomp"] = allow_all_but(json!([mkdir_rule(action, None)]));
        b.set_args(&["mkdir", "/tmp/killed"]);
        let out = ctx.run(&b, &id);
        out.assert_code(128 + libc::SIGSYS);
        assert!(!b.rootfs().join("tmp/killed").exists());
        ctx.assert_nothing_left(&[&id]);
    }
    // The same profile lets a process that does not call mkdir live.
    let id = ctx.id("kill-unused");
    let mut b = ctx.bundle("unused");
    b.linux()["seccomp"] = allow_all_but(json!([mkdir_rule("SCMP_ACT_KILL", None)]));
    b.sh("echo ALIVE");
    assert_eq!(ctx.run_ok(&b, &id).trim(), "ALIVE");
}

#[test]
fn unknown_syscall_names_are_skipped() {
    let ctx = Ctx::new("scunk");
    let id = ctx.id("scunk");
    let mut b = ctx.bundle("b");
    b.linux()["seccomp"] = allow_all_but(json!([{
        "names": ["no_such_syscall_ward_test", "mkdir", "mkdirat"],
        "action": "SCMP_ACT_ERRNO",
        "errnoRet": 1
    }, {
        "names": ["another_unknown_syscall"],
        "action": "SCMP_ACT_KILL"
    }]));
    b.sh("mkdir /tmp/x; echo MKDIR=$?; echo STILL-RUNNING");
    let out = ctx.run(&b, &id);
    out.assert_ok();
    assert_eq!(kv(&out.stdout, "MKDIR"), "1", "{}", out.describe());
    assert!(out.stdout.contains("STILL-RUNNING"));
}

#[test]
fn invalid_profiles_fail_create_and_leave_nothing() {
    let ctx = Ctx::new("scbad");
    let cases = [
        (
            "action",
            allow_all_but(json!([{"names": ["mkdir"], "action": "SCMP_ACT_FROBNICATE"}])),
            "SCMP_ACT_FROBNICATE",
        ),
        (
            "default",
            json!({"defaultAction": "SCMP_ACT_WHATEVER", "syscalls": []}),
            "SCMP_ACT_WHATEVER",
        ),
        (
            "arch",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"],
                   "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}),
            "SCMP_ARCH_VAX",
        ),
        (
            "op",
            allow_all_but(
                json!([{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_SOMETIMES"}]}]),
            ),
            "SCMP_CMP_SOMETIMES",
        ),
    ];
    for (tag, profile, bad_value) in cases {
        let id = ctx.id(tag);
        let mut b = ctx.bundle(tag);
        b.linux()["seccomp"] = profile;
        b.long_running("touch /tmp/started");
        let out = ctx.create(&b, &id);
        out.assert_fail();
        assert!(
            out.stderr.contains(bad_value),
            "the error does not name {bad_value:?}\n{}",
            out.describe()
        );
        if testing_ward() {
            out.assert_error_line("create", &id);
        }
        assert!(!b.rootfs().join("tmp/started").exists());
        ctx.assert_nothing_left(&[&id]);
    }
}

/// Enough for busybox sh and its applets, and for a runtime's last steps
/// between loading the filter and execve. Names unknown to the kernel are
/// skipped.
const ALLOW_LIST: &[&str] = &[
    "access",
    "arch_prctl",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "clock_gettime",
    "clock_nanosleep",
    "clone",
    "clone3",
    "close",
    "close_range",
    "dup",
    "dup2",
    "dup3",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "epoll_wait",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchownat",
    "fcntl",
    "fstat",
    "fstatfs",
    "futex",
    "getcwd",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getgroups",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getrandom",
    "getrlimit",
    "getrusage",
    "getsid",
    "gettid",
    "gettimeofday",
    "getuid",
    "ioctl",
    "kill",
    "lseek",
    "lstat",
    "madvise",
    "mmap",
    "mprotect",
    "munmap",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pipe",
    "pipe2",
    "poll",
    "ppoll",
    "prctl",
    "pread64",
    "prlimit64",
    "pselect6",
    "read",
    "readlink",
    "readlinkat",
    "rename",
    "renameat",
    "renameat2",
    "rseq",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "rt_sigsuspend",
    "sched_getaffinity",
    "sched_yield",
    "select",
    "set_robust_list",
    "set_tid_address",
    "setgid",
    "setgroups",
    "setpgid",
    "setresgid",
    "setresuid",
    "setsid",
    "setuid",
    "sigaltstack",
    "stat",
    "statfs",
    "statx",
    "sysinfo",
    "tgkill",
    "tkill",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimes",
    "vfork",
    "wait4",
    "waitid",
    "write",
    "writev",
];

#[test]
fn default_errno_with_allow_list() {
    let ctx = Ctx::new("scdeny");
    let id = ctx.id("scdeny");
    let mut b = ctx.bundle("b");
    b.linux()["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ALLOW_LIST, "action": "SCMP_ACT_ALLOW"}]
    });
    b.sh(
        "echo HELLO; ls / >/dev/null && echo LS=ok; mkdir /tmp/x; echo MKDIR=$?; \
          touch /tmp/f; echo TOUCH=$?",
    );
    let out = ctx.run(&b, &id);
    out.assert_ok();
    let t = &out.stdout;
    assert!(t.contains("HELLO"), "{}", out.describe());
    assert_eq!(kv(t, "LS"), "ok", "{}", out.describe());
    assert_eq!(kv(t, "MKDIR"), "1", "{}", out.describe());
    assert!(
        out.stderr.contains("Function not implemented"),
        "defaultErrnoRet not used\n{}",
        out.describe()
    );
    assert_eq!(kv(t, "TOUCH"), "0", "{}", out.describe());
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn init_runs_in_seccomp_filter_mode() {
    let ctx = Ctx::new("scmode");
    let id = ctx.id("scmode");
    let mut b = ctx.bundle("b");
    b.linux()["seccomp"] = allow_all_but(json!([mkdir_rule("SCMP_ACT_ERRNO", Some(1))]));
    b.long_running("");
    let (pid, _) = ctx.start_long(&b, &id);
    assert_eq!(status_field(pid, "Seccomp").as_deref(), Some("2"));
    let filters: u32 = status_field(pid, "Seccomp_filters")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(filters >= 1, "Seccomp_filters {filters}");

    // No linux.seccomp: no filter.
    let id2 = ctx.id("scnone");
    let mut b2 = ctx.bundle("b2");
    b2.long_running("");
    let (pid2, _) = ctx.start_long(&b2, &id2);
    assert_eq!(status_field(pid2, "Seccomp").as_deref(), Some("0"));
}

#[test]
fn filter_applies_to_unprivileged_user_without_no_new_privs() {
    // Without noNewPrivileges a runtime must install the filter while it
    // still has CAP_SYS_ADMIN, before switching to the user.
    let ctx = Ctx::new("scuser");
    let id = ctx.id("scuser");
    let mut b = ctx.bundle("b");
    b.process()["noNewPrivileges"] = json!(false);
    b.process()["user"] = json!({"uid": 1000, "gid": 1000});
    b.linux()["seccomp"] = allow_all_but(json!([mkdir_rule("SCMP_ACT_ERRNO", Some(38))]));
    b.long_running("mkdir /tmp/x; echo MKDIR=$?");
    let (pid, out) = ctx.start_long(&b, &id);
    assert_eq!(status_field(pid, "Seccomp").as_deref(), Some("2"));
    assert_eq!(status_field(pid, "NoNewPrivs").as_deref(), Some("0"));
    assert_eq!(status_field(pid, "Uid").unwrap(), "1000\t1000\t1000\t1000");
    assert_eq!(kv(&out.stdout_now(), "MKDIR"), "1");
    assert!(
        read_lossy(&out.stderr_path).contains("Function not implemented"),
        "{}",
        read_lossy(&out.stderr_path)
    );
}

// ---------------------------------------------------------------------------
// SCMP_ACT_NOTIFY
// ---------------------------------------------------------------------------

/// struct seccomp_data (linux/seccomp.h).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
struct SeccompData {
    nr: i32,
    arch: u32,
    instruction_pointer: u64,
    args: [u64; 6],
}

/// struct seccomp_notif.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
struct SeccompNotif {
    id: u64,
    pid: u32,
    flags: u32,
    data: SeccompData,
}

/// struct seccomp_notif_resp.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
struct SeccompNotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

/// _IOWR('!', 0, struct seccomp_notif)
const SECCOMP_IOCTL_NOTIF_RECV: libc::c_ulong = 0xc050_2100;
/// _IOWR('!', 1, struct seccomp_notif_resp)
const SECCOMP_IOCTL_NOTIF_SEND: libc::c_ulong = 0xc018_2101;
const SECCOMP_USER_NOTIF_FLAG_CONTINUE: u32 = 1;

const _: () = assert!(std::mem::size_of::<SeccompNotif>() == 80);
const _: () = assert!(std::mem::size_of::<SeccompNotifResp>() == 24);

/// Receives one notification on the listener fd (within `WAIT_TIMEOUT`).
fn notif_recv(fd: &OwnedFd) -> SeccompNotif {
    assert!(
        poll_readable(fd.as_fd(), WAIT_TIMEOUT),
        "no seccomp notification arrived"
    );
    // The kernel wants a zeroed buffer.
    let mut n = SeccompNotif::default();
    // SAFETY: n is a live, correctly sized and laid out seccomp_notif that
    // the ioctl fills in.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), SECCOMP_IOCTL_NOTIF_RECV, &mut n) };
    assert_eq!(rc, 0, "NOTIF_RECV: {}", std::io::Error::last_os_error());
    n
}

fn notif_send(fd: &OwnedFd, resp: SeccompNotifResp) {
    let mut r = resp;
    // SAFETY: r is a live, correctly laid out seccomp_notif_resp.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), SECCOMP_IOCTL_NOTIF_SEND, &mut r) };
    assert_eq!(rc, 0, "NOTIF_SEND: {}", std::io::Error::last_os_error());
}

/// Runs a container whose mkdir/mkdirat go to the test as notifications,
/// answers the first one with `resp` (id filled in) and returns (run
/// output, state JSON the listener got, the notification, bundle, id).
fn run_with_notify(
    ctx: &Ctx,
    tag: &str,
    resp: SeccompNotifResp,
) -> (Out, Value, SeccompNotif, Bundle, String) {
    let id = ctx.id(tag);
    let mut b = ctx.bundle(tag);
    let sock = ctx.dir.join(format!("{tag}.sock"));
    let listener = UnixListener::bind(&sock).unwrap();
    b.linux()["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock.to_str().unwrap(),
        "listenerMetadata": "ward-test-metadata",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    b.sh("mkdir /tmp/notified; echo MKDIR=$?; touch /tmp/after && echo AFTER=ok");
    b.write();
    let run = ctx.spawn(&["run", "--bundle", b.path(), &id], RUN_TIMEOUT);
    let conn =
        accept_within(&listener, CMD_TIMEOUT).expect("the runtime never connected to listenerPath");
    let (bytes, mut fds) = recv_with_fds(conn.as_fd());
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let state: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("listener message is not JSON ({e}): {text:?}"));
    assert_eq!(fds.len(), 1, "expected one fd with the state: {text}");
    let fd = fds.pop().unwrap();
    let link = fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
    assert!(
        link.to_string_lossy().contains("seccomp"),
        "the fd is not a seccomp listener: {}",
        link.display()
    );
    let n = notif_recv(&fd);
    // The caller is blocked in the syscall: it is a process of the
    // container (its pid namespace is that of the pid in the state).
    let init = state["pid"].as_i64().unwrap_or(0).to_string();
    assert_eq!(
        ns_link(&n.pid.to_string(), "pid"),
        ns_link(&init, "pid"),
        "the notifying process is not in the container"
    );
    assert_ne!(ns_link(&init, "pid"), ns_link("self", "pid"));
    notif_send(&fd, SeccompNotifResp { id: n.id, ..resp });
    let out = run.wait();
    (out, state, n, b, id)
}

#[test]
fn notify_listener_gets_state_and_fd_and_can_fail_the_call() {
    let ctx = Ctx::new("scnotif");
    let resp = SeccompNotifResp {
        error: -libc::EACCES,
        ..Default::default()
    };
    let (out, state, n, b, id) = run_with_notify(&ctx, "deny", resp);
    // The notification is about mkdir/mkdirat of the container process.
    assert!(
        n.data.nr == libc::SYS_mkdir as i32 || n.data.nr == libc::SYS_mkdirat as i32,
        "notification for syscall {}",
        n.data.nr
    );
    assert_eq!(n.data.arch, 0xc000_003e, "AUDIT_ARCH_X86_64");
    assert!(n.pid > 0);

    // The container process state (runtime-spec config-linux.md, "The
    // container process state").
    assert!(state["ociVersion"].is_string(), "{state}");
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert!(state["pid"].as_i64().unwrap_or(0) > 0, "{state}");
    assert_eq!(state["metadata"], "ward-test-metadata", "{state}");
    // runc 1.1.5 sends e.g. {"ociVersion":"1.0.2-dev","fds":["seccompFd"],
    // "pid":N,"metadata":"…","state":{"ociVersion":"1.0.2-dev","id":"…",
    // "status":"creating","pid":N,"bundle":"/…"}}.
    let st = &state["state"];
    assert_eq!(st["id"], id.as_str(), "{state}");
    assert!(st["ociVersion"].is_string(), "{state}");
    assert!(
        st["status"] == "creating" || st["status"] == "created",
        "{state}"
    );
    assert_eq!(st["pid"], state["pid"], "{state}");
    let bundle = st["bundle"].as_str().unwrap_or("");
    assert_eq!(
        fs::canonicalize(bundle).ok(),
        fs::canonicalize(b.path()).ok(),
        "{state}"
    );

    out.assert_ok();
    assert_eq!(kv(&out.stdout, "MKDIR"), "1", "{}", out.describe());
    assert!(
        out.stderr.contains("Permission denied"),
        "the listener's answer (EACCES) did not reach the container\n{}",
        out.describe()
    );
    assert_eq!(kv(&out.stdout, "AFTER"), "ok", "{}", out.describe());
    assert!(!b.rootfs().join("tmp/notified").exists());
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn notify_listener_can_let_the_call_continue() {
    let ctx = Ctx::new("scnotc");
    let resp = SeccompNotifResp {
        flags: SECCOMP_USER_NOTIF_FLAG_CONTINUE,
        ..Default::default()
    };
    let (out, _, _, b, id) = run_with_notify(&ctx, "cont", resp);
    out.assert_ok();
    assert_eq!(kv(&out.stdout, "MKDIR"), "0", "{}", out.describe());
    assert!(b.rootfs().join("tmp/notified").is_dir());
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn notify_without_listener_path_fails_create() {
    // SCMP_ACT_NOTIFY needs somewhere to send the fd.
    let ctx = Ctx::new("scnolp");
    let id = ctx.id("scnolp");
    let mut b = ctx.bundle("b");
    b.linux()["seccomp"] = allow_all_but(json!([mkdir_rule("SCMP_ACT_NOTIFY", None)]));
    b.long_running("");
    let out = ctx.create(&b, &id);
    out.assert_fail();
    out.assert_stderr_has_any(&["listenerPath", "listener path", "notify"]);
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn features_report_seccomp() {
    let ctx = Ctx::new("scfeat");
    let out = ctx.rt(&["features"]);
    out.assert_ok();
    let f: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("features is not JSON ({e})\n{}", out.describe()));
    let s = &f["linux"]["seccomp"];
    assert_eq!(s["enabled"], json!(true), "{s}");
    let list = |k: &str| -> Vec<String> {
        s[k].as_array()
            .unwrap_or_else(|| panic!("linux.seccomp.{k} is not a list: {s}"))
            .iter()
            .map(|v| v.as_str().unwrap_or("").to_string())
            .collect()
    };
    let actions = list("actions");
    for a in [
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_LOG",
        "SCMP_ACT_NOTIFY",
        "SCMP_ACT_TRAP",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "actions lack {a}: {actions:?}"
        );
    }
    let ops = list("operators");
    for o in [
        "SCMP_CMP_EQ",
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_GT",
        "SCMP_CMP_GE",
        "SCMP_CMP_MASKED_EQ",
    ] {
        assert!(ops.iter().any(|x| x == o), "operators lack {o}: {ops:?}");
    }
    let archs = list("archs");
    for a in ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"] {
        assert!(archs.iter().any(|x| x == a), "archs lack {a}: {archs:?}");
    }
}

/// Syscalls added to Linux from 5.3 on (clone3, 435, and after): what a
/// profile written before clone3 doesn't know.
const SINCE_CLONE3: &[&str] = &[
    "clone3",
    "close_range",
    "openat2",
    "pidfd_getfd",
    "faccessat2",
    "process_madvise",
    "epoll_pwait2",
    "mount_setattr",
    "quotactl_fd",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
    "memfd_secret",
    "process_mrelease",
    "futex_waitv",
    "set_mempolicy_home_node",
    "cachestat",
    "fchmodat2",
    "map_shadow_stack",
    "futex_wake",
    "futex_wait",
    "futex_requeue",
    "statmount",
    "listmount",
    "lsm_get_self_attr",
    "lsm_set_self_attr",
    "lsm_list_modules",
    "mseal",
];

/// The engines' default profile as Debian ships it
/// (golang-github-containers-common's /usr/share/containers/seccomp.json),
/// resolved the way an engine does for an x86_64 container with
/// [`BASE_CAPS`] (archMap → architectures; rules kept by their
/// includes/excludes of caps and arches), then taken back to before clone3:
/// every syscall from clone3 on dropped, and no defaultErrnoRet (which came
/// later too), so the default is EPERM.
fn pre_clone3_profile() -> Option<Value> {
    let text = fs::read_to_string("/usr/share/containers/seccomp.json").ok()?;
    let p: Value = serde_json::from_str(&text).expect("containers' seccomp.json");
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let caps: Vec<String> = BASE_CAPS.iter().map(|c| c.to_string()).collect();
    let arch = |a: &String| a == "amd64";
    let mut rules = Vec::new();
    for r in p["syscalls"].as_array()? {
        let (inc, exc) = (&r["includes"], &r["excludes"]);
        let inc_caps = strs(&inc["caps"]);
        let inc_arches = strs(&inc["arches"]);
        if !inc_caps.iter().all(|c| caps.contains(c))
            || (!inc_arches.is_empty() && !inc_arches.iter().any(arch))
            || strs(&exc["caps"]).iter().any(|c| caps.contains(c))
            || strs(&exc["arches"]).iter().any(arch)
        {
            continue;
        }
        let names: Vec<String> = strs(&r["names"])
            .into_iter()
            .filter(|n| !SINCE_CLONE3.contains(&n.as_str()))
            .collect();
        if names.is_empty() {
            continue;
        }
        let mut rule = json!({"names": names, "action": r["action"]});
        for key in ["args", "errnoRet"] {
            if !r[key].is_null() {
                rule[key] = r[key].clone();
            }
        }
        rules.push(rule);
    }
    Some(json!({
        "defaultAction": p["defaultAction"],
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": rules,
    }))
}

/// runc's ENOSYS rule with a real old profile: glibc 2.34+ makes threads
/// with clone3 and falls back to clone only on ENOSYS, so under the old
/// profile a thread starts (instead of failing with EPERM); a raw clone3
/// gets ENOSYS, an old syscall the profile denies (acct) still EPERM. The
/// program is the host's Python, its /usr mounted read-only.
#[test]
fn syscalls_newer_than_an_old_profile_get_enosys() {
    let Some(profile) = pre_clone3_profile() else {
        eprintln!("skipped: no /usr/share/containers/seccomp.json");
        return;
    };
    if !std::path::Path::new("/usr/bin/python3").exists() {
        eprintln!("skipped: no /usr/bin/python3");
        return;
    }
    let ctx = Ctx::new("scenosys");
    let id = ctx.id("scenosys");
    let mut b = ctx.bundle("b");
    for (link, to) in [("lib", "usr/lib"), ("lib64", "usr/lib64")] {
        std::os::unix::fs::symlink(to, b.rootfs().join(link)).unwrap();
    }
    b.add_mount(
        json!({"destination": "/usr", "type": "bind", "source": "/usr",
                       "options": ["rbind", "ro", "nosuid", "nodev"]}),
    );
    b.linux()["seccomp"] = profile;
    let script = "import ctypes, os, threading\n\
        libc = ctypes.CDLL(None, use_errno=True)\n\
        def err(nr, *a):\n    r = libc.syscall(nr, *a)\n    return 0 if r >= 0 else ctypes.get_errno()\n\
        print('CLONE3=%d' % err(435, 0, 0))\n\
        print('ACCT=%d' % err(163, 0))\n\
        t = threading.Thread(target=lambda: print('THREAD=ran', flush=True))\n\
        t.start(); t.join()\n";
    b.set_args(&["/usr/bin/python3", "-c", script]);
    let out = ctx.run(&b, &id);
    out.assert_ok();
    let t = &out.stdout;
    assert_eq!(
        kv(t, "CLONE3"),
        libc::ENOSYS.to_string(),
        "{}",
        out.describe()
    );
    assert_eq!(kv(t, "ACCT"), libc::EPERM.to_string(), "{}", out.describe());
    assert_eq!(kv(t, "THREAD"), "ran", "{}", out.describe());
    ctx.assert_nothing_left(&[&id]);
}
