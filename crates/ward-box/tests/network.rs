//! Box networking: two boxes on a named network reach each other by name
//! and each sees its own names and address; a published port from the
//! host; --net none; every teardown path leaves nothing on the host; bad
//! input is one line and leaves nothing. (The bandwidth caps, measured,
//! are in rate.rs: a binary of their own, so that no other test shares
//! the CPU while they measure.)
//!
//! Every command runs in a network namespace the test makes and pins
//! (`Env::hostns`): it plays the host, holds the bridges and the NAT and
//! port rules, and has no route out. The machine's own namespace is never
//! touched.

mod common;
use common::net::*;
use common::*;
use serde_json::{json, Value};
use std::fs;
use std::path::Path;
use std::time::Duration;

#[test]
fn two_boxes_reach_each_other_by_name_and_see_their_own_names() {
    let Some(env) = setup("net-two") else { return };
    let net = net_name();
    env.wb(&["network", "create", "--subnet", "10.93.0.0/24", &net])
        .assert_ok();
    let serve =
        "mkdir -p /www && echo hello-from-one > /www/index.html && exec httpd -f -p 8080 -h /www";
    env.wb(&[
        "box",
        "run",
        "-d",
        "-q",
        "--name",
        "one",
        "--net",
        &net,
        "--domainname",
        "one.test",
        "bb",
        "sh",
        "-c",
        serve,
    ])
    .assert_ok();
    let one = inspect_net(&env, "one");
    let one_ip = one["addresses"][0].as_str().unwrap().to_string();
    assert!(one_ip.starts_with("10.93.0."), "{one}");
    let one_ip = one_ip.split('/').next().unwrap().to_string();

    // The second box: its own view, then the first one by name.
    let script = "hostname; echo DN=$(cat /proc/sys/kernel/domainname); \
                  ip -o -4 addr show eth0; echo HOSTS; cat /etc/hosts; echo RESOLV; cat /etc/resolv.conf; \
                  echo PING; ping -c 1 -W 5 one >/dev/null && echo PING-OK; \
                  echo WGET; wget -q -O - http://one:8080/";
    let out = env.wb(&[
        "box",
        "run",
        "--rm",
        "-q",
        "--name",
        "two",
        "--hostname",
        "two-host",
        "--domainname",
        "two.test",
        "--cap-add",
        "NET_RAW",
        "--net",
        &net,
        "bb",
        "sh",
        "-c",
        script,
    ]);
    out.assert_ok();
    let o = &out.stdout;
    assert_eq!(o.lines().next(), Some("two-host"), "{o}");
    assert!(o.contains("DN=two.test"), "{o}");
    let addr = o
        .lines()
        .find(|l| l.contains("inet 10.93.0."))
        .unwrap_or_else(|| panic!("no address in 10.93.0.0/24:\n{o}"));
    let two_ip = addr
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    assert_ne!(two_ip, one_ip);
    let hosts = o
        .split("HOSTS")
        .nth(1)
        .unwrap()
        .split("RESOLV")
        .next()
        .unwrap();
    assert!(
        hosts
            .lines()
            .any(|l| l.starts_with(&two_ip) && l.contains("two-host.two.test")),
        "/etc/hosts lacks the box's own name and address:\n{hosts}"
    );
    let resolv = o
        .split("RESOLV")
        .nth(1)
        .unwrap()
        .split("PING")
        .next()
        .unwrap();
    assert!(
        resolv.contains("nameserver 10.93.0.1"),
        "the network's resolver is not in resolv.conf:\n{resolv}"
    );
    assert!(
        o.contains("PING-OK"),
        "no ping by name:\n{}",
        out.describe()
    );
    assert!(
        o.contains("hello-from-one"),
        "no TCP by name:\n{}",
        out.describe()
    );

    // The first box's own view, through exec.
    let out = env.wb(&[
        "box",
        "exec",
        "one",
        "sh",
        "-c",
        "hostname; cat /proc/sys/kernel/domainname; cat /etc/hosts; ip -o -4 addr show eth0",
    ]);
    out.assert_ok();
    let o = &out.stdout;
    assert_eq!(o.lines().next(), Some("one"), "{o}");
    assert_eq!(o.lines().nth(1), Some("one.test"), "{o}");
    assert!(
        o.lines()
            .any(|l| l.starts_with(&one_ip) && l.contains("one.one.test")),
        "{o}"
    );
    assert!(o.contains(&format!("inet {one_ip}/24")), "{o}");

    let id = box_id(&env, "one");
    env.wb(&["box", "rm", "-f", "one"]).assert_ok();
    assert_host_clean(&env, &[id]);
    env.wb(&["network", "rm", &net]).assert_ok();
    let links = env.in_host("ip", &["-o", "link"]).stdout;
    assert!(
        !links.contains("ward1"),
        "the network's bridge stayed: {links}"
    );
}

