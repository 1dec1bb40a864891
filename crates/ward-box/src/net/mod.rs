//! A box's network (docs/network.md).
//!
//! Modes (`--net`):
//! - `bridge` (the image boxes' default) or `NAME`: the box joins a CNI
//!   network, the default `ward` (bridge `ward0`) or a named one. ward box
//!   makes and pins the box's network namespace (`RUN/netns/<id>`), runs
//!   the network's plugins (ADD) and writes the box's /etc/hosts,
//!   /etc/resolv.conf and /etc/hostname, all before the runtime runs; the
//!   runtime joins the namespace by path. Teardown (DEL, then unpin) runs
//!   on every way out, and again from `rm` or `network prune` when a
//!   supervisor died: `net.json` in the box's directory, written before
//!   ADD, says what to undo. The default network, while its conflist is
//!   the one ward wrote, takes the native fast path instead of the
//!   plugins (net/fast.rs), with identical results.
//! - `none` (the host view's default): a namespace of its own with `lo`.
//! - `host`: the host's namespace.
//! - `ns:PATH`: a namespace that exists (a pin, /proc/PID/ns/net).
//! - `pasta` (the default without root): pasta, from Debian's passt,
//!   connects the box's namespace to the host's network as the user.

pub mod bpf;
pub mod cni;
pub mod fast;
pub mod ipv4;
pub mod names;
pub mod netns;
pub mod networks;
pub mod nl;
pub mod pasta;
pub mod ports;
pub mod rate;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};

use self::networks::DEFAULT;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetMode {
    /// Its own network namespace, with only the loopback device.
    None,
    /// The host's network namespace.
    Host,
    /// A network namespace that exists, joined by path.
    Ns(PathBuf),
    /// A CNI network: the default (`bridge`) or a named one.
    Network(String),
    /// pasta (rootless): the user's network through a tap in the box.
    Pasta,
}

impl std::str::FromStr for NetMode {
    type Err = String;
    fn from_str(s: &str) -> Result<NetMode, String> {
        match s {
            "none" => Ok(NetMode::None),
            "host" => Ok(NetMode::Host),
            "bridge" => Ok(NetMode::Network(DEFAULT.into())),
            "pasta" => Ok(NetMode::Pasta),
            _ => {
                if let Some(p) = s.strip_prefix("ns:") {
                    if !p.starts_with('/') {
                        return Err(format!("--net {s:?}: ns:PATH needs an absolute path"));
                    }
                    return Ok(NetMode::Ns(PathBuf::from(p)));
                }
                networks::validate_name(s).map_err(|e| {
                    format!(
                        "--net {s:?}: not a mode (none, host, bridge, pasta, ns:PATH) nor a {e}"
                    )
                })?;
                Ok(NetMode::Network(s.into()))
            }
        }
    }
}

impl std::fmt::Display for NetMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetMode::None => f.write_str("none"),
            NetMode::Host => f.write_str("host"),
            NetMode::Ns(p) => write!(f, "ns:{}", p.display()),
            NetMode::Network(n) => f.write_str(n),
            NetMode::Pasta => f.write_str("pasta"),
        }
    }
}

impl Serialize for NetMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for NetMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<NetMode, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An interface name the kernel takes (IFNAMSIZ, no '/' or spaces).
pub fn validate_ifname(n: &str) -> Result<(), String> {
    let ok = !n.is_empty()
        && n.len() < 16
        && n != "."
        && n != ".."
        && n.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "interface name {n:?}: 1 to 15 characters, no / : or spaces"
        ))
    }
}

/// How a box's bandwidth is capped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateMode {
    /// tc on the host side of the box's veth: both directions, CNI
    /// networks only.
    #[default]
    Veth,
    /// An eBPF program on the box's cgroup (v2): egress only, whatever
    /// interface or namespace the box uses.
    Cgroup,
}

impl std::str::FromStr for RateMode {
    type Err = String;
    fn from_str(s: &str) -> Result<RateMode, String> {
        match s {
            "veth" | "tc" => Ok(RateMode::Veth),
            "cgroup" => Ok(RateMode::Cgroup),
            _ => Err(format!("--net-rate-mode {s:?}: veth or cgroup")),
        }
    }
}

/// The network side of `ward box run`'s flags, kept in the box's record.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct NetOptions {
    #[serde(default)]
    pub ports: Vec<ports::PortMap>,
    #[serde(default)]
    pub dns: Vec<String>,
    #[serde(default)]
    pub dns_search: Vec<String>,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub domainname: Option<String>,
    /// Bits per second into the box; None: no cap.
    #[serde(default)]
    pub rate_in: Option<u64>,
    /// Bits per second out of the box.
    #[serde(default)]
    pub rate_out: Option<u64>,
    #[serde(default)]
    pub rate_mode: RateMode,
}

