//! NDJSON output: one object per line, each with a `"type"`.
//!
//! # Format
//!
//! `summary` (the default mode with `--json`):
//!
//! ```text
//! {"type":"summary","first":RFC3339|null,"last":RFC3339|null,
//!  "active":N,"connections":N,"disconnections":N,"failures":N,
//!  "failures_by_reason":{"password":N,...},
//!  "failures_by_class":{"auth":N,"limit":N,...},
//!  "probes":{"total":N,"by_kind":{"tls_eof":N,...},
//!            "by_host":[{"host":S,"probes":N},...]},"abandoned":N,
//!  "abnormal_ends":{"admin_terminate":N,"server_restart":N,...},
//!  "replication":{"sessions":N,"active":N,"physical":N,"logical":N,
//!                 "began_before_log":N},
//!  "tls":{"sessions":N,"share":F|null,"by_protocol":{"TLSv1.3":N,...}},
//!  "gss":{"sessions":N,"encrypted":N},
//!  "auth_methods":{"scram-sha-256":N,"trust":N,...},
//!  "trust_inferred":B,"trust_remote":N,"password_without_tls":N,
//!  "access_includes_replication":true,
//!  "setup_ms":{"count":N,"p50":MS,"p95":MS,"p99":MS,"max":MS,
//!              "fork":{"p50":..,"p95":..,"p99":..,"max":..},
//!              "authentication":{...}},
//!  "peak":{"active":N,"at":RFC3339|null,"lower_bound":B,"upper_bound":B},
//!  "active_lower_bound":B,"active_upper_bound":B,
//!  "connections_from_disconnections":B,
//!  "leaks":[{"dimension":S,"name":S,"since":TIME,"open":N,"opened":N,
//!            "per_minute":F,"ended_by":S|null,"until":TIME|null}],
//!  "brute_force":[{"host":S,"failures":N,"roles":N,"first":TIME,"last":TIME}],
//!  "session_seconds":{"count":N,"mean":S|null,"p50":S|null,"p95":S|null,
//!                     "p99":S|null,"max":S|null},
//!  "by_database":[{"name":..,"active":N|null,"connections":N,
//!                  "disconnections":N,"failures":N,
//!                  "session_seconds":{"p50":S,"p95":S,"p99":S,"max":S}},...]|null,
//!  "by_user":[...],"by_application":[...],"by_host":[...],
//!  "unparsed":N,
//!  "input":{"bytes":N,"candidate_lines":N,"invalid_utf8_lines":N,
//!           "nul_lines":N,"long_lines":N,"log_line_prefix":S|null,
//!           "prefix_inferred":B,"pid":B,"formats":["stderr",...],
//!           "envelopes":["docker",...],"skipped_lines":N,
//!           "prefix_disagreements":N,
//!           "files":[{"name":S,"first":TIME|null,"last":TIME|null,
//!                     "newest_first":B},...],"reordered":B,
//!           "time_went_back":{"count":N,"max_seconds":S,"first_at":TIME,
//!                             "first_from":TIME,"first_input":S}|null},
//!  "unavailable":[S,...],
//!  "limits":{"sessions":N,"names":N,"untracked_sessions":N,
//!            "untracked_attempts":N,"folded":["user",...]},
//!  "notes":[{"code":S,"message":S,"fix":S},...]}
//! ```
//!
//! Keys are snake_case and only ever added. Times are RFC 3339 with the
//! log's offset (`+00:00` when the zone is unknown: the `unknown_zone`
//! note says so). `notes` (see notes.rs) say what could not be given, or
//! was degraded, why, and the fix; their codes are stable. Session
//! times are seconds (fractional). A breakdown that cannot be given is
//! `null`; so is a row's `active` when it cannot be known. Names are the
//! log's bytes, with invalid UTF-8 replaced by U+FFFD.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::report::Report;
use crate::report::notes::Note;
use crate::tracker::{Breakdown, Durations};

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
    failures_by_class: BTreeMap<&'static str, u64>,
    probes: crate::report::failures::ProbesJson,
    abandoned: u64,
    abnormal_ends: BTreeMap<&'static str, u64>,
    replication: Replication,
    tls: Tls,
    gss: Gss,
    auth_methods: BTreeMap<String, u64>,
    trust_inferred: bool,
    trust_remote: u64,
    password_without_tls: u64,
    /// TLS, GSS and authentication counts include replication sessions.
    access_includes_replication: bool,
    setup_ms: SetupMs,
    peak: Peak,
    active_lower_bound: bool,
    active_upper_bound: bool,
    connections_from_disconnections: bool,
    leaks: Vec<crate::report::history::LeakJson>,
    brute_force: Vec<BruteJson>,
    session_seconds: SessionSeconds,
    by_database: Option<Vec<Row>>,
    by_user: Option<Vec<Row>>,
    by_application: Option<Vec<Row>>,
    by_host: Option<Vec<Row>>,
    unparsed: u64,
    input: InputInfo<'a>,
    unavailable: &'a [&'static str],
    limits: Limits<'a>,
    notes: Vec<Note>,
}

