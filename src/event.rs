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
    /// `%a` (or the record's application_name): names the application of
    /// a session whose `connection authorized` line does not (before
    /// PostgreSQL 12, or a client that set it later).
    pub(crate) app: Option<S>,
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
        /// The record's backend type says walsender (csvlog 13+, jsonlog).
        walsender: bool,
    },
    /// A message that, from a backend still starting up, means the attempt
    /// failed. `user`, `db` and `host` are what the message itself names.
    Failure {
        reason: Reason,
        user: Option<S>,
        db: Option<S>,
        host: Option<S>,
    },
    /// A DETAIL line that says why the password failure just before it
    /// failed (`Role "x" does not exist.`, `User "x" has an expired
    /// password.`, ...).
    Detail {
        reason: Reason,
    },
    /// A connection that ended before it asked to authenticate.
    Probe {
        kind: ProbeKind,
    },
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
            app: m.app.map(&mut f),
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
            KindOf::Disconnected { session_ms, user, db, host, walsender } => {
                KindOf::Disconnected {
                    session_ms,
                    user: f(user),
                    db: f(db),
                    host: f(host),
                    walsender,
                }
            }
            KindOf::Failure { reason, user, db, host } => KindOf::Failure {
                reason,
                user: user.map(&mut f),
                db: db.map(&mut f),
                host: host.map(&mut f),
            },
            KindOf::Detail { reason } => KindOf::Detail { reason },
            KindOf::Probe { kind } => KindOf::Probe { kind },
            KindOf::Ended { cause } => KindOf::Ended { cause },
            KindOf::OtherFatal { translated } => KindOf::OtherFatal { translated },
            KindOf::ChildCrashed { pid } => KindOf::ChildCrashed { pid },
            KindOf::Server(e) => KindOf::Server(e),
        };
        EventOf { meta, kind, raw: f(self.raw) }
    }
}

/// Why a connection attempt failed: the finest cause the server's FATAL
/// and its DETAIL tell apart. Each belongs to one `Class`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Reason {
    /// Wrong password (password, md5, scram-sha-256).
    Password,
    NoSuchRole,
    PasswordExpired,
    NoPassword,
    /// An md5 (or no) secret where scram-sha-256 is required.
    NoScramSecret,
    /// A secret the method cannot use (SCRAM under md5, unknown format).
    PasswordFormat,
    CertMissing,
    CertMismatch,
    CertUnverified,
    Peer,
    Ident,
    Pam,
    Ldap,
    Radius,
    /// GSSAPI or SSPI.
    Gss,
    /// Any other method, or a protocol error during authentication.
    Authentication,
    AuthTimeout,
    NoHbaEntry,
    /// No pg_hba.conf line for an SSL- or GSS-encrypted attempt.
    NoHbaEntryEncrypted,
    HbaReject,
    Tls,
    TooManyClients,
    ReservedSlots,
    RoleLimit,
    DatabaseLimit,
    MaxWalSenders,
    NoSuchDatabase,
    DatabaseNotAccepting,
    /// The role may not log in (NOLOGIN).
    NotPermitted,
    NoConnectPrivilege,
    WalsenderPermission,
    SuperuserOnly,
    StartingUp,
    ShuttingDown,
    Recovery,
    /// A bad option in the startup packet (`PGOPTIONS`, `-c name=value`).
    StartupOption,
    UnsupportedProtocol,
    StartupPacket,
    Other,
}

/// The coarse kind of a failure, for alerting and for JSON consumers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Class {
    Auth,
    Hba,
    Tls,
    Limit,
    Refused,
    ServerState,
    Startup,
    Other,
}

impl Class {
    pub(crate) const ALL: [Class; 8] = [
        Class::Auth,
        Class::Hba,
        Class::Tls,
        Class::Limit,
        Class::Refused,
        Class::ServerState,
        Class::Startup,
        Class::Other,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Class::Auth => "auth",
            Class::Hba => "hba",
            Class::Tls => "tls",
            Class::Limit => "limit",
            Class::Refused => "refused",
            Class::ServerState => "server_state",
            Class::Startup => "startup",
            Class::Other => "other",
        }
    }
}

