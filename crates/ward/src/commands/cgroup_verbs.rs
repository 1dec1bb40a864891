//! pause, resume and ps: small verbs on the container's cgroup.

use ward_core::container;
use ward_core::state::Store;

use super::CmdResult;
use crate::cli::ListFormat;

pub fn pause(store: &Store, id: &str) -> CmdResult {
    container::pause(store, id)?;
    Ok(0)
}

pub fn resume(store: &Store, id: &str) -> CmdResult {
    container::resume(store, id)?;
    Ok(0)
}

/// `ps`: the host's ps(1) output cut down to the container's processes,
/// or the pids as a JSON array.
pub fn ps(store: &Store, id: &str, format: ListFormat, args: &[String]) -> CmdResult {
    if format == ListFormat::Json {
        let pids = container::pids(store, id)?;
        println!("{}", serde_json::to_string(&pids).unwrap_or_default());
        return Ok(0);
    }
    for line in container::ps(store, id, args)? {
        println!("{line}");
    }
    Ok(0)
}
