//! The command line, flag for flag as runc's, so engines can call ward in
//! runc's place.
//!
//! Parsed by hand from static tables, one per subcommand, that also give the
//! help text. This replaces clap, which built the argument tree of every
//! subcommand on each start (~134 KB of heap on every `ward run`) and was
//! the largest part of the binary: here parsing allocates only the values
//! given, and help is rendered only when asked for.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::str::FromStr;

mod help;
mod table;
#[cfg(test)]
mod tests;

use help::{help, usage};
use table::{find_sub, GLOBAL_SCOPE, TOP_SCOPE};

#[derive(Debug)]
pub struct Cli {
    /// Directory for the state of containers (default /run/ward; without
    /// root, $XDG_RUNTIME_DIR/ward).
    pub root: Option<PathBuf>,
    /// Where to write log lines (default: stderr only).
    pub log: Option<PathBuf>,
    pub log_format: LogFormat,
    pub debug: bool,
    /// Accepted for runc compatibility; ward manages cgroups through cgroupfs.
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility (true, false or auto).
    pub rootless: Option<String>,
    /// The criu binary for checkpoint and restore.
    pub criu: Option<PathBuf>,
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Clone)]
pub struct CreateArgs {
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub id: String,
}

#[derive(Debug, Clone)]
pub struct ExecArgs {
    pub console_socket: Option<PathBuf>,
    pub cwd: Option<String>,
    pub env: Vec<String>,
    pub tty: bool,
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub process: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub process_label: Option<String>,
    pub apparmor: Option<String>,
    pub no_new_privs: bool,
    pub cap: Vec<String>,
    pub preserve_fds: u32,
    pub ignore_paused: bool,
    pub id: String,
    /// The command and its arguments, verbatim after the ID.
    pub command: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct UpdateArgs {
    pub resources: Option<String>,
    pub blkio_weight: Option<u16>,
    pub cpu_period: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_burst: Option<u64>,
    pub cpu_rt_period: Option<u64>,
    pub cpu_rt_runtime: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpu_idle: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub memory: Option<String>,
    pub memory_reservation: Option<String>,
    pub memory_swap: Option<String>,
    pub kernel_memory_tcp: Option<String>,
    pub pids_limit: Option<i64>,
    pub id: String,
}

/// The flags checkpoint and restore share (runc's).
#[derive(Debug, Clone)]
pub struct CrArgs {
    pub image_path: Option<PathBuf>,
    pub work_path: Option<PathBuf>,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub manage_cgroups_mode: Option<String>,
    pub empty_ns: Vec<String>,
    pub auto_dedup: bool,
    pub lazy_pages: bool,
    pub id: String,
}

#[derive(Debug, Clone)]
pub struct CheckpointArgs {
    pub parent_path: Option<PathBuf>,
    pub leave_running: bool,
    /// -1 for none, as runc.
    pub status_fd: i32,
    pub page_server: Option<String>,
    pub pre_dump: bool,
    pub common: CrArgs,
}

#[derive(Debug, Clone)]
pub struct RestoreArgs {
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub no_subreaper: bool,
    pub no_pivot: bool,
    pub lsm_profile: Option<String>,
    pub lsm_mount_context: Option<String>,
    pub page_server: Option<String>,
    pub common: CrArgs,
}

/// The subcommands; their flags and help are in [`SUBS`].
#[derive(Debug)]
pub enum Command {
    Create(CreateArgs),
    Start {
        id: String,
    },
    State {
        id: String,
    },
    Kill {
        all: bool,
        id: String,
        signal: String,
    },
    Delete {
        force: bool,
        id: String,
    },
    Run {
        create: CreateArgs,
        detach: bool,
        keep: bool,
    },
    List {
        format: ListFormat,
        quiet: bool,
    },
    Spec {
        bundle: PathBuf,
        rootless: bool,
    },
    Features,
    Pause {
        id: String,
    },
    Resume {
        id: String,
    },
    Ps {
        format: ListFormat,
        id: String,
        ps_args: Vec<String>,
    },
    Events {
        stats: bool,
        interval: String,
        id: String,
    },
    Update(Box<UpdateArgs>),
    Exec(Box<ExecArgs>),
    Checkpoint(Box<CheckpointArgs>),
    Restore(Box<RestoreArgs>),
}

impl Cli {
    /// --root, or its default: /run/ward for root, and for other users
    /// $XDG_RUNTIME_DIR/ward (as runc does), since /run is root's.
    pub fn state_root(&self) -> PathBuf {
        if let Some(r) = &self.root {
            return r.clone();
        }
        match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
            Some(d) if !ward_core::sys::is_root() => PathBuf::from(d).join("ward"),
            _ => PathBuf::from("/run/ward"),
        }
    }

