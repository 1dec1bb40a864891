//! ward as a Kubernetes node runtime, driven through the CRI as kubelet
//! drives it: containerd's CRI plugin (started by the test, in a network
//! namespace of its own, CNI bridge and portmap) runs pods through the runc
//! shim with the runtime handler `ward` (BinaryName = the ward under test)
//! and, in the same run, `runc`. Every scenario runs once per handler, both
//! handlers at once on one containerd; each scenario writes down what it saw
//! (handler-independent facts) and the two lists must be equal: where they
//! differ, ward is wrong unless the spec says otherwise. docs/kubernetes.md
//! lists what is covered.

use k8s_cri::v1 as api;
use std::collections::HashMap;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};
use ward_cri_test::cmd::wait_until;
use ward_cri_test::cri::{describe, Cri};
use ward_cri_test::node::{self, Node, GATEWAY};
use ward_cri_test::{image, stream};

/// What a scenario saw, in order: (what, value).
#[derive(Default, Debug, Clone, PartialEq)]
struct Obs(Vec<(String, String)>);

impl Obs {
    fn put(&mut self, k: &str, v: impl ToString) {
        self.0.push((k.to_string(), v.to_string()));
    }
}

type Scenario = fn(&Node, &str, &mut Obs);

/// A scenario's name and what it saw, or why it failed.
type Outcome = (String, Result<Obs, String>);

/// Stops and removes the pods a scenario made, when it ends (or panics).
struct Pods<'a> {
    cri: &'a Cri,
    ids: Vec<String>,
}

impl<'a> Pods<'a> {
    fn new(node: &'a Node) -> Self {
        Pods {
            cri: node.cri(),
            ids: Vec::new(),
        }
    }

    #[track_caller]
    fn run(&mut self, config: &api::PodSandboxConfig, handler: &str) -> String {
        // The first two pods with host ports, ward's and runc's at once,
        // race in Debian's portmap plugin (1.1.1): both see its chains
        // missing and one fails to create them ("CHAIN_USER_ADD failed
        // (File exists)"). containerd has undone that sandbox; the chains
        // exist now, so a second try is a new, clean one.
        let id = match self.cri.run_pod(config, handler) {
            Err(e) if describe(&e).contains("CHAIN_USER_ADD failed (File exists)") => {
                eprintln!("RunPodSandbox ({handler}): portmap's chain race, once more");
                self.cri.run_pod(config, handler)
            }
            r => r,
        }
        .unwrap_or_else(|e| panic!("RunPodSandbox ({handler}): {}", describe(&e)));
        self.ids.push(id.clone());
        id
    }
}

impl Drop for Pods<'_> {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = self.cri.stop_pod(id);
            let _ = self.cri.remove_pod(id);
        }
    }
}

fn setup(what: &str) -> Option<Node> {
    if !node::can_run(what) {
        return None;
    }
    node::ensure_installed();
    Some(Node::start(what))
}

#[track_caller]
fn create_start(
    cri: &Cri,
    pod: &str,
    c: &api::ContainerConfig,
    pc: &api::PodSandboxConfig,
) -> String {
    let name = &c.metadata.as_ref().unwrap().name;
    let id = cri
        .create(pod, &Node::for_pod(c, pc), pc)
        .unwrap_or_else(|e| panic!("CreateContainer {name}: {}", describe(&e)));
    cri.start(&id)
        .unwrap_or_else(|e| panic!("StartContainer {name}: {}", describe(&e)));
    id
}

/// ExecSync that must exit 0; its stdout.
#[track_caller]
fn sh(cri: &Cri, id: &str, script: &str) -> String {
    let r = cri
        .exec_sync(id, &["sh", "-c", script], 20)
        .unwrap_or_else(|e| panic!("ExecSync {script:?}: {}", describe(&e)));
    assert_eq!(
        r.exit_code,
        0,
        "ExecSync {script:?}: stdout {:?} stderr {:?}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    );
    String::from_utf8_lossy(&r.stdout).into_owned()
}

fn kv(k: &str, v: &str) -> api::KeyValue {
    api::KeyValue {
        key: k.into(),
        value: v.into(),
    }
}

fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The verbose info of a ContainerStatus or PodSandboxStatus, parsed.
fn info(m: &HashMap<String, String>) -> serde_json::Value {
    m.get("info")
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default()
}

fn container_pid(cri: &Cri, id: &str) -> i32 {
    let st = cri.container_status(id).expect("ContainerStatus");
    info(&st.info)["pid"].as_i64().unwrap_or(0) as i32
}

fn state_of(cri: &Cri, id: &str) -> api::ContainerStatus {
    cri.container_status(id)
        .unwrap_or_else(|e| panic!("ContainerStatus {id}: {}", describe(&e)))
        .status
        .expect("ContainerStatus has no status")
}

#[track_caller]
fn wait_exited(cri: &Cri, id: &str, within: Duration) -> api::ContainerStatus {
    let mut last = None;
    let ok = wait_until(within, || {
        let s = state_of(cri, id);
        let done = s.state == api::ContainerState::ContainerExited as i32;
        last = Some(s);
        done
    });
    let last = last.unwrap();
    assert!(ok, "container {id} never exited: {last:?}");
    last
}

/// The cgroup path of `pid` for the hierarchy whose controllers include
/// `ctrl` (v1), from /proc/PID/cgroup.
fn cgroup_of(pid: i32, ctrl: &str) -> String {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    text.lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
            ctrls
                .split(',')
                .any(|c| c == ctrl)
                .then(|| path.to_string())
        })
        .unwrap_or_else(|| panic!("pid {pid} has no {ctrl} cgroup:\n{text}"))
}

