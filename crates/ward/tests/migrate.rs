//! `ward migrate` and `ward cluster` (crates/ward-cluster), in the cheap
//! one-guest form: a second ward root and an sshd of the test's own on the
//! guest's loopback stand for the destination host, reached through real
//! ssh (keys and known_hosts the test makes, BatchMode). CRIU works in the
//! test VM only, so on the host every test says SKIP.
//!
//! Each test prints `TIME <name> <seconds>`. The fault matrix runs a
//! representative case per fault in CI; `WARD_MIGRATE_FULL=1` runs every
//! fault at every step.

mod common;

use common::*;
use serde_json::Value;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// One migration under emulation (boot of criu, two dumps, a restore).
const MIGRATE_TIMEOUT: Duration = Duration::from_secs(300);

fn criu_broken() -> Option<String> {
    static WHY: OnceLock<Option<String>> = OnceLock::new();
    WHY.get_or_init(|| {
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Some("needs root".into());
        }
        if !Path::new("/usr/sbin/sshd").is_file() {
            return Some(
                "sshd is not installed (openssh-server; scripts/vm-test.sh installs it)".into(),
            );
        }
        let out = run_host(&std::env::temp_dir(), "/usr/sbin/criu", &["check"]);
        if out.success() {
            None
        } else {
            Some(format!(
                "criu check fails on this kernel ({})",
                fs::read_to_string("/proc/sys/kernel/osrelease")
                    .unwrap_or_default()
                    .trim()
            ))
        }
    })
    .clone()
}

fn skip(test: &str) -> bool {
    if skip_unless_ward(test) {
        return true;
    }
    match criu_broken() {
        Some(why) => {
            eprintln!("SKIP: {test}: {why} (runs in the test VM: scripts/vm-test.sh)");
            true
        }
        None => false,
    }
}

