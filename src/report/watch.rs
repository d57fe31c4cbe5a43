//! `--watch`: one line per event, as it is read.
//!
//! ```text
//! 2025-03-01 10:00:00 UTC [+] alice@prod  app=psql  host=10.0.0.5:51234  pid=4242
//! 2025-03-01 10:00:05 UTC [-] alice@prod  app=psql  host=10.0.0.5:51234  pid=4242  after 5.0s
//! 2025-03-01 10:00:06 UTC [!] password  ghost@prod  host=[2001:db8::6]:40022  pid=4301
//! 2025-03-01 10:00:09 UTC [*] server crash_restart: 3 sessions ended
//! ```
//!
//! A host with a port is `host:port`, an IPv6 host `[host]:port`. The
//! `[!]` lines are what `contrib/fail2ban/filter.d/pgconn.conf` reads.
//!
//! A connect that turns out to be a failed attempt (authorized, then
//! refused) is followed by its `[!]` line, marked as taking the `[+]` back;
//! the JSON event says `"after_authorization":true`. So the stream's counts
//! agree with the summary: connections = `[+]` lines minus those.
//!
//! # JSON (`--watch --json`)
//!
//! One object per event: `{"type":"connect"|"disconnect"|"failure"|"server",
//! "time":…,"pid":…,"user":…,"database":…,"application":…,"host":…,
//! "port":…,"session_seconds":…,"reason":…,"message":…}` plus
//! `"replication"` (connect), `"cause"` and `"without_line"` (disconnect:
//! how it ended abnormally, or null; ended by a restart without a line),
//! `"class"` and `"after_authorization"` (failure; `"amends"` is always
//! false: a DETAIL read later is a `failure_amended` event), `"probe"`
//! (probe), and `"event"`, `"sessions_ended"` (server). Unknown values are
//! null. Names with a space or a quote are quoted in the text lines.

use std::io::{self, Write};

use owo_colors::OwoColorize;
use serde::Serialize;

use crate::args::Dimension;
use crate::intern::Sym;
use crate::report::{Palette, escape, truncate};
use crate::time::{Timestamp, human_ms};
use crate::tracker::{Change, Dictionary, Names};

fn when(t: Option<Timestamp>, p: &Palette) -> String {
    t.map_or_else(|| "-".to_string(), |t| p.time(t))
}

/// A name for the line: escaped and cut to `NAME_WIDTH` characters, `?`
/// when the log does not tell; quoted (`"sales db"`, `\"` inside) when it
/// holds a space or a quote, so that the line splits cleanly.
fn shown(names: &Dictionary<'_>, d: Dimension, sym: Sym, known: bool) -> String {
    match (known, sym) {
        (false, _) => "?".to_string(),
        (true, Sym::UNSET) => "(unset)".to_string(),
        (true, s) => quote(truncate(&escape(names.name(d, s)), NAME_WIDTH)),
    }
}

fn quote(name: String) -> String {
    if name.contains([' ', '"']) || name.is_empty() {
        format!("\"{}\"", name.replace('"', "\\\""))
    } else {
        name
    }
}

/// Names longer than this are cut (the JSON lines carry them whole).
const NAME_WIDTH: usize = 40;

fn who(t: &Dictionary<'_>, n: &Names) -> String {
    format!(
        "{}@{}",
        shown(t, Dimension::User, n.user, n.user != Sym::UNSET),
        shown(t, Dimension::Database, n.db, n.db != Sym::UNSET)
    )
}

fn host(t: &Dictionary<'_>, n: &Names) -> String {
    let shown = match n.host {
        Sym::UNSET => "?".to_string(),
        _ => quote(truncate(&escape(t.host(n)), NAME_WIDTH)),
    };
    with_port(shown, n.port)
}

