//! linux.resources.network (`classID`, `priorities`): written to the v1
//! net_cls and net_prio controllers and read back, where the kernel has
//! them; refused in one line, with nothing left, where no hierarchy has
//! them.
//!
//! This hybrid host has net_cls and net_prio in its kernel but mounts
//! neither. The test first checks the refusal in the machine's own mount
//! namespace, then mounts one v1 hierarchy with both in a mount namespace
//! of its own (pinned under its directory, so the machine's mounts never
//! change) and runs the runtime there (nsenter), where it finds the
//! hierarchy in its mountinfo as on a host that mounts it. On a pure
//! cgroup v2 host (the test VM) only the refusal is checked, which is
//! what a user of such a host gets.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::json;

/// Whether the kernel has both controllers enabled (/proc/cgroups).
fn kernel_has_net_cls_prio() -> bool {
    let t = fs::read_to_string("/proc/cgroups").unwrap_or_default();
    ["net_cls", "net_prio"].iter().all(|c| {
        t.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() == 4 && f[0] == *c && f[3] == "1"
        })
    })
}

/// net_cls's hierarchy ID and its number of cgroups (/proc/cgroups).
fn net_cls_hierarchy() -> (u32, u32) {
    let t = fs::read_to_string("/proc/cgroups").unwrap_or_default();
    t.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() == 4 && f[0] == "net_cls")
        .map(|f| (f[1].parse().unwrap_or(0), f[2].parse().unwrap_or(0)))
        .unwrap_or((0, 0))
}

/// Whether a v1 hierarchy with `c` is mounted in our mount namespace.
fn mounted_v1(c: &str) -> bool {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(" - "))
        .any(|(_, r)| {
            let f: Vec<&str> = r.split_whitespace().collect();
            f.first() == Some(&"cgroup") && f.get(2).is_some_and(|o| o.split(',').any(|x| x == c))
        })
}

/// A mount namespace of the test's own with net_cls,net_prio mounted at
/// `cg`; unmounted and unpinned on drop, after the containers in `ids`
/// are deleted from inside it.
struct MntNs {
    pin: PathBuf,
    cg: PathBuf,
    root: PathBuf,
    ids: Vec<String>,
    cgroups: Vec<String>,
}

impl MntNs {
    fn new(ctx: &Ctx) -> MntNs {
        // A mount namespace can be pinned only on a private mount: the
        // test's directory bound on itself, made private (unmounted on
        // drop by Ctx).
        let pins = ctx.dir.join("pins");
        fs::create_dir(&pins).unwrap();
        ctx.host(
            "mount",
            &["--bind", pins.to_str().unwrap(), pins.to_str().unwrap()],
        )
        .assert_ok();
        ctx.track_host_mount(&pins);
        ctx.host("mount", &["--make-private", pins.to_str().unwrap()])
            .assert_ok();
        let pin = pins.join("mnt");
        fs::write(&pin, "").unwrap();
        ctx.track_host_mount(&pin);
        let cg = ctx.dir.join("net_cls,net_prio");
        fs::create_dir(&cg).unwrap();
        let ns = MntNs {
            pin: pin.clone(),
            cg: cg.clone(),
            root: ctx.root.clone(),
            ids: Vec::new(),
            cgroups: Vec::new(),
        };
        ctx.host(
            "unshare",
            &[
                &format!("--mount={}", pin.display()),
                "--propagation",
                "private",
                "mount",
                "-t",
                "cgroup",
                "-o",
                "net_cls,net_prio",
                "cgroup",
                cg.to_str().unwrap(),
            ],
        )
        .assert_ok();
        ns
    }

    fn enter(&self, program: &Path) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--mount={}", self.pin.display()))
            .arg("--")
            .arg(program);
        c
    }

    fn rt(&self, ctx: &Ctx, args: &[&str]) -> Out {
        let mut c = self.enter(&runtime_bin());
        c.arg("--root").arg(&self.root).args(args);
        ctx.spawn_cmd(c, CMD_TIMEOUT).wait()
    }

    /// A file of the hierarchy, read inside the namespace.
    fn read(&self, ctx: &Ctx, rel: &str, file: &str) -> String {
        let p = self.cg.join(rel.trim_start_matches('/')).join(file);
        let mut c = self.enter(Path::new("cat"));
        c.arg(&p);
        let out = ctx.spawn_cmd(c, CMD_TIMEOUT).wait();
        out.assert_ok();
        out.stdout
    }

    fn exists(&self, ctx: &Ctx, rel: &str) -> bool {
        let p = self.cg.join(rel.trim_start_matches('/'));
        let mut c = self.enter(Path::new("test"));
        c.arg("-d").arg(&p);
        ctx.spawn_cmd(c, CMD_TIMEOUT).wait().success()
    }
}

