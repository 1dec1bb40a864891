//! Migration progress on stderr: one line rewritten in place on a
//! terminal, a line per phase otherwise (a log, a test).

use std::io::{IsTerminal, Write};
use std::time::Instant;

pub struct Progress {
    id: String,
    quiet: bool,
    tty: bool,
    phase: String,
    start: Instant,
    last: Instant,
}

pub fn human(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)
    } else if b >= 1 << 20 {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    } else if b >= 1 << 10 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

impl Progress {
    pub fn new(id: &str, quiet: bool) -> Progress {
        Progress {
            id: id.into(),
            quiet,
            tty: std::io::stderr().is_terminal(),
            phase: String::new(),
            start: Instant::now(),
            last: Instant::now(),
        }
    }

    pub fn phase(&mut self, p: &str) {
        self.phase = p.into();
        if self.quiet {
            return;
        }
        let t = self.start.elapsed().as_secs_f64();
        if self.tty {
            eprint!("\r\x1b[Kmigrate {}: {p} ({t:.1} s)", self.id);
            let _ = std::io::stderr().flush();
        } else {
            eprintln!("migrate {}: {p} ({t:.1} s)", self.id);
        }
    }

    pub fn bytes(&mut self, sent: u64) {
        if self.quiet || !self.tty || self.last.elapsed().as_millis() < 200 {
            return;
        }
        self.last = Instant::now();
        let t = self.start.elapsed().as_secs_f64();
        let rate = sent as f64 / t.max(0.001);
        eprint!(
            "\r\x1b[Kmigrate {}: {}: {} sent, {}/s ({t:.1} s)",
            self.id,
            self.phase,
            human(sent),
            human(rate as u64)
        );
        let _ = std::io::stderr().flush();
    }

    pub fn done(&mut self, r: &crate::migrate::Record) {
        if self.quiet {
            return;
        }
        if self.tty {
            eprint!("\r\x1b[K");
        }
        eprintln!(
            "migrate {}: runs on {}: {} sent in {} pre-copy round(s) and a final dump of {}; downtime {:.2} s (restore {:.2} s), total {:.2} s",
            self.id,
            r.destination,
            human(r.bytes_sent),
            r.pre_copy_rounds.len(),
            human(r.final_dump_bytes),
            r.downtime_ms as f64 / 1000.0,
            r.restore_ms as f64 / 1000.0,
            r.total_ms as f64 / 1000.0
        );
    }
}
