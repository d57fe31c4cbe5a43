//! The failure book: failed attempts by reason with samples, DETAIL lines
//! that amend the failure before them, and the brute-force view.

use std::collections::VecDeque;

use crate::event::{ProbeKind, Reason};
use crate::intern::Sym;
use crate::time::Timestamp;

use super::session::State;
use super::snapshot::{BruteForce, Change, Names, ReasonDetail};
use super::{APP, HOST, Tracker};

/// The last failure seen, so that a DETAIL line can refine its reason.
#[derive(Clone, Copy)]
pub(super) struct LastFailure {
    pid: Option<u32>,
    reason: Reason,
    counted: bool,
    /// Its line was kept as a sample.
    sampled: bool,
    time: Option<Timestamp>,
    /// Its reason's first and last time before it was counted, to put back
    /// if a DETAIL line moves it to another reason.
    before: (Option<Timestamp>, Option<Timestamp>),
}

/// How many raw lines are kept per failure reason.
const SAMPLES: usize = 3;

/// Failed attempts from one host, for the brute-force view.
#[derive(Default)]
pub(super) struct HostFailures {
    total: u64,
    /// Distinct roles tried (up to `MAX_ROLES`).
    roles: Vec<Sym>,
    /// Recent failures (ms, role), oldest first, within the window.
    window: VecDeque<(i64, Sym)>,
    /// The most failures, and distinct roles, seen within one window.
    worst: u64,
    worst_roles: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

const MAX_ROLES: usize = 256;

impl Tracker {
    /// Counts a failed attempt. An unknown name is `UNSET` and not counted
    /// (the application is known only for an authorized attempt).
    /// `after_authorization`: the attempt was counted, and shown, as a
    /// connection first.
    pub(super) fn count_failure(
        &mut self,
        pid: Option<u32>,
        reason: Reason,
        names: Names,
        counted: bool,
        after_authorization: bool,
        raw: &[u8],
    ) {
        let now = self.now;
        let detail = &mut self.failure_detail[reason as usize];
        self.last_failure = Some(LastFailure {
            pid,
            reason,
            counted,
            sampled: false,
            time: now,
            before: (detail.first, detail.last),
        });
        if !counted {
            return;
        }
        self.totals.matched += 1;
        self.totals.failures[reason as usize] += 1;
        if names.db == Sym::UNSET {
            self.totals.failures_without_db += 1;
        }
        detail.first = detail.first.or(now);
        detail.last = now.or(detail.last);
        let raw = &raw[..raw.len().min(400)];
        if detail.samples.len() < SAMPLES && !raw.is_empty() {
            detail.samples.push(String::from_utf8_lossy(raw).into_owned());
            if let Some(f) = self.last_failure.as_mut() {
                f.sampled = true;
            }
        } else if reason == Reason::Password {
            // Kept until the DETAIL line that may move it to a reason with
            // room for a sample (one buffer, reused).
            self.last_failure_raw.clear();
            self.last_failure_raw.extend_from_slice(raw);
        }
        if reason.is_guessing() {
            self.brute_force_count(&names);
        }
        if let Some(b) = self.bucket() {
            b.failures += 1;
        }
        for (d, sym) in names.dims() {
            if sym != Sym::UNSET || (d == APP && names.app_known) {
                self.row(d, sym).failures += 1;
            }
        }
        self.record(Change::Failure { time: self.now, pid, names, reason, after_authorization });
    }

    /// Counts a failure for its host's sliding window.
    pub(super) fn brute_force_count(&mut self, names: &Names) {
        let (Some(now), host) = (self.now, names.host) else { return };
        if host == Sym::UNSET || host == Sym::OTHER {
            return;
        }
        let (n, window_ms) = self.brute_rule;
        let h = self.brute.entry(host).or_default();
        h.total += 1;
        h.first = h.first.or(Some(now));
        h.last = Some(now);
        let role = names.user;
        if role != Sym::UNSET && h.roles.len() < MAX_ROLES && !h.roles.contains(&role) {
            h.roles.push(role);
        }
        h.window.push_back((now.ms, role));
        while h.window.front().is_some_and(|&(t, _)| now.ms - t > window_ms) {
            h.window.pop_front();
        }
        // A window never needs more than a few times the threshold.
        while h.window.len() as u64 > n * 4 {
            h.window.pop_front();
        }
        let in_window = h.window.len() as u64;
        h.worst = h.worst.max(in_window);
        // Roles within the window matter only for hosts over the threshold.
        if in_window >= n {
            let mut roles: Vec<Sym> =
                h.window.iter().map(|&(_, r)| r).filter(|&r| r != Sym::UNSET).collect();
            roles.sort_unstable();
            roles.dedup();
            h.worst_roles = h.worst_roles.max(roles.len() as u64);
        }
    }

