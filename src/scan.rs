//! Finding candidate lines: one aho-corasick automaton of a few needles,
//! run over the whole buffer rather than line by line.
//!
//! A hit only says "this line may matter". The caller finds the line's
//! bounds with memchr, finds where its message starts (right after the
//! severity), and asks the `Classifier` which message it is, if any. Lines
//! without a needle cost only the automaton's (SIMD) scan.
//!
//! The needles are not the markers themselves: 29 markers put several
//! patterns into each of Teddy's 8 buckets, and the union of their
//! fingerprints matches ordinary text (`statement: ` matched the bucket of
//! `starting PostgreSQL`), which made the scan 2.8× slower. Every marker
//! contains a needle, and the needles have at most 8 distinct 4-byte
//! prefixes, so each bucket holds one fingerprint (see the tests).

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, Input, MatchKind, Span, packed};

use crate::bytes;
use crate::event::ServerEvent;
use crate::parse::message::MessageKind;

/// The markers of LOG messages: a LOG line is a connection event when its
/// message starts with one of these. (Any FATAL is one, and a DETAIL line
/// `Role "..."` completes the FATAL above it.)
const MARKERS: &[(&str, MessageKind)] = &[
    ("connection received: ", MessageKind::Received),
    ("connection authenticated: ", MessageKind::Authenticated),
    ("replication connection authorized: ", MessageKind::ReplicationAuthorized),
    ("connection authorized: ", MessageKind::Authorized),
    ("connection ready: ", MessageKind::Ready),
    ("disconnection: session time: ", MessageKind::Disconnection),
    ("incomplete startup packet", MessageKind::StartupPacketLog),
    ("invalid length of startup packet", MessageKind::StartupPacketLog),
    ("could not accept SSL connection", MessageKind::SslLog),
    ("received direct SSL connection request without ALPN", MessageKind::SslLog),
    ("received SSL connection request with unexpected ALPN", MessageKind::SslLog),
    ("could not receive data from client", MessageKind::ClientLostLog),
    ("could not send data to client", MessageKind::ClientLostLog),
    ("unexpected EOF on client connection", MessageKind::ClientLostLog),
    ("starting PostgreSQL ", MessageKind::Server(ServerEvent::Starting)),
    ("database system was shut down", MessageKind::Server(ServerEvent::Startup)),
    ("database system was interrupted", MessageKind::Server(ServerEvent::Startup)),
    ("database system was not properly shut down", MessageKind::Server(ServerEvent::Startup)),
    ("database system is ready to accept", MessageKind::Server(ServerEvent::Ready)),
    ("received SIGHUP, reloading configuration files", MessageKind::Server(ServerEvent::Reload)),
    ("received smart shutdown request", MessageKind::Server(ServerEvent::ShutdownRequested)),
    ("received fast shutdown request", MessageKind::Server(ServerEvent::ShutdownRequested)),
    ("received immediate shutdown request", MessageKind::Server(ServerEvent::ImmediateShutdown)),
    (
        "terminating any other active server processes",
        MessageKind::Server(ServerEvent::CrashRestart),
    ),
    (
        "all server processes terminated; reinitializing",
        MessageKind::Server(ServerEvent::CrashRestart),
    ),
    ("database system is shut down", MessageKind::Server(ServerEvent::Stopped)),
    ("server process (PID ", MessageKind::ChildExit),
    ("client backend (PID ", MessageKind::ChildExit),
    ("walsender (PID ", MessageKind::ChildExit),
];