/// ward-cluster next to the ward under test (cargo builds it with the
/// workspace's tests; alone: `cargo build -p ward-cluster`).
fn cluster_bin() -> PathBuf {
    let p = runtime_bin().with_file_name("ward-cluster");
    assert!(
        p.is_file(),
        "{} is not built: cargo build -p ward-cluster",
        p.display()
    );
    p
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The destination: a ward root, a work directory and an sshd on
/// loopback; plus the source's hosts file and ssh config.
struct Site {
    ctx: Ctx,
    dst_root: PathBuf,
    dst_work: PathBuf,
    hosts: PathBuf,
    ssh_config: PathBuf,
    port: u16,
    _sshd: Proc,
    dst_ids: std::sync::Mutex<Vec<String>>,
}

impl Site {
    fn new(name: &str) -> Site {
        let ctx = Ctx::new(name);
        let d = ctx.dir.clone();
        let s = |p: &str| d.join(p).to_string_lossy().into_owned();
        for k in ["hostkey", "userkey", "otherkey"] {
            ctx.host(
                "ssh-keygen",
                &["-q", "-t", "ed25519", "-N", "", "-f", &s(k)],
            )
            .assert_ok();
        }
        fs::copy(d.join("userkey.pub"), d.join("authorized_keys")).unwrap();
        fs::create_dir_all("/run/sshd").unwrap();
        let port = free_port();
        fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\n\
                 StrictModes no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nLogLevel ERROR\n",
                s("hostkey"),
                s("authorized_keys"),
                s("sshd.pid")
            ),
        )
        .unwrap();
        let mut c = Command::new("/usr/sbin/sshd");
        c.args(["-D", "-e", "-f", &s("sshd_config")]);
        let sshd = ctx.spawn_cmd(c, Duration::from_secs(3600));
        let hostkey = fs::read_to_string(d.join("hostkey.pub")).unwrap();
        fs::write(
            d.join("known_hosts"),
            format!("[127.0.0.1]:{port} {hostkey}"),
        )
        .unwrap();
        fs::write(
            d.join("ssh_config"),
            format!(
                "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n  LogLevel ERROR\n",
                s("userkey"),
                s("known_hosts")
            ),
        )
        .unwrap();
        let dst_root = d.join("dst-state");
        let dst_work = d.join("dst-work");
        let ward = runtime_bin();
        let down = free_port();
        fs::write(
            d.join("hosts"),
            format!(
                "# the test's hosts\ndst ssh://root@127.0.0.1:{port} ward={} root={} work={}\n\
                 src ssh://root@127.0.0.1:{port} ward={} root={}\n\
                 down ssh://root@127.0.0.1:{down} ward={}\n",
                ward.display(),
                dst_root.display(),
                dst_work.display(),
                ward.display(),
                ctx.root.display(),
                ward.display(),
            ),
        )
        .unwrap();
        // sshd takes a moment to listen under emulation.
        assert!(
            wait_until(scaled(Duration::from_secs(30)), || {
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            }),
            "sshd never listened on {port}"
        );
        Site {
            hosts: d.join("hosts"),
            ssh_config: d.join("ssh_config"),
            ctx,
            dst_root,
            dst_work,
            port,
            _sshd: sshd,
            dst_ids: Default::default(),
        }
    }

    /// `ward <args>` with the test's hosts file and ssh config.
    fn ward(&self, args: &[&str], t: Duration) -> Out {
        let mut c = Command::new(runtime_bin());
        c.args(args)
            .env("WARD_HOSTS", &self.hosts)
            .env("WARD_SSH_CONFIG", &self.ssh_config);
        self.ctx.spawn_cmd(c, t).wait()
    }

    fn migrate(&self, id: &str, dest: &str, extra: &[&str], env: &[(&str, &str)]) -> Out {
        let img = self.ctx.dir.join("src-images");
        let dst_bundle = self.ctx.dir.join(format!("{id}-dst"));
        let mut args = vec![
            "migrate".to_string(),
            "--root".into(),
            self.ctx.root.to_string_lossy().into_owned(),
            "--image-dir".into(),
            img.to_string_lossy().into_owned(),
            "--dest-bundle".into(),
            dst_bundle.to_string_lossy().into_owned(),
            "--format".into(),
            "json".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(id.into());
        if !dest.is_empty() {
            args.push(dest.into());
        }
        let mut c = Command::new(runtime_bin());
        c.args(&args)
            .env("WARD_HOSTS", &self.hosts)
            .env("WARD_SSH_CONFIG", &self.ssh_config);
        for (k, v) in env {
            c.env(k, v);
        }
        self.ctx.spawn_cmd(c, MIGRATE_TIMEOUT).wait()
    }

    fn src(&self, args: &[&str]) -> Out {
        self.ctx.rt(args)
    }

    fn dst(&self, args: &[&str]) -> Out {
        let mut c = Command::new(runtime_bin());
        c.arg("--root").arg(&self.dst_root).args(args);
        self.ctx.spawn_cmd(c, CMD_TIMEOUT).wait()
    }

    fn dst_status(&self, id: &str) -> Option<String> {
        let o = self.dst(&["state", id]);
        o.success().then(|| {
            serde_json::from_str::<Value>(&o.stdout).unwrap()["status"]
                .as_str()
                .unwrap()
                .to_string()
        })
    }

    fn src_status(&self, id: &str) -> Option<String> {
        let o = self.src(&["state", id]);
        o.success().then(|| {
            serde_json::from_str::<Value>(&o.stdout).unwrap()["status"]
                .as_str()
                .unwrap()
                .to_string()
        })
    }

    /// A counter container running on the source: stdout appended to
    /// `<dir>/<id>.out`, and a bundle for it at `<dir>/<id>-dst` (the same
    /// rootfs, its own cgroup: both "hosts" share this guest's kernel).
    fn counter(&self, tag: &str) -> (String, PathBuf) {
        self.counter_io(tag, false)
    }

    /// As [`Site::counter`]; with `pipe`, its stdout is a pipe that a
    /// thread here drains into `<dir>/<id>.out`, as an engine's conmon
    /// does.
    fn counter_io(&self, tag: &str, pipe: bool) -> (String, PathBuf) {
        let id = self.ctx.id(tag);
        self.dst_ids.lock().unwrap().push(id.clone());
        let mut b = self.ctx.bundle(&id);
        b.sh("i=0; while :; do i=$((i+1)); echo $i; sleep 0.1; done");
        b.write();
        let dst = self.ctx.dir.join(format!("{id}-dst"));
        fs::create_dir(&dst).unwrap();
        self.ctx
            .host(
                "cp",
                &["-a", b.rootfs().to_str().unwrap(), dst.to_str().unwrap()],
            )
            .assert_ok();
        let mut cfg = b.config.clone();
        cfg["linux"]["cgroupsPath"] = Value::from(format!("/ward-migdst-{id}"));
        fs::write(dst.join("config.json"), cfg.to_string()).unwrap();
        let out = self.ctx.dir.join(format!("{id}.out"));
        let append = |p: &Path| {
            fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(p)
                .unwrap()
        };
        let err = self.ctx.dir.join(format!("{id}.err"));
        let mut c = self.ctx.command(&["run", "-d", "--bundle", b.path(), &id]);
        c.stdin(Stdio::null()).stderr(append(&err));
        if pipe {
            let (mut r, w) = std::io::pipe().unwrap();
            c.stdout(w);
            let mut f = append(&out);
            std::thread::spawn(move || std::io::copy(&mut r, &mut f));
        } else {
            c.stdout(append(&out));
        }
        let mut child = c.spawn().expect("spawn ward run -d");
        let deadline = Instant::now() + scaled(CMD_TIMEOUT);
        let st = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("run -d {id} did not return in time");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Our copy of the pipe's write end: the drain sees its end once
        // the container is gone.
        drop(c);
        assert!(st.success(), "run -d {id}: {}", read_lossy(&err));
        (id, out)
    }

    fn dst_log(&self, id: &str) -> PathBuf {
        self.dst_work.join(format!("{id}.fd1.log"))
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        for id in self.dst_ids.lock().unwrap().iter() {
            let mut c = Command::new(runtime_bin());
            c.arg("--root")
                .arg(&self.dst_root)
                .args(["delete", "--force", id]);
            let _ = c.stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
    }
}

fn numbers(p: &Path) -> Vec<u64> {
    read_lossy(p)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Waits until the file's counter passes `n`; returns the last number.
#[track_caller]
fn counts_past(p: &Path, n: u64) -> u64 {
    let mut last = 0;
    assert!(
        wait_until(scaled(Duration::from_secs(60)), || {
            last = numbers(p).last().copied().unwrap_or(0);
            last > n
        }),
        "the counter in {} never passed {n} (last {last})",
        p.display()
    );
    last
}

/// The counter's numbers over both files: strictly consecutive, no gap
/// and no repeat (nothing lost, nothing run twice).
#[track_caller]
fn consecutive(parts: &[&Path]) {
    let all: Vec<u64> = parts.iter().flat_map(|p| numbers(p)).collect();
    for w in all.windows(2) {
        assert_eq!(w[1], w[0] + 1, "the counter jumped: {:?}", all);
    }
}

fn timed(name: &str, f: impl FnOnce()) {
    let t = Instant::now();
    f();
    eprintln!("TIME {name} {:.1}", t.elapsed().as_secs_f64());
}

/// Checks a migration that succeeded: the record, the counter going on
/// from where it was on the destination only, nothing left on the source.
#[track_caller]
fn moved(site: &Site, id: &str, out: &Path, o: &Out, strategy: &str) -> Value {
    assert!(o.success(), "migrate: {}", o.describe());
    let rec: Value = serde_json::from_str(o.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "migrate --format json printed no record ({e}): {}",
            o.stdout
        )
    });
    assert_eq!(rec["strategy"], strategy);
    assert_eq!(rec["destination"], "dst");
    assert!(rec["bytes_sent"].as_u64().unwrap() > 0, "{rec}");
    assert!(rec["downtime_ms"].as_u64().unwrap() <= rec["total_ms"].as_u64().unwrap());
    assert!(
        o.stderr.contains(&format!("migrate {id}: runs on dst:")),
        "{}",
        o.stderr
    );
    // Gone here: no state, no cgroup, no images.
    assert_eq!(site.src_status(id), None, "still on the source");
    assert!(!Path::new(&format!("/sys/fs/cgroup/ward-{id}")).exists());
    assert!(!site.ctx.dir.join("src-images").join(id).exists());
    assert!(
        !site.dst_work.join(id).exists(),
        "the receiver's images stay"
    );
    // Running there, going on from the number it stopped at here.
    assert_eq!(site.dst_status(id).as_deref(), Some("running"));
    let last_here = numbers(out).last().copied().unwrap_or(0);
    let there = site.dst_log(id);
    counts_past(&there, last_here + 5);
    assert_eq!(
        numbers(&there).first().copied(),
        Some(last_here + 1),
        "the destination did not go on from {last_here}"
    );
    consecutive(&[out, &there]);
    rec
}

