//! The caller's side of a container's terminal: ward's stdin copied into the
//! pty master and the master's output onto ward's stdout, the caller's own
//! terminal (when stdin is one) in raw mode meanwhile and its window size
//! copied to the pty. `foreground::wait` drives it from its poll loop.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno as NixErrno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{self, SetArg, Termios};

use crate::error::{Error, Result};
use crate::sys::{self, stdin, stdout};

/// After the process has exited, output of processes that still hold the
/// slave (a container without a pid namespace of its own) is copied until
/// the master has been quiet this long...
const DRAIN_QUIET_MS: i32 = 100;
/// ...or for this long at most, however chatty they are.
const DRAIN_MAX: Duration = Duration::from_secs(2);

/// A pty master attached to ward's stdio.
///
/// Made before the process starts ([`Proxy::attach`]), so that the process
/// starts with the caller's window size; dropped after it has exited, which
/// gives the caller's terminal its mode back. That happens on every path out,
/// errors included, since it is a drop.
pub struct Proxy {
    master: OwnedFd,
    /// The caller's terminal mode before raw mode: Some when stdin is a
    /// terminal (then it is also where the window size comes from).
    saved: Option<Termios>,
    stdin_open: bool,
    stdout_open: bool,
    master_open: bool,
    /// Input read from stdin that the master has not taken yet. stdin is not
    /// read again until it is empty, so it stays small, and the master is
    /// written without blocking: a container that doesn't read its terminal
    /// must not stop ward from copying what it writes.
    pending: Vec<u8>,
}

