use ward_core::container::{self, CreateOptions};
use ward_core::state::Store;

use super::CmdResult;

pub fn run(store: &Store, id: &str, opts: &CreateOptions) -> CmdResult {
    container::create(store, id, opts)?;
    Ok(0)
}