impl Reason {
    pub(crate) const ALL: [Reason; 39] = [
        Reason::Password,
        Reason::NoSuchRole,
        Reason::PasswordExpired,
        Reason::NoPassword,
        Reason::NoScramSecret,
        Reason::PasswordFormat,
        Reason::CertMissing,
        Reason::CertMismatch,
        Reason::CertUnverified,
        Reason::Peer,
        Reason::Ident,
        Reason::Pam,
        Reason::Ldap,
        Reason::Radius,
        Reason::Gss,
        Reason::Authentication,
        Reason::AuthTimeout,
        Reason::NoHbaEntry,
        Reason::NoHbaEntryEncrypted,
        Reason::HbaReject,
        Reason::Tls,
        Reason::TooManyClients,
        Reason::ReservedSlots,
        Reason::RoleLimit,
        Reason::DatabaseLimit,
        Reason::MaxWalSenders,
        Reason::NoSuchDatabase,
        Reason::DatabaseNotAccepting,
        Reason::NotPermitted,
        Reason::NoConnectPrivilege,
        Reason::WalsenderPermission,
        Reason::SuperuserOnly,
        Reason::StartingUp,
        Reason::ShuttingDown,
        Reason::Recovery,
        Reason::StartupOption,
        Reason::UnsupportedProtocol,
        Reason::StartupPacket,
        Reason::Other,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::Password => "password",
            Reason::NoSuchRole => "no_such_role",
            Reason::PasswordExpired => "password_expired",
            Reason::NoPassword => "no_password",
            Reason::NoScramSecret => "no_scram_secret",
            Reason::PasswordFormat => "password_format",
            Reason::CertMissing => "cert_missing",
            Reason::CertMismatch => "cert_mismatch",
            Reason::CertUnverified => "cert_unverified",
            Reason::Peer => "peer",
            Reason::Ident => "ident",
            Reason::Pam => "pam",
            Reason::Ldap => "ldap",
            Reason::Radius => "radius",
            Reason::Gss => "gss",
            Reason::Authentication => "authentication",
            Reason::AuthTimeout => "auth_timeout",
            Reason::NoHbaEntry => "no_hba_entry",
            Reason::NoHbaEntryEncrypted => "no_hba_entry_encrypted",
            Reason::HbaReject => "hba_reject",
            Reason::Tls => "tls",
            Reason::TooManyClients => "too_many_clients",
            Reason::ReservedSlots => "reserved_slots",
            Reason::RoleLimit => "role_limit",
            Reason::DatabaseLimit => "database_limit",
            Reason::MaxWalSenders => "max_wal_senders",
            Reason::NoSuchDatabase => "no_such_database",
            Reason::DatabaseNotAccepting => "database_not_accepting",
            Reason::NotPermitted => "not_permitted",
            Reason::NoConnectPrivilege => "no_connect_privilege",
            Reason::WalsenderPermission => "walsender_permission",
            Reason::SuperuserOnly => "superuser_only",
            Reason::StartingUp => "starting_up",
            Reason::ShuttingDown => "shutting_down",
            Reason::Recovery => "recovery",
            Reason::StartupOption => "startup_option",
            Reason::UnsupportedProtocol => "unsupported_protocol",
            Reason::StartupPacket => "startup_packet",
            Reason::Other => "other",
        }
    }

    pub(crate) fn class(self) -> Class {
        use Reason::*;
        match self {
            Password | NoSuchRole | PasswordExpired | NoPassword | NoScramSecret
            | PasswordFormat | CertMissing | CertMismatch | CertUnverified | Peer | Ident | Pam
            | Ldap | Radius | Gss | Authentication | AuthTimeout => Class::Auth,
            NoHbaEntry | NoHbaEntryEncrypted | HbaReject => Class::Hba,
            Tls => Class::Tls,
            TooManyClients | ReservedSlots | RoleLimit | DatabaseLimit | MaxWalSenders => {
                Class::Limit
            }
            NoSuchDatabase | DatabaseNotAccepting | NotPermitted | NoConnectPrivilege
            | WalsenderPermission | SuperuserOnly => Class::Refused,
            StartingUp | ShuttingDown | Recovery => Class::ServerState,
            StartupOption | UnsupportedProtocol | StartupPacket => Class::Startup,
            Other => Class::Other,
        }
    }

    /// Whether the failure is what password guessing produces, so that it
    /// counts toward the brute-force view: a wrong or unusable credential
    /// for a role, missing or not, including certificates and the methods
    /// that check a password elsewhere (PAM, LDAP, RADIUS). Limits, missing
    /// databases, pg_hba.conf and server states do not count, nor do peer,
    /// ident and GSSAPI (the operating system's identity, not a guess).
    pub(crate) fn is_guessing(self) -> bool {
        use Reason::*;
        matches!(
            self,
            Password
                | NoSuchRole
                | PasswordExpired
                | NoPassword
                | NoScramSecret
                | PasswordFormat
                | CertMissing
                | CertMismatch
                | CertUnverified
                | Pam
                | Ldap
                | Radius
        )
    }

    /// Text for the table: the reason as a DBA reads it.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Reason::Password => "wrong password",
            Reason::NoSuchRole => "role does not exist",
            Reason::PasswordExpired => "password expired",
            Reason::NoPassword => "role has no password",
            Reason::NoScramSecret => "no SCRAM secret (md5 hash)",
            Reason::PasswordFormat => "password unusable by the method",
            Reason::CertMissing => "no client certificate",
            Reason::CertMismatch => "certificate does not match role",
            Reason::CertUnverified => "certificate not verified",
            Reason::Peer => "peer authentication",
            Reason::Ident => "ident authentication",
            Reason::Pam => "PAM authentication",
            Reason::Ldap => "LDAP authentication",
            Reason::Radius => "RADIUS authentication",
            Reason::Gss => "GSSAPI/SSPI authentication",
            Reason::Authentication => "authentication (other)",
            Reason::AuthTimeout => "authentication timeout",
            Reason::NoHbaEntry => "no pg_hba.conf entry",
            Reason::NoHbaEntryEncrypted => "no pg_hba.conf entry (encrypted)",
            Reason::HbaReject => "pg_hba.conf reject",
            Reason::Tls => "TLS handshake refused",
            Reason::TooManyClients => "too many clients",
            Reason::ReservedSlots => "reserved slots",
            Reason::RoleLimit => "role connection limit",
            Reason::DatabaseLimit => "database connection limit",
            Reason::MaxWalSenders => "max_wal_senders",
            Reason::NoSuchDatabase => "database does not exist",
            Reason::DatabaseNotAccepting => "database not accepting",
            Reason::NotPermitted => "role may not log in",
            Reason::NoConnectPrivilege => "no CONNECT privilege",
            Reason::WalsenderPermission => "no REPLICATION attribute",
            Reason::SuperuserOnly => "superuser only",
            Reason::StartingUp => "server starting up",
            Reason::ShuttingDown => "server shutting down",
            Reason::Recovery => "server in recovery",
            Reason::StartupOption => "bad startup option",
            Reason::UnsupportedProtocol => "unsupported protocol",
            Reason::StartupPacket => "bad startup packet",
            Reason::Other => "other",
        }
    }
}

