//! Lines taken out of what carried them (a syslog header, an envelope's
//! record), each with the time and pid the carrier gave it.
//!
//! The format's parser reads the lines as it reads a plain log; an event
//! whose log_line_prefix gave no time (`%m`, `%t`, `%n`) or no pid takes
//! its line's carrier's (`Unwrapped::emit`). Events keep borrowing from
//! the lines: a line is found from the event's `raw` slice.

use crate::event::Event;
use crate::time::Timestamp;

/// What a line's record said about it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Carrier {
    pub(crate) time: Option<Timestamp>,
    pub(crate) pid: Option<u32>,
}

/// Lines taken out of their records, each with its record's `Carrier`.
#[derive(Default)]
pub(crate) struct Unwrapped {
    pub(crate) text: Vec<u8>,
    /// Where each line of `text` ends (after its newline).
    ends: Vec<usize>,
    carriers: Vec<Carrier>,
    /// By line, where its carrier's time kept as written (a syslog
    /// header's, `push_stamped`) is in `stamps`; None for the rest. It is
    /// parsed for an event whose prefix gave no time, whatever the prefix
    /// was when the line was taken out (it may be inferred again on a
    /// later line of the same read).
    stamped: Vec<Option<Stamped>>,
    stamps: Vec<u8>,
    /// The time RFC 3164 stamps take their year from (ms since the epoch).
    pub(crate) reference: i64,
}

/// Where a time kept as written is in `Unwrapped::stamps`, and how it is
/// written.
#[derive(Clone, Copy, Debug)]
struct Stamped {
    at: u32,
    len: u8,
    /// RFC 3164 `Mmm dd hh:mm:ss` (else RFC 3339).
    bsd: bool,
}

impl Unwrapped {
    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
        self.carriers.clear();
        self.stamped.clear();
        self.stamps.clear();
    }

    /// Adds `text`, one line per line in it (a trailing newline ends the
    /// last one), each with `carrier`.
    pub(crate) fn push(&mut self, text: &[u8], carrier: Carrier) {
        let text = text.strip_suffix(b"\n").unwrap_or(text);
        for line in text.split(|&c| c == b'\n') {
            self.push_parts(b"", line.strip_suffix(b"\r").unwrap_or(line), carrier);
        }
    }

    /// Adds the line `head` + `line`.
    pub(crate) fn push_parts(&mut self, head: &[u8], line: &[u8], carrier: Carrier) {
        self.text.extend_from_slice(head);
        self.text.extend_from_slice(line);
        self.text.push(b'\n');
        self.ends.push(self.text.len());
        self.carriers.push(carrier);
        self.stamped.push(None);
    }

    /// Adds the line `head` + `line`, with a pid and a time as written
    /// (`bsd`: RFC 3164, else RFC 3339; empty: none), parsed only when an
    /// event needs it.
    pub(crate) fn push_stamped(
        &mut self,
        head: &[u8],
        line: &[u8],
        pid: Option<u32>,
        stamp: &[u8],
        bsd: bool,
    ) {
        self.push_parts(head, line, Carrier { time: None, pid });
        let (Ok(at), Ok(len @ 1..)) = (u32::try_from(self.stamps.len()), u8::try_from(stamp.len()))
        else {
            return;
        };
        self.stamps.extend_from_slice(stamp);
        if let Some(last) = self.stamped.last_mut() {
            *last = Some(Stamped { at, len, bsd });
        }
    }

    /// The line `raw` (a line of `text`) is, by number.
    fn line_of(&self, raw: &[u8]) -> Option<usize> {
        let at = (raw.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
        (at < self.text.len()).then(|| self.ends.partition_point(|&end| end <= at))
    }

    /// The time of line `i`'s carrier: given, or kept as written.
    fn time_of(&self, i: usize) -> Option<Timestamp> {
        if let Some(t) = self.carriers.get(i)?.time {
            return Some(t);
        }
        let s = self.stamped[i]?;
        let stamp = &self.stamps[s.at as usize..s.at as usize + s.len as usize];
        match s.bsd {
            true => Timestamp::parse_bsd(stamp, self.reference),
            false => Timestamp::parse_rfc3339(stamp),
        }
    }

    /// Hands `e`, parsed from `text`, to `emit`, with the time and pid of
    /// its line's record where its own prefix gave none.
    pub(crate) fn emit<F: FnMut(&Event<'_>)>(&self, e: &Event<'_>, emit: &mut F) {
        if e.meta.time.is_some() && e.meta.pid.is_some() {
            return emit(e);
        }
        match self.line_of(e.raw) {
            Some(i) if i < self.carriers.len() => {
                let mut e = *e;
                e.meta.time = e.meta.time.or_else(|| self.time_of(i));
                e.meta.pid = e.meta.pid.or(self.carriers[i].pid);
                emit(&e)
            }
            _ => emit(e),
        }
    }

    /// The carrier of each line, in order.
    pub(crate) fn carriers(&self) -> &[Carrier] {
        &self.carriers
    }

    /// Whether every line has a time, and every line a pid.
    pub(crate) fn carried(&self) -> (bool, bool) {
        let all =
            |f: fn(&Carrier) -> bool| !self.carriers.is_empty() && self.carriers.iter().all(f);
        (all(|c| c.time.is_some()), all(|c| c.pid.is_some()))
    }
}
