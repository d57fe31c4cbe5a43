//! The command line, parsed with lexopt into plain values.
//!
//! Parsing only checks the shape of each value (a number is a number, an
//! enum is one of its names, a CIDR is well formed). Everything that needs
//! the environment (is stdout a terminal, NO_COLOR) or real work (compiling
//! `--prefix`) happens in config.rs. `--help` and `--version` return before
//! any of that, so they always work.

use std::ffi::OsString;
use std::str::FromStr;

use lexopt::prelude::*;

use crate::error::{Error, Result};
use crate::filter::HostPattern;

/// One row of the flag table: help text and the man-page test read it.
pub(crate) struct Flag {
    pub(crate) long: &'static str,
    pub(crate) short: Option<char>,
    pub(crate) value: Option<&'static str>,
    pub(crate) doc: &'static str,
}

pub(crate) const FLAGS: &[Flag] = &[
    Flag {
        long: "prefix",
        short: Some('p'),
        value: Some("VALUE"),
        doc: "the server's log_line_prefix (default: inferred)",
    },
    Flag {
        long: "format",
        short: None,
        value: Some("FORMAT"),
        doc: "auto, stderr, csvlog, jsonlog or syslog (auto)",
    },
    Flag { long: "json", short: Some('j'), value: None, doc: "JSON output (NDJSON)" },
    Flag {
        long: "openmetrics",
        short: None,
        value: None,
        doc: "the summary as OpenMetrics text, for Prometheus",
    },
    Flag {
        long: "output",
        short: Some('o'),
        value: Some("FILE"),
        doc: "write each report to FILE, replacing it whole",
    },
    Flag {
        long: "watch",
        short: Some('w'),
        value: None,
        doc: "one line per connect, disconnect, failure, as read",
    },
    Flag {
        long: "history",
        short: None,
        value: None,
        doc: "a timeline in buckets of log time, with leak hints",
    },
    Flag {
        long: "bucket",
        short: None,
        value: Some("DURATION"),
        doc: "history bucket width: 1m, 15m, 1h, 1d ... (15m)",
    },
    Flag {
        long: "sessions",
        short: None,
        value: None,
        doc: "the sessions open as of the newest line",
    },
    Flag {
        long: "failures",
        short: None,
        value: None,
        doc: "failed attempts: reasons, samples, password guessing",
    },
    Flag {
        long: "brute-force",
        short: None,
        value: Some("N/WINDOW"),
        doc: "flag hosts with N guesses in WINDOW (10/1m)",
    },
    Flag {
        long: "since",
        short: None,
        value: Some("TIME"),
        doc: "from log time YYYY-MM-DD[ HH:MM[:SS]], or 2h ago",
    },
    Flag {
        long: "until",
        short: None,
        value: Some("TIME"),
        doc: "before log time TIME (same forms)",
    },
    Flag {
        long: "tz",
        short: None,
        value: Some("ZONE"),
        doc: "show text times in UTC, local or ZONE (Asia/Tokyo)",
    },
    Flag {
        long: "tz-abbrev",
        short: None,
        value: Some("NAME=+HH:MM"),
        doc: "the offset of a zone abbreviation (repeatable)",
    },
    Flag {
        long: "every",
        short: None,
        value: Some("DURATION"),
        doc: "report every DURATION while reading (terminal: 1s)",
    },
    Flag { long: "db", short: None, value: Some("NAME"), doc: "only this database" },
    Flag { long: "user", short: None, value: Some("NAME"), doc: "only this user" },
    Flag { long: "app", short: None, value: Some("NAME"), doc: "only this application" },
    Flag {
        long: "host",
        short: None,
        value: Some("ADDR[/BITS]"),
        doc: "only this client address, CIDR range or [local]",
    },
    Flag {
        long: "top",
        short: None,
        value: Some("N"),
        doc: "rows per breakdown, the rest as (other); 0 = all",
    },
    Flag {
        long: "by",
        short: None,
        value: Some("LIST"),
        doc: "breakdowns: database,user,application,host (all)",
    },
    Flag {
        long: "quiet",
        short: Some('q'),
        value: None,
        doc: "no progress line on standard error (warnings stay)",
    },
    Flag {
        long: "color",
        short: None,
        value: Some("WHEN"),
        doc: "auto, always or never (default: auto)",
    },
    Flag {
        long: "threads",
        short: None,
        value: Some("N"),
        doc: "parse and track on 1 or 2 threads (default: CPUs)",
    },
    Flag {
        long: "completions",
        short: None,
        value: Some("SHELL"),
        doc: "print a completion script: bash, zsh or fish",
    },
    Flag { long: "help", short: Some('h'), value: None, doc: "print this help" },
    Flag { long: "version", short: Some('V'), value: None, doc: "print the version" },
];

