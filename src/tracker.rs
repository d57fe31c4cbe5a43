//! The session model: events in, counters and open sessions out.
//!
//! Sessions are keyed by backend pid (CLI.md section 3). A pid goes
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

use std::collections::HashMap;

use crate::args::Dimension;
use crate::event::{EndCause, Event, EventKind, Reason, Security, ServerEvent};
use crate::filter::{Filter, Subject};
use crate::history::{Bucket, History};
use crate::intern::{Interner, Sym};
use crate::peak::Peak;
use crate::sketch::{Sketch, SmallSketch};
use crate::time::Timestamp;

pub(crate) const MAX_SESSIONS: usize = 100_000;
pub(crate) const MAX_NAMES: usize = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Received,
    Active,
}

#[derive(Clone, Copy, Debug)]
struct Session {
    state: State,
    /// Peak-tracking id (the pid, or a sequence number without pids).
    id: u64,
    since: Option<Timestamp>,
    host: Sym,
    user: Sym,
    db: Sym,
    app: Sym,
    /// Passes the filters, so it is in the counts.
    counted: bool,
    replication: bool,
    /// Client port (TCP), from `connection received`.
    port: Option<u16>,
    /// How it ended abnormally, once counted (a disconnection line follows).
    abnormal: Option<EndCause>,
    /// Its peak bookkeeping is settled (a later line of its own came).
    confirmed: bool,
    /// Authentication method (`connection authenticated`, 14+), TLS
    /// protocol, GSS encryption: `UNSET` / None when not logged.
    method: Sym,
    tls: Sym,
    gss_encrypted: Option<bool>,
}

impl Session {
    /// Any line of its own but a failure confirms an authorized session
    /// (see peak.rs): whether this line did (the peak is told then).
    fn confirms(&mut self) -> bool {
        let now = self.state == State::Active && !self.confirmed;
        self.confirmed |= now;
        now
    }

    fn names(&self) -> Names {
        Names {
            db: self.db,
            user: self.user,
            app: self.app,
            host: self.host,
            app_known: self.state == State::Active,
            port: self.port,
        }
    }

    fn pid(&self) -> Option<u32> {
        (self.id < PSEUDO_IDS).then_some(self.id as u32)
    }

    /// The session's name in each breakdown.
    fn dims(&self) -> [(usize, Sym); 4] {
        [(DB, self.db), (USER, self.user), (APP, self.app), (HOST, self.host)]
    }
}

/// Counts for one name of one breakdown.
#[derive(Clone, Debug, Default)]
pub(crate) struct Row {
    pub(crate) active: i64,
    pub(crate) connections: u64,
    pub(crate) disconnections: u64,
    pub(crate) failures: u64,
    /// The latest disconnections (ms), newest first, for leak hints.
    recent_closes: [i64; 4],
    /// Session times (ms) of this name's disconnections.
    pub(crate) times: SmallSketch,
}

impl Row {
    fn closed(&mut self, at: Option<Timestamp>, session_ms: u64) {
        self.disconnections += 1;
        self.times.add(session_ms);
        self.recent_closes.rotate_right(1);
        self.recent_closes[0] = at.map_or(0, |t| t.ms);
    }
}

/// A name whose open sessions only grow (CLI.md section 4, leak hints).
#[derive(Clone, Debug)]
pub(crate) struct Leak {
    pub(crate) dimension: Dimension,
    pub(crate) name: Vec<u8>,
    pub(crate) open: u64,
    pub(crate) since: Timestamp,
    pub(crate) per_minute: f64,
}

/// A session's or attempt's names, for the watch stream.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Names {
    pub(crate) db: Sym,
    pub(crate) user: Sym,
    pub(crate) app: Sym,
    pub(crate) host: Sym,
    /// The application is known (an authorized session; `UNSET` then means
    /// the client sent none). Otherwise `app` is not in the log.
    pub(crate) app_known: bool,
    pub(crate) port: Option<u16>,
}

impl Names {
    /// An attempt that was not authorized: its application is unknown.
    fn attempt(db: Sym, user: Sym, host: Sym, port: Option<u16>) -> Names {
        Names { db, user, app: Sym::UNSET, host, app_known: false, port }
    }

    fn dims(&self) -> [(usize, Sym); 4] {
        [(DB, self.db), (USER, self.user), (APP, self.app), (HOST, self.host)]
    }
}

/// What one event changed, in order, for the watch stream (recorded only
/// when asked for, see `Tracker::record_changes`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Change {
    Connect {
        time: Option<Timestamp>,
        pid: Option<u32>,
        names: Names,
        replication: bool,
    },
    Disconnect {
        time: Option<Timestamp>,
        pid: Option<u32>,
        names: Names,
        session_ms: u64,
        cause: Option<EndCause>,
    },
    /// A failed attempt; `after_authorization`: it was shown as a connect
    /// first, and this takes it back.
    Failure {
        time: Option<Timestamp>,
        pid: Option<u32>,
        names: Names,
        reason: Reason,
        after_authorization: bool,
    },
    /// A failure already reported turned out to be `reason` (a DETAIL line
    /// read in a later batch).
    Reclassified {
        time: Option<Timestamp>,
        pid: Option<u32>,
        reason: Reason,
    },
    Server {
        time: Option<Timestamp>,
        event: ServerEvent,
        ended: u64,
    },
    /// A backend was killed; `ended` when it was a session pgconn counted.
    Crash {
        time: Option<Timestamp>,
        pid: u32,
        ended: bool,
    },
}

/// The last failure seen, so that a DETAIL line can refine its reason.
#[derive(Clone, Copy)]
struct LastFailure {
    pid: Option<u32>,
    reason: Reason,
    counted: bool,
    /// Its line was kept as a sample.
    sampled: bool,
}

/// First and last time, and a few raw lines, of one failure reason.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReasonDetail {
    pub(crate) first: Option<Timestamp>,
    pub(crate) last: Option<Timestamp>,
    pub(crate) samples: Vec<String>,
}

/// How many raw lines are kept per failure reason.
const SAMPLES: usize = 3;

/// Failed attempts from one host, for the brute-force view.
#[derive(Default)]
struct HostFailures {
    total: u64,
    /// Distinct roles tried (up to `MAX_ROLES`).
    roles: Vec<Sym>,
    /// Recent failures (ms, role), oldest first, within the window.
    window: std::collections::VecDeque<(i64, Sym)>,
    /// The most failures, and distinct roles, seen within one window.
    worst: u64,
    worst_roles: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

const MAX_ROLES: usize = 256;

/// A host over the brute-force threshold.
#[derive(Clone, Debug)]
pub(crate) struct BruteForce {
    pub(crate) host: Vec<u8>,
    pub(crate) failures: u64,
    pub(crate) roles: u64,
    pub(crate) worst: u64,
    pub(crate) worst_roles: u64,
    pub(crate) first: Option<Timestamp>,
    pub(crate) last: Option<Timestamp>,
}

/// A session open as of the newest line (`--sessions`).
#[derive(Clone, Debug)]
pub(crate) struct OpenSession {
    pub(crate) pid: u32,
    pub(crate) user: Vec<u8>,
    pub(crate) database: Option<Vec<u8>>,
    pub(crate) application: Option<Vec<u8>>,
    pub(crate) host: Option<Vec<u8>>,
    pub(crate) port: Option<u16>,
    pub(crate) since: Option<Timestamp>,
    pub(crate) age_ms: Option<u64>,
    pub(crate) tls: Option<String>,
    pub(crate) replication: bool,
}

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
    /// The time of the event being applied.
    now: Option<Timestamp>,
    changes: Option<Vec<Change>>,
}

