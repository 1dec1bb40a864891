//! Images into the store: multi-layer unpacking compared with umoci's, and
//! every hostile layer of the issue, each refused or neutralized with one
//! line and nothing written outside the store or left half in it.

mod common;
use common::*;
use serde_json::json;
use std::fs;
use std::path::Path;

/// Imports `img` as `name`; returns the outcome.
fn import(env: &Env, img: &Image, name: &str) -> Out {
    let layout = env.dir.join(format!("layout-{name}"));
    let _ = fs::remove_dir_all(&layout);
    img.write_layout(&layout, "t");
    env.wb(&["image", "import", "-q", layout.to_str().unwrap(), name])
}

/// The store as it must look after a refused import into an empty one.
#[track_caller]
fn assert_store_empty(env: &Env) {
    assert!(env.layers().is_empty(), "layers left: {:?}", env.layers());
    assert!(
        env.tmp_entries().is_empty(),
        "tmp left: {:?}",
        env.tmp_entries()
    );
    let images = fs::read_to_string(env.store.join("images.json")).unwrap_or_else(|_| "[]".into());
    assert_eq!(
        images.trim().trim_matches(|c| c == '[' || c == ']').trim(),
        "",
        "images recorded: {images}"
    );
}

fn outside(env: &Env) -> std::path::PathBuf {
    let o = env.dir.join("outside");
    fs::create_dir_all(&o).unwrap();
    o
}

#[track_caller]
fn assert_outside_untouched(o: &Path) {
    assert!(
        list(o).is_empty(),
        "written outside the store: {:?}",
        list(o)
    );
}

