//! Rootless networking through pasta (Debian's passt package): a process
//! of the user's that connects the box's network namespace to the host's
//! network, with a tap device in the box and the host's sockets outside,
//! and forwards the published ports. No privilege, no bridge, no NAT
//! rules.
//!
//! The runtime makes the box's namespaces; pasta joins them once they
//! exist: ward box puts a createRuntime hook in the box's spec
//! (`ward-box __pasta BOXDIR`), which the runtime runs with the box's
//! state (its init's pid) on stdin, in the foreground and detached alike.
//! pasta daemonizes and quits by itself when the namespace goes away, so
//! there is nothing to tear down; its pid is kept in `BOXDIR/pasta.pid`
//! so that `rm` can make sure.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn find() -> Result<PathBuf, String> {
    for d in ["/usr/bin", "/usr/local/bin", "/bin"] {
        let p = Path::new(d).join("pasta");
        if p.is_file() {
            return Ok(p);
        }
    }
    Err("--net pasta: pasta is not installed (Debian's passt package has it)".into())
}

/// Whether this user may open the tun device pasta needs (hosts and
/// containers that keep /dev/net/tun 0600 don't let users).
pub fn tun_usable() -> Result<(), String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .map(drop)
        .map_err(|e| format!("--net pasta: /dev/net/tun: {e} (pasta needs the tun device)"))
}

/// pasta is there and can run: rootless image boxes default to it then,
/// to `none` otherwise.
pub fn usable() -> bool {
    find().is_ok() && tun_usable().is_ok()
}

/// The hook: reads the container's state from stdin and starts pasta on
/// its init's namespaces, forwarding `ports` (`HOST:BOX/proto` each).
pub fn hook(boxdir: &Path, ports: &[super::ports::PortMap]) -> Result<(), String> {
    let mut input = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)
        .map_err(|e| format!("read the state: {e}"))?;
    let st: Value = serde_json::from_str(&input).map_err(|e| format!("the state: {e}"))?;
    let pid = st["pid"]
        .as_i64()
        .filter(|p| *p > 0)
        .ok_or("the state has no pid")?;
    let bin = find()?;
    let pidfile = boxdir.join("pasta.pid");
    let mut c = Command::new(bin);
    c.arg("--config-net")
        .arg("--quiet")
        .arg("--pid")
        .arg(&pidfile);
    let (mut tcp, mut udp) = (Vec::new(), Vec::new());
    for p in ports {
        let spec = match &p.host_ip {
            Some(ip) => format!("{ip}/{}:{}", p.host_port, p.box_port),
            None => format!("{}:{}", p.host_port, p.box_port),
        };
        if p.proto == "udp" {
            udp.push(spec);
        } else {
            tcp.push(spec);
        }
    }
    for t in tcp {
        c.arg("-t").arg(t);
    }
    for u in udp {
        c.arg("-u").arg(u);
    }
    if !ports.iter().any(|p| p.proto == "tcp") {
        c.args(["-t", "none"]);
    }
    if !ports.iter().any(|p| p.proto == "udp") {
        c.args(["-u", "none"]);
    }
    // No forwarding from the box to the host's own ports.
    c.args(["-T", "none", "-U", "none"]);
    c.arg(pid.to_string());
    let out = c
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("run pasta: {e}"))?;
    if !out.status.success() {
        let e = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "pasta: {}",
            e.lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("failed")
                .trim()
        ));
    }
    Ok(())
}

/// Stops a box's pasta if it is still there (it normally quits with the
/// namespace).
pub fn stop(boxdir: &Path) {
    let pidfile = boxdir.join("pasta.pid");
    let Some(pid) = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    else {
        return;
    };
    // Only if it is pasta: the pid may have been reused since.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim() == "pasta" || comm.trim() == "passt" {
        // SAFETY: kill(2) of a pid just checked to be pasta.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let _ = std::fs::remove_file(pidfile);
}