    /// Parses the process's arguments; on help, version or a usage error
    /// prints it and exits (0; 1 for a usage error, 3 for an unknown subcommand, as runc).
    pub fn parse() -> Cli {
        Cli::try_parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// Parses `args`, the first being the program's name.
    pub fn try_parse_from<I, T>(args: I) -> Result<Cli, CliError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let mut args = args.into_iter().map(Into::into);
        args.next();
        let mut globals = Given::new(TOP_SCOPE, None);
        let sub = loop {
            let Some(arg) = args.next() else {
                // No subcommand (bare `ward`, or only global options):
                // the whole help on stdout, exit 0, as runc does.
                return Err(CliError::help(None));
            };
            let b = arg.as_bytes();
            if b == b"--" {
                return Err(match args.next() {
                    Some(a) => unexpected(None, &a),
                    None => CliError::usage(
                        None,
                        "'ward' requires a subcommand but one was not provided",
                    ),
                });
            }
            if b.len() > 1 && b[0] == b'-' {
                option(&arg, &mut args, None, &mut |o, v, _| globals.push(o, v))?;
                continue;
            }
            if b == b"help" {
                return Err(help_command(args));
            }
            break find_sub(b).ok_or_else(|| unrecognized(&arg))?;
        };

        let mut given = Given::new(sub.opts, Some(sub));
        let mut globals_after = Given::new(TOP_SCOPE, Some(sub));
        let fixed = sub.args.len() - usize::from(sub.trailing);
        let mut options_done = false;
        while let Some(arg) = args.next() {
            let b = arg.as_bytes();
            if !options_done && b == b"--" {
                options_done = true;
                continue;
            }
            if !options_done && b.len() > 1 && b[0] == b'-' {
                option(&arg, &mut args, Some(sub), &mut |o, v, global| {
                    if global {
                        globals_after.push(o, v)
                    } else {
                        given.push(o, v)
                    }
                })?;
                continue;
            }
            if given.pos.len() >= fixed && !sub.trailing {
                return Err(unexpected(Some(sub), &arg));
            }
            given.pos.push(arg);
            if sub.trailing && given.pos.len() == fixed {
                // Everything after the ID belongs to the process (exec) or
                // to ps(1), dashes and all; a `--` right after the ID only
                // separates.
                let mut rest = args.by_ref().peekable();
                if !options_done && rest.peek().is_some_and(|a| a == "--") {
                    rest.next();
                }
                given.pos.extend(rest);
            }
        }
        let command = (sub.build)(&given)?;
        // Given after the subcommand wins over before it, as with clap.
        let mut g = globals;
        g.vals.append(&mut globals_after.vals);
        Ok(Cli {
            root: g.path("root")?,
            log: g.path("log")?,
            log_format: [LogFormat::Text, LogFormat::Json][g.choice("log-format")?],
            debug: g.flag("debug"),
            systemd_cgroup: g.flag("systemd-cgroup"),
            rootless: g.string("rootless")?,
            criu: g.path("criu")?,
            command,
        })
    }
}

// ------------------------------------------- what the tables (cli/table.rs) hold

/// One option: `--long`, its `-s`hort form, whether it takes a value.
struct Opt {
    long: &'static str,
    /// 0 for none.
    short: u8,
    takes_value: bool,
    help: &'static str,
    /// Used when the option is not given ("" for none); shown in help.
    default: &'static str,
    /// The values allowed ([] for any).
    choices: &'static [&'static str],
    /// A second long name.
    alias: &'static str,
    /// Takes the next argument as value even if it starts with '-'
    /// (negative numbers, `--memory -1`).
    hyphen: bool,
    /// Accepted for compatibility, not shown in help.
    hidden: bool,
    /// Takes a value only as `--long=VALUE`; alone it means `true`.
    equals_only: bool,
}

