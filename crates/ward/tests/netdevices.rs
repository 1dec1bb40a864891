//! linux.netDevices (runtime-spec 1.3): a host interface moved into the
//! container at create, renamed, with its address, and back at delete.
//!
//! The "host" is a network namespace this test makes and pins under its
//! directory: the runtime runs inside it (nsenter), the interfaces are
//! made there, and the machine's own network namespace is never touched.
//! The moved interface is one end of a veth pair (this host's kernel has
//! no dummy driver), so the container can also ping its peer on the host.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::json;

/// A pinned network namespace playing the host, and the containers the
/// test made in it: deleted from inside it on drop (so devices go back
/// there, never to the machine's namespace).
struct HostNs {
    file: PathBuf,
    root: PathBuf,
    ids: Vec<String>,
}

impl HostNs {
    fn new(ctx: &Ctx) -> HostNs {
        let file = ctx.dir.join("hostns");
        fs::write(&file, "").unwrap();
        ctx.track_host_mount(&file);
        ctx.host("unshare", &[&format!("--net={}", file.display()), "true"])
            .assert_ok();
        let ino = fs::metadata(&file).unwrap().ino();
        assert_ne!(
            format!("net:[{ino}]"),
            ns_link("self", "net"),
            "the test's host namespace is the machine's"
        );
        HostNs {
            file,
            root: ctx.root.clone(),
            ids: Vec::new(),
        }
    }

    fn enter(&self, program: &Path) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.file.display()))
            .arg("--")
            .arg(program);
        c
    }

    /// `ip ARGS` in the host namespace, which must succeed; its stdout.
    #[track_caller]
    fn ip(&self, ctx: &Ctx, args: &[&str]) -> String {
        let mut c = self.enter(Path::new("ip"));
        c.args(args);
        let out = ctx.spawn_cmd(c, CMD_TIMEOUT).wait();
        out.assert_ok();
        out.stdout
    }

    /// The runtime, with the test's --root, in the host namespace.
    fn rt(&self, ctx: &Ctx, args: &[&str]) -> Proc {
        let mut c = self.enter(&runtime_bin());
        c.arg("--root").arg(&self.root).args(args);
        ctx.spawn_cmd(c, CMD_TIMEOUT)
    }
}

impl Drop for HostNs {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = self
                .enter(&runtime_bin())
                .arg("--root")
                .arg(&self.root)
                .args(["delete", "--force", id])
                .output();
        }
    }
}

fn unique(tag: &str) -> String {
    format!("wt-{tag}-{}", std::process::id())
}

