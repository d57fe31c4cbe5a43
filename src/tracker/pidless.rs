//! Logs without pids: what the messages alone carry.

use crate::event::{Event, EventKind, Reason};
use crate::intern::Sym;

use super::session::{Session, State};
use super::snapshot::Names;
use super::{APP, DB, HOST, Tracker, USER};

/// Failures that come after `connection authorized` when read from their
/// message alone (used without pids).
fn after_authorization(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::NoSuchRole
            | Reason::NoSuchDatabase
            | Reason::DatabaseNotAccepting
            | Reason::ReservedSlots
            | Reason::RoleLimit
            | Reason::DatabaseLimit
            | Reason::NotPermitted
            | Reason::NoConnectPrivilege
            | Reason::WalsenderPermission
            | Reason::SuperuserOnly
            | Reason::StartupOption
    )
}

impl Tracker {
    pub(super) fn apply_pidless(&mut self, ev: &Event<'_>) {
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
                if !self.matches(&Names {
                    db,
                    user,
                    app,
                    host,
                    app_known: true,
                    port: None,
                    raw_host: None,
                }) {
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
            EventKind::Disconnected { session_ms, user, db, host, walsender } => {
                self.unlinked_disconnection(None, session_ms, user, db, host, walsender);
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
            EventKind::Detail { reason } => self.amend(None, reason),
            EventKind::Probe { kind } => {
                if self.filter.is_empty() {
                    self.totals.pidless_probes += 1;
                }
                self.probe(None, kind, meta.host);
            }
            EventKind::Ended { cause } => {
                if self.filter.is_empty() {
                    self.totals.abnormal[cause as usize] += 1;
                }
            }
            EventKind::Server(_) | EventKind::ChildCrashed { .. } => {}
        }
    }
}
