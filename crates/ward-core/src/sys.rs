//! Thin, documented wrappers around the Linux system calls that neither std nor
//! nix wraps for us (clone3, pidfd, openat2, mount_setattr, capset, close_range).
//! Every `unsafe` in the crate that talks to the kernel directly lives here.

use std::ffi::CStr;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub use libc::pid_t;

/// An errno, displayed as its lowercase strerror text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    pub fn last() -> Self {
        Errno(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

impl From<&io::Error> for Errno {
    fn from(e: &io::Error) -> Self {
        Errno(e.raw_os_error().unwrap_or(libc::EIO))
    }
}

impl From<io::Error> for Errno {
    fn from(e: io::Error) -> Self {
        Errno::from(&e)
    }
}

impl From<nix::errno::Errno> for Errno {
    fn from(e: nix::errno::Errno) -> Self {
        Errno(e as i32)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = io::Error::from_raw_os_error(self.0).to_string();
        // std appends " (os error N)"; runc's (Go's) wording has neither that
        // nor a capital letter.
        let text = text.split(" (os error").next().unwrap_or(&text);
        let mut chars = text.chars();
        match chars.next() {
            Some(c) => write!(f, "{}{}", c.to_lowercase(), chars.as_str()),
            None => write!(f, "errno {}", self.0),
        }
    }
}

impl std::error::Error for Errno {}

fn cvt(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cvt_int(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The kernel's `struct clone_args` (v2, with cgroup).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// fork(2) through clone3 so that new namespaces, CLONE_PARENT and the
/// cgroup to start in (CLONE_INTO_CGROUP, an fd of a cgroup2 directory) can
/// be asked for in the same call. Returns 0 in the child and the child's pid in the
/// parent, as fork does.
///
/// # Safety
/// The caller must be single-threaded (no other thread may hold a lock the
/// child will need), exactly as for fork(2).
pub unsafe fn clone3_fork(flags: u64, cgroup: Option<RawFd>) -> io::Result<pid_t> {
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let mut args = CloneArgs {
        flags: flags
            | if cgroup.is_some() {
                CLONE_INTO_CGROUP
            } else {
                0
            },
        cgroup: cgroup.unwrap_or(0) as u64,
        // CLONE_PARENT children must not ask for an exit signal of their own:
        // the kernel keeps the caller's parent's exit_signal.
        exit_signal: if flags & libc::CLONE_PARENT as u64 != 0 {
            0
        } else {
            libc::SIGCHLD as u64
        },
        ..Default::default()
    };
    // SAFETY: args is a valid, fully initialised clone_args of the size we pass;
    // without CLONE_VM the child gets a copy of our address space, so returning
    // into Rust code in both processes is sound (the caller guarantees no threads).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    cvt(ret).map(|p| p as pid_t)
}

/// pidfd_open(2): a handle to a process that can't be confused with a later
/// process that reuses the pid.
pub fn pidfd_open(pid: pid_t) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// pidfd_send_signal(2).
pub fn pidfd_send_signal(pidfd: &OwnedFd, sig: i32) -> io::Result<()> {
    // SAFETY: plain syscall; a null siginfo means "as kill(2) would".
    cvt(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
    .map(drop)
}

/// Waits until the process behind `pidfd` has exited, for at most `timeout_ms`
/// (negative: forever). Returns whether it exited.
pub fn pidfd_wait_exit(pidfd: &OwnedFd, timeout_ms: i32) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: pfd is a valid pollfd array of length 1.
        let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(r > 0);
    }
}

pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub const RESOLVE_BENEATH: u64 = 0x08;
pub const RESOLVE_IN_ROOT: u64 = 0x10;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// openat2(2) with the given resolve flags.
pub fn openat2(
    dirfd: RawFd,
    path: &CStr,
    flags: i32,
    mode: u32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: mode as u64,
        resolve,
    };
    loop {
        // SAFETY: path is a valid C string and how a valid open_how of the size passed.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd,
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        match cvt(r) {
            // SAFETY: the kernel returned a new fd that nothing else owns.
            Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
            // openat2 returns EAGAIN with RESOLVE_IN_ROOT when a rename raced it.
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => continue,
            Err(e) => return Err(e),
        }
    }
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x01;
pub const MOUNT_ATTR_NOSUID: u64 = 0x02;
pub const MOUNT_ATTR_NODEV: u64 = 0x04;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x08;
pub const MOUNT_ATTR__ATIME: u64 = 0x70;
pub const MOUNT_ATTR_RELATIME: u64 = 0x00;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2) on the mount at `dirfd` (AT_EMPTY_PATH), optionally on
/// the whole tree below it.
pub fn mount_setattr(dirfd: RawFd, recursive: bool, set: u64, clr: u64) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH as u32;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    // SAFETY: the path is a valid empty C string and attr a valid mount_attr.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// Sets the effective, permitted and inheritable capability sets in one capset(2).
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut hdr = Header {
        version: VERSION_3,
        pid: 0,
    };
    let split = |v: u64| (v as u32, (v >> 32) as u32);
    let (e0, e1) = split(effective);
    let (p0, p1) = split(permitted);
    let (i0, i1) = split(inheritable);
    let data = [
        Data {
            effective: e0,
            permitted: p0,
            inheritable: i0,
        },
        Data {
            effective: e1,
            permitted: p1,
            inheritable: i1,
        },
    ];
    // SAFETY: hdr and data are the v3 layout the kernel expects (two data words).
    cvt(unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut Header, data.as_ptr()) })
        .map(drop)
}

