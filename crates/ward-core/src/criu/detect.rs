//! Which criu, and what it and the kernel can do, found before anything
//! starts: one conversation with `criu swrk` asks for its version
//! (VERSION), for the kernel features pre-dump and lazy pages need
//! (FEATURE_CHECK: soft-dirty tracking, userfaultfd) and runs CRIU's own
//! self-test (CHECK, what `criu check` does). The answers are kept in a
//! small cache file, keyed by the criu binary and the boot, so that later
//! checkpoints and restores pay nothing for them.

use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::CriuError;
use super::rpc::{Features, Opts, Req, ReqType};
use super::swrk::{self, Call, Spawn};

/// The oldest criu ward drives: 3.15 has the `status-ready` notification,
/// external pid namespaces and the cgroup v2 freezer.
pub const MIN_VERSION: u32 = 31500;

/// How long the probe may take (CRIU's check reads the whole kernel's
/// features; under emulation that is seconds).
const PROBE_TIMEOUT: Duration = Duration::from_secs(120);

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// major * 10000 + minor * 100 + sublevel (a git build counts as the
    /// next minor release, as runc counts it).
    pub version: u32,
    /// "3.17.1", as criu names itself.
    pub version_text: String,
    /// Why CRIU's self-test failed on this kernel; None when it passed.
    pub check_failed: Option<String>,
    /// Soft-dirty page tracking (pre-dump, --parent-path).
    pub mem_track: bool,
    /// Non-cooperative userfaultfd (lazy pages).
    pub lazy_pages: bool,
}

/// A criu binary and what it can do here.
#[derive(Debug, Clone)]
pub struct Criu {
    pub path: PathBuf,
    pub info: Info,
    /// The log of the self-test, for messages.
    pub check_log: Option<PathBuf>,
}

/// What a request needs beyond a working criu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Soft-dirty tracking, for `flag` (--pre-dump, --parent-path).
    MemTrack(&'static str),
    /// userfaultfd, for --lazy-pages.
    LazyPages,
    /// An option CRIU added in a release: (flag, version).
    Since(&'static str, u32),
}

/// The criu binary: `explicit` (the global --criu), or `criu` on PATH, or
/// in /usr/sbin and /sbin (root's PATH may lack them).
pub fn find(explicit: Option<&Path>) -> Result<PathBuf, CriuError> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(CriuError::Unsupported(format!(
                "--criu {}: no such file (install criu, or give the path of the binary)",
                p.display()
            )))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join("criu"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            CriuError::Unsupported(
                "criu is not installed (not on PATH nor in /usr/sbin): install it (Debian: apt-get install criu) or name it with --criu".into(),
            )
        })
}

/// Encodes a criu version the way runc compares them.
pub fn version_number(major: i32, minor: i32, sublevel: i32, git: bool) -> u32 {
    let mut v =
        (major.max(0) as u32) * 10000 + (minor.max(0) as u32) * 100 + sublevel.max(0) as u32;
    if git {
        // A build from git is newer than its last release.
        v = v - v % 100 + 100;
    }
    v
}

fn version_text(v: u32) -> String {
    let (major, minor, sub) = (v / 10000, v / 100 % 100, v % 100);
    if sub == 0 {
        format!("{major}.{minor}")
    } else {
        format!("{major}.{minor}.{sub}")
    }
}

/// The running kernel's release (uname -r).
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// What names this criu binary on this boot: a new criu or a new boot (a
/// new kernel) means a new probe.
fn cache_key(criu: &Path) -> Option<String> {
    let m = std::fs::metadata(criu).ok()?;
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(format!(
        "{} {}:{} {} {} {}",
        criu.display(),
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime_nsec() + m.mtime() * 1_000_000_000,
        boot.trim()
    ))
}

#[derive(Serialize, Deserialize)]
struct Cached {
    key: String,
    info: Info,
}

