//! The kernel calls that neither std nor nix 0.32 wraps safely, or wraps in
//! a way that doesn't fit, as small documented functions; every `unsafe`
//! here has its SAFETY comment, and callers need none:
//!
//! - processes: clone3 (with CLONE_INTO_CGROUP), pidfd_open,
//!   pidfd_send_signal, kill and waitpid for any signal (nix's `Signal` has
//!   no real-time ones), _exit, execve of arrays built before a fork;
//! - fds: openat2, close_range and its fallbacks, F_DUPFD_CLOEXEC, flock
//!   (nix's `Flock` unlocks in an extra syscall on drop), receiving an fd
//!   over SCM_RIGHTS (ward's sockets and CRIU's), fds 0-2 as `BorrowedFd`,
//!   an fd number's flags and the `--status-fd` written once and closed
//!   (checkpoint, restore);
//! - children of `Command`: joining a network namespace, and fds handed
//!   to CRIU at fixed numbers, between fork and exec;
//! - set_mempolicy (linux.memoryPolicy);
//! - mounts and privileges: mount_setattr, capset, prctl, signal
//!   dispositions, keyctl (the session keyring), setdomainname;
//! - ioctls: the pty's (TIOCGPTN, TIOCSPTLCK, TIOCGPTPEER), the window
//!   size's (TIOCGWINSZ, TIOCSWINSZ), TIOCSCTTY, NS_GET_NSTYPE;
//! - bpf(2) for the device cgroup program, seccomp(2) for the filter.
//!
//! What nix wraps safely (poll, read, write, pread, fcntl, open, fstat,
//! access, accept4, send, recv, recvmsg, waitpid and kill with a standard
//! signal, setpgid, setrlimit, memfd_create, execveat, geteuid,
//! if_nametoindex, ...) is called through nix where it is used.
//!
//! `unsafe` outside this file, on purpose: only the forks whose child goes
//! on running ward's code, which no wrapper can make safe (the child may
//! only do what a single-threaded parent makes sound). They are
//! [`clone3_fork`] in process/mod.rs (init, and the intermediate's child in
//! `fork_reported`) and process/exec.rs, the calls of the `unsafe fn
//! fork_reported` in process/init.rs and process/exec.rs, and nix's fork in
//! hooks.rs: six blocks, each with its SAFETY comment. The rest is test
//! code (security/seccomp.rs's tests fork and make raw syscalls on purpose).

use std::ffi::{CStr, CString};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

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

