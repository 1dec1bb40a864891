//! --log and --log-format: one line per message, text (logrus-like) or JSON
//! with exactly the keys `level`, `msg` and `time` that engines read.

use std::cell::RefCell;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::cli::LogFormat;

thread_local! {
    static CURRENT: std::cell::Cell<Option<&'static Logger>> = const { std::cell::Cell::new(None) };
}

pub struct Logger {
    file: Option<RefCell<File>>,
    format: LogFormat,
    debug: bool,
}

impl Logger {
    pub fn new(path: Option<&Path>, format: LogFormat, debug: bool) -> Result<Self, String> {
        let file = match path {
            Some(p) => Some(RefCell::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| {
                        format!(
                            "open log {}: {}",
                            p.display(),
                            ward_core::error::Errno::from(e)
                        )
                    })?,
            )),
            None => None,
        };
        Ok(Logger {
            file,
            format,
            debug,
        })
    }

    fn line(&self, level: &str, msg: &str) -> String {
        let time = ward_core::state::now_rfc3339();
        match self.format {
            LogFormat::Json => {
                serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
            }
            LogFormat::Text => format!("time={time:?} level={level} msg={msg:?}"),
        }
    }

    fn write(&self, level: &str, msg: &str) {
        if let Some(f) = &self.file {
            let mut line = self.line(level, msg);
            line.push('\n');
            let _ = f.borrow_mut().write_all(line.as_bytes());
        }
    }

    pub fn error(&self, msg: &str) {
        self.write("error", msg);
    }

    pub fn warn(&self, msg: &str) {
        self.write("warning", msg);
    }

    /// Makes this the logger of ward-core's warnings (which also go to
    /// stderr); ward is single-threaded, so a thread-local holds it.
    pub fn install(self) -> &'static Logger {
        let leaked: &'static Logger = Box::leak(Box::new(self));
        CURRENT.with(|c| c.set(Some(leaked)));
        ward_core::set_warn_sink(|msg| {
            eprintln!("ward: warning: {msg}");
            CURRENT.with(|c| {
                if let Some(l) = c.get() {
                    l.warn(msg);
                }
            });
        });
        // A panic (a bug of ward's; release builds abort) goes to the log
        // too: engines show the --log file, not ward's stderr, when a
        // runtime call fails.
        std::panic::set_hook(Box::new(|info| {
            let msg = format!("internal error: {info}");
            eprintln!("ward: {msg}");
            CURRENT.with(|c| {
                if let Some(l) = c.get() {
                    l.error(&msg);
                }
            });
        }));
        ward_core::set_note_sink(|msg| {
            CURRENT.with(|c| {
                if let Some(l) = c.get() {
                    l.info(msg);
                }
            });
        });
        leaked
    }

    /// A note (ward_core::note): in the --log file, and on stderr with --debug.
    pub fn info(&self, msg: &str) {
        self.write("info", msg);
        if self.debug && self.file.is_none() {
            eprintln!("{}", self.line("info", msg));
        }
    }

    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.write("debug", msg);
            if self.file.is_none() {
                eprintln!("{}", self.line("debug", msg));
            }
        }
    }
}
