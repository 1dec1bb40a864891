//! `ps`: the container's processes, as pids or as the host's ps(1) output
//! cut down to them.

use super::Container;
use crate::error::{Error, Result};
use crate::state::{Status, Store};

/// The host pids of every process in the container: none once it has
/// stopped (runc lists none then too, with success).
pub fn pids(store: &Store, id: &str) -> Result<Vec<i32>> {
    let c = Container::open_shared(store, id)?;
    if c.state.status == Status::Stopped {
        return Ok(Vec::new());
    }
    c.require(
        "list processes of",
        &[Status::Created, Status::Running, Status::Paused],
    )?;
    Ok(c.cgroup("list processes of")?.pids()?)
}

/// The lines of `ps ARGS` (`-ef` without args) that describe the
/// container's processes, after ps's header: the rows whose PID column is
/// one of them.
pub fn ps(store: &Store, id: &str, args: &[String]) -> Result<Vec<String>> {
    let pids = pids(store, id)?;
    let args: Vec<String> = if args.is_empty() {
        vec!["-ef".into()]
    } else {
        args.to_vec()
    };
    let what = format!("ps {}", args.join(" "));
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| Error::sys(format!("run {what}"), e))?;
    if !out.status.success() {
        return Err(Error::invalid(
            what,
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|c| c == "PID")
        .ok_or_else(|| Error::invalid(what.clone(), "no PID column in its output"))?;
    let mut rows = vec![header.to_string()];
    rows.extend(
        lines
            .filter(|line| {
                line.split_whitespace()
                    .nth(col)
                    .and_then(|p| p.parse::<i32>().ok())
                    .is_some_and(|p| pids.contains(&p))
            })
            .map(str::to_string),
    );
    Ok(rows)
}
