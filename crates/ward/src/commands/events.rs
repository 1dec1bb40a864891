//! events: resource figures as runc prints them (one JSON object a line),
//! once with --stats, or every --interval with OOM kills reported as they
//! happen, until the container stops.

use std::io::Write;
use std::time::Duration;

use ward_core::state::Store;
use ward_core::{container, Error};

use super::CmdResult;

pub fn run(store: &Store, id: &str, once: bool, interval: &str) -> CmdResult {
    let every = parse_duration(interval)?;
    let line = |ev: &container::Event| {
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer(&mut out, ev);
        let _ = out.write_all(b"\n");
        let _ = out.flush();
    };
    if once {
        let data = container::stats(store, id)?;
        line(&container::Event {
            kind: "stats",
            id,
            data: Some(data),
        });
        return Ok(0);
    }
    container::events(store, id, every, &mut |ev| line(ev))?;
    Ok(0)
}

/// Go-style durations as runc takes them: "5s", "500ms", "1m30s", "1.5s".
fn parse_duration(s: &str) -> Result<Duration, Error> {
    let bad = || {
        Error::invalid(
            format!("--interval {s:?}"),
            "want a duration such as 5s or 500ms",
        )
    };
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * mult;
        rest = &rest[unit_len..];
    }
    if total <= 0.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        for bad in ["", "5", "s", "-1s", "0s", "5x"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
