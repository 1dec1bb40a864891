//! Verbs ward doesn't own. `ward box ...` runs the people's front-end, a
//! binary of its own, as git runs `git-foo`: the runtime binary stays free
//! of what the fronts need (HTTP, clap, progress bars), and pays for this
//! check only one comparison of argv[1] against a short table.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Front verb → the binary that serves it, and the runtime's global
/// options it takes too. The verb is passed along as the binary's first
/// argument (`ward-box box run ...`), so one binary can serve several
/// verbs. `migrate` and `cluster` go to ward-cluster (docs/migration.md),
/// whose `--root` and `--criu` are the runtime's own; ward-box's `--root`
/// is its store.
pub const FRONTS: &[(&str, &str, &[&str])] = &[
    ("box", "ward-box", &["root"]),
    ("image", "ward-box", &["root"]),
    ("network", "ward-box", &["root"]),
    ("migrate", "ward-cluster", &["root", "criu"]),
    ("cluster", "ward-cluster", &["root", "criu"]),
];

/// If argv[1] is a front verb, execs its binary and never returns (on
/// failure: one line on stderr, exit 127). Global options may come
/// before the verb (`ward --root X migrate ...`): they are passed on right
/// after it (`ward-cluster migrate --root=X ...`). Otherwise returns,
/// having done nothing but compare strings (and, when argv[1] is an
/// option, read the options before the subcommand once more).
pub fn dispatch() {
    let mut args = std::env::args_os();
    args.next();
    let Some(verb) = args.next() else { return };
    if verb.as_bytes().first() == Some(&b'-') {
        return dispatch_after_globals();
    }
    let Some(&(name, bin, _)) = FRONTS.iter().find(|(v, _, _)| OsStr::new(v) == verb) else {
        return;
    };
    exec(name, bin, verb, Vec::new(), args.collect());
}

fn dispatch_after_globals() {
    // Most calls with options first are the runtime's own (an engine's
    // `ward --root X --log Y create ...`): with no front verb among the
    // arguments, nothing more is read.
    if !std::env::args_os().any(|a| FRONTS.iter().any(|(v, _, _)| OsStr::new(v) == a)) {
        return;
    }
    let all: Vec<OsString> = std::env::args_os().collect();
    let Some((globals, i)) = ward::cli::leading_globals(&all) else {
        return;
    };
    let Some(verb) = all.get(i) else { return };
    let Some(&(name, bin, takes)) = FRONTS.iter().find(|(v, _, _)| OsStr::new(v) == verb) else {
        return;
    };
    let mut pass = Vec::new();
    for (long, value) in globals {
        if !takes.contains(&long) {
            eprintln!(
                "ward: {name}: --{long}: a runtime option that {bin} does not take (it takes: {})",
                takes
                    .iter()
                    .map(|t| format!("--{t}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            std::process::exit(1);
        }
        let mut a = OsString::from(format!("--{long}"));
        if let Some(v) = value {
            a.push("=");
            a.push(v);
        }
        pass.push(a);
    }
    exec(name, bin, verb.clone(), pass, all[i + 1..].to_vec());
}

/// Execs `bin` as `bin VERB GLOBALS... REST...`.
fn exec(name: &str, bin: &str, verb: OsString, globals: Vec<OsString>, rest: Vec<OsString>) {
    let Some(path) = find(bin) else {
        eprintln!(
            "ward: {name}: {bin} not found next to ward or on PATH: install ward's front-ends (cargo build -p {bin})"
        );
        std::process::exit(127);
    };
    let mut argv: Vec<CString> = vec![cstring(OsString::from(bin))];
    argv.push(cstring(verb));
    argv.extend(globals.into_iter().map(cstring));
    argv.extend(rest.into_iter().map(cstring));
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let cpath = cstring(path.clone().into_os_string());
    // SAFETY: cpath and every argv string are NUL-terminated CStrings that
    // outlive the call, and ptrs ends with a null pointer as execv requires.
    unsafe { libc::execv(cpath.as_ptr(), ptrs.as_ptr()) };
    let err = std::io::Error::last_os_error();
    eprintln!("ward: {name}: exec {}: {err}", path.display());
    std::process::exit(127);
}

fn cstring(s: OsString) -> CString {
    // An argument can't hold a NUL byte (the kernel splits argv on them).
    CString::new(s.into_vec()).unwrap_or_default()
}

/// The binary next to the running ward (the directory of /proc/self/exe)
/// first, then the first executable of that name on PATH.
fn find(bin: &str) -> Option<PathBuf> {
    if let Ok(exe) = std::fs::read_link("/proc/self/exe") {
        if let Some(dir) = exe.parent() {
            let p = dir.join(bin);
            if executable(&p) {
                return Some(p);
            }
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|d| d.is_absolute())
        .map(|d| d.join(bin))
        .find(|p| executable(p))
}

fn executable(p: &Path) -> bool {
    let Ok(c) = CString::new(p.as_os_str().as_bytes()) else {
        return false;
    };
    let c: &CStr = &c;
    // SAFETY: c is a valid NUL-terminated path; access(2) only reads it.
    let ok = unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0;
    ok && std::fs::metadata(p).is_ok_and(|m| m.is_file())
}
