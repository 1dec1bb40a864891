//! Bandwidth: rates, and the two ways ward caps a box.
//!
//! - **veth** (CNI networks): tc on the host side of the box's veth, which
//!   the box can't reach. Into the box: a token bucket (tbf) as the veth's
//!   root qdisc. Out of the box: the veth's ingress is redirected to an ifb
//!   device of the box's own (`wbi<id>`) whose root is the token bucket, as
//!   CNI's bandwidth plugin does. Counted by the veth's byte counters.
//! - **cgroup** (cgroup v2): an eBPF program on the box's cgroup
//!   (`BPF_CGROUP_INET_EGRESS`) counts every byte the box's sockets send
//!   and keeps a token bucket: over the rate it asks TCP to slow down
//!   (congestion notification), far over it drops. Egress only, but
//!   whatever interface or namespace the box's processes use.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Parses a rate as tc writes them: `10mbit`, `1gbit`, `500kbit`, `64kbps`
/// (bytes), or bits per second. Returns bits per second.
pub fn parse_rate(flag: &str, s: &str) -> Result<u64, String> {
    let bad = || format!("{flag} {s:?}: not a rate (e.g. 10mbit, 1gbit, 500kbit)");
    let t = s.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let mult: f64 = match unit {
        "" | "bit" => 1.0,
        "kbit" | "k" => 1e3,
        "mbit" | "m" => 1e6,
        "gbit" | "g" => 1e9,
        "bps" => 8.0,
        "kbps" => 8e3,
        "mbps" => 8e6,
        "gbps" => 8e9,
        _ => return Err(bad()),
    };
    let v = n * mult;
    if !v.is_finite() || v < 8000.0 {
        return Err(format!("{flag} {s:?}: at least 8kbit"));
    }
    if v > 1e12 {
        return Err(format!("{flag} {s:?}: at most 1000gbit"));
    }
    Ok(v as u64)
}

/// A rate as people read it.
pub fn human_rate(bits: u64) -> String {
    if bits >= 1_000_000_000 && bits.is_multiple_of(1_000_000) {
        format!("{}gbit", bits as f64 / 1e9)
    } else if bits >= 1_000_000 {
        format!("{}mbit", bits as f64 / 1e6)
    } else {
        format!("{}kbit", bits as f64 / 1e3)
    }
}

/// The ifb device of a box (15 characters at most).
pub fn ifb_name(id: &str) -> String {
    format!("wbi{}", &id[..12])
}

fn run(prog: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("run {prog}: {e} (iproute2 has it)"))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Err(format!(
        "{prog} {}: {}",
        args.join(" "),
        err.lines().next().unwrap_or("failed").trim()
    ))
}

/// The token bucket's size: 10 ms at the rate, at least 16 KiB (tbf needs
/// one tick's worth and a full packet).
fn burst(bits: u64) -> String {
    (bits / 8 / 100).max(16 * 1024).to_string()
}

fn tbf(dev: &str, bits: u64) -> Result<(), String> {
    let rate = format!("{bits}bit");
    run(
        "tc",
        &[
            "qdisc",
            "replace",
            "dev",
            dev,
            "root",
            "tbf",
            "rate",
            &rate,
            "burst",
            &burst(bits),
            "latency",
            "25ms",
        ],
    )
}

fn no_root_qdisc(dev: &str) {
    let _ = run("tc", &["qdisc", "del", "dev", dev, "root"]);
}

/// Sets (or changes, or with None removes) the caps on a box's veth.
pub fn veth_apply(
    veth: &str,
    ifb: &str,
    rate_in: Option<u64>,
    rate_out: Option<u64>,
) -> Result<(), String> {
    match rate_in {
        Some(r) => tbf(veth, r)?,
        None => no_root_qdisc(veth),
    }
    match rate_out {
        Some(r) => {
            if !link_exists(ifb) {
                run("ip", &["link", "add", ifb, "type", "ifb"])?;
            }
            run("ip", &["link", "set", ifb, "up"])?;
            run(
                "tc",
                &[
                    "qdisc", "replace", "dev", veth, "handle", "ffff:", "ingress",
                ],
            )?;
            run(
                "tc",
                &[
                    "filter", "replace", "dev", veth, "parent", "ffff:", "protocol", "all", "prio",
                    "1", "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "redirect",
                    "dev", ifb,
                ],
            )?;
            tbf(ifb, r)?;
        }
        None => {
            let _ = run("tc", &["qdisc", "del", "dev", veth, "ingress"]);
            del_link(ifb);
        }
    }
    Ok(())
}

