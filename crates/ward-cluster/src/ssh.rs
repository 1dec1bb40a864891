//! The transport: Debian's OpenSSH client in batch mode, with the user's
//! own keys and known_hosts (or the config file `--ssh-config` /
//! `WARD_SSH_CONFIG` names). The far side runs one command through the
//! account's shell with `-c`, never a login shell, so a slow profile
//! costs nothing. No port is opened and no trust is added: whatever ssh
//! refuses, ward refuses.

use crate::hosts::Host;
use crate::wire::{self, Frame, Msg};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A word for the far side's shell: single-quoted unless it is plainly safe.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

pub fn ssh_config() -> Option<PathBuf> {
    std::env::var_os("WARD_SSH_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `ssh ... HOST -- CMD` for `argv` run on `h`.
pub fn command(h: &Host, config: Option<&PathBuf>, argv: &[String]) -> Command {
    let mut c = Command::new("ssh");
    if let Some(f) = config {
        c.arg("-F").arg(f);
    }
    c.args([
        "-T",
        "-e",
        "none",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=20",
        // A dead link ends the channel within half a minute, so that
        // neither side waits on it for ever.
        "-o",
        "ServerAliveInterval=5",
        "-o",
        "ServerAliveCountMax=6",
        // AES-GCM first: where the CPU has AES instructions it moves the
        // images faster than ssh's default chacha20-poly1305 (under TCG
        // 1.6-2x: docs/performance.md). Still the user's own ciphers
        // otherwise; no compression (pages compress badly, and it costs CPU).
        "-o",
        "Ciphers=^aes128-gcm@openssh.com,aes256-gcm@openssh.com",
        "-o",
        "Compression=no",
    ]);
    if let Some(p) = h.port {
        c.arg("-p").arg(p.to_string());
    }
    if let Some(u) = &h.user {
        c.arg("-l").arg(u);
    }
    c.arg("--").arg(&h.host);
    let line: Vec<String> = argv.iter().map(|a| quote(a)).collect();
    c.arg(line.join(" "));
    c
}

/// The last thing ssh (or the far side) said on stderr, for error lines.
#[derive(Clone, Default)]
pub struct Stderr(Arc<Mutex<Vec<String>>>);

impl Stderr {
    pub fn last(&self) -> Option<String> {
        let v = self.0.lock().unwrap();
        v.iter().rev().find(|l| !l.trim().is_empty()).cloned()
    }
    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Collects a child's stderr lines (they are not ours to print raw).
pub fn collect_stderr(child: &mut Child) -> Stderr {
    let s = Stderr::default();
    if let Some(err) = child.stderr.take() {
        let s2 = s.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                let mut v = s2.0.lock().unwrap();
                if v.len() > 200 {
                    v.remove(0);
                }
                v.push(line);
            }
        });
    }
    s
}

/// One ssh channel speaking [`wire`]: frames in through a reader thread
/// (so that every wait has a bound), frames out through a buffer.
pub struct Channel {
    pub child: Child,
    pub out: BufWriter<ChildStdin>,
    pub frames: Receiver<std::io::Result<Frame>>,
    pub stderr: Stderr,
    pub sent: u64,
}

impl Channel {
    pub fn open(mut cmd: Command) -> std::io::Result<Channel> {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        let stderr = collect_stderr(&mut child);
        let mut stdout = child.stdout.take().expect("piped stdout");
        let out = BufWriter::with_capacity(256 * 1024, child.stdin.take().expect("piped stdin"));
        let (tx, frames) = mpsc::sync_channel(64);
        std::thread::spawn(move || loop {
            let f = wire::read_frame(&mut stdout);
            let end = !matches!(f, Ok(Frame::Msg(_)) | Ok(Frame::Data(_)));
            if tx.send(f).is_err() || end {
                break;
            }
        });
        Ok(Channel {
            child,
            out,
            frames,
            stderr,
            sent: 0,
        })
    }

    pub fn send(&mut self, m: &Msg) -> std::io::Result<()> {
        wire::write_msg(&mut self.out, m)
    }

