//! The timeline: counters per bucket of log time.
//!
//! Bucket edges come from log time, never the wall clock: bucket `k` covers
//! `[k * width, (k + 1) * width)` of the log's local time (its instants
//! shifted by the offset of the first timestamp, so that `1d` buckets start
//! at the log's midnight). Per bucket: connections, disconnections,
//! failures, the sessions open at its start and end, and the peak inside
//! it (with the same care for failed attempts as the summary's, see
//! peak.rs).
//!
//! Memory is bounded: past `MAX_BUCKETS`, neighbouring buckets are merged
//! and the width doubles (the report says so).
//!
//! A session whose start the log never showed (it began before the log's
//! first line) is known from its disconnection line, which gives its
//! duration: `add_span` then counts it in every bucket it covered.

use std::collections::VecDeque;

use crate::peak::Peak;
use crate::time::Timestamp;

pub(crate) const MAX_BUCKETS: usize = 20_000;

pub(crate) struct Bucket {
    pub(crate) connections: u64,
    pub(crate) disconnections: u64,
    pub(crate) failures: u64,
    /// Sessions that ended without a disconnection line (a restart, a
    /// crash, their pid reused).
    pub(crate) ended: u64,
    /// Disconnections of sessions that began before the log (never
    /// counted open).
    pub(crate) before: u64,
    /// Sessions open when the bucket began / ended.
    pub(crate) start_active: u64,
    pub(crate) active: u64,
    peak: Peak,
}

impl Bucket {
    fn new(start_active: u64) -> Bucket {
        Bucket {
            connections: 0,
            disconnections: 0,
            failures: 0,
            ended: 0,
            before: 0,
            start_active,
            active: start_active,
            peak: Peak::from_floor(start_active),
        }
    }

    /// The most sessions open at once inside the bucket, and when.
    pub(crate) fn peak(&self) -> (u64, Option<Timestamp>) {
        self.peak.get()
    }

    pub(crate) fn peak_mut(&mut self) -> &mut Peak {
        &mut self.peak
    }
}

pub(crate) struct History {
    width_ms: i64,
    /// Offset (ms) added to instants before cutting them into buckets.
    shift_ms: Option<i64>,
    /// Index of `buckets[0]`.
    first: i64,
    buckets: VecDeque<Bucket>,
    /// How many times the width doubled to stay under `MAX_BUCKETS`.
    pub(crate) doubled: u32,
    /// The last bucket looked up: (start, end) instants and its index.
    last: Option<(i64, i64, usize)>,
}

impl History {
    pub(crate) fn new(width: std::time::Duration) -> History {
        History {
            width_ms: (width.as_millis() as i64).max(1),
            shift_ms: None,
            first: 0,
            buckets: VecDeque::new(),
            doubled: 0,
            last: None,
        }
    }

    pub(crate) fn width_ms(&self) -> i64 {
        self.width_ms
    }

    fn index(&mut self, t: &Timestamp) -> i64 {
        let shift = *self.shift_ms.get_or_insert_with(|| t.offset_ms());
        (t.ms + shift).div_euclid(self.width_ms)
    }

    /// The start of bucket `k` as an instant (ms since the epoch).
    fn start_ms(&self, k: i64) -> i64 {
        k * self.width_ms - self.shift_ms.unwrap_or(0)
    }

    /// The bucket holding `t`, created (with the sessions open carried
    /// over) if needed. `active` is the number open now.
    #[inline]
    pub(crate) fn at(&mut self, t: &Timestamp, active: u64) -> &mut Bucket {
        // The common case, inlined (the tracker asks a few times per
        // event): the same bucket as the last call.
        if let Some((lo, hi, i)) = self.last
            && t.ms >= lo
            && t.ms < hi
        {
            return &mut self.buckets[i];
        }
        self.find(t, active)
    }

    #[inline(never)]
    fn find(&mut self, t: &Timestamp, active: u64) -> &mut Bucket {
        let k = self.index(t);
        if k >= self.first && k < self.first + self.buckets.len() as i64 {
            let i = (k - self.first) as usize;
            let lo = self.start_ms(k);
            self.last = Some((lo, lo + self.width_ms, i));
            return &mut self.buckets[i];
        }
        self.last = None;
        if self.buckets.is_empty() {
            self.first = k;
            self.buckets.push_back(Bucket::new(active));
        }
        // A time far from the others (a clock jump, a garbled year): widen
        // the buckets first, so that the range never needs more than
        // MAX_BUCKETS of them (not one bucket per 15 minutes up to 4052).
        let mut k = k;
        loop {
            let last = self.first + self.buckets.len() as i64 - 1;
            if last.max(k) - self.first.min(k) < MAX_BUCKETS as i64 {
                break;
            }
            self.double();
            k = self.index(t);
        }
        // Timestamps going backwards (concatenated logs) land in an
        // earlier bucket, created in front if need be.
        while k < self.first {
            let carry = self.buckets.front().map_or(active, |b| b.start_active);
            self.buckets.push_front(Bucket::new(carry));
            self.first -= 1;
        }
        while k >= self.first + self.buckets.len() as i64 {
            let carry = self.buckets.back().map_or(active, |b| b.active);
            self.buckets.push_back(Bucket::new(carry));
        }
        if self.buckets.len() > MAX_BUCKETS {
            self.double();
            return self.at(t, active);
        }
        let i = (k - self.first) as usize;
        &mut self.buckets[i]
    }

