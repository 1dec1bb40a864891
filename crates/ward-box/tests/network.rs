//! Box networking: two boxes on a named network reach each other by name
//! and each sees its own names and address; a published port from the
//! host; --net none; every teardown path leaves nothing on the host; bad
//! input is one line and leaves nothing; the default network's fast path
//! makes what the CNI plugins make, and each undoes the other's boxes.
//! `WARD_BOX_NET_CNI=1` runs all but that last test through the plugins. (The bandwidth caps, measured,
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

/// `ward-box ARGS` with CNI forced (`WARD_BOX_NET_CNI=1`) or not, and the
/// plugins run through wrappers that log each call to `log`.
fn wb_path(env: &Env, cni: bool, wrappers: &Path, args: &[&str]) -> Out {
    let mut c = env.cmd(args);
    c.env("CNI_PATH", wrappers);
    if cni {
        c.env("WARD_BOX_NET_CNI", "1");
    } else {
        // Whatever the suite was run with (scripts may force CNI).
        c.env_remove("WARD_BOX_NET_CNI");
    }
    run_cmd(c, *TIMEOUT)
}

/// A wrapper per plugin of /usr/lib/cni that logs "COMMAND PLUGIN".
fn plugin_wrappers(env: &Env) -> (std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = env.dir.join("cni-wrappers");
    let log = env.dir.join("cni.log");
    fs::create_dir_all(&dir).unwrap();
    for e in fs::read_dir("/usr/lib/cni").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let p = dir.join(&name);
        fs::write(
            &p,
            format!(
                "#!/bin/sh\necho \"$CNI_COMMAND {name}\" >> {}\nexec /usr/lib/cni/{name} \"$@\"\n",
                log.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    (dir, log)
}

fn take_log(log: &Path) -> String {
    let s = fs::read_to_string(log).unwrap_or_default();
    let _ = fs::remove_file(log);
    s
}

/// Replaces what differs between two boxes by construction: the ID, the
/// address, the host veth's name, MAC addresses, interface indexes, the
/// masquerade chain's name (a hash of the ID).
fn normalize(s: &str, id: &str, ip: &str, veth: &str) -> String {
    let s = s.replace(id, "ID").replace(veth, "VETH");
    let mut out = String::new();
    for line in s.lines() {
        let words: Vec<String> = line
            .split(' ')
            .map(|w| {
                let w = if w
                    .trim_matches(|c| c == '"' || c == ',' || c == '/' || c == ':')
                    .contains(ip)
                    && (w.contains(&format!("{ip}/"))
                        || w.trim_matches(|c: char| !c.is_ascii_digit()) == ip)
                {
                    w.replace(ip, "IP")
                } else {
                    w.to_string()
                };
                if w.starts_with("fe80::") {
                    return "LINKLOCAL".to_string();
                }
                if let Some((dev, n)) = w.split_once("@if") {
                    if n.trim_end_matches(':').chars().all(|c| c.is_ascii_digit()) {
                        return format!("{dev}@ifN:");
                    }
                }
                let hexes = w
                    .split(':')
                    .filter(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
                    .count();
                if hexes == 6 {
                    return "MAC".to_string();
                }
                if let Some(i) = w.find("CNI-") {
                    let rest = &w[i + 4..];
                    if rest.len() >= 24 && rest[..24].chars().all(|c| c.is_ascii_hexdigit()) {
                        return format!("{}CNI-CHAIN{}", &w[..i], &rest[24..]);
                    }
                }
                w
            })
            .collect();
        // `ip -o` lines start with an interface index.
        let mut l = words.join(" ");
        if let Some((n, rest)) = l.split_once(": ") {
            if n.chars().all(|c| c.is_ascii_digit()) {
                l = format!("N: {rest}");
            }
        }
        out += &l;
        out.push('\n');
    }
    out
}

/// How a box on the default network looks from the host namespace and
/// inside its own: the veth and its bridge port flags, the bridge's
/// addresses, routes, sysctls, rules, the lease, and the result stored.
fn net_snapshot(env: &Env, name: &str) -> String {
    let id = box_id(env, name);
    let net = inspect_net(env, name);
    let ip = net["addresses"][0]
        .as_str()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let st: Value = serde_json::from_slice(
        &fs::read(env.store.join("boxes").join(&id).join("net.json")).unwrap(),
    )
    .unwrap();
    let mut result = st["attachments"][0]["result"].clone();
    let veth = result["interfaces"][1]["name"]
        .as_str()
        .unwrap()
        .to_string();
    for i in result["interfaces"].as_array_mut().unwrap() {
        i["mac"] = json!("MAC");
    }
    let pin = env.run.join("netns").join(&id);
    let pin_s = pin.to_str().unwrap();
    let mut s = format!("result {result}\n");
    let host = |prog: &str, args: &[&str]| -> String {
        let o = env.in_host(prog, args);
        o.assert_ok();
        o.stdout
    };
    let inbox = |args: &[&str]| -> String {
        let arg0 = format!("--net={pin_s}");
        let mut a = vec![arg0.as_str()];
        a.push("--");
        a.extend_from_slice(args);
        let o = run_cmd(
            {
                let mut c = std::process::Command::new("nsenter");
                c.args(&a);
                c
            },
            *TIMEOUT,
        );
        o.assert_ok();
        o.stdout
    };
    s += &host("ip", &["-o", "link", "show", "dev", &veth]);
    s += &host("bridge", &["-d", "link", "show", "dev", &veth]);
    s += &host("ip", &["-o", "-4", "addr", "show", "dev", "ward0"]);
    s += &host("ip", &["-4", "route"]);
    for k in [
        "net/ipv4/ip_forward".to_string(),
        format!("net/ipv6/conf/{veth}/accept_ra"),
        "net/ipv6/conf/ward0/accept_ra".to_string(),
    ] {
        s += &format!("{k}={}", host("cat", &[&format!("/proc/sys/{k}")]));
    }
    let (chain_hint, mut rules) = (format!("\"{id}\""), Vec::new());
    for table in ["nat", "filter"] {
        for l in host("iptables-save", &["-t", table]).lines() {
            if l.contains(&chain_hint)
                || l.contains(&format!("{ip}/32"))
                || l.contains("CNI-FORWARD")
                || l.contains("CNI-ADMIN")
            {
                rules.push(l.to_string());
            }
        }
    }
    // The masquerade chain's declaration.
    let chain = rules
        .iter()
        .find_map(|l| {
            l.split_whitespace()
                .last()
                .filter(|w| w.starts_with("CNI-") && w.len() == 28)
        })
        .map(str::to_string);
    if let Some(ch) = chain {
        rules.push(format!(
            "declared {}",
            host("iptables-save", &["-t", "nat"])
                .lines()
                .any(|l| l.starts_with(&format!(":{ch} ")))
        ));
    }
    s += &rules.join("\n");
    s += "\nlease ";
    s += &fs::read_to_string(env.store.join("net/ipam/ward").join(&ip))
        .unwrap()
        .replace("\r\n", "<CRLF>");
    s += "\n";
    s += &inbox(&["ip", "-o", "addr"]);
    s += &inbox(&["ip", "-o", "link"]);
    s += &inbox(&["ip", "route"]);
    for k in [
        "net/ipv4/conf/eth0/arp_notify",
        "net/ipv6/conf/eth0/accept_dad",
    ] {
        s += &format!("{k}={}", inbox(&["cat", &format!("/proc/sys/{k}")]));
    }
    normalize(&s, &id, &ip, &veth)
}

#[test]
fn the_fast_path_and_cni_make_the_same_network_and_undo_each_other() {
    let Some(env) = setup("net-fast") else { return };
    let (wrappers, log) = plugin_wrappers(&env);
    let run = |cni: bool, name: &str| {
        wb_path(
            &env,
            cni,
            &wrappers,
            &[
                "box", "run", "-d", "-q", "--name", name, "bb", "sleep", "1000",
            ],
        )
        .assert_ok();
    };
    // A box of the fast path: no plugin runs at all.
    run(false, "fast");
    assert_eq!(take_log(&log), "", "the fast path ran CNI plugins");
    let fast = net_snapshot(&env, "fast");
    let fast_id = box_id(&env, "fast");
    // The plugins' own CHECK finds what they would have made.
    let out = wb_path(&env, false, &wrappers, &["network", "check", "fast"]);
    out.assert_ok();
    assert_eq!(out.stdout, "box fast: network ward: ok\n");
    assert_eq!(
        take_log(&log),
        "CHECK bridge\nCHECK host-local\nCHECK portmap\nCHECK firewall\n"
    );
    // A rule taken away: CHECK says so (non-zero), and the teardown still
    // removes the rest.
    let ip = inspect_net(&env, "fast")["addresses"][0]
        .as_str()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    env.in_host(
        "iptables",
        &[
            "-D",
            "CNI-FORWARD",
            "-s",
            &format!("{ip}/32"),
            "-j",
            "ACCEPT",
        ],
    )
    .assert_ok();
    let out = wb_path(&env, false, &wrappers, &["network", "check"]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(
        out.stdout
            .starts_with("box fast: network ward: CNI plugin firewall CHECK: "),
        "{}",
        out.describe()
    );
    take_log(&log);
    wb_path(&env, false, &wrappers, &["box", "rm", "-f", "fast"]).assert_ok();
    assert_eq!(take_log(&log), "", "the fast teardown ran CNI plugins");
    assert_host_clean(&env, std::slice::from_ref(&fast_id));

    // The same through the plugins.
    run(true, "cni");
    assert_eq!(
        take_log(&log),
        "ADD bridge\nADD host-local\nADD portmap\nADD firewall\n"
    );
    let cni = net_snapshot(&env, "cni");
    let cni_id = box_id(&env, "cni");
    assert_eq!(fast, cni, "the fast path's network differs from CNI's");
    // A box's supervisor tears its network down the way it was started
    // with; with the supervisor SIGKILLed, `rm` does it, and can be told
    // the other way.
    let kill_supervisor = |name: &str| {
        let sup = supervisor_pid(&env, name);
        // SAFETY: kill(2) on the supervisor this test started.
        unsafe { libc::kill(sup, libc::SIGKILL) };
        wait_until(Duration::from_secs(5), || {
            !Path::new(&format!("/proc/{sup}")).exists()
        });
    };
    // Made by the plugins, torn down by the fast path.
    kill_supervisor("cni");
    wb_path(&env, false, &wrappers, &["box", "rm", "-f", "cni"]).assert_ok();
    assert_eq!(take_log(&log), "", "rm ran CNI plugins");
    assert_host_clean(&env, &[fast_id.clone(), cni_id.clone()]);

    // Made by the fast path, torn down by the plugins' DEL.
    run(false, "fast2");
    let id = box_id(&env, "fast2");
    kill_supervisor("fast2");
    wb_path(&env, true, &wrappers, &["box", "rm", "-f", "fast2"]).assert_ok();
    assert_eq!(
        take_log(&log),
        "DEL firewall\nDEL portmap\nDEL bridge\nDEL host-local\n"
    );
    assert_host_clean(&env, &[fast_id, cni_id, id]);

    // Published ports: portmap runs (alone) on the fast path, and they
    // answer.
    wb_path(
        &env,
        false,
        &wrappers,
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
            "mkdir -p /www && echo hello-fast > /www/index.html && exec httpd -f -p 8080 -h /www",
        ],
    )
    .assert_ok();
    assert_eq!(take_log(&log), "ADD portmap\n");
    let mut got = String::new();
    let ok = wait_until(Duration::from_secs(10), || {
        let out = http_get(&env, "127.0.0.1", 18090);
        got = out.describe();
        out.stdout.contains("hello-fast")
    });
    assert!(ok, "the published port did not answer:\n{got}");
    let id = box_id(&env, "web");
    wb_path(&env, false, &wrappers, &["box", "rm", "-f", "web"]).assert_ok();
    assert_eq!(take_log(&log), "DEL portmap\n");
    assert_host_clean(&env, &[id]);
}
