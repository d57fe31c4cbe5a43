//! The stderr format: `<log_line_prefix><SEVERITY>:  <message>` per entry,
//! continuation lines led by a TAB.
//!
//! Only lines the needle automaton flags are looked at. For each, the
//! message that starts right after the line's first severity word must
//! begin with a marker, so a marker inside a logged SQL statement or a
//! continuation line is never an event. The prefix before the severity is
//! then matched with the compiled (or inferred) log_line_prefix.

use crate::event::{Event, EventKind, Meta};
use crate::infer::{self, Facts, Sample};
use crate::parse::Stats;
use crate::parse::message::{self, MessageKind, Parsed};
use crate::prefix::{Prefix, PrefixCache, Raw};
use crate::scan::{Classifier, Scanner};

/// How many sample prefixes inference keeps.
const MAX_SAMPLES: usize = 200;
/// How many times a prefix that stopped matching may be inferred again.
const MAX_REINFER: usize = 8;

enum PrefixState {
    Given(Prefix),
    Inferred { prefix: Prefix, reinferred: usize },
    Undecided,
}

pub(crate) struct StderrParser {
    scanner: Scanner,
    state: PrefixState,
    /// Prefix texts of the first log lines, with what their messages
    /// say, for inference.
    samples: Vec<Sample>,
    cache: Option<PrefixCache>,
    /// `decide` sampled the lines the next `process` gets: not again.
    sampled_ahead: bool,
    /// By `follow_slot` of a connection line's kind: whether the line
    /// after the last such line was a connection line too.
    follows: [bool; 4],
}

/// Where `StderrParser::follows` keeps a kind.
fn follow_slot(kind: MessageKind) -> usize {
    match kind {
        MessageKind::Received => 0,
        MessageKind::Authorized | MessageKind::ReplicationAuthorized => 1,
        MessageKind::Disconnection => 2,
        _ => 3,
    }
}

impl StderrParser {
    pub(crate) fn new(prefix: Option<Prefix>) -> StderrParser {
        let cache = prefix.as_ref().map(Prefix::create_cache);
        let state = match prefix {
            Some(p) => PrefixState::Given(p),
            None => PrefixState::Undecided,
        };
        StderrParser {
            scanner: Scanner::new(),
            state,
            samples: Vec::new(),
            cache,
            sampled_ahead: false,
            follows: [true; 4],
        }
    }

    /// The prefix in use, if one is decided.
    pub(crate) fn prefix(&self) -> Option<&Prefix> {
        match &self.state {
            PrefixState::Given(p) | PrefixState::Inferred { prefix: p, .. } => Some(p),
            PrefixState::Undecided => None,
        }
    }

    pub(crate) fn inferred(&self) -> bool {
        matches!(self.state, PrefixState::Inferred { .. })
    }

    /// A new input begins: an inferred prefix is inferred again from it,
    /// since several files may come from servers set up differently.
    pub(crate) fn next_input(&mut self) {
        self.sampled_ahead = false;
        if self.inferred() {
            self.state = PrefixState::Undecided;
            self.samples.clear();
            self.cache = None;
        }
    }

    /// Infers the prefix from `evidence`, the first lines of an input,
    /// which the next `process` call starts with.
    pub(crate) fn decide(&mut self, evidence: &[u8], stats: &mut Stats) {
        match &self.state {
            PrefixState::Undecided => {
                self.sample(evidence, stats);
                self.sampled_ahead = true;
            }
            // `SHOW log_line_prefix` in psql prints the value with its
            // trailing space, which is easily lost when copied: a value
            // given without one that the lines read better with gets it.
            PrefixState::Given(p) if !p.source().ends_with(' ') => {
                let Ok(spaced) = Prefix::compile(&format!("{} ", p.source())) else { return };
                let (mut plain, mut with_space) = (0, 0);
                for line in evidence.split(|&c| c == b'\n').take(MAX_SAMPLES) {
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    if line.first() == Some(&b'\t') {
                        continue;
                    }
                    if let Some(sev) = self.scanner.severity(line) {
                        plain += usize::from(p.is_match(&line[..sev.start]));
                        with_space += usize::from(spaced.is_match(&line[..sev.start]));
                    }
                }
                if with_space > plain {
                    self.cache = Some(spaced.create_cache());
                    self.state = PrefixState::Given(spaced);
                }
            }
            _ => {}
        }
    }