/// Three layers with whiteouts, an opaque directory, a whited-out directory
/// re-made in the same layer, hardlinks, a setuid file with an owner, a
/// FIFO and a symlink: the merged overlay a box gets must equal the tree
/// `umoci unpack` makes from the same image.
#[test]
fn multi_layer_image_unpacks_as_umoci_does() {
    if skip_unless_root("umoci comparison") {
        return;
    }
    if std::process::Command::new("umoci")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("umoci is missing: scripts/deps.sh umoci (scripts/test.sh installs it)");
    }
    let env = Env::new("umoci");
    let mut l1 = busybox_entries();
    l1.extend([
        Entry::dir("etc/app").mode(0o750).owner(1234, 4321),
        Entry::file("etc/app/a", b"a1"),
        Entry::file("etc/app/b", b"b1"),
        Entry::dir("opt"),
        Entry::dir("opt/o"),
        Entry::file("opt/o/x", b"x"),
        Entry::file("opt/o/y", b"y"),
        Entry::file("rm-me", b"gone"),
        Entry::symlink("etc/link", "passwd"),
        Entry::hardlink("etc/hard", "etc/passwd"),
        Entry::file("usr/suid", b"#!/bin/sh\n")
            .mode(0o4755)
            .owner(1234, 4321),
        Entry::fifo("run/fifo"),
        Entry::dir("gone-dir"),
        Entry::file("gone-dir/f", b"f"),
        Entry::dir("flip"),
        Entry::file("flip/inner", b"i"),
    ]);
    let l2 = vec![
        Entry::dir("etc"),
        Entry::dir("etc/app").mode(0o750).owner(1234, 4321),
        Entry::file("etc/app/.wh.a", b""),
        Entry::file("etc/app/c", b"c2"),
        Entry::dir("opt"),
        Entry::dir("opt/o"),
        Entry::file("opt/o/.wh..wh..opq", b""),
        Entry::file("opt/o/z", b"z2"),
        Entry::file(".wh.rm-me", b""),
        Entry::file(".wh.gone-dir", b""),
        Entry::dir("gone-dir"),
        Entry::file("gone-dir/new", b"new"),
        // A directory replaced by a file.
        Entry::file(".wh.flip", b""),
        Entry::file("flip", b"now a file"),
    ];
    let l3 = vec![
        Entry::dir("etc"),
        // Parents listed, as image builders write them: a layer that omits
        // one gets it as 0755 root (docs/box.md, "Differences").
        Entry::dir("etc/app").mode(0o750).owner(1234, 4321),
        Entry::file("etc/app/b", b"b3").mode(0o600),
        Entry::file(".wh.flip", b""),
        // ... and back to a directory.
        Entry::dir("flip"),
        Entry::file("flip/again", b"again"),
        Entry::hardlink("etc/hard3", "etc/app/b"),
    ];
    let img = Image::new(vec![tar(&l1), tar(&l2), tar(&l3)]);
    let layout = env.dir.join("layout");
    img.write_layout(&layout, "t");
    env.wb(&["image", "import", "-q", layout.to_str().unwrap(), "multi"])
        .assert_ok();
    let out = env.wb(&["box", "run", "-d", "--name", "m", "multi", "sleep", "1000"]);
    out.assert_ok();
    let id = out.stdout.trim().to_string();
    let merged = env.store.join("boxes").join(&id).join("merged");
    let mut ours = tree(&merged);
    // The box's own /etc/hosts, resolv.conf and hostname are bound over
    // empty files made as mount points in its upper dir (podman makes
    // them too): not the image's, so not umoci's.
    let empty = format!("file {} mode=644 owner=0:0", sha256_hex(b""));
    for f in ["etc/hosts", "etc/resolv.conf", "etc/hostname"] {
        assert_eq!(ours.remove(f).as_deref(), Some(empty.as_str()), "{f}");
    }

    let bundle = env.dir.join("umoci-bundle");
    let u = run_cmd(
        {
            let mut c = std::process::Command::new("umoci");
            c.args(["unpack", "--image"])
                .arg(format!("{}:t", layout.display()))
                .arg(&bundle);
            c
        },
        *TIMEOUT,
    );
    u.assert_ok();
    let theirs = tree(&bundle.join("rootfs"));
    let diff: Vec<String> = ours
        .iter()
        .filter(|(k, v)| theirs.get(*k) != Some(v))
        .map(|(k, v)| format!("{k}: ward {v} / umoci {:?}", theirs.get(k)))
        .chain(
            theirs
                .keys()
                .filter(|k| !ours.contains_key(*k))
                .map(|k| format!("{k}: only in umoci's")),
        )
        .collect();
    assert!(
        diff.is_empty(),
        "ward's merged tree differs from umoci's:\n{}",
        diff.join("\n")
    );
    // And the cases themselves, to be sure both did what they should.
    assert!(!ours.contains_key("etc/app/a") && ours.contains_key("etc/app/c"));
    assert!(!ours.contains_key("opt/o/x") && ours.contains_key("opt/o/z"));
    assert!(
        !ours.contains_key("rm-me")
            && !ours.contains_key("gone-dir/f")
            && ours.contains_key("gone-dir/new")
    );
    assert!(
        ours["flip"].starts_with("dir")
            && ours.contains_key("flip/again")
            && !ours.contains_key("flip/inner")
    );
    assert!(
        ours["usr/suid"].contains("mode=4755 owner=1234:4321"),
        "{}",
        ours["usr/suid"]
    );
    env.wb(&["box", "rm", "-f", "m"]).assert_ok();
    env.assert_no_boxes_left(&[id]);
}

#[test]
fn gzip_zstd_and_plain_layers_unpack() {
    let env = Env::new("compress");
    for (i, c) in [Compression::Gzip, Compression::Zstd, Compression::None]
        .into_iter()
        .enumerate()
    {
        let mut img = Image::new(vec![tar(&[
            Entry::dir("d"),
            Entry::file(&format!("d/f{i}"), b"data"),
        ])]);
        img.compression = c;
        import(&env, &img, &format!("c{i}")).assert_ok();
        assert!(env.layers().len() == i + 1);
    }
}

#[test]
fn dotdot_entries_are_refused() {
    let env = Env::new("dotdot");
    let o = outside(&env);
    let name = format!("../../{}/evil", o.file_name().unwrap().to_string_lossy());
    let img = Image::new(vec![tar(&[Entry::file(&name, b"x")])]);
    import(&env, &img, "dd").assert_one_line_error("image import", &["..", "climb"]);
    assert_store_empty(&env);
    assert_outside_untouched(&o);
}

#[test]
fn absolute_names_are_made_relative() {
    let env = Env::new("abs");
    let o = outside(&env);
    let abs = format!("{}/abs", o.display());
    let img = Image::new(vec![tar(&[Entry::file(&abs, b"x")])]);
    let out = import(&env, &img, "abs");
    out.assert_ok();
    assert!(
        out.stderr.contains("absolute name(s) relative"),
        "{}",
        out.describe()
    );
    assert_outside_untouched(&o);
    let layer = env.store.join("layers").join(&env.layers()[0]);
    assert!(layer.join(abs.trim_start_matches('/')).is_file());
}

