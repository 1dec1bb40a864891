//! The last steps before execve, shared by a container's init and by `exec`:
//! rlimits, the working directory, the program's lookup, user, groups and
//! capabilities, no_new_privs, umask and the seccomp filter, in the order
//! the kernel's permission rules impose.

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Process;

use crate::error::{Errno, Error, Result};
use crate::security::seccomp::Filter;
use crate::security::{self, CapSets};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A process ready for execve; only a late seccomp filter is left to load.
pub(crate) struct Prepared<'a> {
    pub exe: CString,
    pub args: Vec<CString>,
    pub env: Vec<CString>,
    /// Loaded by [`Prepared::exec`] right before execve: with no_new_privs
    /// the filter needs no capability, so it goes last and the setup's own
    /// syscalls never meet it.
    late_filter: Option<&'a Filter>,
}

/// Applies `process` to the calling process (in the container's namespaces,
/// as root there). `listener` receives the seccomp notify fd, when the
/// filter makes one, as soon as it exists.
pub(crate) fn prepare<'a>(
    process: &Process,
    filter: Option<&'a Filter>,
    listener: &mut dyn FnMut(OwnedFd) -> Result<()>,
) -> Result<Prepared<'a>> {
    security::apply_rlimits(process.rlimits().as_deref().unwrap_or(&[]))?;
    let env = environment(process);
    let args: Vec<CString> = process
        .args()
        .iter()
        .flatten()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::invalid("process.args", "contains a NUL byte"))?;
    let name = process
        .args()
        .as_ref()
        .and_then(|a| a.first())
        .ok_or_else(|| Error::invalid("process.args", "empty"))?;
    std::env::set_current_dir(process.cwd())
        .map_err(|e| Error::path("chdir to cwd", process.cwd(), e))?;
    let exe = find_executable(name, &env)?;

    let nnp = process.no_new_privileges().unwrap_or(false);
    let mut late_filter = None;
    if let Some(f) = filter {
        if !nnp {
            // Without no_new_privs, loading a filter takes CAP_SYS_ADMIN:
            // before the capabilities are dropped.
            load(f, listener)?;
        } else if !f.wants_listener() {
            late_filter = Some(f);
        }
    }
    // Before the switch of user: changing one's own exec label is a
    // privileged write for some LSMs.
    security::lsm::set_exec_labels(process)?;
    let caps = CapSets::from_spec(process.capabilities().as_ref());
    security::switch_user(process.user(), &caps)?;
    check_executable(name, &exe)?;
    if nnp {
        security::set_no_new_privs()?;
        if let Some(f) = filter.filter(|f| f.wants_listener()) {
            // Its listener fd must reach the agent while the caller still
            // waits, so it can't wait until execve.
            load(f, listener)?;
        }
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
        process.user().umask().unwrap_or(0o022) as libc::mode_t,
    ));
    let env: Vec<CString> = env
        .into_iter()
        .map(CString::new)
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::invalid("process.env", "contains a NUL byte"))?;
    Ok(Prepared {
        exe,
        args,
        env,
        late_filter,
    })
}

fn load(f: &Filter, listener: &mut dyn FnMut(OwnedFd) -> Result<()>) -> Result<()> {
    match f.load() {
        Ok(Some(fd)) => listener(fd),
        Ok(None) => Ok(()),
        Err(e) => Err(Error::sys("load seccomp filter", e)),
    }
}

