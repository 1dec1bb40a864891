//! The container's root filesystem, set up by init inside its new mount
//! namespace: propagation, the mounts of config.json, /dev, pivot_root, then
//! masked and read-only paths. Every path inside the rootfs goes through
//! [`resolve::Root`], so nothing here follows a symlink out of the rootfs.

pub mod devices;
pub mod host_mounts;
pub mod options;
pub mod resolve;

use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::{Mount, Spec};

use crate::error::{Errno, Error, Result};
use crate::sys;
use options::{propagation_flags, MountOptions};
use resolve::{fd_path, Kind, Root};

/// What rootfs setup needs to know besides the spec.
pub struct Context<'a> {
    pub spec: &'a Spec,
    /// The rootfs on the host, canonical.
    pub rootfs: &'a Path,
    /// The bundle, against which relative bind sources are resolved.
    pub bundle: &'a Path,
    pub no_pivot: bool,
    /// No mount namespace of its own: init is in ward's, so the host's
    /// mounts are left as they are, and the root is changed with chroot.
    pub host_mntns: bool,
    pub new_cgroupns: bool,
    /// The host's cgroup layout, as the parent read it.
    pub hierarchies: &'a crate::cgroups::Hierarchies,
}

fn ms(bits: u64) -> MsFlags {
    MsFlags::from_bits_retain(bits as libc::c_ulong)
}

fn mount_err(what: &str, target: &Path, e: impl Into<Errno>) -> Error {
    Error::Sys {
        op: format!("mount {what} on {}", target.display()),
        errno: e.into(),
    }
}

/// Everything up to and including pivot_root: afterwards `/` is the
/// container's root and the cwd is `/`.
/// `before_pivot` runs once every mount is made, right before pivot_root:
/// where the createRuntime and createContainer hooks belong.
pub fn prepare(ctx: &Context, before_pivot: &mut dyn FnMut() -> Result<()>) -> Result<()> {
    let linux = ctx.spec.linux().as_ref();
    let prop = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .unwrap_or("");
    // Our copy of the host's mounts must not send anything back to the host;
    // rslave still lets host mounts reach the container, as runc does. A
    // config that asks for shared propagation (a volume with bidirectional
    // propagation) keeps the host's peer groups instead, as runc does: then
    // mounts the container makes in a shared volume reach the host.
    let shared = matches!(prop, "shared" | "rshared");
    let first = match prop {
        "private" | "rprivate" => libc::MS_PRIVATE as u64 | libc::MS_REC as u64,
        _ if shared => propagation_flags(prop).unwrap_or(0),
        _ => libc::MS_SLAVE as u64 | libc::MS_REC as u64,
    };
    if !ctx.host_mntns {
        mount(None::<&str>, "/", None::<&str>, ms(first), None::<&str>)
            .map_err(|e| mount_err("propagation", Path::new("/"), e))?;
        if shared {
            // The rootfs itself still stays in here: the mount that holds
            // it turns private, so the bind below and every mount made in
            // the rootfs stay in this namespace (and pivot_root accepts it).
            if let Some(holder) = host_mounts::containing(ctx.rootfs) {
                mount(
                    None::<&str>,
                    &holder,
                    None::<&str>,
                    MsFlags::MS_PRIVATE,
                    None::<&str>,
                )
                .map_err(|e| mount_err("propagation", &holder, e))?;
            }
        }
        // pivot_root wants the new root to be a mount point.
        mount(
            Some(ctx.rootfs),
            ctx.rootfs,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| mount_err("bind", ctx.rootfs, e))?;
    }
    let root = Root::open(ctx.rootfs)?;

    let mounts = ctx.spec.mounts().as_deref().unwrap_or(&[]);
    for m in mounts {
        mount_one(ctx, &root, m)?;
    }
    let dev_is_bind = mounts.iter().any(|m| {
        m.destination() == Path::new("/dev")
            && MountOptions::parse(m.options().as_deref().unwrap_or(&[])).bind
    });
    if !dev_is_bind {
        let has_devpts = mounts
            .iter()
            .any(|m| m.destination() == Path::new("/dev/pts"));
        devices::setup(
            &root,
            linux.and_then(|l| l.devices().as_deref()).unwrap_or(&[]),
            has_devpts,
        )?;
    }
    if let Some(p) = ctx.spec.process() {
        root.ensure(p.cwd(), Kind::Dir)?;
    }
    before_pivot()?;
    if ctx.host_mntns {
        // pivot_root would change the root of every process on the host.
        nix::unistd::fchdir(root.fd.as_fd()).map_err(|e| Error::path("chdir", &root.path, e))?;
        nix::unistd::chroot(".").map_err(|e| Error::path("chroot", &root.path, e))?;
        return nix::unistd::chdir("/").map_err(|e| Error::path("chdir", "/", e));
    }
    pivot(&root, ctx.no_pivot)
}