impl Criu {
    /// Finds criu and learns what it can do, from `cache` (a file) when it
    /// names this binary and boot, else by asking it (CRIU's self-test
    /// writes `criu-check.log` into `scratch`, an existing directory).
    pub fn probe(
        explicit: Option<&Path>,
        cache: Option<&Path>,
        scratch: &Path,
    ) -> Result<Criu, CriuError> {
        let path = find(explicit)?;
        let key = cache_key(&path);
        let check_log = Some(scratch.join("criu-check.log"));
        if let (Some(c), Some(k)) = (cache, &key) {
            if let Some(hit) = std::fs::read(c)
                .ok()
                .and_then(|d| serde_json::from_slice::<Cached>(&d).ok())
                .filter(|h| &h.key == k)
            {
                return Ok(Criu {
                    path,
                    info: hit.info,
                    check_log,
                });
            }
        }
        let info = ask(&path, scratch)?;
        if let (Some(c), Some(key)) = (cache, key) {
            // A cache that can't be written only costs the next command a
            // probe.
            if let Ok(data) = serde_json::to_vec(&Cached {
                key,
                info: info.clone(),
            }) {
                let tmp = c.with_extension(format!("tmp-{}", std::process::id()));
                if std::fs::write(&tmp, data).is_ok() && std::fs::rename(&tmp, c).is_err() {
                    let _ = std::fs::remove_file(&tmp);
                }
            }
        }
        Ok(Criu {
            path,
            info,
            check_log,
        })
    }

    /// Whether this criu works here at all: new enough, and its self-test
    /// passes on this kernel.
    pub fn usable(&self) -> Result<(), CriuError> {
        let i = &self.info;
        if i.version < MIN_VERSION {
            return Err(CriuError::Unsupported(format!(
                "criu {} at {} is too old: ward needs criu {} or newer (install a newer criu, or name one with --criu)",
                i.version_text,
                self.path.display(),
                version_text(MIN_VERSION)
            )));
        }
        if let Some(why) = &i.check_failed {
            let log = self
                .check_log
                .as_ref()
                .map(|l| format!(" (criu's log: {})", l.display()))
                .unwrap_or_default();
            return Err(CriuError::Unsupported(format!(
                "criu {} does not work with this kernel ({}): its self-test (criu check) fails: {why}{log}; a criu release that supports this kernel would fix it",
                i.version_text,
                kernel_release()
            )));
        }
        Ok(())
    }

    /// Whether what a request needs is there.
    pub fn needs(&self, need: Need) -> Result<(), CriuError> {
        let i = &self.info;
        match need {
            Need::MemTrack(flag) if !i.mem_track => Err(CriuError::Unsupported(format!(
                "{flag}: this kernel ({}) has no soft-dirty memory tracking, which criu needs to copy only the memory changed since the last dump; a kernel built with CONFIG_MEM_SOFT_DIRTY would fix it (or dump without {flag})",
                kernel_release()
            ))),
            Need::LazyPages if !i.lazy_pages => Err(CriuError::Unsupported(format!(
                "--lazy-pages: this kernel ({}) has no non-cooperative userfaultfd, which criu needs to restore memory on demand; a kernel with CONFIG_USERFAULTFD (4.11 or newer) would fix it (or restore without --lazy-pages)",
                kernel_release()
            ))),
            Need::Since(flag, v) if i.version < v => Err(CriuError::Unsupported(format!(
                "{flag}: criu {} lacks it; criu {} or newer has it",
                i.version_text,
                version_text(v)
            ))),
            _ => Ok(()),
        }
    }
}

