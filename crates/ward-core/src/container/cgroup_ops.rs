//! The verbs that work through the container's cgroup: pause, resume,
//! update, ps and the figures behind `events`.

use oci_spec::runtime::LinuxResources;

use super::load;
use crate::cgroups::{Cgroup, Hierarchies};
use crate::error::{Error, Result};
use crate::state::{ContainerDir, State, Status, Store};

fn cgroup_of(st: &State) -> Result<&Cgroup> {
    st.cgroup
        .as_ref()
        .ok_or_else(|| Error::Other("container has no cgroup".into()))
}

/// The container, locked, and its state, if its status is `want`; else an
/// error naming `op`.
fn in_status(
    store: &Store,
    id: &str,
    want: Status,
    op: &'static str,
) -> Result<(ContainerDir, State)> {
    let dir = store.open(id)?;
    let st = load(&dir)?;
    if st.status != want {
        return Err(Error::Status {
            op,
            status: st.status.to_string(),
        });
    }
    Ok((dir, st))
}

/// Freezes every process of a running container.
pub fn pause(store: &Store, id: &str) -> Result<()> {
    let (_locked, st) = in_status(store, id, Status::Running, "pause")?;
    Ok(cgroup_of(&st)?.freeze(true)?)
}

/// Thaws a paused container.
pub fn resume(store: &Store, id: &str) -> Result<()> {
    let (_locked, st) = in_status(store, id, Status::Paused, "resume")?;
    Ok(cgroup_of(&st)?.freeze(false)?)
}

/// The host pids of every process in the container.
pub fn pids(store: &Store, id: &str) -> Result<Vec<i32>> {
    let dir = store.open_shared(id)?;
    let st = load(&dir)?;
    if st.status == Status::Stopped {
        return Err(Error::Status {
            op: "list processes of",
            status: st.status.to_string(),
        });
    }
    Ok(cgroup_of(&st)?.pids()?)
}

/// The stored state with live status, for `events` and `update`.
pub fn live_state(store: &Store, id: &str) -> Result<State> {
    let dir = store.open_shared(id)?;
    load(&dir)
}

/// Applies new resources to a live container and stores them. `f` gets the
/// resources now in force and returns the new ones.
pub fn update(
    store: &Store,
    id: &str,
    f: impl FnOnce(LinuxResources) -> Result<LinuxResources>,
) -> Result<()> {
    let dir = store.open(id)?;
    let mut st = load(&dir)?;
    if st.status == Status::Stopped {
        return Err(Error::Status {
            op: "update",
            status: st.status.to_string(),
        });
    }
    let new = f(st.resources.clone().unwrap_or_default())?;
    let hier = Hierarchies::detect()?;
    cgroup_of(&st)?.apply(&hier, &new, true)?;
    st.resources = Some(new);
    dir.save(&st)
}