/// `host:port`, an IPv6 address in brackets (`[::1]:5432`): `::1:5432`
/// also reads as an address with no port, and a tool that takes the
/// address from the line (a fail2ban filter) must not have to guess.
fn with_port(host: String, port: Option<u16>) -> String {
    match port {
        Some(p) if host.contains(':') => format!("[{host}]:{p}"),
        Some(p) => format!("{host}:{p}"),
        None => host,
    }
}

fn pid(p: Option<u32>) -> String {
    p.map_or_else(String::new, |p| format!("  pid={p}"))
}

/// Writes one change as a line of text.
pub(crate) fn write_text<W: Write>(
    out: &mut W,
    change: &Change,
    t: &Dictionary<'_>,
    p: &Palette,
) -> io::Result<()> {
    match *change {
        Change::Connect { time, pid: id, names, replication } => writeln!(
            out,
            "{} {} {}  app={}  host={}{}{}",
            when(time, p),
            "[+]".style(p.connect),
            who(t, &names),
            shown(t, Dimension::Application, names.app, names.app_known),
            host(t, &names),
            pid(id),
            if replication { "  (replication)" } else { "" }
        ),
        Change::Disconnect { time, pid: id, names, session_ms, cause, silent } => writeln!(
            out,
            "{} {} {}  app={}  host={}{}  after {}{}{}",
            when(time, p),
            "[-]".style(p.disconnect),
            who(t, &names),
            shown(t, Dimension::Application, names.app, names.app_known),
            host(t, &names),
            pid(id),
            session_ms.map_or_else(|| "?".to_string(), human_ms),
            cause.map_or_else(String::new, |c| format!(" ({})", c.as_str())),
            if silent { " (no disconnection line)" } else { "" }
        ),
        Change::Failure { time, pid: id, names, reason, after_authorization } => writeln!(
            out,
            "{} {} {}  {}  host={}{}{}",
            when(time, p),
            "[!]".style(p.failure),
            reason.as_str().style(p.failure),
            who(t, &names),
            host(t, &names),
            pid(id),
            if after_authorization { "  (refused after authorization: not a session)" } else { "" }
        ),
        Change::Reclassified { time, pid: id, from, reason } => writeln!(
            out,
            "{} {} {}{}  (the {} failure above, on a closer look)",
            when(time, p),
            "[!]".style(p.failure),
            reason.as_str().style(p.failure),
            pid(id),
            from.as_str()
        ),
        // Probes (health checks, port scans) are counted in the summary,
        // not shown line by line: one every few seconds would bury the
        // failures.
        Change::Probe { .. } => Ok(()),
        Change::Server { time, event, ended } => {
            let ended = match ended {
                0 => String::new(),
                1 => ": 1 session ended".to_string(),
                n => format!(": {n} sessions ended"),
            };
            writeln!(
                out,
                "{} {} server {}{ended}",
                when(time, p),
                "[*]".style(p.title),
                event.as_str()
            )
        }
        Change::Crash { time, pid: id, ended } => writeln!(
            out,
            "{} {} backend crashed{}{}",
            when(time, p),
            "[*]".style(p.title),
            pid(Some(id)),
            if ended { " (a session ended)" } else { "" }
        ),
    }
}

#[derive(Serialize, Default)]
struct EventJson {
    #[serde(rename = "type")]
    kind: &'static str,
    time: Option<String>,
    pid: Option<u32>,
    user: Option<String>,
    database: Option<String>,
    application: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    session_seconds: Option<f64>,
    reason: Option<&'static str>,
    message: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replication: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cause: Option<Option<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    after_authorization: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amends: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    without_line: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    was: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    probe: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sessions_ended: Option<u64>,
}

fn name(t: &Dictionary<'_>, d: Dimension, sym: Sym) -> Option<String> {
    (sym != Sym::UNSET).then(|| String::from_utf8_lossy(t.name(d, sym)).into_owned())
}

