use ward_core::container::{self, ExecOptions};
use ward_core::state::Store;

use super::CmdResult;
use crate::cli::ExecArgs;

pub fn run(store: &Store, a: &ExecArgs) -> CmdResult {
    let opts = ExecOptions {
        process: a.process.clone(),
        args: a.command.clone(),
        tty: a.tty,
        console_socket: a.console_socket.clone(),
        cwd: a.cwd.clone(),
        env: a.env.clone(),
        user: a.user.clone(),
        additional_gids: a.additional_gids.clone(),
        caps: a.cap.clone(),
        no_new_privs: a.no_new_privs,
        apparmor: a.apparmor.clone(),
        process_label: a.process_label.clone(),
        detach: a.detach,
        pid_file: a.pid_file.clone(),
        preserve_fds: a.preserve_fds,
        ignore_paused: a.ignore_paused,
    };
    container::exec(store, &a.id, &opts)
}
