//! syslog: the syslog daemon's header before PostgreSQL's own line.
//!
//! ```text
//! Mar  1 10:00:01 db1 postgres[4301]: [7-1] 2025-03-01 10:00:01.864 UTC [4301] FATAL:  password ...
//! Mar  1 10:00:01 db1 postgres[4301]: [7-2] 2025-03-01 10:00:01.864 UTC [4301] DETAIL:  Role ...
//! Mar  1 10:00:01 db1 postgres[4301]: [7-3] #011Connection matched ...
//! ```
//!
//! The header (traditional `Mmm dd hh:mm:ss host tag[pid]:`, RFC 3339
//! timestamps as rsyslog writes them, or RFC 5424 `<pri>1 time host app
//! procid msgid sd`) and PostgreSQL's `[seq-chunk]` number are cut off, and
//! the rest is read as a stderr line, with its log_line_prefix. A `#011`
//! (rsyslog's escape for a TAB) starts a continuation line. PostgreSQL
//! splits lines longer than 900 bytes into chunks of the same sequence
//! number: a chunk that follows a full-length one is the middle of a line,
//! never a new entry.
//!
//! The header's time and pid are the carrier's (see `envelope::Unwrapped`):
//! an event whose log_line_prefix has no time (`%m`, `%t`, `%n`) takes the
//! header's, and one without a pid the tag's (`postgres[4301]`, the
//! backend's). RFC 3164 times have no year: it is the input's reference
//! year (see `Timestamp::parse_bsd`).

use crate::event::Event;
use crate::parse::Stats;
use crate::parse::carrier::Unwrapped;
use crate::parse::stderr::StderrParser;
use crate::prefix::Prefix;

/// Chunks this long were cut by PostgreSQL's 900-byte limit.
const SPLIT_AT: usize = 850;

pub(crate) struct SyslogParser {
    pub(crate) inner: StderrParser,
    bodies: Unwrapped,
    chunks: Chunks,
    /// The time RFC 3164 headers take their year from (ms since the
    /// epoch), and whether it was given (else: now, when first needed).
    reference: Option<i64>,
}

/// When a syslog header's time was written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Stamp<'a> {
    /// RFC 3164 `Mmm dd hh:mm:ss`: no year, no zone.
    Bsd(&'a [u8]),
    /// RFC 3339 (rsyslog's files, RFC 5424).
    Rfc3339(&'a [u8]),
    None,
}

/// What the syslog header carried.
#[derive(Debug, PartialEq)]
pub(crate) struct Header<'a> {
    pub(crate) time: Stamp<'a>,
    pub(crate) pid: Option<u32>,
    /// PostgreSQL's `[seq-chunk]` (or `[chunk]`).
    pub(crate) seq: Option<(u64, u64)>,
    pub(crate) body: &'a [u8],
}

/// PostgreSQL's syslog chunks (`syslog_sequence_numbers`,
/// `syslog_split_messages`), wherever they are carried (syslog, journald's
/// syslog transport, Heroku): which chunk continues a line.
#[derive(Default)]
pub(crate) struct Chunks {
    /// (pid, sequence, length) of the last chunk.
    last: Option<(u32, u64, usize)>,
}

impl Chunks {
    /// The stderr line of a chunk: its text, and whether it continues the
    /// line before (then read as a TAB continuation line). A `#011` (a
    /// TAB, as rsyslog escapes it) starts a continuation line.
    pub(crate) fn line<'a>(
        &mut self,
        pid: Option<u32>,
        seq: Option<(u64, u64)>,
        body: &'a [u8],
    ) -> (bool, &'a [u8]) {
        let continues_line = match (pid, seq, self.last) {
            (Some(pid), Some((seq, chunk)), Some((p, s, len))) => {
                chunk > 1 && p == pid && s == seq && len >= SPLIT_AT
            }
            _ => false,
        };
        if let (Some(pid), Some((seq, _))) = (pid, seq) {
            self.last = Some((pid, seq, body.len()));
        }
        match body.strip_prefix(b"#011") {
            Some(rest) => (true, rest),
            None => (continues_line, body),
        }
    }
}

