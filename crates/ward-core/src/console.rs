//! Terminals: init opens a pty in the container's own devpts, makes its
//! slave the controlling terminal and stdio, binds it over /dev/console, and
//! sends the master to the engine's --console-socket (SCM_RIGHTS), as runc does.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

use crate::error::{Errno, Error, Result};

/// Sends `fd` over the connected unix socket `sock` with `name` as payload.
pub fn send_fd(sock: RawFd, name: &str, fd: RawFd) -> Result<()> {
    let fds = [fd];
    let iov = [IoSlice::new(name.as_bytes())];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(sock, &iov, &cmsg, MsgFlags::empty(), None)
        .map_err(|e| Error::sys("send console to --console-socket", e))?;
    Ok(())
}

/// Sets up the container's terminal (after pivot_root, as root in the
/// container) and makes it the process's stdio. `size` is (height, width).
pub fn setup(console_socket: &OwnedFd, size: Option<(u16, u16)>) -> Result<()> {
    setup_pty(console_socket, size, true)
}

/// The same for a process `exec`'d into a running container: its own pty,
/// and /dev/console stays the init's.
pub fn setup_exec(console_socket: &OwnedFd, size: Option<(u16, u16)>) -> Result<()> {
    setup_pty(console_socket, size, false)
}

fn setup_pty(console_socket: &OwnedFd, size: Option<(u16, u16)>, console: bool) -> Result<()> {
    let master = nix::fcntl::open(
        "/dev/ptmx",
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::path("open", "/dev/ptmx", e))?;
    let m = master.as_raw_fd();
    let mut unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int from the pointer we pass.
    if unsafe { libc::ioctl(m, libc::TIOCSPTLCK, &mut unlock) } < 0 {
        return Err(Error::sys("unlock pty", Errno::last()));
    }
    let mut num: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes an unsigned int to the pointer we pass.
    if unsafe { libc::ioctl(m, libc::TIOCGPTN, &mut num) } < 0 {
        return Err(Error::sys("get pty number", Errno::last()));
    }
    // TIOCGPTPEER opens the slave through the master itself: no path lookup
    // the container could redirect.
    // SAFETY: TIOCGPTPEER takes open flags and returns a new fd.
    let slave = unsafe {
        libc::ioctl(
            m,
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if slave < 0 {
        return Err(Error::sys("open pty slave", Errno::last()));
    }
    // SAFETY: the kernel returned a new fd that nothing else owns.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    if let Some((h, w)) = size {
        let ws = libc::winsize {
            ws_row: h,
            ws_col: w,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize from the pointer we pass.
        if unsafe { libc::ioctl(m, libc::TIOCSWINSZ, &ws) } < 0 {
            return Err(Error::sys("set console size", Errno::last()));
        }
    }
    if console {
        bind_console(&slave)?;
    }
    send_fd(console_socket.as_raw_fd(), &format!("/dev/pts/{num}"), m)?;
    drop(master);
    nix::unistd::setsid().map_err(|e| Error::sys("setsid", e))?;
    // SAFETY: TIOCSCTTY with argument 0 on a terminal fd we own.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(Error::sys("set controlling terminal", Errno::last()));
    }
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