#[test]
fn net_device_moves_in_renamed_with_its_address_and_back() {
    if skip_unless_ward("linux.netDevices (runtime-spec 1.3: Debian's runc predates it)") {
        return;
    }
    let ctx = Ctx::new("netdev");
    let mut host = HostNs::new(&ctx);
    host.ip(
        &ctx,
        &[
            "link", "add", "wtdum0", "type", "veth", "peer", "name", "wtpeer0",
        ],
    );
    host.ip(&ctx, &["addr", "add", "10.77.0.1/24", "dev", "wtdum0"]);
    host.ip(&ctx, &["addr", "add", "10.77.0.2/24", "dev", "wtpeer0"]);
    host.ip(&ctx, &["link", "set", "wtpeer0", "up"]);
    host.ip(&ctx, &["link", "set", "wtdum0", "up"]);

    let id = unique("netdev");
    host.ids.push(id.clone());
    let mut b = ctx.bundle("b");
    b.linux()["netDevices"] = json!({"wtdum0": {"name": "eth7"}});
    b.long_running(
        "ip -o link show; ip -o -4 addr show; ping -c 1 -W 5 10.77.0.2 >/dev/null && echo PEER-REACHED",
    );
    b.write();
    let created = host.rt(&ctx, &["create", "--bundle", b.path(), &id]).wait();
    created.assert_ok();
    host.rt(&ctx, &["start", &id]).wait().assert_ok();
    let out = wait_for_marker(&created.stdout_path, READY);

    // Inside: eth7, up, with the address; the host no longer has wtdum0.
    let addr_line = out
        .lines()
        .find(|l| l.contains(" eth7 ") && l.contains("inet "))
        .unwrap_or_else(|| panic!("no address on eth7 in the container:\n{out}"));
    assert!(addr_line.contains("10.77.0.1/24"), "{addr_line}");
    let link_line = out
        .lines()
        .find(|l| l.contains(": eth7"))
        .unwrap_or_else(|| panic!("no eth7 in the container:\n{out}"));
    assert!(link_line.contains(",UP"), "eth7 is not up: {link_line}");
    assert!(
        out.contains("PEER-REACHED"),
        "no ping through eth7 to its peer on the host:\n{out}"
    );
    let links = host.ip(&ctx, &["-o", "link", "show"]);
    assert!(
        !links.contains("wtdum0"),
        "wtdum0 is still on the host:\n{links}"
    );

    // delete --force on the running container: back under its host name.
    host.rt(&ctx, &["delete", "--force", &id])
        .wait()
        .assert_ok();
    host.ids.clear();
    let link = host.ip(&ctx, &["-o", "link", "show", "wtdum0"]);
    assert!(link.contains(",UP"), "wtdum0 came back down: {link}");
    let addr = host.ip(&ctx, &["-o", "-4", "addr", "show", "dev", "wtdum0"]);
    assert!(
        addr.contains("10.77.0.1/24"),
        "wtdum0 came back without its address: {addr:?}"
    );
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn net_device_back_after_the_container_exited() {
    if skip_unless_ward("linux.netDevices (runtime-spec 1.3: Debian's runc predates it)") {
        return;
    }
    // The processes are gone before the delete that ends `run`: the
    // pinned namespace kept the (virtual) device alive.
    let ctx = Ctx::new("netdev-exit");
    let mut host = HostNs::new(&ctx);
    host.ip(
        &ctx,
        &[
            "link", "add", "wtdum1", "type", "veth", "peer", "name", "wtpeer1",
        ],
    );
    host.ip(&ctx, &["addr", "add", "10.78.0.1/24", "dev", "wtdum1"]);
    let id = unique("netdev-exit");
    host.ids.push(id.clone());
    let mut b = ctx.bundle("b");
    b.linux()["netDevices"] = json!({"wtdum1": {}});
    b.set_args(&["true"]);
    b.write();
    // A foreground run deletes the container when its process exits.
    host.rt(&ctx, &["run", "--bundle", b.path(), &id])
        .wait()
        .assert_ok();
    host.ids.clear();
    let link = host.ip(&ctx, &["-o", "link", "show", "wtdum1"]);
    assert!(!link.contains(",UP"), "wtdum1 came back up: {link}");
    let addr = host.ip(&ctx, &["-o", "-4", "addr", "show", "dev", "wtdum1"]);
    assert!(addr.contains("10.78.0.1/24"), "{addr:?}");
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn bad_net_devices_are_refused_in_one_line_and_leave_nothing() {
    if skip_unless_ward("the wording of ward's errors") {
        return;
    }
    let ctx = Ctx::new("netdev-bad");
    let host = HostNs::new(&ctx);
    host.ip(
        &ctx,
        &[
            "link", "add", "wtdum2", "type", "veth", "peer", "name", "wtpeer2",
        ],
    );
    let cases = [
        (json!({"wtnosuch0": {}}), "no such interface"),
        (json!({"a/b": {}}), "not an interface name"),
        (
            json!({"wtdum2": {"name": "eth0-much-too-long-name"}}),
            "not an interface name",
        ),
    ];
    for (i, (devices, why)) in cases.iter().enumerate() {
        let id = unique(&format!("netdev-bad{i}"));
        let mut b = ctx.bundle(&format!("b{i}"));
        b.linux()["netDevices"] = devices.clone();
        b.write();
        let out = host.rt(&ctx, &["create", "--bundle", b.path(), &id]).wait();
        out.assert_error_line("create", &id);
        assert!(
            out.stderr.contains("linux.netDevices") && out.stderr.contains(why),
            "{devices}: {}",
            out.describe()
        );
        ctx.assert_nothing_left(&[&id]);
    }
    // No network namespace of its own: the device would stay the host's.
    let id = unique("netdev-nons");
    let mut b = ctx.bundle("nons");
    b.remove_namespace("network");
    b.linux()["netDevices"] = json!({"wtdum2": {}});
    b.write();
    let out = host.rt(&ctx, &["create", "--bundle", b.path(), &id]).wait();
    out.assert_error_line("create", &id);
    assert!(
        out.stderr.contains("network namespace"),
        "{}",
        out.describe()
    );
    ctx.assert_nothing_left(&[&id]);
    let link = host.ip(&ctx, &["-o", "link", "show", "wtdum2"]);
    assert!(link.contains("wtdum2"), "{link}");
}
