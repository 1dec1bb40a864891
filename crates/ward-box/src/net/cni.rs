//! CNI: the plugin interface (the Container Network Interface spec,
//! versions 0.4.0 and 1.0.0). A network is a conflist: a name, a CNI
//! version and a chain of plugins. ward runs each plugin binary (found in
//! `CNI_PATH`: /usr/lib/cni, Debian's containernetworking-plugins, then
//! /opt/cni/bin) with the command in its environment and the plugin's
//! configuration on stdin:
//!
//! - ADD: in order, each plugin getting the previous one's result as
//!   `prevResult`; the last result is the attachment's, and is cached in
//!   the box's `net.json` (the spec's "cache the result").
//! - DEL: in reverse order, each with the cached result as `prevResult`;
//!   a plugin's error is reported but the rest still run (DEL must free
//!   what it can). Run with the box's pinned network namespace while it
//!   exists: the bridge plugin removes its NAT rules only when it can read
//!   the addresses there.
//! - CHECK: in order, with the cached result.
//!
//! `runtimeConfig` is given to a plugin for each capability it declares
//! (`portMappings`, `bandwidth`, `aliases`), as libcni does.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where plugins are looked for when CNI_PATH is not set.
pub const DEFAULT_PATH: &[&str] = &["/usr/lib/cni", "/opt/cni/bin"];

/// A network: a conflist as read from its file, validated.
#[derive(Clone, Debug)]
pub struct ConfList {
    pub name: String,
    pub cni_version: String,
    pub plugins: Vec<Value>,
    /// The whole document (kept as written, for `ward network inspect`).
    pub raw: Value,
    pub path: PathBuf,
}

/// One network attachment of a box: what DEL needs, written before ADD.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Attachment {
    pub network: String,
    pub ifname: String,
    /// The conflist as it was at ADD (DEL uses it even if the file
    /// changed or is gone since).
    pub conflist: Value,
    pub runtime_config: Value,
    pub cni_args: String,
    /// The final result of ADD; None until ADD succeeded.
    #[serde(default)]
    pub result: Option<Value>,
}

impl Attachment {
    /// The box's addresses on this network (without prefix length), from
    /// the result.
    pub fn addresses(&self) -> Vec<String> {
        let Some(r) = &self.result else {
            return vec![];
        };
        r["ips"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|ip| ip["address"].as_str())
                    .map(|s| s.split('/').next().unwrap_or(s).to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The host side of the box's veth: the result's interface that is
    /// not in a sandbox and not the bridge (the bridge plugin lists the
    /// bridge first, the host veth second).
    pub fn host_veth(&self) -> Option<String> {
        let r = self.result.as_ref()?;
        let ifaces = r["interfaces"].as_array()?;
        let bridge = self.conflist["plugins"][0]["bridge"].as_str();
        ifaces
            .iter()
            .filter(|i| i["sandbox"].as_str().unwrap_or("").is_empty())
            .filter_map(|i| i["name"].as_str())
            .find(|n| Some(*n) != bridge)
            .map(str::to_string)
    }
}

fn bad(path: &Path, why: impl std::fmt::Display) -> String {
    format!("network config {}: {why}", path.display())
}

impl ConfList {
    /// Reads and checks a conflist (`.conflist`) or a single plugin's
    /// config (`.conf`, `.json`: a chain of one, as libcni reads them).
    pub fn load(path: &Path) -> Result<ConfList, String> {
        let data = std::fs::read(path).map_err(|e| bad(path, e))?;
        if data.len() > 1 << 20 {
            return Err(bad(path, "larger than 1 MiB"));
        }
        let v: Value =
            serde_json::from_slice(&data).map_err(|e| bad(path, format!("not valid JSON: {e}")))?;
        Self::from_value(v, path)
    }

    pub fn from_value(v: Value, path: &Path) -> Result<ConfList, String> {
        let obj = v
            .as_object()
            .ok_or_else(|| bad(path, "not a JSON object"))?;
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(path, "no \"name\""))?
            .to_string();
        super::networks::validate_name(&name).map_err(|e| bad(path, e))?;
        let cni_version = obj
            .get("cniVersion")
            .and_then(Value::as_str)
            .unwrap_or("0.4.0")
            .to_string();
        let plugins: Vec<Value> = match obj.get("plugins") {
            Some(Value::Array(p)) => p.clone(),
            Some(_) => return Err(bad(path, "\"plugins\" is not a list")),
            // A single plugin's .conf.
            None if obj.contains_key("type") => {
                let mut one = obj.clone();
                one.remove("name");
                one.remove("cniVersion");
                vec![Value::Object(one)]
            }
            None => return Err(bad(path, "no \"plugins\"")),
        };
        if plugins.is_empty() {
            return Err(bad(path, "an empty plugin list"));
        }
        for (i, p) in plugins.iter().enumerate() {
            let t = p["type"]
                .as_str()
                .ok_or_else(|| bad(path, format!("plugin {i} has no \"type\"")))?;
            if t.is_empty() || t.contains('/') || t.starts_with('.') {
                return Err(bad(path, format!("plugin type {t:?}: not a plugin name")));
            }
        }
        let raw = if obj.contains_key("plugins") {
            v.clone()
        } else {
            json!({"cniVersion": cni_version, "name": name, "plugins": plugins})
        };
        Ok(ConfList {
            name,
            cni_version,
            plugins,
            raw,
            path: path.to_path_buf(),
        })
    }

    /// The first plugin of type `bridge`, if any.
    pub fn bridge(&self) -> Option<&Value> {
        self.plugins.iter().find(|p| p["type"] == "bridge")
    }

    /// The IPv4 subnets the network's IPAM hands out (host-local ranges).
    pub fn subnets(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.plugins {
            let ipam = &p["ipam"];
            if let Some(s) = ipam["subnet"].as_str() {
                out.push(s.to_string());
            }
            for set in ipam["ranges"].as_array().into_iter().flatten() {
                for r in set.as_array().into_iter().flatten() {
                    if let Some(s) = r["subnet"].as_str() {
                        out.push(s.to_string());
                    }
                }
            }
        }
        out
    }

    /// The host-local IPAM's lease directory for this network.
    pub fn lease_dir(&self) -> Option<PathBuf> {
        let p = self
            .plugins
            .iter()
            .find(|p| p["ipam"]["type"] == "host-local")?;
        let base = p["ipam"]["dataDir"]
            .as_str()
            .unwrap_or("/var/lib/cni/networks");
        Some(Path::new(base).join(&self.name))
    }

    /// Every plugin binary is there (checked before anything is made).
    pub fn check_plugins(&self, cni_path: &[PathBuf]) -> Result<(), String> {
        for p in &self.plugins {
            let t = p["type"].as_str().unwrap_or_default();
            find_plugin(t, cni_path).map_err(|e| format!("network {}: {e}", self.name))?;
        }
        Ok(())
    }
}

/// The plugin directories: CNI_PATH, else the defaults.
pub fn cni_path() -> Vec<PathBuf> {
    match std::env::var_os("CNI_PATH").filter(|v| !v.is_empty()) {
        Some(p) => std::env::split_paths(&p).collect(),
        None => DEFAULT_PATH.iter().map(PathBuf::from).collect(),
    }
}

pub fn find_plugin(t: &str, cni_path: &[PathBuf]) -> Result<PathBuf, String> {
    for d in cni_path {
        let p = d.join(t);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(format!(
        "CNI plugin {t:?} not found in {} (Debian's containernetworking-plugins has the reference plugins)",
        cni_path
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":")
    ))
}

/// What one command needs besides the plugin's config.
pub struct Invocation<'a> {
    pub command: &'a str,
    pub container_id: &'a str,
    pub netns: &'a str,
    pub ifname: &'a str,
    pub args: &'a str,
    pub cni_path: &'a [PathBuf],
}

