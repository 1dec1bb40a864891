//! The default network's fast path: what the CNI chain of the `ward`
//! network (bridge + host-local, portmap, firewall) does, done from
//! ward-box itself: the bridge, the veth, the addresses and the route
//! over netlink (net/nl.rs), the lease in host-local's own files, and the
//! NAT and forward rules in one `iptables-restore` batch. It runs only
//! when the conflist is exactly the one ward wrote (`eligible`), and it
//! leaves exactly what the plugins leave (the same interfaces, addresses,
//! routes, sysctls, lease file, chains and rules, and the same result),
//! so CNI's DEL and `ward network prune` work on its boxes and it tears
//! down boxes the plugins made. Published ports still go through the
//! portmap plugin. `WARD_BOX_NET_CNI=1` turns the fast path off.
//!
//! What the plugins (containernetworking-plugins 1.1) do, and this does:
//! - bridge: the bridge (accept_ra 0, up), a veth `vethXXXXXXXX` on it
//!   (up, hairpin, accept_ra 0) whose peer is `eth0` in the box
//!   (accept_dad 0, arp_notify 1, up, the address, the routes), the
//!   gateway's address on the bridge, ip_forward 1, and masquerade: a
//!   nat chain `CNI-<sha512(network+id)>` with two rules and a jump from
//!   POSTROUTING, all commented `name: "ward" id: "ID"`;
//! - host-local: `DATADIR/ward/IP` holding `ID\r\neth0`, then
//!   `last_reserved_ip.0`, under flock on `DATADIR/ward/lock`, the next
//!   free address after the last one (round-robin);
//! - firewall: two rules per address in CNI-FORWARD (the chains CNI-FORWARD
//!   and CNI-ADMIN and their jumps made once).

use super::cni::Attachment;
use super::ipv4::{fmt_ip, parse_ip, Net4};
use super::nl::{link_facts, Nl};
use netlink_packet_route::link::InfoKind;
use serde_json::{json, Value};
use sha2::{Digest, Sha512};
use std::fs;
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The default network's parameters, read from its conflist.
#[derive(Clone, Debug)]
pub struct Fast {
    pub network: String,
    pub bridge: String,
    pub subnet: Net4,
    pub gateway: u32,
    pub lease_dir: PathBuf,
}

/// Whether the fast path is turned off (`WARD_BOX_NET_CNI=1`).
pub fn forced_cni() -> bool {
    std::env::var_os("WARD_BOX_NET_CNI").is_some_and(|v| !v.is_empty() && v != "0")
}

/// The fast path's parameters if `conflist` is the default network as
/// ward wrote it, unchanged; None otherwise (CNI then runs).
pub fn eligible(conflist: &Value) -> Option<Fast> {
    if forced_cni() || conflist["name"] != super::networks::DEFAULT {
        return None;
    }
    let br = &conflist["plugins"][0];
    let bridge = br["bridge"].as_str()?;
    super::validate_ifname(bridge).ok()?;
    let range = &br["ipam"]["ranges"][0][0];
    let subnet = Net4::parse(range["subnet"].as_str()?).ok()?;
    let gateway = parse_ip(range["gateway"].as_str()?).ok()?;
    let ipam_dir = PathBuf::from(br["ipam"]["dataDir"].as_str()?);
    if !ipam_dir.is_absolute() || subnet.prefix > 30 {
        return None;
    }
    let want = super::networks::conflist_doc(
        super::networks::DEFAULT,
        bridge,
        &subnet,
        gateway,
        false,
        false,
        &ipam_dir,
    );
    if *conflist != want {
        return None;
    }
    Some(Fast {
        network: super::networks::DEFAULT.into(),
        bridge: bridge.into(),
        subnet,
        gateway,
        lease_dir: ipam_dir.join(super::networks::DEFAULT),
    })
}

/// The bridge plugin's masquerade chain and comment for a box.
pub fn chain_and_comment(network: &str, id: &str) -> (String, String) {
    let h = Sha512::digest(format!("{network}{id}").as_bytes());
    let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
    (
        format!("CNI-{}", &hex[..24]),
        format!("name: {network:?} id: {id:?}"),
    )
}