/// What a box's network left to undo: `BOXDIR/net.json`, written before
/// each step that makes something.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NetState {
    /// The pinned namespace, if ward box made one.
    #[serde(default)]
    pub netns: Option<PathBuf>,
    #[serde(default)]
    pub attachments: Vec<cni::Attachment>,
    /// The ifb device that carries the box's egress cap (veth mode).
    #[serde(default)]
    pub ifb: Option<String>,
    /// The box's v2 cgroup, made by ward box for the cgroup-mode cap.
    #[serde(default)]
    pub cgroup: Option<PathBuf>,
}

/// Where a box's network things are.
pub struct BoxNet<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// The box's directory.
    pub dir: &'a Path,
    /// RUN (the pins go to RUN/netns).
    pub run: &'a Path,
    pub networks: &'a networks::Networks,
}

impl BoxNet<'_> {
    pub fn pin_path(&self) -> PathBuf {
        self.run.join("netns").join(self.id)
    }
    fn state_path(&self) -> PathBuf {
        self.dir.join("net.json")
    }
    pub fn load(&self) -> Option<NetState> {
        let data = fs::read(self.state_path()).ok()?;
        serde_json::from_slice(&data).ok()
    }
    fn save(&self, st: &NetState) -> Result<(), String> {
        let p = self.state_path();
        let data = serde_json::to_vec_pretty(st).expect("net state serializes");
        crate::store::write_file(self.dir, &p, &data, false).map_err(|e| e.to_string())
    }
    /// The box's own /etc files (bound over /etc/hosts, /etc/resolv.conf,
    /// /etc/hostname).
    pub fn etc_dir(&self) -> PathBuf {
        self.dir.join("etc")
    }
}

/// Whether the mode makes the box's /etc/hosts, resolv.conf and hostname
/// (every mode of an image or directory box; a host-view box keeps the
/// host's unless it joins a network).
pub fn writes_etc(mode: &NetMode, host_view: bool) -> bool {
    match mode {
        NetMode::Network(_) | NetMode::Pasta => true,
        NetMode::None | NetMode::Ns(_) => !host_view,
        NetMode::Host => !host_view,
    }
}

/// Adjusts the runtime spec: the network namespace (none for host, a path
/// for ns: and CNI networks), the domain name, and the /etc binds.
pub fn apply(spec: &mut Value, mode: &NetMode, opts: &NetOptions, b: &BoxNet<'_>, etc: bool) {
    let ns = spec["linux"]["namespaces"].as_array_mut();
    if let Some(ns) = ns {
        ns.retain(|n| n["type"] != "network");
        match mode {
            NetMode::Host => {}
            NetMode::None | NetMode::Pasta => ns.push(json!({"type": "network"})),
            NetMode::Ns(p) => ns.push(json!({"type": "network", "path": p})),
            NetMode::Network(_) => ns.push(json!({"type": "network", "path": b.pin_path()})),
        }
    }
    if let Some(d) = &opts.domainname {
        spec["domainname"] = json!(d);
    }
    if matches!(mode, NetMode::Network(_) | NetMode::Pasta) {
        // ping without CAP_NET_RAW, as podman and docker set it.
        let l = &mut spec["linux"];
        if l["sysctl"].is_null() {
            l["sysctl"] = json!({});
        }
        let range = ping_group_range(&l["gidMappings"]);
        l["sysctl"]["net.ipv4.ping_group_range"] = json!(range);
    }
    if *mode == NetMode::Pasta {
        let exe = std::fs::read_link("/proc/self/exe").unwrap_or_else(|_| "ward-box".into());
        let mut args = vec![json!("ward-box"), json!("__pasta"), json!(b.dir)];
        for p in &opts.ports {
            args.push(json!("-p"));
            args.push(json!(p.to_string()));
        }
        let hooks = &mut spec["hooks"];
        if hooks.is_null() {
            *hooks = json!({});
        }
        let list = &mut hooks["createRuntime"];
        if list.is_null() {
            *list = json!([]);
        }
        if let Some(l) = list.as_array_mut() {
            l.push(json!({"path": exe, "args": args, "timeout": 30}));
        }
    }
    if etc {
        if let Some(m) = spec["mounts"].as_array_mut() {
            for f in ["hosts", "resolv.conf", "hostname"] {
                m.push(json!({"destination": format!("/etc/{f}"), "type": "bind",
                    "source": b.etc_dir().join(f), "options": ["rbind", "rprivate"]}));
            }
        }
    }
}