/// `ward --root X migrate ...`, `ward --root=X cluster ...`: the runtime's
/// global options before a front verb reach ward-cluster (runs anywhere:
/// no criu, no ssh server; the errors name the root given).
#[test]
fn global_options_before_the_front_verb_are_passed_on() {
    if !testing_ward() {
        println!("SKIP global_options_before_the_front_verb_are_passed_on: not ward");
        return;
    }
    let _ = cluster_bin();
    let ctx = Ctx::new("mig-glob");
    let hosts = ctx.dir.join("hosts");
    fs::write(&hosts, "a ssh://root@192.0.2.1\n").unwrap();
    let root = ctx.dir.join("elsewhere");
    let ward = |args: &[&str]| {
        let mut c = Command::new(runtime_bin());
        c.args(args).env("WARD_HOSTS", &hosts).stdin(Stdio::null());
        let o = c.output().unwrap();
        (o.status, String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let r = root.to_str().unwrap();
    let want = format!("ward: migrate ghost: state ghost: {r}/ghost: container does not exist");
    // Every spelling the runtime takes: --root X, --root=X, -root X, with
    // another global (--criu) beside it; the same as after the verb.
    for args in [
        vec!["--root", r, "migrate", "ghost", "a"],
        vec![
            &format!("--root={r}"),
            "--criu",
            "/bin/true",
            "migrate",
            "ghost",
            "a",
        ],
        vec!["-root", r, "migrate", "ghost", "a"],
        vec!["migrate", "--root", r, "ghost", "a"],
    ] {
        let (st, err) = ward(&args);
        assert!(!st.success(), "{args:?}");
        assert_eq!(err.trim_end(), want, "{args:?}");
    }
    let (st, err) = ward(&["--root", r, "cluster", "kill", "nowhere/ghost"]);
    assert!(!st.success());
    assert!(
        err.starts_with("ward: cluster kill nowhere/ghost: unknown host \"nowhere\""),
        "{err}"
    );
    // A global option ward-cluster has no use for: one line, not run.
    let (st, err) = ward(&["--debug", "--root", r, "migrate", "ghost", "a"]);
    assert_eq!(st.code(), Some(1));
    assert_eq!(
        err.trim_end(),
        "ward: migrate: --debug: a runtime option that ward-cluster does not take (it takes: --root, --criu)"
    );
    // The runtime's own verbs after global options are its own, as before.
    let (st, err) = ward(&["--root", r, "state", "ghost"]);
    assert!(!st.success());
    assert!(err.contains("ghost"), "{err}");
    assert!(!root.exists(), "something made {r}");
}

#[test]
fn migrate_with_each_strategy_and_the_counter_goes_on() {
    let t = "migrate_with_each_strategy_and_the_counter_goes_on";
    if skip(t) {
        return;
    }
    let _ = cluster_bin();
    let site = Site::new("mig-strat");
    // The memory streams to the destination's page server unless told
    // not to (then: disk here, then the channel); post-copy's is lazy.
    for (strategy, stream) in [
        ("stop-and-copy", true),
        ("pre-copy", true),
        ("pre-copy", false),
        ("post-copy", false),
    ] {
        timed(&format!("{t}/{strategy}/stream={stream}"), || {
            let (id, out) = site.counter(&format!("{}{}", &strategy[..3], stream as u8));
            counts_past(&out, 5);
            let mut args = vec!["--strategy", strategy];
            if !stream && strategy != "post-copy" {
                args.push("--no-page-stream");
            }
            let o = site.migrate(&id, "dst", &args, &[]);
            let rec = moved(&site, &id, &out, &o, strategy);
            assert_eq!(rec["pages_streamed"], stream, "{rec}");
            let rounds = rec["pre_copy_rounds"].as_array().unwrap().len();
            if strategy == "pre-copy" {
                assert!(rounds >= 1, "{rec}");
            } else {
                assert_eq!(rounds, 0, "{rec}");
            }
            if strategy == "post-copy" {
                // The lazy dump served the memory until the destination
                // had fetched it all, then the source let go.
                assert!(
                    o.stderr
                        .contains(&format!("migrate {id}: serving the memory to dst")),
                    "{}",
                    o.stderr
                );
            }
            site.dst(&["delete", "--force", &id]).assert_ok();
        });
    }
}

/// A container whose stdout is a pipe to a process here (conmon's way)
/// moves: CRIU dumps the pipe as external and the restore there puts a
/// log file in its place (inherit-fd); the counter goes on in it.
#[test]
fn a_container_whose_stdout_is_a_pipe_moves() {
    let t = "a_container_whose_stdout_is_a_pipe_moves";
    if skip(t) {
        return;
    }
    let _ = cluster_bin();
    let site = Site::new("mig-pipe");
    timed(t, || {
        let (id, out) = site.counter_io("pipe", true);
        counts_past(&out, 5);
        let o = site.migrate(&id, "dst", &["--strategy", "stop-and-copy"], &[]);
        moved(&site, &id, &out, &o, "stop-and-copy");
        site.dst(&["delete", "--force", &id]).assert_ok();
    });
}

/// A fault: the container must run on exactly one host afterwards, the
/// source, its counter going on; nothing of it on the destination.
#[track_caller]
fn back_on_the_source(site: &Site, id: &str, out: &Path, o: &Out, says: &str) {
    assert!(!o.success(), "migrate succeeded: {}", o.describe());
    let line = o
        .stderr
        .lines()
        .rfind(|l| l.starts_with("ward: "))
        .unwrap_or("");
    assert!(
        line.starts_with(&format!("ward: migrate {id}: ")) && line.contains(says),
        "want one line naming {says:?}: {}",
        o.stderr
    );
    assert_eq!(
        site.src_status(id).as_deref(),
        Some("running"),
        "{}",
        o.stderr
    );
    let n = numbers(out).last().copied().unwrap_or(0);
    counts_past(out, n + 3);
    // The destination's copy (if any was made) is removed by the receiver
    // or its guard, which may finish just after the source gives up.
    assert!(
        wait_until(scaled(Duration::from_secs(30)), || site
            .dst_status(id)
            .is_none()),
        "the container also exists on the destination: {:?}",
        site.dst_status(id)
    );
    assert!(
        wait_until(scaled(Duration::from_secs(30)), || !site
            .dst_work
            .join(id)
            .exists()),
        "the receiver's work directory stays"
    );
    assert!(!site.ctx.dir.join("src-images").join(id).exists());
    consecutive(&[out]);
}

#[test]
fn faults_at_each_step_leave_it_running_on_the_source() {
    let t = "faults_at_each_step_leave_it_running_on_the_source";
    if skip(t) {
        return;
    }
    let _ = cluster_bin();
    let site = Site::new("mig-fault");
    let full = std::env::var_os("WARD_MIGRATE_FULL").is_some_and(|v| v == "1");
    let mut cases: Vec<(&str, &str)> = vec![
        ("ssh@dumped", "the ssh channel ended"),
        ("receiver@restore", "restore"),
        ("criu@restore", "restore"),
        ("ward@restore", "restore"),
    ];
    if full {
        for step in ["before-freeze", "precopy", "dumped", "restore"] {
            for what in ["ssh", "receiver"] {
                let f: &'static str = Box::leak(format!("{what}@{step}").into_boxed_str());
                if !cases.iter().any(|c| c.0 == f) {
                    cases.push((f, ""));
                }
            }
        }
    }
    for (fault, says) in cases {
        timed(&format!("{t}/{fault}"), || {
            let (id, out) = site.counter("f");
            counts_past(&out, 3);
            let o = site.migrate(
                &id,
                "dst",
                &["--strategy", "pre-copy"],
                &[("WARD_MIGRATE_FAULT", fault)],
            );
            back_on_the_source(&site, &id, &out, &o, says);
            site.src(&["delete", "--force", &id]).assert_ok();
        });
    }

    // A restore error: the destination's rootfs is not the one dumped.
    timed(&format!("{t}/restore-error"), || {
        let (id, out) = site.counter("re");
        counts_past(&out, 3);
        // busybox (the counter's shell) one byte longer there: CRIU
        // refuses an executable whose size differs.
        let bb = site.ctx.dir.join(format!("{id}-dst/rootfs/bin/busybox"));
        fs::OpenOptions::new()
            .append(true)
            .open(&bb)
            .unwrap()
            .write_all(b"\0")
            .unwrap();
        let o = site.migrate(&id, "dst", &["--strategy", "stop-and-copy"], &[]);
        back_on_the_source(&site, &id, &out, &o, "restore");
        site.src(&["delete", "--force", &id]).assert_ok();
    });

    // The destination's disk fills up: its work directory on a 64 KiB tmpfs (the counter dumps ~190 KiB).
    timed(&format!("{t}/disk-full"), || {
        let (id, out) = site.counter("df");
        counts_past(&out, 3);
        let small = site.ctx.dir.join("small");
        fs::create_dir_all(&small).unwrap();
        site.ctx
            .host(
                "mount",
                &[
                    "-t",
                    "tmpfs",
                    "-o",
                    "size=64k",
                    "tmpfs",
                    small.to_str().unwrap(),
                ],
            )
            .assert_ok();
        site.ctx.track_host_mount(&small);
        let port = site.port.to_string();
        let dest = format!("ssh://root@127.0.0.1:{port}");
        let o = site.migrate(
            &id,
            &dest,
            &[
                "--remote-ward",
                runtime_bin().to_str().unwrap(),
                "--remote-root",
                site.dst_root.to_str().unwrap(),
                "--remote-work",
                small.to_str().unwrap(),
                "--strategy",
                "stop-and-copy",
            ],
            &[],
        );
        back_on_the_source(&site, &id, &out, &o, "No space left on device");
        assert!(!small.join(&id).exists());
        let _ = Command::new("umount").arg(&small).status();
        site.src(&["delete", "--force", &id]).assert_ok();
    });
}

#[test]
fn bad_input_is_one_line_and_the_container_keeps_running() {
    let t = "bad_input_is_one_line_and_the_container_keeps_running";
    if skip(t) {
        return;
    }
    let _ = cluster_bin();
    let site = Site::new("mig-bad");
    timed(t, || {
        let (id, out) = site.counter("b");
        counts_past(&out, 3);
        let d = &site.ctx.dir;
        let one_line = |o: &Out, says: &str| {
            assert!(!o.success(), "{}", o.describe());
            let lines: Vec<&str> = o
                .stderr
                .lines()
                .filter(|l| l.starts_with("ward: "))
                .collect();
            assert_eq!(lines.len(), 1, "{}", o.stderr);
            assert!(
                lines[0].starts_with(&format!("ward: migrate {id}: ")) && lines[0].contains(says),
                "want {says:?}: {}",
                lines[0]
            );
            assert_eq!(site.src_status(&id).as_deref(), Some("running"));
            assert_eq!(site.dst_status(&id), None);
        };
        one_line(
            &site.migrate(&id, "nowhere", &[], &[]),
            "unknown host \"nowhere\"",
        );
        one_line(&site.migrate(&id, "down", &[], &[]), "Connection refused");
        // ssh refusing the key: another identity than the authorized one.
        let other = d.join("ssh_config_other");
        fs::write(
            &other,
            read_lossy(&site.ssh_config).replace("/userkey\n", "/otherkey\n"),
        )
        .unwrap();
        let mut c = Command::new(runtime_bin());
        c.args([
            "migrate",
            "--root",
            site.ctx.root.to_str().unwrap(),
            "--ssh-config",
        ])
        .arg(&other)
        .args([&id, "dst"])
        .env("WARD_HOSTS", &site.hosts);
        one_line(
            &site.ctx.spawn_cmd(c, MIGRATE_TIMEOUT).wait(),
            "Permission denied (publickey)",
        );
        // A destination without criu.
        let hosts2 = d.join("hosts-nocriu");
        fs::write(
            &hosts2,
            read_lossy(&site.hosts).replace(" work=", " criu=/nonexistent/criu work="),
        )
        .unwrap();
        let mut c = Command::new(runtime_bin());
        c.args([
            "migrate",
            "--root",
            site.ctx.root.to_str().unwrap(),
            "--hosts",
        ])
        .arg(&hosts2)
        .args([
            "--dest-bundle",
            &format!("{}/{id}-dst", site.ctx.dir_str()),
            &id,
            "dst",
        ])
        .env("WARD_SSH_CONFIG", &site.ssh_config);
        one_line(
            &site.ctx.spawn_cmd(c, MIGRATE_TIMEOUT).wait(),
            "preflight on dst: ",
        );
        // The ID taken there.
        let mut b2 = site.ctx.bundle("taken");
        b2.sh("sleep 1000");
        b2.config["linux"]["cgroupsPath"] = Value::from(format!("/ward-migtaken-{id}"));
        b2.write();
        let mut c = Command::new(runtime_bin());
        c.arg("--root")
            .arg(&site.dst_root)
            .args(["run", "-d", "--bundle", b2.path(), &id]);
        site.ctx.spawn_cmd(c, CMD_TIMEOUT).wait().assert_ok();
        let o = site.migrate(&id, "dst", &[], &[]);
        assert!(!o.success());
        assert!(
            o.stderr.contains(&format!(
                "preflight on dst: container {id} exists here already"
            )),
            "{}",
            o.stderr
        );
        site.dst(&["delete", "--force", &id]).assert_ok();
        // No bundle there.
        let mut c = Command::new(runtime_bin());
        c.args(["migrate", "--root", site.ctx.root.to_str().unwrap()])
            .args(["--dest-bundle", "/nonexistent/b", &id, "dst"])
            .env("WARD_HOSTS", &site.hosts)
            .env("WARD_SSH_CONFIG", &site.ssh_config);
        one_line(
            &site.ctx.spawn_cmd(c, MIGRATE_TIMEOUT).wait(),
            "preflight on dst: bundle /nonexistent/b/config.json",
        );
        // --copy-rootfs where a bundle is already.
        let o = site.migrate(&id, "dst", &["--copy-rootfs"], &[]);
        one_line(&o, "-dst exists here: --copy-rootfs brings the bundle");
        // Garbage in the hosts file.
        let bad = d.join("hosts-bad");
        fs::write(&bad, "dst ssh://root@127.0.0.1:22\n\u{1}garbage here\n").unwrap();
        let mut c = Command::new(runtime_bin());
        c.args([
            "migrate",
            "--root",
            site.ctx.root.to_str().unwrap(),
            "--hosts",
        ])
        .arg(&bad)
        .args([&id, "dst"]);
        one_line(
            &site.ctx.spawn_cmd(c, MIGRATE_TIMEOUT).wait(),
            "hosts-bad:2: bad host name",
        );
        // Unknown, paused and stopped containers.
        let o = site.migrate("no-such-thing", "dst", &[], &[]);
        assert!(!o.success());
        assert!(
            o.stderr.contains("ward: migrate no-such-thing: ")
                && o.stderr.contains("does not exist"),
            "{}",
            o.stderr
        );
        site.src(&["pause", &id]).assert_ok();
        let o = site.migrate(&id, "dst", &[], &[]);
        assert!(o.stderr.contains("it is paused"), "{}", o.stderr);
        assert_eq!(site.src_status(&id).as_deref(), Some("paused"));
        site.src(&["resume", &id]).assert_ok();
        let n = numbers(&out).last().copied().unwrap_or(0);
        counts_past(&out, n + 2);
        let mut b3 = site.ctx.bundle("stopped");
        b3.sh("true");
        b3.write();
        let sid = site.ctx.id("st");
        site.src(&["create", "--bundle", b3.path(), &sid])
            .assert_ok();
        let o = site.migrate(&sid, "dst", &[], &[]);
        assert!(o.stderr.contains("it is created"), "{}", o.stderr);
        site.src(&["delete", "--force", &sid]).assert_ok();
        // Nothing left of all that on the destination.
        let left: Vec<_> = fs::read_dir(&site.dst_work)
            .map(|r| r.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "left in the receiver's work dir: {left:?}");
        site.src(&["delete", "--force", &id]).assert_ok();
    });
}

#[test]
fn cluster_ps_kill_exec_and_to_auto() {
    let t = "cluster_ps_kill_exec_and_to_auto";
    if skip(t) {
        return;
    }
    let _ = cluster_bin();
    let site = Site::new("mig-cluster");
    timed(t, || {
        let (id, out) = site.counter("c");
        counts_past(&out, 3);
        // --to auto: "src" holds it, "down" doesn't answer: "dst".
        let o = site.migrate(
            &id,
            "",
            &["--to", "auto", "--strategy", "stop-and-copy"],
            &[],
        );
        assert!(o.stderr.contains("--to auto chose dst"), "{}", o.stderr);
        moved(&site, &id, &out, &o, "stop-and-copy");

        let o = site.ward(&["cluster", "ps"], CMD_TIMEOUT);
        assert!(o.success(), "{}", o.describe());
        let row = o
            .stdout
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(id.as_str()))
            .unwrap_or_else(|| panic!("{id} not listed: {}", o.stdout));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!((cols[0], cols[2]), ("dst", "running"), "{row}");
        assert!(
            o.stdout
                .lines()
                .any(|l| l.starts_with("down ") && l.contains("UNREACHABLE")),
            "{}",
            o.stdout
        );
        assert!(o.stdout.contains("# unreachable: down: "), "{}", o.stdout);
        let o = site.ward(&["cluster", "ps", "--format", "json"], CMD_TIMEOUT);
        let v: Value = serde_json::from_str(&o.stdout).unwrap();
        let dst = v
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["host"] == "dst")
            .unwrap();
        assert!(dst["node"]["mem_available"].as_u64().unwrap() > 0);

        let o = site.ward(
            &[
                "cluster",
                "exec",
                &format!("dst/{id}"),
                "sh",
                "-c",
                "echo hello from $(hostname)",
            ],
            CMD_TIMEOUT,
        );
        assert_eq!(o.stdout.trim(), "hello from ward-test", "{}", o.describe());
        let o = site.ward(
            &[
                "cluster",
                "exec",
                &format!("dst/{id}"),
                "sh",
                "-c",
                "exit 3",
            ],
            CMD_TIMEOUT,
        );
        assert_eq!(o.code, Some(3), "{}", o.describe());

        let o = site.ward(
            &["cluster", "kill", &format!("dst/{id}"), "KILL"],
            CMD_TIMEOUT,
        );
        assert!(o.success(), "{}", o.describe());
        assert!(wait_until(scaled(Duration::from_secs(30)), || {
            site.dst_status(&id).as_deref() == Some("stopped")
        }));
        let o = site.ward(&["cluster", "kill", "dst/no-such", "KILL"], CMD_TIMEOUT);
        assert!(!o.success());
        assert!(
            o.stderr.starts_with("ward: cluster kill dst/no-such: ")
                && o.stderr.contains("does not exist"),
            "{}",
            o.stderr
        );
        let o = site.ward(&["cluster", "kill", "nowhere/x"], CMD_TIMEOUT);
        assert!(
            o.stderr.contains("unknown host \"nowhere\""),
            "{}",
            o.stderr
        );
        site.dst(&["delete", "--force", &id]).assert_ok();
    });
}

