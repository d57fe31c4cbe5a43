//! The pid table and the session lifecycle: `connection received`,
//! `authorized` and `disconnection`, abnormal ends, restarts and crashes.

use crate::event::{EndCause, Event, EventKind, Reason, ServerEvent};
use crate::intern::Sym;
use crate::time::Timestamp;

use super::peaks::MAX_SPANS;
use super::snapshot::{Change, Names, OpenSession};
use super::{APP, DB, HOST, MAX_SESSIONS, PSEUDO_IDS, Tracker, USER};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    Received,
    Active,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Session {
    pub(super) state: State,
    /// Peak-tracking id (the pid, or a sequence number without pids).
    pub(super) id: u64,
    pub(super) since: Option<Timestamp>,
    pub(super) host: Sym,
    pub(super) user: Sym,
    pub(super) db: Sym,
    pub(super) app: Sym,
    /// Passes the filters, so it is in the counts.
    pub(super) counted: bool,
    pub(super) replication: bool,
    /// Client port (TCP), from `connection received`.
    pub(super) port: Option<u16>,
    /// How it ended abnormally, once counted (a disconnection line follows).
    pub(super) abnormal: Option<EndCause>,
    /// Its peak bookkeeping is settled (a later line of its own came).
    pub(super) confirmed: bool,
    /// Authentication method (`connection authenticated`, 14+), TLS
    /// protocol, GSS encryption: `UNSET` / None when not logged.
    pub(super) method: Sym,
    pub(super) tls: Sym,
    pub(super) gss_encrypted: Option<bool>,
}

impl Session {
    /// Any line of its own but a failure confirms an authorized session
    /// (see peak.rs): whether this line did (the peak is told then).
    pub(super) fn confirms(&mut self) -> bool {
        let now = self.state == State::Active && !self.confirmed;
        self.confirmed |= now;
        now
    }

    pub(super) fn names(&self) -> Names {
        Names {
            db: self.db,
            user: self.user,
            app: self.app,
            host: self.host,
            app_known: self.state == State::Active,
            port: self.port,
            raw_host: None,
        }
    }

    pub(super) fn pid(&self) -> Option<u32> {
        (self.id < PSEUDO_IDS).then_some(self.id as u32)
    }

    /// The session's name in each breakdown.
    pub(super) fn dims(&self) -> [(usize, Sym); 4] {
        [(DB, self.db), (USER, self.user), (APP, self.app), (HOST, self.host)]
    }
}

impl Tracker {
    pub(super) fn apply_pid(&mut self, pid: u32, ev: &Event<'_>) {
        let meta = &ev.meta;
        // The session's confirmation. The connection lines are left out:
        // they end or replace the session, and `count_close` confirms it
        // then (one hash lookup fewer for each).
        if !matches!(
            ev.kind,
            EventKind::Failure { .. }
                | EventKind::Detail { .. }
                | EventKind::Probe { .. }
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
                let sym = self.intern(HOST, Some(host));
                if self.changes.is_some() {
                    self.keep_overflowed_host(pid, sym, host);
                }
                self.open(pid, meta.time, sym, port);
            }
            EventKind::Authenticated { method } => {
                let method = self.access.method(method);
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
                let names = Names { db, user, app, host, app_known: true, port, raw_host: None };
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
            EventKind::Disconnected { session_ms, user, db, host, walsender } => {
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
                    Some(mut s) if s.state == State::Active => {
                        if let Some(app) = meta.app
                            && s.app == Sym::UNSET
                        {
                            self.name_app(&mut s, app);
                        }
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
                                self.row(d, sym).closed(now, session_ms, s.abnormal);
                            }
                            self.record(Change::Disconnect {
                                time: self.now,
                                pid: Some(pid),
                                names: s.names(),
                                session_ms: Some(session_ms),
                                cause: s.abnormal,
                                silent: false,
                            });
                        }
                    }
                    other => {
                        if let Some(s) = other {
                            // A received attempt whose authorization was not
                            // logged: it was a session after all.
                            debug_assert_eq!(s.state, State::Received);
                        }
                        self.unlinked_disconnection(
                            Some(pid),
                            session_ms,
                            user,
                            db,
                            host,
                            walsender,
                        );
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
            EventKind::Detail { reason } => self.amend(Some(pid), reason),
            EventKind::Probe { kind } => self.probe(Some(pid), kind, meta.host),
            EventKind::Ended { cause } => self.ended(pid, cause, ev.raw),
            EventKind::OtherFatal { .. } => self.ended(pid, EndCause::Other, ev.raw),
            EventKind::Server(_) | EventKind::ChildCrashed { .. } => {}
        }
    }

