//! Networks: CNI conflists in a directory, `/etc/ward/net.d` as root and
//! `$XDG_CONFIG_HOME/ward/net.d` (~/.config/ward/net.d) without root, or
//! `--network-config-dir`. The default network, `ward` (bridge `ward0`), is
//! written on first use; `ward network create` writes named ones. Any
//! conflist placed there by hand is a network too: every CNI plugin works.
//!
//! Leases (host-local IPAM) live in `STORE/net/ipam/<network>/` for the
//! networks ward writes; they are on disk, so after a reboot they outlive
//! the boxes, and the next `ward network prune` frees them.

use super::cni::ConfList;
use super::ipv4::Net4;
use crate::store::lock_file;
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};

/// The default network's name; `--net bridge` means it.
pub const DEFAULT: &str = "ward";

pub fn validate_name(name: &str) -> Result<(), String> {
    crate::boxes::validate_name_of("network name", name, 64)
}

/// The conflist directory and where leases go.
#[derive(Clone, Debug)]
pub struct Networks {
    pub dir: PathBuf,
    pub ipam_dir: PathBuf,
    pub rootless: bool,
}

/// What `ward network create` was asked.
#[derive(Clone, Debug, Default)]
pub struct CreateOpts {
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub internal: bool,
    pub dns: bool,
    pub bridge: Option<String>,
}

impl Networks {
    pub fn new(store: &Path, rootless: bool, config_dir: Option<PathBuf>) -> Networks {
        let dir = config_dir.unwrap_or_else(|| {
            if rootless {
                let base = std::env::var_os("XDG_CONFIG_HOME")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
                    .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
                    .unwrap_or_else(|| PathBuf::from("/nonexistent"));
                base.join("ward/net.d")
            } else {
                PathBuf::from("/etc/ward/net.d")
            }
        });
        Networks {
            dir,
            ipam_dir: store.join("net/ipam"),
            rootless,
        }
    }

