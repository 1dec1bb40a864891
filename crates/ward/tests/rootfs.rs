//! The container's filesystem: mounts and their flags, symlinked mount
//! destinations, maskedPaths, readonlyPaths, root.readonly, sysctl, devices.

mod common;

use common::*;
use serde_json::{json, Value};
use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

#[track_caller]
fn mount_of<'a>(mounts: &'a [MountEntry], point: &str) -> &'a MountEntry {
    mount_at(mounts, point).unwrap_or_else(|| {
        let points: Vec<&str> = mounts.iter().map(|m| m.mount_point.as_str()).collect();
        panic!("no mount at {point} in the container; mount points: {points:?}")
    })
}

#[test]
fn bind_mount_ro_nosuid_nodev_noexec() {
    let ctx = Ctx::new("bindflags");
    let id = ctx.id("bindflags");
    let src = ctx.dir.join("hostsrc");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("hello"), "hello-from-host\n").unwrap();
    fs::copy("/bin/busybox", src.join("bb")).unwrap();
    fs::set_permissions(src.join("bb"), fs::Permissions::from_mode(0o755)).unwrap();
    let mut b = ctx.bundle("b");
    fs::create_dir_all(b.rootfs().join("mnt/bind")).unwrap();
    b.add_mount(json!({
        "destination": "/mnt/bind", "type": "bind", "source": src.to_str().unwrap(),
        "options": ["bind", "ro", "nosuid", "nodev", "noexec"]
    }));
    b.long_running(
        "echo \"HELLO=$(cat /mnt/bind/hello)\"; \
         touch /mnt/bind/new 2>/dev/null && echo WRITE=ok || echo WRITE=fail; \
         /mnt/bind/bb true 2>/dev/null && echo EXEC=ok || echo EXEC=fail",
    );
    let (pid, out) = ctx.start_long(&b, &id);
    let t = out.stdout_now();
    assert_eq!(kv(&t, "HELLO"), "hello-from-host", "{t}");
    assert_eq!(kv(&t, "WRITE"), "fail", "ro bind mount is writable:\n{t}");
    assert_eq!(
        kv(&t, "EXEC"),
        "fail",
        "noexec bind mount allows exec:\n{t}"
    );
    assert!(
        !src.join("new").exists(),
        "container wrote into the ro source"
    );
    let mounts = mounts_of(pid);
    let m = mount_of(&mounts, "/mnt/bind");
    for opt in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(
            m.mount_opts.iter().any(|o| o == opt),
            "/mnt/bind lacks {opt}: {m:?}"
        );
    }
    // The source on the host must keep its own flags.
    let host = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let host_root = mount_at(&parse_mountinfo(&host), "/").cloned().unwrap();
    assert!(
        host_root.mount_opts.iter().any(|o| o == "rw"),
        "host / became ro"
    );
}

#[test]
fn tmpfs_with_size_and_mode() {
    let ctx = Ctx::new("tmpfs");
    let id = ctx.id("tmpfs");
    let mut b = ctx.bundle("b");
    b.add_mount(json!({
        "destination": "/mnt/tmp", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "size=2m", "mode=1750"]
    }));
    b.long_running("echo \"MODE=$(stat -c %a /mnt/tmp)\"");
    let (pid, out) = ctx.start_long(&b, &id);
    assert_eq!(kv(&out.stdout_now(), "MODE"), "1750");
    let mounts = mounts_of(pid);
    let m = mount_of(&mounts, "/mnt/tmp");
    assert_eq!(m.fstype, "tmpfs");
    assert!(
        m.super_opts.iter().any(|o| o == "size=2048k"),
        "size not applied: {m:?}"
    );
    assert!(
        m.super_opts.iter().any(|o| o == "mode=1750"),
        "mode not applied: {m:?}"
    );
    assert!(m.mount_opts.iter().any(|o| o == "nosuid"), "{m:?}");
    assert!(m.mount_opts.iter().any(|o| o == "nodev"), "{m:?}");
}

