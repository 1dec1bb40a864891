//! `exec`: a new process in a running container. It joins every namespace
//! and the cgroup of the container, inherits its security settings (caps,
//! rlimits, no_new_privs, seccomp) unless told otherwise, and the flags
//! runc has (--process, --tty/--console-socket, --cwd, --env, --user,
//! --additional-gids, --cap, --no-new-privs, --detach, --pid-file,
//! --preserve-fds, --ignore-paused) do what runc's do.
//!
//! Behaviour checked against runc 1.1.5 (`WARD_TEST_BIN=/usr/sbin/runc`):
//! a failed exec (missing binary, bad process.json, unknown or stopped
//! container, paused container) exits 255 with one error line; exec into a
//! *created* container is allowed and leaves it created.

mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// `exec [flags] ID argv…` with [`CMD_TIMEOUT`].
#[track_caller]
fn exec(ctx: &Ctx, id: &str, flags: &[&str], argv: &[&str]) -> Out {
    let mut args = vec!["exec"];
    args.extend_from_slice(flags);
    args.push(id);
    args.extend_from_slice(argv);
    ctx.rt(&args)
}

/// `exec --detach --pid-file F [flags] ID argv…`: asserts success, returns
/// the host pid from the pid file once that process has exec'd `argv`.
#[track_caller]
fn exec_detached(ctx: &Ctx, id: &str, flags: &[&str], argv: &[&str]) -> i32 {
    static N: AtomicUsize = AtomicUsize::new(0);
    let pid_file = ctx
        .dir
        .join(format!("exec-{}.pid", N.fetch_add(1, Ordering::SeqCst)));
    let pf = pid_file.to_str().unwrap().to_string();
    let mut all = vec!["--detach", "--pid-file", pf.as_str()];
    all.extend_from_slice(flags);
    exec(ctx, id, &all, argv).assert_ok();
    let text = fs::read_to_string(&pid_file)
        .unwrap_or_else(|e| panic!("pid file {}: {e}", pid_file.display()));
    let pid: i32 = text
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("pid file holds {text:?}: {e}"));
    assert!(pid > 0, "pid file holds {text:?}");
    wait_exec(pid, argv);
    pid
}

/// A running container idling as `sleep 1000`; returns its init pid.
#[track_caller]
fn long_container(ctx: &Ctx, b: &mut Bundle, id: &str) -> i32 {
    b.long_running("");
    ctx.start_long(b, id).0
}

/// Asserts that nothing but `expected` runs in the container of `init`
/// (waiting a little for processes that are on their way out).
#[track_caller]
fn assert_only_pids(init: i32, expected: &[i32]) {
    let mut last = Vec::new();
    let ok = wait_until(Duration::from_secs(5), || {
        last = pids_in_pidns_of(init)
            .into_iter()
            .filter(|p| pid_alive(*p) && !expected.contains(p))
            .collect();
        last.is_empty()
    });
    let desc: Vec<String> = last
        .iter()
        .map(|p| format!("{p} {:?}", proc_cmdline(*p)))
        .collect();
    assert!(ok, "unexpected processes in the container: {desc:?}");
}

