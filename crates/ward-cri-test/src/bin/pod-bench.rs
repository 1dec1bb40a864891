//! Pod startup latency through the CRI with the runtime handlers ward, runc
//! and crun: RunPodSandbox + CreateContainer + StartContainer, until
//! StartContainer returns (the runtime's `start` has run; the container's
//! process runs). Run by bench/pods.sh, which says how; see bench/README.md.
//!
//! Two passes, each on a containerd of its own (crates/ward-cri-test's
//! Node): the first times pods as they are; the second puts bench/rtwrap in
//! front of the runtimes, the CNI plugins and the shim, and splits each
//! pod's time into the runtime's own share (its `create` and `start` for
//! the sandbox and the container), CNI, the shim's start, and the rest
//! (containerd). In each pass: SEQ pods one after another, the handlers'
//! order rotated each time, then PAR pods at once per handler (ROUNDS
//! times, rotated). Each pod is stopped and removed before the next
//! starts (not timed).
//!
//! usage: pod-bench OUTDIR RTWRAP   (env SEQ=20 PAR=10 ROUNDS=1)

use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use ward_cri_test::cri::describe;
use ward_cri_test::node::{self, Node, Options};

const HANDLERS: [&str; 3] = ["crun", "runc", "ward"];

/// One pod's start, client side.
#[derive(Clone, Debug, Default)]
struct Start {
    handler: String,
    parallel: bool,
    run_pod: f64,
    create: f64,
    start: f64,
    total: f64,
    pod: String,
    container: String,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn env_n(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// Starts one pod with one container on `h` and times its three calls.
fn start_pod(n: &Node, h: &str, parallel: bool) -> Start {
    let cri = n.cri();
    let pc = n.pod_config(&format!("bench-{h}"));
    let c = Node::for_pod(&n.container_config("c", &["sleep", "100000"]), &pc);
    let t0 = Instant::now();
    let pod = cri
        .run_pod(&pc, h)
        .unwrap_or_else(|e| panic!("RunPodSandbox {h}: {}", describe(&e)));
    let t1 = Instant::now();
    let id = cri
        .create(&pod, &c, &pc)
        .unwrap_or_else(|e| panic!("CreateContainer {h}: {}", describe(&e)));
    let t2 = Instant::now();
    cri.start(&id)
        .unwrap_or_else(|e| panic!("StartContainer {h}: {}", describe(&e)));
    let t3 = Instant::now();
    Start {
        handler: h.to_string(),
        parallel,
        run_pod: ms(t1 - t0),
        create: ms(t2 - t1),
        start: ms(t3 - t2),
        total: ms(t3 - t0),
        pod,
        container: id,
    }
}

fn remove_pod(n: &Node, s: &Start) {
    let cri = n.cri();
    let _ = cri.stop(&s.container, 0);
    cri.stop_pod(&s.pod)
        .unwrap_or_else(|e| panic!("StopPodSandbox: {}", describe(&e)));
    cri.remove_pod(&s.pod)
        .unwrap_or_else(|e| panic!("RemovePodSandbox: {}", describe(&e)));
}

/// SEQ pods in sequence and ROUNDS x PAR at once, per handler; the wall
/// time of each parallel batch too.
fn measure(n: &Node, seq: usize, par: usize, rounds: usize) -> (Vec<Start>, Vec<(String, f64)>) {
    let mut all = Vec::new();
    // One pod per handler first, not counted: images, caches, shim binary.
    for h in HANDLERS {
        let s = start_pod(n, h, false);
        remove_pod(n, &s);
    }
    for i in 0..seq {
        for k in 0..HANDLERS.len() {
            let h = HANDLERS[(i + k) % HANDLERS.len()];
            let s = start_pod(n, h, false);
            remove_pod(n, &s);
            all.push(s);
        }
        eprintln!("pod-bench: {} pods in sequence", (i + 1) * HANDLERS.len());
    }
    let mut walls = Vec::new();
    for r in 0..rounds {
        for k in 0..HANDLERS.len() {
            let h = HANDLERS[(r + k) % HANDLERS.len()];
            let t = Instant::now();
            let batch: Vec<Start> = std::thread::scope(|sc| {
                let hs: Vec<_> = (0..par)
                    .map(|_| sc.spawn(|| start_pod(n, h, true)))
                    .collect();
                hs.into_iter().map(|x| x.join().unwrap()).collect()
            });
            walls.push((h.to_string(), ms(t.elapsed())));
            for s in &batch {
                remove_pod(n, s);
            }
            eprintln!(
                "pod-bench: {par} pods at once on {h}: {:.0} ms",
                ms(t.elapsed())
            );
            all.extend(batch);
        }
    }
    (all, walls)
}

/// The wrappers: <dir>/<name> runs <target>, logging to <dir>/<name>.log.
fn wrap(rtwrap: &Path, dir: &Path, name: &str, target: &Path) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    fs::copy(rtwrap, &p).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(
        dir.join(format!("{name}.target")),
        target.display().to_string(),
    )
    .unwrap();
    p
}

/// (verb, id) -> summed milliseconds, from a wrapper's log.
fn times(log: &Path) -> HashMap<(String, String), f64> {
    let mut m = HashMap::new();
    for l in fs::read_to_string(log).unwrap_or_default().lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 5 {
            continue;
        }
        let (Ok(a), Ok(b)) = (f[0].parse::<i64>(), f[1].parse::<i64>()) else {
            continue;
        };
        *m.entry((f[2].to_string(), f[3].to_string())).or_insert(0.0) += (b - a) as f64 / 1e6;
    }
    m
}