/// A connection that ended before it asked to authenticate: a health
/// check, a port scan, a TLS client that gave up. Counted apart from
/// failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProbeKind {
    /// `incomplete startup packet`
    IncompleteStartupPacket,
    /// `invalid length of startup packet`
    InvalidStartupLength,
    /// `could not accept SSL connection: EOF detected` (or a reset).
    TlsEof,
}

impl ProbeKind {
    pub(crate) const ALL: [ProbeKind; 3] =
        [ProbeKind::IncompleteStartupPacket, ProbeKind::InvalidStartupLength, ProbeKind::TlsEof];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ProbeKind::IncompleteStartupPacket => "incomplete_startup_packet",
            ProbeKind::InvalidStartupLength => "invalid_startup_length",
            ProbeKind::TlsEof => "tls_eof",
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

#[cfg(test)]
mod tests {
    use super::Reason;

    /// The fail2ban filter names the reasons it bans for: exactly the
    /// guessing ones, so that it bans what the brute-force view counts.
    #[test]
    fn the_fail2ban_filter_lists_the_guessing_reasons() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/fail2ban/filter.d/pgconn.conf");
        let conf = std::fs::read_to_string(path).expect("contrib/fail2ban/filter.d/pgconn.conf");
        let list = conf.lines().find_map(|l| l.strip_prefix("_guessing = ")).expect("_guessing");
        let mut listed: Vec<&str> = list.trim().split('|').collect();
        listed.sort_unstable();
        let mut guessing: Vec<&str> =
            Reason::ALL.iter().filter(|r| r.is_guessing()).map(|r| r.as_str()).collect();
        guessing.sort_unstable();
        assert_eq!(listed, guessing);
        // Plain names, used once, by the only failregex.
        assert!(listed.iter().all(|r| r.bytes().all(|c| c.is_ascii_lowercase() || c == b'_')));
        assert_eq!(conf.matches("%(_guessing)s").count(), 1);
        let failregex: Vec<&str> = conf.lines().filter(|l| l.starts_with("failregex")).collect();
        assert!(matches!(failregex[..], [l] if l.contains("(?:%(_guessing)s)")), "{failregex:?}");
    }
}
