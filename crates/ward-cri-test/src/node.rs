//! A Kubernetes node as far as the CRI goes: containerd with its CRI plugin,
//! started by the test in a network namespace of its own, with its root,
//! state, sockets, CNI config, IPAM data and runtime roots under one
//! directory; the runtime handlers `runc` (the default), `ward` and `crun`.
//! Dropping the Node removes every pod, stops containerd and its shims and
//! puts back whatever else they touched, also when a test fails.

use crate::cmd::{self, Out};
use crate::cri::{self, api, Cri};
use crate::image;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Debian packages the CRI tests need.
pub const PACKAGES: &[&str] = &[
    "containerd",
    "containernetworking-plugins",
    "runc",
    "crun",
    "busybox-static",
    "gcc",
    "libc6-dev",
    "iptables",
    "util-linux",
    "iproute2",
];

/// The pods' bridge network: a /24 inside the test's namespace only (no
/// route leaves it).
pub const GATEWAY: &str = "10.231.0.1";

/// The runtime handlers the node offers.
pub const HANDLERS: &[&str] = &["runc", "ward", "crun"];

/// Root is needed; returns false after a SKIP line otherwise, or when
/// WARD_CRI=0.
pub fn can_run(what: &str) -> bool {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP: {what}: needs root (containerd, real pods)");
        return false;
    }
    if std::env::var("WARD_CRI").as_deref() == Ok("0") {
        eprintln!("SKIP: {what}: WARD_CRI=0");
        return false;
    }
    true
}

/// Installs the packages through scripts/deps.sh when a binary is missing.
pub fn ensure_installed() {
    let missing = [
        "containerd",
        "ctr",
        "runc",
        "crun",
        "cc",
        "nsenter",
        "iptables",
    ]
    .iter()
    .any(|b| cmd::which(b).is_none())
        || !Path::new("/usr/lib/cni/bridge").exists()
        || !Path::new("/bin/busybox").exists();
    if !missing {
        return;
    }
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/deps.sh");
    let mut c = Command::new("bash");
    c.arg(&script).args(PACKAGES);
    let out = cmd::run(c, &std::env::temp_dir(), Duration::from_secs(900));
    out.assert_ok();
}

/// The ward binary under test: `WARD_CRI_BIN`, else the `ward` that cargo
/// built next to this test binary (`cargo test --workspace` builds it
/// first; alone, `cargo build -p ward` does).
pub fn ward_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("WARD_CRI_BIN").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/<triple>/<profile>/deps/<test>-<hash>, or a binary of this
    // crate at target/<triple>/<profile>/<name>.
    let dir = exe.parent().expect("target dir");
    let p = [dir.join("ward"), dir.join("../ward")]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| dir.join("../ward"));
    assert!(
        p.is_file(),
        "no ward binary at {} (build it first: cargo build -p ward, or set WARD_CRI_BIN)",
        p.display()
    );
    p
}

/// Paths on the host that several Nodes of this process may create and
/// share (/run/containerd, /var/lib/cni): whether each existed before the
/// first Node looked, and how many Nodes hold it.
static SHARED: Mutex<BTreeMap<PathBuf, (bool, usize)>> = Mutex::new(BTreeMap::new());

fn hold(p: &str) -> PathBuf {
    let p = PathBuf::from(p);
    let mut m = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    m.entry(p.clone()).or_insert_with(|| (p.exists(), 0)).1 += 1;
    p
}

/// Drops a hold; the last one out removes the path's empty directories
/// (or the file) when it did not exist before.
fn release(p: &Path) {
    let mut m = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    let Some(e) = m.get_mut(p) else { return };
    e.1 -= 1;
    if e.1 == 0 && !e.0 {
        if p.is_dir() {
            remove_empty_tree(p);
        } else {
            let _ = fs::remove_file(p);
        }
    }
}

fn remove_empty_tree(d: &Path) {
    if let Ok(rd) = fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_tree(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(d);
}

/// Every cgroup hierarchy's root: /sys/fs/cgroup when it is cgroup2, else
/// each mounted hierarchy below it.
pub fn hierarchies() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if Path::new("/sys/fs/cgroup/cgroup.procs").exists() {
        v.push(PathBuf::from("/sys/fs/cgroup"));
    }
    if let Ok(rd) = fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            let p = e.path();
            if p.join("cgroup.procs").exists()
                && !fs::symlink_metadata(&p).is_ok_and(|m| m.is_symlink())
            {
                v.push(p);
            }
        }
    }
    v
}

