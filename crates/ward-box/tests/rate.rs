//! The bandwidth caps of boxes, measured with iperf3: --net-rate 10mbit
//! and 100mbit each way on the box's veth, the cgroup (eBPF) egress cap,
//! and `box update --net-rate` with what ls and inspect show. A test
//! binary of its own, and one measure at a time: nothing else shares the
//! CPU while iperf3 runs (under the test VM's emulation, a box test
//! running beside a measure pulled it under the cap's 10%).
//!
//! As in network.rs, everything runs in a network namespace the test
//! makes and pins, playing the host.

mod common;
use common::net::*;
use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// An iperf3 server in the test's host namespace, for one test (`-1`).
struct Iperf(std::process::Child);

impl Iperf {
    fn serve(env: &Env) -> Iperf {
        let mut c = std::process::Command::new("nsenter");
        c.arg(format!("--net={}", env.hostns.as_ref().unwrap().display()))
            .args(["--", "iperf3", "-s", "-1"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let child = c.spawn().expect("iperf3 -s");
        let up = wait_until(Duration::from_secs(5), || {
            env.in_host("ss", &["-Hltn", "sport = :5201"])
                .stdout
                .contains("5201")
        });
        assert!(up, "iperf3 -s did not listen");
        Iperf(child)
    }
}

impl Drop for Iperf {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `iperf3 -c` (1 + 3 s, from the box to the host's side of the default
/// network) through `prefix` (a `box run` or `box exec` up to the
/// command); `reverse`: from the host into the box. Mbit/s received.
fn iperf(env: &Env, prefix: &[&str], reverse: bool) -> f64 {
    // One measure at a time in this process: two would share the CPU.
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let _server = Iperf::serve(env);
    let mut args: Vec<&str> = prefix.to_vec();
    // -O 1: the first second (slow start, the bucket's burst) not counted.
    args.extend(["iperf3", "-c", "10.90.0.1", "-t", "3", "-O", "1", "-J"]);
    if reverse {
        args.push("-R");
    }
    let out = env.wb(&args);
    out.assert_ok();
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("iperf3 -J: {e}\n{}", out.describe()));
    // The sender's retransmissions: a policer that drops shows here.
    eprintln!(
        "iperf3 {}: {} retransmissions",
        args.join(" "),
        v["end"]["sum_sent"]["retransmits"]
    );
    v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or_else(|| panic!("no rate in iperf3's answer: {}", out.stdout))
        / 1e6
}

fn have_iperf3() -> bool {
    let ok = Path::new("/usr/bin/iperf3").exists();
    if !ok {
        eprintln!("SKIP: iperf3 is not installed (scripts/deps.sh installs it)");
    }
    ok
}

#[track_caller]
fn assert_within_10pct(what: &str, got: f64, cap: f64) {
    check_rate(what, got, cap, 0.5);
}

/// Within 10% of `cap` on the host. In the test VM (TCG emulation on a
/// shared host) the guest's CPU can't always fill even 10 Mbit/s of TCP
/// (measured there: 7.9 to 9.6 under a 10mbit veth cap, from one run to
/// the next): the cap must hold (at most 10% over) and `vm_floor` of it
/// be reached.
#[track_caller]
fn check_rate(what: &str, got: f64, cap: f64, vm_floor: f64) {
    let in_vm = std::fs::read_to_string("/proc/cmdline").is_ok_and(|c| c.contains("ward.run="));
    if in_vm {
        eprintln!(
            "{what}: {got:.2} Mbit/s (test VM: the cap must hold, {vm_floor} of it be reached)"
        );
        assert!(
            got <= cap * 1.1 && got >= cap * vm_floor,
            "{what}: {got:.2} Mbit/s measured in the test VM: over the cap {cap} Mbit/s by more than 10%, or under {vm_floor} of it"
        );
        return;
    }
    assert!(
        (got - cap).abs() <= cap * 0.1,
        "{what}: {got:.2} Mbit/s measured, not within 10% of the cap {cap} Mbit/s"
    );
}

/// The caps, measured: 10 and 100 Mbit/s each way on the box's veth, and
/// out of the box by its cgroup (eBPF). The boxes are host-view boxes
/// (`box run -- CMD`) on the bridge network: they run the host's iperf3.
#[test]
fn net_rate_caps_are_measured_within_ten_percent() {
    let Some(env) = setup("net-rate") else { return };
    if !have_iperf3() {
        return;
    }
    for (rate, mbit) in [("10mbit", 10.0), ("100mbit", 100.0)] {
        let run = [
            "box",
            "run",
            "--rm",
            "-q",
            "--net",
            "bridge",
            "--net-rate",
            rate,
            "--",
        ];
        let out = iperf(&env, &run, false);
        assert_within_10pct(&format!("veth {rate} out of the box"), out, mbit);
        let inn = iperf(&env, &run, true);
        assert_within_10pct(&format!("veth {rate} into the box"), inn, mbit);
        eprintln!("veth {rate}: out {out:.2} in {inn:.2} Mbit/s");
        if rate_mode_cgroup_works(&env) {
            let run = [
                "box",
                "run",
                "--rm",
                "-q",
                "--net",
                "bridge",
                "--net-rate-mode",
                "cgroup",
                "--net-rate-out",
                rate,
                "--",
            ];
            let out = iperf(&env, &run, false);
            // In the test VM the cgroup cap at 100mbit measured 100.3
            // Mbit/s in one run and 25.9 in another (the policer's drops
            // under emulated timers: docs/network.md): there only the cap
            // is checked.
            check_rate(&format!("cgroup {rate} out of the box"), out, mbit, 0.0);
            eprintln!("cgroup {rate}: out {out:.2} Mbit/s");
        }
    }
    assert_host_clean(&env, &[]);
}

/// Whether the cgroup mode can run here (cgroup v2 mounted); said when not.
fn rate_mode_cgroup_works(env: &Env) -> bool {
    let out = env.wb(&[
        "box",
        "run",
        "--rm",
        "-q",
        "--net",
        "none",
        "--net-rate-mode",
        "cgroup",
        "--net-rate-out",
        "1gbit",
        "--",
        "true",
    ]);
    if !out.ok() {
        eprintln!("SKIP the cgroup mode: {}", out.stderr.trim());
    }
    out.ok()
}

#[test]
fn box_update_changes_the_cap_and_ls_inspect_show_rate_and_bytes() {
    let Some(env) = setup("net-update") else {
        return;
    };
    if !have_iperf3() {
        return;
    }
    env.wb(&[
        "box", "run", "-d", "-q", "--name", "up", "--net", "bridge", "--", "sleep", "1000",
    ])
    .assert_ok();
    let net = inspect_net(&env, "up");
    assert!(net["rateOut"].is_null(), "{net}");
    env.wb(&["box", "update", "--net-rate", "20mbit", "up"])
        .assert_ok();
    let got = iperf(&env, &["box", "exec", "up"], false);
    assert_within_10pct("20mbit set by update, out of the box", got, 20.0);
    let net = inspect_net(&env, "up");
    assert_eq!(net["rateOut"], json!(20_000_000), "{net}");
    assert_eq!(net["rateIn"], json!(20_000_000), "{net}");
    // 3 s at 20 Mbit/s went out: about 7.5 MB.
    let bytes_out = net["bytesOut"].as_u64().unwrap_or(0);
    assert!(bytes_out > 5_000_000, "bytes out counted: {net}");
    let ls = env.wb(&["box", "ls"]);
    ls.assert_ok();
    let line = ls
        .stdout
        .lines()
        .find(|l| l.contains(" up "))
        .unwrap_or_else(|| panic!("{}", ls.stdout));
    assert!(line.contains("20mbit/20mbit"), "{line}");
    assert!(line.contains("MiB"), "no bytes in ls: {line}");
    // 0 removes the cap: well above 20 Mbit/s again.
    env.wb(&["box", "update", "--net-rate", "0", "up"])
        .assert_ok();
    let got = iperf(&env, &["box", "exec", "up"], false);
    assert!(got > 40.0, "the cap stayed after update 0: {got:.2} Mbit/s");
    let net = inspect_net(&env, "up");
    assert!(net["rateOut"].is_null(), "{net}");
    let id = box_id(&env, "up");
    env.wb(&["box", "rm", "-f", "up"]).assert_ok();
    assert_host_clean(&env, &[id]);
}