/// PostgreSQL's `[seq-chunk] ` (or `[chunk] `) at the start of `body`, and
/// the text after it.
pub(crate) fn sequence(body: &[u8]) -> (Option<(u64, u64)>, &[u8]) {
    if body.first() == Some(&b'[') {
        let a = digits(&body[1..]);
        let after = 1 + a;
        if a > 0 && body.get(after) == Some(&b'-') {
            let b = digits(&body[after + 1..]);
            let end = after + 1 + b;
            if b > 0
                && body.get(end..end + 2) == Some(b"] ")
                && let (Some(s), Some(c)) = (number(&body[1..after]), number(&body[after + 1..end]))
            {
                return (Some((s, c)), &body[end + 2..]);
            }
        } else if a > 0
            && body.get(after..after + 2) == Some(b"] ")
            && let Some(c) = number(&body[1..after])
        {
            return (Some((0, c)), &body[after + 2..]);
        }
    }
    (None, body)
}

fn digits(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

fn number(b: &[u8]) -> Option<u64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// `tag[pid]: rest` or `tag: rest` after the host.
fn tag_and_pid(rest: &[u8]) -> Option<(Option<u32>, &[u8])> {
    let colon = memchr::memmem::find(rest, b": ")?;
    let tag = &rest[..colon];
    if tag.is_empty() || tag.contains(&b' ') {
        return None;
    }
    let pid = match (memchr::memchr(b'[', tag), tag.last()) {
        (Some(open), Some(b']')) => number(&tag[open + 1..tag.len() - 1]).map(|p| p as u32),
        _ => None,
    };
    Some((pid, &rest[colon + 2..]))
}

fn word(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let sp = memchr::memchr(b' ', b)?;
    Some((&b[..sp], &b[sp + 1..]))
}

/// Splits a syslog line into its header's pid and PostgreSQL's text.
pub(crate) fn header(line: &[u8]) -> Option<Header<'_>> {
    let (time, pid, body) = if line.first() == Some(&b'<') {
        // RFC 5424: <pri>1 TIMESTAMP HOST APP PROCID MSGID SD MSG
        let close = memchr::memchr(b'>', line)?;
        let rest = line.get(close + 1..)?;
        let (version, rest) = word(rest)?;
        if version != b"1" {
            // RFC 3164 with a priority: <pri>Mmm dd ...
            return header(&line[close + 1..]);
        }
        let (time, rest) = word(rest)?;
        let (_host, rest) = word(rest)?;
        let (_app, rest) = word(rest)?;
        let (procid, rest) = word(rest)?;
        let (_msgid, rest) = word(rest)?;
        let rest = match rest.first() {
            Some(b'-') => rest.get(2..).unwrap_or_default(),
            Some(b'[') => {
                let end = memchr::memmem::find(rest, b"] ")?;
                &rest[end + 2..]
            }
            _ => return None,
        };
        let time = if time == b"-" { Stamp::None } else { Stamp::Rfc3339(time) };
        (time, number(procid).map(|p| p as u32), rest)
    } else if line.len() > 16
        && line[..3].iter().all(u8::is_ascii_alphabetic)
        && line[3] == b' '
        && line[6] == b' '
        && line[9] == b':'
        && line[12] == b':'
        && line[15] == b' '
    {
        // Mmm dd hh:mm:ss host tag[pid]: msg
        let (_host, rest) = word(&line[16..])?;
        let (pid, body) = tag_and_pid(rest)?;
        (Stamp::Bsd(&line[..15]), pid, body)
    } else if line.len() > 20 && line[4] == b'-' && line[7] == b'-' && line[10] == b'T' {
        // rsyslog's RFC 3339 time: 2025-03-01T10:00:01.864123+00:00 host tag[pid]: msg
        let (time, rest) = word(line)?;
        let (_host, rest) = word(rest)?;
        let (pid, body) = tag_and_pid(rest)?;
        (Stamp::Rfc3339(time), pid, body)
    } else {
        return None;
    };
    let (seq, body) = sequence(body);
    Some(Header { time, pid, seq, body })
}