fn pivot(root: &Root, no_pivot: bool) -> Result<()> {
    nix::unistd::fchdir(root.fd.as_fd()).map_err(|e| Error::path("chdir", &root.path, e))?;
    if no_pivot {
        mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
            .map_err(|e| mount_err("move", &root.path, e))?;
        nix::unistd::chroot(".").map_err(|e| Error::path("chroot", &root.path, e))?;
    } else {
        // pivot_root(".", ".") stacks the old root on top of the new one;
        // detaching it leaves only the container's tree. Making it a slave
        // first keeps the unmount from reaching the host. "." must name
        // the old root for that: after the pivot the cwd is still the new
        // root's directory, and mount(2) doesn't cross into what is mounted
        // on it, so the cwd goes back to the old root first (runc alike).
        // Otherwise the container's own tree turns slave, and a volume
        // shared with the host (rootfsPropagation rshared) stops sending
        // the container's mounts back.
        let old = nix::fcntl::open(
            "/",
            nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_RDONLY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| Error::path("open", "/", e))?;
        nix::unistd::pivot_root(".", ".").map_err(|e| Error::path("pivot_root", &root.path, e))?;
        nix::unistd::fchdir(old.as_fd()).map_err(|e| Error::path("chdir", "old root", e))?;
        mount(
            None::<&str>,
            ".",
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| mount_err("propagation", Path::new("old root"), e))?;
        umount2(".", MntFlags::MNT_DETACH).map_err(|e| Error::sys("unmount old root", e))?;
    }
    nix::unistd::chdir("/").map_err(|e| Error::path("chdir", "/", e))
}

/// The parts of config.json that must come after pivot_root, in the
/// container's own view: sysctls (before /proc/sys turns read-only), masked
/// and read-only paths, the read-only root, the root's propagation.
pub fn finalize(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    if let Some(sysctl) = linux.and_then(|l| l.sysctl().as_ref()) {
        for (key, value) in sysctl {
            let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
            std::fs::write(&path, value).map_err(|e| {
                Error::path("write", &path, e).context(format!("sysctl {key}={value}"))
            })?;
        }
    }
    let masked = linux
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or(&[]);
    if !masked.is_empty() {
        mask_paths(masked)?;
    }
    for p in linux
        .and_then(|l| l.readonly_paths().as_deref())
        .unwrap_or(&[])
    {
        let path = Path::new(p);
        match mount(
            Some(path),
            path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Ok(()) => {}
            Err(nix::errno::Errno::ENOENT) => continue,
            Err(e) => return Err(mount_err("read-only bind", path, e)),
        }
        set_attrs(path, true, sys::MOUNT_ATTR_RDONLY, 0)?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        set_attrs(Path::new("/"), false, sys::MOUNT_ATTR_RDONLY, 0)?;
    }
    let prop = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .unwrap_or("");
    if let Some(flags) = propagation_flags(prop).filter(|_| !prop.contains("slave")) {
        mount(None::<&str>, "/", None::<&str>, ms(flags), None::<&str>)
            .map_err(|e| mount_err("propagation", Path::new("/"), e))?;
    }
    Ok(())
}

/// mount_setattr on the mount at `path` (opened without following a final
/// symlink).
fn set_attrs(path: &Path, recursive: bool, set: u64, clr: u64) -> Result<()> {
    let fd = nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::path("open", path, e))?;
    sys::mount_setattr(fd.as_raw_fd(), recursive, set, clr)
        .map_err(|e| Error::path("set mount attributes of", path, e))
}

/// Masks paths: a directory gets an empty read-only tmpfs, anything else the
/// null device. The null device is checked to be the real one (char 1:3),
/// so an image can't make ward bind some other file over /proc entries.
fn mask_paths(paths: &[String]) -> Result<()> {
    let null = nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    );
    let null = null.ok().filter(|fd| {
        nix::sys::stat::fstat(fd.as_fd()).is_ok_and(|st| {
            st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3)
        })
    });
    for p in paths {
        let path = Path::new(p);
        let st = match nix::sys::stat::stat(path) {
            Ok(st) => st,
            Err(nix::errno::Errno::ENOENT) => continue,
            Err(e) => return Err(Error::path("mask: stat", path, e)),
        };
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            mount(
                Some("tmpfs"),
                path,
                Some("tmpfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("size=0,nr_inodes=1"),
            )
            .map_err(|e| mount_err("mask tmpfs", path, e))?;
        } else {
            let null = null.as_ref().ok_or_else(|| {
                Error::invalid(
                    format!("mask {p}"),
                    "/dev/null in the container is not the null device",
                )
            })?;
            mount(
                Some(fd_path(null).as_str()),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| mount_err("mask", path, e))?;
        }
    }
    Ok(())
}

