//! Making a container's cgroup and writing its limits.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::*;

impl Cgroup {
    /// Checks `resources` against this host without writing anything: every
    /// value converts, every controller it needs is there, the device rules
    /// compile. What `create` would refuse is refused here, before the
    /// container's state or cgroup exists.
    pub fn check(&self, h: &Hierarchies, resources: &LinuxResources) -> Result<(), CgroupError> {
        self.plan_writes(h, resources, None)?;
        let rules = devices::effective_rules(resources.devices().as_deref().unwrap_or(&[]))?;
        if !rules.is_empty() && !self.v1.contains_key("devices") && self.v2.is_none() {
            return Err(CgroupError::MissingController("devices".into()));
        }
        Ok(())
    }

    /// Makes the container's directories and writes its limits. On error,
    /// whatever was made is removed again.
    pub fn create(
        &self,
        h: &Hierarchies,
        resources: Option<&LinuxResources>,
    ) -> Result<(), CgroupError> {
        match self.driver {
            Driver::Cgroupfs => self.create_fs(h, resources),
            // systemd makes the scope when it gets a pid: see place().
            Driver::Systemd => Ok(()),
        }
    }

    /// Whether init must be placed by [`Cgroup::place`] once cloned (it
    /// can't be cloned into a cgroup that doesn't exist yet).
    pub fn placed_after_clone(&self) -> bool {
        self.driver == Driver::Systemd
    }

    /// Puts `pid`, the container's first process (waiting for `Go`), in
    /// the cgroup made for it now, with the limits: the systemd driver's
    /// scope. Nothing to do for cgroupfs (init was cloned into it).
    pub fn place(
        &self,
        h: &Hierarchies,
        pid: i32,
        resources: Option<&LinuxResources>,
    ) -> Result<(), CgroupError> {
        match self.driver {
            Driver::Cgroupfs => Ok(()),
            Driver::Systemd => self.place_systemd(h, pid, resources),
        }
    }

    fn create_fs(
        &self,
        h: &Hierarchies,
        resources: Option<&LinuxResources>,
    ) -> Result<(), CgroupError> {
        let res = self.make_dirs(h).and_then(|()| match resources {
            Some(r) => self.apply(h, r, false),
            None => Ok(()),
        });
        if res.is_err() {
            let _ = self.destroy();
        }
        res
    }

    pub(super) fn make_dirs(&self, h: &Hierarchies) -> Result<(), CgroupError> {
        // A delete of another container removes the shared parent (the
        // default /ward) once it is empty, and may do so between our mkdir
        // of it and our write into it: then make the path again.
        let mut tries = 0;
        loop {
            match self.make_dirs_once(h) {
                Err(e) if e.is_gone() && tries < 5 => tries += 1,
                res => return res,
            }
        }
    }

    fn make_dirs_once(&self, h: &Hierarchies) -> Result<(), CgroupError> {
        for (ctrl, dir) in &self.v1 {
            if ctrl == "cpuset" {
                mkdir_cpuset(dir)?;
            } else {
                mkdir_p(dir)?;
            }
        }
        if let (Some(dir), Some(mount)) = (&self.v2, &h.v2) {
            if self.v2_only {
                let below = dir.strip_prefix(mount).unwrap_or(dir);
                let wanted = h.v2_controllers();
                v2::enable_controllers(mount, below, &wanted)?;
            }
            mkdir_p(dir)?;
        }
        Ok(())
    }

    /// Which directory each write goes to: v1 writes go to their
    /// controller's hierarchy; on a hybrid host, the controllers v1 lacks
    /// (hugetlb here) and `unified` go to the v2 hierarchy.
    fn plan_writes(
        &self,
        h: &Hierarchies,
        r: &LinuxResources,
        update_from: Option<&Path>,
    ) -> Result<Vec<(PathBuf, Write)>, CgroupError> {
        let mut out = Vec::new();
        let unified = r.unified().as_ref().filter(|u| !u.is_empty());
        if self.v2_only {
            let dir = self
                .v2
                .clone()
                .ok_or_else(|| CgroupError::MissingController("cgroup2".into()))?;
            let avail = h.v2_controllers();
            for w in v2::resource_writes(r)? {
                if w.controller != "cgroup" && !avail.contains(&w.controller) {
                    return Err(CgroupError::MissingController(w.controller));
                }
                out.push((dir.clone(), w));
            }
            return Ok(out);
        }
        let avail = if self.v2.is_some() {
            h.v2_controllers()
        } else {
            vec![]
        };
        if let Some(u) = unified {
            for key in u.keys() {
                let ctrl = key.split('.').next().unwrap_or("");
                if self.v2.is_none() || !avail.iter().any(|a| a == ctrl) {
                    return Err(CgroupError::invalid(
                        format!("linux.resources.unified {key:?}"),
                        format!("the {ctrl} controller is not on this host's cgroup v2 hierarchy"),
                    ));
                }
            }
        }
        // On a hybrid host v2 only carries what v1 lacks (hugetlb here) and
        // `unified`: give v2's writer just those, so that settings v2 can't
        // express but v1 handles (real-time cpu) don't fail.
        let v2w = if self.v2.is_some() {
            let mut only = LinuxResources::default();
            if !self.v1.contains_key("hugetlb") {
                only.set_hugepage_limits(r.hugepage_limits().clone());
            }
            only.set_unified(r.unified().clone());
            v2::resource_writes(&only)?
        } else {
            vec![]
        };
        let v1w = match update_from {
            Some(dir) => v1::resource_writes_update(read_limit(dir), r)?,
            None => v1::resource_writes(r)?,
        };
        for w in v1w {
            if let Some(dir) = self.v1.get(&w.controller) {
                out.push((dir.clone(), w));
            } else if !avail.contains(&w.controller) {
                return Err(CgroupError::MissingController(w.controller));
            }
        }
        let v2dir = self.v2.clone();
        for w in v2w {
            if !self.v1.contains_key(&w.controller) && avail.contains(&w.controller) {
                if let Some(d) = &v2dir {
                    out.push((d.clone(), w));
                }
            }
        }
        Ok(out)
    }

