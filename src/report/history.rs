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
//! open unseen (no server start or restart seen yet).

use std::io::{self, Write};

use owo_colors::OwoColorize;
use serde::Serialize;

use crate::report::{Palette, escape};
use crate::time::human_ms;
use crate::tracker::{BucketRow, Leak, Timeline};

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
        first.start,
        last.end,
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
        let mark = if r.lower_bound { "≥" } else { " " };
        writeln!(
            out,
            "{:<25} {:>6} {:>6} {:>6} {:>+6} {mark}{:>6} {mark}{:>5} {}",
            r.start.to_string(),
            r.connections,
            r.disconnections,
            r.failures.style(p.failure),
            r.net,
            r.active.style(p.active),
            r.peak,
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
        writeln!(
            out,
            "{}",
            "≥: sessions from before the log may have been open unseen (no server start in it yet)"
                .style(p.dim)
        )?;
    }
    write_leaks(out, leaks, p)
}

/// Leak hints, under the history and in the summary.
pub(crate) fn write_leaks<W: Write>(out: &mut W, leaks: &[Leak], p: &Palette) -> io::Result<()> {
    if leaks.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "{}", "Possible leaks (open sessions that only grow)".style(p.header))?;
    for l in leaks {
        writeln!(
            out,
            "  {} {}: {} open since {}, none or almost none closed, +{:.1}/min",
            l.dimension.name(),
            escape(&l.name).style(p.failure),
            l.open,
            l.since,
            l.per_minute
        )?;
    }
    Ok(())
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

pub(crate) fn write_json<W: Write>(out: &mut W, t: &Timeline) -> io::Result<()> {
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