    fn files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(&self.dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.extension()
                            .is_some_and(|e| e == "conflist" || e == "conf" || e == "json")
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Every network, and the files that are not one (with why).
    pub fn list(&self) -> Vec<Result<ConfList, String>> {
        self.files().iter().map(|p| ConfList::load(p)).collect()
    }

    /// A network by name. `NAME.conflist` is read first, so a broken file
    /// of that name is reported as such rather than as an unknown network.
    pub fn find(&self, name: &str) -> Result<ConfList, String> {
        validate_name(name)?;
        let own = self.dir.join(format!("{name}.conflist"));
        if own.exists() {
            let c = ConfList::load(&own)?;
            if c.name == name {
                return Ok(c);
            }
        }
        for p in self.files() {
            if p == own {
                continue;
            }
            if let Ok(c) = ConfList::load(&p) {
                if c.name == name {
                    return Ok(c);
                }
            }
        }
        Err(format!(
            "network {name:?}: no such network (ward network ls; ward network create {name})"
        ))
    }

    /// The default network, written on first use.
    pub fn default_network(&self) -> Result<ConfList, String> {
        match self.find(DEFAULT) {
            Ok(c) => Ok(c),
            Err(e) if e.contains("no such network") => self.create(
                DEFAULT,
                &CreateOpts {
                    dns: false,
                    ..Default::default()
                },
            ),
            Err(e) => Err(e),
        }
    }

    /// Writes a new network's conflist: a bridge with NAT out (none with
    /// `internal`), host-local addresses from a subnet no other network or
    /// host route has, portmap, firewall, and dnsname for name resolution.
    pub fn create(&self, name: &str, o: &CreateOpts) -> Result<ConfList, String> {
        validate_name(name)?;
        if self.rootless {
            return Err(
                "networks need root: a box without root gets pasta's network (--net pasta)".into(),
            );
        }
        fs::create_dir_all(&self.dir).map_err(|e| format!("mkdir {}: {e}", self.dir.display()))?;
        let _lock = lock_file(&self.dir.join(".lock"), true)
            .map_err(|e| format!("lock {}: {e}", self.dir.display()))?;
        if self.find(name).is_ok() {
            return Err(format!("network {name:?} exists already"));
        }
        let mut taken: Vec<(String, Net4)> = Vec::new();
        let mut bridges: Vec<String> = Vec::new();
        for c in self.list().into_iter().flatten() {
            for s in c.subnets() {
                if let Ok(n) = Net4::parse(&s) {
                    taken.push((format!("network {}", c.name), n));
                }
            }
            if let Some(b) = c.bridge().and_then(|b| b["bridge"].as_str()) {
                bridges.push(b.to_string());
            }
        }
        for (dev, n) in super::ipv4::host_routes() {
            taken.push((format!("the host's route on {dev}"), n));
        }
        let subnet = match &o.subnet {
            Some(s) => {
                let n = Net4::parse(s).map_err(|e| format!("--subnet {s:?}: {e}"))?;
                if n.prefix > 30 {
                    return Err(format!("--subnet {s}: too small for boxes (at most /30)"));
                }
                if let Some((who, t)) = taken.iter().find(|(_, t)| t.overlaps(&n)) {
                    return Err(format!("--subnet {n}: overlaps {who} ({t})"));
                }
                n
            }
            None => (0..=255u32)
                .map(|i| Net4::new(0x0a5a_0000 | (i << 8), 24))
                .find(|n| !taken.iter().any(|(_, t)| t.overlaps(n)))
                .ok_or("no free subnet in 10.90.0.0/16: give one with --subnet")?,
        };
        let gateway = match &o.gateway {
            Some(g) => {
                let ip = super::ipv4::parse_ip(g).map_err(|e| format!("--gateway {g:?}: {e}"))?;
                if !subnet.contains(ip) || ip == subnet.addr || ip == subnet.broadcast() {
                    return Err(format!("--gateway {g}: not a host address of {subnet}"));
                }
                ip
            }
            None => subnet.addr + 1,
        };
        let bridge = match &o.bridge {
            Some(b) => {
                super::validate_ifname(b)?;
                b.clone()
            }
            None if name == DEFAULT => "ward0".to_string(),
            None => (1..)
                .map(|i| format!("ward{i}"))
                .find(|b| !bridges.contains(b))
                .expect("an unused bridge name"),
        };
        if bridges.contains(&bridge) {
            return Err(format!("--bridge {bridge}: another network uses it"));
        }
        let doc = conflist_doc(
            name,
            &bridge,
            &subnet,
            gateway,
            o.internal,
            o.dns,
            &self.ipam_dir,
        );
        let path = self.dir.join(format!("{name}.conflist"));
        let data = serde_json::to_vec_pretty(&doc).expect("a conflist serializes");
        let tmp = self.dir.join(format!(".{name}.conflist.tmp"));
        fs::write(&tmp, &data)
            .and_then(|_| fs::rename(&tmp, &path))
            .map_err(|e| {
                let _ = fs::remove_file(&tmp);
                format!("write {}: {e}", path.display())
            })?;
        ConfList::from_value(doc, &path)
    }
}

/// The conflist `ward network create` writes (and the default network's):
/// a bridge with NAT out (none when `internal`), host-local addresses,
/// portmap, firewall, and dnsname when `dns`.
pub fn conflist_doc(
    name: &str,
    bridge: &str,
    subnet: &Net4,
    gateway: u32,
    internal: bool,
    dns: bool,
    ipam_dir: &Path,
) -> Value {
    let routes = if internal {
        json!([])
    } else {
        json!([{"dst": "0.0.0.0/0"}])
    };
    let mut plugins = vec![
        json!({
            "type": "bridge",
            "bridge": bridge,
            "isGateway": true,
            "ipMasq": !internal,
            "hairpinMode": true,
            "ipam": {
                "type": "host-local",
                "routes": routes,
                "ranges": [[{"subnet": subnet.to_string(),
                             "gateway": super::ipv4::fmt_ip(gateway)}]],
                "dataDir": ipam_dir,
            }
        }),
        json!({"type": "portmap", "capabilities": {"portMappings": true}}),
        json!({"type": "firewall", "backend": "iptables"}),
    ];
    if dns {
        plugins.push(
            json!({"type": "dnsname", "domainName": format!("{name}.ward"),
            "capabilities": {"aliases": true}}),
        );
    }
    json!({
        "cniVersion": "1.0.0",
        "name": name,
        "plugins": plugins,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("ward").is_ok());
        assert!(validate_name("my-net.1").is_ok());
        for bad in ["", "-x", "a/b", "..", "a b", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