/// What the automaton looks for, with the severity needles of the format
/// in front: each marker above contains one of these.
///
/// Teddy (aho-corasick's SIMD searcher) puts pattern `i` into bucket
/// `7 - i % 8` unless a pattern before it has the same 4-byte fingerprint,
/// whose bucket it then shares. So the format's severity needles and
/// `NEEDLES` have distinct fingerprints (at most 8 in all), and each of
/// `SHARED_NEEDLES` has the fingerprint of one of `NEEDLES`.
const NEEDLES: &[&str] = &[
    // received, authenticated, authorized, ready, replication, disconnection,
    // SSL, unexpected EOF
    "connection",
    "startup packet",
    "database system ",
    // SIGHUP, shutdown requests
    "received ",
    // terminating ... server processes, all server processes, server process (PID
    "server process",
    // client backend (PID, walsender (PID
    " (PID ",
];
const SHARED_NEEDLES: &[&str] = &["starting PostgreSQL ", "data from client", "data to client"];
/// Stderr and syslog: the severity words themselves.
const STDERR_SEVERITY_NEEDLES: &[&str] = &["FATAL:  ", "DETAIL:  Role \""];
/// The other DETAIL lines of a password failure, in the bucket of the
/// first (same fingerprint, `DETA`).
const STDERR_SHARED_NEEDLES: &[&str] = &["DETAIL:  User \"", "DETAIL:  Password of user \""];
/// Structured logs keep DETAIL in its own field: FATAL is enough.
const CSV_SEVERITY_NEEDLES: &[&str] = &[",FATAL,"];
const JSON_SEVERITY_NEEDLES: &[&str] = &["\"error_severity\":\"FATAL\""];

/// The needle search: Teddy called directly where the CPU has it (without
/// the automaton's dispatch, which costs on logs with a hit every few
/// lines), the automaton otherwise.
pub(crate) struct Needles {
    packed: Option<packed::Searcher>,
    ac: AhoCorasick,
}

impl Needles {
    fn new(severity: &[&str], shared: &[&str]) -> Needles {
        let all = || severity.iter().chain(NEEDLES).chain(SHARED_NEEDLES).chain(shared);
        let packed = packed::Config::new()
            .match_kind(packed::MatchKind::LeftmostFirst)
            .builder()
            .extend(all())
            .build();
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(all())
            .expect("the needle set is a small fixed list of literals");
        Needles { packed, ac }
    }

    /// The position of the next needle in `buf[at..]`.
    #[inline]
    pub(crate) fn next(&self, buf: &[u8], at: usize) -> Option<usize> {
        match &self.packed {
            Some(p) => p.find_in(buf, Span::from(at..buf.len())).map(|m| m.start()),
            None => self.ac.find(Input::new(buf).range(at..)).map(|m| m.start()),
        }
    }
}

/// The automata are built on first use, once per run: a run that reads
/// no csvlog never builds the csvlog one (`pgconn < /dev/null` stays fast).
static CSV_NEEDLES: LazyLock<Needles> = LazyLock::new(|| Needles::new(CSV_SEVERITY_NEEDLES, &[]));
static JSON_NEEDLES: LazyLock<Needles> = LazyLock::new(|| Needles::new(JSON_SEVERITY_NEEDLES, &[]));
static STDERR_NEEDLES: LazyLock<Needles> =
    LazyLock::new(|| Needles::new(STDERR_SEVERITY_NEEDLES, STDERR_SHARED_NEEDLES));
static CLASSIFIER: LazyLock<Classifier> = LazyLock::new(Classifier::new);

impl Needles {
    /// Lines of structured logs that may hold a connection message: which
    /// message it is, if any, is decided on the parsed record by
    /// `Classifier`.
    pub(crate) fn csv() -> &'static Needles {
        &CSV_NEEDLES
    }

    pub(crate) fn json() -> &'static Needles {
        &JSON_NEEDLES
    }
}

/// Says which connection message a record's message text is, from its
/// start, as in stderr lines (`LOG` + message marker, or any `FATAL`).
///
/// The markers are grouped by first byte: a message is compared with the
/// few that start like it (at most six), which costs less than an
/// automaton's start-up on these short texts.
pub(crate) struct Classifier {
    /// `MARKERS` indices, grouped by first byte.
    order: Vec<u8>,
    /// For each byte, its group in `order`.
    groups: [(u8, u8); 256],
}