const USAGE: &str = "\
pgconn - who is connected to PostgreSQL, from the server log

Usage: pgconn [OPTIONS] [FILE...]
       tail -F postgresql.log | pgconn [--watch] [OPTIONS]

Reads PostgreSQL server logs from each FILE in order, or from standard input
when there is no FILE or FILE is '-', and prints a summary of connections:
active sessions as of the newest log line, by database, user, application and
host; connections, disconnections, failed attempts by reason; peak
concurrency; session times. On a terminal, while the input stays open (a
pipe from tail -F), the summary is redrawn in place every second; Ctrl-C
leaves the last one on screen.

Each input's format (stderr, csvlog, jsonlog, syslog) is detected, and so
is the envelope carrying its lines: docker json-file, Kubernetes CRI files,
CloudNativePG, journalctl -o json, Cloud Logging, aws logs filter-log-events,
Azure resource logs, heroku logs, logcli -o jsonl.

The server must log connections: log_connections = on and
log_disconnections = on (postgresql.conf or ALTER SYSTEM).";

const FOOTER: &str = "\
Filters may be repeated (OR); different filters combine with AND.

Failed attempts have a reason (password, no_such_role, password_expired,
too_many_clients, no_hba_entry, startup_option ...) and a class (auth, hba,
tls, limit, refused, server_state, startup). Probes (health checks, scans,
TLS handshakes cut off, connections with nothing after connection
received) are counted apart, not as failures. --brute-force counts only
password guessing: wrong or unusable passwords, missing roles, client
certificates, PAM, LDAP, RADIUS; not connection limits, missing databases
or pg_hba.conf rejects. A leak hint is a name that opened 3 or more
sessions over 5 seconds or more of log time while none of its sessions
closed normally.

Memory is bounded whatever the input: at most 100,000 open sessions are
followed and 10,000 names kept per breakdown (the rest are counted as
(other), and the output says so), lines are cut at 1 MiB; peak memory stays
under 64 MiB (floods of a million addresses, role names or never-ending
sessions: 13-27 MiB).

Times: text output shows each time in its log's own zone, or every time in
the --tz zone: UTC, local (TZ, else /etc/localtime) or a tz database name
such as Europe/Berlin. A date without a zone given to --since or --until is
read in the --tz zone when there is one, else in the log's. JSON keeps RFC
3339 times with the log's offset.

Files read for more than a second with standard error on a terminal show a
progress line there, cleared before the report; --quiet turns it off. None
with --watch, the dashboard or a pipe; a compressed file counts its
compressed size.

Signals: SIGINT and SIGTERM print the final report and exit; SIGUSR1 prints
the current report to standard error; SIGHUP resets all statistics.

Exit status: 0 connection events found, 1 none found, 2 error.
See man pgconn for the JSON schema.";

/// The width of the flags' column of `--help`.
const HELP_COLUMN: usize = 20;