/// The cgroup file `file` of the `ctrl` hierarchy for `pid`, read on the
/// host.
fn cg_read(pid: i32, ctrl: &str, file: &str) -> String {
    let rel = cgroup_of(pid, ctrl);
    for h in node::hierarchies() {
        let name = h.file_name().unwrap().to_string_lossy().into_owned();
        if name.split(',').any(|c| c == ctrl) {
            if let Ok(s) = fs::read_to_string(h.join(rel.trim_start_matches('/')).join(file)) {
                return s.trim().to_string();
            }
        }
    }
    panic!("no {ctrl} file {file} for pid {pid} ({rel})")
}

/// One CRI log line: `<RFC 3339 nano time> <stdout|stderr> <F|P> <text>`.
fn parse_log_line(l: &str) -> Option<(&str, &str, &str)> {
    let mut f = l.splitn(4, ' ');
    let (ts, stream, tag, text) = (f.next()?, f.next()?, f.next()?, f.next()?);
    let b = ts.as_bytes();
    let shape = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && (ts.ends_with('Z') || ts[20..].contains(['+', '-']));
    (shape && matches!(stream, "stdout" | "stderr") && matches!(tag, "F" | "P"))
        .then_some((stream, tag, text))
}

/// Nothing of the pod is left: the handler's state, cgroups, mounts,
/// netns, processes (waiting a little for exiting processes).
#[track_caller]
fn assert_gone(n: &Node, h: &str, pc: &api::PodSandboxConfig, ids: &[&str], netns: Option<&str>) {
    let mut last = Vec::new();
    let ok = wait_until(Duration::from_secs(10), || {
        last = n.leftovers(h, pc, ids, netns);
        last.is_empty()
    });
    assert!(ok, "{h}: left behind:\n  {}", last.join("\n  "));
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

/// A pod with hostname, DNS config, a port mapping and a shared pid
/// namespace; three containers (web, main, talk) with env, mounts, logs;
/// status, filters, ExecSync, Exec, Attach, logs and their reopening,
/// stats; the containers share network and IPC; teardown leaves nothing.
fn pod(n: &Node, h: &str, o: &mut Obs) {
    let cri = n.cri();
    let mut pods = Pods::new(n);
    let host_port: i32 = if h == "ward" { 30081 } else { 30082 };
    let mut pc = n.pod_config(&format!("pod-{h}"));
    pc.hostname = "ward-pod".into();
    pc.dns_config = Some(api::DnsConfig {
        servers: vec!["10.231.0.53".into()],
        searches: vec!["ward.test".into(), "svc.ward.test".into()],
        options: vec!["ndots:3".into()],
    });
    pc.port_mappings = vec![api::PortMapping {
        protocol: api::Protocol::Tcp as i32,
        container_port: 8080,
        host_port,
        host_ip: String::new(),
    }];
    pc.labels = labels(&[("app", "pod-test")]);
    pc.linux.as_mut().unwrap().security_context = Some(api::LinuxSandboxSecurityContext {
        namespace_options: Some(api::NamespaceOption {
            network: api::NamespaceMode::Pod as i32,
            pid: api::NamespaceMode::Pod as i32,
            ipc: api::NamespaceMode::Pod as i32,
            ..Default::default()
        }),
        ..Default::default()
    });
    let pod = pods.run(&pc, h);
    let ps = cri.pod_status(&pod).expect("PodSandboxStatus");
    let st = ps.status.as_ref().unwrap();
    o.put(
        "pod state",
        api::PodSandboxState::try_from(st.state).map_or("?".into(), |s| format!("{s:?}")),
    );
    let ip = st
        .network
        .as_ref()
        .map(|n| n.ip.clone())
        .unwrap_or_default();
    o.put("pod ip in the CNI subnet", ip.starts_with("10.231.0."));
    let netns_path = info(&ps.info)["runtimeSpec"]["linux"]["namespaces"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["type"] == "network"))
        .and_then(|x| x["path"].as_str())
        .unwrap_or("")
        .to_string();
    o.put("pod netns pinned", Path::new(&netns_path).exists());

    // web: httpd on 8080 from a read-only host directory; leaves a file in
    // the pod's /dev/shm.
    let www = n.dir.join(format!("www-{h}"));
    fs::create_dir_all(&www).unwrap();
    fs::write(www.join("index.html"), "served-through-cri\n").unwrap();
    let mut web = n.container_config(
        "web",
        &[
            "sh",
            "-c",
            "echo shm-hello > /dev/shm/from-web; exec httpd -f -p 8080 -h /www",
        ],
    );
    web.labels = labels(&[("role", "web")]);
    web.mounts = vec![api::Mount {
        container_path: "/www".into(),
        host_path: www.display().to_string(),
        readonly: true,
        ..Default::default()
    }];
    // main: prints to stdout and stderr; env, workdir, a rw and a ro mount.
    let data = n.dir.join(format!("data-{h}"));
    fs::create_dir_all(&data).unwrap();
    let ro_file = n.dir.join(format!("ro-{h}"));
    fs::write(&ro_file, "read-only\n").unwrap();
    let mut main = n.container_config(
        "main",
        &[
            "sh",
            "-c",
            "i=0; while :; do echo line-$i; echo err-$i >&2; i=$((i+1)); sleep 0.2; done",
        ],
    );
    main.labels = labels(&[("role", "main")]);
    main.envs = vec![kv("FOO", "bar"), kv("SPACED", "a b")];
    main.working_dir = "/tmp".into();
    main.mounts = vec![
        api::Mount {
            container_path: "/data".into(),
            host_path: data.display().to_string(),
            ..Default::default()
        },
        api::Mount {
            container_path: "/etc/ward-ro".into(),
            host_path: ro_file.display().to_string(),
            readonly: true,
            ..Default::default()
        },
    ];
    // talk: reads stdin (for Attach).
    let mut talk = n.container_config("talk", &["sh", "-c", "while read l; do echo got-$l; done"]);
    talk.stdin = true;
    let web_id = create_start(cri, &pod, &web, &pc);
    let main_id = create_start(cri, &pod, &main, &pc);
    let talk_id = create_start(cri, &pod, &talk, &pc);

    // Hostname, DNS.
    o.put("hostname", sh(cri, &main_id, "hostname").trim());
    let resolv = sh(cri, &main_id, "cat /etc/resolv.conf");
    for want in [
        "nameserver 10.231.0.53",
        "search ward.test svc.ward.test",
        "options ndots:3",
    ] {
        assert!(
            resolv.contains(want),
            "{h}: resolv.conf lacks {want:?}:\n{resolv}"
        );
    }
    o.put("resolv.conf", resolv.trim());
    // The shared pid namespace: the sandbox's pause is pid 1, web's httpd
    // is seen from main.
    let ps = sh(cri, &main_id, "ps -o pid,args");
    let pid1 = ps
        .lines()
        .find(|l| l.split_whitespace().next() == Some("1"))
        .unwrap_or("")
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string();
    o.put("pid 1 seen from main", &pid1);
    o.put("main sees web's httpd", ps.contains("httpd -f -p 8080"));
    // Env, workdir, mounts.
    o.put(
        "env and cwd",
        sh(cri, &main_id, "echo \"$FOO|$SPACED\"; pwd").trim(),
    );
    let r = sh(
        cri,
        &main_id,
        "echo from-main > /data/out && echo wrote; echo x 2>&1 > /etc/ward-ro || echo ro-refused; cat /etc/ward-ro",
    );
    o.put("mounts", r.trim());
    o.put(
        "rw mount reached the host",
        fs::read_to_string(data.join("out"))
            .unwrap_or_default()
            .trim(),
    );
    // Network and IPC shared between web and main.
    let mut body = String::new();
    let ok = wait_until(Duration::from_secs(10), || {
        body = cri
            .exec_sync(
                &main_id,
                &["wget", "-qO-", "http://127.0.0.1:8080/index.html"],
                10,
            )
            .map(|r| String::from_utf8_lossy(&r.stdout).into_owned())
            .unwrap_or_default();
        body.contains("served-through-cri")
    });
    o.put("main reaches web on localhost", ok);
    o.put(
        "main reads web's /dev/shm",
        sh(cri, &main_id, "cat /dev/shm/from-web").trim(),
    );
    let links = "for n in net ipc uts pid; do readlink /proc/self/ns/$n; done";
    o.put(
        "web and main share net, ipc, uts, pid",
        sh(cri, &main_id, links) == sh(cri, &web_id, links),
    );
    // The port mapping, from the node.
    let target = format!("{GATEWAY}:{host_port}");
    let mut got = Err(String::new());
    let ok = wait_until(Duration::from_secs(10), || {
        got = stream::http_get(&n.netns, &target, "/index.html");
        got.as_ref().is_ok_and(|b| b.contains("served-through-cri"))
    });
    assert!(
        ok,
        "{h}: GET http://{target}/ through the port mapping: {got:?}"
    );
    o.put("port mapping serves", ok);

    // ContainerStatus.
    let st = state_of(cri, &main_id);
    o.put(
        "main status",
        format!(
            "{:?} exit {} reason {:?} image {}",
            api::ContainerState::try_from(st.state).unwrap(),
            st.exit_code,
            st.reason,
            st.image.as_ref().map(|i| i.image.as_str()).unwrap_or("")
        ),
    );
    o.put("main started_at set", st.started_at > 0);
    o.put(
        "main log_path",
        Path::new(&st.log_path)
            .file_name()
            .unwrap()
            .to_string_lossy(),
    );
    // ListContainers with filters.
    let count = |f: api::ContainerFilter| cri.list_containers(f).map(|v| v.len()).unwrap_or(999);
    let in_pod = || api::ContainerFilter {
        pod_sandbox_id: pod.clone(),
        ..Default::default()
    };
    o.put("list: in the pod", count(in_pod()));
    o.put(
        "list: in the pod, running",
        count(api::ContainerFilter {
            state: Some(api::ContainerStateValue {
                state: api::ContainerState::ContainerRunning as i32,
            }),
            ..in_pod()
        }),
    );
    let by_label = cri
        .list_containers(api::ContainerFilter {
            label_selector: labels(&[("role", "web")]),
            ..in_pod()
        })
        .unwrap();
    o.put(
        "list: role=web",
        format!(
            "{} {}",
            by_label.len(),
            by_label.first().is_some_and(|c| c.id == web_id)
        ),
    );
    o.put(
        "list: by id",
        count(api::ContainerFilter {
            id: main_id.clone(),
            ..Default::default()
        }),
    );
    o.put(
        "list: exited in the pod",
        count(api::ContainerFilter {
            state: Some(api::ContainerStateValue {
                state: api::ContainerState::ContainerExited as i32,
            }),
            ..in_pod()
        }),
    );

    // ExecSync: output, exit code, a missing program, a timeout.
    let r = cri
        .exec_sync(
            &main_id,
            &["sh", "-c", "echo out; echo err >&2; exit 3"],
            10,
        )
        .expect("ExecSync");
    o.put(
        "exec_sync",
        format!(
            "{} {:?} {:?}",
            r.exit_code,
            String::from_utf8_lossy(&r.stdout),
            String::from_utf8_lossy(&r.stderr)
        ),
    );
    let r = cri.exec_sync(&main_id, &["nosuch"], 10);
    let text = match &r {
        Ok(r) => format!(
            "exit {} {}",
            r.exit_code,
            String::from_utf8_lossy(&r.stderr)
        ),
        Err(e) => describe(e),
    };
    o.put(
        "exec_sync of a missing program names it",
        text.contains("executable file not found"),
    );
    let t = Instant::now();
    let r = cri.exec_sync(&main_id, &["sleep", "30"], 1);
    let took = t.elapsed();
    o.put(
        "exec_sync timeout",
        match &r {
            Ok(r) => format!("no error, exit {}", r.exit_code),
            Err(e) => format!("{:?} {}", e.code(), e.message().contains("timeout")),
        },
    );
    assert!(
        took < Duration::from_secs(15),
        "{h}: ExecSync timeout 1 took {took:?}"
    );
    let gone = wait_until(Duration::from_secs(5), || {
        !sh(cri, &main_id, "ps -o args").contains("sleep 30")
    });
    o.put("timed-out exec killed", gone);

    // Exec through the streaming server.
    let url = cri
        .exec_url(api::ExecRequest {
            container_id: main_id.clone(),
            cmd: vec![
                "sh".into(),
                "-c".into(),
                "echo out; echo err >&2; exit 7".into(),
            ],
            stdout: true,
            stderr: true,
            ..Default::default()
        })
        .expect("Exec");
    let s = stream::exec(&n.netns, &url).unwrap_or_else(|e| panic!("{h}: exec stream: {e}"));
    o.put(
        "exec stream",
        format!("{:?} {:?} {:?}", s.stdout, s.stderr, s.exit_code()),
    );
    // Attach to talk's stdin and stdout.
    let url = cri
        .attach_url(api::AttachRequest {
            container_id: talk_id.clone(),
            stdin: true,
            stdout: true,
            stderr: true,
            ..Default::default()
        })
        .expect("Attach");
    let mut ws = stream::open(&n.netns, &url).unwrap_or_else(|e| panic!("{h}: attach: {e}"));
    stream::send_stdin(&mut ws, b"ping\n").unwrap();
    let mut got = stream::Streamed::default();
    let r = stream::read_until(&mut ws, &mut got, Duration::from_secs(10), |s| {
        s.stdout.contains("got-ping")
    });
    o.put(
        "attach echo",
        format!("{r:?} {}", got.stdout.contains("got-ping")),
    );
    drop(ws);

    // The log file: CRI's format, both streams; then ReopenContainerLog.
    let log = Path::new(&pc.log_directory).join("main.log");
    let lines_ok = wait_until(Duration::from_secs(10), || {
        let t = fs::read_to_string(&log).unwrap_or_default();
        t.contains("stdout F line-3") && t.contains("stderr F err-3")
    });
    let text = fs::read_to_string(&log).unwrap_or_default();
    let bad: Vec<&str> = text
        .lines()
        .filter(|l| parse_log_line(l).is_none())
        .collect();
    assert!(
        bad.is_empty(),
        "{h}: lines not in CRI's log format: {bad:?}"
    );
    o.put("log has both streams in CRI format", lines_ok);
    let rotated = log.with_extension("log.1");
    fs::rename(&log, &rotated).unwrap();
    cri.reopen_log(&main_id)
        .unwrap_or_else(|e| panic!("{h}: ReopenContainerLog: {}", describe(&e)));
    let reopened = wait_until(Duration::from_secs(10), || {
        fs::read_to_string(&log).is_ok_and(|t| t.lines().filter_map(parse_log_line).count() >= 4)
    });
    let size = fs::metadata(&rotated).map(|m| m.len()).unwrap_or(0);
    std::thread::sleep(Duration::from_millis(600));
    let size2 = fs::metadata(&rotated).map(|m| m.len()).unwrap_or(0);
    o.put("reopened log gets new lines", reopened);
    o.put("rotated log no longer grows", size == size2);

    // Stats.
    if let Some(h) = node::unmounted_v1_hierarchy() {
        eprintln!("NOTE: stats not checked: the v1 hierarchy {h} is mounted nowhere");
    } else {
        let s = cri
            .container_stats(&main_id)
            .unwrap_or_else(|e| panic!("ContainerStats: {}", describe(&e)));
        let cpu = s
            .cpu
            .as_ref()
            .and_then(|c| c.usage_core_nano_seconds.as_ref())
            .map_or(0, |v| v.value);
        let mem = s
            .memory
            .as_ref()
            .and_then(|m| m.working_set_bytes.as_ref())
            .map_or(0, |v| v.value);
        o.put("container stats: cpu and memory", cpu > 0 && mem > 0);
        match cri.pod_stats(&pod) {
            Ok(p) => {
                let l = p.linux.unwrap_or_default();
                o.put(
                    "pod stats",
                    format!(
                        "cpu {} memory {} containers {}",
                        l.cpu
                            .and_then(|c| c.usage_core_nano_seconds)
                            .is_some_and(|v| v.value > 0),
                        l.memory
                            .and_then(|m| m.working_set_bytes)
                            .is_some_and(|v| v.value > 0),
                        l.containers.len()
                    ),
                );
            }
            Err(e) => o.put("pod stats", describe(&e)),
        }
    }

    // Teardown: containers, then the pod; nothing left.
    for id in [&web_id, &main_id, &talk_id] {
        cri.stop(id, 5)
            .unwrap_or_else(|e| panic!("StopContainer: {}", describe(&e)));
        cri.remove(id)
            .unwrap_or_else(|e| panic!("RemoveContainer: {}", describe(&e)));
    }
    let after = cri.container_status(&main_id);
    o.put(
        "status after remove",
        after.map_or_else(|e| format!("{:?}", e.code()), |_| "found".into()),
    );
    cri.stop_pod(&pod).unwrap();
    o.put(
        "netns after StopPodSandbox",
        if Path::new(&netns_path).exists() {
            "left"
        } else {
            "gone"
        },
    );
    cri.remove_pod(&pod).unwrap();
    pods.ids.clear();
    assert_gone(
        n,
        h,
        &pc,
        &[&pod, &web_id, &main_id, &talk_id],
        Some(&netns_path),
    );
}