impl Opt {
    const fn flag(long: &'static str, short: u8, help: &'static str) -> Opt {
        Opt {
            long,
            short,
            takes_value: false,
            help,
            default: "",
            choices: &[],
            alias: "",
            hyphen: false,
            hidden: false,
            equals_only: false,
        }
    }
    const fn value(long: &'static str, short: u8, help: &'static str) -> Opt {
        Opt {
            takes_value: true,
            ..Opt::flag(long, short, help)
        }
    }
    const fn default(self, default: &'static str) -> Opt {
        Opt { default, ..self }
    }
    const fn choices(self, choices: &'static [&'static str]) -> Opt {
        Opt { choices, ..self }
    }
    const fn alias(self, alias: &'static str) -> Opt {
        Opt { alias, ..self }
    }
    const fn hyphen(self) -> Opt {
        Opt {
            hyphen: true,
            ..self
        }
    }
    const fn hidden(self) -> Opt {
        Opt {
            hidden: true,
            ..self
        }
    }
    const fn equals_only(self) -> Opt {
        Opt {
            equals_only: true,
            ..self
        }
    }
}

/// A positional argument.
struct Arg {
    name: &'static str,
    help: &'static str,
    /// "" when required (or, for the trailing one, optional).
    default: &'static str,
}

impl Arg {
    const fn new(name: &'static str, help: &'static str) -> Arg {
        Arg {
            name,
            help,
            default: "",
        }
    }
    const fn default(self, default: &'static str) -> Arg {
        Arg { default, ..self }
    }
}

struct Sub {
    name: &'static str,
    alias: &'static str,
    about: &'static str,
    /// Its option tables (several when one command extends another's).
    opts: &'static [&'static [Opt]],
    args: &'static [Arg],
    /// The last of `args` takes every argument after the ones before it.
    trailing: bool,
    build: fn(&Given) -> Result<Command, CliError>,
}

impl Sub {
    const fn new(
        name: &'static str,
        about: &'static str,
        opts: &'static [&'static [Opt]],
        args: &'static [Arg],
        build: fn(&Given) -> Result<Command, CliError>,
    ) -> Sub {
        Sub {
            name,
            alias: "",
            about,
            opts,
            args,
            trailing: false,
            build,
        }
    }
    const fn alias(self, alias: &'static str) -> Sub {
        Sub { alias, ..self }
    }
    const fn trailing(self) -> Sub {
        Sub {
            trailing: true,
            ..self
        }
    }
}

/// One of the runtime's global options given before the subcommand, for
/// a front (`ward --root X migrate ...`): its long name, and its value
/// (`None` for a flag given as true; a flag given as false is left out).
pub type LeadingGlobal = (&'static str, Option<OsString>);

/// The global options at the head of `args` (the program's name first),
/// read by the runtime's own rules (`--root X`, `--root=X`, `-root X`), and
/// the index of the first argument after them. `None` when one of them is
/// not a global option or lacks its value: the runtime's own parse then
/// says so, as it always did.
pub fn leading_globals(args: &[OsString]) -> Option<(Vec<LeadingGlobal>, usize)> {
    let mut found = Vec::new();
    let mut i = 1;
    while let Some(a) = args.get(i) {
        let b = a.as_bytes();
        if b.len() < 2 || b[0] != b'-' || b == b"--" {
            break;
        }
        let mut rest = args[i + 1..].iter().cloned();
        let before = rest.len();
        option(a, &mut rest, None, &mut |o, v, _| {
            if !o.takes_value {
                if v != FLAG_FALSE {
                    found.push((o.long, None));
                }
            } else {
                found.push((o.long, Some(v)));
            }
            Ok(())
        })
        .ok()?;
        i += 1 + (before - rest.len());
    }
    Some((found, i))
}

/// The option matching `is` among `sub`'s and the global ones (before the
/// subcommand: the global and top-level ones); true if it is global.
fn lookup(sub: Option<&'static Sub>, is: impl Fn(&Opt) -> bool) -> Option<(&'static Opt, bool)> {
    let own = sub.map_or(&[][..], |s| s.opts);
    let globals = if sub.is_some() {
        GLOBAL_SCOPE
    } else {
        TOP_SCOPE
    };
    let find =
        |tables: &'static [&'static [Opt]]| tables.iter().flat_map(|t| t.iter()).find(|o| is(o));
    find(own)
        .map(|o| (o, false))
        .or_else(|| find(globals).map(|o| (o, true)))
}

// ---------------------------------------------------------------- parsing

/// What was given at one level: options (flags with an empty value) in
/// order, and positional arguments.
struct Given {
    scope: &'static [&'static [Opt]],
    sub: Option<&'static Sub>,
    vals: Vec<(&'static Opt, OsString)>,
    pos: Vec<OsString>,
}

