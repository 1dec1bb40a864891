//! ward-cluster: `ward migrate` and `ward cluster`, the layer beyond one
//! machine. It drives the `ward` runtime binary on both ends, the far end
//! through one ssh channel, and keeps ssh, clap and threads out of the
//! runtime binary.

pub mod cluster;
pub mod hosts;
pub mod lazy;
pub mod migrate;
pub mod net;
pub mod progress;
pub mod receive;
pub mod runtime;
pub mod ssh;
pub mod wire;

/// Both ends of a migration must speak the same protocol.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
