//! Images made here, with no registry: a busybox rootfs and a static pause
//! binary, each one uncompressed layer, written as an OCI image layout and
//! tarred for `ctr -n k8s.io images import`.

use crate::cmd;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

/// The image the test containers run (busybox, no USER).
pub const BUSYBOX: &str = "localhost/ward-cri-box:1";
/// The same layer with `USER nosuch`, a user its /etc/passwd lacks.
pub const NOUSER: &str = "localhost/ward-cri-nouser:1";
/// The sandbox image (containerd's `sandbox_image`).
pub const PAUSE: &str = "localhost/ward-cri-pause:1";

/// One image of the archive: its name, the layer tar, and its config.
pub struct ImageSpec<'a> {
    pub name: &'a str,
    pub layer: &'a Path,
    pub config: Value,
}

fn blob(blobs: &Path, bytes: &[u8]) -> (String, usize) {
    let hex = format!("{:x}", Sha256::digest(bytes));
    fs::write(blobs.join(&hex), bytes).expect("write blob");
    (format!("sha256:{hex}"), bytes.len())
}

/// Writes an OCI image layout holding `images` into `dir` and tars it to
/// `archive`.
pub fn oci_archive(dir: &Path, images: &[ImageSpec], archive: &Path) {
    oci_layout(dir, images);
    let logs = dir.parent().unwrap();
    cmd::host(
        logs,
        "tar",
        &[
            "--numeric-owner",
            "-C",
            dir.to_str().unwrap(),
            "-cf",
            archive.to_str().unwrap(),
            ".",
        ],
    )
    .assert_ok();
}

/// Writes an OCI image layout holding `images` into `dir`.
pub fn oci_layout(dir: &Path, images: &[ImageSpec]) {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).expect("mkdir blobs");
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut manifests = Vec::new();
    for img in images {
        let layer = fs::read(img.layer).expect("read layer");
        let (layer_digest, layer_size) = blob(&blobs, &layer);
        let mut config = img.config.clone();
        config["architecture"] = json!("amd64");
        config["os"] = json!("linux");
        config["rootfs"] = json!({"type": "layers", "diff_ids": [layer_digest]});
        let (cfg_digest, cfg_size) = blob(&blobs, &serde_json::to_vec(&config).unwrap());
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": cfg_digest, "size": cfg_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": layer_digest, "size": layer_size}],
        });
        let (m_digest, m_size) = blob(&blobs, &serde_json::to_vec(&manifest).unwrap());
        manifests.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": m_digest, "size": m_size,
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"io.containerd.image.name": img.name},
        }));
    }
    let index = json!({"schemaVersion": 2, "manifests": manifests});
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// Tars `root` into `out` (one uncompressed layer).
pub fn layer(logs: &Path, root: &Path, out: &Path) {
    cmd::host(
        logs,
        "tar",
        &[
            "--numeric-owner",
            "-C",
            root.to_str().unwrap(),
            "-cf",
            out.to_str().unwrap(),
            ".",
        ],
    )
    .assert_ok();
}

/// The busybox-static binary (Debian's package).
pub fn busybox() -> PathBuf {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("busybox (busybox-static) is not installed")
}

/// A busybox rootfs at `dir`: every applet, /etc/passwd with root and
/// nobody, the usual empty directories.
pub fn busybox_rootfs(dir: &Path) {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::copy(busybox(), bin.join("busybox")).expect("copy busybox");
    fs::set_permissions(bin.join("busybox"), fs::Permissions::from_mode(0o755)).unwrap();
    let list = std::process::Command::new(busybox())
        .arg("--list")
        .output()
        .expect("busybox --list");
    for a in String::from_utf8_lossy(&list.stdout).lines() {
        let a = a.trim();
        if !a.is_empty() && a != "busybox" && !a.contains('/') {
            symlink("busybox", bin.join(a)).unwrap();
        }
    }
    for d in [
        "proc", "sys", "dev", "etc", "root", "run", "var", "www", "data",
    ] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    fs::create_dir_all(dir.join("usr")).unwrap();
    symlink("../bin", dir.join("usr/bin")).unwrap();
    symlink("bin", dir.join("sbin")).unwrap();
    fs::create_dir_all(dir.join("tmp")).unwrap();
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    fs::write(dir.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
}

/// Compiles `source` (C) statically into `out`.
pub fn static_c(work: &Path, name: &str, source: &str, out: &Path) {
    let src = work.join(format!("{name}.c"));
    fs::write(&src, source).unwrap();
    let res = cmd::host(
        work,
        "cc",
        &[
            "-static",
            "-O2",
            "-o",
            out.to_str().unwrap(),
            src.to_str().unwrap(),
        ],
    );
    assert!(
        res.success(),
        "building {name} (gcc, libc6-dev):\n{}",
        res.describe()
    );
}

/// Builds the pause binary (src/pause.c, static) and the busybox rootfs,
/// and writes one archive with the three images; returns its path.
pub fn build_images(dir: &Path) -> PathBuf {
    let work = dir.join("images");
    fs::create_dir_all(&work).unwrap();
    // The pause image: /pause and the mount points a read-only rootfs needs.
    let pause_root = work.join("pause-rootfs");
    for d in ["proc", "dev", "sys", "etc"] {
        fs::create_dir_all(pause_root.join(d)).unwrap();
    }
    static_c(
        &work,
        "pause",
        include_str!("pause.c"),
        &pause_root.join("pause"),
    );
    let box_root = work.join("box-rootfs");
    busybox_rootfs(&box_root);
    let tar = |root: &Path, name: &str| {
        let t = work.join(name);
        layer(&work, root, &t);
        t
    };
    let pause_layer = tar(&pause_root, "pause-layer.tar");
    let box_layer = tar(&box_root, "box-layer.tar");
    let env = json!(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]);
    let archive = work.join("images.tar");
    oci_archive(
        &work.join("layout"),
        &[
            ImageSpec {
                name: PAUSE,
                layer: &pause_layer,
                config: json!({"config": {"Entrypoint": ["/pause"], "Env": env}}),
            },
            ImageSpec {
                name: BUSYBOX,
                layer: &box_layer,
                config: json!({"config": {"Cmd": ["sh"], "Env": env}}),
            },
            ImageSpec {
                name: NOUSER,
                layer: &box_layer,
                config: json!({"config": {"Cmd": ["sh"], "Env": env, "User": "nosuch"}}),
            },
        ],
        &archive,
    );
    archive
}
