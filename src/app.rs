//! One run: read the inputs, parse, track, and report.
//!
//! Four threads. The reader reads each input through the line buffer and
//! sends runs of complete lines (as soon as a read delivers them) over a
//! bounded channel to the parser, which turns them into batches of events
//! (names as spans of the read buffer, which travels along) for the main
//! thread, over another bounded channel: parsing and tracking share the
//! work of a busy log between two cores. With `--threads 1` (the default
//! with one CPU) the reader sends its lines to the main thread, which
//! parses them and tracks each event as it is parsed. A signal thread
//! turns SIGINT, SIGTERM, SIGUSR1 and SIGHUP into messages on the main
//! thread's channel: handlers only set flags (signal-hook's self-pipe),
//! nothing runs in them.
//! The main thread tracks and writes, and wakes on a message or on the
//! report timer, never otherwise: with no input and no timer it sleeps.
//! Reading files on a terminal, a progress thread (progress.rs) draws a
//! line on stderr from the reader's file offset; the reader only tells it,
//! once per input, which file is open, and the main thread clears the line
//! before it writes to the terminal.
//! SIGHUP bumps a generation counter the parser reads: batches parsed
//! before the reset are dropped, so the counts restart from the first
//! lines the parser reaches after it.
//!
//! Output: the summary at the end (and at SIGINT/SIGTERM); with `--watch`,
//! event lines flushed once per input batch, right before the next wait; on
//! a terminal, the summary redrawn in place every `--every` (1s) while the
//! input stays open; off a terminal, with `--every`, one report per
//! interval.
//!
//! Before the run, FILEs are read once if need be (`plan`): the first
//! lines of each, when there are several, to read them in log-time order;
//! all of them for `--since`/`--until` with a duration. The parser's clock
//! (`clock.rs`) notes each input's times and where time went back.
//!
//! An input that cannot be opened or read is reported on stderr and
//! skipped; the run goes on with the rest and exits 2 at the end. Problems
//! with the data are never errors: they are counted and reported.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};

use crate::args::TimeArg;
use crate::clock::Clock;
use crate::config::{Config, Input, Mode};
use crate::error::{Error, Result};
use crate::event::{Event, EventOf, Span};
use crate::input::{self, Chunk, LineBuffer};
use crate::parse::LogParser;
use crate::parse::Stats;
use crate::progress::{Progress, Reading};
use crate::report::live::{self, Screen};
use crate::report::{self, Palette, Report};
use crate::time::Timestamp;
use crate::tracker::{Change, Snapshot, Tracker};

/// How a run ended, for the exit status.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// At least one connection event (matching the filters) was found.
    Found,
    /// The input held none.
    NothingFound,
    /// Some input could not be read (already reported).
    Failed,
}

/// What the reader sends the parser.
enum Read {
    /// Complete lines of the current input: this range of the buffer.
    Lines(Vec<u8>, std::ops::Range<usize>),
    /// The next input begins, last written at this time (see
    /// `modified_ms`).
    NextInput(Option<i64>),
    /// An input could not be opened or read.
    Failed(Error),
    /// Every input has been read.
    Done,
}

/// What the main loop waits for.
enum Msg {
    /// Events parsed from lines (boxed: batches are recycled whole).
    Batch(Box<Batch>),
    /// What the reader read, to parse on the main thread (one thread).
    Read(Read),
    /// An input could not be opened or read.
    Failed(Error),
    /// Every input has been read and parsed.
    Done,
    Signal(i32),
}

/// What the reader has read, for the report and the input rate.
#[derive(Default)]
pub(crate) struct ReadCounts {
    bytes: AtomicU64,
    long_lines: AtomicU64,
}

/// `--since` and `--until`, resolved: events outside are left out, as if
/// the log held only the lines inside.
#[derive(Default)]
pub(crate) struct Window {
    /// Bounds as instants (ms since the epoch)...
    since: Option<i64>,
    until: Option<i64>,
    /// ...or as the log's local time, compared with each line's own.
    local: bool,
    /// Events left out for having no time.
    pub(crate) untimed: u64,
    /// Events left out for being outside, and the first and last of them
    /// (for the note when nothing is inside).
    outside: u64,
    outside_span: Option<(Timestamp, Timestamp)>,
}

