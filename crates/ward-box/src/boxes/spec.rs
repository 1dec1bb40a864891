//! The runtime spec (config.json) of a box: `ward spec`'s default, with the
//! image config (Entrypoint, Cmd, Env, WorkingDir, User, Volumes) and the
//! user's flags applied, podman's and docker's rules where they have one.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The flags of `ward box run` that shape the spec.
#[derive(Clone, Debug, Default)]
pub struct RunFlags {
    pub tty: bool,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub volumes: Vec<String>,
    pub tmpfs: Vec<String>,
    pub read_only: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub hostname: Option<String>,
    pub memory: Option<String>,
    pub cpus: Option<f64>,
    pub pids: Option<i64>,
    pub io_weight: Option<u16>,
    pub entrypoint: Option<String>,
}

/// What the image says about how to run it.
#[derive(Clone, Debug, Default)]
pub struct ImageDefaults {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub stop_signal: Option<String>,
    pub volumes: Vec<String>,
}

impl ImageDefaults {
    pub fn from_config(c: &oci_spec::image::ImageConfiguration) -> ImageDefaults {
        let Some(cfg) = c.config() else {
            return ImageDefaults::default();
        };
        ImageDefaults {
            entrypoint: cfg.entrypoint().clone().unwrap_or_default(),
            cmd: cfg.cmd().clone().unwrap_or_default(),
            env: cfg.env().clone().unwrap_or_default(),
            workdir: cfg.working_dir().clone().filter(|w| !w.is_empty()),
            user: cfg.user().clone().filter(|u| !u.is_empty()),
            stop_signal: cfg.stop_signal().clone().filter(|s| !s.is_empty()),
            volumes: cfg.volumes().clone().unwrap_or_default(),
        }
    }
}

/// The command a box runs: docker's rule (the entrypoint, then the user's
/// command or else the image's Cmd).
pub fn command(img: &ImageDefaults, flags: &RunFlags, user_cmd: &[String]) -> Vec<String> {
    let entry = match &flags.entrypoint {
        Some(e) if e.is_empty() => vec![],
        Some(e) => vec![e.clone()],
        None => img.entrypoint.clone(),
    };
    let rest = if !user_cmd.is_empty() {
        user_cmd.to_vec()
    } else if flags.entrypoint.is_some() {
        vec![]
    } else {
        img.cmd.clone()
    };
    [entry, rest].concat()
}

/// Parses docker's sizes: `512`, `64k`, `256m`, `1g` (powers of 1024).
pub fn parse_size(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("--memory {s:?}: not a size (e.g. 256m, 1g)"))?;
    if n.is_nan() || n <= 0.0 || n * mult as f64 > i64::MAX as f64 {
        return Err(format!("--memory {s:?}: out of range"));
    }
    Ok((n * mult as f64) as i64)
}

fn cap_name(c: &str) -> String {
    let u = c.to_ascii_uppercase();
    if u.starts_with("CAP_") || u == "ALL" {
        u
    } else {
        format!("CAP_{u}")
    }
}