    /// The next message within `t`; an error says what ended the wait.
    pub fn recv(&mut self, t: Duration) -> Result<Msg, String> {
        match self.frames.recv_timeout(t) {
            Ok(Ok(Frame::Msg(m))) => Ok(m),
            Ok(Ok(Frame::Data(_))) => Err("the far side sent data out of turn".into()),
            Ok(Ok(Frame::Eof)) | Err(RecvTimeoutError::Disconnected) => Err(self.ended()),
            Ok(Err(e)) => Err(format!("the channel broke: {e}")),
            Err(RecvTimeoutError::Timeout) => Err(format!("no answer within {} s", t.as_secs())),
        }
    }

    /// Why the channel ended: ssh's own last word (a refused key, an
    /// unknown host) or the far side's.
    pub fn ended(&mut self) -> String {
        // ssh prints its reason just before it exits.
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(50));
        match self.stderr.last() {
            Some(l) => format!("the ssh channel ended: {}", l.trim()),
            None => "the ssh channel ended".into(),
        }
    }

    /// Kills ssh (a test's dropped connection, or our own cleanup).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        // Closing stdin lets the far side see the end; ssh then exits.
        let _ = self.out.flush();
        if self.child.try_wait().ok().flatten().is_none() {
            std::thread::sleep(Duration::from_millis(100));
        }
        self.kill();
    }
}

/// Runs `argv` on `h` and returns its stdout, bounded by `t`; an error is
/// the far side's or ssh's last line.
pub fn run(
    h: &Host,
    config: Option<&PathBuf>,
    argv: &[String],
    t: Duration,
) -> Result<Vec<u8>, String> {
    let mut cmd = command(h, config, argv);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("ssh: {e}"))?;
    let stderr = collect_stderr(&mut child);
    let mut out = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut v);
        let _ = tx.send(v);
    });
    let data = match rx.recv_timeout(t) {
        Ok(d) => d,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("no answer within {} s", t.as_secs()));
        }
    };
    let st = child.wait().map_err(|e| format!("ssh: {e}"))?;
    std::thread::sleep(Duration::from_millis(20));
    if st.success() {
        Ok(data)
    } else {
        Err(stderr
            .last()
            .map(|l| l.trim().to_string())
            .unwrap_or_else(|| format!("ssh exited with {st}")))
    }
}

/// Asks ssh to forward a port it picks on the far side's loopback to
/// `port` on ours (`-R 0:127.0.0.1:PORT`); ssh names the port it got on
/// stderr, at log level INFO, which this forces.
pub fn remote_forward(c: &mut Command, port: u16) {
    // Options go before the destination: rebuild the argument list.
    let args: Vec<std::ffi::OsString> = c.get_args().map(|a| a.to_os_string()).collect();
    let pos = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let mut n = Command::new(c.get_program());
    n.args(&args[..pos])
        .args([
            "-o",
            "LogLevel=INFO",
            "-o",
            "ExitOnForwardFailure=yes",
            "-R",
        ])
        .arg(format!("0:127.0.0.1:{port}"))
        .args(&args[pos..]);
    *c = n;
}

/// Asks ssh to forward `port` on our loopback to the unix socket `path`
/// on the far side (`-L 127.0.0.1:PORT:PATH`): CRIU's dump connects to
/// the port, and each connection becomes a channel of the same ssh
/// connection, which sshd connects to the receiver's socket there.
pub fn local_forward(c: &mut Command, port: u16, path: &str) {
    let args: Vec<std::ffi::OsString> = c.get_args().map(|a| a.to_os_string()).collect();
    let pos = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let mut n = Command::new(c.get_program());
    n.args(&args[..pos])
        .args(["-o", "ExitOnForwardFailure=yes", "-L"])
        .arg(format!("127.0.0.1:{port}:{path}"))
        .args(&args[pos..]);
    *c = n;
}

/// The port ssh allocated for [`remote_forward`], from its stderr.
pub fn forwarded_port(err: &Stderr, t: Duration) -> Result<u16, String> {
    let deadline = std::time::Instant::now() + t;
    loop {
        for l in err.all() {
            if let Some(rest) = l.strip_prefix("Allocated port ") {
                if let Some(p) = rest.split_whitespace().next().and_then(|p| p.parse().ok()) {
                    return Ok(p);
                }
            }
        }
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "ssh did not say which port it forwards within {} s",
                t.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("/usr/bin/ward"), "/usr/bin/ward");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$(reboot)"), "'$(reboot)'");
    }
}
