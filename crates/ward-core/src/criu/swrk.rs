//! One conversation with `criu swrk`: CRIU started with one end of a
//! SOCK_SEQPACKET pair, one protobuf message per packet. ward sends the
//! request; CRIU answers with notifications (each acknowledged, after
//! ward's own work for that step) and then the response. The whole
//! conversation is bounded in time: past the bound CRIU is SIGKILLed and
//! reaped, and the caller cleans up what it had started.
//!
//! ```text
//!   ward                                   criu swrk 3
//!    |-- Req{type, opts} ------------------->|
//!    |<-- Resp{NOTIFY, script, pid} ---------|  (0..n times)
//!    |-- Req{NOTIFY, notify_success} ------->|
//!    |<-- Resp{type, success, ...} ----------|
//!    close                                  exits
//! ```

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use prost::Message;

use super::error::CriuError;
use super::rpc::{Notify, Req, ReqType, Resp};

/// The fd number CRIU gets its end of the socket at; the extra fds of a
/// call follow it (see [`fd_number`]).
const SWRK_FD: RawFd = 3;
/// At most this many extra fds per call (the pre-exec code has no heap).
const MAX_FDS: usize = 16;

/// The fd number, in CRIU, of the `i`th extra fd given to [`Call::fds`]:
/// what `inherit_fd` and a page server's `fd` must say. (CRIU opens
/// `images_dir_fd`, `work_dir_fd` and `status_fd` through
/// /proc/<caller>/fd/N instead: those are the caller's own numbers.)
pub fn fd_number(i: usize) -> i32 {
    SWRK_FD + 1 + i as i32
}

/// What a notification handler returns: Err(why) stops CRIU.
pub type NotifyResult = Result<(), String>;

/// How CRIU is started. That can be before its requests are known (see
/// [`start`]).
pub struct Spawn<'a> {
    /// Passed to CRIU as fds 4, 5, ... in this order.
    pub fds: Vec<BorrowedFd<'a>>,
    /// The operation's name in messages ("dump", "restore", ...).
    pub op: &'static str,
    /// Start CRIU with no_new_privs: what it forks (the restored tasks)
    /// inherits it. For criu before 3.19, which doesn't restore it itself.
    pub no_new_privs: bool,
}

/// The requests of one conversation and how to run them.
pub struct Call {
    /// Sent in turn; all but the last need `keep_open` (VERSION and
    /// FEATURE_CHECK allow it), and only the last may bring notifications.
    pub reqs: Vec<Req>,
    /// A request that fails is answered, not an error (probing).
    pub tolerate_failure: bool,
    /// The bound on the whole conversation, CRIU's exit included, from
    /// the first request on.
    pub timeout: Duration,
    /// CRIU's log (for messages; CRIU writes it itself).
    pub log: Option<PathBuf>,
}

/// CRIU's answers, one per request.
#[derive(Debug)]
pub struct Answer {
    pub resps: Vec<Resp>,
}

impl Answer {
    /// The answer to the last request.
    pub fn last(&self) -> &Resp {
        self.resps.last().expect("a call has a request")
    }
}

/// Starts `criu` (the binary's path) and runs one call with it.
/// `spawned` runs with CRIU's pid before the request is sent (CRIU does
/// nothing until then: the place to put it into a cgroup); `notify`
/// handles each notification, with the fd CRIU sent along, if any.
pub fn call(
    criu: &Path,
    s: Spawn<'_>,
    c: Call,
    spawned: impl FnOnce(i32) -> Result<(), String>,
    notify: impl FnMut(&Notify, Option<OwnedFd>) -> NotifyResult,
) -> Result<Answer, CriuError> {
    start(criu, s)?.call(c, spawned, notify)
}

/// A `criu swrk` waiting for its first request.
pub struct Started(Conversation);

