//! Every command and option of ward's command line (runc's), with its help:
//! what the parser in `cli.rs` reads, and how the values become a `Command`.

use super::*;

/// Accepted before and after the subcommand.
#[rustfmt::skip]
pub(super) static GLOBAL: &[Opt] = &[
    Opt::value("root", 0, "Directory for the state of containers (default /run/ward; without root, $XDG_RUNTIME_DIR/ward)"),
    Opt::value("log", 0, "Where to write log lines (default: stderr only)"),
    Opt::value("log-format", 0, "Format of the log").default("text").choices(&["text", "json"]),
    Opt::flag("debug", 0, "Log debug messages too"),
    Opt::flag("systemd-cgroup", 0, "Let systemd own the cgroup: a transient scope, from a slice:prefix:name cgroupsPath").hidden(),
    Opt::value("criu", 0, "The criu binary for checkpoint and restore (default: criu on PATH, or /usr/sbin/criu)"),
];

/// Accepted before the subcommand only (`spec` has a `--rootless` of its own).
#[rustfmt::skip]
static TOP_ONLY: &[Opt] = &[
    Opt::value("rootless", 0, "Accepted for runc compatibility (true, false or auto)").equals_only().hidden(),
];

/// The options before the subcommand, and the global ones after it.
pub(super) static TOP_SCOPE: &[&[Opt]] = &[GLOBAL, TOP_ONLY];
pub(super) static GLOBAL_SCOPE: &[&[Opt]] = &[GLOBAL];

const ID: Arg = Arg::new("ID", "Container ID");

#[rustfmt::skip]
static CREATE: &[Opt] = &[
    Opt::value("bundle", b'b', "The bundle directory (holding config.json)").default("."),
    Opt::value("console-socket", 0, "Unix socket that receives the pty master when process.terminal is set"),
    Opt::value("pid-file", 0, "File to write the container's init pid to"),
    Opt::flag("no-pivot", 0, "Move the rootfs onto / and chroot instead of pivot_root (for ramfs roots)"),
    Opt::flag("no-new-keyring", 0, "Keep the caller's session keyring instead of a new one"),
    Opt::value("preserve-fds", 0, "Number of fds after stdio (3, 4, ...) to pass to the container").default("0"),
];

#[rustfmt::skip]
static RUN: &[Opt] = &[
    Opt::flag("detach", b'd', "Return once the container has started"),
    Opt::flag("keep", 0, "Keep the container after it exits"),
];

static FORMAT: &[Opt] = &[Opt::value("format", b'f', "Output format")
    .default("table")
    .choices(&["table", "json"])];

#[rustfmt::skip]
static UPDATE: &[Opt] = &[
    Opt::value("resources", b'r', "JSON resources (as docker sends them) from FILE, or stdin with -"),
    Opt::value("blkio-weight", 0, "Block IO weight"),
    Opt::value("cpu-period", 0, "CPU CFS period, in microseconds"),
    Opt::value("cpu-quota", 0, "CPU CFS quota, in microseconds (-1 for none)").hyphen(),
    Opt::value("cpu-burst", 0, "CPU CFS burst, in microseconds"),
    Opt::value("cpu-rt-period", 0, "CPU realtime period, in microseconds"),
    Opt::value("cpu-rt-runtime", 0, "CPU realtime runtime, in microseconds").hyphen(),
    Opt::value("cpu-share", 0, "CPU shares (relative weight)").alias("cpu-shares"),
    Opt::value("cpu-idle", 0, "cgroup v2 cpu.idle (0 or 1)").hyphen(),
    Opt::value("cpuset-cpus", 0, "CPUs to allow (e.g. 0-3,5)"),
    Opt::value("cpuset-mems", 0, "Memory nodes to allow"),
    Opt::value("memory", 0, "Memory limit (bytes, or with k, m, g; -1 for none)").hyphen(),
    Opt::value("memory-reservation", 0, "Memory soft limit").hyphen(),
    Opt::value("memory-swap", 0, "Memory plus swap limit").hyphen(),
    Opt::value("kernel-memory-tcp", 0, "Kernel TCP buffer memory limit").hyphen(),
    Opt::value("pids-limit", 0, "Maximum number of pids (-1 for none)").hyphen(),
];