impl From<Errno> for io::Error {
    fn from(e: Errno) -> Self {
        io::Error::from_raw_os_error(e.0)
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
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let timeout = PollTimeout::try_from(timeout_ms).unwrap_or(PollTimeout::NONE);
    loop {
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(n) => return Ok(n > 0),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
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
    let set = |fd: RawFd| cloexec_range(fd, fd + 1);
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
    let (soft, _) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)?;
    let top = soft.min(1 << 20) as RawFd;
    cloexec_range(first as RawFd, top);
    Ok(())
}

/// Sets FD_CLOEXEC on every fd number in `first..end`, open or not (a
/// closed one gives EBADF, ignored): fds this process holds only as
/// numbers, which no Rust value owns. No allocation, async-signal-safe.
pub fn cloexec_range(first: RawFd, end: RawFd) {
    for fd in first..end {
        // SAFETY: fcntl(F_SETFD) on an integer fd touches no memory of ours;
        // marking an fd close-on-exec changes nothing for its owner until exec.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
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
    use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL is always sound; invalid numbers fail harmlessly.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
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
    nix::unistd::geteuid().is_root()
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

/// The result of a syscall that returns -1 and sets errno on failure.
fn check<T: Copy + Default + PartialOrd>(ret: T) -> Result<T, Errno> {
    if ret < T::default() {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// _exit(2): ends the process at once, without atexit handlers, destructors
/// or a flush of std's buffers, which in a forked child all belong to the
/// parent. (nix 0.32 has no wrapper for it.)
pub fn _exit(code: i32) -> ! {
    // SAFETY: _exit has no preconditions and does not return.
    unsafe { libc::_exit(code) }
}

/// kill(2) with any signal number, real-time ones included, which nix's
/// `Signal` can't name. 0 checks that the process exists.
pub fn kill(pid: pid_t, sig: i32) -> Result<(), Errno> {
    // SAFETY: kill takes integers only and touches no memory of ours.
    check(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// waitpid(2) for the child `pid`: its raw wait status (decode it with
/// libc's `WIFSIGNALED` and friends), or None while it runs (with
/// `nohang`). nix's `waitpid` would reap a child killed by a real-time
/// signal and then fail with EINVAL, since its `Signal` can't hold one.
/// EINTR is the caller's to retry.
pub fn wait_status(pid: pid_t, nohang: bool) -> Result<Option<i32>, Errno> {
    let mut status = 0;
    let flags = if nohang { libc::WNOHANG } else { 0 };
    // SAFETY: status is a valid int for waitpid to write.
    let r = check(unsafe { libc::waitpid(pid, &mut status, flags) })?;
    Ok((r != 0).then_some(status))
}

/// flock(2) on the open file behind `fd` (LOCK_EX or LOCK_SH, optionally
/// with LOCK_NB). The lock lives as long as the open file description and
/// goes away when it is closed: nix's `Flock` instead unlocks in an extra
/// syscall when dropped, and panics if that fails. EINTR is the caller's to
/// retry.
pub fn flock(fd: BorrowedFd<'_>, how: i32) -> Result<(), Errno> {
    // SAFETY: flock takes an fd and integer flags only.
    check(unsafe { libc::flock(fd.as_raw_fd(), how) }).map(drop)
}

/// fcntl(F_DUPFD_CLOEXEC): a close-on-exec copy of `fd` numbered `min` or
/// above (so that, say, a pipe can't sit on a stdio number that a dup2 in
/// a child overwrites).
pub fn dup_at_least(fd: BorrowedFd<'_>, min: RawFd) -> Result<OwnedFd, Errno> {
    let new = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(min))?;
    // SAFETY: F_DUPFD_CLOEXEC returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// recvmsg(2) of one message into `buf`, with at most one fd passed along
/// (SCM_RIGHTS, received close-on-exec); any further fds in the message are
/// closed. Returns the message's length and the fd. EINTR is the caller's
/// to retry.
pub fn recv_with_fd(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
) -> Result<(usize, Option<OwnedFd>), Errno> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [io::IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut fd = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for f in fds {
                // SAFETY: the kernel installed this fd in our table for this
                // very message; nothing else knows it, so we own it.
                let owned = unsafe { OwnedFd::from_raw_fd(f) };
                fd.get_or_insert(owned);
            }
        }
    }
    Ok((msg.bytes, fd))
}

/// set_mempolicy(2) for the calling thread: `mode` with its flags, and the
/// node mask `mask` (bit n of the words is node n; empty: no nodes, as
/// MPOL_DEFAULT and MPOL_LOCAL want).
pub fn set_mempolicy(mode: i32, mask: &[u64]) -> Result<(), Errno> {
    let (ptr, maxnode) = if mask.is_empty() {
        (std::ptr::null(), 0)
    } else {
        // The kernel reads maxnode - 1 bits.
        (mask.as_ptr(), mask.len() as u64 * 64 + 1)
    };
    // SAFETY: the mask is borrowed for the call and holds maxnode - 1 bits
    // (or is NULL with maxnode 0); the kernel only reads it.
    check(unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) }).map(drop)
}

/// The file status flags (F_GETFL) of fd number `fd`, one the caller named
/// (runc's `--status-fd`): whether it is open, and for what.
pub fn fd_flags(fd: RawFd) -> Result<i32, Errno> {
    // SAFETY: F_GETFL only reads the flags of whatever fd number is named;
    // no memory is passed, and a number with no fd is EBADF.
    check(unsafe { libc::fcntl(fd, libc::F_GETFL) })
}

/// Whether fd number `fd` is open in this process.
pub fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the fd flags of an fd number; EBADF if none.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Writes `data` once to the fd number `fd` that the caller handed to ward
/// to be written and closed (runc's `--status-fd`), and closes it. Errors
/// are ignored, as runc ignores them: the reader may be gone.
pub fn write_and_close_handed_fd(fd: RawFd, data: &[u8]) {
    // SAFETY: write(2) from a buffer borrowed for the call.
    let _ = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    // SAFETY: the fd is the one the caller handed to ward to be written
    // once and closed (runc's contract for --status-fd); ward keeps no
    // handle of its own on that number. A caller naming one of ward's own
    // fds instead would have it closed under ward: a misuse not detected.
    let _ = unsafe { libc::close(fd) };
}

/// Fd 0, 1 or 2 (the process's stdio) as a `BorrowedFd`; None for any
/// other number.
pub fn stdio_fd(fd: RawFd) -> Option<BorrowedFd<'static>> {
    // SAFETY: fds 0-2 are the process's stdio for its whole life, as std
    // assumes ([`stdin`]); ward never closes them.
    (0..=2)
        .contains(&fd)
        .then(|| unsafe { BorrowedFd::borrow_raw(fd) })
}

/// Makes `cmd`'s child join the network namespace `ns` before it execs.
/// The command owns `ns` from now on, so it is open at every spawn.
pub fn join_netns_before_exec(cmd: &mut std::process::Command, ns: std::fs::File) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child between fork and exec,
    // where only async-signal-safe calls are sound: it calls setns(2) on an
    // fd it owns (open for as long as `cmd` lives) and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Makes `cmd`'s child, before it execs, get the fds `sources[..count]` as
/// `first`, `first + 1`, ... (inherited: not close-on-exec), and, with
/// `no_new_privs`, PR_SET_NO_NEW_PRIVS. The callers keep the sources open
/// until the spawn; one closed by then fails the spawn with EBADF.
pub fn hand_fds_before_exec<const N: usize>(
    cmd: &mut std::process::Command,
    sources: [RawFd; N],
    count: usize,
    first: RawFd,
    no_new_privs: bool,
) {
    use std::os::unix::process::CommandExt;
    let count = count.min(N);
    // SAFETY: the closure runs in the forked child between fork and exec,
    // where only async-signal-safe calls are sound: it calls fcntl, dup2
    // and prctl on fd numbers, reads its own copied array and allocates
    // nothing.
    unsafe {
        cmd.pre_exec(move || {
            // Out of the way first: a source may itself be one of the
            // target numbers.
            let mut moved = [-1; N];
            for i in 0..count {
                let n = libc::fcntl(sources[i], libc::F_DUPFD_CLOEXEC, 100);
                if n < 0 {
                    return Err(io::Error::last_os_error());
                }
                moved[i] = n;
            }
            for (i, fd) in moved.iter().enumerate().take(count) {
                // dup2 leaves the new fd without FD_CLOEXEC: it is inherited.
                if libc::dup2(*fd, first + i as i32) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            if no_new_privs && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// execve(2)'s argv or envp, built ahead (before a fork, so that the child
/// needn't allocate): the strings and a NULL-terminated array of pointers
/// into them, which stays valid while this value lives (moving the value
/// moves neither the strings' bytes nor the array).
pub struct CStrArray {
    strings: Vec<CString>,
    ptrs: Vec<*const libc::c_char>,
}

impl CStrArray {
    pub fn new(strings: Vec<CString>) -> CStrArray {
        let ptrs = strings
            .iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        CStrArray { strings, ptrs }
    }

    pub fn strings(&self) -> &[CString] {
        &self.strings
    }
}

/// execve(2) with arrays built ahead: no allocation (unlike nix's execve),
/// async-signal-safe. Returns only on failure, with the errno.
pub fn execve(path: &CStr, argv: &CStrArray, envp: &CStrArray) -> Errno {
    // SAFETY: path is a C string; argv and envp are NULL-terminated arrays
    // of pointers to C strings that they own and keep alive for the call.
    unsafe { libc::execve(path.as_ptr(), argv.ptrs.as_ptr(), envp.ptrs.as_ptr()) };
    Errno::last()
}

/// setdomainname(2) (nix 0.32 has sethostname only).
pub fn setdomainname(name: &str) -> Result<(), Errno> {
    // SAFETY: name's bytes are valid for the length passed; the kernel
    // copies them.
    check(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) }).map(drop)
}

/// keyctl(KEYCTL_JOIN_SESSION_KEYRING, name): a new session keyring called
/// `name` for this process (or the existing one of that name).
pub fn join_session_keyring(name: &CStr) -> Result<(), Errno> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl with a valid C string; the kernel copies it.
    check(unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) })
        .map(drop)
}

/// The namespace type of an nsfs fd (ioctl NS_GET_NSTYPE): its CLONE_NEW*
/// flag. Fails on an fd that isn't a namespace (ENOTTY, or whatever the
/// device behind a non-nsfs fd makes of the number: check the filesystem
/// first).
pub fn ns_type(ns: BorrowedFd<'_>) -> Result<u64, Errno> {
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: NS_GET_NSTYPE takes no argument and returns an int.
    check(unsafe { libc::ioctl(ns.as_raw_fd(), NS_GET_NSTYPE as _) }).map(|t| t as u64)
}

// Terminal ioctls (tty_ioctl(4), pty(7)), none of which nix 0.32 wraps for
// an fd of ours (its pty module wants a `PtyMaster` from posix_openpt).

/// The number N of a pty master's slave, /dev/pts/N (TIOCGPTN). Fails on
/// an fd that isn't a pty master.
pub fn pty_number(master: BorrowedFd<'_>) -> Result<u32, Errno> {
    let mut num: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes an unsigned int to the pointer we pass; on an
    // fd that isn't a pty master it fails without writing.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut num) })?;
    Ok(num)
}

/// Unlocks a pty master's slave (TIOCSPTLCK with 0), as unlockpt(3) does.
pub fn pty_unlock(master: BorrowedFd<'_>) -> Result<(), Errno> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int from the pointer we pass.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) }).map(drop)
}

/// Opens a pty master's slave through the master itself (TIOCGPTPEER), with
/// open(2) `flags`: no path lookup that a container could redirect.
pub fn pty_open_peer(master: BorrowedFd<'_>, flags: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new fd.
    let fd = check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) })?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A terminal's window size (TIOCGWINSZ).
