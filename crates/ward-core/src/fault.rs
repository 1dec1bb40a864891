//! Test-only stop points: with `WARD_FAULT=<point>` in its environment, a
//! debug build of ward SIGKILLs itself when it reaches the named point, so
//! that tests/faults.rs can kill a command at an exact step instead of at a
//! random moment. Release builds compile every point to nothing.
//!
//! The points, in the order a container meets them (docs/reliability.md):
//! create:dir, create:cgroup, create:cloned, create:ready, create:saved,
//! start:connected, start:unlinked, delete:killed, delete:cgroup,
//! delete:files; and checkpoint:criu (CRIU started, the container not yet
//! frozen), restore:dir (CRIU started, the state directory and cgroup
//! made), restore:criu (CRIU is in the new cgroup, its request not sent),
//! restore:saved.
//!
//! `WARD_FAULT=panic:<point>` panics there instead (a stand-in for a bug,
//! to test what a panic leaves for the user and the engine to read).
//!
//! `WARD_FAULT_DELAY=<point>` instead makes a debug build sleep 300 ms at
//! a [`delay`] point, to force one order of events between processes that
//! would otherwise race: spawn:init-pid (a create's intermediate, or a
//! two-step exec's first child, after forking the process and before
//! reporting its pid).

/// Dies here by SIGKILL if `WARD_FAULT` names this point, or panics if it
/// says `panic:` and the point (debug builds).
#[inline]
pub fn point(name: &str) {
    #[cfg(debug_assertions)]
    if let Some(v) = std::env::var_os("WARD_FAULT") {
        if v == name {
            let _ =
                nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::Signal::SIGKILL);
        }
        if v.as_encoded_bytes().strip_prefix(b"panic:") == Some(name.as_bytes()) {
            panic!("WARD_FAULT: a panic at {name}");
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}

/// Sleeps 300 ms if `WARD_FAULT_DELAY` names this point (debug builds).
#[inline]
pub fn delay(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var_os("WARD_FAULT_DELAY").is_some_and(|v| v == name) {
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}
