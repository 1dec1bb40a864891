//! ward's argv, as `main` parses it: the input split on NUL bytes into
//! arguments after "ward", through ward's own argv parser (every command and
//! flag), then the container ID check the commands start with.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use libfuzzer_sys::fuzz_target;
use ward::cli::{Cli, Command};

fuzz_target!(|data: &[u8]| {
    let args = std::iter::once(OsString::from("ward")).chain(
        data.split(|&b| b == 0)
            .map(|a| OsString::from_vec(a.to_vec())),
    );
    match Cli::try_parse_from(args) {
        // What main prints (--help, --version and usage errors alike).
        Err(e) => {
            let _ = (e.to_string(), e.exit_code(), e.kind());
        }
        Ok(cli) => {
            let _ = cli.state_root();
            let id = match &cli.command {
                Command::Create(a) => Some(&a.id),
                Command::Run { create, .. } => Some(&create.id),
                Command::Start { id }
                | Command::State { id }
                | Command::Kill { id, .. }
                | Command::Delete { id, .. }
                | Command::Pause { id }
                | Command::Resume { id }
                | Command::Ps { id, .. }
                | Command::Events { id, .. } => Some(id),
                Command::Update(a) => Some(&a.id),
                Command::Exec(a) => Some(&a.id),
                Command::List { .. } | Command::Spec { .. } | Command::Features => None,
            };
            if let Some(id) = id {
                let _ = ward_core::id::validate_id(id);
            }
        }
    }
});
