//! pgconn's library: everything but `main`.
//!
//! The binary (src/main.rs) is the product; this library exists so that
//! `cargo bench` (benches/hot_path.rs) can time the hot path on its own and
//! the fuzz targets (fuzz/) can reach each stage. Only what the binary, the
//! benchmarks and the fuzz targets need is public.

pub mod app;
pub mod args;
mod bytes;
mod clock;
pub mod completions;
pub mod config;
mod decompress;
pub mod error;
mod event;
mod filter;
mod history;
mod infer;
mod input;
mod intern;
mod parse;
mod peak;
mod prefix;
mod progress;
mod report;
mod scan;
mod sketch;
mod time;
mod tracker;
mod zone;

/// Entry points for the micro-benchmarks: the marker scan, the parsers
/// and the tracker, each on a buffer of complete lines.
pub mod bench {
    use crate::parse::{Format, LogParser, Stats};
    use crate::scan::Scanner;
    use crate::tracker::Tracker;

    /// Needle hits in `buf` (the automaton alone).
    pub fn scan(buf: &[u8]) -> usize {
        let scanner = Scanner::new();
        let mut n = 0;
        let mut at = 0;
        while let Some(hit) = scanner.next(buf, at) {
            n += 1;
            at = hit + 1;
        }
        n
    }

    /// A format by its `--format` name; anything else: detected.
    pub(crate) fn format(name: &str) -> Option<Format> {
        match name {
            "stderr" => Some(Format::Stderr),
            "csvlog" => Some(Format::Csv),
            "jsonlog" => Some(Format::Json),
            "syslog" => Some(Format::Syslog),
            _ => None,
        }
    }

    /// Events parsed from `buf` (format detected unless given).
    pub fn parse(buf: &[u8], format_name: &str) -> usize {
        let mut parser = LogParser::new(None, format(format_name));
        let mut stats = Stats::default();
        let mut n = 0;
        parser.begin_input();
        parser.process(buf, &mut stats, |_| n += 1);
        parser.end_input(&mut stats, |_| n += 1);
        n
    }

    /// Connections counted from `buf`: parsing and tracking.
    pub fn track(buf: &[u8]) -> u64 {
        let mut parser = LogParser::new(None, None);
        let mut tracker = Tracker::new(Default::default(), std::time::Duration::from_secs(900));
        let mut stats = Stats::default();
        parser.begin_input();
        parser.process(buf, &mut stats, |ev| tracker.apply(ev));
        parser.end_input(&mut stats, |ev| tracker.apply(ev));
        tracker.totals.connections
    }
}

/// Entry points for the fuzz targets (fuzz/fuzz_targets): each stage on
/// arbitrary bytes. They return what they found, so that the work is not
/// optimised away; the fuzzer looks for panics, hangs and memory errors.
#[doc(hidden)]
pub mod fuzz {
    use crate::parse::{LogParser, Stats};
    use crate::prefix::Prefix;

    /// The needle scan and, on each hit's line, the severity and the
    /// message classifier.
    pub fn scan(buf: &[u8]) -> usize {
        let scanner = crate::scan::Scanner::new();
        let mut n = 0;
        let mut at = 0;
        while let Some(hit) = scanner.next(buf, at) {
            let end = memchr::memchr(b'\n', &buf[hit..]).map_or(buf.len(), |i| hit + i);
            let start = memchr::memrchr(b'\n', &buf[..hit]).map_or(0, |i| i + 1);
            let line = &buf[start..end];
            if let Some(sev) = scanner.severity(line) {
                let kind = crate::scan::Classifier::get().classify(sev.word, &line[sev.message..]);
                n += usize::from(kind.is_some());
            }
            at = hit + 1;
        }
        n
    }

    /// A `--prefix` value (the bytes before the first NUL), compiled, then
    /// used on each line of the rest; with no value, inference from those
    /// lines (it compiles a dozen candidates: slow to fuzz every time).
    pub fn prefix(data: &[u8]) -> usize {
        let (value, text) = match memchr::memchr(0, data) {
            Some(i) => (&data[..i], &data[i + 1..]),
            None => (data, &b""[..]),
        };
        let mut n = 0;
        let lines: Vec<&[u8]> = text.split(|&c| c == b'\n').take(200).collect();
        if let Ok(value) = std::str::from_utf8(value)
            && let Ok(p) = Prefix::compile(value)
        {
            let mut cache = p.create_cache();
            for line in &lines {
                n += usize::from(p.parse(line, &mut cache).is_some());
                n += usize::from(p.is_match(line));
            }
        }
        let samples: Vec<_> = lines.iter().map(|l| crate::infer::Sample::bare(l)).collect();
        if value.is_empty()
            && let Some(p) = crate::infer::infer(&samples)
        {
            n += p.source().len();
        }
        n
    }

