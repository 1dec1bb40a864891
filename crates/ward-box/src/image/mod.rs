//! Images: where they come from (an OCI layout, an oci-archive or
//! docker-archive tarball, a registry), how a manifest is found among
//! indexes, and the pull that puts an image into the store.

pub mod files;
pub mod local;
pub mod reference;
pub mod registry;

use crate::digest::Digest;
use crate::progress::Progress;
use crate::store::{Added, ImageRecord, LayerSource, Store};
use oci_spec::image::{ImageConfiguration, ImageManifest};
use serde_json::Value;
use std::io::Read;

/// Largest manifest, index or config accepted (Docker's registry caps
/// manifests at 4 MiB; configs of real images are a few KiB).
pub const MAX_JSON: u64 = 8 << 20;

/// A source of one image's manifest and blobs.
pub trait Source: Sync {
    /// For messages: where the image comes from.
    fn describe(&self) -> String;
    /// The name to store the image under when the user gives none.
    fn default_name(&self) -> Option<String>;
    /// The top-level manifest or index: its digest (when the source names
    /// one) and bytes.
    fn top(&self) -> Result<(Option<Digest>, Vec<u8>), String>;
    /// A manifest or index named by a descriptor in an index.
    fn manifest(&self, d: &Digest) -> Result<Vec<u8>, String>;
    /// A blob's stream (compressed as stored).
    fn blob(&self, d: &Digest) -> Result<Box<dyn Read + Send>, String>;
    /// For sources without real blob digests (docker-archive): the layer
    /// is checked by its diff ID alone.
    fn layers_are_diff_ids(&self) -> bool {
        false
    }
}

/// The image a source resolved to.
pub struct Resolved {
    pub manifest_digest: Digest,
    pub manifest_bytes: Vec<u8>,
    pub manifest: ImageManifest,
    pub config_digest: Digest,
    pub config_bytes: Vec<u8>,
    pub config: ImageConfiguration,
}

/// The platform to pick from a manifest list: linux and this machine's
/// architecture, in Go's names.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn is_index(v: &Value) -> bool {
    v.get("manifests").is_some_and(Value::is_array)
}

/// Follows indexes (manifest lists) down to one image manifest, choosing
/// linux/<host arch>. A descriptor that names a manifest already visited
/// (an index pointing at itself, or a loop) is refused, as is nesting
/// deeper than four levels.
pub fn resolve(src: &dyn Source) -> Result<Resolved, String> {
    let (mut digest, mut bytes) = src.top()?;
    let mut seen: Vec<Digest> = Vec::new();
    if let Some(d) = &digest {
        seen.push(d.clone());
    } else {
        seen.push(Digest::of(&bytes));
    }
    for _depth in 0..5 {
        let v: Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("manifest: not JSON: {e}"))?;
        if !is_index(&v) {
            let manifest: ImageManifest =
                serde_json::from_slice(&bytes).map_err(|e| format!("manifest: {e}"))?;
            let manifest_digest = digest.unwrap_or_else(|| Digest::of(&bytes));
            let config_digest = Digest::parse(manifest.config().digest().as_ref())?;
            if config_digest == manifest_digest || seen.contains(&config_digest) {
                return Err(format!(
                    "manifest {manifest_digest}: its config descriptor points at the manifest itself"
                ));
            }
            let want = manifest.config().size();
            if want > MAX_JSON {
                return Err(format!(
                    "config {config_digest}: {want} bytes, more than {MAX_JSON} allowed"
                ));
            }
            let mut config_bytes = Vec::new();
            src.blob(&config_digest)?
                .take(want + 1)
                .read_to_end(&mut config_bytes)
                .map_err(|e| format!("config {config_digest}: {e}"))?;
            if config_bytes.len() as u64 != want || Digest::of(&config_bytes) != config_digest {
                return Err(format!(
                    "config {config_digest}: its content does not match its descriptor (digest or size)"
                ));
            }
            let config: ImageConfiguration = serde_json::from_slice(&config_bytes)
                .map_err(|e| format!("config {config_digest}: {e}"))?;
            if config.rootfs().diff_ids().len() != manifest.layers().len() {
                return Err(format!(
                    "manifest {manifest_digest}: {} layers, but its config lists {} diff IDs",
                    manifest.layers().len(),
                    config.rootfs().diff_ids().len()
                ));
            }
            return Ok(Resolved {
                manifest_digest,
                manifest_bytes: bytes,
                manifest,
                config_digest,
                config_bytes,
                config,
            });
        }
        let arch = host_arch();
        let list = v["manifests"].as_array().cloned().unwrap_or_default();
        let pick = list
            .iter()
            .find(|m| m["platform"]["os"] == "linux" && m["platform"]["architecture"] == arch)
            .or_else(|| (list.len() == 1 && list[0].get("platform").is_none()).then(|| &list[0]))
            .ok_or_else(|| format!("index: no manifest for linux/{arch}"))?;
        let d = Digest::parse(pick["digest"].as_str().unwrap_or_default())?;
        if seen.contains(&d) {
            return Err(format!(
                "index: descriptor {d} points at a manifest already visited (a loop)"
            ));
        }
        let next = src.manifest(&d)?;
        if let Ok(inner) = serde_json::from_slice::<Value>(&next) {
            let points_back = inner["manifests"]
                .as_array()
                .is_some_and(|l| l.iter().any(|m| m["digest"] == d.to_string()))
                || inner["config"]["digest"] == d.to_string();
            if points_back {
                return Err(format!("manifest {d}: it points at itself"));
            }
        }
        if Digest::of(&next) != d {
            return Err(format!(
                "manifest {d}: its content does not match its digest"
            ));
        }
        seen.push(d.clone());
        digest = Some(d);
        bytes = next;
    }
    Err("index: nested more than four levels deep".into())
}

