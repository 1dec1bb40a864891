//! `run`: create and start; in the foreground, ward stays as the
//! container's parent, forwards signals, proxies its terminal, and exits
//! with its code.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use super::create::{create_with, CreateOptions, Created};
use super::start::{bind_notify, released};
use super::{create, delete, start};
use crate::console::{self, Proxy};
use crate::error::{Error, Result};
use crate::foreground::{self, Signals};
use crate::state::Store;
use crate::sys;

/// create + start; in the foreground, forwards signals, proxies the
/// terminal, waits, deletes (unless `keep`) and returns the exit code: the
/// process's own, or 128 + N when signal N killed it.
pub fn run(store: &Store, id: &str, opts: &CreateOptions, detach: bool, keep: bool) -> Result<i32> {
    super::single_threaded("run")?;
    if detach {
        create(store, id, opts)?;
        if let Err(e) = start(store, id) {
            let _ = delete(store, id, true);
            return Err(e);
        }
        return Ok(0);
    }
    // Blocked before the clone: see foreground::Signals.
    let signals = Signals::block()?;
    let res = run_foreground(store, id, opts, &signals);
    drop(signals);
    let code = res?;
    if !keep {
        delete(store, id, true)?;
    }
    Ok(code)
}

fn run_foreground(store: &Store, id: &str, opts: &CreateOptions, signals: &Signals) -> Result<i32> {
    let (ours, theirs) = console::handoff_pair()?;
    // A failed create has removed what it made; it must not be followed by
    // a delete, which could hit another container of the same ID.
    let created = create_with(store, id, opts, Some(theirs))?;
    let res = start_and_wait(store, created, &ours, signals);
    if res.is_err() {
        let _ = delete(store, id, true);
    }
    res
}

/// Starts the created container and waits for its init in the foreground,
/// proxying its terminal when init sent the master to `handoff`.
fn start_and_wait(
    store: &Store,
    created: Created,
    handoff: &OwnedFd,
    signals: &Signals,
) -> Result<i32> {
    let st = &created.state;
    let mut start: UnixStream = created
        .start
        .expect("a foreground create returns its start pair");
    // init is our child and not reaped yet, so its pid is still its own; the
    // pidfd becomes readable when it exits, however early that is.
    let pidfd =
        sys::pidfd_open(st.pid).map_err(|e| Error::sys(format!("pidfd_open {}", st.pid), e))?;
    // Attached before start: the process starts with the caller's window
    // size, and what the user types goes to it from the first key.
    let mut tty = match created.terminal {
        true => Some(Proxy::attach(console::receive_master(handoff)?)?),
        false => None,
    };
    // `start`, with the pair in place of start.sock.
    let notify = bind_notify(&store.container_path(&st.id), st)?;
    start
        .write_all(b"s")
        .map_err(|e| Error::sys("start: tell init to go", e))?;
    released(st, start, notify)?;
    foreground::wait(&pidfd, signals, tty.as_mut())?;
    // The caller's terminal gets its mode back before anything else is
    // printed (on the error paths above, the drop does it).
    drop(tty);
    super::reap(st.pid)
}
