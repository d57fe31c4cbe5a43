//! Arguments plus environment -> everything one run needs, decided once.
//!
//! This is where "auto" choices are made (color: stdout is a terminal,
//! NO_COLOR unset or empty, TERM not dumb) and where `--prefix` is
//! compiled, so a bad value is a usage error before any input is read.

use std::io::IsTerminal;
use std::path::PathBuf;

use crate::args::{Args, ColorChoice, Dimension, FormatChoice, TimeArg};
use crate::error::Result;
use crate::filter::Filter;
use crate::parse::Format;
use crate::prefix::Prefix;

/// One input, in command-line order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    pub(crate) fn name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_string(),
            Input::File(p) => p.display().to_string(),
        }
    }
}

/// What pgconn prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Mode {
    #[default]
    Summary,
    Watch,
    History,
    Sessions,
    Failures,
}

pub struct Config {
    pub(crate) mode: Mode,
    /// History bucket width (also the grain of honest concurrency).
    pub(crate) bucket: std::time::Duration,
    /// Flag a host with this many failures within this window.
    pub(crate) brute_force: (u64, std::time::Duration),
    pub(crate) since: Option<TimeArg>,
    pub(crate) until: Option<TimeArg>,
    pub(crate) inputs: Vec<Input>,
    pub(crate) prefix: Option<Prefix>,
    /// `--format`; None detects each input's format.
    pub(crate) format: Option<Format>,
    pub(crate) json: bool,
    /// `--openmetrics`: the summary as an OpenMetrics exposition.
    pub(crate) openmetrics: bool,
    /// Standard input is read and is a terminal.
    pub(crate) stdin_tty: bool,
    /// `--output`: each report replaces this file (written whole, then
    /// renamed over it) instead of going to standard output.
    pub(crate) output: Option<PathBuf>,
    /// Redraw the summary in place on the terminal while input is open.
    pub(crate) dashboard: bool,
    /// How often to report while reading: the dashboard's redraw, or
    /// `--every` reports off a terminal.
    pub(crate) every: Option<std::time::Duration>,
    pub(crate) filter: Filter,
    pub(crate) top: usize,
    pub(crate) by: Vec<Dimension>,
    pub(crate) color: bool,
    /// Room for the wide table's columns: off a terminal, or 120 columns.
    pub(crate) wide: bool,
    /// 1: parsing and tracking on the main thread; 2: each on its own.
    pub(crate) threads: usize,
    /// `--tz`: the zone text output shows times in (None: each log's own),
    /// and a `--since`/`--until` date without a zone is read in.
    pub(crate) tz: Option<crate::zone::Zone>,
    /// A progress line on standard error while files are read (progress.rs
    /// also wants every input a regular file).
    pub(crate) progress: bool,
}

fn color_from_env(choice: ColorChoice, is_tty: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
            is_tty && !no_color && !dumb
        }
    }
}

impl Config {
    pub fn new(args: Args) -> Result<Config> {
        let prefix = args.prefix.as_deref().map(Prefix::compile).transpose()?;
        let inputs = if args.files.is_empty() {
            vec![Input::Stdin]
        } else {
            args.files
                .into_iter()
                .map(|f| if f == "-" { Input::Stdin } else { Input::File(PathBuf::from(f)) })
                .collect()
        };
        // Times are read with them from the first line on (time.rs keeps
        // them, for the many parsers that read times). Only when given: a
        // process makes one Config (tests make many, at once).
        if !args.tz_abbrevs.is_empty() {
            crate::time::set_abbreviations(&args.tz_abbrevs);
        }
        // After the abbreviations: a zone's is shown where pgconn reads it
        // back as the same offset, --tz-abbrev's included.
        let tz = match args.tz.as_deref() {
            None => None,
            Some(name) => Some(
                crate::zone::Zone::resolve(name)
                    .map_err(|e| crate::error::Error::usage(format!("--tz: {e}")))?,
            ),
        };
        // With --output the reports go to a file, never to the terminal.
        let stdout_tty = std::io::stdout().is_terminal() && args.output.is_none();
        let mode = if args.watch {
            Mode::Watch
        } else if args.history {
            Mode::History
        } else if args.sessions {
            Mode::Sessions
        } else if args.failures {
            Mode::Failures
        } else {
            Mode::Summary
        };
        // Standard input a terminal: someone ran `pgconn` alone. No
        // dashboard of nothing: a hint (app.rs) and the lines they type.
        let stdin_tty =
            inputs.iter().any(|i| matches!(i, Input::Stdin)) && std::io::stdin().is_terminal();
        let dashboard = stdout_tty
            && !stdin_tty
            && !args.json
            && !args.openmetrics
            && args.output.is_none()
            && matches!(mode, Mode::Summary | Mode::History);
        // Standard error a terminal that understands clear-to-end-of-line,
        // and nothing else drawing there: not the --watch stream, not the
        // dashboard.
        let progress = !args.quiet
            && mode != Mode::Watch
            && !dashboard
            && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
            && std::io::stderr().is_terminal();
        let every = match (dashboard, args.every) {
            (true, None) => Some(std::time::Duration::from_secs(1)),
            (_, every) => every,
        };
        let format = match args.format {
            FormatChoice::Auto => None,
            FormatChoice::Stderr => Some(Format::Stderr),
            FormatChoice::Csvlog => Some(Format::Csv),
            FormatChoice::Jsonlog => Some(Format::Json),
            FormatChoice::Syslog => Some(Format::Syslog),
        };
        Ok(Config {
            mode,
            bucket: args.bucket.unwrap_or(std::time::Duration::from_secs(15 * 60)),
            brute_force: args.brute_force.unwrap_or((10, std::time::Duration::from_secs(60))),
            since: args.since,
            until: args.until,
            inputs,
            prefix,
            format,
            json: args.json,
            openmetrics: args.openmetrics,
            output: args.output,
            stdin_tty,
            dashboard,
            every,
            filter: Filter { dbs: args.dbs, users: args.users, apps: args.apps, hosts: args.hosts },
            top: args.top.unwrap_or(10),
            by: args.by.unwrap_or_else(|| Dimension::ALL.to_vec()),
            color: color_from_env(args.color, stdout_tty),
            wide: !stdout_tty || terminal_size::terminal_size().is_some_and(|(w, _)| w.0 >= 120),
            // Two threads help only with two CPUs to run them (the reader
            // mostly waits in read).
            threads: args
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
                .min(2),
            tz,
            progress,
        })
    }
}