impl SyslogParser {
    pub(crate) fn new(prefix: Option<Prefix>) -> SyslogParser {
        SyslogParser {
            inner: StderrParser::new(prefix),
            bodies: Unwrapped::default(),
            chunks: Chunks::default(),
            reference: None,
        }
    }

    /// A new input begins, whose RFC 3164 times take their year from
    /// `reference` (ms since the epoch; None: now).
    pub(crate) fn next_input(&mut self, reference: Option<i64>) {
        self.inner.next_input();
        self.reference = reference;
    }

    /// Infers the prefix from the first lines of an input (see
    /// `StderrParser::decide`).
    pub(crate) fn decide(&mut self, evidence: &[u8], stats: &mut Stats) {
        let mut ignored = Stats::default();
        let mut chunks = Chunks { last: self.chunks.last };
        let mut bodies = Unwrapped::default();
        self.bodies(evidence, &mut chunks, &mut bodies, &mut ignored);
        self.inner.decide(&bodies.text, stats);
    }

    pub(crate) fn process<F>(&mut self, chunk: &[u8], stats: &mut Stats, emit: &mut F)
    where
        F: FnMut(&Event<'_>),
    {
        let mut bodies = std::mem::take(&mut self.bodies);
        let mut chunks = std::mem::take(&mut self.chunks);
        bodies.clear();
        self.bodies(chunk, &mut chunks, &mut bodies, stats);
        self.inner.process(&bodies.text, stats, |e| bodies.emit(e, emit));
        self.bodies = bodies;
        self.chunks = chunks;
    }

    /// The stderr-like lines inside the syslog lines of `chunk`, each with
    /// its header's time and pid.
    fn bodies(
        &mut self,
        chunk: &[u8],
        chunks: &mut Chunks,
        out: &mut Unwrapped,
        stats: &mut Stats,
    ) {
        // The header's time is parsed only for an event whose prefix has
        // none (which prefix that is may change on any line).
        out.reference = self.reference();
        for line in chunk.split(|&c| c == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let Some(h) = header(line) else {
                stats.not_syslog += 1;
                continue;
            };
            let (continues, body) = chunks.line(h.pid, h.seq, h.body);
            let (stamp, bsd) = match h.time {
                Stamp::Bsd(t) => (t, true),
                Stamp::Rfc3339(t) => (t, false),
                Stamp::None => (&b""[..], false),
            };
            let tab: &[u8] = if continues { b"\t" } else { b"" };
            out.push_stamped(tab, body, h.pid, stamp, bsd);
        }
    }

    /// The time RFC 3164 headers take their year from.
    fn reference(&mut self) -> i64 {
        *self.reference.get_or_insert_with(now_ms)
    }
}

/// The wall clock, in ms since the epoch: the year of RFC 3164 times read
/// from a pipe.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn traditional_header() {
        let h = header(b"Mar  1 10:00:01 db1 postgres[4301]: [7-2] 2025-03-01 10:00:01.864 UTC [4301] DETAIL:  x").unwrap();
        assert_eq!(h.pid, Some(4301));
        assert_eq!(h.seq, Some((7, 2)));
        assert!(h.body.starts_with(b"2025-03-01"));
    }

    #[test]
    fn rfc3339_and_rfc5424_headers() {
        let h = header(b"2025-03-01T10:00:01.864123+00:00 db1 postgres[42]: [1-1] text").unwrap();
        assert_eq!((h.pid, h.seq, h.body), (Some(42), Some((1, 1)), &b"text"[..]));
        let h = header(b"<134>1 2025-03-01T10:00:01.864Z db1 postgres 42 - - [3-1] text").unwrap();
        assert_eq!((h.pid, h.seq, h.body), (Some(42), Some((3, 1)), &b"text"[..]));
        let h = header(b"<134>Mar  1 10:00:01 db1 postgres[9]: [2] text").unwrap();
        assert_eq!((h.pid, h.seq, h.body), (Some(9), Some((0, 2)), &b"text"[..]));
        assert!(header(b"2025-03-01 10:00:01.864 UTC [1] LOG:  x").is_none());
    }

    #[test]
    fn entries_continuations_and_splits() {
        let mut p = SyslogParser::new(Some(Prefix::compile("%m [%p] ").unwrap()));
        let mut stats = Stats::default();
        let long = "x".repeat(880);
        let log = format!(
            "Mar  1 10:00:01 db1 postgres[10]: [1-1] 2025-03-01 10:00:01.000 UTC [10] LOG:  statement: select '{long}\n\
             Mar  1 10:00:01 db1 postgres[10]: [1-2] 2025-03-01 10:00:01.000 UTC [11] LOG:  connection authorized: user=fake database=fake'\n\
             Mar  1 10:00:01 db1 postgres[10]: [2-1] 2025-03-01 10:00:02.000 UTC [10] LOG:  connection received: host=[local]\n\
             Mar  1 10:00:01 db1 postgres[12]: [3-1] 2025-03-01 10:00:03.000 UTC [12] FATAL:  password authentication failed for user \"g\"\n\
             Mar  1 10:00:01 db1 postgres[12]: [3-2] 2025-03-01 10:00:03.000 UTC [12] DETAIL:  Role \"g\" does not exist.\n\
             Mar  1 10:00:01 db1 postgres[12]: [3-3] #011Connection matched file \"/x\" line 1: \"host all all all scram-sha-256\"\n"
        );
        let mut kinds = Vec::new();
        p.process(log.as_bytes(), &mut stats, &mut |e: &Event<'_>| {
            kinds.push(format!("{:?}", e.kind))
        });
        assert_eq!(kinds.len(), 3, "{kinds:?}");
        assert!(kinds[0].starts_with("Received"));
        assert!(kinds[2].starts_with("Detail { reason: NoSuchRole"));
    }

    #[test]
    fn header_times_and_pids_fill_a_prefix_without_them() {
        let log = "Nov 27 14:04:48 db1 postgres[29372]: [7-1] LOG:  connection received: host=127.0.0.1 port=40142\n\
                   <134>1 2026-11-27T14:04:49.123456+00:00 db1 postgres 29373 - - [7-1] LOG:  connection received: host=[local]\n\
                   2026-11-27T14:04:50.5Z db1 postgres[29374]: [7-1] LOG:  connection received: host=[local]\n";
        let mut p = SyslogParser::new(Some(Prefix::compile("").unwrap()));
        p.next_input(Some(Timestamp::parse(b"2026-12-01 00:00:00 UTC").unwrap().ms));
        let mut stats = Stats::default();
        let mut got = Vec::new();
        p.process(log.as_bytes(), &mut stats, &mut |e: &Event<'_>| {
            got.push((e.meta.time.map(|t| t.rfc3339()), e.meta.pid))
        });
        assert_eq!(
            got,
            [
                // No zone: taken as UTC.
                (Some("2026-11-27T14:04:48+00:00".to_string()), Some(29372)),
                (Some("2026-11-27T14:04:49.123+00:00".to_string()), Some(29373)),
                (Some("2026-11-27T14:04:50.500+00:00".to_string()), Some(29374)),
            ]
        );
        // A prefix with a time and pid keeps its own.
        let mut p = SyslogParser::new(Some(Prefix::compile("%m [%p] ").unwrap()));
        let line = b"Nov 27 14:04:48 db1 postgres[1]: [7-1] 2026-11-27 14:04:48.719 UTC [2] LOG:  connection received: host=[local]\n";
        p.process(line, &mut stats, &mut |e: &Event<'_>| {
            assert_eq!(
                (e.meta.time.unwrap().rfc3339().as_str(), e.meta.pid),
                ("2026-11-27T14:04:48.719+00:00", Some(2))
            )
        });
    }
}
