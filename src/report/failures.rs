//! `--failures`: failed connection attempts by reason, with when they
//! happened and the raw lines, by user, database and host, and the hosts
//! that look like password guessing or a scan.
//!
//! # JSON
//!
//! One `failure_reason` object per reason, most frequent first:
//! `{"type":"failure_reason","reason":S,"class":S,"count":N,
//! "first":TIME|null,"last":TIME|null,"samples":[S,...]}`, then one
//! `brute_force` object per flagged host: `{"type":"brute_force","host":S,
//! "failures":N,"roles":N,"max_in_window":N,"roles_in_window":N,
//! "window_seconds":F,"first":TIME,"last":TIME}`, then one `failures_by`
//! object per breakdown: `{"type":"failures_by","dimension":S,
//! "rows":[{"name":S,"failures":N},...]}` whose rows add up to the
//! failures (`(other)` past the top `--top`, `(unknown)` where the log does
//! not name it), then `{"type":"probes","total":N,"by_kind":{S:N,...},
//! "by_host":[{"host":S,"probes":N},...]}`.

use std::io::{self, Write};

use owo_colors::OwoColorize;
use serde::Serialize;

use crate::event::Reason;
use crate::report::{Palette, escape};
use crate::time::human_ms;
use crate::tracker::{Breakdown, BruteForce, Probes, ReasonDetail};

/// Sample lines longer than this are cut (the JSON carries them whole).
const SAMPLE_WIDTH: usize = 1000;

pub(crate) struct FailureView<'a> {
    pub(crate) reasons: &'a [(Reason, u64, ReasonDetail)],
    pub(crate) brute_force: &'a [BruteForce],
    /// (failures, window ms) of the threshold.
    pub(crate) rule: (u64, i64),
    pub(crate) breakdowns: &'a [Breakdown],
    pub(crate) probes: &'a Probes,
    /// Rows a breakdown shows before `(other)` (`--top`); 0: all.
    pub(crate) top: usize,
}

/// A breakdown's failures, most first: the top `top` (0: all), `(other)`
/// for the rest, and `(unknown)` for the failures whose log lines do not
/// name this breakdown's field, so that the rows add up to `total`.
fn failure_rows(b: &Breakdown, total: u64, top: usize) -> Vec<(String, u64)> {
    let mut rows: Vec<_> = b.rows.iter().filter(|r| r.row.failures > 0).collect();
    rows.sort_by(|a, b| b.row.failures.cmp(&a.row.failures).then(a.name.cmp(&b.name)));
    let mut out: Vec<(String, u64)> = Vec::new();
    let mut other = 0;
    for (i, r) in rows.iter().enumerate() {
        if (top == 0 || i < top) && r.name != b"(other)" {
            out.push((String::from_utf8_lossy(&r.name).into_owned(), r.row.failures));
        } else {
            other += r.row.failures;
        }
    }
    if other > 0 {
        out.push(("(other)".into(), other));
    }
    let named: u64 = out.iter().map(|r| r.1).sum();
    if total > named {
        out.push(("(unknown)".into(), total - named));
    }
    out
}

pub(crate) fn write_table<W: Write>(
    out: &mut W,
    v: &FailureView<'_>,
    p: &Palette,
) -> io::Result<()> {
    let total: u64 = v.reasons.iter().map(|r| r.1).sum();
    writeln!(out, "{} {total} failed connection attempt(s)", "pgconn failures".style(p.title))?;
    for (reason, n, d) in v.reasons {
        writeln!(out)?;
        let when = match (d.first, d.last) {
            (Some(f), Some(l)) => format!("  first {}, last {}", p.time(f), p.time(l)),
            _ => String::new(),
        };
        let what = format!("  {}: {}", reason.class().as_str(), reason.describe());
        writeln!(
            out,
            "{} {}{}{}",
            reason.as_str().style(p.failure),
            n,
            what.style(p.dim),
            when.style(p.dim)
        )?;
        for s in &d.samples {
            writeln!(out, "  {}", crate::report::truncate(&escape(s.as_bytes()), SAMPLE_WIDTH))?;
        }
    }
    write_brute_force(out, v.brute_force, v.rule, p)?;
    for b in v.breakdowns.iter().filter(|b| !b.unavailable) {
        let rows = failure_rows(b, total, v.top);
        if rows.is_empty() {
            continue;
        }
        writeln!(out)?;
        writeln!(
            out,
            "{}",
            format!("FAILURES BY {}", b.dimension.name().to_uppercase()).style(p.header)
        )?;
        for (name, n) in rows {
            let name = if name.starts_with('(') { name } else { escape(name.as_bytes()) };
            writeln!(out, "  {:<40} {:>7}", crate::report::truncate(&name, 40), n)?;
        }
    }
    write_probes(out, v.probes, p)
}