    /// Collects sample prefixes from the log lines of `chunk` and infers
    /// the prefix from them.
    ///
    /// Lines of another format (a syslog header, a csvlog record, a
    /// jsonlog record) are sampled only when there are no others: they
    /// are another log's (logs concatenated), whose lines would otherwise
    /// make a prefix that fits neither log, and the lines after them
    /// would be read by it.
    fn sample(&mut self, chunk: &[u8], stats: &mut Stats) {
        let mut others = Vec::new();
        for line in chunk.split(|&c| c == b'\n') {
            if self.samples.len() >= MAX_SAMPLES {
                break;
            }
            if line.first() == Some(&b'\t') {
                continue;
            }
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            match self.scanner.severity(line) {
                Some(sev) => {
                    let text = line[..sev.start].to_vec();
                    let facts = facts(sev.word, &line[sev.message..]);
                    match super::marked(line) {
                        Some(_) if others.len() < MAX_SAMPLES => {
                            others.push(Sample { text, facts })
                        }
                        Some(_) => {}
                        None => self.samples.push(Sample { text, facts }),
                    }
                }
                None if foreign_severity(line) => stats.foreign_severity += 1,
                None => {}
            }
        }
        if self.samples.is_empty() {
            self.samples = others;
        }
        if let Some(p) = infer::infer(&self.samples) {
            self.cache = Some(p.create_cache());
            self.state = PrefixState::Inferred { prefix: p, reinferred: 0 };
        }
    }

    /// An inferred prefix did not match `text`: infer again with it, and
    /// keep the new prefix if it matches `text` too.
    fn reinfer(&mut self, text: &[u8], facts: Facts) -> bool {
        let PrefixState::Inferred { reinferred, .. } = &mut self.state else {
            return false;
        };
        if *reinferred >= MAX_REINFER {
            return false;
        }
        *reinferred += 1;
        let tries = *reinferred;
        if self.samples.len() >= MAX_SAMPLES {
            self.samples.pop();
        }
        let sample = Sample { text: text.to_vec(), facts };
        self.samples.push(sample.clone());
        let inferred = match infer::infer(&self.samples) {
            Some(p) if p.is_match(text) => Some(p),
            // The samples are another server's (logs concatenated): this
            // line alone says what the prefix is now, and starts the
            // samples afresh.
            _ => infer::infer(std::slice::from_ref(&sample)).filter(|p| p.is_match(text)).inspect(
                |_| {
                    self.samples.clear();
                    self.samples.push(sample.clone());
                },
            ),
        };
        match inferred {
            Some(p) => {
                self.cache = Some(p.create_cache());
                self.state = PrefixState::Inferred { prefix: p, reinferred: tries };
                true
            }
            None => false,
        }
    }