/// One plugin's stdin: its config, with the network's name and version,
/// the runtimeConfig for the capabilities it declares, and prevResult.
fn plugin_config(
    list: &Value,
    plugin: &Value,
    runtime_config: &Value,
    prev: Option<&Value>,
) -> Value {
    let mut c: Map<String, Value> = plugin.as_object().cloned().unwrap_or_default();
    c.insert("name".into(), list["name"].clone());
    c.insert("cniVersion".into(), list["cniVersion"].clone());
    let mut rc = Map::new();
    if let Some(caps) = plugin["capabilities"].as_object() {
        for (cap, on) in caps {
            if on.as_bool() == Some(true) {
                if let Some(v) = runtime_config.get(cap) {
                    rc.insert(cap.clone(), v.clone());
                }
            }
        }
    }
    if !rc.is_empty() {
        c.insert("runtimeConfig".into(), Value::Object(rc));
    }
    if let Some(p) = prev {
        c.insert("prevResult".into(), p.clone());
    }
    Value::Object(c)
}

/// Runs one plugin; its result on success, its error message otherwise.
fn exec(inv: &Invocation<'_>, config: &Value) -> Result<Value, String> {
    let t = config["type"].as_str().unwrap_or_default();
    let bin = find_plugin(t, inv.cni_path)?;
    let path = std::env::join_paths(inv.cni_path).unwrap_or_default();
    let mut child = Command::new(&bin)
        .env_clear()
        .env("CNI_COMMAND", inv.command)
        .env("CNI_CONTAINERID", inv.container_id)
        .env("CNI_NETNS", inv.netns)
        .env("CNI_IFNAME", inv.ifname)
        .env("CNI_ARGS", inv.args)
        .env("CNI_PATH", &path)
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("run CNI plugin {}: {e}", bin.display()))?;
    let data = serde_json::to_vec(config).expect("configs serialize");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&data);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("CNI plugin {t}: {e}"))?;
    if out.status.success() {
        if out.stdout.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        return serde_json::from_slice(&out.stdout).map_err(|e| {
            format!(
                "CNI plugin {t} {}: its result is not JSON: {e}",
                inv.command
            )
        });
    }
    // The spec's error: {"code": N, "msg": "...", "details": "..."}.
    let err: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let msg = match (err["msg"].as_str(), err["details"].as_str()) {
        (Some(m), Some(d)) if !d.is_empty() => format!("{m}: {d}"),
        (Some(m), _) => m.to_string(),
        _ => {
            let e = String::from_utf8_lossy(&out.stderr);
            let line = e.lines().last().unwrap_or("").trim().to_string();
            if line.is_empty() {
                format!("exited with {}", out.status)
            } else {
                line
            }
        }
    };
    Err(format!(
        "CNI plugin {t} {}: {}",
        inv.command,
        msg.lines().next().unwrap_or("")
    ))
}