/// The mount points the kernel, the container's programs and ward's own
/// later steps (LSM labels through /proc, sysctls, masks) find by path.
const SPECIAL_PLACES: [&str; 7] = [
    "/proc",
    "/sys",
    "/dev",
    "/dev/pts",
    "/dev/shm",
    "/dev/mqueue",
    "/sys/fs/cgroup",
];

/// Whether a mount must land exactly at its destination, never at the
/// target of a symlink the image put there.
fn is_special(dest: &Path, typ: &str) -> bool {
    matches!(
        typ,
        "proc" | "sysfs" | "devpts" | "mqueue" | "cgroup" | "cgroup2"
    ) || SPECIAL_PLACES.iter().any(|p| dest == Path::new(p))
}

/// The directory a mount goes on: for a special mount, the destination
/// itself with no symlink on the way (or a clear refusal, as runc's).
fn mount_target(root: &Root, dest: &Path, typ: &str, kind: Kind) -> Result<std::os::fd::OwnedFd> {
    if kind == Kind::Dir && is_special(dest, typ) {
        let what = if typ.is_empty() { "bind" } else { typ };
        root.ensure_plain_dir(dest)
            .map_err(|e| e.context(format!("mount {what} on {}", dest.display())))
    } else {
        root.ensure(dest, kind)
    }
}

/// Mounts one entry of config.json's `mounts`.
fn mount_one(ctx: &Context, root: &Root, m: &Mount) -> Result<()> {
    let dest = m.destination();
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or(&[]));
    let typ = m.typ().as_deref().unwrap_or("");
    if opts.bind || typ == "bind" {
        return bind_mount(ctx, root, m, &opts);
    }
    match typ {
        "cgroup" | "cgroup2" => return cgroup_mount(ctx, root, dest, typ, &opts),
        "" => {
            return Err(Error::invalid(
                format!("mount {}", dest.display()),
                "no type and not a bind mount",
            ));
        }
        _ => {}
    }
    let target = mount_target(root, dest, typ, Kind::Dir)?;
    let source = m
        .source()
        .as_ref()
        .map(|s| s.as_os_str())
        .unwrap_or(typ.as_ref());
    let data = opts.data_string();
    let res = mount(
        Some(source),
        fd_path(&target).as_str(),
        Some(typ),
        ms(opts.flags),
        data.as_deref(),
    );
    match res {
        Ok(()) => {}
        // sysfs can't be mounted without owning the network namespace (a
        // user namespace sharing the host's network): bind the host's instead.
        Err(nix::errno::Errno::EPERM) if typ == "sysfs" => {
            mount(
                Some("/sys"),
                fd_path(&target).as_str(),
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| mount_err("sysfs bind", &root.display(dest), e))?;
            let fd = root
                .open_in(dest, 0)
                .map_err(|e| Error::path("open", root.display(dest), e))?;
            sys::mount_setattr(fd.as_raw_fd(), true, opts.attr_set, opts.attr_clr)
                .map_err(|e| Error::path("set mount attributes of", root.display(dest), e))?;
        }
        Err(e) => return Err(mount_err(typ, &root.display(dest), e)),
    }
    apply_propagation(root, dest, &opts)
}

fn apply_propagation(root: &Root, dest: &Path, opts: &MountOptions) -> Result<()> {
    if opts.propagation.is_empty() {
        return Ok(());
    }
    // Re-open: the fd taken before mounting names the covered directory.
    let fd = root
        .open_in(dest, 0)
        .map_err(|e| Error::path("open", root.display(dest), e))?;
    for p in &opts.propagation {
        mount(
            None::<&str>,
            fd_path(&fd).as_str(),
            None::<&str>,
            ms(*p),
            None::<&str>,
        )
        .map_err(|e| mount_err("propagation", &root.display(dest), e))?;
    }
    Ok(())
}

fn bind_mount(ctx: &Context, root: &Root, m: &Mount, opts: &MountOptions) -> Result<()> {
    let dest = m.destination();
    let source = m.source().as_ref().ok_or_else(|| {
        Error::invalid(
            format!("mount {}", dest.display()),
            "bind mount without source",
        )
    })?;
    let source = if source.is_absolute() {
        source.clone()
    } else {
        ctx.bundle.join(source)
    };
    let meta =
        std::fs::metadata(&source).map_err(|e| Error::path("bind mount source", &source, e))?;
    let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
    let target = mount_target(root, dest, "", kind)?;
    let mut flags = MsFlags::MS_BIND;
    if opts.recursive {
        flags |= MsFlags::MS_REC;
    }
    mount(
        Some(&source),
        fd_path(&target).as_str(),
        None::<&str>,
        flags,
        None::<&str>,
    )
    .map_err(|e| {
        mount_err(
            &format!("bind {}", source.display()),
            &root.display(dest),
            e,
        )
    })?;
    if opts.attr_set != 0 || opts.attr_clr != 0 {
        let fd = root
            .open_in(dest, 0)
            .map_err(|e| Error::path("open", root.display(dest), e))?;
        sys::mount_setattr(fd.as_raw_fd(), opts.recursive, opts.attr_set, opts.attr_clr)
            .map_err(|e| Error::path("set mount attributes of", root.display(dest), e))?;
    }
    apply_propagation(root, dest, opts)
}