/// A cgroup file of `rel` (a cgroup path) in the first hierarchy that has
/// it, trimmed.
pub fn cgroup_file(rel: &str, file: &str) -> Option<String> {
    let rel = rel.trim_start_matches('/');
    hierarchies()
        .iter()
        .find_map(|h| fs::read_to_string(h.join(rel).join(file)).ok())
        .map(|s| s.trim().to_string())
}

/// Every directory `rel` names in any hierarchy.
pub fn cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    let rel = rel.trim_start_matches('/');
    hierarchies()
        .iter()
        .map(|h| h.join(rel))
        .filter(|p| p.is_dir())
        .collect()
}

/// Pids in `rel` and below, in every hierarchy.
fn cgroup_pids(rel: &str) -> Vec<i32> {
    fn walk(d: &Path, v: &mut Vec<i32>) {
        if let Ok(s) = fs::read_to_string(d.join("cgroup.procs")) {
            v.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
        if let Ok(rd) = fs::read_dir(d) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    walk(&e.path(), v);
                }
            }
        }
    }
    let mut v = Vec::new();
    for d in cgroup_dirs(rel) {
        walk(&d, &mut v);
    }
    v.sort();
    v.dedup();
    v
}

fn remove_cgroup_tree(p: &Path) {
    if let Ok(rd) = fs::read_dir(p) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(p);
}

/// A v1 hierarchy this process belongs to that is mounted nowhere: then
/// containerd's cgroups library can't load any task's cgroup, so the shim
/// has no metrics and no OOM events (for runc as for ward). None on a sane
/// host. (The same check as the engine tests'.)
pub fn unmounted_v1_hierarchy() -> Option<String> {
    let mine = fs::read_to_string("/proc/self/cgroup").ok()?;
    let mounts = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mounted: Vec<Vec<String>> = mounts
        .lines()
        .filter_map(|l| {
            let (_, post) = l.split_once(" - ")?;
            let mut f = post.split_whitespace();
            (f.next()? == "cgroup").then(|| {
                f.nth(1)
                    .unwrap_or("")
                    .split(',')
                    .map(str::to_string)
                    .collect()
            })
        })
        .collect();
    for line in mine.lines() {
        let mut f = line.splitn(3, ':');
        let (id, ctrls) = (f.next()?, f.next()?);
        if id == "0" || ctrls.is_empty() {
            continue;
        }
        let want: Vec<&str> = ctrls.split(',').collect();
        if !mounted
            .iter()
            .any(|o| want.iter().all(|c| o.iter().any(|x| x == c)))
        {
            return Some(ctrls.to_string());
        }
    }
    None
}

/// What a Node may run in place of the usual binaries (the pod bench puts
/// bench/rtwrap in front of each to time it).
#[derive(Default, Clone)]
pub struct Options {
    /// A handler's binary, in place of `runtime_bin`'s.
    pub runtime_bins: BTreeMap<String, PathBuf>,
    /// CNI's bin_dir, in place of /usr/lib/cni.
    pub cni_bin_dir: Option<PathBuf>,
    /// Put first in containerd's PATH (where it finds its shim).
    pub path_prefix: Option<PathBuf>,
    /// TOML appended to containerd's config (critest's registry mirrors).
    pub extra_config: String,
    /// containerd (and whatever `nsenter_args` enters) in an IPC namespace
    /// of the node's own, pinned next to the netns: critest makes SysV shm
    /// segments in the node's IPC namespace for its HostIpc checks.
    pub private_ipc: bool,
}

pub struct Node {
    /// /tmp/ward-cri-<name>-<pid>
    pub dir: PathBuf,
    pub logs: PathBuf,
    /// The pinned network namespace containerd (the node) lives in.
    pub netns: PathBuf,
    pub sock: PathBuf,
    pub config: PathBuf,
    pub ward: PathBuf,
    /// The cgroup every pod of this node goes below (cgroupfs driver).
    pub cgroup_root: String,
    /// The CNI network's name (the CNI cache names its files after it).
    pub net_name: String,
    pub options: Options,
    containerd: Option<Child>,
    cri: Option<Cri>,
    held: Vec<PathBuf>,
    pod_seq: std::sync::atomic::AtomicUsize,
}