impl Prepared<'_> {
    /// Loads a late seccomp filter and execs; returns only on failure, with
    /// the error and the exit code runc's engines expect (127 for a missing
    /// program, 126 otherwise).
    pub(crate) fn exec(&self) -> (Error, i32) {
        let fail = |e: Errno| {
            let code = if e.0 == libc::ENOENT { 127 } else { 126 };
            (Error::Init(format!("exec {:?}: {}", self.exe, e)), code)
        };
        let (image, argv) = match guard::resolve(&self.exe, &self.args) {
            Ok(x) => x,
            Err(guard::Refused::Errno(e)) => return fail(e),
            Err(guard::Refused::RuntimeBinary(path)) => {
                return (
                    Error::Init(format!(
                        "exec {:?}: refusing to run the runtime's own binary ({path:?}) in the container",
                        self.exe
                    )),
                    126,
                )
            }
        };
        if let Some(f) = self.late_filter {
            if let Err(e) = f.load() {
                return (Error::sys("load seccomp filter", e), 126);
            }
        }
        let e = guard::execveat(&image, &argv, &self.env);
        if matches!(e.0, libc::EPERM | libc::ENOSYS) {
            // A seccomp profile that allows execve but not execveat: the
            // image was checked above; exec it by its path.
            let Err(e) = nix::unistd::execve(&self.exe, &self.args, &self.env);
            return fail(Errno::from(e));
        }
        fail(e)
    }
}

/// The exec guard (CVE-2019-5736): a container must never run the runtime's
/// own binary, which its init still is until execve. A program of
/// `/proc/self/exe`, a symlink to it, or a script whose `#!` interpreter is
/// it would start ward's binary inside the container, where its process
/// (and whatever library the image slips into it) holds /proc/self/exe and
/// can write the host's binary once ward exits. So the image is opened
/// first, checked against ward's own inode, and exactly that open file is
/// exec'd (execveat): nothing can swap it in between. Scripts are unwrapped
/// here as the kernel's binfmt_script would, so their interpreter is
/// opened and checked the same way.
pub(crate) mod guard {
    use std::ffi::{CStr, CString};
    use std::os::fd::OwnedFd;
    use std::sync::OnceLock;

    use nix::fcntl::{AtFlags, OFlag};
    use nix::sys::stat::{fstat, Mode};
    use nix::sys::uio::pread;

    use crate::error::Errno;

    /// The kernel follows at most this many `#!` levels.
    const MAX_DEPTH: usize = 5;

    static RUNTIME: OnceLock<Option<(u64, u64)>> = OnceLock::new();

    /// ward's own binary (device, inode), read before the fork: a container
    /// without /proc must be guarded too.
    pub(crate) fn remember_runtime_binary() {
        RUNTIME.get_or_init(|| {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata("/proc/self/exe")
                .ok()
                .map(|m| (m.dev(), m.ino()))
        });
    }

    pub(crate) enum Refused {
        Errno(Errno),
        RuntimeBinary(CString),
    }

    fn open(path: &CStr) -> Result<OwnedFd, Errno> {
        let flags = [OFlag::O_RDONLY, OFlag::O_PATH];
        let mut last = Errno(libc::ENOENT);
        for f in flags {
            match nix::fcntl::open(path, f | OFlag::O_CLOEXEC, Mode::empty()) {
                Ok(fd) => return Ok(fd),
                Err(e) => last = e.into(),
            }
            // Only a file we may not read (exec-only) is opened O_PATH.
            if last.0 != libc::EACCES {
                break;
            }
        }
        Err(last)
    }

