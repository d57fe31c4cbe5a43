//! Peak concurrency that does not count failed attempts.
//!
//! A backend logs `connection authorized` before it checks the database,
//! the role's and database's connection limits and the reserved slots; a
//! FATAL right after it means the attempt failed and was never a session.
//! Counting it at the authorized line and never taking it back would
//! overstate the peak (pgBadger's figure is off this way).
//!
//! So a new session is *unconfirmed* for a moment: until a later line of
//! its own that is not a startup failure, or until the log has moved one
//! second past its authorization (those FATALs come within milliseconds),
//! or until more than `MAX_UNCONFIRMED` sessions wait. A new peak reached
//! while some sessions are unconfirmed is kept as a *candidate* that
//! remembers them; if one of them fails, the candidate drops by one. A
//! candidate whose sessions are all confirmed becomes the peak.

use crate::time::Timestamp;

const MAX_UNCONFIRMED: usize = 64;
const MAX_CANDIDATES: usize = 256;
const CONFIRM_AFTER_MS: i64 = 1000;

struct Candidate {
    value: u64,
    at: Option<Timestamp>,
    waiting: Vec<u64>,
}

#[derive(Default)]
pub(crate) struct Peak {
    value: u64,
    at: Option<Timestamp>,
    /// Sessions open from the start (a history bucket's start).
    floor: u64,
    candidates: Vec<Candidate>,
    /// Sessions not yet confirmed, oldest first: (id, authorized at).
    unconfirmed: Vec<(u64, Option<Timestamp>)>,
}

impl Peak {
    /// A peak of at least `n`: the sessions open when a bucket begins.
    pub(crate) fn from_floor(n: u64) -> Peak {
        Peak { value: n, floor: n, ..Peak::default() }
    }

    /// The peak of two neighbouring spans, `a` then `b`.
    pub(crate) fn merge(a: Peak, b: Peak) -> Peak {
        let (av, aat) = a.get();
        let mut merged = b;
        if av > merged.value {
            (merged.value, merged.at) = (av, aat);
        }
        merged.floor = a.floor;
        merged
    }

    /// A session found out later (from its disconnection line) was open
    /// over `[start_ms, end_ms)`: the peak rises if it was open at the
    /// peak's moment, or at the start (`covers_start`).
    pub(crate) fn raise_between(&mut self, start_ms: i64, end_ms: i64, covers_start: bool) {
        let inside = |at: Option<Timestamp>| at.is_some_and(|t| t.ms >= start_ms && t.ms < end_ms);
        if covers_start {
            self.floor += 1;
        }
        if inside(self.at) || (self.at.is_none() && covers_start) {
            self.value += 1;
        }
        self.value = self.value.max(self.floor);
        for c in &mut self.candidates {
            if inside(c.at) {
                c.value += 1;
            }
        }
    }

    /// A new session `id` made `active` sessions at `at`.
    pub(crate) fn opened(&mut self, id: u64, active: u64, at: Option<Timestamp>) {
        self.unconfirmed.push((id, at));
        if self.unconfirmed.len() > MAX_UNCONFIRMED {
            let (oldest, _) = self.unconfirmed[0];
            self.confirm(oldest);
        }
        if active > self.value {
            let waiting = self.unconfirmed.iter().map(|&(id, _)| id).collect();
            self.candidates.push(Candidate { value: active, at, waiting });
            if self.candidates.len() > MAX_CANDIDATES {
                let oldest = self.candidates[0].waiting[0];
                self.confirm(oldest);
            }
        }
    }

    /// Session `id` is real (a later line of its own, or it ended normally).
    pub(crate) fn confirm(&mut self, id: u64) {
        self.settle(id, 0);
    }

    /// Session `id` was a failed attempt after all.
    pub(crate) fn cancel(&mut self, id: u64) {
        self.settle(id, 1);
    }

    /// Confirms every session authorized more than a second before `now`.
    pub(crate) fn advance(&mut self, now: Timestamp) {
        while let Some(&(id, Some(at))) = self.unconfirmed.first() {
            if now.ms - at.ms <= CONFIRM_AFTER_MS {
                break;
            }
            self.confirm(id);
        }
    }

    /// Confirms everything (a server restart ends all sessions: those that
    /// were open were real).
    pub(crate) fn confirm_all(&mut self) {
        while let Some(&(id, _)) = self.unconfirmed.first() {
            self.confirm(id);
        }
    }

    pub(crate) fn is_unconfirmed(&self, id: u64) -> bool {
        self.unconfirmed.iter().any(|&(u, _)| u == id)
    }

    fn settle(&mut self, id: u64, drop: u64) {
        if self.unconfirmed.is_empty() {
            return;
        }
        let Some(pos) = self.unconfirmed.iter().position(|&(u, _)| u == id) else {
            return;
        };
        self.unconfirmed.remove(pos);
        for c in &mut self.candidates {
            if let Some(i) = c.waiting.iter().position(|&w| w == id) {
                c.waiting.swap_remove(i);
                c.value -= drop;
            }
        }
        let (mut value, mut at) = (self.value, self.at);
        for c in self.candidates.iter().filter(|c| c.waiting.is_empty()) {
            if c.value > value {
                (value, at) = (c.value, c.at);
            }
        }
        (self.value, self.at) = (value, at);
        self.candidates.retain(|c| !c.waiting.is_empty() && c.value > value);
    }

    /// The peak so far, counting still-unconfirmed sessions as real.
    pub(crate) fn get(&self) -> (u64, Option<Timestamp>) {
        let mut best = (self.value, self.at);
        for c in &self.candidates {
            if c.value > best.0 {
                best = (c.value, c.at);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> Option<Timestamp> {
        let mut ts = Timestamp::parse(b"2025-03-01 10:00:00.000 UTC").unwrap();
        ts.ms += ms;
        Some(ts)
    }

    #[test]
    fn failed_attempt_does_not_raise_peak() {
        let mut p = Peak::default();
        p.opened(1, 1, t(0));
        p.opened(2, 2, t(1));
        p.confirm(1);
        p.opened(3, 3, t(2));
        p.cancel(3);
        assert_eq!(p.get().0, 2);
        p.confirm(2);
        assert_eq!(p.get().0, 2);
    }

    #[test]
    fn equal_later_peak_survives_cancel() {
        let mut p = Peak::default();
        p.opened(1, 1, t(0));
        p.opened(2, 2, t(1)); // 2 fails later
        p.opened(3, 3, t(2)); // a real third session while 2 is pending
        p.cancel(2);
        // At t(2) there were really 2 sessions (1 and 3).
        p.confirm_all();
        assert_eq!(p.get().0, 2);
        // Later a real 3.
        p.opened(4, 3, t(3));
        p.confirm(4);
        assert_eq!(p.get(), (3, t(3)));
    }

    #[test]
    fn time_confirms() {
        let mut p = Peak::default();
        p.opened(1, 1, t(0));
        p.advance(t(500).unwrap());
        assert!(p.is_unconfirmed(1));
        p.advance(t(1500).unwrap());
        assert!(!p.is_unconfirmed(1));
        p.cancel(1); // too late: no effect
        assert_eq!(p.get().0, 1);
    }

    #[test]
    fn bounded() {
        let mut p = Peak::default();
        for i in 0..10_000 {
            p.opened(i, i + 1, None);
        }
        assert!(p.unconfirmed.len() <= MAX_UNCONFIRMED);
        assert!(p.candidates.len() <= MAX_CANDIDATES);
        assert_eq!(p.get().0, 10_000);
    }
}