    /// Merges neighbouring buckets: the width doubles.
    fn double(&mut self) {
        let mut merged = VecDeque::with_capacity(self.buckets.len() / 2 + 1);
        let mut it = std::mem::take(&mut self.buckets).into_iter();
        // Keep bucket indexes even: the first merged bucket may be half.
        let mut pending = if self.first.rem_euclid(2) == 1 { None } else { it.next() };
        if self.first.rem_euclid(2) == 1 {
            let b = it.next().expect("doubling only happens with buckets");
            merged.push_back(b);
        }
        loop {
            let a = match pending.take() {
                Some(a) => a,
                None => match it.next() {
                    Some(a) => a,
                    None => break,
                },
            };
            match it.next() {
                Some(b) => merged.push_back(Bucket {
                    connections: a.connections + b.connections,
                    disconnections: a.disconnections + b.disconnections,
                    failures: a.failures + b.failures,
                    ended: a.ended + b.ended,
                    before: a.before + b.before,
                    start_active: a.start_active,
                    active: b.active,
                    peak: Peak::merge(a.peak, b.peak),
                }),
                None => merged.push_back(a),
            }
        }
        self.buckets = merged;
        self.last = None;
        self.first = self.first.div_euclid(2);
        self.width_ms *= 2;
        self.doubled += 1;
    }

    /// A session open over `[start, end)` that the log showed only ending:
    /// it counts in every bucket it covered. `start` None: it began before
    /// anything pgconn saw.
    pub(crate) fn add_span(&mut self, start: Option<&Timestamp>, end: &Timestamp) {
        if self.buckets.is_empty() {
            return;
        }
        let end_k = self.index(end);
        let start_ms = start.map(|s| s.ms);
        for (i, b) in self.buckets.iter_mut().enumerate() {
            let k = self.first + i as i64;
            if k > end_k {
                break;
            }
            let b_start = k * self.width_ms - self.shift_ms.unwrap_or(0);
            let b_end = b_start + self.width_ms;
            if start_ms.is_some_and(|s| s >= b_end) {
                continue;
            }
            let covers_start = start_ms.is_none_or(|s| s <= b_start);
            if covers_start {
                b.start_active += 1;
            }
            if end.ms >= b_end {
                b.active += 1;
            }
            b.peak.raise_between(start_ms.unwrap_or(i64::MIN), end.ms, covers_start);
        }
    }

    /// The buckets, oldest first, with their start instants.
    pub(crate) fn buckets(&self) -> impl Iterator<Item = (i64, &Bucket)> {
        self.buckets.iter().enumerate().map(|(i, b)| (self.start_ms(self.first + i as i64), b))
    }

    /// Every bucket's peak tracker (for sessions opened, confirmed, or
    /// taken back): the newest two, where unconfirmed sessions live.
    pub(crate) fn recent_peaks(&mut self) -> impl Iterator<Item = &mut Peak> {
        let n = self.buckets.len();
        self.buckets.iter_mut().skip(n.saturating_sub(2)).map(|b| &mut b.peak)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn buckets_follow_log_time_and_carry_active() {
        let mut h = History::new(std::time::Duration::from_secs(600));
        h.at(&t("2025-03-01 10:03:00 UTC"), 0).connections += 1;
        h.at(&t("2025-03-01 10:34:00 UTC"), 5).connections += 1;
        let b: Vec<_> = h.buckets().collect();
        assert_eq!(b.len(), 4, "10:00, 10:10, 10:20, 10:30");
        assert_eq!(b[0].0, t("2025-03-01 10:00:00 UTC").ms);
        assert_eq!(b[1].1.connections, 0);
        assert_eq!(b[3].1.connections, 1);
    }

    #[test]
    fn local_midnight_for_daily_buckets() {
        let mut h = History::new(std::time::Duration::from_secs(86_400));
        h.at(&t("2025-03-01 23:30:00 CET"), 0);
        h.at(&t("2025-03-02 00:30:00 CET"), 0);
        let b: Vec<_> = h.buckets().collect();
        assert_eq!(b.len(), 2);
        assert_eq!(b[1].0, t("2025-03-02 00:00:00 CET").ms);
    }

    #[test]
    fn width_doubles_to_stay_bounded() {
        let mut h = History::new(std::time::Duration::from_secs(1));
        let mut ts = t("2025-03-01 00:00:00 UTC");
        for _ in 0..(MAX_BUCKETS as i64 * 3) {
            ts.ms += 1000;
            h.at(&ts, 0).connections += 1;
        }
        assert!(h.buckets.len() <= MAX_BUCKETS);
        assert!(h.doubled >= 1);
        let total: u64 = h.buckets().map(|(_, b)| b.connections).sum();
        assert_eq!(total, MAX_BUCKETS as u64 * 3);
    }

    #[test]
    fn a_span_counts_in_every_bucket_it_covered() {
        let mut h = History::new(std::time::Duration::from_secs(10));
        let start = t("2025-03-01 10:00:00 UTC");
        for s in 0..4 {
            let mut ts = start;
            ts.ms += s * 10_000 + 5_000;
            h.at(&ts, 0);
        }
        let mut end = start;
        end.ms += 25_000;
        h.add_span(None, &end);
        let b: Vec<_> = h.buckets().map(|(_, b)| (b.start_active, b.active, b.peak().0)).collect();
        assert_eq!(b, vec![(1, 1, 1), (1, 1, 1), (1, 0, 1), (0, 0, 0)]);
    }
}
