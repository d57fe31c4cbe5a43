//! Reports: pure renderers of a `Snapshot` into bytes.
//!
//! Renderers never read the environment or the clock; everything they
//! show is in the `Report` they are given. Names from the log are
//! client-controlled: the table escapes every control character and
//! invalid byte (`\x1b`, `\r`, `\xff`), and JSON output is always valid
//! (serde_json escapes, invalid UTF-8 becomes U+FFFD).

pub(crate) mod failures;
pub(crate) mod history;
pub(crate) mod json;
pub(crate) mod live;
pub(crate) mod notes;
pub(crate) mod openmetrics;
pub(crate) mod sessions;
pub(crate) mod table;
pub(crate) mod watch;

use owo_colors::Style;

use crate::config::Mode;
use crate::parse::Stats;
use crate::time::Timestamp;
use crate::tracker::{Snapshot, Totals};

/// Everything a summary shows.
pub(crate) struct Report<'a> {
    pub(crate) snapshot: &'a Snapshot,
    pub(crate) stats: &'a Stats,
    pub(crate) bytes: u64,
    pub(crate) long_lines: u64,
    pub(crate) prefix: Option<&'a str>,
    pub(crate) prefix_inferred: bool,
    pub(crate) pid_in_prefix: bool,
    pub(crate) time_in_prefix: bool,
    /// The formats of the inputs read.
    pub(crate) formats: &'a [crate::parse::Format],
    /// The envelopes their lines were carried in, outermost first.
    pub(crate) envelopes: &'a [crate::parse::envelope::Envelope],
    /// Whole-log counters, matching the filters or not.
    pub(crate) totals: &'a Totals,
    /// What the command line asked for, for the notes.
    pub(crate) asked: Asked,
    /// Events left out of a --since/--until window for having no time.
    pub(crate) untimed: u64,
    /// ... for being outside it, and the first and last of those.
    pub(crate) outside: u64,
    pub(crate) outside_span: Option<(Timestamp, Timestamp)>,
    /// The inputs in the order read, and the times of those begun.
    pub(crate) inputs: &'a [String],
    pub(crate) input_times: &'a [crate::clock::InputTimes],
    /// The order read is log time's, not the command line's.
    pub(crate) reordered: bool,
    /// Where time went back in the events as read.
    pub(crate) went_back: Option<crate::clock::WentBack>,
    /// Hosts over the brute-force threshold, and the threshold.
    pub(crate) brute_force: &'a [crate::tracker::BruteForce],
    pub(crate) brute_rule: (u64, i64),
    /// Room for the session-time columns.
    pub(crate) wide: bool,
    /// Times SIGHUP reset the statistics.
    pub(crate) resets: u64,
}

/// What the command line asked for that can explain a report (see
/// notes.rs): a filter or window that left nothing, a prefix that was not
/// used, the view whose cost a note names first.
#[derive(Clone, Debug, Default)]
pub(crate) struct Asked {
    /// `--db a --host 10.0.0.0/8`, or empty.
    pub(crate) filters: String,
    /// `--since '2025-03-01 10:00:00' --until 30m`, or empty.
    pub(crate) window: String,
    pub(crate) prefix_given: bool,
    pub(crate) mode: Mode,
    /// `--tz`'s zone name: a date without a zone in the window is read in
    /// it.
    pub(crate) tz: Option<String>,
}

/// How text looks, decided once: colors, and the zone times are shown in.
/// With color off every style is plain and writes no escape codes, so
/// renderers have no `if color`.
pub(crate) struct Palette {
    pub(crate) title: Style,
    pub(crate) header: Style,
    pub(crate) active: Style,
    pub(crate) failure: Style,
    pub(crate) dim: Style,
    pub(crate) connect: Style,
    pub(crate) disconnect: Style,
    /// `--tz`; None: each time in its log's own zone.
    pub(crate) zone: Option<crate::zone::Zone>,
}