// ---------------------------------------------------------------------------
// The network moving with it: two "hosts" as network namespaces of this
// guest, each with a bridge named brmig0, joined by a veth as two machines
// by a cable; a peer on the source's bridge keeps a TCP conversation with
// the container across the move.
// ---------------------------------------------------------------------------

/// The peer: sends a numbered line every 50 ms and reads the echoes on
/// one connection, until `stop` exists; then writes what it saw. The
/// same script measures the downtime in bench/migrate.sh.
const PEER: &str = include_str!("../../../bench/migrate-peer.py");

struct NetSite {
    site_dir: PathBuf,
    tag: String,
    _sshd: Proc,
    port: u16,
}

fn ip(args: &[&str]) -> Out {
    run_host(&std::env::temp_dir(), "ip", args)
}

fn netns_path(n: &str) -> String {
    format!("/run/netns/{n}")
}

impl NetSite {
    fn ns(&self, what: &str) -> String {
        format!("wm{what}{}", self.tag)
    }
}

impl Drop for NetSite {
    fn drop(&mut self) {
        for w in ["hA", "hB", "peer", "cA", "cB"] {
            let _ = ip(&["netns", "del", &self.ns(w)]);
        }
        let _ = &self.site_dir;
    }
}

#[test]
fn the_ip_and_an_established_tcp_connection_move_with_it() {
    let t = "the_ip_and_an_established_tcp_connection_move_with_it";
    if skip(t) {
        return;
    }
    let _ = cluster_bin();
    let site = Site::new("mig-net");
    let tag = (std::process::id() % 100000).to_string();
    timed(t, || {
        let mut ns = NetSite {
            site_dir: site.ctx.dir.clone(),
            tag: tag.clone(),
            _sshd: Proc::spawn(Command::new("true"), &site.ctx.dir, CMD_TIMEOUT),
            port: 0,
        };
        let (ha, hb, peer, ca, cb) = (
            ns.ns("hA"),
            ns.ns("hB"),
            ns.ns("peer"),
            ns.ns("cA"),
            ns.ns("cB"),
        );
        for n in [&ha, &hb, &peer, &ca] {
            ip(&["netns", "add", n]).assert_ok();
        }
        let sh = |script: &str| {
            site.ctx.host("sh", &["-ec", script]).assert_ok();
        };
        // Two hosts, a bridge each, one cable; the peer and the container
        // on the source's bridge.
        sh(&format!(
            "ip -n {ha} link add brmig0 type bridge; ip -n {hb} link add brmig0 type bridge
             ip -n {ha} link add lnk type veth peer name lnk netns {hb}
             ip -n {ha} link set lnk master brmig0 up; ip -n {hb} link set lnk master brmig0 up
             ip -n {ha} addr add 10.77.0.1/24 dev brmig0; ip -n {hb} addr add 10.77.0.2/24 dev brmig0
             ip -n {ha} link set brmig0 up; ip -n {hb} link set brmig0 up
             ip -n {ha} link set lo up; ip -n {hb} link set lo up
             ip -n {peer} link add eth0 type veth peer name vpeer netns {ha}
             ip -n {ha} link set vpeer master brmig0 up
             ip -n {peer} addr add 10.77.0.100/24 dev eth0; ip -n {peer} link set eth0 up
             ip -n {ca} link add eth0 type veth peer name vctr{tag} netns {ha}
             ip -n {ha} link set vctr{tag} master brmig0 up
             ip -n {ca} link set eth0 address 02:77:00:00:00:10
             ip -n {ca} addr add 10.77.0.10/24 dev eth0; ip -n {ca} link set eth0 up; ip -n {ca} link set lo up
             ip -n {ca} route add default via 10.77.0.1"
        ));
        // sshd on host B (its network namespace only: nsenter keeps the
        // mount namespace, so what the receiver mounts is seen here).
        let d = site.ctx.dir.clone();
        let s = |p: &str| d.join(p).to_string_lossy().into_owned();
        let port = 2222u16;
        fs::write(
            d.join("sshd_config_b"),
            read_lossy(&d.join("sshd_config"))
                .replace(&format!("Port {}\n", site.port), &format!("Port {port}\n"))
                .replace("ListenAddress 127.0.0.1", "ListenAddress 10.77.0.2")
                .replace("sshd.pid", "sshd-b.pid"),
        )
        .unwrap();
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", netns_path(&hb))).args([
            "/usr/sbin/sshd",
            "-D",
            "-e",
            "-f",
            &s("sshd_config_b"),
        ]);
        ns._sshd = site.ctx.spawn_cmd(c, Duration::from_secs(3600));
        ns.port = port;
        let hostkey = fs::read_to_string(d.join("hostkey.pub")).unwrap();
        fs::write(
            d.join("known_hosts"),
            format!(
                "{}[10.77.0.2]:{port} {hostkey}",
                read_lossy(&d.join("known_hosts"))
            ),
        )
        .unwrap();

        // The container: an echo server on 10.77.0.10:5000, in the
        // namespace cA here and (its bundle there says) cB there.
        let id = site.ctx.id("net");
        site.dst_ids.lock().unwrap().push(id.clone());
        let mut b = site.ctx.bundle(&id);
        b.sh("exec nc -l -p 5000 -e /bin/cat");
        b.set_namespace(
            "network",
            serde_json::json!({"type": "network", "path": netns_path(&ca)}),
        );
        b.write();
        let dst = d.join(format!("{id}-dst"));
        fs::create_dir(&dst).unwrap();
        site.ctx
            .host(
                "cp",
                &["-a", b.rootfs().to_str().unwrap(), dst.to_str().unwrap()],
            )
            .assert_ok();
        let mut cfg = b.config.clone();
        cfg["linux"]["cgroupsPath"] = Value::from(format!("/ward-migdst-{id}"));
        for n in cfg["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "network" {
                n["path"] = Value::from(netns_path(&cb));
            }
        }
        fs::write(dst.join("config.json"), cfg.to_string()).unwrap();
        let mut c = site.ctx.command(&["run", "-d", "--bundle", b.path(), &id]);
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        assert!(c.status().unwrap().success());
        assert!(
            wait_until(scaled(Duration::from_secs(30)), || {
                site.ctx
                    .host(
                        "nsenter",
                        &[
                            &format!("--net={}", netns_path(&ca)),
                            "sh",
                            "-c",
                            "cat /proc/net/tcp /proc/net/tcp6 | grep -qi ':1388 [0-9a-f]*:0000 0A'",
                        ],
                    )
                    .success()
            }),
            "the echo server never listened"
        );

        // The peer talks to it.
        fs::write(d.join("peer.py"), PEER).unwrap();
        let report = d.join("peer.json");
        let stop = d.join("peer.stop");
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", netns_path(&peer)))
            .args(["python3", &s("peer.py"), "10.77.0.10", "5000"])
            .arg(&stop)
            .arg(&report);
        let peer_proc = site.ctx.spawn_cmd(c, Duration::from_secs(600));
        assert!(wait_until(scaled(Duration::from_secs(30)), || {
            Path::new(&format!("{}.up", report.display())).exists()
        }));
        std::thread::sleep(Duration::from_secs(2));

        // The move, run on host A.
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", netns_path(&ha)))
            .arg(runtime_bin())
            .args([
                "migrate",
                "--root",
                site.ctx.root.to_str().unwrap(),
                "--image-dir",
                &s("src-images"),
                "--dest-bundle",
                dst.to_str().unwrap(),
                "--format",
                "json",
                "--remote-ward",
                runtime_bin().to_str().unwrap(),
                "--remote-root",
                site.dst_root.to_str().unwrap(),
                "--remote-work",
                site.dst_work.to_str().unwrap(),
                &id,
                &format!("ssh://root@10.77.0.2:{port}"),
            ])
            .env("WARD_SSH_CONFIG", &site.ssh_config);
        let o = site.ctx.spawn_cmd(c, MIGRATE_TIMEOUT).wait();
        assert!(o.success(), "migrate: {}", o.describe());
        let rec: Value = serde_json::from_str(o.stdout.trim()).unwrap();
        // Talk on for a while there, then stop the peer (the echo server
        // ends with its connection).
        std::thread::sleep(Duration::from_secs(3));
        assert_eq!(site.dst_status(&id).as_deref(), Some("running"));
        assert_eq!(site.src_status(&id), None);
        fs::write(&stop, b"").unwrap();
        let po = peer_proc.wait();
        assert!(po.success(), "peer: {}", po.describe());
        let r: Value = serde_json::from_str(&read_lossy(&report)).unwrap();
        eprintln!("peer: {r}; migrate: {rec}");
        assert_eq!(r["errors"], serde_json::json!([]), "{r}");
        assert_eq!(r["got"], r["sent"], "lost or reordered: {r}");
        assert!(r["sent"].as_u64().unwrap() > 20, "{r}");
        eprintln!(
            "MEASURE longest gap the peer saw: {} ms; migrate's downtime: {} ms",
            r["max_gap_ms"], rec["downtime_ms"]
        );
        // Where it lived: on host B, in cB, with the same address and MAC;
        // nothing of it on host A.
        let addr = site
            .ctx
            .host("ip", &["-n", &cb, "-br", "addr", "show", "eth0"])
            .stdout;
        assert!(addr.contains("10.77.0.10/24"), "{addr}");
        let link = site
            .ctx
            .host("ip", &["-n", &cb, "-br", "link", "show", "eth0"])
            .stdout;
        assert!(link.contains("02:77:00:00:00:10"), "{link}");
        assert!(!ip(&["-n", &ha, "link", "show", &format!("vctr{tag}")]).success());
        assert!(ip(&["-n", &hb, "link", "show", &format!("vctr{tag}")])
            .stdout
            .contains("master brmig0"));
        assert!(
            !Path::new(&netns_path(&ca)).exists(),
            "the source's netns stays"
        );
        site.dst(&["delete", "--force", &id]).assert_ok();
    });
}

