//! `ward network ...` and the network side of `ward box update`, `ls` and
//! `inspect`.

use super::lifecycle::{net_teardown, Ctx};
use super::{BoxRecord, Root};
use crate::net::cni::{self, Attachment, ConfList};
use crate::net::{self as net, netns, rate, NetMode, RateMode};
use crate::progress::human;
use serde_json::{json, Value};
use std::fs;
use std::path::Path;

/// Whether a box's network is in use: its container exists in the
/// runtime, or someone (its supervisor, a foreground CLI) is in charge.
fn live(ctx: &Ctx, id: &str) -> bool {
    ctx.rt
        .state(id)
        .is_some_and(|s| s.status == "running" || s.status == "created" || s.status == "paused")
        || ctx.boxes.try_lock(id).is_none()
}

/// The network facts of a box for `ls` and `inspect`.
pub fn box_net_json(ctx: &Ctx, rec: &BoxRecord) -> Value {
    let dir = ctx.boxes.dir(&rec.id);
    let st = ctx.boxnet(rec, &dir).load();
    let atts = st
        .as_ref()
        .map(|s| s.attachments.clone())
        .unwrap_or_default();
    let addrs: Vec<String> = atts.iter().flat_map(Attachment::addresses).collect();
    let veth = atts.last().and_then(Attachment::host_veth);
    let o = &rec.netopts;
    let (mut bytes_in, mut bytes_out) = (Value::Null, Value::Null);
    if let Some((i, out)) = veth.as_deref().and_then(rate::veth_bytes) {
        bytes_in = json!(i);
        bytes_out = json!(out);
    }
    if o.rate_mode == RateMode::Cgroup {
        if let Some(b) = st
            .as_ref()
            .and_then(|s| s.cgroup.as_ref())
            .and_then(|cg| rate::cgroup_bytes(cg))
        {
            bytes_out = json!(b);
        }
    }
    json!({
        "mode": rec.net.to_string(),
        "addresses": addrs,
        "ports": o.ports.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "hostname": o.hostname,
        "domainname": o.domainname,
        "dns": o.dns,
        "dnsSearch": o.dns_search,
        "rateIn": o.rate_in,
        "rateOut": o.rate_out,
        "rateMode": o.rate_mode,
        "bytesIn": bytes_in,
        "bytesOut": bytes_out,
        "hostVeth": veth,
        "netns": st.and_then(|s| s.netns),
    })
}