/// Every capability the running kernel knows (cap_last_cap), by name.
fn all_caps() -> Vec<String> {
    const NAMES: &[&str] = &[
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    let last: usize = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    NAMES
        .iter()
        .take(last + 1)
        .map(|n| format!("CAP_{n}"))
        .collect()
}

/// A volume flag made absolute: `SRC[:DST][:ro|rw]`; `.` and relative
/// sources are the caller's directory; a lone source is bound at its own path.
pub fn parse_volume(v: &str, cwd: &Path) -> Result<(PathBuf, String, bool), String> {
    let parts: Vec<&str> = v.split(':').collect();
    let (src, dst, opt) = match parts.as_slice() {
        [s] => (*s, None, None),
        [s, d] if *d == "ro" || *d == "rw" => (*s, None, Some(*d)),
        [s, d] => (*s, Some(*d), None),
        [s, d, o] => (*s, Some(*d), Some(*o)),
        _ => return Err(format!("-v {v:?}: SRC[:DST][:ro]")),
    };
    let ro = match opt {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(o) => return Err(format!("-v {v:?}: unknown option {o:?} (ro or rw)")),
    };
    if src.is_empty() {
        return Err(format!("-v {v:?}: empty source"));
    }
    let src = if Path::new(src).is_absolute() {
        PathBuf::from(src)
    } else {
        cwd.join(src)
    };
    let src = src
        .canonicalize()
        .map_err(|e| format!("-v {v:?}: {}: {e}", src.display()))?;
    let dst = match dst {
        Some(d) if d.starts_with('/') => d.to_string(),
        Some(d) => return Err(format!("-v {v:?}: the destination {d:?} must be absolute")),
        None => src.to_string_lossy().into_owned(),
    };
    Ok((src, dst, ro))
}

/// Everything the spec is made from.
pub struct SpecInput<'a> {
    pub root: &'a Path,
    pub host_binds: &'a [String],
    pub is_host_view: bool,
    /// The host view's tmpfs mounts (its writable places): /tmp and /run on
    /// a box's own skeleton; every writable place on the shared one.
    pub host_tmpfs: &'a [String],
    /// The root is the shared skeleton: read-only whatever --read-only says.
    pub shared_root: bool,
    pub image: &'a ImageDefaults,
    pub flags: &'a RunFlags,
    pub args: Vec<String>,
    pub name: &'a str,
    pub rootless: bool,
    pub user: (u32, u32, Vec<u32>),
    pub volumes_dir: &'a Path,
    pub cwd: &'a Path,
    /// The box has no cgroup of its own (a one-off host-view box without
    /// limits), so no devices cgroup stands behind its device rules: its
    /// volumes are bound `nodev`, as everything else in it is.
    pub nodev_volumes: bool,
}