/// Probes, apart from failures (in the failures view and the summary).
pub(crate) fn write_probes<W: Write>(out: &mut W, probes: &Probes, p: &Palette) -> io::Result<()> {
    if probes.total == 0 {
        return Ok(());
    }
    writeln!(out)?;
    let kinds: Vec<String> = probes.kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    writeln!(
        out,
        "{} {}   {}",
        "Probes (not failures)".style(p.header),
        probes.total,
        kinds.join(", ").style(p.dim)
    )?;
    for (host, n) in &probes.by_host {
        writeln!(out, "  {:<40} {:>7}", crate::report::truncate(&escape(host), 40), n)?;
    }
    Ok(())
}

/// The hosts over the threshold (in the failures view and the summary).
pub(crate) fn write_brute_force<W: Write>(
    out: &mut W,
    hosts: &[BruteForce],
    (n, window_ms): (u64, i64),
    p: &Palette,
) -> io::Result<()> {
    if hosts.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        format!(
            "Password guessing or scanning ({n} or more failures within {})",
            human_ms(window_ms as u64)
        )
        .style(p.header)
    )?;
    for h in hosts {
        let when = match (h.first, h.last) {
            (Some(f), Some(l)) => format!(", {} to {}", p.time(f), p.time(l)),
            _ => String::new(),
        };
        writeln!(
            out,
            "  {}: {} failures, {} roles tried (up to {} failures and {} roles within {}){when}",
            crate::report::truncate(&escape(&h.host), 40).style(p.failure),
            h.failures,
            h.roles,
            h.worst,
            h.worst_roles,
            human_ms(window_ms as u64)
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
struct ReasonJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    reason: &'static str,
    class: &'static str,
    count: u64,
    first: Option<String>,
    last: Option<String>,
    samples: &'a [String],
}

#[derive(Serialize)]
pub(crate) struct BruteForceJson {
    #[serde(rename = "type")]
    kind: &'static str,
    host: String,
    failures: u64,
    roles: u64,
    max_in_window: u64,
    roles_in_window: u64,
    window_seconds: f64,
    first: Option<String>,
    last: Option<String>,
}

pub(crate) fn brute_force_json(h: &BruteForce, window_ms: i64) -> BruteForceJson {
    BruteForceJson {
        kind: "brute_force",
        host: String::from_utf8_lossy(&h.host).into_owned(),
        failures: h.failures,
        roles: h.roles,
        max_in_window: h.worst,
        roles_in_window: h.worst_roles,
        window_seconds: window_ms as f64 / 1000.0,
        first: h.first.map(|t| t.rfc3339()),
        last: h.last.map(|t| t.rfc3339()),
    }
}

pub(crate) fn write_json<W: Write>(out: &mut W, v: &FailureView<'_>) -> io::Result<()> {
    for (reason, n, d) in v.reasons {
        let j = ReasonJson {
            kind: "failure_reason",
            reason: reason.as_str(),
            class: reason.class().as_str(),
            count: *n,
            first: d.first.map(|t| t.rfc3339()),
            last: d.last.map(|t| t.rfc3339()),
            samples: &d.samples,
        };
        serde_json::to_writer(&mut *out, &j).map_err(io::Error::from)?;
        out.write_all(b"\n")?;
    }
    for h in v.brute_force {
        serde_json::to_writer(&mut *out, &brute_force_json(h, v.rule.1))
            .map_err(io::Error::from)?;
        out.write_all(b"\n")?;
    }
    let total: u64 = v.reasons.iter().map(|r| r.1).sum();
    for b in v.breakdowns.iter().filter(|b| !b.unavailable) {
        let j = FailuresByJson {
            kind: "failures_by",
            dimension: b.dimension.name(),
            rows: failure_rows(b, total, v.top)
                .into_iter()
                .map(|(name, failures)| FailureRowJson { name, failures })
                .collect(),
        };
        serde_json::to_writer(&mut *out, &j).map_err(io::Error::from)?;
        out.write_all(b"\n")?;
    }
    serde_json::to_writer(&mut *out, &probes_json(v.probes, Some("probes")))
        .map_err(io::Error::from)?;
    out.write_all(b"\n")
}

#[derive(Serialize)]
struct FailuresByJson {
    #[serde(rename = "type")]
    kind: &'static str,
    dimension: &'static str,
    rows: Vec<FailureRowJson>,
}

#[derive(Serialize)]
struct FailureRowJson {
    name: String,
    failures: u64,
}

#[derive(Serialize)]
pub(crate) struct ProbesJson {
    /// `probes` as an object of its own; absent inside the summary.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    total: u64,
    by_kind: std::collections::BTreeMap<&'static str, u64>,
    by_host: Vec<ProbeHostJson>,
}

#[derive(Serialize)]
struct ProbeHostJson {
    host: String,
    probes: u64,
}

pub(crate) fn probes_json(p: &Probes, kind: Option<&'static str>) -> ProbesJson {
    ProbesJson {
        kind,
        total: p.total,
        by_kind: p.kinds.iter().copied().collect(),
        by_host: p
            .by_host
            .iter()
            .map(|(h, n)| ProbeHostJson {
                host: String::from_utf8_lossy(h).into_owned(),
                probes: *n,
            })
            .collect(),
    }
}
