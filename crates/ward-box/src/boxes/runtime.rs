//! The ward runtime binary, driven as podman drives crun: one process per
//! verb, with the box front's own `--root`. (docs/box.md has why this and
//! not linking ward-core: the measurement and the reasons.)

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Clone, Debug)]
pub struct Runtime {
    pub bin: PathBuf,
    pub root: PathBuf,
}

/// `ward` next to this binary first (they are built and installed
/// together), then on PATH; WARD_BOX_RUNTIME overrides both.
pub fn find_ward() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("WARD_BOX_RUNTIME").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    if let Ok(exe) = std::fs::read_link("/proc/self/exe") {
        if let Some(d) = exe.parent() {
            let p = d.join("ward");
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            let p = d.join("ward");
            if d.is_absolute() && p.is_file() {
                return Ok(p);
            }
        }
    }
    Err("the ward runtime binary was found neither next to ward-box nor on PATH".into())
}

#[derive(Debug, Clone)]
pub struct RtState {
    pub status: String,
    pub pid: i32,
}

impl Runtime {
    pub fn new(root: &Path) -> Result<Runtime, String> {
        Ok(Runtime {
            bin: find_ward()?,
            root: root.to_path_buf(),
        })
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root).args(args);
        c
    }

    /// Runs a verb quietly; Err carries its error line (without `ward: `).
    pub fn quiet(&self, args: &[&str]) -> Result<String, String> {
        let out = self
            .command(args)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .stdout(Stdio::piped())
            .output()
            .map_err(|e| format!("run {}: {e}", self.bin.display()))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            let line = err.lines().last().unwrap_or("failed").trim();
            Err(line.strip_prefix("ward: ").unwrap_or(line).to_string())
        }
    }

    /// The runtime's view of the container, or None if it has none.
    pub fn state(&self, id: &str) -> Option<RtState> {
        let out = self.quiet(&["state", id]).ok()?;
        let v: serde_json::Value = serde_json::from_str(&out).ok()?;
        Some(RtState {
            status: v["status"].as_str().unwrap_or("unknown").to_string(),
            pid: v["pid"].as_i64().unwrap_or(0) as i32,
        })
    }

    pub fn kill(&self, id: &str, signal: &str) -> Result<(), String> {
        self.quiet(&["kill", id, signal]).map(|_| ())
    }

    /// Deletes the container whatever its state; no container is fine.
    pub fn delete_force(&self, id: &str) -> Result<(), String> {
        match self.quiet(&["delete", "--force", id]) {
            Ok(_) => Ok(()),
            Err(e) if e.contains("does not exist") => Ok(()),
            Err(e) => Err(e),
        }
    }
}
