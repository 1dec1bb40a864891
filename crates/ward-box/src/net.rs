//! A box's network. This issue gives boxes `none` (a network namespace of
//! their own with only `lo`) and `host` (the host's). The seam for the
//! network issue: a mode parsed from `--net`, recorded in the box's record,
//! applied to the runtime spec, and `setup`/`teardown` called at the two
//! points of the lifecycle where a bridge, CNI or pasta would plug in
//! (between the runtime's create and start, with the init's netns; after
//! the box's exit, before its record is removed).

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetMode {
    /// Its own network namespace, with only the loopback device.
    None,
    /// The host's network namespace.
    Host,
}

impl std::str::FromStr for NetMode {
    type Err = String;
    fn from_str(s: &str) -> Result<NetMode, String> {
        match s {
            "none" => Ok(NetMode::None),
            "host" => Ok(NetMode::Host),
            other => Err(format!(
                "--net {other:?}: unknown network mode (this ward supports none and host)"
            )),
        }
    }
}

impl std::fmt::Display for NetMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NetMode::None => "none",
            NetMode::Host => "host",
        })
    }
}

impl NetMode {
    /// Adjusts the runtime spec: `host` drops the network namespace.
    pub fn apply(&self, spec: &mut Value) {
        if *self == NetMode::Host {
            if let Some(ns) = spec["linux"]["namespaces"].as_array_mut() {
                ns.retain(|n| n["type"] != "network");
            }
        } else if let Some(ns) = spec["linux"]["namespaces"].as_array_mut() {
            if !ns.iter().any(|n| n["type"] == "network") {
                ns.push(serde_json::json!({"type": "network"}));
            }
        }
    }

    /// Called once the box's init exists (its pid given) and before its
    /// program starts. Nothing to do for none and host.
    pub fn setup(&self, _box_id: &str, _init_pid: i32) -> Result<(), String> {
        Ok(())
    }

    /// Called after the box's exit, and by `rm` of a box whose supervisor
    /// died: must be idempotent. Nothing to do for none and host.
    pub fn teardown(&self, _box_id: &str) -> Result<(), String> {
        Ok(())
    }
}
