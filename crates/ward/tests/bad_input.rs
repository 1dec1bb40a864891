//! Bad input is refused with a non-zero exit and one error line, and leaves
//! nothing behind: no directory under --root, no process, no mount, no
//! cgroup. Unknown config fields are ignored.

mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// `create` (and, on a fresh ID, `run`) of `b` must fail, print ward's error
/// line and leave nothing behind. Returns the create output.
#[track_caller]
fn assert_refused(ctx: &Ctx, b: &Bundle, tag: &str) -> (Out, Out) {
    b.write();
    let id = ctx.id(tag);
    let created = ctx.rt(&["create", "--bundle", b.path(), &id]);
    created.assert_fail();
    if testing_ward() {
        created.assert_error_line("create", &id);
    }
    ctx.assert_nothing_left(&[&id]);

    let id2 = ctx.id(tag);
    let ran = ctx
        .spawn(&["run", "--bundle", b.path(), &id2], RUN_TIMEOUT)
        .wait();
    ran.assert_fail();
    if testing_ward() {
        ran.assert_error_line("run", &id2);
    }
    ctx.assert_nothing_left(&[&id2]);
    (created, ran)
}

#[test]
fn malformed_json() {
    let ctx = Ctx::new("badjson");
    let b = ctx.bundle("b");
    b.write();
    fs::write(
        b.dir.join("config.json"),
        "{ \"ociVersion\": \"1.0.2\", \"process\": ",
    )
    .unwrap();
    let id = ctx.id("badjson");
    let out = ctx.rt(&["create", "--bundle", b.path(), &id]);
    out.assert_fail();
    if testing_ward() {
        out.assert_error_line("create", &id);
    }
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn missing_config_json() {
    let ctx = Ctx::new("noconfig");
    let b = ctx.bundle("b");
    let id = ctx.id("noconfig");
    let out = ctx.rt(&["create", "--bundle", b.path(), &id]);
    out.assert_fail();
    if testing_ward() {
        out.assert_error_line("create", &id);
    }
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn wrong_types() {
    let ctx = Ctx::new("wrongtype");
    let mut b = ctx.bundle("b");
    b.process()["args"] = json!("sh -c true");
    assert_refused(&ctx, &b, "argsstr");

    let mut b = ctx.bundle("b2");
    b.config["root"]["path"] = json!(42);
    assert_refused(&ctx, &b, "rootnum");

    let mut b = ctx.bundle("b3");
    b.process()["user"]["uid"] = json!("root");
    assert_refused(&ctx, &b, "uidstr");
}

#[test]
fn unknown_namespace_type() {
    let ctx = Ctx::new("badns");
    let mut b = ctx.bundle("b");
    b.add_namespace(json!({"type": "bogus"}));
    assert_refused(&ctx, &b, "badns");
}

#[test]
fn missing_root_path() {
    let ctx = Ctx::new("noroot");
    let mut b = ctx.bundle("b");
    b.config["root"]["path"] = json!("no-such-rootfs");
    assert_refused(&ctx, &b, "noroot");
}

#[test]
fn relative_mount_destination() {
    let ctx = Ctx::new("relmnt");
    let mut b = ctx.bundle("b");
    b.add_mount(json!({"destination": "relative/dir", "type": "tmpfs", "source": "tmpfs"}));
    assert_refused(&ctx, &b, "relmnt");
}

#[test]
fn empty_args() {
    let ctx = Ctx::new("noargs");
    let mut b = ctx.bundle("b");
    b.set_args(&[]);
    assert_refused(&ctx, &b, "noargs");
}

#[test]
fn missing_binary() {
    let ctx = Ctx::new("nobin");
    let mut b = ctx.bundle("b");
    b.set_args(&["/bin/does-not-exist"]);
    let (c, r) = assert_refused(&ctx, &b, "nobin");
    let want = ["no such file or directory", "executable file not found"];
    c.assert_stderr_has_any(&want);
    r.assert_stderr_has_any(&want);

    // Looked up through PATH.
    let mut b = ctx.bundle("b2");
    b.set_args(&["no-such-command"]);
    let (c, r) = assert_refused(&ctx, &b, "nobinpath");
    c.assert_stderr_has_any(&want);
    r.assert_stderr_has_any(&want);
}

#[test]
fn non_executable_binary() {
    let ctx = Ctx::new("noexec");
    let mut b = ctx.bundle("b");
    let p = b.rootfs().join("bin/notexec");
    fs::write(&p, "#!/bin/sh\necho should-not-run\n").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
    b.set_args(&["/bin/notexec"]);
    let (c, r) = assert_refused(&ctx, &b, "noexec");
    c.assert_stderr_has_any(&["permission denied"]);
    r.assert_stderr_has_any(&["permission denied"]);
    assert!(!r.stdout.contains("should-not-run"));
}

#[test]
fn invalid_ids() {
    let ctx = Ctx::new("badid");
    let mut b = ctx.bundle("b");
    b.long_running("");
    b.write();
    for id in ["", ".", "..", "a/b", "../escape", "/abs"] {
        for cmd in ["create", "run"] {
            let out = ctx
                .spawn(&[cmd, "--bundle", b.path(), id], RUN_TIMEOUT)
                .wait();
            assert!(
                out.code.is_some() && !out.success(),
                "{cmd} with invalid id {id:?} must fail\n{}",
                out.describe()
            );
            if testing_ward() {
                let line = out.stderr.trim_end_matches('\n');
                assert!(
                    !line.is_empty() && !line.contains('\n'),
                    "expected one stderr line\n{}",
                    out.describe()
                );
                assert!(
                    line.starts_with(&format!("{}: {cmd}", runtime_name())),
                    "error line format\n{}",
                    out.describe()
                );
            }
            ctx.assert_nothing_left(&[]);
        }
    }
    assert!(
        !ctx.dir.join("escape").exists(),
        "created a dir outside --root"
    );
    assert!(!Path::new("/abs").exists());
}

#[test]
fn invalid_ids_never_touch_paths_outside_root() {
    let ctx = Ctx::new("idescape");
    fs::create_dir_all(ctx.root.join("a/b")).unwrap();
    fs::write(ctx.root.join("a/b/sentinel"), "keep").unwrap();
    fs::write(ctx.dir.join("sentinel"), "keep").unwrap();
    for id in ["..", "a/b", "."] {
        for args in [
            vec!["delete", "--force", id],
            vec!["delete", id],
            vec!["kill", id, "KILL"],
            vec!["state", id],
            vec!["start", id],
        ] {
            let out = ctx.rt(&args);
            assert!(
                out.code.is_some() && !out.success(),
                "{args:?} must fail\n{}",
                out.describe()
            );
        }
    }
    assert!(
        ctx.root.join("a/b/sentinel").exists(),
        "a/b under --root was removed"
    );
    assert!(
        ctx.dir.join("sentinel").exists(),
        "the parent of --root was touched"
    );
    assert!(
        ctx.dir.join("logs").is_dir(),
        "the parent of --root was touched"
    );
}

#[test]
fn unknown_container() {
    let ctx = Ctx::new("unknown");
    let id = ctx.id("nosuch");
    for args in [
        vec!["state", id.as_str()],
        vec!["start", id.as_str()],
        vec!["kill", id.as_str(), "KILL"],
        vec!["kill", id.as_str()],
        vec!["delete", id.as_str()],
    ] {
        let out = ctx.rt(&args);
        out.assert_fail();
        out.assert_stderr_has_any(&["does not exist"]);
        if testing_ward() {
            out.assert_error_line(args[0], &id);
        }
    }
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn unknown_fields_are_ignored() {
    let ctx = Ctx::new("unknownfields");
    let id = ctx.id("unknownfields");
    let mut b = ctx.bundle("b");
    b.config["wardFutureField"] = json!({"nested": [1, 2, 3]});
    b.process()["someNewKnob"] = json!(true);
    b.linux()["notYetSpecified"] = json!("value");
    b.config["mounts"][0]["extra"] = json!(1);
    b.sh("echo UNKNOWN-FIELDS-OK");
    let out = ctx.run(&b, &id);
    out.assert_ok();
    assert!(
        out.stdout.contains("UNKNOWN-FIELDS-OK"),
        "{}",
        out.describe()
    );
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn duplicate_id_is_refused_and_original_survives() {
    let ctx = Ctx::new("dupid");
    let id = ctx.id("dupid");
    let mut b = ctx.bundle("b");
    b.long_running("");
    let (pid, _) = ctx.create_ok(&b, &id);
    let again = ctx.create(&b, &id);
    again.assert_fail();
    if testing_ward() {
        again.assert_error_line("create", &id);
    }
    let st = ctx.state(&id);
    assert_eq!(st["status"], "created", "{st}");
    assert_eq!(st["pid"].as_i64(), Some(pid as i64));
    assert!(pid_alive(pid));
}