impl Classifier {
    pub(crate) fn get() -> &'static Classifier {
        &CLASSIFIER
    }

    fn new() -> Classifier {
        let mut order: Vec<u8> = (0..MARKERS.len() as u8).collect();
        // Stable: markers keep their order within a group.
        order.sort_by_key(|&i| MARKERS[usize::from(i)].0.as_bytes()[0]);
        let mut groups = [(0, 0); 256];
        for (at, &i) in order.iter().enumerate() {
            let first = usize::from(MARKERS[usize::from(i)].0.as_bytes()[0]);
            if groups[first].1 == 0 {
                groups[first].0 = at as u8;
            }
            groups[first].1 = at as u8 + 1;
        }
        Classifier { order, groups }
    }

    pub(crate) fn classify(&self, severity: &[u8], message: &[u8]) -> Option<MessageKind> {
        match severity {
            b"FATAL" => Some(MessageKind::Fatal),
            b"LOG" => {
                let (from, to) = self.groups[usize::from(*message.first()?)];
                let group = self.order.get(usize::from(from)..usize::from(to))?;
                let i = group.iter().find(|&&i| {
                    bytes::starts_with(message, MARKERS[usize::from(i)].0.as_bytes())
                })?;
                Some(MARKERS[usize::from(*i)].1)
            }
            b"DETAIL"
                if message.starts_with(b"Role \"")
                    || message.starts_with(b"User \"")
                    || message.starts_with(b"Password of user \"") =>
            {
                Some(MessageKind::Detail)
            }
            _ => None,
        }
    }
}

/// True for the severity words of English logs (stderr and csvlog
/// translate them with lc_messages): those that start a log entry's first
/// line (LOG ... DEBUG), and those of lines that belong to the entry above
/// them (DETAIL ... STATEMENT).
pub(crate) fn is_english_severity(word: &[u8]) -> bool {
    // A match on the bytes compiles to compares of words, where a list
    // of slices called `memcmp` per entry.
    matches!(
        word,
        b"LOG"
            | b"FATAL"
            | b"ERROR"
            | b"WARNING"
            | b"PANIC"
            | b"NOTICE"
            | b"INFO"
            | b"DEBUG1"
            | b"DEBUG2"
            | b"DEBUG3"
            | b"DEBUG4"
            | b"DEBUG5"
            | b"DEBUG"
            | b"DETAIL"
            | b"HINT"
            | b"QUERY"
            | b"CONTEXT"
            | b"LOCATION"
            | b"BACKTRACE"
            | b"STATEMENT"
    )
}

/// The needle automaton (built on first use, once per run).
pub(crate) struct Scanner;

impl Scanner {
    pub(crate) fn new() -> Scanner {
        Scanner
    }

    /// The position of the next needle in `buf[at..]`.
    pub(crate) fn next(&self, buf: &[u8], at: usize) -> Option<usize> {
        STDERR_NEEDLES.next(buf, at)
    }

