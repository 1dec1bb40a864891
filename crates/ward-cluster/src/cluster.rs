//! `ward cluster ps|kill|exec` and `ward migrate --to auto`: the hosts of
//! the hosts file seen as one machine, each asked over ssh in parallel
//! (`ward cluster __node` on the far side answers with one JSON record).

use crate::hosts::Host;
use crate::runtime::Runtime;
use crate::ssh;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Container {
    pub id: String,
    pub status: String,
    pub pid: i64,
    pub created: String,
    /// Bytes charged to its cgroup, when known.
    pub memory: Option<u64>,
    /// CPU time used, in nanoseconds, when known.
    pub cpu_ns: Option<u64>,
}

/// What `ward cluster __node` says about its machine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Node {
    pub containers: Vec<Container>,
    pub load1: f64,
    pub cpus: u32,
    pub mem_available: u64,
    pub mem_total: u64,
}

fn meminfo(key: &str, text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|r| r.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// This machine, through the runtime: `list`, then `events --stats` of
/// each running container.
pub fn node(rt: &Runtime) -> Result<Node, String> {
    let d = rt.run(&["list", "--format", "json"], Duration::from_secs(30));
    if !d.ok() {
        return Err(d.why());
    }
    let list: Vec<serde_json::Value> = if d.stdout.trim().is_empty() || d.stdout.trim() == "null" {
        Vec::new()
    } else {
        serde_json::from_str(&d.stdout).map_err(|e| format!("list: bad JSON: {e}"))?
    };
    let mut containers = Vec::new();
    for c in list {
        let id = c["id"].as_str().unwrap_or("").to_string();
        let status = c["status"].as_str().unwrap_or("").to_string();
        let (mut memory, mut cpu_ns) = (None, None);
        if status == "running" || status == "paused" {
            let s = rt.run(&["events", "--stats", &id], Duration::from_secs(30));
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(s.stdout.trim()) {
                memory = v["data"]["memory"]["usage"]["usage"].as_u64();
                cpu_ns = v["data"]["cpu"]["usage"]["total"].as_u64();
            }
        }
        containers.push(Container {
            pid: c["pid"].as_i64().unwrap_or(0),
            created: c["created"].as_str().unwrap_or("").to_string(),
            id,
            status,
            memory,
            cpu_ns,
        });
    }
    let mi = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let load1 = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|l| l.parse().ok()))
        .unwrap_or(0.0);
    Ok(Node {
        containers,
        load1,
        cpus: std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1),
        mem_available: meminfo("MemAvailable:", &mi),
        mem_total: meminfo("MemTotal:", &mi),
    })
}

/// The runtime's argv on `h` (its binary and --root), then `args`.
pub fn remote_ward(h: &Host, args: &[&str]) -> Vec<String> {
    let mut v = vec![h.ward.clone()];
    if let Some(r) = &h.root {
        v.extend(["--root".into(), r.clone()]);
    }
    v.extend(args.iter().map(|s| s.to_string()));
    v
}

