//! Images on disk: an OCI image layout (a directory, or an oci-archive
//! tarball of one) and a docker-archive tarball (`docker save`,
//! `podman save --format docker-archive`, `skopeo copy docker-archive:`).

use super::files::Files;
use super::{Source, MAX_JSON};
use crate::digest::Digest;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Opens whatever is at `spec`: `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
/// `docker-archive:FILE`, or a bare path (a directory is an OCI layout, a
/// file an archive of either kind, told apart by what it holds).
pub fn open(spec: &str) -> Result<Box<dyn Source>, String> {
    let (kind, rest) = match spec.split_once(':') {
        Some((k @ ("oci" | "oci-archive" | "docker-archive"), rest)) => (Some(k), rest),
        _ => (None, spec),
    };
    // A tag after the path, as skopeo writes it, unless the whole thing is a path.
    let (path, tag) = match rest.rsplit_once(':') {
        Some((p, t)) if !Path::new(rest).exists() && !t.contains('/') => {
            (PathBuf::from(p), Some(t.to_string()))
        }
        _ => (PathBuf::from(rest), None),
    };
    let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let files = if meta.is_dir() {
        if kind.is_some_and(|k| k != "oci") {
            return Err(format!("{}: a directory, not an archive", path.display()));
        }
        Files::Dir(path.clone())
    } else {
        if kind == Some("oci") {
            return Err(format!(
                "{}: not a directory (an OCI layout is one)",
                path.display()
            ));
        }
        Files::archive(&path)?
    };
    let has_index = files.exists("index.json") && files.exists("oci-layout");
    let has_docker = files.exists("manifest.json");
    match kind {
        Some("docker-archive") if has_docker => DockerArchive::new(files, &path).map(|s| Box::new(s) as _),
        Some("docker-archive") => Err(format!("{}: no manifest.json: not a docker-archive", path.display())),
        _ if has_index => Ok(Box::new(OciLayout::new(files, &path, tag)?)),
        None if has_docker => DockerArchive::new(files, &path).map(|s| Box::new(s) as _),
        _ => Err(format!(
            "{}: neither an OCI layout (index.json, oci-layout) nor a docker-archive (manifest.json)",
            path.display()
        )),
    }
}

fn base_name(path: &Path) -> String {
    let n = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let n: String = n
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if n.is_empty() {
        "image".into()
    } else {
        n
    }
}

pub struct OciLayout {
    files: Files,
    path: PathBuf,
    tag: Option<String>,
    top: Vec<u8>,
    name: Option<String>,
}

impl OciLayout {
    fn new(files: Files, path: &Path, tag: Option<String>) -> Result<OciLayout, String> {
        let index = files.read("index.json", MAX_JSON)?;
        let v: Value = serde_json::from_slice(&index).map_err(|e| format!("index.json: {e}"))?;
        let list = v["manifests"].as_array().cloned().unwrap_or_default();
        let refname = |m: &Value| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .map(str::to_string)
        };
        let chosen: Vec<&Value> = match &tag {
            Some(t) => list
                .iter()
                .filter(|m| refname(m).as_deref() == Some(t))
                .collect(),
            None => list.iter().collect(),
        };
        let top = match (chosen.len(), &tag) {
            (0, Some(t)) => {
                return Err(format!(
                    "{}: no image tagged {t:?} in index.json",
                    path.display()
                ))
            }
            (0, None) => return Err(format!("{}: index.json lists no image", path.display())),
            (1, _) => serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [chosen[0]]}))
                .unwrap_or_default(),
            // Several without a tag: an index of them (a multi-platform layout).
            _ => index.clone(),
        };
        let tagname = tag
            .clone()
            .or_else(|| chosen.first().and_then(|m| refname(m)))
            .unwrap_or_else(|| "latest".into());
        let tagname: String = tagname
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "_.-".contains(*c))
            .collect();
        Ok(OciLayout {
            name: Some(format!(
                "localhost/{}:{}",
                base_name(path),
                if tagname.is_empty() {
                    "latest"
                } else {
                    &tagname
                }
            )),
            files,
            path: path.to_path_buf(),
            tag,
            top,
        })
    }
}

impl Source for OciLayout {
    fn describe(&self) -> String {
        match &self.tag {
            Some(t) => format!("oci:{}:{t}", self.path.display()),
            None => format!("oci:{}", self.path.display()),
        }
    }
    fn default_name(&self) -> Option<String> {
        self.name.clone()
    }
    fn top(&self) -> Result<(Option<Digest>, Vec<u8>), String> {
        // A one-entry index made from index.json: its digest is nobody's.
        Ok((None, self.top.clone()))
    }
    fn manifest(&self, d: &Digest) -> Result<Vec<u8>, String> {
        self.files
            .read(&format!("blobs/sha256/{}", d.hex()), MAX_JSON)
    }
    fn blob(&self, d: &Digest) -> Result<Box<dyn Read + Send>, String> {
        self.files
            .open(&format!("blobs/sha256/{}", d.hex()))
            .map(|(r, _)| r)
    }
}

/// docker save's layout: manifest.json names a config file and one tar per
/// layer. The layers' digests are their diff IDs (plain tar), and the
/// manifest is made here, in OCI form, from manifest.json.
pub struct DockerArchive {
    files: Files,
    path: PathBuf,
    manifest: Vec<u8>,
    /// digest → file in the archive (config and layers).
    by_digest: HashMap<Digest, String>,
    name: Option<String>,
}

impl DockerArchive {
    fn new(files: Files, path: &Path) -> Result<DockerArchive, String> {
        let m = files.read("manifest.json", MAX_JSON)?;
        let v: Value = serde_json::from_slice(&m).map_err(|e| format!("manifest.json: {e}"))?;
        let first = v
            .as_array()
            .and_then(|a| a.first())
            .ok_or("manifest.json: no image in it")?;
        let config_file = first["Config"]
            .as_str()
            .ok_or("manifest.json: no Config")?
            .to_string();
        let config = files.read(&config_file, MAX_JSON)?;
        let config_digest = Digest::of(&config);
        let cv: Value =
            serde_json::from_slice(&config).map_err(|e| format!("{config_file}: {e}"))?;
        let diff_ids = cv["rootfs"]["diff_ids"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let layer_files: Vec<String> = first["Layers"]
            .as_array()
            .ok_or("manifest.json: no Layers")?
            .iter()
            .map(|l| l.as_str().unwrap_or_default().to_string())
            .collect();
        if layer_files.len() != diff_ids.len() {
            return Err(format!(
                "manifest.json: {} layers, but the config lists {} diff IDs",
                layer_files.len(),
                diff_ids.len()
            ));
        }
        let mut by_digest = HashMap::new();
        by_digest.insert(config_digest.clone(), config_file.clone());
        let mut layers = Vec::new();
        for (f, d) in layer_files.iter().zip(&diff_ids) {
            let d = Digest::parse(d.as_str().unwrap_or_default())?;
            let (_, size) = files.open(f)?;
            layers.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d.to_string(), "size": size}));
            by_digest.insert(d, f.clone());
        }
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest.to_string(), "size": config.len()},
            "layers": layers,
        }))
        .unwrap_or_default();
        let name = first["RepoTags"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .and_then(|t| super::reference::Reference::parse(t).ok())
            .map(|r| r.name())
            .or_else(|| Some(format!("localhost/{}:latest", base_name(path))));
        Ok(DockerArchive {
            files,
            path: path.to_path_buf(),
            manifest,
            by_digest,
            name,
        })
    }
}

impl Source for DockerArchive {
    fn describe(&self) -> String {
        format!("docker-archive:{}", self.path.display())
    }
    fn default_name(&self) -> Option<String> {
        self.name.clone()
    }
    fn top(&self) -> Result<(Option<Digest>, Vec<u8>), String> {
        Ok((None, self.manifest.clone()))
    }
    fn manifest(&self, d: &Digest) -> Result<Vec<u8>, String> {
        Err(format!(
            "manifest {d}: a docker-archive has no manifest list"
        ))
    }
    fn blob(&self, d: &Digest) -> Result<Box<dyn Read + Send>, String> {
        let f = self
            .by_digest
            .get(d)
            .ok_or_else(|| format!("blob {d}: not in the archive"))?;
        self.files.open(f).map(|(r, _)| r)
    }
    fn layers_are_diff_ids(&self) -> bool {
        true
    }
}
