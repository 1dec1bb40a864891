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
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod security;
pub mod signal;
pub mod spec_template;
pub mod state;
pub mod sys;

pub use error::{Error, Result};

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
