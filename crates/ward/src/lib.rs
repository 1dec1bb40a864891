//! The `ward` binary's command-line definitions, as a library so that tools
//! outside the binary (the fuzz targets under fuzz/) parse argv exactly as
//! `ward` does. Everything else of the binary stays in main.rs.

pub mod cli;