/// Marks every fd from `first` up close-on-exec (close_range(2) with
/// CLOSE_RANGE_CLOEXEC), so nothing of ward's reaches the container.
///
/// The container's seccomp filter may already be loaded here, and older
/// profiles don't list close_range (it then fails with EPERM, or ENOSYS on
/// old kernels): then each open fd gets FD_CLOEXEC through fcntl, which
/// every profile allows.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    // SAFETY: plain syscall with integer arguments.
    match cvt(unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) })
    {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EPERM | libc::ENOSYS | libc::EINVAL)
            ) =>
        {
            cloexec_each(first)
        }
        Err(e) => Err(e),
    }
}

/// The slow path of [`cloexec_from`]: the open fds from /proc/self/fd, or,
/// without /proc, every fd below the soft RLIMIT_NOFILE.
fn cloexec_each(first: u32) -> io::Result<()> {
    let set = |fd: RawFd| {
        // SAFETY: fcntl on an integer fd; a closed fd gives EBADF, ignored.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    };
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        let fds: Vec<RawFd> = dir
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        // The directory's own fd is closed by now; marking it is harmless.
        fds.into_iter()
            .filter(|&fd| fd >= first as RawFd)
            .for_each(set);
        return Ok(());
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    cvt_int(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    let top = lim.rlim_cur.min(1 << 20) as RawFd;
    (first as RawFd..top).for_each(set);
    Ok(())
}

/// Clears FD_CLOEXEC on `fd` (for fds the spec preserves).
pub fn clear_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an integer fd; an invalid fd gives EBADF.
    let flags = cvt_int(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    // SAFETY: as above.
    cvt_int(unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) }).map(drop)
}

/// prctl(2) with integer arguments.
pub fn prctl(op: i32, a: u64, b: u64) -> io::Result<i32> {
    // SAFETY: every prctl op we use takes integer arguments only.
    cvt_int(unsafe { libc::prctl(op, a, b, 0u64, 0u64) })
}

/// Sets every signal's disposition back to the default and unblocks all of
/// them: ward's own settings (Rust ignores SIGPIPE; `run` blocks the signals it
/// forwards) must not leak into the container's process.
pub fn reset_signals() {
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL is always sound; invalid numbers fail harmlessly.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    // SAFETY: an all-zero sigset is a valid empty set for sigprocmask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// Closes every fd from `first` up except those in `keep`: a forked child
/// holds copies of all of ward's fds (the container's lock among them), and
/// none but the ones it needs may stay open in it.
pub fn close_fds_except(first: RawFd, keep: &[RawFd]) {
    let fds: Vec<RawFd> = match std::fs::read_dir("/proc/self/fd") {
        Ok(rd) => rd
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(_) => return,
    };
    for fd in fds {
        if fd >= first && !keep.contains(&fd) {
            // SAFETY: closing an fd number; nothing in this process uses the
            // fds we close (the listing's own fd is already closed, EBADF).
            unsafe { libc::close(fd) };
        }
    }
}

/// Whether ward runs as root (effective uid 0); otherwise it is rootless.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Makes this process (and every child forked from it, until it execs)
/// non-dumpable, so that the container's processes can't open its
/// /proc/PID/exe, fd, mem or root (CVE-2019-5736: a container process
/// reopening the runtime binary through /proc/PID/exe and overwriting it
/// once the runtime exits). Only root needs it, and only root may keep it:
/// a rootless parent must still write its child's /proc/PID/uid_map, and
/// its binary isn't its to overwrite anyway.
pub fn protect_from_container() -> io::Result<()> {
    if !is_root() {
        return Ok(());
    }
    prctl(libc::PR_SET_DUMPABLE, 0, 0).map(drop)
}