#[test]
fn writing_through_a_symlink_in_the_same_layer_is_refused() {
    let env = Env::new("symlink1");
    let o = outside(&env);
    let img = Image::new(vec![tar(&[
        Entry::symlink("link", o.to_str().unwrap()),
        Entry::file("link/evil", b"x"),
    ])]);
    import(&env, &img, "sl").assert_one_line_error("image import", &["link/evil", "symlink"]);
    assert_store_empty(&env);
    assert_outside_untouched(&o);
    // A relative symlink climbing out, too.
    let img = Image::new(vec![tar(&[
        Entry::symlink("up", "../../../../../.."),
        Entry::file("up/evil", b"x"),
    ])]);
    import(&env, &img, "sl2").assert_one_line_error("image import", &["symlink"]);
    assert_store_empty(&env);
}

/// Layer 1 makes `link` a symlink out of the box; layer 2 writes
/// `link/evil`. Each layer has its own directory, so layer 2 makes a real
/// directory `link`, which hides the symlink in the merged view: the file
/// lands in the box, never through the link.
#[test]
fn writing_through_a_symlink_of_a_lower_layer_lands_in_the_box() {
    if skip_unless_root("overlay mount") {
        return;
    }
    let env = Env::new("symlink2");
    let o = outside(&env);
    let mut l1 = busybox_entries();
    l1.push(Entry::symlink("link", o.to_str().unwrap()));
    let img = Image::new(vec![
        tar(&l1),
        tar(&[Entry::dir("link"), Entry::file("link/evil", b"inside")]),
    ]);
    import(&env, &img, "sl3").assert_ok();
    assert_outside_untouched(&o);
    let out = env.wb(&[
        "box",
        "run",
        "--rm",
        "-q",
        "sl3",
        "sh",
        "-c",
        "test -d /link && test ! -L /link && cat /link/evil",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout, "inside");
    assert_outside_untouched(&o);
}

#[test]
fn hardlinks_out_of_the_layer_are_refused() {
    let env = Env::new("hardlink");
    for (i, target) in ["../../etc/passwd", "/etc/passwd", "etc/shadow-not-here"]
        .iter()
        .enumerate()
    {
        let img = Image::new(vec![tar(&[
            Entry::dir("etc"),
            Entry::hardlink("h", target),
        ])]);
        let out = import(&env, &img, &format!("h{i}"));
        out.assert_one_line_error("image import", &["\"h\""]);
        assert_store_empty(&env);
    }
    // A hardlink to a file of a lower layer: not in this layer either.
    let img = Image::new(vec![
        tar(&[Entry::file("f", b"x")]),
        tar(&[Entry::hardlink("g", "f")]),
    ]);
    import(&env, &img, "hl").assert_one_line_error("image import", &["not in this layer"]);
    let (l, t) = (env.layers(), env.tmp_entries());
    assert!(t.is_empty(), "tmp left: {t:?}");
    // The good first layer may stay (verified, whole); the bad one never.
    assert!(l.len() <= 1, "{l:?}");
}

#[test]
fn whiteouts_of_dot_and_dotdot_are_refused() {
    let env = Env::new("whiteout");
    for (i, name) in ["d/.wh...", "d/.wh..", ".wh.."].iter().enumerate() {
        let img = Image::new(vec![tar(&[Entry::dir("d"), Entry::file(name, b"")])]);
        import(&env, &img, &format!("w{i}"))
            .assert_one_line_error("image import", &["whiteout of . or .."]);
        assert_store_empty(&env);
    }
}

#[test]
fn a_file_replacing_a_directory_and_back() {
    let env = Env::new("flip");
    let img = Image::new(vec![tar(&[
        Entry::dir("x"),
        Entry::file("x/a", b"a"),
        Entry::file("x", b"a file now"),
        Entry::dir("x"),
        Entry::file("x/b", b"b"),
        Entry::file("y", b"file"),
        Entry::dir("y"),
        Entry::symlink("z", "/etc"),
        Entry::dir("z"),
        Entry::file("z/inside", b"i"),
    ])]);
    import(&env, &img, "flip").assert_ok();
    let layer = env.store.join("layers").join(&env.layers()[0]);
    assert_eq!(list(&layer.join("x")), vec!["b"]);
    assert!(layer.join("y").is_dir());
    assert!(!layer.join("z").is_symlink() && layer.join("z/inside").is_file());
}

/// Rewrites the layout's first layer blob with `f` (under its old name),
/// keeping or updating its descriptor as asked.
fn tamper(layout: &Path, f: impl FnOnce(Vec<u8>) -> Vec<u8>, update_descriptor: bool) {
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let md = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let mut m: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("blobs/sha256").join(&md)).unwrap()).unwrap();
    let ld = m["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let p = layout.join("blobs/sha256").join(&ld);
    let new = f(fs::read(&p).unwrap());
    if update_descriptor {
        let h = sha256_hex(&new);
        fs::write(layout.join("blobs/sha256").join(&h), &new).unwrap();
        m["layers"][0]["digest"] = json!(format!("sha256:{h}"));
        m["layers"][0]["size"] = json!(new.len());
        let mb = serde_json::to_vec(&m).unwrap();
        let mh = sha256_hex(&mb);
        fs::write(layout.join("blobs/sha256").join(&mh), &mb).unwrap();
        let mut index = index;
        index["manifests"][0]["digest"] = json!(format!("sha256:{mh}"));
        index["manifests"][0]["size"] = json!(mb.len());
        fs::write(
            layout.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    } else {
        fs::write(&p, &new).unwrap();
    }
}

fn layout_of(env: &Env, img: &Image, name: &str) -> std::path::PathBuf {
    let layout = env.dir.join(format!("layout-{name}"));
    img.write_layout(&layout, "t");
    layout
}

#[test]
fn layers_that_lie_about_digest_or_size_are_refused() {
    let env = Env::new("lie");
    let img = Image::new(vec![tar(&[Entry::file("f", &vec![7u8; 100_000])])]);
    let other = compress(
        &tar(&[Entry::file("g", &vec![9u8; 100_000])]),
        Compression::Gzip,
    );
    // Another layer under this one's digest.
    let l = layout_of(&env, &img, "digest");
    tamper(&l, |_| other.clone(), false);
    env.wb(&["image", "import", "-q", l.to_str().unwrap()])
        .assert_one_line_error("image import", &["digest"]);
    assert_store_empty(&env);
    // Longer than its descriptor: cut off there.
    let l = layout_of(&env, &img, "long");
    tamper(
        &l,
        |mut b| {
            b.extend_from_slice(&[0u8; 4096]);
            b
        },
        false,
    );
    env.wb(&["image", "import", "-q", l.to_str().unwrap()])
        .assert_one_line_error("image import", &["bytes"]);
    assert_store_empty(&env);
    // Shorter than its descriptor.
    let l = layout_of(&env, &img, "short");
    tamper(&l, |b| b[..b.len() - 8].to_vec(), false);
    env.wb(&["image", "import", "-q", l.to_str().unwrap()])
        .assert_code(1);
    assert_store_empty(&env);
    // A right blob whose content isn't what the config's diff ID says.
    let mut liar = img.clone();
    liar.config = json!({"Cmd": ["sh"]});
    let l = layout_of(&env, &liar, "diffid");
    let cfg_fix = |layout: &Path| {
        // Point the config's diff ID elsewhere.
        let index: serde_json::Value =
            serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
        let md = index["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
            .to_string();
        let mut m: serde_json::Value =
            serde_json::from_slice(&fs::read(layout.join("blobs/sha256").join(&md)).unwrap())
                .unwrap();
        let cd = m["config"]["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
            .to_string();
        let mut c: serde_json::Value =
            serde_json::from_slice(&fs::read(layout.join("blobs/sha256").join(&cd)).unwrap())
                .unwrap();
        c["rootfs"]["diff_ids"][0] = json!(format!("sha256:{}", "0".repeat(64)));
        let cb = serde_json::to_vec(&c).unwrap();
        let ch = sha256_hex(&cb);
        fs::write(layout.join("blobs/sha256").join(&ch), &cb).unwrap();
        m["config"]["digest"] = json!(format!("sha256:{ch}"));
        m["config"]["size"] = json!(cb.len());
        let mb = serde_json::to_vec(&m).unwrap();
        let mh = sha256_hex(&mb);
        fs::write(layout.join("blobs/sha256").join(&mh), &mb).unwrap();
        let mut index = index;
        index["manifests"][0]["digest"] = json!(format!("sha256:{mh}"));
        index["manifests"][0]["size"] = json!(mb.len());
        fs::write(
            layout.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    };
    cfg_fix(&l);
    env.wb(&["image", "import", "-q", l.to_str().unwrap()])
        .assert_one_line_error("image import", &["image config says"]);
    assert_store_empty(&env);
}

#[test]
fn truncated_gzip_and_zstd_streams_are_refused() {
    let env = Env::new("trunc");
    for c in [Compression::Gzip, Compression::Zstd] {
        let data: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let mut img = Image::new(vec![tar(&[Entry::file("f", &data)])]);
        img.compression = c;
        let l = layout_of(&env, &img, &format!("{c:?}"));
        // Cut in half, with a descriptor that matches the cut blob: only
        // the stream itself is wrong.
        tamper(&l, |b| b[..b.len() / 2].to_vec(), true);
        let out = env.wb(&["image", "import", "-q", l.to_str().unwrap()]);
        out.assert_one_line_error("image import", &["layer"]);
        assert_store_empty(&env);
    }
}

#[test]
fn a_manifest_that_points_at_itself_is_refused() {
    let env = Env::new("selfref");
    let layout = env.dir.join("layout");
    Image::busybox().write_layout(&layout, "t");
    // index.json names a blob that is an index naming itself (by the name
    // it is stored under).
    let fake = "ab".repeat(32);
    let body = json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": format!("sha256:{fake}"), "size": 100, "platform": {"os": "linux", "architecture": "amd64"}}]});
    fs::write(
        layout.join("blobs/sha256").join(&fake),
        serde_json::to_vec(&body).unwrap(),
    )
    .unwrap();
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&body).unwrap(),
    )
    .unwrap();
    env.wb(&["image", "import", "-q", layout.to_str().unwrap()])
        .assert_one_line_error("image import", &["points at itself"]);
    assert_store_empty(&env);
    // A manifest whose config descriptor is the manifest.
    let m = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", "cd".repeat(32)), "size": 10}, "layers": []});
    fs::write(
        layout.join("blobs/sha256").join("cd".repeat(32)),
        serde_json::to_vec(&m).unwrap(),
    )
    .unwrap();
    let idx = json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": format!("sha256:{}", "cd".repeat(32)), "size": 10}]});
    fs::write(layout.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
    env.wb(&["image", "import", "-q", layout.to_str().unwrap()])
        .assert_one_line_error("image import", &["itself"]);
    assert_store_empty(&env);
}

#[test]
fn overlay_xattrs_in_a_layer_are_ignored() {
    let env = Env::new("xattr");
    fs::create_dir_all(&env.store).unwrap();
    let user_ok = user_xattrs_work(&env.store);
    let img = Image::new(vec![tar(&[
        Entry::dir("d").xattr("trusted.overlay.opaque", b"y"),
        Entry::file("d/f", b"x")
            .xattr("trusted.overlay.redirect", b"/etc")
            .xattr("user.ok", b"1"),
    ])]);
    let out = import(&env, &img, "xa");
    out.assert_ok();
    assert!(out.stderr.contains("ignored 2 xattr"), "{}", out.describe());
    // user.ok is kept, or (a store on a tmpfs before Linux 6.6) counted as
    // not kept: never an error.
    if !user_ok {
        assert!(
            out.stderr.contains("1 xattr(s) not kept"),
            "{}",
            out.describe()
        );
    }
}

/// Two imports of one image at once: both succeed, and the layer is
/// unpacked once (the other finds it in the store).
#[test]
fn two_imports_at_once_unpack_once() {
    let env = Env::new("concurrent");
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    let img = Image::new(vec![tar(&[Entry::file("big", &data)])]);
    let layout = layout_of(&env, &img, "c");
    let spawn = |name: &str| {
        let mut c = env.cmd(&["image", "import", layout.to_str().unwrap(), name]);
        c.stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stdin(std::process::Stdio::null());
        c.spawn().unwrap()
    };
    let (a, b) = (spawn("one"), spawn("two"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success(), "{a:?} {b:?}");
    let said = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    let unpacked = [said(&a), said(&b)]
        .iter()
        .filter(|s| s.contains(": unpacked"))
        .count();
    assert_eq!(
        unpacked,
        1,
        "the layer must be unpacked exactly once:\n{}\n{}",
        said(&a),
        said(&b)
    );
    assert_eq!(env.layers().len(), 1);
    assert!(env.tmp_entries().is_empty());
    let ls = env.wb(&["image", "ls"]);
    assert!(
        ls.stdout.contains("localhost/one:latest") && ls.stdout.contains("localhost/two:latest"),
        "{}",
        ls.describe()
    );
}

/// A store on a 2 MiB tmpfs and a 6 MB layer: the import fails with one
/// line, and the store is exactly as before.
#[test]
fn a_full_disk_leaves_the_store_as_it_was() {
    if skip_unless_root("tmpfs mount") {
        return;
    }
    let env = Env::new("full");
    fs::create_dir_all(&env.store).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&env.store)
        .status()
        .unwrap();
    assert!(st.success());
    // A small image first, so the store has something to keep.
    import(
        &env,
        &Image::new(vec![tar(&[Entry::file("small", b"s")])]),
        "small",
    )
    .assert_ok();
    let before = (
        env.layers(),
        fs::read(env.store.join("images.json")).unwrap(),
    );
    let data: Vec<u8> = (0..6_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 7) as u8)
        .collect();
    let out = import(
        &env,
        &Image::new(vec![tar(&[Entry::file("big", &data)])]),
        "big",
    );
    out.assert_one_line_error("image import", &["no space left on device"]);
    assert_eq!(env.layers(), before.0);
    assert_eq!(fs::read(env.store.join("images.json")).unwrap(), before.1);
    assert!(env.tmp_entries().is_empty(), "{:?}", env.tmp_entries());
}

#[test]
fn docker_and_oci_archives_import() {
    if std::process::Command::new("skopeo")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("skopeo is missing: scripts/deps.sh skopeo");
    }
    let env = Env::new("archives");
    let mut img = Image::busybox();
    img.config =
        json!({"Cmd": ["sh", "-c", "echo $GREETING"], "Env": ["PATH=/bin", "GREETING=hello"]});
    let layout = layout_of(&env, &img, "src");
    for (kind, file) in [("docker-archive", "d.tar"), ("oci-archive", "o.tar")] {
        let dst = env.dir.join(file);
        let mut c = std::process::Command::new("skopeo");
        c.args(["copy", "--quiet"])
            .arg(format!("oci:{}:t", layout.display()))
            .arg(format!("{kind}:{}:localhost/arch:{kind}", dst.display()));
        if kind == "oci-archive" {
            c = std::process::Command::new("skopeo");
            c.args(["copy", "--quiet"])
                .arg(format!("oci:{}:t", layout.display()))
                .arg(format!("{kind}:{}:{kind}", dst.display()));
        }
        run_cmd(c, *TIMEOUT).assert_ok();
        env.wb(&[
            "image",
            "import",
            "-q",
            dst.to_str().unwrap(),
            &format!("arch:{kind}"),
        ])
        .assert_ok();
    }
    // Both are the same image: one layer in the store.
    assert_eq!(env.layers().len(), 1, "{:?}", env.layers());
    let ls = env.wb(&["image", "ls", "--format", "json"]);
    ls.assert_ok();
    assert!(
        ls.stdout.contains("localhost/arch:docker-archive")
            && ls.stdout.contains("localhost/arch:oci-archive"),
        "{}",
        ls.stdout
    );
}

#[test]
fn image_rm_and_prune_remove_unshared_layers_only() {
    let env = Env::new("rm");
    let base = tar(&[Entry::file("base", b"b")]);
    import(
        &env,
        &Image::new(vec![base.clone(), tar(&[Entry::file("one", b"1")])]),
        "one",
    )
    .assert_ok();
    import(
        &env,
        &Image::new(vec![base, tar(&[Entry::file("two", b"2")])]),
        "two",
    )
    .assert_ok();
    assert_eq!(
        env.layers().len(),
        3,
        "two images sharing their base: three layers"
    );
    env.wb(&["image", "rm", "one"]).assert_ok();
    assert_eq!(env.layers().len(), 2, "the shared base stays");
    env.wb(&["image", "rm", "one"])
        .assert_one_line_error("image rm one", &["no such image"]);
    fs::create_dir_all(
        env.store
            .join("tmp")
            .join(format!("{}.1.1", "e".repeat(64))),
    )
    .unwrap();
    env.wb(&["image", "prune"]).assert_ok();
    assert!(
        env.tmp_entries().is_empty(),
        "prune removes leftovers of interrupted pulls"
    );
    env.wb(&["image", "rm", "two"]).assert_ok();
    assert!(env.layers().is_empty());
}
