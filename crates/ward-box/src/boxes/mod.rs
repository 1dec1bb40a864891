//! Boxes: their records on disk, names, locks and status.
//!
//! ```text
//! STORE/boxes/<id>/box.json    the record, written once at create
//! STORE/boxes/<id>/lock        flock held by whoever is in charge of the box
//!                              (the CLI while it creates or runs it in the
//!                              foreground, its supervisor while it runs detached)
//! STORE/boxes/<id>/exit.json   the last exit code (written by that process)
//! STORE/boxes/<id>/log         stdout and stderr of a detached box
//! STORE/boxes/<id>/bundle/     the runtime's config.json
//! STORE/boxes/<id>/{upper,work,merged}/   an image box's overlay
//! STORE/boxes/<id>/root/       a host-view or directory box's root
//! STORE/names/<name>           symlink → <id>: names are unique by creation
//! RUN/boxes/<id>/, RUN/names/  the same for one-off host-view boxes, which
//!                              have nothing to keep: a tmpfs on a standard
//!                              host, so they cost no disk writes
//! RUN/runtime/                 the ward runtime's --root
//! ```
//!
//! A box directory exists from the first step of `run` and holds its record
//! before anything else is made, so a `ward box run` killed at any point
//! leaves a box that `ls` lists and `rm` removes whole.

pub mod lifecycle;
pub mod netverbs;
pub mod rootfs;
pub mod runtime;
pub mod spec;
pub mod supervisor;
pub mod userns;

use crate::net::{NetMode, NetOptions};
use crate::paths::Dirs;
use crate::store::{lock_file, write_file, Lock};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// What a box's root file system is.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Root {
    /// A read-only view of the host's own OS.
    Host,
    /// A directory given with --rootfs.
    Dir { path: PathBuf },
    /// An image from the store, with an overlay upper dir of the box's own.
    Image {
        name: String,
        id: crate::digest::Digest,
        layers: Vec<crate::digest::Digest>,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BoxRecord {
    pub id: String,
    pub name: String,
    pub root: Root,
    pub command: Vec<String>,
    pub created: u64,
    pub net: NetMode,
    /// Ports, names, DNS and rates (records of earlier versions: none).
    #[serde(default)]
    pub netopts: NetOptions,
    pub auto_remove: bool,
    pub detach: bool,
    pub stop_signal: String,
    pub rootless: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, Default)]
pub struct ExitRecord {
    pub code: i32,
    pub finished: u64,
}

impl BoxRecord {
    /// A one-off host-view box (removed when it exits, never detached):
    /// nothing of it outlives its run, so it lives under RUN, not STORE.
    pub fn ephemeral(&self) -> bool {
        self.root == Root::Host && self.auto_remove && !self.detach
    }
}

/// Where boxes live.
#[derive(Clone, Debug)]
pub struct Boxes {
    pub dirs: Dirs,
    pub base: PathBuf,
    pub names: PathBuf,
    /// RUN/boxes and RUN/names: one-off host-view boxes.
    pub run_base: PathBuf,
    pub run_names: PathBuf,
}

pub fn validate_name(name: &str) -> Result<(), String> {
    validate_name_of("name", name, 128)
}

/// A name users give (a box's, a network's): 1 to `max` letters, digits,
/// `_ . -`, starting with a letter or digit; `what` names it in the error.
pub fn validate_name_of(what: &str, name: &str, max: usize) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} {name:?}: 1 to {max} letters, digits, _ . - starting with a letter or digit"
        ))
    }
}

/// A box ID: 64 lowercase hex digits, so it is safe as a path and as the
/// runtime's container ID.
pub fn valid_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub fn new_id() -> String {
    let mut b = [0u8; 32];
    let _ = rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty());
    crate::digest::to_hex(&b)
}

/// A name like docker's: an adjective and a noun, and a number on a clash.
pub fn generate_name(id: &str) -> String {
    const ADJ: &[&str] = &[
        "brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry",
        "nimble", "proud", "quiet", "rapid", "sharp", "tidy", "vivid", "witty", "young", "zesty",
    ];
    const NOUN: &[&str] = &[
        "otter", "heron", "lynx", "finch", "badger", "marten", "ibex", "crane", "gecko", "koala",
        "lemur", "moose", "newt", "orca", "puffin", "raven", "stoat", "tapir", "vole", "wren",
    ];
    let b = u64::from_str_radix(&id[..12], 16).unwrap_or(0);
    format!(
        "{}_{}",
        ADJ[(b % ADJ.len() as u64) as usize],
        NOUN[((b >> 20) % NOUN.len() as u64) as usize]
    )
}

impl Boxes {
    pub fn new(dirs: &Dirs) -> io::Result<Boxes> {
        let base = dirs.store.join("boxes");
        let names = dirs.store.join("names");
        let run_base = dirs.run.join("boxes");
        let run_names = dirs.run.join("names");
        for d in [
            &base,
            &names,
            &run_base,
            &run_names,
            &dirs.run.join("runtime"),
        ] {
            if !d.is_dir() {
                fs::create_dir_all(d)?;
            }
        }
        Ok(Boxes {
            dirs: dirs.clone(),
            base,
            names,
            run_base,
            run_names,
        })
    }