/// What the memory bounds left out.
#[derive(Serialize)]
struct Limits<'a> {
    /// Open sessions tracked at most.
    sessions: usize,
    /// Distinct names per breakdown at most.
    names: usize,
    untracked_sessions: u64,
    untracked_attempts: u64,
    /// Breakdowns with names past the bound, counted as `(other)`.
    folded: &'a [&'static str],
}

#[derive(Serialize)]
struct Replication {
    sessions: u64,
    active: u64,
    physical: u64,
    logical: u64,
    began_before_log: u64,
}

#[derive(Serialize)]
struct Tls {
    sessions: u64,
    /// Of all sessions, client and replication.
    share: Option<f64>,
    by_protocol: BTreeMap<String, u64>,
}

#[derive(Serialize)]
struct Gss {
    sessions: u64,
    encrypted: u64,
}

#[derive(Serialize)]
struct Percentiles {
    p50: Option<f64>,
    p95: Option<f64>,
    p99: Option<f64>,
    max: Option<f64>,
}

#[derive(Serialize)]
struct SetupMs {
    count: u64,
    #[serde(flatten)]
    total: Percentiles,
    fork: Percentiles,
    authentication: Percentiles,
}

fn percentiles(d: Option<&Durations>) -> Percentiles {
    let ms = |us: u64| us as f64 / 1000.0;
    Percentiles {
        p50: d.map(|d| ms(d.p50)),
        p95: d.map(|d| ms(d.p95)),
        p99: d.map(|d| ms(d.p99)),
        max: d.map(|d| ms(d.max)),
    }
}

#[derive(Serialize)]
struct Peak {
    active: u64,
    at: Option<String>,
    /// Sessions from before the log may have been open, unseen.
    lower_bound: bool,
    /// Sessions may have ended unseen (no disconnection lines).
    upper_bound: bool,
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
    session_seconds: Percentiles,
}

#[derive(Serialize)]
struct BruteJson {
    host: String,
    failures: u64,
    roles: u64,
    first: Option<String>,
    last: Option<String>,
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
    formats: Vec<&'static str>,
    envelopes: Vec<&'static str>,
    skipped_lines: u64,
    prefix_disagreements: u64,
    /// The inputs in the order read.
    files: Vec<FileJson<'a>>,
    reordered: bool,
    time_went_back: Option<WentBackJson<'a>>,
}

/// Where time went back: how often, the longest step, and the first (the
/// time it went back to, the time before, the input).
#[derive(Serialize)]
struct WentBackJson<'a> {
    count: u64,
    max_seconds: f64,
    first_at: String,
    first_from: String,
    first_input: Option<&'a str>,
}