/// Starts `iptables-restore --noflush` (IPv4) on a batch.
fn iptables_restore_spawn(batch: &str) -> Result<std::process::Child, String> {
    let mut child = Command::new("iptables-restore")
        .args(["-w", "--noflush"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("run iptables-restore: {e}"))?;
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(batch.as_bytes());
    }
    Ok(child)
}

/// Waits for an `iptables-restore`; its first line of error.
fn iptables_restore_wait(child: std::process::Child) -> Result<(), String> {
    let out = child
        .wait_with_output()
        .map_err(|e| format!("iptables-restore: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let e = String::from_utf8_lossy(&out.stderr);
    Err(format!(
        "iptables-restore: {}",
        e.lines().next().unwrap_or("failed").trim()
    ))
}

/// Runs `iptables-restore --noflush` (IPv4) on a batch.
fn iptables_restore(batch: &str) -> Result<(), String> {
    iptables_restore_wait(iptables_restore_spawn(batch)?)
}

/// A comment as iptables-save writes it (and iptables-restore reads it).
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// One iptables command: its table and arguments.
type Rule = (&'static str, Vec<String>);

fn words(s: &str) -> Vec<String> {
    s.split(' ').map(str::to_string).collect()
}

/// The firewall plugin's rules for an address (`op` -A or -D).
fn forward_rules(op: &str, ip: u32) -> Vec<Rule> {
    let ip = fmt_ip(ip);
    vec![
        (
            "filter",
            words(&format!(
                "{op} CNI-FORWARD -d {ip}/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
            )),
        ),
        (
            "filter",
            words(&format!("{op} CNI-FORWARD -s {ip}/32 -j ACCEPT")),
        ),
    ]
}

/// The bridge plugin's masquerade rules for a box: its chain with two
/// rules and a jump from POSTROUTING per address (`add`), or the jumps
/// deleted and the chain flushed and removed.
fn masq_rules(f: &Fast, id: &str, add: bool, ips: &[u32]) -> Vec<Rule> {
    let (chain, comment) = chain_and_comment(&f.network, id);
    let with_comment = |s: String| {
        let mut v = words(&s);
        let at = v.iter().position(|w| w == "-j").unwrap_or(v.len());
        v.splice(
            at..at,
            [
                "-m".into(),
                "comment".into(),
                "--comment".into(),
                comment.clone(),
            ],
        );
        v
    };
    let op = if add { "-A" } else { "-D" };
    let jumps = ips.iter().map(|ip| {
        (
            "nat",
            with_comment(format!("{op} POSTROUTING -s {}/32 -j {chain}", fmt_ip(*ip))),
        )
    });
    if add {
        let mut v = vec![
            ("nat", words(&format!("-N {chain}"))),
            (
                "nat",
                with_comment(format!("-A {chain} -d {} -j ACCEPT", f.subnet)),
            ),
            (
                "nat",
                with_comment(format!("-A {chain} ! -d 224.0.0.0/4 -j MASQUERADE")),
            ),
        ];
        v.extend(jumps);
        v
    } else {
        let mut v: Vec<Rule> = jumps.collect();
        v.push(("nat", words(&format!("-F {chain}"))));
        v.push(("nat", words(&format!("-X {chain}"))));
        v
    }
}

/// The rules as one iptables-restore batch (filter first).
fn batch(rules: &[Rule]) -> String {
    let mut s = String::new();
    for table in ["filter", "nat"] {
        s += &format!("*{table}\n");
        for (t, r) in rules.iter().filter(|(t, _)| *t == table) {
            let _ = t;
            let line: Vec<String> = r
                .iter()
                .map(|w| {
                    if w.contains(' ') || w.contains('"') {
                        quoted(w)
                    } else {
                        w.clone()
                    }
                })
                .collect();
            let line = line.join(" ");
            // A new chain is declared, as iptables-save writes it.
            match line.strip_prefix("-N ") {
                Some(ch) => s += &format!(":{ch} - [0:0]\n"),
                None => s += &format!("{line}\n"),
            }
        }
        s += "COMMIT\n";
    }
    s
}

/// Removes rules one by one, as the plugins do, ignoring the ones that
/// are not there.
fn delete_each(rules: &[Rule]) {
    for (t, r) in rules {
        let _ = Command::new("iptables")
            .args(["-w", "-t", t])
            .args(r)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The firewall plugin's chains and jumps, made once (as the plugin
/// makes them, each only if missing).
fn firewall_chains() -> Result<(), String> {
    let out = Command::new("iptables-save")
        .args(["-t", "filter"])
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("run iptables-save: {e}"))?;
    let have = String::from_utf8_lossy(&out.stdout);
    let mut s = String::from("*filter\n");
    for ch in ["CNI-FORWARD", "CNI-ADMIN"] {
        if !have.lines().any(|l| l.starts_with(&format!(":{ch} "))) {
            s += &format!(":{ch} - [0:0]\n");
        }
    }
    let fwd = "-m comment --comment \"CNI firewall plugin rules\" -j CNI-FORWARD";
    if !have.lines().any(|l| l == format!("-A FORWARD {fwd}")) {
        s += &format!("-I FORWARD 1 {fwd}\n");
    }
    let adm = "-m comment --comment \"CNI firewall plugin admin overrides\" -j CNI-ADMIN";
    if !have.lines().any(|l| l == format!("-A CNI-FORWARD {adm}")) {
        s += &format!("-I CNI-FORWARD 1 {adm}\n");
    }
    s += "COMMIT\n";
    iptables_restore(&s)
}

/// Writes a sysctl of the calling thread's network namespace; a missing
/// one (IPv6 off) is fine, as the plugins ignore it.
fn sysctl(path: &str, v: &str) {
    let _ = fs::write(format!("/proc/sys/{path}"), v);
}

/// host-local's allocation: the next free address after the last
/// reserved one (round-robin over the range, the gateway skipped), its
/// lease file written. Under the lease directory's lock.
fn reserve(f: &Fast, id: &str, ifname: &str) -> Result<u32, String> {
    fs::create_dir_all(&f.lease_dir)
        .map_err(|e| format!("mkdir {}: {e}", f.lease_dir.display()))?;
    let lock = f.lease_dir.join("lock");
    let _l = crate::store::lock_file(&lock, true)
        .map_err(|e| format!("lock {}: {e}", lock.display()))?;
    let key = format!("{}\r\n{ifname}", id.trim());
    if held_by(&f.lease_dir, id, ifname).next().is_some() {
        return Err(format!(
            "an address of network {} is allocated to {id} already",
            f.network
        ));
    }
    let start = f.subnet.addr + 1;
    let end = f.subnet.broadcast() - 1;
    let last = fs::read_to_string(f.lease_dir.join("last_reserved_ip.0"))
        .ok()
        .and_then(|s| parse_ip(s.trim()).ok())
        .filter(|ip| *ip >= start && *ip <= end);
    let mut cur = last.map_or(start, |l| if l == end { start } else { l + 1 });
    let first = cur;
    loop {
        if cur != f.gateway {
            let p = f.lease_dir.join(fmt_ip(cur));
            match fs::OpenOptions::new().write(true).create_new(true).open(&p) {
                Ok(mut file) => {
                    file.write_all(key.as_bytes())
                        .map_err(|e| format!("write {}: {e}", p.display()))?;
                    let lp = f.lease_dir.join("last_reserved_ip.0");
                    fs::write(&lp, fmt_ip(cur))
                        .map_err(|e| format!("write {}: {e}", lp.display()))?;
                    return Ok(cur);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(format!("create {}: {e}", p.display())),
            }
        }
        cur = if cur == end { start } else { cur + 1 };
        if cur == first {
            return Err(format!(
                "no IP addresses available in network {} ({})",
                f.network, f.subnet
            ));
        }
    }
}

/// The lease files held by the box (host-local matches `ID\r\nIFNAME`, or
/// the ID alone).
fn held_by<'a>(dir: &Path, id: &'a str, ifname: &'a str) -> impl Iterator<Item = PathBuf> + 'a {
    let key = format!("{}\r\n{ifname}", id.trim());
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(move |p| {
            p.is_file()
                && fs::read_to_string(p)
                    .map(|s| s.trim() == key || s.trim() == id.trim())
                    .unwrap_or(false)
        })
}

/// Releases the box's leases (host-local's DEL).
fn release(f: &Fast, id: &str, ifname: &str) -> Result<(), String> {
    if !f.lease_dir.is_dir() {
        return Ok(());
    }
    let lock = f.lease_dir.join("lock");
    let _l = crate::store::lock_file(&lock, true)
        .map_err(|e| format!("lock {}: {e}", lock.display()))?;
    for p in held_by(&f.lease_dir, id, ifname).collect::<Vec<_>>() {
        fs::remove_file(&p).map_err(|e| format!("remove {}: {e}", p.display()))?;
    }
    Ok(())
}

fn io(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Runs `f` in a thread that has joined the network namespace at `pin`
/// (the process stays where it is).
fn in_netns<T: Send + 'static>(
    pin: &Path,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let ns = fs::File::open(pin).map_err(|e| format!("open {}: {e}", pin.display()))?;
    std::thread::spawn(move || -> Result<T, String> {
        // SAFETY: setns on a namespace fd we own; only this thread moves
        // (it shares no fs or files state that setns(CLONE_NEWNET) touches).
        let r = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        if r != 0 {
            return Err(format!(
                "join the box's network namespace: {}",
                std::io::Error::last_os_error()
            ));
        }
        f()
    })
    .join()
    .unwrap_or_else(|_| Err("the network namespace thread panicked".into()))
}

/// The bridge plugin's host veth name: `veth` and 8 random hex digits.
fn veth_name() -> String {
    let mut b = [0u8; 4];
    rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty()).ok();
    format!("veth{:02x}{:02x}{:02x}{:02x}", b[0], b[1], b[2], b[3])
}

/// ADD: the whole chain's work, and the result the chain would print
/// (before portmap, which passes it through). On error, what was made is
/// undone.
pub fn add(f: &Fast, id: &str, pin: &Path, ifname: &str) -> Result<Value, String> {
    let ip = reserve(f, id, ifname)?;
    match add_links(f, id, pin, ifname, ip) {
        Ok(r) => Ok(r),
        Err(e) => {
            let _ = del_links(pin, ifname);
            let _ = release(f, id, ifname);
            Err(e)
        }
    }
}

fn add_links(f: &Fast, id: &str, pin: &Path, ifname: &str, ip: u32) -> Result<Value, String> {
    let mut nl = Nl::new().map_err(io("netlink"))?;
    // The bridge.
    nl.add_bridge(&f.bridge)
        .map_err(|e| format!("create bridge {}: {e}", f.bridge))?;
    let br = nl
        .link(&f.bridge)
        .map_err(io("look up the bridge"))?
        .ok_or_else(|| format!("bridge {}: gone", f.bridge))?;
    let (br_idx, _, kind) = link_facts(&br);
    if kind != Some(InfoKind::Bridge) {
        return Err(format!("{} is not a bridge", f.bridge));
    }
    sysctl(&format!("net/ipv6/conf/{}/accept_ra", f.bridge), "0");
    nl.set_up(br_idx).map_err(io("bring the bridge up"))?;
    // The veth, its box end moved into the box's namespace at birth.
    let ns = fs::File::open(pin).map_err(|e| format!("open {}: {e}", pin.display()))?;
    let mut host = String::new();
    for _ in 0..10 {
        host = veth_name();
        match nl.add_veth(&host, ifname, ns.as_raw_fd()) {
            Ok(()) => break,
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                if nl.link(&host).ok().flatten().is_none() {
                    return Err(format!(
                        "container veth name provided ({ifname}) already exists"
                    ));
                }
                host.clear();
            }
            Err(e) => return Err(format!("failed to make veth pair: {e}")),
        }
    }
    if host.is_empty() {
        return Err("failed to find a unique veth name".into());
    }
    drop(ns);
    let hl = nl
        .link(&host)
        .map_err(io("look up the veth"))?
        .ok_or_else(|| format!("veth {host}: gone"))?;
    let (h_idx, h_mac, _) = link_facts(&hl);
    sysctl(&format!("net/ipv6/conf/{host}/accept_ra"), "0");
    nl.set_master_up(h_idx, br_idx)
        .map_err(|e| format!("failed to connect {host} to bridge {}: {e}", f.bridge))?;
    nl.set_hairpin(h_idx, true)
        .map_err(|e| format!("failed to setup hairpin mode for {host}: {e}"))?;
    // Inside the box.
    let (gw, subnet, ifn) = (f.gateway, f.subnet, ifname.to_string());
    let c_mac = in_netns(pin, move || {
        let mut c = Nl::new().map_err(io("netlink in the box"))?;
        let l = c
            .link(&ifn)
            .map_err(io("look up the box's interface"))?
            .ok_or_else(|| format!("{ifn}: not in the box"))?;
        let (idx, mac, _) = link_facts(&l);
        sysctl(&format!("net/ipv6/conf/{ifn}/accept_dad"), "0");
        sysctl(&format!("net/ipv4/conf/{ifn}/arp_notify"), "1");
        c.set_up(idx)
            .map_err(io("failed to set the box's interface up"))?;
        c.add_addr4(idx, Ipv4Addr::from(ip), subnet.prefix)
            .map_err(|e| {
                format!(
                    "failed to add IP addr {}/{}: {e}",
                    fmt_ip(ip),
                    subnet.prefix
                )
            })?;
        c.add_route4(Ipv4Addr::UNSPECIFIED, 0, Ipv4Addr::from(gw), idx)
            .map_err(|e| format!("failed to add route 0.0.0.0/0 via {}: {e}", fmt_ip(gw)))?;
        Ok(mac)
    })?;
    // The gateway on the bridge, forwarding on.
    let has = nl
        .addrs4(br_idx)
        .map_err(io("list the bridge's addresses"))?;
    let gw4 = Ipv4Addr::from(f.gateway);
    if let Some((a, p)) = has
        .iter()
        .find(|(a, p)| Net4::new(u32::from(*a), *p).overlaps(&f.subnet) && *a != gw4)
    {
        return Err(format!(
            "failed to set bridge addr: {} already has an IP address different from {}: {a}/{p}",
            f.bridge,
            fmt_ip(f.gateway)
        ));
    }
    if !has.iter().any(|(a, _)| *a == gw4) {
        nl.add_addr4(br_idx, gw4, f.subnet.prefix)
            .map_err(|e| format!("failed to set bridge addr: {e}"))?;
    }
    fs::write("/proc/sys/net/ipv4/ip_forward", "1")
        .map_err(|e| format!("failed to enable forwarding: {e}"))?;
    // The rules: one batch; the firewall's chains made first if missing.
    let mut rules = forward_rules("-A", ip);
    rules.extend(masq_rules(f, id, true, &[ip]));
    let b = batch(&rules);
    if iptables_restore(&b).is_err() {
        // The firewall's chains are missing (the network's first box):
        // made under the lease lock, so that two first boxes make them
        // once.
        let lock = f.lease_dir.join("lock");
        let _l = crate::store::lock_file(&lock, true)
            .map_err(|e| format!("lock {}: {e}", lock.display()))?;
        firewall_chains()?;
        iptables_restore(&b)?;
    }
    // The bridge's MAC may have changed with its first port.
    let br_mac = nl
        .link(&f.bridge)
        .ok()
        .flatten()
        .map(|l| link_facts(&l).1)
        .unwrap_or_default();
    Ok(json!({
        "cniVersion": "1.0.0",
        "interfaces": [
            {"name": f.bridge, "mac": br_mac},
            {"name": host, "mac": h_mac},
            {"name": ifname, "mac": c_mac, "sandbox": pin},
        ],
        "ips": [{"interface": 2, "address": format!("{}/{}", fmt_ip(ip), f.subnet.prefix),
                 "gateway": fmt_ip(f.gateway)}],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dns": {},
    }))
}

/// Deletes the box's interface in its namespace (its veth peer goes
/// with it), in a thread that has joined the namespace: the interface's
/// IPv4 addresses (none if it was not there) are sent on `found` before
/// the deletion, which can wait on the kernel (an RCU grace period) while
/// the caller gets on with the rules. Returns the deletion's outcome.
fn del_link_thread(
    pin: &Path,
    ifname: &str,
    found: std::sync::mpsc::Sender<Result<Vec<u32>, String>>,
) -> Result<std::thread::JoinHandle<Result<(), String>>, String> {
    let ns = fs::File::open(pin).map_err(|e| format!("open {}: {e}", pin.display()))?;
    let ifn = ifname.to_string();
    Ok(std::thread::spawn(move || -> Result<(), String> {
        let look = || -> Result<Option<(Nl, u32, Vec<u32>)>, String> {
            // SAFETY: setns on a namespace fd we own; only this thread
            // moves.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(format!(
                    "join the box's network namespace: {}",
                    std::io::Error::last_os_error()
                ));
            }
            let mut c = Nl::new().map_err(io("netlink in the box"))?;
            let Some(l) = c.link(&ifn).map_err(io("look up the box's interface"))? else {
                return Ok(None);
            };
            let idx = link_facts(&l).0;
            let addrs = c.addrs4(idx).map_err(io("list the box's addresses"))?;
            Ok(Some((
                c,
                idx,
                addrs.into_iter().map(|(a, _)| u32::from(a)).collect(),
            )))
        };
        match look() {
            Err(e) => {
                let _ = found.send(Err(e.clone()));
                Err(e)
            }
            Ok(None) => {
                let _ = found.send(Ok(vec![]));
                Ok(())
            }
            Ok(Some((mut c, idx, addrs))) => {
                let _ = found.send(Ok(addrs));
                c.del_link(idx)
                    .map_err(|e| format!("delete {ifn} in the box: {e}"))
            }
        }
    }))
}

