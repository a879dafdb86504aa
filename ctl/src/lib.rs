//! `linlictl`, the operators' command line: aggregate queries and watches, the links'
//! status, records by key or by page, and writes.
//!
//! Exit codes, for scripts:
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | done |
//! | 1 | the server failed (an internal error) |
//! | 2 | a bad argument, refused here or by the server |
//! | 3 | the server could not be reached, or is shutting down |
//! | 4 | not found (a record key) |
//! | 5 | refused by the server: not allowed here, or over a bound |
//!
//! Every failure is one line on stderr: `linlictl: <what went wrong>`.
//!
//! The binary is [`run_args`] over the process's arguments, stdout and stderr; tests
//! that start servers in their own process call it with buffers instead. This crate
//! talks to servers through `linli-proto` and uses `linli-core` only for calendar days:
//! it builds without a node or RocksDB.

pub mod answers;
pub mod args;
pub mod certs;
mod run;
pub mod table;
pub mod time;

pub use args::Cli;
pub use run::run;

use clap::Parser as _;
use clap::error::ErrorKind;
use std::ffi::OsString;
use std::io::Write;

/// What went wrong, and so which exit code.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    #[error("bad argument `{arg}`: {reason}")]
    BadArgument { arg: String, reason: String },

    #[error("cannot reach {addr}: {reason}")]
    Unreachable { addr: String, reason: String },

    #[error("{addr}: {message}")]
    Server { addr: String, code: tonic::Code, message: String },

    #[error("{what} not found")]
    NotFound { what: String },

    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
}

pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_UNREACHABLE: u8 = 3;
pub const EXIT_NOT_FOUND: u8 = 4;
pub const EXIT_REFUSED: u8 = 5;

impl CtlError {
    pub fn exit_code(&self) -> u8 {
        use tonic::Code;
        match self {
            CtlError::BadArgument { .. } => EXIT_USAGE,
            CtlError::Unreachable { .. } => EXIT_UNREACHABLE,
            CtlError::NotFound { .. } => EXIT_NOT_FOUND,
            CtlError::Output(_) => EXIT_FAILED,
            CtlError::Server { code, .. } => match code {
                Code::InvalidArgument | Code::OutOfRange => EXIT_USAGE,
                Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => EXIT_UNREACHABLE,
                Code::NotFound => EXIT_NOT_FOUND,
                Code::PermissionDenied | Code::FailedPrecondition | Code::ResourceExhausted | Code::AlreadyExists => {
                    EXIT_REFUSED
                }
                _ => EXIT_FAILED,
            },
        }
    }

    pub fn server(addr: &str, status: tonic::Status) -> Self {
        // A transport failure surfaces as UNAVAILABLE with the cause in the message.
        let message = status.message().lines().next().unwrap_or_default().to_string();
        match status.code() {
            tonic::Code::Unavailable => CtlError::Unreachable { addr: addr.into(), reason: message },
            code => CtlError::Server { addr: addr.into(), code, message },
        }
    }
}

/// Runs linlictl with `args` (the program's name first, as `std::env::args_os`),
/// writing answers to `out` and the one line of a failure to `err`; returns the exit
/// code.
pub fn run_args<I, A>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = A>,
    A: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = write!(out, "{}", e.render());
            return 0;
        }
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = write!(err, "{}", e.render());
            return EXIT_USAGE;
        }
        Err(e) => {
            // One line: clap's first, without its "error: " prefix and usage.
            let text = e.to_string();
            let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("bad arguments");
            let _ = writeln!(err, "linlictl: {}", line.trim_start_matches("error: "));
            return EXIT_USAGE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = writeln!(err, "linlictl: starting the async runtime: {e}");
            return EXIT_FAILED;
        }
    };
    match runtime.block_on(run(cli, out)) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "linlictl: {e}");
            e.exit_code()
        }
    }
}