/// The help text, built from the flag table.
pub fn help() -> String {
    let mut out = format!("{USAGE}\n\nOptions:\n");
    for flag in FLAGS {
        let short = match flag.short {
            Some(c) => format!("-{c}, "),
            None => "    ".to_string(),
        };
        let long = match flag.value {
            Some(v) => format!("--{} {v}", flag.long),
            None => format!("--{}", flag.long),
        };
        // A flag too long for the column has its text on the next line,
        // in the same column.
        if long.chars().count() > HELP_COLUMN {
            out.push_str(&format!(
                "  {short}{long}\n{:width$} {}\n",
                "",
                flag.doc,
                width = 6 + HELP_COLUMN
            ));
        } else {
            out.push_str(&format!("  {short}{long:<HELP_COLUMN$} {}\n", flag.doc));
        }
    }
    out.push('\n');
    out.push_str(FOOTER);
    out.push('\n');
    out
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

impl FromStr for ColorChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(ColorChoice::Auto),
            "always" => Ok(ColorChoice::Always),
            "never" => Ok(ColorChoice::Never),
            _ => Err(format!("'{s}' is not one of auto, always, never")),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum FormatChoice {
    #[default]
    Auto,
    Stderr,
    Csvlog,
    Jsonlog,
    Syslog,
}

impl FromStr for FormatChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(FormatChoice::Auto),
            "stderr" => Ok(FormatChoice::Stderr),
            "csvlog" | "csv" => Ok(FormatChoice::Csvlog),
            "jsonlog" | "json" => Ok(FormatChoice::Jsonlog),
            "syslog" => Ok(FormatChoice::Syslog),
            _ => Err(format!("'{s}' is not one of auto, stderr, csvlog, jsonlog, syslog")),
        }
    }
}

/// A breakdown of the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dimension {
    Database,
    User,
    Application,
    Host,
}

impl Dimension {
    pub(crate) const ALL: [Dimension; 4] =
        [Dimension::Database, Dimension::User, Dimension::Application, Dimension::Host];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Dimension::Database => "database",
            Dimension::User => "user",
            Dimension::Application => "application",
            Dimension::Host => "host",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl FromStr for Dimension {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "database" | "db" => Ok(Dimension::Database),
            "user" => Ok(Dimension::User),
            "application" | "app" => Ok(Dimension::Application),
            "host" => Ok(Dimension::Host),
            _ => Err(format!("'{s}' is not one of database, user, application, host")),
        }
    }
}

/// What the command line asked for, before the environment is consulted.
#[derive(Debug, Default)]
pub struct Args {
    pub(crate) files: Vec<OsString>,
    pub(crate) prefix: Option<String>,
    pub(crate) format: FormatChoice,
    pub(crate) json: bool,
    pub(crate) openmetrics: bool,
    pub(crate) output: Option<std::path::PathBuf>,
    pub(crate) watch: bool,
    pub(crate) history: bool,
    pub(crate) sessions: bool,
    pub(crate) failures: bool,
    pub(crate) bucket: Option<std::time::Duration>,
    pub(crate) brute_force: Option<(u64, std::time::Duration)>,
    pub(crate) since: Option<TimeArg>,
    pub(crate) until: Option<TimeArg>,
    pub(crate) every: Option<std::time::Duration>,
    pub(crate) dbs: Vec<String>,
    pub(crate) users: Vec<String>,
    pub(crate) apps: Vec<String>,
    pub(crate) hosts: Vec<HostPattern>,
    pub(crate) top: Option<usize>,
    pub(crate) by: Option<Vec<Dimension>>,
    pub(crate) color: ColorChoice,
    pub(crate) threads: Option<usize>,
    /// `--tz-abbrev`: zone abbreviations and their offsets (minutes).
    pub(crate) tz_abbrevs: Vec<(String, i16)>,
    /// `--tz`: the zone's name, resolved in config.rs (it reads the tz
    /// database).
    pub(crate) tz: Option<String>,
    /// `--quiet`: no progress line.
    pub(crate) quiet: bool,
}

/// The outcome of parsing: a run, or a request answered without reading input.
#[derive(Debug)]
pub enum Parsed {
    Run(Box<Args>),
    Help,
    Version,
    Completions(crate::completions::Shell),
}

fn parse_value<T: FromStr<Err = String>>(parser: &mut lexopt::Parser, flag: &str) -> Result<T> {
    let value = parser.value()?;
    let text = value
        .to_str()
        .ok_or_else(|| Error::usage(format!("--{flag}: the value is not valid UTF-8")))?;
    text.parse::<T>().map_err(|e| Error::usage(format!("--{flag}: {e}")))
}

fn parse_string(parser: &mut lexopt::Parser, flag: &str) -> Result<String> {
    let value = parser.value()?;
    value.into_string().map_err(|_| Error::usage(format!("--{flag}: the value is not valid UTF-8")))
}