    fn meta<'a>(&mut self, text: &'a [u8]) -> Option<Meta<'a>> {
        let (prefix, cache) = match (&self.state, self.cache.as_mut()) {
            (PrefixState::Given(p) | PrefixState::Inferred { prefix: p, .. }, Some(c)) => (p, c),
            _ => return None,
        };
        prefix.parse(text, cache)
    }

    /// Where a prefix of fixed fields ends at the start of `line`, with
    /// its fields in `raw` (see `Prefix::head`).
    fn head<'a>(&self, line: &'a [u8], raw: &mut Raw<'a>) -> Option<usize> {
        match &self.state {
            PrefixState::Given(p) | PrefixState::Inferred { prefix: p, .. } => p.head(line, raw),
            PrefixState::Undecided => None,
        }
    }

    /// The fields of a prefix `head` matched.
    fn head_meta<'a>(&mut self, raw: &Raw<'a>) -> Option<Meta<'a>> {
        match (&self.state, self.cache.as_mut()) {
            (PrefixState::Given(p) | PrefixState::Inferred { prefix: p, .. }, Some(c)) => {
                Some(p.meta(raw, c))
            }
            _ => None,
        }
    }

    /// Parses the complete lines in `chunk`, calling `emit` for each event.
    pub(crate) fn process<F>(&mut self, chunk: &[u8], stats: &mut Stats, mut emit: F)
    where
        F: FnMut(&Event<'_>),
    {
        if matches!(self.state, PrefixState::Undecided) && !std::mem::take(&mut self.sampled_ahead)
        {
            self.sample(chunk, stats);
        }
        self.sampled_ahead = false;
        let mut at = 0;
        // The start of a line to look at without the needle search: the
        // one after a connection line, when the line after the last one of
        // its kind was one too (they come in runs: received, authorized,
        // disconnection; but statements follow `authorized` in a log of
        // statements, and a look at one costs more than the search).
        let mut direct = None;
        // The kind of the last connection line, and where the line after it starts.
        let mut last = (0, usize::MAX);
        loop {
            let (ls, searched) = match direct.take() {
                Some(ls) if ls < chunk.len() => {
                    // Until the line proves to be one.
                    self.follows[last.0] = false;
                    (ls, false)
                }
                Some(_) => break,
                None => {
                    let Some(hit) = self.scanner.next(chunk, at) else { break };
                    let ls = memchr::memrchr(b'\n', &chunk[..hit]).map_or(0, |i| i + 1);
                    if ls == last.1 {
                        self.follows[last.0] = true;
                    }
                    (ls, true)
                }
            };
            let le = memchr::memchr(b'\n', &chunk[ls..]).map_or(chunk.len(), |i| ls + i);
            at = (le + 1).min(chunk.len()).max(ls + 1);
            let mut line = &chunk[ls..le];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            // A continuation of the entry above (an SQL statement's lines).
            if line.first() == Some(&b'\t') {
                continue;
            }
            // Wherever the needle was (in the prefix, in an SQL text), what
            // counts is the message after the line's first severity word.
            // With a prefix of fixed fields, it is right where the prefix
            // ends: matched first, the search is not needed.
            let mut raw: Raw = [&[]; 9];
            let at_head =
                self.head(line, &mut raw).and_then(|at| self.scanner.severity_at(line, at));
            let fixed = at_head.is_some();
            let Some(sev) = at_head.or_else(|| self.scanner.severity(line)) else { continue };
            let Some(kind) = Classifier::get().classify(sev.word, &line[sev.message..]) else {
                continue;
            };
            // A line looked at directly is one the search would have found:
            // its message holds a needle, but for a DETAIL whose `Role "`
            // (`User "`, ...) does not follow `DETAIL:  ` (after an SQLSTATE).
            if !searched
                && kind == MessageKind::Detail
                && sev.message != sev.start + b"DETAIL:  ".len()
                && self.scanner.next(chunk, ls).is_none_or(|hit| hit >= le)
            {
                continue;
            }
            if !searched {
                self.follows[last.0] = true;
            }
            last = (follow_slot(kind), le + 1);
            if self.follows[last.0] {
                direct = Some(le + 1);
            }
            stats.candidates += 1;
            // The message first and the bytes check between the prefix and
            // the event: each part is copied into the event well after it
            // was written (copied right after, it stalled on store
            // forwarding: two fifths of this loop's own cycles in perf).
            let parsed = message::parse(kind, &line[sev.message..]);
            let text = &line[..sev.start];
            let found = if fixed { self.head_meta(&raw) } else { self.meta(text) };
            stats.check_bytes(line);
            let meta = match found {
                Some(m) => m,
                None if self.inferred() && self.reinfer(text, facts_of(&parsed, line, &sev)) => {
                    match self.meta(text) {
                        Some(m) => m,
                        None => {
                            stats.unmatched(line, true);
                            continue;
                        }
                    }
                }
                None => {
                    stats.unmatched(line, true);
                    continue;
                }
            };
            match parsed {
                Parsed::Event(kind) => {
                    // The prefix is checked on every connection line whose
                    // message names what its fields hold (none do in `%m
                    // [%p] `): a disagreement shows the wrong prefix.
                    let named = meta.user.is_some() || meta.db.is_some() || meta.host.is_some();
                    let meta = if named && disagrees(&meta, &kind) {
                        stats.disagreed(line);
                        let facts = Facts::of(&kind, &line[sev.message..]);
                        match self.inferred() && self.reinfer(text, facts) {
                            true => self.meta(text).unwrap_or(meta),
                            false => meta,
                        }
                    } else {
                        meta
                    };
                    emit(&Event { meta, kind, raw: line })
                }
                Parsed::Ignore => {}
                Parsed::Unparsed => stats.unmatched(line, false),
            }
        }
    }
}

