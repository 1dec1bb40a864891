//! The network moving with a container whose network namespace is given
//! by path (as engines and ward box make it): its veths, their MACs and
//! addresses, its routes, described on the source, re-made at the same
//! path (or the destination bundle's) before the restore, so that CRIU's
//! `--tcp-established` finds the same addresses. The outer veth end is
//! down on the source from the freeze on (the frozen kernel must not ACK
//! what the destination will never see), and on the destination stays
//! down and out of its bridge until the source has let go; then it joins
//! the bridge of the same name and a gratuitous ARP tells the link.
//!
//! The netns work is done by iproute2 (`ip -j`) and util-linux (`nsenter`,
//! `unshare`): the front binary may shell out; the runtime binary may not.

use crate::runtime::bounded;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Iface {
    pub name: String,
    pub mac: String,
    pub mtu: u32,
    /// CIDR addresses, IPv4 and global IPv6.
    pub addrs: Vec<String>,
    /// The veth's other end, on the host.
    pub outer: String,
    /// The bridge the outer end is in.
    pub bridge: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Route {
    pub dst: String,
    pub gateway: Option<String>,
    pub dev: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NetDesc {
    pub ifaces: Vec<Iface>,
    pub routes: Vec<Route>,
}

fn run(argv: &[&str]) -> Result<String, String> {
    let mut c = Command::new(argv[0]);
    c.args(&argv[1..]);
    let d = bounded(c, Duration::from_secs(30));
    if d.ok() {
        Ok(d.stdout)
    } else {
        Err(format!("{}: {}", argv.join(" "), d.why()))
    }
}

fn ip_in(ns: &Path, args: &[&str]) -> Result<String, String> {
    let net = format!("--net={}", ns.display());
    let mut v = vec!["nsenter", net.as_str(), "ip"];
    v.extend_from_slice(args);
    run(&v)
}

fn json(s: &str, what: &str) -> Result<Vec<serde_json::Value>, String> {
    serde_json::from_str(s).map_err(|e| format!("{what}: ip -j printed bad JSON: {e}"))
}

/// The network namespace the bundle's config joins by path, if any.
pub fn netns_path(bundle: &Path) -> Result<Option<PathBuf>, String> {
    let cfg = bundle.join("config.json");
    let data = std::fs::read(&cfg).map_err(|e| format!("{}: {e}", cfg.display()))?;
    let v: serde_json::Value =
        serde_json::from_slice(&data).map_err(|e| format!("{}: {e}", cfg.display()))?;
    Ok(v["linux"]["namespaces"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["type"] == "network")
        .and_then(|n| n["path"].as_str())
        .map(PathBuf::from))
}

/// What is in the namespace at `ns`, and where its veths come out here.
pub fn describe(ns: &Path) -> Result<NetDesc, String> {
    let links = json(&ip_in(ns, &["-j", "-d", "link", "show"])?, "links")?;
    let addrs = json(&ip_in(ns, &["-j", "addr", "show"])?, "addresses")?;
    let routes = json(&ip_in(ns, &["-j", "route", "show"])?, "routes")?;
    let host = json(&run(&["ip", "-j", "link", "show"])?, "host links")?;
    let mut ifaces = Vec::new();
    for l in &links {
        let name = l["ifname"].as_str().unwrap_or("").to_string();
        if name == "lo" {
            continue;
        }
        let kind = l["linkinfo"]["info_kind"].as_str().unwrap_or("?");
        if kind != "veth" {
            return Err(format!(
                "its network namespace {} has {name}, a {kind} interface: only veths (the container's end of a pair whose other end is on this host) can move",
                ns.display()
            ));
        }
        let peer = l["link_index"].as_i64().unwrap_or(-1);
        let outer = host
            .iter()
            .find(|h| h["ifindex"].as_i64() == Some(peer))
            .ok_or_else(|| {
                format!(
                    "{name} in {}: its other end is not in this host's network namespace",
                    ns.display()
                )
            })?;
        let a: Vec<String> = addrs
            .iter()
            .filter(|x| x["ifname"] == l["ifname"])
            .flat_map(|x| x["addr_info"].as_array().cloned().unwrap_or_default())
            .filter(|ai| ai["scope"] == "global")
            .filter_map(|ai| {
                Some(format!(
                    "{}/{}",
                    ai["local"].as_str()?,
                    ai["prefixlen"].as_u64()?
                ))
            })
            .collect();
        ifaces.push(Iface {
            name,
            mac: l["address"].as_str().unwrap_or("").to_string(),
            mtu: l["mtu"].as_u64().unwrap_or(1500) as u32,
            addrs: a,
            outer: outer["ifname"].as_str().unwrap_or("").to_string(),
            bridge: outer["master"].as_str().map(str::to_string),
        });
    }
    let routes = routes
        .iter()
        .filter(|r| r["protocol"] != "kernel")
        .map(|r| Route {
            dst: r["dst"].as_str().unwrap_or("default").to_string(),
            gateway: r["gateway"].as_str().map(str::to_string),
            dev: r["dev"].as_str().unwrap_or("").to_string(),
        })
        .collect();
    Ok(NetDesc { ifaces, routes })
}

/// The outer ends up or down (the source, around the freeze).
pub fn set_outer(d: &NetDesc, up: bool) -> Result<(), String> {
    for i in &d.ifaces {
        run(&[
            "ip",
            "link",
            "set",
            &i.outer,
            if up { "up" } else { "down" },
        ])?;
    }
    Ok(())
}

/// The source's copy once the destination runs it: the veths (deleting
/// one end deletes both) and the namespace's mount at `ns`.
pub fn remove(d: &NetDesc, ns: &Path) {
    for i in &d.ifaces {
        let _ = run(&["ip", "link", "del", &i.outer]);
    }
    let _ = nix_umount(ns);
    let _ = std::fs::remove_file(ns);
}

fn nix_umount(p: &Path) -> Result<(), String> {
    run(&["umount", &p.to_string_lossy()]).map(|_| ())
}

/// The destination can take it: the bridges are there, the outer names
/// are free, nothing is at `ns` yet.
pub fn check_dest(d: &NetDesc, ns: &Path) -> Result<(), String> {
    let host = json(&run(&["ip", "-j", "link", "show"])?, "host links")?;
    for i in &d.ifaces {
        if let Some(b) = &i.bridge {
            let ok = host
                .iter()
                .any(|h| h["ifname"] == b.as_str() && h["link_type"] == "ether");
            if !ok {
                return Err(format!(
                    "no bridge {b} here, which {} is attached to on the source (make a bridge of that name on the same link)",
                    i.name
                ));
            }
        }
        if host.iter().any(|h| h["ifname"] == i.outer.as_str()) {
            return Err(format!("an interface {} exists here already", i.outer));
        }
    }
    if ns.exists() {
        return Err(format!(
            "{} exists here already (the network namespace's path)",
            ns.display()
        ));
    }
    Ok(())
}

/// Makes the namespace at `ns` as the source described it, the outer
/// ends down and out of any bridge.
pub fn recreate(d: &NetDesc, ns: &Path) -> Result<(), String> {
    if let Some(dir) = ns.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(ns, b"").map_err(|e| format!("{}: {e}", ns.display()))?;
    let net = format!("--net={}", ns.display());
    run(&["unshare", &net, "true"])?;
    let me = std::process::id().to_string();
    ip_in(ns, &["link", "set", "lo", "up"])?;
    for i in &d.ifaces {
        ip_in(
            ns,
            &[
                "link", "add", &i.name, "type", "veth", "peer", "name", &i.outer, "netns", &me,
            ],
        )?;
        let mtu = i.mtu.to_string();
        ip_in(
            ns,
            &["link", "set", &i.name, "address", &i.mac, "mtu", &mtu],
        )?;
        run(&["ip", "link", "set", &i.outer, "mtu", &mtu])?;
        for a in &i.addrs {
            ip_in(ns, &["addr", "add", a, "dev", &i.name, "nodad"])?;
        }
        ip_in(ns, &["link", "set", &i.name, "up"])?;
    }
    for r in &d.routes {
        let mut a = vec!["route", "add", r.dst.as_str()];
        if let Some(g) = &r.gateway {
            a.extend(["via", g.as_str()]);
        }
        a.extend(["dev", r.dev.as_str()]);
        ip_in(ns, &a)?;
    }
    Ok(())
}

/// The outer ends into their bridges and up, then a gratuitous ARP from
/// every IPv4 address, so that the link learns where it lives now.
pub fn go_live(d: &NetDesc, ns: &Path) -> Result<(), String> {
    for i in &d.ifaces {
        if let Some(b) = &i.bridge {
            run(&["ip", "link", "set", &i.outer, "master", b])?;
        }
        run(&["ip", "link", "set", &i.outer, "up"])?;
    }
    for i in &d.ifaces {
        for a in &i.addrs {
            if let Some(v4) = a.split('/').next().and_then(|s| s.parse::<Ipv4Addr>().ok()) {
                gratuitous_arp(ns, &i.name, &i.mac, v4)?;
            }
        }
    }
    Ok(())
}

fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let v: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| format!("bad MAC {s:?}"))?;
    v.try_into().map_err(|_| format!("bad MAC {s:?}"))
}

