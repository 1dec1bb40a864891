//! ward: a container runtime with runc's command line. This binary turns
//! flags into calls on ward-core and errors into one line on stderr:
//! `ward: <command> <id>: <what failed>: <why>`.

mod commands;
mod front;
mod log;

use ward::cli;

fn main() {
    // `ward box ...`, `ward image ...`: exec the front-end that serves them.
    front::dispatch();
    let cli = cli::Cli::parse();
    let logger = match log::Logger::new(cli.log.as_deref(), cli.log_format, cli.debug) {
        Ok(l) => l.install(),
        Err(e) => {
            eprintln!("ward: {e}");
            std::process::exit(1);
        }
    };
    let (what, res) = commands::dispatch(&cli, logger);
    match res {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let line = format!("{what}: {e}");
            logger.error(&line);
            eprintln!("ward: {line}");
            std::process::exit(commands::failure_code(&cli.command));
        }
    }
}
