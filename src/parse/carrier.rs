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
}

impl Unwrapped {
    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
        self.carriers.clear();
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
    }

    /// The carrier of the line `raw` (a line of `text`) is in.
    fn carrier_of(&self, raw: &[u8]) -> Option<&Carrier> {
        let at = (raw.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
        if at >= self.text.len() {
            return None;
        }
        self.carriers.get(self.ends.partition_point(|&end| end <= at))
    }

    /// Hands `e`, parsed from `text`, to `emit`, with the time and pid of
    /// its line's record where its own prefix gave none.
    pub(crate) fn emit<F: FnMut(&Event<'_>)>(&self, e: &Event<'_>, emit: &mut F) {
        if e.meta.time.is_some() && e.meta.pid.is_some() {
            return emit(e);
        }
        match self.carrier_of(e.raw) {
            Some(c) => {
                let mut e = *e;
                e.meta.time = e.meta.time.or(c.time);
                e.meta.pid = e.meta.pid.or(c.pid);
                emit(&e)
            }
            None => emit(e),
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
