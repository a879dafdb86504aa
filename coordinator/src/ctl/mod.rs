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

pub mod answers;
pub mod args;
mod run;
pub mod table;
pub mod time;

pub use args::Cli;
pub use run::run;

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