/// CRI's resource translation and security context, checked from inside
/// and from the host; then UpdateContainerResources.
fn resources(n: &Node, h: &str, o: &mut Obs) {
    let cri = n.cri();
    let mut pods = Pods::new(n);
    let pc = n.pod_config(&format!("res-{h}"));
    let pod = pods.run(&pc, h);
    let mut c = n.container_config("limited", &["sh", "-c", "exec sleep 100000"]);
    let lin = c.linux.as_mut().unwrap();
    lin.resources = Some(api::LinuxContainerResources {
        cpu_period: 100000,
        cpu_quota: 50000,
        cpu_shares: 512,
        memory_limit_in_bytes: 64 << 20,
        oom_score_adj: 300,
        ..Default::default()
    });
    lin.security_context = Some(api::LinuxContainerSecurityContext {
        capabilities: Some(api::Capability {
            drop_capabilities: vec!["ALL".into()],
            add_capabilities: vec!["NET_BIND_SERVICE".into(), "CHOWN".into()],
            ..Default::default()
        }),
        run_as_user: Some(api::Int64Value { value: 1000 }),
        run_as_group: Some(api::Int64Value { value: 1001 }),
        supplemental_groups: vec![2000],
        readonly_rootfs: true,
        no_new_privs: true,
        seccomp: Some(api::SecurityProfile {
            profile_type: api::security_profile::ProfileType::RuntimeDefault as i32,
            ..Default::default()
        }),
        ..Default::default()
    });
    let id = create_start(cri, &pod, &c, &pc);
    o.put(
        "ids",
        sh(cri, &id, "id -u; id -g; id -G").replace('\n', " "),
    );
    let status = sh(
        cri,
        &id,
        "grep -E '^(CapEff|CapPrm|CapBnd|CapInh|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status",
    );
    o.put(
        "exec'd process: caps, nnp, seccomp",
        status.replace('\t', " ").replace('\n', "; "),
    );
    let r = cri
        .exec_sync(&id, &["sh", "-c", "touch /x"], 10)
        .expect("ExecSync");
    o.put(
        "read-only rootfs",
        format!(
            "{} {}",
            r.exit_code,
            String::from_utf8_lossy(&r.stderr).contains("Read-only file system")
        ),
    );
    // The container's init, from the host.
    let pid = container_pid(cri, &id);
    assert!(pid > 0, "{h}: no pid in ContainerStatus' info");
    let st = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |k: &str| {
        st.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}:")))
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    for k in [
        "Uid",
        "Gid",
        "Groups",
        "CapEff",
        "CapBnd",
        "NoNewPrivs",
        "Seccomp",
    ] {
        o.put(&format!("init {k}"), field(k));
    }
    o.put(
        "init oom_score_adj",
        fs::read_to_string(format!("/proc/{pid}/oom_score_adj"))
            .unwrap()
            .trim(),
    );
    let cg = |ctrl: &str, f: &str| cg_read(pid, ctrl, f);
    o.put("cpu.shares", cg("cpu", "cpu.shares"));
    o.put("cpu.cfs_quota_us", cg("cpu", "cpu.cfs_quota_us"));
    o.put("cpu.cfs_period_us", cg("cpu", "cpu.cfs_period_us"));
    o.put(
        "memory.limit_in_bytes",
        cg("memory", "memory.limit_in_bytes"),
    );
    let rel = cgroup_of(pid, "memory");
    o.put(
        "cgroup below the pod's parent",
        rel.starts_with(&pc.linux.as_ref().unwrap().cgroup_parent) && rel.ends_with(&id),
    );
    // UpdateContainerResources.
    cri.update_resources(
        &id,
        api::LinuxContainerResources {
            cpu_period: 100000,
            cpu_quota: 20000,
            cpu_shares: 256,
            memory_limit_in_bytes: 96 << 20,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{h}: UpdateContainerResources: {}", describe(&e)));
    o.put(
        "after update",
        format!(
            "shares {} quota {} memory {}",
            cg("cpu", "cpu.shares"),
            cg("cpu", "cpu.cfs_quota_us"),
            cg("memory", "memory.limit_in_bytes")
        ),
    );
    cri.stop(&id, 2).unwrap();
    cri.remove(&id).unwrap();
    cri.stop_pod(&pod).unwrap();
    cri.remove_pod(&pod).unwrap();
    pods.ids.clear();
    assert_gone(n, h, &pc, &[&pod, &id], None);
}

/// StopContainer's grace period (a TERM handler, then one that ignores
/// TERM), and an OOM kill reported as OOMKilled.
fn stop_and_oom(n: &Node, h: &str, o: &mut Obs) {
    let cri = n.cri();
    let mut pods = Pods::new(n);
    let pc = n.pod_config(&format!("stop-{h}"));
    let pod = pods.run(&pc, h);
    let looping =
        |trap: &str| format!("trap '{trap}' TERM; echo ready; while :; do sleep 0.1; done");
    let polite = create_start(
        cri,
        &pod,
        &n.container_config("polite", &["sh", "-c", &looping("echo got-term; exit 0")]),
        &pc,
    );
    let stubborn = create_start(
        cri,
        &pod,
        &n.container_config("stubborn", &["sh", "-c", &looping("")]),
        &pc,
    );
    for name in ["polite", "stubborn"] {
        let log = Path::new(&pc.log_directory).join(format!("{name}.log"));
        assert!(
            wait_until(Duration::from_secs(10), || fs::read_to_string(&log)
                .is_ok_and(|t| t.contains("ready"))),
            "{h}: {name} never got ready"
        );
    }
    let t = Instant::now();
    cri.stop(&polite, 30).unwrap();
    let took = t.elapsed();
    let s = state_of(cri, &polite);
    o.put(
        "polite stop",
        format!(
            "exit {} reason {:?} fast {}",
            s.exit_code,
            s.reason,
            took < Duration::from_secs(15)
        ),
    );
    let t = Instant::now();
    cri.stop(&stubborn, 2).unwrap();
    let took = t.elapsed();
    let s = state_of(cri, &stubborn);
    o.put(
        "stubborn stop",
        format!(
            "exit {} reason {:?} waited the grace {} not much longer {}",
            s.exit_code,
            s.reason,
            took >= Duration::from_millis(1900),
            took < Duration::from_secs(12)
        ),
    );
    // OOM: the shell doubles a string until the 32 MiB limit kills it.
    let mut c = n.container_config("oom", &["sh", "-c", "x=a; while :; do x=$x$x; done"]);
    c.linux.as_mut().unwrap().resources = Some(api::LinuxContainerResources {
        memory_limit_in_bytes: 32 << 20,
        memory_swap_limit_in_bytes: 32 << 20,
        ..Default::default()
    });
    let oom = create_start(cri, &pod, &c, &pc);
    let s = wait_exited(cri, &oom, Duration::from_secs(30));
    if let Some(hier) = node::unmounted_v1_hierarchy() {
        eprintln!(
            "NOTE: {h}: OOMKilled not checked: the v1 hierarchy {hier} is mounted nowhere (the shim gets no OOM events)"
        );
        o.put("oom exit code", s.exit_code);
    } else {
        o.put("oom", format!("exit {} reason {:?}", s.exit_code, s.reason));
    }
    for id in [&polite, &stubborn, &oom] {
        cri.remove(id).unwrap();
    }
    cri.stop_pod(&pod).unwrap();
    cri.remove_pod(&pod).unwrap();
    pods.ids.clear();
    assert_gone(n, h, &pc, &[&pod, &polite, &stubborn, &oom], None);
}

/// A host-network pod: its containers are in the node's network namespace
/// (the test's, never the machine's).
fn host_network(n: &Node, h: &str, o: &mut Obs) {
    let cri = n.cri();
    let mut pods = Pods::new(n);
    let mut pc = n.pod_config(&format!("hostnet-{h}"));
    pc.linux.as_mut().unwrap().security_context = Some(api::LinuxSandboxSecurityContext {
        namespace_options: Some(api::NamespaceOption {
            network: api::NamespaceMode::Node as i32,
            pid: api::NamespaceMode::Container as i32,
            ipc: api::NamespaceMode::Pod as i32,
            ..Default::default()
        }),
        ..Default::default()
    });
    let pod = pods.run(&pc, h);
    let id = create_start(
        cri,
        &pod,
        &n.container_config("c", &["sleep", "100000"]),
        &pc,
    );
    let node_ns = format!(
        "net:[{}]",
        std::os::unix::fs::MetadataExt::ino(&fs::metadata(&n.netns).unwrap())
    );
    let mine = fs::read_link("/proc/self/ns/net").unwrap();
    let seen = sh(cri, &id, "readlink /proc/self/ns/net");
    o.put("container in the node's netns", seen.trim() == node_ns);
    o.put(
        "not the machine's netns",
        seen.trim() != mine.to_string_lossy(),
    );
    // pid namespace per container: the container's process is pid 1.
    o.put(
        "own pid namespace: pid 1",
        sh(cri, &id, "cat /proc/1/cmdline | tr '\\0' ' '").trim(),
    );
    cri.stop(&id, 2).unwrap();
    cri.remove(&id).unwrap();
    cri.stop_pod(&pod).unwrap();
    cri.remove_pod(&pod).unwrap();
    pods.ids.clear();
    assert_gone(n, h, &pc, &[&pod, &id], None);
}

/// Bad input through the CRI: each comes back as an error or status with
/// the reason, and nothing of it stays in the runtime's state.
fn bad_input(n: &Node, h: &str, o: &mut Obs) {
    let cri = n.cri();
    let mut pods = Pods::new(n);
    let pc = n.pod_config(&format!("bad-{h}"));
    let pod = pods.run(&pc, h);
    let before = n.runtime_ids(h);
    let mut cases: Vec<(&str, api::ContainerConfig, &[&str])> = Vec::new();
    let mut c = n.container_config("seccomp", &["true"]);
    c.linux.as_mut().unwrap().security_context = Some(api::LinuxContainerSecurityContext {
        seccomp: Some(api::SecurityProfile {
            profile_type: api::security_profile::ProfileType::Localhost as i32,
            localhost_ref: "/nonexistent/ward-seccomp.json".into(),
        }),
        ..Default::default()
    });
    cases.push((
        "missing seccomp profile",
        c,
        &["/nonexistent/ward-seccomp.json"],
    ));
    let mut c = n.container_config("apparmor", &["true"]);
    c.linux.as_mut().unwrap().security_context = Some(api::LinuxContainerSecurityContext {
        apparmor: Some(api::SecurityProfile {
            profile_type: api::security_profile::ProfileType::Localhost as i32,
            localhost_ref: "ward-nosuch-profile".into(),
        }),
        ..Default::default()
    });
    cases.push(("missing apparmor profile", c, &["apparmor"]));
    let mut c = n.container_config("nouser", &["true"]);
    c.image.as_mut().unwrap().image = image::NOUSER.into();
    cases.push(("image user missing", c, &["no users found"]));
    cases.push((
        "missing command",
        n.container_config("nocmd", &["/bin/ward-nosuch-cmd"]),
        &["executable file not found", "no such file"],
    ));
    let mut c = n.container_config("tiny", &["sh", "-c", "x=a; while :; do x=$x$x; done"]);
    c.linux.as_mut().unwrap().resources = Some(api::LinuxContainerResources {
        memory_limit_in_bytes: 64 << 10,
        memory_swap_limit_in_bytes: 64 << 10,
        ..Default::default()
    });
    // 64 KiB is under what any runtime's init needs to set the container
    // up (runc can't even set it: its own init already uses ~2 MB). At 256
    // KiB ward's init sometimes fits, and then the timing decides whether
    // the start fails or the program is OOM-killed right after it
    // (docs/kubernetes.md).
    cases.push(("memory limit under the need", c, &["memory limit"]));

    let mut ids = Vec::new();
    for (what, c, words) in cases {
        let (stage, text, id) = match cri.create(&pod, &Node::for_pod(&c, &pc), &pc) {
            Err(e) => ("CreateContainer failed", describe(&e), None),
            Ok(id) => match cri.start(&id) {
                Err(e) => ("StartContainer failed", describe(&e), Some(id)),
                Ok(()) => {
                    let s = wait_exited(cri, &id, Duration::from_secs(30));
                    (
                        "started, then exited",
                        format!("exit {} reason {} {}", s.exit_code, s.reason, s.message),
                        Some(id),
                    )
                }
            },
        };
        eprintln!("{h}: {what}: {stage}: {text}");
        let low = text.to_lowercase();
        let named = words.iter().any(|w| low.contains(&w.to_lowercase()));
        assert!(named, "{h}: {what}: the reason is not named: {text}");
        o.put(what, stage);
        if let Some(id) = &id {
            let s = state_of(cri, id);
            o.put(
                &format!("{what}: status"),
                format!(
                    "{:?} exit {} reason {}",
                    api::ContainerState::try_from(s.state).unwrap(),
                    s.exit_code,
                    s.reason
                ),
            );
            let state = n.runtime_ids(h);
            let left = state.iter().any(|x| x == id);
            // A failed start may keep the container until RemoveContainer.
            cri.remove(id)
                .unwrap_or_else(|e| panic!("{h}: {what}: RemoveContainer: {}", describe(&e)));
            o.put(&format!("{what}: state kept before remove"), left);
            ids.push(id.clone());
        }
    }
    let after = n.runtime_ids(h);
    let new: Vec<&String> = after.iter().filter(|x| !before.contains(x)).collect();
    assert!(
        new.is_empty(),
        "{h}: runtime state left by the bad inputs: {new:?}"
    );
    cri.stop_pod(&pod).unwrap();
    cri.remove_pod(&pod).unwrap();
    pods.ids.clear();
    let mut all: Vec<&str> = ids.iter().map(String::as_str).collect();
    all.push(&pod);
    assert_gone(n, h, &pc, &all, None);
}

const SCENARIOS: &[(&str, Scenario)] = &[
    ("pod", pod),
    ("resources", resources),
    ("stop_and_oom", stop_and_oom),
    ("host_network", host_network),
    ("bad_input", bad_input),
];

fn panic_text(e: Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// Every scenario with handler `ward` and with handler `runc`, the two
/// handlers at once on one containerd; then a ward pod and a runc pod side
/// by side. Fails listing every scenario that failed and every observation
/// where ward and runc differ.
#[test]
fn cri_ward_and_runc() {
    let Some(node) = setup("cri") else { return };
    let t0 = Instant::now();
    let results: Vec<(String, Vec<Outcome>)> = std::thread::scope(|s| {
        let handles: Vec<_> = ["ward", "runc"]
            .iter()
            .map(|h| {
                let node = &node;
                s.spawn(move || {
                    let mut res = Vec::new();
                    for (name, f) in SCENARIOS {
                        let t = Instant::now();
                        let r = catch_unwind(AssertUnwindSafe(|| {
                            let mut o = Obs::default();
                            f(node, h, &mut o);
                            o
                        }))
                        .map_err(panic_text);
                        eprintln!(
                            "{h}: {name}: {} in {:.1?}",
                            if r.is_ok() { "ok" } else { "FAILED" },
                            t.elapsed()
                        );
                        res.push((name.to_string(), r));
                    }
                    (h.to_string(), res)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    eprintln!("scenarios, both handlers: {:.1?}", t0.elapsed());
    let mut failures = Vec::new();
    let (ward, runc) = (&results[0].1, &results[1].1);
    for ((name, w), (_, r)) in ward.iter().zip(runc) {
        match (w, r) {
            (Ok(w), Ok(r)) => {
                for (i, (k, v)) in w.0.iter().enumerate() {
                    let theirs = r.0.get(i);
                    if theirs != Some(&(k.clone(), v.clone())) {
                        failures.push(format!(
                            "{name}: ward and runc differ at {k:?}: ward {v:?}, runc {theirs:?}"
                        ));
                    }
                }
                if r.0.len() > w.0.len() {
                    failures.push(format!("{name}: runc saw more: {:?}", &r.0[w.0.len()..]));
                }
                eprintln!(
                    "{name}: {} observations, ward = runc: {}",
                    w.0.len(),
                    w == r
                );
                for (k, v) in &w.0 {
                    eprintln!("  {k}: {v}");
                }
            }
            _ => {
                if let Err(e) = w {
                    failures.push(format!("{name} with ward: {e}"));
                }
                if let Err(e) = r {
                    failures.push(format!("{name} with runc (the reference): {e}"));
                }
            }
        }
    }
    let t = Instant::now();
    if let Err(e) = catch_unwind(AssertUnwindSafe(|| side_by_side(&node))) {
        failures.push(format!("side by side: {}", panic_text(e)));
    }
    eprintln!("side by side: {:.1?}", t.elapsed());
    for h in ["ward", "runc"] {
        let left = node.runtime_ids(h);
        if !left.is_empty() {
            failures.push(format!(
                "{h} state left after every pod was removed: {left:?}"
            ));
        }
    }
    eprintln!("cri_ward_and_runc: {:.1?}", t0.elapsed());
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A pod on `ward` and a pod on `runc` at once: each container reaches the
/// other pod over the CNI bridge, and each runtime holds its own pod only.
fn side_by_side(n: &Node) {
    let cri = n.cri();
    let mut pods = Pods::new(n);
    let mut ids = HashMap::new();
    let mut ips = HashMap::new();
    let mut pcs = HashMap::new();
    for h in ["ward", "runc"] {
        let pc = n.pod_config(&format!("side-{h}"));
        let pod = pods.run(&pc, h);
        let www = n.dir.join(format!("side-www-{h}"));
        fs::create_dir_all(&www).unwrap();
        fs::write(www.join("index.html"), format!("from-{h}\n")).unwrap();
        let mut c = n.container_config("web", &["httpd", "-f", "-p", "8080", "-h", "/www"]);
        c.mounts = vec![api::Mount {
            container_path: "/www".into(),
            host_path: www.display().to_string(),
            readonly: true,
            ..Default::default()
        }];
        let id = create_start(cri, &pod, &c, &pc);
        let ip = cri
            .pod_status(&pod)
            .unwrap()
            .status
            .unwrap()
            .network
            .unwrap()
            .ip;
        ids.insert(h, (pod, id));
        ips.insert(h, ip);
        pcs.insert(h, pc);
    }
    for (h, other) in [("ward", "runc"), ("runc", "ward")] {
        let url = format!("http://{}:8080/index.html", ips[other]);
        let mut body = String::new();
        let ok = wait_until(Duration::from_secs(10), || {
            body = cri
                .exec_sync(&ids[h].1, &["wget", "-qO-", &url], 10)
                .map(|r| String::from_utf8_lossy(&r.stdout).into_owned())
                .unwrap_or_default();
            body.contains(&format!("from-{other}"))
        });
        assert!(
            ok,
            "the {h} pod did not reach the {other} pod at {url}: {body:?}"
        );
        let mine = n.runtime_ids(h);
        let (pod, id) = &ids[h];
        let (opod, oid) = &ids[other];
        assert!(
            mine.contains(pod) && mine.contains(id),
            "{h}'s state lacks its pod {pod} or container {id}: {mine:?}"
        );
        assert!(
            !mine.contains(opod) && !mine.contains(oid),
            "{h}'s state holds the {other} pod: {mine:?}"
        );
        // The runtime that runs it answers for it.
        let out = n.runtime(h, &["state", id]);
        assert!(
            out.success() && out.stdout.contains("\"running\""),
            "{h} state {id}:\n{}",
            out.describe()
        );
    }
    for h in ["ward", "runc"] {
        let (pod, id) = &ids[h];
        cri.stop_pod(pod).unwrap();
        cri.remove_pod(pod).unwrap();
        assert_gone(n, h, &pcs[h], &[pod, id], None);
    }
    pods.ids.clear();
}

/// containerd restarted while a ward pod and a runc pod run: the pods run
/// on, containerd sees them again, ward's state agrees with containerd's
/// view, and they stop and go as usual afterwards.
#[test]
fn cri_containerd_restart() {
    let Some(mut node) = setup("restart") else {
        return;
    };
    let t0 = Instant::now();
    let mut made = Vec::new();
    for h in ["ward", "runc"] {
        let pc = node.pod_config(&format!("restart-{h}"));
        let cri = node.cri();
        let pod = cri
            .run_pod(&pc, h)
            .unwrap_or_else(|e| panic!("RunPodSandbox: {}", describe(&e)));
        let id = create_start(
            cri,
            &pod,
            &node.container_config(
                "c",
                &[
                    "sh",
                    "-c",
                    "trap 'exit 0' TERM; while :; do sleep 0.1; done",
                ],
            ),
            &pc,
        );
        let pid = container_pid(cri, &id);
        made.push((h, pc, pod, id, pid));
    }
    let old = node.containerd_pid();
    node.stop_containerd();
    for (h, _, _, id, pid) in &made {
        assert!(
            ward_cri_test::cmd::pid_alive(*pid),
            "{h}: container {id} (pid {pid}) died with containerd"
        );
    }
    node.start_containerd();
    assert_ne!(old, node.containerd_pid());
    let cri = node.cri();
    let pods = cri.list_pods().expect("ListPodSandbox");
    for (h, pc, pod, id, pid) in &made {
        let p = pods.iter().find(|p| &p.id == pod);
        assert!(
            p.is_some_and(|p| p.state == api::PodSandboxState::SandboxReady as i32),
            "{h}: pod {pod} after the restart: {p:?}"
        );
        let s = state_of(cri, id);
        assert_eq!(
            s.state,
            api::ContainerState::ContainerRunning as i32,
            "{h}: container after the restart: {s:?}"
        );
        assert_eq!(
            container_pid(cri, id),
            *pid,
            "{h}: a new pid after the restart"
        );
        assert_eq!(sh(cri, id, "echo alive").trim(), "alive");
        // The runtime's view agrees with containerd's: the pod's sandbox and
        // container, both running.
        let listed = cri
            .list_containers(api::ContainerFilter {
                pod_sandbox_id: pod.clone(),
                ..Default::default()
            })
            .unwrap();
        let mut crid: Vec<String> = listed.iter().map(|c| c.id.clone()).collect();
        crid.push(pod.clone());
        crid.sort();
        let mut mine = node.runtime_ids(h);
        mine.sort();
        assert_eq!(mine, crid, "{h}: runtime state vs containerd's view");
        for x in &crid {
            let out = node.runtime(h, &["state", x]);
            assert!(
                out.success() && out.stdout.contains("\"running\""),
                "{h} state {x} after the restart:\n{}",
                out.describe()
            );
        }
        let t = Instant::now();
        cri.stop(id, 30).unwrap();
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "{h}: stop after restart"
        );
        let s = state_of(cri, id);
        assert_eq!(s.exit_code, 0, "{h}: {s:?}");
        cri.remove(id).unwrap();
        cri.stop_pod(pod).unwrap();
        cri.remove_pod(pod).unwrap();
        assert_gone(&node, h, pc, &[pod, id], None);
        assert!(
            node.runtime_ids(h).is_empty(),
            "{h}: state left: {:?}",
            node.runtime_ids(h)
        );
    }
    eprintln!("cri_containerd_restart: {:.1?}", t0.elapsed());
}
