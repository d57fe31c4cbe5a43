//! `--sessions`: who is connected, from the log alone.
//!
//! # JSON
//!
//! One object per open session, oldest first: `{"type":"session","pid":N,
//! "user":S,"database":S|null,"application":S|null,"host":S|null,
//! "port":N|null,"since":TIME|null,"age_seconds":F|null,"tls":S|null,
//! "replication":B}`.

use std::io::{self, Write};

use owo_colors::OwoColorize;
use serde::Serialize;

use crate::report::{Palette, escape, truncate};
use crate::time::human_ms;
use crate::tracker::OpenSession;

fn text(v: &Option<Vec<u8>>) -> String {
    v.as_deref().map_or_else(|| "?".to_string(), escape)
}

/// Why sessions cannot be listed: the log has no pid, so lines cannot be
/// tied to one session; `active` is connections minus disconnections.
pub(crate) const NO_PID: &str = "sessions cannot be listed: the log has no pid (no %p or %c in log_line_prefix), so its lines cannot be tied to one session";

pub(crate) fn write_table<W: Write>(
    out: &mut W,
    sessions: &[OpenSession],
    newest: Option<crate::time::Timestamp>,
    lower_bound: bool,
    no_pid: Option<u64>,
    p: &Palette,
) -> io::Result<()> {
    let as_of = newest.map_or_else(String::new, |t| format!(" as of {}", p.time(t)));
    if let Some(active) = no_pid {
        writeln!(out, "{} {NO_PID}", "pgconn sessions:".style(p.title))?;
        return writeln!(
            out,
            "{}",
            format!("{active} open by count (connections minus disconnections){as_of}")
                .style(p.dim)
        );
    }
    writeln!(
        out,
        "{} {} open session(s){as_of}",
        "pgconn sessions".style(p.title),
        sessions.len()
    )?;
    if lower_bound {
        writeln!(
            out,
            "{}",
            "(sessions from before the log's first line cannot be listed)".style(p.dim)
        )?;
    }
    if sessions.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:>8}  {:<16} {:<16} {:<16} {:<22} {:<25} {:>8}  {}",
        "PID".style(p.header),
        "USER".style(p.header),
        "DATABASE".style(p.header),
        "APPLICATION".style(p.header),
        "HOST".style(p.header),
        "SINCE".style(p.header),
        "AGE".style(p.header),
        "TLS".style(p.header)
    )?;
    for s in sessions {
        let host = match (&s.host, s.port) {
            (Some(h), Some(port)) => format!("{}:{port}", escape(h)),
            (h, _) => text(h),
        };
        let db = if s.replication && s.database.is_none() {
            "(replication)".to_string()
        } else {
            text(&s.database)
        };
        writeln!(
            out,
            "{:>8}  {:<16} {:<16} {:<16} {:<22} {:<25} {:>8}  {}",
            s.pid,
            truncate(&escape(&s.user), 16),
            truncate(&db, 16),
            truncate(&text(&s.application), 16),
            truncate(&host, 22),
            s.since.map_or_else(|| "?".to_string(), |t| p.time(t)),
            s.age_ms.map_or_else(|| "?".to_string(), human_ms),
            s.tls.as_deref().unwrap_or("-")
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
struct SessionJson {
    #[serde(rename = "type")]
    kind: &'static str,
    pid: u32,
    user: String,
    database: Option<String>,
    application: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    since: Option<String>,
    age_seconds: Option<f64>,
    tls: Option<String>,
    replication: bool,
}

#[derive(Serialize)]
struct UnavailableJson {
    #[serde(rename = "type")]
    kind: &'static str,
    reason: &'static str,
    active: u64,
}

pub(crate) fn write_json<W: Write>(
    out: &mut W,
    sessions: &[OpenSession],
    no_pid: Option<u64>,
) -> io::Result<()> {
    if let Some(active) = no_pid {
        let j = UnavailableJson { kind: "sessions_unavailable", reason: NO_PID, active };
        serde_json::to_writer(&mut *out, &j).map_err(io::Error::from)?;
        return out.write_all(b"\n");
    }
    let lossy = |v: &Option<Vec<u8>>| v.as_deref().map(|b| String::from_utf8_lossy(b).into_owned());
    for s in sessions {
        let j = SessionJson {
            kind: "session",
            pid: s.pid,
            user: String::from_utf8_lossy(&s.user).into_owned(),
            database: lossy(&s.database),
            application: lossy(&s.application),
            host: lossy(&s.host),
            port: s.port,
            since: s.since.map(|t| t.rfc3339()),
            age_seconds: s.age_ms.map(|ms| ms as f64 / 1000.0),
            tls: s.tls.clone(),
            replication: s.replication,
        };
        serde_json::to_writer(&mut *out, &j).map_err(io::Error::from)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