impl Node {
    /// Makes the namespace, writes the configs, builds and imports the
    /// images, and starts containerd; a panic on the way still cleans up.
    pub fn start(name: &str) -> Node {
        Node::start_with(name, Options::default())
    }

    pub fn start_with(name: &str, options: Options) -> Node {
        let pid = std::process::id();
        let dir = PathBuf::from(format!("/tmp/ward-cri-{name}-{pid}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("mkdir node dir");
        let logs = dir.join("logs");
        fs::create_dir_all(&logs).unwrap();
        let mut node = Node {
            netns: dir.join("netns"),
            sock: dir.join("containerd.sock"),
            config: dir.join("config.toml"),
            ward: ward_bin(),
            cgroup_root: format!("/ward-cri-{name}-{pid}"),
            net_name: format!("ward-cri-{name}-{pid}"),
            options,
            containerd: None,
            cri: None,
            held: Vec::new(),
            pod_seq: Default::default(),
            logs,
            dir,
        };
        // containerd 1.6 puts shim sockets in /run/containerd/s whatever its
        // state dir; libcni caches results in /var/lib/cni; iptables (the
        // portmap plugin) takes /run/xtables.lock.
        for p in ["/run/containerd", "/var/lib/cni", "/run/xtables.lock"] {
            node.held.push(hold(p));
        }
        node.make_netns();
        node.write_config();
        let archive = image::build_images(&node.dir);
        node.start_containerd();
        node.ctr(&["images", "import", archive.to_str().unwrap()])
            .assert_ok();
        for img in [image::PAUSE, image::BUSYBOX, image::NOUSER] {
            let st = node.cri().image_status(img);
            assert!(
                matches!(st, Ok(Some(_))),
                "CRI does not see the imported image {img}: {st:?}"
            );
        }
        node
    }

    fn make_netns(&self) {
        fs::write(&self.netns, "").unwrap();
        let net = format!("--net={}", self.netns.display());
        cmd::host(&self.logs, "unshare", &[&net, "true"]).assert_ok();
        if self.options.private_ipc {
            let f = self.dir.join("ipcns");
            fs::write(&f, "").unwrap();
            let ipc = format!("--ipc={}", f.display());
            cmd::host(&self.logs, "unshare", &[&ipc, "true"]).assert_ok();
        }
        self.in_netns(&["ip", "link", "set", "lo", "up"])
            .assert_ok();
    }

    /// nsenter's options for the node's namespaces: --net (and --ipc with
    /// `private_ipc`) only, so the mounts, /sys/fs/cgroup among them, stay
    /// the host's.
    pub fn nsenter_args(&self) -> Vec<String> {
        let mut v = vec![format!("--net={}", self.netns.display())];
        if self.options.private_ipc {
            v.push(format!("--ipc={}", self.dir.join("ipcns").display()));
        }
        v
    }

    /// Runs `args` in the node's network namespace.
    pub fn in_netns(&self, args: &[&str]) -> Out {
        let mut c = Command::new("nsenter");
        c.args(self.nsenter_args()).args(args);
        cmd::run(c, &self.logs, cmd::CMD_TIMEOUT)
    }

    /// The runtime root the shim passes to the handler's binary
    /// (`--root <root>/k8s.io`).
    pub fn runtime_root(&self, handler: &str) -> PathBuf {
        self.dir.join(format!("rt-{handler}")).join("k8s.io")
    }

    pub fn runtime_bin(&self, handler: &str) -> PathBuf {
        if let Some(p) = self.options.runtime_bins.get(handler) {
            return p.clone();
        }
        match handler {
            "ward" => self.ward.clone(),
            other => cmd::which(other).unwrap_or_else(|| PathBuf::from(other)),
        }
    }

    fn write_config(&self) {
        let d = self.dir.display();
        let cni = self.dir.join("cni");
        fs::create_dir_all(&cni).unwrap();
        let conflist = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": self.net_name,
            "plugins": [
                {"type": "bridge", "bridge": "wardcri0", "isGateway": true,
                 "ipMasq": false, "hairpinMode": true,
                 "ipam": {"type": "host-local",
                          "ranges": [[{"subnet": "10.231.0.0/24", "gateway": GATEWAY}]],
                          "dataDir": format!("{d}/cni-ipam")}},
                {"type": "portmap", "capabilities": {"portMappings": true}}
            ]
        });
        fs::write(
            cni.join("10-ward-cri.conflist"),
            serde_json::to_string_pretty(&conflist).unwrap(),
        )
        .unwrap();
        let mut runtimes = String::new();
        for h in HANDLERS {
            let bin = self.runtime_bin(h);
            runtimes.push_str(&format!(
                "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.{h}]\n\
                 \x20 runtime_type = \"io.containerd.runc.v2\"\n\
                 [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.{h}.options]\n\
                 \x20 BinaryName = \"{}\"\n\
                 \x20 Root = \"{d}/rt-{h}\"\n\
                 \x20 SystemdCgroup = false\n",
                bin.display()
            ));
        }
        let config = format!(
            "version = 2\n\
             root = \"{d}/root\"\n\
             state = \"{d}/state\"\n\
             disabled_plugins = [\"io.containerd.snapshotter.v1.aufs\", \
               \"io.containerd.snapshotter.v1.btrfs\", \"io.containerd.snapshotter.v1.zfs\", \
               \"io.containerd.snapshotter.v1.devmapper\", \"io.containerd.tracing.processor.v1.otlp\"]\n\
             [grpc]\n  address = \"{d}/containerd.sock\"\n\
             [ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n\
             [debug]\n  address = \"{d}/debug.sock\"\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{d}/opt\"\n\
             [plugins.\"io.containerd.grpc.v1.cri\"]\n\
             \x20 sandbox_image = \"{pause}\"\n\
             \x20 restrict_oom_score_adj = true\n\
             \x20 netns_mounts_under_state_dir = true\n\
             \x20 stream_server_address = \"127.0.0.1\"\n\
             \x20 stream_server_port = \"0\"\n\
             \x20 enable_selinux = false\n\
             [plugins.\"io.containerd.grpc.v1.cri\".cni]\n\
             \x20 bin_dir = \"{cni_bin}\"\n\
             \x20 conf_dir = \"{d}/cni\"\n\
             [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n\
             \x20 default_runtime_name = \"runc\"\n\
             \x20 snapshotter = \"overlayfs\"\n\
             {runtimes}{extra}",
            extra = self.options.extra_config,
            pause = image::PAUSE,
            cni_bin = self
                .options
                .cni_bin_dir
                .as_deref()
                .unwrap_or(Path::new("/usr/lib/cni"))
                .display(),
        );
        fs::write(&self.config, config).unwrap();
    }

