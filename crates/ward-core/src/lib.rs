//! ward-core: everything of the ward container runtime that touches the
//! kernel. The `ward` binary only parses flags and prints errors.
//!
//! ward never starts a thread: init is forked from this very process (no
//! re-exec), which is only sound while the process is single-threaded.

pub mod cgroups;
pub mod config;
pub mod console;
pub mod container;
pub mod criu;
pub mod error;
pub mod fault;
pub mod features;
pub mod foreground;
pub mod hooks;
pub mod id;
pub mod intel_rdt;
pub mod mempolicy;
pub mod namespaces;
pub mod netdev;
pub mod process;
pub mod procfs;
pub mod rootfs;
pub mod security;
pub mod signal;
pub mod spec_template;
pub mod state;
pub mod sys;

pub use error::{Error, Result};

/// Newest runtime-spec version ward implements (and accepts in
/// `config.json`).
pub const OCI_VERSION_MAX: &str = "1.3.0";

/// Where warnings go: stderr by default; the binary also routes them to
/// its --log.
static WARN_SINK: std::sync::OnceLock<fn(&str)> = std::sync::OnceLock::new();

/// Routes [`warn`]ings to `sink` (once, at start-up).
pub fn set_warn_sink(sink: fn(&str)) {
    let _ = WARN_SINK.set(sink);
}

/// Something went wrong that doesn't fail the command (a poststop hook, a
/// damaged state file that delete --force removes anyway).
pub fn warn(msg: &str) {
    match WARN_SINK.get() {
        Some(f) => f(msg),
        None => eprintln!("ward: warning: {msg}"),
    }
}

/// Where notes go: nowhere by default; the binary routes them to its --log
/// (and to stderr with --debug).
static NOTE_SINK: std::sync::OnceLock<fn(&str)> = std::sync::OnceLock::new();

/// Routes [`note`]s to `sink` (once, at start-up).
pub fn set_note_sink(sink: fn(&str)) {
    let _ = NOTE_SINK.set(sink);
}

/// Something worth a line in the log that changes nothing the user asked
/// for (a rootless container without a cgroup of its own, when it asked for
/// no limits): engines copy the runtime's stderr to their users, so this
/// must not be a warning on every run.
pub fn note(msg: &str) {
    if let Some(f) = NOTE_SINK.get() {
        f(msg);
    }
}