/// Starts `criu swrk` ahead of its request: CRIU's own start (an exec and
/// its twenty-odd shared libraries, about 45 ms in the test VM, as long as
/// ward's whole part of an idle checkpoint's) then runs beside ward's
/// work on the request. Dropped unused, it is killed and reaped; if ward
/// dies first, CRIU reads the end of its socket and exits.
pub fn start(criu: &Path, s: Spawn<'_>) -> Result<Started, CriuError> {
    if s.fds.iter().any(|f| f.as_raw_fd() < 3) {
        // std puts CRIU's stdio in place before the pre-exec code runs:
        // fds 0-2 would be /dev/null by then. Callers pass copies.
        return Err(CriuError::Protocol(format!(
            "criu {}: stdio fds must be passed as copies",
            s.op
        )));
    }
    if s.fds.len() > MAX_FDS {
        return Err(CriuError::Protocol(format!(
            "criu {}: {} fds for criu, at most {MAX_FDS}",
            s.op,
            s.fds.len()
        )));
    }
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| CriuError::nix("criu: socketpair", e))?;
    let mut sources = [-1; MAX_FDS + 1];
    sources[0] = theirs.as_raw_fd();
    for (i, fd) in s.fds.iter().enumerate() {
        sources[i + 1] = fd.as_raw_fd();
    }
    let count = s.fds.len() + 1;
    let mut cmd = Command::new(criu);
    cmd.arg("swrk")
        .arg(SWRK_FD.to_string())
        // CRIU writes its log file; what it prints before opening it (a
        // kernel it can't handle, on this very line) would break ward's
        // one-line errors, and never reaches a restored process either:
        // that one gets its stdio by inherit_fd.
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    crate::sys::hand_fds_before_exec(&mut cmd, sources, count, SWRK_FD, s.no_new_privs);
    let child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            CriuError::Unsupported(format!(
                "criu not found at {}: install it (Debian: apt-get install criu) or name it with --criu",
                criu.display()
            ))
        } else {
            CriuError::io(format!("start {}", criu.display()), e)
        }
    })?;
    drop(theirs);
    Ok(Started(Conversation {
        child: Some(child),
        sock: ours,
        deadline: Instant::now(),
        timeout: Duration::ZERO,
        op: s.op,
        log: None,
        status: None,
    }))
}

