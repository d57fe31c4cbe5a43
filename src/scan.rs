//! Finding candidate lines: one aho-corasick automaton of message markers,
//! run over the whole buffer rather than line by line.
//!
//! A hit only says "this line may matter". The caller finds the line's
//! bounds with memchr, checks that the marker is where a message starts
//! (right after the severity), and parses it. Lines without any marker cost
//! only the automaton's (SIMD) scan.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, Input, MatchKind};

use crate::event::ServerEvent;
use crate::parse::message::MessageKind;

/// How a marker relates to the line's layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Anchor {
    /// The marker is the start of a LOG message (`LOG:  <marker>`).
    Message,
    /// The marker is the severity word itself (`FATAL:  `, `DETAIL:  `).
    Severity,
}

const MARKERS: &[(&str, MessageKind, Anchor)] = &[
    ("connection received: ", MessageKind::Received, Anchor::Message),
    ("connection authenticated: ", MessageKind::Authenticated, Anchor::Message),
    ("replication connection authorized: ", MessageKind::ReplicationAuthorized, Anchor::Message),
    ("connection authorized: ", MessageKind::Authorized, Anchor::Message),
    ("connection ready: ", MessageKind::Ready, Anchor::Message),
    ("disconnection: session time: ", MessageKind::Disconnection, Anchor::Message),
    ("FATAL:  ", MessageKind::Fatal, Anchor::Severity),
    ("DETAIL:  Role \"", MessageKind::RoleDetail, Anchor::Severity),
    ("incomplete startup packet", MessageKind::StartupPacketLog, Anchor::Message),
    ("invalid length of startup packet", MessageKind::StartupPacketLog, Anchor::Message),
    ("could not accept SSL connection", MessageKind::SslLog, Anchor::Message),
    ("could not receive data from client", MessageKind::ClientLostLog, Anchor::Message),
    ("could not send data to client", MessageKind::ClientLostLog, Anchor::Message),
    ("unexpected EOF on client connection", MessageKind::ClientLostLog, Anchor::Message),
    ("starting PostgreSQL ", MessageKind::Server(ServerEvent::Starting), Anchor::Message),
    ("database system was shut down", MessageKind::Server(ServerEvent::Startup), Anchor::Message),
    ("database system was interrupted", MessageKind::Server(ServerEvent::Startup), Anchor::Message),
    (
        "database system was not properly shut down",
        MessageKind::Server(ServerEvent::Startup),
        Anchor::Message,
    ),
    (
        "database system is ready to accept",
        MessageKind::Server(ServerEvent::Ready),
        Anchor::Message,
    ),
    (
        "received SIGHUP, reloading configuration files",
        MessageKind::Server(ServerEvent::Reload),
        Anchor::Message,
    ),
    (
        "received smart shutdown request",
        MessageKind::Server(ServerEvent::ShutdownRequested),
        Anchor::Message,
    ),
    (
        "received fast shutdown request",
        MessageKind::Server(ServerEvent::ShutdownRequested),
        Anchor::Message,
    ),
    (
        "received immediate shutdown request",
        MessageKind::Server(ServerEvent::ImmediateShutdown),
        Anchor::Message,
    ),
    (
        "terminating any other active server processes",
        MessageKind::Server(ServerEvent::CrashRestart),
        Anchor::Message,
    ),
    (
        "all server processes terminated; reinitializing",
        MessageKind::Server(ServerEvent::CrashRestart),
        Anchor::Message,
    ),
    ("database system is shut down", MessageKind::Server(ServerEvent::Stopped), Anchor::Message),
    ("server process (PID ", MessageKind::ChildExit, Anchor::Message),
    ("client backend (PID ", MessageKind::ChildExit, Anchor::Message),
    ("walsender (PID ", MessageKind::ChildExit, Anchor::Message),
];

/// Finds lines of structured logs (csvlog, jsonlog) that may hold a
/// connection message: the message markers, and `extra` for what marks a
/// FATAL in that format. Which message it is, if any, is decided on the
/// parsed record by `Classifier`.
pub(crate) struct Candidates {
    ac: AhoCorasick,
}

/// The automata are built on first use, once per run: a run that reads
/// no csvlog never builds the csvlog one (`pgconn < /dev/null` stays fast).
static CSV_CANDIDATES: LazyLock<Candidates> = LazyLock::new(|| Candidates::new(&[",FATAL,"]));
static JSON_CANDIDATES: LazyLock<Candidates> =
    LazyLock::new(|| Candidates::new(&["\"error_severity\":\"FATAL\""]));
