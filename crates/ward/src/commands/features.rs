use super::CmdResult;

pub fn run() -> CmdResult {
    let v = ward_core::features::features();
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(0)
}
