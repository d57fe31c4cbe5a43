//! The session model: events in, counters and open sessions out.
//!
//! Sessions are keyed by backend pid. A pid goes
//! `received -> active -> gone`:
//!
//! - `connection received` opens an *attempt*; with nothing after it (a
//!   health check, a client that gave up at the password prompt) it ends as
//!   *abandoned* when its pid is reused, the server restarts, or the report
//!   is made.
//! - `connection authorized` makes it a *session*. A startup FATAL right
//!   after it (missing database, connection limits, reserved slots, role
//!   not permitted to log in) turns it back into a *failed attempt*: it
//!   leaves the connection counts and never counts toward the peak.
//! - `disconnection` ends it, with its session time. A restart, crash or
//!   shutdown ends every open session without such a line; so does a new
//!   session on the same pid.
//!
//! Without a pid in the log, the tracker counts what the messages carry:
//! connections by user, database and application, disconnections by user,
//! database and host, failures by reason. Active counts are then
//! connections minus disconnections, and the breakdowns that need a pid
//! are reported as unavailable.
//!
//! Memory is bounded: at most `MAX_SESSIONS` open pids and `MAX_NAMES`
//! names per breakdown (the rest fold into `(other)`).
//!
//! One concern per file:
//!
//! - `mod.rs`: the `Tracker`, names and filters, and where each event goes;
//! - `session.rs`: the pid table and the session lifecycle, restarts;
//! - `pidless.rs`: logs without pids;
//! - `failures.rs`: the failure book, DETAIL amendments, brute force;
//! - `access.rs`: TLS, GSS, authentication methods, setup durations;
//! - `peaks.rs`: peak bookkeeping, the timeline, leak hints;
//! - `counters.rs`: the whole log's and each name's counters;
//! - `snapshot.rs`: what the renderers read (they never see the tracker).

mod access;
mod counters;
mod failures;
mod peaks;
mod pidless;
mod session;
mod snapshot;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use crate::args::Dimension;
use crate::event::{EndCause, Event, EventKind, Reason};
use crate::filter::{Filter, Subject};
use crate::history::{Bucket, History};
use crate::intern::{Interner, Sym};
use crate::peak::Peak;
use crate::sketch::Sketch;
use crate::time::Timestamp;

pub(crate) use access::Access;
pub(crate) use counters::{Row, Totals};
pub(crate) use peaks::{LEAK_SESSIONS, LEAK_SPAN_MS};
pub(crate) use snapshot::*;

use failures::{HostFailures, LastFailure};
use session::{Session, State};

pub(crate) const MAX_SESSIONS: usize = 100_000;
pub(crate) const MAX_NAMES: usize = 10_000;

pub(crate) struct Tracker {
    filter: Filter,
    sessions: HashMap<u32, Session, foldhash::fast::RandomState>,
    /// The session table is full of authorized sessions (see `open`).
    saturated: bool,
    names: [Interner; 4],
    rows: [Vec<Row>; 4],
    sketch: Sketch,
    peak: Peak,
    pub(crate) first: Option<Timestamp>,
    pub(crate) last: Option<Timestamp>,
    last_failure: Option<LastFailure>,
    /// Without pids: unconfirmed sessions, for a FATAL that cancels one.
    pidless_recent: Vec<Session>,
    /// Pids of sessions from before the log whose abnormal end was counted
    /// (a few hundred at most, oldest first).
    ended_unseen: Vec<u32>,
    /// The line of the last password failure that was not kept as a
    /// sample (see `amend`).
    last_failure_raw: Vec<u8>,
    /// Sessions known only from their disconnection: (start, end) ms.
    spans: Vec<(i64, i64)>,
    next_id: u64,
    pub(crate) totals: Totals,
    pub(crate) access: Access,
    pub(crate) history: History,
    failure_detail: Vec<ReasonDetail>,
    brute: HashMap<Sym, HostFailures, foldhash::fast::RandomState>,
    brute_rule: (u64, i64),
    /// The first restart or shutdown: before it, sessions from before the
    /// log may have been open, unseen.
    reset_at: Option<Timestamp>,
    clean_start: bool,
    /// See `mark_reset`.
    after_reset: bool,
    /// The time of the event being applied.
    now: Option<Timestamp>,
    changes: Option<Vec<Change>>,
    /// With the watch stream: the address of each pid whose host was past
    /// the bound of names kept, so that its lines show it, not `(other)`
    /// (a scan or a password spray from many addresses is what fail2ban
    /// reads the stream for). At most `MAX_SESSIONS`: emptied when full.
    overflowed_hosts: HashMap<u32, Box<[u8]>, foldhash::fast::RandomState>,
    /// The addresses the recorded changes point to (`Names::raw_host`),
    /// and those of the changes last taken, which `dictionary` reads.
    change_hosts: Vec<Box<[u8]>>,
    taken_hosts: Vec<Box<[u8]>>,
}