static CLASSIFIER: LazyLock<Classifier> = LazyLock::new(Classifier::new);
static MARKER_AC: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .build(MARKERS.iter().map(|m| m.0))
        .expect("the marker set is a small fixed list of literals")
});
impl Candidates {
    pub(crate) fn csv() -> &'static Candidates {
        &CSV_CANDIDATES
    }

    pub(crate) fn json() -> &'static Candidates {
        &JSON_CANDIDATES
    }

    fn new(extra: &[&str]) -> Candidates {
        let patterns = MARKERS
            .iter()
            .filter(|m| m.2 == Anchor::Message)
            .map(|m| m.0)
            .chain(extra.iter().copied());
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(patterns)
            .expect("the marker set is a small fixed list of literals");
        Candidates { ac }
    }

    /// The position of the next candidate in `buf[at..]`.
    pub(crate) fn next(&self, buf: &[u8], at: usize) -> Option<usize> {
        self.ac.find(Input::new(buf).range(at..)).map(|m| m.start())
    }
}

/// Says which connection message a record's message text is, from its
/// start, as in stderr lines (`LOG` + message marker, or any `FATAL`).
pub(crate) struct Classifier {
    ac: AhoCorasick,
}

impl Classifier {
    pub(crate) fn get() -> &'static Classifier {
        &CLASSIFIER
    }

    fn new() -> Classifier {
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .start_kind(aho_corasick::StartKind::Anchored)
            .build(MARKERS.iter().filter(|m| m.2 == Anchor::Message).map(|m| m.0))
            .expect("the marker set is a small fixed list of literals");
        Classifier { ac }
    }

    pub(crate) fn classify(&self, severity: &[u8], message: &[u8]) -> Option<MessageKind> {
        match severity {
            b"FATAL" => Some(MessageKind::Fatal),
            b"LOG" => {
                let m = self.ac.find(Input::new(message).anchored(aho_corasick::Anchored::Yes))?;
                let kinds = MARKERS.iter().filter(|m| m.2 == Anchor::Message);
                kinds.map(|m| m.1).nth(m.pattern().as_usize())
            }
            _ => None,
        }
    }
}

/// True for the severity words of English logs (stderr and csvlog
/// translate them with lc_messages).
pub(crate) fn is_english_severity(word: &[u8]) -> bool {
    MAIN_SEVERITIES.contains(&word) || SUB_SEVERITIES.contains(&word)
}

/// Severity words that start a log entry's first line. Lines whose severity
/// is DETAIL, HINT, STATEMENT and so on belong to an entry above them.
const MAIN_SEVERITIES: &[&[u8]] = &[
    b"LOG", b"FATAL", b"ERROR", b"WARNING", b"PANIC", b"NOTICE", b"INFO", b"DEBUG1", b"DEBUG2",
    b"DEBUG3", b"DEBUG4", b"DEBUG5", b"DEBUG",
];
const SUB_SEVERITIES: &[&[u8]] =
    &[b"DETAIL", b"HINT", b"QUERY", b"CONTEXT", b"LOCATION", b"BACKTRACE", b"STATEMENT"];

/// A candidate found in the buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hit {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) kind: MessageKind,
    pub(crate) anchor: Anchor,
}

/// The marker automaton (built on first use, once per run).
pub(crate) struct Scanner;

impl Scanner {
    pub(crate) fn new() -> Scanner {
        Scanner
    }

    /// The next marker in `buf[at..]`.
    pub(crate) fn next(&self, buf: &[u8], at: usize) -> Option<Hit> {
        let m = MARKER_AC.find(Input::new(buf).range(at..))?;
        let (_, kind, anchor) = MARKERS[m.pattern().as_usize()];
        Some(Hit { start: m.start(), end: m.end(), kind, anchor })
    }

    /// Finds a line's severity: the first `WORD:  ` whose word is a
    /// severity.
    pub(crate) fn severity<'a>(&self, line: &'a [u8]) -> Option<Severity<'a>> {
        // The colons of the time come first; a memchr per colon beats a
        // substring search on lines this short.
        let colons =
            memchr::memchr_iter(b':', line).filter(|&i| line.get(i + 1..i + 3) == Some(b"  "));
        for colon in colons {
            let word_start = line[..colon]
                .iter()
                .rposition(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit()))
                .map_or(0, |i| i + 1);
            let word = &line[word_start..colon];
            if !MAIN_SEVERITIES.contains(&word) && !SUB_SEVERITIES.contains(&word) {
                continue;
            }
            let mut msg = colon + 3;
            // log_error_verbosity = verbose: `LOG:  00000: message`
            if line.len() >= msg + 7
                && line[msg..msg + 5].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                && &line[msg + 5..msg + 7] == b": "
            {
                msg += 7;
            }
            return Some(Severity { start: word_start, message: msg, word });
        }
        None
    }
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
    fn finds_markers_in_order() {
        let s = Scanner::new();
        let buf = b"x LOG:  replication connection authorized: user=r\ny FATAL:  nope\n";
        let h = s.next(buf, 0).unwrap();
        assert_eq!(h.kind, MessageKind::ReplicationAuthorized);
        assert_eq!(h.start, 8);
        let h = s.next(buf, h.end).unwrap();
        assert_eq!(h.kind, MessageKind::Fatal);
        assert!(s.next(buf, h.end).is_none());
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
        let cands = Candidates::csv();
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
}
