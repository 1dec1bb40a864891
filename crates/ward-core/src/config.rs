//! config.json: loading a bundle's spec and checking all of it before anything
//! touches the system, so that a bad spec fails with nothing to clean up.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use crate::sys::Errno;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("read {path}: {errno}")]
    Read { path: PathBuf, errno: Errno },
    #[error("parse {path}: {invalid}")]
    Parse { path: PathBuf, invalid: Invalid },
    #[error("invalid config {path}: {invalid}")]
    Invalid { path: PathBuf, invalid: Invalid },
}

impl ConfigError {
    /// The field at fault (`linux.resources.memory.limit`), when one is.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Parse { invalid, .. } | ConfigError::Invalid { invalid, .. } => {
                Some(invalid.field.as_str()).filter(|f| !f.is_empty())
            }
            ConfigError::Read { .. } => None,
        }
    }
}

/// What is wrong with a spec: the field (as a path into the JSON, e.g.
/// `process.rlimits`; empty for the document as a whole) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub why: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, why: impl Into<String>) -> Invalid {
        Invalid {
            field: field.into(),
            why: why.into(),
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.why)
        } else {
            write!(f, "{}: {}", self.field, self.why)
        }
    }
}

impl std::error::Error for Invalid {}

/// A loaded, validated bundle.
#[derive(Debug)]
pub struct Bundle {
    /// The bundle directory, absolute.
    pub dir: PathBuf,
    /// The root filesystem, absolute and canonical.
    pub rootfs: PathBuf,
    pub spec: Spec,
}

impl Bundle {
    /// The spec's ociVersion (the newest ward knows when it is empty).
    pub fn version(&self) -> String {
        let v = self.spec.version();
        if v.is_empty() {
            crate::OCI_VERSION_MAX.to_string()
        } else {
            v.clone()
        }
    }
}

/// Reads `bundle/config.json` and validates it.
pub fn load_bundle(bundle: &Path) -> Result<Bundle, ConfigError> {
    let dir = std::path::absolute(bundle).map_err(|e| ConfigError::Read {
        path: bundle.to_path_buf(),
        errno: Errno::from(e),
    })?;
    let path = dir.join("config.json");
    let data = std::fs::read(&path).map_err(|e| ConfigError::Read {
        path: path.clone(),
        errno: Errno::from(e),
    })?;
    let spec = parse_spec(&data).map_err(|invalid| ConfigError::Parse {
        path: path.clone(),
        invalid,
    })?;
    let invalid = |invalid: Invalid| ConfigError::Invalid {
        path: path.clone(),
        invalid,
    };
    validate(&spec).map_err(invalid)?;
    let root = spec.root().as_ref().expect("validated");
    let rootfs = dir.join(root.path());
    let rootfs = std::fs::canonicalize(&rootfs).map_err(|e| {
        invalid(Invalid::new(
            "root.path",
            format!("{}: {}", rootfs.display(), Errno::from(e)),
        ))
    })?;
    if !rootfs.is_dir() {
        return Err(invalid(Invalid::new(
            "root.path",
            format!("{}: not a directory", rootfs.display()),
        )));
    }
    Ok(Bundle { dir, rootfs, spec })
}

/// Parses a spec; unknown fields are ignored, as the runtime spec requires.
/// An error names the field at fault (e.g. `linux.resources.devices[1].type`).
pub fn parse_spec(data: &[u8]) -> Result<Spec, Invalid> {
    let de = &mut serde_json::Deserializer::from_slice(data);
    let spec = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        if path.starts_with("linux.seccomp") {
            // An unknown action, arch, operator or flag: say it as runc does
            // (the typed parse can only say "unknown variant").
            let raw: Option<serde_json::Value> = serde_json::from_slice(data).ok();
            let sc = raw.as_ref().and_then(|v| v.get("linux")?.get("seccomp"));
            if let Some(Err(crate::security::seccomp::SeccompError::Unknown {
                field,
                what,
                value,
            })) = sc.map(crate::security::seccomp::check_json)
            {
                return Invalid::new(field, format!("unknown {what} {value:?}"));
            }
        }
        serde_invalid(&e)
    })?;
    // Anything after the object (a second document, garbage) is a damaged
    // file, not something to ignore.
    de.end().map_err(|e| Invalid::new("", e.to_string()))?;
    Ok(spec)
}

