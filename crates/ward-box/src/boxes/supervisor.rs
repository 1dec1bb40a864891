//! A detached box's supervisor, as conmon is podman's: a small process of
//! its own session that outlives the CLI. It creates the box through the
//! runtime with stdout and stderr going to the box's log, starts it, tells
//! the CLI (over a pipe) that it runs or why not, then, as the box's child
//! subreaper, reaps the init, records its exit code, and cleans up (the
//! runtime's container, the overlay mount, the whole box with --rm). It
//! holds the box's lock the whole time, so `stop`, `rm` and `ls` know a
//! box is in someone's charge. There is one per running detached box and
//! none otherwise: no daemon.

use super::lifecycle::{cleanup_after_exit, Ctx};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;

/// The supervisor's main: `ward-box __supervise ID FD` (FD: the status pipe).
pub fn main(ctx: &Ctx, id: &str, status_fd: i32) -> i32 {
    // SAFETY: the CLI passed this fd number as the status pipe's write end,
    // and nothing else in this fresh process owns it.
    let mut status = File::from(unsafe { OwnedFd::from_raw_fd(status_fd) });
    let report = |status: &mut File, msg: &str| {
        let _ = status.write_all(msg.as_bytes());
    };
    let rec = match ctx.boxes.record(id) {
        Ok(r) => r,
        Err(e) => {
            report(&mut status, &format!("error {e}\n"));
            return 1;
        }
    };
    // The CLI holds the lock and waits for our word; we take it over by
    // locking after the CLI's copy is released: share it instead, through
    // the fd the CLI left us (fd 3, see lifecycle::spawn_supervisor).
    let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
    let dir = ctx.boxes.dir(id);
    let log_path = dir.join("log");
    let log = match OpenOptions::new().create(true).append(true).open(&log_path) {
        Ok(f) => f,
        Err(e) => {
            report(
                &mut status,
                &format!("error open {}: {e}\n", log_path.display()),
            );
            return 1;
        }
    };
    let before = log.metadata().map(|m| m.len()).unwrap_or(0);
    // The network first: the runtime joins the namespace it pins.
    if let Err(e) = super::lifecycle::net_setup(ctx, &rec) {
        report(&mut status, &format!("error {e}\n"));
        cleanup_after_exit(ctx, &rec, None, false);
        return 1;
    }
    let pidfile = dir.join("pid");
    let _ = fs::remove_file(&pidfile);
    let bundle = dir.join("bundle");
    let mut cmd = match super::lifecycle::runtime_create(
        ctx,
        &rec,
        &[
            "create".as_ref(),
            "--bundle".as_ref(),
            bundle.as_os_str(),
            "--pid-file".as_ref(),
            pidfile.as_os_str(),
            id.as_ref(),
        ],
    ) {
        Ok(c) => c,
        Err(e) => {
            report(&mut status, &format!("error {e}\n"));
            return 1;
        }
    };
    let create = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone().map(Stdio::from).unwrap_or(Stdio::null()))
        .stderr(log.try_clone().map(Stdio::from).unwrap_or(Stdio::null()))
        .status();
    let fail = |status: &mut File, why: String| {
        report(status, &format!("error {why}\n"));
        cleanup_after_exit(ctx, &rec, None, false);
        1
    };
    match create {
        Ok(s) if s.success() => {}
        Ok(_) => {
            // The runtime's error line is the last thing in the log.
            let mut text = String::new();
            if let Ok(mut f) = File::open(&log_path) {
                let _ = f.seek(SeekFrom::Start(before));
                let _ = f.read_to_string(&mut text);
            }
            let line = text.lines().last().unwrap_or("failed").to_string();
            let _ = log.set_len(before);
            return fail(
                &mut status,
                line.strip_prefix("ward: ").unwrap_or(&line).to_string(),
            );
        }
        Err(e) => return fail(&mut status, format!("run {}: {e}", ctx.rt.bin.display())),
    }
    let pid: i32 = fs::read_to_string(&pidfile)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if let Err(e) = ctx.rt.quiet(&["start", id]) {
        let _ = ctx.rt.delete_force(id);
        return fail(&mut status, e);
    }
    report(&mut status, &format!("ok {pid}\n"));
    drop(status);
    // Reap everything reparented to us; the init's status is the box's.
    let code = loop {
        match rustix::process::wait(rustix::process::WaitOptions::empty()) {
            Ok(Some((p, st))) if p.as_raw_nonzero().get() == pid => {
                break if let Some(c) = st.exit_status() {
                    c as i32
                } else if let Some(sig) = st.terminating_signal() {
                    128 + sig as i32
                } else {
                    255
                };
            }
            Ok(_) => continue,
            Err(rustix::io::Errno::INTR) => continue,
            // No child: the init was not ours (a race at start); ask the runtime.
            Err(_) => break 255,
        }
    };
    cleanup_after_exit(ctx, &rec, Some(code), false);
    0
}