impl Started {
    /// Runs one call (see [`call`]).
    pub fn call(
        self,
        c: Call,
        spawned: impl FnOnce(i32) -> Result<(), String>,
        mut notify: impl FnMut(&Notify, Option<OwnedFd>) -> NotifyResult,
    ) -> Result<Answer, CriuError> {
        let mut conv = self.0;
        conv.deadline = Instant::now() + c.timeout;
        conv.timeout = c.timeout;
        conv.log = c.log;
        let pid = conv.pid();
        if let Err(why) = spawned(pid) {
            conv.kill();
            return Err(CriuError::Protocol(format!("criu {}: {why}", conv.op)));
        }
        let count = c.reqs.len();
        let mut resps = Vec::with_capacity(count);
        for (i, req) in c.reqs.iter().enumerate() {
            let last = i + 1 == count;
            conv.send(req)?;
            let resp = conv.answer(req.r#type, &mut notify, c.tolerate_failure)?;
            resps.push(resp);
            if last {
                conv.finish();
            }
        }
        Ok(Answer { resps })
    }
}

/// CRIU's error message as one line, without its source location:
/// "Error (criu/x.c:12): what\n" gives "what".
fn one_line(msg: &str) -> Option<String> {
    let msg = msg.trim();
    let msg = match msg.find("Error (") {
        Some(i) => msg[i..].split_once("): ").map_or(&msg[i..], |(_, m)| m),
        None => msg,
    };
    let msg = msg
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    (!msg.is_empty()).then_some(msg)
}

/// The first error CRIU wrote to its log, without its timestamp and
/// source location: `(00.01) Error (criu/x.c:12): what` gives `what`.
pub fn first_error(log: &Path) -> Option<String> {
    let text = std::fs::read(log).ok()?;
    let text = String::from_utf8_lossy(&text);
    let line = text.lines().find(|l| l.contains("Error ("))?;
    let rest = &line[line.find("Error (")?..];
    let msg = rest.split_once("): ").map_or(rest, |(_, m)| m).trim();
    (!msg.is_empty()).then(|| msg.to_string())
}

/// CRIU's process and our end of the socket.
struct Conversation {
    child: Option<Child>,
    sock: OwnedFd,
    deadline: Instant,
    timeout: Duration,
    op: &'static str,
    log: Option<PathBuf>,
    /// How CRIU exited, once reaped.
    status: Option<std::process::ExitStatus>,
}

impl Conversation {
    /// Reads until the answer to a request of type `want`, handling the
    /// notifications before it.
    fn answer(
        &mut self,
        want: i32,
        notify: &mut impl FnMut(&Notify, Option<OwnedFd>) -> NotifyResult,
        tolerate: bool,
    ) -> Result<Resp, CriuError> {
        loop {
            let (resp, fd) = self.recv()?;
            if !resp.success && !tolerate {
                let why = resp
                    .cr_errmsg
                    .as_deref()
                    .and_then(one_line)
                    .or_else(|| self.log.as_deref().and_then(first_error));
                self.finish();
                return Err(CriuError::Failed {
                    op: self.op,
                    errno: resp.cr_errno,
                    why,
                    log: self.log.take(),
                });
            }
            if resp.r#type == ReqType::Notify as i32 && resp.success {
                let n = resp.notify.clone().unwrap_or_default();
                let res = notify(&n, fd);
                let ack = Req {
                    r#type: ReqType::Notify as i32,
                    opts: None,
                    notify_success: Some(res.is_ok()),
                    keep_open: None,
                    features: None,
                    pid: None,
                };
                self.send(&ack)?;
                if let Err(why) = res {
                    self.finish();
                    return Err(CriuError::Notify {
                        script: n.script.unwrap_or_default(),
                        why,
                        log: self.log.take(),
                    });
                }
                continue;
            }
            if resp.r#type != want {
                self.kill();
                return Err(CriuError::Protocol(format!(
                    "criu {}: answered a request of type {} to one of type {want}",
                    self.op, resp.r#type
                )));
            }
            return Ok(resp);
        }
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    fn send(&mut self, req: &Req) -> Result<(), CriuError> {
        let bytes = req.encode_to_vec();
        match send(self.sock.as_raw_fd(), &bytes, MsgFlags::MSG_NOSIGNAL) {
            Ok(n) if n == bytes.len() => Ok(()),
            Ok(_) => {
                self.kill();
                Err(CriuError::Protocol(format!(
                    "criu {}: short write on its socket",
                    self.op
                )))
            }
            Err(nix::errno::Errno::EPIPE) | Err(nix::errno::Errno::ECONNRESET) => Err(self.died()),
            Err(e) => {
                self.kill();
                Err(CriuError::nix(format!("criu {}: send", self.op), e))
            }
        }
    }