/// A typed parse's error, with the path of the field at fault.
fn serde_invalid(e: &serde_path_to_error::Error<serde_json::Error>) -> Invalid {
    let path = e.path().to_string();
    let field = if path == "." { String::new() } else { path };
    Invalid::new(field, e.inner().to_string())
}

/// Parses a process.json (`exec --process`): a spec `process` object whose
/// args are not empty. Unknown fields are ignored, as in [`parse_spec`]; an
/// error names the field at fault. [`validate_process`] checks the rest.
pub fn parse_process(data: &[u8]) -> Result<Process, Invalid> {
    let de = &mut serde_json::Deserializer::from_slice(data);
    let p: Process = serde_path_to_error::deserialize(&mut *de).map_err(|e| serde_invalid(&e))?;
    de.end().map_err(|e| Invalid::new("", e.to_string()))?;
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Invalid::new("args", "must not be empty"));
    }
    Ok(p)
}

/// Sysctl prefixes that belong to a namespace, with the namespace they need
/// (None: any of the listed ipc keys). Others would change the host.
fn sysctl_namespace(key: &str) -> Option<LinuxNamespaceType> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        Some(LinuxNamespaceType::Ipc)
    } else if key.starts_with("net.") {
        Some(LinuxNamespaceType::Network)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(LinuxNamespaceType::Uts)
    } else {
        None
    }
}

/// Checks everything the runtime relies on later. Returns a message naming
/// the field and the value at fault.
pub fn validate(spec: &Spec) -> Result<(), Invalid> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Invalid::new("root", "missing"))?;
    if root.path().as_os_str().is_empty() {
        return Err(Invalid::new("root.path", "missing"));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Invalid::new("process", "missing"))?;
    validate_process(process)?;

    for m in spec.mounts().iter().flatten() {
        let d = m.destination();
        if !d.is_absolute() {
            return Err(Invalid::new(
                "mounts",
                format!(
                    "destination {:?} is not an absolute path",
                    d.display().to_string()
                ),
            ));
        }
        let bind = m.typ().as_deref() == Some("bind") || has_bind_option(m.options());
        if bind && m.source().is_none() {
            return Err(Invalid::new(
                "mounts",
                format!("bind mount to {} has no source", d.display()),
            ));
        }
    }

    let linux = spec.linux().as_ref();
    let mut created = HashSet::new();
    let mut all = HashSet::new();
    for ns in linux
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
    {
        if !all.insert(ns.typ()) {
            return Err(Invalid::new(
                "linux.namespaces",
                format!("{} listed twice", ns.typ()),
            ));
        }
        match ns.path() {
            Some(p) if !p.is_absolute() => {
                return Err(Invalid::new(
                    "linux.namespaces",
                    format!("path {} of {} is not absolute", p.display(), ns.typ()),
                ))
            }
            Some(_) => {}
            None => {
                created.insert(ns.typ());
            }
        }
    }
    let has = |t: LinuxNamespaceType| all.contains(&t);
    let new_user = created.contains(&LinuxNamespaceType::User);
    if let Some(l) = linux {
        let maps = l.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || l.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        if maps && !new_user {
            return Err(Invalid::new(
                "linux.uidMappings/gidMappings",
                "need a new user namespace",
            ));
        }
        if new_user {
            for (what, m) in [
                ("uidMappings", l.uid_mappings()),
                ("gidMappings", l.gid_mappings()),
            ] {
                if m.as_ref().is_none_or(|m| m.is_empty()) {
                    return Err(Invalid::new(
                        format!("linux.{what}"),
                        "a new user namespace needs a mapping",
                    ));
                }
            }
        }
        if let Some(sysctl) = l.sysctl() {
            for key in sysctl.keys() {
                match sysctl_namespace(key) {
                    Some(ns) if has(ns) => {}
                    Some(ns) => {
                        return Err(Invalid::new(
                            "linux.sysctl",
                            format!("{key} needs the container's own {ns} namespace"),
                        ))
                    }
                    None => {
                        return Err(Invalid::new(
                            "linux.sysctl",
                            format!("{key} is not namespaced and would change the host"),
                        ))
                    }
                }
            }
        }
        for dev in l.devices().iter().flatten() {
            if !dev.path().is_absolute() {
                return Err(Invalid::new(
                    "linux.devices",
                    format!("path {} is not absolute", dev.path().display()),
                ));
            }
        }
        if let Some(p) = l.rootfs_propagation() {
            if !matches!(
                p.as_str(),
                "" | "private"
                    | "rprivate"
                    | "slave"
                    | "rslave"
                    | "shared"
                    | "rshared"
                    | "unbindable"
                    | "runbindable"
            ) {
                return Err(Invalid::new(
                    "linux.rootfsPropagation",
                    format!("unknown value {p:?}"),
                ));
            }
        }
        if l.time_offsets().as_ref().is_some_and(|t| !t.is_empty())
            && !created.contains(&LinuxNamespaceType::Time)
        {
            return Err(Invalid::new(
                "linux.timeOffsets",
                "need a new time namespace",
            ));
        }
    }
    // A uts namespace joined by path is the container's own as much as a
    // new one (runtime-tools' linux_ns_path sets a hostname in one, as runc
    // allows); only the host's must not be renamed.
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err(Invalid::new("hostname", "setting it needs a uts namespace"));
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err(Invalid::new(
            "domainname",
            "setting it needs a uts namespace",
        ));
    }
    Ok(())
}

