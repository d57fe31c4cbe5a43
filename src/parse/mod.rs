//! Turning log bytes into events. Each input format has its parser; the
//! message texts they carry are read by `message`, shared by all.
//!
//! `LogParser` detects each input's format from its first lines (unless
//! `--format` forces one) and hands the input's chunks to that format's
//! parser. An input whose lines are carried in an envelope (a container
//! runtime's, journald's, a cloud's: see `envelope`) is unwrapped first;
//! the format and prefix are then those of the lines inside.
//!
//! An input that changes format (`cat a.log b.csv`) is read as each part
//! is: a run of another format's lines (16 KiB of them, or the input's
//! last) has the format detected again where it begins (see `next_run`).
//! Only a few lines of each chunk are looked at for this, and only when
//! one of them is of another format is the chunk read line by line.
//!
//! An input whose first lines run newest first (a log service's export,
//! `tac`) is kept in a temporary file and read back oldest first at its
//! end (see `order`; the envelopes' records are kept by their unwrapper).

pub(crate) mod carrier;
pub(crate) mod csv;
pub(crate) mod envelope;
pub(crate) mod json;
pub(crate) mod message;
pub(crate) mod order;
pub(crate) mod spool;
pub(crate) mod stderr;
pub(crate) mod syslog;

use crate::event::Event;
use crate::parse::order::{Head, LineTimes};
use crate::parse::spool::Spool;
use crate::prefix::Prefix;
use crate::scan::Scanner;

/// An input format.
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
        let format = match marked(line) {
            Some(f) => f,
            None if line.first() != Some(&b'\t') && scanner.severity(line).is_some() => {
                Format::Stderr
            }
            None => continue,
        };
        votes[format as usize] += 1;
    }
    let (i, &n) = votes.iter().enumerate().max_by_key(|&(i, n)| (*n, std::cmp::Reverse(i)))?;
    (n > 0).then_some([Format::Stderr, Format::Csv, Format::Json, Format::Syslog][i])
}

/// The format `line` plainly is by how it begins: a jsonlog record, a
/// csvlog record, a syslog line; None for the rest (stderr lines among
/// them).
pub(crate) fn marked(line: &[u8]) -> Option<Format> {
    if line.starts_with(b"{\"timestamp\":") {
        Some(Format::Json)
    } else if csv::looks_like_csvlog(line) {
        Some(Format::Csv)
    } else if syslog::header(line).is_some() {
        Some(Format::Syslog)
    } else {
        None
    }
}

/// How a line sits with an input's format.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fit {
    /// A line of the format.
    Fits,
    /// Plainly a line of another format.
    Foreign,
    /// Says nothing (empty, continued, unknown).
    Neutral,
}

/// What comes next in a chunk (see `LogParser::next_run`).
#[derive(Debug, PartialEq)]
enum Run {
    /// Nothing but the current format's lines (and stray ones).
    None,
    /// A run of another format's lines starts here.
    Switch(usize),
    /// A run starts here and reaches the end: held back.
    Hold(usize),
}

/// A run of another format's lines this long switches the format.
const RUN_BYTES: usize = 16 * 1024;

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
    /// Lines (or JSON records) of an envelope input that are not its
    /// records.
    pub(crate) not_enveloped: u64,
    /// Connection lines whose log_line_prefix fields (user, database,
    /// host) disagree with their own message, and the first of them.
    pub(crate) prefix_disagree: u64,
    pub(crate) first_disagree: Option<String>,
    /// `--format` said one thing, the input's first lines another.
    pub(crate) forced_mismatch: Option<(Format, Format)>,
}

impl Stats {
    fn sample(&mut self, line: &[u8]) {
        keep_first(&mut self.first_unparsed, line);
    }

    /// Counts a connection line whose prefix fields disagree with its
    /// message.
    pub(crate) fn disagreed(&mut self, line: &[u8]) {
        self.prefix_disagree += 1;
        keep_first(&mut self.first_disagree, line);
    }

    pub(crate) fn unmatched(&mut self, line: &[u8], prefix: bool) {
        self.unparsed += 1;
        if prefix {
            self.prefix_mismatch += 1;
        }
        self.sample(line);
    }