#[test]
fn rbind_carries_submounts_and_bind_does_not() {
    let ctx = Ctx::new("rbind");
    let id = ctx.id("rbind");
    let src = ctx.dir.join("tree");
    let sub = src.join("sub");
    fs::create_dir_all(&sub).unwrap();
    fs::write(sub.join("under"), "hidden-by-submount\n").unwrap();
    let csub = CString::new(sub.to_str().unwrap()).unwrap();
    let tmpfs = CString::new("tmpfs").unwrap();
    ctx.track_host_mount(&sub);
    // SAFETY: all pointers are valid NUL-terminated strings (data is null).
    let rc = unsafe {
        libc::mount(
            tmpfs.as_ptr(),
            csub.as_ptr(),
            tmpfs.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "mount tmpfs on {}", sub.display());
    fs::write(sub.join("inner"), "from-submount\n").unwrap();

    let mut b = ctx.bundle("b");
    let s = src.to_str().unwrap();
    b.add_mount(
        json!({"destination": "/mnt/r", "type": "bind", "source": s, "options": ["rbind"]}),
    );
    b.add_mount(json!({"destination": "/mnt/b", "type": "bind", "source": s, "options": ["bind"]}));
    b.long_running(
        "echo \"R=$(cat /mnt/r/sub/inner)\"; echo \"B=$(ls /mnt/b/sub | tr '\\n' ' ')\"",
    );
    let (pid, out) = ctx.start_long(&b, &id);
    let t = out.stdout_now();
    assert_eq!(
        kv(&t, "R"),
        "from-submount",
        "rbind lost the submount:\n{t}"
    );
    assert_eq!(
        kv(&t, "B"),
        "under",
        "plain bind carried the submount:\n{t}"
    );
    let mounts = mounts_of(pid);
    assert_eq!(mount_of(&mounts, "/mnt/r/sub").fstype, "tmpfs");
    assert!(
        mount_at(&mounts, "/mnt/b/sub").is_none(),
        "plain bind has a submount"
    );
}

#[test]
fn proc_sys_dev_mounts() {
    let ctx = Ctx::new("sysmounts");
    let id = ctx.id("sysmounts");
    let mut b = ctx.bundle("b");
    b.long_running(
        "touch /sys/kernel/x 2>/dev/null && echo SYSW=ok || echo SYSW=fail; \
         echo \"P1=$(cat /proc/1/cmdline | tr '\\0' ' ')\"",
    );
    let (pid, out) = ctx.start_long(&b, &id);
    let t = out.stdout_now();
    assert_eq!(kv(&t, "SYSW"), "fail", "/sys is writable:\n{t}");
    assert!(
        kv(&t, "P1").starts_with("sh -c"),
        "/proc is not the container's:\n{t}"
    );
    let mounts = mounts_of(pid);
    assert_eq!(mount_of(&mounts, "/proc").fstype, "proc");
    let sys = mount_of(&mounts, "/sys");
    assert_eq!(sys.fstype, "sysfs");
    assert!(
        sys.mount_opts.iter().any(|o| o == "ro"),
        "/sys not ro: {sys:?}"
    );
    let dev = mount_of(&mounts, "/dev");
    assert_eq!(dev.fstype, "tmpfs");
    assert!(dev.super_opts.iter().any(|o| o == "mode=755"), "{dev:?}");
    let pts = mount_of(&mounts, "/dev/pts");
    assert_eq!(pts.fstype, "devpts");
    for o in ["gid=5", "mode=620", "ptmxmode=666"] {
        assert!(
            pts.super_opts.iter().any(|x| x == o),
            "/dev/pts lacks {o}: {pts:?}"
        );
    }
    let host = parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").unwrap());
    for hp in host.iter().filter(|m| m.fstype == "devpts") {
        assert_ne!(
            hp.dev, pts.dev,
            "/dev/pts is the host's devpts instance, not a new one"
        );
    }
    let shm = mount_of(&mounts, "/dev/shm");
    assert_eq!(shm.fstype, "tmpfs");
    let shm_mode = fs::metadata(format!("/proc/{pid}/root/dev/shm"))
        .unwrap()
        .mode();
    assert_eq!(shm_mode & 0o7777, 0o1777, "/dev/shm mode {shm_mode:o}");
    assert!(shm.mount_opts.iter().any(|o| o == "noexec"), "{shm:?}");
    assert_eq!(mount_of(&mounts, "/dev/mqueue").fstype, "mqueue");
}

#[test]
fn symlinked_mount_destination_stays_in_rootfs() {
    let ctx = Ctx::new("symlinkdst");
    let id = ctx.id("symlinkdst");
    let outside = ctx.dir.join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("outside-file"), "outside\n").unwrap();
    let host_before: Vec<String> =
        parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").unwrap())
            .into_iter()
            .map(|m| m.mount_point)
            .collect();

    let mut b = ctx.bundle("b");
    // An absolute link to the host's /etc, and a relative one climbing out
    // of the rootfs towards a host directory.
    symlink("/etc", b.rootfs().join("evil")).unwrap();
    let climb = format!("../../../../../../../../../..{}", outside.display());
    symlink(&climb, b.rootfs().join("evil2")).unwrap();
    b.add_mount(
        json!({"destination": "/evil", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}),
    );
    b.add_mount(json!({"destination": "/evil2", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
    b.long_running("cat /etc/marker >/dev/null 2>&1 && echo ETC=rootfs || echo ETC=covered");
    b.write();
    let created = ctx.create(&b, &id);
    if created.success() {
        let pid = ctx.pid_of(&id);
        ctx.start_ok(&id);
        wait_for_marker(&created.stdout_path, READY);
        // Either mount must have landed inside the rootfs: /evil resolves to
        // the container's /etc, /evil2 to a path below the container's /.
        let mounts = mounts_of(pid);
        let etc = mount_of(&mounts, "/etc");
        assert_eq!(etc.fstype, "tmpfs", "{etc:?}");
        assert_eq!(kv(&created.stdout_now(), "ETC"), "covered");
        let inner_outside = format!("{}", outside.display());
        assert!(
            mounts
                .iter()
                .any(|m| m.mount_point == inner_outside && m.fstype == "tmpfs"),
            "/evil2 was not mounted at its in-rootfs resolution {inner_outside}"
        );
        assert!(
            outside.join("outside-file").exists(),
            "the host directory was changed"
        );
        // The rootfs copy of the climbing target was created inside it.
        assert!(b
            .rootfs()
            .join(inner_outside.trim_start_matches('/'))
            .is_dir());
    } else {
        // Refusing the config is fine too, but then nothing may be left.
        eprintln!(
            "runtime refused the symlinked destinations:\n{}",
            created.describe()
        );
        ctx.assert_nothing_left(&[&id]);
    }
    let host_after: Vec<String> =
        parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").unwrap())
            .into_iter()
            .map(|m| m.mount_point)
            .collect();
    assert_eq!(
        host_before.iter().filter(|p| *p == "/etc").count(),
        host_after.iter().filter(|p| *p == "/etc").count(),
        "a mount appeared on the host's /etc"
    );
    assert!(
        !host_after
            .iter()
            .any(|p| Path::new(p).starts_with(&outside)),
        "a mount appeared on the host directory"
    );
    assert_eq!(
        fs::read_to_string(outside.join("outside-file")).unwrap(),
        "outside\n"
    );
}

/// (destination, the mount at it, the base config's mounts to drop so that
/// the rootfs's own path is what the mount meets).
fn special_mounts() -> Vec<(&'static str, Value, Vec<&'static str>)> {
    let m = |dest: &str, typ: &str| json!({"destination": dest, "type": typ, "source": typ});
    vec![
        ("/proc", m("/proc", "proc"), vec![]),
        ("/sys", m("/sys", "sysfs"), vec![]),
        ("/dev", m("/dev", "tmpfs"), vec![]),
        ("/dev/pts", m("/dev/pts", "devpts"), vec!["/dev"]),
        ("/dev/shm", m("/dev/shm", "tmpfs"), vec!["/dev"]),
        ("/dev/mqueue", m("/dev/mqueue", "mqueue"), vec!["/dev"]),
        (
            "/sys/fs/cgroup",
            m("/sys/fs/cgroup", "cgroup"),
            vec!["/sys"],
        ),
    ]
}

#[test]
fn special_mount_on_a_symlink_is_refused() {
    // An image whose /proc (or /sys, /dev, ...) is a symlink must not get
    // the file system at the link's target and its own files at /proc,
    // where the runtime later writes LSM labels (CVE-2019-16884,
    // CVE-2023-28642). runc refuses proc and sysfs there; ward refuses
    // every special place, whether the link stays inside the rootfs or
    // points out of it.
    let ctx = Ctx::new("specialsym");
    let outside = ctx.dir.join("outside");
    fs::create_dir(&outside).unwrap();
    // Mounts under the test's directory (bundles, the outside target):
    // others may come and go with whatever else runs on the host.
    let host_mounts = || -> Vec<String> {
        parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").unwrap())
            .into_iter()
            .map(|m| m.mount_point)
            .filter(|p| Path::new(p).starts_with(&ctx.dir))
            .collect()
    };
    let before = host_mounts();
    for (n, (dest, mount, drop)) in special_mounts().into_iter().enumerate() {
        let inside = format!("/fake{n}");
        for (kind, target) in [
            ("inside", inside.clone()),
            ("outside", outside.display().to_string()),
        ] {
            let row = format!("{dest} -> {target} ({kind})");
            let id = ctx.id("specialsym");
            let mut b = ctx.bundle(&format!("b{n}{kind}"));
            let mounts = b.config["mounts"].as_array_mut().unwrap();
            mounts.retain(|m| {
                let d = m["destination"].as_str().unwrap_or("");
                d != dest && !drop.contains(&d)
            });
            mounts.push(mount.clone());
            let link = b.rootfs().join(dest.trim_start_matches('/'));
            let _ = fs::remove_dir_all(&link);
            fs::create_dir_all(link.parent().unwrap()).unwrap();
            fs::create_dir_all(b.rootfs().join(inside.trim_start_matches('/'))).unwrap();
            symlink(&target, &link).unwrap();
            b.long_running("");
            let out = ctx.create(&b, &id);
            assert!(!out.success(), "{row}: created\n{}", out.describe());
            if testing_ward() {
                out.assert_error_line("create", &id);
                assert!(
                    out.stderr.contains(dest) && out.stderr.contains("symlink"),
                    "{row}: the error doesn't name the place and the symlink\n{}",
                    out.describe()
                );
            }
            ctx.assert_nothing_left(&[&id]);
            assert!(
                fs::read_dir(&outside).unwrap().next().is_none(),
                "{row}: something was made in the host directory"
            );
        }
    }
    assert_eq!(before, host_mounts(), "host mounts changed");
}

#[test]
fn masked_paths() {
    let ctx = Ctx::new("masked");
    let id = ctx.id("masked");
    let mut b = ctx.bundle("b");
    fs::write(b.rootfs().join("etc/secret"), "TOPSECRET\n").unwrap();
    fs::create_dir_all(b.rootfs().join("data/secretdir")).unwrap();
    fs::write(b.rootfs().join("data/secretdir/file"), "x").unwrap();
    let masked = b.linux()["maskedPaths"].as_array_mut().unwrap();
    masked.push(json!("/etc/secret"));
    masked.push(json!("/data/secretdir"));
    masked.push(json!("/proc/timer_list"));
    masked.push(json!("/sys/firmware"));
    masked.push(json!("/does/not/exist"));
    b.long_running(
        "echo \"SECRET=$(cat /etc/secret)\"; \
         echo \"SECRETDIR=$(ls -A /data/secretdir | wc -l)\"; \
         echo \"TIMERLIST=$(cat /proc/timer_list | wc -c)\"; \
         echo \"FIRMWARE=$(ls -A /sys/firmware | wc -l)\"",
    );
    let (pid, out) = ctx.start_long(&b, &id);
    let t = out.stdout_now();
    assert_eq!(kv(&t, "SECRET"), "", "masked file is readable:\n{t}");
    assert_eq!(kv(&t, "SECRETDIR"), "0", "masked dir is not empty:\n{t}");
    let host_timer = fs::read("/proc/timer_list").map(|v| v.len()).unwrap_or(0);
    if host_timer > 0 {
        assert_eq!(
            kv(&t, "TIMERLIST"),
            "0",
            "/proc/timer_list not masked:\n{t}"
        );
    }
    if fs::read_dir("/sys/firmware")
        .map(|d| d.count())
        .unwrap_or(0)
        > 0
    {
        assert_eq!(kv(&t, "FIRMWARE"), "0", "/sys/firmware not masked:\n{t}");
    }
    let mounts = mounts_of(pid);
    mount_of(&mounts, "/etc/secret");
    mount_of(&mounts, "/data/secretdir");
    assert!(b.rootfs().join("etc/secret").exists());
}

#[test]
fn readonly_paths() {
    let ctx = Ctx::new("ropaths");
    let id = ctx.id("ropaths");
    let mut b = ctx.bundle("b");
    fs::create_dir_all(b.rootfs().join("data/ro")).unwrap();
    fs::create_dir_all(b.rootfs().join("data/rw")).unwrap();
    b.linux()["readonlyPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/data/ro"));
    b.long_running(
        "touch /data/ro/x 2>/tmp/err && echo RO=writable || echo \"RO=$(cat /tmp/err)\"; \
         touch /data/rw/x && echo RW=ok; \
         (echo wt-changed > /proc/sys/kernel/hostname) 2>/tmp/err2 && echo PROCSYS=writable \
         || echo \"PROCSYS=$(cat /tmp/err2)\"",
    );
    let (pid, out) = ctx.start_long(&b, &id);
    let t = out.stdout_now();
    assert!(
        kv(&t, "RO")
            .to_lowercase()
            .contains("read-only file system"),
        "readonlyPaths entry is writable:\n{t}"
    );
    assert_eq!(kv(&t, "RW"), "ok", "{t}");
    assert!(
        kv(&t, "PROCSYS")
            .to_lowercase()
            .contains("read-only file system"),
        "/proc/sys is writable:\n{t}"
    );
    let mounts = mounts_of(pid);
    assert!(mount_of(&mounts, "/data/ro")
        .mount_opts
        .iter()
        .any(|o| o == "ro"));
    assert!(mount_of(&mounts, "/proc/sys")
        .mount_opts
        .iter()
        .any(|o| o == "ro"));
    assert!(!b.rootfs().join("data/ro/x").exists());
    assert!(b.rootfs().join("data/rw/x").exists());
}

#[test]
fn readonly_root() {
    let ctx = Ctx::new("roroot");
    let id = ctx.id("roroot");
    let mut b = ctx.bundle("b");
    b.config["root"]["readonly"] = json!(true);
    b.long_running(
        "touch /rootfile 2>/dev/shm/err && echo ROOT=writable || echo \"ROOT=$(cat /dev/shm/err)\"; \
         touch /dev/shm/ok && echo SHM=ok",
    );
    let (pid, out) = ctx.start_long(&b, &id);
    let t = out.stdout_now();
    assert!(
        kv(&t, "ROOT")
            .to_lowercase()
            .contains("read-only file system"),
        "readonly root is writable:\n{t}"
    );
    assert_eq!(kv(&t, "SHM"), "ok", "{t}");
    let mounts = mounts_of(pid);
    let root = mount_of(&mounts, "/");
    assert!(
        root.mount_opts.iter().any(|o| o == "ro"),
        "/ not ro: {root:?}"
    );
    assert!(!b.rootfs().join("rootfile").exists());
}

#[test]
fn sysctl_applied_in_container_namespaces_only() {
    let ctx = Ctx::new("sysctl");
    let id = ctx.id("sysctl");
    let host_shmmax = fs::read_to_string("/proc/sys/kernel/shmmax").unwrap();
    let host_port = fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    let mut b = ctx.bundle("b");
    b.linux()["sysctl"] = json!({
        "kernel.shmmax": "12345678",
        "net.ipv4.ip_unprivileged_port_start": "1111"
    });
    b.long_running(
        "echo \"SHMMAX=$(cat /proc/sys/kernel/shmmax)\"; \
         echo \"PORT=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)\"",
    );
    let (_pid, out) = ctx.start_long(&b, &id);
    let t = out.stdout_now();
    assert_eq!(kv(&t, "SHMMAX"), "12345678", "{t}");
    assert_eq!(kv(&t, "PORT"), "1111", "{t}");
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/shmmax").unwrap(),
        host_shmmax
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap(),
        host_port
    );
}

fn dev_major(rdev: u64) -> u64 {
    ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff)
}