/// Whole-log counters.
#[derive(Clone, Debug, Default)]
pub(crate) struct Totals {
    pub(crate) active: u64,
    pub(crate) connections: u64,
    pub(crate) disconnections: u64,
    pub(crate) failures: [u64; Reason::ALL.len()],
    pub(crate) abandoned: u64,
    pub(crate) abnormal: [u64; EndCause::ALL.len()],
    pub(crate) replication_sessions: u64,
    pub(crate) replication_active: u64,
    pub(crate) replication_physical: u64,
    pub(crate) replication_logical: u64,
    /// Connection-related events seen, matching the filters or not.
    pub(crate) events: u64,
    /// Events that passed the filters.
    pub(crate) matched: u64,
    /// Events with a pid / without one.
    pub(crate) with_pid: u64,
    pub(crate) without_pid: u64,
    /// Without pids: attempts and outcomes, to derive abandoned attempts.
    pub(crate) pidless_received: u64,
    pub(crate) pidless_authorized: u64,
    pub(crate) pidless_early_failures: u64,
    /// Disconnections of sessions that began before the log (or whose start
    /// was not logged).
    pub(crate) unknown_start: u64,
    /// Sessions not tracked because the session table was full.
    pub(crate) untracked: u64,
    /// Attempts (`connection received`) not tracked for the same reason;
    /// the ones later authorized are in `untracked` too.
    pub(crate) untracked_attempts: u64,
    pub(crate) server_events: u64,
    /// FATALs pgconn does not know from processes it did not see connect
    /// (many of them, and nothing else, hint at a translated log).
    pub(crate) unknown_fatal: u64,
    /// FATALs pgconn does not know whose text is not English (lc_messages),
    /// whichever process wrote them.
    pub(crate) translated_fatal: u64,
    /// Connection lines seen, matching the filters or not: which of
    /// log_connections and log_disconnections the server had on.
    pub(crate) seen_received: u64,
    pub(crate) seen_authorized: u64,
    pub(crate) seen_disconnections: u64,
    /// Evidence that the server does not log one of them: sessions that
    /// ended without their disconnection line (a new session on their pid,
    /// or open at a clean shutdown's end), and disconnections of sessions
    /// that began after the log's first line without a connection line.
    pub(crate) silent_ends: u64,
    pub(crate) unseen_starts: u64,
    /// Without pids: sessions whose host the log_line_prefix did not give
    /// (no `%h`/`%r`), so the host breakdown cannot be given.
    pub(crate) pidless_hostless: u64,
    /// Failures counted without a database (their message does not name
    /// it, and neither does the prefix or record).
    pub(crate) failures_without_db: u64,
    /// Events whose time has a zone pgconn does not know (or none), and
    /// the first few such zones as written.
    pub(crate) unknown_zone_times: u64,
    pub(crate) unknown_zones: Vec<Vec<u8>>,
}

/// How sessions connected: encryption and authentication (counted once per
/// session, client or replication, that passes the filters).
pub(crate) struct Access {
    /// TLS protocols and authentication methods, as logged.
    pub(crate) protocols: Interner,
    pub(crate) methods: Interner,
    pub(crate) tls: u64,
    pub(crate) by_protocol: Vec<u64>,
    pub(crate) gss: u64,
    pub(crate) gss_encrypted: u64,
    pub(crate) by_method: Vec<u64>,
    /// Password methods over TCP without TLS or GSS encryption.
    pub(crate) password_without_tls: u64,
    /// PostgreSQL 18 setup durations (`connection ready`), microseconds.
    pub(crate) setup_total: Sketch,
    pub(crate) setup_fork: Sketch,
    pub(crate) setup_auth: Sketch,
}

impl Access {
    fn new() -> Access {
        Access {
            protocols: Interner::new(64),
            methods: Interner::new(64),
            tls: 0,
            by_protocol: Vec::new(),
            gss: 0,
            gss_encrypted: 0,
            by_method: Vec::new(),
            password_without_tls: 0,
            setup_total: Sketch::new(),
            setup_fork: Sketch::new(),
            setup_auth: Sketch::new(),
        }
    }

    fn protocol(&mut self, security: &Security<'_>) -> Sym {
        match security.tls {
            None => Sym::UNSET,
            Some(b"") => self.protocols.intern(b"(unknown)"),
            Some(p) => self.protocols.intern(p),
        }
    }

    fn count(list: &mut Vec<u64>, sym: Sym, delta: i64) {
        let i = sym.0 as usize;
        if list.len() <= i {
            list.resize(i + 1, 0);
        }
        list[i] = list[i].saturating_add_signed(delta);
    }

    /// Counts (`delta` 1) or takes back (-1) a session.
    fn add(&mut self, s: &Session, local: bool, delta: i64) {
        let step = |n: &mut u64| *n = n.saturating_add_signed(delta);
        if s.tls != Sym::UNSET {
            step(&mut self.tls);
            Access::count(&mut self.by_protocol, s.tls, delta);
        }
        if let Some(encrypted) = s.gss_encrypted {
            step(&mut self.gss);
            if encrypted {
                step(&mut self.gss_encrypted);
            }
        }
        if s.method != Sym::UNSET {
            Access::count(&mut self.by_method, s.method, delta);
            let password =
                matches!(self.methods.name(s.method), b"password" | b"md5" | b"scram-sha-256");
            let encrypted = s.tls != Sym::UNSET || s.gss_encrypted == Some(true);
            if password && !local && !encrypted {
                step(&mut self.password_without_tls);
            }
        }
    }
}