    /// Starts containerd (in the node's namespace) and waits until the CRI
    /// answers and says the network is ready.
    pub fn start_containerd(&mut self) {
        assert!(self.containerd.is_none(), "containerd already runs");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("containerd.log"))
            .unwrap();
        let mut c = Command::new("nsenter");
        c.args(self.nsenter_args())
            .arg("containerd")
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0);
        if let Some(pre) = &self.options.path_prefix {
            let path = std::env::var("PATH").unwrap_or_default();
            c.env("PATH", format!("{}:{path}", pre.display()));
        }
        let child = c.spawn().expect("start containerd");
        self.containerd = Some(child);
        self.cri = Some(Cri::connect(&self.sock));
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = String::new();
        loop {
            if self.sock.exists() {
                match self.cri().status() {
                    Ok(st) => {
                        let ready = st
                            .status
                            .as_ref()
                            .map(|s| s.conditions.iter().all(|c| c.status))
                            .unwrap_or(false);
                        if ready {
                            return;
                        }
                        last = format!("{st:?}");
                    }
                    Err(e) => last = cri::describe(&e),
                }
            }
            let exited = self
                .containerd
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() >= deadline {
                panic!(
                    "containerd did not get ready (exit {exited:?}; last: {last}); its log:\n{}",
                    self.log_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM to containerd and wait for it (SIGKILL after 20 s). The
    /// shims, and so the pods, live on.
    pub fn stop_containerd(&mut self) {
        self.cri = None;
        let Some(mut child) = self.containerd.take() else {
            return;
        };
        // containerd is nsenter's exec: the same pid.
        cmd::kill(child.id() as i32, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        cmd::kill_group(child.id() as i32);
        let _ = child.wait();
    }

    pub fn containerd_pid(&self) -> Option<i32> {
        self.containerd.as_ref().map(|c| c.id() as i32)
    }

    pub fn cri(&self) -> &Cri {
        self.cri.as_ref().expect("containerd is not running")
    }

    pub fn log_tail(&self, n: usize) -> String {
        let t = cmd::read_lossy(&self.dir.join("containerd.log"));
        let lines: Vec<&str> = t.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// `ctr` against this containerd, in the k8s.io namespace.
    pub fn ctr(&self, args: &[&str]) -> Out {
        let mut c = Command::new("ctr");
        c.arg("-a")
            .arg(&self.sock)
            .args(["-n", "k8s.io"])
            .args(args);
        cmd::run(c, &self.logs, Duration::from_secs(120))
    }

    /// `<handler's binary> --root <its root> args…`
    pub fn runtime(&self, handler: &str, args: &[&str]) -> Out {
        let mut c = Command::new(self.runtime_bin(handler));
        c.arg("--root").arg(self.runtime_root(handler)).args(args);
        cmd::run(c, &self.logs, cmd::CMD_TIMEOUT)
    }

    /// The container IDs the handler's runtime has state for.
    pub fn runtime_ids(&self, handler: &str) -> Vec<String> {
        fs::read_dir(self.runtime_root(handler))
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A fresh pod config: unique name and uid, its own cgroup parent below
    /// the node's, and a log directory.
    pub fn pod_config(&self, name: &str) -> api::PodSandboxConfig {
        let n = self
            .pod_seq
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let uid = format!("{name}-uid-{n}");
        let logdir = self.dir.join("pod-logs").join(&uid);
        fs::create_dir_all(&logdir).unwrap();
        api::PodSandboxConfig {
            metadata: Some(api::PodSandboxMetadata {
                name: name.to_string(),
                uid: uid.clone(),
                namespace: "ward-test".to_string(),
                attempt: 0,
            }),
            log_directory: logdir.display().to_string(),
            // kubelet's defaults: the pod's network and IPC namespaces,
            // a pid namespace per container.
            linux: Some(api::LinuxPodSandboxConfig {
                cgroup_parent: format!("{}/pod-{uid}", self.cgroup_root),
                security_context: Some(api::LinuxSandboxSecurityContext {
                    namespace_options: Some(api::NamespaceOption {
                        network: api::NamespaceMode::Pod as i32,
                        pid: api::NamespaceMode::Container as i32,
                        ipc: api::NamespaceMode::Pod as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// A container config running `args` in the busybox image.
    pub fn container_config(&self, name: &str, args: &[&str]) -> api::ContainerConfig {
        api::ContainerConfig {
            metadata: Some(api::ContainerMetadata {
                name: name.to_string(),
                attempt: 0,
            }),
            image: Some(api::ImageSpec {
                image: image::BUSYBOX.to_string(),
                ..Default::default()
            }),
            command: args.iter().map(|s| s.to_string()).collect(),
            log_path: format!("{name}.log"),
            linux: Some(api::LinuxContainerConfig::default()),
            ..Default::default()
        }
    }

    /// `c` as kubelet sends it for pod `pc`: the container's namespace
    /// options are the pod's (containerd reads the container's).
    pub fn for_pod(c: &api::ContainerConfig, pc: &api::PodSandboxConfig) -> api::ContainerConfig {
        let mut c = c.clone();
        let ns = pc
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .and_then(|s| s.namespace_options.clone());
        let sc = c
            .linux
            .get_or_insert_with(Default::default)
            .security_context
            .get_or_insert_with(Default::default);
        if sc.namespace_options.is_none() {
            sc.namespace_options = ns;
        }
        c
    }

    /// Everything of pod `pod_id` (and its containers `ids`) still on the
    /// host after RemovePodSandbox: runtime state, cgroups, mounts, the
    /// pinned netns, processes.
    pub fn leftovers(
        &self,
        handler: &str,
        pod: &api::PodSandboxConfig,
        ids: &[&str],
        netns: Option<&str>,
    ) -> Vec<String> {
        let mut v = Vec::new();
        let state = self.runtime_ids(handler);
        for id in ids {
            if state.iter().any(|s| s == id) {
                v.push(format!(
                    "{handler} state of {id} under {}",
                    self.runtime_root(handler).display()
                ));
            }
        }
        let parent = &pod.linux.as_ref().unwrap().cgroup_parent;
        for id in ids {
            for d in cgroup_dirs(&format!("{parent}/{id}")) {
                v.push(format!("cgroup {}", d.display()));
            }
        }
        for p in cgroup_pids(parent) {
            v.push(format!(
                "process {p} in the pod's cgroup: {:?}",
                cmd::cmdline(p)
            ));
        }
        for m in cmd::mount_points() {
            if ids.iter().any(|id| m.contains(id)) {
                v.push(format!("mount {m}"));
            }
            if netns.is_some_and(|n| !n.is_empty() && m == n) {
                v.push(format!("netns mount {m}"));
            }
        }
        if let Some(n) = netns.filter(|n| !n.is_empty()) {
            if Path::new(n).exists() {
                v.push(format!("netns file {n}"));
            }
        }
        v
    }

    /// Stops and removes every pod, bounded; errors are only printed (this
    /// runs from Drop too).
    pub fn remove_all_pods(&self) {
        let Some(cri) = self.cri.as_ref() else { return };
        if let Ok(pods) = cri.list_pods() {
            for p in pods {
                let _ = cri.stop_pod(&p.id);
                if let Err(e) = cri.remove_pod(&p.id) {
                    eprintln!("cleanup: RemovePodSandbox {}: {}", p.id, cri::describe(&e));
                }
            }
        }
    }

    /// Kills every process still tied to this node: shims started for its
    /// socket, and anything in its pods' cgroups.
    fn kill_leftover_processes(&self) {
        let sock = self.sock.display().to_string();
        for _ in 0..3 {
            let mut pids: Vec<i32> = cmd::all_pids()
                .into_iter()
                .filter(|p| {
                    let c = cmd::cmdline(*p);
                    c.first().is_some_and(|a| a.contains("containerd-shim"))
                        && c.iter().any(|a| a == &sock)
                })
                .collect();
            pids.extend(cgroup_pids(&self.cgroup_root));
            if pids.is_empty() {
                return;
            }
            for p in pids {
                cmd::kill(p, libc::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Node {
    /// Every sandbox containerd still knows (its CRI directories and the
    /// shims' bundles), whether or not it runs.
    fn known_sandboxes(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for d in [
            "root/io.containerd.grpc.v1.cri/sandboxes",
            "state/io.containerd.grpc.v1.cri/sandboxes",
            "state/io.containerd.runtime.v2.task/k8s.io",
        ] {
            if let Ok(rd) = fs::read_dir(self.dir.join(d)) {
                v.extend(
                    rd.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned()),
                );
            }
        }
        v.sort();
        v.dedup();
        v
    }

    /// What a shim killed by the cleanup (or containerd's CNI calls cut
    /// short) leaves on the host for sandbox `id`: its socket in
    /// /run/containerd/s (named by sha256 of <address>/<namespace>/<id>)
    /// and libcni's cached results.
    fn remove_host_files_of(&self, id: &str) {
        use sha2::{Digest, Sha256};
        let key = format!("{}/k8s.io/{id}", self.sock.display());
        let _ = fs::remove_file(format!(
            "/run/containerd/s/{:x}",
            Sha256::digest(key.as_bytes())
        ));
        let _ = fs::remove_file(format!("/var/lib/cni/results/cni-loopback-{id}-lo"));
        let _ = fs::remove_file(format!("/var/lib/cni/results/{}-{id}-eth0", self.net_name));
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.containerd.is_some() {
            self.remove_all_pods();
        }
        let sandboxes = self.known_sandboxes();
        self.stop_containerd();
        self.kill_leftover_processes();
        for id in &sandboxes {
            self.remove_host_files_of(id);
        }
        for h in HANDLERS {
            for id in self.runtime_ids(h) {
                let _ = self.runtime(h, &["delete", "--force", &id]);
            }
        }
        cmd::unmount_below(&self.dir);
        for d in cgroup_dirs(&self.cgroup_root) {
            let _ = cmd::wait_until(Duration::from_secs(5), || {
                remove_cgroup_tree(&d);
                !d.exists()
            });
        }
        // The CNI cache's files for this network (libcni names them
        // <network>-<container id>-<interface>).
        if let Ok(rd) = fs::read_dir("/var/lib/cni/results") {
            for e in rd.flatten() {
                if e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{}-", self.net_name))
                {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        for p in std::mem::take(&mut self.held) {
            release(&p);
        }
        if std::env::var_os("WARD_CRI_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