// ---------------------------------------------------------------------------
// Two guests: the test that proves migration. Booted from the host as a
// pair (tests/vm/run --pair), each its own kernel, joined by one qemu
// Ethernet link; this test binary runs again in guest A (WARD_VM_ROLE=a).
// ---------------------------------------------------------------------------

fn in_test_vm() -> bool {
    fs::read_to_string("/proc/cmdline").is_ok_and(|c| c.contains("ward.run="))
}

const PAIR_TEST: &str = "two_guests_move_a_container_and_its_tcp_peer_goes_on";

/// The sshd config of guest `ab` (10.77.0.1 or .2), from the pair's dir.
fn pair_sshd_config(dir: &Path, addr: &str) -> String {
    let s = |p: &str| dir.join(p).to_string_lossy().into_owned();
    format!(
        "Port 22\nListenAddress {addr}\nHostKey {}\nAuthorizedKeysFile {}\nPidFile /run/sshd-ward.pid\n\
         StrictModes no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n\
         KbdInteractiveAuthentication no\nUsePAM no\nLogLevel ERROR\n",
        s("hostkey"),
        s("authorized_keys")
    )
}

/// A guest's side of the link: eth0 in a bridge brmig0 with `addr`, sshd.
fn pair_link_script(dir: &Path, me: &str, addr: &str) -> String {
    format!(
        "set -e\nmodprobe virtio_net\nhostname ward-vm-{me}\n\
         for i in $(seq 100); do [ -e /sys/class/net/eth0 ] && break; sleep 0.1; done\n\
         ip link add brmig0 type bridge\nip link set eth0 master brmig0\nip link set eth0 up\n\
         ip addr add {addr}/24 dev brmig0\nip link set brmig0 up\nmkdir -p /run/sshd\n\
         /usr/sbin/sshd -f {}\n",
        dir.join(format!("sshd_config_{me}")).display()
    )
}