fn dim(d: Dimension) -> usize {
    d.index()
}

/// Session ids from here on are not pids (logs without pids).
const PSEUDO_IDS: u64 = 1 << 40;

const DB: usize = 0;

const USER: usize = 1;

const APP: usize = 2;

const HOST: usize = 3;

impl Tracker {
    pub(crate) fn new(filter: Filter, bucket: std::time::Duration) -> Tracker {
        debug_assert_eq!(dim(Dimension::Database), DB);
        debug_assert_eq!(dim(Dimension::User), USER);
        debug_assert_eq!(dim(Dimension::Application), APP);
        debug_assert_eq!(dim(Dimension::Host), HOST);
        Tracker {
            filter,
            sessions: HashMap::default(),
            saturated: false,
            names: std::array::from_fn(|_| Interner::new(MAX_NAMES)),
            rows: std::array::from_fn(|_| vec![Row::default(); 2]),
            sketch: Sketch::new(),
            peak: Peak::default(),
            first: None,
            last: None,
            last_failure: None,
            pidless_recent: Vec::new(),
            ended_unseen: Vec::new(),
            last_failure_raw: Vec::new(),
            spans: Vec::new(),
            next_id: PSEUDO_IDS,
            totals: Totals::default(),
            access: Access::new(),
            history: History::new(bucket),
            failure_detail: vec![ReasonDetail::default(); Reason::ALL.len()],
            brute: HashMap::default(),
            brute_rule: (10, 60_000),
            reset_at: None,
            clean_start: false,
            after_reset: false,
            now: None,
            changes: None,
            overflowed_hosts: HashMap::default(),
            change_hosts: Vec::new(),
            taken_hosts: Vec::new(),
        }
    }

    /// The statistics were reset (SIGHUP) before this tracker began: the
    /// sessions open then are unseen, because of the reset, not because
    /// the log lacks a server start.
    pub(crate) fn mark_reset(&mut self) {
        self.after_reset = true;
    }

    /// Whether sessions can be followed one by one: the log has pids (or
    /// has no events yet).
    pub(crate) fn has_pids(&self) -> bool {
        self.totals.with_pid > 0 || self.totals.without_pid == 0
    }

    /// Starts recording a `Change` per event (for the watch stream).
    pub(crate) fn record_changes(&mut self) {
        self.changes.get_or_insert_with(Vec::new);
    }

    /// The changes recorded since the last call (their names are in
    /// `dictionary` until the next call).
    pub(crate) fn take_changes(&mut self, into: &mut Vec<Change>) {
        if let Some(c) = self.changes.as_mut() {
            into.append(c);
            self.taken_hosts = std::mem::take(&mut self.change_hosts);
        }
    }

    /// Records `change` for the watch stream (nothing otherwise: this
    /// check is all the summary pays).
    #[inline]
    fn record(&mut self, change: Change) {
        if self.changes.is_some() {
            self.record_change(change);
        }
    }

    fn record_change(&mut self, mut change: Change) {
        let Some(changes) = self.changes.as_mut() else { return };
        if !self.overflowed_hosts.is_empty() {
            let named = match &mut change {
                Change::Connect { pid: Some(p), names, .. }
                | Change::Disconnect { pid: Some(p), names, .. }
                | Change::Failure { pid: Some(p), names, .. }
                | Change::Probe { pid: Some(p), names, .. } => Some((*p, names)),
                _ => None,
            };
            if let Some((pid, names)) = named
                && names.host == Sym::OTHER
                && let Some(raw) = self.overflowed_hosts.get(&pid)
            {
                names.raw_host = Some(self.change_hosts.len() as u32);
                self.change_hosts.push(raw.clone());
            }
        }
        changes.push(change);
    }

