//! The summary as a table a person reads at a glance.
//!
//! Numbers are right-aligned, names are escaped and cut at `NAME_WIDTH`
//! with `…`, rows are sorted by active, then connections, then name, so
//! two runs diff cleanly.

use std::io::{self, Write};

use owo_colors::OwoColorize;

use crate::parse::Format;
use crate::report::{Palette, Report, escape, truncate};
use crate::time::human_ms;
use crate::tracker::{Breakdown, Snapshot};

const NAME_WIDTH: usize = 40;

pub(crate) fn write_summary<W: Write>(out: &mut W, r: &Report<'_>, p: &Palette) -> io::Result<()> {
    write_summary_in(out, r, p, false)
}

/// The summary; `compact` puts the failure reasons and the abnormal ends on
/// one line each (for a small terminal).
pub(crate) fn write_summary_in<W: Write>(
    out: &mut W,
    r: &Report<'_>,
    p: &Palette,
    compact: bool,
) -> io::Result<()> {
    let s = r.snapshot;
    match (s.first, s.last) {
        (Some(first), Some(last)) => writeln!(
            out,
            "{} {} → {} ({})",
            "pgconn".style(p.title),
            p.time(first),
            p.time(last),
            human_ms((last.ms - first.ms).max(0) as u64)
        )?,
        _ => writeln!(out, "{} (no timestamps in the log lines)", "pgconn".style(p.title))?,
    }
    writeln!(out)?;
    let as_of = s.last.map(|t| format!("as of {}", p.time(t))).unwrap_or_default();
    // At least (sessions from before the log, unseen), at most (sessions
    // never seen to end), or neither.
    let bound = |lower: bool, upper: bool| match (lower, upper) {
        (true, true) => "~",
        (true, false) => "≥",
        (false, true) => "≤",
        (false, false) => "",
    };
    // The mark stands next to the number it qualifies.
    let active = format!("{}{}", bound(s.active_lower_bound, s.active_upper_bound), s.active);
    writeln!(out, "{:<14}{:>8}   {}", "Active now", active.style(p.active), as_of.style(p.dim))?;
    writeln!(
        out,
        "{:<15}{:>7}   disconnections {}, failures {}, abandoned {}{}",
        "Connections",
        s.connections,
        s.disconnections,
        s.failures.style(p.failure),
        s.abandoned,
        if s.connections_from_disconnections { " (counted from disconnections)" } else { "" }
    )?;
    let at = s.peak_at.map(|t| format!("at {}", p.time(t))).unwrap_or_default();
    let peak = format!("{}{}", bound(s.peak_lower_bound, s.peak_upper_bound), s.peak);
    writeln!(out, "{:<14}{peak:>8}   {}", "Peak", at.style(p.dim))?;
    match &s.sessions {
        Some(t) => writeln!(
            out,
            "{:<22}   mean {}, p50 {}, p95 {}, p99 {}, max {} ({} sessions)",
            "Session time",
            human_ms(t.mean_ms.round() as u64),
            human_ms(t.p50_ms),
            human_ms(t.p95_ms),
            human_ms(t.p99_ms),
            human_ms(t.max_ms),
            t.count
        )?,
        None => writeln!(out, "{:<22}   (no disconnection lines)", "Session time")?,
    }
    if s.replication_sessions > 0 {
        writeln!(
            out,
            "{:<15}{:>7}   sessions ({} active, {} physical, {} logical; not in the counts above)",
            "Replication",
            s.replication_sessions,
            s.replication_active,
            s.replication_physical,
            s.replication_logical
        )?;
    }
    if compact {
        let list = |items: &[(&str, u64)]| {
            items.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")
        };
        if !s.failures_by_reason.is_empty() {
            let reasons: Vec<_> =
                s.failures_by_reason.iter().map(|&(r, n)| (r.as_str(), n)).collect();
            writeln!(out, "{:<15}{:>7}   {}", "Failures", s.failures, list(&reasons))?;
        }
        if !s.abnormal_ends.is_empty() {
            writeln!(out, "{:<15}{:>7}   {}", "Abnormal ends", "", list(&s.abnormal_ends))?;
        }
    }
    write_access(out, s, p)?;
    if !compact && !s.failures_by_reason.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", "Failures".style(p.header))?;
        for (reason, n) in &s.failures_by_reason {
            let what = format!("   {}: {}", reason.class().as_str(), reason.describe());
            writeln!(
                out,
                "  {:<28}{:>5}{}",
                reason.as_str(),
                n.style(p.failure),
                what.style(p.dim)
            )?;
        }
    }
    if !compact && !s.abnormal_ends.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", "Ended abnormally".style(p.header))?;
        for (cause, n) in &s.abnormal_ends {
            writeln!(out, "  {cause:<28}{n:>5}")?;
        }
    }
    crate::report::history::write_leaks(out, &s.leaks, p)?;
    crate::report::failures::write_brute_force(out, r.brute_force, r.brute_rule, p)?;
    crate::report::failures::write_probes(out, &s.probes, p)?;
    for b in &s.breakdowns {
        writeln!(out)?;
        write_breakdown(out, b, p, r.wide)?;
    }
    write_notes(out, r, p)
}