/// Deletes the box's interface in its namespace; its IPv4 addresses, or
/// none if it was not there.
fn del_links(pin: &Path, ifname: &str) -> Result<Vec<u32>, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let t = del_link_thread(pin, ifname, tx)?;
    let found = rx
        .recv()
        .unwrap_or_else(|_| Err("the namespace thread failed".into()));
    let done = t
        .join()
        .unwrap_or_else(|_| Err("the network namespace thread panicked".into()));
    let addrs = found?;
    done.map(|()| addrs)
}

/// DEL: what the chain's teardown does (firewall's rules, the interface,
/// the lease, the masquerade rules for the addresses the interface had),
/// the interface's deletion overlapping the rules' batch. `pin` None: the
/// namespace is gone (a reboot); as the bridge plugin then, only the
/// lease is released and the firewall's rules removed (the caller sweeps
/// NAT rules by comment). Fails only where the CNI plugins would; the
/// caller may then run the plugins' DEL, which tolerates what is already
/// gone.
pub fn del(f: &Fast, att: &Attachment, id: &str, pin: Option<&Path>) -> Result<(), String> {
    let ips: Vec<u32> = att
        .addresses()
        .iter()
        .filter_map(|a| parse_ip(a).ok())
        .collect();
    let (tx, rx) = std::sync::mpsc::channel();
    let link = match pin {
        Some(p) => Some(del_link_thread(p, &att.ifname, tx)?),
        None => None,
    };
    let join = |t: Option<std::thread::JoinHandle<Result<(), String>>>| {
        t.map_or(Ok(()), |t| {
            t.join()
                .unwrap_or_else(|_| Err("the network namespace thread panicked".into()))
        })
    };
    let gone = match &link {
        Some(_) => match rx
            .recv()
            .unwrap_or_else(|_| Err("the namespace thread failed".into()))
        {
            Ok(a) => a,
            Err(e) => {
                let _ = join(link);
                return Err(e);
            }
        },
        None => vec![],
    };
    let mut rules: Vec<Rule> = ips.iter().flat_map(|ip| forward_rules("-D", *ip)).collect();
    if !gone.is_empty() {
        rules.extend(masq_rules(f, id, false, &gone));
    }
    let restore = if rules.is_empty() {
        None
    } else {
        iptables_restore_spawn(&batch(&rules)).ok()
    };
    let released = release(f, id, &att.ifname);
    let linked = join(link);
    let restored = restore.map_or(Err(String::new()), iptables_restore_wait);
    if !rules.is_empty() && restored.is_err() {
        // Some rule was not there: remove the others one by one.
        delete_each(&rules);
    }
    released.and(linked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_names_are_the_bridge_plugins() {
        // FormatChainName("ward", "abc"): "CNI-" and sha512("wardabc")'s
        // first 24 hex digits.
        let (ch, c) = chain_and_comment("ward", "abc");
        assert_eq!(ch.len(), 28);
        assert!(ch.starts_with("CNI-"));
        let h = Sha512::digest(b"wardabc");
        assert_eq!(&ch[4..6], format!("{:02x}", h[0]));
        assert_eq!(c, "name: \"ward\" id: \"abc\"");
        assert_eq!(quoted(&c), r#""name: \"ward\" id: \"abc\"""#);
        let f = Fast {
            network: "ward".into(),
            bridge: "ward0".into(),
            subnet: Net4::parse("10.90.0.0/24").unwrap(),
            gateway: parse_ip("10.90.0.1").unwrap(),
            lease_dir: "/x".into(),
        };
        let ip = parse_ip("10.90.0.2").unwrap();
        let mut r = forward_rules("-A", ip);
        r.extend(masq_rules(&f, "abc", true, &[ip]));
        let b = batch(&r);
        assert!(b.starts_with("*filter\n-A CNI-FORWARD -d 10.90.0.2/32 -m conntrack"));
        assert!(b.contains(&format!(":{ch} - [0:0]\n")));
        assert!(b.contains(&format!(
            "-A POSTROUTING -s 10.90.0.2/32 -m comment --comment {} -j {ch}\n",
            quoted(&c)
        )));
        assert!(b.ends_with("COMMIT\n"));
        let d = batch(&masq_rules(&f, "abc", false, &[ip]));
        assert!(d.ends_with(&format!("-F {ch}\n-X {ch}\nCOMMIT\n")), "{d}");
    }

    #[test]
    fn leases_follow_host_locals_order_and_format() {
        let dir = std::env::temp_dir().join(format!("ward-fast-lease-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let f = Fast {
            network: "ward".into(),
            bridge: "ward0".into(),
            subnet: Net4::parse("10.90.0.0/29").unwrap(),
            gateway: parse_ip("10.90.0.1").unwrap(),
            lease_dir: dir.clone(),
        };
        let ip = |s: &str| parse_ip(s).unwrap();
        // The first after the gateway, then round-robin from the last.
        assert_eq!(reserve(&f, "a", "eth0").unwrap(), ip("10.90.0.2"));
        assert_eq!(
            fs::read_to_string(dir.join("10.90.0.2")).unwrap(),
            "a\r\neth0"
        );
        assert_eq!(
            fs::read_to_string(dir.join("last_reserved_ip.0")).unwrap(),
            "10.90.0.2"
        );
        assert!(
            reserve(&f, "a", "eth0").is_err(),
            "a second lease for one box"
        );
        assert_eq!(reserve(&f, "b", "eth0").unwrap(), ip("10.90.0.3"));
        release(&f, "a", "eth0").unwrap();
        assert!(!dir.join("10.90.0.2").exists());
        for (id, want) in [("c", "10.90.0.4"), ("d", "10.90.0.5"), ("e", "10.90.0.6")] {
            assert_eq!(reserve(&f, id, "eth0").unwrap(), ip(want));
        }
        // Past the end (.6 in a /29), round to the start, skipping the
        // gateway and the leases held: .2 is free again.
        assert_eq!(reserve(&f, "g", "eth0").unwrap(), ip("10.90.0.2"));
        assert!(reserve(&f, "h", "eth0").is_err(), "the range is full");
        fs::remove_dir_all(&dir).unwrap();
    }
}
