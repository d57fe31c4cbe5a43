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
pub(crate) mod sessions;
pub(crate) mod table;
pub(crate) mod watch;

use owo_colors::Style;

use crate::filter::Filter;
use crate::parse::Stats;
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
    /// Events left out of a --since/--until window for having no time.
    pub(crate) untimed: u64,
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
}

/// Colors, decided once. With color off every style is plain and writes
/// no escape codes, so renderers have no `if color`.
pub(crate) struct Palette {
    pub(crate) title: Style,
    pub(crate) header: Style,
    pub(crate) active: Style,
    pub(crate) failure: Style,
    pub(crate) dim: Style,
    pub(crate) connect: Style,
    pub(crate) disconnect: Style,
}

impl Palette {
    pub(crate) fn new(color: bool) -> Palette {
        if !color {
            return Palette {
                title: Style::new(),
                header: Style::new(),
                active: Style::new(),
                failure: Style::new(),
                dim: Style::new(),
                connect: Style::new(),
                disconnect: Style::new(),
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
        }
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
pub(crate) fn went_back(w: &crate::clock::WentBack, inputs: &[String]) -> String {
    let input = inputs.get(w.input).map_or_else(String::new, |n| escape(n.as_bytes()));
    format!(
        "time went back {} in the input, by up to {} (first in {input}, from {} to {}): \
         logs that overlap or a clock set back; figures that depend on time order (active, \
         peak, sessions, history) are unreliable",
        if w.count == 1 { "once".to_string() } else { format!("{} times", w.count) },
        crate::time::human_ms(w.max_ms as u64),
        w.from,
        w.to
    )
}

/// What to tell the user when nothing was found (exit status 1).
pub(crate) fn nothing_found_hint(r: &Report<'_>, totals: &Totals, filter: &Filter) -> String {
    let events = totals.events - totals.unknown_fatal;
    if events > 0 && !filter.is_empty() {
        return format!("no connection event matched the filters ({events} events in the input)");
    }
    // No English message pgconn knows, but FATALs it does not: the
    // messages are in another language (lc_messages).
    let unknown_only = totals.unknown_fatal > 0 && events == 0 && totals.server_events == 0;
    if r.stats.prefix_mismatch > 0 {
        let prefix = match (r.prefix, r.prefix_inferred) {
            (Some(p), true) => format!("the inferred log_line_prefix '{p}'"),
            (Some(p), false) => format!("--prefix '{p}'"),
            (None, _) => "the log_line_prefix".to_string(),
        };
        return format!(
            "{} connection or server line(s) did not match {prefix}; first: {}\n\
             pass the server's value (SHOW log_line_prefix) with --prefix",
            r.stats.prefix_mismatch,
            escape(r.stats.first_unparsed.as_deref().unwrap_or("").as_bytes()),
        );
    }
    if r.stats.foreign_severity > 0 || unknown_only {
        let why = if r.stats.foreign_severity > 0 {
            format!("{} line(s) have severity words that are not English", r.stats.foreign_severity)
        } else {
            format!("{} FATAL message(s) are none pgconn knows", totals.unknown_fatal)
        };
        return format!(
            "no connection events found, and {why}: the log looks translated \
             (lc_messages). pgconn reads PostgreSQL's English messages: set lc_messages = 'C' \
             on the server (ALTER SYSTEM SET lc_messages = 'C'; SELECT pg_reload_conf();)"
        );
    }
    if r.prefix.is_none() && r.formats.is_empty() {
        return format!(
            "no PostgreSQL log lines found in {} bytes of input (expected stderr-format \
             lines such as '2025-03-01 10:00:00.123 UTC [4242] LOG:  ...')",
            r.bytes
        );
    }
    "no connection events found; the server must log them, in English:\n  \
     ALTER SYSTEM SET log_connections = on;\n  \
     ALTER SYSTEM SET log_disconnections = on;\n  \
     ALTER SYSTEM SET lc_messages = 'C';   -- if it is another language\n  \
     SELECT pg_reload_conf();"
        .to_string()
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
