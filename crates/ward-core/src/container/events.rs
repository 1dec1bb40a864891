//! `events`: the container's resource figures (runc's `stats` event), once
//! or at an interval, with OOM kills reported as they happen, until the
//! container stops.

use std::time::Duration;

use super::Container;
use crate::cgroups::stats::Stats;
use crate::error::Result;
use crate::state::{Status, Store};

/// One event, as runc prints it (`{"type": ..., "id": ..., "data": ...}`).
#[derive(Debug, serde::Serialize)]
pub struct Event<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Stats>,
}

/// The container's figures now.
pub fn stats(store: &Store, id: &str) -> Result<Stats> {
    let c = Container::open_shared(store, id)?;
    running(&c)?;
    Ok(c.cgroup("read the figures of")?.stats()?)
}

fn running(c: &Container) -> Result<()> {
    c.require(
        "watch events of",
        &[Status::Created, Status::Running, Status::Paused],
    )
}

/// Calls `emit` with a stats event every `every`, and an `oom` event before
/// it when the OOM killer has struck since the last one, until the
/// container stops.
pub fn events(
    store: &Store,
    id: &str,
    every: Duration,
    emit: &mut dyn FnMut(&Event),
) -> Result<()> {
    let cg = {
        let c = Container::open_shared(store, id)?;
        running(&c)?;
        c.cgroup("watch events of")?.clone()
    };
    let mut ooms = cg.oom_kills();
    loop {
        let stopped = Container::open_shared(store, id)
            .map(|c| c.state.status == Status::Stopped)
            .unwrap_or(true);
        if stopped {
            return Ok(());
        }
        let now = cg.oom_kills();
        if now > ooms {
            emit(&Event {
                kind: "oom",
                id,
                data: None,
            });
            ooms = now;
        }
        match cg.stats() {
            Ok(s) => emit(&Event {
                kind: "stats",
                id,
                data: Some(s),
            }),
            // The container may have gone between the check and the read.
            Err(_) => return Ok(()),
        }
        std::thread::sleep(every);
    }
}
