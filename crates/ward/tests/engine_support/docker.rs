//! The docker client of a dockerd started by the test.

use crate::common::Ctx;
use crate::engine_support::{wait_quietly, EngineCli};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub struct Docker {
    pub sock: PathBuf,
    pub config: PathBuf,
}

impl EngineCli for Docker {
    fn command(&self, args: &[&str]) -> Command {
        // Debian's client, of the daemon's version (a newer one may be
        // first in PATH).
        let bin = if Path::new("/usr/bin/docker").exists() {
            "/usr/bin/docker"
        } else {
            "docker"
        };
        let mut c = Command::new(bin);
        c.env("DOCKER_CONFIG", &self.config)
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()));
        if matches!(args.first(), Some(&"run") | Some(&"create")) {
            c.arg(args[0]).arg("--runtime").arg("ward").args(&args[1..]);
        } else {
            c.args(args);
        }
        c
    }
}

pub struct DockerCleanup<'a> {
    pub ctx: &'a Ctx,
    pub docker: &'a Docker,
}

impl Drop for DockerCleanup<'_> {
    fn drop(&mut self) {
        let ids = self
            .docker
            .command(&["ps", "-aq"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for id in ids.split_whitespace() {
            let p = self.ctx.spawn_cmd(
                self.docker.command(&["rm", "-f", id]),
                Duration::from_secs(30),
            );
            let _ = wait_quietly(p, Duration::from_secs(30));
        }
    }
}