    /// Finds a line's severity: the first `WORD:  ` whose word is a
    /// severity.
    pub(crate) fn severity<'a>(&self, line: &'a [u8]) -> Option<Severity<'a>> {
        // The colons of the time come first; a memchr per colon beats a
        // substring search on lines this short. A line that starts with
        // `YYYY-MM-DD HH:MM:SS` (%m, %t) has no `:  ` there: the search
        // starts after it.
        let from = if starts_with_time(line) { 19 } else { 0 };
        let colons = memchr::memchr_iter(b':', &line[from..])
            .map(|i| from + i)
            .filter(|&i| line.get(i + 1..i + 3) == Some(b"  "));
        for colon in colons {
            let word_start = line[..colon]
                .iter()
                .rposition(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit()))
                .map_or(0, |i| i + 1);
            let word = &line[word_start..colon];
            if !is_english_severity(word) {
                continue;
            }
            return Some(found(line, word_start, colon));
        }
        None
    }

    /// The severity of a line whose prefix ends at `at` (a prefix of fixed
    /// fields, without a `WORD:  ` inside): the word that starts there, as
    /// `severity` would find it. None if there is none, or if the byte
    /// before it could be part of the word (then `severity` decides).
    /// Inlined: a `Severity` returned through memory and read back at once
    /// stalled on store forwarding (a fifth of the line loop's cycles).
    #[inline(always)]
    pub(crate) fn severity_at<'a>(&self, line: &'a [u8], at: usize) -> Option<Severity<'a>> {
        if at > 0 && (line[at - 1].is_ascii_uppercase() || line[at - 1].is_ascii_digit()) {
            return None;
        }
        // The longest severity word is STATEMENT; a loop over so few bytes
        // beats a memchr call.
        let head = &line[at..line.len().min(at + 10)];
        let colon = at + head.iter().position(|&c| c == b':')?;
        let word = &line[at..colon];
        if line.get(colon + 1..colon + 3) != Some(b"  ") || !is_english_severity(word) {
            return None;
        }
        Some(found(line, at, colon))
    }
}

/// The severity word at `start..colon` of `line`, and where its message
/// starts.
fn found(line: &[u8], start: usize, colon: usize) -> Severity<'_> {
    let mut msg = colon + 3;
    // log_error_verbosity = verbose: `LOG:  00000: message`
    if line.len() >= msg + 7
        && line[msg..msg + 5].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && &line[msg + 5..msg + 7] == b": "
    {
        msg += 7;
    }
    Severity { start, message: msg, word: &line[start..colon] }
}

/// Whether `line` starts with `YYYY-MM-DD HH:MM:SS` (or `T` between).
fn starts_with_time(line: &[u8]) -> bool {
    let Some(t) = line.get(..19) else { return false };
    let digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
    t[4] == b'-'
        && t[7] == b'-'
        && (t[10] == b' ' || t[10] == b'T')
        && t[13] == b':'
        && t[16] == b':'
        && digits.iter().all(|&i| t[i].is_ascii_digit())
}