impl Given {
    fn new(scope: &'static [&'static [Opt]], sub: Option<&'static Sub>) -> Given {
        Given {
            scope,
            sub,
            vals: Vec::new(),
            pos: Vec::new(),
        }
    }

    /// Records option `o` with its value (empty for a flag that is set,
    /// `false` for one unset with `--flag=false`). Given again, the last
    /// value wins, as with Go's flag package (runc's).
    fn push(&mut self, o: &'static Opt, v: OsString) -> Result<(), CliError> {
        self.vals.push((o, v));
        Ok(())
    }

    /// The option named `long` in this level's tables. Every name asked
    /// for is in them (the builders are tested for each command).
    fn opt(&self, long: &str) -> &'static Opt {
        self.scope
            .iter()
            .flat_map(|t| t.iter())
            .find(|o| o.long == long)
            .expect("option not in its command's table")
    }

    fn given(&self, long: &str) -> impl Iterator<Item = &OsStr> + '_ {
        let long = self.opt(long).long;
        self.vals
            .iter()
            .filter(move |(o, _)| o.long == long)
            .map(|(_, v)| v.as_os_str())
    }

    /// Whether the flag is set: given, and not last as `--flag=false`.
    fn flag(&self, long: &str) -> bool {
        self.given(long).last().is_some_and(|v| v != FLAG_FALSE)
    }

    /// The value given last, or the default.
    fn value(&self, long: &str) -> Option<&OsStr> {
        let o = self.opt(long);
        self.given(long)
            .last()
            .or((!o.default.is_empty()).then(|| OsStr::new(o.default)))
    }

    /// Converts one value of option `long`.
    fn convert<T>(
        &self,
        long: &str,
        v: &OsStr,
        f: impl Fn(&OsStr) -> Result<T, String>,
    ) -> Result<T, CliError> {
        f(v).map_err(|why| {
            let o = self.opt(long);
            CliError::usage(
                self.sub,
                &format!(
                    "invalid value '{}' for '{}': {why}",
                    lossy(v.as_bytes()),
                    show(o)
                ),
            )
        })
    }

    fn path(&self, long: &str) -> Result<Option<PathBuf>, CliError> {
        match self.value(long) {
            // As clap: an empty path is a missing one.
            Some(v) if v.is_empty() => Err(value_required(self.sub, self.opt(long))),
            v => Ok(v.map(PathBuf::from)),
        }
    }

    fn string(&self, long: &str) -> Result<Option<String>, CliError> {
        self.value(long)
            .map(|v| self.convert(long, v, |v| utf8(v).map(str::to_string)))
            .transpose()
    }

    fn num<T: FromStr>(&self, long: &str) -> Result<Option<T>, CliError>
    where
        T::Err: fmt::Display,
    {
        self.value(long)
            .map(|v| self.convert(long, v, parse_num))
            .transpose()
    }

    /// Every value of a repeatable option.
    fn all<T, E: fmt::Display>(
        &self,
        long: &str,
        f: impl Fn(&OsStr) -> Result<T, E>,
    ) -> Result<Vec<T>, CliError> {
        self.given(long)
            .map(|v| self.convert(long, v, |v| f(v).map_err(|e| e.to_string())))
            .collect()
    }

    /// The index of the value (or default) in the option's choices.
    fn choice(&self, long: &str) -> Result<usize, CliError> {
        let o = self.opt(long);
        let v = self.value(long).unwrap_or_default();
        o.choices
            .iter()
            .position(|c| c.as_bytes() == v.as_bytes())
            .ok_or_else(|| {
                CliError::usage(
                    self.sub,
                    &format!(
                        "invalid value '{}' for '{}'\n  [possible values: {}]",
                        lossy(v.as_bytes()),
                        show(o),
                        o.choices.join(", ")
                    ),
                )
            })
    }

    /// Positional argument `i`, or its default.
    fn arg(&self, i: usize) -> Result<String, CliError> {
        // Past the fixed ones, all are the trailing (last) argument's.
        let spec = self.sub.and_then(|s| s.args.get(i).or(s.args.last()));
        let name = spec.map_or("", |a| a.name);
        match (self.pos.get(i), spec) {
            (Some(v), _) => utf8(v).map(str::to_string).map_err(|why| {
                CliError::usage(
                    self.sub,
                    &format!(
                        "invalid value '{}' for '<{name}>': {why}",
                        lossy(v.as_bytes())
                    ),
                )
            }),
            (None, Some(a)) if !a.default.is_empty() => Ok(a.default.to_string()),
            (None, _) => Err(CliError::usage(
                self.sub,
                &format!("the following required arguments were not provided: <{name}>"),
            )),
        }
    }

    /// The trailing arguments (after the fixed positionals).
    fn rest(&self) -> Result<Vec<String>, CliError> {
        let fixed = self.sub.map_or(0, |s| s.args.len() - 1);
        (fixed..self.pos.len()).map(|i| self.arg(i)).collect()
    }
}