fn with_names(t: &Dictionary<'_>, mut e: EventJson, n: &Names) -> EventJson {
    e.user = name(t, Dimension::User, n.user);
    e.database = name(t, Dimension::Database, n.db);
    e.application = if n.app_known {
        Some(name(t, Dimension::Application, n.app).unwrap_or_else(|| "(unset)".into()))
    } else {
        None
    };
    e.host = (n.host != Sym::UNSET).then(|| String::from_utf8_lossy(t.host(n)).into_owned());
    e.port = n.port;
    e
}

/// Writes one change as an NDJSON event.
pub(crate) fn write_json<W: Write>(
    out: &mut W,
    change: &Change,
    t: &Dictionary<'_>,
) -> io::Result<()> {
    let rfc = |time: Option<Timestamp>| time.map(|t| t.rfc3339());
    let e = match *change {
        Change::Connect { time, pid, names, replication } => with_names(
            t,
            EventJson {
                kind: "connect",
                time: rfc(time),
                pid,
                replication: Some(replication),
                ..EventJson::default()
            },
            &names,
        ),
        Change::Disconnect { time, pid, names, session_ms, cause, silent } => with_names(
            t,
            EventJson {
                kind: "disconnect",
                time: rfc(time),
                pid,
                session_seconds: session_ms.map(|ms| ms as f64 / 1000.0),
                cause: Some(cause.map(|c| c.as_str())),
                without_line: silent.then_some(true),
                ..EventJson::default()
            },
            &names,
        ),
        Change::Failure { time, pid, names, reason, after_authorization } => with_names(
            t,
            EventJson {
                kind: "failure",
                time: rfc(time),
                pid,
                reason: Some(reason.as_str()),
                class: Some(reason.class().as_str()),
                after_authorization: Some(after_authorization),
                // Always false: an amendment is a `failure_amended` event.
                amends: Some(false),
                ..EventJson::default()
            },
            &names,
        ),
        // Its own type: `select(.type == "failure")` counts each failure
        // once, with the reason it had when it was shown.
        Change::Reclassified { time, pid, from, reason } => EventJson {
            kind: "failure_amended",
            time: rfc(time),
            pid,
            reason: Some(reason.as_str()),
            class: Some(reason.class().as_str()),
            was: Some(from.as_str()),
            ..EventJson::default()
        },
        Change::Probe { time, pid, names, kind } => with_names(
            t,
            EventJson {
                kind: "probe",
                time: rfc(time),
                pid,
                probe: Some(kind.as_str()),
                ..EventJson::default()
            },
            &names,
        ),
        Change::Server { time, event, ended } => EventJson {
            kind: "server",
            time: rfc(time),
            event: Some(event.as_str()),
            message: Some(event.message()),
            sessions_ended: Some(ended),
            ..EventJson::default()
        },
        Change::Crash { time, pid, ended } => EventJson {
            kind: "server",
            time: rfc(time),
            pid: Some(pid),
            event: Some("backend_crash"),
            message: Some("a backend was killed or crashed"),
            sessions_ended: Some(u64::from(ended)),
            ..EventJson::default()
        },
    };
    serde_json::to_writer(&mut *out, &e).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::{quote, with_port};

    #[test]
    fn ipv6_hosts_with_a_port_are_bracketed() {
        assert_eq!(with_port("10.0.0.5".into(), Some(5432)), "10.0.0.5:5432");
        assert_eq!(with_port("2001:db8::7".into(), Some(5432)), "[2001:db8::7]:5432");
        assert_eq!(with_port("::1".into(), None), "::1");
        assert_eq!(with_port("[local]".into(), None), "[local]");
    }

    #[test]
    fn names_with_spaces_or_quotes_are_quoted() {
        assert_eq!(quote("appdb".into()), "appdb");
        assert_eq!(quote("sales db".into()), "\"sales db\"");
        assert_eq!(quote("a\"b".into()), "\"a\\\"b\"");
        assert_eq!(quote(String::new()), "\"\"");
    }
}