pub fn build(i: &SpecInput<'_>) -> Result<Value, String> {
    let mut s = ward_core::spec_template::default_spec(i.rootless);
    let f = i.flags;
    s["root"] = json!({"path": i.root, "readonly": f.read_only || i.shared_root});
    s["hostname"] = json!(f.hostname.clone().unwrap_or_else(|| i.name.to_string()));
    if let Some(h) = &f.hostname {
        if h.is_empty()
            || h.len() > 64
            || !h
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(format!("--hostname {h:?}: 1 to 64 letters, digits, - ."));
        }
    }
    let p = &mut s["process"];
    if i.args.is_empty() {
        return Err("no command: the image has no Cmd or Entrypoint and none was given".into());
    }
    p["args"] = json!(i.args);
    p["terminal"] = json!(f.tty);
    let mut env: Vec<String> =
        vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()];
    if f.tty {
        env.push(format!(
            "TERM={}",
            std::env::var("TERM").unwrap_or_else(|_| "xterm".into())
        ));
    }
    env.push(format!(
        "HOSTNAME={}",
        s["hostname"].as_str().unwrap_or_default()
    ));
    env.push("HOME=/root".into());
    let set = |env: &mut Vec<String>, kv: String| {
        let key = kv.split('=').next().unwrap_or_default().to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(kv);
    };
    for e in &i.image.env {
        set(&mut env, e.clone());
    }
    for e in &f.env {
        if e.is_empty() || e.starts_with('=') {
            return Err(format!("-e {e:?}: NAME=VALUE or NAME"));
        }
        if e.contains('=') {
            set(&mut env, e.clone());
        } else if let Ok(v) = std::env::var(e) {
            set(&mut env, format!("{e}={v}"));
        }
    }
    let p = &mut s["process"];
    p["env"] = json!(env);
    let cwd = match (&f.workdir, &i.image.workdir) {
        (Some(w), _) => w.clone(),
        (None, Some(w)) => w.clone(),
        (None, None) if i.is_host_view => {
            // The caller's directory when a volume brought it in.
            let here = i.cwd.to_string_lossy().into_owned();
            let inside = f
                .volumes
                .iter()
                .filter_map(|v| parse_volume(v, i.cwd).ok())
                .any(|(_, d, _)| {
                    here == d || here.starts_with(&format!("{}/", d.trim_end_matches('/')))
                });
            if inside {
                here
            } else {
                "/".into()
            }
        }
        (None, None) => "/".into(),
    };
    if !cwd.starts_with('/') {
        return Err(format!("-w {cwd:?}: must be absolute"));
    }
    p["cwd"] = json!(cwd);
    p["user"] = json!({"uid": i.user.0, "gid": i.user.1});
    if !i.user.2.is_empty() {
        p["user"]["additionalGids"] = json!(i.user.2);
    }
    // Capabilities: the default set, then --cap-drop, then --cap-add
    // (docker's order: add wins).
    let mut caps: Vec<String> = s["process"]["capabilities"]["bounding"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let known = all_caps();
    for c in &f.cap_drop {
        let c = cap_name(c);
        if c == "ALL" {
            caps.clear();
        } else if !known.contains(&c) {
            return Err(format!("--cap-drop {c}: unknown capability"));
        } else {
            caps.retain(|x| *x != c);
        }
    }
    for c in &f.cap_add {
        let c = cap_name(c);
        if c == "ALL" {
            caps = known.clone();
        } else if !known.contains(&c) {
            return Err(format!("--cap-add {c}: unknown capability"));
        } else if !caps.contains(&c) {
            caps.push(c);
        }
    }
    s["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});

    // Mounts.
    let mounts = s["mounts"].as_array_mut().expect("the template has mounts");
    for b in i.host_binds {
        mounts.push(json!({"destination": b, "type": "bind", "source": b,
            "options": ["rbind", "ro", "nodev", "rprivate"]}));
    }
    for t in i.host_tmpfs {
        let mode = if t == "/tmp" || t == "/var/tmp" {
            "mode=1777"
        } else if t == "/root" {
            "mode=700"
        } else {
            "mode=755"
        };
        mounts.push(json!({"destination": t, "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", mode]}));
    }
    let mut dsts: Vec<String> = Vec::new();
    for v in &f.volumes {
        let (src, dst, ro) = parse_volume(v, i.cwd)?;
        let mut opts = vec!["rbind", "rprivate"];
        if ro {
            opts.push("ro");
        }
        if i.nodev_volumes {
            opts.push("nodev");
        }
        mounts.push(json!({"destination": dst, "type": "bind", "source": src, "options": opts}));
        dsts.push(dst);
    }
    for t in &f.tmpfs {
        let (dst, o) = t.split_once(':').unwrap_or((t.as_str(), ""));
        if !dst.starts_with('/') {
            return Err(format!("--tmpfs {t:?}: the destination must be absolute"));
        }
        let mut opts: Vec<&str> = vec!["nosuid", "nodev"];
        opts.extend(o.split(',').filter(|x| !x.is_empty()));
        mounts
            .push(json!({"destination": dst, "type": "tmpfs", "source": "tmpfs", "options": opts}));
        dsts.push(dst.to_string());
    }
    // The image's Volumes: an anonymous volume each (a directory of the
    // box's own), unless the user put something there.
    for (n, vol) in i.image.volumes.iter().enumerate() {
        if !vol.starts_with('/')
            || dsts
                .iter()
                .any(|d| d.trim_end_matches('/') == vol.trim_end_matches('/'))
        {
            continue;
        }
        let src = i.volumes_dir.join(n.to_string());
        std::fs::create_dir_all(&src).map_err(|e| format!("mkdir {}: {e}", src.display()))?;
        mounts.push(json!({"destination": vol, "type": "bind", "source": src, "options": ["rbind", "rprivate"]}));
    }

    // Resources.
    let mut res = s["linux"]["resources"].take();
    if res.is_null() {
        res = json!({});
    }
    if let Some(m) = &f.memory {
        res["memory"] = json!({"limit": parse_size(m)?});
    }
    if let Some(c) = f.cpus {
        if c.is_nan() || c <= 0.0 || c > 1024.0 {
            return Err(format!("--cpus {c}: must be above 0"));
        }
        res["cpu"] = json!({"quota": (c * 100_000.0) as i64, "period": 100_000});
    }
    if let Some(n) = f.pids {
        if n == 0 || n < -1 {
            return Err(format!("--pids {n}: a positive number, or -1 for no limit"));
        }
        res["pids"] = json!({"limit": n});
    }
    if let Some(w) = f.io_weight {
        if !(10..=1000).contains(&w) {
            return Err(format!("--io-weight {w}: must be 10 to 1000"));
        }
        res["blockIO"] = json!({"weight": w});
    }
    if res.as_object().is_some_and(|o| !o.is_empty()) {
        s["linux"]["resources"] = res;
    }
    Ok(s)
}

