//! What one log line means for connection tracking.
//!
//! An `Event` borrows its names from the read buffer: nothing is copied for
//! a line until the tracker decides to keep a name (see intern.rs). Names
//! stay bytes; the log can hold any bytes, and they are made printable only
//! when written out.

use crate::time::Timestamp;

/// Fields the log_line_prefix carried on this line, when it has them.
///
/// The event types are generic over how they hold names: `&[u8]` slices
/// of the read buffer (`Event<'a>`, what parsers produce and the tracker
/// reads), or `Span`s into a batch's arena, to hand events from the
/// parsing thread to the tracking one (see `EventOf::map`).
///
/// `repr(C)`, the time first: the tracker copies it out of an event built
/// right before in 16-byte pieces, and with the time at offset 8 (where
/// the compiler put it) its first piece straddled two of the event's
/// 16-byte stores, which stalls (store forwarding; a third of
/// `Tracker::apply`'s cycles in perf).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub(crate) struct MetaOf<S> {
    pub(crate) time: Option<Timestamp>,
    pub(crate) pid: Option<u32>,
    pub(crate) user: Option<S>,
    pub(crate) db: Option<S>,
    pub(crate) host: Option<S>,
}

pub(crate) type Meta<'a> = MetaOf<&'a [u8]>;

/// `repr(C)`, the meta first: its time at the start of the event (see
/// `MetaOf`); copying an event into a batch stalled likewise when the
/// compiler put the meta at an offset that is not a multiple of 16.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct EventOf<S> {
    pub(crate) meta: MetaOf<S>,
    pub(crate) kind: KindOf<S>,
    /// The line (or csvlog record) it came from, for samples.
    pub(crate) raw: S,
}

pub(crate) type Event<'a> = EventOf<&'a [u8]>;
pub(crate) type EventKind<'a> = KindOf<&'a [u8]>;
pub(crate) type Security<'a> = SecurityOf<&'a [u8]>;

/// Where a name is in a batch's arena.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) len: u32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum KindOf<S> {
    /// `connection received: host=H [port=P]`
    Received {
        host: S,
        port: Option<u16>,
    },
    /// `connection authenticated: identity="I" method=M (...)` (14+).
    Authenticated {
        method: S,
    },
    /// `[replication ]connection authorized: user=U [database=D]
    /// [application_name=A] [SSL enabled (...)] [GSS (...)]`
    Authorized {
        user: S,
        db: Option<S>,
        app: Option<S>,
        replication: bool,
        security: SecurityOf<S>,
    },
    /// `connection ready: setup total=T ms, fork=F ms, authentication=A ms`
    /// (18, with log_connections including setup_durations), in
    /// microseconds.
    Ready {
        total_us: u64,
        fork_us: u64,
        auth_us: u64,
    },
    /// `disconnection: session time: H:MM:SS.mmm user=U database=D host=H [port=P]`
    Disconnected {
        session_ms: u64,
        user: S,
        db: S,
        host: S,
    },
    /// A message that, from a backend still starting up, means the attempt
    /// failed. `user`, `db` and `host` are what the message itself names.
    Failure {
        reason: Reason,
        user: Option<S>,
        db: Option<S>,
        host: Option<S>,
    },
    /// `DETAIL:  Role "x" does not exist.`: the password failure just
    /// before it was for a role that does not exist.
    RoleMissing,
    /// A message that ends an established session abnormally (a
    /// disconnection line follows it when log_disconnections is on).
    Ended {
        cause: EndCause,
    },
    /// A FATAL pgconn does not classify: a failure if the backend was still
    /// starting, an abnormal end otherwise. `translated`: its text reads as
    /// another language than English (lc_messages).
    OtherFatal {
        translated: bool,
    },
    /// `server process (PID n) was terminated by signal ...` and kin: that
    /// backend is gone without a disconnection line.
    ChildCrashed {
        pid: u32,
    },
    Server(ServerEvent),
}

