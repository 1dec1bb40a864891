//! `spec`, `features`, global options, bundles made by `spec` (ward's and
//! runc's), and the console socket.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn load(p: &Path) -> Value {
    let text = fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}\n{text}", p.display()))
}

/// Makes `dir/config.json` non-interactive and runnable with busybox.
fn make_runnable(dir: &Path, script: &str) {
    let mut cfg = load(&dir.join("config.json"));
    cfg["process"]["terminal"] = json!(false);
    cfg["process"]["args"] = json!(["sh", "-c", script]);
    fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&cfg).unwrap(),
    )
    .unwrap();
    build_rootfs(&dir.join("rootfs"));
}

#[test]
fn spec_writes_runc_like_default_config() {
    let ctx = Ctx::new("spec");
    let dir = ctx.dir.join("bundle");
    fs::create_dir(&dir).unwrap();
    ctx.rt(&["spec", "--bundle", dir.to_str().unwrap()])
        .assert_ok();
    let cfg = load(&dir.join("config.json"));
    assert!(
        cfg["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")),
        "{cfg}"
    );
    assert_eq!(cfg["process"]["args"], json!(["sh"]), "args");
    assert_eq!(cfg["process"]["terminal"], json!(true), "terminal");
    assert_eq!(cfg["process"]["cwd"], json!("/"), "cwd");
    assert_eq!(cfg["root"]["path"], json!("rootfs"), "root.path");
    assert_eq!(cfg["root"]["readonly"], json!(true), "root.readonly");
    let ns: BTreeSet<String> = cfg["linux"]["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .filter_map(|n| n["type"].as_str().map(str::to_string))
        .collect();
    for t in ["pid", "network", "ipc", "uts", "mount"] {
        assert!(ns.contains(t), "namespace {t} missing: {ns:?}");
    }
    let dests: BTreeSet<String> = cfg["mounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .filter_map(|m| m["destination"].as_str().map(str::to_string))
        .collect();
    for d in [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
        "/sys/fs/cgroup",
    ] {
        assert!(dests.contains(d), "mount {d} missing: {dests:?}");
    }
    assert!(
        !strings(&cfg["linux"]["maskedPaths"]).is_empty(),
        "maskedPaths empty"
    );
    assert!(
        !strings(&cfg["linux"]["readonlyPaths"]).is_empty(),
        "readonlyPaths empty"
    );
    assert!(
        strings(&cfg["linux"]["maskedPaths"]).contains("/proc/kcore"),
        "maskedPaths lacks /proc/kcore"
    );
    assert!(
        strings(&cfg["linux"]["readonlyPaths"]).contains("/proc/sys"),
        "readonlyPaths lacks /proc/sys"
    );
    // spec writes no state.
    assert!(!ctx.root.join("bundle").exists());
}

#[test]
fn spec_rootless_has_user_namespace() {
    let ctx = Ctx::new("specrl");
    let dir = ctx.dir.join("bundle");
    fs::create_dir(&dir).unwrap();
    ctx.rt(&["spec", "--rootless", "--bundle", dir.to_str().unwrap()])
        .assert_ok();
    let cfg = load(&dir.join("config.json"));
    let ns: Vec<&str> = cfg["linux"]["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .filter_map(|n| n["type"].as_str())
        .collect();
    assert!(ns.contains(&"user"), "no user namespace: {ns:?}");
    for key in ["uidMappings", "gidMappings"] {
        let maps = cfg["linux"][key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} missing"));
        assert!(!maps.is_empty(), "{key} empty");
        assert!(
            maps.iter().any(|m| m["containerID"] == 0),
            "{key} does not map 0"
        );
    }
}

#[test]
fn run_bundle_made_by_spec() {
    let ctx = Ctx::new("runspec");
    let id = ctx.id("runspec");
    let dir = ctx.dir.join("bundle");
    fs::create_dir(&dir).unwrap();
    ctx.rt(&["spec", "--bundle", dir.to_str().unwrap()])
        .assert_ok();
    make_runnable(
        &dir,
        "echo SPEC-BUNDLE-OK; cat /etc/marker; touch /x 2>/dev/null || echo RO-ROOT",
    );
    let out = ctx
        .spawn(
            &["run", "--bundle", dir.to_str().unwrap(), &id],
            RUN_TIMEOUT,
        )
        .wait();
    out.assert_ok();
    assert!(out.stdout.contains("SPEC-BUNDLE-OK"), "{}", out.describe());
    assert!(
        out.stdout.contains("rootfs-etc-marker"),
        "{}",
        out.describe()
    );
    assert!(
        out.stdout.contains("RO-ROOT"),
        "spec's readonly root is writable\n{}",
        out.describe()
    );
    ctx.assert_nothing_left(&[&id]);
}

fn find_runc() -> Option<PathBuf> {
    [
        "/usr/sbin/runc",
        "/usr/bin/runc",
        "/usr/local/sbin/runc",
        "/usr/local/bin/runc",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

#[test]
fn run_bundle_made_by_runc_spec() {
    let Some(runc) = find_runc() else {
        eprintln!("SKIP: runc not installed");
        return;
    };
    let ctx = Ctx::new("runcspec");
    let id = ctx.id("runcspec");
    let dir = ctx.dir.join("bundle");
    fs::create_dir(&dir).unwrap();
    let mut cmd = Command::new(&runc);
    cmd.arg("spec").current_dir(&dir);
    ctx.spawn_cmd(cmd, CMD_TIMEOUT).wait().assert_ok();
    make_runnable(&dir, "echo RUNC-SPEC-OK; hostname");
    let out = ctx
        .spawn(
            &["run", "--bundle", dir.to_str().unwrap(), &id],
            RUN_TIMEOUT,
        )
        .wait();
    out.assert_ok();
    assert!(out.stdout.contains("RUNC-SPEC-OK"), "{}", out.describe());
    assert!(
        out.stdout.contains("runc"),
        "hostname from runc's spec not set\n{}",
        out.describe()
    );
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn features_reports_runtime_spec_features() {
    let ctx = Ctx::new("features");
    let out = ctx.rt(&["features"]);
    out.assert_ok();
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("features is not JSON ({e})\n{}", out.describe()));
    for k in ["ociVersionMin", "ociVersionMax"] {
        assert!(
            v[k].as_str().is_some_and(|s| s.starts_with("1.")),
            "{k} missing or not 1.x: {v}"
        );
    }
    let ns = strings(&v["linux"]["namespaces"]);
    let mut want = vec!["pid", "network", "ipc", "uts", "mount", "user", "cgroup"];
    if testing_ward() {
        want.push("time");
    }
    for t in want {
        assert!(ns.contains(t), "features lacks namespace {t}: {ns:?}");
    }
    let caps = strings(&v["linux"]["capabilities"]);
    for c in ["CAP_SYS_ADMIN", "CAP_CHOWN", "CAP_NET_RAW"] {
        assert!(caps.contains(c), "features lacks {c}");
    }
    let opts = strings(&v["mountOptions"]);
    for o in ["ro", "nosuid", "nodev", "noexec", "bind", "rbind"] {
        assert!(opts.contains(o), "features lacks mount option {o}");
    }
}

#[test]
fn global_options_are_accepted() {
    let ctx = Ctx::new("globals");
    let log = ctx.dir.join("rt.log");
    let l = log.to_str().unwrap();
    ctx.rt(&["--log", l, "--log-format", "json", "list"])
        .assert_ok();
    ctx.rt(&["--log", l, "--log-format", "text", "--debug", "list"])
        .assert_ok();
    let id = ctx.id("globals");
    let out = ctx.rt(&["--log", l, "--log-format", "json", "state", &id]);
    out.assert_fail();
    let text = read_lossy(&log);
    for line in text.lines().filter(|l| l.starts_with('{')) {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "--log-format json wrote a non-JSON line: {line}"
        );
    }
}

#[test]
fn unknown_command_fails() {
    let ctx = Ctx::new("unkcmd");
    let out = ctx.rt(&["frobnicate", "x"]);
    // runc 1.1.5 (urfave/cli) exits 3 for an unknown command.
    out.assert_code(3);
    ctx.assert_nothing_left(&[]);
}

/// Usage errors exit as runc 1.1.5's do (checked against Debian's
/// /usr/sbin/runc): 1 for an unknown flag, a missing or extra argument
/// and a flag without its value; no subcommand at all prints the help on
/// stdout and exits 0.
#[test]
fn usage_errors_exit_as_runc_does() {
    let ctx = Ctx::new("usage");
    for args in [
        &["--bogus", "list"][..],
        &["list", "--bogus"],
        &["state"],
        &["delete"],
        &["kill"],
        &["exec"],
        &["state", "a", "b"],
        &["update", "--memory"],
        &["--root"],
    ] {
        let out = ctx.rt(args);
        out.assert_code(1);
        assert!(
            !out.stderr.trim().is_empty(),
            "{args:?}: {}",
            out.describe()
        );
    }
    for args in [&[][..], &["--debug"]] {
        let out = ctx.rt(args);
        out.assert_code(0);
        assert!(
            out.stdout.contains("USAGE") || out.stdout.contains("Usage"),
            "{}",
            out.describe()
        );
    }
    ctx.assert_nothing_left(&[]);
}

#[test]
fn terminal_without_console_socket_is_refused() {
    let ctx = Ctx::new("ttynosock");
    let id = ctx.id("ttynosock");
    let mut b = ctx.bundle("b");
    b.process()["terminal"] = json!(true);
    b.long_running("");
    let out = ctx.create(&b, &id);
    out.assert_fail();
    if testing_ward() {
        out.assert_error_line("create", &id);
    }
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn console_socket_receives_pty_master() {
    let ctx = Ctx::new("console");
    let id = ctx.id("console");
    let sock_path = ctx.dir.join("console.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    let mut b = ctx.bundle("b");
    b.process()["terminal"] = json!(true);
    b.long_running(
        "if [ -t 0 ] && [ -t 1 ] && [ -t 2 ]; then echo TTY-OK; fi; echo \"TTYNAME=$(tty)\"; \
         echo HELLO-FROM-PTY",
    );
    b.write();

    let master = receive_console_master(&listener, || {
        ctx.rt(&[
            "create",
            "--bundle",
            b.path(),
            "--console-socket",
            sock_path.to_str().unwrap(),
            &id,
        ])
        .assert_ok();
    });
    let pid = ctx.pid_of(&id);
    ctx.start_ok(&id);
    let text = read_pty_until(&master, READY, WAIT_TIMEOUT);
    assert!(text.contains("HELLO-FROM-PTY"), "pty output: {text:?}");
    assert!(
        text.contains("TTY-OK"),
        "stdio of the container is not a tty: {text:?}"
    );
    let tty = kv(&text.replace('\r', ""), "TTYNAME");
    assert!(tty.starts_with("/dev/pts/"), "tty inside: {tty}");
    // From the host: fds 0-2 of the container process are that terminal.
    wait_exec(pid, &["sleep", "1000"]);
    for fd in 0..3 {
        let l = fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
        assert_eq!(l.to_string_lossy(), tty, "fd {fd} of the container process");
    }
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}