/// Whether the prefix's user, database or host on a connection line are
/// other than its message says (a name cut at a delimiter it holds is no
/// disagreement: `sales` of `sales db` before a space).
fn disagrees(meta: &Meta<'_>, kind: &EventKind<'_>) -> bool {
    let differ = |got: Option<&[u8]>, said: Option<&[u8]>| match (got, said) {
        (Some(g), Some(s)) => g != s && !(s.starts_with(g) || g.starts_with(s)),
        _ => false,
    };
    match *kind {
        EventKind::Received { host, .. } => differ(meta.host, Some(host)),
        EventKind::Authorized { user, db, replication: false, .. } => {
            differ(meta.user, Some(user)) || differ(meta.db, db)
        }
        EventKind::Disconnected { user, db, host, .. } => {
            differ(meta.user, Some(user))
                || differ(meta.db, Some(db))
                || differ(meta.host, Some(host))
        }
        _ => false,
    }
}

/// What the message of a sample line says, to check a prefix against.
fn facts(word: &[u8], msg: &[u8]) -> Facts {
    let Some(kind) = Classifier::get().classify(word, msg) else { return Facts::default() };
    match message::parse(kind, msg) {
        Parsed::Event(event) => Facts::of(&event, msg),
        _ => Facts::default(),
    }
}

/// `facts` of a line already parsed.
fn facts_of(parsed: &Parsed<'_>, line: &[u8], sev: &crate::scan::Severity<'_>) -> Facts {
    match parsed {
        Parsed::Event(event) => Facts::of(event, &line[sev.message..]),
        _ => Facts::default(),
    }
}