/// net.ipv4.ping_group_range for a box: every group, or in a user
/// namespace the groups it maps (the kernel refuses ends it can't map:
/// a rootless box maps its root group alone, "0 0", as podman sets it).
fn ping_group_range(gid_mappings: &Value) -> String {
    let maps: Vec<(u64, u64)> = gid_mappings
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| Some((m["containerID"].as_u64()?, m["size"].as_u64()?)))
                .filter(|(_, n)| *n > 0)
                .collect()
        })
        .unwrap_or_default();
    if maps.is_empty() {
        return "0 2147483647".into();
    }
    let lo = maps.iter().map(|(c, _)| *c).min().unwrap_or(0);
    let hi = maps.iter().map(|(c, n)| c + n - 1).max().unwrap_or(0);
    format!("{lo} {}", hi.min(2_147_483_647))
}

/// Everything that can be refused before anything is made: the network
/// exists and reads, its plugins are there, the ports are free, the
/// namespace path is a network namespace, the rate mode fits the host.
pub fn check(
    mode: &NetMode,
    opts: &NetOptions,
    b: &BoxNet<'_>,
    rootless: bool,
) -> Result<(), String> {
    if !opts.ports.is_empty() && !matches!(mode, NetMode::Network(_) | NetMode::Pasta) {
        return Err(format!(
            "-p: publishing ports needs a network (--net bridge or a named one), not --net {mode}"
        ));
    }
    match mode {
        NetMode::Network(n) => {
            if rootless {
                return Err(format!(
                    "--net {n}: CNI networks need root; without root use --net pasta"
                ));
            }
            let c = if n == DEFAULT {
                b.networks.default_network()?
            } else {
                b.networks.find(n)?
            };
            c.check_plugins(&cni::cni_path())?;
            ports::check_free(&opts.ports)?;
        }
        NetMode::Ns(p) => names::check_netns_path(p)?,
        NetMode::Pasta => {
            pasta::find()?;
            pasta::tun_usable()?;
            ports::check_free(&opts.ports)?;
        }
        NetMode::None | NetMode::Host => {}
    }
    if opts.rate_in.is_some() || opts.rate_out.is_some() {
        match opts.rate_mode {
            RateMode::Veth => {
                if !matches!(mode, NetMode::Network(_)) {
                    return Err(format!(
                        "--net-rate: --net {mode} has no veth to shape; use --net-rate-mode cgroup (egress, cgroup v2)"
                    ));
                }
            }
            RateMode::Cgroup => {
                if opts.rate_in.is_some() {
                    return Err(
                        "--net-rate-mode cgroup caps egress only: use --net-rate-out (or the veth mode for ingress)"
                            .into(),
                    );
                }
                if rootless {
                    return Err(
                        "--net-rate-mode cgroup needs root (it loads an eBPF program)".into(),
                    );
                }
                rate::cgroup_v2_mount()?;
            }
        }
    }
    Ok(())
}

/// Sets up the box's network before the runtime runs. On error, whatever
/// was made is torn down again.
pub fn setup(mode: &NetMode, opts: &NetOptions, b: &BoxNet<'_>, etc: bool) -> Result<(), String> {
    let res = setup_inner(mode, opts, b, etc);
    if res.is_err() {
        teardown(b);
    }
    res
}

