//! A terminal for a foreground `run` (process.terminal without
//! --console-socket): the runtime gets the pty master itself and proxies it
//! to its own stdio. The runtime runs on a pseudo-terminal the test makes
//! (openpty, the runtime as session leader with it as controlling
//! terminal), so the test types into it, resizes it and reads what the
//! container prints, as a user's terminal emulator would.

mod common;

use common::*;
use serde_json::json;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A runtime command running on a pty made by the test.
struct PtyRun {
    master: OwnedFd,
    /// The test's own copy of the slave, to read the terminal's mode with
    /// `stty -g` before, during and after the run.
    slave: OwnedFd,
    child: Option<Child>,
    cmd: String,
    /// `stty -g` of the terminal before the runtime started.
    before: String,
    /// Everything read from the master so far.
    transcript: Vec<u8>,
    deadline: Instant,
}

fn winsize(rows: u16, cols: u16) -> libc::winsize {
    libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// A new pty of the given size: (master, slave).
fn open_pty(rows: u16, cols: u16) -> (OwnedFd, OwnedFd) {
    let (mut m, mut s) = (-1, -1);
    let ws = winsize(rows, cols);
    // SAFETY: m and s are valid out-pointers; name and termios may be null;
    // ws is a valid winsize that outlives the call.
    let r = unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty returned two new fds that nothing else owns.
    let (m, s) = unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
    for fd in [&m, &s] {
        // SAFETY: fcntl on our own fd with integer arguments.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    (m, s)
}

/// `stty -g` of the terminal `fd`: its whole mode, as one comparable line.
fn stty_g(fd: &OwnedFd) -> String {
    let out = Command::new("stty")
        .arg("-g")
        .stdin(Stdio::from(fd.try_clone().unwrap()))
        .output()
        .expect("run stty -g");
    assert!(out.status.success(), "stty -g failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl PtyRun {
    /// Starts the runtime with `args` (after --root) on a new pty of
    /// `rows`x`cols`, as session leader with the pty as its controlling
    /// terminal (so a resize signals it with SIGWINCH).
    fn spawn(ctx: &Ctx, args: &[&str], rows: u16, cols: u16) -> PtyRun {
        let (master, slave) = open_pty(rows, cols);
        let before = stty_g(&slave);
        let mut cmd = ctx.command(args);
        let cmd_text = format!("{cmd:?}");
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave.try_clone().unwrap()));
        // SAFETY: between fork and exec the closure only makes two
        // async-signal-safe syscalls and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd_text}: {e}"));
        PtyRun {
            master,
            slave,
            child: Some(child),
            cmd: cmd_text,
            before,
            transcript: Vec::new(),
            deadline: Instant::now() + RUN_TIMEOUT,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.transcript).replace('\r', "")
    }

    /// Reads what is on the master, waiting up to `ms` for the first byte.
    fn pump(&mut self, ms: i32) {
        let mut pfd = libc::pollfd {
            fd: self.master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: pfd is a valid array of one pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r <= 0 {
            return;
        }
        let mut buf = [0u8; 4096];
        // SAFETY: buf is valid for writes of its length.
        let n = unsafe { libc::read(self.master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            self.transcript.extend_from_slice(&buf[..n as usize]);
        }
    }

    #[track_caller]
    fn check_deadline(&self, what: &str) {
        assert!(
            Instant::now() < self.deadline,
            "TIMEOUT waiting for {what}: {}\n--- terminal ---\n{}",
            self.cmd,
            self.text()
        );
    }

    /// Reads the terminal until `needle` has appeared; returns the text.
    #[track_caller]
    fn read_until(&mut self, needle: &str) -> String {
        while !self.text().contains(needle) {
            self.check_deadline(&format!("{needle:?}"));
            self.pump(100);
        }
        self.text()
    }

    /// Presses Enter every 300ms until `needle` shows (for a container that
    /// answers each line it reads).
    #[track_caller]
    fn ask_until(&mut self, needle: &str) {
        let mut last = Instant::now() - Duration::from_secs(1);
        while !self.text().contains(needle) {
            self.check_deadline(&format!("{needle:?}"));
            if last.elapsed() >= Duration::from_millis(300) {
                self.type_in("\r");
                last = Instant::now();
            }
            self.pump(50);
        }
    }

    /// Types `s` into the terminal.
    fn type_in(&self, s: &str) {
        let b = s.as_bytes();
        // SAFETY: b is valid for reads of its length.
        let n = unsafe { libc::write(self.master.as_raw_fd(), b.as_ptr().cast(), b.len()) };
        assert_eq!(n, b.len() as isize, "write to the pty");
    }

    /// Resizes the terminal, as a terminal emulator does: the kernel sends
    /// SIGWINCH to its foreground process group, the runtime.
    fn resize(&self, rows: u16, cols: u16) {
        let ws = winsize(rows, cols);
        // SAFETY: TIOCSWINSZ reads a winsize from the pointer we pass.
        let r = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        assert_eq!(r, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
    }

    /// Waits for the runtime to exit, reading the terminal meanwhile;
    /// returns its exit code and everything it showed.
    #[track_caller]
    fn wait(&mut self) -> (Option<i32>, String) {
        let mut child = self.child.take().expect("waited twice");
        loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                // What is still on the master (we hold the slave: no EIO).
                for _ in 0..5 {
                    self.pump(20);
                }
                assert!(
                    st.signal().is_none(),
                    "{} was killed by signal {:?}\n{}",
                    self.cmd,
                    st.signal(),
                    self.text()
                );
                return (st.code(), self.text());
            }
            if Instant::now() >= self.deadline {
                self.child = Some(child);
                self.check_deadline("the runtime to exit");
                unreachable!();
            }
            self.pump(50);
        }
    }
}

impl Drop for PtyRun {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) has no memory-safety preconditions; the child
            // leads its own session and process group (setsid) and is not
            // reaped yet, so the group id can't name anything else.
            unsafe { libc::killpg(c.id() as i32, libc::SIGKILL) };
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A bundle whose process has a terminal and runs `script`.
fn tty_bundle(ctx: &Ctx, script: &str) -> Bundle {
    let mut b = ctx.bundle("b");
    b.process()["terminal"] = json!(true);
    b.sh(script);
    b.write();
    b
}

#[test]
fn run_with_terminal_proxies_a_pty() {
    let ctx = Ctx::new("ttyrun");
    let id = ctx.id("ttyrun");
    let b = tty_bundle(
        &ctx,
        "echo \"TTY=$(tty)\"; if [ -t 0 ] && [ -t 1 ] && [ -t 2 ]; then echo IS-A-TTY; fi; \
         echo ASK; read line; echo \"got:$line\"; exit 3",
    );
    let mut run = PtyRun::spawn(&ctx, &["run", "--bundle", b.path(), &id], 24, 80);
    let before = run.before.clone();
    let text = run.read_until("ASK");
    let tty = kv(&text, "TTY");
    assert!(tty.starts_with("/dev/pts/"), "tty inside: {tty:?}\n{text}");
    assert!(
        text.contains("IS-A-TTY"),
        "stdio inside is not a tty\n{text}"
    );
    // While the container runs, the caller's terminal is raw.
    let mut during = String::new();
    let raw = wait_until(WAIT_TIMEOUT, || {
        during = stty_g(&run.slave);
        during != before
    });
    assert!(raw, "the caller's terminal never left its mode {before}");
    assert!(
        !Command::new("stty")
            .arg("-a")
            .stdin(Stdio::from(run.slave.try_clone().unwrap()))
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap()
            .contains(" icanon"),
        "the caller's terminal is not raw (still icanon) during the run"
    );
    // A line typed into the outer terminal reaches the container ("\r" is
    // what a terminal sends for Enter; the container's pty makes it "\n").
    run.type_in("hello world\r");
    run.read_until("got:hello world");
    let (code, text) = run.wait();
    assert_eq!(code, Some(3), "exit code of the container\n{text}");
    assert_eq!(
        stty_g(&run.slave),
        before,
        "the caller's terminal mode was not restored"
    );
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn run_with_terminal_follows_window_size() {
    let ctx = Ctx::new("ttysize");
    let id = ctx.id("ttysize");
    let mut b = tty_bundle(
        &ctx,
        "echo \"SIZE=$(stty size)\"; while read x; do echo \"SIZE=$(stty size)\"; done; exit 0",
    );
    // The caller's terminal wins over consoleSize.
    b.process()["consoleSize"] = json!({"height": 10, "width": 20});
    b.write();
    let mut run = PtyRun::spawn(&ctx, &["run", "--bundle", b.path(), &id], 33, 111);
    run.read_until("SIZE=");
    let text = run.read_until("\n");
    if testing_ward() {
        // ward sizes the pty before the process starts: its very first look
        // sees the caller's size. (runc resizes just after the start, so
        // its container may first see consoleSize.)
        assert!(
            text.contains("SIZE=33 111"),
            "the container doesn't start with the caller's window size\n{text}"
        );
    }
    run.ask_until("SIZE=33 111");
    run.resize(44, 122);
    // The resize reaches the container asynchronously: ask until it shows.
    run.ask_until("SIZE=44 122");
    // ^D: EOF for the container's `read` (its pty is in canonical mode).
    run.type_in("\x04");
    let (code, text) = run.wait();
    assert_eq!(code, Some(0), "{text}");
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn ctrl_c_goes_to_the_container() {
    let ctx = Ctx::new("ttyintr");
    let id = ctx.id("ttyintr");
    let b = tty_bundle(
        &ctx,
        "trap 'echo TRAPPED-INT; exit 5' INT; echo ARMED; while :; do sleep 0.1; done",
    );
    let mut run = PtyRun::spawn(&ctx, &["run", "--bundle", b.path(), &id], 24, 80);
    run.read_until("ARMED");
    // In raw mode ^C is a byte for the container's terminal, which turns it
    // into SIGINT for the container's foreground process group; the runtime
    // itself is not interrupted.
    let mut last = Instant::now() - Duration::from_secs(1);
    while !run.text().contains("TRAPPED-INT") {
        run.check_deadline("the container to trap ^C");
        if last.elapsed() >= Duration::from_millis(500) {
            run.type_in("\x03");
            last = Instant::now();
        }
        run.pump(50);
    }
    let (code, text) = run.wait();
    assert_eq!(code, Some(5), "{text}");
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn failed_start_restores_the_terminal() {
    let ctx = Ctx::new("ttyfail");
    let id = ctx.id("ttyfail");
    let mut b = ctx.bundle("b");
    b.process()["terminal"] = json!(true);
    // It exists and is executable, so every check before the start passes
    // and the terminal is already raw when execve fails (ENOEXEC).
    let bogus = b.rootfs().join("bin/bogus");
    std::fs::write(&bogus, b"\x7fNOT-AN-ELF\n").unwrap();
    std::fs::set_permissions(&bogus, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    b.set_args(&["/bin/bogus"]);
    b.write();
    let mut run = PtyRun::spawn(&ctx, &["run", "--bundle", b.path(), &id], 24, 80);
    let before = run.before.clone();
    let (code, text) = run.wait();
    assert!(
        code.is_some_and(|c| c != 0),
        "run of a program that can't be executed succeeded\n{text}"
    );
    assert_eq!(
        stty_g(&run.slave),
        before,
        "the caller's terminal mode was not restored after the error\n{text}"
    );
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn run_with_terminal_without_a_tty_on_stdin() {
    let ctx = Ctx::new("ttynostdin");
    let id = ctx.id("ttynostdin");
    let mut b = tty_bundle(
        &ctx,
        "if [ -t 0 ]; then echo IS-A-TTY; fi; echo \"SIZE=$(stty size)\"; sleep 1; \
         echo STILL-RUNNING; exit 4",
    );
    // Without a terminal on the caller's side, consoleSize applies.
    b.process()["consoleSize"] = json!({"height": 20, "width": 70});
    b.write();
    // stdin /dev/null (EOF at once: the container must go on regardless),
    // stdout and stderr files.
    let out = ctx
        .spawn(&["run", "--bundle", b.path(), &id], RUN_TIMEOUT)
        .wait();
    if !testing_ward() && out.stderr.contains("open /dev/tty") {
        // runc 1.1 wants a terminal on its stdio or a controlling one.
        eprintln!(
            "SKIP: {} refuses a terminal without one on the caller's side: {}",
            runtime_name(),
            out.stderr.trim()
        );
        return;
    }
    out.assert_code(4);
    let text = out.stdout.replace('\r', "");
    assert!(text.contains("IS-A-TTY"), "{}", out.describe());
    assert_eq!(kv(&text, "SIZE"), "20 70", "{}", out.describe());
    assert!(
        text.contains("STILL-RUNNING"),
        "EOF on stdin ended the container\n{}",
        out.describe()
    );
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn detached_terminal_needs_a_console_socket() {
    let ctx = Ctx::new("ttydetach");
    let id = ctx.id("ttydetach");
    let mut b = ctx.bundle("b");
    b.process()["terminal"] = json!(true);
    b.long_running("");
    b.write();
    let out = ctx.rt(&["run", "--detach", "--bundle", b.path(), &id]);
    out.assert_fail();
    out.assert_stderr_has_any(&["cannot allocate tty if"]);
    out.assert_stderr_has_any(&["will detach without setting console socket"]);
    if testing_ward() {
        out.assert_error_line("run", &id);
    }
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn foreground_run_refuses_a_console_socket() {
    let ctx = Ctx::new("ttyfgsock");
    let id = ctx.id("ttyfgsock");
    let mut b = ctx.bundle("b");
    b.process()["terminal"] = json!(true);
    b.write();
    let sock = ctx.dir.join("console.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let out = ctx.rt(&[
        "run",
        "--console-socket",
        sock.to_str().unwrap(),
        "--bundle",
        b.path(),
        &id,
    ]);
    out.assert_fail();
    out.assert_stderr_has_any(&["cannot use console socket if"]);
    if testing_ward() {
        out.assert_error_line("run", &id);
    }
    ctx.assert_nothing_left(&[&id]);
}

/// A `run` refused before anything is made must not touch a container that
/// already has that ID.
#[test]
fn refused_run_leaves_the_existing_container_alone() {
    let ctx = Ctx::new("ttykeep");
    let id = ctx.id("ttykeep");
    let mut b = ctx.bundle("b");
    b.long_running("");
    let (pid, _) = ctx.start_long(&b, &id);
    let start = pid_starttime(pid);
    let mut b2 = ctx.bundle("b2");
    b2.process()["terminal"] = json!(true);
    b2.write();
    let out = ctx.rt(&["run", "--detach", "--bundle", b2.path(), &id]);
    out.assert_fail();
    let out = ctx.rt(&["run", "--bundle", b.path(), &id]);
    out.assert_fail();
    assert!(
        same_process_alive(pid, start),
        "the running container was killed by a failed run of its ID"
    );
    assert_eq!(ctx.status(&id).as_deref(), Some("running"));
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}