#[test]
fn exec_joins_every_namespace_and_the_cgroup() {
    let ctx = Ctx::new("exns");
    let id = ctx.id("exns");
    let mut b = ctx.bundle("b");
    b.add_namespace(json!({"type": "cgroup"}));
    let init = long_container(&ctx, &mut b, &id);
    let pid = exec_detached(&ctx, &id, &[], &["sleep", "1001"]);
    assert_ne!(pid, init);

    let mut kinds: Vec<String> = fs::read_dir(format!("/proc/{init}/ns"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    kinds.sort();
    for must in ["cgroup", "ipc", "mnt", "net", "pid", "uts"] {
        assert!(kinds.iter().any(|k| k == must), "no {must} in {kinds:?}");
    }
    for ns in &kinds {
        assert_eq!(
            ns_link(&pid.to_string(), ns),
            ns_link(&init.to_string(), ns),
            "namespace {ns} of the exec'd process differs from the container's"
        );
    }
    // The container's namespaces are not the host's (else the comparison
    // above proves nothing).
    for ns in ["ipc", "mnt", "net", "pid", "uts", "cgroup"] {
        assert_ne!(ns_link(&pid.to_string(), ns), ns_link("self", ns), "{ns}");
    }
    // Same cgroup, same root directory, cwd inside the container.
    let cg = |p: i32| fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap();
    assert_eq!(cg(pid), cg(init), "cgroup of the exec'd process");
    use std::os::unix::fs::MetadataExt;
    let root = |p: i32| {
        let m = fs::metadata(format!("/proc/{p}/root/")).unwrap();
        (m.dev(), m.ino())
    };
    assert_eq!(
        root(pid),
        root(init),
        "root directory of the exec'd process"
    );
    let rootfs = fs::metadata(b.rootfs()).unwrap();
    assert_eq!(root(pid), (rootfs.dev(), rootfs.ino()));
    // In the container's pid namespace: two NSpid levels, not pid 1.
    let nspid = status_field(pid, "NSpid").unwrap();
    let levels: Vec<&str> = nspid.split_whitespace().collect();
    assert_eq!(levels.len(), 2, "NSpid {nspid}");
    assert_ne!(levels[1], "1", "NSpid {nspid}");
    // The hostname is the container's (uts joined, seen from inside).
    let out = exec(&ctx, &id, &[], &["hostname"]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "ward-test", "{}", out.describe());
}

#[test]
fn exec_inherits_caps_rlimits_no_new_privs() {
    let ctx = Ctx::new("exsec");
    let id = ctx.id("exsec");
    let mut b = ctx.bundle("b");
    let set = ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_SETGID"];
    b.process()["capabilities"] = json!({"bounding": set, "permitted": set, "effective": set});
    b.process()["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}]);
    b.process()["noNewPrivileges"] = json!(true);
    let init = long_container(&ctx, &mut b, &id);
    let pid = exec_detached(&ctx, &id, &[], &["sleep", "1001"]);
    for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        let (g, w) = (
            parse_hex_mask(&status_field(pid, k).unwrap()),
            parse_hex_mask(&status_field(init, k).unwrap()),
        );
        assert_eq!(
            g,
            w,
            "{k}: exec'd {:?}, init {:?}",
            cap_names(g),
            cap_names(w)
        );
    }
    assert_eq!(
        parse_hex_mask(&status_field(pid, "CapEff").unwrap()),
        cap_mask(&set)
    );
    assert_eq!(status_field(pid, "NoNewPrivs").as_deref(), Some("1"));
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let row: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()["Max open files".len()..]
        .split_whitespace()
        .collect();
    assert_eq!(&row[..2], ["123", "456"], "{limits}");
}

#[test]
fn exec_cap_and_no_new_privs_flags() {
    let ctx = Ctx::new("excap");
    let id = ctx.id("excap");
    let mut b = ctx.bundle("b");
    let set = ["CAP_CHOWN", "CAP_KILL"];
    b.process()["capabilities"] = json!({"bounding": set, "permitted": set, "effective": set});
    b.process()["noNewPrivileges"] = json!(false);
    let init = long_container(&ctx, &mut b, &id);
    assert_eq!(status_field(init, "NoNewPrivs").as_deref(), Some("0"));

    // Plain exec: what the container has.
    let plain = exec_detached(&ctx, &id, &[], &["sleep", "1001"]);
    assert_eq!(status_field(plain, "NoNewPrivs").as_deref(), Some("0"));
    assert_eq!(
        parse_hex_mask(&status_field(plain, "CapEff").unwrap()),
        cap_mask(&set)
    );

    // --cap adds to the effective, permitted and bounding sets;
    // --no-new-privs sets the flag for this process only.
    let pid = exec_detached(
        &ctx,
        &id,
        &["--cap", "CAP_NET_RAW", "--no-new-privs"],
        &["sleep", "1002"],
    );
    let want = cap_mask(&["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"]);
    for k in ["CapPrm", "CapEff", "CapBnd"] {
        let g = parse_hex_mask(&status_field(pid, k).unwrap());
        assert_eq!(g, want, "{k}: got {:?}", cap_names(g));
    }
    assert_eq!(status_field(pid, "NoNewPrivs").as_deref(), Some("1"));
    // The container's own process is untouched.
    assert_eq!(status_field(init, "NoNewPrivs").as_deref(), Some("0"));
    assert_eq!(
        parse_hex_mask(&status_field(init, "CapBnd").unwrap()),
        cap_mask(&set)
    );
}

#[test]
fn exec_inherits_seccomp() {
    let ctx = Ctx::new("exscmp");
    let id = ctx.id("exscmp");
    let mut b = ctx.bundle("b");
    b.linux()["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    let init = long_container(&ctx, &mut b, &id);
    assert_eq!(status_field(init, "Seccomp").as_deref(), Some("2"));
    let pid = exec_detached(&ctx, &id, &[], &["sleep", "1001"]);
    assert_eq!(status_field(pid, "Seccomp").as_deref(), Some("2"));

    let out = exec(&ctx, &id, &[], &["mkdir", "/tmp/blocked"]);
    out.assert_fail();
    assert!(
        out.stderr.contains("Operation not permitted"),
        "{}",
        out.describe()
    );
    assert!(!b.rootfs().join("tmp/blocked").exists());
    // Other syscalls still work.
    exec(&ctx, &id, &[], &["touch", "/tmp/allowed"]).assert_ok();
    assert!(b.rootfs().join("tmp/allowed").exists());
}

#[test]
fn exec_uses_the_spec_of_create_not_the_bundle_now() {
    // The bundle's config.json may change or go after create (engines
    // rewrite and remove bundles): exec runs the container's own process,
    // with its seccomp profile, from the spec kept at create.
    let ctx = Ctx::new("exkept");
    let mut b = ctx.bundle("b");
    b.linux()["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    let config = b.dir.join("config.json");
    let target = b.rootfs().join("tmp/blocked");
    let blocked = |id: &str, what: &str| {
        let out = exec(&ctx, id, &[], &["mkdir", "/tmp/blocked"]);
        out.assert_fail();
        assert!(
            out.stderr.contains("Operation not permitted"),
            "{what}: mkdir was not refused by the container's seccomp profile\n{}",
            out.describe()
        );
        assert!(!target.exists(), "{what}");
    };

    // config.json edited after create: no seccomp, another program.
    let edited = ctx.id("exkept");
    long_container(&ctx, &mut b, &edited);
    let mut other = b.config.clone();
    other["linux"].as_object_mut().unwrap().remove("seccomp");
    other["process"]["args"] = json!(["false"]);
    fs::write(&config, serde_json::to_vec(&other).unwrap()).unwrap();
    blocked(&edited, "config.json edited");
    // config.json gone.
    let gone = ctx.id("exkept");
    long_container(&ctx, &mut b, &gone);
    fs::remove_file(&config).unwrap();
    blocked(&gone, "config.json removed");
    if testing_ward() {
        // A container made by a ward that kept no spec: exec reads the
        // bundle's config.json, as it always did.
        b.write();
        let old = ctx.id("exkept");
        long_container(&ctx, &mut b, &old);
        fs::remove_file(ctx.root.join(&old).join("config.json")).unwrap();
        blocked(&old, "no kept spec, bundle in place");
    }
}

#[test]
fn exec_exit_code_and_output() {
    let ctx = Ctx::new("excode");
    let id = ctx.id("excode");
    let mut b = ctx.bundle("b");
    let init = long_container(&ctx, &mut b, &id);

    let out = exec(
        &ctx,
        &id,
        &[],
        &["sh", "-c", "echo TO-STDOUT; echo TO-STDERR >&2; exit 7"],
    );
    out.assert_code(7);
    assert_eq!(out.stdout, "TO-STDOUT\n", "{}", out.describe());
    assert!(out.stderr.contains("TO-STDERR"), "{}", out.describe());

    exec(&ctx, &id, &[], &["true"]).assert_code(0);
    exec(&ctx, &id, &[], &["false"]).assert_code(1);
    // Killed by a signal: 128 + signal, like `run`.
    exec(&ctx, &id, &[], &["sh", "-c", "kill -KILL $$"]).assert_code(128 + libc::SIGKILL);

    // stdin is passed through as well (Proc::spawn gives /dev/null, so a
    // shell redirects it).
    let input = ctx.dir.join("stdin.txt");
    fs::write(&input, "FROM-STDIN\n").unwrap();
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("exec \"$@\" < \"$IN\"")
        .arg("sh")
        .arg(runtime_bin())
        .args(["--root", ctx.root.to_str().unwrap(), "exec", &id, "cat"])
        .env("IN", &input);
    let out = ctx.spawn_cmd(cmd, CMD_TIMEOUT).wait();
    out.assert_ok();
    assert_eq!(out.stdout, "FROM-STDIN\n", "{}", out.describe());

    // Foreground execs leave nothing behind in the container.
    assert_only_pids(init, &[init]);
    assert_eq!(ctx.status(&id).as_deref(), Some("running"));
}

#[test]
fn exec_cwd_env_user_groups() {
    let ctx = Ctx::new("exenv");
    let id = ctx.id("exenv");
    let mut b = ctx.bundle("b");
    b.process()["env"] = json!(["PATH=/bin:/sbin", "FOO=from-config", "BAR=from-config"]);
    b.process()["cwd"] = json!("/");
    fs::create_dir_all(b.rootfs().join("home/work")).unwrap();
    long_container(&ctx, &mut b, &id);

    let out = exec(
        &ctx,
        &id,
        &[
            "--cwd",
            "/home/work",
            "--env",
            "FOO=overridden",
            "--env",
            "NEW=added value",
        ],
        &[
            "sh",
            "-c",
            "echo CWD=$(pwd); echo ENV-BEGIN; env; echo ENV-END",
        ],
    );
    out.assert_ok();
    let t = &out.stdout;
    assert_eq!(kv(t, "CWD"), "/home/work", "{t}");
    let env: Vec<&str> = t
        .split_once("ENV-BEGIN\n")
        .and_then(|(_, r)| r.split_once("ENV-END"))
        .map(|(m, _)| m.lines().collect())
        .unwrap();
    let count = |prefix: &str| env.iter().filter(|l| l.starts_with(prefix)).count();
    assert!(env.contains(&"FOO=overridden"), "{env:?}");
    assert_eq!(count("FOO="), 1, "--env must replace, not add: {env:?}");
    assert!(env.contains(&"NEW=added value"), "{env:?}");
    // The rest comes from config.json's process.env.
    assert!(env.contains(&"BAR=from-config"), "{env:?}");
    assert!(env.contains(&"PATH=/bin:/sbin"), "{env:?}");
    assert!(!env.iter().any(|l| l.starts_with("CARGO")), "{env:?}");
    // config.json sets no HOME: like runc, the user's home from the
    // container's /etc/passwd (root: /root).
    assert!(env.contains(&"HOME=/root"), "{env:?}");

    // Without --cwd: the container's cwd.
    let out = exec(&ctx, &id, &[], &["pwd"]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "/");

    // --user uid:gid and --additional-gids.
    let out = exec(
        &ctx,
        &id,
        &[
            "--user",
            "1000:1001",
            "--additional-gids",
            "5",
            "--additional-gids",
            "1002",
        ],
        &[
            "sh",
            "-c",
            "echo U=$(id -u); echo G=$(id -g); echo GS=$(id -G)",
        ],
    );
    out.assert_ok();
    let t = &out.stdout;
    assert_eq!(kv(t, "U"), "1000", "{t}");
    assert_eq!(kv(t, "G"), "1001", "{t}");
    let gs = kv(t, "GS");
    let gs: Vec<&str> = gs.split_whitespace().collect();
    for g in ["5", "1002"] {
        assert!(gs.contains(&g), "id -G lacks {g}: {gs:?}");
    }
    assert!(!gs.contains(&"0"), "root group kept: {gs:?}");

    // From the host, on a detached process.
    let pid = exec_detached(&ctx, &id, &["--user", "1000:1000"], &["sleep", "1001"]);
    assert_eq!(status_field(pid, "Uid").unwrap(), "1000\t1000\t1000\t1000");
    assert_eq!(status_field(pid, "Gid").unwrap(), "1000\t1000\t1000\t1000");
    // A non-root user gets no capabilities (no ambient set configured).
    assert_eq!(parse_hex_mask(&status_field(pid, "CapEff").unwrap()), 0);

    // A cwd that does not exist fails.
    let out = exec(&ctx, &id, &["--cwd", "/no/such/dir"], &["true"]);
    out.assert_fail();
    out.assert_stderr_has_any(&["no such file or directory"]);
}

#[test]
fn exec_process_json() {
    let ctx = Ctx::new("exproc");
    let id = ctx.id("exproc");
    let mut b = ctx.bundle("b");
    b.process()["env"] = json!(["PATH=/bin", "ONLY_IN_CONFIG=1"]);
    fs::create_dir_all(b.rootfs().join("home/work")).unwrap();
    let init = long_container(&ctx, &mut b, &id);

    let set = ["CAP_KILL", "CAP_NET_RAW"];
    let process = json!({
        "terminal": false,
        "user": {"uid": 1000, "gid": 1001, "additionalGids": [1003]},
        "args": ["sh", "-c", "echo U=$(id -u) G=$(id -g); echo GS=$(id -G); echo CWD=$(pwd); \
                 echo FROMFILE=$FROMFILE; echo CONFIG=${ONLY_IN_CONFIG:-unset}; exec sleep 1000"],
        "env": ["PATH=/bin:/sbin", "FROMFILE=yes"],
        "cwd": "/home/work",
        "capabilities": {
            "bounding": set, "permitted": set, "effective": set,
            "inheritable": set, "ambient": set
        },
        "noNewPrivileges": true
    });
    let pfile = ctx.dir.join("process.json");
    fs::write(&pfile, serde_json::to_string_pretty(&process).unwrap()).unwrap();
    let pid_file = ctx.dir.join("p.pid");
    let out = exec(
        &ctx,
        &id,
        &[
            "--detach",
            "--pid-file",
            pid_file.to_str().unwrap(),
            "--process",
            pfile.to_str().unwrap(),
        ],
        &[],
    );
    out.assert_ok();
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The script echoes before it execs sleep: its output is complete.
    wait_exec(pid, &["sleep", "1000"]);
    let t = out.stdout_now();
    assert!(t.contains("U=1000 G=1001"), "{t}");
    assert!(kv(&t, "GS").split_whitespace().any(|g| g == "1003"), "{t}");
    assert_eq!(kv(&t, "CWD"), "/home/work", "{t}");
    assert_eq!(kv(&t, "FROMFILE"), "yes", "{t}");
    // The process object replaces config.json's process entirely.
    assert_eq!(kv(&t, "CONFIG"), "unset", "{t}");
    let m = cap_mask(&set);
    for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        let g = parse_hex_mask(&status_field(pid, k).unwrap());
        assert_eq!(g, m, "{k}: {:?}", cap_names(g));
    }
    assert_eq!(status_field(pid, "NoNewPrivs").as_deref(), Some("1"));
    assert_eq!(
        ns_link(&pid.to_string(), "pid"),
        ns_link(&init.to_string(), "pid")
    );
}

#[test]
fn exec_bad_process_json_fails_cleanly() {
    let ctx = Ctx::new("exbadp");
    let id = ctx.id("exbadp");
    let mut b = ctx.bundle("b");
    let init = long_container(&ctx, &mut b, &id);

    let bad = ctx.dir.join("malformed-process.json");
    fs::write(&bad, "{\"args\": [\"true\"], bad").unwrap();
    let missing = ctx.dir.join("missing-process.json");
    let no_args = ctx.dir.join("noargs-process.json");
    fs::write(
        &no_args,
        r#"{"cwd": "/", "user": {"uid": 0, "gid": 0}, "args": []}"#,
    )
    .unwrap();
    for (file, name_required) in [(&bad, testing_ward()), (&missing, true), (&no_args, false)] {
        let out = exec(&ctx, &id, &["--process", file.to_str().unwrap()], &[]);
        out.assert_fail();
        // runc 1.1.5 names the file only when it cannot open it; for a
        // malformed one it prints just the JSON error ("exec failed: invalid
        // character 'b' looking for beginning of object key string"). ward's
        // contract is an error line naming the file.
        if name_required {
            assert!(
                out.stderr.contains(file.to_str().unwrap()),
                "the error does not name {}\n{}",
                file.display(),
                out.describe()
            );
        }
        if testing_ward() {
            out.assert_error_line("exec", &id);
        }
        assert_only_pids(init, &[init]);
    }
    assert_eq!(ctx.status(&id).as_deref(), Some("running"));
}

#[test]
fn exec_missing_or_non_executable_binary() {
    let ctx = Ctx::new("exmiss");
    let id = ctx.id("exmiss");
    let mut b = ctx.bundle("b");
    let init = long_container(&ctx, &mut b, &id);
    fs::write(b.rootfs().join("bin/not-exec"), "#!/bin/sh\necho RAN\n").unwrap();

    // runc 1.1.5 exits 255 for all of these, with "exec failed: unable to
    // start container process: exec: \"/nonexist\": stat /nonexist: no such
    // file or directory"; podman maps the text to 127/126. The code is
    // runc's: 255 tells a failed exec from a command that exited 1.
    let out = exec(&ctx, &id, &[], &["/nonexistent-binary"]);
    out.assert_code(255);
    out.assert_stderr_has_any(&["no such file or directory"]);
    assert!(
        out.stderr.contains("/nonexistent-binary"),
        "{}",
        out.describe()
    );

    // A bare name not on PATH (runc: "executable file not found in $PATH").
    let out = exec(&ctx, &id, &[], &["nonexistent-command"]);
    out.assert_code(255);
    out.assert_stderr_has_any(&["not found", "no such file or directory"]);
    assert!(
        out.stderr.contains("nonexistent-command"),
        "{}",
        out.describe()
    );

    let out = exec(&ctx, &id, &[], &["/bin/not-exec"]);
    out.assert_code(255);
    out.assert_stderr_has_any(&["permission denied"]);
    assert!(!out.stdout.contains("RAN"));

    let out = exec(&ctx, &id, &[], &[]);
    out.assert_code(255);
    if testing_ward() {
        out.assert_error_line("exec", &id);
    }
    assert_only_pids(init, &[init]);
    assert_eq!(ctx.status(&id).as_deref(), Some("running"));
}

#[test]
fn exec_into_stopped_or_unknown_container_fails() {
    let ctx = Ctx::new("exstop");
    let id = ctx.id("exstop");
    let mut b = ctx.bundle("b");
    b.set_args(&["true"]);
    ctx.create_ok(&b, &id);
    ctx.start_ok(&id);
    ctx.wait_status(&id, "stopped");
    let marker = b.rootfs().join("tmp/ran");
    let out = exec(&ctx, &id, &[], &["touch", "/tmp/ran"]);
    out.assert_code(255);
    out.assert_stderr_has_any(&["stopped", "not running", "cannot exec"]);
    if testing_ward() {
        out.assert_error_line("exec", &id);
    }
    assert!(!marker.exists(), "the exec'd process ran");
    assert_eq!(ctx.status(&id).as_deref(), Some("stopped"));
    ctx.rt(&["delete", &id]).assert_ok();

    let unknown = ctx.id("nosuch");
    let out = exec(&ctx, &unknown, &[], &["true"]);
    out.assert_code(255);
    out.assert_stderr_has_any(&["does not exist", "not found", "no such"]);
    if testing_ward() {
        out.assert_error_line("exec", &unknown);
    }
    ctx.assert_nothing_left(&[&id, &unknown]);
}

#[test]
fn exec_into_created_container_runs_and_leaves_it_created() {
    // runc 1.1.5 allows exec into a created (not yet started) container:
    // the process joins its namespaces while init still waits for `start`.
    let ctx = Ctx::new("excreat");
    let id = ctx.id("excreat");
    let mut b = ctx.bundle("b");
    b.long_running("");
    let (init, create_out) = ctx.create_ok(&b, &id);
    let out = exec(
        &ctx,
        &id,
        &[],
        &["sh", "-c", "echo EXEC-IN-CREATED; hostname"],
    );
    out.assert_ok();
    assert!(out.stdout.contains("EXEC-IN-CREATED"), "{}", out.describe());
    assert!(out.stdout.contains("ward-test"), "{}", out.describe());
    assert_eq!(ctx.status(&id).as_deref(), Some("created"));
    assert!(
        !create_out.stdout_now().contains(READY),
        "init started early"
    );
    assert_only_pids(init, &[init]);
    ctx.start_ok(&id);
    wait_for_marker(&create_out.stdout_path, READY);
    wait_exec(init, &["sleep", "1000"]);
    assert_eq!(ctx.status(&id).as_deref(), Some("running"));
}

#[test]
fn exec_into_paused_container_needs_ignore_paused() {
    let ctx = Ctx::new("expause");
    let id = ctx.id("expause");
    let mut b = ctx.bundle("b");
    let init = long_container(&ctx, &mut b, &id);
    ctx.rt(&["pause", &id]).assert_ok();
    ctx.wait_status(&id, "paused");

    // runc: "exec failed: cannot exec in a paused container (use
    // --ignore-paused to override)", exit 255.
    let out = exec(&ctx, &id, &[], &["touch", "/tmp/refused"]);
    out.assert_fail();
    out.assert_stderr_has_any(&["paused"]);
    if testing_ward() {
        out.assert_error_line("exec", &id);
    }
    assert!(!b.rootfs().join("tmp/refused").exists());
    assert_only_pids(init, &[init]);

    // With --ignore-paused the process joins the frozen cgroup: it cannot
    // run until the container is resumed, then it does.
    let p = ctx.spawn(
        &[
            "exec",
            "--ignore-paused",
            &id,
            "sh",
            "-c",
            "touch /tmp/ignored; echo DONE",
        ],
        RUN_TIMEOUT,
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !b.rootfs().join("tmp/ignored").exists(),
        "the exec'd process ran inside a paused container"
    );
    assert_eq!(ctx.status(&id).as_deref(), Some("paused"));
    ctx.rt(&["resume", &id]).assert_ok();
    let out = p.wait();
    out.assert_ok();
    assert!(out.stdout.contains("DONE"), "{}", out.describe());
    assert!(b.rootfs().join("tmp/ignored").exists());
    assert_eq!(ctx.status(&id).as_deref(), Some("running"));
}

#[test]
fn exec_tty_sends_pty_master_to_console_socket() {
    let ctx = Ctx::new("extty");
    let id = ctx.id("extty");
    let mut b = ctx.bundle("b");
    long_container(&ctx, &mut b, &id);
    let sock = ctx.dir.join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let pid_file = ctx.dir.join("tty.pid");
    let script = "if [ -t 0 ] && [ -t 1 ] && [ -t 2 ]; then echo TTY-OK; fi; \
                  echo TTYNAME=$(tty); echo EXEC-READY; exec sleep 1000";
    let master = receive_console_master(&listener, || {
        exec(
            &ctx,
            &id,
            &[
                "--tty",
                "--console-socket",
                sock.to_str().unwrap(),
                "--detach",
                "--pid-file",
                pid_file.to_str().unwrap(),
            ],
            &["sh", "-c", script],
        )
        .assert_ok();
    });
    let text = read_pty_until(&master, "EXEC-READY", WAIT_TIMEOUT).replace('\r', "");
    assert!(text.contains("TTY-OK"), "stdio is not a tty: {text:?}");
    let tty = kv(&text, "TTYNAME");
    assert!(tty.starts_with("/dev/pts/"), "tty inside: {tty}");
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_exec(pid, &["sleep", "1000"]);
    for fd in 0..3 {
        let l = fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
        assert_eq!(l.to_string_lossy(), tty, "fd {fd} of the exec'd process");
    }
    // Its controlling terminal is that pty: tty_nr (field 7) is non-zero and
    // it leads its own session.
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    assert_ne!(f[4], "0", "no controlling terminal: {stat}");
    assert_eq!(
        f[3],
        status_field(pid, "Pid").unwrap(),
        "not a session leader: {stat}"
    );
}

#[test]
fn exec_preserve_fds() {
    let ctx = Ctx::new("exfds");
    let id = ctx.id("exfds");
    let mut b = ctx.bundle("b");
    long_container(&ctx, &mut b, &id);
    let path = ctx.dir.join("fd3.txt");
    let file = fs::File::create(&path).unwrap();

    let run = |preserve: bool, script: &str| -> Out {
        let mut args = vec!["exec"];
        if preserve {
            args.extend(["--preserve-fds", "1"]);
        }
        args.extend([id.as_str(), "sh", "-c", script]);
        let mut cmd = ctx.command(&args);
        pass_fds(&mut cmd, &[file.as_raw_fd()]);
        ctx.spawn_cmd(cmd, CMD_TIMEOUT).wait()
    };
    run(true, "echo PRESERVED >&3").assert_ok();
    assert_eq!(fs::read_to_string(&path).unwrap(), "PRESERVED\n");
    let out = run(
        false,
        "{ echo LEAKED >&3; } 2>/dev/null && exit 5; ls /proc/self/fd",
    );
    out.assert_ok();
    assert!(!fs::read_to_string(&path).unwrap().contains("LEAKED"));
}

#[test]
fn exec_detach_returns_and_process_is_reaped() {
    let ctx = Ctx::new("exdet");
    let id = ctx.id("exdet");
    let mut b = ctx.bundle("b");
    let init = long_container(&ctx, &mut b, &id);

    let t0 = Instant::now();
    let pid = exec_detached(&ctx, &id, &[], &["sleep", "1001"]);
    assert!(t0.elapsed() < Duration::from_secs(20));
    assert!(pid_alive(pid));
    // The pid file holds a host pid of a process in the container.
    assert_eq!(
        ns_link(&pid.to_string(), "pid"),
        ns_link(&init.to_string(), "pid")
    );
    // Nothing of the runtime stays behind with it.
    let runtime_left: Vec<i32> = ctx
        .related_pids()
        .into_iter()
        .filter(|p| pids_in_pidns_of(init).iter().all(|q| q != p))
        .collect();
    assert!(
        runtime_left.is_empty(),
        "runtime processes left after exec --detach: {:?}",
        runtime_left
            .iter()
            .map(|p| proc_cmdline(*p))
            .collect::<Vec<_>>()
    );

    // A detached process that exits on its own is not left a zombie under
    // the container's init nor under any process of the runtime.
    let short = exec_detached(&ctx, &id, &[], &["sh", "-c", "sleep 1; exit 3"]);
    let gone = wait_until(WAIT_TIMEOUT, || {
        matches!(proc_state(short), None | Some('Z') | Some('X'))
    });
    assert!(gone, "the detached process did not finish");
    assert!(
        !children_of(init).contains(&short),
        "exited exec'd process is a child of the container init"
    );
    if proc_state(short) == Some('Z') {
        let ppid: i32 = status_field(short, "PPid")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        assert!(
            ppid == 0 || (!ctx.related_pids().contains(&ppid) && ppid != init),
            "zombie {short} is held by {ppid} {:?}",
            proc_cmdline(ppid)
        );
    }

    // Killing the long one from the host: same.
    // SAFETY: kill(2) has no memory-safety preconditions; pid is a process
    // in this test's container.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert!(wait_until(WAIT_TIMEOUT, || !pid_alive(pid)));
    assert!(!children_of(init).contains(&pid));
    assert_only_pids(init, &[init]);
    assert_eq!(ctx.status(&id).as_deref(), Some("running"));
}