fn setup_inner(mode: &NetMode, opts: &NetOptions, b: &BoxNet<'_>, etc: bool) -> Result<(), String> {
    let mut st = b.load().unwrap_or_default();
    if etc {
        names::prepare_files(&b.etc_dir())?;
    }
    let mut addrs: Vec<String> = Vec::new();
    let mut dns = Value::Null;
    if let NetMode::Network(n) = mode {
        let conf = if n == DEFAULT {
            b.networks.default_network()?
        } else {
            b.networks.find(n)?
        };
        let pin = b.pin_path();
        st.netns = Some(pin.clone());
        b.save(&st)?;
        if !netns::is_pinned(&pin) {
            netns::pin(&pin)?;
        }
        let mut rc = json!({});
        if !opts.ports.is_empty() {
            rc["portMappings"] = json!(opts.ports.iter().map(|p| p.cni()).collect::<Vec<_>>());
        }
        if opts.hostname != b.name {
            rc["aliases"] = json!({ conf.name.clone(): [opts.hostname] });
        }
        let att = cni::Attachment {
            network: conf.name.clone(),
            ifname: "eth0".into(),
            conflist: conf.raw.clone(),
            runtime_config: rc,
            cni_args: format!("IgnoreUnknown=1;K8S_POD_NAME={}", b.name),
            result: None,
        };
        st.attachments.retain(|a| a.network != att.network);
        st.attachments.push(att.clone());
        b.save(&st)?;
        let path = cni::cni_path();
        let pin_s = pin.to_string_lossy().into_owned();
        let inv = cni::Invocation {
            command: "ADD",
            container_id: b.id,
            netns: &pin_s,
            ifname: &att.ifname,
            args: &att.cni_args,
            cni_path: &path,
        };
        let result = match fast::eligible(&att.conflist) {
            Some(f) => {
                // The native path; its result is saved before portmap
                // runs, so that a failure there tears it down.
                let r = fast::add(&f, b.id, &pin, &att.ifname)
                    .map_err(|e| format!("network {}: {e}", conf.name))?;
                if let Some(a) = st.attachments.iter_mut().find(|a| a.network == att.network) {
                    a.result = Some(r.clone());
                }
                b.save(&st)?;
                if !opts.ports.is_empty() {
                    cni::run_one(&att, &inv, "portmap", Some(&r))
                        .map_err(|e| format!("network {}: {e}", conf.name))?;
                }
                r
            }
            None => cni::add(&att, &inv).map_err(|e| format!("network {}: {e}", conf.name))?,
        };
        if let Some(a) = st.attachments.iter_mut().find(|a| a.network == att.network) {
            a.result = Some(result.clone());
            addrs = a.addresses();
        }
        dns = result["dns"].clone();
        b.save(&st)?;
        if opts.rate_mode == RateMode::Veth && (opts.rate_in.is_some() || opts.rate_out.is_some()) {
            let veth = st
                .attachments
                .last()
                .and_then(|a| a.host_veth())
                .ok_or("the network's result names no host-side interface to shape")?;
            let ifb = rate::ifb_name(b.id);
            st.ifb = Some(ifb.clone());
            b.save(&st)?;
            rate::veth_apply(&veth, &ifb, opts.rate_in, opts.rate_out)?;
        }
    }
    if opts.rate_mode == RateMode::Cgroup && opts.rate_out.is_some() {
        let cg = rate::box_cgroup(b.id)?;
        st.cgroup = Some(cg.clone());
        b.save(&st)?;
        rate::cgroup_apply(&cg, opts.rate_out.unwrap_or(0))?;
    }
    if etc {
        names::write_files(&b.etc_dir(), mode, opts, &addrs, &dns)?;
    }
    Ok(())
}

/// After the box is gone (and from rm and prune): DEL on every attachment,
/// with the pinned namespace while it is there; the ifb; the namespace;
/// the state file. Idempotent.
pub fn teardown(b: &BoxNet<'_>) {
    pasta::stop(b.dir);
    let Some(st) = b.load() else {
        return;
    };
    let path = cni::cni_path();
    let pinned = st.netns.as_ref().filter(|p| netns::is_pinned(p));
    let netns_s = pinned
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    for att in st.attachments.iter().rev() {
        let inv = cni::Invocation {
            command: "DEL",
            container_id: b.id,
            netns: &netns_s,
            ifname: &att.ifname,
            args: &att.cni_args,
            cni_path: &path,
        };
        let res = match fast::eligible(&att.conflist) {
            Some(f) => {
                let ports = att.runtime_config["portMappings"]
                    .as_array()
                    .is_some_and(|p| !p.is_empty());
                let mut r = Ok(());
                if ports {
                    r = cni::run_one(att, &inv, "portmap", att.result.as_ref()).map(drop);
                }
                // Where the native teardown fails, the plugins' DEL (which
                // tolerates what is gone already) has the last word.
                match fast::del(&f, att, b.id, pinned.map(|p| p.as_path())) {
                    Ok(()) => r,
                    Err(_) => cni::del(att, &inv),
                }
            }
            None => cni::del(att, &inv),
        };
        if let Err(e) = res {
            eprintln!("ward: box {}: network {}: {e}", b.name, att.network);
        }
        if pinned.is_none() {
            // Without the namespace the bridge plugin can't find the
            // box's addresses to remove its NAT rules: remove the rules
            // that name the box instead.
            ports::sweep_iptables(b.id);
        }
    }
    if let Some(ifb) = &st.ifb {
        rate::del_link(ifb);
    }
    if let Some(cg) = &st.cgroup {
        // The runtime removes it with the box; one that never ran leaves
        // it to us (rmdir fails, harmlessly, while processes are in it).
        let _ = fs::remove_dir(cg);
    }
    if let Some(p) = &st.netns {
        netns::unpin(p);
    }
    let _ = fs::remove_file(b.state_path());
}

#[cfg(test)]
mod tests {
    #[test]
    fn ping_groups_are_the_mapped_ones() {
        use super::ping_group_range as r;
        assert_eq!(r(&serde_json::Value::Null), "0 2147483647");
        assert_eq!(
            r(&serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 1}])),
            "0 0"
        );
        assert_eq!(
            r(
                &serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 1},
                {"containerID": 1, "hostID": 100000, "size": 65536}])
            ),
            "0 65536"
        );
    }
}
