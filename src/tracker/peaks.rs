//! Peaks and leaks: the peak bookkeeping of the whole log and of the
//! history buckets, the timeline, and the leak hints.

use std::collections::HashMap;

use crate::args::Dimension;
use crate::intern::Sym;
use crate::time::Timestamp;

use super::session::State;
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

    /// Names (application, user, host) with at least 3 sessions open that
    /// were opened over 3 bucket widths or more with (almost) none of that
    /// name's sessions closing since.
    pub(super) fn leaks(&self) -> Vec<Leak> {
        let Some(now) = self.last else { return Vec::new() };
        let min_span = self.history.width_ms() * 3;
        let mut out = Vec::new();
        for (dimension, d) in
            [(Dimension::Application, APP), (Dimension::User, USER), (Dimension::Host, HOST)]
        {
            // Open sessions per name: how many, and since when.
            let mut open: HashMap<Sym, (u64, Timestamp)> = HashMap::new();
            for s in self.sessions.values() {
                let sym = s.dims()[d].1;
                if s.state != State::Active || !s.counted || s.replication || sym == Sym::OTHER {
                    continue;
                }
                let Some(since) = s.since else { continue };
                let e = open.entry(sym).or_insert((0, since));
                e.0 += 1;
                if since.ms < e.1.ms {
                    e.1 = since;
                }
            }
            for (sym, (n, since)) in open {
                let span = now.ms - since.ms;
                let row = &self.rows[d][sym.0 as usize];
                let closed = row.recent_closes.iter().filter(|&&c| c >= since.ms).count() as u64;
                if n >= 3 && span >= min_span && closed <= n / 10 {
                    out.push(Leak {
                        dimension,
                        name: self.names[d].name(sym).to_vec(),
                        open: n,
                        since,
                        per_minute: n as f64 / (span as f64 / 60_000.0),
                    });
                }
            }
        }
        out.sort_by(|a, b| b.open.cmp(&a.open).then(a.name.cmp(&b.name)));
        out.truncate(10);
        out
    }
}

impl Tracker {
    /// The timeline, oldest bucket first.
    pub(crate) fn timeline(&self) -> Timeline {
        let zone = self.first.or(self.last);
        let width = self.history.width_ms();
        let rows = self
            .history
            .buckets()
            .filter_map(|(start, b)| {
                let start = zone?.with_ms(start);
                let (peak, at) = b.peak();
                let lower_bound = !self.clean_start
                    && self.reset_at.is_none_or(|r| start.ms < r.ms)
                    && self.totals.with_pid + self.totals.without_pid > 0;
                let _ = at;
                Some(BucketRow {
                    start,
                    end: start.shifted(width),
                    connections: b.connections,
                    disconnections: b.disconnections,
                    failures: b.failures,
                    net: b.active as i64 - b.start_active as i64,
                    active: b.active,
                    peak,
                    lower_bound,
                })
            })
            .collect();
        Timeline { width_ms: width, doubled: self.history.doubled, rows }
    }
}