/// Parses the arguments after the program name.
pub fn parse<I>(args: I) -> Result<Parsed>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let mut out = Args::default();
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Parsed::Help),
            Short('V') | Long("version") => return Ok(Parsed::Version),
            Long("completions") => {
                return Ok(Parsed::Completions(parse_value(&mut parser, "completions")?));
            }
            Short('p') | Long("prefix") => out.prefix = Some(parse_string(&mut parser, "prefix")?),
            Long("format") => out.format = parse_value(&mut parser, "format")?,
            Short('j') | Long("json") => out.json = true,
            Long("openmetrics") => out.openmetrics = true,
            Short('o') | Long("output") => {
                let path = parser.value()?;
                if path.is_empty() {
                    return Err(Error::usage("--output: give a file name"));
                }
                out.output = Some(path.into());
            }
            Short('w') | Long("watch") => out.watch = true,
            Long("history") => out.history = true,
            Short('q') | Long("quiet") => out.quiet = true,
            Long("sessions") => out.sessions = true,
            Long("failures") => out.failures = true,
            Long("bucket") => {
                let text = parse_string(&mut parser, "bucket")?;
                let d = crate::time::parse_duration(&text)
                    .map_err(|e| Error::usage(format!("--bucket: {e}")))?;
                if d.as_millis() < 1000 {
                    return Err(Error::usage("--bucket: at least 1s"));
                }
                out.bucket = Some(d);
            }
            Long("brute-force") => {
                let text = parse_string(&mut parser, "brute-force")?;
                out.brute_force = Some(
                    parse_rate(&text).map_err(|e| Error::usage(format!("--brute-force: {e}")))?,
                );
            }
            Long("since") => out.since = Some(parse_value(&mut parser, "since")?),
            Long("until") => out.until = Some(parse_value(&mut parser, "until")?),
            Long("every") => {
                let text = parse_string(&mut parser, "every")?;
                let every = crate::time::parse_duration(&text)
                    .map_err(|e| Error::usage(format!("--every: {e}")))?;
                out.every = Some(every);
            }
            Long("db") => out.dbs.push(parse_string(&mut parser, "db")?),
            Long("user") => out.users.push(parse_string(&mut parser, "user")?),
            Long("app") => out.apps.push(parse_string(&mut parser, "app")?),
            Long("host") => out.hosts.push(parse_value(&mut parser, "host")?),
            Long("top") => {
                let n: usize = parse_value::<Count>(&mut parser, "top")?.0;
                out.top = Some(n);
            }
            Long("by") => {
                let list: String = parse_string(&mut parser, "by")?;
                let mut dims = Vec::new();
                for part in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let dim: Dimension =
                        part.parse().map_err(|e| Error::usage(format!("--by: {e}")))?;
                    if !dims.contains(&dim) {
                        dims.push(dim);
                    }
                }
                out.by = Some(dims);
            }
            Long("threads") => {
                let n: usize = parse_value::<Count>(&mut parser, "threads")?.0;
                if n == 0 {
                    return Err(Error::usage("--threads: 1 or more"));
                }
                out.threads = Some(n);
            }
            Long("tz") => out.tz = Some(parse_string(&mut parser, "tz")?),
            Long("tz-abbrev") => {
                let text = parse_string(&mut parser, "tz-abbrev")?;
                let (name, offset) = crate::time::parse_abbreviation(&text)
                    .map_err(|e| Error::usage(format!("--tz-abbrev: {e}")))?;
                // A name given again takes its last offset.
                out.tz_abbrevs.retain(|(n, _)| *n != name);
                out.tz_abbrevs.push((name, offset));
            }
            Long("color") | Long("colour") => out.color = parse_value(&mut parser, "color")?,
            Value(file) => out.files.push(file),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let modes = [
        ("--watch", out.watch),
        ("--history", out.history),
        ("--sessions", out.sessions),
        ("--failures", out.failures),
    ];
    let chosen: Vec<&str> = modes.iter().filter(|m| m.1).map(|m| m.0).collect();
    if chosen.len() > 1 {
        return Err(Error::usage(format!(
            "{} are different modes: choose one",
            chosen.join(" and ")
        )));
    }
    // An option the chosen mode would ignore is refused, not ignored.
    let mode = chosen.first().copied();
    let ignored = [
        (
            "--top",
            out.top.is_some(),
            matches!(mode, None | Some("--failures")),
            "the breakdowns of the summary and --failures",
        ),
        (
            "--by",
            out.by.is_some(),
            matches!(mode, None | Some("--failures")),
            "the breakdowns of the summary and --failures",
        ),
        ("--bucket", out.bucket.is_some(), mode == Some("--history"), "--history"),
        (
            "--brute-force",
            out.brute_force.is_some(),
            matches!(mode, None | Some("--failures")),
            "the summary and --failures",
        ),
    ];
    if let Some((flag, _, _, applies)) = ignored.iter().find(|o| o.1 && !o.2) {
        let mode = mode.unwrap_or("the summary");
        return Err(Error::usage(format!(
            "{flag} has no effect with {mode}: it applies to {applies}"
        )));
    }
    if out.openmetrics && out.json {
        return Err(Error::usage("--json and --openmetrics are different formats: choose one"));
    }
    if out.openmetrics
        && let Some(mode) = chosen.first()
    {
        return Err(Error::usage(format!(
            "--openmetrics writes the summary; {mode} has no OpenMetrics form (try --json)"
        )));
    }
    if out.output.is_some() && out.watch {
        return Err(Error::usage(
            "--output replaces FILE with each report; --watch is a stream: redirect it (>> FILE)",
        ));
    }
    if out.every.is_some() && (out.watch || out.sessions || out.failures) {
        return Err(Error::usage("--every goes with the summary or --history"));
    }
    Ok(Parsed::Run(Box::new(out)))
}

