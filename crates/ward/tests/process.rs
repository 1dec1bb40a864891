//! The container process: args, env, cwd, user, umask, capabilities,
//! rlimits, noNewPrivileges, oomScoreAdj, exit codes and signals, extra fds.

mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;

#[test]
fn run_exit_code_is_propagated() {
    let ctx = Ctx::new("exit7");
    let id = ctx.id("exit7");
    let mut b = ctx.bundle("b");
    b.sh("exit 7");
    ctx.run(&b, &id).assert_code(7);
    ctx.assert_nothing_left(&[&id]);

    let id0 = ctx.id("exit0");
    b.sh("exit 0");
    ctx.run(&b, &id0).assert_code(0);
    ctx.assert_nothing_left(&[&id0]);
}

#[test]
fn run_exit_code_of_a_real_time_signal() {
    // 128 + N for a real-time signal too (SIGRTMIN+6 here): the exit
    // status is decoded by hand, not through a signal type that has none.
    let ctx = Ctx::new("sigrt");
    let id = ctx.id("sigrt");
    let mut b = ctx.bundle("b");
    let sig = libc::SIGRTMIN() + 6;
    // Without a pid namespace of its own, so that the process isn't an
    // init that ignores signals it has no handler for.
    b.remove_namespace("pid");
    b.sh(&format!("kill -{sig} $$; sleep 5"));
    ctx.run(&b, &id).assert_code(128 + sig);
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn run_exits_137_when_container_is_sigkilled() {
    let ctx = Ctx::new("sigkill");
    let id = ctx.id("sigkill");
    let mut b = ctx.bundle("b");
    b.long_running("");
    b.write();
    let run = ctx.spawn(&["run", "--bundle", b.path(), &id], RUN_TIMEOUT);
    wait_for_marker(run.stdout_path(), READY);
    ctx.rt(&["kill", &id, "KILL"]).assert_ok();
    let out = run.wait();
    out.assert_code(128 + libc::SIGKILL);
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn run_forwards_sigterm_to_container() {
    let ctx = Ctx::new("fwdterm");
    let id = ctx.id("fwdterm");
    let mut b = ctx.bundle("b");
    b.sh(&format!(
        "trap 'echo GOT-TERM; exit 42' TERM; echo {READY}; while :; do sleep 1; done"
    ));
    b.write();
    let run = ctx.spawn(&["run", "--bundle", b.path(), &id], RUN_TIMEOUT);
    wait_for_marker(run.stdout_path(), READY);
    run.signal(libc::SIGTERM);
    let out = run.wait();
    out.assert_code(42);
    assert!(out.stdout.contains("GOT-TERM"), "{}", out.describe());
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn args_env_and_cwd() {
    let ctx = Ctx::new("argsenv");
    let id = ctx.id("argsenv");
    let mut b = ctx.bundle("b");
    fs::create_dir_all(b.rootfs().join("home/work")).unwrap();
    b.set_args(&[
        "sh",
        "-c",
        "echo \"ARG0=$0\"; echo \"ARG1=$1\"; echo \"ARGC=$#\"; echo \"FOO=$FOO\"; \
         echo \"CWD=$(pwd)\"; echo ENV-BEGIN; env; echo ENV-END",
        "zero",
        "one  two",
    ]);
    b.process()["env"] = json!(["PATH=/bin:/sbin", "FOO=bar baz", "EMPTY="]);
    b.process()["cwd"] = json!("/home/work");
    b.write();
    let mut cmd = ctx.command(&["run", "--bundle", b.path(), &id]);
    cmd.env("WARD_LEAK_CANARY", "leaked");
    let out = ctx.spawn_cmd(cmd, RUN_TIMEOUT).wait();
    out.assert_ok();
    let t = &out.stdout;
    assert_eq!(kv(t, "ARG0"), "zero", "{t}");
    assert_eq!(kv(t, "ARG1"), "one  two", "{t}");
    assert_eq!(kv(t, "ARGC"), "1", "{t}");
    assert_eq!(kv(t, "FOO"), "bar baz", "{t}");
    assert_eq!(kv(t, "CWD"), "/home/work", "{t}");
    let env = t
        .split_once("ENV-BEGIN")
        .and_then(|(_, r)| r.split_once("ENV-END"))
        .map(|(m, _)| m)
        .unwrap();
    assert!(
        env.lines().any(|l| l == "PATH=/bin:/sbin"),
        "PATH not as configured:\n{env}"
    );
    assert!(env.lines().any(|l| l == "EMPTY="), "EMPTY= missing:\n{env}");
    assert!(
        !env.contains("WARD_LEAK_CANARY"),
        "the runtime's own environment leaked into the container:\n{env}"
    );
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn user_uid_gid_and_additional_gids() {
    let ctx = Ctx::new("user");
    let id = ctx.id("user");
    let mut b = ctx.bundle("b");
    b.process()["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [1002, 1003]});
    b.long_running("echo \"UID=$(id -u)\"; echo \"GID=$(id -g)\"; echo \"GROUPS=$(id -G)\"");
    let (pid, out) = ctx.start_long(&b, &id);
    let t = out.stdout_now();
    assert_eq!(kv(&t, "UID"), "1000", "{t}");
    assert_eq!(kv(&t, "GID"), "1001", "{t}");
    let groups: Vec<String> = kv(&t, "GROUPS")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    for g in ["1002", "1003"] {
        assert!(groups.iter().any(|x| x == g), "id -G lacks {g}: {groups:?}");
    }
    // From the host: all four uids/gids and exactly the supplementary groups.
    assert_eq!(status_field(pid, "Uid").unwrap(), "1000\t1000\t1000\t1000");
    assert_eq!(status_field(pid, "Gid").unwrap(), "1001\t1001\t1001\t1001");
    let sup: Vec<String> = status_field(pid, "Groups")
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let mut extra: Vec<&String> = sup
        .iter()
        .filter(|g| !["1001", "1002", "1003"].contains(&g.as_str()))
        .collect();
    extra.dedup();
    assert!(
        extra.is_empty(),
        "unexpected supplementary groups {extra:?} in {sup:?}"
    );
    assert!(
        sup.iter().any(|g| g == "1002") && sup.iter().any(|g| g == "1003"),
        "{sup:?}"
    );
}

#[test]
fn umask_is_applied() {
    let ctx = Ctx::new("umask");
    let id = ctx.id("umask");
    let mut b = ctx.bundle("b");
    b.process()["user"] = json!({"uid": 0, "gid": 0, "umask": 0o027});
    b.sh("umask; touch /tmp/f; mkdir /tmp/d; stat -c 'F=%a' /tmp/f; stat -c 'D=%a' /tmp/d");
    let t = ctx.run_ok(&b, &id);
    assert!(t.lines().next() == Some("0027"), "umask inside:\n{t}");
    assert_eq!(kv(&t, "F"), "640", "{t}");
    assert_eq!(kv(&t, "D"), "750", "{t}");
}

/// Reads the five capability sets of `pid` from the host.
fn cap_sets(pid: i32) -> [(String, u64); 5] {
    ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"].map(|k| {
        let v = status_field(pid, k).unwrap_or_else(|| panic!("{k} missing"));
        (k.to_string(), parse_hex_mask(&v))
    })
}

#[track_caller]
fn assert_caps(pid: i32, want: [u64; 5]) {
    let got = cap_sets(pid);
    for ((name, g), w) in got.iter().zip(want) {
        assert_eq!(
            *g,
            w,
            "{name}: got {:?}, want {:?}",
            cap_names(*g),
            cap_names(w)
        );
    }
}

#[test]
fn capabilities_root_exact_sets() {
    let ctx = Ctx::new("capsroot");
    let id = ctx.id("capsroot");
    let mut b = ctx.bundle("b");
    let bnd = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_SYS_CHROOT",
    ];
    let prm = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    b.process()["capabilities"] = json!({"bounding": bnd, "permitted": prm, "effective": prm});
    b.process()["noNewPrivileges"] = json!(true);
    b.set_args(&["sleep", "1000"]);
    let (pid, _) = ctx.create_ok(&b, &id);
    ctx.start_ok(&id);
    wait_exec(pid, &["sleep", "1000"]);
    // Order: Inh, Prm, Eff, Bnd, Amb. Inheritable stays empty unless asked.
    assert_caps(pid, [0, cap_mask(&prm), cap_mask(&prm), cap_mask(&bnd), 0]);
}

#[test]
fn capabilities_non_root_with_ambient() {
    let ctx = Ctx::new("capsamb");
    let id = ctx.id("capsamb");
    let mut b = ctx.bundle("b");
    let bnd = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_RAW",
        "CAP_SETUID",
    ];
    let kept = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    b.process()["user"] = json!({"uid": 1000, "gid": 1000});
    b.process()["capabilities"] = json!({
        "bounding": bnd,
        "permitted": kept,
        "effective": kept,
        "inheritable": kept,
        "ambient": kept
    });
    b.set_args(&["sleep", "1000"]);
    let (pid, _) = ctx.create_ok(&b, &id);
    ctx.start_ok(&id);
    wait_exec(pid, &["sleep", "1000"]);
    let k = cap_mask(&kept);
    assert_caps(pid, [k, k, k, cap_mask(&bnd), k]);
}

#[test]
fn capabilities_seen_from_inside() {
    let ctx = Ctx::new("capsin");
    let id = ctx.id("capsin");
    let mut b = ctx.bundle("b");
    let set = ["CAP_KILL", "CAP_SETUID", "CAP_SETGID"];
    b.process()["capabilities"] = json!({"bounding": set, "permitted": set, "effective": set});
    b.sh("grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status");
    let t = ctx.run_ok(&b, &id);
    let m = cap_mask(&set);
    for (k, want) in [
        ("CapInh", 0),
        ("CapPrm", m),
        ("CapEff", m),
        ("CapBnd", m),
        ("CapAmb", 0),
    ] {
        let got = parse_hex_mask(&field_in(&t, k).unwrap_or_else(|| panic!("{k} missing:\n{t}")));
        assert_eq!(got, want, "{k}: got {:?}", cap_names(got));
    }
}

#[test]
fn rlimits_are_lowered() {
    let ctx = Ctx::new("rlimit");
    let id = ctx.id("rlimit");
    let mut b = ctx.bundle("b");
    b.process()["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096}
    ]);
    b.long_running("echo \"NOFILE=$(ulimit -n)\"");
    let (pid, out) = ctx.start_long(&b, &id);
    assert_eq!(kv(&out.stdout_now(), "NOFILE"), "123");
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let row = |name: &str| -> Vec<String> {
        limits
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{limits}"))[name.len()..]
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(&row("Max open files")[..2], ["123", "456"], "{limits}");
    assert_eq!(&row("Max core file size")[..2], ["0", "4096"], "{limits}");
}

#[test]
fn no_new_privileges_flag() {
    let ctx = Ctx::new("nnp");
    for (flag, want) in [(true, "1"), (false, "0")] {
        let id = ctx.id(if flag { "nnp1" } else { "nnp0" });
        let mut b = ctx.bundle(&format!("b{flag}"));
        b.process()["noNewPrivileges"] = json!(flag);
        b.set_args(&["sleep", "1000"]);
        let (pid, _) = ctx.create_ok(&b, &id);
        ctx.start_ok(&id);
        wait_exec(pid, &["sleep", "1000"]);
        assert_eq!(
            status_field(pid, "NoNewPrivs").as_deref(),
            Some(want),
            "noNewPrivileges={flag}"
        );
        ctx.rt(&["delete", "--force", &id]).assert_ok();
    }
}

#[test]
fn oom_score_adj_is_raised() {
    let ctx = Ctx::new("oom");
    let id = ctx.id("oom");
    let mut b = ctx.bundle("b");
    b.process()["oomScoreAdj"] = json!(617);
    b.set_args(&["sleep", "1000"]);
    let (pid, _) = ctx.create_ok(&b, &id);
    ctx.start_ok(&id);
    wait_exec(pid, &["sleep", "1000"]);
    let v = fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap();
    assert_eq!(v.trim(), "617");
    let own = fs::read_to_string("/proc/self/oom_score_adj").unwrap();
    assert_ne!(
        own.trim(),
        "617",
        "the runtime changed the caller's oom_score_adj"
    );
}

/// `run` with an extra fd 3 (a file) in the runtime's fd table.
fn run_with_fd3(ctx: &Ctx, b: &Bundle, id: &str, preserve: bool, file: &fs::File) -> Out {
    b.write();
    let mut args = vec!["run", "--bundle", b.path()];
    if preserve {
        args.extend(["--preserve-fds", "1"]);
    }
    args.push(id);
    let mut cmd = ctx.command(&args);
    let raw = file.as_raw_fd();
    // SAFETY: the closure only calls dup2/fcntl, which are async-signal-safe,
    // on an fd that stays open in the parent for the duration of the spawn.
    unsafe {
        cmd.pre_exec(move || {
            if raw == 3 {
                if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    ctx.spawn_cmd(cmd, RUN_TIMEOUT).wait()
}

#[test]
fn preserve_fds_passes_extra_fd() {
    let ctx = Ctx::new("presfd");
    let path = ctx.dir.join("fd3.txt");
    let file = fs::File::create(&path).unwrap();

    let id = ctx.id("presfd");
    let mut b = ctx.bundle("b");
    b.sh("echo PRESERVED >&3");
    run_with_fd3(&ctx, &b, &id, true, &file).assert_ok();
    assert_eq!(fs::read_to_string(&path).unwrap(), "PRESERVED\n");

    // Without --preserve-fds the fd must not reach the container.
    let id2 = ctx.id("nofd");
    b.sh("{ echo LEAKED >&3; } 2>/dev/null && exit 5; exit 0");
    let out = run_with_fd3(&ctx, &b, &id2, false, &file);
    out.assert_ok();
    assert!(!fs::read_to_string(&path).unwrap().contains("LEAKED"));
    ctx.assert_nothing_left(&[&id, &id2]);
}

#[test]
fn no_pivot_runs_in_rootfs() {
    let ctx = Ctx::new("nopivot");
    let id = ctx.id("nopivot");
    let mut b = ctx.bundle("b");
    b.sh("cat /etc/marker; ls /");
    b.write();
    let out = ctx
        .spawn(
            &["run", "--no-pivot", "--bundle", b.path(), &id],
            RUN_TIMEOUT,
        )
        .wait();
    out.assert_ok();
    assert!(
        out.stdout.contains("rootfs-etc-marker"),
        "{}",
        out.describe()
    );
    assert!(
        !out.stdout.lines().any(|l| l == "work" || l == "boot"),
        "host root visible:\n{}",
        out.stdout
    );
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn container_gets_only_stdio_fds() {
    let ctx = Ctx::new("fdleak");
    let id = ctx.id("fdleak");
    let mut b = ctx.bundle("b");
    b.set_args(&["sleep", "1000"]);
    let (pid, _) = ctx.create_ok(&b, &id);
    ctx.start_ok(&id);
    wait_exec(pid, &["sleep", "1000"]);
    let mut fds: Vec<String> = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let target = fs::read_link(e.path()).unwrap_or_default();
            format!("{n} -> {}", target.display())
        })
        .collect();
    fds.sort();
    let numbers: Vec<&str> = fds.iter().map(|f| f.split(' ').next().unwrap()).collect();
    assert_eq!(
        numbers,
        ["0", "1", "2"],
        "the runtime leaked file descriptors into the container: {fds:#?}"
    );
}