/// Resolves `-u`/the image's User (`uid[:gid]` or `name[:group]`) against
/// the box's /etc/passwd and /etc/group, read inside its root.
pub fn resolve_user(user: Option<&str>, root: &Path) -> Result<(u32, u32, Vec<u32>), String> {
    let Some(user) = user.filter(|u| !u.is_empty()) else {
        return Ok((0, 0, vec![]));
    };
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = read_in_root(root, "etc/passwd");
    let group = read_in_root(root, "etc/group");
    let find = |text: &str, name: &str| -> Option<Vec<String>> {
        text.lines()
            .map(|l| l.split(':').map(str::to_string).collect::<Vec<_>>())
            .find(|f| f.len() >= 3 && f[0] == name)
    };
    let (uid, pw_gid) = if let Ok(n) = u.parse::<u32>() {
        let gid = passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() >= 4 && f[2] == u)
            .and_then(|f| f[3].parse().ok());
        (n, gid)
    } else {
        let f =
            find(&passwd, u).ok_or_else(|| format!("user {u:?}: not in the box's /etc/passwd"))?;
        let uid = f[2]
            .parse()
            .map_err(|_| format!("user {u:?}: bad /etc/passwd entry"))?;
        (uid, f.get(3).and_then(|g| g.parse().ok()))
    };
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let f = find(&group, g)
                    .ok_or_else(|| format!("group {g:?}: not in the box's /etc/group"))?;
                f[2].parse()
                    .map_err(|_| format!("group {g:?}: bad /etc/group entry"))?
            }
        },
        None => pw_gid.unwrap_or(0),
    };
    Ok((uid, gid, vec![]))
}

/// Reads a small file inside `root` without following a symlink out of it.
fn read_in_root(root: &Path, rel: &str) -> String {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let Ok(dir) = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return String::new();
    };
    let Ok(fd) = rustix::fs::openat2(
        &dir,
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    ) else {
        return String::new();
    };
    let mut s = String::new();
    let _ = std::io::Read::read_to_string(
        &mut std::io::Read::take(std::fs::File::from(fd), 1 << 20),
        &mut s,
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_follows_docker() {
        let img = ImageDefaults {
            entrypoint: vec!["/e".into()],
            cmd: vec!["c".into()],
            ..Default::default()
        };
        let f = RunFlags::default();
        assert_eq!(command(&img, &f, &[]), vec!["/e", "c"]);
        assert_eq!(command(&img, &f, &["x".into()]), vec!["/e", "x"]);
        let f = RunFlags {
            entrypoint: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(command(&img, &f, &["x".into()]), vec!["x"]);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256m").unwrap(), 256 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("-1m").is_err());
    }

    #[test]
    fn volumes() {
        let cwd = std::env::temp_dir();
        let (s, d, ro) = parse_volume(".", &cwd).unwrap();
        assert_eq!(s, cwd.canonicalize().unwrap());
        assert_eq!(d, s.to_string_lossy());
        assert!(!ro);
        let (_, d, ro) = parse_volume("/tmp:/data:ro", &cwd).unwrap();
        assert_eq!((d.as_str(), ro), ("/data", true));
        assert!(parse_volume("/tmp:data", &cwd).is_err());
        assert!(parse_volume("/nonexistent-ward:/x", &cwd).is_err());
        assert!(parse_volume("/tmp:/x:rx", &cwd).is_err());
    }
}