#[test]
fn two_guests_move_a_container_and_its_tcp_peer_goes_on() {
    match std::env::var("WARD_VM_ROLE").as_deref() {
        Ok("a") => return pair_guest_a(),
        Ok(_) => return,
        Err(_) => {}
    }
    if in_test_vm() {
        eprintln!("SKIP: {PAIR_TEST}: boots its own pair of guests from the host");
        return;
    }
    if std::env::var_os("WARD_TEST_VM").is_some_and(|v| v == "0") {
        eprintln!("SKIP: {PAIR_TEST}: WARD_TEST_VM=0");
        return;
    }
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !Path::new("/usr/sbin/sshd").is_file() {
        eprintln!("SKIP: {PAIR_TEST}: needs root and sshd (openssh-server)");
        return;
    }
    if skip_unless_ward(PAIR_TEST) {
        return;
    }
    let _ = cluster_bin();
    let t0 = Instant::now();
    let ctx = Ctx::new("mig-pair");
    let d = ctx.dir.clone();
    let s = |p: &str| d.join(p).to_string_lossy().into_owned();
    for k in ["hostkey", "userkey"] {
        ctx.host(
            "ssh-keygen",
            &["-q", "-t", "ed25519", "-N", "", "-f", &s(k)],
        )
        .assert_ok();
    }
    fs::copy(d.join("userkey.pub"), d.join("authorized_keys")).unwrap();
    let hostkey = fs::read_to_string(d.join("hostkey.pub")).unwrap();
    fs::write(
        d.join("known_hosts"),
        format!("10.77.0.1 {hostkey}10.77.0.2 {hostkey}"),
    )
    .unwrap();
    fs::write(
        d.join("ssh_config"),
        format!(
            "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n  LogLevel ERROR\n",
            s("userkey"),
            s("known_hosts")
        ),
    )
    .unwrap();
    let ward = runtime_bin();
    fs::write(
        d.join("hosts"),
        format!(
            "a ssh://root@10.77.0.1 ward={0} root=/run/ward-a\nb ssh://root@10.77.0.2 ward={0} root=/run/ward-b\n",
            ward.display()
        ),
    )
    .unwrap();
    fs::write(d.join("sshd_config_a"), pair_sshd_config(&d, "10.77.0.1")).unwrap();
    fs::write(d.join("sshd_config_b"), pair_sshd_config(&d, "10.77.0.2")).unwrap();
    fs::write(
        d.join("b.sh"),
        format!(
            "{}echo B-READY\nexec sleep 3600\n",
            pair_link_script(&d, "b", "10.77.0.2")
        ),
    )
    .unwrap();
    // The bundle, made here so that both guests see it at one path: an
    // echo server on 10.77.0.10:5000 in the netns /run/netns/wmc.
    // A counter appends to a file of its rootfs the whole time: the first
    // copy of --copy-rootfs is made while it runs, the rest must come
    // with the second pass, after the freeze.
    let mut b = ctx.bundle("bundle");
    b.sh("i=0; while :; do i=$((i+1)); echo $i >> /tmp/log; sleep 0.2; done & exec nc -l -p 5000 -e /bin/cat");
    b.set_namespace(
        "network",
        serde_json::json!({"type": "network", "path": "/run/netns/wmc"}),
    );
    b.write();
    let harness = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vm/run");
    let mut c = Command::new(harness);
    c.args(["--timeout", "900", "--mem", "1024", "--pair"])
        .arg(format!("bash {}", s("b.sh")))
        .args(["--env", &format!("WARD_PAIR_DIR={}", d.display())])
        .args(["--env", "WARD_TEST_TIME_SCALE=2"])
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", PAIR_TEST, "--nocapture", "--test-threads", "1"]);
    let o = ctx.spawn_cmd(c, Duration::from_secs(960)).wait();
    eprintln!("{}", o.stdout);
    assert!(o.success(), "guest A: {}", o.describe());
    assert!(
        o.stdout.contains("PAIR-OK"),
        "guest A never got to the end: {}",
        o.stdout
    );
    eprintln!("TIME {PAIR_TEST} {:.1}", t0.elapsed().as_secs_f64());
}