#[rustfmt::skip]
static EXEC: &[Opt] = &[
    Opt::value("console-socket", 0, "Unix socket that receives the pty master with --tty"),
    Opt::value("cwd", 0, "Working directory of the process (default: config.json's)"),
    Opt::value("env", b'e', "Environment variable NAME=VALUE (repeatable; overrides config.json's)"),
    Opt::flag("tty", b't', "Give the process a terminal"),
    Opt::value("user", b'u', "uid[:gid] to run as"),
    Opt::value("additional-gids", b'g', "Additional group id (repeatable)"),
    Opt::value("process", b'p', "A process.json to run instead of config.json's process"),
    Opt::flag("detach", b'd', "Return once the process runs"),
    Opt::value("pid-file", 0, "File to write the process's pid to"),
    Opt::value("process-label", 0, "SELinux label of the process"),
    Opt::value("apparmor", 0, "AppArmor profile of the process"),
    Opt::flag("no-new-privs", 0, "Set no_new_privs for the process"),
    Opt::value("cap", b'c', "Add a capability (repeatable), e.g. CAP_NET_ADMIN"),
    Opt::value("preserve-fds", 0, "Number of fds after stdio (3, 4, ...) to pass to the process").default("0"),
    Opt::flag("ignore-paused", 0, "Exec even into a paused container (the process starts frozen)"),
];

/// The flags checkpoint and restore share (runc's).
#[rustfmt::skip]
static CR_COMMON: &[Opt] = &[
    Opt::value("image-path", 0, "Directory of the CRIU images (default: ./checkpoint)"),
    Opt::value("work-path", 0, "Directory for CRIU's log and work files (default: the image path)"),
    Opt::flag("tcp-established", 0, "Established TCP connections too (the container's own network namespace)"),
    Opt::flag("ext-unix-sk", 0, "Allow unix sockets connected to the outside"),
    Opt::flag("shell-job", 0, "Allow a process attached to the caller's session and terminal"),
    Opt::flag("file-locks", 0, "File locks too"),
    Opt::value("manage-cgroups-mode", 0, "How CRIU treats the cgroups: soft (default), full, strict or ignore"),
    Opt::value("empty-ns", 0, "Restore this namespace empty instead of as it was (network; repeatable)"),
    Opt::flag("auto-dedup", 0, "Punch the memory out of the parent images once used"),
    Opt::flag("lazy-pages", 0, "Memory on demand (userfaultfd): served by the dump, fetched by the restore"),
];

#[rustfmt::skip]
static CHECKPOINT: &[Opt] = &[
    Opt::value("parent-path", 0, "The previous pre-dump's images, relative to --image-path"),
    Opt::flag("leave-running", 0, "Leave the container running after the checkpoint"),
    Opt::value("status-fd", 0, "FD that gets a NUL byte once a lazy dump serves its pages").default("-1").hyphen(),
    Opt::value("page-server", 0, "ADDRESS:PORT of a page server to send the memory to (with --lazy-pages: to serve it on)"),
    Opt::flag("pre-dump", 0, "Copy the memory only and leave the container running (then --parent-path)"),
];

#[rustfmt::skip]
static RESTORE: &[Opt] = &[
    Opt::value("bundle", b'b', "The bundle directory (holding config.json)").default("."),
    Opt::value("console-socket", 0, "Unix socket that receives the pty master when process.terminal is set"),
    Opt::flag("detach", b'd', "Return once the container runs"),
    Opt::value("pid-file", 0, "File to write the container's init pid to"),
    Opt::flag("no-subreaper", 0, "Don't reap orphaned processes in the foreground"),
    Opt::flag("no-pivot", 0, "Accepted for runc compatibility (CRIU restores the mounts)"),
    Opt::value("lsm-profile", 0, "LSM profile of the restored processes, TYPE:NAME"),
    Opt::value("lsm-mount-context", 0, "LSM mount context of the restored mounts"),
    Opt::value("page-server", 0, "With --lazy-pages: ADDRESS:PORT of the dump serving the memory"),
];

