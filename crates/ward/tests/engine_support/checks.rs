//! Checks podman and docker share flag for flag.

use crate::common::{self, Ctx, Out};
use crate::engine_support::IMAGE;
use std::fs;
use std::time::{Duration, Instant};

/// Containers started back to back through each engine.
pub const IN_A_ROW: usize = 30;

/// `podman/docker logs NAME` holds `marker` `n` times (polled).
pub fn wait_logs(eng: &dyn Fn(&[&str]) -> Out, name: &str, marker: &str, n: usize) {
    let mut last = String::new();
    let ok = common::wait_until(Duration::from_secs(20), || {
        let out = eng(&["logs", name]);
        last = out.stdout.clone();
        last.matches(marker).count() >= n
    });
    assert!(
        ok,
        "{marker:?} x{n} never showed in the logs of {name}:\n{last}"
    );
}

/// What podman and docker share flag for flag: output and exit codes, env
/// and workdir, tty, user, hostname, capabilities, read-only rootfs,
/// volumes and tmpfs, the pids limit.
pub fn common_checks(ctx: &Ctx, eng: &dyn Fn(&[&str]) -> Out, what: &str) {
    let none = ["--network", "none"];
    let run = |extra: &[&str], cmd: &[&str]| {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(&none);
        a.extend_from_slice(extra);
        a.push(IMAGE);
        a.extend_from_slice(cmd);
        eng(&a)
    };
    let out = run(&[], &["sh", "-c", "echo out; echo err >&2; exit 3"]);
    out.assert_code(3);
    assert_eq!(out.stdout.trim(), "out", "{what}");
    assert!(out.stderr.contains("err"), "{what}: {}", out.describe());
    // Missing and non-executable programs: the engines map runc's error
    // words to 127 and 126.
    run(&[], &["nosuch"]).assert_code(127);
    run(&[], &["/etc/passwd"]).assert_code(126);
    let out = run(
        &["-e", "FOO=bar baz", "-w", "/tmp"],
        &["sh", "-c", "echo \"$FOO\"; pwd"],
    );
    assert_eq!(out.assert_ok().stdout, "bar baz\n/tmp\n", "{what}");
    let out = run(&["-t"], &["sh", "-c", "tty; test -t 1 && echo is-a-tty"]);
    out.assert_ok();
    assert!(
        out.stdout.contains("/dev/pts/") && out.stdout.contains("is-a-tty"),
        "{what} -t: {}",
        out.describe()
    );
    let out = run(
        &[
            "--user",
            "65534:65534",
            "--hostname",
            "wardhost",
            "--cap-drop",
            "ALL",
        ],
        &[
            "sh",
            "-c",
            "id -u; id -g; hostname; grep CapEff /proc/self/status",
        ],
    );
    let text = out.assert_ok().stdout.clone();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{what}: {text}");
    assert_eq!(&lines[..3], ["65534", "65534", "wardhost"], "{what}");
    assert!(lines[3].ends_with("0000000000000000"), "{what}: {text}");
    let out = run(
        &["--cap-drop", "ALL"],
        &["sh", "-c", "grep CapBnd /proc/self/status"],
    );
    assert!(
        out.assert_ok().stdout.trim().ends_with("0000000000000000"),
        "{what}"
    );
    let out = run(
        &["--read-only"],
        &[
            "sh",
            "-c",
            "touch /x && echo wrote; touch /tmp/y && echo tmp-ok",
        ],
    );
    assert!(
        out.stderr.contains("Read-only file system") && !out.stdout.contains("wrote"),
        "{what} --read-only: {}",
        out.describe()
    );
    // --privileged: every capability. podman asks for those the host has;
    // docker 20.10 for every one the kernel knows, which no runtime can
    // grant where the host's bounding set lacks some (here
    // CAP_SYS_RESOURCE: runc fails alike, "unable to apply caps").
    let host_caps = common::status_field(std::process::id() as i32, "CapBnd").unwrap();
    let last_cap: u32 = fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let all_caps = format!("{:016x}", (1u64 << (last_cap + 1)) - 1);
    if what == "docker" && host_caps.trim() != all_caps {
        eprintln!(
            "NOTE: docker --privileged not checked: the host's bounding set is \
             {host_caps}, not every capability ({all_caps})"
        );
    } else {
        let out = run(
            &["--privileged"],
            &["sh", "-c", "grep CapEff /proc/self/status"],
        );
        assert!(
            out.assert_ok().stdout.trim().ends_with(host_caps.trim()),
            "{what} --privileged: host CapBnd {host_caps}\n{}",
            out.describe()
        );
    }
    let vol = ctx.dir.join(format!("vol-{what}"));
    fs::create_dir_all(&vol).unwrap();
    fs::write(vol.join("in"), "from-host\n").unwrap();
    let out = run(
        &[
            "-v",
            &format!("{}:/data", vol.display()),
            "--tmpfs",
            "/scratch:size=1m",
        ],
        &[
            "sh",
            "-c",
            "cat /data/in; echo from-ctr > /data/out; grep ' /scratch ' /proc/mounts",
        ],
    );
    let text = out.assert_ok().stdout.clone();
    assert!(text.starts_with("from-host\n"), "{what}: {text}");
    assert!(
        text.contains("tmpfs /scratch tmpfs") && text.contains("size=1024k"),
        "{what}: {text}"
    );
    assert_eq!(fs::read_to_string(vol.join("out")).unwrap(), "from-ctr\n");
    // The pids limit: 12 background sleeps cannot all start under 10.
    let out = run(
        &["--pids-limit", "10"],
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 3 & done 2>&1; echo loop-done",
        ],
    );
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("can't fork"),
        "{what} --pids-limit: {}",
        out.describe()
    );
}

