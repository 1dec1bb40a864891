//! One file per command; each returns the exit code or an error, and
//! `dispatch` names the command and container for the error line.

mod cgroup_verbs;
mod checkpoint;
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod restore;
mod run;
mod spec;
mod start;
mod state;
mod update;

use ward_core::state::Store;
use ward_core::Error;

use crate::cli::{Cli, Command};
use crate::log::Logger;

pub type CmdResult = Result<i32, Error>;

/// Runs the command; returns "<command> <id>" for messages, and the result.
pub fn dispatch(cli: &Cli, log: &Logger) -> (String, CmdResult) {
    let root = cli.state_root();
    let store = Store::new(&root);
    let (name, id): (&str, Option<&str>) = match &cli.command {
        Command::Create(a) => ("create", Some(&a.id)),
        Command::Start { id } => ("start", Some(id)),
        Command::State { id } => ("state", Some(id)),
        Command::Kill { id, .. } => ("kill", Some(id)),
        Command::Delete { id, .. } => ("delete", Some(id)),
        Command::Run { create, .. } => ("run", Some(&create.id)),
        Command::List { .. } => ("list", None),
        Command::Spec { .. } => ("spec", None),
        Command::Features => ("features", None),
        Command::Pause { id } => ("pause", Some(id)),
        Command::Resume { id } => ("resume", Some(id)),
        Command::Ps { id, .. } => ("ps", Some(id)),
        Command::Events { id, .. } => ("events", Some(id)),
        Command::Update(a) => ("update", Some(&a.id)),
        Command::Exec(a) => ("exec", Some(&a.id)),
        Command::Checkpoint(a) => ("checkpoint", Some(&a.common.id)),
        Command::Restore(a) => ("restore", Some(&a.common.id)),
    };
    let what = match id {
        Some(id) => format!("{name} {id}"),
        None => name.to_string(),
    };
    log.debug(&format!("{what}: root {}", root.display()));
    let res = match &cli.command {
        Command::Create(a) => create::run(&store, &a.id, &create_options(cli, a)),
        Command::Start { id } => start::run(&store, id),
        Command::State { id } => state::run(&store, id),
        Command::Kill { id, signal, all } => kill::run(&store, id, signal, *all),
        Command::Delete { id, force } => delete::run(&store, id, *force),
        Command::Run {
            create,
            detach,
            keep,
        } => run::run(
            &store,
            &create.id,
            &create_options(cli, create),
            *detach,
            *keep,
        ),
        Command::List { format, quiet } => list::run(&store, *format, *quiet),
        Command::Spec { bundle, rootless } => spec::run(bundle, *rootless),
        Command::Features => features::run(),
        Command::Pause { id } => cgroup_verbs::pause(&store, id),
        Command::Resume { id } => cgroup_verbs::resume(&store, id),
        Command::Ps {
            format,
            id,
            ps_args,
        } => cgroup_verbs::ps(&store, id, *format, ps_args),
        Command::Events {
            stats,
            interval,
            id,
        } => events::run(&store, id, *stats, interval),
        Command::Update(a) => update::run(&store, a),
        Command::Exec(a) => exec::run(&store, a),
        Command::Checkpoint(a) => checkpoint::run(&store, a, cli.criu.as_deref()),
        Command::Restore(a) => restore::run(&store, a, cli.criu.as_deref(), cli.systemd_cgroup),
    };
    (what, res)
}

/// The exit status of a command that failed, as runc's: 255 for `exec`
/// (whose own status is the process's, so an engine tells "the runtime
/// failed" from "the command exited 1" by it: podman and CRI-O do), 1 for
/// every other command.
pub fn failure_code(command: &Command) -> i32 {
    match command {
        Command::Exec(_) => 255,
        _ => 1,
    }
}

/// The create options of `create` and `run`, with what systemd passed in
/// ward's environment (NOTIFY_SOCKET, LISTEN_FDS): the library reads no
/// environment of its own.
pub fn create_options(
    cli: &Cli,
    a: &crate::cli::CreateArgs,
) -> ward_core::container::CreateOptions {
    ward_core::container::CreateOptions {
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
        systemd_cgroup: cli.systemd_cgroup,
        notify_socket: std::env::var_os("NOTIFY_SOCKET")
            .filter(|v| !v.is_empty())
            .map(Into::into),
        listen_fds: ward_core::container::listen_fds_from_env(),
        no_cgroup: false,
    }
}

/// A state as runc prints it: without ward's private fields, and pid 0 once
/// the container has stopped.
pub fn state_json(st: &ward_core::state::State) -> serde_json::Value {
    let stopped = st.status == ward_core::state::Status::Stopped;
    let mut v = serde_json::json!({
        "ociVersion": st.oci_version,
        "id": st.id,
        "pid": if stopped { 0 } else { st.pid },
        "status": st.status,
        "bundle": st.bundle,
        "rootfs": st.rootfs,
        "created": st.created,
        "owner": st.owner,
    });
    if !st.annotations.is_empty() {
        v["annotations"] = serde_json::to_value(&st.annotations).unwrap_or_default();
    }
    v
}