impl Window {
    fn is_empty(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    /// Whether an event of time `t` is inside the window. Inlined, the
    /// test of a window with no bounds (the common case) is all it costs.
    #[inline(always)]
    fn admits(&mut self, t: &Option<Timestamp>) -> bool {
        self.is_empty() || self.admits_timed(t)
    }

    #[inline(never)]
    fn admits_timed(&mut self, t: &Option<Timestamp>) -> bool {
        let Some(t) = *t else {
            self.untimed += 1;
            return false;
        };
        let at = if self.local { t.ms + t.offset_ms() } else { t.ms };
        let inside = self.since.is_none_or(|s| at >= s) && self.until.is_none_or(|u| at < u);
        if !inside {
            self.outside += 1;
            self.outside_span = Some(match self.outside_span {
                None => (t, t),
                Some((a, b)) => (if t.ms < a.ms { t } else { a }, if t.ms > b.ms { t } else { b }),
            });
        }
        inside
    }

    /// Forgets what was left out (SIGHUP).
    fn reset_counts(&mut self) {
        self.untimed = 0;
        self.outside = 0;
        self.outside_span = None;
    }
}

/// Resolves `--since`/`--until`. A duration counts back from the newest
/// timestamp of the FILE inputs (`newest`, which reads them once first); on
/// standard input it cannot be known in advance.
fn window(config: &Config, newest: impl FnOnce() -> i64) -> Result<Window> {
    let mut w = Window::default();
    let (since, until) = (config.since, config.until);
    if since.is_none() && until.is_none() {
        return Ok(w);
    }
    let relative = [since, until].iter().any(|b| matches!(b, Some(TimeArg::Before(_))));
    let civil = [since, until].iter().any(|b| matches!(b, Some(TimeArg::Civil(_))));
    let instant = [since, until].iter().any(|b| matches!(b, Some(TimeArg::Instant(_))));
    if usize::from(relative) + usize::from(civil) + usize::from(instant) > 1 {
        return Err(Error::usage(
            "--since and --until: use two dates or two durations, not one of each, and give \
             a zone to both dates or to neither",
        ));
    }
    let ordered = |w: Window| match (w.since, w.until) {
        (Some(s), Some(u)) if s >= u => Err(Error::usage(format!(
            "--since {} is not before --until {}: no time is between them",
            since.map_or_else(String::new, |b| b.to_string()),
            until.map_or_else(String::new, |b| b.to_string())
        ))),
        _ => Ok(w),
    };
    if civil || instant {
        // A date without a zone: the log's clock, or --tz's.
        w.local = civil && config.tz.is_none();
        let ms = |b: Option<TimeArg>| match b {
            Some(TimeArg::Civil(ms)) => Some(config.tz.as_ref().map_or(ms, |z| z.instant(ms))),
            Some(TimeArg::Instant(ms)) => Some(ms),
            _ => None,
        };
        (w.since, w.until) = (ms(since), ms(until));
        return ordered(w);
    }
    if config.inputs.contains(&Input::Stdin) {
        return Err(Error::usage(
            "--since/--until with a duration count back from the log's newest line, which \
             standard input cannot tell in advance: give FILE arguments, or a date",
        ));
    }
    let newest = newest();
    let back = |b: Option<TimeArg>| match b {
        Some(TimeArg::Before(d)) => Some(newest - d.as_millis() as i64),
        _ => None,
    };
    // "--until 1h": everything but the last hour.
    w.since = back(since);
    w.until = back(until);
    ordered(w)
}

/// What reading a FILE input before the run found.
#[derive(Clone, Copy, Default)]
struct Survey {
    /// The earliest time of its first lines (see `parse::order`).
    first: Option<Timestamp>,
    /// Its newest event's time, when it was read whole.
    newest: Option<i64>,
}

/// Reads each FILE input once before the run, through the decompression
/// and parser the run uses: its first lines (until its format is
/// decided), for the time it begins; with `whole`, all of it, for its
/// newest time too. What cannot be read twice is not read: standard input,
/// and a FILE that is not a regular file (a FIFO, `<(command)`). `reading`:
/// the progress line, told which file is open (a whole pass only).
fn survey(config: &Config, whole: bool, reading: Option<&Reading>) -> Vec<Survey> {
    let mut parser = LogParser::new(config.prefix.clone(), config.format);
    let mut stats = Stats::default();
    let mut buf = LineBuffer::new();
    let mut surveys = vec![Survey::default(); config.inputs.len()];
    let reading = reading.filter(|_| whole);
    if let Some(r) = reading {
        r.begin_pass((0..config.inputs.len()).collect(), true);
    }
    for (at, (input, survey)) in config.inputs.iter().zip(&mut surveys).enumerate() {
        let Input::File(path) = input else { continue };
        if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        parser.set_reference(modified_ms(input));
        parser.begin_input();
        let mut newest = None;
        let mut note = |ev: &Event<'_>| {
            if let Some(t) = ev.meta.time {
                newest = Some(newest.map_or(t.ms, |n: i64| n.max(t.ms)));
            }
        };
        // An input that fails here fails in the run too, which reports it
        // once and goes on, the lines before the failure counted; here too.
        let read = File::open(path)
            .inspect(|f| {
                if let Some(r) = reading {
                    r.input(at, Some(f));
                }
            })
            .and_then(input::decompressed)
            .and_then(|mut r| {
                buf.reset();
                loop {
                    match buf.fill(&mut r)? {
                        Chunk::Lines(range) => {
                            parser.process(buf.get(range), &mut stats, &mut note);
                            if !whole && parser.head().is_some() {
                                return Ok(());
                            }
                        }
                        Chunk::Pending => {}
                        Chunk::Eof => return Ok(()),
                    }
                }
            });
        if whole || read.is_err() || parser.head().is_none() {
            parser.end_input(&mut stats, &mut note);
        }
        survey.first = parser.head().and_then(|h| h.earliest);
        survey.newest = newest;
    }
    surveys
}

/// The order to read `inputs` in: the FILEs whose first time is known in
/// log-time order, in the places such files hold on the command line; the
/// others (standard input among them) keep theirs. Indices into `inputs`.
fn time_order(inputs: &[Input], surveys: &[Survey]) -> Vec<usize> {
    let timed = |i: &usize| matches!(inputs[*i], Input::File(_)) && surveys[*i].first.is_some();
    let places: Vec<usize> = (0..inputs.len()).filter(timed).collect();
    let mut by_time = places.clone();
    by_time.sort_by_key(|&i| surveys[i].first.map(|t| t.ms));
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    for (place, i) in places.into_iter().zip(by_time) {
        order[place] = i;
    }
    order
}

/// The order to read the inputs in (indices into `config.inputs`) and the
/// `--since`/`--until` window: each reads the FILEs once first if it needs
/// to (the window's duration, several FILEs to order), and both share
/// that reading.
fn plan(config: &Config, reading: Option<&Reading>) -> Result<(Vec<usize>, Window)> {
    let mut surveys = None;
    let window = window(config, || {
        let all = survey(config, true, reading);
        let newest = all.iter().filter_map(|s| s.newest).max();
        surveys = Some(all);
        newest.unwrap_or(0)
    })?;
    let files = config.inputs.iter().filter(|i| matches!(i, Input::File(_))).count();
    let order = if files > 1 {
        let surveys = surveys.get_or_insert_with(|| survey(config, false, None));
        time_order(&config.inputs, surveys)
    } else {
        (0..config.inputs.len()).collect()
    };
    Ok((order, window))
}

/// The parsing side of a run: parser, its statistics and the time window.
/// In a run it has a thread of its own, between the reader and the main
/// thread, and hands over `Batch`es.
pub(crate) struct Parsing {
    parser: LogParser,
    stats: Stats,
    window: Window,
    clock: Clock,
    /// Statistics were reset (SIGHUP) this many times, as last seen.
    generation: u64,
}

/// Events of a run of lines, and what the report needs of the parsing side
/// as of the batch's end. Names are spans of the reader's buffer, which
/// travels with the batch; those that are not in it (a csvlog record
/// joined across reads, an unescaped JSON string) are copied into an
/// arena.
#[derive(Default)]
pub(crate) struct Batch {
    buf: Vec<u8>,
    arena: Vec<u8>,
    events: Vec<EventOf<Span>>,
    info: ParseInfo,
    generation: u64,
}

/// A span's start with this bit set is in the arena, else in the buffer.
const IN_ARENA: u32 = 1 << 31;

impl Batch {
    /// Adds an event parsed from `lines`, a part of `buf`.
    fn push(&mut self, ev: &Event<'_>, buf: &[u8]) {
        let arena = &mut self.arena;
        let base = buf.as_ptr() as usize;
        let ev = ev.map(|s| {
            let at = (s.as_ptr() as usize).wrapping_sub(base);
            if at <= buf.len() && s.len() <= buf.len() - at {
                Span { start: at as u32, len: s.len() as u32 }
            } else {
                let start = arena.len() as u32 | IN_ARENA;
                arena.extend_from_slice(s);
                Span { start, len: s.len() as u32 }
            }
        });
        self.events.push(ev);
    }

