//! Pull and unpack progress: a bar per layer on a terminal, plain lines
//! (one per finished layer) when stderr is not one, nothing with --quiet.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

pub enum Progress {
    Bars(MultiProgress),
    Lines(String),
    Quiet,
}

pub struct LayerBar {
    bar: Option<ProgressBar>,
    line: Option<(String, String)>,
    size: u64,
    seen: std::sync::atomic::AtomicU64,
}

impl Progress {
    /// `what` prefixes the plain lines (`ward: image pull NAME`).
    pub fn new(quiet: bool, what: &str) -> Progress {
        if quiet {
            Progress::Quiet
        } else if std::io::stderr().is_terminal() {
            Progress::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
        } else {
            Progress::Lines(what.to_string())
        }
    }

    pub fn layer(&self, digest: &str, size: u64) -> LayerBar {
        let short = digest.strip_prefix("sha256:").unwrap_or(digest);
        let short = &short[..short.len().min(12)];
        match self {
            Progress::Bars(m) => {
                let bar = m.add(ProgressBar::new(size));
                bar.set_style(
                    ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                bar.set_prefix(short.to_string());
                LayerBar {
                    bar: Some(bar),
                    line: None,
                    size,
                    seen: 0.into(),
                }
            }
            Progress::Lines(what) => LayerBar {
                bar: None,
                line: Some((what.clone(), short.to_string())),
                size,
                seen: 0.into(),
            },
            Progress::Quiet => LayerBar {
                bar: None,
                line: None,
                size,
                seen: 0.into(),
            },
        }
    }

    pub fn warn(&self, msg: &str) {
        match self {
            Progress::Bars(m) => {
                let _ = m.println(format!("warning: {msg}"));
            }
            Progress::Lines(what) => eprintln!("{what}: warning: {msg}"),
            Progress::Quiet => eprintln!("warning: {msg}"),
        }
    }
}

impl LayerBar {
    pub fn set(&self, n: u64) {
        self.seen.store(n, std::sync::atomic::Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.set_position(n);
        }
    }

    pub fn done(&self, msg: &str) {
        if let Some(b) = &self.bar {
            b.set_position(self.size);
            b.finish_with_message(msg.to_string());
        }
        if let Some((what, short)) = &self.line {
            let seen = self.seen.load(std::sync::atomic::Ordering::Relaxed);
            if seen > 0 {
                eprintln!("{what}: layer {short}: {msg} ({})", human(seen));
            } else {
                eprintln!("{what}: layer {short}: {msg}");
            }
        }
    }

    pub fn fail(&self) {
        if let Some(b) = &self.bar {
            b.abandon_with_message("failed");
        }
    }
}

pub fn human(n: u64) -> String {
    let (v, u) = if n >= 1 << 30 {
        (n as f64 / (1u64 << 30) as f64, "GiB")
    } else if n >= 1 << 20 {
        (n as f64 / (1u64 << 20) as f64, "MiB")
    } else if n >= 1 << 10 {
        (n as f64 / 1024.0, "KiB")
    } else {
        return format!("{n} B");
    };
    format!("{v:.1} {u}")
}