impl Palette {
    pub(crate) fn new(color: bool, zone: Option<crate::zone::Zone>) -> Palette {
        if !color {
            return Palette {
                title: Style::new(),
                header: Style::new(),
                active: Style::new(),
                failure: Style::new(),
                dim: Style::new(),
                connect: Style::new(),
                disconnect: Style::new(),
                zone,
            };
        }
        Palette {
            title: Style::new().bold(),
            header: Style::new().bold().underline(),
            active: Style::new().green(),
            failure: Style::new().red(),
            dim: Style::new().dimmed(),
            connect: Style::new().green().bold(),
            disconnect: Style::new().yellow(),
            zone,
        }
    }

    /// `t` as text shows it (time.rs `Timestamp::shown`).
    pub(crate) fn time(&self, t: Timestamp) -> String {
        t.shown(self.zone.as_ref())
    }
}

/// Makes log bytes safe for a terminal: control characters, bidi
/// overrides and invalid UTF-8 are written as escapes.
pub(crate) fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => {
                    let n = c as u32;
                    if n < 0x100 {
                        out.push_str(&format!("\\x{n:02x}"));
                    } else {
                        out.push_str(&format!("\\u{{{n:04x}}}"));
                    }
                }
                '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                    out.push_str(&format!("\\u{{{:04x}}}", c as u32));
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Cuts `s` to `width` characters, ending with `…` when cut.
pub(crate) fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// What time going back means for the figures, and where it did.
pub(crate) fn went_back(
    w: &crate::clock::WentBack,
    inputs: &[String],
    zone: Option<&crate::zone::Zone>,
) -> String {
    let input = inputs.get(w.input).map_or_else(String::new, |n| escape(n.as_bytes()));
    format!(
        "time went back {} in the input, by up to {} (first in {input}, from {} to {}): \
         logs that overlap or a clock set back; figures that depend on time order (active, \
         peak, sessions, history) are unreliable",
        if w.count == 1 { "once".to_string() } else { format!("{} times", w.count) },
        crate::time::human_ms(w.max_ms as u64),
        w.from.shown(zone),
        w.to.shown(zone)
    )
}

/// Lines of the "Notes" block are cut to this width (they wrap at words).
const NOTES_WIDTH: usize = 79;

/// Writes the "Notes" block (nothing when there are none), after a blank
/// line.
pub(crate) fn write_notes_block<W: std::io::Write>(
    out: &mut W,
    notes: &[notes::Note],
    p: &Palette,
) -> std::io::Result<()> {
    use owo_colors::OwoColorize;
    if notes.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "{}", "Notes".style(p.header))?;
    notes::write_text(out, notes, "  ", NOTES_WIDTH)
}

