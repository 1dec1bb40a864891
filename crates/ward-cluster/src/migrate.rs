//! `ward migrate ID DEST`, the source's half: checks, the ssh channel to
//! the receiver (receive.rs), the images sent over it, and the one rule
//! that matters: the container is frozen here, never killed, until the
//! destination says it runs there; any failure before that thaws it here.
//!
//! ```text
//!  source (this)                              destination (receive.rs)
//!  state: running? stdio movable?
//!  ssh ... ward cluster __receive  ───────▶  (started by sshd)
//!  Hello{id, bundle, strategy}     ───────▶  preflight: version, criu and
//!                                  ◀───────  the kernel, ID free, bundle
//!                                            there; Ready | Failed
//!  [pre-copy] checkpoint --pre-dump, N rounds while it runs:
//!  File.. Sent{preN}               ───────▶  written under its work dir
//!  pause; checkpoint --leave-running (stays frozen)
//!  File.. Sent{final} Restore      ───────▶  guard started; restore -d
//!                                  ◀───────  Running | Failed
//!  Commit                          ───────▶  guard released
//!                                  ◀───────  Committed
//!  delete --force here
//! ```
//! Failed, a dropped channel or a timeout before Running: `resume` here,
//! and the receiver (or its guard, if the receiver itself died) deletes
//! whatever it restored. No Committed after Commit: the container stays
//! frozen here and the line says so, since only then can't we know which
//! side has it.

use crate::hosts::Host;
use crate::lazy;
use crate::net;
use crate::progress::Progress;
use crate::runtime::Runtime;
use crate::ssh::{self, Channel};
use crate::wire::{self, Msg};
use serde::Serialize;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    StopAndCopy,
    PreCopy,
    PostCopy,
}

impl Strategy {
    pub fn parse(s: &str) -> Result<Strategy, String> {
        match s {
            "stop-and-copy" => Ok(Strategy::StopAndCopy),
            "pre-copy" => Ok(Strategy::PreCopy),
            "post-copy" => Ok(Strategy::PostCopy),
            _ => Err(format!(
                "--strategy {s:?}: want stop-and-copy, pre-copy or post-copy"
            )),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Strategy::StopAndCopy => "stop-and-copy",
            Strategy::PreCopy => "pre-copy",
            Strategy::PostCopy => "post-copy",
        }
    }
}

pub struct Opts {
    pub id: String,
    pub dest: Host,
    pub strategy: Strategy,
    pub tcp: bool,
    pub keep_images: bool,
    pub image_dir: PathBuf,
    pub ssh_config: Option<PathBuf>,
    /// The bundle's path on the destination (default: the same as here).
    pub dest_bundle: Option<String>,
    pub max_rounds: u32,
    pub quiet: bool,
    /// Send the bundle too (--copy-rootfs).
    pub copy_rootfs: bool,
    /// The memory through the destination's page server (the default);
    /// false: written here, then sent over the channel.
    pub page_stream: bool,
}

#[derive(Debug, Serialize)]
pub struct Round {
    pub round: u32,
    pub bytes: u64,
    pub ms: u64,
}

/// The final record (`--format json`).
#[derive(Debug, Serialize)]
pub struct Record {
    pub id: String,
    pub destination: String,
    pub strategy: Strategy,
    pub pre_copy_rounds: Vec<Round>,
    /// The memory went straight to the destination's page server
    /// (through the ssh connection), not through disk here.
    pub pages_streamed: bool,
    pub bytes_sent: u64,
    pub final_dump_bytes: u64,
    /// From the freeze here to the destination's word that it runs.
    pub downtime_ms: u64,
    pub restore_ms: u64,
    pub total_ms: u64,
}

/// Test-only (debug builds): `WARD_MIGRATE_FAULT=WHAT@STEP`, where WHAT is
/// `ssh` (this side drops the connection), `receiver` (the far side's
/// receiver SIGKILLs itself) or `criu` (the far side kills criu during
/// the restore), and STEP is `before-freeze`, `precopy`, `dumped` or
/// `restore`.
fn fault() -> Option<String> {
    if cfg!(debug_assertions) {
        std::env::var("WARD_MIGRATE_FAULT")
            .ok()
            .filter(|s| !s.is_empty())
    } else {
        None
    }
}

struct Source<'a> {
    o: &'a Opts,
    ch: Channel,
    progress: Progress,
    fault: Option<String>,
}

