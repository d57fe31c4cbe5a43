//! Counters: the whole log's, and each name's in each breakdown.

use crate::event::{EndCause, ProbeKind, Reason};
use crate::sketch::SmallSketch;

use super::peaks::LeakRun;
use crate::time::Timestamp;

/// Counts for one name of one breakdown.
#[derive(Clone, Debug, Default)]
pub(crate) struct Row {
    pub(crate) active: i64,
    pub(crate) connections: u64,
    pub(crate) disconnections: u64,
    pub(crate) failures: u64,
    /// Probes and abandoned attempts (host rows only).
    pub(crate) probes: u64,
    /// Sessions opened with none closing normally, for leak hints.
    pub(super) leak: LeakRun,
    /// Session times (ms) of this name's disconnections.
    pub(crate) times: SmallSketch,
}

impl Row {
    /// A disconnection line; `abnormal`: the session had logged a FATAL
    /// that ended it (administrator, timeout, ...).
    pub(super) fn closed(
        &mut self,
        at: Option<Timestamp>,
        session_ms: u64,
        abnormal: Option<EndCause>,
    ) {
        self.disconnections += 1;
        self.times.add(session_ms);
        match abnormal {
            None => self.leak.closed(),
            Some(cause) => self.leak.ended(cause, at),
        }
    }
}

/// One counter per variant of an enum, indexed by `variant as usize`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Counts<const N: usize>(pub(crate) [u64; N]);

impl<const N: usize> Default for Counts<N> {
    fn default() -> Self {
        Counts([0; N])
    }
}

impl<const N: usize> std::ops::Index<usize> for Counts<N> {
    type Output = u64;
    fn index(&self, i: usize) -> &u64 {
        &self.0[i]
    }
}

impl<const N: usize> std::ops::IndexMut<usize> for Counts<N> {
    fn index_mut(&mut self, i: usize) -> &mut u64 {
        &mut self.0[i]
    }
}

/// Whole-log counters.
#[derive(Clone, Debug, Default)]
pub(crate) struct Totals {
    pub(crate) active: u64,
    pub(crate) connections: u64,
    pub(crate) disconnections: u64,
    pub(crate) failures: Counts<{ Reason::ALL.len() }>,
    pub(crate) abandoned: u64,
    pub(crate) probes: [u64; ProbeKind::ALL.len()],
    pub(crate) abnormal: [u64; EndCause::ALL.len()],
    pub(crate) replication_sessions: u64,
    pub(crate) replication_active: u64,
    pub(crate) replication_physical: u64,
    pub(crate) replication_logical: u64,
    /// Replication sessions known from their disconnection alone (they
    /// began before the log).
    pub(crate) replication_unseen_start: u64,
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
    pub(crate) pidless_probes: u64,
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
