use ward_core::container::{self, CreateOptions};
use ward_core::state::Store;

use super::CmdResult;

pub fn run(store: &Store, id: &str, opts: &CreateOptions, detach: bool, keep: bool) -> CmdResult {
    container::run(store, id, opts, detach, keep)
}