fn dev_minor(rdev: u64) -> u64 {
    (rdev & 0xff) | ((rdev >> 12) & !0xff)
}

#[test]
fn default_and_configured_devices() {
    let ctx = Ctx::new("devices");
    let id = ctx.id("devices");
    let mut b = ctx.bundle("b");
    b.linux()["devices"] = json!([{
        "path": "/dev/wardtest", "type": "c", "major": 1, "minor": 3,
        "fileMode": 0o640, "uid": 1234, "gid": 5678
    }]);
    b.long_running(
        "for l in fd stdin stdout stderr; do echo \"L_$l=$(readlink /dev/$l)\"; done; \
         [ -c /dev/ptmx ] && echo PTMX=char || echo PTMX=missing; \
         echo \"ZERO=$(head -c 4 /dev/zero | od -An -tx1 | tr -d ' ')\"; \
         echo hi > /dev/null && echo NULLW=ok; \
         echo \"URANDOM=$(head -c 8 /dev/urandom | wc -c)\"",
    );
    let (pid, out) = ctx.start_long(&b, &id);
    let t = out.stdout_now();
    assert_eq!(kv(&t, "L_fd"), "/proc/self/fd", "{t}");
    assert_eq!(kv(&t, "L_stdin"), "/proc/self/fd/0", "{t}");
    assert_eq!(kv(&t, "L_stdout"), "/proc/self/fd/1", "{t}");
    assert_eq!(kv(&t, "L_stderr"), "/proc/self/fd/2", "{t}");
    assert_eq!(kv(&t, "PTMX"), "char", "{t}");
    assert_eq!(kv(&t, "ZERO"), "00000000", "{t}");
    assert_eq!(kv(&t, "NULLW"), "ok", "{t}");
    assert_eq!(kv(&t, "URANDOM"), "8", "{t}");

    // Judge the nodes from the host through the container's root.
    let root = format!("/proc/{pid}/root");
    for (name, maj, min) in [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ] {
        let p = format!("{root}/dev/{name}");
        let md = fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("/dev/{name}: {e}"));
        assert!(
            md.file_type().is_char_device(),
            "/dev/{name} is not a char device"
        );
        assert_eq!(
            (dev_major(md.rdev()), dev_minor(md.rdev())),
            (maj, min),
            "/dev/{name} has the wrong device number"
        );
        assert_eq!(md.mode() & 0o777, 0o666, "/dev/{name} mode {:o}", md.mode());
    }
    let md = fs::symlink_metadata(format!("{root}/dev/wardtest")).expect("configured device");
    assert!(
        md.file_type().is_char_device(),
        "configured device is not a char device"
    );
    assert_eq!((dev_major(md.rdev()), dev_minor(md.rdev())), (1, 3));
    assert_eq!(md.mode() & 0o7777, 0o640, "mode {:o}", md.mode());
    assert_eq!((md.uid(), md.gid()), (1234, 5678));
    assert!(fs::metadata(format!("{root}/dev/shm")).unwrap().is_dir());
    assert!(fs::metadata(format!("{root}/dev/pts")).unwrap().is_dir());
    // The node is not in the host's view of the bundle.
    assert!(!b.rootfs().join("dev/wardtest").exists());
}

