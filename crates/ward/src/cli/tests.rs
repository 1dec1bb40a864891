use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use super::table::SUBS;
use super::*;

fn parse(args: &[&str]) -> Result<Cli, CliError> {
    Cli::try_parse_from(std::iter::once("ward").chain(args.iter().copied()))
}

#[track_caller]
fn ok(args: &[&str]) -> Cli {
    parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// The error's first line (asserting it is a usage error: exit 1, or 3
/// for an unknown subcommand, as runc 1.1.5 exits).
#[track_caller]
fn err(args: &[&str]) -> String {
    match parse(args) {
        Ok(c) => panic!("{args:?} parsed: {c:?}"),
        Err(e) => {
            let line = e.to_string().lines().next().unwrap_or_default().to_string();
            if line.starts_with("error: unrecognized subcommand") {
                assert_eq!(e.kind(), ErrorKind::UnknownCommand, "{args:?}: {e}");
                assert_eq!(e.exit_code(), 3);
            } else {
                assert_eq!(e.kind(), ErrorKind::Usage, "{args:?}: {e}");
                assert_eq!(e.exit_code(), 1);
            }
            line
        }
    }
}

#[track_caller]
fn exec(args: &[&str]) -> ExecArgs {
    match ok(args).command {
        Command::Exec(a) => *a,
        c => panic!("{c:?}"),
    }
}

#[track_caller]
fn update(args: &[&str]) -> UpdateArgs {
    match ok(args).command {
        Command::Update(a) => *a,
        c => panic!("{c:?}"),
    }
}

#[test]
fn create_and_run() {
    let c = ok(&["create", "x"]);
    let Command::Create(a) = c.command else {
        panic!()
    };
    assert_eq!(a.bundle, Path::new("."));
    assert_eq!(
        (a.preserve_fds, a.no_pivot, a.no_new_keyring),
        (0, false, false)
    );
    assert_eq!(
        (a.console_socket, a.pid_file, a.id.as_str()),
        (None, None, "x")
    );

    let c = ok(&[
        "create",
        "--bundle=/b",
        "--console-socket",
        "/s",
        "--pid-file=/p",
        "--no-pivot",
        "--no-new-keyring",
        "--preserve-fds",
        "3",
        "x",
    ]);
    let Command::Create(a) = c.command else {
        panic!()
    };
    assert_eq!(a.bundle, Path::new("/b"));
    assert_eq!(a.console_socket.as_deref(), Some(Path::new("/s")));
    assert_eq!(a.pid_file.as_deref(), Some(Path::new("/p")));
    assert!(a.no_pivot && a.no_new_keyring);
    assert_eq!(a.preserve_fds, 3);

    for args in [
        &["run", "-d", "--keep", "-b", "/b", "x"][..],
        &["run", "-b/b", "x", "--detach", "--keep"],
        &["run", "-db=/b", "--keep", "x"],
    ] {
        let Command::Run {
            create,
            detach,
            keep,
        } = ok(args).command
        else {
            panic!()
        };
        assert!(detach && keep, "{args:?}");
        assert_eq!(
            (create.bundle.as_path(), create.id.as_str()),
            (Path::new("/b"), "x")
        );
    }
    let Command::Run { detach, keep, .. } = ok(&["run", "x"]).command else {
        panic!()
    };
    assert!(!detach && !keep);
}

#[test]
fn id_only_commands() {
    for name in ["start", "state", "pause", "resume"] {
        let c = ok(&[name, "x"]).command;
        let id = match &c {
            Command::Start { id }
            | Command::State { id }
            | Command::Pause { id }
            | Command::Resume { id } => id,
            c => panic!("{c:?}"),
        };
        assert_eq!(id, "x");
        assert!(format!("{c:?}").to_lowercase().starts_with(name));
        assert_eq!(
            err(&[name]),
            "error: the following required arguments were not provided: <ID>"
        );
        assert_eq!(
            err(&[name, "x", "y"]),
            "error: unexpected argument 'y' found"
        );
    }
}

#[test]
fn kill_delete_list_spec_events_features() {
    assert!(matches!(
        ok(&["kill", "x"]).command,
        Command::Kill { all: false, ref id, ref signal } if id == "x" && signal == "SIGTERM"
    ));
    assert!(matches!(
        ok(&["kill", "-a", "x", "KILL"]).command,
        Command::Kill { all: true, ref signal, .. } if signal == "KILL"
    ));
    assert!(matches!(
        ok(&["kill", "x", "9", "--all"]).command,
        Command::Kill { all: true, .. }
    ));
    assert_eq!(
        err(&["kill", "x", "9", "y"]),
        "error: unexpected argument 'y' found"
    );

    assert!(matches!(
        ok(&["delete", "x"]).command,
        Command::Delete { force: false, .. }
    ));
    assert!(matches!(
        ok(&["delete", "-f", "x"]).command,
        Command::Delete { force: true, .. }
    ));
    assert!(matches!(
        ok(&["delete", "x", "--force"]).command,
        Command::Delete { force: true, .. }
    ));

    for (args, want) in [
        (&["list"][..], (ListFormat::Table, false)),
        (&["ps-all", "-q"], (ListFormat::Table, true)),
        (&["list", "-qf", "json"], (ListFormat::Json, true)),
        (&["list", "-fjson"], (ListFormat::Json, false)),
        (&["list", "--format=json"], (ListFormat::Json, false)),
    ] {
        let Command::List { format, quiet } = ok(args).command else {
            panic!()
        };
        assert_eq!((format, quiet), want, "{args:?}");
    }
    assert!(err(&["list", "--format", "yaml"])
        .starts_with("error: invalid value 'yaml' for '--format <FORMAT>'"));
    assert_eq!(err(&["list", "x"]), "error: unexpected argument 'x' found");

    assert!(matches!(
        ok(&["spec"]).command,
        Command::Spec { ref bundle, rootless: false } if bundle == Path::new(".")
    ));
    assert!(matches!(
        ok(&["spec", "--rootless", "-b", "/b"]).command,
        Command::Spec { ref bundle, rootless: true } if bundle == Path::new("/b")
    ));

    assert!(matches!(
        ok(&["events", "x"]).command,
        Command::Events { stats: false, ref interval, .. } if interval == "5s"
    ));
    assert!(matches!(
        ok(&["events", "--stats", "--interval=1s", "x"]).command,
        Command::Events { stats: true, ref interval, ref id } if interval == "1s" && id == "x"
    ));

    assert!(matches!(ok(&["features"]).command, Command::Features));
    assert_eq!(
        err(&["features", "x"]),
        "error: unexpected argument 'x' found"
    );
}

#[test]
fn update_flags() {
    let a = update(&["update", "x"]);
    assert_eq!(a.id, "x");
    assert!(a.memory.is_none() && a.cpu_quota.is_none() && a.resources.is_none());
    let a = update(&[
        "update",
        "-r",
        "-",
        "--blkio-weight",
        "500",
        "--cpu-period=100000",
        "--cpu-quota",
        "-1",
        "--cpu-burst",
        "1",
        "--cpu-rt-period",
        "2",
        "--cpu-rt-runtime",
        "-3",
        "--cpu-shares",
        "1024",
        "--cpu-idle",
        "1",
        "--cpuset-cpus",
        "0-1",
        "--cpuset-mems",
        "0",
        "--memory",
        "-1",
        "--memory-reservation",
        "1m",
        "--memory-swap=-1",
        "--kernel-memory-tcp",
        "-1",
        "--pids-limit",
        "-1",
        "x",
    ]);
    assert_eq!(a.resources.as_deref(), Some("-"));
    assert_eq!(a.blkio_weight, Some(500));
    assert_eq!(
        (a.cpu_period, a.cpu_quota, a.cpu_burst),
        (Some(100000), Some(-1), Some(1))
    );
    assert_eq!((a.cpu_rt_period, a.cpu_rt_runtime), (Some(2), Some(-3)));
    assert_eq!((a.cpu_shares, a.cpu_idle), (Some(1024), Some(1)));
    assert_eq!(
        (a.cpuset_cpus.as_deref(), a.cpuset_mems.as_deref()),
        (Some("0-1"), Some("0"))
    );
    assert_eq!(a.memory.as_deref(), Some("-1"));
    assert_eq!(a.memory_reservation.as_deref(), Some("1m"));
    assert_eq!(a.memory_swap.as_deref(), Some("-1"));
    assert_eq!(a.kernel_memory_tcp.as_deref(), Some("-1"));
    assert_eq!(a.pids_limit, Some(-1));
    // The old name of --cpu-share, and flags after the ID.
    assert_eq!(
        update(&["update", "--cpu-share", "2", "x"]).cpu_shares,
        Some(2)
    );
    assert_eq!(
        update(&["update", "x", "--cpu-quota", "-5"]).cpu_quota,
        Some(-5)
    );
}

#[test]
fn numbers() {
    assert_eq!(
        err(&["create", "--preserve-fds", "x", "c"]),
        "error: invalid value 'x' for '--preserve-fds <PRESERVE_FDS>': invalid digit found in string"
    );
    assert!(err(&["update", "--blkio-weight", "70000", "c"])
        .starts_with("error: invalid value '70000' for '--blkio-weight <BLKIO_WEIGHT>': "));
    assert!(err(&["update", "--cpu-quota", "1.5", "c"])
        .starts_with("error: invalid value '1.5' for '--cpu-quota <CPU_QUOTA>': "));
    assert!(err(&["update", "--cpu-period", "-1", "c"])
        .starts_with("error: a value is required for '--cpu-period <CPU_PERIOD>'"));
    assert!(err(&["exec", "-g", "x", "c"])
        .starts_with("error: invalid value 'x' for '--additional-gids <ADDITIONAL_GIDS>': "));
    assert!(err(&["create", "--preserve-fds=", "c"]).starts_with("error: invalid value ''"));
    assert!(
        err(&["create", "--preserve-fds", "99999999999", "c"]).starts_with("error: invalid value")
    );
}

#[test]
fn exec_flags_and_command() {
    let a = exec(&["exec", "x"]);
    assert_eq!(
        (a.id.as_str(), a.command.len(), a.preserve_fds),
        ("x", 0, 0)
    );
    let a = exec(&[
        "exec",
        "--console-socket",
        "/s",
        "--cwd=/w",
        "-e",
        "A=1",
        "--env=B=2",
        "-eC=3",
        "-t",
        "-u",
        "1:2",
        "-g",
        "5",
        "-g6",
        "--additional-gids=7",
        "-p",
        "/proc.json",
        "-d",
        "--pid-file",
        "/pid",
        "--process-label",
        "l",
        "--apparmor",
        "aa",
        "--no-new-privs",
        "--cap",
        "CAP_A",
        "-c",
        "CAP_B",
        "--preserve-fds",
        "2",
        "--ignore-paused",
        "x",
        "sh",
        "-c",
        "echo hi",
    ]);
    assert_eq!(a.console_socket.as_deref(), Some(Path::new("/s")));
    assert_eq!(a.cwd.as_deref(), Some("/w"));
    assert_eq!(a.env, ["A=1", "B=2", "C=3"]);
    assert!(a.tty && a.detach && a.no_new_privs && a.ignore_paused);
    assert_eq!(a.user.as_deref(), Some("1:2"));
    assert_eq!(a.additional_gids, [5, 6, 7]);
    assert_eq!(a.process.as_deref(), Some(Path::new("/proc.json")));
    assert_eq!(a.pid_file.as_deref(), Some(Path::new("/pid")));
    assert_eq!(a.process_label.as_deref(), Some("l"));
    assert_eq!(a.apparmor.as_deref(), Some("aa"));
    assert_eq!(a.cap, ["CAP_A", "CAP_B"]);
    assert_eq!(a.preserve_fds, 2);
    assert_eq!(a.command, ["sh", "-c", "echo hi"]);

    // Clusters of short flags, and a value glued to the last one.
    let a = exec(&["exec", "-dt", "x", "sh"]);
    assert!(a.detach && a.tty);
    let a = exec(&["exec", "-tu0", "x", "sh"]);
    assert!(a.tty);
    assert_eq!(a.user.as_deref(), Some("0"));
    assert_eq!(exec(&["exec", "-e=A=B", "x"]).env, ["A=B"]);
}

#[test]
fn trailing_arguments_are_verbatim() {
    for (args, want) in [
        (
            &["exec", "x", "ls", "-l", "--all"][..],
            &["ls", "-l", "--all"][..],
        ),
        (&["exec", "x", "--tty", "sh"], &["--tty", "sh"]),
        (&["exec", "x", "--root", "/r"], &["--root", "/r"]),
        (&["exec", "x", "-1"], &["-1"]),
        (&["exec", "x", "--", "sh", "-c"], &["sh", "-c"]),
        (&["exec", "x", "sh", "--", "y"], &["sh", "--", "y"]),
        (&["exec", "--", "x", "-c"], &["-c"]),
        (&["exec", "x", "--help"], &["--help"]),
    ] {
        let a = exec(args);
        assert_eq!(a.id, "x", "{args:?}");
        assert_eq!(a.command, want, "{args:?}");
        assert!(!a.tty);
    }
    assert_eq!(ok(&["exec", "x", "--root", "/r"]).root, None);

    for (args, format, want) in [
        (&["ps", "x"][..], ListFormat::Table, &[][..]),
        (&["ps", "x", "-ef"], ListFormat::Table, &["-ef"]),
        (
            &["ps", "-f", "json", "x", "aux"],
            ListFormat::Json,
            &["aux"],
        ),
        (
            &["ps", "x", "--format", "json"],
            ListFormat::Table,
            &["--format", "json"],
        ),
        (
            &["ps", "x", "--", "-o", "pid"],
            ListFormat::Table,
            &["-o", "pid"],
        ),
        (&["ps", "--", "x", "-o"], ListFormat::Table, &["-o"]),
    ] {
        let Command::Ps {
            format: f,
            id,
            ps_args,
        } = ok(args).command
        else {
            panic!()
        };
        assert_eq!((f, id.as_str()), (format, "x"), "{args:?}");
        assert_eq!(ps_args, want, "{args:?}");
    }
}

#[test]
fn globals_before_and_after_the_subcommand() {
    let c = ok(&[
        "--root",
        "/r",
        "--log=/l",
        "--log-format",
        "json",
        "--debug",
        "state",
        "x",
    ]);
    assert_eq!(c.root.as_deref(), Some(Path::new("/r")));
    assert_eq!(c.log.as_deref(), Some(Path::new("/l")));
    assert_eq!((c.log_format, c.debug), (LogFormat::Json, true));
    assert_eq!(c.state_root(), Path::new("/r"));

    let c = ok(&[
        "state",
        "--root=/r",
        "x",
        "--log",
        "/l",
        "--log-format=json",
        "--debug",
    ]);
    assert_eq!(c.root.as_deref(), Some(Path::new("/r")));
    assert_eq!(c.log.as_deref(), Some(Path::new("/l")));
    assert_eq!((c.log_format, c.debug), (LogFormat::Json, true));

    let c = ok(&["list"]);
    assert_eq!(
        (c.root, c.log, c.log_format, c.debug),
        (None, None, LogFormat::Text, false)
    );
    assert_eq!((c.systemd_cgroup, c.rootless, c.criu), (false, None, None));

    // After the subcommand wins, as it did with clap.
    assert_eq!(
        ok(&["--root", "/a", "list", "--root", "/b"]).root,
        Some(PathBuf::from("/b"))
    );
    // Given twice, the last wins, as with Go's flag package (runc's).
    assert_eq!(
        ok(&["--root", "/a", "--root", "/b", "list"]).root,
        Some(PathBuf::from("/b"))
    );
    // One dash for a long name, as Go's flag package takes it.
    assert_eq!(ok(&["-root", "/a", "list"]).root, Some(PathBuf::from("/a")));
    assert_eq!(ok(&["-root=/a", "list"]).root, Some(PathBuf::from("/a")));
    assert_eq!(ok(&["list", "-root", "/a"]).root, Some(PathBuf::from("/a")));
    assert!(ok(&["-debug", "list"]).debug);
    // A flag takes Go's booleans after '='.
    for (v, set) in [
        ("true", true),
        ("1", true),
        ("T", true),
        ("false", false),
        ("0", false),
        ("F", false),
    ] {
        assert_eq!(ok(&[&format!("--debug={v}"), "list"]).debug, set, "{v}");
    }
    assert!(!ok(&["--debug", "--debug=false", "list"]).debug);
    assert!(ok(&["--debug=false", "--debug", "list"]).debug);
    assert!(err(&["--debug=maybe", "list"]).contains("want true or false"));

    // Accepted for runc compatibility.
    let c = ok(&["--systemd-cgroup", "--criu", "/c", "--rootless", "list"]);
    assert!(c.systemd_cgroup);
    assert_eq!(c.criu.as_deref(), Some(Path::new("/c")));
    assert_eq!(c.rootless.as_deref(), Some("true"));
    assert_eq!(
        ok(&["--rootless=false", "list"]).rootless.as_deref(),
        Some("false")
    );
    assert_eq!(
        ok(&["list", "--systemd-cgroup", "--criu=/c"])
            .criu
            .as_deref(),
        Some(Path::new("/c"))
    );
    // --rootless takes a value only with '=' and only before the subcommand.
    assert_eq!(
        err(&["--rootless", "true", "list"]),
        "error: unrecognized subcommand 'true'"
    );
    assert_eq!(
        err(&["state", "--rootless", "x"]),
        "error: unexpected argument '--rootless' found"
    );
    assert!(matches!(
        ok(&["--rootless", "spec"]).command,
        Command::Spec {
            rootless: false,
            ..
        }
    ));

    assert!(err(&["--log-format", "xml", "list"])
        .starts_with("error: invalid value 'xml' for '--log-format <LOG_FORMAT>'"));
    assert!(err(&["--debug=yes", "list"])
        .starts_with("error: invalid value 'yes' for '--debug': want true or false"));
}

#[test]
fn usage_errors() {
    assert_eq!(
        err(&["--bogus"]),
        "error: unexpected argument '--bogus' found"
    );
    assert_eq!(
        err(&["state", "--bogus", "x"]),
        "error: unexpected argument '--bogus' found"
    );
    assert_eq!(
        err(&["state", "-z", "x"]),
        "error: unexpected argument '-z' found"
    );
    assert_eq!(
        err(&["exec", "-tz", "x"]),
        "error: unexpected argument '-z' found"
    );
    assert_eq!(err(&["bogus"]), "error: unrecognized subcommand 'bogus'");
    assert_eq!(
        err(&["--root"]),
        "error: a value is required for '--root <ROOT>' but none was supplied"
    );
    assert_eq!(
        err(&["list", "--root="]),
        "error: a value is required for '--root <ROOT>' but none was supplied"
    );
    assert_eq!(
        err(&["create", "--bundle", "--no-pivot", "x"]),
        "error: a value is required for '--bundle <BUNDLE>' but none was supplied"
    );
    assert!(err(&["exec", "-e"]).starts_with("error: a value is required for '--env <ENV>'"));
    assert_eq!(
        err(&["exec", "-t"]),
        "error: the following required arguments were not provided: <ID>"
    );
    assert_eq!(
        err(&["state", "--"]),
        "error: the following required arguments were not provided: <ID>"
    );
    match ok(&["create", "-b", "a", "-b", "b", "x"]).command {
        Command::Create(a) => assert_eq!(a.bundle, PathBuf::from("b")),
        c => panic!("{c:?}"),
    }
    match ok(&["run", "-detach", "--detach=false", "-bundle", "b", "x"]).command {
        Command::Run { detach, create, .. } => {
            assert!(!detach);
            assert_eq!(create.bundle, PathBuf::from("b"));
        }
        c => panic!("{c:?}"),
    }
    match ok(&["exec", "-tty", "-cwd=/w", "x", "sh"]).command {
        Command::Exec(a) => assert!(a.tty && a.cwd.as_deref() == Some("/w")),
        c => panic!("{c:?}"),
    }
    assert_eq!(
        err(&["--", "state", "x"]),
        "error: unexpected argument 'state' found"
    );
    // No subcommand: the help, exit 0 (runc prints its help too).
    for args in [&[][..], &["--debug"]] {
        let e = parse(args).unwrap_err();
        assert_eq!((e.kind(), e.exit_code()), (ErrorKind::Help, 0), "{args:?}");
        assert!(e.to_string().contains("Usage: ward"), "{e}");
    }
    // The usage line names the subcommand.
    let e = parse(&["state"]).unwrap_err().to_string();
    assert!(e.contains("\nUsage: ward state [OPTIONS] <ID>\n"), "{e}");
}

#[test]
fn double_dash_ends_options() {
    assert!(matches!(ok(&["state", "--", "-x"]).command, Command::State { ref id } if id == "-x"));
    assert!(matches!(ok(&["state", "--", "x"]).command, Command::State { ref id } if id == "x"));
    assert!(
        matches!(ok(&["kill", "--", "x", "-9"]).command, Command::Kill { ref signal, .. } if signal == "-9")
    );
    // '-' alone is a value, not an option.
    assert_eq!(
        update(&["update", "-r", "-", "x"]).resources.as_deref(),
        Some("-")
    );
    assert!(matches!(ok(&["state", "-"]).command, Command::State { ref id } if id == "-"));
}

#[test]
fn version_and_help() {
    for args in [&["--version"][..], &["-V"], &["--debug", "-V"]] {
        let e = parse(args).unwrap_err();
        assert_eq!((e.kind(), e.exit_code()), (ErrorKind::Version, 0));
        assert_eq!(
            e.to_string(),
            format!("ward {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
    assert_eq!(
        err(&["state", "--version"]),
        "error: unexpected argument '--version' found"
    );

    let top = parse(&["--help"]).unwrap_err();
    assert_eq!((top.kind(), top.exit_code()), (ErrorKind::Help, 0));
    let top = top.to_string();
    for s in SUBS {
        assert!(
            top.contains(&format!("\n  {} ", s.name)),
            "{} missing:\n{top}",
            s.name
        );
    }
    for o in [
        "--root <ROOT>",
        "--log <LOG>",
        "--log-format <LOG_FORMAT>",
        "--debug",
        "-V, --version",
    ] {
        assert!(top.contains(o), "{o} missing:\n{top}");
    }
    assert!(
        !top.contains("systemd-cgroup") && top.contains("--criu <CRIU>"),
        "{top}"
    );
    assert_eq!(parse(&["-h"]).unwrap_err().to_string(), top);
    assert_eq!(parse(&["help"]).unwrap_err().to_string(), top);

    for s in SUBS {
        let h = parse(&["help", s.name]).unwrap_err();
        assert_eq!(h.kind(), ErrorKind::Help);
        let h = h.to_string();
        assert!(h.starts_with(s.about), "{h}");
        assert!(
            h.contains(&format!("Usage: ward {} [OPTIONS]", s.name)),
            "{h}"
        );
        assert!(
            h.contains("--root <ROOT>") && h.contains("-h, --help"),
            "{h}"
        );
        for o in s.opts.iter().flat_map(|t| t.iter()) {
            assert!(
                h.contains(&format!("--{}", o.long)),
                "{} missing:\n{h}",
                o.long
            );
        }
        assert_eq!(parse(&[s.name, "--help"]).unwrap_err().to_string(), h);
        assert_eq!(parse(&[s.name, "-h"]).unwrap_err().to_string(), h);
    }
    let h = parse(&["help", "exec"]).unwrap_err().to_string();
    assert!(
        h.contains("-e, --env <ENV>") && h.contains("[default: 0]"),
        "{h}"
    );
    assert!(parse(&["help", "ps-all"])
        .unwrap_err()
        .to_string()
        .starts_with("List containers"));
    assert_eq!(
        err(&["help", "bogus"]),
        "error: unrecognized subcommand 'bogus'"
    );
    assert_eq!(
        err(&["help", "list", "x"]),
        "error: unrecognized subcommand 'x'"
    );
}

#[test]
fn paths_need_not_be_utf8() {
    let bad = OsString::from_vec(vec![b'/', 0xff, 0xfe]);
    let args = [
        OsString::from("ward"),
        OsString::from("--root"),
        bad.clone(),
        OsString::from("create"),
        OsString::from("-b"),
        bad.clone(),
        OsString::from("x"),
    ];
    let c = Cli::try_parse_from(args).unwrap();
    assert_eq!(c.root.as_deref(), Some(Path::new(&bad)));
    let Command::Create(a) = c.command else {
        panic!()
    };
    assert_eq!(a.bundle, Path::new(&bad));
    // Other values are refused, cleanly.
    let e = Cli::try_parse_from([OsString::from("ward"), OsString::from("state"), bad.clone()])
        .unwrap_err();
    assert!(e.to_string().starts_with("error: invalid value"), "{e}");
    let e = Cli::try_parse_from([OsString::from("ward"), bad]).unwrap_err();
    assert!(
        e.to_string().starts_with("error: unrecognized subcommand"),
        "{e}"
    );
}

/// Every combination of a few tricky arguments parses or errors; none panics.
#[test]
fn no_panic_on_odd_input() {
    let atoms: Vec<OsString> = [
        "",
        "-",
        "--",
        "-=",
        "--=",
        "=",
        "-x",
        "-dt",
        "-e",
        "-e=",
        "-g",
        "--root",
        "--root=",
        "--rootless",
        "--rootless=",
        "--help=x",
        "-h",
        "-V",
        "exec",
        "ps",
        "kill",
        "help",
        "x",
        "-1",
        "--cpu-quota",
        "ps-all",
        "-\u{e9}",
        "\u{e9}",
    ]
    .iter()
    .map(OsString::from)
    .chain([
        OsString::from_vec(vec![b'-', 0xff]),
        OsString::from_vec(vec![b'-', b'-', 0xff]),
    ])
    .collect();
    let n = atoms.len();
    for i in 0..n {
        for j in 0..n {
            for k in 0..n {
                let args = std::iter::once(OsString::from("ward"))
                    .chain([&atoms[i], &atoms[j], &atoms[k]].map(Clone::clone));
                if let Err(e) = Cli::try_parse_from(args) {
                    let _ = e.to_string();
                }
            }
        }
    }
    for sub in ["update", "exec", "ps", "create", "kill"] {
        for i in 0..n {
            for j in 0..n {
                let args = ["ward", sub]
                    .map(OsString::from)
                    .into_iter()
                    .chain([&atoms[i], &atoms[j]].map(Clone::clone));
                let _ = Cli::try_parse_from(args);
            }
        }
    }
}