/// A line whose severity word is not English: `FEHLER:  `, `ERREUR:  `,
/// `ОШИБКА:  ` (lc_messages translates it in stderr and csvlog logs).
fn foreign_severity(line: &[u8]) -> bool {
    let Some(colon) = memchr::memmem::find(line, b":  ") else { return false };
    let text = String::from_utf8_lossy(&line[..colon]);
    let word = text.rsplit([' ', ']', ':']).next().unwrap_or("");
    word.chars().count() >= 3
        && word.chars().all(|c| c.is_uppercase() || c.is_ascii_digit())
        && !crate::scan::is_english_severity(word.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;

    fn events(prefix: Option<&str>, log: &str) -> (Vec<String>, Stats) {
        let mut p = StderrParser::new(prefix.map(|v| Prefix::compile(v).unwrap()));
        let mut stats = Stats::default();
        let mut out = Vec::new();
        p.process(log.as_bytes(), &mut stats, |e| {
            out.push(format!("{:?} {:?}", e.meta.pid, e.kind));
        });
        (out, stats)
    }

    #[test]
    fn statement_text_is_not_an_event() {
        let log = "\
2025-03-01 10:00:00.100 UTC [10] LOG:  statement: select 'disconnection: session time: 0:00:01.000 user=a database=b host=c'
2025-03-01 10:00:00.101 UTC [10] LOG:  statement: select 1;
\t2025-03-01 10:00:00.101 UTC [11] LOG:  connection authorized: user=fake database=fake
2025-03-01 10:00:00.102 UTC [10] LOG:  disconnection: session time: 0:00:01.000 user=a database=b host=[local]
";
        let (ev, stats) = events(Some("%m [%p] "), log);
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert!(ev[0].starts_with("Some(10) Disconnected"));
        assert_eq!(stats.unparsed, 0);
    }

    /// A line looked at right after a connection line gives what the
    /// needle search gives: the same events, whatever comes before it.
    #[test]
    fn lines_after_an_event_are_read_as_the_search_reads_them() {
        let first = [
            "2025-03-01 10:00:00.100 UTC [10] LOG:  connection received: host=[local]\n",
            "2025-03-01 10:00:00.100 UTC [10] LOG:  statement: select 1\n",
        ];
        let second = [
            "2025-03-01 10:00:00.101 UTC [11] LOG:  connection received: host=[local]\n",
            "2025-03-01 10:00:00.101 UTC [11] DETAIL:  Role \"x\" does not exist.\n",
            // No needle: the search never sees it.
            "2025-03-01 10:00:00.101 UTC [11] DETAIL:  28000: Role \"x\" does not exist.\n",
            "\t2025-03-01 10:00:00.101 UTC [12] LOG:  connection received: host=[local]\n",
            "2025-03-01 10:00:00.101 UTC [11] LOG:  statement: connection\n",
        ];
        for b in second {
            let (after_event, _) = events(Some("%m [%p] "), &format!("{}{b}", first[0]));
            let (after_other, _) = events(Some("%m [%p] "), &format!("{}{b}", first[1]));
            assert_eq!(&after_event[1..], &after_other[..], "{b}");
        }
    }

    /// On every line of the committed `%m [%p] ` logs, the severity where
    /// the prefix ends, and the prefix's fields, are what the search and
    /// the whole-prefix match give.
    #[test]
    fn the_head_of_a_fixed_prefix_reads_as_the_search_does() {
        let prefix = Prefix::compile("%m [%p] ").unwrap();
        let scanner = Scanner::new();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut files = vec![dir.join("stderr-default.log"), dir.join("history/history.log")];
        files.extend((13..=18).map(|v| dir.join(format!("v{v}/extended.log"))));
        let mut heads = 0;
        for file in files {
            let log = std::fs::read(&file).unwrap();
            for line in log.split(|&c| c == b'\n') {
                let mut raw = [&[][..]; 9];
                let Some(at) = prefix.head(line, &mut raw) else { continue };
                let Some(sev) = scanner.severity_at(line, at) else { continue };
                heads += 1;
                let searched = scanner.severity(line).unwrap();
                let show = String::from_utf8_lossy(line);
                assert_eq!(
                    (sev.start, sev.message, sev.word),
                    (searched.start, searched.message, searched.word),
                    "{show}"
                );
                let head = prefix.meta(&raw, &mut prefix.create_cache());
                let whole = prefix.parse(&line[..sev.start], &mut prefix.create_cache());
                assert_eq!(format!("{:?}", Some(head)), format!("{whole:?}"), "{show}");
            }
        }
        assert!(heads > 1000, "{heads} lines");
    }

    #[test]
    fn translated_severities_are_noticed() {
        let mut p = StderrParser::new(None);
        let mut stats = Stats::default();
        let log = "2025-03-01 10:00:00.100 CET [10] LOG:  Verbindung empfangen: Host=[local]\n\
                   2025-03-01 10:00:00.100 CET [10] FEHLER:  Relation »x« existiert nicht\n\
                   2025-03-01 10:00:00.100 CET [11] ОШИБКА:  отношение не существует\n";
        p.process(log.as_bytes(), &mut stats, |_| panic!("no events"));
        assert_eq!(stats.foreign_severity, 2);
        assert_eq!(stats.candidates, 0);
    }

    #[test]
    fn crlf_and_verbose() {
        let log =
            "2025-03-01 10:00:00.100 UTC [10] LOG:  00000: connection received: host=[local]\r\n";
        let (ev, _) = events(Some("%m [%p] "), log);
        assert_eq!(
            ev,
            vec![format!("Some(10) {:?}", EventKind::Received { host: b"[local]", port: None })]
        );
    }

    #[test]
    fn unmatched_prefix_is_counted_with_a_sample() {
        let log = "garbage [10] LOG:  connection received: host=[local]\n";
        let (ev, stats) = events(Some("%m [%p] "), log);
        assert!(ev.is_empty());
        assert_eq!(stats.unparsed, 1);
        assert_eq!(stats.prefix_mismatch, 1);
        assert!(stats.first_unparsed.as_deref().unwrap().starts_with("garbage"));
    }

    #[test]
    fn inference_catches_up_with_session_lines() {
        // The first lines are the postmaster's: the %u@%d part only shows
        // on later lines.
        let log = "\
2025-03-01 10:00:00.100 UTC [1] LOG:  database system is ready to accept connections
2025-03-01 10:00:01.100 UTC [10] [unknown]@[unknown] LOG:  connection received: host=[local]
2025-03-01 10:00:01.101 UTC [10] bob@app LOG:  connection authorized: user=bob database=app
";
        let mut p = StderrParser::new(None);
        let mut stats = Stats::default();
        let mut n = 0;
        p.process(&log.as_bytes()[..log.find("\n").unwrap() + 1], &mut stats, |_| n += 1);
        p.process(&log.as_bytes()[log.find("\n").unwrap() + 1..], &mut stats, |_| n += 1);
        assert_eq!(n, 3);
        assert_eq!(stats.unparsed, 0);
        assert_eq!(p.prefix().unwrap().source(), "%m [%p] %q%u@%d ");
    }
}