impl Proxy {
    /// Takes over the master received from init. If stdin is a terminal:
    /// copies its window size to the pty (it overrides process.consoleSize;
    /// without a terminal on stdin, consoleSize stays) and puts it in raw
    /// mode, so that every key, ^C and ^Z included, goes to the container's
    /// terminal, which does the echo and the line editing.
    pub fn attach(master: OwnedFd) -> Result<Proxy> {
        // The master is our own open file description (init closed its
        // copy), so O_NONBLOCK affects nobody else; stdin and stdout are
        // shared with the caller and stay as they are.
        fcntl(&master, FcntlArg::F_GETFL)
            .and_then(|flags| {
                let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
                fcntl(&master, FcntlArg::F_SETFL(flags))
            })
            .map_err(|e| Error::sys("make the pty master non-blocking", e))?;
        // F_GETFD only asks whether fd 0 is open.
        let stdin_open = fcntl(stdin(), FcntlArg::F_GETFD).is_ok();
        let mut p = Proxy {
            master,
            saved: None,
            stdin_open,
            stdout_open: true,
            master_open: true,
            pending: Vec::new(),
        };
        let Ok(mode) = termios::tcgetattr(stdin()) else {
            return Ok(p);
        };
        // Saved first: if anything below fails, dropping `p` restores it.
        p.saved = Some(mode.clone());
        p.resize()?;
        let mut raw = mode;
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin(), SetArg::TCSANOW, &raw)
            .map_err(|e| Error::sys("put the terminal in raw mode", e))?;
        Ok(p)
    }

    /// Whether the caller's stdin is a terminal (in raw mode while `self`
    /// lives).
    pub fn caller_is_terminal(&self) -> bool {
        self.saved.is_some()
    }

    /// Copies the caller's window size to the pty; the kernel then sends
    /// SIGWINCH to the pty's foreground process group. Nothing to do when
    /// stdin isn't a terminal.
    pub fn resize(&self) -> Result<()> {
        if self.saved.is_none() {
            return Ok(());
        }
        let ws = sys::window_size(stdin())
            .map_err(|e| Error::sys("get the terminal's window size", e))?;
        // 0x0 is a terminal whose size nobody set: it says nothing, and the
        // config's consoleSize (or the pty's default) is better than it.
        if ws.ws_row == 0 && ws.ws_col == 0 {
            return Ok(());
        }
        sys::set_window_size(self.master.as_fd(), &ws)
            .map_err(|e| Error::sys("set the console's window size", e))
    }

    /// What to poll for: [stdin, master]; None where there is nothing to
    /// wait for.
    pub(crate) fn interest(&self) -> [Option<PollFd<'_>>; 2] {
        let stdin = (self.stdin_open && self.pending.is_empty())
            .then(|| PollFd::new(stdin(), PollFlags::POLLIN));
        let master = self.master_open.then(|| {
            let out = if self.pending.is_empty() {
                PollFlags::empty()
            } else {
                PollFlags::POLLOUT
            };
            PollFd::new(self.master.as_fd(), PollFlags::POLLIN | out)
        });
        [stdin, master]
    }

    /// Acts on what poll reported for [`Proxy::interest`]'s fds.
    pub(crate) fn on_ready(&mut self, stdin: PollFlags, master: PollFlags) {
        if master.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            self.copy_output();
        }
        if master.contains(PollFlags::POLLOUT) {
            self.send_pending();
        }
        if !stdin.is_empty() {
            self.read_input();
        }
    }

    /// Once the process has exited: copies what is left on the master. stdin
    /// is no longer read, and unsent input is dropped.
    pub(crate) fn drain(&mut self) {
        self.stdin_open = false;
        self.pending.clear();
        let deadline = Instant::now() + DRAIN_MAX;
        while self.master_open {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let wait = DRAIN_QUIET_MS.min(left.as_millis() as i32 + 1);
            let wait = PollTimeout::try_from(wait).unwrap_or(PollTimeout::ZERO);
            let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, wait) {
                Ok(0) => break,
                Ok(_) => self.copy_output(),
                Err(NixErrno::EINTR) => {}
                Err(_) => break,
            }
        }
    }

    /// One read of the master, written to stdout. Once every slave fd is
    /// closed the master reads what was left and then EIO: the container's
    /// side is gone.
    fn copy_output(&mut self) {
        let mut buf = [0u8; 16384];
        match nix::unistd::read(&self.master, &mut buf) {
            Ok(0) => self.close_master(),
            Ok(n) => self.write_out(&buf[..n]),
            Err(NixErrno::EAGAIN | NixErrno::EINTR) => {}
            Err(_) => self.close_master(),
        }
    }

    fn close_master(&mut self) {
        self.master_open = false;
        self.pending.clear();
    }

    /// Writes all of `buf` to stdout, waiting for it if it is non-blocking.
    /// If stdout is gone (EPIPE, EIO, ...) the output is dropped from then
    /// on, but the master is still read: a container must not block on a
    /// full pty because nobody reads ward's output.
    fn write_out(&mut self, mut buf: &[u8]) {
        while self.stdout_open && !buf.is_empty() {
            match nix::unistd::write(stdout(), buf) {
                Ok(n) => buf = &buf[n..],
                Err(NixErrno::EINTR) => {}
                Err(NixErrno::EAGAIN) => {
                    let mut fds = [PollFd::new(stdout(), PollFlags::POLLOUT)];
                    let _ = poll(&mut fds, PollTimeout::NONE);
                }
                Err(_) => self.stdout_open = false,
            }
        }
    }

    /// Reads what the caller typed into `pending` and sends it on.
    ///
    /// EOF on stdin: stdin is no longer read, nothing is sent to the
    /// container and it keeps running. Its terminal is not its stdin's end:
    /// `ward run </dev/null` of a terminal container must run it as long as
    /// it wants to (engines run `-t` containers without `-i` that way, and
    /// runc behaves the same). Writing the pty's EOF character instead would
    /// type a key the user never pressed, and only means EOF to a reader in
    /// canonical mode. A read error (EIO: a background job of its terminal,
    /// or a hung-up one) is taken as EOF too.
    fn read_input(&mut self) {
        let mut buf = [0u8; 4096];
        match nix::unistd::read(stdin(), &mut buf) {
            Ok(0) => self.stdin_open = false,
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                self.send_pending();
            }
            Err(NixErrno::EAGAIN | NixErrno::EINTR) => {}
            Err(_) => self.stdin_open = false,
        }
    }

    /// Writes as much pending input as the master takes now.
    fn send_pending(&mut self) {
        while self.master_open && !self.pending.is_empty() {
            match nix::unistd::write(&self.master, &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(NixErrno::EINTR) => {}
                Err(NixErrno::EAGAIN) => return,
                Err(_) => self.close_master(),
            }
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(mode) = &self.saved {
            // Nothing to do about a failure here but to go on exiting.
            let _ = termios::tcsetattr(stdin(), SetArg::TCSANOW, mode);
        }
    }
}
