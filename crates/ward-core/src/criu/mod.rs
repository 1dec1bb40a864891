//! CRIU, the way runc, crun and youki drive it: `criu swrk` and its
//! protobuf RPC, never its command line's output. This module is the
//! mechanism only (the messages, one bounded conversation, what this criu
//! and kernel can do); it knows nothing of containers. The verbs that use
//! it are `container::checkpoint` and `container::restore`.
//!
//! - `rpc`: the protocol's messages, declared with prost's derive;
//! - `swrk`: one conversation, bounded in time, CRIU killed and reaped on
//!   every way out;
//! - `detect`: the binary, its version, its self-test and the kernel
//!   features pre-dump and lazy pages need, cached per binary and boot.

mod detect;
mod error;
pub mod rpc;
mod swrk;

use std::time::Duration;

pub use detect::{find, kernel_release, version_number, Criu, Info, Need, MIN_VERSION};

/// The first criu that migrates no_new_privs itself.
pub const NNP_VERSION: u32 = 31900;
pub use error::CriuError;
pub use swrk::{call, fd_number, first_error, start, Answer, Call, NotifyResult, Spawn, Started};

/// The bound on one dump or restore of `bytes` of memory: two minutes,
/// plus ten seconds for every 64 MiB (an emulated guest dumps 256 MiB in
/// well under that), or `WARD_CRIU_TIMEOUT` seconds when set. criu 3.17
/// can spin for ever on a damaged image; nothing waits for it unbounded.
pub fn timeout_for(bytes: u64) -> Duration {
    if let Some(s) = std::env::var("WARD_CRIU_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
    {
        return Duration::from_secs(s);
    }
    Duration::from_secs(120 + 10 * bytes.div_ceil(64 << 20))
}

/// A request with everything but its type and options unset.
pub fn request(t: rpc::ReqType, opts: rpc::Opts) -> rpc::Req {
    rpc::Req {
        r#type: t as i32,
        opts: Some(opts),
        notify_success: None,
        keep_open: None,
        features: None,
        pid: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_grows_with_the_memory() {
        if std::env::var_os("WARD_CRIU_TIMEOUT").is_some() {
            return;
        }
        assert_eq!(timeout_for(0), Duration::from_secs(120));
        assert_eq!(timeout_for(1), Duration::from_secs(130));
        assert_eq!(timeout_for(256 << 20), Duration::from_secs(160));
    }
}