    /// A DETAIL line that names why the password failure just before it
    /// failed (`Role "x" does not exist.`, an expired password, ...): that
    /// failure moves to the finer reason, with its sample and its time, in
    /// every view. Both reasons count toward brute force alike.
    pub(super) fn amend(&mut self, pid: Option<u32>, to: Reason) {
        let Some(f) = self.last_failure.take() else { return };
        if f.pid != pid || f.reason != Reason::Password || to == Reason::Password || !f.counted {
            return;
        }
        let from = Reason::Password;
        self.totals.failures[from as usize] -= 1;
        self.totals.failures[to as usize] += 1;
        let old = &mut self.failure_detail[from as usize];
        let sample = if f.sampled {
            old.samples.pop()
        } else {
            (!self.last_failure_raw.is_empty())
                .then(|| String::from_utf8_lossy(&self.last_failure_raw).into_owned())
        };
        self.last_failure_raw.clear();
        // The first and last time it had before this failure: exact when
        // this was its newest (it always is, the DETAIL follows at once).
        (old.first, old.last) = f.before;
        let detail = &mut self.failure_detail[to as usize];
        detail.first = detail.first.or(f.time);
        detail.last = f.time.or(detail.last);
        if let Some(line) = sample
            && detail.samples.len() < SAMPLES
        {
            detail.samples.push(line);
        }
        // Amend the failure if the watch stream has not shown it yet, or
        // say so in a change of its own (not a second failure).
        let now = self.now;
        if let Some(changes) = self.changes.as_mut() {
            match changes.iter_mut().rev().find_map(|c| match c {
                Change::Failure { pid: p, reason, .. } if *p == pid => Some(reason),
                _ => None,
            }) {
                Some(reason) if *reason == from => *reason = to,
                _ => changes.push(Change::Reclassified { time: now, pid, from, reason: to }),
            }
        }
    }

    /// A connection that ended before it asked to authenticate: counted
    /// apart from failures, by host. Its attempt is over.
    pub(super) fn probe(&mut self, pid: Option<u32>, kind: ProbeKind, host: Option<&[u8]>) {
        let (host, port) = match pid.and_then(|p| self.sessions.get(&p).map(|s| (p, *s))) {
            Some((p, s)) if s.state == State::Received => {
                self.sessions.remove(&p);
                (s.host, s.port)
            }
            // An authorized session sends no startup packet.
            Some(_) => return,
            None => (self.intern(HOST, host), None),
        };
        let names = Names::attempt(Sym::UNSET, Sym::UNSET, host, port);
        if !self.matches(&names) {
            return;
        }
        self.totals.matched += 1;
        self.totals.probes[kind as usize] += 1;
        if host != Sym::UNSET {
            self.row(HOST, host).probes += 1;
        }
        self.record(Change::Probe { time: self.now, pid, names, kind });
    }
}

impl Tracker {
    /// Sets the brute-force threshold: `n` failures from one host within
    /// `window`.
    pub(crate) fn set_brute_force(&mut self, n: u64, window: std::time::Duration) {
        self.brute_rule = (n.max(1), window.as_millis() as i64);
    }

    /// Failure reasons with their first and last time and samples, most
    /// frequent first.
    pub(crate) fn failure_details(&self) -> Vec<(Reason, u64, ReasonDetail)> {
        let mut out: Vec<_> = Reason::ALL
            .iter()
            .map(|&r| {
                (r, self.totals.failures[r as usize], self.failure_detail[r as usize].clone())
            })
            .filter(|(_, n, _)| *n > 0)
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    /// Hosts with at least the threshold of failures within one window.
    pub(crate) fn brute_force(&self) -> Vec<BruteForce> {
        let mut out: Vec<BruteForce> = self
            .brute
            .iter()
            .filter(|(_, h)| h.worst >= self.brute_rule.0)
            .map(|(&sym, h)| BruteForce {
                host: self.names[HOST].name(sym).to_vec(),
                failures: h.total,
                roles: h.roles.len() as u64,
                worst: h.worst,
                worst_roles: h.worst_roles,
                first: h.first,
                last: h.last,
            })
            .collect();
        out.sort_by(|a, b| b.failures.cmp(&a.failures).then(a.host.cmp(&b.host)));
        out
    }

    pub(crate) fn brute_rule(&self) -> (u64, i64) {
        self.brute_rule
    }
}
