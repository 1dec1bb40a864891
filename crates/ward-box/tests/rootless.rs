//! ward box without root: a host user made for the test (useradd, removed
//! afterwards) runs ward-box through setpriv, with its own store. Layers
//! unpack without chown and without device nodes; the overlay (whiteouts,
//! `user.overlay.opaque`) is mounted in the box's user namespace; nothing
//! is mounted on the host but, for the pasta test where users may not open
//! /dev/net/tun, a private bind of a directory of the test's own that pins
//! the test's mount namespace (`TunNs`), undone at the end.

mod common;
use common::*;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::sync::Mutex;

static USERS: Mutex<()> = Mutex::new(());

struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
    /// A pinned mount namespace to run ward-box in (see `TunNs`).
    mntns: Option<std::path::PathBuf>,
}

impl TestUser {
    fn new() -> TestUser {
        let _g = USERS.lock().unwrap_or_else(|p| p.into_inner());
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("wbx{}x{n}", std::process::id() % 100000);
        let _ = Command::new("userdel").arg(&name).output();
        let st = Command::new("useradd")
            .args(["-M", "-U", "-s", "/bin/sh", &name])
            .status()
            .unwrap();
        assert!(st.success(), "useradd");
        let id = |flag: &str| -> u32 {
            String::from_utf8(
                Command::new("id")
                    .args([flag, &name])
                    .output()
                    .unwrap()
                    .stdout,
            )
            .unwrap()
            .trim()
            .parse()
            .unwrap()
        };
        TestUser {
            mntns: None,
            uid: id("-u"),
            gid: id("-g"),
            name,
        }
    }

    /// ward-box as this user, on `env`'s store, in the test's host
    /// network namespace (the boxes' pasta runs there).
    fn wb(&self, env: &Env, args: &[&str]) -> Out {
        let mut c = Command::new("nsenter");
        c.arg(format!(
            "--net={}",
            env.hostns
                .as_ref()
                .expect("root: a host namespace")
                .display()
        ));
        if let Some(m) = &self.mntns {
            c.arg(format!("--mount={}", m.display()));
        }
        c.args(["--", "setpriv"]);
        c.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--clear-groups");
        c.arg(env.dir.join("bin/ward-box"))
            .arg("--root")
            .arg(&env.store)
            .arg("--runroot")
            .arg(&env.run)
            .args(args);
        c.env("WARD_BOX_RUNTIME", env.dir.join("bin/ward"))
            .env("HOME", &env.dir)
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("XDG_DATA_HOME");
        c.current_dir(&env.dir);
        run_cmd(c, *TIMEOUT)
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _g = USERS.lock().unwrap_or_else(|p| p.into_inner());
        // Processes of this user (a supervisor, a box) go first.
        for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let status = fs::read_to_string(e.path().join("status")).unwrap_or_default();
            let uid = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next().map(str::to_string));
            if uid == Some(self.uid.to_string()) {
                // SAFETY: kill(2) on a process of the user this test made.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}

/// A mount namespace of the test's own (pinned under its directory)
/// whose /dev/net/tun is a tun node (char 10,200) of mode 0666 made in
/// the test's directory and bound over it: users may open it there, and
/// nothing changes on the host (whose node stays 0600, or missing).
struct TunNs {
    pins: std::path::PathBuf,
    pin: std::path::PathBuf,
}

impl TunNs {
    fn new(env: &Env) -> TunNs {
        let pins = env.dir.join("pins");
        fs::create_dir(&pins).unwrap();
        let p = pins.to_str().unwrap();
        let ns = TunNs {
            pin: pins.join("mnt"),
            pins: pins.clone(),
        };
        // A mount namespace is pinned only on a private mount.
        for args in [&["--bind", p, p][..], &["--make-private", p]] {
            let mut c = Command::new("mount");
            c.args(args);
            run_cmd(c, *TIMEOUT).assert_ok();
        }
        fs::write(&ns.pin, "").unwrap();
        let node = env.dir.join("tun");
        let mut c = Command::new("mknod");
        c.args(["-m", "0666"]).arg(&node).args(["c", "10", "200"]);
        run_cmd(c, *TIMEOUT).assert_ok();
        // Where the host has no /dev/net/tun, a tmpfs of the namespace's
        // own at /dev/net gets an empty file to bind over.
        let script = format!(
            "{{ [ -e /dev/net/tun ] || {{ mkdir -p /dev/net && mount -t tmpfs -o mode=755 tmpfs /dev/net && touch /dev/net/tun; }}; }} \
             && mount --bind {} /dev/net/tun",
            node.display()
        );
        let mut c = Command::new("unshare");
        c.arg(format!("--mount={}", ns.pin.display())).args([
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
        ]);
        run_cmd(c, *TIMEOUT).assert_ok();
        ns
    }
}

impl Drop for TunNs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.pin).status();
        let _ = Command::new("umount").arg(&self.pins).status();
    }
}

