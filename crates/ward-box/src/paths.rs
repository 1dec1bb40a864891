//! Where ward box keeps things: the store (images, layers, boxes' upper
//! dirs) on disk, and the runtime state (the runtime's --root, locks) in a
//! tmpfs that a reboot empties. Root: /var/lib/ward and /run/ward-box;
//! without root: $XDG_DATA_HOME/ward (~/.local/share/ward) and
//! $XDG_RUNTIME_DIR/ward-box.

use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct Dirs {
    pub store: PathBuf,
    pub run: PathBuf,
    pub rootless: bool,
    /// `--network-config-dir`: the networks' conflists, instead of
    /// /etc/ward/net.d (or ~/.config/ward/net.d).
    pub net_config: Option<PathBuf>,
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

impl Dirs {
    /// The defaults, with `--root`/`--runroot` (podman's names) overriding.
    pub fn new(store: Option<PathBuf>, run: Option<PathBuf>) -> Result<Dirs, String> {
        let rootless = !is_root();
        let store = match store {
            Some(p) => p,
            None if !rootless => PathBuf::from("/var/lib/ward"),
            None => match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
                Some(d) => PathBuf::from(d).join("ward"),
                None => {
                    let home = std::env::var_os("HOME")
                        .filter(|v| !v.is_empty())
                        .ok_or("neither XDG_DATA_HOME nor HOME is set: use --root DIR")?;
                    PathBuf::from(home).join(".local/share/ward")
                }
            },
        };
        let run = match run {
            Some(p) => p,
            None if !rootless => PathBuf::from("/run/ward-box"),
            None => match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
                Some(d) => PathBuf::from(d).join("ward-box"),
                None => return Err("XDG_RUNTIME_DIR is not set: use --runroot DIR".into()),
            },
        };
        for p in [&store, &run] {
            if !p.is_absolute() {
                return Err(format!("{}: must be an absolute path", p.display()));
            }
        }
        Ok(Dirs {
            store,
            run,
            rootless,
            net_config: None,
        })
    }
}
