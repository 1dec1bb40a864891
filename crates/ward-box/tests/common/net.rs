//! Helpers of the box network tests (network.rs, rate.rs): a busybox
//! image, what the test's host namespace holds, waiting for it to be
//! clean.

use super::*;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub fn busybox(env: &Env, name: &str) {
    let mut img = Image::busybox();
    img.config = json!({"Cmd": ["sh"], "Env": ["PATH=/bin"]});
    let layout = env.dir.join(format!("layout-{name}"));
    img.write_layout(&layout, "t");
    env.wb(&["image", "import", "-q", layout.to_str().unwrap(), name])
        .assert_ok();
}

pub fn setup(name: &str) -> Option<Env> {
    if skip_unless_root("box networking") {
        return None;
    }
    let env = Env::new(name);
    busybox(&env, "bb");
    Some(env)
}

static NET_SEQ: AtomicUsize = AtomicUsize::new(0);

/// A network name of this test process's own: dnsname keeps its dnsmasq
/// per network name under /run/containers/cni/dnsname.
pub fn net_name() -> String {
    format!(
        "wt{}n{}",
        std::process::id() % 100_000,
        NET_SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn inspect_net(env: &Env, b: &str) -> Value {
    let out = env.wb(&["box", "inspect", b]);
    out.assert_ok();
    serde_json::from_str::<Value>(&out.stdout).unwrap()[0]["network"].clone()
}

/// What the host namespace holds that a box's network could leave: veths,
/// iptables rules naming a box, pinned namespaces, leases.
#[derive(Debug, PartialEq)]
pub struct HostView {
    pub veths: Vec<String>,
    pub rules: Vec<String>,
    pub pins: Vec<String>,
    pub leases: Vec<String>,
}

pub fn host_view(env: &Env, ids: &[String]) -> HostView {
    let links = env.in_host("ip", &["-o", "link", "show", "type", "veth"]);
    links.assert_ok();
    let veths = links
        .stdout
        .lines()
        .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        .collect();
    let mut rules = Vec::new();
    for (prog, args) in [
        ("iptables-save", &[][..]),
        ("nft", &["list", "ruleset"][..]),
    ] {
        if !Path::new("/usr/sbin").join(prog).exists() {
            continue;
        }
        let out = env.in_host(prog, args);
        for l in out.stdout.lines() {
            if ids.iter().any(|id| l.contains(id.as_str()))
                || (l.starts_with("-A") && l.contains("10.9"))
            {
                rules.push(l.to_string());
            }
        }
    }
    let pins = list(&env.run.join("netns"));
    let mut leases = Vec::new();
    for net in list(&env.store.join("net/ipam")) {
        for f in list(&env.store.join("net/ipam").join(&net)) {
            if f != "lock" && !f.starts_with("last_reserved_ip") {
                leases.push(format!("{net}/{f}"));
            }
        }
    }
    HostView {
        veths,
        rules,
        pins,
        leases,
    }
}

#[track_caller]
pub fn assert_host_clean(env: &Env, ids: &[String]) {
    let mut last = None;
    let clean = wait_until(Duration::from_secs(10), || {
        let v = host_view(env, ids);
        let ok =
            v.veths.is_empty() && v.rules.is_empty() && v.pins.is_empty() && v.leases.is_empty();
        last = Some(v);
        ok
    });
    assert!(clean, "the host namespace still holds: {last:?}");
}

pub fn box_id(env: &Env, name: &str) -> String {
    let out = env.wb(&["box", "inspect", name]);
    out.assert_ok();
    serde_json::from_str::<Value>(&out.stdout).unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}
