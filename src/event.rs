//! What one log line means for connection tracking.
//!
//! An `Event` borrows its names from the read buffer: nothing is copied for
//! a line until the tracker decides to keep a name (see intern.rs). Names
//! stay bytes; the log can hold any bytes, and they are made printable only
//! when written out.

use crate::time::Timestamp;

/// Fields the log_line_prefix carried on this line, when it has them.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Meta<'a> {
    pub(crate) time: Option<Timestamp>,
    pub(crate) pid: Option<u32>,
    pub(crate) user: Option<&'a [u8]>,
    pub(crate) db: Option<&'a [u8]>,
    pub(crate) host: Option<&'a [u8]>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Event<'a> {
    pub(crate) meta: Meta<'a>,
    pub(crate) kind: EventKind<'a>,
    /// The line (or csvlog record) it came from, for samples.
    pub(crate) raw: &'a [u8],
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum EventKind<'a> {
    /// `connection received: host=H [port=P]`
    Received {
        host: &'a [u8],
        port: Option<u16>,
    },
    /// `connection authenticated: identity="I" method=M (...)` (14+).
    Authenticated {
        method: &'a [u8],
    },
    /// `[replication ]connection authorized: user=U [database=D]
    /// [application_name=A] [SSL enabled (...)] [GSS (...)]`
    Authorized {
        user: &'a [u8],
        db: Option<&'a [u8]>,
        app: Option<&'a [u8]>,
        replication: bool,
        security: Security<'a>,
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
        user: &'a [u8],
        db: &'a [u8],
        host: &'a [u8],
    },
    /// A message that, from a backend still starting up, means the attempt
    /// failed. `user`, `db` and `host` are what the message itself names.
    Failure {
        reason: Reason,
        user: Option<&'a [u8]>,
        db: Option<&'a [u8]>,
        host: Option<&'a [u8]>,
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
    /// starting, an abnormal end otherwise.
    OtherFatal,
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
pub(crate) struct Security<'a> {
    /// `SSL enabled (protocol=P, ...)`: the protocol (empty if not shown).
    pub(crate) tls: Option<&'a [u8]>,
    /// `GSS (authenticated=.., encrypted=E, ...)`: whether encrypted.
    pub(crate) gss_encrypted: Option<bool>,
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