#[rustfmt::skip]
pub(super) static SUBS: &[Sub] = &[
    Sub::new("create", "Create a container from a bundle; it waits for `start`", &[CREATE], &[ID],
        |m| Ok(Command::Create(create_args(m)?))),
    Sub::new("start", "Run the user process of a created container", &[], &[ID],
        |m| Ok(Command::Start { id: m.arg(0)? })),
    Sub::new("state", "Print a container's state as JSON", &[], &[ID],
        |m| Ok(Command::State { id: m.arg(0)? })),
    Sub::new("kill", "Send a signal (name or number, default SIGTERM) to a container",
        &[&[Opt::flag("all", b'a', "Signal every process of the container, not only its init")]],
        &[ID, Arg::new("SIGNAL", "Signal name or number").default("SIGTERM")],
        |m| Ok(Command::Kill { all: m.flag("all"), id: m.arg(0)?, signal: m.arg(1)? })),
    Sub::new("delete", "Delete a stopped container (and kill one that runs, with --force)",
        &[&[Opt::flag("force", b'f', "Kill the container first if it runs")]], &[ID],
        |m| Ok(Command::Delete { force: m.flag("force"), id: m.arg(0)? })),
    Sub::new("run", "Create and start a container; in the foreground, wait for it", &[CREATE, RUN], &[ID],
        |m| Ok(Command::Run { create: create_args(m)?, detach: m.flag("detach"), keep: m.flag("keep") })),
    Sub::new("list", "List containers", &[FORMAT, &[Opt::flag("quiet", b'q', "Print only the IDs")]], &[],
        |m| Ok(Command::List { format: list_format(m)?, quiet: m.flag("quiet") }))
        .alias("ps-all"),
    Sub::new("spec", "Write a default config.json into a bundle",
        &[&[
            Opt::value("bundle", b'b', "The bundle directory to write config.json into").default("."),
            Opt::flag("rootless", 0, "A spec for a non-root user (user namespace, no network namespace)"),
        ]],
        &[],
        |m| Ok(Command::Spec { bundle: m.path("bundle")?.unwrap_or_default(), rootless: m.flag("rootless") })),
    Sub::new("features", "Print the features ward supports, as the runtime spec's JSON", &[], &[],
        |_| Ok(Command::Features)),
    Sub::new("pause", "Freeze every process of a container", &[], &[ID],
        |m| Ok(Command::Pause { id: m.arg(0)? })),
    Sub::new("resume", "Thaw a paused container", &[], &[ID],
        |m| Ok(Command::Resume { id: m.arg(0)? })),
    Sub::new("ps", "List the processes of a container (`ps` output, or host pids as JSON)", &[FORMAT],
        &[ID, Arg::new("PS_ARGS", "Options for ps(1) (default -ef)")],
        |m| Ok(Command::Ps { format: list_format(m)?, id: m.arg(0)?, ps_args: m.rest()? }))
        .trailing(),
    Sub::new("events", "Print resource usage (`--stats`) or stream it with OOM events",
        &[&[
            Opt::flag("stats", 0, "Print the figures once and exit"),
            Opt::value("interval", 0, "Time between stats lines (e.g. 5s, 500ms)").default("5s"),
        ]],
        &[ID],
        |m| Ok(Command::Events {
            stats: m.flag("stats"),
            interval: m.string("interval")?.unwrap_or_default(),
            id: m.arg(0)?,
        })),
    Sub::new("update", "Change the resource limits of a running container", &[UPDATE], &[ID],
        |m| Ok(Command::Update(Box::new(update_args(m)?)))),
    Sub::new("exec", "Run one more process in a running container", &[EXEC],
        &[ID, Arg::new("COMMAND", "The command and its arguments (none with --process)")],
        |m| Ok(Command::Exec(Box::new(exec_args(m)?))))
        .trailing(),
    Sub::new("checkpoint", "Checkpoint a running container to a directory of CRIU images", &[CR_COMMON, CHECKPOINT], &[ID],
        |m| Ok(Command::Checkpoint(Box::new(checkpoint_args(m)?)))),
    Sub::new("restore", "Restore a container from a checkpoint", &[CR_COMMON, RESTORE], &[ID],
        |m| Ok(Command::Restore(Box::new(restore_args(m)?)))),
];

