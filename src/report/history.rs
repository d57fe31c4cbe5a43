//! `--history`: the timeline, as a table with a sparkline, or as NDJSON
//! `bucket` objects.
//!
//! The table keeps to a screenful: past `MAX_ROWS` buckets, neighbouring
//! rows are merged (and the header says by how much). JSON always has
//! every bucket pgconn kept.
//!
//! # JSON
//!
//! `{"type":"bucket","start":TIME,"end":TIME,"connections":N,
//! "disconnections":N,"failures":N,"net":N,"active":N,"peak":N,
//! "lower_bound":B}`: `net` is sessions open at the end minus at the start;
//! `lower_bound` is true while sessions from before the log may have been
//! open unseen (no server start or restart seen yet). Then one
//! `{"type":"history_total","buckets":N,"bucket_seconds":F,
//! "connections":N,"disconnections":N,"failures":N,"net":N,
//! "ended_without_line":N}` and one `{"type":"leak",...}` per leak hint (as
//! in the summary's `leaks`).

use std::io::{self, Write};

use owo_colors::OwoColorize;
use serde::Serialize;

use crate::report::{Palette, escape};
use crate::time::human_ms;
use crate::tracker::{BucketRow, LEAK_SESSIONS, LEAK_SPAN_MS, Leak, Timeline};

/// More buckets than this are merged for the table.
const MAX_ROWS: usize = 200;

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

fn spark(value: u64, max: u64) -> char {
    if max == 0 {
        return BARS[0];
    }
    BARS[((value * 7 + max / 2) / max).min(7) as usize]
}

/// Merges every `k` rows into one.
fn merge(rows: &[BucketRow], k: usize) -> Vec<BucketRow> {
    rows.chunks(k)
        .map(|c| {
            let first = &c[0];
            let last = &c[c.len() - 1];
            BucketRow {
                start: first.start,
                end: last.end,
                connections: c.iter().map(|r| r.connections).sum(),
                disconnections: c.iter().map(|r| r.disconnections).sum(),
                failures: c.iter().map(|r| r.failures).sum(),
                ended: c.iter().map(|r| r.ended).sum(),
                before: c.iter().map(|r| r.before).sum(),
                net: c.iter().map(|r| r.net).sum(),
                active: last.active,
                peak: c.iter().map(|r| r.peak).max().unwrap_or(0),
                lower_bound: c.iter().any(|r| r.lower_bound),
            }
        })
        .collect()
}

pub(crate) fn write_table<W: Write>(
    out: &mut W,
    t: &Timeline,
    leaks: &[Leak],
    p: &Palette,
) -> io::Result<()> {
    if t.rows.is_empty() {
        return writeln!(out, "pgconn history: no timestamped connection events");
    }
    let k = t.rows.len().div_ceil(MAX_ROWS);
    let rows = if k > 1 { merge(&t.rows, k) } else { t.rows.clone() };
    let width = t.width_ms * k as i64;
    let first = &rows[0];
    let last = &rows[rows.len() - 1];
    write!(
        out,
        "{} {} → {}, buckets of {}",
        "pgconn history".style(p.title),
        p.time(first.start),
        p.time(last.end),
        human_ms(width as u64)
    )?;
    if k > 1 || t.doubled > 0 {
        let asked = t.width_ms >> t.doubled;
        write!(
            out,
            " (asked for {}: {} buckets are too many to read)",
            human_ms(asked as u64),
            t.rows.len() << t.doubled
        )?;
    }
    writeln!(out)?;
    let max = rows.iter().map(|r| r.peak.max(r.active)).max().unwrap_or(0);
    let line: String = rows.iter().map(|r| spark(r.active, max)).collect();
    writeln!(out, "active {} (max {max})", line.style(p.active))?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<25} {:>6} {:>6} {:>6} {:>6} {:>7} {:>6}",
        "START".style(p.header),
        "CONN".style(p.header),
        "DISC".style(p.header),
        "FAIL".style(p.header),
        "NET".style(p.header),
        "ACTIVE".style(p.header),
        "PEAK".style(p.header)
    )?;
    for r in &rows {
        // The mark next to the number it qualifies: `≥5`, not `≥     5`.
        let mark = if r.lower_bound { "≥" } else { "" };
        let active = format!("{mark}{}", r.active);
        let peak = format!("{mark}{}", r.peak);
        // NET is not CONN - DISC where sessions ended without a line or
        // began before the log: marked, and said why below.
        let odd = r.connections as i64 - r.disconnections as i64 != r.net;
        writeln!(
            out,
            "{:<25} {:>6} {:>6} {:>6} {:>+6}{} {:>6} {:>6} {}",
            p.time(r.start),
            r.connections,
            r.disconnections,
            r.failures.style(p.failure),
            r.net,
            if odd { "*" } else { " " },
            active.style(p.active),
            peak,
            spark(r.active, max).style(p.active)
        )?;
    }
    let connects: u64 = rows.iter().map(|r| r.connections).sum();
    let disconnects: u64 = rows.iter().map(|r| r.disconnections).sum();
    let failures: u64 = rows.iter().map(|r| r.failures).sum();
    let net: i64 = rows.iter().map(|r| r.net).sum();
    writeln!(
        out,
        "{:<25} {connects:>6} {disconnects:>6} {failures:>6} {net:>+6}",
        "total".style(p.header)
    )?;
    if rows.iter().any(|r| r.lower_bound) {
        let why = if t.after_reset {
            "≥: sessions open before the statistics were reset (SIGHUP) are not seen"
        } else {
            "≥: sessions from before the log may have been open unseen (no server start in it yet)"
        };
        writeln!(out, "{}", why.style(p.dim))?;
    }
    let ended: u64 = rows.iter().map(|r| r.ended).sum();
    let before: u64 = rows.iter().map(|r| r.before).sum();
    if ended + before > 0 || connects as i64 - disconnects as i64 != net {
        let mut why = Vec::new();
        if ended > 0 {
            why.push(format!(
                "{ended} session(s) ended by a restart or crash without a disconnection line"
            ));
        }
        if before > 0 {
            why.push(format!(
                "{before} disconnection(s) of sessions that began before the log (never counted open)"
            ));
        }
        if why.is_empty() {
            why.push("sessions without pids ended by a restart".to_string());
        }
        writeln!(out, "{}", format!("*: NET is not CONN - DISC: {}", why.join("; ")).style(p.dim))?;
    }
    write_leaks(out, leaks, p)
}