/// exec into the running container NAME; `missing` is the engine's exit
/// code for a program that is not there.
pub fn exec_checks(eng: &dyn Fn(&[&str]) -> Out, name: &str, missing: i32) {
    let out = eng(&[
        "exec",
        "-e",
        "X=1",
        "-w",
        "/tmp",
        name,
        "sh",
        "-c",
        "echo $X $(pwd); exit 5",
    ]);
    out.assert_code(5);
    assert_eq!(out.stdout.trim(), "1 /tmp");
    let out = eng(&["exec", "-u", "65534", name, "id", "-u"]);
    assert_eq!(out.assert_ok().stdout.trim(), "65534");
    let out = eng(&["exec", name, "nosuch"]);
    out.assert_code(missing);
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("executable file not found"),
        "{}",
        out.describe()
    );
    // exec -d: the engine returns at once, the process runs on.
    eng(&[
        "exec",
        "-d",
        name,
        "sh",
        "-c",
        "sleep 0.3; echo detached > /tmp/det",
    ])
    .assert_ok();
    let mut last = String::new();
    let ok = common::wait_until(Duration::from_secs(10), || {
        last = eng(&["exec", name, "cat", "/tmp/det"]).stdout;
        last.trim() == "detached"
    });
    assert!(ok, "exec -d never wrote /tmp/det: {last:?}");
    let out = eng(&["exec", "-t", name, "tty"]);
    assert!(
        out.assert_ok().stdout.contains("/dev/pts/"),
        "{}",
        out.describe()
    );
}