    /// Copies names out of the buffer into the arena and gives the buffer
    /// up, when few events hold on to a little of it: the reader gets it
    /// back sooner.
    fn release(&mut self) -> Option<Vec<u8>> {
        if self.events.len() > 64 {
            return None;
        }
        let mut held = 0;
        for e in &self.events {
            e.map(|s| held += if s.start & IN_ARENA != 0 { 0 } else { s.len as usize });
        }
        if held > 64 * 1024 {
            return None;
        }
        let (buf, arena) = (&self.buf, &mut self.arena);
        for e in &mut self.events {
            *e = e.map(|s| {
                if s.start & IN_ARENA != 0 {
                    return s;
                }
                let start = arena.len() as u32 | IN_ARENA;
                arena.extend_from_slice(&buf[s.start as usize..][..s.len as usize]);
                Span { start, len: s.len }
            });
        }
        Some(std::mem::take(&mut self.buf))
    }

    fn events(&self) -> impl Iterator<Item = Event<'_>> {
        let (buf, arena) = (&self.buf[..], &self.arena[..]);
        self.events.iter().map(move |e| {
            e.map(|s| {
                let (from, at) = if s.start & IN_ARENA != 0 {
                    (arena, s.start ^ IN_ARENA)
                } else {
                    (buf, s.start)
                };
                &from[at as usize..][..s.len as usize]
            })
        })
    }
}

/// What the report needs of the parsing side.
#[derive(Clone, Default, PartialEq)]
pub(crate) struct ParseInfo {
    stats: Stats,
    prefix: Option<String>,
    inferred: bool,
    pid_in_prefix: bool,
    time_in_prefix: bool,
    formats: Vec<crate::parse::Format>,
    envelopes: Vec<crate::parse::envelope::Envelope>,
    untimed: u64,
    outside: u64,
    outside_span: Option<(Timestamp, Timestamp)>,
    clock: Clock,
}

/// Pushes the events `window` admits into `batch` (`buf`: the read buffer
/// their lines are in, if any); `clock` notes them all.
fn admitted<'a>(
    window: &'a mut Window,
    clock: &'a mut Clock,
    batch: &'a mut Batch,
    buf: &'a [u8],
) -> impl FnMut(&Event<'_>) + 'a {
    move |ev| {
        clock.note(ev);
        if window.admits(&ev.meta.time) {
            batch.push(ev, buf);
        }
    }
}

/// Tracks the events `window` admits (a run on one thread); `clock` notes
/// them all.
fn tracked<'a>(
    window: &'a mut Window,
    clock: &'a mut Clock,
    tracker: &'a mut Tracker,
) -> impl FnMut(&Event<'_>) + 'a {
    move |ev| {
        clock.note(ev);
        if window.admits(&ev.meta.time) {
            tracker.apply(ev);
        }
    }
}

impl Parsing {
    pub(crate) fn new(config: &Config) -> Parsing {
        Parsing {
            parser: LogParser::new(config.prefix.clone(), config.format),
            stats: Stats::default(),
            window: Window::default(),
            clock: Clock::default(),
            generation: 0,
        }
    }

    /// The next input begins, last written at `reference` (see
    /// `modified_ms`).
    fn next_input(&mut self, reference: Option<i64>) {
        // The input that ended: whether it ran newest first.
        self.clock.newest_first(self.parser.head().is_some_and(|h| h.newest_first));
        self.clock.begin_input();
        self.parser.set_reference(reference);
        self.parser.begin_input();
    }

    /// Statistics were reset since the last batch: start them afresh (the
    /// inferred prefix stays).
    fn sync(&mut self, generation: u64) {
        if generation != self.generation {
            self.generation = generation;
            self.stats = Stats::default();
            self.window.reset_counts();
            self.clock.reset();
        }
    }

    /// Parses the lines in `range` of `buf` into `batch`, which takes
    /// `buf` along.
    fn process(&mut self, buf: Vec<u8>, range: std::ops::Range<usize>, batch: &mut Batch) {
        let into = admitted(&mut self.window, &mut self.clock, batch, &buf);
        self.parser.process(&buf[range], &mut self.stats, into);
        batch.buf = buf;
    }

    /// The input paused: the lines held back to decide the format and
    /// prefix are parsed into `batch`.
    fn flush(&mut self, batch: &mut Batch) {
        self.parser.flush(&mut self.stats, admitted(&mut self.window, &mut self.clock, batch, &[]));
    }

    /// The current input ended: a part of what the parser kept to read
    /// oldest first goes into `batch`; false when nothing is left.
    fn read_back(&mut self, batch: &mut Batch) -> bool {
        self.parser
            .read_back(&mut self.stats, admitted(&mut self.window, &mut self.clock, batch, &[]))
    }

    /// The current input ended: what the parser held back goes into
    /// `batch`.
    fn end_input(&mut self, batch: &mut Batch) {
        self.parser
            .end_input(&mut self.stats, admitted(&mut self.window, &mut self.clock, batch, &[]));
    }

    /// Completes `batch` with the statistics as of now.
    fn seal(&self, batch: &mut Batch) {
        self.seal_info(&mut batch.info);
        batch.generation = self.generation;
    }

    /// What the report needs of the parsing side, as of now.
    fn seal_info(&self, info: &mut ParseInfo) {
        let p = &self.parser;
        info.stats.clone_from(&self.stats);
        info.prefix = p.prefix().map(|p| p.source().to_owned());
        info.inferred = p.inferred();
        info.pid_in_prefix = p.has_pid();
        info.time_in_prefix = p.has_time();
        info.formats.clear();
        info.formats.extend_from_slice(p.formats());
        info.envelopes.clear();
        info.envelopes.extend_from_slice(p.envelopes());
        info.untimed = self.window.untimed;
        info.outside = self.window.outside;
        info.outside_span = self.window.outside_span;
        info.clock.clone_from(&self.clock);
        if let (Some(input), Some(head)) = (info.clock.inputs.last_mut(), p.head()) {
            input.newest_first = head.newest_first;
        }
    }

    /// Parses what the reader sent straight into `pipeline`'s tracker (a
    /// run on one thread); returns what the main loop does next, and the
    /// buffer to give back to the reader.
    fn track(&mut self, read: Read, pipeline: &mut Pipeline) -> (Option<Msg>, Option<Vec<u8>>) {
        self.sync(pipeline.generation.load(Ordering::Relaxed));
        let into = tracked(&mut self.window, &mut self.clock, &mut pipeline.tracker);
        let (then, buf) = match read {
            Read::Lines(buf, range) => {
                self.parser.process(&buf[range], &mut self.stats, into);
                (None, Some(buf))
            }
            Read::NextInput(reference) => {
                self.parser.end_input(&mut self.stats, into);
                self.seal_info(&mut pipeline.info);
                self.next_input(reference);
                return (None, None);
            }
            Read::Done => {
                self.parser.end_input(&mut self.stats, into);
                (Some(Msg::Done), None)
            }
            Read::Failed(e) => {
                drop(into);
                (Some(Msg::Failed(e)), None)
            }
        };
        self.seal_info(&mut pipeline.info);
        (then, buf)
    }

    /// The input paused: the lines held back are parsed into `pipeline`'s
    /// tracker (a run on one thread).
    fn flush_into(&mut self, pipeline: &mut Pipeline) {
        self.sync(pipeline.generation.load(Ordering::Relaxed));
        self.parser.flush(
            &mut self.stats,
            tracked(&mut self.window, &mut self.clock, &mut pipeline.tracker),
        );
        self.seal_info(&mut pipeline.info);
    }

    /// Reads one input to its end on this thread (tests, fuzzing).
    pub(crate) fn feed<R: io::Read + ?Sized>(
        &mut self,
        rdr: &mut R,
        pipeline: &mut Pipeline,
    ) -> io::Result<()> {
        let mut buf = LineBuffer::new();
        self.next_input(None);
        input::read_lines(rdr, &mut buf, |lines, _| {
            let mut batch = Batch::default();
            self.process(lines.to_vec(), 0..lines.len(), &mut batch);
            // Small reads take the arena path, large ones the buffer's.
            batch.release();
            self.seal(&mut batch);
            pipeline.apply(&batch);
        })?;
        let mut batch = Batch::default();
        self.end_input(&mut batch);
        self.seal(&mut batch);
        pipeline.apply(&batch);
        Ok(())
    }
}

/// Parses what the reader sends, in order, into batches for the main
/// thread, recycling the batches it sends back; a buffer few events hold
/// on to goes straight back to the reader.
fn parse_inputs(
    mut parsing: Parsing,
    rx: Receiver<Read>,
    tx: SyncSender<Msg>,
    buffers: mpsc::Sender<Vec<u8>>,
    batches: Receiver<Box<Batch>>,
    generation: Arc<AtomicU64>,
) {
    let spare = |batches: &Receiver<Box<Batch>>| {
        let mut b = batches.try_recv().unwrap_or_default();
        b.arena.clear();
        b.events.clear();
        b
    };
    // A batch that would change nothing is not sent (a quiet stretch of a
    // log costs the main thread no wake-up); it is kept for the next lines.
    let mut idle: Option<Box<Batch>> = None;
    let mut sent = ParseInfo::default();
    loop {
        let msg = match rx.try_recv() {
            Ok(m) => Some(m),
            // Nothing more for now: lines held back to decide the format
            // and prefix are parsed before waiting (a live log pauses).
            Err(mpsc::TryRecvError::Empty) if parsing.parser.holds_back() => None,
            Err(mpsc::TryRecvError::Empty) => match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => break,
            },
            Err(mpsc::TryRecvError::Disconnected) => break,
        };
        parsing.sync(generation.load(Ordering::Relaxed));
        let mut batch = idle.take().unwrap_or_else(|| spare(&batches));
        let mut next_input = None;
        let Some(msg) = msg else {
            parsing.flush(&mut batch);
            parsing.seal(&mut batch);
            if tx.send(Msg::Batch(batch)).is_err() {
                return;
            }
            continue;
        };
        // A newest-first input is read back in parts, a batch each.
        if matches!(msg, Read::NextInput(_) | Read::Done) {
            while parsing.read_back(&mut batch) {
                parsing.seal(&mut batch);
                sent.clone_from(&batch.info);
                if tx.send(Msg::Batch(batch)).is_err() {
                    return;
                }
                batch = spare(&batches);
            }
        }
        let then = match msg {
            Read::Lines(v, range) => {
                parsing.process(v, range, &mut batch);
                if let Some(buf) = batch.release() {
                    let _ = buffers.send(buf);
                }
                None
            }
            // What the parser held back (an open csvlog record) ends with
            // its input.
            Read::NextInput(reference) => {
                parsing.end_input(&mut batch);
                next_input = Some(reference);
                None
            }
            Read::Done => {
                parsing.end_input(&mut batch);
                Some(Msg::Done)
            }
            Read::Failed(e) => Some(Msg::Failed(e)),
        };
        parsing.seal(&mut batch);
        if batch.events.is_empty() && batch.info == sent {
            idle = Some(batch);
        } else {
            sent.clone_from(&batch.info);
            if tx.send(Msg::Batch(batch)).is_err() {
                return;
            }
        }
        // After the seal: the report keeps the ended input's prefix until
        // the next one has its own.
        if let Some(reference) = next_input {
            parsing.next_input(reference);
        }
        if let Some(m) = then
            && tx.send(m).is_err()
        {
            return;
        }
    }
}

