//! Reading named files from an image source on disk: a directory (an OCI
//! layout) or a tar archive (oci-archive, docker-archive), the latter
//! indexed once and then read in place by offset, never extracted.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

pub enum Files {
    Dir(PathBuf),
    Archive {
        path: PathBuf,
        /// Cleaned entry name → (offset, size) of its data, or a link.
        entries: HashMap<String, Entry>,
    },
}

#[derive(Clone, Debug)]
pub enum Entry {
    Data(u64, u64),
    Link(String),
}

fn clean(name: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

impl Files {
    pub fn archive(path: &Path) -> Result<Files, String> {
        let f = File::open(path).map_err(|e| format!("open {}: {e}", path.display()))?;
        let mut ar = tar::Archive::new(f);
        let mut entries = HashMap::new();
        let it = ar
            .entries()
            .map_err(|e| format!("read {}: {e}", path.display()))?;
        for e in it {
            let e = e.map_err(|e| format!("read {}: {e}", path.display()))?;
            let name = clean(&String::from_utf8_lossy(&e.path_bytes()));
            let kind = e.header().entry_type();
            let entry = match kind {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    Entry::Data(e.raw_file_position(), e.size())
                }
                tar::EntryType::Symlink => {
                    let target = e
                        .link_name_bytes()
                        .map(|l| String::from_utf8_lossy(&l).into_owned());
                    let dir = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                    match target {
                        Some(t) if t.starts_with('/') => Entry::Link(clean(&t)),
                        Some(t) => Entry::Link(clean(&format!("{dir}/{t}"))),
                        None => continue,
                    }
                }
                tar::EntryType::Link => match e.link_name_bytes() {
                    Some(t) => Entry::Link(clean(&String::from_utf8_lossy(&t))),
                    None => continue,
                },
                _ => continue,
            };
            entries.insert(name, entry);
        }
        Ok(Files::Archive {
            path: path.to_path_buf(),
            entries,
        })
    }

    pub fn exists(&self, name: &str) -> bool {
        match self {
            Files::Dir(d) => d.join(name).exists(),
            Files::Archive { entries, .. } => entries.contains_key(&clean(name)),
        }
    }

    /// Opens `name` for reading, with its size.
    pub fn open(&self, name: &str) -> Result<(Box<dyn Read + Send>, u64), String> {
        match self {
            Files::Dir(d) => {
                let p = d.join(name);
                let f = File::open(&p).map_err(|e| format!("open {}: {e}", p.display()))?;
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                Ok((Box::new(f), len))
            }
            Files::Archive { path, entries } => {
                let mut n = clean(name);
                for _ in 0..8 {
                    match entries.get(&n) {
                        Some(Entry::Data(off, size)) => {
                            let mut f = File::open(path)
                                .map_err(|e| format!("open {}: {e}", path.display()))?;
                            f.seek(SeekFrom::Start(*off))
                                .map_err(|e| format!("seek {}: {e}", path.display()))?;
                            return Ok((Box::new(f.take(*size)), *size));
                        }
                        Some(Entry::Link(t)) => n = t.clone(),
                        None => break,
                    }
                }
                Err(format!(
                    "{}: no file {name:?} in the archive",
                    path.display()
                ))
            }
        }
    }

    /// Reads a small file whole (at most `max` bytes).
    pub fn read(&self, name: &str, max: u64) -> Result<Vec<u8>, String> {
        let (r, len) = self.open(name)?;
        if len > max {
            return Err(format!("{name}: {len} bytes, more than the {max} allowed"));
        }
        let mut v = Vec::new();
        r.take(max)
            .read_to_end(&mut v)
            .map_err(|e| format!("read {name}: {e}"))?;
        Ok(v)
    }
}
