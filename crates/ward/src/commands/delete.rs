use ward_core::container;
use ward_core::state::Store;

use super::CmdResult;

pub fn run(store: &Store, id: &str, force: bool) -> CmdResult {
    container::delete(store, id, force)?;
    Ok(0)
}