pub fn window_size(tty: BorrowedFd<'_>) -> Result<libc::winsize, Errno> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize to the pointer we pass.
    check(unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) })?;
    Ok(ws)
}

/// Sets a terminal's window size (TIOCSWINSZ); the kernel sends SIGWINCH
/// to its foreground process group.
pub fn set_window_size(tty: BorrowedFd<'_>, ws: &libc::winsize) -> Result<(), Errno> {
    // SAFETY: TIOCSWINSZ reads a winsize from the pointer we pass.
    check(unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSWINSZ, ws) }).map(drop)
}

/// Makes `tty` the calling session leader's controlling terminal
/// (TIOCSCTTY, without stealing it from another session).
pub fn set_controlling_terminal(tty: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: TIOCSCTTY takes an integer argument (0: don't steal).
    check(unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSCTTY, 0) }).map(drop)
}

/// fd 0, for the whole life of the process. ward never closes its stdio;
/// if it was started with fd 0 closed, every call on it fails with EBADF.
/// (`std::io::stdin()` would allocate its 8 KiB buffer on first use.)
pub fn stdin() -> BorrowedFd<'static> {
    // SAFETY: fd 0 is the process's stdin for its whole life, as std itself
    // assumes; ward never closes it, and it is never -1.
    unsafe { BorrowedFd::borrow_raw(libc::STDIN_FILENO) }
}

