//! What the renderers read: the snapshot of the figures, and the changes
//! and names of the watch stream. Built by the tracker; nothing here
//! reaches back into it.

use crate::args::Dimension;
use crate::event::{Class, EndCause, ProbeKind, Reason, ServerEvent};
use crate::intern::{Interner, Sym};
use crate::time::Timestamp;

use super::counters::Row;
use super::session::State;
use super::{APP, DB, HOST, Tracker, USER, dim};

/// The names behind the symbols of the watch stream's changes, by
/// breakdown.
#[derive(Clone, Copy)]
pub(crate) struct Dictionary<'a>(pub(super) &'a [Interner; 4], pub(super) &'a [Box<[u8]>]);

impl Dictionary<'_> {
    /// The name behind a symbol of breakdown `d`.
    pub(crate) fn name(&self, d: Dimension, sym: Sym) -> &[u8] {
        self.0[dim(d)].name(sym)
    }

    /// The host of a change: its name, or, past the bound of names kept
    /// (`(other)` in the breakdown), the address the log gave.
    pub(crate) fn host(&self, n: &Names) -> &[u8] {
        match n.raw_host.and_then(|i| self.1.get(i as usize)) {
            Some(raw) => raw,
            None => self.name(Dimension::Host, n.host),
        }
    }
}

/// A name whose sessions piled up: opened with none closing normally (the
/// rule is at `LEAK_SESSIONS`).
#[derive(Clone, Debug)]
pub(crate) struct Leak {
    pub(crate) dimension: Dimension,
    pub(crate) name: Vec<u8>,
    /// Of them, still open at the end of the log.
    pub(crate) open: u64,
    pub(crate) opened: u64,
    pub(crate) since: Timestamp,
    /// When the last of them ended, if they all did.
    pub(crate) until: Option<Timestamp>,
    pub(crate) per_minute: f64,
    /// How the last of them ended; `None` while some are open.
    pub(crate) ended_by: Option<EndCause>,
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
    /// With the watch stream, a host past the bound of names kept (`host`
    /// is `Sym::OTHER`): where its address is, for `Dictionary::host`.
    pub(crate) raw_host: Option<u32>,
}

impl Names {
    /// An attempt that was not authorized: its application is unknown.
    pub(super) fn attempt(db: Sym, user: Sym, host: Sym, port: Option<u16>) -> Names {
        Names { db, user, app: Sym::UNSET, host, app_known: false, port, raw_host: None }
    }

