//! Turning log bytes into events. Each input format has its parser; the
//! message texts they carry are read by `message`, shared by all.
//!
//! `LogParser` detects each input's format from its first lines (unless
//! `--format` forces one) and hands the input's chunks to that format's
//! parser.

pub(crate) mod csv;
pub(crate) mod json;
pub(crate) mod message;
pub(crate) mod stderr;
pub(crate) mod syslog;

use crate::event::Event;
use crate::prefix::Prefix;
use crate::scan::Scanner;

/// An input format (CLI.md section 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Stderr,
    Csv,
    Json,
    Syslog,
}

impl Format {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Format::Stderr => "stderr",
            Format::Csv => "csvlog",
            Format::Json => "jsonlog",
            Format::Syslog => "syslog",
        }
    }
}

/// The format of the lines in `chunk`, from the first few that are not
/// empty; None when there are none.
pub(crate) fn detect(chunk: &[u8], scanner: &Scanner) -> Option<Format> {
    let mut votes = [0usize; 4];
    let lines = chunk.split(|&c| c == b'\n').filter(|l| !l.trim_ascii().is_empty()).take(20);
    for line in lines {
        let format = if line.starts_with(b"{\"timestamp\":") {
            Format::Json
        } else if csv::looks_like_record_start(line) {
            Format::Csv
        } else if syslog::header(line).is_some() {
            Format::Syslog
        } else if line.first() != Some(&b'\t') && scanner.severity(line).is_some() {
            Format::Stderr
        } else {
            continue;
        };
        votes[format as usize] += 1;
    }
    let (i, &n) = votes.iter().enumerate().max_by_key(|&(i, n)| (*n, std::cmp::Reverse(i)))?;
    (n > 0).then_some([Format::Stderr, Format::Csv, Format::Json, Format::Syslog][i])
}

/// What the parser saw besides events: the "bad input" side of the report.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Stats {
    /// Lines or records whose message is a connection or server message.
    pub(crate) candidates: u64,
    /// Candidate lines that could not be used.
    pub(crate) unparsed: u64,
    /// ... of which the log_line_prefix did not match.
    pub(crate) prefix_mismatch: u64,
    /// The first unusable line, for the hint (lossy, cut short).
    pub(crate) first_unparsed: Option<String>,
    /// Candidate lines holding invalid UTF-8 / NUL bytes (they are used;
    /// their names are shown escaped).
    pub(crate) invalid_utf8: u64,
    pub(crate) nul_lines: u64,
    /// csvlog lines dropped to resynchronise after an unterminated quote.
    pub(crate) skipped_lines: u64,
    /// Records or lines whose severity word is not English (lc_messages).
    pub(crate) foreign_severity: u64,
    /// Lines of a syslog input without a syslog header.
    pub(crate) not_syslog: u64,
    /// `--format` said one thing, the input's first lines another.
    pub(crate) forced_mismatch: Option<(Format, Format)>,
}

impl Stats {
    fn sample(&mut self, line: &[u8]) {
        if self.first_unparsed.is_none() {
            let cut = &line[..line.len().min(300)];
            self.first_unparsed = Some(String::from_utf8_lossy(cut).into_owned());
        }
    }

    pub(crate) fn unmatched(&mut self, line: &[u8], prefix: bool) {
        self.unparsed += 1;
        if prefix {
            self.prefix_mismatch += 1;
        }
        self.sample(line);
    }

    pub(crate) fn skipped(&mut self, lines: u64, text: &[u8]) {
        self.skipped_lines += lines;
        self.unparsed += 1;
        self.sample(text);
    }
}

/// The parser of a run: one per format, the right one per input.
pub(crate) struct LogParser {
    forced: Option<Format>,
    format: Option<Format>,
    /// Formats seen, in order, for the report.
    seen: Vec<Format>,
    stderr: stderr::StderrParser,
    csv: csv::CsvParser,
    json: json::JsonParser,
    syslog: syslog::SyslogParser,
    scanner: Scanner,
}