/// Encryption of a session, from the end of its `connection authorized`
/// line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SecurityOf<S> {
    /// `SSL enabled (protocol=P, ...)`: the protocol (empty if not shown).
    pub(crate) tls: Option<S>,
    /// `GSS (authenticated=.., encrypted=E, ...)`: whether encrypted.
    pub(crate) gss_encrypted: Option<bool>,
}

impl<S: Copy> EventOf<S> {
    /// The same event with every name passed through `f`.
    pub(crate) fn map<T>(&self, mut f: impl FnMut(S) -> T) -> EventOf<T> {
        let m = &self.meta;
        let meta = MetaOf {
            time: m.time,
            pid: m.pid,
            user: m.user.map(&mut f),
            db: m.db.map(&mut f),
            host: m.host.map(&mut f),
        };
        let kind = match self.kind {
            KindOf::Received { host, port } => KindOf::Received { host: f(host), port },
            KindOf::Authenticated { method } => KindOf::Authenticated { method: f(method) },
            KindOf::Authorized { user, db, app, replication, security } => KindOf::Authorized {
                user: f(user),
                db: db.map(&mut f),
                app: app.map(&mut f),
                replication,
                security: SecurityOf {
                    tls: security.tls.map(&mut f),
                    gss_encrypted: security.gss_encrypted,
                },
            },
            KindOf::Ready { total_us, fork_us, auth_us } => {
                KindOf::Ready { total_us, fork_us, auth_us }
            }
            KindOf::Disconnected { session_ms, user, db, host } => {
                KindOf::Disconnected { session_ms, user: f(user), db: f(db), host: f(host) }
            }
            KindOf::Failure { reason, user, db, host } => KindOf::Failure {
                reason,
                user: user.map(&mut f),
                db: db.map(&mut f),
                host: host.map(&mut f),
            },
            KindOf::RoleMissing => KindOf::RoleMissing,
            KindOf::Ended { cause } => KindOf::Ended { cause },
            KindOf::OtherFatal { translated } => KindOf::OtherFatal { translated },
            KindOf::ChildCrashed { pid } => KindOf::ChildCrashed { pid },
            KindOf::Server(e) => KindOf::Server(e),
        };
        EventOf { meta, kind, raw: f(self.raw) }
    }
}

/// Why a connection attempt failed (CLI.md section 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Reason {
    Password,
    Authentication,
    NoHbaEntry,
    HbaReject,
    NoSuchRole,
    NoSuchDatabase,
    TooManyClients,
    ReservedSlots,
    RoleLimit,
    DatabaseLimit,
    StartingUp,
    ShuttingDown,
    Recovery,
    NotPermitted,
    StartupPacket,
    Ssl,
    AuthTimeout,
    Other,
}

impl Reason {
    pub(crate) const ALL: [Reason; 18] = [
        Reason::Password,
        Reason::Authentication,
        Reason::NoHbaEntry,
        Reason::HbaReject,
        Reason::NoSuchRole,
        Reason::NoSuchDatabase,
        Reason::TooManyClients,
        Reason::ReservedSlots,
        Reason::RoleLimit,
        Reason::DatabaseLimit,
        Reason::StartingUp,
        Reason::ShuttingDown,
        Reason::Recovery,
        Reason::NotPermitted,
        Reason::StartupPacket,
        Reason::Ssl,
        Reason::AuthTimeout,
        Reason::Other,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::Password => "password",
            Reason::Authentication => "authentication",
            Reason::NoHbaEntry => "no_hba_entry",
            Reason::HbaReject => "hba_reject",
            Reason::NoSuchRole => "no_such_role",
            Reason::NoSuchDatabase => "no_such_database",
            Reason::TooManyClients => "too_many_clients",
            Reason::ReservedSlots => "reserved_slots",
            Reason::RoleLimit => "role_limit",
            Reason::DatabaseLimit => "database_limit",
            Reason::StartingUp => "starting_up",
            Reason::ShuttingDown => "shutting_down",
            Reason::Recovery => "recovery",
            Reason::NotPermitted => "not_permitted",
            Reason::StartupPacket => "startup_packet",
            Reason::Ssl => "ssl",
            Reason::AuthTimeout => "auth_timeout",
            Reason::Other => "other",
        }
    }
}

