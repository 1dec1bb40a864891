//! `start`: tell a created container's init to exec the program, then the
//! poststart hooks and the READY=1 of a container under systemd.

use std::io::Read;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};

use super::{notify, Container};
use crate::error::{Error, Result};
use crate::hooks::Kind;
use crate::state::{self, State, Status, Store};

pub fn start(store: &Store, id: &str) -> Result<()> {
    let c = Container::open(store, id)?;
    c.require("start", &[Status::Created])?;
    let notify = bind_notify(&c.dir().path, &c.state)?;
    let conn = UnixStream::connect(c.dir().fd_path(state::START_SOCKET))
        .map_err(|e| Error::path("socket", c.dir().start_socket_path(), e))?;
    // Killed from here on, the program runs without start.sock being
    // removed: the init's exe tells `state` it runs (State::init_exe).
    crate::fault::point("start:connected");
    let sock = c.dir().start_socket_path();
    std::fs::remove_file(&sock).map_err(|e| Error::path("remove", &sock, e))?;
    crate::fault::point("start:unlinked");
    // state.json is not rewritten: `running` is derived (no start.sock, or
    // an init that left ward's binary), never read from the file.
    released(&c.into_state(), conn, notify)
}

/// The socket that gets the program's READY=1, bound before the program
/// runs so that no notification is lost.
pub(super) fn bind_notify(dir: &Path, st: &State) -> Result<Option<(UnixDatagram, PathBuf)>> {
    match &st.notify_socket {
        Some(host) => Ok(Some((notify::bind(dir)?, host.clone()))),
        None => Ok(None),
    }
}

/// The rest of `start` once init has been told to go over `conn`: the exec's
/// outcome, the poststart hooks, READY=1 passed on.
pub(super) fn released(
    st: &State,
    mut conn: UnixStream,
    notify: Option<(UnixDatagram, PathBuf)>,
) -> Result<()> {
    // init closes the connection by exec'ing (close-on-exec), or writes why
    // the exec failed.
    let mut msg = String::new();
    let _ = conn.read_to_string(&mut msg);
    if !msg.is_empty() {
        return Err(Error::Init(msg));
    }
    // runtime-spec 1.3 (and runc): a failing poststart hook fails start
    // and stops the container; its poststop hooks run at delete. Up to 1.2
    // the spec said to warn and go on with the other hooks and the
    // lifecycle: a bundle that declares such a version gets that.
    if let Some(h) = &st.hooks {
        let state = st.spec_json(Status::Running);
        if !poststart_failure_is_fatal(&st.oci_version) {
            for e in crate::hooks::run_all(Kind::Poststart, Kind::Poststart.list(h), &state) {
                crate::warn(&e.to_string());
            }
        } else if let Err(e) = crate::hooks::run(Kind::Poststart, Kind::Poststart.list(h), &state) {
            let _ = super::teardown(st);
            return Err(e.into());
        }
    }
    if let Some((sock, host)) = notify {
        if let Some(pidfd) = super::init_pidfd(st)? {
            notify::forward(&sock, &host, st.pid, &pidfd)?;
        }
    }
    Ok(())
}

/// Whether a failing poststart hook fails `start`: from runtime-spec 1.3.0
/// on. An ociVersion ward can't read is taken as the newest.
pub(super) fn poststart_failure_is_fatal(oci_version: &str) -> bool {
    let mut parts = oci_version.split(['.', '-', '+']).map(|p| p.parse::<u64>());
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => (major, minor) >= (1, 3),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::poststart_failure_is_fatal;

    #[test]
    fn poststart_failure_follows_the_bundles_spec_version() {
        assert!(!poststart_failure_is_fatal("1.0.2"));
        assert!(!poststart_failure_is_fatal("1.1.0"));
        assert!(!poststart_failure_is_fatal("1.2.1"));
        assert!(poststart_failure_is_fatal("1.3.0"));
        assert!(poststart_failure_is_fatal("1.3.0-rc.1"));
        assert!(poststart_failure_is_fatal("2.0.0"));
        assert!(poststart_failure_is_fatal("garbage"));
    }
}
