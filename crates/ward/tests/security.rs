//! Attacks from inside real containers, judged from the host: the known
//! escape classes of container runtimes must not work against ward.
//! docs/security.md lists each class with its defence.

mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;

/// The escapes a process with root and CAP_SYS_CHROOT (and CAP_MKNOD)
/// inside a container tries, each in its own child: it reads `argv[1]`, a
/// host path outside the rootfs, and prints ESCAPED if it ever can.
const ESCAPE_C: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *secret;

/* Tries `secret` as an absolute path and relative to the cwd. */
static int reads_secret(const char *how) {
    char buf[128] = {0};
    int fd = open(secret, O_RDONLY);
    if (fd < 0) fd = open(secret + 1, O_RDONLY);
    if (fd >= 0 && read(fd, buf, sizeof buf - 1) > 0) {
        printf("ESCAPED by %s: %s\n", how, buf);
        return 1;
    }
    printf("contained: %s\n", how);
    return 0;
}

static void climb(void) {
    for (int i = 0; i < 100; i++) chdir("..");
}

static int dotdot(void) { climb(); return reads_secret("climbing .."); }

static int double_chroot(void) {
    mkdir("/esc", 0700);
    int old = open("/", O_RDONLY | O_DIRECTORY);
    if (chroot("/esc") != 0) { perror("chroot"); return 0; }
    /* The cwd is still outside the new root. */
    climb();
    chroot(".");
    if (reads_secret("double chroot")) return 1;
    fchdir(old);
    climb();
    chroot(".");
    return reads_secret("fchdir to a saved fd");
}

static int proc_root(void) {
    char p[4096];
    snprintf(p, sizeof p, "/proc/1/root%s", secret);
    int fd = open(p, O_RDONLY);
    if (fd >= 0) { printf("ESCAPED by /proc/1/root\n"); return 1; }
    printf("contained: /proc/1/root\n");
    return 0;
}

struct handle { unsigned int bytes; int type; unsigned char h[8]; };

static int shocker(void) {
    /* open_by_handle_at with the root inode of an ext4 file system. */
    struct handle h = { 8, 1, { 2, 0, 0, 0, 0, 0, 0, 0 } };
    int mfd = open("/", O_RDONLY | O_DIRECTORY);
    int fd = open_by_handle_at(mfd, (void *)&h, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) { printf("ESCAPED by open_by_handle_at\n"); return 1; }
    printf("contained: open_by_handle_at (%s)\n", strerror(errno));
    return 0;
}

static int host_disk(void) {
    /* The host's block devices: made, but never opened. */
    const char *dev = getenv("HOSTDEV");
    unsigned maj, min;
    if (!dev || sscanf(dev, "%u:%u", &maj, &min) != 2) return 0;
    unlink("/tmp/hostdisk");
    if (mknod("/tmp/hostdisk", S_IFBLK | 0600, makedev(maj, min)) != 0) {
        printf("contained: mknod (%s)\n", strerror(errno));
        return 0;
    }
    int fd = open("/tmp/hostdisk", O_RDONLY);
    if (fd >= 0) { printf("ESCAPED by mknod of the host disk\n"); return 1; }
    printf("contained: open of a mknod'ed host disk (%s)\n", strerror(errno));
    return 0;
}

int main(int argc, char **argv) {
    int (*attacks[])(void) = { dotdot, double_chroot, proc_root, shocker, host_disk };
    int escaped = 0;
    secret = argv[1];
    setvbuf(stdout, NULL, _IONBF, 0);
    for (unsigned i = 0; i < sizeof attacks / sizeof *attacks; i++) {
        pid_t p = fork();
        if (p == 0) _exit(attacks[i]());
        int st;
        waitpid(p, &st, 0);
        escaped |= WIFEXITED(st) && WEXITSTATUS(st);
    }
    printf(escaped ? "RESULT ESCAPED\n" : "RESULT CONTAINED\n");
    return escaped;
}
"#;

/// major:minor of the block device holding the host's root.
fn host_root_dev() -> String {
    use std::os::unix::fs::MetadataExt;
    let dev = fs::metadata("/").unwrap().dev();
    format!("{}:{}", libc::major(dev), libc::minor(dev))
}