/// ADD through the chain; the final result.
pub fn add(att: &Attachment, inv: &Invocation<'_>) -> Result<Value, String> {
    let plugins = att.conflist["plugins"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut prev: Option<Value> = None;
    for p in &plugins {
        let c = plugin_config(&att.conflist, p, &att.runtime_config, prev.as_ref());
        let r = exec(inv, &c)?;
        if !r.is_null() {
            prev = Some(r);
        }
    }
    prev.ok_or_else(|| format!("network {}: no plugin returned a result", att.network))
}

/// DEL through the chain, last plugin first. Every plugin runs; the first
/// error is returned.
pub fn del(att: &Attachment, inv: &Invocation<'_>) -> Result<(), String> {
    let plugins = att.conflist["plugins"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut first = None;
    for p in plugins.iter().rev() {
        let c = plugin_config(&att.conflist, p, &att.runtime_config, att.result.as_ref());
        if let Err(e) = exec(inv, &c) {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// One plugin of the chain (the first of type `typ`) on its own, with
/// `prev` as its prevResult; its result (or `prev` if it printed none).
pub fn run_one(
    att: &Attachment,
    inv: &Invocation<'_>,
    typ: &str,
    prev: Option<&Value>,
) -> Result<Value, String> {
    let plugins = att.conflist["plugins"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let p = plugins
        .iter()
        .find(|p| p["type"] == typ)
        .ok_or_else(|| format!("network {}: no {typ} plugin", att.network))?;
    let c = plugin_config(&att.conflist, p, &att.runtime_config, prev);
    let r = exec(inv, &c)?;
    Ok(if r.is_null() {
        prev.cloned().unwrap_or(Value::Null)
    } else {
        r
    })
}

/// CHECK through the chain (CNI 0.4.0 and later).
pub fn check(att: &Attachment, inv: &Invocation<'_>) -> Result<(), String> {
    let plugins = att.conflist["plugins"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for p in &plugins {
        let c = plugin_config(&att.conflist, p, &att.runtime_config, att.result.as_ref());
        exec(inv, &c)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_config_follows_capabilities() {
        let list = json!({"name": "n", "cniVersion": "1.0.0"});
        let rc = json!({"portMappings": [{"hostPort": 8080}], "bandwidth": {"ingressRate": 1}});
        let p = json!({"type": "portmap", "capabilities": {"portMappings": true}});
        let c = plugin_config(&list, &p, &rc, None);
        assert_eq!(c["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);
        assert!(c["runtimeConfig"].get("bandwidth").is_none());
        assert_eq!(c["name"], "n");
        let b = json!({"type": "bridge"});
        let c = plugin_config(&list, &b, &rc, Some(&json!({"ips": []})));
        assert!(c.get("runtimeConfig").is_none());
        assert!(c["prevResult"]["ips"].is_array());
    }

    #[test]
    fn conflists_are_checked() {
        let p = Path::new("/x.conflist");
        assert!(ConfList::from_value(json!([]), p).is_err());
        assert!(ConfList::from_value(json!({"name": "a"}), p).is_err());
        assert!(ConfList::from_value(json!({"name": "a", "plugins": []}), p).is_err());
        assert!(
            ConfList::from_value(json!({"name": "a", "plugins": [{"type": "../x"}]}), p).is_err()
        );
        let c = ConfList::from_value(
            json!({"name": "a", "cniVersion": "1.0.0", "type": "bridge", "bridge": "b0",
                "ipam": {"type": "host-local", "subnet": "10.1.0.0/24"}}),
            p,
        )
        .unwrap();
        assert_eq!(c.plugins.len(), 1);
        assert_eq!(c.subnets(), vec!["10.1.0.0/24"]);
        assert_eq!(c.lease_dir().unwrap(), Path::new("/var/lib/cni/networks/a"));
    }

    #[test]
    fn the_host_veth_is_the_unsandboxed_non_bridge() {
        let att = Attachment {
            network: "n".into(),
            ifname: "eth0".into(),
            conflist: json!({"plugins": [{"type": "bridge", "bridge": "ward0"}]}),
            runtime_config: json!({}),
            cni_args: String::new(),
            result: Some(json!({"interfaces": [{"name": "ward0"}, {"name": "veth1"},
                {"name": "eth0", "sandbox": "/run/netns/x"}],
                "ips": [{"address": "10.0.0.2/24", "interface": 2}]})),
        };
        assert_eq!(att.host_veth().as_deref(), Some("veth1"));
        assert_eq!(att.addresses(), vec!["10.0.0.2"]);
    }
}