/// The checks a process (of config.json, or of exec's process.json) must pass.
pub fn validate_process(process: &Process) -> Result<(), Invalid> {
    let args = process.args().as_ref().filter(|a| !a.is_empty());
    let args = args.ok_or_else(|| Invalid::new("process.args", "must not be empty"))?;
    if args[0].is_empty() {
        return Err(Invalid::new("process.args", "the program name is empty"));
    }
    crate::security::lsm::validate(process)
        .map_err(|why| Invalid::new("process.apparmorProfile", why))?;
    if !process.cwd().is_absolute() {
        return Err(Invalid::new(
            "process.cwd",
            format!(
                "{:?} is not an absolute path",
                process.cwd().display().to_string()
            ),
        ));
    }
    for e in process.env().iter().flatten() {
        if !e.contains('=') {
            return Err(Invalid::new(
                "process.env",
                format!("{e:?} is not of the form KEY=VALUE"),
            ));
        }
    }
    let mut seen = HashSet::new();
    for r in process.rlimits().iter().flatten() {
        if !seen.insert(format!("{:?}", r.typ())) {
            return Err(Invalid::new(
                "process.rlimits",
                format!("{:?} listed twice", r.typ()),
            ));
        }
        if r.soft() > r.hard() {
            return Err(Invalid::new(
                "process.rlimits",
                format!(
                    "{:?} soft limit {} is above its hard limit {}",
                    r.typ(),
                    r.soft(),
                    r.hard()
                ),
            ));
        }
    }
    Ok(())
}

