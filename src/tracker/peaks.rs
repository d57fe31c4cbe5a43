//! Peaks and leaks: the peak bookkeeping of the whole log and of the
//! history buckets, the timeline, and the leak hints.

use crate::args::Dimension;
use crate::event::EndCause;
use crate::intern::Sym;
use crate::time::Timestamp;

use super::snapshot::{BucketRow, Leak, Timeline};
use super::{APP, HOST, Tracker, USER};

impl Tracker {
    /// Peak bookkeeping, for the whole log and for the history buckets.
    pub(super) fn peak_opened(&mut self, id: u64, at: Option<Timestamp>) {
        let active = self.totals.active;
        self.peak.opened(id, active, at);
        if let Some(b) = self.bucket() {
            b.peak_mut().opened(id, active, at);
        }
    }

    pub(super) fn peak_confirm(&mut self, id: u64) {
        self.peak.confirm(id);
        for p in self.history.recent_peaks() {
            p.confirm(id);
        }
    }

    pub(super) fn peak_cancel(&mut self, id: u64) {
        self.peak.cancel(id);
        for p in self.history.recent_peaks() {
            p.cancel(id);
        }
    }

    /// Leak hints (see `LeakRun`) of applications, users and hosts: the
    /// runs still open and the largest finished one of each name.
    pub(super) fn leaks(&self) -> Vec<Leak> {
        let mut out = Vec::new();
        for (dimension, d) in
            [(Dimension::Application, APP), (Dimension::User, USER), (Dimension::Host, HOST)]
        {
            for (i, row) in self.rows[d].iter().enumerate() {
                let sym = Sym(i as u32);
                if sym == Sym::OTHER || (sym == Sym::UNSET && d != APP) {
                    continue;
                }
                let name = || self.names[d].name(sym).to_vec();
                let run = &row.leak;
                if run.qualifies()
                    && let Some(since) = self.first.or(self.last).map(|z| z.with_ms(run.start_ms))
                {
                    out.push(Leak {
                        dimension,
                        name: name(),
                        open: u64::from(run.open),
                        opened: u64::from(run.opened),
                        since,
                        until: None,
                        per_minute: per_minute(run.opened, since.ms, run.last_ms),
                        ended_by: None,
                    });
                }
                if let Some(p) = &run.past {
                    out.push(Leak {
                        dimension,
                        name: name(),
                        open: 0,
                        opened: u64::from(p.opened),
                        since: p.start,
                        until: Some(p.end),
                        per_minute: per_minute(p.opened, p.start.ms, p.last_ms),
                        ended_by: Some(p.cause),
                    });
                }
            }
        }
        out.sort_by(|a, b| (b.open, b.opened).cmp(&(a.open, a.opened)).then(a.name.cmp(&b.name)));
        out.truncate(10);
        out
    }
}

impl Tracker {
    /// The timeline, oldest bucket first.
    pub(crate) fn timeline(&self) -> Timeline {
        let zone = self.first.or(self.last);
        let width = self.history.width_ms();
        let sweep = self.span_sweep();
        let rows: Vec<BucketRow> = self
            .history
            .buckets()
            .enumerate()
            .filter_map(|(i, (start, b))| {
                let start = zone?.with_ms(start);
                let peak = b.peak().0.max(sweep.per_bucket.get(i).copied().unwrap_or(0));
                let lower_bound = self.lower_bound_at(start.ms);
                Some(BucketRow {
                    start,
                    end: start.shifted(width),
                    connections: b.connections,
                    disconnections: b.disconnections,
                    failures: b.failures,
                    ended: b.ended,
                    before: b.before,
                    net: b.active as i64 - b.start_active as i64,
                    active: b.active,
                    peak,
                    lower_bound,
                })
            })
            .collect();
        let ended_without_line = rows.iter().map(|r| r.ended).sum();
        Timeline {
            width_ms: width,
            doubled: self.history.doubled,
            rows,
            ended_without_line,
            after_reset: self.after_reset,
        }
    }
}

/// At most this many sessions known only from their disconnection are
/// kept for the peak they make among themselves (16 bytes each).
pub(crate) const MAX_SPANS: usize = 262_144;

/// The peak that sessions known only from their disconnection make among
/// themselves: over the whole log (value, when) and per history bucket.
pub(super) struct SpanPeaks {
    pub(super) value: u64,
    pub(super) at_ms: Option<i64>,
    pub(super) per_bucket: Vec<u64>,
}

impl Tracker {
    /// Sweeps the kept spans in time order: a session counts from its
    /// start up to (not at) its end.
    pub(super) fn span_sweep(&self) -> SpanPeaks {
        let mut events: Vec<(i64, i32)> =
            self.spans.iter().flat_map(|&(s, e)| [(s, 1), (e, -1)]).collect();
        // Ends before starts at the same instant.
        events.sort_unstable();
        let width = self.history.width_ms();
        let starts: Vec<i64> = self.history.buckets().map(|(s, _)| s).collect();
        let mut per_bucket = vec![0u64; starts.len()];
        let (mut cur, mut value, mut at_ms) = (0i64, 0u64, None);
        // The bucket the sweep is in (the first one whose end is past it).
        let mut bi = 0;
        for (t, d) in events {
            while bi < starts.len() && t >= starts[bi] + width {
                bi += 1;
                if let Some(p) = per_bucket.get_mut(bi) {
                    // Open across its start.
                    *p = (*p).max(cur.max(0) as u64);
                }
            }
            cur += i64::from(d);
            if d > 0 {
                let n = cur.max(0) as u64;
                if n > value {
                    (value, at_ms) = (n, Some(t));
                }
                if bi < starts.len() && t >= starts[bi] {
                    per_bucket[bi] = per_bucket[bi].max(n);
                }
            }
        }
        SpanPeaks { value, at_ms, per_bucket }
    }