    /// Counts a candidate line or record with invalid UTF-8 or NUL bytes.
    pub(crate) fn check_bytes(&mut self, line: &[u8]) {
        let (ascii, nul) = ascii_and_nul(line);
        if !ascii && std::str::from_utf8(line).is_err() {
            self.invalid_utf8 += 1;
        }
        if nul {
            self.nul_lines += 1;
        }
    }

    /// Counts `text`, the lines of a broken record, as skipped.
    pub(crate) fn skipped_lines_of(&mut self, text: &[u8]) {
        self.skipped(memchr::memchr_iter(b'\n', text).count() as u64, text);
    }

    pub(crate) fn skipped(&mut self, lines: u64, text: &[u8]) {
        self.skipped_lines += lines;
        self.unparsed += 1;
        self.sample(text);
    }
}

/// Keeps `line` (lossy, cut short) in `slot` unless one is there already.
fn keep_first(slot: &mut Option<String>, line: &[u8]) {
    if slot.is_none() {
        let cut = &line[..line.len().min(300)];
        *slot = Some(String::from_utf8_lossy(cut).into_owned());
    }
}

/// Whether `line` is all ASCII, and whether it holds a NUL byte, in one
/// pass of 8 bytes at a time (lines are short: `is_ascii` and `memchr` each
/// spent most of their time on the tail after their last vector).
fn ascii_and_nul(line: &[u8]) -> (bool, bool) {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let (mut high, mut zero) = (0, 0);
    let mut words = line.chunks_exact(8);
    for w in &mut words {
        let w = u64::from_le_bytes(w.try_into().expect("chunks of 8"));
        high |= w;
        // Nonzero in the high bits if and only if a byte of w is 0 (a
        // borrow can mark a byte above a zero byte too, never without one).
        zero |= w.wrapping_sub(LOW) & !w;
    }
    let tail = words.remainder();
    let ascii = high & HIGH == 0 && tail.is_ascii();
    (ascii, zero & HIGH != 0 || tail.contains(&0))
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
    /// The first lines of an input, held back until its format and prefix
    /// are decided from them (see `DECIDE_LINES`).
    pending: Vec<u8>,
    pending_lines: usize,
    deciding: bool,
    /// The input paused while its first lines were the start of a JSON
    /// document spread over lines (`{` or `[` alone): the lines wait for
    /// more of it (or its end), since no record is complete yet.
    waiting: bool,
    /// The current input's envelope, if its lines are carried in one.
    unwrapper: Option<envelope::Unwrapper>,
    unwrapped: carrier::Unwrapped,
    /// Envelopes seen, in order, for the report.
    envelopes: Vec<envelope::Envelope>,
    /// Whether the current input's envelope gives every line a time, and
    /// a pid.
    carried: (bool, bool),
    /// The time the current input's RFC 3164 syslog times take their year
    /// from (ms since the epoch; None: now).
    reference: Option<i64>,
    /// The same, for the times of the current input's first lines.
    year_of: Option<i64>,
    /// What the current input's first lines said about its times, once
    /// they were read.
    head: Option<Head>,
    /// The lines of a plain input that runs newest first, kept to be read
    /// back oldest first at its end.
    spool: Option<Spool>,
    /// The input ended: what was kept is being read back.
    ending: bool,
    /// Lines at the end of the last chunk that may begin a run of another
    /// format (see `next_run`).
    held: Vec<u8>,
    /// A part in another format begins: none of its lines parsed yet.
    part_begins: bool,
}

/// What is read back of a newest-first input at a time.
const READ_BACK: usize = 256 * 1024;

/// An input's format and log_line_prefix are decided from its first 200
/// lines (or 256 KiB, or all of it, if less), whatever sizes the reads
/// had: the report does not depend on how the input was cut. The lines
/// wait until then, or until the input pauses (`flush`), so that a live
/// log is not held back.
const DECIDE_LINES: usize = 200;
const DECIDE_BYTES: usize = 256 * 1024;

