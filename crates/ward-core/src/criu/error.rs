//! What can go wrong when talking to CRIU. Every message is one line that
//! names what failed and, when CRIU itself failed, the log it wrote.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug)]
pub enum CriuError {
    /// A precondition CRIU or the kernel doesn't meet, found before anything
    /// started: says what is missing and what would fix it.
    Unsupported(String),
    /// A system call of ward's side of the conversation failed.
    Io { op: String, errno: i32 },
    /// CRIU answered something that isn't the protocol.
    Protocol(String),
    /// CRIU answered that the request failed.
    Failed {
        op: &'static str,
        errno: Option<i32>,
        why: Option<String>,
        log: Option<PathBuf>,
    },
    /// CRIU exited (or was killed) before it answered.
    Died {
        op: &'static str,
        how: String,
        why: Option<String>,
        log: Option<PathBuf>,
    },
    /// CRIU didn't answer within its time bound and was killed.
    Timeout {
        op: &'static str,
        secs: u64,
        log: Option<PathBuf>,
    },
    /// ward's handler of one of CRIU's notifications failed; CRIU was told
    /// to stop.
    Notify {
        script: String,
        why: String,
        log: Option<PathBuf>,
    },
}

impl CriuError {
    pub(crate) fn io(op: impl Into<String>, e: impl Into<std::io::Error>) -> Self {
        let e: std::io::Error = e.into();
        CriuError::Io {
            op: op.into(),
            errno: e.raw_os_error().unwrap_or(libc::EIO),
        }
    }

    pub(crate) fn nix(op: impl Into<String>, e: nix::errno::Errno) -> Self {
        CriuError::Io {
            op: op.into(),
            errno: e as i32,
        }
    }

    /// The log CRIU wrote, when the error is CRIU's.
    pub fn log(&self) -> Option<&PathBuf> {
        match self {
            CriuError::Failed { log, .. }
            | CriuError::Died { log, .. }
            | CriuError::Timeout { log, .. }
            | CriuError::Notify { log, .. } => log.as_ref(),
            _ => None,
        }
    }
}

fn errno_text(e: i32) -> String {
    let t = std::io::Error::from_raw_os_error(e).to_string();
    let t = t.split(" (os error").next().unwrap_or(&t).to_string();
    let mut c = t.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => format!("errno {e}"),
    }
}

fn log_suffix(f: &mut fmt::Formatter<'_>, log: &Option<PathBuf>) -> fmt::Result {
    match log {
        Some(l) => write!(f, " (criu's log: {})", l.display()),
        None => Ok(()),
    }
}

impl fmt::Display for CriuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CriuError::Unsupported(s) | CriuError::Protocol(s) => f.write_str(s),
            CriuError::Io { op, errno } => write!(f, "{op}: {}", errno_text(*errno)),
            CriuError::Failed {
                op,
                errno,
                why,
                log,
            } => {
                write!(f, "criu {op} failed")?;
                match (why, errno) {
                    (Some(w), _) => write!(f, ": {w}")?,
                    (None, Some(e)) if *e != 0 => write!(f, ": {}", errno_text(*e))?,
                    _ => {}
                }
                log_suffix(f, log)
            }
            CriuError::Died { op, how, why, log } => {
                write!(f, "criu {op}: criu {how} before it answered")?;
                if let Some(w) = why {
                    write!(f, ": {w}")?;
                }
                log_suffix(f, log)
            }
            CriuError::Timeout { op, secs, log } => {
                write!(
                    f,
                    "criu {op}: no answer in {secs} s, criu killed (WARD_CRIU_TIMEOUT sets the bound)"
                )?;
                log_suffix(f, log)
            }
            CriuError::Notify { script, why, log } => {
                write!(f, "criu's {script} step: {why}")?;
                log_suffix(f, log)
            }
        }
    }
}

impl std::error::Error for CriuError {}
