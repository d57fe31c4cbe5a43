//! The time order of an input, from its first lines: the time of a line of
//! each format, the earliest of them (to read several files in log-time
//! order), and whether they run newest first (exports of log services,
//! `tac`: such an input is kept and read back oldest first, see
//! `LogParser`).
//!
//! Only the lines an input's format and prefix are decided from come
//! here (`DECIDE_LINES`), never the hot path: every line is looked at,
//! not only connection lines, since a log may hold few of those.

use crate::parse::Format;
use crate::parse::csv;
use crate::parse::syslog::{self, Stamp};
use crate::prefix::{Prefix, PrefixCache};
use crate::scan::Scanner;
use crate::time::Timestamp;

/// What an input's first lines say about its times.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Head {
    /// The earliest time among them.
    pub(crate) earliest: Option<Timestamp>,
    /// Their times mostly go down: the input is read oldest first.
    pub(crate) newest_first: bool,
}

impl Head {
    pub(crate) fn of(times: &[Timestamp], newest_first: bool) -> Head {
        Head { earliest: times.iter().copied().min_by_key(|t| t.ms), newest_first }
    }
}

/// Whether `times`, in the order of their lines, mostly go down: more
/// steps down than up (lines of the same millisecond say nothing).
pub(crate) fn runs_backwards(times: &[Timestamp]) -> bool {
    let down = times.windows(2).filter(|w| w[1].ms < w[0].ms).count();
    let up = times.windows(2).filter(|w| w[1].ms > w[0].ms).count();
    down > up
}

/// Reads the times of lines of one format.
pub(crate) struct LineTimes<'a> {
    format: Format,
    prefix: Option<(&'a Prefix, PrefixCache)>,
    scanner: Scanner,
    /// The year of RFC 3164 syslog times (ms since the epoch).
    reference: i64,
}

impl LineTimes<'_> {
    /// `prefix`: the log_line_prefix of stderr lines (and of the text
    /// after a syslog header); `reference`: see `Timestamp::parse_bsd`.
    pub(crate) fn new(format: Format, prefix: Option<&Prefix>, reference: i64) -> LineTimes<'_> {
        LineTimes {
            format,
            prefix: prefix.map(|p| (p, p.create_cache())),
            scanner: Scanner::new(),
            reference,
        }
    }

    /// The time `line` (without its newline) was written, when it has one.
    pub(crate) fn of(&mut self, line: &[u8]) -> Option<Timestamp> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match self.format {
            Format::Json => {
                let rest = line.strip_prefix(b"{\"timestamp\":\"")?;
                Timestamp::parse(&rest[..memchr::memchr(b'"', rest)?])
            }
            Format::Csv => {
                if !csv::looks_like_record_start(line) {
                    return None;
                }
                Timestamp::parse(&line[..memchr::memchr(b',', line)?])
            }
            Format::Syslog => {
                let h = syslog::header(line)?;
                self.stderr(h.body).or_else(|| match h.time {
                    Stamp::Bsd(t) => Timestamp::parse_bsd(t, self.reference),
                    Stamp::Rfc3339(t) => Timestamp::parse_rfc3339(t),
                    Stamp::None => None,
                })
            }
            Format::Stderr => self.stderr(line),
        }
    }

    /// The time in a stderr line's prefix, or at its start.
    fn stderr(&mut self, line: &[u8]) -> Option<Timestamp> {
        if line.first() == Some(&b'\t') {
            return None;
        }
        let in_prefix = match (&mut self.prefix, self.scanner.severity(line)) {
            (Some((p, cache)), Some(sev)) => p.parse(&line[..sev.start], cache)?.time,
            _ => None,
        };
        in_prefix.or_else(|| leading_time(line))
    }
}

/// `YYYY-MM-DD HH:MM:SS[.fff][ ZONE]` at the start of `line`.
fn leading_time(line: &[u8]) -> Option<Timestamp> {
    if line.len() < 19 || line[4] != b'-' {
        return None;
    }
    let mut end = 19;
    if line.get(end) == Some(&b'.') {
        end += 1 + line[end + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
    }
    if line.get(end) == Some(&b' ') {
        let zone = line[end + 1..].iter().take(9).take_while(|&&c| c != b' ').count();
        if let Some(t) = Timestamp::parse(&line[..end + 1 + zone]) {
            return Some(t);
        }
    }
    Timestamp::parse(&line[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(format: Format, prefix: Option<&str>, lines: &str) -> Vec<Option<i64>> {
        let prefix = prefix.map(|p| Prefix::compile(p).unwrap());
        let mut t = LineTimes::new(format, prefix.as_ref(), 0);
        lines.lines().map(|l| t.of(l.as_bytes()).map(|t| t.ms % 86_400_000)).collect()
    }

    #[test]
    fn times_of_each_format() {
        let ten = 36_000_000;
        let stderr = "2025-03-01 10:00:00.123 UTC [1] LOG:  x\n\tcontinued\nno time here\n";
        assert_eq!(times(Format::Stderr, None, stderr), [Some(ten + 123), None, None]);
        // A time inside the prefix, in a zone.
        let later = "[1] 2025-03-01 12:00:01 CEST LOG:  x\n";
        assert_eq!(times(Format::Stderr, Some("[%p] %t "), later), [Some(ten + 1000)]);
        let csv = "2025-03-01 10:00:01.586 UTC,,,18327,\"h:5\",6b.47,1,\"\",x,,0,LOG,00000,\"m\"\n\
                   continued\"\n";
        assert_eq!(times(Format::Csv, None, csv), [Some(ten + 1586), None]);
        let json = "{\"timestamp\":\"2025-03-01 10:00:00.092 UTC\",\"pid\":1}\n";
        assert_eq!(times(Format::Json, None, json), [Some(ten + 92)]);
        let syslog = "Mar  1 10:00:01 db1 postgres[4301]: [7-1] 2025-03-01 10:00:01.864 UTC [4301] LOG:  x\n\
                      2025-03-01T10:00:02.5+00:00 db1 postgres[4301]: [8-1] [4301] LOG:  y\n";
        assert_eq!(times(Format::Syslog, None, syslog), [Some(ten + 1864), Some(ten + 2500)]);
    }

    #[test]
    fn backwards_is_more_steps_down_than_up() {
        let at = |ms: &[i64]| -> Vec<Timestamp> {
            ms.iter().map(|&m| Timestamp::from_unix_ms(m)).collect()
        };
        assert!(runs_backwards(&at(&[5, 4, 4, 3, 3, 2, 1])));
        assert!(!runs_backwards(&at(&[1, 2, 2, 1, 3, 4])));
        assert!(!runs_backwards(&at(&[1, 1, 1])));
        assert!(!runs_backwards(&at(&[])));
        let head = Head::of(&at(&[5, 3, 4]), true);
        assert_eq!(head.earliest.map(|t| t.ms), Some(3));
    }
}
