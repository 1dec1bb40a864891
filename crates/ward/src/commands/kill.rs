use ward_core::state::Store;
use ward_core::{container, signal, Error};

use super::CmdResult;

pub fn run(store: &Store, id: &str, sig: &str, all: bool) -> CmdResult {
    let sig = signal::parse_signal(sig).map_err(|e| Error::Other(e.to_string()))?;
    container::kill(store, id, sig, all)?;
    Ok(0)
}
