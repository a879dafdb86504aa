//! `linlictl`: the operators' command line. See `linli_coordinator::ctl` and
//! docs/queries.md for commands, formats and exit codes.

use clap::Parser;
use clap::error::ErrorKind;
use linli_coordinator::ctl::{self, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return ExitCode::from(ctl::EXIT_USAGE);
        }
        Err(e) => {
            // One line: clap's first, without its "error: " prefix and usage.
            let text = e.to_string();
            let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("bad arguments");
            eprintln!("linlictl: {}", line.trim_start_matches("error: "));
            return ExitCode::from(ctl::EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("linlictl: starting the async runtime: {e}");
            return ExitCode::from(ctl::EXIT_FAILED);
        }
    };
    match runtime.block_on(ctl::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("linlictl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
