//! `kill`: a signal to the container's init, or with `all` to every
//! process in its cgroup.

use super::Container;
use crate::error::{Error, Result};
use crate::state::{Status, Store};
use crate::sys;

/// Signal 0 checks that init lives and delivers nothing (kill(2)'s rule).
pub fn kill(store: &Store, id: &str, sig: i32, all: bool) -> Result<()> {
    let c = Container::open_shared(store, id)?;
    let stopped = || Error::Status {
        op: "signal",
        status: Status::Stopped.to_string(),
    };
    if c.state.status == Status::Stopped {
        return Err(stopped());
    }
    let Some(pidfd) = c.init_pidfd()? else {
        return Err(stopped());
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