/// An ARP request for our own address, from our own MAC, to everyone.
pub fn garp_frame(mac: [u8; 6], ip: Ipv4Addr) -> [u8; 42] {
    let mut f = [0u8; 42];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes()); // request
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&ip.octets());
    // target MAC zero, target IP ours
    f[38..42].copy_from_slice(&ip.octets());
    f
}

/// Sends three gratuitous ARPs on `ifname` inside the namespace at `ns`,
/// from a thread of its own (setns changes only the calling thread's
/// network namespace).
pub fn gratuitous_arp(ns: &Path, ifname: &str, mac: &str, ip: Ipv4Addr) -> Result<(), String> {
    let mac = parse_mac(mac)?;
    let f = std::fs::File::open(ns).map_err(|e| format!("{}: {e}", ns.display()))?;
    let name = std::ffi::CString::new(ifname).map_err(|_| "bad interface name".to_string())?;
    let frame = garp_frame(mac, ip);
    std::thread::spawn(move || -> Result<(), String> {
        // SAFETY: setns(2) with a namespace fd we hold open; it moves only
        // this thread, which ends below.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(format!("setns: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: if_nametoindex reads the NUL-terminated name only.
        let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if idx == 0 {
            return Err(format!("{name:?}: {}", std::io::Error::last_os_error()));
        }
        let proto = 0x0806u16.to_be();
        // SAFETY: socket(2) with constant arguments.
        let s = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                proto as i32,
            )
        };
        if s < 0 {
            return Err(format!(
                "packet socket: {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: s is a socket we just made and own.
        let s = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(s) };
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid start.
        let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_protocol = proto;
        sa.sll_ifindex = idx as i32;
        sa.sll_halen = 6;
        sa.sll_addr[..6].copy_from_slice(&[0xff; 6]);
        for _ in 0..3 {
            // SAFETY: frame and sa are valid for their lengths for the call.
            let r = unsafe {
                libc::sendto(
                    s.as_raw_fd(),
                    frame.as_ptr().cast(),
                    frame.len(),
                    0,
                    (&sa as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                )
            };
            if r < 0 {
                return Err(format!(
                    "gratuitous ARP: {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
        Ok(())
    })
    .join()
    .map_err(|_| "the ARP thread panicked".to_string())?
}

/// Undoes [`recreate`] on the destination after a failure.
pub fn undo(d: &NetDesc, ns: &Path) {
    remove(d, ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gratuitous_arp_frame() {
        let f = garp_frame([2, 0x77, 0, 0, 0, 0x10], Ipv4Addr::new(10, 77, 0, 10));
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[20..22], &[0, 1]);
        assert_eq!(&f[28..32], &[10, 77, 0, 10]);
        assert_eq!(&f[38..42], &[10, 77, 0, 10]);
        assert_eq!(&f[32..38], &[0; 6]);
        assert_eq!(
            parse_mac("02:77:00:00:00:10").unwrap(),
            [2, 0x77, 0, 0, 0, 0x10]
        );
        assert!(parse_mac("02:77").is_err());
    }
}