impl Source<'_> {
    /// A fault of this side's at `step`: the ssh channel dropped.
    fn step(&mut self, step: &str) {
        if self.fault.as_deref() == Some(&format!("ssh@{step}")) {
            self.ch.kill();
        }
    }

    /// Sends every entry under `base/rel`; returns the file bytes sent.
    /// With `diff`, each entry's identity is recorded in `diff.cur`, and
    /// one whose identity is the same in `diff.prev` is not sent again.
    fn send_tree(
        &mut self,
        base: &Path,
        rel: &str,
        diff: &mut Option<Diff>,
    ) -> Result<u64, String> {
        let mut total = 0;
        let dir = base.join(rel);
        let meta = fs::symlink_metadata(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if Diff::changed(diff, rel, &meta) {
            self.send(&Msg::Dir {
                path: rel.into(),
                mode: meta.permissions().mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
            })?;
        }
        for name in sorted_names(&dir)? {
            let r = format!("{rel}/{name}");
            let p = base.join(&r);
            let m = fs::symlink_metadata(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            if m.is_dir() {
                total += self.send_tree(base, &r, diff)?;
                continue;
            }
            if !Diff::changed(diff, &r, &m) {
                continue;
            }
            if m.file_type().is_symlink() {
                let t = fs::read_link(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                self.send(&Msg::Symlink {
                    path: r,
                    target: t.to_string_lossy().into_owned(),
                    uid: m.uid(),
                    gid: m.gid(),
                })?;
            } else if m.is_file() {
                total += self.send_file(&p, &r, &m)?;
            }
            // Devices, fifos and sockets in a rootfs are not copied (a
            // container's /dev is made at its start).
        }
        Ok(total)
    }

    /// The bundle's entries (config.json, the rootfs...), then back to
    /// the images; with a diff that has a first copy, only what changed,
    /// and what went.
    fn send_bundle(&mut self, bundle: &Path, diff: &mut Option<Diff>) -> Result<u64, String> {
        self.send(&Msg::Base {
            what: "bundle".into(),
        })?;
        let mut total = 0;
        for name in sorted_names(bundle)? {
            let p = bundle.join(&name);
            let m = fs::symlink_metadata(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            if m.is_dir() {
                total += self.send_tree(bundle, &name, diff)?;
            } else if m.is_file() && Diff::changed(diff, &name, &m) {
                total += self.send_file(&p, &name, &m)?;
            } else if m.file_type().is_symlink() && Diff::changed(diff, &name, &m) {
                let t = fs::read_link(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                self.send(&Msg::Symlink {
                    path: name,
                    target: t.to_string_lossy().into_owned(),
                    uid: m.uid(),
                    gid: m.gid(),
                })?;
            }
        }
        if let Some(d) = diff.as_ref() {
            for path in d.removed() {
                self.send(&Msg::Remove { path })?;
            }
        }
        self.send(&Msg::Base {
            what: "images".into(),
        })?;
        Ok(total)
    }

    fn send_file(&mut self, p: &Path, rel: &str, m: &fs::Metadata) -> Result<u64, String> {
        let mut f = fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
        self.send(&Msg::File {
            path: rel.into(),
            size: m.len(),
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
        })?;
        let mut left = m.len();
        let mut buf = vec![0u8; 256 * 1024];
        while left > 0 {
            let want = buf.len().min(left as usize);
            let n = f
                .read(&mut buf[..want])
                .map_err(|e| format!("{}: {e}", p.display()))?;
            if n == 0 {
                return Err(format!("{}: shrank while being sent", p.display()));
            }
            wire::write_data(&mut self.ch.out, &buf[..n]).map_err(|e| self.broken(e))?;
            left -= n as u64;
            self.ch.sent += n as u64;
            self.progress.bytes(self.ch.sent);
        }
        Ok(m.len())
    }

    /// Before a dump to the destination's page server: its images
    /// directory there (with CRIU's `parent` link, which the page server
    /// reads to tell the dump which pages it has already), and the word
    /// that the next page connection is its.
    fn announce_pages(&mut self, name: &str, parent: Option<&str>) -> Result<(), String> {
        self.send(&Msg::Dir {
            path: name.into(),
            mode: 0o700,
            uid: 0,
            gid: 0,
        })?;
        if let Some(p) = parent {
            self.send(&Msg::Symlink {
                path: format!("{name}/parent"),
                target: format!("../{p}"),
                uid: 0,
                gid: 0,
            })?;
        }
        self.send(&Msg::Pages { dir: name.into() })?;
        self.ch.flush().map_err(|e| self.broken(e))
    }

    /// After a dump to the page server: the images it left here (all but
    /// the memory; the `parent` link went before), then `Sent`, and the
    /// receiver's word that the pages are whole there. Returns the bytes
    /// of the images and the memory.
    fn send_rest(&mut self, base: &Path, name: &str) -> Result<u64, String> {
        let dir = base.join(name);
        let mut total = 0;
        for n in sorted_names(&dir)? {
            let p = dir.join(&n);
            let m = fs::symlink_metadata(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            if m.is_file() {
                total += self.send_file(&p, &format!("{name}/{n}"), &m)?;
            }
        }
        self.send(&Msg::Sent { what: name.into() })?;
        self.ch.flush().map_err(|e| self.broken(e))?;
        match self.ch.recv(Duration::from_secs(600))? {
            Msg::Got { what, bytes } if what == name => {
                self.ch.sent += bytes;
                self.progress.bytes(self.ch.sent);
                Ok(total + bytes)
            }
            Msg::Failed { why } => Err(format!("on {}: {why}", self.o.dest.name)),
            m => Err(format!("the receiver answered {m:?} out of turn")),
        }
    }

    /// A dump to the page server failed: what the page server there said
    /// (a full disk), as `; on HOST: why`, or nothing.
    fn far_reason(&mut self, stream: Option<u16>, name: &str) -> String {
        if stream.is_none() {
            return String::new();
        }
        let _ = self.send(&Msg::Sent { what: name.into() });
        let _ = self.ch.flush();
        match self.ch.recv(Duration::from_secs(30)) {
            Ok(Msg::Failed { why }) => format!("; on {}: {why}", self.o.dest.name),
            _ => String::new(),
        }
    }

    fn send(&mut self, m: &Msg) -> Result<(), String> {
        wire::write_msg(&mut self.ch.out, m).map_err(|e| self.broken(e))
    }

    /// A write failed: the far side's own word if it sent one (a full
    /// disk there), else why the channel ended.
    fn broken(&mut self, e: std::io::Error) -> String {
        if let Ok(Msg::Failed { why }) = self.ch.recv(Duration::from_secs(2)) {
            return format!("on {}: {why}", self.o.dest.name);
        }
        let _ = e;
        self.ch.ended()
    }

    /// Waits for the receiver's word that `what` arrived whole, so that a
    /// disk that filled up there is known before we go on.
    fn expect_running(&mut self, t: Duration) -> Result<(i64, u64), String> {
        match self.ch.recv(t)? {
            Msg::Running { pid, restore_ms } => Ok((pid, restore_ms)),
            Msg::Failed { why } => Err(format!("on {}: {why}", self.o.dest.name)),
            m => Err(format!("the receiver answered {m:?} out of turn")),
        }
    }
}

/// What a bundle entry was at the first copy: (dev, ino, size, mtime,
/// ctime, mode), by path.
#[derive(Default)]
struct Diff {
    prev: Option<std::collections::HashMap<String, [i64; 6]>>,
    cur: std::collections::HashMap<String, [i64; 6]>,
}

impl Diff {
    fn id(m: &fs::Metadata) -> [i64; 6] {
        [
            m.dev() as i64,
            m.ino() as i64,
            m.size() as i64,
            m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            m.ctime() * 1_000_000_000 + m.ctime_nsec(),
            m.mode() as i64,
        ]
    }
    /// Records `rel`; true if it must be sent (no diff, or new or changed).
    fn changed(d: &mut Option<Diff>, rel: &str, m: &fs::Metadata) -> bool {
        let Some(d) = d else { return true };
        let id = Diff::id(m);
        d.cur.insert(rel.to_string(), id);
        d.prev.as_ref().is_none_or(|p| p.get(rel) != Some(&id))
    }
    /// What was there at the first copy and is gone now.
    fn removed(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .prev
            .iter()
            .flat_map(|p| p.keys())
            .filter(|k| !self.cur.contains_key(*k))
            .cloned()
            .collect();
        v.sort();
        v
    }
}

/// Init's stdio as the receiver must re-make it: `null`, or
/// `file:MODE` for a file opened for appending. Anything else can't move
/// to another machine, and is refused before anything happens.
fn stdio_kinds(pid: i64) -> Result<Vec<String>, String> {
    let mut v = Vec::new();
    for fd in 0..3 {
        let link = fs::read_link(format!("/proc/{pid}/fd/{fd}"))
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default();
        if link.is_empty() {
            v.push("closed".into());
            continue;
        }
        if link == "/dev/null" {
            v.push("null".into());
            continue;
        }
        // A socket is CRIU's to dump (a TCP connection, a socket inside
        // the container; one connected outside makes the dump fail with
        // its own line): the restore needs nothing in its place.
        if link.starts_with("socket:[") {
            v.push("inside".into());
            continue;
        }
        // A pipe to a process here (an engine's conmon, a shell's `|`):
        // its other end stays here. CRIU dumps it as external, and the
        // restore there puts what the receiver gives in its place
        // (inherit-fd): /dev/null for stdin, a log file for stdout and
        // stderr. What the pipe held unread at the freeze is not moved.
        if link.starts_with("pipe:[") {
            v.push("pipe".into());
            continue;
        }
        let m = fs::metadata(format!("/proc/{pid}/fd/{fd}")).ok();
        let flags = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("flags:"))
                    .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
            })
            .unwrap_or(0);
        match m {
            Some(m) if m.is_file() && flags & libc::O_APPEND as u32 != 0 => {
                v.push(format!("file:{:o}", m.mode()))
            }
            Some(m) if m.is_file() => {
                return Err(format!(
                    "its fd {fd} is {link}, opened without O_APPEND: CRIU brings such a file back only unchanged and at the same path, which another host doesn't have (start it with >> or /dev/null)"
                ))
            }
            _ => {
                return Err(format!(
                    "its fd {fd} is {link}, which can't move to another host (a terminal or a socket stays with its peer here): start it with stdio on /dev/null, a pipe, or files opened with >>"
                ))
            }
        }
    }
    Ok(v)
}

pub fn migrate(rt: &Runtime, o: &Opts) -> Result<Record, String> {
    let t0 = Instant::now();
    let st = rt.state(&o.id)?;
    let status = st["status"].as_str().unwrap_or("");
    if status != "running" {
        return Err(format!(
            "it is {status}: only a running container migrates (a paused one: resume it first)"
        ));
    }
    let pid = st["pid"].as_i64().unwrap_or(0);
    let bundle = st["bundle"].as_str().unwrap_or("").to_string();
    if o.copy_rootfs {
        rootfs_inside(Path::new(&bundle))?;
    }
    let stdio = stdio_kinds(pid)?;
    let netns = net::netns_path(Path::new(&bundle))?;
    let netdesc = match &netns {
        Some(p) => Some(net::describe(p)?),
        None => None,
    };
    // Our images: a fresh directory, removed at the end unless kept.
    let work = o.image_dir.join(&o.id);
    fs::create_dir_all(&o.image_dir).map_err(|e| format!("{}: {e}", o.image_dir.display()))?;
    if let Err(e) = fs::create_dir(&work) {
        return Err(if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!(
                "{} exists: another migration of it is under way, or one left its images (--keep-images); remove it first",
                work.display()
            )
        } else {
            format!("{}: {e}", work.display())
        });
    }
    let images = Cleanup {
        dir: work.clone(),
        keep: o.keep_images,
    };

    let h = &o.dest;
    let mut argv = vec![h.ward.clone(), "cluster".into(), "__receive".into()];
    if let Some(r) = &h.root {
        argv.extend(["--root".into(), r.clone()]);
    }
    if let Some(w) = &h.work {
        argv.extend(["--work".into(), w.clone()]);
    }
    if let Some(c) = &h.criu {
        argv.extend(["--criu".into(), c.clone()]);
    }
    let mut cmd = ssh::command(h, o.ssh_config.as_ref(), &argv);
    // Stop-and-copy and pre-copy: the memory goes straight from CRIU's
    // dump to a page server on the destination, through a port ssh
    // forwards from our loopback to the receiver's page socket (the same
    // authenticated connection), rather than to our disk and then over
    // the channel. Not when the socket's path there is too long for a
    // unix socket (or relative): then the images go the slow way.
    let stream_port = match page_stream_path(h, &o.id) {
        Some(path) if o.strategy != Strategy::PostCopy && o.page_stream => {
            let p = free_port()?;
            ssh::local_forward(&mut cmd, p, &path);
            Some(p)
        }
        _ => None,
    };
    // Post-copy: the destination's lazy-pages daemon fetches the memory
    // from our page server (on our loopback) through a port ssh forwards
    // on the destination's loopback: the same authenticated connection.
    let page_port = if o.strategy == Strategy::PostCopy {
        let p = free_port()?;
        ssh::remote_forward(&mut cmd, p);
        Some(p)
    } else {
        None
    };
    let ch = Channel::open(cmd).map_err(|e| format!("ssh: {e}"))?;
    let mut s = Source {
        o,
        ch,
        progress: Progress::new(&o.id, o.quiet),
        fault: fault(),
    };
    s.send(&Msg::Hello {
        version: crate::VERSION.into(),
        id: o.id.clone(),
        bundle: o.dest_bundle.clone().unwrap_or_else(|| bundle.clone()),
        strategy: o.strategy.name().into(),
        tcp: o.tcp,
        copy_rootfs: o.copy_rootfs,
        fault: s.fault.clone(),
        stdio,
        net: netdesc.clone(),
        netns: netns.as_ref().map(|p| p.to_string_lossy().into_owned()),
        pages: stream_port.is_some(),
    })?;
    s.progress.phase(&format!("preflight on {}", h.name));
    match s.ch.recv(Duration::from_secs(180)) {
        Ok(Msg::Ready { .. }) => {}
        Ok(Msg::Failed { why }) => return Err(format!("preflight on {}: {why}", h.name)),
        Ok(m) => return Err(format!("the receiver answered {m:?} out of turn")),
        Err(e) => return Err(format!("preflight on {}: {e}", h.name)),
    }
    let far_port = match page_port {
        Some(_) => Some(
            ssh::forwarded_port(&s.ch.stderr, Duration::from_secs(30))
                .map_err(|e| format!("the page channel to {}: {e}", h.name))?,
        ),
        None => None,
    };
    // --copy-rootfs: the bundle goes while the container runs; what
    // changes in a writable rootfs after this goes again once it is frozen.
    let mut bundle_diff: Option<Diff> = None;
    if o.copy_rootfs {
        s.progress.phase("copying the bundle");
        let mut d = Some(Diff::default());
        s.send_bundle(Path::new(&bundle), &mut d)?;
        bundle_diff = d;
    }
    s.step("before-freeze");

    // Pre-copy: rounds while it runs, until a round is small or stops
    // shrinking.
    let mut rounds = Vec::new();
    let mut parent: Option<String> = None;
    if o.strategy == Strategy::PreCopy {
        let mut last = u64::MAX;
        for n in 1..=o.max_rounds {
            let name = format!("pre{n}");
            let t = Instant::now();
            s.progress.phase(&format!("pre-copy round {n}"));
            let img = work.join(&name);
            let mut args = vec![
                "checkpoint".to_string(),
                "--pre-dump".into(),
                "--image-path".into(),
                img.to_string_lossy().into_owned(),
            ];
            if let Some(p) = &parent {
                args.extend(["--parent-path".into(), format!("../{p}")]);
            }
            if let Some(port) = stream_port {
                s.announce_pages(&name, parent.as_deref())?;
                args.extend(["--page-server".into(), format!("127.0.0.1:{port}")]);
            }
            args.push(o.id.clone());
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            let d = rt.run(&a, Duration::from_secs(3600));
            if !d.ok() {
                let far = s.far_reason(stream_port, &name);
                return Err(format!("pre-copy round {n}: {}{far}", d.why()));
            }
            let bytes = if stream_port.is_some() {
                s.send_rest(&work, &name)?
            } else {
                let b = s.send_tree(&work, &name, &mut None)?;
                s.send(&Msg::Sent { what: name.clone() })?;
                s.ch.flush().map_err(|e| s.broken(e))?;
                b
            };
            rounds.push(Round {
                round: n,
                bytes,
                ms: t.elapsed().as_millis() as u64,
            });
            s.step("precopy");
            parent = Some(name);
            // Stop once a round is small (a final dump that size is
            // short) or hardly smaller than the one before (the rest is
            // dirtied as fast as it is sent).
            if bytes < 4 << 20 || bytes * 10 > last * 8 {
                break;
            }
            last = bytes;
        }
    }

    // The freeze: from here the container stays frozen until the far
    // side runs it, or runs again here.
    s.progress.phase("freeze and final dump");
    let t_freeze = Instant::now();
    let d = rt.run(&["pause", &o.id], Duration::from_secs(60));
    if !d.ok() {
        return Err(format!("pause: {}", d.why()));
    }
    let thaw = |why: String| -> String {
        if let Some(n) = &netdesc {
            if let Err(e) = net::set_outer(n, true) {
                eprintln!("ward: migrate {}: putting its veth back up: {e}", o.id);
            }
        }
        let d = rt.run(&["resume", &o.id], Duration::from_secs(60));
        if d.ok() {
            format!("{why}; the container runs on here")
        } else {
            format!(
                "{why}; and resuming it here failed too ({}): it is paused here",
                d.why()
            )
        }
    };
    // The frozen kernel here must not take (and ACK) what the peer sends
    // from now on: the destination's copy would never see it.
    if let Some(n) = &netdesc {
        if let Err(e) = net::set_outer(n, false) {
            return Err(thaw(format!("taking its veth down: {e}")));
        }
    }
    let fin = work.join("final");
    let mut args = vec![
        "checkpoint".to_string(),
        "--leave-running".into(),
        "--image-path".into(),
        fin.to_string_lossy().into_owned(),
    ];
    if let Some(p) = &parent {
        args.extend(["--parent-path".into(), format!("../{p}")]);
    }
    if o.tcp {
        args.push("--tcp-established".into());
    }
    if let Some(port) = stream_port {
        if let Err(e) = s.announce_pages("final", parent.as_deref()) {
            return Err(thaw(format!("announcing the final dump's pages: {e}")));
        }
        args.extend(["--page-server".into(), format!("127.0.0.1:{port}")]);
    }
    let mut lazy: Option<lazy::Dump> = None;
    if let Some(p) = page_port {
        args.extend([
            "--lazy-pages".into(),
            "--page-server".into(),
            format!("127.0.0.1:{p}"),
            "--status-fd".into(),
            "3".into(),
        ]);
        args.push(o.id.clone());
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        match lazy::Dump::start(rt, &a, &fin) {
            Ok(l) => lazy = Some(l),
            Err(e) => return Err(thaw(format!("final dump: {e}"))),
        }
    } else {
        args.push(o.id.clone());
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let d = rt.run(&a, Duration::from_secs(3600));
        if !d.ok() {
            let far = s.far_reason(stream_port, "final");
            return Err(thaw(format!("final dump: {}{far}", d.why())));
        }
    }
    // A failure from here on also ends a lazy dump that serves pages.
    let thaw = |why: String| -> String {
        if let Some(l) = lazy.as_ref() {
            l.abort();
        }
        thaw(why)
    };
    s.step("dumped");
    if let Some(first) = bundle_diff.take() {
        if rootfs_writable(Path::new(&bundle)) {
            s.progress
                .phase("the bundle's changes since the first copy");
            let mut d = Some(Diff {
                prev: Some(first.cur),
                cur: Default::default(),
            });
            if let Err(e) = s.send_bundle(Path::new(&bundle), &mut d) {
                return Err(thaw(format!("sending the bundle's changes: {e}")));
            }
        }
    }
    let final_bytes = if stream_port.is_some() {
        s.send_rest(&work, "final")
    } else {
        s.send_tree(&work, "final", &mut None).and_then(|b| {
            s.send(&Msg::Sent {
                what: "final".into(),
            })
            .map(|_| b)
        })
    };
    let final_bytes = match final_bytes {
        Ok(b) => b,
        Err(e) => return Err(thaw(format!("sending the final dump: {e}"))),
    };
    if let Err(e) = s.send(&Msg::Restore {
        page_server: far_port.map(|p| format!("127.0.0.1:{p}")),
    }) {
        return Err(thaw(format!("sending the final dump: {e}")));
    }
    s.progress.phase(&format!("restore on {}", h.name));
    s.step("restore");
    let (_, restore_ms) = match s.expect_running(Duration::from_secs(3600)) {
        Ok(r) => r,
        Err(e) => return Err(thaw(format!("restore: {e}"))),
    };
    // The point of no return: the destination runs it. Tell it to keep
    // it (it then puts it on the link), then let go here.
    let committed =
        s.send(&Msg::Commit)
            .and_then(|_| match s.ch.recv(Duration::from_secs(60))? {
                Msg::Committed { warning } => {
                    if let Some(w) = warning {
                        eprintln!("ward: migrate {}: on {}: {w}", o.id, h.name);
                    }
                    Ok(())
                }
                m => Err(format!("the receiver answered {m:?} out of turn")),
            });
    // Downtime: from the freeze to the destination's word that it runs
    // and is on the link.
    let downtime = t_freeze.elapsed();
    if let Err(e) = committed {
        return Err(format!(
            "the destination restored it but its last answer was lost ({e}): it is left frozen here, and either runs on {} or was removed there; see `ward cluster ps`, then `ward resume {}` here or `ward delete --force {}` here",
            h.name, o.id, o.id
        ));
    }
    if let Some(l) = lazy.take() {
        // Post-copy: the memory is here until the destination has fetched
        // it all; the ssh connection carries it.
        s.progress
            .phase(&format!("serving the memory to {}", h.name));
        if let Err(e) = l.wait() {
            eprintln!(
                "ward: migrate {}: runs on {}, but serving its memory ended badly: {e}",
                o.id, h.name
            );
        }
    }
    let _ = s.send(&Msg::Sent {
        what: "done".into(),
    });
    let _ = s.ch.flush();
    let d = rt.run(&["delete", "--force", &o.id], Duration::from_secs(60));
    if !d.ok() {
        eprintln!(
            "ward: migrate {}: it runs on {} now, but deleting it here failed: {}",
            o.id,
            h.name,
            d.why()
        );
    }
    if let (Some(n), Some(p)) = (&netdesc, &netns) {
        net::remove(n, p);
    }
    drop(images);
    let rec = Record {
        id: o.id.clone(),
        destination: h.name.clone(),
        strategy: o.strategy,
        bytes_sent: s.ch.sent,
        pre_copy_rounds: rounds,
        pages_streamed: stream_port.is_some(),
        final_dump_bytes: final_bytes,
        downtime_ms: downtime.as_millis() as u64,
        restore_ms,
        total_ms: t0.elapsed().as_millis() as u64,
    };
    s.progress.done(&rec);
    Ok(rec)
}

/// Removes the images at the end, unless `--keep-images`.
struct Cleanup {
    dir: PathBuf,
    keep: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn bundle_config(bundle: &Path) -> Result<serde_json::Value, String> {
    let cfg = bundle.join("config.json");
    let data = fs::read(&cfg).map_err(|e| format!("{}: {e}", cfg.display()))?;
    serde_json::from_slice(&data).map_err(|e| format!("{}: {e}", cfg.display()))
}

/// --copy-rootfs sends the bundle directory: the rootfs must be in it.
fn rootfs_inside(bundle: &Path) -> Result<(), String> {
    let v = bundle_config(bundle)?;
    let r = Path::new(v["root"]["path"].as_str().unwrap_or("rootfs"));
    let inside = !r.is_absolute()
        && r.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if inside {
        Ok(())
    } else {
        Err(format!(
            "--copy-rootfs: its rootfs {} is not inside the bundle {}, which is what is sent",
            r.display(),
            bundle.display()
        ))
    }
}

fn rootfs_writable(bundle: &Path) -> bool {
    bundle_config(bundle).is_ok_and(|v| v["root"]["readonly"] != true)
}

/// The receiver's page socket for `id` on `h`: `<work>/<id>/pages.sock`,
/// when that is absolute and short enough for a unix socket's address.
fn page_stream_path(h: &Host, id: &str) -> Option<String> {
    let base = h.work.as_deref().unwrap_or(crate::receive::DEFAULT_WORK);
    let p = format!("{}/{id}/pages.sock", base.trim_end_matches('/'));
    (p.starts_with('/') && p.len() < 108 && !p.contains(':')).then_some(p)
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("a port on 127.0.0.1: {e}"))
}

/// The names in `dir`, sorted (so that both sides see one order); a name
/// that is not UTF-8 is an error.
fn sorted_names(dir: &Path) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let Ok(e) = e else { continue };
        let name = e
            .file_name()
            .into_string()
            .map_err(|_| format!("{}: a name that is not UTF-8", dir.display()))?;
        names.push(name);
    }
    names.sort();
    Ok(names)
}