/// Namespaces joined by path: the host's (`--network/--pid/--ipc host`)
/// and those of the running container NAME (`container:NAME`).
pub fn join_checks(eng: &dyn Fn(&[&str]) -> Out, name: &str, what: &str) {
    let links = "for n in net pid ipc; do readlink /proc/self/ns/$n; done";
    let host: Vec<String> = ["net", "pid", "ipc"]
        .iter()
        .map(|ns| {
            fs::read_link(format!("/proc/self/ns/{ns}"))
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    let out = eng(&[
        "run",
        "--rm",
        "--network",
        "host",
        "--pid",
        "host",
        "--ipc",
        "host",
        IMAGE,
        "sh",
        "-c",
        links,
    ]);
    let got: Vec<&str> = out.assert_ok().stdout.lines().collect();
    assert_eq!(got, host, "{what}: host namespaces");
    let theirs = eng(&["exec", name, "sh", "-c", links]);
    let theirs = theirs.assert_ok().stdout.clone();
    let target = format!("container:{name}");
    let out = eng(&[
        "run",
        "--rm",
        "--network",
        &target,
        "--pid",
        &target,
        "--ipc",
        &target,
        IMAGE,
        "sh",
        "-c",
        &format!("{links}; ps"),
    ]);
    let text = out.assert_ok().stdout.clone();
    assert!(
        text.starts_with(&theirs),
        "{what}: joined {theirs} but got\n{text}"
    );
    assert!(
        text.contains("sleep"),
        "{what}: {name}'s processes not seen:\n{text}"
    );
}

/// stop falls back to SIGKILL after its timeout; kill sends SIGKILL.
pub fn stop_and_kill_checks(ctx: &Ctx, eng: &dyn Fn(&[&str]) -> Out, what: &str) {
    let _ = ctx;
    let inspect = |name: &str, f: &str| {
        eng(&["inspect", "-f", f, name])
            .assert_ok()
            .stdout
            .trim()
            .to_string()
    };
    eng(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        "--network",
        "none",
        IMAGE,
        "sh",
        "-c",
        "trap '' TERM; echo started; while :; do sleep 0.2; done",
    ])
    .assert_ok();
    let t = Instant::now();
    eng(&["stop", "-t", "2", "stubborn"]).assert_ok();
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(15),
        "{what} stop -t 2 of a container ignoring SIGTERM took {took:?}"
    );
    assert_eq!(inspect("stubborn", "{{.State.ExitCode}}"), "137", "{what}");
    eng(&["rm", "stubborn"]).assert_ok();
    eng(&[
        "run",
        "-d",
        "--name",
        "killme",
        "--network",
        "none",
        IMAGE,
        "sleep",
        "1000",
    ])
    .assert_ok();
    eng(&["kill", "killme"]).assert_ok();
    let mut last = String::new();
    let ok = common::wait_until(Duration::from_secs(10), || {
        last = inspect("killme", "{{.State.Status}} {{.State.ExitCode}}");
        last.ends_with(" 137") && !last.starts_with("running")
    });
    assert!(ok, "{what} kill: state {last}");
    eng(&["rm", "killme"]).assert_ok();
}

pub fn in_a_row(eng: &dyn Fn(&[&str]) -> Out, what: &str) {
    let t = Instant::now();
    for i in 0..IN_A_ROW {
        let out = eng(&[
            "run",
            "--rm",
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            &format!("echo n{i}"),
        ]);
        assert_eq!(
            out.assert_ok().stdout.trim(),
            format!("n{i}"),
            "{what} #{i}"
        );
    }
    eprintln!(
        "{what}: {IN_A_ROW} containers in a row: {:.1?}",
        t.elapsed()
    );
}

/// A published port: busybox httpd in the container on port 80, fetched
/// with curl from 127.0.0.1 on the host (netavark's or docker's bridge).
/// `rm` is the engine's way to remove it at once.
pub fn published_port(ctx: &Ctx, eng: &dyn Fn(&[&str]) -> Out, what: &str, rm: &[&str]) {
    let port = crate::engine_support::free_port();
    let www = ctx.dir.join("www");
    fs::create_dir_all(&www).unwrap();
    let marker = format!("served-by-ward-{what}");
    fs::write(www.join("index.html"), format!("{marker}\n")).unwrap();
    let publish = format!("127.0.0.1:{port}:80");
    let volume = format!("{}:/www", www.display());
    eng(&[
        "run", "-d", "--name", "web", "-p", &publish, "-v", &volume, IMAGE, "httpd", "-f", "-p",
        "80", "-h", "/www",
    ])
    .assert_ok();
    crate::engine_support::curl_until(ctx, port, &marker);
    let mut rm = rm.to_vec();
    rm.push("web");
    eng(&rm).assert_ok();
}