/// The tracking side of a run, and what the report needs of the parsing
/// side as of the last batch tracked.
pub(crate) struct Pipeline {
    /// Reports written so far (`report` in JSON, the header of text ones).
    reports: std::cell::Cell<u64>,
    tracker: Tracker,
    info: ParseInfo,
    counts: Arc<ReadCounts>,
    /// The inputs' names, in the order read, and whether that order is
    /// not the command line's.
    names: Vec<String>,
    reordered: bool,
    /// Statistics were reset (SIGHUP) this many times.
    generation: Arc<AtomicU64>,
}

impl Pipeline {
    pub(crate) fn new(config: &Config) -> Pipeline {
        Pipeline {
            reports: std::cell::Cell::new(0),
            tracker: Pipeline::tracker(config),
            info: ParseInfo::default(),
            counts: Arc::default(),
            names: Vec::new(),
            reordered: false,
            generation: Arc::default(),
        }
    }

    fn tracker(config: &Config) -> Tracker {
        let mut tracker = Tracker::new(config.filter.clone(), config.bucket);
        tracker.set_brute_force(config.brute_force.0, config.brute_force.1);
        if config.mode == Mode::Watch {
            tracker.record_changes();
        }
        tracker
    }

    /// Tracks a batch; one parsed before the last reset is dropped.
    fn apply(&mut self, batch: &Batch) {
        if batch.generation != self.generation.load(Ordering::Relaxed) {
            return;
        }
        for ev in batch.events() {
            self.tracker.apply(&ev);
        }
        self.info.clone_from(&batch.info);
    }

    /// Forgets every statistic (SIGHUP), and has the parsing thread do the
    /// same; batches it parsed before are dropped.
    fn reset(&mut self, config: &Config) {
        self.generation.fetch_add(1, Ordering::Relaxed);
        self.tracker = Pipeline::tracker(config);
        self.tracker.mark_reset();
        self.info.stats = Stats::default();
        self.info.untimed = 0;
        self.info.outside = 0;
        self.info.outside_span = None;
    }

    pub(crate) fn snapshot(&self, config: &Config) -> Snapshot {
        self.tracker.snapshot(config.top, &config.by)
    }