/// fd 1, as [`stdin`] is fd 0.
pub fn stdout() -> BorrowedFd<'static> {
    // SAFETY: as for stdin().
    unsafe { BorrowedFd::borrow_raw(libc::STDOUT_FILENO) }
}

// bpf(2), for the device cgroup program (cgroups/devices.rs). Each command
// has a safe function here: the attr it passes is built from the arguments,
// with every pointer in it taken from a slice that outlives the call.

/// One eBPF instruction, as the kernel's `struct bpf_insn` lays it out in 8
/// bytes:
///
/// ```text
/// byte 0     code: operation class | size or operation | source
/// byte 1     regs: destination register in the low 4 bits, source register
///                  in the high 4 bits (little endian; swapped on big endian)
/// bytes 2-3  off:  signed offset (memory access, or jump distance counted
///                  in instructions from the next one)
/// bytes 4-7  imm:  signed 32-bit immediate
/// ```
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

// Commands (enum bpf_cmd).
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_PROG_QUERY: libc::c_int = 16;

/// The start of `union bpf_attr` as BPF_PROG_LOAD reads it (up to
/// expected_attach_type; the kernel takes the rest as zero). No padding.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `union bpf_attr` for BPF_PROG_ATTACH and BPF_PROG_DETACH (the fields
/// every kernel since 5.6 knows).
#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// `union bpf_attr` for BPF_PROG_QUERY, through `revision`. It must be this
/// long even though we use only the first fields: kernels since 6.6 (tcx)
/// and 6.15 (cgroups) write `revision` at offset 56 whatever size we pass.
#[repr(C)]
#[derive(Default)]
struct ProgQueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
    prog_attach_flags: u64,
    link_ids: u64,
    link_attach_flags: u64,
    revision: u64,
}

