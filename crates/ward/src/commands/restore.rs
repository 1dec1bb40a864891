use ward_core::container::{self, RestoreOptions};
use ward_core::state::Store;

use super::CmdResult;
use crate::cli::RestoreArgs;

pub fn run(
    store: &Store,
    a: &RestoreArgs,
    criu: Option<&std::path::Path>,
    systemd_cgroup: bool,
) -> CmdResult {
    let c = &a.common;
    let opts = RestoreOptions {
        image_path: c.image_path.clone().unwrap_or_else(|| "checkpoint".into()),
        work_path: c.work_path.clone(),
        bundle: a.bundle.clone(),
        console_socket: a.console_socket.clone(),
        detach: a.detach,
        pid_file: a.pid_file.clone(),
        no_subreaper: a.no_subreaper,
        no_pivot: a.no_pivot,
        tcp_established: c.tcp_established,
        ext_unix_sk: c.ext_unix_sk,
        shell_job: c.shell_job,
        file_locks: c.file_locks,
        manage_cgroups_mode: c
            .manage_cgroups_mode
            .as_deref()
            .map(container::cgroups_mode)
            .transpose()?,
        empty_ns: c.empty_ns.clone(),
        auto_dedup: c.auto_dedup,
        lazy_pages: c.lazy_pages,
        lsm_profile: a.lsm_profile.clone(),
        lsm_mount_context: a.lsm_mount_context.clone(),
        page_server: a.page_server.clone(),
        criu: criu.map(Into::into),
        systemd_cgroup,
    };
    container::restore(store, &c.id, &opts)
}