    pub(crate) fn report<'a>(&'a self, snapshot: &'a Snapshot, config: &Config) -> Report<'a> {
        let info = &self.info;
        Report {
            snapshot,
            stats: &info.stats,
            bytes: self.counts.bytes.load(Ordering::Relaxed),
            long_lines: self.counts.long_lines.load(Ordering::Relaxed),
            prefix: info.prefix.as_deref(),
            prefix_inferred: info.inferred,
            pid_in_prefix: info.pid_in_prefix,
            time_in_prefix: info.time_in_prefix,
            formats: &info.formats,
            envelopes: &info.envelopes,
            totals: &self.tracker.totals,
            asked: report::Asked {
                filters: config.filter.describe(),
                window: [("--since", config.since), ("--until", config.until)]
                    .iter()
                    .filter_map(|(flag, b)| b.map(|b| format!("{flag} {b}")))
                    .collect::<Vec<_>>()
                    .join(" "),
                prefix_given: config.prefix.is_some(),
                mode: config.mode,
                tz: config.tz.as_ref().map(|z| z.name().to_string()),
            },
            untimed: info.untimed,
            outside: info.outside,
            outside_span: info.outside_span,
            inputs: &self.names,
            input_times: &info.clock.inputs,
            reordered: self.reordered,
            went_back: info.clock.went_back,
            brute_force: &snapshot.brute_force,
            brute_rule: self.tracker.brute_rule(),
            wide: config.wide,
            resets: self.generation.load(Ordering::Relaxed),
        }
    }

    /// The whole report (table or JSON) as of now, not the last one.
    fn write_report<W: Write>(
        &self,
        config: &Config,
        out: &mut W,
        palette: &Palette,
    ) -> io::Result<()> {
        self.write_numbered(config, out, palette, false)
    }

    /// A report, numbered: its JSON objects (summary, history, failures)
    /// carry `report` (from 1), `final` and `generated_at`; with
    /// `--every`, a text report starts with a line that says the same.
    fn write_numbered<W: Write>(
        &self,
        config: &Config,
        out: &mut W,
        palette: &Palette,
        last: bool,
    ) -> io::Result<()> {
        let n = self.reports.get() + 1;
        self.reports.set(n);
        let stamp = report::Stamp::now(n, last);
        if config.openmetrics {
            let snapshot = self.snapshot(config);
            let report = self.report(&snapshot, config);
            return report::openmetrics::write_summary(out, &report, stamp.generated_ms);
        }
        if config.json {
            if matches!(config.mode, Mode::Summary | Mode::History | Mode::Failures) {
                let mut buf = Vec::new();
                self.write_table_or_json(config, &mut buf, palette)?;
                return out.write_all(&stamp.stamp_json(&buf));
            }
            return self.write_table_or_json(config, out, palette);
        }
        if config.every.is_some() && !config.dashboard {
            writeln!(
                out,
                "{}",
                owo_colors::OwoColorize::style(&stamp.header(palette.zone.as_ref()), palette.dim)
            )?;
        }
        self.write_table_or_json(config, out, palette)
    }

    fn write_table_or_json<W: Write>(
        &self,
        config: &Config,
        out: &mut W,
        palette: &Palette,
    ) -> io::Result<()> {
        // The table of a mode other than the summary (which has its own)
        // ends with the notes.
        if !config.json && matches!(config.mode, Mode::History | Mode::Sessions | Mode::Failures) {
            self.write_mode(config, out, palette)?;
            let snapshot = self.snapshot(config);
            let notes =
                report::notes::notes(&self.report(&snapshot, config), palette.zone.as_ref());
            return report::write_notes_block(out, &notes, palette);
        }
        self.write_mode(config, out, palette)
    }

    /// The report of the mode, table or JSON, as of now.
    fn write_mode<W: Write>(
        &self,
        config: &Config,
        out: &mut W,
        palette: &Palette,
    ) -> io::Result<()> {
        let t = &self.tracker;
        match (config.mode, config.json) {
            (Mode::History, true) => {
                let snapshot = self.snapshot(config);
                report::history::write_json(out, &t.timeline(), &snapshot.leaks)
            }
            (Mode::History, false) => {
                let snapshot = self.snapshot(config);
                report::history::write_table(out, &t.timeline(), &snapshot.leaks, palette)
            }
            (Mode::Sessions, true) => {
                let no_pid = (!t.has_pids()).then_some(t.totals.active);
                report::sessions::write_json(out, &t.open_sessions(), no_pid)
            }
            (Mode::Sessions, false) => {
                let snapshot = self.snapshot(config);
                report::sessions::write_table(
                    out,
                    &t.open_sessions(),
                    t.last,
                    snapshot.active_lower_bound,
                    (!t.has_pids()).then_some(snapshot.active),
                    palette,
                )
            }
            (Mode::Failures, json) => {
                let snapshot = self.tracker.snapshot(0, &config.by);
                let (reasons, hosts) = (t.failure_details(), t.brute_force());
                let view = report::failures::FailureView {
                    reasons: &reasons,
                    brute_force: &hosts,
                    rule: t.brute_rule(),
                    breakdowns: &snapshot.breakdowns,
                    probes: &snapshot.probes,
                    top: config.top,
                };
                if json {
                    report::failures::write_json(out, &view)
                } else {
                    report::failures::write_table(out, &view, palette)
                }
            }
            (Mode::Summary | Mode::Watch, json) => {
                let snapshot = self.snapshot(config);
                let report = self.report(&snapshot, config);
                if json {
                    report::json::write_summary(out, &report)
                } else {
                    report::table::write_summary(out, &report, palette)
                }
            }
        }
    }
}

/// Reads every input, in order, into the channel; tells `reading` (the
/// progress line) which one is open.
fn read_inputs(
    inputs: Vec<Input>,
    send: impl Fn(Read) -> bool,
    pool: Receiver<Vec<u8>>,
    counts: Arc<ReadCounts>,
    reading: Option<Reading>,
) {
    let mut buf = LineBuffer::new();
    let mut base = 0;
    for (at, input) in inputs.into_iter().enumerate() {
        if !send(Read::NextInput(modified_ms(&input))) {
            return;
        }
        let mut read = |rdr: &mut dyn io::Read| -> io::Result<()> {
            buf.reset();
            loop {
                match buf.fill(rdr)? {
                    Chunk::Lines(range) => {
                        counts.bytes.store(base + buf.bytes_read, Ordering::Relaxed);
                        counts.long_lines.store(buf.long_lines, Ordering::Relaxed);
                        // The buffer itself goes; a used one comes back.
                        let spare = pool.try_recv().unwrap_or_default();
                        send(Read::Lines(buf.detach(spare), range));
                    }
                    Chunk::Pending => {}
                    Chunk::Eof => return Ok(()),
                }
            }
        };
        let result = match &input {
            Input::Stdin => {
                if let Some(r) = &reading {
                    r.stdin(at);
                }
                input::decompressed(io::stdin().lock()).and_then(|mut r| read(&mut r))
            }
            Input::File(path) => {
                let file = File::open(path);
                if let Some(r) = &reading {
                    r.input(at, file.as_ref().ok());
                }
                file.and_then(input::decompressed).and_then(|mut r| read(&mut r))
            }
        };
        base = counts.bytes.load(Ordering::Relaxed);
        buf.bytes_read = 0;
        if let Err(e) = result
            && !send(Read::Failed(Error::io(input.name(), e)))
        {
            return;
        }
    }
    send(Read::Done);
}