    /// With the watch stream (the caller checks), keeps the address of
    /// `pid` when its host `sym` is past the bound of names kept (see
    /// `overflowed_hosts`).
    fn keep_overflowed_host(&mut self, pid: u32, sym: Sym, host: &[u8]) {
        if sym == Sym::OTHER {
            if self.overflowed_hosts.len() >= MAX_SESSIONS {
                self.overflowed_hosts.clear();
            }
            self.overflowed_hosts.insert(pid, host.into());
        } else if !self.overflowed_hosts.is_empty() {
            self.overflowed_hosts.remove(&pid);
        }
    }

    /// The names behind the symbols of `Change`s.
    pub(crate) fn dictionary(&self) -> Dictionary<'_> {
        Dictionary(&self.names, &self.taken_hosts)
    }

    #[inline]
    fn intern(&mut self, d: usize, name: Option<&[u8]>) -> Sym {
        match name {
            Some(n) if !n.is_empty() => {
                let sym = self.names[d].intern(n);
                if self.rows[d].len() < self.names[d].len() {
                    self.rows[d].resize(self.names[d].len(), Row::default());
                }
                sym
            }
            _ => Sym::UNSET,
        }
    }

    fn name_of(&self, d: usize, sym: Sym) -> Option<&[u8]> {
        (sym != Sym::UNSET).then(|| self.names[d].name(sym))
    }

    fn matches(&self, n: &Names) -> bool {
        if self.filter.is_empty() {
            return true;
        }
        // An application the client did not set matches "(unset)"; one the
        // log does not tell matches no application filter.
        let app = match (n.app_known, n.app) {
            (false, _) => None,
            (true, Sym::UNSET) => Some(&b"(unset)"[..]),
            (true, a) => self.name_of(APP, a),
        };
        self.filter.matches(&Subject {
            db: self.name_of(DB, n.db),
            user: self.name_of(USER, n.user),
            app,
            host: self.name_of(HOST, n.host),
        })
    }

    fn row(&mut self, d: usize, sym: Sym) -> &mut Row {
        &mut self.rows[d][sym.0 as usize]
    }

    /// Applies one event.
    pub(crate) fn apply(&mut self, ev: &Event<'_>) {
        self.now = ev.meta.time;
        if let Some(t) = ev.meta.time {
            if let Some(zone) = t.unknown_zone() {
                self.unknown_zone(zone);
            }
            if self.first.is_none_or(|f| t.ms < f.ms) {
                self.first = Some(t);
            }
            if self.last.is_none_or(|l| t.ms > l.ms) {
                self.last = Some(t);
            }
            self.peak.advance(t);
            self.history.at(&t, self.totals.active);
            for p in self.history.recent_peaks() {
                p.advance(t);
            }
        }
        self.apply_event(ev);
        if let Some(t) = ev.meta.time {
            self.history.at(&t, self.totals.active).active = self.totals.active;
        }
    }

    /// Counts a time whose zone pgconn does not know.
    #[cold]
    fn unknown_zone(&mut self, zone: &[u8]) {
        let t = &mut self.totals;
        t.unknown_zone_times += 1;
        if t.unknown_zones.len() < 4 && !t.unknown_zones.iter().any(|z| z == zone) {
            t.unknown_zones.push(zone.to_vec());
        }
    }

    /// The current event's history bucket.
    fn bucket(&mut self) -> Option<&mut Bucket> {
        let t = self.now?;
        Some(self.history.at(&t, self.totals.active))
    }

    fn apply_event(&mut self, ev: &Event<'_>) {
        match ev.kind {
            EventKind::Server(s) => {
                self.totals.server_events += 1;
                self.server(s);
                return;
            }
            EventKind::ChildCrashed { pid } => {
                let s = self.sessions.remove(&pid);
                let ended = s.is_some_and(|s| s.state == State::Active && s.counted);
                if let Some(s) = s {
                    self.end_silently(s, EndCause::Crash);
                }
                self.record(Change::Crash { time: self.now, pid, ended });
                return;
            }
            _ => {}
        }
        self.totals.events += 1;
        match ev.kind {
            EventKind::Received { .. } => self.totals.seen_received += 1,
            EventKind::Authorized { .. } => self.totals.seen_authorized += 1,
            EventKind::Disconnected { .. } => self.totals.seen_disconnections += 1,
            EventKind::OtherFatal { translated: true } => self.totals.translated_fatal += 1,
            _ => {}
        }
        match ev.meta.pid {
            Some(pid) => {
                self.totals.with_pid += 1;
                self.apply_pid(pid, ev);
            }
            None => {
                self.totals.without_pid += 1;
                self.apply_pidless(ev);
            }
        }
    }
}
