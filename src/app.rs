//! One run: open each input, read it through the line buffer, parse,
//! track, and report.
//!
//! An input that cannot be opened or read is reported on stderr and
//! skipped; the run goes on with the rest and exits 2 at the end. Problems
//! with the data are never errors: they are counted and reported.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};

use crate::config::{Config, Input};
use crate::error::{Error, Result};
use crate::input::{Chunk, LineBuffer};
use crate::parse::Stats;
use crate::parse::stderr::StderrParser;
use crate::report::{self, Palette, Report};
use crate::tracker::{Snapshot, Tracker};

/// How a run ended, for the exit status.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// At least one connection event (matching the filters) was found.
    Found,
    /// The input held none.
    NothingFound,
    /// Some input could not be read (already reported).
    Failed,
}

/// The reading side of a run: buffer, parser and tracker.
pub(crate) struct Pipeline {
    buf: LineBuffer,
    parser: StderrParser,
    stats: Stats,
    tracker: Tracker,
}

impl Pipeline {
    pub(crate) fn new(config: &Config) -> Pipeline {
        Pipeline {
            buf: LineBuffer::new(),
            parser: StderrParser::new(config.prefix.clone()),
            stats: Stats::default(),
            tracker: Tracker::new(config.filter.clone()),
        }
    }

    /// Reads one input to its end.
    pub(crate) fn feed<R: Read + ?Sized>(&mut self, rdr: &mut R) -> io::Result<()> {
        self.buf.reset();
        self.parser.next_input();
        loop {
            match self.buf.fill(rdr)? {
                Chunk::Lines(lines) => {
                    let tracker = &mut self.tracker;
                    self.parser
                        .process(lines, &mut self.stats, |ev| tracker.apply(ev));
                }
                Chunk::Pending => {}
                Chunk::Eof => return Ok(()),
            }
        }
    }

    pub(crate) fn snapshot(&self, config: &Config) -> Snapshot {
        self.tracker.snapshot(config.top, &config.by)
    }

    pub(crate) fn report<'a>(&'a self, snapshot: &'a Snapshot) -> Report<'a> {
        let prefix = self.parser.prefix();
        Report {
            snapshot,
            stats: &self.stats,
            bytes: self.buf.bytes_read,
            long_lines: self.buf.long_lines,
            prefix: prefix.map(|p| p.source()),
            prefix_inferred: self.parser.inferred(),
            pid_in_prefix: prefix.is_none_or(|p| p.has_pid()),
            time_in_prefix: prefix.is_none_or(|p| p.has_time()),
        }
    }
}

pub(crate) fn run(config: &Config) -> Result<Outcome> {
    let mut pipeline = Pipeline::new(config);
    let mut read_failed = false;
    for input in &config.inputs {
        let result = match input {
            Input::Stdin => pipeline.feed(&mut io::stdin().lock()),
            Input::File(path) => File::open(path).and_then(|mut f| pipeline.feed(&mut f)),
        };
        if let Err(e) = result {
            let err = Error::io(input.name(), e);
            let _ = writeln!(io::stderr(), "pgconn: {err}");
            read_failed = true;
        }
    }

    let snapshot = pipeline.snapshot(config);
    let report = pipeline.report(&snapshot);
    let found = pipeline.tracker.totals.matched > 0;
    let stats = &pipeline.stats;

    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    if config.json {
        report::json::write_summary(&mut out, &report)?;
    } else if found {
        let palette = Palette::new(config.color);
        report::table::write_summary(&mut out, &report, &palette)?;
    }
    out.flush()?;
    drop(out);

    let mut err = io::stderr().lock();
    if stats.unparsed > 0 && found {
        let _ = writeln!(
            err,
            "pgconn: warning: {} connection or server line(s) could not be used{}; first: {}",
            stats.unparsed,
            if stats.prefix_mismatch > 0 {
                " (log_line_prefix did not match)"
            } else {
                ""
            },
            report::escape(stats.first_unparsed.as_deref().unwrap_or("").as_bytes()),
        );
    }
    if !found {
        let _ = writeln!(
            err,
            "pgconn: {}",
            report::nothing_found_hint(&report, pipeline.tracker.totals.events, &config.filter)
        );
    }
    Ok(if read_failed {
        Outcome::Failed
    } else if found {
        Outcome::Found
    } else {
        Outcome::NothingFound
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{self, Parsed};

    /// A reader that returns 1 to 7 bytes per read, in a fixed pattern.
    struct Trickle<'a> {
        data: &'a [u8],
        n: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.n += 1;
            let k = (self.n * 5 % 7 + 1).min(self.data.len()).min(out.len());
            out[..k].copy_from_slice(&self.data[..k]);
            self.data = &self.data[k..];
            Ok(k)
        }
    }

    fn config(extra: &[&str]) -> Config {
        match args::parse(extra.iter().copied()).unwrap() {
            Parsed::Run(a) => Config::new(a).unwrap(),
            _ => unreachable!(),
        }
    }

    fn summary_json(inputs: &[&[u8]], trickle: bool) -> String {
        let config = config(&["--top", "0"]);
        let mut p = Pipeline::new(&config);
        for data in inputs {
            if trickle {
                p.feed(&mut Trickle { data, n: 0 }).unwrap();
            } else {
                p.feed(&mut &data[..]).unwrap();
            }
        }
        let snapshot = p.snapshot(&config);
        let mut out = Vec::new();
        crate::report::json::write_summary(&mut out, &p.report(&snapshot)).unwrap();
        String::from_utf8(out).unwrap()
    }

    const FIXTURES: &[&[u8]] = &[
        include_bytes!("../fixtures/stderr-default.log"),
        include_bytes!("../fixtures/stderr-debian.log"),
        include_bytes!("../fixtures/stderr-keyvalue.log"),
        include_bytes!("../fixtures/stderr-nopid.log"),
        include_bytes!("../fixtures/stderr-rds.log"),
    ];

    #[test]
    fn chunking_does_not_change_the_report() {
        for data in FIXTURES {
            let whole = summary_json(&[data], false);
            assert!(whole.contains("\"connections\":72"), "{whole}");
            assert_eq!(summary_json(&[data], true), whole);
        }
    }

    #[test]
    fn split_inputs_equal_one_input() {
        let data = FIXTURES[0];
        let cut = data.len() / 2;
        let cut = cut + data[cut..].iter().position(|&c| c == b'\n').unwrap() + 1;
        let whole = summary_json(&[data], false);
        assert_eq!(summary_json(&[&data[..cut], &data[cut..]], false), whole);
    }
}
