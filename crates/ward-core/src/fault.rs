//! Test-only stop points: with `WARD_FAULT=<point>` in its environment, a
//! debug build of ward SIGKILLs itself when it reaches the named point, so
//! that tests/faults.rs can kill a command at an exact step instead of at a
//! random moment. Release builds compile every point to nothing.
//!
//! The points, in the order a container meets them (docs/reliability.md):
//! create:dir, create:cgroup, create:cloned, create:ready, create:saved,
//! start:connected, start:unlinked, delete:killed, delete:cgroup,
//! delete:files; and checkpoint:criu (before CRIU is started),
//! restore:dir, restore:criu (CRIU is in the new cgroup, its request not
//! sent), restore:saved.

/// Dies here by SIGKILL if `WARD_FAULT` names this point (debug builds).
#[inline]
pub fn point(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var_os("WARD_FAULT").is_some_and(|v| v == name) {
        // SAFETY: kill(2) on our own pid with integer arguments.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}
