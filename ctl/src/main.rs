//! `linlictl`: the operators' command line. See the `linli_ctl` crate and
//! docs/queries.md for commands, formats and exit codes.

use std::process::ExitCode;

fn main() -> ExitCode {
    let code = linli_ctl::run_args(std::env::args_os(), &mut std::io::stdout().lock(), &mut std::io::stderr().lock());
    ExitCode::from(code)
}