    /// Opens the image `exe` would run, checking it (and each interpreter of
    /// a script) against ward's binary; returns the file to execveat and the
    /// argv to give it.
    pub(crate) fn resolve(
        exe: &CString,
        args: &[CString],
    ) -> Result<(OwnedFd, Vec<CString>), Refused> {
        let runtime = RUNTIME.get().copied().flatten();
        let mut path = exe.clone();
        let mut argv = args.to_vec();
        for _ in 0..MAX_DEPTH {
            let fd = open(&path).map_err(Refused::Errno)?;
            let st = fstat(&fd).map_err(|e| Refused::Errno(e.into()))?;
            if runtime == Some((st.st_dev, st.st_ino)) {
                return Err(Refused::RuntimeBinary(path));
            }
            let mut head = [0u8; 256];
            // An O_PATH fd just fails with EBADF, read as "not a script".
            let n = pread(&fd, &mut head, 0).unwrap_or(0);
            let head = &head[..n];
            let Some(line) = head.strip_prefix(b"#!") else {
                return Ok((fd, argv));
            };
            let line = line.split(|b| *b == b'\n').next().unwrap_or_default();
            let line = line.trim_ascii();
            let (interp, arg) = match line.iter().position(|b| *b == b' ' || *b == b'\t') {
                Some(i) => (&line[..i], Some(line[i..].trim_ascii())),
                None => (line, None),
            };
            if interp.is_empty() {
                return Err(Refused::Errno(Errno(libc::ENOEXEC)));
            }
            let c = |b: &[u8]| CString::new(b).map_err(|_| Refused::Errno(Errno(libc::ENOEXEC)));
            // As binfmt_script: interpreter, its one optional argument, the
            // script's path, then the script's arguments after argv[0].
            let mut next = vec![c(interp)?];
            if let Some(a) = arg.filter(|a| !a.is_empty()) {
                next.push(c(a)?);
            }
            next.push(path.clone());
            next.extend(argv.iter().skip(1).cloned());
            argv = next;
            path = c(interp)?;
        }
        Err(Refused::Errno(Errno(libc::ELOOP)))
    }

    /// Execs exactly `image`; returns only on failure.
    pub(crate) fn execveat(image: &OwnedFd, argv: &[CString], env: &[CString]) -> Errno {
        // "" with AT_EMPTY_PATH names the fd itself.
        let Err(e) = nix::unistd::execveat(image, c"", argv, env, AtFlags::AT_EMPTY_PATH);
        e.into()
    }
}

/// process.env, plus HOME from the container's /etc/passwd when unset (as
/// runc). A name set twice keeps its last value (`exec --env` overrides).
fn environment(process: &Process) -> Vec<String> {
    let mut env: Vec<String> = Vec::new();
    for e in process.env().iter().flatten() {
        let name = e.split_once('=').map_or(e.as_str(), |(n, _)| n);
        env.retain(|old: &String| old.split_once('=').map_or(old.as_str(), |(n, _)| n) != name);
        env.push(e.clone());
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        let home = security::passwd_field("/etc/passwd", process.user().uid(), 5)
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "/".into());
        env.push(format!("HOME={home}"));
    }
    env
}

/// Finds the program as execvp would (in the process's PATH), with runc's
/// wording for the errors engines map to exit codes 127 and 126.
fn find_executable(name: &str, env: &[String]) -> Result<CString> {
    let err = |why: String| Error::Init(format!("exec: {name:?}: {why}"));
    let to_c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes()).map_err(|_| err("contains a NUL byte".into()))
    };
    if name.contains('/') {
        let p = Path::new(name);
        return match std::fs::metadata(p) {
            Ok(_) => to_c(p),
            Err(e) => Err(err(Errno::from(e).to_string())),
        };
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = PathBuf::from(dir).join(name);
        if let Ok(m) = std::fs::metadata(&cand) {
            use std::os::unix::fs::PermissionsExt;
            if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                return to_c(&cand);
            }
        }
    }
    Err(err("executable file not found in $PATH".into()))
}

/// After the switch to the process's user: may that user execute it?
///
/// The real and effective ids are equal by now, so plain access(2) asks
/// the same question as AT_EACCESS would; and it is the old faccessat
/// syscall, which seccomp profiles list, where glibc would turn AT_EACCESS
/// into faccessat2, which older profiles deny with EPERM.
fn check_executable(name: &str, exe: &CString) -> Result<()> {
    let r = nix::unistd::access(exe.as_c_str(), nix::unistd::AccessFlags::X_OK);
    let meta = std::fs::metadata(std::ffi::OsStr::from_bytes(exe.as_bytes()));
    let e = match r {
        Err(e) => Errno::from(e),
        Ok(()) if meta.is_ok_and(|m| m.is_dir()) => Errno(libc::EACCES),
        Ok(()) => return Ok(()),
    };
    Err(Error::Init(format!("exec: {name:?}: {e}")))
}