    /// The box's directory: under RUN for a one-off box, else STORE.
    pub fn dir(&self, id: &str) -> PathBuf {
        debug_assert!(valid_id(id));
        let run = self.run_base.join(id);
        if run.symlink_metadata().is_ok() {
            run
        } else {
            self.base.join(id)
        }
    }

    /// Whether a box has the name.
    pub fn name_taken(&self, name: &str) -> bool {
        self.names.join(name).symlink_metadata().is_ok()
            || self.run_names.join(name).symlink_metadata().is_ok()
    }

    pub fn runtime_root(&self) -> PathBuf {
        self.dirs.run.join("runtime")
    }

    /// Makes the box's directory and record and takes its lock, then claims
    /// the name. On a name clash nothing is left.
    pub fn create(&self, rec: &BoxRecord) -> Result<Lock, String> {
        let (base, names, other_names) = if rec.ephemeral() {
            (&self.run_base, &self.run_names, &self.names)
        } else {
            (&self.base, &self.names, &self.run_names)
        };
        let dir = base.join(&rec.id);
        fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let lock = match lock_file(&dir.join("lock"), true) {
            Ok(Some(l)) => l,
            Ok(None) => unreachable!("a waiting lock is always taken"),
            Err(e) => {
                crate::store::remove_all(&dir);
                return Err(format!("lock {}: {e}", dir.display()));
            }
        };
        let data = serde_json::to_vec_pretty(rec).expect("records serialize");
        if let Err(e) = write_file(&dir, &dir.join("box.json"), &data, false) {
            crate::store::remove_all(&dir);
            return Err(e.to_string());
        }
        let link = names.join(&rec.name);
        let clash = |link: &Path| {
            let other = fs::read_link(link)
                .map(|p| p.to_string_lossy().chars().take(12).collect::<String>())
                .unwrap_or_default();
            format!("the name {:?} is already in use by box {other}", rec.name)
        };
        if let Err(e) = std::os::unix::fs::symlink(&rec.id, &link) {
            crate::store::remove_all(&dir);
            return Err(if e.kind() == io::ErrorKind::AlreadyExists {
                clash(&link)
            } else {
                format!("claim the name {}: {e}", link.display())
            });
        }
        // Names are unique across both places: claim here, then look
        // there (a creator there does the same, so of two at once at
        // least one sees the other).
        let there = other_names.join(&rec.name);
        if there.symlink_metadata().is_ok() {
            let _ = fs::remove_file(&link);
            crate::store::remove_all(&dir);
            return Err(clash(&there));
        }
        Ok(lock)
    }

    /// Every box's ID.
    pub fn ids(&self) -> Vec<String> {
        let mut v: Vec<String> = [&self.base, &self.run_base]
            .iter()
            .flat_map(|b| {
                fs::read_dir(b)
                    .map(|rd| {
                        rd.flatten()
                            .filter_map(|e| e.file_name().to_str().map(str::to_string))
                            .filter(|n| valid_id(n))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }

    pub fn record(&self, id: &str) -> Result<BoxRecord, String> {
        let p = self.dir(id).join("box.json");
        let data = fs::read(&p).map_err(|e| format!("read {}: {e}", p.display()))?;
        serde_json::from_slice(&data).map_err(|e| format!("{}: {e}", p.display()))
    }

    /// A box by name, ID or ID prefix (at least 4 digits).
    pub fn find(&self, what: &str) -> Result<String, String> {
        if validate_name(what).is_ok() {
            for names in [&self.names, &self.run_names] {
                if let Ok(target) = fs::read_link(names.join(what)) {
                    let id = target.to_string_lossy().into_owned();
                    if valid_id(&id) && self.dir(&id).is_dir() {
                        return Ok(id);
                    }
                }
            }
        }
        if what.len() >= 4 && what.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            let m: Vec<String> = self
                .ids()
                .into_iter()
                .filter(|i| i.starts_with(what))
                .collect();
            match m.len() {
                1 => return Ok(m[0].clone()),
                0 => {}
                _ => return Err(format!("{what}: more than one box has an ID starting so")),
            }
        }
        Err(format!("{what}: no such box"))
    }

    /// The lock, if nobody holds it (None: the box is in someone's charge).
    pub fn try_lock(&self, id: &str) -> Option<Lock> {
        lock_file(&self.dir(id).join("lock"), false).ok().flatten()
    }

    pub fn exit(&self, id: &str) -> Option<ExitRecord> {
        let data = fs::read(self.dir(id).join("exit.json")).ok()?;
        serde_json::from_slice(&data).ok()
    }

    pub fn set_exit(&self, id: &str, code: i32) {
        let dir = self.dir(id);
        let rec = ExitRecord {
            code,
            finished: crate::store::now(),
        };
        let _ = write_file(
            &dir,
            &dir.join("exit.json"),
            &serde_json::to_vec(&rec).unwrap_or_default(),
            false,
        );
    }

    /// Removes the name link if it still points at `id`.
    pub fn release_name(&self, name: &str, id: &str) {
        for names in [&self.names, &self.run_names] {
            let link = names.join(name);
            if fs::read_link(&link).is_ok_and(|t| t == Path::new(id)) {
                let _ = fs::remove_file(&link);
            }
        }
    }
}
