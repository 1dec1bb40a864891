//! `state` and `list`: what a container is now, read without a lock.

use crate::error::{Error, Result};
use crate::state::{self, current_status, State, Status, Store};

/// The state of a container, as `ward state` prints it.
pub fn state(store: &Store, id: &str) -> Result<State> {
    crate::id::validate_id(id)?;
    let path = store.container_path(id);
    if !path.is_dir() {
        return Err(Error::NotExist(path));
    }
    match state::read_state(&path.join(state::STATE_FILE))? {
        Some(mut st) => {
            st.status = current_status(&path, &st, false);
            Ok(st)
        }
        // Only a delete killed half-way leaves a directory without a
        // state (create writes one before the directory appears).
        None => {
            let mut st = State::creating(id);
            if !state::locked_by_other(&path) {
                st.status = Status::Stopped;
            }
            Ok(st)
        }
    }
}

/// Every container with its state, for `list`. A container whose state
/// can't be read is listed with the error instead.
pub fn list(store: &Store) -> Result<Vec<std::result::Result<State, (String, Error)>>> {
    Ok(store
        .list()?
        .into_iter()
        .map(|id| state(store, &id).map_err(|e| (id, e)))
        .collect())
}