    /// Whether the figures at `ms` are lower bounds: sessions from before
    /// the log may have been open unseen (no start or restart seen before
    /// `ms`), or the log has no connection lines at all (each session is
    /// known from its end alone). The same rule for the summary's peak and
    /// every history bucket.
    pub(super) fn lower_bound_at(&self, ms: i64) -> bool {
        let t = &self.totals;
        let events = t.with_pid + t.without_pid > 0;
        events
            && ((!self.clean_start && self.reset_at.is_none_or(|r| ms < r.ms))
                || self.no_connections())
    }

    /// log_connections off: sessions are known from their end alone. Said
    /// only with evidence (a session that began inside the log ended
    /// without any connection line), not of a log's first lines.
    pub(super) fn no_connections(&self) -> bool {
        let t = &self.totals;
        t.unseen_starts > 0 && t.seen_received == 0 && t.seen_authorized == 0
    }
}

/// Sessions opened per minute, from the first to the last opened.
fn per_minute(opened: u32, first_ms: i64, last_ms: i64) -> f64 {
    f64::from(opened) / ((last_ms - first_ms).max(1) as f64 / 60_000.0)
}

/// The leak rule: at least `LEAK_SESSIONS` sessions of one name opened
/// over at least `LEAK_SPAN_MS` of log time, while none (at most one in
/// ten) of that name's sessions closed normally. The run ends when a
/// normal close breaks that, or when every session of it has ended
/// abnormally (terminated by an administrator, a timeout, a restart): a
/// run that qualified is then kept, with how it ended. It depends on the
/// sessions alone, not on the history's buckets.
pub(crate) const LEAK_SESSIONS: u32 = 3;
pub(crate) const LEAK_SPAN_MS: i64 = 5_000;

/// One name's current run (see `LEAK_SESSIONS`).
#[derive(Clone, Debug, Default)]
pub(crate) struct LeakRun {
    /// When the first of the run opened (ms; the run is empty while
    /// `opened` is 0).
    start_ms: i64,
    last_ms: i64,
    opened: u32,
    closed: u32,
    /// Sessions of the run still open.
    open: u32,
    /// The largest run that qualified and ended.
    past: Option<Box<PastLeak>>,
}

#[derive(Clone, Debug)]
struct PastLeak {
    start: Timestamp,
    last_ms: i64,
    end: Timestamp,
    opened: u32,
    cause: EndCause,
}

impl LeakRun {
    pub(super) fn qualifies(&self) -> bool {
        self.opened >= LEAK_SESSIONS && self.last_ms - self.start_ms >= LEAK_SPAN_MS
    }

    /// A session of the name opened at `at_ms` (log time).
    #[inline]
    pub(super) fn opened(&mut self, at_ms: i64) {
        if self.opened == 0 {
            self.start_ms = at_ms;
        }
        self.opened += 1;
        self.open += 1;
        self.last_ms = self.last_ms.max(at_ms);
    }

    /// Takes back `opened` (the attempt failed right after authorization).
    pub(super) fn unopened(&mut self) {
        self.opened = self.opened.saturating_sub(1);
        self.open = self.open.saturating_sub(1);
        if self.opened == 0 {
            self.reset();
        }
    }

    /// A session of the name closed normally.
    pub(super) fn closed(&mut self) {
        self.closed += 1;
        self.open = self.open.saturating_sub(1);
        if self.closed * 10 > self.opened {
            self.reset();
        }
    }

    /// A session of the name ended abnormally; the run ends when none of
    /// it is left open.
    pub(super) fn ended(&mut self, cause: EndCause, at: Option<Timestamp>) {
        self.open = self.open.saturating_sub(1);
        if self.open > 0 {
            return;
        }
        if self.qualifies()
            && let Some(end) = at
            && self.past.as_ref().is_none_or(|p| p.opened <= self.opened)
        {
            let (start, opened) = (end.with_ms(self.start_ms), self.opened);
            self.past =
                Some(Box::new(PastLeak { start, last_ms: self.last_ms, end, opened, cause }));
        }
        self.reset();
    }

    /// Every session of the run ended at once (a restart, without pids).
    pub(super) fn ended_all(&mut self, cause: EndCause, at: Option<Timestamp>) {
        if self.open > 0 {
            self.open = 1;
            self.ended(cause, at);
        }
    }

    fn reset(&mut self) {
        let past = self.past.take();
        *self = LeakRun { past, ..LeakRun::default() };
    }
}