fn setup(name: &str) -> Option<(Env, TestUser)> {
    if skip_unless_root("making a test user") {
        return None;
    }
    let env = Env::new(name);
    if !user_xattrs_work(&env.dir) {
        // Rootless opaque directories are user.overlay.opaque xattrs.
        eprintln!(
            "SKIP: {name}: {} takes no user.* xattrs (a tmpfs before Linux 6.6, as in the test VM)",
            env.dir.display()
        );
        return None;
    }
    // pasta (image boxes' default without root) copies the addresses and
    // routes of the host's uplink: the test's host namespace gets one, a
    // veth whose peer is in that same namespace (no route out of it).
    for args in [
        &[
            "link", "add", "wup0", "type", "veth", "peer", "name", "wup1",
        ][..],
        &["addr", "add", "192.0.2.2/24", "dev", "wup0"],
        &["link", "set", "wup0", "up"],
        &["link", "set", "wup1", "up"],
        &["route", "add", "default", "via", "192.0.2.1", "dev", "wup0"],
    ] {
        env.in_host("ip", args).assert_ok();
    }
    let user = TestUser::new();
    for d in [&env.dir, &env.store, &env.run] {
        fs::create_dir_all(d).unwrap();
        std::os::unix::fs::chown(d, Some(user.uid), Some(user.gid)).unwrap();
    }
    // Copies of the binaries where the user can reach them: the checkout
    // may be where it can't (a clone in a `mktemp -d` directory or in
    // /root, both mode 0700), and ward-box runs ward by its path.
    let bin = env.dir.join("bin");
    fs::create_dir(&bin).unwrap();
    // Copied by cp(1), not by this process: a file this process holds open
    // for writing is inherited by every child another test thread forks
    // meanwhile, and exec of it then fails with ETXTBSY ("Text file
    // busy", seen here when two rootless tests set up at once).
    for (from, name) in [(ward_box_bin(), "ward-box"), (ward_bin(), "ward")] {
        let mut c = Command::new("cp");
        c.arg(&from).arg(bin.join(name));
        run_cmd(c, *TIMEOUT).assert_ok();
    }
    Some((env, user))
}

#[test]
fn rootless_image_box_with_whiteouts_opaque_dirs_and_no_device_nodes() {
    let Some((env, user)) = setup("rl-image") else {
        return;
    };
    let mut l1 = busybox_entries();
    l1.extend([
        Entry::dir("o"),
        Entry::file("o/old", b"old"),
        Entry::file("gone", b"x"),
        Entry::chardev("dev-null-copy", 1, 3),
        Entry::file("owned", b"o").owner(1234, 4321),
    ]);
    let l2 = vec![
        Entry::dir("o"),
        Entry::file("o/.wh..wh..opq", b""),
        Entry::file("o/new", b"new"),
        Entry::file(".wh.gone", b""),
    ];
    let img = Image::new(vec![tar(&l1), tar(&l2)]);
    let layout = env.dir.join("layout");
    img.write_layout(&layout, "t");
    let mut c = Command::new("chown");
    c.arg("-R")
        .arg(format!("{}:{}", user.uid, user.gid))
        .arg(&layout);
    run_cmd(c, *TIMEOUT).assert_ok();
    let out = user.wb(
        &env,
        &["image", "import", "-q", layout.to_str().unwrap(), "rl"],
    );
    out.assert_ok();
    assert!(
        out.stderr
            .contains("skipped 1 device node(s) without root (first: dev-null-copy)"),
        "{}",
        out.describe()
    );
    // Every file of the store is the user's.
    for l in env.layers() {
        let md = fs::metadata(env.store.join("layers").join(&l).join("owned"))
            .or_else(|_| fs::metadata(env.store.join("layers").join(&l)));
        assert_eq!(md.unwrap().uid(), user.uid);
    }
    let script = "id -u; ls /o; test -e /gone || echo gone-is-gone; test -e /dev-null-copy || echo no-dev; echo hi > /made";
    let out = user.wb(
        &env,
        &["box", "run", "-q", "--name", "rl", "rl", "sh", "-c", script],
    );
    out.assert_ok();
    assert_eq!(
        out.stdout,
        "0\nnew\ngone-is-gone\nno-dev\n",
        "{}",
        out.describe()
    );
    // The box's writes land in its upper dir, owned by the user; nothing
    // was mounted on the host.
    let id = env.box_ids().pop().unwrap();
    let made = env.store.join("boxes").join(&id).join("upper/made");
    assert_eq!(fs::metadata(&made).unwrap().uid(), user.uid);
    assert!(env.mounts_below().is_empty(), "{:?}", env.mounts_below());
    user.wb(&env, &["box", "rm", "rl"]).assert_ok();
    env.assert_no_boxes_left(&[]);
}

