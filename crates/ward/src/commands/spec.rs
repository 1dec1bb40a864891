use std::path::Path;

use ward_core::{spec_template, Error};

use super::CmdResult;

pub fn run(bundle: &Path, rootless: bool) -> CmdResult {
    spec_template::write_spec(bundle, rootless).map_err(|e| Error::Other(e.to_string()))?;
    Ok(0)
}