impl LogParser {
    pub(crate) fn new(prefix: Option<Prefix>, forced: Option<Format>) -> LogParser {
        LogParser {
            forced,
            format: None,
            seen: Vec::new(),
            stderr: stderr::StderrParser::new(prefix.clone()),
            csv: csv::CsvParser::new(),
            json: json::JsonParser::new(),
            syslog: syslog::SyslogParser::new(prefix),
            scanner: Scanner::new(),
        }
    }

    pub(crate) fn process<F>(&mut self, chunk: &[u8], stats: &mut Stats, mut emit: F)
    where
        F: FnMut(&Event<'_>),
    {
        if self.format.is_none() {
            let detected = detect(chunk, &self.scanner);
            if let (Some(forced), Some(found)) = (self.forced, detected)
                && forced != found
            {
                stats.forced_mismatch.get_or_insert((forced, found));
            }
            self.format = self.forced.or(detected);
            if let Some(f) = self.format
                && !self.seen.contains(&f)
            {
                self.seen.push(f);
            }
        }
        match self.format {
            None | Some(Format::Stderr) => self.stderr.process(chunk, stats, &mut emit),
            Some(Format::Csv) => self.csv.process(chunk, stats, &mut emit),
            Some(Format::Json) => self.json.process(chunk, stats, &mut emit),
            Some(Format::Syslog) => self.syslog.process(chunk, stats, &mut emit),
        }
    }

    /// The current input ended: flush what a format holds back (a csvlog
    /// record still open).
    pub(crate) fn end_input<F>(&mut self, stats: &mut Stats, mut emit: F)
    where
        F: FnMut(&Event<'_>),
    {
        if self.format == Some(Format::Csv) {
            self.csv.end_input(stats, &mut emit);
        }
    }

    /// A new input begins: its format is detected, and its prefix inferred,
    /// afresh (several files may come from servers set up differently).
    pub(crate) fn begin_input(&mut self) {
        self.format = None;
        self.stderr.next_input();
        self.syslog.inner.next_input();
    }

    /// The log_line_prefix in use (stderr and syslog inputs).
    pub(crate) fn prefix(&self) -> Option<&Prefix> {
        self.stderr.prefix().or_else(|| self.syslog.inner.prefix())
    }

    pub(crate) fn inferred(&self) -> bool {
        self.stderr.inferred() || self.syslog.inner.inferred()
    }

    pub(crate) fn formats(&self) -> &[Format] {
        &self.seen
    }

    /// Timestamps a format carries in every record, for "no time" notes.
    pub(crate) fn has_time(&self) -> bool {
        let prefixed = self.seen.iter().any(|f| matches!(f, Format::Stderr | Format::Syslog));
        !prefixed || self.prefix().is_none_or(Prefix::has_time)
    }

    pub(crate) fn has_pid(&self) -> bool {
        let prefixed = self.seen.iter().any(|f| matches!(f, Format::Stderr | Format::Syslog));
        !prefixed || self.prefix().is_none_or(Prefix::has_pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        let s = Scanner::new();
        assert_eq!(detect(b"2025-03-01 10:00:00.000 UTC [1] LOG:  x\n", &s), Some(Format::Stderr));
        assert_eq!(
            detect(b"2025-03-01 10:00:01.586 UTC,,,18327,\"10.0.0.5:52020\",6b.47,1,\"\",x,,0,LOG,00000,\"m\"\n", &s),
            Some(Format::Csv)
        );
        assert_eq!(
            detect(b"{\"timestamp\":\"2025-03-01 10:00:00.092 UTC\",\"pid\":1}\n", &s),
            Some(Format::Json)
        );
        assert_eq!(
            detect(b"Mar  1 10:00:01 db1 postgres[4301]: [7-1] 2025-03-01 10:00:01.864 UTC [4301] LOG:  x\n", &s),
            Some(Format::Syslog)
        );
        assert_eq!(detect(b"\n\n", &s), None);
        assert_eq!(detect(b"random words\n", &s), None);
    }
}
