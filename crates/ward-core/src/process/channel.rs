//! The parent <-> init channel: a SOCK_SEQPACKET socket pair carrying one
//! typed message per packet.

use std::os::fd::{AsRawFd, OwnedFd};

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
            // SAFETY: data is a valid buffer of the given length.
            let r = unsafe {
                libc::send(
                    self.fd.as_raw_fd(),
                    data.as_ptr().cast(),
                    data.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            if r >= 0 {
                return Ok(());
            }
            let e = Errno::last();
            if e.0 != libc::EINTR {
                return Err(Error::sys("send to init channel", e));
            }
        }
    }

    /// Sends `msg` with `fd` attached (SCM_RIGHTS).
    pub fn send_fd(&self, msg: &Msg, fd: std::os::fd::BorrowedFd) -> Result<()> {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
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
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
        use std::os::fd::FromRawFd;
        let mut buf = vec![0u8; 64 * 1024];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        loop {
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let r = recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            );
            let msg = match r {
                Ok(m) => m,
                Err(nix::errno::Errno::EINTR) => continue,
                // The peer died with a message of ours unread (an init
                // OOM-killed before it read Go): as good as EOF.
                Err(nix::errno::Errno::ECONNRESET) => return Ok(None),
                Err(e) => return Err(Error::sys("receive from init channel", e)),
            };
            let mut fd = None;
            for c in msg
                .cmsgs()
                .map_err(|e| Error::sys("receive from init channel", e))?
            {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    for f in fds {
                        // SAFETY: the kernel installed this fd for us just
                        // now; nothing else owns it.
                        let owned = unsafe { OwnedFd::from_raw_fd(f) };
                        fd.get_or_insert(owned);
                    }
                }
            }
            let n = msg.bytes;
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
            // SAFETY: buf is a valid writable buffer of the given length.
            let r =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if r > 0 {
                return serde_json::from_slice(&buf[..r as usize])
                    .map(Some)
                    .map_err(|e| Error::Protocol(format!("bad message from init: {e}")));
            }
            let e = Errno::last();
            if r == 0 || e.0 == libc::ECONNRESET {
                return Ok(None);
            }
            if e.0 != libc::EINTR {
                return Err(Error::sys("receive from init channel", e));
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
