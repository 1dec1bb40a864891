//! LSM labels. With AppArmor in the kernel (the test VM's Debian kernel), a
//! profile the test loads confines the container's process and an exec'd
//! one; a profile that isn't loaded fails create. Without AppArmor (this
//! development host), a profile in the spec is refused before anything is
//! made. The host decides which half runs; both assert.

mod common;

use common::*;
use std::fs;
use std::path::Path;

fn apparmor_enabled() -> bool {
    fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y")
}

/// A loaded AppArmor profile that denies reading /etc/ward-secret and allows
/// the rest; unloaded on drop.
struct Profile {
    name: String,
    file: std::path::PathBuf,
}

impl Profile {
    fn load(ctx: &Ctx) -> Profile {
        let name = format!("ward-test-{}", std::process::id());
        let file = ctx.dir.join("profile");
        fs::write(
            &file,
            format!(
                "profile {name} flags=(attach_disconnected,mediate_deleted) {{\n  file,\n  \
                 capability,\n  network,\n  signal,\n  ptrace,\n  mount,\n  umount,\n  \
                 pivot_root,\n  deny /etc/ward-secret r,\n}}\n"
            ),
        )
        .unwrap();
        if !Path::new("/sys/kernel/security/apparmor").exists() {
            ctx.host(
                "mount",
                &["-t", "securityfs", "securityfs", "/sys/kernel/security"],
            );
        }
        ctx.host("apparmor_parser", &["-r", "-W", file.to_str().unwrap()])
            .assert_ok();
        Profile { name, file }
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        let _ = std::process::Command::new("apparmor_parser")
            .args(["-R", self.file.to_str().unwrap()])
            .output();
    }
}

#[test]
fn apparmor_profile_confines_the_container_and_exec() {
    if !apparmor_enabled() {
        eprintln!("no AppArmor here: apparmor_profile_refused_without_apparmor covers this host");
        return refused_without_apparmor();
    }
    let ctx = Ctx::new("apparmor");
    let profile = Profile::load(&ctx);
    let mut b = ctx.bundle("aa");
    b.process()["apparmorProfile"] = profile.name.clone().into();
    fs::write(b.rootfs().join("etc/ward-secret"), "secret\n").unwrap();
    b.long_running("cat /proc/self/attr/current > /tmp/label; cat /etc/ward-secret > /tmp/read 2>&1; echo $? > /tmp/rc");
    let id = ctx.id("aa");
    let (pid, _) = ctx.start_long(&b, &id);
    let root = b.rootfs();
    assert_eq!(
        fs::read_to_string(root.join("tmp/label")).unwrap().trim(),
        format!("{} (enforce)", profile.name)
    );
    assert_ne!(fs::read_to_string(root.join("tmp/rc")).unwrap().trim(), "0");
    assert!(
        fs::read_to_string(root.join("tmp/read"))
            .unwrap()
            .contains("Permission denied"),
        "the denied read must fail"
    );
    // From the host, the same label.
    let host_view = fs::read_to_string(format!("/proc/{pid}/attr/current")).unwrap();
    assert_eq!(host_view.trim(), format!("{} (enforce)", profile.name));
    // exec gets the container's profile, or the one --apparmor names.
    let out = ctx.rt(&["exec", &id, "cat", "/proc/self/attr/current"]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), format!("{} (enforce)", profile.name));
    let out = ctx.rt(&[
        "exec",
        "--apparmor",
        "unconfined",
        &id,
        "cat",
        "/proc/self/attr/current",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "unconfined");
    ctx.rt(&["delete", "--force", &id]).assert_ok();

    // A profile the kernel doesn't have: create fails, nothing is left.
    let mut b = ctx.bundle("aa-missing");
    b.process()["apparmorProfile"] = "ward-no-such-profile".into();
    b.long_running("");
    let id = ctx.id("aamiss");
    let out = ctx.create(&b, &id);
    out.assert_fail();
    if testing_ward() {
        out.assert_error_line("create", &id);
        out.assert_stderr_has_any(&["ward-no-such-profile"]);
    }
    ctx.assert_nothing_left(&[&id]);
}

fn refused_without_apparmor() {
    let ctx = Ctx::new("apparmor-off");
    let mut b = ctx.bundle("aa");
    b.process()["apparmorProfile"] = "ward-test".into();
    b.long_running("");
    let id = ctx.id("aaoff");
    let out = ctx.create(&b, &id);
    out.assert_fail();
    if testing_ward() {
        out.assert_error_line("create", &id);
        out.assert_stderr_has_any(&["AppArmor is not enabled"]);
    }
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn selinux_label_is_ignored_without_selinux() {
    if Path::new("/sys/fs/selinux/enforce").exists() {
        eprintln!("SKIP: SELinux is enabled here; ward writes the label (not tested)");
        return;
    }
    let ctx = Ctx::new("selinux-off");
    let mut b = ctx.bundle("se");
    b.process()["selinuxLabel"] = "system_u:system_r:container_t:s0".into();
    b.sh("echo ran");
    let id = ctx.id("seoff");
    assert_eq!(ctx.run_ok(&b, &id).trim(), "ran");
}