/// Failures that come after `connection authorized` when read from their
/// message alone (used without pids).
fn after_authorization(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::NoSuchRole
            | Reason::NoSuchDatabase
            | Reason::ReservedSlots
            | Reason::RoleLimit
            | Reason::DatabaseLimit
            | Reason::NotPermitted
    )
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
            next_id: PSEUDO_IDS,
            totals: Totals::default(),
            access: Access::new(),
            history: History::new(bucket),
            failure_detail: vec![ReasonDetail::default(); Reason::ALL.len()],
            brute: HashMap::default(),
            brute_rule: (10, 60_000),
            reset_at: None,
            clean_start: false,
            now: None,
            changes: None,
        }
    }

    /// Starts recording a `Change` per event (for the watch stream).
    pub(crate) fn record_changes(&mut self) {
        self.changes.get_or_insert_with(Vec::new);
    }

    /// The changes recorded since the last call.
    pub(crate) fn take_changes(&mut self, into: &mut Vec<Change>) {
        if let Some(c) = self.changes.as_mut() {
            into.append(c);
        }
    }

    fn record(&mut self, change: Change) {
        if let Some(c) = self.changes.as_mut() {
            c.push(change);
        }
    }

    /// The name behind a symbol of breakdown `d`.
    pub(crate) fn name(&self, d: Dimension, sym: Sym) -> &[u8] {
        self.names[dim(d)].name(sym)
    }

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

    /// Peak bookkeeping, for the whole log and for the history buckets.
    fn peak_opened(&mut self, id: u64, at: Option<Timestamp>) {
        let active = self.totals.active;
        self.peak.opened(id, active, at);
        if let Some(b) = self.bucket() {
            b.peak_mut().opened(id, active, at);
        }
    }

    fn peak_confirm(&mut self, id: u64) {
        self.peak.confirm(id);
        for p in self.history.recent_peaks() {
            p.confirm(id);
        }
    }

    fn peak_cancel(&mut self, id: u64) {
        self.peak.cancel(id);
        for p in self.history.recent_peaks() {
            p.cancel(id);
        }
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

    fn apply_pid(&mut self, pid: u32, ev: &Event<'_>) {
        let meta = &ev.meta;
        // The session's confirmation. The connection lines are left out:
        // they end or replace the session, and `count_close` confirms it
        // then (one hash lookup fewer for each).
        if !matches!(
            ev.kind,
            EventKind::Failure { .. }
                | EventKind::RoleMissing
                | EventKind::OtherFatal { .. }
                | EventKind::Received { .. }
                | EventKind::Authorized { .. }
                | EventKind::Disconnected { .. }
        ) && let Some(s) = self.sessions.get_mut(&pid)
            && s.confirms()
        {
            self.peak_confirm(u64::from(pid));
        }
        match ev.kind {
            EventKind::Received { host, port } => {
                if let Some(old) = self.sessions.remove(&pid) {
                    self.end_silently(old, EndCause::PidReused);
                }
                let host = self.intern(HOST, Some(host));
                self.open(pid, meta.time, host, port);
            }
            EventKind::Authenticated { method } => {
                let method = self.access.methods.intern(method);
                if let Some(s) = self.sessions.get_mut(&pid)
                    && s.state == State::Received
                {
                    s.method = method;
                }
            }
            EventKind::Ready { total_us, fork_us, auth_us } => {
                let counted = match self.sessions.get(&pid) {
                    Some(s) => s.state == State::Active && s.counted,
                    None => self.filter.is_empty(),
                };
                if counted {
                    self.setup(total_us, fork_us, auth_us);
                }
            }
            EventKind::Authorized { user, db, app, replication, security } => {
                let existing = self.sessions.get(&pid).copied();
                let (host, port) = match existing {
                    Some(s) if s.state == State::Received => (s.host, s.port),
                    _ => (self.intern(HOST, meta.host), None),
                };
                if let Some(s) = existing
                    && s.state == State::Active
                {
                    self.sessions.remove(&pid);
                    self.end_silently(s, EndCause::PidReused);
                }
                let user = self.intern(USER, Some(user));
                // A walsender's line has no database; a logical one's
                // prefix or record field has it.
                let db = self.intern(DB, if replication { db.or(meta.db) } else { db });
                let app = self.intern(APP, app);
                let names = Names { db, user, app, host, app_known: true, port };
                let counted = self.matches(&names);
                // The attempt began at its `connection received`.
                let since = match existing {
                    Some(s) if s.state == State::Received => s.since.or(meta.time),
                    _ => meta.time,
                };
                let session = Session {
                    state: State::Active,
                    id: u64::from(pid),
                    since,
                    host,
                    user,
                    db,
                    app,
                    counted,
                    replication,
                    port,
                    abnormal: None,
                    confirmed: false,
                    method: existing.map_or(Sym::UNSET, |s| s.method),
                    tls: self.access.protocol(&security),
                    gss_encrypted: security.gss_encrypted,
                };
                // Still in the table: the attempt this authorizes (an active
                // session of the same pid was removed above).
                let present = existing.is_some_and(|s| s.state != State::Active);
                if !present && self.sessions.len() >= MAX_SESSIONS {
                    self.totals.untracked += 1;
                    if counted && !replication {
                        self.totals.matched += 1;
                        self.totals.connections += 1;
                        for (d, sym) in session.dims() {
                            self.row(d, sym).connections += 1;
                        }
                    }
                    return;
                }
                self.sessions.insert(pid, session);
                if counted {
                    self.totals.matched += 1;
                    self.count_open(&session, meta.time);
                }
            }
            EventKind::Disconnected { session_ms, user, db, host } => {
                match self.sessions.remove(&pid) {
                    Some(s) if s.state == State::Active && s.replication => {
                        if s.counted {
                            self.totals.matched += 1;
                            self.count_close(&s);
                            // Its kind shows now if it did not at the start:
                            // a physical walsender's database is empty.
                            if s.db == Sym::UNSET {
                                if db.is_empty() {
                                    self.totals.replication_physical += 1;
                                } else {
                                    self.totals.replication_logical += 1;
                                }
                            }
                        }
                    }
                    Some(s) if s.state == State::Active => {
                        if s.counted {
                            self.totals.matched += 1;
                            self.count_close(&s);
                            self.totals.disconnections += 1;
                            if let Some(b) = self.bucket() {
                                b.disconnections += 1;
                            }
                            self.sketch.add(session_ms);
                            let now = self.now;
                            for (d, sym) in s.dims() {
                                self.row(d, sym).closed(now, session_ms);
                            }
                            self.record(Change::Disconnect {
                                time: self.now,
                                pid: Some(pid),
                                names: s.names(),
                                session_ms,
                                cause: s.abnormal,
                            });
                        }
                    }
                    other => {
                        if let Some(s) = other {
                            // A received attempt whose authorization was not
                            // logged: it was a session after all.
                            debug_assert_eq!(s.state, State::Received);
                        }
                        self.unlinked_disconnection(Some(pid), session_ms, user, db, host);
                    }
                }
            }
            EventKind::Failure { reason, user, db, host } => match self.sessions.remove(&pid) {
                Some(s) if s.state == State::Active => {
                    // Authorized, then refused: a failed attempt.
                    if s.counted {
                        self.peak_cancel(s.id);
                        self.uncount_open(&s);
                    }
                    self.count_failure(Some(pid), reason, s.names(), s.counted, s.counted, ev.raw);
                }
                s => {
                    let u = self.intern(USER, user.or(meta.user));
                    let d = self.intern(DB, db.or(meta.db));
                    let (h, port) = match s {
                        Some(s) => (s.host, s.port),
                        None => (self.intern(HOST, host.or(meta.host)), None),
                    };
                    let names = Names::attempt(d, u, h, port);
                    let counted = self.matches(&names);
                    self.count_failure(Some(pid), reason, names, counted, false, ev.raw);
                }
            },
            EventKind::RoleMissing => self.role_missing(Some(pid)),
            EventKind::Ended { cause } => self.ended(pid, cause, ev.raw),
            EventKind::OtherFatal { .. } => self.ended(pid, EndCause::Other, ev.raw),
            EventKind::Server(_) | EventKind::ChildCrashed { .. } => {}
        }
    }

    /// A line that ends session `pid` abnormally. Before authorization it
    /// ends the attempt instead: as a failure, unless the client just went
    /// away (then it stays pending and ends as abandoned). `EndCause::Other`
    /// is a FATAL pgconn does not know: from a pid it never saw connect, it
    /// is a background process's and does not count.
    fn ended(&mut self, pid: u32, cause: EndCause, raw: &[u8]) {
        match self.sessions.get_mut(&pid) {
            Some(s) if s.state == State::Active => {
                if s.abnormal.is_none() {
                    s.abnormal = Some(cause);
                    if s.counted {
                        self.totals.abnormal[cause as usize] += 1;
                    }
                }
            }
            Some(s) => {
                if cause != EndCause::ClientLost {
                    let names = Names::attempt(Sym::UNSET, Sym::UNSET, s.host, s.port);
                    self.sessions.remove(&pid);
                    let counted = self.matches(&names);
                    self.count_failure(Some(pid), Reason::Other, names, counted, false, raw);
                }
            }
            None if cause == EndCause::Other => self.totals.unknown_fatal += 1,
            None => {
                if self.filter.is_empty() {
                    self.totals.abnormal[cause as usize] += 1;
                }
            }
        }
    }

    /// A `connection ready` line's durations.
    fn setup(&mut self, total_us: u64, fork_us: u64, auth_us: u64) {
        self.access.setup_total.add(total_us);
        self.access.setup_fork.add(fork_us);
        self.access.setup_auth.add(auth_us);
    }

    /// A new attempt (`connection received`).
    fn open(&mut self, pid: u32, since: Option<Timestamp>, host: Sym, port: Option<u16>) {
        if self.sessions.len() >= MAX_SESSIONS {
            // Attempts that never went further are the cheapest to forget.
            // After a sweep that frees little, the table is full of real
            // sessions: stop sweeping until it has shrunk, or each new
            // attempt would scan it all.
            if !self.saturated {
                let stale: Vec<u32> = self
                    .sessions
                    .iter()
                    .filter(|(_, s)| s.state == State::Received)
                    .map(|(&p, _)| p)
                    .collect();
                for p in stale {
                    if let Some(s) = self.sessions.remove(&p) {
                        self.end_silently(s, EndCause::ServerRestart);
                    }
                }
                self.saturated = self.sessions.len() >= MAX_SESSIONS * 9 / 10;
            }
            if self.sessions.len() >= MAX_SESSIONS {
                self.totals.untracked_attempts += 1;
                return;
            }
        } else if self.sessions.len() < MAX_SESSIONS * 9 / 10 {
            self.saturated = false;
        }
        self.sessions.insert(
            pid,
            Session {
                state: State::Received,
                id: u64::from(pid),
                since,
                host,
                user: Sym::UNSET,
                db: Sym::UNSET,
                app: Sym::UNSET,
                counted: false,
                replication: false,
                port,
                abnormal: None,
                confirmed: false,
                method: Sym::UNSET,
                tls: Sym::UNSET,
                gss_encrypted: None,
            },
        );
    }

    fn count_open(&mut self, s: &Session, at: Option<Timestamp>) {
        self.record(Change::Connect {
            time: self.now,
            pid: s.pid(),
            names: s.names(),
            replication: s.replication,
        });
        let local = self.name_of(HOST, s.host) == Some(b"[local]");
        self.access.add(s, local, 1);
        if s.replication {
            self.totals.replication_sessions += 1;
            self.totals.replication_active += 1;
            // A logical walsender has a database (in %d or the record's
            // field); a physical one shows only at its disconnection.
            if s.db != Sym::UNSET {
                self.totals.replication_logical += 1;
            }
            return;
        }
        self.totals.connections += 1;
        self.totals.active += 1;
        for (d, sym) in s.dims() {
            let row = self.row(d, sym);
            row.connections += 1;
            row.active += 1;
        }
        if let Some(b) = self.bucket() {
            b.connections += 1;
        }
        self.peak_opened(s.id, at);
    }

    /// Takes back `count_open` for an attempt that failed after all.
    fn uncount_open(&mut self, s: &Session) {
        let local = self.name_of(HOST, s.host) == Some(b"[local]");
        self.access.add(s, local, -1);
        if s.replication {
            self.totals.replication_sessions -= 1;
            self.totals.replication_active -= 1;
            if s.db != Sym::UNSET {
                self.totals.replication_logical -= 1;
            }
            return;
        }
        self.totals.connections -= 1;
        self.totals.active -= 1;
        for (d, sym) in s.dims() {
            let row = self.row(d, sym);
            row.connections -= 1;
            row.active -= 1;
        }
        if let Some(b) = self.bucket() {
            b.connections = b.connections.saturating_sub(1);
        }
    }

    fn count_close(&mut self, s: &Session) {
        if !s.confirmed {
            self.peak_confirm(s.id);
        }
        if s.replication {
            self.totals.replication_active -= 1;
            return;
        }
        self.totals.active -= 1;
        for (d, sym) in s.dims() {
            self.row(d, sym).active -= 1;
        }
    }

    /// A session or attempt ends without a line of its own.
    fn end_silently(&mut self, s: Session, cause: EndCause) {
        // A backend that was replaced, or that logged a terminating FATAL,
        // exited: with log_disconnections on, its line would have come.
        if s.state == State::Active && (cause == EndCause::PidReused || s.abnormal.is_some()) {
            self.totals.silent_ends += 1;
        }
        match s.state {
            State::Received => {
                if self.matches(&Names::attempt(Sym::UNSET, Sym::UNSET, s.host, s.port)) {
                    self.totals.abandoned += 1;
                }
            }
            State::Active if s.counted => {
                self.count_close(&s);
                if s.abnormal.is_none() {
                    self.totals.abnormal[cause as usize] += 1;
                }
            }
            State::Active => {}
        }
    }

    /// Counts a failed attempt. An unknown name is `UNSET` and not counted
    /// (the application is known only for an authorized attempt).
    /// `after_authorization`: the attempt was counted, and shown, as a
    /// connection first.
    fn count_failure(
        &mut self,
        pid: Option<u32>,
        reason: Reason,
        names: Names,
        counted: bool,
        after_authorization: bool,
        raw: &[u8],
    ) {
        self.last_failure = Some(LastFailure { pid, reason, counted, sampled: false });
        if !counted {
            return;
        }
        self.totals.matched += 1;
        self.totals.failures[reason as usize] += 1;
        if names.db == Sym::UNSET {
            self.totals.failures_without_db += 1;
        }
        let now = self.now;
        let detail = &mut self.failure_detail[reason as usize];
        detail.first = detail.first.or(now);
        detail.last = now.or(detail.last);
        if detail.samples.len() < SAMPLES && !raw.is_empty() {
            detail.samples.push(String::from_utf8_lossy(&raw[..raw.len().min(400)]).into_owned());
            if let Some(f) = self.last_failure.as_mut() {
                f.sampled = true;
            }
        }
        self.brute_force_count(&names);
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

    /// Sets the brute-force threshold: `n` failures from one host within
    /// `window`.
    pub(crate) fn set_brute_force(&mut self, n: u64, window: std::time::Duration) {
        self.brute_rule = (n.max(1), window.as_millis() as i64);
    }

    /// Counts a failure for its host's sliding window.
    fn brute_force_count(&mut self, names: &Names) {
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

    /// `DETAIL:  Role "x" does not exist.` after a password failure.
    fn role_missing(&mut self, pid: Option<u32>) {
        if let Some(f) = self.last_failure.take()
            && f.pid == pid
            && f.reason == Reason::Password
            && f.counted
        {
            self.totals.failures[Reason::Password as usize] -= 1;
            self.totals.failures[Reason::NoSuchRole as usize] += 1;
            let sample = if f.sampled {
                self.failure_detail[Reason::Password as usize].samples.pop()
            } else {
                None
            };
            let detail = &mut self.failure_detail[Reason::NoSuchRole as usize];
            detail.first = detail.first.or(self.now);
            detail.last = self.now.or(detail.last);
            if let Some(line) = sample
                && detail.samples.len() < SAMPLES
            {
                detail.samples.push(line);
            }
            // Amend the failure if the watch stream has not shown it yet.
            let now = self.now;
            if let Some(changes) = self.changes.as_mut() {
                match changes.last_mut() {
                    Some(Change::Failure { pid: p, reason, .. }) if *p == pid => {
                        *reason = Reason::NoSuchRole;
                    }
                    _ => changes.push(Change::Reclassified {
                        time: now,
                        pid,
                        reason: Reason::NoSuchRole,
                    }),
                }
            }
        }
    }

    /// A disconnection pgconn cannot link to a session it saw begin: one
    /// from before the log, or any disconnection in a log without pids
    /// (then it also ends one of the sessions counted as open).
    fn unlinked_disconnection(
        &mut self,
        pid: Option<u32>,
        session_ms: u64,
        user: &[u8],
        db: &[u8],
        host: &[u8],
    ) {
        // A session that began after the log's first line, whose
        // connection lines are missing.
        if let (Some(end), Some(first)) = (self.now, self.first)
            && end.ms - (session_ms.min(i64::MAX as u64) as i64) > first.ms
        {
            self.totals.unseen_starts += 1;
        }
        let user = self.intern(USER, Some(user));
        let db = self.intern(DB, Some(db));
        let host = self.intern(HOST, Some(host));
        // The application is not in the disconnection line.
        let names = Names::attempt(db, user, host, None);
        if !self.matches(&names) {
            return;
        }
        self.totals.matched += 1;
        self.totals.disconnections += 1;
        if let Some(b) = self.bucket() {
            b.disconnections += 1;
        }
        self.sketch.add(session_ms);
        let now = self.now;
        for (d, sym) in [(DB, db), (USER, user), (HOST, host)] {
            self.row(d, sym).closed(now, session_ms);
        }
        if pid.is_some() {
            self.totals.unknown_start += 1;
            // It was open for `session_ms` before this line: count it in
            // the history (and so in the peak) over that span.
            if let Some(end) = self.now {
                let start = end.shifted(-(session_ms.min(i64::MAX as u64) as i64));
                let start = self.first.filter(|f| start.ms > f.ms).map(|_| start);
                self.history.add_span(start.as_ref(), &end);
            }
        } else {
            self.totals.active = self.totals.active.saturating_sub(1);
            // The host's count is shown only when the prefix gave every
            // session's host (`%h`, `%r`).
            for (d, sym) in [(DB, db), (USER, user), (HOST, host)] {
                let row = self.row(d, sym);
                row.active = (row.active - 1).max(0);
            }
        }
        self.record(Change::Disconnect { time: self.now, pid, names, session_ms, cause: None });
    }

    fn server(&mut self, ev: ServerEvent) {
        let ended = if ev.ends_sessions() { self.totals.active } else { 0 };
        // The startup process logs two lines after a crash; show one.
        let repeat = matches!(
            self.changes.as_ref().and_then(|c| c.last()),
            Some(Change::Server { event, .. }) if *event == ev
        );
        if !repeat || ended > 0 {
            self.record(Change::Server { time: self.now, event: ev, ended });
        }
        if !ev.ends_sessions() {
            return;
        }
        // After a smart or fast shutdown every session has logged its
        // disconnection (an immediate one or a crash ended them before).
        if ev == ServerEvent::Stopped {
            self.totals.silent_ends += ended;
        }
        self.peak.confirm_all();
        for p in self.history.recent_peaks() {
            p.confirm_all();
        }
        if ev.ends_sessions() && self.reset_at.is_none() {
            self.reset_at = self.now.or(self.last);
            // A log that begins with a start has no unseen sessions.
            self.clean_start = self.totals.events == 0;
        }
        let open: Vec<Session> = self.sessions.drain().map(|(_, s)| s).collect();
        for s in open {
            self.end_silently(s, EndCause::ServerRestart);
        }
        // Without pids: every session counted as open is gone.
        if self.totals.active > 0 {
            self.totals.abnormal[EndCause::ServerRestart as usize] += self.totals.active;
            self.totals.active = 0;
            for rows in &mut self.rows {
                for r in rows.iter_mut() {
                    r.active = 0;
                }
            }
        }
        self.pidless_recent.clear();
        self.last_failure = None;
    }

    fn apply_pidless(&mut self, ev: &Event<'_>) {
        let meta = &ev.meta;
        match ev.kind {
            EventKind::Received { .. } => {
                if self.filter.is_empty() {
                    self.totals.pidless_received += 1;
                }
            }
            EventKind::Authenticated { .. } => {}
            EventKind::OtherFatal { .. } => self.totals.unknown_fatal += 1,
            EventKind::Ready { total_us, fork_us, auth_us } => {
                if self.filter.is_empty() {
                    self.setup(total_us, fork_us, auth_us);
                }
            }
            EventKind::Authorized { user, db, app, replication, security } => {
                let user = self.intern(USER, Some(user));
                let db = self.intern(DB, if replication { db.or(meta.db) } else { db });
                let app = self.intern(APP, app);
                let host = self.intern(HOST, meta.host);
                if meta.host.is_none() {
                    self.totals.pidless_hostless += 1;
                }
                if !self.matches(&Names { db, user, app, host, app_known: true, port: None }) {
                    return;
                }
                self.totals.matched += 1;
                if self.filter.is_empty() {
                    self.totals.pidless_authorized += 1;
                }
                self.next_id += 1;
                let s = Session {
                    state: State::Active,
                    id: self.next_id,
                    since: meta.time,
                    host,
                    user,
                    db,
                    app,
                    counted: true,
                    replication,
                    port: None,
                    abnormal: None,
                    confirmed: false,
                    method: Sym::UNSET,
                    tls: self.access.protocol(&security),
                    gss_encrypted: security.gss_encrypted,
                };
                self.count_open(&s, meta.time);
                if !replication {
                    self.pidless_recent.push(s);
                    if self.pidless_recent.len() > 64 {
                        self.pidless_recent.remove(0);
                    }
                }
            }
            EventKind::Disconnected { session_ms, user, db, host } => {
                self.unlinked_disconnection(None, session_ms, user, db, host);
            }
            EventKind::Failure { reason, user, db, host } => {
                let mut names = Names::attempt(
                    self.intern(DB, db.or(meta.db)),
                    self.intern(USER, user.or(meta.user)),
                    self.intern(HOST, host.or(meta.host)),
                    None,
                );
                let mut shown = false;
                if after_authorization(reason) {
                    // Take back the session it was counted as: the most
                    // recent one with the same user (or database).
                    let pick = self.pidless_recent.iter().rposition(|s| {
                        self.peak.is_unconfirmed(s.id)
                            && (names.user == Sym::UNSET || s.user == names.user)
                            && (names.db == Sym::UNSET || s.db == names.db)
                    });
                    if let Some(i) = pick {
                        let s = self.pidless_recent.remove(i);
                        self.peak_cancel(s.id);
                        self.uncount_open(&s);
                        self.totals.matched -= 1;
                        names = s.names();
                        shown = true;
                    }
                } else if self.filter.is_empty() {
                    self.totals.pidless_early_failures += 1;
                }
                let counted = self.matches(&names);
                self.count_failure(None, reason, names, counted, shown, ev.raw);
            }
            EventKind::RoleMissing => self.role_missing(None),
            EventKind::Ended { cause } => {
                if self.filter.is_empty() {
                    self.totals.abnormal[cause as usize] += 1;
                }
            }
            EventKind::Server(_) | EventKind::ChildCrashed { .. } => {}
        }
    }

    /// The figures as of now, for the renderers.
    pub(crate) fn snapshot(&self, top: usize, by: &[Dimension]) -> Snapshot {
        let t = &self.totals;
        let pending = self.sessions.values().filter(|s| s.state == State::Received).count() as u64;
        let pidless = t.with_pid == 0 && t.without_pid > 0;
        let abandoned = if pidless {
            t.pidless_received.saturating_sub(t.pidless_authorized + t.pidless_early_failures)
        } else {
            t.abandoned + pending
        };
        let mut failures_by_reason: Vec<(&'static str, u64)> = Reason::ALL
            .iter()
            .map(|&r| (r.as_str(), t.failures[r as usize]))
            .filter(|&(_, n)| n > 0)
            .collect();
        failures_by_reason.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let abnormal_ends: Vec<(&'static str, u64)> = EndCause::ALL
            .iter()
            .map(|&c| (c.as_str(), t.abnormal[c as usize]))
            .filter(|&(_, n)| n > 0)
            .collect();
        // The exact peak of what the log showed, or a history bucket's,
        // which also counts sessions known only from their disconnection.
        let (mut peak, mut peak_at) = self.peak.get();
        for (_, b) in self.history.buckets() {
            let (v, at) = b.peak();
            if v > peak {
                (peak, peak_at) = (v, at);
            }
        }
        // Before the first restart, sessions from before the log may have
        // been open without a line: the figures are then lower bounds.
        let unseen = |at: Option<Timestamp>| {
            !self.clean_start
                && match (self.reset_at, at) {
                    (None, _) => true,
                    (Some(r), Some(a)) => a.ms < r.ms,
                    (Some(_), None) => false,
                }
        };
        // log_connections off: sessions are known from their end alone,
        // so they are counted from their disconnections, and none is seen
        // open (the figures are at least what the log shows).
        // Said only with evidence (a session that began inside the log
        // ended without any connection line), not of a log's first lines.
        let no_connections = t.unseen_starts > 0 && t.seen_received == 0 && t.seen_authorized == 0;
        // log_disconnections off: sessions are never seen to end but by a
        // restart, so active and peak count sessions that had ended (the
        // note says whether a session was seen to end without its line).
        let no_disconnections = t.seen_authorized > 0 && t.seen_disconnections == 0;
        let peak_lower_bound = self.totals.with_pid + self.totals.without_pid > 0
            && (unseen(peak_at) || no_connections);
        let active_lower_bound = self.totals.with_pid + self.totals.without_pid > 0
            && (self.reset_at.is_none() || no_connections);
        let sessions = (self.sketch.count > 0).then(|| SessionTimes {
            count: self.sketch.count,
            mean_ms: self.sketch.mean().unwrap_or(0.0),
            p50_ms: self.sketch.percentile(50.0).unwrap_or(0),
            p95_ms: self.sketch.percentile(95.0).unwrap_or(0),
            p99_ms: self.sketch.percentile(99.0).unwrap_or(0),
            max_ms: self.sketch.max,
        });
        let hostless = pidless && t.pidless_hostless > 0;
        let mut unavailable = Vec::new();
        if hostless {
            unavailable.push("host (connections and active need %p or %h in log_line_prefix)");
        }
        if pidless {
            unavailable.push("application active (disconnection lines do not name it)");
        }
        let shape = Shape { top, pidless, hostless, no_connections };
        let breakdowns = by.iter().map(|&d| self.breakdown(d, &shape)).collect();
        Snapshot {
            first: self.first,
            last: self.last,
            active: t.active,
            connections: if no_connections { t.disconnections } else { t.connections },
            disconnections: t.disconnections,
            failures: t.failures.iter().sum(),
            failures_by_reason,
            abandoned,
            abnormal_ends,
            replication_sessions: t.replication_sessions,
            replication_physical: t.replication_physical,
            replication_logical: t.replication_logical,
            access: self.access_summary(),
            leaks: self.leaks(),
            brute_force: self.brute_force(),
            replication_active: t.replication_active,
            peak,
            peak_at,
            peak_lower_bound,
            active_lower_bound,
            peak_upper_bound: no_disconnections,
            active_upper_bound: no_disconnections,
            connections_from_disconnections: no_connections,
            sessions,
            breakdowns,
            unavailable,
            unknown_start: t.unknown_start,
            untracked: t.untracked,
            untracked_attempts: t.untracked_attempts,
            folded: self.folded(),
        }
    }

    /// The breakdowns whose distinct names went past `MAX_NAMES` (the rest
    /// count as `(other)`), whether shown or not.
    pub(crate) fn folded(&self) -> Vec<&'static str> {
        [(DB, "database"), (USER, "user"), (APP, "application"), (HOST, "host")]
            .into_iter()
            .filter(|&(d, _)| self.names[d].overflowed)
            .map(|(_, name)| name)
            .collect()
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

    /// The sessions open as of the newest line, oldest first.
    pub(crate) fn open_sessions(&self) -> Vec<OpenSession> {
        let name =
            |d: usize, sym: Sym| (sym != Sym::UNSET).then(|| self.names[d].name(sym).to_vec());
        let mut out: Vec<OpenSession> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.state == State::Active && s.counted)
            .map(|(&pid, s)| OpenSession {
                pid,
                user: self.names[USER].name(s.user).to_vec(),
                database: name(DB, s.db),
                application: Some(name(APP, s.app).unwrap_or_else(|| b"(unset)".to_vec())),
                host: name(HOST, s.host),
                port: s.port,
                since: s.since,
                age_ms: match (self.last, s.since) {
                    (Some(l), Some(t)) => Some((l.ms - t.ms).max(0) as u64),
                    _ => None,
                },
                tls: (s.tls != Sym::UNSET).then(|| {
                    String::from_utf8_lossy(self.access.protocols.name(s.tls)).into_owned()
                }),
                replication: s.replication,
            })
            .collect();
        out.sort_by_key(|s| (s.since.map_or(i64::MAX, |t| t.ms), s.pid));
        out
    }

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

    /// Names (application, user, host) with at least 3 sessions open that
    /// were opened over 3 bucket widths or more with (almost) none of that
    /// name's sessions closing since.
    fn leaks(&self) -> Vec<Leak> {
        let Some(now) = self.last else { return Vec::new() };
        let min_span = self.history.width_ms() * 3;
        let mut out = Vec::new();
        for (dimension, d) in
            [(Dimension::Application, APP), (Dimension::User, USER), (Dimension::Host, HOST)]
        {
            // Open sessions per name: how many, and since when.
            let mut open: std::collections::HashMap<Sym, (u64, Timestamp)> =
                std::collections::HashMap::new();
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

    fn access_summary(&self) -> AccessSummary {
        let a = &self.access;
        let named = |names: &Interner, counts: &[u64]| -> Vec<(String, u64)> {
            let mut v: Vec<(String, u64)> = counts
                .iter()
                .enumerate()
                .filter(|&(_, &n)| n > 0)
                .map(|(i, &n)| (String::from_utf8_lossy(names.name(Sym(i as u32))).into_owned(), n))
                .collect();
            v.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
            v
        };
        let times = |k: &Sketch| Durations {
            p50: k.percentile(50.0).unwrap_or(0),
            p95: k.percentile(95.0).unwrap_or(0),
            p99: k.percentile(99.0).unwrap_or(0),
            max: k.max,
        };
        AccessSummary {
            tls: a.tls,
            tls_by_protocol: named(&a.protocols, &a.by_protocol),
            gss: a.gss,
            gss_encrypted: a.gss_encrypted,
            auth_methods: named(&a.methods, &a.by_method),
            password_without_tls: a.password_without_tls,
            setup: (a.setup_total.count > 0).then(|| Setup {
                count: a.setup_total.count,
                total: times(&a.setup_total),
                fork: times(&a.setup_fork),
                authentication: times(&a.setup_auth),
            }),
        }
    }

    fn breakdown(&self, d: Dimension, shape: &Shape) -> Breakdown {
        let (top, pidless) = (shape.top, shape.pidless);
        let i = dim(d);
        let mut rows: Vec<(Sym, std::borrow::Cow<'_, Row>)> = self.rows[i]
            .iter()
            .enumerate()
            .map(|(s, r)| (Sym(s as u32), r))
            .filter(|(_, r)| {
                r.active > 0 || r.connections > 0 || r.failures > 0 || r.disconnections > 0
            })
            .map(|(s, r)| {
                if shape.no_connections {
                    let mut r = r.clone();
                    r.connections = r.disconnections;
                    (s, std::borrow::Cow::Owned(r))
                } else {
                    (s, std::borrow::Cow::Borrowed(r))
                }
            })
            .collect();
        let label = |sym: Sym| -> &[u8] { self.names[i].name(sym) };
        rows.sort_by(|a, b| {
            b.1.active
                .cmp(&a.1.active)
                .then(b.1.connections.cmp(&a.1.connections))
                .then(b.1.failures.cmp(&a.1.failures))
                .then(label(a.0).cmp(label(b.0)))
        });
        let mut out: Vec<BreakdownRow> = Vec::new();
        let mut other = Row::default();
        let mut folded = 0;
        for (n, (sym, r)) in rows.into_iter().enumerate() {
            if sym == Sym::OTHER || (top > 0 && n >= top) {
                other.active += r.active;
                other.connections += r.connections;
                other.disconnections += r.disconnections;
                other.failures += r.failures;
                folded += 1;
                continue;
            }
            out.push(BreakdownRow { name: label(sym).to_vec(), row: r.into_owned() });
        }
        if folded > 0 {
            out.push(BreakdownRow { name: b"(other)".to_vec(), row: other });
        }
        let host = d == Dimension::Host && shape.hostless;
        let no_active = pidless && (d == Dimension::Application || host);
        Breakdown {
            dimension: d,
            rows: out,
            overflowed: self.names[i].overflowed,
            no_active,
            unavailable: host,
        }
    }
}

/// How the breakdowns are cut, and what the log lets them show.
struct Shape {
    top: usize,
    /// No pid in the log, and (`hostless`) no host in its prefix either.
    pidless: bool,
    hostless: bool,
    /// log_connections was off: connections are counted from
    /// disconnections.
    no_connections: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct SessionTimes {
    pub(crate) count: u64,
    pub(crate) mean_ms: f64,
    pub(crate) p50_ms: u64,
    pub(crate) p95_ms: u64,
    pub(crate) p99_ms: u64,
    pub(crate) max_ms: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct BreakdownRow {
    pub(crate) name: Vec<u8>,
    pub(crate) row: Row,
}

#[derive(Clone, Debug)]
pub(crate) struct Breakdown {
    pub(crate) dimension: Dimension,
    pub(crate) rows: Vec<BreakdownRow>,
    /// More distinct names than pgconn keeps: some are in `(other)`.
    pub(crate) overflowed: bool,
    /// Active counts cannot be given (no pid in the log).
    pub(crate) no_active: bool,
    /// This breakdown cannot be given at all (no pid in the log).
    pub(crate) unavailable: bool,
}

/// One bucket of the timeline.
#[derive(Clone, Debug)]
pub(crate) struct BucketRow {
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    pub(crate) connections: u64,
    pub(crate) disconnections: u64,
    pub(crate) failures: u64,
    /// Sessions open at the end minus at the start.
    pub(crate) net: i64,
    pub(crate) active: u64,
    pub(crate) peak: u64,
    /// Sessions from before the log may have been open, unseen.
    pub(crate) lower_bound: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Timeline {
    pub(crate) width_ms: i64,
    /// How many times the width doubled to bound memory.
    pub(crate) doubled: u32,
    pub(crate) rows: Vec<BucketRow>,
}

/// Percentiles of a duration, in microseconds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Durations {
    pub(crate) p50: u64,
    pub(crate) p95: u64,
    pub(crate) p99: u64,
    pub(crate) max: u64,
}

/// PostgreSQL 18 connection setup durations.
#[derive(Clone, Debug)]
pub(crate) struct Setup {
    pub(crate) count: u64,
    pub(crate) total: Durations,
    pub(crate) fork: Durations,
    pub(crate) authentication: Durations,
}

/// How sessions connected.
#[derive(Clone, Debug)]
pub(crate) struct AccessSummary {
    pub(crate) tls: u64,
    pub(crate) tls_by_protocol: Vec<(String, u64)>,
    pub(crate) gss: u64,
    pub(crate) gss_encrypted: u64,
    pub(crate) auth_methods: Vec<(String, u64)>,
    pub(crate) password_without_tls: u64,
    pub(crate) setup: Option<Setup>,
}

/// Everything a report shows, computed once.
#[derive(Clone, Debug)]
pub(crate) struct Snapshot {
    pub(crate) first: Option<Timestamp>,
    pub(crate) last: Option<Timestamp>,
    pub(crate) active: u64,
    pub(crate) connections: u64,
    pub(crate) disconnections: u64,
    pub(crate) failures: u64,
    pub(crate) failures_by_reason: Vec<(&'static str, u64)>,
    pub(crate) abandoned: u64,
    pub(crate) abnormal_ends: Vec<(&'static str, u64)>,
    pub(crate) replication_sessions: u64,
    pub(crate) replication_active: u64,
    pub(crate) replication_physical: u64,
    pub(crate) replication_logical: u64,
    pub(crate) access: AccessSummary,
    pub(crate) leaks: Vec<Leak>,
    pub(crate) brute_force: Vec<BruteForce>,
    pub(crate) peak: u64,
    pub(crate) peak_at: Option<Timestamp>,
    /// Sessions from before the log may have been open, unseen.
    pub(crate) peak_lower_bound: bool,
    pub(crate) active_lower_bound: bool,
    /// Sessions may have ended unseen (no disconnection lines: the server
    /// has log_disconnections off).
    pub(crate) peak_upper_bound: bool,
    pub(crate) active_upper_bound: bool,
    /// No connection lines (log_connections off): `connections` and each
    /// row's are the disconnections.
    pub(crate) connections_from_disconnections: bool,
    pub(crate) sessions: Option<SessionTimes>,
    pub(crate) breakdowns: Vec<Breakdown>,
    pub(crate) unavailable: Vec<&'static str>,
    pub(crate) unknown_start: u64,
    pub(crate) untracked: u64,
    pub(crate) untracked_attempts: u64,
    /// Breakdowns with names folded into `(other)` (see `Tracker::folded`).
    pub(crate) folded: Vec<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::Stats;
    use crate::parse::stderr::StderrParser;
    use crate::prefix::Prefix;

    fn track_with(filter: Filter, log: &str) -> Snapshot {
        let mut parser = StderrParser::new(Some(Prefix::compile("%m [%p] ").unwrap()));
        let mut tracker = Tracker::new(filter, std::time::Duration::from_secs(900));
        let mut stats = Stats::default();
        parser.process(log.as_bytes(), &mut stats, |ev| tracker.apply(ev));
        assert_eq!(stats.unparsed, 0, "{stats:?}");
        tracker.snapshot(0, &Dimension::ALL)
    }

    fn track(log: &str) -> Snapshot {
        track_with(Filter::default(), log)
    }

    fn ends(s: &Snapshot, cause: &str) -> u64 {
        s.abnormal_ends.iter().find(|(c, _)| *c == cause).map_or(0, |(_, n)| *n)
    }

    const OPEN_2: &str = "\
2025-03-01 10:00:00.000 UTC [10] LOG:  connection received: host=10.0.0.1 port=1
2025-03-01 10:00:00.001 UTC [10] LOG:  connection authorized: user=a database=d application_name=x
2025-03-01 10:00:00.002 UTC [11] LOG:  connection received: host=[local]
2025-03-01 10:00:00.003 UTC [11] LOG:  connection authorized: user=b database=d
";

    #[test]
    fn open_sessions_and_hosts() {
        let s = track(OPEN_2);
        assert_eq!((s.active, s.connections, s.peak), (2, 2, 2));
        let hosts = &s.breakdowns[3].rows;
        assert_eq!(hosts.len(), 2);
        let apps = &s.breakdowns[2].rows;
        assert!(apps.iter().any(|r| r.name == b"(unset)" && r.row.active == 1));
    }

    #[test]
    fn pid_reuse_ends_the_old_session() {
        let log = format!(
            "{OPEN_2}2025-03-01 10:00:05.000 UTC [10] LOG:  connection received: host=10.0.0.2 port=2\n\
             2025-03-01 10:00:05.001 UTC [10] LOG:  connection authorized: user=c database=d\n"
        );
        let s = track(&log);
        assert_eq!((s.active, s.connections), (2, 3));
        assert_eq!(ends(&s, "pid_reused"), 1);
    }

    #[test]
    fn crash_and_restart_end_everything() {
        let log = format!(
            "{OPEN_2}\
2025-03-01 10:00:09.000 UTC [1] LOG:  server process (PID 10) was terminated by signal 9: Killed
2025-03-01 10:00:09.000 UTC [1] LOG:  terminating any other active server processes
2025-03-01 10:00:09.100 UTC [1] LOG:  all server processes terminated; reinitializing
2025-03-01 10:00:09.200 UTC [1] LOG:  database system is ready to accept connections
"
        );
        let s = track(&log);
        assert_eq!((s.active, s.connections, s.disconnections), (0, 2, 0));
        assert_eq!(ends(&s, "crash"), 1);
        assert_eq!(ends(&s, "server_restart"), 1);
    }

    #[test]
    fn terminate_then_disconnection_counts_once() {
        let log = format!(
            "{OPEN_2}\
2025-03-01 10:00:09.402 UTC [10] FATAL:  terminating connection due to administrator command
2025-03-01 10:00:09.402 UTC [10] LOG:  could not send data to client: Broken pipe
2025-03-01 10:00:09.402 UTC [10] LOG:  disconnection: session time: 0:00:09.402 user=a database=d host=10.0.0.1 port=1
"
        );
        let s = track(&log);
        assert_eq!((s.active, s.disconnections, s.failures), (1, 1, 0));
        assert_eq!(ends(&s, "admin_terminate"), 1);
        assert_eq!(ends(&s, "client_lost"), 0);
        assert_eq!(s.sessions.as_ref().unwrap().max_ms, 9402);
    }

    #[test]
    fn disconnection_of_a_session_from_before_the_log() {
        let s = track(
            "2025-03-01 10:00:00.000 UTC [7] LOG:  disconnection: session time: 27:03:04.005 user=a database=d host=[local]\n",
        );
        assert_eq!((s.active, s.connections, s.disconnections, s.unknown_start), (0, 0, 1, 1));
        assert_eq!(s.sessions.as_ref().unwrap().max_ms, 97_384_005);
    }

    #[test]
    fn abandoned_and_early_failures() {
        let s = track(
            "\
2025-03-01 10:00:00.000 UTC [20] LOG:  connection received: host=10.0.0.9 port=1
2025-03-01 10:00:00.000 UTC [21] LOG:  connection received: host=10.0.0.9 port=2
2025-03-01 10:00:00.001 UTC [21] FATAL:  sorry, too many clients already
2025-03-01 10:00:00.000 UTC [22] LOG:  connection received: host=10.0.0.9 port=3
2025-03-01 10:00:00.001 UTC [22] LOG:  incomplete startup packet
",
        );
        assert_eq!((s.abandoned, s.failures), (1, 2));
        let host = &s.breakdowns[3].rows[0];
        assert_eq!((host.name.as_slice(), host.row.failures), (&b"10.0.0.9"[..], 2));
    }

    #[test]
    fn filters_apply_to_sessions() {
        let f = Filter { users: vec!["b".into()], ..Filter::default() };
        let s = track_with(f, OPEN_2);
        assert_eq!((s.active, s.connections), (1, 1));
        let f = Filter { hosts: vec!["10.0.0.0/8".parse().unwrap()], ..Filter::default() };
        let s = track_with(f, OPEN_2);
        assert_eq!((s.active, s.connections), (1, 1));
    }

    #[test]
    fn replication_is_counted_apart() {
        let s = track(
            "2025-03-01 10:00:00.000 UTC [30] LOG:  replication connection authorized: user=rep application_name=walreceiver\n",
        );
        assert_eq!(
            (s.connections, s.active, s.replication_sessions, s.replication_active),
            (0, 0, 1, 1)
        );
    }

    #[test]
    fn session_table_is_bounded() {
        use crate::event::Meta;
        let mut t = Tracker::new(Filter::default(), std::time::Duration::from_secs(900));
        let n = MAX_SESSIONS as u32 + 10;
        for pid in 0..n {
            let meta = Meta { pid: Some(pid), ..Meta::default() };
            let kind = EventKind::Authorized {
                user: b"u",
                db: Some(b"d"),
                app: None,
                replication: false,
                security: Security::default(),
            };
            t.apply(&Event { meta, kind, raw: b"" });
        }
        for pid in n..n + 1000 {
            let meta = Meta { pid: Some(pid), ..Meta::default() };
            t.apply(&Event {
                meta,
                raw: b"",
                kind: EventKind::Received { host: b"10.0.0.1", port: Some(5432) },
            });
        }
        assert!(t.sessions.len() <= MAX_SESSIONS);
        let s = t.snapshot(10, &Dimension::ALL);
        assert_eq!(s.connections, u64::from(n));
        assert_eq!(s.active, MAX_SESSIONS as u64);
        // 10 sessions past the bound, counted once each; 1000 attempts.
        assert_eq!((s.untracked, s.untracked_attempts), (10, 1000));
    }

    #[test]
    fn brute_force_needs_n_failures_within_the_window() {
        let mut log = String::new();
        // 6 failures in 20 s from one host over 3 roles, then 1 much later.
        for (i, user) in ["a", "b", "c", "a", "b", "c"].iter().enumerate() {
            log.push_str(&format!(
                "2025-03-01 10:00:{:02}.000 UTC [{}] LOG:  connection received: host=10.9.9.9 port={}\n\
                 2025-03-01 10:00:{:02}.001 UTC [{}] FATAL:  password authentication failed for user \"{user}\"\n",
                i * 4, 100 + i, 5000 + i, i * 4, 100 + i
            ));
        }
        log.push_str(
            "2025-03-01 11:00:00.000 UTC [200] LOG:  connection received: host=10.8.8.8 port=1\n\
             2025-03-01 11:00:00.001 UTC [200] FATAL:  password authentication failed for user \"x\"\n",
        );
        let mut parser = StderrParser::new(Some(Prefix::compile("%m [%p] ").unwrap()));
        let mut stats = Stats::default();
        let mut t = Tracker::new(Filter::default(), std::time::Duration::from_secs(900));
        t.set_brute_force(5, std::time::Duration::from_secs(30));
        parser.process(log.as_bytes(), &mut stats, |ev| t.apply(ev));
        let flagged = t.brute_force();
        assert_eq!(flagged.len(), 1, "{flagged:?}");
        assert_eq!(flagged[0].host, b"10.9.9.9");
        assert_eq!((flagged[0].failures, flagged[0].roles, flagged[0].worst), (6, 3, 6));
        t.set_brute_force(7, std::time::Duration::from_secs(30));
        assert!(t.brute_force().is_empty(), "6 failures are under 7");
    }

    #[test]
    fn a_daylight_saving_switch_keeps_order_and_buckets() {
        // 01:59 CET and 03:01 CEST are two minutes apart.
        let log = "\
2025-03-30 01:59:00.000 CET [10] LOG:  connection authorized: user=a database=d
2025-03-30 03:01:00.000 CEST [11] LOG:  connection authorized: user=b database=d
";
        let mut parser = StderrParser::new(Some(Prefix::compile("%m [%p] ").unwrap()));
        let mut stats = Stats::default();
        let mut t = Tracker::new(Filter::default(), std::time::Duration::from_secs(60));
        parser.process(log.as_bytes(), &mut stats, |ev| t.apply(ev));
        let tl = t.timeline();
        assert_eq!(tl.rows.len(), 3, "01:59, 02:00 (= 03:00 CEST), 02:01");
        assert_eq!(tl.rows[2].connections, 1);
        assert_eq!(tl.rows[2].active, 2);
        assert_eq!(t.last.unwrap().ms - t.first.unwrap().ms, 120_000);
    }

    #[test]
    fn a_name_that_only_opens_sessions_is_a_leak_hint() {
        let mut log = String::new();
        for i in 0..6 {
            log.push_str(&format!(
                "2025-03-01 10:{:02}:00.000 UTC [{}] LOG:  connection received: host=[local]\n\
                 2025-03-01 10:{:02}:00.001 UTC [{}] LOG:  connection authorized: user=u database=d application_name=leaky\n",
                i * 10, 100 + i, i * 10, 100 + i
            ));
            // A well-behaved application alongside.
            log.push_str(&format!(
                "2025-03-01 10:{:02}:01.000 UTC [{}] LOG:  connection received: host=[local]\n\
                 2025-03-01 10:{:02}:01.000 UTC [{}] LOG:  connection authorized: user=u database=d application_name=good\n\
                 2025-03-01 10:{:02}:02.000 UTC [{}] LOG:  disconnection: session time: 0:00:01.000 user=u database=d host=[local]\n",
                i * 10, 200 + i, i * 10, 200 + i, i * 10, 200 + i
            ));
        }
        let mut parser = StderrParser::new(Some(Prefix::compile("%m [%p] ").unwrap()));
        let mut stats = Stats::default();
        let mut t = Tracker::new(Filter::default(), std::time::Duration::from_secs(600));
        parser.process(log.as_bytes(), &mut stats, |ev| t.apply(ev));
        let leaks = t.leaks();
        let apps: Vec<&Leak> =
            leaks.iter().filter(|l| l.dimension == Dimension::Application).collect();
        assert_eq!(apps.len(), 1, "{leaks:?}");
        assert_eq!((apps[0].name.as_slice(), apps[0].open), (&b"leaky"[..], 6));
        assert!((apps[0].per_minute - 6.0 / 50.0).abs() < 0.01, "{}", apps[0].per_minute);
        // The user and host also close sessions (the good ones): no hint.
        assert!(leaks.iter().all(|l| l.dimension == Dimension::Application), "{leaks:?}");
    }
}
