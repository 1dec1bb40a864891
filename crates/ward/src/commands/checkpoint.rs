use ward_core::container::{self, CheckpointOptions};
use ward_core::state::Store;

use super::CmdResult;
use crate::cli::CheckpointArgs;

pub fn run(store: &Store, a: &CheckpointArgs, criu: Option<&std::path::Path>) -> CmdResult {
    let c = &a.common;
    let opts = CheckpointOptions {
        // runc's default: ./checkpoint.
        image_path: c.image_path.clone().unwrap_or_else(|| "checkpoint".into()),
        work_path: c.work_path.clone(),
        parent_path: a.parent_path.clone(),
        leave_running: a.leave_running,
        tcp_established: c.tcp_established,
        ext_unix_sk: c.ext_unix_sk,
        shell_job: c.shell_job,
        lazy_pages: c.lazy_pages,
        status_fd: (a.status_fd >= 0).then_some(a.status_fd),
        page_server: a.page_server.clone(),
        file_locks: c.file_locks,
        pre_dump: a.pre_dump,
        manage_cgroups_mode: c
            .manage_cgroups_mode
            .as_deref()
            .map(container::cgroups_mode)
            .transpose()?,
        empty_ns: c.empty_ns.clone(),
        auto_dedup: c.auto_dedup,
        criu: criu.map(Into::into),
    };
    container::checkpoint(store, &c.id, &opts)?;
    Ok(0)
}