fn utf8(v: &OsStr) -> Result<&str, String> {
    v.to_str().ok_or_else(|| "invalid UTF-8".to_string())
}

fn parse_num<T: FromStr>(v: &OsStr) -> Result<T, String>
where
    T::Err: fmt::Display,
{
    utf8(v)?.parse().map_err(|e: T::Err| e.to_string())
}

/// The value a flag unset with `--flag=false` is recorded with.
const FLAG_FALSE: &str = "false";

/// A boolean as Go's strconv.ParseBool reads it (what runc's flags take
/// after `=`).
fn go_bool(v: &[u8]) -> Option<bool> {
    match v {
        b"1" | b"t" | b"T" | b"TRUE" | b"true" | b"True" => Some(true),
        b"0" | b"f" | b"F" | b"FALSE" | b"false" | b"False" => Some(false),
        _ => None,
    }
}

/// Whether `-name` (one dash) is a long option, as Go's flag package (and
/// so runc) accepts `-root` for `--root`: its name, before any `=`, is a
/// long name of the scope. Otherwise it is a cluster of short options.
fn single_dash_long(b: &[u8], sub: Option<&'static Sub>) -> bool {
    let Some(body) = b.strip_prefix(b"-").filter(|r| !r.starts_with(b"-")) else {
        return false;
    };
    let name = body.split(|&c| c == b'=').next().unwrap_or(body);
    name.len() > 1
        && lookup(sub, |o| {
            o.long.as_bytes() == name || (!o.alias.is_empty() && o.alias.as_bytes() == name)
        })
        .is_some()
}

