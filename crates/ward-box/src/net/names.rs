//! A box's names: its /etc/hosts (its own name and address), its
//! /etc/resolv.conf (--dns and --dns-search, the network's resolver when
//! it has one, else the host's), and /etc/hostname. The files live in the
//! box's directory (`etc/`) and are bound over the box's own; they are
//! made empty before the runtime runs (the binds need them) and filled
//! in place once the network has given the box its address.

use super::{NetMode, NetOptions};
use serde_json::Value;
use std::fs;
use std::path::Path;

pub fn prepare_files(dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    for f in ["hosts", "resolv.conf", "hostname"] {
        let p = dir.join(f);
        if !p.exists() {
            fs::write(&p, b"").map_err(|e| format!("write {}: {e}", p.display()))?;
        }
    }
    Ok(())
}

/// Rewrites a file in place (same inode: the box's bind sees it).
fn write_in_place(p: &Path, data: &str) -> Result<(), String> {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .create(true)
        .open(p)
        .map_err(|e| format!("write {}: {e}", p.display()))?;
    f.write_all(data.as_bytes())
        .map_err(|e| format!("write {}: {e}", p.display()))
}

fn host_resolv() -> String {
    fs::read_to_string("/etc/resolv.conf").unwrap_or_default()
}

/// The host's nameservers a box can reach (a loopback resolver on the
/// host is not the box's loopback) and its search domains.
fn host_servers_and_search() -> (Vec<String>, Vec<String>) {
    let mut ns = Vec::new();
    let mut search = Vec::new();
    for l in host_resolv().lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w.as_slice() {
            ["nameserver", a, ..] if !a.starts_with("127.") && *a != "::1" => {
                ns.push(a.to_string())
            }
            ["search", rest @ ..] | ["domain", rest @ ..] => {
                search.extend(rest.iter().map(|s| s.to_string()))
            }
            _ => {}
        }
    }
    (ns, search)
}

pub fn hosts(mode: &NetMode, opts: &NetOptions, addrs: &[String], name: &str) -> String {
    if *mode == NetMode::Host {
        return fs::read_to_string("/etc/hosts").unwrap_or_default();
    }
    let mut s = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    let h = &opts.hostname;
    let mut names = match &opts.domainname {
        Some(d) if !d.is_empty() => format!("{h}.{d} {h}"),
        _ => h.clone(),
    };
    if name != h {
        names.push(' ');
        names.push_str(name);
    }
    match addrs.first() {
        Some(a) => s.push_str(&format!("{a}\t{names}\n")),
        None => s.push_str(&format!("127.0.1.1\t{names}\n")),
    }
    s
}

/// The strings of a JSON array (none if it isn't one).
fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn resolv(mode: &NetMode, opts: &NetOptions, net_dns: &Value) -> String {
    if *mode == NetMode::Host && opts.dns.is_empty() && opts.dns_search.is_empty() {
        return host_resolv();
    }
    let (host_ns, host_search) = host_servers_and_search();
    let net_ns = strings(&net_dns["nameservers"]);
    let net_search = strings(&net_dns["search"]);
    let servers = if !opts.dns.is_empty() {
        opts.dns.clone()
    } else if !net_ns.is_empty() {
        net_ns
    } else if *mode == NetMode::None {
        vec![]
    } else {
        host_ns
    };
    let search = if !opts.dns_search.is_empty() {
        opts.dns_search.clone()
    } else {
        net_search.into_iter().chain(host_search).collect()
    };
    let mut s = String::from("# written by ward box\n");
    if !search.is_empty() {
        s.push_str(&format!("search {}\n", search.join(" ")));
    }
    for n in servers {
        s.push_str(&format!("nameserver {n}\n"));
    }
    s
}

pub fn write_files(
    dir: &Path,
    mode: &NetMode,
    opts: &NetOptions,
    addrs: &[String],
    net_dns: &Value,
) -> Result<(), String> {
    let name = dir
        .parent()
        .and_then(|d| fs::read(d.join("box.json")).ok())
        .and_then(|d| serde_json::from_slice::<Value>(&d).ok())
        .and_then(|v| v["name"].as_str().map(str::to_string))
        .unwrap_or_else(|| opts.hostname.clone());
    write_in_place(&dir.join("hosts"), &hosts(mode, opts, addrs, &name))?;
    write_in_place(&dir.join("resolv.conf"), &resolv(mode, opts, net_dns))?;
    write_in_place(&dir.join("hostname"), &format!("{}\n", opts.hostname))
}

/// `--dns` values are IP addresses; search domains are names.
pub fn check_dns(opts: &NetOptions) -> Result<(), String> {
    for d in &opts.dns {
        if d.parse::<std::net::IpAddr>().is_err() {
            return Err(format!("--dns {d:?}: not an IP address"));
        }
    }
    for s in &opts.dns_search {
        let ok = !s.is_empty()
            && s.len() <= 253
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !ok {
            return Err(format!("--dns-search {s:?}: not a domain name"));
        }
    }
    if let Some(d) = &opts.domainname {
        let ok = !d.is_empty()
            && d.len() <= 64
            && d.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !ok {
            return Err(format!("--domainname {d:?}: 1 to 64 letters, digits, - ."));
        }
    }
    Ok(())
}

/// `ns:PATH` names a network namespace (a pin or /proc/PID/ns/net).
pub fn check_netns_path(p: &Path) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let f = fs::File::open(p).map_err(|e| format!("--net ns:{}: {e}", p.display()))?;
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: an ioctl without an argument on an fd we own.
    let t = unsafe { libc::ioctl(f.as_raw_fd(), NS_GET_NSTYPE as _) };
    if t != libc::CLONE_NEWNET {
        return Err(format!("--net ns:{}: not a network namespace", p.display()));
    }
    Ok(())
}