/// Puts the image of `src` into the store: resolves the manifest, fetches
/// and unpacks the missing layers (in parallel), then records the image
/// under `names`. Nothing is recorded unless every layer is in place.
pub fn pull(
    store: &Store,
    src: &dyn Source,
    names: Vec<String>,
    progress: &Progress,
) -> Result<ImageRecord, String> {
    let r = resolve(src)?;
    let layers = r.manifest.layers();
    let diff_ids: Vec<Digest> = r
        .config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| Digest::parse(d))
        .collect::<Result<_, _>>()?;
    let mut blobs = Vec::new();
    for l in layers {
        blobs.push((Digest::parse(l.digest().as_ref())?, l.size()));
    }
    let size: u64 = blobs.iter().map(|b| b.1).sum();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 4);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let bars: Vec<_> = blobs
        .iter()
        .map(|(d, s)| progress.layer(&d.to_string(), *s))
        .collect();
    std::thread::scope(|scope| {
        for _ in 0..workers.min(blobs.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= blobs.len() || failed.lock().map(|f| f.is_some()).unwrap_or(true) {
                    return;
                }
                let (bd, bs) = &blobs[i];
                let bar = &bars[i];
                let open = || src.blob(bd);
                let report = |n: u64| bar.set(n);
                let ls = LayerSource {
                    diff_id: &diff_ids[i],
                    blob: (!src.layers_are_diff_ids()).then_some((bd, *bs)),
                    open: &open,
                    progress: &report,
                };
                match store.add_layer(&ls) {
                    Ok(Added::Present) => bar.done("already in the store"),
                    Ok(Added::Unpacked(w)) => {
                        bar.done("unpacked");
                        if let Some(w) = w {
                            progress.warn(&format!("layer {bd}: {w}"));
                        }
                    }
                    Err(e) => {
                        bar.fail();
                        let mut f = failed.lock().unwrap_or_else(|p| p.into_inner());
                        f.get_or_insert(e.to_string());
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    store
        .put_blob(&r.config_digest, &r.config_bytes)
        .map_err(|e| e.to_string())?;
    store
        .put_blob(&r.manifest_digest, &r.manifest_bytes)
        .map_err(|e| e.to_string())?;
    let names = if names.is_empty() {
        src.default_name().into_iter().collect()
    } else {
        names
    };
    store
        .add_image(ImageRecord {
            id: r.config_digest,
            names,
            manifest: r.manifest_digest,
            layers: diff_ids,
            size,
            created: crate::store::now(),
        })
        .map_err(|e| e.to_string())
}

/// The image config of a stored image.
pub fn config_of(store: &Store, rec: &ImageRecord) -> Result<ImageConfiguration, String> {
    let bytes = store.read_blob(&rec.id).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| format!("config {}: {e}", rec.id))
}