/// Where the evidence ends in `pending`: after `DECIDE_LINES` lines or at
/// the end of the line holding byte `DECIDE_BYTES`.
fn evidence_end(pending: &[u8]) -> usize {
    let mut lines = 0;
    for nl in memchr::memchr_iter(b'\n', pending) {
        lines += 1;
        if lines >= DECIDE_LINES || nl + 1 >= DECIDE_BYTES {
            return nl + 1;
        }
    }
    pending.len()
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
            pending: Vec::new(),
            pending_lines: 0,
            deciding: true,
            waiting: false,
            unwrapper: None,
            unwrapped: carrier::Unwrapped::default(),
            envelopes: Vec::new(),
            carried: (false, false),
            reference: None,
            year_of: None,
            head: None,
            spool: None,
            ending: false,
            held: Vec::new(),
            part_begins: false,
        }
    }

    pub(crate) fn process<F>(&mut self, chunk: &[u8], stats: &mut Stats, mut emit: F)
    where
        F: FnMut(&Event<'_>),
    {
        self.process_in(chunk, stats, &mut emit);
    }

    fn process_in<F>(&mut self, chunk: &[u8], stats: &mut Stats, emit: &mut F)
    where
        F: FnMut(&Event<'_>),
    {
        if !self.deciding {
            return self.dispatch(chunk, stats, emit);
        }
        self.pending.extend_from_slice(chunk);
        self.pending_lines += memchr::memchr_iter(b'\n', chunk).count();
        self.waiting = false;
        if self.pending_lines >= DECIDE_LINES || self.pending.len() >= DECIDE_BYTES {
            self.decide(stats, emit);
        }
    }

    /// The input paused (or ended): decide from the lines so far, and parse
    /// them.
    pub(crate) fn flush<F>(&mut self, stats: &mut Stats, mut emit: F)
    where
        F: FnMut(&Event<'_>),
    {
        loop {
            if self.deciding && !self.pending.is_empty() {
                if self.head.is_none() && envelope::document_start(&self.pending) {
                    self.waiting = true;
                    return;
                }
                self.decide(stats, &mut emit);
            }
            if self.held.is_empty() {
                return;
            }
            // May begin a part, whose lines then wait to be decided on.
            self.release(stats, &mut emit);
        }
    }

    /// Lines are held back to decide the format and prefix, or whether
    /// the format changes.
    pub(crate) fn holds_back(&self) -> bool {
        (self.deciding && !self.pending.is_empty() && !self.waiting) || !self.held.is_empty()
    }

    fn decide<F>(&mut self, stats: &mut Stats, emit: &mut F)
    where
        F: FnMut(&Event<'_>),
    {
        self.deciding = false;
        let pending = std::mem::take(&mut self.pending);
        let evidence = &pending[..evidence_end(&pending)];
        // A later part of the input in another format (see `begin_part`)
        // has its format and prefix decided; an envelope, or lines newest
        // first, only the input's first lines.
        if self.head.is_some() {
            self.decide_format(evidence, stats);
            self.dispatch(&pending, stats, emit);
            self.pending_lines = 0;
            return;
        }
        match envelope::detect(evidence, &self.scanner) {
            Some(mut unwrapper) => {
                let inner = unwrapper.inspect(evidence);
                self.carried = inner.carried();
                for e in unwrapper.envelopes() {
                    if !self.envelopes.contains(&e) {
                        self.envelopes.push(e);
                    }
                }
                if unwrapper.cnpg() {
                    // csvlog records, by column name: read as the jsonlog
                    // records they are turned into.
                    self.format = Some(Format::Json);
                    if !self.seen.contains(&Format::Csv) {
                        self.seen.push(Format::Csv);
                    }
                }
                let newest_first = unwrapper.newest_first();
                self.unwrapper = Some(unwrapper);
                self.decide_format(&inner.text, stats);
                let times = self.times(&inner.text, inner.carriers());
                self.head = Some(Head::of(&times, newest_first));
            }
            None => {
                self.decide_format(evidence, stats);
                let times = self.times(evidence, &[]);
                let newest_first = order::runs_backwards(&times);
                if newest_first {
                    self.spool = Some(Spool::new());
                }
                self.head = Some(Head::of(&times, newest_first));
            }
        }
        self.dispatch(&pending, stats, emit);
        // Held back at most once per input: the buffer goes.
        self.pending_lines = 0;
    }

    /// The times of `lines` (the server's, their format and prefix
    /// decided): each line's own, or else its carrier's.
    fn times(&self, lines: &[u8], carriers: &[carrier::Carrier]) -> Vec<crate::time::Timestamp> {
        let reference = self.year_of.unwrap_or_else(syslog::now_ms);
        let format = self.format.unwrap_or(Format::Stderr);
        let mut of = LineTimes::new(format, self.prefix(), reference);
        let lines = lines.strip_suffix(b"\n").unwrap_or(lines);
        let each = lines.split(|&c| c == b'\n').enumerate();
        each.filter_map(|(i, line)| of.of(line).or_else(|| carriers.get(i)?.time)).collect()
    }

    /// Detects the format of the server's lines and infers their prefix.
    fn decide_format(&mut self, evidence: &[u8], stats: &mut Stats) {
        self.detect(evidence, stats);
        match self.format {
            None | Some(Format::Stderr) => self.stderr.decide(evidence, stats),
            Some(Format::Syslog) => {
                self.carried = (true, true);
                self.syslog.decide(evidence, stats)
            }
            Some(Format::Csv | Format::Json) => {}
        }
    }

    fn dispatch<F>(&mut self, chunk: &[u8], stats: &mut Stats, emit: &mut F)
    where
        F: FnMut(&Event<'_>),
    {
        if let Some(spool) = &mut self.spool {
            for line in chunk.split_inclusive(|&c| c == b'\n') {
                spool.push(line.strip_suffix(b"\n").unwrap_or(line));
            }
            return;
        }
        let Some(unwrapper) = self.unwrapper.as_mut() else {
            return self.parse(chunk, stats, emit);
        };
        let mut inner = std::mem::take(&mut self.unwrapped);
        inner.clear();
        unwrapper.unwrap(chunk, &mut inner, stats);
        self.parse_unwrapped(&inner, stats, emit);
        self.unwrapped = inner;
    }

    /// Parses lines taken out of their envelope: their events take their
    /// records' time and pid where their prefix has none.
    fn parse_unwrapped<F>(&mut self, inner: &carrier::Unwrapped, stats: &mut Stats, emit: &mut F)
    where
        F: FnMut(&Event<'_>),
    {
        if !inner.text.is_empty() {
            self.parse(&inner.text, stats, &mut |e: &Event<'_>| inner.emit(e, emit));
        }
    }

    fn parse<F>(&mut self, chunk: &[u8], stats: &mut Stats, emit: &mut F)
    where
        F: FnMut(&Event<'_>),
    {
        self.detect(chunk, stats);
        if self.held.is_empty() {
            return self.parse_runs(chunk, false, stats, emit);
        }
        let mut data = std::mem::take(&mut self.held);
        data.extend_from_slice(chunk);
        self.parse_runs(&data, false, stats, emit);
    }

    /// Parses `data`, each run of another format's lines as its format
    /// (see `next_run`); `end`: the input ends, or pauses, after it.
    fn parse_runs<F>(&mut self, data: &[u8], end: bool, stats: &mut Stats, emit: &mut F)
    where
        F: FnMut(&Event<'_>),
    {
        match self.next_run(data, end) {
            Run::None => self.parse_as(data, stats, emit),
            Run::Switch(at) => {
                self.parse_as(&data[..at], stats, emit);
                self.begin_part(stats, emit);
                // Through a trait object: the part is parsed by the same
                // functions, which would otherwise be instantiated again for
                // each closure wrapped around `emit`, without end.
                let mut emit: &mut dyn FnMut(&Event<'_>) = emit;
                self.process_in(&data[at..], stats, &mut emit);
            }
            Run::Hold(at) => {
                self.parse_as(&data[..at], stats, emit);
                self.held = data[at..].to_vec();
            }
        }
    }

    /// The lines held back at the end of the last chunk (see `next_run`)
    /// are parsed: the input ended or paused after them.
    fn release<F>(&mut self, stats: &mut Stats, emit: &mut F)
    where
        F: FnMut(&Event<'_>),
    {
        if !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            self.parse_runs(&held, true, stats, emit);
        }
    }

    /// Parses `chunk` in the current format.
    fn parse_as<F>(&mut self, chunk: &[u8], stats: &mut Stats, emit: &mut F)
    where
        F: FnMut(&Event<'_>),
    {
        if chunk.is_empty() {
            return;
        }
        self.part_begins = false;
        match self.format {
            None | Some(Format::Stderr) => self.stderr.process(chunk, stats, emit),
            Some(Format::Csv) => self.csv.process(chunk, stats, emit),
            Some(Format::Json) => self.json.process(chunk, stats, emit),
            Some(Format::Syslog) => self.syslog.process(chunk, stats, emit),
        }
    }

    /// The next run of another format's lines in `data` (lines of the
    /// current format before it), when the input may change format: not
    /// with `--format`, nor in an envelope (its records say what they
    /// carry).
    ///
    /// A run begins at a line of another format and goes on over lines
    /// that say nothing, up to the next line of the current format; the
    /// format switches for it when it is `RUN_BYTES` long, or when it
    /// reaches the end of the input (`end`); a shorter one is stray lines,
    /// read as they are. A run at the end of `data` is held back until
    /// that is known, so the decision never depends on how reads cut the
    /// input. Finding runs costs a look at the line at every
    /// `RUN_BYTES`-th byte and the last line (`foreign_before_a_mark`),
    /// and a look at every line only when one of those is of another
    /// format.
    fn next_run(&self, data: &[u8], end: bool) -> Run {
        let Some(current) = self.format else { return Run::None };
        if self.forced.is_some() || self.unwrapper.is_some() {
            return Run::None;
        }
        if !self.foreign_before_a_mark(data, current) {
            return Run::None;
        }
        // In csvlog, a line inside a quoted field (a logged statement) can
        // read like another format's: quotes decide, from the start in a
        // csvlog input, from a run's start in a run of csvlog records.
        let mut quoted = current == Format::Csv && self.csv.in_quotes();
        // A run and whether it is of csvlog records.
        let mut run: Option<(usize, bool)> = None;
        let csv = |run: Option<(usize, bool)>| current == Format::Csv || run.is_some_and(|r| r.1);
        for (start, line) in Lines::new(data) {
            // A part's first line is of the format decided for it (a run
            // there would be that part again).
            let fit = match self.fit(line, current) {
                Fit::Foreign if start == 0 && self.part_begins => Fit::Fits,
                fit => fit,
            };
            if !(quoted && csv(run)) {
                match fit {
                    Fit::Foreign if run.is_none() => {
                        run = Some((start, csv::looks_like_record_start(line)));
                    }
                    Fit::Fits => {
                        if let Some((at, _)) = run.take()
                            && start - at >= RUN_BYTES
                        {
                            return Run::Switch(at);
                        }
                    }
                    _ => {}
                }
            }
            quoted = csv(run) && quoted ^ (memchr::memchr_iter(b'"', line).count() % 2 == 1);
        }
        match run {
            Some((at, _)) if end || data.len() - at >= RUN_BYTES => Run::Switch(at),
            Some((at, _)) => Run::Hold(at),
            None => Run::None,
        }
    }

    /// Whether the last line that says something before one of the marks
    /// of `data` (every `RUN_BYTES`-th byte, its end) is of another
    /// format: every run that `next_run` acts on has one (a run that long
    /// holds a mark; one at the end, the end). Each line is looked at once
    /// at most, and in a log of lines that say something, only the line
    /// at each mark.
    fn foreign_before_a_mark(&self, data: &[u8], current: Format) -> bool {
        let marks = (1..).map(|k| k * RUN_BYTES).take_while(|&at| at < data.len());
        // Where the lines looked at begin, and what the last of them was
        // (before `data`: no run, or it would have been held back).
        let (mut floor, mut last) = (0, Fit::Fits);
        for mark in marks.chain([data.len()]) {
            let end = memchr::memchr(b'\n', &data[mark..]).map_or(data.len(), |i| mark + i);
            for (start, line) in Lines::back(&data[..end]) {
                if start < floor {
                    break;
                }
                let fit = self.fit(line, current);
                if fit != Fit::Neutral {
                    last = fit;
                    break;
                }
            }
            if last == Fit::Foreign {
                return true;
            }
            floor = end;
        }
        false
    }

    /// How `line` sits with `format`.
    fn fit(&self, line: &[u8], format: Format) -> Fit {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first().is_none_or(|&c| c == b'\t') || line.trim_ascii().is_empty() {
            return Fit::Neutral;
        }
        let own = match marked(line) {
            Some(f) => f,
            None if self.scanner.severity(line).is_some() => Format::Stderr,
            None => return Fit::Neutral,
        };
        let prefixed = || {
            let (Some(p), Some(sev)) = (self.stderr.prefix(), self.scanner.severity(line)) else {
                return false;
            };
            p.is_match(&line[..sev.start])
        };
        match format {
            f if f == own => Fit::Fits,
            // A prefix that reads like another format's line is the log's.
            Format::Stderr if prefixed() => Fit::Fits,
            Format::Csv if csv::looks_like_record_start(line) => Fit::Fits,
            _ => Fit::Foreign,
        }
    }

    /// A part of the input in another format begins: what the format
    /// held back is flushed, and the part's format and prefix are decided
    /// from its first lines, as an input's are (its first 200 lines, or
    /// fewer when the input pauses or ends), so that the decision never
    /// depends on how reads cut it. A prefix inferred before stays (a line
    /// it does not match has it inferred again, as in any stderr input).
    fn begin_part<F>(&mut self, stats: &mut Stats, emit: &mut F)
    where
        F: FnMut(&Event<'_>),
    {
        if self.format == Some(Format::Csv) {
            self.csv.end_input(stats, emit);
        }
        self.format = None;
        self.deciding = true;
        self.pending.clear();
        self.pending_lines = 0;
        self.part_begins = true;
    }

    /// Detects the format from `chunk` if it is not known yet.
    fn detect(&mut self, chunk: &[u8], stats: &mut Stats) {
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
    }

    /// The current input ended: reads back a part of what was kept to be
    /// read oldest first (a newest-first input), and parses it; false
    /// when nothing is left. `end_input` reads back the rest.
    pub(crate) fn read_back<F>(&mut self, stats: &mut Stats, mut emit: F) -> bool
    where
        F: FnMut(&Event<'_>),
    {
        if self.deciding && !self.pending.is_empty() {
            self.decide(stats, &mut emit);
        }
        let first = !std::mem::replace(&mut self.ending, true);
        if let Some(mut spool) = self.spool.take() {
            if first {
                spool.rewind();
            }
            let (mut lines, mut line) = (Vec::new(), Vec::new());
            while lines.len() < READ_BACK && spool.pop(&mut line) {
                lines.extend_from_slice(&line);
                lines.push(b'\n');
            }
            if lines.is_empty() {
                return false;
            }
            self.spool = Some(spool);
            self.parse(&lines, stats, &mut emit);
            return true;
        }
        let Some(mut unwrapper) = self.unwrapper.take() else { return false };
        if first {
            unwrapper.finish(stats);
        }
        let mut inner = std::mem::take(&mut self.unwrapped);
        inner.clear();
        let more = unwrapper.unspool(&mut inner, stats);
        if more {
            self.parse_unwrapped(&inner, stats, &mut emit);
        }
        self.unwrapped = inner;
        self.unwrapper = Some(unwrapper);
        more
    }

    /// The current input ended: reads back what was kept (see
    /// `read_back`), and flushes what a format holds back (a csvlog record
    /// still open).
    pub(crate) fn end_input<F>(&mut self, stats: &mut Stats, mut emit: F)
    where
        F: FnMut(&Event<'_>),
    {
        loop {
            while self.read_back(stats, &mut emit) {}
            if self.held.is_empty() {
                break;
            }
            // May begin a part, whose lines read_back decides on.
            self.release(stats, &mut emit);
        }
        if self.format == Some(Format::Csv) {
            self.csv.end_input(stats, &mut emit);
        }
    }

    /// A new input begins: its format is detected, and its prefix inferred,
    /// afresh (several files may come from servers set up differently).
    pub(crate) fn begin_input(&mut self) {
        self.format = None;
        self.deciding = true;
        self.waiting = false;
        self.pending.clear();
        self.pending_lines = 0;
        self.unwrapper = None;
        self.carried = (false, false);
        self.head = None;
        self.spool = None;
        self.ending = false;
        self.held.clear();
        self.part_begins = false;
        self.year_of = self.reference;
        self.stderr.next_input();
        self.syslog.next_input(self.reference.take());
    }

    /// The next input's RFC 3164 syslog times (which have no year) are of
    /// the year of `reference` (ms since the epoch: the file's modification
    /// time), or the year before for dates after it; without one, of now.
    /// Called before `begin_input`.
    pub(crate) fn set_reference(&mut self, reference: Option<i64>) {
        self.reference = reference;
    }

    /// What the current input's first lines said about its times, once
    /// its format is decided.
    pub(crate) fn head(&self) -> Option<Head> {
        self.head
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

    /// The envelopes the inputs' lines were carried in, outermost first.
    pub(crate) fn envelopes(&self) -> &[envelope::Envelope] {
        &self.envelopes
    }

    /// Timestamps a format (or the envelope, or syslog header) carries in
    /// every record, for "no time" notes.
    pub(crate) fn has_time(&self) -> bool {
        let prefixed = self.seen.iter().any(|f| matches!(f, Format::Stderr | Format::Syslog));
        !prefixed || self.carried.0 || self.prefix().is_none_or(Prefix::has_time)
    }

    pub(crate) fn has_pid(&self) -> bool {
        let prefixed = self.seen.iter().any(|f| matches!(f, Format::Stderr | Format::Syslog));
        !prefixed || self.carried.1 || self.prefix().is_none_or(Prefix::has_pid)
    }
}

/// The lines of a chunk, each with where it starts, without its newline.
struct Lines<'a> {
    chunk: &'a [u8],
    /// From the front: where the next line starts; from the back: where
    /// the last line not yet given ends.
    at: usize,
    back: bool,
}

impl<'a> Lines<'a> {
    fn new(chunk: &'a [u8]) -> Lines<'a> {
        Lines { chunk, at: 0, back: false }
    }

    /// From the last line to the first.
    fn back(chunk: &'a [u8]) -> Lines<'a> {
        let end = chunk.strip_suffix(b"\n").unwrap_or(chunk).len();
        Lines { chunk, at: end, back: true }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<(usize, &'a [u8])> {
        let c = self.chunk;
        if self.back {
            if self.at == usize::MAX {
                return None;
            }
            let end = self.at;
            let start = memchr::memrchr(b'\n', &c[..end]).map_or(0, |i| i + 1);
            self.at = if start == 0 { usize::MAX } else { start - 1 };
            return Some((start, &c[start..end]));
        }
        if self.at >= c.len() {
            return None;
        }
        let start = self.at;
        let end = memchr::memchr(b'\n', &c[start..]).map_or(c.len(), |i| start + i);
        self.at = end + 1;
        Some((start, &c[start..end]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_and_nul_agree_with_std() {
        let mut cases: Vec<Vec<u8>> = vec![vec![], b"abc".to_vec(), b"0123456789abcdef".to_vec()];
        for len in [1, 7, 8, 9, 15, 16, 17, 40] {
            for at in 0..len {
                for byte in [0u8, 0x80, 0xC3, 0xFF, 0x01, b'a'] {
                    let mut line = vec![b'x'; len];
                    line[at] = byte;
                    cases.push(line.clone());
                    line[len - 1 - at] = 0;
                    cases.push(line);
                }
            }
        }
        for line in cases {
            assert_eq!(ascii_and_nul(&line), (line.is_ascii(), line.contains(&0)), "{line:?}");
        }
    }

    /// The events of `input` read in chunks of `step` bytes (whole lines).
    fn events(input: &[u8], step: usize) -> Vec<String> {
        let mut parser = LogParser::new(None, None);
        let mut stats = Stats::default();
        let mut out = Vec::new();
        let mut emit = |e: &Event<'_>| {
            let m = &e.meta;
            let name = |s: Option<&[u8]>| s.map(|s| String::from_utf8_lossy(s).into_owned());
            let (user, db, host) = (name(m.user), name(m.db), name(m.host));
            let t = m.time.map(|t| t.ms);
            let raw = String::from_utf8_lossy(e.raw);
            out.push(format!("{t:?} {:?} {user:?} {db:?} {host:?} {:?} {raw}", m.pid, e.kind));
        };
        parser.begin_input();
        let mut rest = input;
        while !rest.is_empty() {
            let cut = rest.len().min(step);
            let cut = memchr::memchr(b'\n', &rest[cut..]).map_or(rest.len(), |i| cut + i + 1);
            parser.process(&rest[..cut], &mut stats, &mut emit);
            rest = &rest[cut..];
        }
        parser.end_input(&mut stats, &mut emit);
        out
    }

    #[test]
    fn newest_first_lines_are_read_oldest_first() {
        let logs: [&[u8]; 4] = [
            include_bytes!("../../fixtures/history/history.log"),
            include_bytes!("../../fixtures/v15/extended.csv"),
            include_bytes!("../../fixtures/v15/extended.json"),
            include_bytes!("../../fixtures/syslog/syslog.log"),
        ];
        for log in logs {
            let want = events(log, usize::MAX);
            assert!(want.len() > 50, "{}", want.len());
            // `tac`: the last line (with its newline) first.
            let mut reversed: Vec<u8> = Vec::new();
            for line in log.split_inclusive(|&c| c == b'\n').rev() {
                reversed.extend_from_slice(line);
            }
            for step in [usize::MAX, 1000, 1] {
                assert_eq!(events(&reversed, step), want, "step {step}");
            }
        }
    }

    #[test]
    fn a_stream_that_changes_format_is_read_as_each_part_is() {
        let log: &[u8] = include_bytes!("../../fixtures/v16/extended.log");
        let csv: &[u8] = include_bytes!("../../fixtures/v16/extended.csv");
        let json: &[u8] = include_bytes!("../../fixtures/v16/extended.json");
        let syslog: &[u8] = include_bytes!("../../fixtures/syslog/syslog.log");
        let history: &[u8] = include_bytes!("../../fixtures/history/history.log");
        let parts: [&[&[u8]]; 8] = [
            &[log, csv],
            &[log, json],
            &[csv, log],
            &[json, log],
            &[csv, json],
            &[log, syslog],
            // A part of another format inside one read.
            &[history, csv, log],
            &[json, history, csv],
        ];
        for parts in parts {
            let want: Vec<String> = parts.iter().flat_map(|p| events(p, usize::MAX)).collect();
            let both = parts.concat();
            for step in [usize::MAX, 4096, 1000, 1] {
                let got = events(&both, step);
                let diff = got.iter().zip(&want).position(|(g, w)| g != w);
                let at = diff.map(|i| (&got[i], &want[i]));
                assert!(
                    got == want,
                    "{} {step}: {} events, {} wanted; {at:#?}",
                    both.len(),
                    got.len(),
                    want.len()
                );
            }
        }
        // Lines that are not a log's (a container's, around csvlog records
        // here), or few: however reads cut them, the same events.
        let hostile: &[u8] = include_bytes!("../../fixtures/hostile/hostile.csv");
        let cri: &[u8] = include_bytes!("../../fixtures/envelopes/cloudnative-pg-cri.log");
        for parts in [&[hostile, cri][..], &[log, &csv[..2000], log], &[cri, log, hostile]] {
            let both = parts.concat();
            let want = events(&both, usize::MAX);
            for step in [4096, 1000, 1] {
                assert!(events(&both, step) == want, "{} bytes in steps of {step}", both.len());
            }
        }
        // csvlog's statement lines that read like stderr lines (the
        // workload logs some) stay in their records, at a chunk's end too.
        let fake = b"2024-01-01 00:00:00.000 UTC [4242] LOG:  disconnection";
        let at = csv.windows(fake.len()).position(|w| w == fake).unwrap();
        let cut = at + memchr::memchr(b'\n', &csv[at..]).unwrap() + 1;
        let want = events(csv, usize::MAX);
        assert_eq!(events(csv, cut), want);
    }

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