/// Every host's node record (or why it didn't answer), asked in parallel.
pub fn query_all(hosts: &[Host], cfg: Option<&PathBuf>) -> Vec<(Host, Result<Node, String>)> {
    let handles: Vec<_> = hosts
        .iter()
        .cloned()
        .map(|h| {
            let cfg = cfg.cloned();
            std::thread::spawn(move || {
                let mut argv = vec![h.ward.clone(), "cluster".into(), "__node".into()];
                if let Some(r) = &h.root {
                    argv.extend(["--root".into(), r.clone()]);
                }
                let r =
                    ssh::run(&h, cfg.as_ref(), &argv, Duration::from_secs(60)).and_then(|out| {
                        serde_json::from_slice::<Node>(&out).map_err(|e| {
                            format!("it answered something that is not a node record: {e}")
                        })
                    });
                (h, r)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|t| t.join().expect("query thread"))
        .collect()
}

fn human(b: Option<u64>) -> String {
    b.map(crate::progress::human).unwrap_or_else(|| "-".into())
}

/// The table: HOST ID STATUS PID CREATED MEMORY CPU, a host that didn't
/// answer marked as such.
pub fn table(rows: &[(Host, Result<Node, String>)]) -> String {
    let mut lines = vec![["HOST", "ID", "STATUS", "PID", "CREATED", "MEMORY", "CPU"]
        .map(String::from)
        .to_vec()];
    let mut notes = Vec::new();
    for (h, r) in rows {
        match r {
            Ok(n) => {
                for c in &n.containers {
                    lines.push(vec![
                        h.name.clone(),
                        c.id.clone(),
                        c.status.clone(),
                        c.pid.to_string(),
                        c.created.clone(),
                        human(c.memory),
                        c.cpu_ns
                            .map(|n| format!("{:.2}s", n as f64 / 1e9))
                            .unwrap_or_else(|| "-".into()),
                    ]);
                }
            }
            Err(e) => {
                lines.push(vec![
                    h.name.clone(),
                    "-".into(),
                    "UNREACHABLE".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                ]);
                notes.push(format!("{}: {e}", h.name));
            }
        }
    }
    let widths: Vec<usize> = (0..7)
        .map(|i| lines.iter().map(|l| l[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for l in &lines {
        let s: Vec<String> = l
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(s.join("  ").trim_end());
        out.push('\n');
    }
    for n in notes {
        out.push_str(&format!("# unreachable: {n}\n"));
    }
    out
}

/// `--to auto`: among the hosts that answered and don't hold `id`
/// already, the one with the most free memory per unit of load (MOSIX
/// weighed the same two).
pub fn pick<'a>(rows: &'a [(Host, Result<Node, String>)], id: &str) -> Option<&'a Host> {
    rows.iter()
        .filter_map(|(h, r)| r.as_ref().ok().map(|n| (h, n)))
        .filter(|(_, n)| !n.containers.iter().any(|c| c.id == id))
        .max_by(|a, b| score(a.1).total_cmp(&score(b.1)))
        .map(|(h, _)| h)
}

fn score(n: &Node) -> f64 {
    let load = n.load1 / f64::from(n.cpus.max(1));
    n.mem_available as f64 / (1.0 + load)
}

/// `HOST/ID`.
pub fn split_target(s: &str) -> Result<(&str, &str), String> {
    match s.split_once('/') {
        Some((h, id)) if !h.is_empty() && !id.is_empty() => Ok((h, id)),
        _ => Err(format!("{s:?}: want HOST/ID")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(n: &str) -> Host {
        let mut h = crate::hosts::parse_url("ssh://x").unwrap();
        h.name = n.into();
        h
    }
    fn node(avail: u64, load: f64, ids: &[&str]) -> Node {
        Node {
            containers: ids
                .iter()
                .map(|i| Container {
                    id: i.to_string(),
                    status: "running".into(),
                    pid: 1,
                    created: String::new(),
                    memory: None,
                    cpu_ns: None,
                })
                .collect(),
            load1: load,
            cpus: 2,
            mem_available: avail,
            mem_total: avail,
        }
    }

    #[test]
    fn auto_picks_free_memory_and_low_load_and_skips_the_holder() {
        let rows = vec![
            (host("a"), Ok(node(8 << 30, 0.0, &["web"]))),
            (host("b"), Ok(node(1 << 30, 0.0, &[]))),
            (host("c"), Ok(node(2 << 30, 0.0, &[]))),
            (host("d"), Err("down".into())),
        ];
        assert_eq!(pick(&rows, "web").unwrap().name, "c");
        let rows = vec![
            (host("b"), Ok(node(2 << 30, 6.0, &[]))),
            (host("c"), Ok(node(2 << 30, 0.5, &[]))),
        ];
        assert_eq!(pick(&rows, "web").unwrap().name, "c");
        let rows = vec![(host("a"), Ok(node(1, 0.0, &["web"])))];
        assert!(pick(&rows, "web").is_none());
    }

    #[test]
    fn table_marks_a_host_that_did_not_answer() {
        let rows = vec![
            (host("a"), Ok(node(1, 0.0, &["web"]))),
            (
                host("b"),
                Err("ssh: connect to host b port 22: Connection refused".into()),
            ),
        ];
        let t = table(&rows);
        assert!(t.lines().next().unwrap().starts_with("HOST  ID"), "{t}");
        assert!(t.contains("a     web  running"), "{t}");
        assert!(t.contains("b     -    UNREACHABLE"), "{t}");
        assert!(t.contains("# unreachable: b: ssh: connect"), "{t}");
    }

    #[test]
    fn targets() {
        assert_eq!(split_target("a/web").unwrap(), ("a", "web"));
        assert!(split_target("web").is_err());
        assert!(split_target("/web").is_err());
    }
}