/// An HTTP GET from the test's host namespace (bash's /dev/tcp: no
/// client to install).
fn http_get(env: &Env, host: &str, port: u16) -> Out {
    let script = format!(
        "exec 3<>/dev/tcp/{host}/{port} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && timeout 5 cat <&3"
    );
    env.in_host("timeout", &["8", "bash", "-c", &script])
}

#[test]
fn a_published_port_is_reachable_from_the_host_namespace() {
    let Some(env) = setup("net-port") else { return };
    let serve =
        "mkdir -p /www && echo hello-port > /www/index.html && exec httpd -f -p 8080 -h /www";
    env.wb(&[
        "box",
        "run",
        "-d",
        "-q",
        "--name",
        "web",
        "-p",
        "18080:8080",
        "bb",
        "sh",
        "-c",
        serve,
    ])
    .assert_ok();
    let net = inspect_net(&env, "web");
    assert_eq!(net["ports"], json!(["18080:8080/tcp"]), "{net}");
    // From the host namespace: its loopback, and its side of the default
    // network (the bridge's address).
    for host in ["127.0.0.1", "10.90.0.1"] {
        let mut got = String::new();
        let ok = wait_until(Duration::from_secs(10), || {
            let out = http_get(&env, host, 18080);
            got = out.describe();
            out.stdout.contains("hello-port")
        });
        assert!(ok, "the published port did not answer on {host}:\n{got}");
    }
    // From another box, through the host's address (no -T: Debian's
    // static busybox wget crashes with it).
    let out = env.wb(&[
        "box",
        "run",
        "--rm",
        "-q",
        "bb",
        "timeout",
        "10",
        "wget",
        "-q",
        "-O",
        "-",
        "http://10.90.0.1:18080/",
    ]);
    out.assert_ok();
    assert!(out.stdout.contains("hello-port"), "{}", out.describe());
    let id = box_id(&env, "web");
    env.wb(&["box", "rm", "-f", "web"]).assert_ok();
    assert_host_clean(&env, &[id]);
    // The port is free again: nothing answers.
    let out = http_get(&env, "127.0.0.1", 18080);
    assert!(!out.ok(), "the port still answers:\n{}", out.describe());
}

#[test]
fn net_none_has_only_lo() {
    let Some(env) = setup("net-none") else { return };
    let out = env.wb(&[
        "box",
        "run",
        "--rm",
        "-q",
        "--net",
        "none",
        "bb",
        "cat",
        "/proc/net/dev",
    ]);
    out.assert_ok();
    let devs: Vec<&str> = out
        .stdout
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(devs, ["lo"], "{}", out.stdout);
    assert_host_clean(&env, &[]);
}

