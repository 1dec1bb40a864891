//! Post-copy's source side: `ward checkpoint --lazy-pages` running in the
//! background, serving the container's memory on our loopback until the
//! destination has fetched every page. Its `--status-fd` says when the
//! images (without the memory) are written and the pages are served.

use crate::runtime::Runtime;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Dump {
    child: Mutex<Child>,
    log: PathBuf,
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two fds into the array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: both fds were just made by pipe2 and are ours alone.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

impl Dump {
    /// Starts the lazy dump (`args` are the runtime's) and returns once
    /// it serves the memory, or with why it didn't.
    pub fn start(rt: &Runtime, args: &[&str], image: &Path) -> Result<Dump, String> {
        let (r, w) = pipe()?;
        let log = image.with_extension("ward.log");
        let mut cmd = rt.command(args);
        let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(out);
        let wfd = w.as_raw_fd();
        // SAFETY: between fork and exec only dup2(2), which is
        // async-signal-safe; it puts the status pipe at fd 3 (dup2 clears
        // CLOEXEC on the copy).
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(wfd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("{}: {e}", rt.bin.display()))?;
        drop(w);
        let d = Dump {
            child: Mutex::new(child),
            log,
        };
        // The NUL byte, or the pipe's end when the dump failed first.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut f = std::fs::File::from(r);
            let mut b = [1u8; 1];
            let n = f.read(&mut b).unwrap_or(0);
            let _ = tx.send(n == 1 && b[0] == 0);
        });
        match rx.recv_timeout(Duration::from_secs(3600)) {
            Ok(true) => Ok(d),
            _ => {
                let why = d.finish(Duration::from_secs(60));
                Err(why
                    .err()
                    .unwrap_or_else(|| "it ended before serving".into()))
            }
        }
    }

    fn finish(&self, t: Duration) -> Result<(), String> {
        let start = Instant::now();
        let mut c = self.child.lock().unwrap();
        loop {
            match c.try_wait() {
                Ok(Some(st)) if st.success() => return Ok(()),
                Ok(Some(st)) => {
                    let text = std::fs::read_to_string(&self.log).unwrap_or_default();
                    let line = text
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("")
                        .trim();
                    let line = line.strip_prefix("ward: ").unwrap_or(line);
                    return Err(if line.is_empty() {
                        format!("the lazy dump exited with {st}")
                    } else {
                        line.to_string()
                    });
                }
                Ok(None) if start.elapsed() < t => std::thread::sleep(Duration::from_millis(50)),
                _ => {
                    crate::receive::kill_criu_below(c.id() as i32);
                    let _ = c.kill();
                    let _ = c.wait();
                    return Err(format!(
                        "the lazy dump did not end within {} s and was killed",
                        t.as_secs()
                    ));
                }
            }
        }
    }

    /// Waits until every page has been fetched (the dump ends).
    pub fn wait(self) -> Result<(), String> {
        self.finish(Duration::from_secs(3600))
    }

    /// A failure before the destination ran it: the dump stops serving
    /// (its criu and then it are ended), so that the container can be
    /// resumed here.
    pub fn abort(&self) {
        let mut c = self.child.lock().unwrap();
        if let Ok(None) = c.try_wait() {
            crate::receive::kill_criu_below(c.id() as i32);
            let _ = c.kill();
        }
        let _ = c.wait();
    }
}
