//! `linux.netDevices` (runtime-spec 1.3): named interfaces of the
//! runtime's network namespace moved into the container's at create, and
//! back at delete, each with its addresses and its up/down state (moving
//! an interface flushes its addresses and brings it down).
//!
//! The container's network namespace is pinned in its state directory
//! (`netns`, a bind mount) while devices are in it: a virtual device
//! (dummy, veth, macvlan...) dies with the namespace, so the namespace
//! must outlive the container's processes until delete moves the devices
//! back. Raw rtnetlink messages, and only on the path of configs that
//! list devices: the runtime links no netlink crate.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// An address of a device, as kept across a move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addr {
    pub family: u8,
    pub prefix: u8,
    pub scope: u8,
    /// IFA_LOCAL (or IFA_ADDRESS), in network order.
    pub local: Vec<u8>,
    /// IFA_ADDRESS when it differs (the peer of a point-to-point link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast: Option<Vec<u8>>,
}

/// A device in the container: its name on each side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moved {
    pub host_name: String,
    pub name: String,
}

/// `linux.netDevices` as (host name, container name), checked: a
/// container network namespace of its own or joined, names the kernel
/// takes, each device present here, no two with one name inside.
pub fn plan(
    devices: &HashMap<String, oci_spec::runtime::LinuxNetDevice>,
    has_netns: bool,
) -> Result<Vec<Moved>> {
    let bad = |why: String| Error::invalid("linux.netDevices", why);
    if !devices.is_empty() && !has_netns {
        return Err(bad(
            "the container has no network namespace of its own: the devices would stay the host's"
                .into(),
        ));
    }
    let mut out: Vec<Moved> = Vec::new();
    let mut keys: Vec<&String> = devices.keys().collect();
    keys.sort();
    for host in keys {
        let name = devices[host]
            .name()
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| host.clone());
        for n in [host, &name] {
            if n.is_empty()
                || n.len() >= libc::IFNAMSIZ
                || n == "."
                || n == ".."
                || n.bytes()
                    .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
            {
                return Err(bad(format!("{n:?}: not an interface name")));
            }
        }
        if out.iter().any(|m| m.name == name) {
            return Err(bad(format!("two devices named {name:?} in the container")));
        }
        if ifindex(host).is_none() {
            return Err(bad(format!(
                "{host:?}: no such interface in the runtime's network namespace"
            )));
        }
        out.push(Moved {
            host_name: host.clone(),
            name,
        });
    }
    Ok(out)
}

fn ifindex(name: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(name).ok().filter(|i| *i > 0)
}

// rtnetlink.
pub(crate) const RTM_NEWLINK: u16 = 16;
pub(crate) const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
pub(crate) const RTM_GETADDR: u16 = 22;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const F_REQUEST: u16 = 1;
const F_ACK: u16 = 4;
pub(crate) const F_DUMP: u16 = 0x300;
const F_CREATE: u16 = 0x400;
const F_REPLACE: u16 = 0x100;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;

/// A netlink route socket in the network namespace `ns` (or this one).
pub(crate) struct Rtnl(OwnedFd);

impl Rtnl {
    /// A netlink socket of protocol `proto` in this thread's network
    /// namespace.
    pub(crate) fn here(proto: SockProtocol) -> Result<Rtnl> {
        socket::socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            proto,
        )
        .map(Rtnl)
        .map_err(|e| Error::sys("netlink socket", e))
    }

    pub(crate) fn open(ns: Option<BorrowedFd<'_>>) -> Result<Rtnl> {
        let make = || {
            socket::socket(
                AddressFamily::Netlink,
                SockType::Raw,
                SockFlag::SOCK_CLOEXEC,
                SockProtocol::NetlinkRoute,
            )
            .map_err(|e| Error::sys("netlink socket", e))
        };
        let Some(ns) = ns else {
            return make().map(Rtnl);
        };
        // A socket stays in the namespace it was made in: step in, make
        // it, step back (ward is single-threaded here).
        let home = std::fs::File::open("/proc/thread-self/ns/net")
            .map_err(|e| Error::path("open", "/proc/thread-self/ns/net", e))?;
        nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| Error::sys("setns into the container's network namespace", e))?;
        let s = make();
        nix::sched::setns(home.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| Error::sys("setns back to the runtime's network namespace", e))?;
        s.map(Rtnl)
    }

    /// Sends one request and reads the answers: the messages of a dump,
    /// or the ack (an error is returned as such).
    pub(crate) fn call(
        &self,
        kind: u16,
        flags: u16,
        body: &[u8],
        what: &str,
    ) -> Result<Vec<(u16, Vec<u8>)>> {
        let mut msg = Vec::with_capacity(16 + body.len());
        msg.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(&(flags | F_REQUEST | F_ACK).to_ne_bytes());
        msg.extend_from_slice(&1u32.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(body);
        socket::send(self.0.as_raw_fd(), &msg, MsgFlags::empty())
            .map_err(|e| Error::sys(format!("netlink: {what}"), e))?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = socket::recv(self.0.as_raw_fd(), &mut buf, MsgFlags::empty())
                .map_err(|e| Error::sys(format!("netlink: {what}"), e))?;
            let mut at = 0;
            while at + 16 <= n {
                let len = u32::from_ne_bytes(buf[at..at + 4].try_into().expect("4")) as usize;
                let kind = u16::from_ne_bytes(buf[at + 4..at + 6].try_into().expect("2"));
                if len < 16 || at + len > n {
                    return Err(Error::Other(format!("netlink: {what}: a malformed answer")));
                }
                let payload = &buf[at + 16..at + len];
                match kind {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let code = i32::from_ne_bytes(payload[..4].try_into().expect("4"));
                        if code == 0 {
                            // The ack of a request (a dump ends with
                            // NLMSG_DONE instead); F_REPLACE shares a bit
                            // with F_DUMP, so both bits are looked at.
                            if flags & F_DUMP != F_DUMP {
                                return Ok(out);
                            }
                        } else {
                            return Err(Error::sys(
                                format!("netlink: {what}"),
                                nix::errno::Errno::from_raw(-code),
                            ));
                        }
                    }
                    k => out.push((k, payload.to_vec())),
                }
                at += (len + 3) & !3;
            }
        }
    }
}