/// `union bpf_attr` for BPF_PROG_GET_FD_BY_ID.
#[repr(C)]
#[derive(Default)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// Calls bpf(2) with `attr`, returning the syscall's non-negative result.
///
/// # Safety
///
/// `T` must be one of the attr structs above, laid out as the start of
/// `union bpf_attr` for `cmd`, and every pointer stored in it must point to
/// memory that is valid (and writable, where the kernel writes) for the
/// length given next to it, for the duration of the call.
unsafe fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> Result<libc::c_long, Errno> {
    let size = std::mem::size_of::<T>() as libc::c_uint;
    // SAFETY: the caller vouches for the attr's layout and the buffers it
    // points to; `attr` itself is a live, exclusive borrow of `size` bytes.
    check(unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, size) })
}

/// BPF_PROG_LOAD of `insns` as a program of `prog_type`, declaring
/// `license`, named `name` (at most 15 bytes are kept). With a non-empty
/// `log`, the verifier writes its log there (log level 1). Returns the
/// program's fd. One call: EAGAIN and EINTR are the caller's to retry.
pub fn bpf_prog_load(
    prog_type: u32,
    insns: &[BpfInsn],
    license: &CStr,
    name: &[u8],
    log: &mut [u8],
) -> Result<OwnedFd, Errno> {
    let (Ok(insn_cnt), Ok(log_size)) = (u32::try_from(insns.len()), u32::try_from(log.len()))
    else {
        return Err(Errno(libc::E2BIG));
    };
    let mut attr = ProgLoadAttr {
        prog_type,
        insn_cnt,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: u32::from(log_size > 0),
        log_size,
        log_buf: if log.is_empty() {
            0
        } else {
            log.as_mut_ptr() as u64
        },
        ..Default::default()
    };
    let n = name.len().min(attr.prog_name.len() - 1);
    attr.prog_name[..n].copy_from_slice(&name[..n]);
    // SAFETY: ProgLoadAttr is the BPF_PROG_LOAD prefix of bpf_attr; insns
    // points to insn_cnt 8-byte instructions (BpfInsn is repr(C), 8 bytes),
    // license to a NUL-terminated string, log_buf (when set) to log_size
    // writable bytes; all are borrowed for the call.
    let fd = unsafe { bpf(BPF_PROG_LOAD, &mut attr) }?;
    // SAFETY: on success BPF_PROG_LOAD returns a new fd that nothing else
    // owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// BPF_PROG_ATTACH of the program `prog` to `target` (a cgroup directory)
/// at `attach_type`, with BPF_F_* `flags`.
pub fn bpf_prog_attach(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
    flags: u32,
) -> Result<(), Errno> {
    let mut attr = ProgAttachAttr {
        target_fd: target.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        attach_flags: flags,
        replace_bpf_fd: 0,
    };
    // SAFETY: ProgAttachAttr is the BPF_PROG_ATTACH form of bpf_attr and
    // holds no pointers; both fds are borrowed, so open, for the call.
    unsafe { bpf(BPF_PROG_ATTACH, &mut attr) }.map(drop)
}

/// BPF_PROG_DETACH of the program `prog` from `target` at `attach_type`.
pub fn bpf_prog_detach(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
) -> Result<(), Errno> {
    let mut attr = ProgAttachAttr {
        target_fd: target.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        ..Default::default()
    };
    // SAFETY: ProgAttachAttr is the BPF_PROG_DETACH form of bpf_attr and
    // holds no pointers; both fds are borrowed, so open, for the call.
    unsafe { bpf(BPF_PROG_DETACH, &mut attr) }.map(drop)
}

/// BPF_PROG_QUERY of the programs attached to `target` itself (not the
/// inherited ones) at `attach_type`: the slot's attach flags and the
/// programs' ids.
pub fn bpf_prog_query(target: BorrowedFd<'_>, attach_type: u32) -> Result<(u32, Vec<u32>), Errno> {
    // At most 64 programs per cgroup and attach type (BPF_CGROUP_MAX_PROGS);
    // grow anyway if a kernel allows more.
    let mut ids = vec![0u32; 64];
    loop {
        let mut attr = ProgQueryAttr {
            target_fd: target.as_raw_fd() as u32,
            attach_type,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: ids.len() as u32,
            ..Default::default()
        };
        // SAFETY: ProgQueryAttr is the whole BPF_PROG_QUERY form of
        // bpf_attr (through `revision`, which the kernel writes); prog_ids
        // points to prog_cnt writable u32s that outlive the call.
        match unsafe { bpf(BPF_PROG_QUERY, &mut attr) } {
            Ok(_) => {
                ids.truncate(attr.prog_cnt as usize);
                return Ok((attr.attach_flags, ids));
            }
            Err(Errno(libc::ENOSPC)) if (attr.prog_cnt as usize) > ids.len() => {
                ids = vec![0; attr.prog_cnt as usize];
            }
            Err(e) => return Err(e),
        }
    }
}

/// BPF_PROG_GET_FD_BY_ID: an fd of the loaded program `id`.
pub fn bpf_prog_get_fd_by_id(id: u32) -> Result<OwnedFd, Errno> {
    let mut attr = GetFdByIdAttr {
        prog_id: id,
        ..Default::default()
    };
    // SAFETY: GetFdByIdAttr is the BPF_PROG_GET_FD_BY_ID form of bpf_attr
    // and holds no pointers.
    let fd = unsafe { bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) }?;
    // SAFETY: on success the call returns a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

// seccomp(2), for security/seccomp.rs.

/// seccomp(SECCOMP_SET_MODE_FILTER): installs `prog` on the calling thread
/// with SECCOMP_FILTER_FLAG_* `flags`. With FLAG_NEW_LISTENER, returns the
/// notify listener fd the kernel made. One syscall: no allocation, no lock
/// (it runs in the container's process right before execve).
pub fn seccomp_set_filter(
    prog: &[libc::sock_filter],
    flags: u32,
) -> Result<Option<OwnedFd>, Errno> {
    let Ok(len) = libc::c_ushort::try_from(prog.len()) else {
        return Err(Errno(libc::EINVAL));
    };
    let fprog = libc::sock_fprog {
        len,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: fprog points at `prog`, borrowed for the call, `len`
    // instructions long; the kernel copies the program before returning
    // and never writes through the pointer.
    let ret = check(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            flags as libc::c_ulong,
            &fprog as *const libc::sock_fprog,
        )
    })?;
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32 == 0 {
        return Ok(None);
    }
    // SAFETY: with NEW_LISTENER the kernel returned a new fd that nothing
    // else owns.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as RawFd) }))
}

/// Whether the running kernel accepts the filter `flags`: seccomp(2) with a
/// NULL program fails with EFAULT once the flags passed its checks, EINVAL
/// otherwise, and installs nothing either way (libseccomp probes the same
/// way).
pub fn seccomp_knows_flags(flags: u32) -> bool {
    // SAFETY: a NULL program is never dereferenced by userspace; the kernel
    // checks the flags, then fails copying the program, and returns.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            flags as libc::c_ulong,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    ret < 0 && Errno::last().0 == libc::EFAULT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpf_attr_layout() {
        assert_eq!(std::mem::size_of::<BpfInsn>(), 8);
        assert_eq!(std::mem::size_of::<ProgLoadAttr>(), 72);
        assert_eq!(std::mem::size_of::<ProgAttachAttr>(), 20);
        assert_eq!(std::mem::size_of::<ProgQueryAttr>(), 64);
        assert_eq!(std::mem::size_of::<GetFdByIdAttr>(), 12);
    }
}
