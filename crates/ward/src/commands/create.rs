use ward_core::container;
use ward_core::state::Store;

use super::{create_options, CmdResult};
use crate::cli::CreateArgs;

pub fn run(store: &Store, a: &CreateArgs) -> CmdResult {
    container::create(store, &a.id, &create_options(a))?;
    Ok(0)
}
