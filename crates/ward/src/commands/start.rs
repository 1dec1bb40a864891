use ward_core::container;
use ward_core::state::Store;

use super::CmdResult;

pub fn run(store: &Store, id: &str) -> CmdResult {
    container::start(store, id)?;
    Ok(0)
}
