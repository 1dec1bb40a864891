//! systemd's `slice:prefix:name` form of linux.cgroupsPath, which engines
//! pass with `--systemd-cgroup` (podman and CRI-O with cgroup_manager
//! systemd, containerd with SystemdCgroup, dockerd with the systemd cgroup
//! driver): the path systemd gives that scope (or slice, see
//! `systemd::unit_of`), which the systemd driver asks systemd for.

use std::path::PathBuf;

use super::CgroupError;

/// `system.slice:docker:abc` → `/system.slice/docker-abc.scope`;
/// `a-b.slice:p:n` → `/a.slice/a-b.slice/p-n.scope`. An empty slice is
/// `system.slice`, `-.slice` the root; an empty prefix leaves `n.scope`, and
/// a name that is itself a `.slice` is used as it is.
pub fn systemd_path(s: &str) -> Result<PathBuf, CgroupError> {
    let bad = |why: &str| CgroupError::invalid(format!("linux.cgroupsPath {s:?}"), why);
    let parts: Vec<&str> = s.split(':').collect();
    let [slice, prefix, name] = parts[..] else {
        return Err(bad("a systemd path is slice:prefix:name"));
    };
    if [slice, prefix, name].iter().any(|p| p.contains('/')) {
        return Err(bad("slice, prefix and name may not contain '/'"));
    }
    if name.is_empty() || name == "." || name == ".." {
        return Err(bad("the name part is empty"));
    }
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let mut path = PathBuf::from("/");
    if slice != "-.slice" {
        let Some(base) = slice.strip_suffix(".slice") else {
            return Err(bad("the slice must end in .slice"));
        };
        let words: Vec<&str> = base.split('-').collect();
        if words.iter().any(|w| w.is_empty()) {
            return Err(bad("a slice name has no empty '-' parts"));
        }
        // Each dash adds a level: a-b.slice lives in a.slice.
        for i in 1..=words.len() {
            path.push(format!("{}.slice", words[..i].join("-")));
        }
    }
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    path.push(unit);
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_like_systemd() {
        let ok =
            |s: &str, want: &str| assert_eq!(systemd_path(s).unwrap(), PathBuf::from(want), "{s}");
        ok("system.slice:docker:abc", "/system.slice/docker-abc.scope");
        ok(
            ":cri-containerd:c1",
            "/system.slice/cri-containerd-c1.scope",
        );
        ok(
            "a-b-c.slice:p:n",
            "/a.slice/a-b.slice/a-b-c.slice/p-n.scope",
        );
        ok("-.slice:p:n", "/p-n.scope");
        ok("user.slice::n", "/user.slice/n.scope");
        ok("machine.slice:libpod:x.slice", "/machine.slice/x.slice");
        for bad in [
            "a:b",
            "a:b:c:d",
            "system:p:n",
            "a--b.slice:p:n",
            "-a.slice:p:n",
            "system.slice:p:",
            "system.slice:p:..",
            "sys/tem.slice:p:n",
            "system.slice:p:a/b",
        ] {
            assert!(systemd_path(bad).is_err(), "{bad}");
        }
    }
}