/// Where a line's severity word and message are.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Severity<'a> {
    pub(crate) start: usize,
    pub(crate) message: usize,
    pub(crate) word: &'a [u8],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_needles_in_order() {
        let s = Scanner::new();
        let buf = b"x LOG:  replication connection authorized: user=r\ny FATAL:  nope\n";
        let h = s.next(buf, 0).unwrap();
        assert_eq!(&buf[h..h + 10], b"connection");
        let h = s.next(buf, h + 1).unwrap();
        assert_eq!(&buf[h..h + 5], b"FATAL");
        assert!(s.next(buf, h + 1).is_none());
    }

    /// Teddy called directly and the automaton (used where the CPU lacks
    /// SSSE3) find the same needles, short haystacks included.
    #[test]
    fn packed_search_and_automaton_agree() {
        let log = include_bytes!("../fixtures/stderr-default.log");
        for (severity, extra) in [
            (STDERR_SEVERITY_NEEDLES, STDERR_SHARED_NEEDLES),
            (CSV_SEVERITY_NEEDLES, &[][..]),
            (JSON_SEVERITY_NEEDLES, &[][..]),
        ] {
            let n = Needles::new(severity, extra);
            let Some(p) = &n.packed else { return };
            for buf in [&log[..], &log[..200], b"x (PID 1", b"conn"] {
                let mut at = 0;
                loop {
                    let a = p.find_in(buf, Span::from(at..buf.len())).map(|m| m.start());
                    let b = n.ac.find(Input::new(buf).range(at..)).map(|m| m.start());
                    assert_eq!(a, b);
                    match a {
                        Some(i) => at = i + 1,
                        None => break,
                    }
                }
            }
        }
    }

    #[test]
    fn every_marker_holds_a_needle() {
        for (marker, _) in MARKERS {
            let found = NEEDLES.iter().chain(SHARED_NEEDLES).any(|n| marker.contains(n));
            assert!(found, "no needle finds {marker:?}");
        }
    }

    /// Each of Teddy's 8 buckets gets one fingerprint: patterns with
    /// different fingerprints in one bucket match each other's mixes
    /// (which made the scan 2.8× slower on statement logs).
    #[test]
    fn needles_have_one_fingerprint_per_bucket() {
        let fingerprint = |n: &str| n.as_bytes()[..4].to_vec();
        let low_nybbles = |n: &str| n.bytes().take(4).map(|b| b & 0xF).collect::<Vec<u8>>();
        for (severity, extra) in [
            (STDERR_SEVERITY_NEEDLES, STDERR_SHARED_NEEDLES),
            (CSV_SEVERITY_NEEDLES, &[][..]),
            (JSON_SEVERITY_NEEDLES, &[][..]),
        ] {
            let own: Vec<&str> = severity.iter().chain(NEEDLES).copied().collect();
            assert!(own.len() <= 8, "{own:?}");
            for (i, a) in own.iter().enumerate() {
                for b in &own[i + 1..] {
                    assert_ne!(low_nybbles(a), low_nybbles(b), "{a:?} and {b:?} share a bucket");
                }
            }
            for shared in SHARED_NEEDLES.iter().chain(extra) {
                let with = own.iter().find(|n| fingerprint(n) == fingerprint(shared));
                assert!(with.is_some(), "{shared:?} would take a bucket of its own");
            }
        }
    }

    #[test]
    fn classifies_record_messages() {
        let c = Classifier::get();
        assert_eq!(
            c.classify(b"LOG", b"connection received: host=[local]"),
            Some(MessageKind::Received)
        );
        assert_eq!(
            c.classify(b"LOG", b"replication connection authorized: user=r"),
            Some(MessageKind::ReplicationAuthorized)
        );
        assert_eq!(c.classify(b"LOG", b"statement: select 'connection received: '"), None);
        assert_eq!(c.classify(b"FATAL", b"anything"), Some(MessageKind::Fatal));
        assert_eq!(c.classify(b"ERROR", b"connection received: host=x"), None);
        assert_eq!(
            c.classify(b"DETAIL", b"Role \"ghost\" does not exist."),
            Some(MessageKind::Detail)
        );
        assert_eq!(c.classify(b"DETAIL", b"Key (id)=(1) already exists."), None);
        let cands = Needles::csv();
        assert_eq!(cands.next(b"a,b,0,FATAL,28P01", 0), Some(5));
    }

    #[test]
    fn severity_with_verbose_sqlstate() {
        let s = Scanner::new();
        let line = b"2025-03-01 10:00:00 UTC [1] LOG:  00000: connection received: host=[local]";
        let sev = s.severity(line).unwrap();
        assert_eq!(sev.word, b"LOG");
        assert!(line[sev.message..].starts_with(b"connection received"));
        let line = b"[1] app=A:  b STATEMENT:  select 1";
        let sev = s.severity(line).unwrap();
        assert_eq!(sev.word, b"STATEMENT");
    }

    #[test]
    fn severity_at_the_end_of_a_prefix() {
        let s = Scanner::new();
        let line = b"2025-03-01 10:00:00 UTC [1] LOG:  00000: connection received: host=[local]";
        let sev = s.severity_at(line, 28).unwrap();
        assert_eq!((sev.start, sev.word), (28, &b"LOG"[..]));
        assert!(line[sev.message..].starts_with(b"connection received"));
        // Not a severity word, no two spaces, or a word that began before.
        assert!(s.severity_at(b"[1] STATEMENTS:  x", 4).is_none());
        assert!(s.severity_at(b"[1] LOG: x", 4).is_none());
        assert!(s.severity_at(b"[1]XLOG:  x", 4).is_none());
        assert!(s.severity_at(b"[1] LOG", 4).is_none());
    }
}
