//! systemd integration: sd_notify through NOTIFY_SOCKET and socket
//! activation through LISTEN_FDS/LISTEN_PID.
//!
//! NOTIFY_SOCKET: when the runtime is started with NOTIFY_SOCKET set, the
//! container gets its own NOTIFY_SOCKET (a socket reachable inside it) and a
//! "READY=1" sent there reaches the host socket. runc 1.1.5 does this by
//! binding a socket dir at /run/notify in the container and forwarding
//! READY=… (plus MAINPID=<init pid> for detached containers) from `start` or
//! `run`; these tests check the behaviour, not where the socket lives.
//!
//! LISTEN_FDS: when LISTEN_PID is the runtime's own pid, the LISTEN_FDS fds
//! starting at 3 go to the container as fds 3… with LISTEN_FDS=n and
//! LISTEN_PID=1 (the container process is pid 1 in its namespace);
//! preserved fds (--preserve-fds) follow them.
//!
//! busybox cannot send a unix datagram, so the sender is a tiny static C
//! program built with the host's `cc`; the tests say SKIP without one.

mod common;

use common::*;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const SDNOTIFY_C: &str = r#"
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

/* sdnotify MSG: sends MSG as one datagram to $NOTIFY_SOCKET. */
int main(int argc, char **argv) {
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    size_t len;
    int fd;
    if (argc != 2 || path == NULL || path[0] == 0) {
        fprintf(stderr, "sdnotify: usage: NOTIFY_SOCKET=path sdnotify MSG\n");
        return 2;
    }
    len = strlen(path);
    if (len >= sizeof sa.sun_path) {
        fprintf(stderr, "sdnotify: path too long\n");
        return 2;
    }
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = 0;
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("sdnotify: socket");
        return 1;
    }
    if (sendto(fd, argv[1], strlen(argv[1]), 0, (struct sockaddr *)&sa,
               offsetof(struct sockaddr_un, sun_path) + len) < 0) {
        perror("sdnotify: sendto");
        return 1;
    }
    return 0;
}
"#;

/// Builds the static sender into `<rootfs>/bin/sdnotify`; false (after a
/// SKIP line) when there is no C compiler or no static libc.
fn install_sdnotify(ctx: &Ctx, rootfs: &Path, test: &str) -> bool {
    build_static_c(ctx, SDNOTIFY_C, &rootfs.join("bin/sdnotify"), test)
}

/// Datagrams received on `sock` until one holds the line `want` or
/// `timeout` passes.
fn recv_until(sock: &UnixDatagram, want: &str, timeout: Duration) -> Vec<String> {
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            if got.iter().any(|m| m.lines().any(|l| l == want)) {
                break;
            }
        }
    }
    got
}

/// Lines of all datagrams so far plus whatever more arrives in `extra`.
fn drain(sock: &UnixDatagram, mut got: Vec<String>, extra: Duration) -> Vec<String> {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + extra;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    got
}