/// `N/WINDOW`: a count within a duration (`10/1m`).
fn parse_rate(s: &str) -> std::result::Result<(u64, std::time::Duration), String> {
    let (n, w) = s.split_once('/').ok_or_else(|| format!("'{s}' is not N/WINDOW, e.g. 10/1m"))?;
    let n: u64 = n
        .parse()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("'{n}' is not a positive count"))?;
    Ok((n, crate::time::parse_duration(w)?))
}

/// `--since`/`--until`: a date and time of the log's clock (of `--tz`'s
/// zone when given), or a duration before the newest timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimeArg {
    /// Milliseconds since the epoch of the log's local time (or `--tz`'s:
    /// app.rs `window` makes it an instant then).
    Civil(i64),
    /// A time given with its zone or offset: an instant.
    Instant(i64),
    Before(std::time::Duration),
}

/// As `--since`/`--until` would take it back: `'2025-03-01 10:00:00'`,
/// `30m` (before the newest line).
impl std::fmt::Display for TimeArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TimeArg::Civil(ms) => write!(f, "'{}'", crate::time::format_civil(*ms)),
            TimeArg::Instant(ms) => write!(f, "'{} UTC'", crate::time::format_civil(*ms)),
            TimeArg::Before(d) => {
                let ms = d.as_millis();
                match [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s")]
                    .into_iter()
                    .find(|&(unit, _)| ms % unit == 0)
                {
                    Some((unit, name)) => write!(f, "{}{name}", ms / unit),
                    None => write!(f, "{ms}ms"),
                }
            }
        }
    }
}

impl FromStr for TimeArg {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        // `2h ago` is `2h`: both count back from the newest line.
        let back = s.strip_suffix("ago").map(str::trim_end).unwrap_or(s);
        if let Ok(d) = crate::time::parse_duration(back) {
            return Ok(TimeArg::Before(d));
        }
        if let Some(ms) = crate::time::parse_civil(s) {
            return Ok(TimeArg::Civil(ms));
        }
        match crate::time::parse_zoned(s) {
            Some(instant) => instant.map(TimeArg::Instant),
            None => Err(format!(
                "'{s}' is not YYYY-MM-DD[ HH:MM[:SS[.mmm]]][ ZONE], an RFC 3339 time, or a \
                 duration such as 30m, 1h30m, 2h ago"
            )),
        }
    }
}

