//! containerd (started here) and its `ctr` client with ward as the runc binary.

use crate::common::{Ctx, Out};
use crate::engine_support::{self as es, wait_quietly, Daemon, ENGINE_TIMEOUT, IMAGE};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A containerd with its root, state and sockets below `dir`, and its opt
/// plugin's directory too (it makes /opt/containerd/{bin,lib} otherwise).
pub fn start_containerd(dir: &Path) -> Daemon {
    fs::create_dir_all(dir).unwrap();
    let d = dir.display();
    let config = dir.join("config.toml");
    fs::write(
        &config,
        format!(
            "version = 2\n\
             root = \"{d}/root\"\n\
             state = \"{d}/state\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{d}/containerd.sock\"\n\
             [ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n\
             [debug]\n  address = \"{d}/debug.sock\"\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{d}/opt\"\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new("containerd");
    cmd.arg("--config").arg(&config);
    let mut daemon = Daemon::spawn("containerd", cmd, dir.join("containerd.log"));
    let sock = dir.join("containerd.sock");
    daemon.wait_ready(Duration::from_secs(30), || {
        sock.exists()
            && Command::new("ctr")
                .arg("-a")
                .arg(&sock)
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success())
    });
    daemon
}

pub struct Ctr {
    pub sock: PathBuf,
    pub ns: String,
    pub runc_root: PathBuf,
    pub fifo: PathBuf,
}

impl Ctr {
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ctr");
        c.arg("-a")
            .arg(&self.sock)
            .arg("-n")
            .arg(&self.ns)
            .args(args);
        c
    }

    /// `ctr run` with ward as the runc binary (io.containerd.runc.v2).
    pub fn run_args(&self, flags: &[&str], id: &str, cmd: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "run".into(),
            "--runc-binary".into(),
            es::ward_bin().display().to_string(),
            "--runc-root".into(),
            self.runc_root.display().to_string(),
            "--fifo-dir".into(),
            self.fifo.display().to_string(),
        ];
        a.extend(flags.iter().map(|s| s.to_string()));
        a.push(IMAGE.into());
        a.push(id.into());
        a.extend(cmd.iter().map(|s| s.to_string()));
        a
    }

    #[track_caller]
    pub fn run(&self, ctx: &Ctx, args: &[&str]) -> Out {
        es::run(ctx, self.command(args), ENGINE_TIMEOUT)
    }

    /// With `--rm` and `sh -c S`, S runs in a subshell and the shell waits
    /// 0.2 s before exiting with its status: `ctr run` may stop copying the
    /// task's stdout as soon as it sees the exit (a line went missing once,
    /// under load), and what is checked here is ward, not ctr's copy loop.
    #[track_caller]
    pub fn ctr_run(&self, ctx: &Ctx, flags: &[&str], id: &str, cmd: &[&str]) -> Out {
        let padded;
        let cmd = match cmd {
            ["sh", "-c", script] if flags.contains(&"--rm") => {
                padded = format!("( {script} ); rc=$?; sleep 0.2; exit $rc");
                vec!["sh", "-c", padded.as_str()]
            }
            _ => cmd.to_vec(),
        };
        let a = self.run_args(flags, id, &cmd);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        self.run(ctx, &a)
    }

    pub fn task_status(&self, ctx: &Ctx, id: &str) -> String {
        let out = self.run(ctx, &["task", "ls"]);
        out.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .and_then(|l| l.split_whitespace().nth(2))
            .unwrap_or("")
            .to_string()
    }
}

/// Kills and deletes every task and container of the namespace on drop.
pub struct CtrCleanup<'a> {
    pub ctx: &'a Ctx,
    pub ctr: &'a Ctr,
}

impl Drop for CtrCleanup<'_> {
    fn drop(&mut self) {
        let list = |args: &[&str]| -> Vec<String> {
            let out = self.ctr.command(args).output();
            out.map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty())
                    .collect()
            })
            .unwrap_or_default()
        };
        for id in list(&["container", "ls", "-q"]) {
            for args in [
                vec!["task", "kill", "-a", "-s", "SIGKILL", &id],
                vec!["task", "delete", "-f", &id],
                vec!["container", "rm", &id],
            ] {
                let p = self
                    .ctx
                    .spawn_cmd(self.ctr.command(&args), Duration::from_secs(20));
                let _ = wait_quietly(p, Duration::from_secs(20));
            }
        }
    }
}

/// `script` gives ctr the terminal it insists on for -t.
pub fn in_pty(ctx: &Ctx, cmd: &Command) -> Out {
    let mut line = String::new();
    for a in std::iter::once(cmd.get_program()).chain(cmd.get_args()) {
        let a = a.to_string_lossy();
        line.push('\'');
        line.push_str(&a.replace('\'', r"'\''"));
        line.push_str("' ");
    }
    let mut s = Command::new("script");
    s.args(["-qec", &line, "/dev/null"]);
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            s.env(k, v);
        }
    }
    es::run(ctx, s, ENGINE_TIMEOUT)
}
