//! pause, resume and ps: small verbs on the container's cgroup.

use ward_core::state::Store;
use ward_core::{container, Error};

use super::CmdResult;
use crate::cli::ListFormat;

pub fn pause(store: &Store, id: &str) -> CmdResult {
    container::pause(store, id)?;
    Ok(0)
}

pub fn resume(store: &Store, id: &str) -> CmdResult {
    container::resume(store, id)?;
    Ok(0)
}

/// `ps`: the host's ps(1) output cut down to the container's processes
/// (the header and the rows whose PID column is one of them), or the pids
/// as a JSON array.
pub fn ps(store: &Store, id: &str, format: ListFormat, args: &[String]) -> CmdResult {
    let pids = container::pids(store, id)?;
    if format == ListFormat::Json {
        println!("{}", serde_json::to_string(&pids).unwrap_or_default());
        return Ok(0);
    }
    let args: Vec<String> = if args.is_empty() {
        vec!["-ef".into()]
    } else {
        args.to_vec()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| {
            Error::Other(format!(
                "run ps {}: {}",
                args.join(" "),
                ward_core::error::Errno::from(e)
            ))
        })?;
    if !out.status.success() {
        return Err(Error::Other(format!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|c| c == "PID")
        .ok_or_else(|| {
            Error::Other(format!(
                "ps {}: no PID column in its output",
                args.join(" ")
            ))
        })?;
    println!("{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            println!("{line}");
        }
    }
    Ok(0)
}