/// When an input was last written, in ms since the epoch: the year of its
/// RFC 3164 syslog times, which have none. Standard input redirected from
/// a file is that file's; a pipe has none (the parser takes now).
fn modified_ms(input: &Input) -> Option<i64> {
    let path = match input {
        Input::File(path) => path.as_path(),
        Input::Stdin => std::path::Path::new("/dev/stdin"),
    };
    let meta = std::fs::metadata(path).ok().filter(std::fs::Metadata::is_file)?;
    let since = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(since.as_millis()).ok()
}

/// Forwards the signals pgconn handles to the main loop.
fn forward_signals(tx: SyncSender<Msg>) -> Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGUSR1, SIGHUP])
        .map_err(|e| Error::io("cannot set up signal handling", e))?;
    std::thread::spawn(move || {
        for sig in signals.forever() {
            if tx.send(Msg::Signal(sig)).is_err() {
                return;
            }
        }
    });
    Ok(())
}

/// How long the input must stay open before the dashboard starts: a file
/// read at once just gets its summary.
const DASHBOARD_AFTER: Duration = Duration::from_millis(300);

/// The report timer and the dashboard's screen.
struct Live {
    every: Option<Duration>,
    dashboard: bool,
    next: Option<Instant>,
    screen: Screen,
    frame: Vec<u8>,
    /// (when, bytes, events) at the last tick, for the input rate.
    last: (Instant, u64, u64),
    /// Reports written off a terminal.
    reports: u64,
}

impl Live {
    fn new(config: &Config) -> Live {
        let now = Instant::now();
        let next =
            config.every.map(|e| now + if config.dashboard { DASHBOARD_AFTER.min(e) } else { e });
        Live {
            every: config.every,
            dashboard: config.dashboard,
            next,
            screen: Screen::default(),
            frame: Vec::new(),
            last: (now, 0, 0),
            reports: 0,
        }
    }

    /// The timer fired: redraw the dashboard or write a report.
    /// `progress`: how far the reading of files is, for the dashboard.
    fn tick<W: Write>(
        &mut self,
        out: &mut W,
        p: &Pipeline,
        config: &Config,
        palette: &Palette,
        progress: Option<&Progress>,
    ) -> Result<()> {
        let now = Instant::now();
        if let Some(every) = self.every {
            self.next = Some(now + every);
        }
        if let Some(path) = &config.output {
            let mut buf = Vec::new();
            p.write_report(config, &mut buf, palette)?;
            return replace_file(path, &buf);
        }
        if !self.dashboard {
            // Successive tables are told apart by a blank line.
            if !config.json && self.reports > 0 {
                writeln!(out)?;
            }
            self.reports += 1;
            p.write_report(config, out, palette)?;
            return Ok(out.flush()?);
        }
        let (width, height) = match terminal_size::terminal_size() {
            Some((w, h)) => (usize::from(w.0).max(20), usize::from(h.0).max(5)),
            None => (80, 24),
        };
        let bytes = p.counts.bytes.load(Ordering::Relaxed);
        let events = p.tracker.totals.events;
        let secs = now.duration_since(self.last.0).as_secs_f64().max(0.001);
        let rate = format!(
            "{}/s, {:.0} events/s",
            human_bytes(((bytes - self.last.1) as f64 / secs) as u64),
            (events - self.last.2) as f64 / secs
        );
        self.last = (now, bytes, events);
        let newest = p.tracker.last.map_or_else(|| "none yet".to_string(), |t| palette.time(t));
        // Files (not a live pipe): how far along, of how much, and when done.
        let status = match progress.and_then(Progress::status) {
            Some(reading) => format!("{reading}; newest log line {newest}; Ctrl-C to stop"),
            None => format!("live: newest log line {newest}; input {rate}; Ctrl-C to stop"),
        };
        // Fewer rows per breakdown, then the compact layout, until the
        // frame fits the terminal.
        let most = if config.top == 0 { height } else { config.top.min(height) };
        let mut text = String::new();
        if config.mode != Mode::Summary {
            let mut buf = Vec::new();
            p.write_report(config, &mut buf, palette)?;
            text = String::from_utf8_lossy(&buf).into_owned();
        }
        'fit: for compact in [false, true] {
            if config.mode != Mode::Summary {
                break;
            }
            for top in (1..=most).rev() {
                let snapshot = p.tracker.snapshot(top, &config.by);
                let mut buf = Vec::new();
                report::table::write_summary_in(
                    &mut buf,
                    &p.report(&snapshot, config),
                    palette,
                    compact,
                )?;
                text = String::from_utf8_lossy(&buf).into_owned();
                if text.lines().count() < height - 1 {
                    break 'fit;
                }
            }
        }
        let lines = live::fit_screen(&format!("{}\n{text}", status), width, height - 1);
        self.screen.frame(&lines, &mut self.frame);
        out.write_all(&self.frame)?;
        Ok(out.flush()?)
    }

    /// Writes the final report: in place of the last frame, if one is on
    /// the screen. Line by line, each clearing its rest: clearing the whole
    /// screen from its top corner would push it into some terminals'
    /// scrollback (tmux does).
    fn finish<W: Write>(&mut self, out: &mut W, report: &[u8]) -> io::Result<()> {
        if !self.screen.is_drawn() {
            return out.write_all(report);
        }
        let lines: Vec<String> =
            String::from_utf8_lossy(report).lines().map(str::to_string).collect();
        self.screen.frame(&lines, &mut self.frame);
        out.write_all(&self.frame)
    }
}

/// `--output`: writes `bytes` to a new file beside `path`, then renames it
/// over `path`, so that a reader (node_exporter's textfile collector, a
/// `cat`) sees the previous report or this one, never half of one. The
/// temporary name starts with a dot and ends in `.tmp` (not `.prom`), so
/// the textfile collector does not read it.
fn replace_file(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let context = |what: &str| format!("{what} {}", path.display());
    let write = || -> io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(context("cannot write --output"), e)
    })
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n < 10 * 1024 => format!("{n} B"),
        n if n < 10 * 1024 * 1024 => format!("{} KiB", n / 1024),
        n => format!("{} MiB", n / (1024 * 1024)),
    }
}

/// Writes the changes the tracker recorded as watch lines.
fn write_changes<W: Write>(
    out: &mut W,
    p: &mut Pipeline,
    changes: &mut Vec<Change>,
    config: &Config,
    palette: &Palette,
) -> io::Result<()> {
    p.tracker.take_changes(changes);
    for c in changes.drain(..) {
        if config.json {
            report::watch::write_json(out, &c, &p.tracker.dictionary())?;
        } else {
            report::watch::write_text(out, &c, &p.tracker.dictionary(), palette)?;
        }
    }
    Ok(())
}

