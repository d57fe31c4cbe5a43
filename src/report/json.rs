//! NDJSON output: one object per line, each with a `"type"`.
//!
//! # Format
//!
//! `summary` (the default mode with `--json`):
//!
//! ```text
//! {"type":"summary","first":RFC3339|null,"last":RFC3339|null,
//!  "active":N,"connections":N,"disconnections":N,"failures":N,
//!  "failures_by_reason":{"password":N,...},"abandoned":N,
//!  "abnormal_ends":{"admin_terminate":N,"server_restart":N,...},
//!  "replication":{"sessions":N,"active":N},
//!  "peak":{"active":N,"at":RFC3339|null},
//!  "session_seconds":{"count":N,"mean":S|null,"p50":S|null,"p95":S|null,
//!                     "p99":S|null,"max":S|null},
//!  "by_database":[{"name":..,"active":N|null,"connections":N,
//!                  "disconnections":N,"failures":N},...]|null,
//!  "by_user":[...],"by_application":[...],"by_host":[...],
//!  "unparsed":N,
//!  "input":{"bytes":N,"candidate_lines":N,"invalid_utf8_lines":N,
//!           "nul_lines":N,"long_lines":N,"log_line_prefix":S|null,
//!           "prefix_inferred":B,"pid":B},
//!  "unavailable":[S,...]}
//! ```
//!
//! Keys are snake_case and only ever added. Times are RFC 3339 with the
//! log's offset (as written in the log when the zone is unknown). Session
//! times are seconds (fractional). A breakdown that cannot be given is
//! `null`; so is a row's `active` when it cannot be known. Names are the
//! log's bytes, with invalid UTF-8 replaced by U+FFFD.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::report::Report;
use crate::tracker::Breakdown;

#[derive(Serialize)]
struct Summary<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    first: Option<String>,
    last: Option<String>,
    active: u64,
    connections: u64,
    disconnections: u64,
    failures: u64,
    failures_by_reason: BTreeMap<&'static str, u64>,
    abandoned: u64,
    abnormal_ends: BTreeMap<&'static str, u64>,
    replication: Replication,
    peak: Peak,
    session_seconds: SessionSeconds,
    by_database: Option<Vec<Row>>,
    by_user: Option<Vec<Row>>,
    by_application: Option<Vec<Row>>,
    by_host: Option<Vec<Row>>,
    unparsed: u64,
    input: InputInfo<'a>,
    unavailable: &'a [&'static str],
}

#[derive(Serialize)]
struct Replication {
    sessions: u64,
    active: u64,
}

#[derive(Serialize)]
struct Peak {
    active: u64,
    at: Option<String>,
}

#[derive(Serialize)]
struct SessionSeconds {
    count: u64,
    mean: Option<f64>,
    p50: Option<f64>,
    p95: Option<f64>,
    p99: Option<f64>,
    max: Option<f64>,
}

#[derive(Serialize)]
struct Row {
    name: String,
    active: Option<i64>,
    connections: u64,
    disconnections: u64,
    failures: u64,
}

#[derive(Serialize)]
struct InputInfo<'a> {
    bytes: u64,
    candidate_lines: u64,
    invalid_utf8_lines: u64,
    nul_lines: u64,
    long_lines: u64,
    log_line_prefix: Option<&'a str>,
    prefix_inferred: bool,
    pid: bool,
}

fn rows(b: &Breakdown) -> Option<Vec<Row>> {
    if b.unavailable {
        return None;
    }
    Some(
        b.rows
            .iter()
            .map(|r| Row {
                name: String::from_utf8_lossy(&r.name).into_owned(),
                active: (!b.no_active).then_some(r.row.active),
                connections: r.row.connections,
                disconnections: r.row.disconnections,
                failures: r.row.failures,
            })
            .collect(),
    )
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

pub(crate) fn write_summary<W: Write>(out: &mut W, r: &Report<'_>) -> io::Result<()> {
    let s = r.snapshot;
    let by = |name: &str| s.breakdowns.iter().find(|b| b.dimension.name() == name).and_then(rows);
    let t = s.sessions.as_ref();
    let summary = Summary {
        kind: "summary",
        first: s.first.map(|t| t.rfc3339()),
        last: s.last.map(|t| t.rfc3339()),
        active: s.active,
        connections: s.connections,
        disconnections: s.disconnections,
        failures: s.failures,
        failures_by_reason: s.failures_by_reason.iter().copied().collect(),
        abandoned: s.abandoned,
        abnormal_ends: s.abnormal_ends.iter().copied().collect(),
        replication: Replication { sessions: s.replication_sessions, active: s.replication_active },
        peak: Peak { active: s.peak, at: s.peak_at.map(|t| t.rfc3339()) },
        session_seconds: SessionSeconds {
            count: t.map_or(0, |t| t.count),
            mean: t.map(|t| t.mean_ms / 1000.0),
            p50: t.map(|t| secs(t.p50_ms)),
            p95: t.map(|t| secs(t.p95_ms)),
            p99: t.map(|t| secs(t.p99_ms)),
            max: t.map(|t| secs(t.max_ms)),
        },
        by_database: by("database"),
        by_user: by("user"),
        by_application: by("application"),
        by_host: by("host"),
        unparsed: r.stats.unparsed,
        input: InputInfo {
            bytes: r.bytes,
            candidate_lines: r.stats.candidates,
            invalid_utf8_lines: r.stats.invalid_utf8,
            nul_lines: r.stats.nul_lines,
            long_lines: r.long_lines,
            log_line_prefix: r.prefix,
            prefix_inferred: r.prefix_inferred,
            pid: r.pid_in_prefix,
        },
        unavailable: &s.unavailable,
    };
    serde_json::to_writer(&mut *out, &summary).map_err(io::Error::from)?;
    out.write_all(b"\n")
}
