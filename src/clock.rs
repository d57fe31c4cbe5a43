//! The log's clock as the events were read: each input's first and last
//! time, for the report's list of inputs in the order read, and where time
//! went back.
//!
//! Time that goes back is what pgconn cannot repair: logs that overlap,
//! one after the other in one stream (`cat a.log b.log`, two servers'
//! logs), or a clock set back. Figures that depend on the order of events
//! (who is active, the peak, pairing a session's lines by pid, the
//! history) are then unreliable, and the report says so. Two steps back
//! are not counted: jitter (lines of several backends reach the log a few
//! milliseconds out of order; with `%t`, whole seconds, that is a second)
//! and a new server's first lines after a shutdown (a clock set back while
//! the server was down: every session had ended).
//!
//! It sees every event the parser emits, before `--since`/`--until` and
//! the filters: the times belong to the inputs, not to what is counted.

use crate::event::{Event, EventKind, ServerEvent};
use crate::time::Timestamp;

/// Steps back of this much or less are jitter.
pub(crate) const JITTER_MS: i64 = 1000;

/// The times of one input's events.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct InputTimes {
    /// Its earliest and latest event times.
    pub(crate) first: Option<Timestamp>,
    pub(crate) last: Option<Timestamp>,
    /// Its lines ran newest first (read oldest first).
    pub(crate) newest_first: bool,
}

/// Where, and how far, time went back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct WentBack {
    /// Steps back, and the longest (ms).
    pub(crate) count: u64,
    pub(crate) max_ms: i64,
    /// The first: in which input (in the order read), from which time to
    /// which.
    pub(crate) input: usize,
    pub(crate) from: Timestamp,
    pub(crate) to: Timestamp,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Clock {
    /// One per input begun, in the order read.
    pub(crate) inputs: Vec<InputTimes>,
    pub(crate) went_back: Option<WentBack>,
    /// The last event's time.
    last: Option<Timestamp>,
    /// The server shut down (or crashed), and no session line came since.
    stopped: bool,
}

impl Clock {
    /// The next input begins.
    pub(crate) fn begin_input(&mut self) {
        self.inputs.push(InputTimes::default());
    }

    /// What the current input's first lines said: it runs newest first.
    pub(crate) fn newest_first(&mut self, yes: bool) {
        if let Some(input) = self.inputs.last_mut() {
            input.newest_first = yes;
        }
    }

    /// Forgets where time went back (the statistics were reset).
    pub(crate) fn reset(&mut self) {
        self.went_back = None;
    }

    /// Notes an event, as read.
    #[inline]
    pub(crate) fn note(&mut self, ev: &Event<'_>) {
        // A new server's first lines (the postmaster's, the startup
        // process's) right after a shutdown.
        let restart = match ev.kind {
            EventKind::Server(ServerEvent::Starting | ServerEvent::Startup) => self.stopped,
            EventKind::Server(
                ServerEvent::Stopped | ServerEvent::ImmediateShutdown | ServerEvent::CrashRestart,
            ) => {
                self.stopped = true;
                false
            }
            EventKind::Server(_) => false,
            _ => {
                self.stopped = false;
                false
            }
        };
        let Some(t) = ev.meta.time else { return };
        if let Some(input) = self.inputs.last_mut() {
            if input.first.is_none_or(|f| t.ms < f.ms) {
                input.first = Some(t);
            }
            if input.last.is_none_or(|l| t.ms > l.ms) {
                input.last = Some(t);
            }
        }
        if let Some(last) = self.last
            && last.ms - t.ms > JITTER_MS
            && !restart
        {
            self.back(last, t);
        }
        self.last = Some(t);
    }

    #[cold]
    fn back(&mut self, from: Timestamp, to: Timestamp) {
        let input = self.inputs.len().saturating_sub(1);
        let w = self.went_back.get_or_insert(WentBack { count: 0, max_ms: 0, input, from, to });
        w.count += 1;
        w.max_ms = w.max_ms.max(from.ms - to.ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{KindOf, MetaOf};

    fn at(clock: &mut Clock, ms: i64, kind: EventKind<'static>) {
        let time = Some(Timestamp::from_unix_ms(ms));
        clock.note(&Event { meta: MetaOf { time, ..MetaOf::default() }, kind, raw: b"" });
    }

    fn connect(clock: &mut Clock, ms: i64) {
        at(clock, ms, KindOf::Received { host: b"h", port: None });
    }

    #[test]
    fn jitter_is_not_going_back() {
        let mut c = Clock::default();
        c.begin_input();
        for ms in [10_000, 10_005, 10_001, 11_001, 10_001, 12_000] {
            connect(&mut c, ms);
        }
        assert_eq!(c.went_back, None);
        assert_eq!(c.inputs[0].first.map(|t| t.ms), Some(10_000));
        assert_eq!(c.inputs[0].last.map(|t| t.ms), Some(12_000));
    }

    #[test]
    fn steps_back_are_counted_with_the_first_and_the_longest() {
        let mut c = Clock::default();
        c.begin_input();
        connect(&mut c, 100_000);
        c.begin_input();
        for ms in [40_000, 90_000, 200_000, 190_000, 10_000] {
            connect(&mut c, ms);
        }
        let w = c.went_back.expect("went back");
        assert_eq!((w.count, w.max_ms, w.input), (3, 180_000, 1));
        assert_eq!((w.from.ms, w.to.ms), (100_000, 40_000));
    }

    #[test]
    fn a_new_server_after_a_shutdown_is_not_going_back() {
        let mut c = Clock::default();
        c.begin_input();
        connect(&mut c, 100_000);
        at(&mut c, 101_000, KindOf::Server(ServerEvent::Stopped));
        at(&mut c, 50_000, KindOf::Server(ServerEvent::Starting));
        connect(&mut c, 51_000);
        assert_eq!(c.went_back, None);
        // A start with sessions going on is not a new server's after a
        // shutdown.
        at(&mut c, 20_000, KindOf::Server(ServerEvent::Starting));
        assert_eq!(c.went_back.map(|w| w.count), Some(1));
    }
}