/// A cgroup file system at `dest`. With its own cgroup namespace the
/// container gets fresh mounts that show only its own subtree; without one it
/// gets binds of the host's directories of the cgroups it is in. On v1 and
/// hybrid hosts `dest` is a tmpfs holding one mount per hierarchy, as on the host.
fn cgroup_mount(
    ctx: &Context,
    root: &Root,
    dest: &Path,
    typ: &str,
    opts: &MountOptions,
) -> Result<()> {
    let hier = host_cgroup_mounts(ctx.hierarchies);
    let target = mount_target(root, dest, typ, Kind::Dir)?;
    let flags = ms(opts.flags & !(libc::MS_RDONLY as u64))
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC;
    let ro = opts.flags & libc::MS_RDONLY as u64 != 0;
    let unified_only = hier.len() == 1 && hier[0].mountpoint == Path::new("/sys/fs/cgroup");
    if !unified_only {
        mount(
            Some("tmpfs"),
            fd_path(&target).as_str(),
            Some("tmpfs"),
            flags,
            Some("mode=755"),
        )
        .map_err(|e| mount_err("cgroup tmpfs", &root.display(dest), e))?;
    }
    for h in &hier {
        let sub = if unified_only {
            dest.to_path_buf()
        } else {
            dest.join(h.mountpoint.file_name().unwrap_or_default())
        };
        let t = mount_target(root, &sub, typ, Kind::Dir)?;
        let res = if ctx.new_cgroupns {
            mount(
                Some("cgroup"),
                fd_path(&t).as_str(),
                Some(h.fstype.as_str()),
                flags,
                (!h.options.is_empty()).then_some(h.options.as_str()),
            )
        } else {
            let src = h.mountpoint.join(h.own_path.trim_start_matches('/'));
            mount(
                Some(&src),
                fd_path(&t).as_str(),
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
        };
        res.map_err(|e| mount_err(&h.fstype, &root.display(&sub), e))?;
        if ro {
            let fd = root
                .open_in(&sub, 0)
                .map_err(|e| Error::path("open", root.display(&sub), e))?;
            sys::mount_setattr(fd.as_raw_fd(), true, sys::MOUNT_ATTR_RDONLY, 0)
                .map_err(|e| Error::path("set mount attributes of", root.display(&sub), e))?;
        }
    }
    if ro && !unified_only {
        let fd = root
            .open_in(dest, 0)
            .map_err(|e| Error::path("open", root.display(dest), e))?;
        sys::mount_setattr(fd.as_raw_fd(), false, sys::MOUNT_ATTR_RDONLY, 0)
            .map_err(|e| Error::path("set mount attributes of", root.display(dest), e))?;
    }
    apply_propagation(root, dest, opts)
}

/// One cgroup hierarchy mounted on the host.
struct Hierarchy {
    mountpoint: PathBuf,
    fstype: String,
    /// The super options that name its controllers (e.g. "cpu", "name=systemd").
    options: String,
    /// Our own cgroup in it, from /proc/self/cgroup.
    own_path: String,
}

fn host_cgroup_mounts(h: &crate::cgroups::Hierarchies) -> Vec<Hierarchy> {
    let (own_v1, own_v2) = crate::procfs::own_cgroups();
    // Co-mounted v1 controllers (cpu,cpuacct) share one mount.
    let mut v1: std::collections::BTreeMap<&PathBuf, Vec<&str>> = Default::default();
    for (ctrl, mp) in &h.v1 {
        v1.entry(mp).or_default().push(ctrl);
    }
    let mut out = Vec::new();
    for (mp, ctrls) in v1 {
        out.push(Hierarchy {
            mountpoint: mp.clone(),
            fstype: "cgroup".into(),
            options: ctrls.join(","),
            own_path: own_v1
                .get(ctrls[0])
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "/".into()),
        });
    }
    if let Some(mp) = &h.v2 {
        out.push(Hierarchy {
            mountpoint: mp.clone(),
            fstype: "cgroup2".into(),
            options: String::new(),
            own_path: own_v2
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "/".into()),
        });
    }
    out.retain(|h| h.mountpoint.starts_with("/sys/fs/cgroup"));
    out
}