/// Asks criu: VERSION, FEATURE_CHECK and CHECK in one conversation.
fn ask(criu: &Path, scratch: &Path) -> Result<Info, CriuError> {
    let dir = std::fs::File::open(scratch)
        .map_err(|e| CriuError::io(format!("open {}", scratch.display()), e))?;
    let req = |t: ReqType| Req {
        r#type: t as i32,
        opts: None,
        notify_success: None,
        keep_open: None,
        features: None,
        pid: None,
    };
    let version = Req {
        keep_open: Some(true),
        ..req(ReqType::Version)
    };
    let features = Req {
        keep_open: Some(true),
        // CRIU before 2.12 crashed on a request without options.
        opts: Some(Opts {
            images_dir_fd: dir.as_raw_fd(),
            ..Opts::default()
        }),
        features: Some(Features {
            mem_track: Some(true),
            lazy_pages: Some(true),
            pidfd_store: None,
        }),
        ..req(ReqType::FeatureCheck)
    };
    let check = Req {
        opts: Some(Opts {
            images_dir_fd: dir.as_raw_fd(),
            log_file: Some("criu-check.log".into()),
            log_level: Some(4),
            ..Opts::default()
        }),
        ..req(ReqType::Check)
    };
    let log = scratch.join("criu-check.log");
    let answer = swrk::call(
        criu,
        Spawn {
            fds: vec![],
            op: "check",
            no_new_privs: false,
        },
        Call {
            reqs: vec![version, features, check],
            tolerate_failure: true,
            timeout: PROBE_TIMEOUT,
            log: Some(log.clone()),
        },
        |_| Ok(()),
        |_, _| Ok(()),
    )?;
    let [v, f, c] = &answer.resps[..] else {
        return Err(CriuError::Protocol("criu check: answers missing".into()));
    };
    let Some(ver) = v.version.as_ref().filter(|_| v.success) else {
        return Err(CriuError::Protocol(format!(
            "criu at {} did not tell its version (criu older than 3.0?)",
            criu.display()
        )));
    };
    let version = version_number(
        ver.major_number,
        ver.minor_number,
        ver.sublevel.unwrap_or(0),
        ver.gitid.as_deref().is_some_and(|g| !g.is_empty()),
    );
    let feats = f.features.filter(|_| f.success).unwrap_or_default();
    let check_failed =
        (!c.success).then(|| swrk::first_error(&log).unwrap_or_else(|| "see its log".into()));
    Ok(Info {
        version,
        version_text: format!(
            "{}.{}{}",
            ver.major_number,
            ver.minor_number,
            ver.sublevel
                .filter(|s| *s > 0)
                .map(|s| format!(".{s}"))
                .unwrap_or_default()
        ),
        check_failed,
        mem_track: feats.mem_track.unwrap_or(false),
        lazy_pages: feats.lazy_pages.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn criu(version: u32, check_failed: Option<&str>, mem: bool, lazy: bool) -> Criu {
        Criu {
            path: "/usr/sbin/criu".into(),
            info: Info {
                version,
                version_text: version_text(version),
                check_failed: check_failed.map(str::to_string),
                mem_track: mem,
                lazy_pages: lazy,
            },
            check_log: Some("/run/ward/criu-check.log".into()),
        }
    }

    #[test]
    fn versions_compare_as_runc_counts_them() {
        assert_eq!(version_number(3, 17, 1, false), 31701);
        assert_eq!(version_number(3, 17, 1, true), 31800);
        assert_eq!(version_number(4, 0, 0, false), 40000);
        assert_eq!(version_text(31701), "3.17.1");
        assert_eq!(version_text(31500), "3.15");
    }

    #[test]
    fn each_missing_piece_is_one_line_naming_it_and_the_fix() {
        let e = criu(31400, None, true, true)
            .usable()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("criu 3.14 at /usr/sbin/criu is too old") && e.contains("3.15"),
            "{e}"
        );
        let e = criu(
            31701,
            Some("vdso: Failed to fill self vdso symtable"),
            true,
            true,
        )
        .usable()
        .unwrap_err()
        .to_string();
        assert!(e.contains("does not work with this kernel"), "{e}");
        assert!(e.contains("vdso: Failed"), "{e}");
        assert!(e.contains("/run/ward/criu-check.log"), "{e}");
        assert!(e.contains("would fix it"), "{e}");
        let ok = criu(31701, None, false, false);
        assert!(ok.usable().is_ok());
        let e = ok
            .needs(Need::MemTrack("--pre-dump"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--pre-dump: ") && e.contains("CONFIG_MEM_SOFT_DIRTY"),
            "{e}"
        );
        let e = ok.needs(Need::LazyPages).unwrap_err().to_string();
        assert!(
            e.starts_with("--lazy-pages: ") && e.contains("userfaultfd"),
            "{e}"
        );
        let e = criu(31500, None, true, true)
            .needs(Need::Since("--lsm-profile", 31600))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "--lsm-profile: criu 3.15 lacks it; criu 3.16 or newer has it"
        );
        assert!(criu(31701, None, true, true)
            .needs(Need::Since("--lsm-profile", 31600))
            .is_ok());
        for e in [
            criu(31400, None, true, true)
                .usable()
                .unwrap_err()
                .to_string(),
            ok.needs(Need::LazyPages).unwrap_err().to_string(),
        ] {
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn find_refuses_a_missing_explicit_binary() {
        let e = find(Some(Path::new("/nonexistent/criu")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--criu /nonexistent/criu: no such file"), "{e}");
    }
}
