//! ward-core: everything of the ward container runtime that touches the
//! kernel. The `ward` binary only parses flags and prints errors.
//!
//! ward never starts a thread: init is forked from this very process (no
//! re-exec), which is only sound while the process is single-threaded.

pub mod cgroups;
pub mod config;
pub mod console;
pub mod container;
pub mod error;
pub mod features;
pub mod foreground;
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
