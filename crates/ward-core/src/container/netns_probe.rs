//! Whether a container's network namespace holds nothing but what a fresh
//! one would: `lo` (up or down) and whatever the kernel puts in every new
//! namespace (fallback tunnel devices, the default rules and `lo`'s own
//! routes). Then checkpoint asks CRIU for an empty namespace (no `ip`,
//! `iptables-save`... run under it, the bulk of an idle dump's time) and
//! restore brings `lo` back up in the fresh one CRIU makes; otherwise CRIU
//! dumps and restores the namespace whole.
//!
//! The container's namespace is compared with a fresh one made here, `lo`
//! brought up in it when the container's is up: links, addresses, routes
//! and rules (rtnetlink dumps, all families), iptables tables (the
//! `/proc/PID/net/*_tables_names` lists), nftables rules and base chains
//! that drop by default (nfnetlink dumps) and the sysctls CRIU restores (`ipv4/conf`, `ipv6/conf`,
//! `unix`), plus a few more of the namespace's own. Any difference keeps
//! the namespace whole, named in the checkpoint's record. No process is
//! started: a few netlink round trips and about 280 small reads per
//! namespace, each an open relative to its directory and one read (the
//! probe took 37 ms in the test VM, 55 ms with `fs::read_to_string` by
//! path).

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::Path;

use nix::sched::CloneFlags;
use nix::sys::socket::SockProtocol;

use crate::error::{Error, Result};
use crate::netdev::{attrs, ifinfo, Rtnl, F_DUMP, RTM_GETADDR, RTM_GETLINK, RTM_NEWLINK};

const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const RTM_NEWRULE: u16 = 32;
const RTM_GETRULE: u16 = 34;
/// NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETCHAIN, NFT_MSG_GETRULE.
const NFT_GETCHAIN: u16 = (10 << 8) | 4;
const NFT_GETRULE: u16 = (10 << 8) | 7;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
/// The index `lo` has in every network namespace.
const LO: u32 = 1;

/// What a checkpoint does with the container's network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// As a fresh namespace would be, with `lo` up or not.
    Fresh { lo_up: bool },
    /// Dumped whole, because of what it holds.
    Whole(String),
}

/// What the kernel says of one namespace, in a comparable form.
#[derive(Debug, Default, PartialEq, Eq)]
struct Snapshot {
    links: Vec<Vec<u8>>,
    addrs: Vec<Vec<u8>>,
    routes: Vec<Vec<u8>>,
    rules: Vec<Vec<u8>>,
    tables: String,
    /// nftables rules, and base chains whose policy is not accept: what
    /// filters. (Empty tables and chains don't: CRIU's own network lock
    /// leaves such tables behind in the namespace it dumped.)
    nft_rules: usize,
    nft_dropping_chains: usize,
    sysctls: BTreeMap<String, String>,
}

