//! The `ward` runtime binary, driven as a user would drive it: the front
//! never reaches into a container's state behind the runtime's back.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

pub struct Runtime {
    pub bin: PathBuf,
    pub root: Option<PathBuf>,
    pub criu: Option<PathBuf>,
}

/// What a finished command said.
pub struct Done {
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl Done {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
    /// The runtime's one error line, without its `ward: ` prefix.
    pub fn why(&self) -> String {
        let line = self
            .stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        let line = line.strip_prefix("ward: ").unwrap_or(line);
        match (line.is_empty(), self.status) {
            (false, _) => line.to_string(),
            (true, Some(s)) => format!("exited with {s}"),
            (true, None) => "did not finish in time and was killed".into(),
        }
    }
}

/// The binary next to ours, else `ward` on PATH.
pub fn find_ward() -> PathBuf {
    if let Ok(exe) = std::fs::read_link("/proc/self/exe") {
        let p = exe.with_file_name("ward");
        if p.is_file() {
            return p;
        }
    }
    PathBuf::from("ward")
}

impl Runtime {
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        if let Some(r) = &self.root {
            c.arg("--root").arg(r);
        }
        if let Some(cr) = &self.criu {
            c.arg("--criu").arg(cr);
        }
        c.args(args);
        c
    }

    /// Runs `args` with no stdin, bounded by `t` (then SIGKILLed).
    pub fn run(&self, args: &[&str], t: Duration) -> Done {
        let mut c = self.command(args);
        c.stdin(Stdio::null());
        bounded(c, t)
    }

    /// `ward state ID` as JSON, or the runtime's reason.
    pub fn state(&self, id: &str) -> Result<serde_json::Value, String> {
        let d = self.run(&["state", id], Duration::from_secs(30));
        if !d.ok() {
            return Err(d.why());
        }
        serde_json::from_str(&d.stdout).map_err(|e| format!("state {id}: bad JSON: {e}"))
    }
}

/// Runs `c` (stdout and stderr captured), killing it after `t`.
pub fn bounded(mut c: Command, t: Duration) -> Done {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = match c.spawn() {
        Ok(ch) => ch,
        Err(e) => {
            return Done {
                status: None,
                stdout: String::new(),
                stderr: format!("{}: {e}", Path::new(c.get_program()).display()),
            }
        }
    };
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if start.elapsed() < t => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    Done {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}
