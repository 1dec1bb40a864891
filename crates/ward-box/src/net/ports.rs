//! Published ports: `-p [HOST_IP:]HOST_PORT:BOX_PORT[/tcp|udp]`, passed
//! to the network's portmap plugin (CNI's `portMappings` capability) or
//! to pasta.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMap {
    #[serde(default)]
    pub host_ip: Option<String>,
    pub host_port: u16,
    pub box_port: u16,
    pub proto: String,
}

impl PortMap {
    pub fn parse(s: &str) -> Result<PortMap, String> {
        let bad = |why: &str| format!("-p {s:?}: {why} ([HOST_IP:]HOST_PORT:BOX_PORT[/tcp|udp])");
        let (spec, proto) = match s.rsplit_once('/') {
            Some((a, p)) => (a, p.to_ascii_lowercase()),
            None => (s, "tcp".to_string()),
        };
        if proto != "tcp" && proto != "udp" {
            return Err(bad(&format!("protocol {proto:?} is neither tcp nor udp")));
        }
        let parts: Vec<&str> = spec.split(':').collect();
        let (ip, hp, bp) = match parts.as_slice() {
            [h, b] => (None, *h, *b),
            [i, h, b] => (Some(*i), *h, *b),
            _ => return Err(bad("not a port mapping")),
        };
        let port = |p: &str| -> Result<u16, String> {
            p.parse::<u16>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad(&format!("{p:?} is not a port (1 to 65535)")))
        };
        let host_ip = match ip {
            Some(i) if !i.is_empty() => {
                super::ipv4::parse_ip(i).map_err(|e| bad(&format!("{i:?}: {e}")))?;
                Some(i.to_string())
            }
            _ => None,
        };
        Ok(PortMap {
            host_ip,
            host_port: port(hp)?,
            box_port: port(bp)?,
            proto,
        })
    }

    /// CNI's portMappings entry.
    pub fn cni(&self) -> Value {
        json!({"hostPort": self.host_port, "containerPort": self.box_port,
            "protocol": self.proto, "hostIP": self.host_ip.clone().unwrap_or_default()})
    }
}

impl std::fmt::Display for PortMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(i) = &self.host_ip {
            write!(f, "{i}:")?;
        }
        write!(f, "{}:{}/{}", self.host_port, self.box_port, self.proto)
    }
}

/// Each host port is free here: nothing listens on it, and no other
/// mapping of the list takes it twice. (Another box's mapping is a NAT
/// rule, not a socket: lifecycle checks the records of running boxes.)
pub fn check_free(ports: &[PortMap]) -> Result<(), String> {
    for (i, p) in ports.iter().enumerate() {
        if ports[..i]
            .iter()
            .any(|q| q.host_port == p.host_port && q.proto == p.proto)
        {
            return Err(format!(
                "-p {p}: host port {}/{} given twice",
                p.host_port, p.proto
            ));
        }
        let ip = p.host_ip.clone().unwrap_or_else(|| "0.0.0.0".into());
        let addr = format!("{ip}:{}", p.host_port);
        let res = if p.proto == "udp" {
            std::net::UdpSocket::bind(&addr).map(drop)
        } else {
            std::net::TcpListener::bind(&addr).map(drop)
        };
        match res {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                return Err(format!(
                    "-p {p}: host port {}/{} is already in use",
                    p.host_port, p.proto
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => {
                return Err(format!("-p {p}: {ip} is not an address of this host"))
            }
            // Permission (a low port without root) and the like: the
            // plugin will say.
            Err(_) => {}
        }
    }
    Ok(())
}

/// Removes the iptables rules (and the chains they jump to) whose comment
/// names the box: what the bridge and portmap plugins leave when DEL runs
/// without the box's namespace. Quietly does nothing without iptables.
pub fn sweep_iptables(id: &str) {
    let needle = format!("id: \\\"{id}\\\"");
    for table in ["nat", "filter"] {
        let Ok(out) = std::process::Command::new("iptables")
            .args(["-w", "-t", table, "-S"])
            .stderr(std::process::Stdio::null())
            .output()
        else {
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let mut chains = Vec::new();
        for line in text
            .lines()
            .filter(|l| l.starts_with("-A ") && l.contains(&needle))
        {
            let words = shell_words(&line[3..]);
            if let Some(j) = words.iter().position(|w| w == "-j") {
                if let Some(c) = words.get(j + 1).filter(|c| c.starts_with("CNI-")) {
                    chains.push(c.clone());
                }
            }
            let mut args = vec!["-w".to_string(), "-t".into(), table.into(), "-D".into()];
            args.extend(words);
            let _ = std::process::Command::new("iptables")
                .args(&args)
                .stderr(std::process::Stdio::null())
                .status();
        }
        chains.sort();
        chains.dedup();
        for c in chains {
            for op in ["-F", "-X"] {
                let _ = std::process::Command::new("iptables")
                    .args(["-w", "-t", table, op, &c])
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
    }
}

/// Splits an `iptables -S` rule into words (double quotes with \" inside).
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut it = s.chars().peekable();
    let mut any = false;
    while let Some(c) = it.next() {
        match c {
            '\\' if quoted => {
                if let Some(n) = it.next() {
                    cur.push(n);
                }
            }
            '"' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mappings() {
        let p = PortMap::parse("8080:80").unwrap();
        assert_eq!(
            (p.host_port, p.box_port, p.proto.as_str()),
            (8080, 80, "tcp")
        );
        let p = PortMap::parse("127.0.0.1:5353:53/udp").unwrap();
        assert_eq!(p.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(p.to_string(), "127.0.0.1:5353:53/udp");
        for bad in [
            "80",
            "0:80",
            "x:80",
            "1:2:3:4",
            "80:80/sctp",
            "300.1.1.1:80:80",
            "70000:80",
        ] {
            assert!(PortMap::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn splits_iptables_rules() {
        let w = shell_words(
            r#"POSTROUTING -s 10.0.0.2/32 -m comment --comment "name: \"w\" id: \"abc\"" -j CNI-x"#,
        );
        assert_eq!(w[5], "--comment");
        assert_eq!(w[6], r#"name: "w" id: "abc""#);
        assert_eq!(w.last().unwrap(), "CNI-x");
    }
}
