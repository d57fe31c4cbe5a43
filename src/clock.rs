//! The log's clock as the events were read: each input's first and last
//! time, for the report's list of inputs in the order read.
//!
//! It sees every event the parser emits, before `--since`/`--until` and
//! the filters: the times belong to the inputs, not to what is counted.

use crate::event::Event;
use crate::time::Timestamp;

/// The times of one input's events.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct InputTimes {
    /// Its earliest and latest event times.
    pub(crate) first: Option<Timestamp>,
    pub(crate) last: Option<Timestamp>,
    /// Its lines ran newest first (read oldest first).
    pub(crate) newest_first: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Clock {
    /// One per input begun, in the order read.
    pub(crate) inputs: Vec<InputTimes>,
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

    /// Notes an event, as read.
    pub(crate) fn note(&mut self, ev: &Event<'_>) {
        let (Some(t), Some(input)) = (ev.meta.time, self.inputs.last_mut()) else { return };
        if input.first.is_none_or(|f| t.ms < f.ms) {
            input.first = Some(t);
        }
        if input.last.is_none_or(|l| t.ms > l.ms) {
            input.last = Some(t);
        }
    }
}