#[test]
fn escapes_from_inside_do_not_reach_host_files() {
    let ctx = Ctx::new("sec-escape");
    let mut b = ctx.bundle("b");
    let bin = b.rootfs().join("bin/escape");
    if !build_static_c(&ctx, ESCAPE_C, &bin, "escapes") {
        return;
    }
    let secret = ctx.dir.join("host-secret");
    fs::write(&secret, "the host's secret").unwrap();
    b.set_args(&["/bin/escape", secret.to_str().unwrap()]);
    b.process()["env"]
        .as_array_mut()
        .unwrap()
        .push(json!(format!("HOSTDEV={}", host_root_dev())));
    let id = ctx.id("escape");
    let out = ctx.run(&b, &id);
    assert!(
        out.stdout.contains("RESULT CONTAINED") && !out.stdout.contains("ESCAPED"),
        "{}",
        out.describe()
    );
    // Every attack ran and was stopped (not skipped by a crash).
    for how in [
        "climbing ..",
        "double chroot",
        "fchdir to a saved fd",
        "/proc/1/root",
        "open_by_handle_at",
        "open of a mknod'ed host disk",
    ] {
        assert!(
            out.stdout.contains(&format!("contained: {how}")),
            "{how} not tried\n{}",
            out.describe()
        );
    }
}

/// Puts the runtime binary's shared libraries and loader into the rootfs,
/// as an image with glibc has them: without them the kernel couldn't start
/// the runtime's binary in there at all, and the test would prove nothing.
fn give_runtime_libraries(ctx: &Ctx, root: &Path) {
    let out = ctx.host("ldd", &[runtime_bin().to_str().unwrap()]);
    for line in out.stdout.lines() {
        let path = line
            .split_whitespace()
            .find(|w| w.starts_with('/'))
            .map(Path::new);
        let Some(path) = path else { continue };
        let dest = root.join(path.strip_prefix("/").unwrap());
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(path, &dest).unwrap();
    }
}

/// The ward binary's content, to see it is never changed.
fn runtime_digest() -> Vec<u8> {
    fs::read(runtime_bin()).unwrap()
}

