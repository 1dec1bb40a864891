//! Errors of the library. Every variant names the operation and the path or
//! value it was about; errno text is written the way runc writes it (lowercase,
//! no "(os error N)"), because engines match on "no such file or directory" and
//! "permission denied".

use std::fmt;
use std::io;
use std::path::PathBuf;

/// An errno, displayed as its lowercase strerror text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    pub fn last() -> Self {
        Errno(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

impl From<&io::Error> for Errno {
    fn from(e: &io::Error) -> Self {
        Errno(e.raw_os_error().unwrap_or(libc::EIO))
    }
}

impl From<io::Error> for Errno {
    fn from(e: io::Error) -> Self {
        Errno::from(&e)
    }
}

impl From<nix::errno::Errno> for Errno {
    fn from(e: nix::errno::Errno) -> Self {
        Errno(e as i32)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = io::Error::from_raw_os_error(self.0).to_string();
        // std appends " (os error N)"; runc's (Go's) wording has neither that
        // nor a capital letter.
        let text = text.split(" (os error").next().unwrap_or(&text);
        let mut chars = text.chars();
        match chars.next() {
            Some(c) => write!(f, "{}{}", c.to_lowercase(), chars.as_str()),
            None => write!(f, "errno {}", self.0),
        }
    }
}

impl std::error::Error for Errno {}

/// The library's error: what failed, on what, and why.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid container id {id:?}: {why}")]
    InvalidId { id: String, why: &'static str },
    #[error("{0}: container does not exist")]
    NotExist(PathBuf),
    #[error("{0}: container with id exists")]
    Exists(PathBuf),
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Cgroup(#[from] crate::cgroups::CgroupError),
    /// CRIU failed, or can't work here (checkpoint, restore).
    #[error("{0}")]
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
    #[error("state {path}: {why}")]
    State { path: PathBuf, why: String },
    /// An error that the container's init reported over the handshake.
    #[error("{0}")]
    Init(String),
    /// A hook failed (its own message says which and why); after one at
    /// create or start, the poststop hooks still run.
    #[error("{0}")]
    Hook(String),
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

    /// Prefixes the message with what was being done.
    pub fn context(self, what: &str) -> Self {
        Error::Other(format!("{what}: {self}"))
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

impl From<crate::hooks::HookError> for Error {
    fn from(e: crate::hooks::HookError) -> Self {
        Error::Hook(e.to_string())
    }
}

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
