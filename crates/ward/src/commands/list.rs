use ward_core::container;
use ward_core::state::Store;

use super::{state_json, CmdResult};
use crate::cli::ListFormat;

pub fn run(store: &Store, format: ListFormat, quiet: bool) -> CmdResult {
    let all = container::list(store)?;
    if quiet {
        for c in &all {
            match c {
                Ok(st) => println!("{}", st.id),
                Err((id, _)) => println!("{id}"),
            }
        }
        return Ok(0);
    }
    let states: Vec<_> = all.iter().filter_map(|c| c.as_ref().ok()).collect();
    for (id, e) in all.iter().filter_map(|c| c.as_ref().err()) {
        eprintln!("ward: list: {id}: {e}");
    }
    match format {
        ListFormat::Json => {
            let v: Vec<_> = states.iter().map(|s| state_json(s)).collect();
            println!("{}", serde_json::Value::Array(v));
        }
        ListFormat::Table => {
            let rows: Vec<[String; 6]> = states
                .iter()
                .map(|s| {
                    let j = state_json(s);
                    [
                        s.id.clone(),
                        j["pid"].to_string(),
                        s.status.to_string(),
                        s.bundle.display().to_string(),
                        s.created.clone(),
                        s.owner.clone(),
                    ]
                })
                .collect();
            let head = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
            let mut widths = [0usize; 6];
            for r in std::iter::once(&head).chain(rows.iter()) {
                for (w, c) in widths.iter_mut().zip(r) {
                    *w = (*w).max(c.len());
                }
            }
            for r in std::iter::once(&head).chain(rows.iter()) {
                let line: Vec<String> = r
                    .iter()
                    .zip(widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                println!("{}", line.join("   ").trim_end());
            }
        }
    }
    Ok(0)
}
