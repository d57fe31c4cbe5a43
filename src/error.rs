//! The few ways a run can fail, and how each one is told to the user.
//!
//! Data problems are not errors: a line pgconn cannot use is counted and
//! reported in the summary. Errors here are about the command line and the
//! operating system: a bad option, a file that cannot be read, output that
//! cannot be written. Every one of them ends the run with exit status 2,
//! except a closed output pipe, which ends it quietly with status 0.

use std::fmt;
use std::io;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug)]
pub enum Error {
    /// A bad command line: unknown flag, bad value, bad `--prefix`.
    Usage(String),
    /// An I/O error with what pgconn was doing and on which path.
    Io { context: String, source: io::Error },
}

impl Error {
    /// A bug: what stopped, said plainly (the panic message is above it).
    pub(crate) fn internal(msg: impl Into<String>) -> Error {
        Error::io("internal error", io::Error::other(msg.into()))
    }

    pub(crate) fn usage(msg: impl Into<String>) -> Error {
        Error::Usage(msg.into())
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }

    /// True when the error is a closed output pipe (`pgconn | head`), which
    /// is a normal way for a pipeline to end, not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => write!(f, "{msg}\ntry 'pgconn --help'"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl From<lexopt::Error> for Error {
    fn from(err: lexopt::Error) -> Error {
        Error::Usage(err.to_string())
    }
}

impl From<io::Error> for Error {
    /// Output errors carry no path: the only unnamed writes go to stdout.
    fn from(err: io::Error) -> Error {
        Error::io("cannot write output", err)
    }
}