impl Drop for MntNs {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = self
                .enter(&runtime_bin())
                .arg("--root")
                .arg(&self.root)
                .args(["delete", "--force", id])
                .output();
        }
        for rel in &self.cgroups {
            let _ = self
                .enter(Path::new("rmdir"))
                .arg(self.cg.join(rel.trim_start_matches('/')))
                .output();
        }
        // A v1 hierarchy outlives its last mount while it has child
        // cgroups, and a removed one is freed a little after rmdir: wait
        // for the root to be alone, so that the unmount destroys it.
        wait_until(std::time::Duration::from_secs(5), || {
            net_cls_hierarchy().1 <= 1
        });
        let _ = self.enter(Path::new("umount")).arg(&self.cg).output();
        let _ = Command::new("umount").arg(&self.pin).output();
    }
}

#[test]
fn net_cls_and_net_prio_are_written_and_read_back_or_refused() {
    if skip_unless_ward("linux.resources.network: the one-line refusal is ward's") {
        return;
    }
    let ctx = Ctx::new("netcls");
    let rel = format!("/wardtest-netcls-{}", std::process::id());
    let config = |b: &mut Bundle| {
        b.linux()["cgroupsPath"] = json!(rel);
        b.linux()["resources"] = json!({
            "network": {"classID": 1048577, "priorities": [{"name": "lo", "priority": 5}]}
        });
        b.long_running("");
        b.write();
    };

    // 1. Where no hierarchy has them (this host's own mounts, a pure v2
    // host): refused in one line, nothing made.
    if !mounted_v1("net_cls") || !mounted_v1("net_prio") {
        let id = ctx.id("refused");
        let mut b = ctx.bundle("b-refused");
        config(&mut b);
        let out = ctx.create(&b, &id);
        out.assert_error_line("create", &id);
        assert!(
            out.stderr.contains("net_cls"),
            "the refusal does not name net_cls: {}",
            out.describe()
        );
        ctx.assert_nothing_left(&[&id]);
    }

    // 2. Where the kernel has them: mounted in a namespace of the test's,
    // written at create and read back.
    let pure_v2 = fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.contains(" /sys/fs/cgroup ") && l.contains(" - cgroup2 "));
    if pure_v2 || !kernel_has_net_cls_prio() {
        eprintln!(
            "SKIP writing net_cls/net_prio: {}",
            if pure_v2 {
                "a pure cgroup v2 host has no v1 hierarchy for them"
            } else {
                "the kernel has no net_cls/net_prio"
            }
        );
        return;
    }
    if net_cls_hierarchy().0 != 0 {
        eprintln!(
            "SKIP writing net_cls/net_prio: a hierarchy has them already ({:?}); cgroups.rs checks it where it is mounted",
            net_cls_hierarchy()
        );
        return;
    }
    let mut ns = MntNs::new(&ctx);
    let id = ctx.id("written");
    ns.ids.push(id.clone());
    ns.cgroups.push(rel.clone());
    let mut b = ctx.bundle("b-written");
    config(&mut b);
    ns.rt(&ctx, &["create", "--bundle", b.path(), &id])
        .assert_ok();
    ns.rt(&ctx, &["start", &id]).assert_ok();
    assert_eq!(ns.read(&ctx, &rel, "net_cls.classid").trim(), "1048577");
    let map = ns.read(&ctx, &rel, "net_prio.ifpriomap");
    assert!(
        map.lines().any(|l| l == "lo 5"),
        "net_prio.ifpriomap:\n{map}"
    );
    // The container's init is in that cgroup of the hierarchy.
    let st = ns.rt(&ctx, &["state", &id]);
    st.assert_ok();
    let pid = serde_json::from_str::<serde_json::Value>(&st.stdout).unwrap()["pid"]
        .as_i64()
        .unwrap();
    let cgs = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        cgs.lines()
            .any(|l| l.ends_with(&format!(":net_cls,net_prio:{rel}"))
                || l.ends_with(&format!(":net_prio,net_cls:{rel}"))),
        "the container is not in {rel} of net_cls,net_prio:\n{cgs}"
    );
    ns.rt(&ctx, &["delete", "--force", &id]).assert_ok();
    assert!(!ns.exists(&ctx, &rel), "the net_cls,net_prio cgroup stayed");
    ctx.assert_nothing_left(&[&id]);
    drop(ns);
    assert!(
        !mounted_v1("net_cls"),
        "the test's hierarchy reached the machine's mounts"
    );
    assert!(
        wait_until(std::time::Duration::from_secs(5), || net_cls_hierarchy().0
            == 0),
        "the test's net_cls,net_prio hierarchy outlived it: {:?}",
        net_cls_hierarchy()
    );
}
