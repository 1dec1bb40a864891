//! The parent <-> init channel: a SOCK_SEQPACKET socket pair carrying one
//! typed message per packet.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno as NixErrno;
use nix::sys::socket::{recv, send, MsgFlags};
use serde::{Deserialize, Serialize};

use crate::error::{Errno, Error, Result};

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Msg {
    /// parent -> child: the child is in its cgroups (and, when init was
    /// cloned straight into a new user namespace, its id maps are written).
    Go,
    /// child -> parent: I made a user namespace; write its id maps.
    NeedIdMaps,
    /// parent -> child: the id maps are written.
    IdMapsDone,
    /// intermediate -> parent: init's pid (as the parent sees it).
    InitPid(i32),
    /// init -> parent: set up and waiting for `start`.
    Ready,
    /// init -> parent: the mounts are made, pivot_root is next: run the
    /// prestart and createRuntime hooks.
    Hooks,
    /// parent -> init: they ran; the state object (JSON) for init's own
    /// createContainer and startContainer hooks.
    HooksDone(String),
    /// child -> parent: the seccomp notify listener fd rides along
    /// (SCM_RIGHTS), for the parent to hand to the agent at listenerPath.
    SeccompFd,
    /// child -> parent: setup failed; the text says what and why.
    Error(String),
    /// init -> parent: a createContainer hook failed (so poststop runs).
    HookFailed(crate::hooks::HookReport),
}

#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

impl Channel {
    /// A connected pair: (parent's end, child's end), both close-on-exec.
    pub fn pair() -> Result<(Channel, Channel)> {
        use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| Error::sys("socketpair", e))?;
        Ok((Channel { fd: a }, Channel { fd: b }))
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }

    pub fn send(&self, msg: &Msg) -> Result<()> {
        let data =
            serde_json::to_vec(msg).map_err(|e| Error::Protocol(format!("encode {msg:?}: {e}")))?;
        loop {
            match send(self.fd.as_raw_fd(), &data, MsgFlags::MSG_NOSIGNAL) {
                Ok(_) => return Ok(()),
                Err(NixErrno::EINTR) => {}
                Err(e) => return Err(Error::sys("send to init channel", e)),
            }
        }
    }

    /// Sends `msg` with `fd` attached (SCM_RIGHTS).
    pub fn send_fd(&self, msg: &Msg, fd: std::os::fd::BorrowedFd) -> Result<()> {
        use nix::sys::socket::{sendmsg, ControlMessage};
        let data =
            serde_json::to_vec(msg).map_err(|e| Error::Protocol(format!("encode {msg:?}: {e}")))?;
        let fds = [fd.as_raw_fd()];
        let iov = [std::io::IoSlice::new(&data)];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        loop {
            match sendmsg::<()>(
                self.fd.as_raw_fd(),
                &iov,
                &cmsg,
                MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Ok(_) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("send to init channel", e)),
            }
        }
    }

    /// The next message and the fd that came with it, if any.
    pub fn recv_fd(&self) -> Result<Option<(Msg, Option<OwnedFd>)>> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let (n, fd) = match crate::sys::recv_with_fd(self.fd.as_fd(), &mut buf) {
                Ok(r) => r,
                Err(Errno(libc::EINTR)) => continue,
                // The peer died with a message of ours unread (an init
                // OOM-killed before it read Go): as good as EOF.
                Err(Errno(libc::ECONNRESET)) => return Ok(None),
                Err(e) => return Err(Error::sys("receive from init channel", e)),
            };
            if n == 0 {
                return Ok(None);
            }
            return serde_json::from_slice(&buf[..n])
                .map(|m| Some((m, fd)))
                .map_err(|e| Error::Protocol(format!("bad message from init: {e}")));
        }
    }

    /// The next message, or None once the other side is gone.
    pub fn recv(&self) -> Result<Option<Msg>> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Ok(0) | Err(NixErrno::ECONNRESET) => return Ok(None),
                Ok(n) => {
                    return serde_json::from_slice(&buf[..n])
                        .map(Some)
                        .map_err(|e| Error::Protocol(format!("bad message from init: {e}")))
                }
                Err(NixErrno::EINTR) => {}
                Err(e) => return Err(Error::sys("receive from init channel", e)),
            }
        }
    }

    /// Waits for `want`, turning an error message or a hang-up into an error.
    pub fn expect(&self, want: Msg) -> Result<()> {
        match self.recv()? {
            Some(m) if m == want => Ok(()),
            Some(Msg::Error(e)) => Err(Error::Init(e)),
            Some(m) => Err(Error::Protocol(format!(
                "unexpected message {m:?}, wanted {want:?}"
            ))),
            None => Err(Error::Protocol(format!(
                "channel closed while waiting for {want:?}"
            ))),
        }
    }
}
