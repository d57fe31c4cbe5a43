//! pgconn: who is connected to PostgreSQL, from the server log.
//!
//! main parses the arguments, hands them to `app::run`, and maps the
//! outcome to an exit status: 0 events found, 1 none, 2 error. A closed
//! output pipe (`pgconn | head`) is not an error: it exits 0 quietly.

use pgconn::{app, args, completions, config, error};

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let parsed = match args::parse(std::env::args_os().skip(1)) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let outcome = match parsed {
        args::Parsed::Help => special(&args::help()),
        args::Parsed::Version => special(&format!("pgconn {}\n", env!("CARGO_PKG_VERSION"))),
        args::Parsed::Completions(shell) => special(&completions::script(shell)),
        args::Parsed::Run(a) => config::Config::new(*a).and_then(|c| app::run(&c)),
    };
    match outcome {
        Ok(app::Outcome::Found) => ExitCode::SUCCESS,
        Ok(app::Outcome::NothingFound) => ExitCode::from(1),
        Ok(app::Outcome::Failed) => ExitCode::from(2),
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn special(text: &str) -> error::Result<app::Outcome> {
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(app::Outcome::Found)
}

fn fail(e: &error::Error) -> ExitCode {
    // stderr may be closed too; there is nobody left to tell.
    let _ = writeln!(std::io::stderr(), "pgconn: {e}");
    ExitCode::from(2)
}
