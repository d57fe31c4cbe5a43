//! `--openmetrics`: the summary as an OpenMetrics text exposition, for
//! Prometheus (node_exporter's textfile collector, promtool, a pushgateway).
//!
//! # Format
//!
//! One exposition per report, ending in `# EOF`. Every family has a `HELP`
//! line. Gauges and summaries have their `TYPE`; counters are families of
//! one sample named `..._total` with no `TYPE` line: the one form that both
//! an OpenMetrics parser (where it is of type unknown) and the Prometheus
//! text format (untyped) read under the same name. An OpenMetrics
//! `counter` family would be named without `_total`, which the text
//! format's readers (the textfile collector, `promtool check metrics`)
//! take for a different metric than its `_total` sample. PromQL's `rate()`
//! and `increase()` work on them as on any counter: they only grow during a
//! run, and go back to zero when SIGHUP resets the statistics (counted by
//! `pgconn_statistics_resets_total`), which Prometheus reads as a counter
//! reset.
//!
//! Breakdowns are families of their own (`pgconn_database_connections_total
//! {database="appdb"}`), so that summing one gives the total; their rows are
//! the summary's (`--top`, `(other)`). Label values are the log's bytes:
//! invalid UTF-8 becomes U+FFFD, and control characters are written as the
//! table writes them (`\x1b` as the four characters `\x1b`), so a label
//! value never carries a raw control character.

use std::io::{self, Write};

use crate::args::Dimension;
use crate::event::{Class, EndCause, ProbeKind, Reason};
use crate::report::Report;

/// Metric types as written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge,
    /// A counter: a `_total` family without a `TYPE` line (see above).
    Counter,
    Summary,
}

struct Om<'w, W: Write> {
    out: &'w mut W,
}

impl<W: Write> Om<'_, W> {
    /// The `TYPE`, `UNIT` and `HELP` lines of a family.
    fn family(&mut self, name: &str, kind: Kind, unit: Option<&str>, help: &str) -> io::Result<()> {
        debug_assert!((kind == Kind::Counter) == name.ends_with("_total"), "{name}");
        match kind {
            Kind::Gauge => writeln!(self.out, "# TYPE {name} gauge")?,
            Kind::Summary => writeln!(self.out, "# TYPE {name} summary")?,
            Kind::Counter => {}
        }
        if let Some(unit) = unit {
            writeln!(self.out, "# UNIT {name} {unit}")?;
        }
        writeln!(self.out, "# HELP {name} {help}")
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: Value) -> io::Result<()> {
        self.out.write_all(name.as_bytes())?;
        if !labels.is_empty() {
            self.out.write_all(b"{")?;
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.write_all(b",")?;
                }
                write!(self.out, "{k}=\"{}\"", escape_label(v))?;
            }
            self.out.write_all(b"}")?;
        }
        match value {
            Value::Int(n) => writeln!(self.out, " {n}"),
            Value::Float(f) => writeln!(self.out, " {}", float(f)),
        }
    }

    /// A family of one sample without labels.
    fn single(
        &mut self,
        name: &str,
        kind: Kind,
        unit: Option<&str>,
        help: &str,
        value: Value,
    ) -> io::Result<()> {
        self.family(name, kind, unit, help)?;
        self.sample(name, &[], value)
    }
}

#[derive(Clone, Copy)]
enum Value {
    Int(u64),
    Float(f64),
}

impl From<u64> for Value {
    fn from(n: u64) -> Value {
        Value::Int(n)
    }
}

/// A float as the format writes it: no exponent needed, `NaN` and `+Inf`
/// spelled its way.
fn float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{f}")
    }
}