    /// The next message, within the deadline, with the fd that came with it.
    fn recv(&mut self) -> Result<(Resp, Option<OwnedFd>), CriuError> {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.kill();
                return Err(CriuError::Timeout {
                    op: self.op,
                    secs: self.timeout.as_secs(),
                    log: self.log.take(),
                });
            }
            // In slices, so that a CRIU that died while something else
            // holds its socket (a child of its own) is seen at once.
            let ms = left.as_millis().min(500) as i32;
            let mut pfd = [nix::poll::PollFd::new(
                self.sock.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            let t = nix::poll::PollTimeout::try_from(ms).unwrap_or(nix::poll::PollTimeout::MAX);
            match nix::poll::poll(&mut pfd, t) {
                Ok(0) => {
                    if self.exited() {
                        return Err(self.died());
                    }
                    continue;
                }
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    self.kill();
                    return Err(CriuError::nix(format!("criu {}: poll", self.op), e));
                }
            }
            // The packet's size first (MSG_TRUNC with an empty buffer).
            let size = match recv(
                self.sock.as_raw_fd(),
                &mut [],
                MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC | MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(0) => return Err(self.died()),
                Ok(n) => n,
                Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::ECONNRESET) => return Err(self.died()),
                Err(e) => {
                    self.kill();
                    return Err(CriuError::nix(format!("criu {}: receive", self.op), e));
                }
            };
            let mut buf = vec![0u8; size];
            // At most one fd comes with an answer; any further one is
            // closed.
            let (n, fd) = crate::sys::recv_with_fd(self.sock.as_fd(), &mut buf)
                .map_err(|e| CriuError::io(format!("criu {}: receive", self.op), e))?;
            let resp = Resp::decode(&buf[..n]).map_err(|e| {
                self.kill();
                CriuError::Protocol(format!("criu {}: undecodable answer: {e}", self.op))
            })?;
            return Ok((resp, fd));
        }
    }

    /// CRIU closed the socket: reaped, with how it ended.
    fn died(&mut self) -> CriuError {
        let how = match self.reap(Duration::from_secs(5)) {
            Some(s) => match (s.code(), s.signal()) {
                (Some(c), _) => format!("exited with status {c}"),
                (_, Some(sig)) => format!("was killed by signal {sig}"),
                _ => "ended".to_string(),
            },
            None => {
                self.kill();
                "closed its socket".to_string()
            }
        };
        let why = self.log.as_deref().and_then(first_error);
        CriuError::Died {
            op: self.op,
            how,
            why,
            log: self.log.take(),
        }
    }

    /// Waits for CRIU to exit, at most `bound` (and never past the deadline
    /// by more than that); None if it didn't.
    fn reap(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        if self.status.is_some() {
            return self.status;
        }
        let child = self.child.as_mut()?;
        let until = Instant::now() + bound;
        loop {
            match child.try_wait() {
                Ok(Some(s)) => {
                    self.child = None;
                    self.status = Some(s);
                    return Some(s);
                }
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(5)),
                _ => return None,
            }
        }
    }

    /// The answer is in: CRIU is told we are done (EOF) and reaped. A
    /// pre-dump's CRIU waits for more requests until then; a CRIU that
    /// doesn't exit in 10 s is killed.
    fn finish(&mut self) {
        let _ = nix::sys::socket::shutdown(self.sock.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        if self.reap(Duration::from_secs(10)).is_none() {
            self.kill();
        }
    }

    /// Whether CRIU has exited (reaped then).
    fn exited(&mut self) -> bool {
        self.reap(Duration::ZERO).is_some()
    }

    /// SIGKILL and reap.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Conversation {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_error_takes_the_message_of_the_first_error_line() {
        let dir = std::env::temp_dir().join(format!("ward-criu-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("dump.log");
        std::fs::write(
            &log,
            "(00.000100) Version: 3.17.1\n\
             (00.002000) Error (criu/files-reg.c:1710): Can't lookup mount=41 for fd=1 path=/tmp/out\n\
             (00.002100) Error (criu/cr-dump.c:1600): Dump files failed\n",
        )
        .unwrap();
        assert_eq!(
            first_error(&log).as_deref(),
            Some("Can't lookup mount=41 for fd=1 path=/tmp/out")
        );
        std::fs::write(&log, "(00.0001) all fine\n").unwrap();
        assert_eq!(first_error(&log), None);
        assert_eq!(first_error(&dir.join("missing.log")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn criu_messages_become_one_line() {
        assert_eq!(
            one_line("Error (criu/util.c:1040): Unable to mount tmpfs in x: Invalid argument\n")
                .as_deref(),
            Some("Unable to mount tmpfs in x: Invalid argument")
        );
        assert_eq!(one_line("a\nb\n").as_deref(), Some("a; b"));
        assert_eq!(one_line(" \n"), None);
    }

    #[test]
    fn fd_numbers_follow_the_socket() {
        assert_eq!(fd_number(0), 4);
        assert_eq!(fd_number(3), 7);
    }
}