#[derive(Serialize)]
struct FileJson<'a> {
    name: &'a str,
    first: Option<String>,
    last: Option<String>,
    newest_first: bool,
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
                session_seconds: {
                    let t = &r.row.times;
                    let s = |v: Option<u64>| v.map(|ms| ms as f64 / 1000.0);
                    Percentiles {
                        p50: s(t.percentile(50.0)),
                        p95: s(t.percentile(95.0)),
                        p99: s(t.percentile(99.0)),
                        max: s((t.count() > 0).then(|| t.max())),
                    }
                },
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
        failures_by_reason: s.failures_by_reason.iter().map(|&(r, n)| (r.as_str(), n)).collect(),
        failures_by_class: s.failures_by_class.iter().copied().collect(),
        probes: crate::report::failures::probes_json(&s.probes, None),
        abandoned: s.abandoned,
        abnormal_ends: s.abnormal_ends.iter().copied().collect(),
        replication: Replication {
            sessions: s.replication_sessions,
            active: s.replication_active,
            physical: s.replication_physical,
            logical: s.replication_logical,
            began_before_log: s.replication_unseen_start,
        },
        tls: Tls {
            sessions: s.access.tls,
            share: {
                let all = s.connections + s.replication_sessions;
                (all > 0).then(|| s.access.tls as f64 / all as f64)
            },
            by_protocol: s.access.tls_by_protocol.iter().cloned().collect(),
        },
        gss: Gss { sessions: s.access.gss, encrypted: s.access.gss_encrypted },
        auth_methods: s.access.auth_methods.iter().cloned().collect(),
        trust_inferred: s.access.trust_inferred,
        trust_remote: s.access.trust_remote,
        password_without_tls: s.access.password_without_tls,
        access_includes_replication: true,
        setup_ms: {
            let setup = s.access.setup.as_ref();
            SetupMs {
                count: setup.map_or(0, |x| x.count),
                total: percentiles(setup.map(|x| &x.total)),
                fork: percentiles(setup.map(|x| &x.fork)),
                authentication: percentiles(setup.map(|x| &x.authentication)),
            }
        },
        peak: Peak {
            active: s.peak,
            at: s.peak_at.map(|t| t.rfc3339()),
            lower_bound: s.peak_lower_bound,
            upper_bound: s.peak_upper_bound,
        },
        active_lower_bound: s.active_lower_bound,
        active_upper_bound: s.active_upper_bound,
        connections_from_disconnections: s.connections_from_disconnections,
        leaks: s.leaks.iter().map(|l| crate::report::history::leak_json(l, None)).collect(),
        brute_force: r
            .brute_force
            .iter()
            .map(|h| BruteJson {
                host: String::from_utf8_lossy(&h.host).into_owned(),
                failures: h.failures,
                roles: h.roles,
                first: h.first.map(|t| t.rfc3339()),
                last: h.last.map(|t| t.rfc3339()),
            })
            .collect(),
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
            formats: r.formats.iter().map(|f| f.as_str()).collect(),
            envelopes: r.envelopes.iter().map(|e| e.as_str()).collect(),
            skipped_lines: r.stats.skipped_lines,
            prefix_disagreements: r.stats.prefix_disagree,
            files: r
                .inputs
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let times = r.input_times.get(i).copied().unwrap_or_default();
                    FileJson {
                        name,
                        first: times.first.map(|t| t.rfc3339()),
                        last: times.last.map(|t| t.rfc3339()),
                        newest_first: times.newest_first,
                    }
                })
                .collect(),
            reordered: r.reordered,
            time_went_back: r.went_back.map(|w| WentBackJson {
                count: w.count,
                max_seconds: w.max_ms as f64 / 1000.0,
                first_at: w.to.rfc3339(),
                first_from: w.from.rfc3339(),
                first_input: r.inputs.get(w.input).map(String::as_str),
            }),
        },
        unavailable: &s.unavailable,
        limits: Limits {
            sessions: crate::tracker::MAX_SESSIONS,
            names: crate::tracker::MAX_NAMES,
            untracked_sessions: s.untracked,
            untracked_attempts: s.untracked_attempts,
            folded: &s.folded,
        },
        // The log's own zone, as every JSON time.
        notes: crate::report::notes::notes(r, None),
    };
    serde_json::to_writer(&mut *out, &summary).map_err(io::Error::from)?;
    out.write_all(b"\n")
}