/// The fresh namespace a probe made, held open. The kernel tears a
/// network namespace down in a worker after its last reference goes, and
/// under emulation that runs for tens of milliseconds beside whatever
/// comes next: CRIU's dump took about 45 ms longer in the test VM with a
/// namespace torn down behind it. Dropped once the dump is done.
pub(super) struct FreshNs(#[allow(dead_code)] std::fs::File);

/// Compares the network namespace of `pid` with a fresh one. ward must be
/// single-threaded (it steps into namespaces and back). (Reading the two
/// at once, the fresh one by a second thread, took 31 ms against 37 in the
/// test VM, and std's threads made the binary 52 KB larger: not kept.)
pub(super) fn probe(pid: i32) -> Result<(Verdict, FreshNs)> {
    let ns_path = format!("/proc/{pid}/ns/net");
    let ns = std::fs::File::open(&ns_path).map_err(|e| Error::path("open", &ns_path, e))?;
    let home = std::fs::File::open("/proc/thread-self/ns/net")
        .map_err(|e| Error::path("open", "/proc/thread-self/ns/net", e))?;
    fn back<T>(home: &std::fs::File, res: Result<T>) -> Result<T> {
        nix::sched::setns(home.as_fd(), CloneFlags::CLONE_NEWNET)
            .map_err(|e| Error::sys("setns back to the runtime's network namespace", e))?;
        res
    }
    nix::sched::setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| Error::sys("setns into the container's network namespace", e))?;
    let theirs = back(&home, snapshot())?;
    let lo_up = lo_is_up(&theirs);
    nix::sched::unshare(CloneFlags::CLONE_NEWNET)
        .map_err(|e| Error::sys("unshare a network namespace to compare with", e))?;
    let (fresh, kept) = back(
        &home,
        (|| {
            let kept = std::fs::File::open("/proc/thread-self/ns/net")
                .map_err(|e| Error::path("open", "/proc/thread-self/ns/net", e))?;
            if lo_up {
                set_lo_up(&Rtnl::here(SockProtocol::NetlinkRoute)?)?;
            }
            Ok((snapshot()?, FreshNs(kept)))
        })(),
    )?;
    let verdict = match difference(&theirs, &fresh) {
        None => Verdict::Fresh { lo_up },
        Some(why) => Verdict::Whole(why),
    };
    Ok((verdict, kept))
}

/// Brings `lo` up in the network namespace of `pid` (a fresh one CRIU made
/// at restore).
pub(super) fn bring_lo_up(pid: i32) -> Result<()> {
    let ns_path = format!("/proc/{pid}/ns/net");
    let ns = std::fs::File::open(&ns_path).map_err(|e| Error::path("open", &ns_path, e))?;
    set_lo_up(&Rtnl::open(Some(ns.as_fd()))?)
}

fn set_lo_up(nl: &Rtnl) -> Result<()> {
    let up = libc::IFF_UP as u32;
    nl.call(RTM_NEWLINK, 0, &ifinfo(LO, up, up), "set lo up")
        .map(|_| ())
}

fn lo_is_up(s: &Snapshot) -> bool {
    s.links.iter().any(|l| {
        l.len() >= 12
            && u32::from_ne_bytes(l[4..8].try_into().expect("4")) == LO
            && u32::from_ne_bytes(l[8..12].try_into().expect("4")) & libc::IFF_UP as u32 != 0
    })
}