/// What to tell the user when nothing was found (exit status 1): the
/// notes, each with its fix, for standard error.
pub(crate) fn nothing_found_hint(r: &Report<'_>, zone: Option<&crate::zone::Zone>) -> String {
    let mut out = String::new();
    for n in notes::notes(r, zone) {
        out.push_str(&format!(
            "pgconn: {}
  fix: {}
",
            n.message, n.fix
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls() {
        assert_eq!(escape(b"\x1b]0;owned\x07"), "\\x1b]0;owned\\x07");
        assert_eq!(escape(b"a\rb\nc"), "a\\rb\\nc");
        assert_eq!(escape(b"ok \xff\xfe name"), "ok \\xff\\xfe name");
        assert_eq!(escape("caf\u{e9}".as_bytes()), "caf\u{e9}");
        assert_eq!(escape("\u{202e}evil".as_bytes()), "\\u{202e}evil");
        assert_eq!(escape("\u{9b}31m".as_bytes()), "\\x9b31m");
    }

    #[test]
    fn truncates_with_ellipsis() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("a very long name", 8), "a very …");
    }
}

/// Which report this is, for pipelines that read several (`--every`):
/// its number from 1, whether it is the last, and when it was written.
pub(crate) struct Stamp {
    pub(crate) report: u64,
    pub(crate) last: bool,
    /// RFC 3339 in UTC (`wall_clock_now`), and as milliseconds.
    pub(crate) generated_at: String,
    pub(crate) generated_ms: i64,
}

impl Stamp {
    /// The stamp of report `report` written now (`wall_clock_now`).
    pub(crate) fn now(report: u64, last: bool) -> Stamp {
        let ms = wall_clock_ms();
        Stamp { report, last, generated_at: utc_rfc3339(ms), generated_ms: ms }
    }

    /// The line above a text report with `--every`: the time in RFC 3339,
    /// UTC or with the `--tz` zone's offset.
    pub(crate) fn header(&self, zone: Option<&crate::zone::Zone>) -> String {
        let last = if self.last { ", final" } else { "" };
        let at = match zone {
            None => self.generated_at.clone(),
            Some(z) => z.rfc3339(self.generated_ms),
        };
        format!("--- report {}{last}, generated at {at} ---", self.report)
    }

    /// `json` (one object per line) with `"report":N,"final":B,
    /// "generated_at":T` after each object's `"type"`.
    pub(crate) fn stamp_json(&self, json: &[u8]) -> Vec<u8> {
        let fields = format!(
            ",\"report\":{},\"final\":{},\"generated_at\":\"{}\"",
            self.report, self.last, self.generated_at
        );
        let mut out = Vec::with_capacity(json.len() + 80);
        for line in json.split_inclusive(|&c| c == b'\n') {
            // `{"type":"NAME"` then the rest: the name holds no quote.
            let head = line
                .strip_prefix(b"{\"type\":\"")
                .and_then(|rest| memchr::memchr(b'"', rest))
                .map(|end| 9 + end + 1);
            match head {
                Some(at) => {
                    out.extend_from_slice(&line[..at]);
                    out.extend_from_slice(fields.as_bytes());
                    out.extend_from_slice(&line[at..]);
                }
                None => out.extend_from_slice(line),
            }
        }
        out
    }
}

/// The wall clock, in ms since the epoch; `SOURCE_DATE_EPOCH` (seconds),
/// when set, instead: the reproducible-builds convention, for output that
/// must compare equal across runs.
fn wall_clock_ms() -> i64 {
    let fixed = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.trim().parse::<i64>().ok());
    fixed.map(|s| s.saturating_mul(1000)).unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    })
}

/// RFC 3339 in UTC to the millisecond: `2026-12-07T05:00:00.000Z`.
fn utc_rfc3339(ms: i64) -> String {
    let civil = crate::time::format_civil(ms).replace(' ', "T");
    format!("{civil}.{:03}Z", ms.rem_euclid(1000))
}

#[cfg(test)]
mod stamp_tests {
    use super::*;

    #[test]
    fn json_objects_get_the_stamp_after_their_type() {
        let s = Stamp {
            report: 2,
            last: true,
            generated_at: "2026-12-07T05:00:00.000Z".into(),
            generated_ms: 1_796_619_600_000,
        };
        let out = s.stamp_json(b"{\"type\":\"bucket\",\"a\":1}\n{\"type\":\"leak\"}\n");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"type\":\"bucket\",\"report\":2,\"final\":true,\"generated_at\":\"2026-12-07T05:00:00.000Z\",\"a\":1}\n\
             {\"type\":\"leak\",\"report\":2,\"final\":true,\"generated_at\":\"2026-12-07T05:00:00.000Z\"}\n"
        );
        assert_eq!(
            s.header(None),
            "--- report 2, final, generated at 2026-12-07T05:00:00.000Z ---"
        );
        let tokyo = crate::zone::Zone::resolve("+09:00").unwrap();
        assert!(s.header(Some(&tokyo)).ends_with("at 2026-12-07T14:00:00.000+09:00 ---"));
        let now = Stamp::now(1, false).generated_at;
        assert_eq!((now.len(), &now[10..11], &now[23..]), (24, "T", "Z"), "{now}");
    }
}