/// The devices of this network namespace with their (rx, tx) byte counts,
/// from /proc/net/dev (which, unlike /sys/class/net, follows the
/// namespace of the reader, not of whoever mounted sysfs).
pub fn devices() -> Vec<(String, u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/net/dev").unwrap_or_default();
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let f: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            Some((name.trim().to_string(), *f.first()?, *f.get(8)?))
        })
        .collect()
}

pub fn link_exists(dev: &str) -> bool {
    devices().iter().any(|(n, _, _)| n == dev)
}

pub fn del_link(dev: &str) {
    if link_exists(dev) {
        let _ = run("ip", &["link", "del", dev]);
    }
}

/// (bytes into the box, bytes out of it) by the host veth's counters.
pub fn veth_bytes(veth: &str) -> Option<(u64, u64)> {
    devices()
        .into_iter()
        .find(|(n, _, _)| n == veth)
        .map(|(_, rx, tx)| (tx, rx))
}

/// The cgroup v2 hierarchy's mount point (on a hybrid host, the unified
/// one): eBPF programs attach there whatever the controllers.
pub fn cgroup_v2_mount() -> Result<PathBuf, String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
    for l in info.lines() {
        let (pre, post) = l.split_once(" - ").unwrap_or((l, ""));
        if post.split(' ').next() == Some("cgroup2") {
            if let Some(mp) = pre.split(' ').nth(4) {
                return Ok(PathBuf::from(mp));
            }
        }
    }
    Err("--net-rate-mode cgroup: this host has no cgroup v2 hierarchy mounted".into())
}

/// The box's v2 cgroup: the runtime's default path, `/ward-<id>`, made
/// now so the program is on it before the box's first packet (the
/// runtime creates its cgroup with mkdir -p and removes it at delete).
pub fn box_cgroup(id: &str) -> Result<PathBuf, String> {
    let dir = cgroup_v2_mount()?.join(format!("ward-{id}"));
    match std::fs::create_dir(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(dir),
        Err(e) => Err(format!("mkdir {}: {e}", dir.display())),
    }
}

/// Loads the egress program with the rate (bits per second) and attaches
/// it to the cgroup.
pub fn cgroup_apply(cg: &Path, bits: u64) -> Result<(), String> {
    super::bpf::attach_egress_cap(cg, bits / 8)
}

/// Changes the rate of the program on the cgroup.
pub fn cgroup_update(cg: &Path, bits: u64) -> Result<(), String> {
    super::bpf::set_rate(cg, bits / 8)
}

/// Bytes the box's cgroup sent (counted by the program).
pub fn cgroup_bytes(cg: &Path) -> Option<u64> {
    super::bpf::counters(cg).ok().map(|c| c.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("--net-rate", "10mbit").unwrap(), 10_000_000);
        assert_eq!(parse_rate("--net-rate", "100Mbit").unwrap(), 100_000_000);
        assert_eq!(parse_rate("--net-rate", "1gbit").unwrap(), 1_000_000_000);
        assert_eq!(parse_rate("--net-rate", "500kbit").unwrap(), 500_000);
        assert_eq!(parse_rate("--net-rate", "1mbps").unwrap(), 8_000_000);
        assert_eq!(parse_rate("--net-rate", "2.5mbit").unwrap(), 2_500_000);
        for bad in ["fast", "", "10 mbit", "mbit", "-1mbit", "1kbit", "10xbit"] {
            assert!(parse_rate("--net-rate", bad).is_err(), "{bad}");
        }
        assert_eq!(human_rate(10_000_000), "10mbit");
        assert_eq!(human_rate(1_000_000_000), "1gbit");
    }
}
