//! A process in ward's foreground (`run`, and `exec` later): ward stays until
//! it exits, forwards the signals ward receives to it, and proxies its
//! terminal when it has one. One poll(2) loop over a signalfd, a pidfd of
//! the process and, with a terminal, stdin and the pty master: no thread.

use std::os::fd::{AsFd, OwnedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::console::Proxy;
use crate::error::{Error, Result};
use crate::sys;

/// Signals ward forwards to its foreground process: everything catchable
/// but SIGCHLD (the exit is seen on a pidfd). With a terminal, SIGWINCH
/// resizes the pty instead, and the kernel signals the pty's foreground
/// process group itself.
pub const FORWARDED: &[i32] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGCONT,
    libc::SIGWINCH,
    libc::SIGPIPE,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGXCPU,
    libc::SIGXFSZ,
    libc::SIGURG,
    libc::SIGPWR,
    libc::SIGSYS,
];

/// [`FORWARDED`], blocked and read from a signalfd. Make it before the
/// process is cloned: a signal that comes before the wait is then pending
/// for it, not lost, and never kills ward in between. Dropping it restores
/// the previous mask.
pub struct Signals {
    fd: SignalFd,
    old: SigSet,
}

impl Signals {
    pub fn block() -> Result<Signals> {
        let mut set = SigSet::empty();
        for &s in FORWARDED {
            set.add(Signal::try_from(s).map_err(|e| Error::sys(format!("signal {s}"), e))?);
        }
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(|e| Error::sys("signalfd", e))?;
        let mut old = SigSet::empty();
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))
            .map_err(|e| Error::sys("block signals", e))?;
        Ok(Signals { fd, old })
    }

    /// The next pending signal, if any.
    fn next(&self) -> Result<Option<i32>> {
        match self.fd.read_signal() {
            Ok(s) => Ok(s.map(|i| i.ssi_signo as i32)),
            Err(nix::errno::Errno::EINTR) => Ok(None),
            Err(e) => Err(Error::sys("read signalfd", e)),
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        // What came after the process exited was meant for it, not for ward:
        // discarded, so that unblocking doesn't let, say, a late SIGINT kill
        // ward before it reports the exit code.
        while let Ok(Some(_)) = self.fd.read_signal() {}
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.old), None);
    }
}

/// What poll reported for `fd` (flags nix doesn't know, which the kernel
/// doesn't set, would count as anything).
fn ready(fd: &PollFd<'_>) -> PollFlags {
    fd.revents().unwrap_or(PollFlags::all())
}

/// Waits until the process behind `pidfd` has exited, forwarding signals
/// to it; with `tty`, proxies the caller's stdio and the pty master too and
/// returns once the master is drained. The caller reaps the process (a
/// pidfd doesn't have to be of a child), and drops `tty` afterwards, which
/// restores its terminal.
pub fn wait(pidfd: &OwnedFd, signals: &Signals, mut tty: Option<&mut Proxy>) -> Result<()> {
    loop {
        let [stdin, master] = match &tty {
            Some(t) => t.interest(),
            None => [None, None],
        };
        // The signalfd, the pidfd, then those of stdin and the master that
        // are waited for; the slots past `n` are never polled.
        let sig = PollFd::new(signals.fd.as_fd(), PollFlags::POLLIN);
        let mut fds = [
            sig.clone(),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
            sig.clone(),
            sig,
        ];
        let mut n = 2;
        let mut slot = |p: Option<_>| {
            p.map(|p| {
                fds[n] = p;
                n += 1;
                n - 1
            })
        };
        let (stdin, master) = (slot(stdin), slot(master));
        match poll(&mut fds[..n], PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("poll", e)),
        }
        let at = |i: Option<usize>| i.map_or(PollFlags::empty(), |i| ready(&fds[i]));
        let (sig_ready, exited) = (!ready(&fds[0]).is_empty(), !ready(&fds[1]).is_empty());
        let (stdin, master) = (at(stdin), at(master));
        // Signals first: a resize that came before some input is applied
        // before that input reaches the container.
        if sig_ready {
            while let Some(sig) = signals.next()? {
                match tty.as_deref() {
                    // A failed resize is no reason to end the session.
                    Some(t) if sig == libc::SIGWINCH => {
                        let _ = t.resize();
                    }
                    // It may have exited already: the pidfd says so next.
                    _ => {
                        let _ = sys::pidfd_send_signal(pidfd, sig);
                    }
                }
            }
        }
        if let Some(t) = tty.as_deref_mut() {
            t.on_ready(stdin, master);
        }
        if exited {
            if let Some(t) = tty {
                t.drain();
            }
            return Ok(());
        }
    }
}
