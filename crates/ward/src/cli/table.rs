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
    Opt::flag("systemd-cgroup", 0, "Accepted for runc compatibility; ward manages cgroups through cgroupfs").hidden(),
    Opt::value("criu", 0, "Accepted for runc compatibility: path of the criu binary").hidden(),
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
];

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