/// `ls`'s NET column: the mode and the address.
pub fn ls_net(v: &Value) -> String {
    let mode = v["mode"].as_str().unwrap_or("");
    match v["addresses"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(Value::as_str)
    {
        Some(a) => format!("{mode} {a}"),
        None => mode.to_string(),
    }
}

/// `ls`'s RATE column: `in/out` caps, and the bytes counted.
pub fn ls_rate(v: &Value) -> String {
    let r = |k: &str| {
        v[k].as_u64()
            .map(rate::human_rate)
            .unwrap_or_else(|| "-".into())
    };
    let b = |k: &str| v[k].as_u64().map(human).unwrap_or_else(|| "-".into());
    if v["rateIn"].is_null()
        && v["rateOut"].is_null()
        && v["bytesIn"].is_null()
        && v["bytesOut"].is_null()
    {
        return "-".into();
    }
    format!(
        "{}/{} ({}/{})",
        r("rateIn"),
        r("rateOut"),
        b("bytesIn"),
        b("bytesOut")
    )
}

/// `ward box update --net-rate...`: `set_in`/`set_out` None keep that
/// direction; Some(None) removes its cap.
pub fn update_rate(
    ctx: &Ctx,
    what: &str,
    set_in: Option<Option<u64>>,
    set_out: Option<Option<u64>>,
) -> Result<(), String> {
    let id = ctx.boxes.find(what)?;
    let mut rec = ctx.boxes.record(&id)?;
    if ctx
        .rt
        .state(&id)
        .is_none_or(|s| s.status != "running" && s.status != "paused")
    {
        return Err(format!("{what}: the box is not running"));
    }
    let dir = ctx.boxes.dir(&id);
    let new_in = set_in.unwrap_or(rec.netopts.rate_in);
    let new_out = set_out.unwrap_or(rec.netopts.rate_out);
    let b = ctx.boxnet(&rec, &dir);
    let mut st = b.load().unwrap_or_default();
    match rec.netopts.rate_mode {
        RateMode::Veth => {
            let veth = st
                .attachments
                .last()
                .and_then(Attachment::host_veth)
                .ok_or_else(|| {
                    format!(
                        "--net-rate: box {} has no veth to shape (--net {}); its cap can only be set at run, with --net-rate-mode cgroup",
                        rec.name, rec.net
                    )
                })?;
            let ifb = rate::ifb_name(&id);
            if new_out.is_some() {
                st.ifb = Some(ifb.clone());
                save_state(&dir, &st)?;
            }
            rate::veth_apply(&veth, &ifb, new_in, new_out)?;
        }
        RateMode::Cgroup => {
            if new_in.is_some() {
                return Err("--net-rate-mode cgroup caps egress only: use --net-rate-out".into());
            }
            let cg = match &st.cgroup {
                Some(c) => c.clone(),
                None => {
                    let cg = rate::cgroup_v2_mount()?.join(format!("ward-{id}"));
                    if !cg.is_dir() {
                        return Err(format!("{}: the box's cgroup is not there", cg.display()));
                    }
                    st.cgroup = Some(cg.clone());
                    save_state(&dir, &st)?;
                    cg
                }
            };
            match rate::cgroup_update(&cg, new_out.unwrap_or(0)) {
                Ok(()) => {}
                Err(_) => rate::cgroup_apply(&cg, new_out.unwrap_or(0))?,
            }
        }
    }
    rec.netopts.rate_in = new_in;
    rec.netopts.rate_out = new_out;
    let data = serde_json::to_vec_pretty(&rec).expect("records serialize");
    crate::store::write_file(&dir, &dir.join("box.json"), &data, false).map_err(|e| e.to_string())
}

fn save_state(dir: &Path, st: &net::NetState) -> Result<(), String> {
    let data = serde_json::to_vec_pretty(st).expect("net state serializes");
    crate::store::write_file(dir, &dir.join("net.json"), &data, false).map_err(|e| e.to_string())
}

/// The boxes on a network (by record).
fn boxes_on(ctx: &Ctx, network: &str) -> Vec<BoxRecord> {
    ctx.boxes
        .ids()
        .iter()
        .filter_map(|id| ctx.boxes.record(id).ok())
        .filter(|r| matches!(&r.net, NetMode::Network(n) if n == network))
        .collect()
}

pub fn network_ls(ctx: &Ctx, json_out: bool, quiet: bool) -> Result<(), String> {
    let all = ctx.networks.list();
    if quiet {
        for n in all.iter().flatten() {
            println!("{}", n.name);
        }
        return Ok(());
    }
    let rows: Vec<Value> = all
        .iter()
        .map(|r| match r {
            Ok(c) => json!({
                "name": c.name,
                "plugins": c.plugins.iter().filter_map(|p| p["type"].as_str()).collect::<Vec<_>>(),
                "subnets": c.subnets(),
                "bridge": c.bridge().and_then(|b| b["bridge"].as_str()),
                "boxes": boxes_on(ctx, &c.name).iter().filter(|r| live(ctx, &r.id)).count(),
                "path": c.path,
            }),
            Err(e) => json!({"error": e}),
        })
        .collect();
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(());
    }
    println!(
        "{:<16}  {:<18}  {:<8}  {:>5}  PLUGINS",
        "NAME", "SUBNET", "BRIDGE", "BOXES"
    );
    for r in rows {
        if let Some(e) = r["error"].as_str() {
            println!("(broken)          {e}");
            continue;
        }
        let plugins: Vec<&str> = r["plugins"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let subnets: Vec<&str> = r["subnets"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        println!(
            "{:<16}  {:<18}  {:<8}  {:>5}  {}",
            r["name"].as_str().unwrap_or(""),
            subnets.join(","),
            r["bridge"].as_str().unwrap_or("-"),
            r["boxes"],
            plugins.join(",")
        );
    }
    Ok(())
}

pub fn network_inspect(ctx: &Ctx, names: &[String]) -> Result<(), String> {
    let mut out = Vec::new();
    for n in names {
        let c = ctx.networks.find(n)?;
        let boxes: Vec<Value> = boxes_on(ctx, &c.name)
            .iter()
            .filter(|r| live(ctx, &r.id))
            .map(|r| {
                let v = box_net_json(ctx, r);
                json!({"name": r.name, "id": r.id, "addresses": v["addresses"]})
            })
            .collect();
        out.push(json!({"name": c.name, "path": c.path, "conflist": c.raw, "boxes": boxes}));
    }
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Ok(())
}

pub fn network_rm(ctx: &Ctx, name: &str, force: bool) -> Result<(), String> {
    let c = ctx.networks.find(name)?;
    let users: Vec<BoxRecord> = boxes_on(ctx, &c.name)
        .into_iter()
        .filter(|r| live(ctx, &r.id) || ctx.boxes.dir(&r.id).join("net.json").exists())
        .collect();
    if !users.is_empty() {
        if !force {
            return Err(format!(
                "in use by box(es) {}: remove them first, or use --force",
                users
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for r in &users {
            super::lifecycle::rm(ctx, &r.id, true)?;
        }
    }
    if c.path.parent() != Some(ctx.networks.dir.as_path()) {
        return Err(format!(
            "{}: not in {}",
            c.path.display(),
            ctx.networks.dir.display()
        ));
    }
    fs::remove_file(&c.path).map_err(|e| format!("remove {}: {e}", c.path.display()))?;
    if let Some(b) = c.bridge().and_then(|b| b["bridge"].as_str()) {
        rate::del_link(b);
    }
    if let Some(l) = c.lease_dir() {
        if l.starts_with(&ctx.networks.ipam_dir) {
            crate::store::remove_all(&l);
        }
    }
    Ok(())
}

/// A lease file of host-local: named by the address, holding the
/// container ID and the interface.
fn leases(c: &ConfList) -> Vec<(String, String)> {
    let Some(dir) = c.lease_dir() else {
        return vec![];
    };
    fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.parse::<std::net::IpAddr>().is_err() {
                        return None;
                    }
                    let text = fs::read_to_string(e.path()).ok()?;
                    let id = text.lines().next()?.trim().to_string();
                    Some((name, id))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `ward network check [BOX...]`: CNI's CHECK on every network attachment
/// of the boxes (all that have a network, if none is named), with the
/// box's pinned namespace. A line per attachment, and whether it passed;
/// a box that is not running is an error.
pub fn network_check(ctx: &Ctx, names: &[String]) -> Result<Vec<(bool, String)>, String> {
    let ids: Vec<String> = if names.is_empty() {
        ctx.boxes
            .ids()
            .into_iter()
            .filter(|id| ctx.boxes.dir(id).join("net.json").exists() && live(ctx, id))
            .collect()
    } else {
        names
            .iter()
            .map(|n| ctx.boxes.find(n))
            .collect::<Result<_, _>>()?
    };
    let path = cni::cni_path();
    let mut out = Vec::new();
    for id in ids {
        let rec = ctx.boxes.record(&id)?;
        let dir = ctx.boxes.dir(&id);
        let b = ctx.boxnet(&rec, &dir);
        let st = b.load().unwrap_or_default();
        let pin = st.netns.as_ref().filter(|p| netns::is_pinned(p));
        let (Some(pin), false) = (pin, st.attachments.is_empty()) else {
            if !names.is_empty() {
                return Err(format!(
                    "box {}: no network of ward's to check (not running, or --net {})",
                    rec.name, rec.net
                ));
            }
            continue;
        };
        let pin_s = pin.to_string_lossy().into_owned();
        for att in &st.attachments {
            let inv = cni::Invocation {
                command: "CHECK",
                container_id: &id,
                netns: &pin_s,
                ifname: &att.ifname,
                args: &att.cni_args,
                cni_path: &path,
            };
            match cni::check(att, &inv) {
                Ok(()) => out.push((
                    true,
                    format!("box {}: network {}: ok", rec.name, att.network),
                )),
                Err(e) => out.push((
                    false,
                    format!("box {}: network {}: {e}", rec.name, att.network),
                )),
            }
        }
    }
    Ok(out)
}

/// `ward network prune`: what crashes left. Returns a line per thing done.
pub fn network_prune(ctx: &Ctx) -> Result<Vec<String>, String> {
    let mut done = Vec::new();
    // 1. Boxes whose network is still set up but nobody runs them.
    for id in ctx.boxes.ids() {
        let dir = ctx.boxes.dir(&id);
        if !dir.join("net.json").exists() || live(ctx, &id) {
            continue;
        }
        let Ok(rec) = ctx.boxes.record(&id) else {
            continue;
        };
        net_teardown(ctx, &rec);
        done.push(format!("box {}: its network torn down", rec.name));
    }
    // 2. Leases of boxes that are gone (a reboot, a removed box dir).
    let path = cni::cni_path();
    for c in ctx.networks.list().into_iter().flatten() {
        for (ip, id) in leases(&c) {
            let held = crate::boxes::valid_id(&id) && ctx.boxes.dir(&id).join("net.json").exists();
            if held {
                continue;
            }
            let att = Attachment {
                network: c.name.clone(),
                ifname: "eth0".into(),
                conflist: c.raw.clone(),
                runtime_config: json!({}),
                cni_args: "IgnoreUnknown=1".into(),
                result: None,
            };
            let inv = cni::Invocation {
                command: "DEL",
                container_id: &id,
                netns: "",
                ifname: "eth0",
                args: &att.cni_args,
                cni_path: &path,
            };
            let _ = cni::del(&att, &inv);
            net::ports::sweep_iptables(&id);
            if let Some(dir) = c.lease_dir() {
                // host-local frees it on DEL; make sure.
                let f = dir.join(&ip);
                if fs::read_to_string(&f).is_ok_and(|t| t.lines().next() == Some(id.as_str())) {
                    let _ = fs::remove_file(&f);
                }
            }
            done.push(format!(
                "network {}: freed {ip} (box {} is gone)",
                c.name,
                short(&id)
            ));
        }
    }
    // 3. Pins of namespaces whose box is gone or stopped.
    let pins = ctx.dirs.run.join("netns");
    for e in fs::read_dir(&pins).into_iter().flatten().flatten() {
        let id = e.file_name().to_string_lossy().into_owned();
        if crate::boxes::valid_id(&id) && ctx.boxes.dir(&id).join("net.json").exists() {
            continue;
        }
        netns::unpin(&e.path());
        done.push(format!("namespace {}: unpinned", e.path().display()));
    }
    // 4. ifb devices of boxes that are gone.
    for (dev, _, _) in rate::devices() {
        let Some(prefix) = dev.strip_prefix("wbi") else {
            continue;
        };
        let owner = ctx
            .boxes
            .ids()
            .into_iter()
            .find(|id| id.starts_with(prefix) && ctx.boxes.dir(id).join("net.json").exists());
        if owner.is_none() {
            rate::del_link(&dev);
            done.push(format!("device {dev}: removed"));
        }
    }
    Ok(done)
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Whether the box's root is an image (for `ls`).
pub fn is_image(rec: &BoxRecord) -> bool {
    matches!(rec.root, Root::Image { .. })
}
