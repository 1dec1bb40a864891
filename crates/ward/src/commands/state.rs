use ward_core::container;
use ward_core::state::Store;

use super::{state_json, CmdResult};

pub fn run(store: &Store, id: &str) -> CmdResult {
    let st = container::state(store, id)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&state_json(&st)).unwrap_or_default()
    );
    Ok(0)
}