fn attr(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    out.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(data);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

pub(crate) fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut v = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let kind = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            break;
        }
        v.push((kind, &b[4..len]));
        b = &b[((len + 3) & !3).min(b.len())..];
    }
    v
}

pub(crate) fn ifinfo(index: u32, flags: u32, change: u32) -> Vec<u8> {
    let mut b = vec![0u8; 16];
    b[4..8].copy_from_slice(&(index as i32).to_ne_bytes());
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

/// Index, up or not, and addresses of the device `name` seen by `nl`.
fn describe(nl: &Rtnl, name: &str) -> Result<(u32, bool, Vec<Addr>)> {
    let mut body = ifinfo(0, 0, 0);
    attr(&mut body, IFLA_IFNAME, format!("{name}\0").as_bytes());
    let link = nl.call(RTM_GETLINK, 0, &body, &format!("find {name}"))?;
    let (index, up) = link
        .iter()
        .find(|(k, p)| *k == RTM_NEWLINK && p.len() >= 16)
        .map(|(_, p)| {
            let i = i32::from_ne_bytes(p[4..8].try_into().expect("4")) as u32;
            let f = u32::from_ne_bytes(p[8..12].try_into().expect("4"));
            (i, f & libc::IFF_UP as u32 != 0)
        })
        .ok_or_else(|| Error::Other(format!("netlink: find {name}: no answer")))?;
    let dump = nl.call(
        RTM_GETADDR,
        F_DUMP,
        &[0u8; 8],
        &format!("addresses of {name}"),
    )?;
    let mut addrs = Vec::new();
    for (k, p) in dump {
        if k != RTM_NEWADDR || p.len() < 8 {
            continue;
        }
        if u32::from_ne_bytes(p[4..8].try_into().expect("4")) != index {
            continue;
        }
        let (mut local, mut address, mut brd) = (None, None, None);
        for (t, d) in attrs(&p[8..]) {
            match t {
                IFA_LOCAL => local = Some(d.to_vec()),
                IFA_ADDRESS => address = Some(d.to_vec()),
                IFA_BROADCAST => brd = Some(d.to_vec()),
                _ => {}
            }
        }
        let Some(l) = local.clone().or(address.clone()) else {
            continue;
        };
        // IPv6 link-local addresses come back by themselves.
        if p[0] == libc::AF_INET6 as u8 && l.len() == 16 && l[0] == 0xfe && l[1] & 0xc0 == 0x80 {
            continue;
        }
        addrs.push(Addr {
            family: p[0],
            prefix: p[1],
            scope: p[3],
            peer: address.filter(|a| Some(a) != local.as_ref()),
            local: l,
            broadcast: brd,
        });
    }
    Ok((index, up, addrs))
}

/// Moves the device `from` (as `nl` sees it) into the namespace `to_ns`
/// under the name `to_name`, and restores its addresses and state there
/// (through `to_nl`).
fn move_one(
    nl: &Rtnl,
    from: &str,
    to_ns: BorrowedFd<'_>,
    to_nl: &Rtnl,
    to_name: &str,
) -> Result<()> {
    let (index, up, addrs) = describe(nl, from)?;
    let mut body = ifinfo(index, 0, 0);
    attr(
        &mut body,
        IFLA_NET_NS_FD,
        &(to_ns.as_raw_fd() as u32).to_ne_bytes(),
    );
    attr(&mut body, IFLA_IFNAME, format!("{to_name}\0").as_bytes());
    nl.call(RTM_NEWLINK, 0, &body, &format!("move {from} as {to_name}"))?;
    let (new_index, _, _) = describe(to_nl, to_name)?;
    for a in &addrs {
        let mut body = vec![a.family, a.prefix, 0, a.scope];
        body.extend_from_slice(&new_index.to_ne_bytes());
        attr(&mut body, IFA_LOCAL, &a.local);
        attr(&mut body, IFA_ADDRESS, a.peer.as_ref().unwrap_or(&a.local));
        if let Some(b) = &a.broadcast {
            attr(&mut body, IFA_BROADCAST, b);
        }
        to_nl.call(
            RTM_NEWADDR,
            F_CREATE | F_REPLACE,
            &body,
            &format!("address of {to_name}"),
        )?;
    }
    if up {
        let up = libc::IFF_UP as u32;
        to_nl.call(
            RTM_NEWLINK,
            0,
            &ifinfo(new_index, up, up),
            &format!("set {to_name} up"),
        )?;
    }
    Ok(())
}

/// Pins the network namespace of `pid` at `pin` and moves the devices in.
/// On error, the devices already moved go back and the pin goes.
pub fn move_in(devices: &[Moved], pid: i32, pin: &Path) -> Result<()> {
    let ns_path = format!("/proc/{pid}/ns/net");
    let ns: OwnedFd = std::fs::File::open(&ns_path)
        .map_err(|e| Error::path("open", &ns_path, e))?
        .into();
    std::fs::File::create(pin).map_err(|e| Error::path("create", pin, e))?;
    nix::mount::mount(
        Some(ns_path.as_str()),
        pin,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| Error::path("pin the network namespace at", pin, e))?;
    let res = (|| -> Result<Vec<Moved>> {
        let here = Rtnl::open(None)?;
        let there = Rtnl::open(Some(ns.as_fd()))?;
        let mut done: Vec<Moved> = Vec::new();
        for d in devices {
            if let Err(e) = move_one(&here, &d.host_name, ns.as_fd(), &there, &d.name) {
                let _ = move_back(&done, pin);
                return Err(e.context(format!("linux.netDevices {:?}", d.host_name)));
            }
            done.push(d.clone());
        }
        Ok(done)
    })();
    if let Err(e) = res {
        unpin(pin);
        return Err(e);
    }
    Ok(())
}

/// Moves the devices back from the namespace pinned at `pin` under their
/// host names, with their addresses; every device is tried.
pub fn move_back(devices: &[Moved], pin: &Path) -> Result<()> {
    let ns: OwnedFd = std::fs::File::open(pin)
        .map_err(|e| Error::path("open", pin, e))?
        .into();
    let home: OwnedFd = std::fs::File::open("/proc/thread-self/ns/net")
        .map_err(|e| Error::path("open", "/proc/thread-self/ns/net", e))?
        .into();
    let there = Rtnl::open(Some(ns.as_fd()))?;
    let here = Rtnl::open(None)?;
    let mut first = None;
    for d in devices {
        if let Err(e) = move_one(&there, &d.name, home.as_fd(), &here, &d.host_name) {
            first.get_or_insert(e.context(format!("linux.netDevices {:?} back", d.host_name)));
        }
    }
    first.map_or(Ok(()), Err)
}

pub fn unpin(pin: &Path) {
    let _ = nix::mount::umount2(pin, nix::mount::MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(pin);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip() {
        let mut b = Vec::new();
        attr(&mut b, IFLA_IFNAME, b"eth0\0");
        attr(&mut b, IFA_LOCAL, &[10, 0, 0, 1]);
        let a = attrs(&b);
        assert_eq!(
            a,
            vec![
                (IFLA_IFNAME, &b"eth0\0"[..]),
                (IFA_LOCAL, &[10, 0, 0, 1][..])
            ]
        );
    }

    #[test]
    fn plans_are_checked() {
        let mut m = HashMap::new();
        m.insert("lo".to_string(), Default::default());
        assert!(plan(&m, false).is_err(), "no namespace");
        assert_eq!(plan(&m, true).unwrap()[0].name, "lo");
        let mut bad = HashMap::new();
        bad.insert("no-such-dev-ward".to_string(), Default::default());
        assert!(plan(&bad, true).is_err());
        let mut slash = HashMap::new();
        slash.insert("a/b".to_string(), Default::default());
        assert!(plan(&slash, true).is_err());
    }
}