/// The first thing that tells the two apart, in words.
fn difference(theirs: &Snapshot, fresh: &Snapshot) -> Option<String> {
    let lists = [
        ("a link", &theirs.links, &fresh.links),
        ("an address", &theirs.addrs, &fresh.addrs),
        ("a route", &theirs.routes, &fresh.routes),
        ("a routing rule", &theirs.rules, &fresh.rules),
    ];
    for (what, a, b) in lists {
        if a != b {
            return Some(format!("{what} differs from a fresh namespace's"));
        }
    }
    if theirs.tables != fresh.tables {
        return Some(format!(
            "iptables tables in use ({})",
            theirs
                .tables
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if theirs.nft_rules != fresh.nft_rules {
        return Some(format!("{} nftables rule(s)", theirs.nft_rules));
    }
    if theirs.nft_dropping_chains != fresh.nft_dropping_chains {
        return Some(format!(
            "{} nftables base chain(s) that drop by default",
            theirs.nft_dropping_chains
        ));
    }
    for (k, v) in &theirs.sysctls {
        if fresh.sysctls.get(k) != Some(v) {
            return Some(format!("sysctl {k} is {v:?}"));
        }
    }
    if let Some(k) = fresh
        .sysctls
        .keys()
        .find(|k| !theirs.sysctls.contains_key(*k))
    {
        return Some(format!("sysctl {k} is missing"));
    }
    None
}

/// The network namespace of this thread, as the kernel tells it.
fn snapshot() -> Result<Snapshot> {
    let nl = Rtnl::here(SockProtocol::NetlinkRoute)?;
    let mut s = Snapshot {
        links: dump(&nl, RTM_GETLINK, RTM_NEWLINK, 16, "links", |t| {
            // Not the statistics, the carrier, the operational state or
            // IFLA_AF_SPEC (per-family counters and a random reachable
            // time; the settings in it are the sysctls compared below).
            !matches!(t, 7 | 14 | 16 | 23 | 26 | 33 | 35 | 36 | 47 | 48 | 49)
        })?,
        addrs: dump(&nl, RTM_GETADDR, RTM_NEWADDR, 8, "addresses", |t| {
            // Not IFA_CACHEINFO (timestamps).
            t != 6
        })?,
        routes: dump(&nl, RTM_GETROUTE, RTM_NEWROUTE, 12, "routes", |t| {
            // Not RTA_CACHEINFO, RTA_EXPIRES.
            !matches!(t, 12 | 23)
        })?,
        rules: dump(&nl, RTM_GETRULE, RTM_NEWRULE, 12, "rules", |_| true)?,
        ..Default::default()
    };
    // The header's flags of a link, less the ones that follow the carrier.
    let volatile = (libc::IFF_RUNNING | libc::IFF_LOWER_UP | libc::IFF_DORMANT) as u32;
    for l in &mut s.links {
        let f = u32::from_ne_bytes(l[8..12].try_into().expect("4")) & !volatile;
        l[8..12].copy_from_slice(&f.to_ne_bytes());
        // ifi_change means nothing in a dump.
        l[12..16].fill(0);
    }
    s.links.sort();
    for f in ["ip_tables_names", "ip6_tables_names", "arp_tables_names"] {
        let names =
            std::fs::read_to_string(Path::new("/proc/thread-self/net").join(f)).unwrap_or_default();
        s.tables.push_str(&names);
    }
    // nftables are per namespace; without the module loaded there are
    // none, and asking would load it.
    if Path::new("/sys/module/nf_tables").exists() {
        let nf = Rtnl::here(SockProtocol::NetlinkNetFilter)?;
        // nfgenmsg: every family.
        let all = [0u8; 4];
        s.nft_rules = nf.call(NFT_GETRULE, F_DUMP, &all, "nftables rules")?.len();
        s.nft_dropping_chains = nf
            .call(NFT_GETCHAIN, F_DUMP, &all, "nftables chains")?
            .iter()
            .filter(|(_, p)| {
                let a = attrs(p.get(4..).unwrap_or_default());
                let base = a.iter().any(|(t, _)| *t == NFTA_CHAIN_HOOK);
                // NF_ACCEPT is 1, big-endian.
                let accepts = a
                    .iter()
                    .find(|(t, _)| *t == NFTA_CHAIN_POLICY)
                    .is_none_or(|(_, d)| *d == 1u32.to_be_bytes());
                base && !accepts
            })
            .count();
    }
    for dir in ["ipv4/conf", "ipv6/conf"] {
        read_tree(&Path::new("/proc/sys/net").join(dir), dir, &mut s.sysctls);
    }
    if let Ok(net) = open_dir(Path::new("/proc/sys/net")) {
        for f in [
            "unix/max_dgram_qlen",
            "core/somaxconn",
            "ipv4/ip_forward",
            "ipv4/ip_local_port_range",
            "ipv4/ip_unprivileged_port_start",
            "ipv4/ping_group_range",
        ] {
            if let Some(v) = read_value(&net, f) {
                s.sysctls.insert(f.to_string(), v);
            }
        }
    }
    Ok(s)
}

/// The messages of one rtnetlink dump (all families), each as its header
/// and the attributes `keep` keeps, sorted.
fn dump(
    nl: &Rtnl,
    get: u16,
    new: u16,
    header: usize,
    what: &str,
    keep: impl Fn(u16) -> bool,
) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for (k, p) in nl.call(get, F_DUMP, &vec![0u8; header], what)? {
        if k != new || p.len() < header {
            continue;
        }
        let mut m = p[..header].to_vec();
        let mut kept: Vec<(u16, &[u8])> = attrs(&p[header..])
            .into_iter()
            .filter(|(t, _)| keep(*t))
            .collect();
        kept.sort();
        for (t, d) in kept {
            m.extend_from_slice(&t.to_ne_bytes());
            m.extend_from_slice(&(d.len() as u32).to_ne_bytes());
            m.extend_from_slice(d);
        }
        out.push(m);
    }
    out.sort();
    Ok(out)
}

/// Every readable file under `dir`, keyed by its path from /proc/sys/net.
fn read_tree(dir: &Path, key: &str, out: &mut BTreeMap<String, String>) {
    let (Ok(fd), Ok(rd)) = (open_dir(dir), std::fs::read_dir(dir)) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let k = format!("{key}/{}", name.to_string_lossy());
        match e.file_type() {
            Ok(t) if t.is_dir() => read_tree(&e.path(), &k, out),
            Ok(_) => {
                // stable_secret and the like can't be read while unset.
                if let Some(v) = read_value(&fd, name.as_os_str()) {
                    out.insert(k, v);
                }
            }
            Err(_) => {}
        }
    }
}

fn open_dir(dir: &Path) -> nix::Result<std::os::fd::OwnedFd> {
    use nix::fcntl::OFlag;
    nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
}

/// One sysctl's value, trimmed: an open relative to its directory and one
/// read (a sysctl gives its whole value to the first read that has room),
/// a third of the system calls of `fs::read_to_string` by path. This runs
/// about 280 times per namespace, and a checkpoint waits for it.
fn read_value(dir: &std::os::fd::OwnedFd, name: &(impl nix::NixPath + ?Sized)) -> Option<String> {
    use nix::fcntl::OFlag;
    let fd = nix::fcntl::openat(
        dir.as_fd(),
        name,
        OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        nix::sys::stat::Mode::empty(),
    )
    .ok()?;
    let mut v = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = nix::unistd::read(&fd, &mut buf).ok()?;
        v.extend_from_slice(&buf[..n]);
        if n < buf.len() {
            break;
        }
    }
    Some(String::from_utf8_lossy(&v).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(index: u32, flags: u32) -> Vec<u8> {
        let mut l = ifinfo(index, flags, 0);
        l.extend_from_slice(b"lo");
        l
    }

    #[test]
    fn differences_are_named() {
        let base = Snapshot {
            links: vec![link(1, 0)],
            sysctls: [("unix/max_dgram_qlen".to_string(), "512".to_string())].into(),
            ..Default::default()
        };
        let same = Snapshot {
            links: vec![link(1, 0)],
            sysctls: base.sysctls.clone(),
            ..Default::default()
        };
        assert_eq!(difference(&same, &base), None);
        let mut addr = same;
        addr.addrs.push(vec![2, 8, 0, 0]);
        assert!(difference(&addr, &base).unwrap().contains("an address"));
        let tables = Snapshot {
            links: vec![link(1, 0)],
            tables: "filter\n".into(),
            sysctls: base.sysctls.clone(),
            ..Default::default()
        };
        assert_eq!(
            difference(&tables, &base).unwrap(),
            "iptables tables in use (filter)"
        );
        let sysctl = Snapshot {
            links: vec![link(1, 0)],
            sysctls: [("unix/max_dgram_qlen".to_string(), "10".to_string())].into(),
            ..Default::default()
        };
        assert!(difference(&sysctl, &base)
            .unwrap()
            .contains("unix/max_dgram_qlen"));
    }

    #[test]
    fn lo_up_is_read_from_its_flags() {
        let down = Snapshot {
            links: vec![link(1, 0)],
            ..Default::default()
        };
        let up = Snapshot {
            links: vec![link(1, libc::IFF_UP as u32)],
            ..Default::default()
        };
        assert!(!lo_is_up(&down));
        assert!(lo_is_up(&up));
    }
}
