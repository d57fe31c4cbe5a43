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

use crate::event::Event;
use crate::parse::Stats;
use crate::parse::stderr::StderrParser;
use crate::prefix::Prefix;

/// Chunks this long were cut by PostgreSQL's 900-byte limit.
const SPLIT_AT: usize = 850;

pub(crate) struct SyslogParser {
    pub(crate) inner: StderrParser,
    buf: Vec<u8>,
    /// (pid, sequence, length) of the last chunk.
    last: Option<(u32, u64, usize)>,
}

/// What the syslog header carried.
#[derive(Debug, PartialEq)]
pub(crate) struct Header<'a> {
    pub(crate) pid: Option<u32>,
    /// PostgreSQL's `[seq-chunk]` (or `[chunk]`).
    pub(crate) seq: Option<(u64, u64)>,
    pub(crate) body: &'a [u8],
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
    let (pid, body) = if line.first() == Some(&b'<') {
        // RFC 5424: <pri>1 TIMESTAMP HOST APP PROCID MSGID SD MSG
        let close = memchr::memchr(b'>', line)?;
        let rest = line.get(close + 1..)?;
        let (version, rest) = word(rest)?;
        if version != b"1" {
            // RFC 3164 with a priority: <pri>Mmm dd ...
            return header(&line[close + 1..]);
        }
        let (_time, rest) = word(rest)?;
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
        (number(procid).map(|p| p as u32), rest)
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
        tag_and_pid(rest)?
    } else if line.len() > 20 && line[4] == b'-' && line[7] == b'-' && line[10] == b'T' {
        // rsyslog's RFC 3339 time: 2025-03-01T10:00:01.864123+00:00 host tag[pid]: msg
        let (_time, rest) = word(line)?;
        let (_host, rest) = word(rest)?;
        tag_and_pid(rest)?
    } else {
        return None;
    };
    // [seq-chunk] or [chunk]
    let mut seq = None;
    let mut body = body;
    if body.first() == Some(&b'[') {
        let a = digits(&body[1..]);
        let after = 1 + a;
        if a > 0 && body.get(after) == Some(&b'-') {
            let b = digits(&body[after + 1..]);
            let end = after + 1 + b;
            if b > 0 && body.get(end..end + 2) == Some(b"] ") {
                seq = Some((number(&body[1..after])?, number(&body[after + 1..end])?));
                body = &body[end + 2..];
            }
        } else if a > 0 && body.get(after..after + 2) == Some(b"] ") {
            seq = Some((0, number(&body[1..after])?));
            body = &body[after + 2..];
        }
    }
    Some(Header { pid, seq, body })
}

impl SyslogParser {
    pub(crate) fn new(prefix: Option<Prefix>) -> SyslogParser {
        SyslogParser { inner: StderrParser::new(prefix), buf: Vec::new(), last: None }
    }

    /// Infers the prefix from the first lines of an input (see
    /// `StderrParser::decide`).
    pub(crate) fn decide(&mut self, evidence: &[u8], stats: &mut Stats) {
        let last = self.last;
        let mut ignored = Stats::default();
        let body = self.bodies(evidence, &mut ignored);
        self.last = last;
        self.inner.decide(&body, stats);
        self.buf = body;
    }

    pub(crate) fn process<F>(&mut self, chunk: &[u8], stats: &mut Stats, emit: &mut F)
    where
        F: FnMut(&Event<'_>),
    {
        let buf = self.bodies(chunk, stats);
        self.inner.process(&buf, stats, |e| emit(e));
        self.buf = buf;
    }

    /// The stderr-like lines inside the syslog lines of `chunk`.
    fn bodies(&mut self, chunk: &[u8], stats: &mut Stats) -> Vec<u8> {
        self.buf.clear();
        for line in chunk.split(|&c| c == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let Some(h) = header(line) else {
                stats.not_syslog += 1;
                continue;
            };
            let mut body = h.body;
            let continues_line = match (h.pid, h.seq, self.last) {
                (Some(pid), Some((seq, chunk)), Some((p, s, len))) => {
                    chunk > 1 && p == pid && s == seq && len >= SPLIT_AT
                }
                _ => false,
            };
            if let (Some(pid), Some((seq, _))) = (h.pid, h.seq) {
                self.last = Some((pid, seq, body.len()));
            }
            let tab = body.starts_with(b"#011");
            if tab {
                body = &body[4..];
            }
            if continues_line || tab {
                self.buf.push(b'\t');
            }
            self.buf.extend_from_slice(body);
            self.buf.push(b'\n');
        }
        std::mem::take(&mut self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(kinds[2].starts_with("RoleMissing"));
    }
}
