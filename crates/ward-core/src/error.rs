//! The library's error, which the verbs return: it wraps the error types of
//! the mechanisms that have their own (config, cgroups, hooks, seccomp),
//! keeping them as sources, so that a caller can match on what went wrong
//! ("no such container", "already exists", "hook failed", "invalid config at
//! field X", "cgroup write refused") and still print one line. Every variant
//! names the operation and the path or value it was about; errno text is
//! written the way runc writes it (lowercase, no "(os error N)"), because
//! engines match on "no such file or directory" and "permission denied".
//!
//! The mechanisms below this module (sys, procfs, config, cgroups, hooks,
//! seccomp) don't import it; those above (namespaces, rootfs, process,
//! console, state, container) return it.

use std::path::PathBuf;

pub use crate::sys::Errno;

/// The library's error: what failed, on what, and why.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid container id {id:?}: {why}")]
    InvalidId { id: String, why: &'static str },
    /// No such container.
    #[error("{0}: container does not exist")]
    NotExist(PathBuf),
    /// A container of that ID exists already.
    #[error("{0}: container with id exists")]
    Exists(PathBuf),
    /// config.json can't be read, parsed, or is invalid (at a named field).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// An argument of the caller's other than config.json (a flag, exec's
    /// process) that can't be used.
    #[error("{what}: {why}")]
    Invalid { what: String, why: String },
    /// A cgroup operation (a write the kernel refused, a missing controller).
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error(transparent)]
    Seccomp(#[from] crate::security::seccomp::SeccompError),
    /// A hook failed (its own message says which and why); after one at
    /// create or start, the poststop hooks still run.
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    /// CRIU failed, or can't work here (checkpoint, restore).
    #[error(transparent)]
    Criu(#[from] crate::criu::CriuError),
    #[error("{op} {path}: {errno}")]
    Path {
        op: &'static str,
        path: PathBuf,
        errno: Errno,
    },
    #[error("{op}: {errno}")]
    Sys { op: String, errno: Errno },
    #[error("cannot {op} container: it is {status}")]
    Status { op: &'static str, status: String },
    /// A signal (or other act on the process) for a container whose init
    /// is gone: runc's words, which containerd's shim recognises.
    #[error("{what}: container not running")]
    NotRunning { what: String },
    /// delete without --force of a container that is not stopped (runc's
    /// words).
    #[error("cannot delete container that is not stopped: {status}")]
    NotStopped { status: String },
    /// A verb that works through the cgroup, on a container that has none
    /// (rootless, where the user may not make one).
    #[error("cannot {op} container: it has no cgroup of its own")]
    NoCgroup { op: &'static str },
    /// A verb that forks, called from a process with more threads than one.
    #[error("{op}: the calling process has {threads} threads; ward forks, which only a single-threaded process may do safely")]
    Threaded { op: &'static str, threads: u32 },
    #[error("state {path}: {why}")]
    State { path: PathBuf, why: String },
    /// An error that the container's process reported over the handshake
    /// (it happened in another process: only its text crosses).
    #[error("{0}")]
    Init(String),
    /// ward and the container's process disagree on the handshake, or a
    /// process died in the middle of it.
    #[error("{0}")]
    Protocol(String),
    /// `what` was being done when `source` happened.
    #[error("{what}: {source}")]
    Context {
        what: String,
        #[source]
        source: Box<Error>,
    },
    /// What fits no kind above.
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn path(op: &'static str, path: impl Into<PathBuf>, e: impl Into<Errno>) -> Self {
        Error::Path {
            op,
            path: path.into(),
            errno: e.into(),
        }
    }

    /// Wraps the error with what was being done (the original stays its
    /// source, for callers that match on it: see [`Error::root`]).
    pub fn context(self, what: impl Into<String>) -> Self {
        Error::Context {
            what: what.into(),
            source: Box::new(self),
        }
    }

    /// The error under every [`Error::Context`].
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { source, .. } => source.root(),
            e => e,
        }
    }

    /// A caller's argument that can't be used.
    pub fn invalid(what: impl Into<String>, why: impl Into<String>) -> Self {
        Error::Invalid {
            what: what.into(),
            why: why.into(),
        }
    }

    /// A failed fork (clone3): EAGAIN there means a process limit, which
    /// the bare errno text doesn't say.
    pub fn fork(op: impl Into<String>, e: impl Into<Errno>) -> Self {
        let errno = e.into();
        let mut op = op.into();
        if errno.0 == libc::EAGAIN {
            op.push_str(" (out of processes: a pids.max of ward's cgroup or the container's, or RLIMIT_NPROC, is reached)");
        }
        Error::Sys { op, errno }
    }

    pub fn sys(op: impl Into<String>, e: impl Into<Errno>) -> Self {
        Error::Sys {
            op: op.into(),
            errno: e.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_text_is_lowercase_like_runc() {
        assert_eq!(Errno(libc::ENOENT).to_string(), "no such file or directory");
        assert_eq!(Errno(libc::EACCES).to_string(), "permission denied");
        let e = Error::path("open", "/x", Errno(libc::EPERM));
        assert_eq!(e.to_string(), "open /x: operation not permitted");
    }
}
