//! `kill`: a signal to the container's init, or with `all` to every
//! process in its cgroup.

use super::Container;
use crate::error::{Error, Result};
use crate::state::{Status, Store};
use crate::sys;

/// Signal 0 checks that init lives and delivers nothing (kill(2)'s rule).
pub fn kill(store: &Store, id: &str, sig: i32, all: bool) -> Result<()> {
    let c = Container::open_shared(store, id)?;
    // runc's words: containerd's shim takes "container not running" to
    // mean the process is already gone.
    let stopped = || Error::NotRunning {
        what: format!("signal {sig}"),
    };
    let pidfd = match c.state.status {
        Status::Stopped => None,
        _ => c.init_pidfd()?,
    };
    let Some(pidfd) = pidfd else {
        // With --all, init's exit is no reason to spare the rest: without a
        // pid namespace of its own, its children live on in the cgroup
        // (runc signals them too).
        return match (all, &c.state.cgroup) {
            (true, Some(cg)) => Ok(cg.signal_all(sig)?),
            (true, None) => Ok(()),
            (false, _) => Err(stopped()),
        };
    };
    if all {
        // Every process of the container is in its cgroup, whatever pid
        // namespace it has.
        c.cgroup("kill --all")?.signal_all(sig)?;
    }
    match sys::pidfd_send_signal(&pidfd, sig) {
        // With --all, init was signalled through the cgroup already and may
        // be dead and reaped by now: that is success.
        Err(e) if all && e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        r => r.map_err(|e| Error::sys(format!("signal {sig} to {}", c.state.pid), e)),
    }
}