/// A non-negative count, with a message that names the problem.
struct Count(usize);

impl FromStr for Count {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        s.parse().map(Count).map_err(|_| format!("'{s}' is not a non-negative whole number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Args {
        match parse(args.iter().copied()).expect("valid arguments") {
            Parsed::Run(a) => *a,
            other => panic!("expected a run, got {other:?}"),
        }
    }

    fn err(args: &[&str]) -> String {
        parse(args.iter().copied()).expect_err("invalid arguments").to_string()
    }

    #[test]
    fn files_and_stdin() {
        let a = run(&["a.log", "-", "b.log"]);
        assert_eq!(a.files, vec!["a.log", "-", "b.log"]);
        assert!(run(&[]).files.is_empty());
    }

    #[test]
    fn help_and_version_win() {
        assert!(matches!(parse(["--json", "--help"]).unwrap(), Parsed::Help));
        assert!(matches!(parse(["-V"]).unwrap(), Parsed::Version));
    }

    #[test]
    fn prefix_and_json() {
        let a = run(&["--prefix", "%m [%p] ", "-j"]);
        assert_eq!(a.prefix.as_deref(), Some("%m [%p] "));
        assert!(a.json);
        let a = run(&["-p=%t "]);
        assert_eq!(a.prefix.as_deref(), Some("%t "));
    }

    #[test]
    fn filters_repeat() {
        let a = run(&["--db", "a", "--db", "b", "--user", "u", "--app", "my app"]);
        assert_eq!(a.dbs, vec!["a", "b"]);
        assert_eq!(a.users, vec!["u"]);
        assert_eq!(a.apps, vec!["my app"]);
        let a = run(&["--host", "10.0.0.0/8", "--host", "[local]"]);
        assert_eq!(a.hosts.len(), 2);
        assert!(err(&["--host", "10.0.0.0/33"]).contains("--host"));
    }

    #[test]
    fn top_and_by() {
        assert_eq!(run(&["--top", "0"]).top, Some(0));
        assert!(err(&["--top", "-1"]).contains("--top"));
        assert!(err(&["--top", "x"]).contains("not a non-negative"));
        let a = run(&["--by", "user,db,user"]);
        assert_eq!(a.by, Some(vec![Dimension::User, Dimension::Database]));
        assert!(err(&["--by", "color"]).contains("'color' is not one of"));
    }

    #[test]
    fn enums_list_choices() {
        assert_eq!(run(&["--color", "never"]).color, ColorChoice::Never);
        assert!(err(&["--color", "sometimes"]).contains("auto, always, never"));
        assert_eq!(run(&["--format", "stderr"]).format, FormatChoice::Stderr);
        assert_eq!(run(&["--format", "jsonlog"]).format, FormatChoice::Jsonlog);
        assert!(err(&["--format", "xml"]).contains("csvlog, jsonlog, syslog"));
    }

    #[test]
    fn history_and_windows() {
        let a =
            run(&["--history", "--bucket", "1h", "--since", "2025-03-01 10:00", "--until", "30m"]);
        assert!(a.history);
        assert_eq!(a.bucket, Some(std::time::Duration::from_secs(3600)));
        assert!(matches!(a.since, Some(TimeArg::Civil(_))));
        assert_eq!(a.until, Some(TimeArg::Before(std::time::Duration::from_secs(1800))));
        assert!(err(&["--since", "yesterday"]).contains("YYYY-MM-DD"));
        assert_eq!(a.since.unwrap().to_string(), "'2025-03-01 10:00:00'");
        assert_eq!(a.until.unwrap().to_string(), "30m");
        assert_eq!(run(&["--since", "90s"]).since.unwrap().to_string(), "90s");
        assert!(err(&["--history", "--sessions"]).contains("choose one"));
        assert_eq!(
            run(&["--brute-force", "5/30s"]).brute_force,
            Some((5, std::time::Duration::from_secs(30)))
        );
        assert!(err(&["--brute-force", "5"]).contains("N/WINDOW"));
        assert!(err(&["--bucket", "500ms"]).contains("at least 1s"));
    }

    #[test]
    fn threads() {
        assert_eq!(run(&[]).threads, None);
        assert_eq!(run(&["--threads", "1"]).threads, Some(1));
        assert_eq!(run(&["--threads", "8"]).threads, Some(8));
        assert!(err(&["--threads", "0"]).contains("1 or more"));
        assert!(err(&["--threads", "two"]).contains("--threads"));
    }

    #[test]
    fn watch_and_every() {
        let a = run(&["--watch", "--json"]);
        assert!(a.watch && a.json);
        assert_eq!(run(&["--every", "10s"]).every, Some(std::time::Duration::from_secs(10)));
        assert!(err(&["--every", "soon"]).contains("--every"));
        assert!(err(&["-w", "--every", "1s"]).contains("goes with the summary or --history"));
    }

    #[test]
    fn options_without_effect_in_the_mode_are_refused() {
        assert!(
            err(&["--failures", "--bucket", "1h"])
                .contains("--bucket has no effect with --failures")
        );
        assert!(
            err(&["--bucket", "1h"])
                .contains("no effect with the summary: it applies to --history")
        );
        assert!(err(&["--watch", "--by", "user"]).contains("--by has no effect with --watch"));
        assert!(err(&["--sessions", "--top", "3"]).contains("--top has no effect with --sessions"));
        assert!(
            err(&["--history", "--brute-force", "5/1m"]).contains("--brute-force has no effect")
        );
        assert_eq!(run(&["--failures", "--top", "3", "--by", "host"]).top, Some(3));
        assert!(run(&["--history", "--bucket", "1h"]).bucket.is_some());
        assert!(run(&["--brute-force", "5/1m", "--top", "0", "--by", "db"]).brute_force.is_some());
    }

    #[test]
    fn openmetrics_and_output() {
        let a = run(&["--openmetrics", "-o", "pgconn.prom", "--every", "15s"]);
        assert!(a.openmetrics);
        assert_eq!(a.output.as_deref(), Some(std::path::Path::new("pgconn.prom")));
        assert!(err(&["--openmetrics", "--json"]).contains("choose one"));
        assert!(err(&["--openmetrics", "--failures"]).contains("--failures has no OpenMetrics"));
        assert!(err(&["--watch", "--output", "f"]).contains("--watch is a stream"));
        assert!(err(&["--output", ""]).contains("give a file name"));
        assert!(run(&["--history", "--json", "--output", "h.json"]).output.is_some());
    }

    #[test]
    fn zone_abbreviations() {
        let a =
            run(&["--tz-abbrev", "SST=-11:00", "--tz-abbrev", "IST=+02", "--tz-abbrev=SST=-10"]);
        assert_eq!(a.tz_abbrevs, vec![("IST".to_string(), 120), ("SST".to_string(), -600)]);
        assert!(err(&["--tz-abbrev", "SST"]).contains("--tz-abbrev: 'SST' is not NAME=+HH:MM"));
        assert!(err(&["--tz-abbrev", "SST=soon"]).contains("not an offset"));
    }

    #[test]
    fn unknown_flag_is_usage_error() {
        let msg = err(&["--bogus"]);
        assert!(msg.contains("--bogus"), "{msg}");
        assert!(msg.contains("pgconn --help"), "{msg}");
    }

    #[test]
    fn help_text_starts_in_one_column() {
        let help = help();
        let options = help.split("Options:\n").nth(1).unwrap().split("\n\n").next().unwrap();
        let col = 7 + HELP_COLUMN;
        let lines: Vec<&str> = options.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            let text = if line.len() < col || !line[..col].ends_with(' ') {
                // A flag too long for its column: its text on the next line.
                i += 1;
                assert!(lines[i][..col].trim().is_empty(), "{line} / {}", lines[i]);
                lines[i]
            } else {
                line
            };
            assert_eq!(&text[col - 1..col], " ", "not aligned: {text}");
            assert_ne!(&text[col..col + 1], " ", "not aligned: {text}");
            i += 1;
        }
        assert!(lines.len() > FLAGS.len(), "some flags have their text on the next line");
    }

    #[test]
    fn help_lines_fit_79_columns() {
        for line in help().lines() {
            assert!(line.chars().count() <= 79, "too long: {line}");
        }
    }
}