#[test]
fn the_runtime_binary_never_runs_in_the_container() {
    if skip_unless_ward("exec guard") {
        return;
    }
    let ctx = Ctx::new("sec-exe");
    let before = runtime_digest();
    let mut b = ctx.bundle("b");
    let root = b.rootfs();
    give_runtime_libraries(&ctx, &root);
    std::os::unix::fs::symlink("/proc/self/exe", root.join("bin/evil-link")).unwrap();
    fs::write(root.join("evil.sh"), "#!/proc/self/exe\n").unwrap();
    fs::write(root.join("evil2.sh"), "#!/evil.sh\n").unwrap();
    for f in ["evil.sh", "evil2.sh"] {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(root.join(f), fs::Permissions::from_mode(0o755)).unwrap();
    }
    // CVE-2019-5736: the program is the runtime itself, directly, through a
    // symlink, or as a script's interpreter (one and two levels deep).
    for (n, prog) in ["/proc/self/exe", "/bin/evil-link", "/evil.sh", "/evil2.sh"]
        .iter()
        .enumerate()
    {
        b.set_args(&[prog, "--version"]);
        let id = ctx.id(&format!("exe{n}"));
        let out = ctx.run(&b, &id);
        out.assert_fail();
        out.assert_stderr_has_any(&["refusing to run the runtime's own binary"]);
        assert!(!out.stdout.contains("ward"), "{}", out.describe());
        ctx.assert_nothing_left(&[&id]);
    }
    // And through exec, into a running container.
    b.long_running("");
    let id = ctx.id("exe-exec");
    ctx.start_long(&b, &id);
    for prog in ["/proc/self/exe", "/evil.sh"] {
        let out = ctx.rt(&["exec", &id, prog, "--version"]);
        out.assert_fail();
        out.assert_stderr_has_any(&["refusing to run the runtime's own binary"]);
    }
    // A script with an ordinary interpreter still runs as the kernel runs it.
    fs::write(root.join("ok.sh"), "#!/bin/sh -e\necho \"script $0 $1\"\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(root.join("ok.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = ctx.rt(&["exec", &id, "/ok.sh", "arg"]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "script /ok.sh arg");
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    assert!(runtime_digest() == before, "the runtime binary changed");
}

#[test]
fn no_host_fd_reaches_the_container_and_cwd_stays_inside() {
    let ctx = Ctx::new("sec-fds");
    let mut b = ctx.bundle("b");
    // Host files open in ward's caller, not close-on-exec, at fds 3..=7.
    let files: Vec<fs::File> = (0..5)
        .map(|i| fs::File::open(if i % 2 == 0 { "/" } else { "/etc/hostname" }).unwrap())
        .collect();
    let raw: Vec<i32> = files.iter().map(|f| f.as_raw_fd()).collect();
    b.sh("ls /proc/self/fd | tr '\\n' ' '; echo; cd /proc/self/fd/5 2>&1; pwd");
    b.write();
    let id = ctx.id("fds");
    let mut cmd = ctx.command(&["run", "--bundle", b.path(), &id]);
    pass_fds(&mut cmd, &raw);
    let out = ctx.spawn_cmd(cmd, RUN_TIMEOUT).wait();
    out.assert_ok();
    let listed: Vec<&str> = out
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // 0, 1, 2, and the fd ls itself opened to list the directory.
    assert!(listed.len() <= 4, "fds in the container: {listed:?}");
    for fd in ["5", "6", "7"] {
        assert!(!listed.contains(&fd), "host fd {fd} leaked: {listed:?}");
    }
    assert_eq!(
        out.stdout.lines().last().unwrap(),
        "/",
        "{}",
        out.describe()
    );

    // exec, with host fds open, and a cwd that tries to point out of the
    // container (CVE-2024-21626: a leaked fd as cwd).
    b.long_running("");
    let id = ctx.id("fds-exec");
    ctx.start_long(&b, &id);
    for cwd in ["/proc/self/fd/5", "/proc/self/fd/7/.."] {
        let mut cmd = ctx.command(&["exec", "--cwd", cwd, &id, "pwd"]);
        pass_fds(&mut cmd, &raw);
        let out = ctx.spawn_cmd(cmd, CMD_TIMEOUT).wait();
        out.assert_fail();
        out.assert_stderr_has_any(&["no such file or directory"]);
    }
    let mut cmd = ctx.command(&["exec", &id, "sh", "-c", "ls /proc/self/fd | tr '\\n' ' '"]);
    pass_fds(&mut cmd, &raw);
    let out = ctx.spawn_cmd(cmd, CMD_TIMEOUT).wait();
    out.assert_ok();
    let listed: Vec<&str> = out.stdout.split_whitespace().collect();
    assert!(listed.len() <= 4, "fds in the exec'd process: {listed:?}");
    drop(files);
}

/// An image whose /dev, /proc or a mount destination is a symlink to a host
/// directory: ward resolves inside the rootfs and the host directory stays
/// untouched (no node made there, nothing mounted on it).
#[test]
fn symlinks_in_the_image_cannot_redirect_setup_to_the_host() {
    let ctx = Ctx::new("sec-links");
    let victim = ctx.dir.join("host-victim");
    fs::create_dir(&victim).unwrap();
    fs::write(victim.join("keep"), "host data").unwrap();
    for (n, link) in ["dev", "proc", "mnt"].iter().enumerate() {
        let mut b = ctx.bundle(&format!("b{n}"));
        let at = b.rootfs().join(link);
        let _ = fs::remove_dir_all(&at);
        std::os::unix::fs::symlink(&victim, &at).unwrap();
        if *link == "mnt" {
            let src = ctx.dir.join(format!("src{n}"));
            fs::create_dir(&src).unwrap();
            fs::write(src.join("from-bind"), "x").unwrap();
            b.add_mount(json!({"destination": "/mnt", "type": "bind",
                "source": src.to_str().unwrap(), "options": ["rbind", "ro"]}));
        }
        b.sh("echo ran");
        let id = ctx.id(&format!("link{n}"));
        let _ = ctx.run(&b, &id);
        let names: Vec<String> = fs::read_dir(&victim)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["keep"],
            "/{link} as a symlink: the host dir changed"
        );
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mounts.contains(victim.to_str().unwrap()),
            "something is mounted on the host dir"
        );
        ctx.assert_nothing_left(&[&id]);
    }
}

/// CVE-2025-31133: masking with a /dev/null that the image made a symlink
/// to a host file would bind that file over the masked path, writable. ward
/// masks only with a real char 1:3 device.
#[test]
fn masking_refuses_a_dev_null_that_is_not_the_null_device() {
    if skip_unless_ward("null check") {
        return;
    }
    let ctx = Ctx::new("sec-null");
    let mut b = ctx.bundle("b");
    // /dev from the image (a bind), with null a symlink to a proc file.
    let dev = ctx.dir.join("imgdev");
    fs::create_dir(&dev).unwrap();
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", dev.join("null")).unwrap();
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| m["destination"] != "/dev");
    mounts.insert(
        1,
        json!({"destination": "/dev", "type": "bind", "source": dev.to_str().unwrap(),
               "options": ["rbind", "rw"]}),
    );
    let before = fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    b.sh("echo '|/bin/evil' > /proc/kcore; echo ran");
    let id = ctx.id("null");
    let out = ctx.run(&b, &id);
    out.assert_fail();
    out.assert_stderr_has_any(&["/dev/null"]);
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        before
    );
    ctx.assert_nothing_left(&[&id]);
}