/// A label value: `\`, `"` and newline escaped as the format requires;
/// other control characters (and bidi overrides) written as text, as the
/// table shows them; invalid UTF-8 as U+FFFD.
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control()
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                // `\x1b` as text: its backslash escaped for the format.
                let n = c as u32;
                if n < 0x100 {
                    out.push_str(&format!("\\\\x{n:02x}"));
                } else {
                    out.push_str(&format!("\\\\u{{{n:04x}}}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The label of a breakdown's rows.
fn label(d: Dimension) -> &'static str {
    d.name()
}

/// Writes the exposition of a summary report. `generated_ms`: the wall
/// clock of the report (milliseconds since the epoch).
pub(crate) fn write_summary<W: Write>(
    out: &mut W,
    r: &Report<'_>,
    generated_ms: i64,
) -> io::Result<()> {
    let s = r.snapshot;
    let mut m = Om { out };
    let secs = |ms: i64| Value::Float(ms as f64 / 1000.0);

    m.single(
        "pgconn_active_sessions",
        Kind::Gauge,
        None,
        "Client sessions open as of the newest log line.",
        s.active.into(),
    )?;
    m.single(
        "pgconn_peak_active_sessions",
        Kind::Gauge,
        None,
        "The most client sessions open at once in the log read.",
        s.peak.into(),
    )?;
    m.single(
        "pgconn_connections_total",
        Kind::Counter,
        None,
        "Client sessions authorized (a counter).",
        s.connections.into(),
    )?;
    m.single(
        "pgconn_disconnections_total",
        Kind::Counter,
        None,
        "Client sessions ended with a disconnection line (a counter).",
        s.disconnections.into(),
    )?;

    // Every reason, zero or not: a series that appears with its first
    // failure would lose that failure to rate().
    let by_reason = |reason: Reason| {
        s.failures_by_reason.iter().find(|&&(r, _)| r == reason).map_or(0, |&(_, n)| n)
    };
    m.family(
        "pgconn_failures_total",
        Kind::Counter,
        None,
        "Failed connection attempts, by reason and its class (a counter).",
    )?;
    for reason in Reason::ALL {
        m.sample(
            "pgconn_failures_total",
            &[("reason", reason.as_str()), ("class", reason.class().as_str())],
            by_reason(reason).into(),
        )?;
    }
    debug_assert!(Class::ALL.iter().all(|c| Reason::ALL.iter().any(|r| r.class() == *c)));

    m.family(
        "pgconn_probes_total",
        Kind::Counter,
        None,
        "Connections that ended before asking to authenticate: health checks, scans, TLS \
         handshakes cut off (a counter).",
    )?;
    for kind in ProbeKind::ALL {
        let n = s.probes.kinds.iter().find(|&&(k, _)| k == kind.as_str()).map_or(0, |&(_, n)| n);
        m.sample("pgconn_probes_total", &[("kind", kind.as_str())], n.into())?;
    }
    m.single(
        "pgconn_abandoned_total",
        Kind::Counter,
        None,
        "Connections received that went no further (a counter; attempts still pending are \
         pgconn_pending_attempts).",
        s.abandoned.saturating_sub(s.pending).into(),
    )?;
    m.single(
        "pgconn_pending_attempts",
        Kind::Gauge,
        None,
        "Connections received and not yet authorized, refused or ended.",
        s.pending.into(),
    )?;
    m.family(
        "pgconn_abnormal_ends_total",
        Kind::Counter,
        None,
        "Sessions that ended other than by the client's choice, by cause (a counter).",
    )?;
    for cause in EndCause::ALL {
        let n = s.abnormal_ends.iter().find(|&&(c, _)| c == cause.as_str()).map_or(0, |&(_, n)| n);
        m.sample("pgconn_abnormal_ends_total", &[("cause", cause.as_str())], n.into())?;
    }

    // Session times.
    let t = s.sessions.as_ref();
    m.family(
        "pgconn_session_seconds",
        Kind::Summary,
        Some("seconds"),
        "Times of the client sessions seen to end (p50, p95, p99 within 1%).",
    )?;
    if let Some(t) = t {
        for (q, ms) in [("0.5", t.p50_ms), ("0.95", t.p95_ms), ("0.99", t.p99_ms)] {
            m.sample("pgconn_session_seconds", &[("quantile", q)], secs(ms as i64))?;
        }
    }
    let (count, sum) = t.map_or((0, 0.0), |t| (t.count, t.mean_ms * t.count as f64 / 1000.0));
    m.sample("pgconn_session_seconds_sum", &[], Value::Float(sum))?;
    m.sample("pgconn_session_seconds_count", &[], count.into())?;
    m.single(
        "pgconn_session_max_seconds",
        Kind::Gauge,
        Some("seconds"),
        "The longest client session seen to end.",
        secs(t.map_or(0, |t| t.max_ms as i64)),
    )?;

    // Replication.
    m.single(
        "pgconn_replication_active_sessions",
        Kind::Gauge,
        None,
        "Replication sessions open as of the newest log line.",
        s.replication_active.into(),
    )?;
    m.family(
        "pgconn_replication_sessions_total",
        Kind::Counter,
        None,
        "Replication sessions authorized, physical or logical (a counter).",
    )?;
    m.sample(
        "pgconn_replication_sessions_total",
        &[("kind", "physical")],
        s.replication_physical.into(),
    )?;
    m.sample(
        "pgconn_replication_sessions_total",
        &[("kind", "logical")],
        s.replication_logical.into(),
    )?;

    // TLS, GSS, authentication methods.
    let a = &s.access;
    m.family(
        "pgconn_tls_sessions_total",
        Kind::Counter,
        None,
        "Sessions (client and replication) over TLS, by protocol (a counter).",
    )?;
    for (protocol, n) in &a.tls_by_protocol {
        m.sample("pgconn_tls_sessions_total", &[("protocol", protocol)], (*n).into())?;
    }
    let all = s.connections + s.replication_sessions;
    m.single(
        "pgconn_tls_share_ratio",
        Kind::Gauge,
        Some("ratio"),
        "The share of sessions (client and replication) over TLS; NaN before the first.",
        Value::Float(if all > 0 { a.tls as f64 / all as f64 } else { f64::NAN }),
    )?;
    m.single(
        "pgconn_gss_sessions_total",
        Kind::Counter,
        None,
        "Sessions authenticated by GSSAPI (a counter).",
        a.gss.into(),
    )?;
    m.single(
        "pgconn_gss_encrypted_sessions_total",
        Kind::Counter,
        None,
        "Sessions encrypted by GSSAPI (a counter).",
        a.gss_encrypted.into(),
    )?;
    m.family(
        "pgconn_auth_sessions_total",
        Kind::Counter,
        None,
        "Sessions by authentication method (a counter; trust may be inferred, see the \
         trust_inferred note).",
    )?;
    for (method, n) in &a.auth_methods {
        m.sample("pgconn_auth_sessions_total", &[("method", method)], (*n).into())?;
    }
    m.single(
        "pgconn_password_without_tls_sessions_total",
        Kind::Counter,
        None,
        "Sessions that sent a password without TLS (a counter).",
        a.password_without_tls.into(),
    )?;
    m.single(
        "pgconn_trust_remote_sessions_total",
        Kind::Counter,
        None,
        "Sessions let in by trust from a host other than [local] (a counter).",
        a.trust_remote.into(),
    )?;

    // Leaks and brute force.
    m.family(
        "pgconn_leak_open_sessions",
        Kind::Gauge,
        None,
        "Leak hints: sessions open of a name that opened 3 or more over 5 seconds or more with \
         none closing normally.",
    )?;
    for l in &s.leaks {
        let name = lossy(&l.name);
        m.sample(
            "pgconn_leak_open_sessions",
            &[("dimension", l.dimension.name()), ("name", &name)],
            l.open.into(),
        )?;
    }
    m.single(
        "pgconn_brute_force_hosts",
        Kind::Gauge,
        None,
        "Hosts over the --brute-force threshold of password guesses.",
        (r.brute_force.len() as u64).into(),
    )?;

    // Breakdowns.
    for b in s.breakdowns.iter().filter(|b| !b.unavailable) {
        let d = b.dimension;
        let key = label(d);
        let family = |what: &str| format!("pgconn_{key}_{what}");
        let names: Vec<String> = b.rows.iter().map(|row| lossy(&row.name)).collect();
        if !b.no_active {
            let name = family("active_sessions");
            m.family(&name, Kind::Gauge, None, &format!("Client sessions open, by {key}."))?;
            for (row, n) in b.rows.iter().zip(&names) {
                m.sample(&name, &[(key, n)], (row.row.active.max(0) as u64).into())?;
            }
        }
        for (what, help, get) in [
            (
                "connections_total",
                "Client sessions authorized",
                (|r: &crate::tracker::Row| r.connections) as fn(&crate::tracker::Row) -> u64,
            ),
            ("disconnections_total", "Client sessions ended", |r| r.disconnections),
            ("failures_total", "Failed attempts", |r| r.failures),
        ] {
            let name = family(what);
            m.family(&name, Kind::Counter, None, &format!("{help}, by {key} (a counter)."))?;
            for (row, n) in b.rows.iter().zip(&names) {
                m.sample(&name, &[(key, n)], get(&row.row).into())?;
            }
        }
        let name = family("session_seconds");
        m.family(
            &name,
            Kind::Summary,
            Some("seconds"),
            &format!("Times of client sessions seen to end, by {key}."),
        )?;
        for (row, n) in b.rows.iter().zip(&names) {
            let times = &row.row.times;
            for (q, p) in [("0.5", 50.0), ("0.95", 95.0), ("0.99", 99.0)] {
                if let Some(ms) = times.percentile(p) {
                    m.sample(&name, &[(key, n), ("quantile", q)], secs(ms as i64))?;
                }
            }
            m.sample(&format!("{name}_count"), &[(key, n)], times.count().into())?;
        }
    }

    // The input.
    let st = r.stats;
    m.single(
        "pgconn_input_bytes_total",
        Kind::Counter,
        None,
        "Bytes of log read (a counter).",
        r.bytes.into(),
    )?;
    m.single(
        "pgconn_input_lines_total",
        Kind::Counter,
        None,
        "Log lines or records with a connection or server message (a counter).",
        st.candidates.into(),
    )?;
    m.single(
        "pgconn_input_unparsed_lines_total",
        Kind::Counter,
        None,
        "Of those, lines that could not be used (a counter).",
        st.unparsed.into(),
    )?;
    m.single(
        "pgconn_input_long_lines_total",
        Kind::Counter,
        None,
        "Lines cut at 1 MiB (a counter).",
        r.long_lines.into(),
    )?;
    if let Some(first) = s.first {
        m.single(
            "pgconn_log_first_timestamp_seconds",
            Kind::Gauge,
            Some("seconds"),
            "The time of the oldest log line read (Unix time).",
            secs(first.ms),
        )?;
    }
    if let Some(last) = s.last {
        m.single(
            "pgconn_log_last_timestamp_seconds",
            Kind::Gauge,
            Some("seconds"),
            "The time of the newest log line read (Unix time).",
            secs(last.ms),
        )?;
    }
    m.single(
        "pgconn_statistics_resets_total",
        Kind::Counter,
        None,
        "Times SIGHUP reset the statistics (a counter).",
        r.resets.into(),
    )?;
    m.single(
        "pgconn_report_timestamp_seconds",
        Kind::Gauge,
        Some("seconds"),
        "When this report was written (Unix time, wall clock).",
        secs(generated_ms),
    )?;
    m.family(
        "pgconn_note",
        Kind::Gauge,
        None,
        "1 for each note of the report (what could not be given or was degraded; the text and \
         JSON reports say why, and the fix).",
    )?;
    for n in crate::report::notes::notes(r, None) {
        m.sample("pgconn_note", &[("code", n.code)], 1u64.into())?;
    }
    m.out.write_all(b"# EOF\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_as_the_format_requires() {
        assert_eq!(escape_label("plain"), "plain");
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        // A control character is written as text, never raw.
        assert_eq!(escape_label("x\u{1b}]0;y\u{7}"), "x\\\\x1b]0;y\\\\x07");
        assert_eq!(escape_label("\u{202e}evil"), "\\\\u{202e}evil");
        assert_eq!(escape_label("caf\u{e9} \u{fffd}"), "caf\u{e9} \u{fffd}");
    }

    #[test]
    fn floats_are_written_without_exponent() {
        assert_eq!(float(0.000_001), "0.000001");
        assert_eq!(float(1.5), "1.5");
        assert_eq!(float(3.0), "3");
        assert_eq!(float(f64::NAN), "NaN");
    }
}
