//! systemd's protocols through the runtime. LISTEN_FDS (socket
//! activation): the sockets systemd passed to ward go on to the container.
//! NOTIFY_SOCKET: a container run under systemd (Type=notify) tells it when
//! it is ready. ward puts a directory of the container's state
//! at /run/notify in the container, with NOTIFY_SOCKET pointing at the
//! socket `start` binds there; `start` waits for READY=1 and passes it, with
//! the init's host pid as MAINPID, to the caller's own NOTIFY_SOCKET.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use oci_spec::runtime::{MountBuilder, Spec};

use crate::error::{Error, Result};

const DIR: &str = "notify";
const SOCKET: &str = "notify.sock";
const IN_CONTAINER: &str = "/run/notify";

/// Socket activation: the caller's `n` fds from 3 go to the process, ahead
/// of --preserve-fds ones, and it gets LISTEN_FDS=N and LISTEN_PID=1 (as
/// runc).
fn listen_fds(process: &mut oci_spec::runtime::Process, n: u32) {
    if n == 0 {
        return;
    }
    let mut env = process.env().clone().unwrap_or_default();
    env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
    env.push(format!("LISTEN_FDS={n}"));
    env.push("LISTEN_PID=1".into());
    process.set_env(Some(env));
}

/// The number of socket-activation fds in the environment that are meant
/// for this process (LISTEN_FDS, when LISTEN_PID is its pid), for callers
/// that take them from there (the `ward` binary).
pub fn listen_fds_from_env() -> u32 {
    let n: u32 = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    if ours {
        n
    } else {
        0
    }
}

/// What of systemd's environment reaches the container.
pub(super) struct Passthrough {
    /// The caller's NOTIFY_SOCKET, which `start` tells when ready.
    pub notify: Option<PathBuf>,
    /// How many socket-activation fds (from 3) go to the process.
    pub listen_fds: u32,
}

/// Lays systemd's environment into the spec: the LISTEN_FDS variables, and
/// for NOTIFY_SOCKET the notify directory of the state dir `state_dir` and
/// the variable pointing into it.
pub(super) fn setup_spec(
    state_dir: &Path,
    spec: &mut Spec,
    opts: &super::CreateOptions,
) -> Result<Passthrough> {
    if let Some(mut p) = spec.process().clone() {
        listen_fds(&mut p, opts.listen_fds);
        spec.set_process(Some(p));
    }
    let notify = match opts.notify_socket.as_deref() {
        Some(host) if !host.as_os_str().is_empty() => Some(setup_notify(state_dir, spec, host)?),
        _ => None,
    };
    Ok(Passthrough {
        notify,
        listen_fds: opts.listen_fds,
    })
}

fn setup_notify(state_dir: &Path, spec: &mut Spec, host: &Path) -> Result<PathBuf> {
    let dir = state_dir.join(DIR);
    std::fs::create_dir(&dir).map_err(|e| Error::path("mkdir", &dir, e))?;
    let mount = MountBuilder::default()
        .destination(IN_CONTAINER)
        .typ("bind")
        .source(&dir)
        .options(
            ["bind", "nosuid", "noexec", "nodev", "ro"]
                .map(String::from)
                .to_vec(),
        )
        .build()
        .map_err(|e| Error::Other(format!("build the notify socket mount: {e}")))?;
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(mount);
    spec.set_mounts(Some(mounts));
    if let Some(mut p) = spec.process().clone() {
        let mut env = p.env().clone().unwrap_or_default();
        env.retain(|e| !e.starts_with("NOTIFY_SOCKET="));
        env.push(format!("NOTIFY_SOCKET={IN_CONTAINER}/{SOCKET}"));
        p.set_env(Some(env));
        spec.set_process(Some(p));
    }
    Ok(host.to_path_buf())
}

/// Binds the container's side (before its program runs, so no message is
/// lost), through an fd of its directory: sun_path holds 108 bytes.
pub(super) fn bind(state_dir: &Path) -> Result<UnixDatagram> {
    let dir = state_dir.join(DIR);
    let path = dir.join(SOCKET);
    let _ = std::fs::remove_file(&path);
    let fd = nix::fcntl::open(
        &dir,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::path("open", &dir, e))?;
    UnixDatagram::bind(format!("/proc/self/fd/{}/{SOCKET}", fd.as_raw_fd()))
        .map_err(|e| Error::path("socket", path, e))
}

/// Waits for READY=1 from the container (or for its init to exit), then
/// tells `host`. Other messages before it are passed on as they come.
pub(super) fn forward(
    sock: &UnixDatagram,
    host: &Path,
    init_pid: i32,
    init: &OwnedFd,
) -> Result<()> {
    let out = UnixDatagram::unbound().map_err(|e| Error::sys("notify socket", e))?;
    let mut buf = vec![0u8; 4096];
    loop {
        let mut fds = [
            PollFd::new(sock.as_fd(), PollFlags::POLLIN),
            PollFd::new(init.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("wait for the container's notification", e)),
        }
        // Flags nix doesn't know (the kernel sets none) count as anything.
        let ready = |i: usize| fds[i].revents().unwrap_or(PollFlags::all());
        if ready(0).contains(PollFlags::POLLIN) {
            let n = sock
                .recv(&mut buf)
                .map_err(|e| Error::sys("read the container's notification", e))?;
            let msg = &buf[..n];
            let ready = msg.split(|b| *b == b'\n').any(|l| l == b"READY=1");
            let mut fwd = msg.to_vec();
            if ready {
                if !fwd.ends_with(b"\n") {
                    fwd.push(b'\n');
                }
                fwd.extend_from_slice(format!("MAINPID={init_pid}\n").as_bytes());
            }
            out.send_to(&fwd, host)
                .map_err(|e| Error::path("notify", host, e))?;
            if ready {
                return Ok(());
            }
        } else if !ready(1).is_empty() {
            // The container ended without saying it was ready.
            return Ok(());
        }
    }
}