/// Parses the option `arg` (it starts with '-'), taking its value from
/// `rest` if it needs the next argument, and gives each option found (a
/// cluster like `-dt` has several) to `push` with its value (empty for a
/// flag) and whether it is global.
fn option(
    arg: &OsStr,
    rest: &mut impl Iterator<Item = OsString>,
    sub: Option<&'static Sub>,
    push: &mut impl FnMut(&'static Opt, OsString, bool) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let b = arg.as_bytes();
    let long = if single_dash_long(b, sub) {
        Some(&b[1..])
    } else {
        b.strip_prefix(b"--")
    };
    if let Some(body) = long {
        let (name, inline) = match body.iter().position(|&c| c == b'=') {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        match name {
            b"help" => return Err(CliError::help(sub)),
            b"version" if sub.is_none() => return Err(CliError::version()),
            _ => {}
        }
        let named = |o: &Opt| {
            o.long.as_bytes() == name || (!o.alias.is_empty() && o.alias.as_bytes() == name)
        };
        let (o, global) = lookup(sub, named).ok_or_else(|| {
            CliError::usage(
                sub,
                &format!("unexpected argument '--{}' found", lossy(name)),
            )
        })?;
        let v = match (inline, o.takes_value) {
            (Some(v), false) => match go_bool(v) {
                Some(true) => OsString::new(),
                Some(false) => OsString::from(FLAG_FALSE),
                None => {
                    return Err(CliError::usage(
                        sub,
                        &format!(
                            "invalid value '{}' for '--{}': want true or false",
                            lossy(v),
                            o.long
                        ),
                    ))
                }
            },
            (None, false) => OsString::new(),
            (Some(v), true) => OsStr::from_bytes(v).to_os_string(),
            (None, true) if o.equals_only => OsString::from("true"),
            (None, true) => next_value(o, rest, sub)?,
        };
        return push(o, v, global);
    }
    // Short options, maybe clustered: `-dt`, `-e X`, `-eX`, `-e=X`, `-tu0`.
    for (i, &c) in b.iter().enumerate().skip(1) {
        match c {
            b'h' => return Err(CliError::help(sub)),
            b'V' if sub.is_none() => return Err(CliError::version()),
            _ => {}
        }
        let Some((o, global)) = lookup(sub, |o| o.short != 0 && o.short == c) else {
            let ch = lossy(&b[i..]).chars().next().unwrap_or('?');
            return Err(CliError::usage(
                sub,
                &format!("unexpected argument '-{ch}' found"),
            ));
        };
        if !o.takes_value {
            push(o, OsString::new(), global)?;
            continue;
        }
        let v = match &b[i + 1..] {
            [] => next_value(o, rest, sub)?,
            [b'=', v @ ..] | v => OsStr::from_bytes(v).to_os_string(),
        };
        return push(o, v, global);
    }
    Ok(())
}

/// The argument after option `o`, its value.
fn next_value(
    o: &Opt,
    rest: &mut impl Iterator<Item = OsString>,
    sub: Option<&'static Sub>,
) -> Result<OsString, CliError> {
    match rest.next() {
        Some(v) if o.hyphen || v == "-" || !v.as_bytes().starts_with(b"-") => Ok(v),
        _ => Err(value_required(sub, o)),
    }
}

/// `help [SUBCOMMAND]`.
fn help_command(mut args: impl Iterator<Item = OsString>) -> CliError {
    let sub = match args.next() {
        None => None,
        Some(name) if name == "help" => None,
        Some(name) => match find_sub(name.as_bytes()) {
            Some(s) => Some(s),
            None => return unrecognized(&name),
        },
    };
    match args.next() {
        Some(extra) => unrecognized(&extra),
        None => CliError::help(sub),
    }
}

// ---------------------------------------------------------------- errors

/// Help or version text to print on stdout (exit 0), or a usage error for
/// stderr: exit 1, and 3 for an unknown subcommand, runc 1.1.5's codes
/// (urfave/cli's), not clap's 2.
#[derive(Debug)]
pub struct CliError {
    kind: ErrorKind,
    text: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Help,
    Version,
    Usage,
    /// An unknown subcommand (`ward nosuch`, `ward help nosuch`).
    UnknownCommand,
}

impl CliError {
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn exit_code(&self) -> i32 {
        match self.kind {
            ErrorKind::Help | ErrorKind::Version => 0,
            ErrorKind::Usage => 1,
            ErrorKind::UnknownCommand => 3,
        }
    }

    /// Prints the text where clap would (stdout for help and version,
    /// stderr for errors) and exits.
    pub fn exit(&self) -> ! {
        use std::io::Write;
        let _ = match self.kind {
            ErrorKind::Usage | ErrorKind::UnknownCommand => {
                std::io::stderr().write_all(self.text.as_bytes())
            }
            ErrorKind::Help | ErrorKind::Version => {
                let mut out = std::io::stdout().lock();
                out.write_all(self.text.as_bytes())
                    .and_then(|()| out.flush())
            }
        };
        std::process::exit(self.exit_code())
    }

    fn usage(sub: Option<&Sub>, msg: &str) -> CliError {
        CliError {
            kind: ErrorKind::Usage,
            text: format!(
                "error: {msg}\n\nUsage: {}\n\nFor more information, try '--help'.\n",
                usage(sub)
            ),
        }
    }

    fn help(sub: Option<&Sub>) -> CliError {
        CliError {
            kind: ErrorKind::Help,
            text: help(sub),
        }
    }

    fn version() -> CliError {
        CliError {
            kind: ErrorKind::Version,
            text: concat!("ward ", env!("CARGO_PKG_VERSION"), "\n").to_string(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for CliError {}

fn value_required(sub: Option<&Sub>, o: &Opt) -> CliError {
    CliError::usage(
        sub,
        &format!(
            "a value is required for '{}' but none was supplied",
            show(o)
        ),
    )
}

fn unexpected(sub: Option<&Sub>, arg: &OsStr) -> CliError {
    CliError::usage(
        sub,
        &format!("unexpected argument '{}' found", lossy(arg.as_bytes())),
    )
}

fn unrecognized(name: &OsStr) -> CliError {
    CliError {
        kind: ErrorKind::UnknownCommand,
        ..CliError::usage(
            None,
            &format!("unrecognized subcommand '{}'", lossy(name.as_bytes())),
        )
    }
}

fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// `--preserve-fds <PRESERVE_FDS>`, as in clap's messages.
fn show(o: &Opt) -> String {
    if !o.takes_value {
        return format!("--{}", o.long);
    }
    let name = o.long.to_ascii_uppercase().replace('-', "_");
    if o.equals_only {
        format!("--{}[=<{name}>]", o.long)
    } else {
        format!("--{} <{name}>", o.long)
    }
}