fn spec_bundle(ctx: &Ctx, name: &str) -> Bundle {
    let mut b = ctx.bundle(name);
    let out = ctx.rt(&["spec", "--bundle", b.path()]);
    out.assert_ok();
    b.config =
        serde_json::from_str(&fs::read_to_string(b.dir.join("config.json")).unwrap()).unwrap();
    b.config["process"]["terminal"] = json!(false);
    // The test writes its findings to the rootfs.
    b.config["root"]["readonly"] = json!(false);
    b
}

/// `ward spec`'s defaults: no inheritable or ambient capability, the masked
/// and read-only paths in effect, and no cgroup release_agent writable.
#[test]
fn default_spec_confines_capabilities_proc_sys_and_cgroups() {
    let ctx = Ctx::new("sec-spec");
    let mut b = spec_bundle(&ctx, "b");
    let masked: Vec<String> = b.config["linux"]["maskedPaths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    for p in ["/proc/kcore", "/proc/keys", "/sys/firmware"] {
        assert!(masked.iter().any(|m| m == p), "{p} not masked by default");
    }
    b.long_running(
        "for f in /sys/fs/cgroup/*/release_agent /sys/fs/cgroup/release_agent; do \
         [ -e $f ] && { echo x > $f && echo WROTE $f; }; done > /tmp/ra 2>&1; \
         head -c 16 /proc/kcore | wc -c > /tmp/kcore; ls /sys/firmware | wc -l > /tmp/fw; \
         echo 1 > /proc/sys/kernel/panic 2>/dev/null && echo WROTE-SYS >> /tmp/ra",
    );
    let id = ctx.id("spec");
    let (pid, _) = ctx.start_long(&b, &id);
    assert_eq!(
        status_field(pid, "CapInh").as_deref(),
        Some("0000000000000000")
    );
    assert_eq!(
        status_field(pid, "CapAmb").as_deref(),
        Some("0000000000000000")
    );
    let root = b.rootfs();
    let ra = fs::read_to_string(root.join("tmp/ra")).unwrap();
    assert!(!ra.contains("WROTE"), "the container wrote: {ra}");
    assert_eq!(
        fs::read_to_string(root.join("tmp/kcore")).unwrap().trim(),
        "0"
    );
    assert_eq!(fs::read_to_string(root.join("tmp/fw")).unwrap().trim(), "0");
    for agent in glob_release_agents() {
        assert!(
            !fs::read_to_string(&agent).unwrap_or_default().contains('x'),
            "{agent} changed"
        );
    }
}

fn glob_release_agents() -> Vec<String> {
    let mut v = Vec::new();
    if let Ok(rd) = fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            let p = e.path().join("release_agent");
            if p.exists() {
                v.push(p.to_string_lossy().into_owned());
            }
        }
    }
    v
}

/// Signals from inside reach no host process: a kill of every pid it can
/// see leaves the test process and ward's caller alone.
#[test]
fn signals_from_inside_stay_inside() {
    let ctx = Ctx::new("sec-kill");
    let mut b = ctx.bundle("b");
    // A host process the container might try to kill, by its host pid too.
    let mut victim = Command::new("sleep").arg("60").spawn().unwrap();
    let vpid = victim.id();
    b.sh(&format!(
        "kill -9 {vpid} 2>/dev/null; kill -9 {} 2>/dev/null; kill -9 -1 2>/dev/null; echo done",
        std::process::id()
    ));
    let id = ctx.id("kill");
    let out = ctx.run(&b, &id);
    assert!(
        pid_alive(vpid as i32),
        "a host process was killed from inside"
    );
    assert!(out.code.is_some(), "{}", out.describe());
    victim.kill().unwrap();
    victim.wait().unwrap();
}

/// Bad container IDs are refused before they become paths (bad_input.rs has
/// the full table); here, the ones that would reach outside --root.
#[test]
fn ids_cannot_escape_the_state_root() {
    let ctx = Ctx::new("sec-ids");
    let outside = ctx.dir.join("outside");
    fs::create_dir(&outside).unwrap();
    fs::create_dir_all(&ctx.root).unwrap();
    for id in ["..", "../outside", "../../tmp", "x/../../outside"] {
        for cmd in [
            &["delete", "--force", id][..],
            &["state", id],
            &["kill", id, "KILL"],
        ] {
            let out = ctx.rt(cmd);
            out.assert_fail();
        }
    }
    assert!(outside.exists(), "a directory outside --root was removed");
    assert!(Path::new(&ctx.root).exists());
}