/// Why an established session ended other than by the client's choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum EndCause {
    AdminTerminate,
    IdleInTransactionTimeout,
    IdleSessionTimeout,
    TransactionTimeout,
    RecoveryConflict,
    ClientLost,
    ProtocolError,
    PostmasterExit,
    Crash,
    ServerRestart,
    /// A new session on its pid: its own end was not logged.
    PidReused,
    Other,
}

impl EndCause {
    pub(crate) const ALL: [EndCause; 12] = [
        EndCause::AdminTerminate,
        EndCause::IdleInTransactionTimeout,
        EndCause::IdleSessionTimeout,
        EndCause::TransactionTimeout,
        EndCause::RecoveryConflict,
        EndCause::ClientLost,
        EndCause::ProtocolError,
        EndCause::PostmasterExit,
        EndCause::Crash,
        EndCause::ServerRestart,
        EndCause::PidReused,
        EndCause::Other,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EndCause::AdminTerminate => "admin_terminate",
            EndCause::IdleInTransactionTimeout => "idle_in_transaction_timeout",
            EndCause::IdleSessionTimeout => "idle_session_timeout",
            EndCause::TransactionTimeout => "transaction_timeout",
            EndCause::RecoveryConflict => "recovery_conflict",
            EndCause::ClientLost => "client_lost",
            EndCause::ProtocolError => "protocol_error",
            EndCause::PostmasterExit => "postmaster_exit",
            EndCause::Crash => "crash",
            EndCause::ServerRestart => "server_restart",
            EndCause::PidReused => "pid_reused",
            EndCause::Other => "other",
        }
    }
}

/// Server lifecycle lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ServerEvent {
    /// A new postmaster (`starting PostgreSQL`). Every earlier session is
    /// gone.
    Starting,
    /// The startup process of a new postmaster (`database system was shut
    /// down at`, `was interrupted`, `was not properly shut down`): the first
    /// line of a PostgreSQL 12 log file, where `starting` goes elsewhere.
    Startup,
    /// `database system is ready to accept connections`.
    Ready,
    /// `received SIGHUP, reloading configuration files`: nothing ends, but
    /// log_connections or log_line_prefix may have changed from here.
    Reload,
    /// `received smart|fast shutdown request`: sessions end on their own
    /// lines.
    ShutdownRequested,
    /// `received immediate shutdown request`: backends vanish silently.
    ImmediateShutdown,
    /// `terminating any other active server processes` and
    /// `all server processes terminated; reinitializing`: a crash restart.
    CrashRestart,
    /// `database system is shut down`.
    Stopped,
}

impl ServerEvent {
    /// True when every open session is gone after this line.
    pub(crate) fn ends_sessions(self) -> bool {
        !matches!(self, ServerEvent::Ready | ServerEvent::Reload | ServerEvent::ShutdownRequested)
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ServerEvent::Starting => "starting",
            ServerEvent::Startup => "startup",
            ServerEvent::Ready => "ready",
            ServerEvent::Reload => "reload",
            ServerEvent::ShutdownRequested => "shutdown_requested",
            ServerEvent::ImmediateShutdown => "immediate_shutdown",
            ServerEvent::CrashRestart => "crash_restart",
            ServerEvent::Stopped => "stopped",
        }
    }

    pub(crate) fn message(self) -> &'static str {
        match self {
            ServerEvent::Starting => "the server is starting",
            ServerEvent::Startup => "the startup process runs (recovery, if needed)",
            ServerEvent::Ready => "the server accepts connections",
            ServerEvent::Reload => "the configuration was reloaded",
            ServerEvent::ShutdownRequested => "a shutdown was requested",
            ServerEvent::ImmediateShutdown => "immediate shutdown: sessions end without a line",
            ServerEvent::CrashRestart => "a backend crashed: the server restarts, sessions end",
            ServerEvent::Stopped => "the server is shut down",
        }
    }
}