#[test]
fn rootless_host_view_and_detached_box() {
    let Some((env, user)) = setup("rl-host") else {
        return;
    };
    let out = user.wb(
        &env,
        &[
            "box",
            "run",
            "--rm",
            "--",
            "/bin/sh",
            "-c",
            "id -u; touch /usr/x 2>/dev/null || echo usr-ro; ls /proc | grep -c '^[0-9]'",
        ],
    );
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(&lines[..2], &["0", "usr-ro"], "{}", out.describe());
    assert!(lines[2].parse::<u32>().unwrap() <= 4);
    // Detached, without root: supervisor, logs, stop, rm.
    let img = Image::busybox();
    let layout = env.dir.join("layout");
    img.write_layout(&layout, "t");
    let mut c = Command::new("chown");
    c.arg("-R")
        .arg(format!("{}:{}", user.uid, user.gid))
        .arg(&layout);
    run_cmd(c, *TIMEOUT).assert_ok();
    user.wb(
        &env,
        &["image", "import", "-q", layout.to_str().unwrap(), "bb"],
    )
    .assert_ok();
    user.wb(
        &env,
        &[
            "box",
            "run",
            "-d",
            "-q",
            "--name",
            "d",
            "bb",
            "sh",
            "-c",
            "echo up; exec sleep 1000",
        ],
    )
    .assert_ok();
    assert!(wait_until(std::time::Duration::from_secs(10), || user
        .wb(&env, &["box", "logs", "d"])
        .stdout
        .contains("up")));
    let e = user.wb(&env, &["box", "exec", "d", "cat", "/etc/passwd"]);
    e.assert_ok();
    assert!(e.stdout.starts_with("root:"));
    user.wb(&env, &["box", "stop", "-t", "1", "d"]).assert_ok();
    user.wb(&env, &["box", "rm", "d"]).assert_ok();
    env.assert_no_boxes_left(&[]);
    // Limits need a cgroup the user may not have: refused, not dropped.
    let out = user.wb(
        &env,
        &["box", "run", "--rm", "-q", "--memory", "64m", "bb", "true"],
    );
    assert!(!out.ok(), "{}", out.describe());
    env.assert_no_boxes_left(&[]);
}

#[test]
fn rootless_box_through_pasta_with_a_published_port() {
    let Some((env, user)) = setup("rl-pasta") else {
        return;
    };
    if !std::path::Path::new("/usr/bin/pasta").exists() {
        eprintln!("SKIP: pasta is not installed (Debian's passt)");
        return;
    }
    let tun = fs::metadata("/dev/net/tun").map(|m| m.mode() & 0o777);
    let mut tun_ns: Option<TunNs> = None;
    let mut user = user;
    if tun.as_ref().map_or(true, |m| m & 0o006 != 0o006) {
        // Where users may not open /dev/net/tun, ward box defaults to
        // --net none without root and refuses --net pasta in one line...
        let out = user.wb(
            &env,
            &["box", "run", "--rm", "-q", "--net", "pasta", "--", "true"],
        );
        out.assert_one_line_error("box run", &["/dev/net/tun"]);
        // ... and the rest runs in a mount namespace where they may.
        eprintln!(
            "pasta: /dev/net/tun is not open to users here (mode {:o}): a tun node of mode 0666 is bound over it in a mount namespace of the test's",
            tun.as_ref().copied().unwrap_or(0)
        );
        let ns = TunNs::new(&env);
        user.mntns = Some(ns.pin.clone());
        tun_ns = Some(ns);
    }
    let img = Image::busybox();
    let layout = env.dir.join("layout");
    img.write_layout(&layout, "t");
    let mut c = Command::new("chown");
    c.arg("-R")
        .arg(format!("{}:{}", user.uid, user.gid))
        .arg(&layout);
    run_cmd(c, *TIMEOUT).assert_ok();
    user.wb(
        &env,
        &["image", "import", "-q", layout.to_str().unwrap(), "bb"],
    )
    .assert_ok();
    // The box's own view: pasta's tap with the uplink's address.
    let out = user.wb(
        &env,
        &["box", "run", "--rm", "-q", "bb", "ip", "-o", "-4", "addr"],
    );
    out.assert_ok();
    assert!(
        out.stdout.contains("192.0.2.2/24"),
        "the box has not the uplink's address through pasta:\n{}",
        out.describe()
    );
    let serve =
        "mkdir -p /www && echo hello-pasta > /www/index.html && exec httpd -f -p 8080 -h /www";
    user.wb(
        &env,
        &[
            "box",
            "run",
            "-d",
            "-q",
            "--name",
            "web",
            "-p",
            "18090:8080",
            "bb",
            "sh",
            "-c",
            serve,
        ],
    )
    .assert_ok();
    let get = "exec 3<>/dev/tcp/127.0.0.1/18090 && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && timeout 5 cat <&3";
    let mut got = String::new();
    let ok = wait_until(std::time::Duration::from_secs(10), || {
        let out = env.in_host("timeout", &["8", "bash", "-c", get]);
        got = out.describe();
        out.stdout.contains("hello-pasta")
    });
    assert!(
        ok,
        "the port published through pasta did not answer:\n{got}"
    );
    user.wb(&env, &["box", "rm", "-f", "web"]).assert_ok();
    // pasta went with the box: the port is closed.
    let out = env.in_host("timeout", &["8", "bash", "-c", get]);
    assert!(!out.ok(), "the port still answers:\n{}", out.describe());
    drop(tun_ns.take());
    env.assert_no_boxes_left(&[]);
}