fn lines(msgs: &[String]) -> Vec<String> {
    msgs.iter()
        .flat_map(|m| m.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Any MAINPID= the runtime forwards must name one of `allowed`.
#[track_caller]
fn check_mainpid(msgs: &[String], allowed: &[i32]) {
    for l in lines(msgs) {
        if let Some(v) = l.strip_prefix("MAINPID=") {
            assert!(
                allowed.iter().any(|p| p.to_string() == v),
                "MAINPID={v} is none of {allowed:?}"
            );
        }
    }
}

const NOTIFY_SCRIPT: &str = "echo NS=${NOTIFY_SOCKET:-unset}; \
     if [ -S \"$NOTIFY_SOCKET\" ]; then echo SOCK=ok; else echo SOCK=missing; fi; \
     sleep 1; sdnotify READY=1 && echo SENT=ok";

#[test]
fn notify_socket_ready_reaches_host_with_run() {
    let ctx = Ctx::new("ntfrun");
    let id = ctx.id("ntfrun");
    let mut b = ctx.bundle("b");
    if !install_sdnotify(
        &ctx,
        &b.rootfs(),
        "notify_socket_ready_reaches_host_with_run",
    ) {
        return;
    }
    let host_sock = ctx.dir.join("notify.sock");
    let sock = UnixDatagram::bind(&host_sock).unwrap();
    b.long_running(NOTIFY_SCRIPT);
    b.write();
    let mut cmd = ctx.command(&["run", "--bundle", b.path(), &id]);
    cmd.env("NOTIFY_SOCKET", &host_sock);
    let run = ctx.spawn_cmd(cmd, RUN_TIMEOUT);
    let msgs = recv_until(&sock, "READY=1", WAIT_TIMEOUT);
    let t = run.stdout_now();
    assert!(
        lines(&msgs).iter().any(|l| l == "READY=1"),
        "the host socket never got READY=1; got {msgs:?}; container said:\n{t}"
    );
    wait_for_marker(run.stdout_path(), READY);
    let t = run.stdout_now();
    assert_ne!(kv(&t, "NS"), "unset", "{t}");
    assert_eq!(kv(&t, "SOCK"), "ok", "{t}");
    assert_eq!(kv(&t, "SENT"), "ok", "{t}");
    let init = ctx.pid_of(&id);
    let msgs = drain(&sock, msgs, Duration::from_millis(300));
    // runc 1.1.5 sends MAINPID=<its own pid> from a foreground run (the
    // process systemd already watches); the container init would do too.
    check_mainpid(&msgs, &[run.pid(), init]);
    ctx.rt(&["kill", &id, "KILL"]).assert_ok();
    run.wait().assert_code(128 + libc::SIGKILL);
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn notify_socket_ready_reaches_host_with_create_start() {
    let ctx = Ctx::new("ntfcs");
    let id = ctx.id("ntfcs");
    let mut b = ctx.bundle("b");
    if !install_sdnotify(
        &ctx,
        &b.rootfs(),
        "notify_socket_ready_reaches_host_with_create_start",
    ) {
        return;
    }
    let host_sock = ctx.dir.join("notify.sock");
    let sock = UnixDatagram::bind(&host_sock).unwrap();
    b.long_running(NOTIFY_SCRIPT);
    b.write();
    let mut create = ctx.command(&["create", "--bundle", b.path(), &id]);
    create.env("NOTIFY_SOCKET", &host_sock);
    let create_out = ctx.spawn_cmd(create, CMD_TIMEOUT).wait();
    create_out.assert_ok();
    let init = ctx.pid_of(&id);
    // Nothing is forwarded before the container says so.
    let early = drain(&sock, Vec::new(), Duration::from_millis(300));
    assert!(
        !lines(&early).iter().any(|l| l.starts_with("READY=")),
        "READY before start: {early:?}"
    );
    let mut start = ctx.command(&["start", &id]);
    start.env("NOTIFY_SOCKET", &host_sock);
    let start = ctx.spawn_cmd(start, CMD_TIMEOUT);
    let msgs = recv_until(&sock, "READY=1", WAIT_TIMEOUT);
    assert!(
        lines(&msgs).iter().any(|l| l == "READY=1"),
        "the host socket never got READY=1; got {msgs:?}; container said:\n{}",
        create_out.stdout_now()
    );
    // runc's start waits for READY and then returns; any runtime must have
    // returned by now.
    start.wait().assert_ok();
    wait_for_marker(&create_out.stdout_path, READY);
    let t = create_out.stdout_now();
    assert_eq!(kv(&t, "SOCK"), "ok", "{t}");
    assert_eq!(kv(&t, "SENT"), "ok", "{t}");
    // After a detached start the service's main process is the init (runc
    // 1.1.5 sends MAINPID=<init pid>).
    let msgs = drain(&sock, msgs, Duration::from_millis(300));
    check_mainpid(&msgs, &[init]);
    assert_eq!(ctx.status(&id).as_deref(), Some("running"));
}

#[test]
fn no_notify_socket_in_container_without_one_on_host() {
    let ctx = Ctx::new("ntfnone");
    let id = ctx.id("ntfnone");
    let mut b = ctx.bundle("b");
    b.sh("echo NS=${NOTIFY_SOCKET:-unset}; ls /run");
    let mut cmd = ctx.command(&["run", "--bundle", b.path(), &id]);
    b.write();
    cmd.env_remove("NOTIFY_SOCKET");
    let out = ctx.spawn_cmd(cmd, RUN_TIMEOUT).wait();
    out.assert_ok();
    assert_eq!(kv(&out.stdout, "NS"), "unset", "{}", out.describe());
}

/// Runs `run` through `sh` so that LISTEN_PID can be the runtime's own pid
/// (`exec` keeps the shell's pid), with `files` as fds 3….
fn run_with_listen_fds(
    ctx: &Ctx,
    b: &Bundle,
    id: &str,
    listen_pid_is_runtime: bool,
    extra_args: &[&str],
    files: &[&fs::File],
) -> Out {
    b.write();
    let mut cmd = Command::new("sh");
    let pid_expr = if listen_pid_is_runtime { "$$" } else { "1" };
    cmd.arg("-c")
        .arg(format!(
            "LISTEN_PID={pid_expr}; export LISTEN_PID; exec \"$@\""
        ))
        .arg("sh")
        .arg(runtime_bin())
        .arg("--root")
        .arg(&ctx.root)
        .arg("run")
        .args(extra_args)
        .args(["--bundle", b.path(), id])
        .env("LISTEN_FDS", "2")
        .env("LISTEN_FDNAMES", "one:two");
    let raw: Vec<i32> = files.iter().map(|f| f.as_raw_fd()).collect();
    pass_fds(&mut cmd, &raw);
    ctx.spawn_cmd(cmd, RUN_TIMEOUT).wait()
}

const LISTEN_SCRIPT: &str = "echo LISTEN_FDS=${LISTEN_FDS:-unset}; \
     echo LISTEN_PID=${LISTEN_PID:-unset}; echo PID=$$; \
     for n in 3 4 5 6; do if { echo to-fd-$n >&$n; } 2>/dev/null; then echo FD$n=open; \
     else echo FD$n=closed; fi; done";

#[test]
fn listen_fds_are_passed_for_socket_activation() {
    let ctx = Ctx::new("lfds");
    let id = ctx.id("lfds");
    let mut b = ctx.bundle("b");
    b.sh(LISTEN_SCRIPT);
    let p3 = ctx.dir.join("listen3");
    let p4 = ctx.dir.join("listen4");
    let (f3, f4) = (
        fs::File::create(&p3).unwrap(),
        fs::File::create(&p4).unwrap(),
    );
    let out = run_with_listen_fds(&ctx, &b, &id, true, &[], &[&f3, &f4]);
    out.assert_ok();
    let t = &out.stdout;
    assert_eq!(kv(t, "LISTEN_FDS"), "2", "{}", out.describe());
    // LISTEN_PID must name the process that gets the fds: the container's
    // pid 1.
    assert_eq!(kv(t, "PID"), "1", "{t}");
    assert_eq!(kv(t, "LISTEN_PID"), "1", "{}", out.describe());
    assert_eq!(kv(t, "FD3"), "open", "{t}");
    assert_eq!(kv(t, "FD4"), "open", "{t}");
    assert_eq!(kv(t, "FD5"), "closed", "{t}");
    assert_eq!(fs::read_to_string(&p3).unwrap(), "to-fd-3\n");
    assert_eq!(fs::read_to_string(&p4).unwrap(), "to-fd-4\n");
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn listen_fds_for_another_pid_are_ignored() {
    let ctx = Ctx::new("lfdsoth");
    let id = ctx.id("lfdsoth");
    let mut b = ctx.bundle("b");
    b.sh(LISTEN_SCRIPT);
    let p3 = ctx.dir.join("listen3");
    let f3 = fs::File::create(&p3).unwrap();
    let f4 = fs::File::create(ctx.dir.join("listen4")).unwrap();
    let out = run_with_listen_fds(&ctx, &b, &id, false, &[], &[&f3, &f4]);
    out.assert_ok();
    let t = &out.stdout;
    assert_eq!(kv(t, "LISTEN_FDS"), "unset", "{}", out.describe());
    assert_eq!(kv(t, "FD3"), "closed", "{t}");
    assert_eq!(kv(t, "FD4"), "closed", "{t}");
    assert_eq!(fs::read_to_string(&p3).unwrap(), "");
}

#[test]
fn listen_fds_come_before_preserved_fds() {
    let ctx = Ctx::new("lfdspres");
    let id = ctx.id("lfdspres");
    let mut b = ctx.bundle("b");
    b.sh(LISTEN_SCRIPT);
    let paths: Vec<_> = (3..7).map(|n| ctx.dir.join(format!("fd{n}"))).collect();
    let files: Vec<fs::File> = paths.iter().map(|p| fs::File::create(p).unwrap()).collect();
    let refs: Vec<&fs::File> = files.iter().collect();
    let out = run_with_listen_fds(&ctx, &b, &id, true, &["--preserve-fds", "2"], &refs);
    out.assert_ok();
    let t = &out.stdout;
    assert_eq!(kv(t, "LISTEN_FDS"), "2", "{}", out.describe());
    for (n, p) in (3..7).zip(&paths) {
        assert_eq!(kv(t, &format!("FD{n}")), "open", "{t}");
        assert_eq!(
            fs::read_to_string(p).unwrap(),
            format!("to-fd-{n}\n"),
            "fd {n} of the runtime did not become fd {n} of the container"
        );
    }
}

#[test]
fn preserve_fds_alone_sets_no_listen_fds() {
    let ctx = Ctx::new("presonly");
    let id = ctx.id("presonly");
    let mut b = ctx.bundle("b");
    b.sh(LISTEN_SCRIPT);
    b.write();
    let p3 = ctx.dir.join("fd3");
    let p4 = ctx.dir.join("fd4");
    let (f3, f4) = (
        fs::File::create(&p3).unwrap(),
        fs::File::create(&p4).unwrap(),
    );
    let mut cmd = ctx.command(&["run", "--preserve-fds", "2", "--bundle", b.path(), &id]);
    cmd.env_remove("LISTEN_FDS").env_remove("LISTEN_PID");
    pass_fds(&mut cmd, &[f3.as_raw_fd(), f4.as_raw_fd()]);
    let out = ctx.spawn_cmd(cmd, RUN_TIMEOUT).wait();
    out.assert_ok();
    let t = &out.stdout;
    assert_eq!(kv(t, "LISTEN_FDS"), "unset", "{t}");
    assert_eq!(kv(t, "FD3"), "open", "{t}");
    assert_eq!(kv(t, "FD4"), "open", "{t}");
    assert_eq!(kv(t, "FD5"), "closed", "{t}");
    assert_eq!(fs::read_to_string(&p4).unwrap(), "to-fd-4\n");
}