/// Microseconds, for setup times: `7.2ms`.
fn ms(us: u64) -> String {
    if us < 10_000 { format!("{:.1}ms", us as f64 / 1000.0) } else { human_ms(us / 1000) }
}

/// Encryption, authentication methods and PostgreSQL 18 setup times.
fn write_access<W: Write>(out: &mut W, s: &Snapshot, p: &Palette) -> io::Result<()> {
    let a = &s.access;
    let sessions = s.connections + s.replication_sessions;
    let list = |items: &[(String, u64)]| {
        items
            .iter()
            .map(|(k, n)| format!("{} {n}", escape(k.as_bytes())))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // The shares count replication sessions too; say so when there are.
    let of = if s.replication_sessions > 0 {
        format!("{sessions} sessions, {} of them replication", s.replication_sessions)
    } else {
        format!("{sessions} sessions")
    };
    if a.tls > 0 || a.gss > 0 {
        let share = (a.tls * 100).checked_div(sessions).unwrap_or(0);
        let mut text = format!("TLS {} of {of} ({share}%)", a.tls);
        if !a.tls_by_protocol.is_empty() {
            text.push_str(&format!(": {}", list(&a.tls_by_protocol)));
        }
        if a.gss > 0 {
            text.push_str(&format!("; GSS {} ({} encrypted)", a.gss, a.gss_encrypted));
        }
        writeln!(out, "{:<22}   {text}", "Encryption")?;
    }
    if !a.auth_methods.is_empty() {
        let mut text = list(&a.auth_methods);
        if a.trust_inferred {
            text.push_str(" (trust inferred: sessions without a connection authenticated line)");
        }
        if a.trust_remote > 0 {
            let warn = format!("; {} trust logins from hosts other than [local]", a.trust_remote);
            text.push_str(&warn.style(p.failure).to_string());
        }
        if a.password_without_tls > 0 {
            let warn = format!("; {} password logins over TCP without TLS", a.password_without_tls);
            text.push_str(&warn.style(p.failure).to_string());
        }
        writeln!(out, "{:<22}   {text}", "Authentication")?;
    }
    if let Some(setup) = &a.setup {
        let t = &setup.total;
        writeln!(
            out,
            "{:<22}   p50 {}, p95 {}, p99 {}, max {}; fork p50 {}, authentication p50 {} ({} sessions)",
            "Connection setup",
            ms(t.p50),
            ms(t.p95),
            ms(t.p99),
            ms(t.max),
            ms(setup.fork.p50),
            ms(setup.authentication.p50),
            setup.count
        )?;
    }
    Ok(())
}

fn write_breakdown<W: Write>(
    out: &mut W,
    b: &Breakdown,
    p: &Palette,
    wide: bool,
) -> io::Result<()> {
    let title = b.dimension.name().to_uppercase();
    if b.unavailable {
        return writeln!(
            out,
            "{} {}",
            title.style(p.header),
            "(not available: no pid in the log, nor %h or %r: see Notes)".style(p.dim)
        );
    }
    let names: Vec<String> =
        b.rows.iter().map(|r| truncate(&escape(&r.name), NAME_WIDTH)).collect();
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0).max(title.len());
    let pad = |s: &str| format!("{s}{}", " ".repeat(width - s.chars().count()));
    write!(
        out,
        "{}  {:>7}  {:>11}  {:>8}",
        pad(&title).style(p.header),
        "ACTIVE".style(p.header),
        "CONNECTIONS".style(p.header),
        "FAILURES".style(p.header)
    )?;
    if wide {
        write!(out, "  {}", "SESSION P50     P95     P99     MAX".style(p.header))?;
    }
    writeln!(out)?;
    for (row, name) in b.rows.iter().zip(&names) {
        let active = if b.no_active { "-".to_string() } else { row.row.active.to_string() };
        write!(
            out,
            "{}  {:>7}  {:>11}  {:>8}",
            pad(name),
            active.style(p.active),
            row.row.connections,
            row.row.failures.style(p.failure)
        )?;
        let t = &row.row.times;
        if wide && t.count() > 0 {
            let f = |v: Option<u64>| v.map_or_else(|| "-".to_string(), human_ms);
            write!(
                out,
                "  {:>11} {:>7} {:>7} {:>7}",
                f(t.percentile(50.0)),
                f(t.percentile(95.0)),
                f(t.percentile(99.0)),
                f(Some(t.max()))
            )?;
        }
        writeln!(out)?;
    }
    if b.overflowed {
        writeln!(out, "{}", "  (too many distinct names: the rest are in (other))".style(p.dim))?;
    }
    Ok(())
}