pub fn run(config: &Config) -> Result<Outcome> {
    if config.stdin_tty {
        let _ = writeln!(
            io::stderr(),
            "pgconn: reading a log from the terminal; Ctrl-D ends it.\n  usage: pgconn \
             postgresql.log, or tail -F postgresql.log | pgconn (pgconn --help)"
        );
    }
    let mut pipeline = Pipeline::new(config);
    let mut parsing = Parsing::new(config);
    // Before `plan`, which may read the files once already.
    let progress = Progress::start(config).or_else(|| Progress::for_dashboard(config));
    let reading = progress.as_ref().map(Progress::reading);
    let (order, window) = plan(config, reading.as_ref())?;
    if let Some(r) = &reading {
        r.begin_pass(order.clone(), false);
    }
    parsing.window = window;
    let inputs: Vec<Input> = order.iter().map(|&i| config.inputs[i].clone()).collect();
    pipeline.names = inputs.iter().map(Input::name).collect();
    pipeline.reordered = order.iter().enumerate().any(|(at, &i)| at != i);
    // Short queues: a few buffers in flight keep both cores busy, and
    // memory flat.
    let (tx, rx) = mpsc::sync_channel::<Msg>(1);
    let (pool_tx, pool_rx) = mpsc::channel::<Vec<u8>>();
    let (batch_tx, batch_rx) = mpsc::channel::<Box<Batch>>();
    forward_signals(tx.clone())?;
    let counts = pipeline.counts.clone();
    // On one thread, the main loop parses what the reader sends.
    let mut direct = None;
    if config.threads == 1 {
        let tx = tx.clone();
        let send = move |r| tx.send(Msg::Read(r)).is_ok();
        std::thread::spawn(move || read_inputs(inputs, send, pool_rx, counts, reading));
        direct = Some(parsing);
    } else {
        let (lines_tx, lines_rx) = mpsc::sync_channel::<Read>(1);
        let send = move |r| lines_tx.send(r).is_ok();
        std::thread::spawn(move || read_inputs(inputs, send, pool_rx, counts, reading));
        let (generation, buffers) = (pipeline.generation.clone(), pool_tx.clone());
        std::thread::spawn(move || {
            // A bug that panics here must not leave the main thread waiting
            // for batches that never come: it is told, and ends.
            let done = tx.clone();
            let parse = std::panic::AssertUnwindSafe(|| {
                parse_inputs(parsing, lines_rx, tx, buffers, batch_rx, generation)
            });
            if std::panic::catch_unwind(parse).is_err() {
                let e = Error::internal(
                    "the parsing thread stopped on a bug in pgconn (the message above); the report covers what was parsed before",
                );
                let _ = done.send(Msg::Failed(e));
                let _ = done.send(Msg::Done);
            }
        });
    }

    let palette = Palette::new(config.color, config.tz.clone());
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut live = Live::new(config);
    let mut changes = Vec::new();
    let mut unflushed = false;
    let mut read_failed = false;
    loop {
        let msg = match rx.try_recv() {
            Ok(m) => m,
            Err(TryRecvError::Empty) => {
                // Nothing more for now: lines held back to decide the
                // format and prefix are parsed before waiting (a live log
                // pauses).
                if let Some(parsing) = direct.as_mut().filter(|p| p.parser.holds_back()) {
                    parsing.flush_into(&mut pipeline);
                    if config.mode == Mode::Watch {
                        write_changes(&mut out, &mut pipeline, &mut changes, config, &palette)?;
                        unflushed = true;
                    }
                }
                // About to wait: whatever the last batch printed goes out now.
                if unflushed {
                    out.flush()?;
                    unflushed = false;
                }
                let waited = match live.next {
                    None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                    Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
                };
                match waited {
                    Ok(m) => m,
                    Err(RecvTimeoutError::Timeout) => {
                        if let Some(p) = &progress {
                            p.hide_for_stdout();
                        }
                        live.tick(&mut out, &pipeline, config, &palette, progress.as_ref())?;
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        let msg = match (msg, direct.as_mut()) {
            (Msg::Read(read), Some(parsing)) => {
                let (then, buf) = parsing.track(read, &mut pipeline);
                if let Some(buf) = buf {
                    let _ = pool_tx.send(buf);
                }
                if config.mode == Mode::Watch {
                    write_changes(&mut out, &mut pipeline, &mut changes, config, &palette)?;
                    unflushed = true;
                }
                match then {
                    Some(m) => m,
                    None => continue,
                }
            }
            (msg, _) => msg,
        };
        match msg {
            // Only sent when the parsing is here, handled above.
            Msg::Read(_) => {}
            Msg::Batch(mut batch) => {
                pipeline.apply(&batch);
                // The reader's buffer back to the reader, the rest to the
                // parser.
                if batch.buf.capacity() > 0 {
                    let _ = pool_tx.send(std::mem::take(&mut batch.buf));
                }
                let _ = batch_tx.send(batch);
                if config.mode == Mode::Watch {
                    write_changes(&mut out, &mut pipeline, &mut changes, config, &palette)?;
                    unflushed = true;
                }
            }
            Msg::Failed(e) => {
                if let Some(p) = &progress {
                    p.hide();
                }
                let _ = writeln!(io::stderr(), "pgconn: {e}");
                read_failed = true;
            }
            Msg::Done => {
                if config.mode == Mode::Watch {
                    write_changes(&mut out, &mut pipeline, &mut changes, config, &palette)?;
                }
                break;
            }
            Msg::Signal(SIGUSR1) => {
                if let Some(p) = &progress {
                    p.hide();
                }
                let mut err = io::stderr().lock();
                let _ = pipeline.write_report(
                    config,
                    &mut err,
                    &Palette::new(false, config.tz.clone()),
                );
            }
            Msg::Signal(SIGHUP) => {
                if let Some(p) = &progress {
                    p.hide();
                }
                pipeline.reset(config);
                let _ = writeln!(io::stderr(), "pgconn: statistics reset (SIGHUP)");
            }
            // SIGINT, SIGTERM: the final report, as at the end of input.
            Msg::Signal(_) => break,
        }
    }
    out.flush()?;
    // The line goes before the report, which may be on the same terminal.
    drop(progress);
    finish(config, &pipeline, &mut out, &mut live, &palette, read_failed)
}

/// The whole pipeline on this thread, for property tests and fuzzing:
/// reads `inputs` in turn (instead of `config.inputs`) and writes the final
/// report as `run` would, without colour. Not a stable interface.
#[doc(hidden)]
pub fn run_in_process(
    config: &Config,
    inputs: &mut [&mut dyn io::Read],
    out: &mut dyn Write,
) -> Result<()> {
    let mut pipeline = Pipeline::new(config);
    let mut parsing = Parsing::new(config);
    parsing.window = plan(config, None)?.1;
    pipeline.names = (0..inputs.len()).map(|i| format!("input {i}")).collect();
    for (i, input) in inputs.iter_mut().enumerate() {
        input::decompressed(&mut **input)
            .and_then(|mut r| parsing.feed(&mut r, &mut pipeline))
            .map_err(|e| Error::io(format!("input {i}"), e))?;
    }
    let mut out = out;
    pipeline.write_report(config, &mut out, &Palette::new(false, config.tz.clone()))?;
    Ok(())
}

/// The final report and hints, and the outcome.
fn finish<W: Write>(
    config: &Config,
    pipeline: &Pipeline,
    out: &mut W,
    live: &mut Live,
    palette: &Palette,
    read_failed: bool,
) -> Result<Outcome> {
    let snapshot = pipeline.snapshot(config);
    let report = pipeline.report(&snapshot, config);
    let found = pipeline.tracker.totals.matched > 0;
    let stats = &pipeline.info.stats;
    if config.mode == Mode::Watch {
        // The stream is the output; the totals go to stderr.
        let s = &snapshot;
        let _ = writeln!(
            io::stderr(),
            "pgconn: {} connections, {} disconnections, {} failures, {} active",
            s.connections,
            s.disconnections,
            s.failures,
            s.active
        );
    } else if let Some(path) = &config.output {
        // The text report of nothing is not written (the hint says why);
        // JSON and OpenMetrics say it with zeros.
        if found || config.json || config.openmetrics {
            let mut buf = Vec::new();
            pipeline.write_numbered(config, &mut buf, palette, true)?;
            replace_file(path, &buf)?;
        }
    } else if config.json || config.openmetrics {
        pipeline.write_numbered(config, out, palette, true)?;
    } else {
        let mut text = Vec::new();
        if found {
            pipeline.write_numbered(config, &mut text, palette, true)?;
        }
        live.finish(out, &text)?;
    }
    out.flush()?;

    let mut err = io::stderr().lock();
    // With nothing found, the notes below say it.
    if let Some((forced, seen)) = stats.forced_mismatch.filter(|_| found) {
        let _ = writeln!(
            err,
            "pgconn: warning: --format {} read an input that looks like {}",
            forced.as_str(),
            seen.as_str()
        );
    }
    if stats.unparsed > 0 && found {
        let _ = writeln!(
            err,
            "pgconn: warning: {} connection or server line(s) could not be used{}; first: {}",
            stats.unparsed,
            if stats.prefix_mismatch > 0 { " (log_line_prefix did not match)" } else { "" },
            report::escape(stats.first_unparsed.as_deref().unwrap_or("").as_bytes()),
        );
    }
    if stats.prefix_disagree > 0 {
        let prefix = match (&report.prefix, report.prefix_inferred) {
            (Some(p), true) => format!("the inferred log_line_prefix '{p}'"),
            (Some(p), false) => format!("--prefix '{p}'"),
            (None, _) => "the log_line_prefix".to_string(),
        };
        let _ = writeln!(
            err,
            "pgconn: warning: on {} connection line(s) {prefix} reads a user, database or host \
             other than the line's own message names (their messages are used; failures may \
             show wrong names): pass the server's value (SHOW log_line_prefix) with --prefix; \
             first: {}",
            stats.prefix_disagree,
            report::escape(stats.first_disagree.as_deref().unwrap_or("").as_bytes()),
        );
    }
    if let Some(w) = report.went_back {
        let _ = writeln!(
            err,
            "pgconn: warning: {}",
            report::went_back(&w, report.inputs, palette.zone.as_ref())
        );
    }
    // An input that could not be read was reported already, and is the
    // likelier reason for an empty report than anything the hint says.
    if !found && !read_failed {
        let _ =
            err.write_all(report::nothing_found_hint(&report, palette.zone.as_ref()).as_bytes());
    } else if found
        && (config.mode == Mode::Watch
            || config.openmetrics
            || (config.json && config.mode != Mode::Summary))
    {
        // No room for them in the stream or the NDJSON lines: they go here.
        for n in report::notes::notes(&report, palette.zone.as_ref()) {
            let _ = writeln!(err, "pgconn: note: {}\n  fix: {}", n.message, n.fix);
        }
    } else if found {
        // A time read wrong is worth a word where it is seen, whatever
        // the output (the notes have the details).
        let zones = &pipeline.tracker.totals.unknown_zones;
        let named: Vec<String> =
            zones.iter().filter(|z| !z.is_empty()).map(|z| report::escape(z)).collect();
        if let Some(first) = named.first() {
            let _ = writeln!(
                err,
                "pgconn: warning: time zone abbreviation {} unknown: times taken as UTC; give \
                 the offset with --tz-abbrev {first}=+HH:MM",
                named.join(", ")
            );
        }
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

    impl io::Read for Trickle<'_> {
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
            Parsed::Run(a) => Config::new(*a).unwrap(),
            _ => unreachable!(),
        }
    }

    fn summary_json(inputs: &[&[u8]], trickle: bool) -> String {
        let config = config(&["--top", "0"]);
        let mut p = Pipeline::new(&config);
        let mut parsing = Parsing::new(&config);
        for data in inputs {
            if trickle {
                parsing.feed(&mut Trickle { data, n: 0 }, &mut p).unwrap();
            } else {
                parsing.feed(&mut &data[..], &mut p).unwrap();
            }
        }
        let snapshot = p.snapshot(&config);
        let mut out = Vec::new();
        crate::report::json::write_summary(&mut out, &p.report(&snapshot, &config)).unwrap();
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
    fn batch_names_survive_buffer_and_arena() {
        use crate::event::{KindOf, MetaOf, SecurityOf};
        let buf = b"LOG:  connection authorized: user=alice database=shop".to_vec();
        let elsewhere = b"unescaped app".to_vec();
        let at = |s: &str| {
            let i = buf.windows(s.len()).position(|w| w == s.as_bytes()).unwrap();
            &buf[i..i + s.len()]
        };
        let ev = Event {
            meta: MetaOf { pid: Some(7), ..MetaOf::default() },
            kind: KindOf::Authorized {
                user: at("alice"),
                db: Some(at("shop")),
                app: Some(&elsewhere[..]),
                replication: false,
                security: SecurityOf::default(),
            },
            raw: &buf[..],
        };
        let names = |e: &Event<'_>| match e.kind {
            KindOf::Authorized { user, db, app, .. } => {
                (user.to_vec(), db.unwrap().to_vec(), app.unwrap().to_vec(), e.raw.to_vec())
            }
            _ => unreachable!(),
        };
        let want = names(&ev);
        let mut batch = Batch::default();
        batch.push(&ev, &buf);
        batch.buf = buf.clone();
        // Only the name outside the buffer was copied.
        assert_eq!(batch.arena, elsewhere);
        assert_eq!(names(&batch.events().next().unwrap()), want);
        // Released: everything is in the arena, the buffer is given up.
        assert_eq!(batch.release(), Some(buf.clone()));
        assert!(batch.buf.is_empty());
        let got = batch.events().next().unwrap();
        assert_eq!(got.meta.pid, Some(7));
        assert_eq!(names(&got), want);
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