    /// Prefixes given to the stderr and syslog parsers (compiled once: the
    /// fuzzer spends its time parsing), or inferred.
    static PREFIXES: std::sync::LazyLock<Vec<Prefix>> = std::sync::LazyLock::new(|| {
        [
            "%m [%p] ",
            "%m [%p] %q%u@%d ",
            "%t:%r:%u@%d:[%p]:",
            "%t [%p]: user=%u,db=%d,app=%a,client=%h ",
        ]
        .iter()
        .map(|v| Prefix::compile(v).expect("a valid prefix"))
        .collect()
    });

    /// A parser on `data`, with the format given (stderr, csvlog, jsonlog,
    /// syslog) or detected (anything else), fed in two reads split where
    /// the first byte says; the first two pick a prefix (one in four:
    /// inferred).
    pub fn parse(data: &[u8], format_name: &str) -> usize {
        let format = super::bench::format(format_name);
        let given = match data {
            [a, b, ..] if (a ^ b) % 4 != 3 => {
                Some(PREFIXES[usize::from((a ^ b) / 4) % PREFIXES.len()].clone())
            }
            _ => None,
        };
        let mut parser = LogParser::new(given, format);
        let mut stats = Stats::default();
        let mut n = 0;
        parser.begin_input();
        // The parsers get complete lines; where the first read ends, a
        // line ends.
        let split = data.first().map_or(0, |&b| usize::from(b) * data.len() / 256);
        let cut = memchr::memrchr(b'\n', &data[..split]).map_or(0, |i| i + 1);
        parser.process(&data[..cut], &mut stats, |_| n += 1);
        parser.process(&data[cut..], &mut stats, |_| n += 1);
        parser.end_input(&mut stats, |_| n += 1);
        n + stats.unparsed as usize
    }

    /// Reads in chunks of `size` bytes.
    struct Chunked<'a> {
        data: &'a [u8],
        size: usize,
    }

    impl std::io::Read for Chunked<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.size.min(self.data.len()).min(out.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// The modes, with the prefix inferred (slow: a dozen regexes compiled
    /// per run) or given.
    const MODES: &[&[&str]] = &[
        &["--json"],
        &[],
        &["--history"],
        &["--json", "--history", "--bucket", "1m"],
        &["--sessions"],
        &["--json", "--sessions"],
        &["--failures"],
        &["--json", "--failures"],
        &["--by", "db,user,app,host", "--top", "3"],
        &["--json", "--prefix", "%m [%p] "],
        &["--history", "--prefix", "%m [%p] "],
        &["--json", "--failures", "--prefix", "%m [%p] "],
        &["--json", "--sessions", "--prefix", "%m [%p] %q%u@%d "],
        &["--by", "user,host", "--prefix", "%t:%r:%u@%d:[%p]:"],
    ];

    /// The whole pipeline, one thread: `data[2..]` read in chunks of
    /// `data[1]` bytes (0: in one read), reported in the mode `data[0]`
    /// picks, with the prefix given or inferred. Returns the report's
    /// length.
    pub fn pipeline(data: &[u8]) -> usize {
        let (mode, size, log) = match data {
            [m, s, rest @ ..] => (usize::from(*m) % MODES.len(), usize::from(*s), rest),
            _ => return 0,
        };
        // Inference compiles a dozen regexes per run: three runs in four
        // (by the first byte's high bits) give the usual prefix instead.
        let mut args = MODES[mode].to_vec();
        if (data[0] >> 4) % 4 != 3 && !args.contains(&"--prefix") {
            args.extend(["--prefix", "%m [%p] "]);
        }
        let config = match crate::args::parse(args) {
            Ok(crate::args::Parsed::Run(a)) => crate::config::Config::new(*a).expect("fixed args"),
            _ => unreachable!("fixed args"),
        };
        let mut reader = Chunked { data: log, size: if size == 0 { usize::MAX } else { size } };
        let mut out = Vec::new();
        if let Err(e) = crate::app::run_in_process(&config, &mut [&mut reader], &mut out) {
            // From memory the only read errors come from a corrupt
            // compressed input, which the binary reports (exit status 2).
            assert!(!e.to_string().is_empty());
            return 0;
        }
        // Whatever the log held, the report is text and JSON is valid.
        let text = std::str::from_utf8(&out).expect("the report is UTF-8");
        if MODES[mode].contains(&"--json") {
            for line in text.lines() {
                serde_json::from_str::<serde_json::Value>(line).expect("each JSON line parses");
            }
        }
        out.len()
    }
}