fn stats(v: &[f64]) -> serde_json::Value {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        return json!(null);
    }
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    json!({"n": v.len(), "min": v[0], "median": q(0.5), "p90": q(0.9), "max": v[v.len() - 1],
           "mean": v.iter().sum::<f64>() / v.len() as f64})
}

fn med(v: &serde_json::Value) -> f64 {
    v["median"].as_f64().unwrap_or(f64::NAN)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert!(args.len() == 3, "usage: pod-bench OUTDIR RTWRAP");
    let out = PathBuf::from(&args[1]);
    let rtwrap = PathBuf::from(&args[2]);
    fs::create_dir_all(&out).unwrap();
    let (seq, par, rounds) = (env_n("SEQ", 20), env_n("PAR", 10), env_n("ROUNDS", 1));
    assert!(node::can_run("pod-bench"), "pod-bench needs root");
    let load0 = fs::read_to_string("/proc/loadavg").unwrap_or_default();

    // Pass 1: as they are.
    eprintln!("pod-bench: pass 1 (plain)");
    let (plain, walls) = {
        let n = Node::start("bench-plain");
        measure(&n, seq, par, rounds)
    };
    // Pass 2: every runtime, CNI plugin and the shim behind rtwrap.
    eprintln!("pod-bench: pass 2 (timed through rtwrap)");
    let wdir = std::env::temp_dir().join(format!("ward-pod-bench-wrap-{}", std::process::id()));
    let _ = fs::remove_dir_all(&wdir);
    let mut opts = Options::default();
    for h in HANDLERS {
        let real = match h {
            "ward" => node::ward_bin(),
            other => ward_cri_test::cmd::which(other).expect("runtime installed"),
        };
        opts.runtime_bins
            .insert(h.to_string(), wrap(&rtwrap, &wdir.join("rt"), h, &real));
    }
    for p in ["bridge", "portmap", "loopback", "host-local"] {
        wrap(
            &rtwrap,
            &wdir.join("cni"),
            p,
            &Path::new("/usr/lib/cni").join(p),
        );
    }
    let shim = ward_cri_test::cmd::which("containerd-shim-runc-v2").expect("shim");
    wrap(
        &rtwrap,
        &wdir.join("shim"),
        "containerd-shim-runc-v2",
        &shim,
    );
    opts.cni_bin_dir = Some(wdir.join("cni"));
    opts.path_prefix = Some(wdir.join("shim"));
    let (traced, _) = {
        let n = Node::start_with("bench-traced", opts);
        measure(&n, seq, par, rounds)
    };
    let rt: HashMap<String, HashMap<(String, String), f64>> = HANDLERS
        .iter()
        .map(|h| {
            (
                h.to_string(),
                times(&wdir.join("rt").join(format!("{h}.log"))),
            )
        })
        .collect();
    let mut cni: HashMap<(String, String), f64> = HashMap::new();
    for p in ["bridge", "portmap", "loopback", "host-local"] {
        for (k, v) in times(&wdir.join("cni").join(format!("{p}.log"))) {
            *cni.entry(k).or_insert(0.0) += v;
        }
    }
    let shim_t = times(&wdir.join("shim").join("containerd-shim-runc-v2.log"));
    let _ = fs::remove_dir_all(&wdir);

    // Per handler and mode: latency (pass 1) and the split (pass 2).
    let mut res = BTreeMap::new();
    for h in HANDLERS {
        for parallel in [false, true] {
            let mode = if parallel { "parallel" } else { "sequence" };
            let p1: Vec<&Start> = plain
                .iter()
                .filter(|s| s.handler == h && s.parallel == parallel)
                .collect();
            let p2: Vec<&Start> = traced
                .iter()
                .filter(|s| s.handler == h && s.parallel == parallel)
                .collect();
            let col =
                |v: &[&Start], f: fn(&Start) -> f64| v.iter().map(|s| f(s)).collect::<Vec<f64>>();
            let r = &rt[h];
            let get = |verb: &str, id: &str, m: &HashMap<(String, String), f64>| {
                m.get(&(verb.to_string(), id.to_string()))
                    .copied()
                    .unwrap_or(0.0)
            };
            let runtime: Vec<f64> = p2
                .iter()
                .map(|s| {
                    ["create", "start"]
                        .iter()
                        .map(|v| get(v, &s.pod, r) + get(v, &s.container, r))
                        .sum()
                })
                .collect();
            let cni_v: Vec<f64> = p2.iter().map(|s| get("ADD", &s.pod, &cni)).collect();
            let shim_v: Vec<f64> = p2.iter().map(|s| get("start", &s.pod, &shim_t)).collect();
            let share: Vec<f64> = p2.iter().zip(&runtime).map(|(s, r)| r / s.total).collect();
            let rest: Vec<f64> = p2
                .iter()
                .enumerate()
                .map(|(i, s)| s.total - runtime[i] - cni_v[i] - shim_v[i])
                .collect();
            let mut e = json!({
                "latency": stats(&col(&p1, |s| s.total)),
                "run_pod": stats(&col(&p1, |s| s.run_pod)),
                "create": stats(&col(&p1, |s| s.create)),
                "start": stats(&col(&p1, |s| s.start)),
                "traced_latency": stats(&col(&p2, |s| s.total)),
                "runtime": stats(&runtime),
                "runtime_share": stats(&share),
                "cni": stats(&cni_v),
                "shim_start": stats(&shim_v),
                "rest": stats(&rest),
            });
            if parallel {
                let w: Vec<f64> = walls
                    .iter()
                    .filter(|(x, _)| x == h)
                    .map(|(_, t)| *t)
                    .collect();
                e["wall"] = stats(&w);
            }
            res.insert(format!("{h}/{mode}"), e);
        }
    }
    let git = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let version = |b: &str| {
        std::process::Command::new(b)
            .arg("--version")
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .unwrap_or_default()
    };
    let machine = json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "kernel": fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "load_before": load0.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        "load_after": fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        "ward": git, "runc": version("runc"), "crun": version("crun"), "containerd": version("containerd"),
        "seq": seq, "par": par, "rounds": rounds,
    });
    let doc = json!({"machine": machine, "results": res});
    fs::write(
        out.join("pods.json"),
        serde_json::to_string_pretty(&doc).unwrap(),
    )
    .unwrap();

    // The table.
    let mut md = String::new();
    md.push_str(&format!(
        "Pod startup through the CRI (containerd {}; {} cores, kernel {}, load {} -> {}; ward {}).\n\
         RunPodSandbox + CreateContainer + StartContainer, ms; {seq} pods in sequence and {rounds}x{par} at once per handler.\n\n",
        machine["containerd"].as_str().unwrap_or(""),
        machine["cores"], machine["kernel"].as_str().unwrap_or(""),
        machine["load_before"].as_str().unwrap_or(""), machine["load_after"].as_str().unwrap_or(""),
        machine["ward"].as_str().unwrap_or(""),
    ));
    md.push_str(&format!("| handler | mode | median | min | p90 | median / crun | median / runc | RunPodSandbox | CreateContainer | StartContainer | {par} at once, wall |\n"));
    md.push_str("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for mode in ["sequence", "parallel"] {
        for h in HANDLERS {
            let e = &res[&format!("{h}/{mode}")];
            let l = &e["latency"];
            md.push_str(&format!(
                "| {h} | {mode} | {:.1} | {:.1} | {:.1} | {:.2}x | {:.2}x | {:.1} | {:.1} | {:.1} | {} |\n",
                med(l), l["min"].as_f64().unwrap_or(0.0), l["p90"].as_f64().unwrap_or(0.0),
                med(l) / med(&res[&format!("crun/{mode}")]["latency"]),
                med(l) / med(&res[&format!("runc/{mode}")]["latency"]),
                med(&e["run_pod"]), med(&e["create"]), med(&e["start"]),
                if mode == "parallel" { format!("{:.0}", med(&e["wall"])) } else { "".into() },
            ));
        }
    }
    md.push_str("\nWhere each pod's time goes (pass 2, every runtime, CNI plugin and the shim behind bench/rtwrap; medians, ms):\n\n");
    md.push_str("| handler | mode | pod start | runtime (create+start, sandbox and container) | runtime / runc's | runtime share | CNI | shim start | rest: containerd |\n");
    md.push_str("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for mode in ["sequence", "parallel"] {
        for h in HANDLERS {
            let e = &res[&format!("{h}/{mode}")];
            md.push_str(&format!(
                "| {h} | {mode} | {:.1} | {:.1} | {:.2}x | {:.1} % | {:.1} | {:.1} | {:.1} |\n",
                med(&e["traced_latency"]),
                med(&e["runtime"]),
                med(&e["runtime"]) / med(&res[&format!("runc/{mode}")]["runtime"]),
                100.0 * med(&e["runtime_share"]),
                med(&e["cni"]),
                med(&e["shim_start"]),
                med(&e["rest"]),
            ));
        }
    }
    fs::write(out.join("pods.md"), &md).unwrap();
    print!("{md}");
}