/// Guest A: the source, with the peer on its bridge.
fn pair_guest_a() {
    let d = PathBuf::from(std::env::var("WARD_PAIR_DIR").expect("WARD_PAIR_DIR"));
    let s = |p: &str| d.join(p).to_string_lossy().into_owned();
    let tmp = std::env::temp_dir();
    let sh = |script: &str| {
        let o = run_host(&tmp, "bash", &["-ec", script]);
        assert!(o.success(), "{script}: {}", o.describe());
    };
    sh(&pair_link_script(&d, "a", "10.77.0.1"));
    sh("ip netns add wmpeer; ip netns add wmc
        ip -n wmpeer link add eth0 type veth peer name vpeer netns 1
        ip link set vpeer master brmig0 up
        ip -n wmpeer addr add 10.77.0.100/24 dev eth0; ip -n wmpeer link set eth0 up
        ip -n wmc link add eth0 type veth peer name vctr0 netns 1
        ip link set vctr0 master brmig0 up
        ip -n wmc link set eth0 address 02:77:00:00:00:10
        ip -n wmc addr add 10.77.0.10/24 dev eth0; ip -n wmc link set eth0 up; ip -n wmc link set lo up");
    let ward = runtime_bin();
    let rt = |args: &[&str]| -> Out {
        let mut c = Command::new(&ward);
        c.args(args)
            .env("WARD_HOSTS", d.join("hosts"))
            .env("WARD_SSH_CONFIG", d.join("ssh_config"));
        Proc::spawn(c, &tmp, MIGRATE_TIMEOUT).wait()
    };
    assert!(
        wait_until(scaled(Duration::from_secs(120)), || {
            std::net::TcpStream::connect(("10.77.0.2", 22)).is_ok()
        }),
        "guest B's sshd never answered on 10.77.0.2:22"
    );
    // The bundle is A's alone (guest B sees the host's files, not A's):
    // --copy-rootfs brings it.
    let bundle = "/var/lib/ward-pair/bundle";
    fs::create_dir_all("/var/lib/ward-pair").unwrap();
    let o = run_host(&tmp, "cp", &["-a", &s("bundle"), bundle]);
    assert!(o.success(), "{}", o.describe());
    let id = "pair-echo";
    let mut c = Command::new(&ward);
    c.args(["--root", "/run/ward-a", "run", "-d", "--bundle", bundle, id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    assert!(c.status().unwrap().success());
    assert!(
        wait_until(scaled(Duration::from_secs(30)), || {
            run_host(
                &tmp,
                "nsenter",
                &[
                    "--net=/run/netns/wmc",
                    "sh",
                    "-c",
                    "cat /proc/net/tcp /proc/net/tcp6 | grep -qi ':1388 [0-9a-f]*:0000 0A'",
                ],
            )
            .success()
        }),
        "the echo server never listened"
    );
    fs::write(tmp.join("peer.py"), PEER).unwrap();
    let report = tmp.join("peer.json");
    let stop = tmp.join("peer.stop");
    let mut c = Command::new("nsenter");
    c.arg("--net=/run/netns/wmpeer")
        .args([
            "python3",
            tmp.join("peer.py").to_str().unwrap(),
            "10.77.0.10",
            "5000",
        ])
        .arg(&stop)
        .arg(&report);
    let peer = Proc::spawn(c, &tmp, Duration::from_secs(600));
    assert!(wait_until(scaled(Duration::from_secs(30)), || {
        Path::new(&format!("{}.up", report.display())).exists()
    }));
    std::thread::sleep(Duration::from_secs(2));

    let t = Instant::now();
    let o = rt(&[
        "migrate",
        "--root",
        "/run/ward-a",
        "--copy-rootfs",
        "--format",
        "json",
        id,
        "b",
    ]);
    assert!(o.success(), "migrate: {}", o.describe());
    eprintln!("TIME {PAIR_TEST}/migrate {:.1}", t.elapsed().as_secs_f64());
    eprint!("{}", o.stderr);
    let rec: Value = serde_json::from_str(o.stdout.trim()).unwrap();
    std::thread::sleep(Duration::from_secs(3));

    // The cluster's view: on b, running; not on a.
    let ps = rt(&["cluster", "ps"]);
    assert!(ps.success(), "{}", ps.describe());
    eprint!("{}", ps.stdout);
    let rows: Vec<Vec<&str>> = ps
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|c: &Vec<&str>| c.get(1) == Some(&id))
        .collect();
    assert_eq!(rows.len(), 1, "{}", ps.stdout);
    assert_eq!((rows[0][0], rows[0][2]), ("b", "running"));
    let ex = rt(&[
        "cluster",
        "exec",
        &format!("b/{id}"),
        "cat",
        "/proc/sys/kernel/hostname",
    ]);
    assert!(ex.success(), "{}", ex.describe());
    let log = rt(&["cluster", "exec", &format!("b/{id}"), "cat", "/tmp/log"]);
    let n: Vec<u64> = log
        .stdout
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert!(n.len() > 10, "{}", log.describe());
    assert!(
        n.iter().enumerate().all(|(i, v)| *v == i as u64 + 1),
        "the rootfs's log has a gap: what changed after the first copy did not all come: {n:?}"
    );
    let addr = rt(&[
        "cluster",
        "exec",
        &format!("b/{id}"),
        "ip",
        "-o",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(addr.stdout.contains("10.77.0.10/24"), "{}", addr.describe());

    fs::write(&stop, b"").unwrap();
    let po = peer.wait();
    assert!(po.success(), "peer: {}", po.describe());
    let r: Value = serde_json::from_str(&read_lossy(&report)).unwrap();
    eprintln!("peer: {r}; migrate: {rec}");
    assert_eq!(r["errors"], serde_json::json!([]), "{r}");
    assert_eq!(r["got"], r["sent"], "lost or reordered: {r}");
    eprintln!(
        "MEASURE two guests: longest gap the peer saw {} ms; downtime {} ms; total {} ms",
        r["max_gap_ms"], rec["downtime_ms"], rec["total_ms"]
    );
    // Nothing of it left on a.
    let a = rt(&["--root", "/run/ward-a", "list", "-q"]);
    assert_eq!(a.stdout.trim(), "", "{}", a.describe());
    assert!(!Path::new("/run/netns/wmc").exists());
    // The bundle stays here (ward never deletes a bundle); the images went.
    assert!(Path::new(bundle).join("config.json").exists());
    assert!(!Path::new("/var/lib/ward/migrate").join(id).exists());
    assert!(!run_host(&tmp, "ip", &["link", "show", "vctr0"]).success());
    println!("PAIR-OK");
}