fn write_notes<W: Write>(out: &mut W, r: &Report<'_>, p: &Palette) -> io::Result<()> {
    let s = r.snapshot;
    let mut notes: Vec<String> = Vec::new();
    let mut formats = r.formats.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", ");
    // `csvlog in cloudnative-pg in cri`: the innermost first.
    for e in r.envelopes.iter().rev() {
        formats.push_str(" in ");
        formats.push_str(e.as_str());
    }
    // A prefix given for csvlog/jsonlog only is not used (a note says so).
    let prefix = r.prefix.filter(|_| {
        !r.asked.prefix_given
            || r.formats.is_empty()
            || r.formats.iter().any(|f| matches!(f, Format::Stderr | Format::Syslog))
    });
    match (prefix, formats.is_empty()) {
        (Some(prefix), _) => {
            let how = if r.prefix_inferred { "inferred" } else { "given" };
            let f = formats;
            notes.push(format!("{f}; log_line_prefix '{}' ({how})", escape(prefix.as_bytes())));
        }
        (None, true) => {}
        (None, false) => notes.push(formats),
    }
    if r.reordered {
        let names: Vec<String> = r.inputs.iter().map(|n| escape(n.as_bytes())).collect();
        notes.push(format!("read in log-time order: {}", names.join(", ")));
    }
    let backwards: Vec<String> = (r.inputs.iter().zip(r.input_times))
        .filter(|(_, t)| t.newest_first)
        .map(|(n, _)| escape(n.as_bytes()))
        .collect();
    if !backwards.is_empty() {
        notes.push(format!("newest line first, read oldest first: {}", backwards.join(", ")));
    }
    if let Some(w) = &r.went_back {
        notes.push(format!("warning: {}", crate::report::went_back(w, r.inputs, p.zone.as_ref())));
    }
    // (Without connection lines, the no_connections note says why.)
    let lower = (s.active_lower_bound || s.peak_lower_bound) && !s.connections_from_disconnections;
    let unseen = if s.after_reset {
        "sessions open before the statistics were reset (SIGHUP) are not seen"
    } else {
        "sessions from before the log may have been open unseen (no server start in it)"
    };
    if lower && (s.active_upper_bound || s.peak_upper_bound) {
        notes.push(format!("~: {unseen}, and sessions never seen to end are counted as open"));
    } else if lower {
        notes.push(format!("≥: {unseen}"));
    }
    if s.unknown_start > 0 {
        notes.push(format!(
            "{} disconnection(s) of sessions that began before the log",
            s.unknown_start
        ));
    }
    if s.untracked > 0 || s.untracked_attempts > 0 {
        notes.push(format!(
            "{} session(s) and {} attempt(s) not tracked: more than 100,000 open at once",
            s.untracked, s.untracked_attempts
        ));
    }
    let st = r.stats;
    if st.unparsed > 0 {
        notes.push(format!("{} connection line(s) could not be used", st.unparsed));
    }
    if st.invalid_utf8 > 0 || st.nul_lines > 0 {
        notes.push(format!(
            "{} line(s) with invalid UTF-8, {} with NUL bytes (names shown escaped)",
            st.invalid_utf8, st.nul_lines
        ));
    }
    // Without a time in the prefix, the no_time note says it.
    if r.untimed > 0 && r.time_in_prefix {
        notes.push(format!("{} event(s) without a time left out of --since/--until", r.untimed));
    }
    if st.skipped_lines > 0 {
        notes.push(format!(
            "{} csvlog line(s) skipped after an unterminated quote",
            st.skipped_lines
        ));
    }
    if r.long_lines > 0 {
        notes.push(format!("{} line(s) longer than 1 MiB were cut", r.long_lines));
    }
    if !notes.is_empty() {
        writeln!(out)?;
        for n in notes {
            writeln!(out, "{}", n.style(p.dim))?;
        }
    }
    crate::report::write_notes_block(out, &crate::report::notes::notes(r, p.zone.as_ref()), p)
}
