//! `delete`: every process and the cgroup of a stopped container (any
//! container with `force`) taken away, then its directory, then the
//! poststop hooks. It also removes what a create or delete killed half-way
//! left (docs/reliability.md).

use crate::cgroups::{self, Cgroup, Driver, Hierarchies};
use crate::error::{Error, Result};
use crate::state::{current_status, ContainerDir, State, Status, Store};

pub fn delete(store: &Store, id: &str, force: bool) -> Result<()> {
    let dir = match store.open(id) {
        Ok(d) => d,
        Err(Error::NotExist(_)) if force => {
            store.sweep_tmp(id);
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let mut stopped = None;
    match dir.load() {
        Ok(Some(mut st)) => {
            if st.status == Status::Creating && st.pid == 0 {
                // A create killed during init's setup: its pid is only in
                // recovery.json.
                if let Some(r) = dir.load_recovery() {
                    st.pid = r.pid;
                    st.init_start_time = r.init_start_time;
                    st.net_devices = st.net_devices.take().or(r.net_devices);
                    st.intel_rdt = st.intel_rdt.take().or(r.intel_rdt);
                }
            }
            st.status = current_status(&dir.path, &st, true);
            // The runtime spec: deleting a container that is not stopped
            // MUST fail and have no effect. A created one is not stopped
            // (runc and crun delete it anyway; runtime-tools' delete checks
            // for the error), so it needs --force as well.
            if st.status != Status::Stopped && !force {
                return Err(Error::NotStopped {
                    status: st.status.to_string(),
                });
            }
            // Even a stopped container may have left processes (no pid
            // namespace of its own, or a create killed after the clone):
            // teardown kills them too.
            super::teardown(&st)?;
            // A container whose create never finished ran no hooks.
            if st.pid > 0 && st.init_start_time > 0 {
                stopped = Some(st);
            }
        }
        // A delete killed after it removed the state file; what remains
        // to be found is where recovery.json (or the ID) says.
        Ok(None) => teardown_recovered(&dir)?,
        Err(e) if force => {
            crate::warn(&format!("{e}; removing the container anyway"));
            teardown_recovered(&dir)?;
        }
        Err(e) => {
            return Err(e.context("its state is unreadable (delete --force removes it anyway)"))
        }
    }
    crate::fault::point("delete:cgroup");
    dir.remove()?;
    store.sweep_tmp(id);
    if let Some(st) = stopped {
        if let Some(h) = &st.hooks {
            super::poststop(h, &st.spec_json(Status::Stopped));
        }
    }
    Ok(())
}

/// Teardown without a readable state.json: the processes and cgroups that
/// recovery.json names, or, without it, those of the default cgroup path
/// `/ward-<id>`.
fn teardown_recovered(dir: &ContainerDir) -> Result<()> {
    let mut st = State::creating(&dir.id);
    match dir.load_recovery() {
        Some(r) => {
            st.cgroup = r.cgroup;
            st.pid = r.pid;
            st.init_start_time = r.init_start_time;
            st.net_devices = r.net_devices;
            st.intel_rdt = r.intel_rdt;
        }
        None => {
            let hier = Hierarchies::detect()?;
            let path = cgroups::container_path(None, &dir.id)?;
            let cg = Cgroup::locate(&hier, &path, Driver::Cgroupfs);
            st.cgroup = cg.dirs().iter().any(|d| d.is_dir()).then_some(cg);
        }
    }
    super::teardown(&st)
}
