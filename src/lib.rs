//! pgconn's library: everything but `main`.
//!
//! The binary (src/main.rs) is the product; this library exists so that
//! `cargo bench` (benches/hot_path.rs) can time the hot path on its own.
//! Only what the binary and the benchmarks need is public.

pub mod app;
pub mod args;
pub mod config;
pub mod error;
mod event;
mod filter;
mod history;
mod input;
mod intern;
mod parse;
mod peak;
mod prefix;
mod report;
mod scan;
mod sketch;
mod time;
mod tracker;

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

    fn format(name: &str) -> Option<Format> {
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
