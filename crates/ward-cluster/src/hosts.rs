//! The hosts file (`/etc/ward/hosts`, or `--hosts`/`WARD_HOSTS`): one
//! machine a line, `NAME ssh://[user@]host[:port] [key=value...]`, with
//! `#` comments. The keys say how ward is found on that machine: `ward=`
//! (the runtime binary, default `ward` on the far side's PATH), `root=`
//! (its --root), `work=` (where a migration's images land there), `criu=` (the criu
//! binary there).

use std::path::{Path, PathBuf};

pub const DEFAULT_HOSTS: &str = "/etc/ward/hosts";

/// An ssh destination and how ward runs there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The hosts file's name, or the URL itself.
    pub name: String,
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    pub ward: String,
    pub root: Option<String>,
    pub work: Option<String>,
    pub criu: Option<String>,
}

/// `ssh://[user@]host[:port]`, host possibly `[v6]`.
pub fn parse_url(s: &str) -> Result<Host, String> {
    let rest = s
        .strip_prefix("ssh://")
        .ok_or_else(|| format!("{s:?} is not ssh://[user@]host[:port]"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    if let Some(u) = user {
        if u.is_empty()
            || !u
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(format!("{s:?}: bad user name {u:?}"));
        }
    }
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{s:?}: unclosed '[' in the host"))?;
        match after {
            "" => (h, None),
            p => (
                h,
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("{s:?}: junk after the host"))?,
                ),
            ),
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty()
        || host.starts_with('-')
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:_%".contains(c))
    {
        return Err(format!("{s:?}: bad host name {host:?}"));
    }
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{s:?}: bad port {p:?}"))?,
        ),
    };
    Ok(Host {
        name: s.to_string(),
        user: user.map(str::to_string),
        host: host.to_string(),
        port,
        ward: "ward".into(),
        root: None,
        work: None,
        criu: None,
    })
}

/// The hosts file's text, each line checked; an error names the line.
pub fn parse(text: &str, file: &Path) -> Result<Vec<Host>, String> {
    let mut out: Vec<Host> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = |why: String| format!("{}:{}: {why}", file.display(), n + 1);
        let mut words = line.split_whitespace();
        let name = words.next().unwrap_or_default();
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(at(format!(
                "bad host name {name:?} (letters, digits, . _ -)"
            )));
        }
        if out.iter().any(|h| h.name == name) {
            return Err(at(format!("host {name:?} is named twice")));
        }
        let url = words
            .next()
            .ok_or_else(|| at(format!("host {name:?} has no ssh://[user@]host[:port]")))?;
        let mut h = parse_url(url).map_err(at)?;
        h.name = name.to_string();
        for kv in words {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| at(format!("{kv:?} is not key=value")))?;
            if v.is_empty() {
                return Err(at(format!("{k}= has no value")));
            }
            match k {
                "ward" => h.ward = v.into(),
                "root" | "work" | "criu" if !v.starts_with('/') => {
                    return Err(at(format!("{k}={v}: not an absolute path")))
                }
                "root" => h.root = Some(v.into()),
                "work" => h.work = Some(v.into()),
                "criu" => h.criu = Some(v.into()),
                _ => return Err(at(format!("unknown key {k:?} (ward, root, work, criu)"))),
            }
        }
        out.push(h);
    }
    Ok(out)
}

/// The hosts file named by `flag`, else WARD_HOSTS, else /etc/ward/hosts.
pub fn path(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("WARD_HOSTS").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_HOSTS))
}

/// Reads and parses the hosts file; a missing default file is an empty list.
pub fn load(flag: Option<&Path>) -> Result<Vec<Host>, String> {
    let p = path(flag);
    match std::fs::read(&p) {
        Ok(d) => {
            let text = String::from_utf8(d)
                .map_err(|_| format!("hosts file {}: not UTF-8 text", p.display()))?;
            parse(&text, &p).map_err(|e| format!("hosts file {e}"))
        }
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && flag.is_none()
                && std::env::var_os("WARD_HOSTS").is_none() =>
        {
            Ok(Vec::new())
        }
        Err(e) => Err(format!("hosts file {}: {e}", p.display())),
    }
}

/// DEST: an ssh:// URL, or a name from the hosts file.
pub fn resolve(dest: &str, flag: Option<&Path>) -> Result<Host, String> {
    if dest.starts_with("ssh://") {
        return parse_url(dest);
    }
    if dest.contains("://") {
        return Err(format!(
            "destination {dest:?}: only ssh://[user@]host[:port] is supported"
        ));
    }
    let hosts = load(flag)?;
    hosts.into_iter().find(|h| h.name == dest).ok_or_else(|| {
        format!(
            "unknown host {dest:?}: not in the hosts file {} (and not ssh://...)",
            path(flag).display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let h = parse_url("ssh://root@10.0.0.2:2222").unwrap();
        assert_eq!(
            (h.user.as_deref(), h.host.as_str(), h.port),
            (Some("root"), "10.0.0.2", Some(2222))
        );
        let h = parse_url("ssh://[fd00::2]:22").unwrap();
        assert_eq!((h.host.as_str(), h.port), ("fd00::2", Some(22)));
        let h = parse_url("ssh://node-b").unwrap();
        assert_eq!((h.user, h.port), (None, None));
        for bad in [
            "node",
            "http://x",
            "ssh://",
            "ssh://a:0",
            "ssh://a:99999",
            "ssh://-oProxyCommand=x",
            "ssh://@h",
            "ssh://a b",
            "ssh://[::1",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hosts_file() {
        let f = Path::new("/h");
        let hs = parse(
            "# comment\n\na ssh://root@1.2.3.4 root=/run/w ward=/usr/bin/ward # x\nb ssh://h:22 work=/w\n",
            f,
        )
        .unwrap();
        assert_eq!(hs.len(), 2);
        assert_eq!(hs[0].root.as_deref(), Some("/run/w"));
        assert_eq!(hs[0].ward, "/usr/bin/ward");
        assert_eq!(hs[1].work.as_deref(), Some("/w"));
        for (bad, says) in [
            ("a", "/h:1: host \"a\" has no ssh://"),
            ("a ssh://x\na ssh://y", "/h:2: host \"a\" is named twice"),
            ("a/b ssh://x", "/h:1: bad host name"),
            ("a ssh://x root=rel", "/h:1: root=rel: not an absolute path"),
            ("a ssh://x colour=red", "/h:1: unknown key \"colour\""),
            ("a ftp://x", "/h:1: \"ftp://x\" is not ssh://"),
            ("\u{1}\u{2} zz", "/h:1: bad host name"),
        ] {
            let e = parse(bad, f).unwrap_err();
            assert!(e.starts_with(says), "{bad:?}: {e}");
        }
    }
}