    /// A session whose `connection authorized` line named no application
    /// (before PostgreSQL 12 it never does) is named by `%a` on a later
    /// line of its own (its disconnection): its counts move from the
    /// unset application to that one. With filters, the session keeps the
    /// filters' verdict of its authorization.
    fn name_app(&mut self, s: &mut Session, app: &[u8]) {
        let sym = self.intern(APP, Some(app));
        if sym == Sym::UNSET || !self.filter.is_empty() {
            return;
        }
        if s.counted && !s.replication {
            let old = self.row(APP, Sym::UNSET);
            old.connections = old.connections.saturating_sub(1);
            old.active -= 1;
            old.leak.unopened();
            let new = self.row(APP, sym);
            new.connections += 1;
            new.active += 1;
        }
        s.app = sym;
    }

    /// A line that ends session `pid` abnormally. Before authorization it
    /// ends the attempt instead: as a failure, unless the client just went
    /// away (then it stays pending and ends as abandoned). `EndCause::Other`
    /// is a FATAL pgconn does not know: from a pid it never saw connect, it
    /// is a background process's and does not count; right after
    /// authorization (see `startup_fatal`) it refused the session.
    pub(super) fn ended(&mut self, pid: u32, cause: EndCause, raw: &[u8]) {
        match self.sessions.get_mut(&pid) {
            Some(s) if s.state == State::Active => {
                if cause == EndCause::Other && self.now.is_some_and(|now| startup_fatal(s, now)) {
                    let s = *s;
                    self.sessions.remove(&pid);
                    if s.counted {
                        self.peak_cancel(s.id);
                        self.uncount_open(&s);
                    }
                    self.count_failure(
                        Some(pid),
                        Reason::Other,
                        s.names(),
                        s.counted,
                        s.counted,
                        raw,
                    );
                } else if s.abnormal.is_none() {
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
                // A session from before the log: counted once, however many
                // such lines its pid writes before its disconnection.
                if self.filter.is_empty() && !self.ended_unseen.contains(&pid) {
                    if self.ended_unseen.len() >= 256 {
                        self.ended_unseen.remove(0);
                    }
                    self.ended_unseen.push(pid);
                    self.totals.abnormal[cause as usize] += 1;
                }
            }
        }
    }

    /// A `connection ready` line's durations.
    pub(super) fn setup(&mut self, total_us: u64, fork_us: u64, auth_us: u64) {
        self.access.setup_total.add(total_us);
        self.access.setup_fork.add(fork_us);
        self.access.setup_auth.add(auth_us);
    }

    /// A new attempt (`connection received`).
    pub(super) fn open(
        &mut self,
        pid: u32,
        since: Option<Timestamp>,
        host: Sym,
        port: Option<u16>,
    ) {
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

    pub(super) fn count_open(&mut self, s: &Session, at: Option<Timestamp>) {
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
        let now = self.now.map(|t| t.ms);
        for (d, sym) in s.dims() {
            let row = self.row(d, sym);
            row.connections += 1;
            row.active += 1;
            // Leak hints are for applications, users and hosts.
            if d != DB
                && let Some(ms) = now
            {
                row.leak.opened(ms);
            }
        }
        if let Some(b) = self.bucket() {
            b.connections += 1;
        }
        self.peak_opened(s.id, at);
    }

    /// Takes back `count_open` for an attempt that failed after all.
    pub(super) fn uncount_open(&mut self, s: &Session) {
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
            row.leak.unopened();
        }
        if let Some(b) = self.bucket() {
            b.connections = b.connections.saturating_sub(1);
        }
    }

    pub(super) fn count_close(&mut self, s: &Session) {
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
    pub(super) fn end_silently(&mut self, s: Session, cause: EndCause) {
        // A backend that was replaced, or that logged a terminating FATAL,
        // exited: with log_disconnections on, its line would have come.
        if s.state == State::Active && (cause == EndCause::PidReused || s.abnormal.is_some()) {
            self.totals.silent_ends += 1;
        }
        match s.state {
            State::Received => {
                if self.matches(&Names::attempt(Sym::UNSET, Sym::UNSET, s.host, s.port)) {
                    self.totals.abandoned += 1;
                    if s.host != Sym::UNSET {
                        self.row(HOST, s.host).probes += 1;
                    }
                }
            }
            State::Active if s.counted => {
                self.count_close(&s);
                if s.abnormal.is_none() {
                    self.totals.abnormal[cause as usize] += 1;
                }
                if !s.replication {
                    let (now, how) = (self.now, s.abnormal.unwrap_or(cause));
                    for (d, sym) in s.dims() {
                        self.row(d, sym).leak.ended(how, now);
                    }
                    if let Some(b) = self.bucket() {
                        b.ended += 1;
                    }
                }
                // The watch stream shows every session that ends, also
                // those a restart or crash ended without a line.
                let session_ms = match (self.now, s.since) {
                    (Some(now), Some(since)) => Some((now.ms - since.ms).max(0) as u64),
                    _ => None,
                };
                if !s.replication {
                    self.record(Change::Disconnect {
                        time: self.now,
                        pid: s.pid(),
                        names: s.names(),
                        session_ms,
                        cause: Some(s.abnormal.unwrap_or(cause)),
                        silent: true,
                    });
                }
            }
            State::Active => {}
        }
    }

    /// A disconnection pgconn cannot link to a session it saw begin: one
    /// from before the log, or any disconnection in a log without pids
    /// (then it also ends one of the sessions counted as open).
    pub(super) fn unlinked_disconnection(
        &mut self,
        pid: Option<u32>,
        session_ms: u64,
        user: &[u8],
        db: &[u8],
        host: &[u8],
        walsender: bool,
    ) {
        // `database=` empty: a physical walsender (a client backend always
        // has a database); a logical one shows only in the record's
        // backend type. Its end is a replication session's, never a
        // client's: not in the disconnections, session times or peak.
        if db.is_empty() || walsender {
            let host_sym = self.intern(HOST, Some(host));
            let user_sym = self.intern(USER, Some(user));
            if self.matches(&Names::attempt(Sym::UNSET, user_sym, host_sym, None)) {
                self.totals.matched += 1;
                if pid.is_none() && self.totals.replication_active > 0 {
                    // Without pids: one of the walsenders counted open (a
                    // logical one was counted as such then).
                    self.totals.replication_active -= 1;
                    if db.is_empty() {
                        self.totals.replication_physical += 1;
                    }
                } else {
                    self.totals.replication_sessions += 1;
                    self.totals.replication_unseen_start += 1;
                    if db.is_empty() {
                        self.totals.replication_physical += 1;
                    } else {
                        self.totals.replication_logical += 1;
                    }
                }
            }
            return;
        }
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
            self.row(d, sym).closed(now, session_ms, None);
        }
        if pid.is_some() {
            self.totals.unknown_start += 1;
            if let Some(b) = self.bucket() {
                b.before += 1;
            }
            // It was open for `session_ms` before this line: count it in
            // the history (and so in the peak) over that span.
            if let Some(end) = self.now {
                let start = end.shifted(-(session_ms.min(i64::MAX as u64) as i64));
                let start = self.first.filter(|f| start.ms > f.ms).map(|_| start);
                self.history.add_span(start.as_ref(), &end);
                // Kept (a bounded number) for the peak they make among
                // themselves (see `span_sweep`).
                if self.spans.len() < MAX_SPANS {
                    let from = start.or(self.first).map_or(end.ms, |t| t.ms);
                    self.spans.push((from, end.ms));
                }
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
        self.record(Change::Disconnect {
            time: self.now,
            pid,
            names,
            session_ms: Some(session_ms),
            cause: None,
            silent: false,
        });
    }

    pub(super) fn server(&mut self, ev: ServerEvent) {
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
        let mut open: Vec<Session> = self.sessions.drain().map(|(_, s)| s).collect();
        // In the order they began (the watch stream shows each one ended):
        // the table's order is random.
        open.sort_unstable_by_key(|s| (s.since.map_or(i64::MIN, |t| t.ms), s.id));
        for s in open {
            self.end_silently(s, EndCause::ServerRestart);
        }
        // Without pids: every session counted as open is gone.
        if self.totals.active > 0 {
            let gone = self.totals.active;
            if let Some(b) = self.bucket() {
                b.ended += gone;
            }
            self.totals.abnormal[EndCause::ServerRestart as usize] += self.totals.active;
            self.totals.active = 0;
            let now = self.now;
            for rows in &mut self.rows {
                for r in rows.iter_mut() {
                    r.active = 0;
                    r.leak.ended_all(EndCause::ServerRestart, now);
                }
            }
        }
        self.pidless_recent.clear();
        self.last_failure = None;
    }
}

impl Tracker {
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
}

/// Whether a FATAL pgconn does not know, from an authorized session, came
/// during its start-up: no other line of its own since, and within two
/// seconds of its `connection received` (or authorization). A FATAL then
/// refused the session before it began (the server logs no disconnection
/// for it); one later ends a session that logs its disconnection.
fn startup_fatal(s: &Session, now: Timestamp) -> bool {
    !s.confirmed && s.since.is_some_and(|t| now.ms - t.ms <= 2_000)
}
