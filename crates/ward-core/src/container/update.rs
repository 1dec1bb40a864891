//! `update`: new resources for a live container, from runc's flags and
//! `--resources` JSON, applied through its cgroup driver and kept in its
//! state.

use oci_spec::runtime::LinuxResources;

use super::Container;
use crate::cgroups::update::{apply_flags, merge_resources, parse_resources_json, UpdateFlags};
use crate::cgroups::Hierarchies;
use crate::error::Result;
use crate::state::{Status, Store};

/// What `update` changes: a `--resources` document (its bytes) and runc's
/// flags, which go on top of it, as runc does.
#[derive(Debug, Default, Clone)]
pub struct UpdateRequest {
    pub resources_json: Option<Vec<u8>>,
    pub flags: UpdateFlags,
}

/// Applies the request to the resources in force and stores the result.
pub fn update(store: &Store, id: &str, req: &UpdateRequest) -> Result<()> {
    // Parsed before the lock is taken: bad input fails with no effect.
    let from_json = req
        .resources_json
        .as_deref()
        .map(parse_resources_json)
        .transpose()?;
    let mut c = Container::open(store, id)?;
    c.require(
        "update",
        &[Status::Created, Status::Running, Status::Paused],
    )?;
    let current = c.state.resources.clone().unwrap_or_default();
    let base: LinuxResources = match &from_json {
        Some(new) => merge_resources(current, new)?,
        None => current,
    };
    let new = apply_flags(base, &req.flags)?;
    let hier = Hierarchies::detect()?;
    c.cgroup("update")?.update(&hier, &new)?;
    c.state.resources = Some(new);
    c.dir().save(&c.state)
}
