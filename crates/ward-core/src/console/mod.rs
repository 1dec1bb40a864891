//! Terminals: init opens a pty in the container's own devpts, makes its
//! slave the controlling terminal and stdio, binds it over /dev/console, and
//! sends the master over a console socket (SCM_RIGHTS), as runc does. The
//! socket is the engine's --console-socket, or one end of a pair that a
//! foreground `run` made itself ([`handoff_pair`]) to receive the master and
//! proxy it to its own stdio ([`Proxy`]).

mod proxy;

pub use proxy::Proxy;

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::sys::socket::{
    sendmsg, socketpair, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
};

use crate::error::{Error, Result};
use crate::sys;

/// A socket pair for init's console handoff: (ours, theirs). `theirs` goes
/// to init in place of a connected --console-socket (a stream socket, as
/// that one is, so init's side is the same code); `ours` receives the
/// master with [`receive_master`].
pub fn handoff_pair() -> Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| Error::sys("console socketpair", e))
}

/// Receives the pty master that init sent on the other end of `ours`, and
/// checks that it is one. Call it once init has reported Ready (create has
/// returned): the master was sent during setup and waits in the socket.
pub fn receive_master(ours: &OwnedFd) -> Result<OwnedFd> {
    let mut name = [0u8; 256];
    let (_, master) = sys::recv_with_fd(ours.as_fd(), &mut name)
        .map_err(|e| Error::sys("receive the console from init", e))?;
    let master = master.ok_or_else(|| {
        Error::Protocol("receive the console from init: no fd in the message".into())
    })?;
    sys::pty_number(master.as_fd())
        .map_err(|e| Error::sys("the console init sent is not a pty master", e))?;
    Ok(master)
}

/// Sends `fd` over the connected unix socket `sock` with `name` as payload.
pub fn send_fd(sock: RawFd, name: &str, fd: RawFd) -> Result<()> {
    let fds = [fd];
    let iov = [IoSlice::new(name.as_bytes())];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(sock, &iov, &cmsg, MsgFlags::empty(), None)
        .map_err(|e| Error::sys("send console to --console-socket", e))?;
    Ok(())
}

/// The process's session and stdio: with process.terminal, a pty of the
/// container's own devpts (made after pivot_root, as root in the container)
/// whose master goes to `console_socket`; otherwise just a new session.
/// `for_init`: the slave also becomes /dev/console (an exec'd process leaves
/// the init's in place).
pub fn setup_stdio(
    process: &oci_spec::runtime::Process,
    console_socket: Option<&OwnedFd>,
    for_init: bool,
) -> Result<()> {
    if !process.terminal().unwrap_or(false) {
        return nix::unistd::setsid()
            .map(drop)
            .map_err(|e| Error::sys("setsid", e));
    }
    let sock = console_socket
        .ok_or_else(|| Error::invalid("process.terminal", "set, but there is no console socket"))?;
    let size = process
        .console_size()
        .map(|b| (b.height() as u16, b.width() as u16));
    setup_pty(sock, size, for_init)
}

fn setup_pty(console_socket: &OwnedFd, size: Option<(u16, u16)>, console: bool) -> Result<()> {
    let master = nix::fcntl::open(
        "/dev/ptmx",
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::path("open", "/dev/ptmx", e))?;
    let m = master.as_fd();
    sys::pty_unlock(m).map_err(|e| Error::sys("unlock pty", e))?;
    let num = sys::pty_number(m).map_err(|e| Error::sys("get pty number", e))?;
    // TIOCGPTPEER opens the slave through the master itself: no path lookup
    // the container could redirect.
    let slave = sys::pty_open_peer(m, libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC)
        .map_err(|e| Error::sys("open pty slave", e))?;
    if let Some((h, w)) = size {
        let ws = libc::winsize {
            ws_row: h,
            ws_col: w,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        sys::set_window_size(m, &ws).map_err(|e| Error::sys("set console size", e))?;
    }
    if console {
        bind_console(&slave)?;
    }
    send_fd(
        console_socket.as_raw_fd(),
        &format!("/dev/pts/{num}"),
        m.as_raw_fd(),
    )?;
    drop(master);
    nix::unistd::setsid().map_err(|e| Error::sys("setsid", e))?;
    sys::set_controlling_terminal(slave.as_fd())
        .map_err(|e| Error::sys("set controlling terminal", e))?;
    nix::unistd::dup2_stdin(&slave)
        .and_then(|_| nix::unistd::dup2_stdout(&slave))
        .and_then(|_| nix::unistd::dup2_stderr(&slave))
        .map_err(|e| Error::sys("dup console onto stdio", e))?;
    Ok(())
}

/// Binds the pty slave over /dev/console (created as an empty file if the
/// image has none). /dev is the container's own by now, after pivot_root.
fn bind_console(slave: &OwnedFd) -> Result<()> {
    let console = Path::new("/dev/console");
    match std::fs::symlink_metadata(console) {
        Ok(m) if m.file_type().is_symlink() => {
            std::fs::remove_file(console).map_err(|e| Error::path("remove", console, e))?;
            create_empty(console)?;
        }
        Ok(_) => {}
        Err(_) => create_empty(console)?,
    }
    nix::mount::mount(
        Some(format!("/proc/self/fd/{}", slave.as_raw_fd()).as_str()),
        console,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| Error::path("bind console over", console, e))
}

fn create_empty(p: &Path) -> Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(p)
        .map(drop)
        .map_err(|e| Error::path("create", p, e))
}