fn has_bind_option(opts: &Option<Vec<String>>) -> bool {
    opts.iter().flatten().any(|o| o == "bind" || o == "rbind")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.2.0",
            "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}]},
            "hostname": "h",
            "someFutureField": {"x": 1}
        })
    }

    fn check(v: &serde_json::Value) -> Result<(), String> {
        let spec = parse_spec(v.to_string().as_bytes()).map_err(|e| e.to_string())?;
        validate(&spec).map_err(|e| e.to_string())
    }

    #[test]
    fn accepts_minimal_and_ignores_unknown_fields() {
        check(&base()).unwrap();
    }

    #[test]
    fn rejects_bad_specs() {
        type Edit = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("root", Box::new(|v| v["root"]["path"] = "".into())),
            (
                "root",
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("root");
                }),
            ),
            (
                "args",
                Box::new(|v| v["process"]["args"] = serde_json::json!([])),
            ),
            ("cwd", Box::new(|v| v["process"]["cwd"] = "rel".into())),
            (
                "destination",
                Box::new(
                    |v| v["mounts"] = serde_json::json!([{"destination": "rel", "type": "tmpfs", "source": "tmpfs"}]),
                ),
            ),
            (
                "unknown",
                Box::new(|v| v["linux"]["namespaces"] = serde_json::json!([{"type": "bogus"}])),
            ),
            (
                "twice",
                Box::new(|v| {
                    v["linux"]["namespaces"] =
                        serde_json::json!([{"type": "pid"}, {"type": "pid"}, {"type": "uts"}])
                }),
            ),
            (
                "uts",
                Box::new(|v| v["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}])),
            ),
            (
                "type",
                Box::new(|v| v["process"]["args"] = serde_json::json!("sh")),
            ),
            (
                "sysctl",
                Box::new(|v| v["linux"]["sysctl"] = serde_json::json!({"kernel.pid_max": "10"})),
            ),
            (
                "net namespace",
                Box::new(|v| {
                    v["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ip_forward": "1"})
                }),
            ),
            (
                "mapping",
                Box::new(|v| {
                    v["linux"]["namespaces"] =
                        serde_json::json!([{"type": "user"}, {"type": "uts"}])
                }),
            ),
            (
                "rlimits",
                Box::new(|v| {
                    v["process"]["rlimits"] =
                        serde_json::json!([{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}])
                }),
            ),
        ];
        for (what, edit) in cases {
            let mut v = base();
            edit(&mut v);
            let err = check(&v).expect_err(what);
            assert!(err.contains(what), "{what}: {err}");
        }
    }

    #[test]
    fn trailing_data_is_refused() {
        let valid = base().to_string();
        for bad in [
            format!("{valid} xyz"),
            format!("{valid}{valid}"),
            format!("{valid}]"),
        ] {
            let err = parse_spec(bad.as_bytes()).expect_err(&bad[valid.len()..]);
            assert!(err.why.contains("trailing"), "{err}");
        }
        parse_spec(format!("{valid} \n").as_bytes()).unwrap();
        let p = r#"{"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}}"#;
        parse_process(p.as_bytes()).unwrap();
        let err = parse_process(format!("{p}{p}").as_bytes()).unwrap_err();
        assert!(err.why.contains("trailing"), "{err}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep =
            |open: &str, close: &str| format!("{}1{}", open.repeat(100_000), close.repeat(100_000));
        // serde_json skips an unknown field iteratively (any depth is Ok);
        // a value it must build stops at its recursion limit (an error).
        let refused = |doc: &str| {
            parse_spec(doc.as_bytes())
                .and_then(|s| validate(&s))
                .is_err()
        };
        for doc in [deep("[", "]"), deep("{\"a\":", "}")] {
            assert!(refused(&doc));
            assert!(parse_process(doc.as_bytes()).is_err());
            for seccomp in [
                serde_json::json!("@"),
                serde_json::json!({"defaultAction": "SCMP_ACT_X", "syscalls": "@"}),
                serde_json::json!({"defaultAction": "SCMP_ACT_X", "x": "@"}),
            ] {
                let mut v = base();
                v["linux"]["seccomp"] = seccomp;
                assert!(refused(&v.to_string().replace("\"@\"", &doc)));
            }
            let mut v = base();
            v["process"]["args"] = serde_json::json!("@");
            assert!(refused(&v.to_string().replace("\"@\"", &doc)));
        }
    }

    #[test]
    fn namespaced_sysctls_pass_with_their_namespace() {
        let mut v = base();
        v["linux"]["namespaces"] =
            serde_json::json!([{"type": "uts"}, {"type": "network"}, {"type": "ipc"}]);
        v["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000", "fs.mqueue.msg_max": "20"});
        check(&v).unwrap();
    }
}