    pub(super) fn dims(&self) -> [(usize, Sym); 4] {
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
        /// Unknown when a restart or crash ended a session whose start or
        /// end has no time.
        session_ms: Option<u64>,
        cause: Option<EndCause>,
        /// Ended without a line of its own (a restart, a crash, its pid
        /// reused): not in the summary's disconnections.
        silent: bool,
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
    /// A failure already reported as `from` turned out to be `reason` (a
    /// DETAIL line read in a later batch). Not a failure of its own.
    Reclassified {
        time: Option<Timestamp>,
        pid: Option<u32>,
        from: Reason,
        reason: Reason,
    },
    /// A connection that ended before it asked to authenticate.
    Probe {
        time: Option<Timestamp>,
        pid: Option<u32>,
        names: Names,
        kind: ProbeKind,
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

/// First and last time, and a few raw lines, of one failure reason.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReasonDetail {
    pub(crate) first: Option<Timestamp>,
    pub(crate) last: Option<Timestamp>,
    pub(crate) samples: Vec<String>,
}

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

impl Tracker {
    /// The figures as of now, for the renderers.
    pub(crate) fn snapshot(&self, top: usize, by: &[Dimension]) -> Snapshot {
        let t = &self.totals;
        let pending = self.sessions.values().filter(|s| s.state == State::Received).count() as u64;
        let pidless = t.with_pid == 0 && t.without_pid > 0;
        let abandoned = if pidless {
            t.pidless_received
                .saturating_sub(t.pidless_authorized + t.pidless_early_failures + t.pidless_probes)
        } else {
            t.abandoned + pending
        };
        let mut failures_by_reason: Vec<(Reason, u64)> = Reason::ALL
            .iter()
            .map(|&r| (r, t.failures[r as usize]))
            .filter(|&(_, n)| n > 0)
            .collect();
        failures_by_reason.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.as_str().cmp(b.0.as_str())));
        let failures_by_class: Vec<(&'static str, u64)> = Class::ALL
            .iter()
            .map(|&c| {
                let n =
                    Reason::ALL.iter().filter(|r| r.class() == c).map(|&r| t.failures[r as usize]);
                (c.as_str(), n.sum())
            })
            .filter(|&(_, n)| n > 0)
            .collect();
        let abnormal_ends: Vec<(&'static str, u64)> = EndCause::ALL
            .iter()
            .map(|&c| (c.as_str(), t.abnormal[c as usize]))
            .filter(|&(_, n)| n > 0)
            .collect();
        // The exact peak of what the log showed, or a history bucket's,
        // which also counts sessions known only from their disconnection,
        // or the peak those sessions make among themselves.
        let (mut peak, mut peak_at) = self.peak.get();
        for (_, b) in self.history.buckets() {
            let (v, at) = b.peak();
            if v > peak {
                (peak, peak_at) = (v, at);
            }
        }
        let sweep = self.span_sweep();
        if sweep.value > peak
            && let Some(at) = sweep.at_ms
        {
            (peak, peak_at) = (sweep.value, self.first.or(self.last).map(|z| z.with_ms(at)));
        }
        let no_connections = self.no_connections();
        // log_disconnections off: sessions are never seen to end but by a
        // restart, so active and peak count sessions that had ended (the
        // note says whether a session was seen to end without its line).
        let no_disconnections = t.seen_authorized > 0 && t.seen_disconnections == 0;
        let peak_lower_bound = match peak_at {
            Some(at) => self.lower_bound_at(at.ms),
            None => self.lower_bound_at(i64::MIN),
        };
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
            failures: t.failures.0.iter().sum(),
            failures_by_reason,
            failures_by_class,
            probes: self.probes(abandoned),
            abandoned,
            pending: if pidless { 0 } else { pending },
            abnormal_ends,
            replication_sessions: t.replication_sessions,
            replication_physical: t.replication_physical,
            replication_logical: t.replication_logical,
            replication_unseen_start: t.replication_unseen_start,
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
            after_reset: self.after_reset,
            sessions,
            breakdowns,
            unavailable,
            unknown_start: t.unknown_start,
            untracked: t.untracked,
            untracked_attempts: t.untracked_attempts,
            folded: self.folded(),
        }
    }

    /// Probes and abandoned attempts, by kind and by host (most first).
    fn probes(&self, abandoned: u64) -> Probes {
        let t = &self.totals;
        let mut kinds: Vec<(&'static str, u64)> =
            ProbeKind::ALL.iter().map(|&k| (k.as_str(), t.probes[k as usize])).collect();
        kinds.push(("abandoned", abandoned));
        // Attempts still pending count as abandoned (see `abandoned`).
        let mut by_host: Vec<(Sym, u64)> = self.rows[HOST]
            .iter()
            .enumerate()
            .filter(|(_, r)| r.probes > 0)
            .map(|(i, r)| (Sym(i as u32), r.probes))
            .collect();
        for s in self.sessions.values().filter(|s| s.state == State::Received) {
            if s.host == Sym::UNSET
                || !self.matches(&Names::attempt(Sym::UNSET, Sym::UNSET, s.host, s.port))
            {
                continue;
            }
            match by_host.iter_mut().find(|(h, _)| *h == s.host) {
                Some(e) => e.1 += 1,
                None => by_host.push((s.host, 1)),
            }
        }
        let label = |sym: Sym| self.names[HOST].name(sym);
        by_host.sort_by(|a, b| b.1.cmp(&a.1).then(label(a.0).cmp(label(b.0))));
        by_host.truncate(10);
        Probes {
            total: kinds.iter().map(|k| k.1).sum(),
            kinds: kinds.into_iter().filter(|k| k.1 > 0).collect(),
            by_host: by_host.into_iter().map(|(h, n)| (label(h).to_vec(), n)).collect(),
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
    /// Sessions ended without a disconnection line (restart, crash).
    pub(crate) ended: u64,
    /// Disconnections of sessions that began before the log.
    pub(crate) before: u64,
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
    /// Sessions ended without a disconnection line, in all buckets.
    pub(crate) ended_without_line: u64,
    /// The statistics were reset (SIGHUP).
    pub(crate) after_reset: bool,
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
    /// `trust` in `auth_methods` is inferred (sessions without a
    /// `connection authenticated` line, where 14-16 log it for the rest).
    pub(crate) trust_inferred: bool,
    /// Trust logins from a host other than `[local]`.
    pub(crate) trust_remote: u64,
    pub(crate) password_without_tls: u64,
    pub(crate) setup: Option<Setup>,
}

/// Connections that ended before they asked to authenticate: health
/// checks, port scans, TLS clients that gave up, and attempts with nothing
/// after `connection received` (`abandoned`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Probes {
    pub(crate) total: u64,
    /// By kind, those seen.
    pub(crate) kinds: Vec<(&'static str, u64)>,
    /// The ten hosts with the most, most first.
    pub(crate) by_host: Vec<(Vec<u8>, u64)>,
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
    pub(crate) failures_by_reason: Vec<(Reason, u64)>,
    /// The coarse classes of `failures_by_reason`.
    pub(crate) failures_by_class: Vec<(&'static str, u64)>,
    pub(crate) probes: Probes,
    pub(crate) abandoned: u64,
    /// Of `abandoned`, attempts still pending (received, not yet
    /// authorized, refused or ended); 0 without pids.
    pub(crate) pending: u64,
    pub(crate) abnormal_ends: Vec<(&'static str, u64)>,
    pub(crate) replication_sessions: u64,
    pub(crate) replication_active: u64,
    pub(crate) replication_physical: u64,
    pub(crate) replication_logical: u64,
    /// Of `replication_sessions`, those known from their end alone.
    pub(crate) replication_unseen_start: u64,
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
    /// The statistics were reset (SIGHUP): lower bounds come from that.
    pub(crate) after_reset: bool,
    pub(crate) sessions: Option<SessionTimes>,
    pub(crate) breakdowns: Vec<Breakdown>,
    pub(crate) unavailable: Vec<&'static str>,
    pub(crate) unknown_start: u64,
    pub(crate) untracked: u64,
    pub(crate) untracked_attempts: u64,
    /// Breakdowns with names folded into `(other)` (see `Tracker::folded`).
    pub(crate) folded: Vec<&'static str>,
}