    /// Changes the limits of a running container to `r`.
    pub fn update(&self, h: &Hierarchies, r: &LinuxResources) -> Result<(), CgroupError> {
        match self.driver {
            Driver::Cgroupfs => self.apply(h, r, true),
            Driver::Systemd => self.update_systemd(h, r),
        }
    }

    /// Writes `r`. `update`: the container runs with limits already, and
    /// v1's memory and cpu files must be written in an order that works
    /// from the old values.
    pub(super) fn apply(
        &self,
        h: &Hierarchies,
        r: &LinuxResources,
        update: bool,
    ) -> Result<(), CgroupError> {
        let memory = if update {
            self.v1.get("memory").map(|p| p.as_path())
        } else {
            None
        };
        for (dir, w) in self.plan_writes(h, r, memory)? {
            write_with_fallback(&dir, &w)?;
        }
        let rules = devices::effective_rules(r.devices().as_deref().unwrap_or(&[]))?;
        if !rules.is_empty() {
            if let Some(d) = self.v1.get("devices") {
                for w in devices::v1_writes(&rules) {
                    write_file(d, &w.file, &w.value)?;
                }
            } else if let Some(d) = &self.v2 {
                if self.driver == Driver::Systemd {
                    // systemd's own program (DevicePolicy/DeviceAllow)
                    // stays attached next to ward's: both must allow. The
                    // rules never change on update (and replacing would
                    // detach systemd's program).
                    if !update {
                        devices::load_and_attach(d, &devices::build_program(&rules))?;
                    }
                } else {
                    devices::replace(d, &devices::build_program(&rules))?;
                }
            } else {
                return Err(CgroupError::MissingController("devices".into()));
            }
        }
        Ok(())
    }
}

impl Cgroup {
    /// The container's resource figures, from whichever hierarchies it has.
    pub fn stats(&self) -> Result<stats::Stats, CgroupError> {
        match (&self.v2, self.v2_only) {
            (Some(v2), true) => stats::read_v2(v2),
            _ => stats::read_hybrid(&self.v1, self.v2.as_deref()),
        }
    }

    /// How many times the OOM killer has killed a process of the container.
    pub fn oom_kills(&self) -> u64 {
        let v2 = if self.v2_only {
            self.v2.as_deref()
        } else {
            None
        };
        stats::oom_kill_count(self.v1.get("memory").map(|p| p.as_path()), v2)
    }
}

pub use super::update::merge_resources;

/// The memory limit in force (v1), for ordering an update's writes.
fn read_limit(memory_dir: &Path) -> Option<i64> {
    std::fs::read_to_string(memory_dir.join("memory.limit_in_bytes"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Writes `w`; when its file doesn't exist on this kernel, does what
/// `convert::if_missing` says (skip a no-op, or write an equivalent file).
fn write_with_fallback(dir: &Path, w: &Write) -> Result<(), CgroupError> {
    match write_file(dir, &w.file, &w.value) {
        Err(CgroupError::Write { errno, .. }) if errno.0 == libc::ENOENT => {
            match convert::if_missing(w) {
                convert::IfMissing::Skip => Ok(()),
                convert::IfMissing::Instead(other) => write_file(dir, &other.file, &other.value),
                convert::IfMissing::Fail => Err(CgroupError::invalid(
                    dir.join(&w.file).display().to_string(),
                    format!("this kernel has no such cgroup file (value {:?})", w.value),
                )),
            }
        }
        other => other,
    }
}