/// A shared host directory, bind mounted (`mount --bind D D; mount
/// --make-shared D`), registered for cleanup.
fn shared_host_dir(ctx: &Ctx, name: &str) -> std::path::PathBuf {
    let d = ctx.dir.join(name);
    fs::create_dir(&d).unwrap();
    let s = d.to_str().unwrap();
    ctx.track_host_mount(&d);
    ctx.host("mount", &["--bind", s, s]).assert_ok();
    ctx.host("mount", &["--make-shared", s]).assert_ok();
    d
}

fn host_mount_fstype(p: &Path) -> Option<String> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
    parse_mountinfo(&text)
        .into_iter()
        .rfind(|m| Path::new(&m.mount_point) == p)
        .map(|m| m.fstype)
}

/// rootfsPropagation rshared with an rshared bind mount (what containerd
/// writes for a Kubernetes volume with mountPropagation: Bidirectional):
/// a mount the host makes in the volume shows in the container, and one
/// the container makes shows on the host. (critest's "mount with 'rshared'
/// should support propagation from host to container and vice versa".)
#[test]
fn rshared_bind_mount_propagates_both_ways() {
    let ctx = Ctx::new("rshared");
    let id = ctx.id("rshared");
    let shared = shared_host_dir(&ctx, "shared");
    let from_ctr = shared.join("fromctr");
    let from_host = shared.join("fromhost");
    fs::create_dir(&from_ctr).unwrap();
    fs::create_dir(&from_host).unwrap();
    ctx.track_host_mount(&from_ctr);
    ctx.track_host_mount(&from_host);
    let mut b = ctx.bundle("b");
    b.linux()["rootfsPropagation"] = json!("rshared");
    b.add_mount(json!({"destination": "/vol", "type": "bind",
        "source": shared.to_str().unwrap(), "options": ["rbind", "rshared"]}));
    b.add_cap("CAP_SYS_ADMIN");
    b.long_running("mount -t tmpfs ctrfs /vol/fromctr");
    let (_, _) = ctx.start_long(&b, &id);
    assert_eq!(
        host_mount_fstype(&from_ctr).as_deref(),
        Some("tmpfs"),
        "the container's mount in the rshared volume did not reach the host"
    );
    let h = from_host.to_str().unwrap();
    ctx.host("mount", &["-t", "tmpfs", "hostfs", h]).assert_ok();
    let out = ctx.rt(&[
        "exec",
        &id,
        "grep",
        "-c",
        " /vol/fromhost ",
        "/proc/self/mounts",
    ]);
    assert_eq!(
        out.stdout.trim(),
        "1",
        "the host's mount did not reach the container\n{}",
        out.describe()
    );
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

/// Without rootfsPropagation (rslave), the same volume still carries the
/// host's mounts in, but nothing the container mounts gets out.
#[test]
fn default_propagation_keeps_container_mounts_in() {
    let ctx = Ctx::new("rslavevol");
    let id = ctx.id("rslavevol");
    let shared = shared_host_dir(&ctx, "shared");
    let from_ctr = shared.join("fromctr");
    fs::create_dir(&from_ctr).unwrap();
    ctx.track_host_mount(&from_ctr);
    let mut b = ctx.bundle("b");
    b.add_mount(json!({"destination": "/vol", "type": "bind",
        "source": shared.to_str().unwrap(), "options": ["rbind"]}));
    b.add_cap("CAP_SYS_ADMIN");
    b.long_running("mount -t tmpfs ctrfs /vol/fromctr");
    ctx.start_long(&b, &id);
    assert_eq!(
        host_mount_fstype(&from_ctr),
        None,
        "the container's mount reached the host"
    );
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}