/// Leak hints, under the history and in the summary.
pub(crate) fn write_leaks<W: Write>(out: &mut W, leaks: &[Leak], p: &Palette) -> io::Result<()> {
    if leaks.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        format!(
            "Possible leaks ({LEAK_SESSIONS}+ sessions opened over {}+, none closed normally)",
            human_ms(LEAK_SPAN_MS as u64)
        )
        .style(p.header)
    )?;
    for l in leaks {
        let how = match (l.ended_by, l.until) {
            (Some(cause), Some(until)) => {
                format!("all ended by {} at {}", cause.as_str(), p.time(until))
            }
            _ => format!("{} still open", l.open),
        };
        writeln!(
            out,
            "  {} {}: {} opened since {}, +{:.1}/min; {how}",
            l.dimension.name(),
            escape(&l.name).style(p.failure),
            l.opened,
            p.time(l.since),
            l.per_minute
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
pub(crate) struct LeakJson {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    dimension: &'static str,
    name: String,
    since: String,
    open: u64,
    opened: u64,
    per_minute: f64,
    ended_by: Option<&'static str>,
    until: Option<String>,
}

/// A leak hint as JSON; `kind` is its `type` when it is an object of its
/// own (`--history --json`).
pub(crate) fn leak_json(l: &Leak, kind: Option<&'static str>) -> LeakJson {
    LeakJson {
        kind,
        dimension: l.dimension.name(),
        name: String::from_utf8_lossy(&l.name).into_owned(),
        since: l.since.rfc3339(),
        open: l.open,
        opened: l.opened,
        per_minute: (l.per_minute * 100.0).round() / 100.0,
        ended_by: l.ended_by.map(|c| c.as_str()),
        until: l.until.map(|t| t.rfc3339()),
    }
}

#[derive(Serialize)]
struct BucketJson {
    #[serde(rename = "type")]
    kind: &'static str,
    start: String,
    end: String,
    connections: u64,
    disconnections: u64,
    failures: u64,
    net: i64,
    active: u64,
    peak: u64,
    lower_bound: bool,
}

#[derive(Serialize)]
struct TotalJson {
    #[serde(rename = "type")]
    kind: &'static str,
    buckets: usize,
    bucket_seconds: f64,
    connections: u64,
    disconnections: u64,
    failures: u64,
    net: i64,
    /// Sessions a restart or crash ended without a disconnection line:
    /// `net` is `connections - disconnections - ended_without_line`.
    ended_without_line: u64,
}

pub(crate) fn write_json<W: Write>(out: &mut W, t: &Timeline, leaks: &[Leak]) -> io::Result<()> {
    for r in &t.rows {
        let b = BucketJson {
            kind: "bucket",
            start: r.start.rfc3339(),
            end: r.end.rfc3339(),
            connections: r.connections,
            disconnections: r.disconnections,
            failures: r.failures,
            net: r.net,
            active: r.active,
            peak: r.peak,
            lower_bound: r.lower_bound,
        };
        serde_json::to_writer(&mut *out, &b).map_err(io::Error::from)?;
        out.write_all(b"\n")?;
    }
    let total = TotalJson {
        kind: "history_total",
        buckets: t.rows.len(),
        bucket_seconds: t.width_ms as f64 / 1000.0,
        connections: t.rows.iter().map(|r| r.connections).sum(),
        disconnections: t.rows.iter().map(|r| r.disconnections).sum(),
        failures: t.rows.iter().map(|r| r.failures).sum(),
        net: t.rows.iter().map(|r| r.net).sum(),
        ended_without_line: t.ended_without_line,
    };
    serde_json::to_writer(&mut *out, &total).map_err(io::Error::from)?;
    out.write_all(b"\n")?;
    for l in leaks {
        serde_json::to_writer(&mut *out, &leak_json(l, Some("leak"))).map_err(io::Error::from)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_to_the_max() {
        assert_eq!(spark(0, 10), '▁');
        assert_eq!(spark(10, 10), '█');
        assert_eq!(spark(5, 10), '▅');
        assert_eq!(spark(3, 0), '▁');
    }
}
