//! `pause` and `resume`: the freezer (v1 freezer.state, v2 cgroup.freeze).

use super::Container;
use crate::error::Result;
use crate::state::{Status, Store};

/// Freezes every process of a running container.
pub fn pause(store: &Store, id: &str) -> Result<()> {
    let c = Container::open(store, id)?;
    c.require("pause", &[Status::Running])?;
    Ok(c.cgroup("pause")?.freeze(true)?)
}

/// Thaws a paused container.
pub fn resume(store: &Store, id: &str) -> Result<()> {
    let c = Container::open(store, id)?;
    c.require("resume", &[Status::Paused])?;
    Ok(c.cgroup("resume")?.freeze(false)?)
}