fn cr_args(m: &Given) -> Result<CrArgs, CliError> {
    Ok(CrArgs {
        image_path: m.path("image-path")?,
        work_path: m.path("work-path")?,
        tcp_established: m.flag("tcp-established"),
        ext_unix_sk: m.flag("ext-unix-sk"),
        shell_job: m.flag("shell-job"),
        file_locks: m.flag("file-locks"),
        manage_cgroups_mode: m.string("manage-cgroups-mode")?,
        empty_ns: m.all("empty-ns", |v| utf8(v).map(str::to_string))?,
        auto_dedup: m.flag("auto-dedup"),
        lazy_pages: m.flag("lazy-pages"),
        id: m.arg(0)?,
    })
}

fn checkpoint_args(m: &Given) -> Result<CheckpointArgs, CliError> {
    Ok(CheckpointArgs {
        parent_path: m.path("parent-path")?,
        leave_running: m.flag("leave-running"),
        status_fd: m.num("status-fd")?.unwrap_or(-1),
        page_server: m.string("page-server")?,
        pre_dump: m.flag("pre-dump"),
        common: cr_args(m)?,
    })
}

fn restore_args(m: &Given) -> Result<RestoreArgs, CliError> {
    Ok(RestoreArgs {
        bundle: m.path("bundle")?.unwrap_or_default(),
        console_socket: m.path("console-socket")?,
        detach: m.flag("detach"),
        pid_file: m.path("pid-file")?,
        no_subreaper: m.flag("no-subreaper"),
        no_pivot: m.flag("no-pivot"),
        lsm_profile: m.string("lsm-profile")?,
        lsm_mount_context: m.string("lsm-mount-context")?,
        page_server: m.string("page-server")?,
        common: cr_args(m)?,
    })
}

fn create_args(m: &Given) -> Result<CreateArgs, CliError> {
    Ok(CreateArgs {
        bundle: m.path("bundle")?.unwrap_or_default(),
        console_socket: m.path("console-socket")?,
        pid_file: m.path("pid-file")?,
        no_pivot: m.flag("no-pivot"),
        no_new_keyring: m.flag("no-new-keyring"),
        preserve_fds: m.num("preserve-fds")?.unwrap_or_default(),
        id: m.arg(0)?,
    })
}

fn update_args(m: &Given) -> Result<UpdateArgs, CliError> {
    Ok(UpdateArgs {
        resources: m.string("resources")?,
        blkio_weight: m.num("blkio-weight")?,
        cpu_period: m.num("cpu-period")?,
        cpu_quota: m.num("cpu-quota")?,
        cpu_burst: m.num("cpu-burst")?,
        cpu_rt_period: m.num("cpu-rt-period")?,
        cpu_rt_runtime: m.num("cpu-rt-runtime")?,
        cpu_shares: m.num("cpu-share")?,
        cpu_idle: m.num("cpu-idle")?,
        cpuset_cpus: m.string("cpuset-cpus")?,
        cpuset_mems: m.string("cpuset-mems")?,
        memory: m.string("memory")?,
        memory_reservation: m.string("memory-reservation")?,
        memory_swap: m.string("memory-swap")?,
        kernel_memory_tcp: m.string("kernel-memory-tcp")?,
        pids_limit: m.num("pids-limit")?,
        id: m.arg(0)?,
    })
}

fn exec_args(m: &Given) -> Result<ExecArgs, CliError> {
    Ok(ExecArgs {
        console_socket: m.path("console-socket")?,
        cwd: m.string("cwd")?,
        env: m.all("env", |v| utf8(v).map(str::to_string))?,
        tty: m.flag("tty"),
        user: m.string("user")?,
        additional_gids: m.all("additional-gids", parse_num)?,
        process: m.path("process")?,
        detach: m.flag("detach"),
        pid_file: m.path("pid-file")?,
        process_label: m.string("process-label")?,
        apparmor: m.string("apparmor")?,
        no_new_privs: m.flag("no-new-privs"),
        cap: m.all("cap", |v| utf8(v).map(str::to_string))?,
        preserve_fds: m.num("preserve-fds")?.unwrap_or_default(),
        ignore_paused: m.flag("ignore-paused"),
        id: m.arg(0)?,
        command: m.rest()?,
    })
}

fn list_format(m: &Given) -> Result<ListFormat, CliError> {
    Ok([ListFormat::Table, ListFormat::Json][m.choice("format")?])
}

pub(super) fn find_sub(name: &[u8]) -> Option<&'static Sub> {
    SUBS.iter()
        .find(|s| s.name.as_bytes() == name || (!s.alias.is_empty() && s.alias.as_bytes() == name))
}