/// The supervisor of a detached box, found by the box's directory in its
/// command line... or its parent: the runtime's process is the box's
/// init, whose parent is the supervisor.
fn supervisor_pid(env: &Env, id: &str) -> i32 {
    let out = env.wb(&["box", "inspect", id]);
    out.assert_ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let pid = v[0]["pid"].as_i64().unwrap_or(0) as i32;
    assert!(pid > 0, "no pid in inspect: {v}");
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = stat.rsplit_once(')').unwrap().1;
    after.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn every_teardown_path_leaves_nothing_on_the_host() {
    let Some(env) = setup("net-down") else { return };
    let mut ids = Vec::new();
    let run_d = |name: &str| {
        env.wb(&[
            "box", "run", "-d", "-q", "--name", name, "-p", "18081:80", "bb", "sleep", "1000",
        ])
        .assert_ok();
        let id = box_id(&env, name);
        let v = host_view(&env, std::slice::from_ref(&id));
        assert_eq!(v.veths.len(), 1, "{v:?}");
        assert_eq!(v.pins.len(), 1, "{v:?}");
        assert_eq!(v.leases.len(), 1, "{v:?}");
        assert!(!v.rules.is_empty(), "no port rules for the box: {v:?}");
        id
    };

    // 1. rm -f of a running box.
    ids.push(run_d("rmme"));
    env.wb(&["box", "rm", "-f", "rmme"]).assert_ok();
    assert_host_clean(&env, &ids);

    // 2. A box that exits (not removed): its network goes with it.
    env.wb(&[
        "box", "run", "-q", "--name", "exits", "-p", "18082:80", "bb", "true",
    ])
    .assert_ok();
    ids.push(box_id(&env, "exits"));
    assert_host_clean(&env, &ids);
    env.wb(&["box", "rm", "exits"]).assert_ok();

    // 3. The supervisor SIGKILLed: the box lives on with its network until
    // rm, which tears it down.
    let id = run_d("orphan");
    ids.push(id.clone());
    let sup = supervisor_pid(&env, "orphan");
    // SAFETY: kill(2) on the supervisor this test started.
    unsafe { libc::kill(sup, libc::SIGKILL) };
    wait_until(Duration::from_secs(5), || {
        !Path::new(&format!("/proc/{sup}")).exists()
    });
    env.wb(&["box", "rm", "-f", "orphan"]).assert_ok();
    assert_host_clean(&env, &ids);

    // 4. A reboot: every process gone, RUN (pins, records of one-off
    // boxes, the runtime's state) wiped; leases on disk remain. The box's
    // namespace dies with its last process and takes its veth with it.
    let id = run_d("reboot");
    ids.push(id.clone());
    let sup = supervisor_pid(&env, "reboot");
    let out = env.wb(&["box", "inspect", "reboot"]);
    let pid = serde_json::from_str::<Value>(&out.stdout).unwrap()[0]["pid"]
        .as_i64()
        .unwrap() as i32;
    // SAFETY: kill(2) on the supervisor and the box init this test started.
    unsafe {
        libc::kill(sup, libc::SIGKILL);
        libc::kill(pid, libc::SIGKILL);
    }
    wait_until(Duration::from_secs(5), || {
        !Path::new(&format!("/proc/{pid}")).exists()
    });
    for m in {
        let mut m = mounts_below(&env.run);
        m.sort_by_key(|p| std::cmp::Reverse(p.len()));
        m
    } {
        let c = std::ffi::CString::new(m).unwrap();
        // SAFETY: a valid NUL-terminated path below the test's RUN.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
    fs::remove_dir_all(&env.run).unwrap();
    // A reboot empties the cgroup file systems too.
    for c in cgroups_of(&id) {
        assert!(
            wait_until(Duration::from_secs(10), || fs::remove_dir(&c).is_ok()
                || !c.exists()),
            "rmdir {}",
            c.display()
        );
    }
    let before = host_view(&env, std::slice::from_ref(&id));
    assert_eq!(
        before.leases.len(),
        1,
        "no stale lease to prune: {before:?}"
    );
    let out = env.wb(&["network", "prune"]);
    out.assert_ok();
    assert_host_clean(&env, &ids);
    // The box itself is still in the store, stopped; rm removes it.
    env.wb(&["box", "rm", "-f", "reboot"]).assert_ok();
    assert_host_clean(&env, &ids);
    for id in &ids {
        assert!(
            cgroups_of(id).is_empty(),
            "cgroups left: {:?}",
            cgroups_of(id)
        );
    }
}

#[test]
fn bad_network_input_is_one_line_and_leaves_nothing() {
    let Some(env) = setup("net-bad") else { return };
    let net = net_name();
    env.wb(&["network", "create", "--subnet", "10.94.0.0/24", &net])
        .assert_ok();
    let netd = env.dir.join("net.d");
    fs::write(
        netd.join("broken.conflist"),
        "{\"cniVersion\": \"1.0.0\", \"name\":",
    )
    .unwrap();
    fs::write(
        netd.join("noplugin.conflist"),
        json!({"cniVersion": "1.0.0", "name": "noplugin",
            "plugins": [{"type": "ward-no-such-plugin"}]})
        .to_string(),
    )
    .unwrap();
    // A port in use in the host namespace.
    let listener = {
        let mut c = std::process::Command::new("nsenter");
        c.arg(format!("--net={}", env.hostns.as_ref().unwrap().display()))
            .args(["--", "busybox", "nc", "-l", "-p", "18083"]);
        c.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null());
        c.spawn().unwrap()
    };
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _listener = Kill(listener);
    wait_until(Duration::from_secs(5), || {
        env.in_host("ss", &["-Hltn", "sport = :18083"])
            .stdout
            .contains("18083")
    });

    let other = net_name();
    let cases: Vec<(Vec<&str>, &str, &[&str])> = vec![
        (
            vec!["network", "create", "--subnet", "10.94.0.128/25", &other],
            "network create",
            &["10.94.0.128/25", "overlap"],
        ),
        (
            vec!["box", "run", "-q", "-p", "18083:80", "bb", "true"],
            "box run",
            &["18083"],
        ),
        (
            vec!["box", "run", "-q", "--net", "wardnosuchnet", "bb", "true"],
            "box run",
            &["wardnosuchnet"],
        ),
        (
            vec!["box", "run", "-q", "--net", "noplugin", "bb", "true"],
            "box run",
            &["ward-no-such-plugin"],
        ),
        (
            vec!["box", "run", "-q", "--net", "broken", "bb", "true"],
            "box run",
            &["broken.conflist"],
        ),
        (
            vec!["box", "run", "-q", "--net-rate", "fast", "bb", "true"],
            "box run",
            &["--net-rate", "fast"],
        ),
    ];
    for (args, prefix, needles) in &cases {
        let out = env.wb(args);
        out.assert_one_line_error(prefix, needles);
        env.assert_no_boxes_left(&[]);
        assert_host_clean(&env, &[]);
    }
    let ls = env.wb(&["network", "ls", "-q"]);
    assert!(!ls.stdout.contains(&other), "{}", ls.stdout);
}
