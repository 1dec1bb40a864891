//! update: runc's flags and --resources JSON onto a running container.

use std::io::Read;

use ward_core::cgroups::update::UpdateFlags;
use ward_core::container::{self, UpdateRequest};
use ward_core::state::Store;
use ward_core::Error;

use super::CmdResult;
use crate::cli::UpdateArgs;

pub fn run(store: &Store, a: &UpdateArgs) -> CmdResult {
    let resources_json = match &a.resources {
        None => None,
        Some(src) => {
            let mut data = Vec::new();
            let res = if src == "-" {
                std::io::stdin().read_to_end(&mut data).map(drop)
            } else {
                std::fs::read(src).map(|d| data = d)
            };
            res.map_err(|e| Error::path("read resources", src, e))?;
            Some(data)
        }
    };
    let flags = UpdateFlags {
        memory: a.memory.clone(),
        memory_reservation: a.memory_reservation.clone(),
        memory_swap: a.memory_swap.clone(),
        kernel_memory_tcp: a.kernel_memory_tcp.clone(),
        cpu_shares: a.cpu_shares,
        cpu_period: a.cpu_period,
        cpu_quota: a.cpu_quota,
        cpu_burst: a.cpu_burst,
        cpu_rt_period: a.cpu_rt_period,
        cpu_rt_runtime: a.cpu_rt_runtime,
        cpuset_cpus: a.cpuset_cpus.clone(),
        cpuset_mems: a.cpuset_mems.clone(),
        pids_limit: a.pids_limit,
        blkio_weight: a.blkio_weight,
        cpu_idle: a.cpu_idle,
    };
    container::update(
        store,
        &a.id,
        &UpdateRequest {
            resources_json,
            flags,
        },
    )?;
    Ok(0)
}
