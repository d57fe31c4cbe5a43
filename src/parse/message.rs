//! The message text of connection-related log lines, shared by every input
//! format: `connection authorized: user=...` means the same in a stderr
//! line, a csvlog record or a jsonlog object.
//!
//! Names in these messages are written raw by the server: not quoted, and
//! they may hold spaces, commas and quotes. Fields are therefore cut at the
//! next fixed keyword (` database=`, ` SSL enabled (`), never at a space.
//! Wordings follow `shared/reference/postgres-log-messages.md` for
//! PostgreSQL 12 to 18.

use crate::bytes;
use crate::event::{EndCause, EventKind, ProbeKind, Reason, Security, ServerEvent};

/// What a message means for connection tracking.
#[derive(Debug, PartialEq)]
pub(crate) enum Parsed<'a> {
    Event(EventKind<'a>),
    /// A line that looked like a candidate but is not about a client
    /// connection (a FATAL from autovacuum, say).
    Ignore,
    /// A connection message whose fields could not be read.
    Unparsed,
}

/// The message kind, as found by the marker automaton (see scan.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MessageKind {
    Received,
    Authenticated,
    Authorized,
    ReplicationAuthorized,
    Ready,
    Disconnection,
    /// Any FATAL: classified by its text.
    Fatal,
    /// `DETAIL:  Role "...`, `DETAIL:  User "...`, `DETAIL:  Password of
    /// user "...`: why a password failure failed.
    Detail,
    /// `incomplete startup packet`, `invalid length of startup packet`.
    StartupPacketLog,
    /// `could not accept SSL connection: ...`, and the other LOG-level TLS
    /// failures before authentication.
    SslLog,
    /// LOG-level signs that the client went away.
    ClientLostLog,
    Server(ServerEvent),
    /// `server process (PID n) ...` and the like, from the postmaster.
    ChildExit,
}

/// The first `needle` in `hay`. Messages are short: a memchr for the
/// first byte and a compare beat building a substring searcher per call.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    memchr::memchr_iter(first, hay).find(|&i| bytes::starts_with(&hay[i + 1..], rest))
}

/// The last `needle` in `hay`; like `find`, cheaper than a substring
/// searcher's set-up on texts this short.
fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    memchr::memrchr_iter(first, hay).find(|&i| bytes::starts_with(&hay[i + 1..], rest))
}

/// The text between `start` and the first `end` after it.
fn between<'a>(hay: &'a [u8], start: &[u8], end: &[u8]) -> Option<&'a [u8]> {
    let s = find(hay, start)? + start.len();
    let e = find(&hay[s..], end)?;
    Some(&hay[s..s + e])
}

/// The name in a message of the form `...for user "NAME"` (the name is the
/// text up to the message's last quote, since names may hold quotes).
fn quoted_to_last<'a>(msg: &'a [u8], after: &[u8]) -> Option<&'a [u8]> {
    let s = find(msg, after)? + after.len();
    let e = memchr::memrchr(b'"', &msg[s..])?;
    Some(&msg[s..s + e])
}

/// `?` for the parsers of one message: a part missing makes it unparsed.
macro_rules! need {
    ($e:expr) => {
        match $e {
            Some(v) => v,
            None => return Parsed::Unparsed,
        }
    };
}

/// Parses a message of the given kind. `msg` starts at the message text
/// (after the severity and, with verbose logging, the SQLSTATE).
pub(crate) fn parse(kind: MessageKind, msg: &[u8]) -> Parsed<'_> {
    // The connection messages return `Parsed` themselves: an event built
    // in a temporary and then moved into `Parsed` was copied right after
    // it was written, which stalls (store forwarding).
    let event = match kind {
        MessageKind::Received => return received(msg),
        MessageKind::Authenticated => return authenticated(msg),
        MessageKind::Authorized => return authorized(msg, false),
        MessageKind::ReplicationAuthorized => return authorized(msg, true),
        MessageKind::Ready => return ready(msg),
        MessageKind::Disconnection => return disconnection(msg),
        MessageKind::Fatal => return fatal(msg),
        MessageKind::Detail => return detail(msg),
        MessageKind::StartupPacketLog => Some(EventKind::Probe {
            kind: if msg.starts_with(b"invalid length") {
                ProbeKind::InvalidStartupLength
            } else {
                ProbeKind::IncompleteStartupPacket
            },
        }),
        MessageKind::SslLog => Some(ssl_log(msg)),
        MessageKind::ClientLostLog => Some(EventKind::Ended { cause: EndCause::ClientLost }),
        MessageKind::Server(ev) => Some(EventKind::Server(ev)),
        MessageKind::ChildExit => return child_exit(msg),
    };
    match event {
        Some(e) => Parsed::Event(e),
        None => Parsed::Unparsed,
    }
}

fn received(msg: &[u8]) -> Parsed<'_> {
    let rest = need!(msg.strip_prefix(b"connection received: host="));
    let (host, port) = match find(rest, b" port=") {
        Some(i) => {
            (&rest[..i], std::str::from_utf8(&rest[i + 6..]).ok().and_then(|p| p.parse().ok()))
        }
        None => (rest, None),
    };
    Parsed::Event(EventKind::Received { host, port })
}

fn authenticated(msg: &[u8]) -> Parsed<'_> {
    let rest = need!(msg.strip_prefix(b"connection authenticated: "));
    let s = need!(find(rest, b"\" method=")) + 9;
    let e = find(&rest[s..], b" ").map_or(rest.len(), |i| s + i);
    Parsed::Event(EventKind::Authenticated { method: &rest[s..e] })
}

/// Strips a trailing ` KEYWORD (...)` block, returning what is before it
/// and what is inside the parentheses.
fn strip_block<'a>(text: &'a [u8], keyword: &[u8]) -> (&'a [u8], Option<&'a [u8]>) {
    if text.ends_with(b")")
        && let Some(i) = rfind(text, keyword)
    {
        return (&text[..i], Some(&text[i + keyword.len()..text.len() - 1]));
    }
    (text, None)
}

fn authorized(msg: &[u8], replication: bool) -> Parsed<'_> {
    let head: &[u8] = if replication {
        b"replication connection authorized: user="
    } else {
        b"connection authorized: user="
    };
    let rest = need!(msg.strip_prefix(head));
    // From the end: GSS (...), then SSL enabled (...).
    let (rest, gss) = strip_block(rest, b" GSS (");
    let (rest, ssl) = strip_block(rest, b" SSL enabled (");
    let security = Security {
        tls: ssl.map(|s| match find(s, b"protocol=") {
            Some(i) => s[i + 9..].split(|&c| c == b',').next().unwrap_or_default(),
            None => &s[..0],
        }),
        gss_encrypted: gss.map(|g| find(g, b"encrypted=yes").is_some()),
    };
    let (before_app, app) = match find(rest, b" application_name=") {
        Some(i) => (&rest[..i], Some(&rest[i + 18..])),
        None => (rest, None),
    };
    let (user, db) = match find(before_app, b" database=") {
        Some(i) => (&before_app[..i], Some(&before_app[i + 10..])),
        None if replication => (before_app, None),
        None => return Parsed::Unparsed,
    };
    Parsed::Event(EventKind::Authorized { user, db, app, replication, security })
}

/// `connection ready: setup total=7.197 ms, fork=1.103 ms, authentication=0.332 ms`
fn ready(msg: &[u8]) -> Parsed<'_> {
    let rest = need!(msg.strip_prefix(b"connection ready: setup "));
    let mut us = [0u64; 3];
    for (slot, key) in us.iter_mut().zip([&b"total="[..], b"fork=", b"authentication="]) {
        let s = need!(find(rest, key)) + key.len();
        let e = need!(find(&rest[s..], b" ms")) + s;
        let ms: f64 = need!(std::str::from_utf8(&rest[s..e]).ok().and_then(|t| t.parse().ok()));
        *slot = (ms * 1000.0).round().max(0.0) as u64;
    }
    Parsed::Event(EventKind::Ready { total_us: us[0], fork_us: us[1], auth_us: us[2] })
}

/// `H:MM:SS.mmm`, hours without a day rollover.
fn session_time(t: &[u8]) -> Option<u64> {
    let (hms, ms) = t.split_at(t.iter().position(|&c| c == b'.')?);
    let ms = &ms[1..];
    let num = |b: &[u8]| -> Option<u64> {
        if b.is_empty() || b.len() > 12 || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(b.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
    };
    let mut parts = hms.split(|&c| c == b':');
    let h = num(parts.next()?)?;
    let m = num(parts.next()?)?;
    let s = num(parts.next()?)?;
    if parts.next().is_some() || m > 59 || s > 59 || ms.len() != 3 {
        return None;
    }
    Some(((h * 60 + m) * 60 + s) * 1000 + num(ms)?)
}

fn disconnection(msg: &[u8]) -> Parsed<'_> {
    let rest = need!(msg.strip_prefix(b"disconnection: session time: "));
    let sp = need!(memchr::memchr(b' ', rest));
    let session_ms = need!(session_time(&rest[..sp]));
    let rest = need!(rest[sp + 1..].strip_prefix(b"user="));
    let d = need!(find(rest, b" database="));
    let user = &rest[..d];
    let rest = &rest[d + 10..];
    let h = need!(find(rest, b" host="));
    let db = &rest[..h];
    let rest = &rest[h + 6..];
    let host = match rfind(rest, b" port=") {
        Some(i) => &rest[..i],
        None => rest,
    };
    Parsed::Event(EventKind::Disconnected { session_ms, user, db, host, walsender: false })
}

/// The DETAIL of a password failure that names a finer reason (crypt.c,
/// auth-scram.c); `Password does not match` and the pg_hba.conf match
/// line leave the reason as it is.
pub(crate) fn detail_reason(detail: &[u8]) -> Option<Reason> {
    // A csvlog or jsonlog detail holds the pg_hba.conf match after a
    // newline: only its first line is the method's.
    let first = detail.split(|&c| c == b'\n').next().unwrap_or_default();
    if first.starts_with(b"Role \"") && first.ends_with(b"\" does not exist.") {
        return Some(Reason::NoSuchRole);
    }
    if first.starts_with(b"Password of user \"") {
        return Some(Reason::PasswordFormat);
    }
    if !first.starts_with(b"User \"") {
        return None;
    }
    const ENDINGS: &[(&[u8], Reason)] = &[
        (b"\" has an expired password.", Reason::PasswordExpired),
        (b"\" has no password assigned.", Reason::NoPassword),
        (b"\" does not have a valid SCRAM secret.", Reason::NoScramSecret),
        (b"\" does not have a valid SCRAM verifier.", Reason::NoScramSecret),
        (b"\" has a password that cannot be used with MD5 authentication.", Reason::PasswordFormat),
    ];
    ENDINGS.iter().find(|(end, _)| first.ends_with(end)).map(|&(_, r)| r)
}

fn detail(msg: &[u8]) -> Parsed<'_> {
    match detail_reason(msg) {
        Some(reason) => Parsed::Event(EventKind::Detail { reason }),
        None => Parsed::Ignore,
    }
}

/// `could not accept SSL connection: WHY` and kin. A client that went
/// away mid-handshake (EOF, reset) is a probe; one that refused the
/// server's certificate, or a server that could not verify the client's,
/// is a failed attempt.
fn ssl_log(msg: &[u8]) -> EventKind<'_> {
    let why = msg.strip_prefix(b"could not accept SSL connection: ").unwrap_or_default();
    const CUT_OFF: &[&[u8]] = &[
        b"EOF detected",
        b"Connection reset by peer",
        b"unexpected eof while reading",
        b"Success",
        b"Broken pipe",
    ];
    if CUT_OFF.iter().any(|c| bytes::starts_with(why, c)) {
        EventKind::Probe { kind: ProbeKind::TlsEof }
    } else if find(why, b"certificate verify failed").is_some() {
        failure(Reason::CertUnverified)
    } else {
        failure(Reason::Tls)
    }
}

fn failure<'a>(reason: Reason) -> EventKind<'a> {
    EventKind::Failure { reason, user: None, db: None, host: None }
}

fn fatal(msg: &[u8]) -> Parsed<'_> {
    // Verbose logging puts `SQLSTATE: ` first; the caller strips it.
    let ev = if let Some(user) = quoted_to_last(msg, b"password authentication failed for user \"")
        .filter(|_| msg.starts_with(b"password authentication failed"))
    {
        EventKind::Failure { reason: Reason::Password, user: Some(user), db: None, host: None }
    } else if msg.starts_with(b"no pg_hba.conf entry for ")
        || msg.starts_with(b"pg_hba.conf rejects ")
    {
        // The last words say whether the attempt was encrypted: `SSL
        // encryption`, `GSS encryption` (14+), `SSL on` (12, 13).
        let encrypted = msg.ends_with(b" encryption") && !msg.ends_with(b", no encryption")
            || msg.ends_with(b", SSL on");
        let reason = match (msg.starts_with(b"no pg_hba"), encrypted) {
            (true, false) => Reason::NoHbaEntry,
            (true, true) => Reason::NoHbaEntryEncrypted,
            (false, _) => Reason::HbaReject,
        };
        let host = between(msg, b"host \"", b"\", user \"");
        let user = between(msg, b"\", user \"", b"\"");
        let user = match find(msg, b"\", database \"") {
            Some(_) => between(msg, b"\", user \"", b"\", database \""),
            None => user,
        };
        let db = find(msg, b"\", database \"").and_then(|i| {
            let s = i + 13;
            memchr::memrchr(b'"', &msg[s..]).map(|e| &msg[s..s + e])
        });
        EventKind::Failure { reason, user, db, host }
    } else if msg.starts_with(b"authentication failed for user \"") {
        let reason = if msg.ends_with(b": host rejected") {
            Reason::HbaReject
        } else {
            Reason::Authentication
        };
        EventKind::Failure { reason, user: between(msg, b"user \"", b"\": "), db: None, host: None }
    } else if msg.starts_with(b"role \"") && msg.ends_with(b"\" does not exist") {
        let user = &msg[6..msg.len() - 16];
        EventKind::Failure { reason: Reason::NoSuchRole, user: Some(user), db: None, host: None }
    } else if msg.starts_with(b"role \"") && msg.ends_with(b"\" is not permitted to log in") {
        let user = &msg[6..msg.len() - 28];
        EventKind::Failure { reason: Reason::NotPermitted, user: Some(user), db: None, host: None }
    } else if msg.starts_with(b"database \"") && msg.ends_with(b"\" does not exist") {
        let db = &msg[10..msg.len() - 16];
        EventKind::Failure { reason: Reason::NoSuchDatabase, user: None, db: Some(db), host: None }
    } else if msg.starts_with(b"too many connections for role \"") {
        let user = quoted_to_last(msg, b"role \"");
        EventKind::Failure { reason: Reason::RoleLimit, user, db: None, host: None }
    } else if msg.starts_with(b"too many connections for database \"") {
        let db = quoted_to_last(msg, b"database \"");
        EventKind::Failure { reason: Reason::DatabaseLimit, user: None, db, host: None }
    } else if msg.starts_with(b"permission denied for database \"") {
        let db = quoted_to_last(msg, b"database \"");
        EventKind::Failure { reason: Reason::NoConnectPrivilege, user: None, db, host: None }
    } else if msg.starts_with(b"database \"")
        && msg.ends_with(b"\" is not currently accepting connections")
    {
        let db = &msg[10..msg.len() - 40];
        EventKind::Failure {
            reason: Reason::DatabaseNotAccepting,
            user: None,
            db: Some(db),
            host: None,
        }
    } else if msg.starts_with(b"cannot connect to invalid database \"") {
        let db = quoted_to_last(msg, b"database \"");
        EventKind::Failure { reason: Reason::DatabaseNotAccepting, user: None, db, host: None }
    } else if let Some(reason) =
        FATAL_PREFIXES.iter().find(|(p, _)| bytes::starts_with(msg, p.as_bytes())).map(|(_, r)| *r)
    {
        match reason {
            Fatal::Failure(r) => failure(r),
            Fatal::Ended(cause) => EventKind::Ended { cause },
            Fatal::NotClient => return Parsed::Ignore,
        }
    } else if let Some(i) = find(msg, b" authentication failed for user \"") {
        // Ident, Peer, "trust", GSSAPI, SSPI, PAM, BSD, LDAP, certificate,
        // RADIUS, OAuth bearer.
        let user = quoted_to_last(&msg[i..], b"user \"");
        const METHODS: &[(&[u8], Reason)] = &[
            (b"Peer", Reason::Peer),
            (b"Ident", Reason::Ident),
            (b"PAM", Reason::Pam),
            (b"LDAP", Reason::Ldap),
            (b"RADIUS", Reason::Radius),
            (b"GSSAPI", Reason::Gss),
            (b"SSPI", Reason::Gss),
            (b"certificate", Reason::CertMismatch),
        ];
        let method = &msg[..i];
        let reason =
            METHODS.iter().find(|(m, _)| method == *m).map_or(Reason::Authentication, |&(_, r)| r);
        EventKind::Failure { reason, user, db: None, host: None }
    } else {
        EventKind::OtherFatal { translated: translated(msg) }
    };
    Parsed::Event(ev)
}

/// Words of PostgreSQL's English FATAL messages, one of which nearly every
/// one holds (lower case: a translation's nouns are capitalised in German,
/// and short words that other languages share are left out).
const ENGLISH: &[&[u8]] = &[
    b"already",
    b"and",
    b"authentication",
    b"canceling",
    b"connection",
    b"connections",
    b"could",
    b"database",
    b"denied",
    b"does",
    b"due",
    b"entry",
    b"exist",
    b"exists",
    b"failed",
    b"for",
    b"from",
    b"invalid",
    b"lost",
    b"many",
    b"memory",
    b"must",
    b"not",
    b"permission",
    b"process",
    b"received",
    b"recovery",
    b"remaining",
    b"role",
    b"server",
    b"shutting",
    b"sorry",
    b"starting",
    b"system",
    b"terminating",
    b"the",
    b"timeout",
    b"too",
    b"unsupported",
    b"user",
    b"with",
];

/// Whether a FATAL message pgconn does not know reads as a translation
/// (lc_messages) rather than English. English messages quote names in
/// `"`, are ASCII outside them, and hold one of the `ENGLISH` words; a
/// translation has letters outside ASCII (`für`, `»alice«`, Cyrillic) or
/// none of those words (`Verbindung wird abgebrochen ...`).
pub(crate) fn translated(msg: &[u8]) -> bool {
    let (mut quoted, mut words, mut english) = (false, 0, false);
    let mut start = None;
    for (i, &c) in msg.iter().chain(std::iter::once(&b' ')).enumerate() {
        if c == b'"' {
            quoted = !quoted;
        }
        if quoted || c == b'"' {
            start = None;
            continue;
        }
        if c >= 0x80 {
            return true;
        }
        match (c.is_ascii_alphabetic(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                words += 1;
                english |= ENGLISH.contains(&&msg[s..i]);
                start = None;
            }
            _ => {}
        }
    }
    words > 0 && !english
}

#[derive(Clone, Copy)]
enum Fatal {
    Failure(Reason),
    Ended(EndCause),
    NotClient,
}

/// FATAL messages recognised by their first words.
const FATAL_PREFIXES: &[(&str, Fatal)] = &[
    ("sorry, too many clients already", Fatal::Failure(Reason::TooManyClients)),
    ("number of requested standby connections exceeds", Fatal::Failure(Reason::MaxWalSenders)),
    ("remaining connection slots are reserved", Fatal::Failure(Reason::ReservedSlots)),
    ("the database system is starting up", Fatal::Failure(Reason::StartingUp)),
    ("the database system is shutting down", Fatal::Failure(Reason::ShuttingDown)),
    ("the database system is in recovery mode", Fatal::Failure(Reason::Recovery)),
    ("the database system is not yet accepting connections", Fatal::Failure(Reason::Recovery)),
    ("the database system is not accepting connections", Fatal::Failure(Reason::Recovery)),
    ("permission denied to start WAL sender", Fatal::Failure(Reason::WalsenderPermission)),
    (
        "must be superuser or replication role to start walsender",
        Fatal::Failure(Reason::WalsenderPermission),
    ),
    ("must be superuser", Fatal::Failure(Reason::SuperuserOnly)),
    ("new replication connections are not allowed", Fatal::Failure(Reason::ShuttingDown)),
    ("no PostgreSQL user name specified", Fatal::Failure(Reason::StartupPacket)),
    ("unsupported frontend protocol", Fatal::Failure(Reason::UnsupportedProtocol)),
    ("invalid startup packet layout", Fatal::Failure(Reason::StartupPacket)),
    // Startup options (PGOPTIONS, `options=-c ...`) are applied after
    // `connection authorized`; the same texts from a running session are
    // ERRORs, never FATAL.
    ("invalid value for parameter", Fatal::Failure(Reason::StartupOption)),
    ("unrecognized configuration parameter", Fatal::Failure(Reason::StartupOption)),
    ("permission denied to set parameter", Fatal::Failure(Reason::StartupOption)),
    ("invalid command-line argument for server process", Fatal::Failure(Reason::StartupOption)),
    ("invalid command-line arguments for server process", Fatal::Failure(Reason::StartupOption)),
    ("parameter \"", Fatal::Failure(Reason::StartupOption)),
    ("received unencrypted data after", Fatal::Failure(Reason::Tls)),
    ("connection requires a valid client certificate", Fatal::Failure(Reason::CertMissing)),
    ("client certificates can only be checked", Fatal::Failure(Reason::Tls)),
    ("could not accept SSL connection", Fatal::Failure(Reason::Tls)),
    ("GSSAPI encryption can only be used", Fatal::Failure(Reason::Gss)),
    ("GSSAPI context error", Fatal::Failure(Reason::Gss)),
    ("could not accept GSSAPI security context", Fatal::Failure(Reason::Gss)),
    ("expected password response", Fatal::Failure(Reason::Authentication)),
    ("invalid password packet size", Fatal::Failure(Reason::Authentication)),
    ("empty password returned by client", Fatal::Failure(Reason::Authentication)),
    ("expected SASL response", Fatal::Failure(Reason::Authentication)),
    ("expected GSS response", Fatal::Failure(Reason::Authentication)),
    ("authentication identifier set more than once", Fatal::Failure(Reason::Authentication)),
    ("canceling authentication due to timeout", Fatal::Failure(Reason::AuthTimeout)),
    ("terminating connection due to administrator command", Fatal::Ended(EndCause::AdminTerminate)),
    (
        "terminating connection due to idle-in-transaction timeout",
        Fatal::Ended(EndCause::IdleInTransactionTimeout),
    ),
    (
        "terminating connection due to idle-session timeout",
        Fatal::Ended(EndCause::IdleSessionTimeout),
    ),
    (
        "terminating connection due to transaction timeout",
        Fatal::Ended(EndCause::TransactionTimeout),
    ),
    (
        "terminating connection due to conflict with recovery",
        Fatal::Ended(EndCause::RecoveryConflict),
    ),
    ("connection to client lost", Fatal::Ended(EndCause::ClientLost)),
    (
        "terminating connection because protocol synchronization",
        Fatal::Ended(EndCause::ProtocolError),
    ),
    ("invalid frontend message type", Fatal::Ended(EndCause::ProtocolError)),
    (
        "terminating connection due to unexpected postmaster exit",
        Fatal::Ended(EndCause::PostmasterExit),
    ),
    ("terminating autovacuum process", Fatal::NotClient),
    ("terminating background worker", Fatal::NotClient),
    ("terminating logical replication worker", Fatal::NotClient),
];

/// `server process (PID 4601) was terminated by signal 9: Killed`
fn child_exit(msg: &[u8]) -> Parsed<'_> {
    let Some(pid) = between(msg, b"(PID ", b")") else {
        return Parsed::Unparsed;
    };
    let Some(pid) = std::str::from_utf8(pid).ok().and_then(|p| p.parse::<u32>().ok()) else {
        return Parsed::Unparsed;
    };
    Parsed::Event(EventKind::ChildCrashed { pid })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: MessageKind, msg: &str) -> EventKind<'_> {
        match parse(kind, msg.as_bytes()) {
            Parsed::Event(e) => e,
            other => panic!("{msg}: {other:?}"),
        }
    }

    fn b(s: &str) -> &[u8] {
        s.as_bytes()
    }

    #[test]
    fn received_tcp_and_socket() {
        assert_eq!(
            ev(MessageKind::Received, "connection received: host=10.0.0.5 port=51234"),
            EventKind::Received { host: b("10.0.0.5"), port: Some(51234) }
        );
        assert_eq!(
            ev(MessageKind::Received, "connection received: host=[local]"),
            EventKind::Received { host: b("[local]"), port: None }
        );
    }

    #[test]
    fn authorized_variants() {
        let e = ev(
            MessageKind::Authorized,
            "connection authorized: user=postgres database=appdb application_name=my app SSL enabled (protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256)",
        );
        assert_eq!(
            e,
            EventKind::Authorized {
                user: b("postgres"),
                db: Some(b("appdb")),
                app: Some(b("my app")),
                replication: false,
                security: Security { tls: Some(b("TLSv1.3")), gss_encrypted: None },
            }
        );
        let e =
            ev(MessageKind::Authorized, "connection authorized: user=my user database=sales db");
        assert_eq!(
            e,
            EventKind::Authorized {
                user: b("my user"),
                db: Some(b("sales db")),
                app: None,
                replication: false,
                security: Security::default(),
            }
        );
        let e = ev(
            MessageKind::Authorized,
            "connection authorized: user=alice database=prod application_name=psql GSS (authenticated=yes, encrypted=yes, delegated_credentials=no, principal=alice@EXAMPLE.COM)",
        );
        let gss = Security { tls: None, gss_encrypted: Some(true) };
        assert!(
            matches!(e, EventKind::Authorized { app: Some(b"psql"), security, .. } if security == gss)
        );
        let e = ev(
            MessageKind::Authorized,
            "connection authorized: user=a database=b application_name=psql SSL enabled (protocol=TLSv1.2, cipher=X, bits=256, compression=off)",
        );
        let tls = Security { tls: Some(b"TLSv1.2"), gss_encrypted: None };
        assert!(
            matches!(e, EventKind::Authorized { app: Some(b"psql"), security, .. } if security == tls)
        );
        let e = ev(
            MessageKind::ReplicationAuthorized,
            "replication connection authorized: user=rep application_name=walreceiver",
        );
        assert!(matches!(
            e,
            EventKind::Authorized {
                user: b"rep",
                db: None,
                app: Some(b"walreceiver"),
                replication: true,
                ..
            }
        ));
        let e = ev(
            MessageKind::Authorized,
            "connection authorized: user=a database=b application_name=",
        );
        assert!(matches!(e, EventKind::Authorized { app: Some(b""), .. }));
        assert_eq!(
            parse(MessageKind::Authorized, b"connection authorized: user=a"),
            Parsed::Unparsed
        );
    }

    #[test]
    fn ready_and_authenticated() {
        assert_eq!(
            ev(
                MessageKind::Ready,
                "connection ready: setup total=7.197 ms, fork=1.103 ms, authentication=0.332 ms"
            ),
            EventKind::Ready { total_us: 7197, fork_us: 1103, auth_us: 332 }
        );
        assert_eq!(
            ev(
                MessageKind::Authenticated,
                "connection authenticated: identity=\"app\" method=scram-sha-256 (/etc/postgresql/16/main/pg_hba.conf:98)"
            ),
            EventKind::Authenticated { method: b("scram-sha-256") }
        );
        assert_eq!(
            ev(
                MessageKind::Authenticated,
                "connection authenticated: user=\"postgres\" method=trust (/etc/postgresql/17/main/pg_hba.conf:90)"
            ),
            EventKind::Authenticated { method: b("trust") }
        );
    }

    #[test]
    fn disconnection_times_and_hosts() {
        let e = ev(
            MessageKind::Disconnection,
            "disconnection: session time: 0:00:05.013 user=app database=prod host=10.0.0.5 port=51234",
        );
        assert_eq!(
            e,
            EventKind::Disconnected {
                session_ms: 5013,
                user: b("app"),
                db: b("prod"),
                host: b("10.0.0.5"),
                walsender: false,
            }
        );
        let e = ev(
            MessageKind::Disconnection,
            "disconnection: session time: 27:03:04.005 user=postgres database=postgres host=[local]",
        );
        assert!(matches!(
            e,
            EventKind::Disconnected { session_ms: 97_384_005, host: b"[local]", .. }
        ));
        let e = ev(
            MessageKind::Disconnection,
            "disconnection: session time: 1234:00:00.000 user=replicator database= host=10.0.0.7 port=40112",
        );
        assert!(matches!(e, EventKind::Disconnected { session_ms: 4_442_400_000, db: b"", .. }));
        assert_eq!(
            parse(
                MessageKind::Disconnection,
                b"disconnection: session time: 0:61:00.000 user=a database=b host=c"
            ),
            Parsed::Unparsed
        );
    }

    #[test]
    fn failure_reasons() {
        let reason = |m: &str| match ev(MessageKind::Fatal, m) {
            EventKind::Failure { reason, .. } => reason,
            other => panic!("{m}: {other:?}"),
        };
        assert_eq!(reason("password authentication failed for user \"app\""), Reason::Password);
        assert_eq!(
            reason(
                "no pg_hba.conf entry for host \"10.0.0.5\", user \"nohba\", database \"postgres\", no encryption"
            ),
            Reason::NoHbaEntry
        );
        assert_eq!(
            reason(
                "pg_hba.conf rejects connection for host \"10.0.0.5\", user \"blocked\", database \"postgres\", SSL off"
            ),
            Reason::HbaReject
        );
        assert_eq!(reason("role \"ghost\" does not exist"), Reason::NoSuchRole);
        assert_eq!(reason("database \"nosuchdb\" does not exist"), Reason::NoSuchDatabase);
        assert_eq!(reason("sorry, too many clients already"), Reason::TooManyClients);
        assert_eq!(
            reason(
                "remaining connection slots are reserved for roles with the SUPERUSER attribute"
            ),
            Reason::ReservedSlots
        );
        assert_eq!(
            reason(
                "remaining connection slots are reserved for non-replication superuser connections"
            ),
            Reason::ReservedSlots
        );
        assert_eq!(reason("too many connections for role \"limited\""), Reason::RoleLimit);
        assert_eq!(reason("too many connections for database \"prod\""), Reason::DatabaseLimit);
        assert_eq!(
            reason("role \"nologin_role\" is not permitted to log in"),
            Reason::NotPermitted
        );
        assert_eq!(reason("permission denied for database \"prod\""), Reason::NoConnectPrivilege);
        assert_eq!(reason("the database system is starting up"), Reason::StartingUp);
        assert_eq!(reason("the database system is shutting down"), Reason::ShuttingDown);
        assert_eq!(
            reason("the database system is not yet accepting connections"),
            Reason::Recovery
        );
        assert_eq!(reason("Peer authentication failed for user \"x\""), Reason::Peer);
        assert_eq!(reason("LDAP authentication failed for user \"x\""), Reason::Ldap);
        assert_eq!(
            reason("certificate authentication failed for user \"x\""),
            Reason::CertMismatch
        );
        assert_eq!(reason("BSD authentication failed for user \"x\""), Reason::Authentication);
        assert_eq!(reason("connection requires a valid client certificate"), Reason::CertMissing);
        assert_eq!(
            reason(
                "no pg_hba.conf entry for host \"::1\", user \"x\", database \"d\", SSL encryption"
            ),
            Reason::NoHbaEntryEncrypted
        );
        assert_eq!(
            reason("no pg_hba.conf entry for host \"::1\", user \"x\", database \"d\", SSL on"),
            Reason::NoHbaEntryEncrypted
        );
        assert_eq!(
            reason("no pg_hba.conf entry for host \"::1\", user \"x\", database \"d\", SSL off"),
            Reason::NoHbaEntry
        );
        assert_eq!(
            reason("unrecognized configuration parameter \"nosuch\""),
            Reason::StartupOption
        );
        assert_eq!(
            reason("invalid value for parameter \"work_mem\": \"bogus\""),
            Reason::StartupOption
        );
        assert_eq!(
            reason("parameter \"shared_buffers\" cannot be changed without restarting the server"),
            Reason::StartupOption
        );
        assert_eq!(
            reason("database \"frozen\" is not currently accepting connections"),
            Reason::DatabaseNotAccepting
        );
        assert_eq!(reason("permission denied to start WAL sender"), Reason::WalsenderPermission);
        assert_eq!(
            reason("must be superuser or replication role to start walsender"),
            Reason::WalsenderPermission
        );
        assert_eq!(
            reason("number of requested standby connections exceeds max_wal_senders (currently 1)"),
            Reason::MaxWalSenders
        );
        assert_eq!(
            reason("authentication failed for user \"x\": host rejected"),
            Reason::HbaReject
        );
        assert_eq!(reason("canceling authentication due to timeout"), Reason::AuthTimeout);
        assert_eq!(
            reason("unsupported frontend protocol 1234.5678: server supports 3.0 to 3.0"),
            Reason::UnsupportedProtocol
        );
    }

    #[test]
    fn failure_names() {
        let e = ev(
            MessageKind::Fatal,
            "no pg_hba.conf entry for host \"10.0.0.5\", user \"a, \"b\"\", database \"sales db\", no encryption",
        );
        assert_eq!(
            e,
            EventKind::Failure {
                reason: Reason::NoHbaEntry,
                user: Some(b("a, \"b\"")),
                db: Some(b("sales db")),
                host: Some(b("10.0.0.5"))
            }
        );
        let e = ev(MessageKind::Fatal, "password authentication failed for user \"we\"ird\"");
        assert!(matches!(e, EventKind::Failure { user: Some(b"we\"ird"), .. }));
        let e = ev(
            MessageKind::Fatal,
            "no pg_hba.conf entry for replication connection from host \"10.0.0.7\", user \"replicator\", no encryption",
        );
        assert!(matches!(e, EventKind::Failure { user: Some(b"replicator"), db: None, .. }));
    }

    #[test]
    fn translated_messages() {
        for german in [
            "Passwort-Authentifizierung für Benutzer »alice« fehlgeschlagen",
            "Verbindung wird abgebrochen aufgrund von Anweisung des Administrators",
            "zu viele Verbindungen von Rolle »carol«",
            "слишком много подключений",
        ] {
            assert!(translated(german.as_bytes()), "{german}");
        }
        for english in [
            "terminating walreceiver process due to administrator command",
            "requested timeline 2 is not a child of this server's history",
            "lock file \"postmaster.pid\" already exists",
            "invalid value for parameter \"für\": \"x\"",
            "",
        ] {
            assert!(!translated(english.as_bytes()), "{english}");
        }
    }

    #[test]
    fn abnormal_ends_and_others() {
        assert_eq!(
            ev(MessageKind::Fatal, "terminating connection due to administrator command"),
            EventKind::Ended { cause: EndCause::AdminTerminate }
        );
        assert_eq!(
            ev(MessageKind::Fatal, "terminating connection due to idle-session timeout"),
            EventKind::Ended { cause: EndCause::IdleSessionTimeout }
        );
        assert!(matches!(ev(MessageKind::Fatal, "something new"), EventKind::OtherFatal { .. }));
        assert_eq!(
            ev(MessageKind::Fatal, "could not receive data from WAL stream: x"),
            EventKind::OtherFatal { translated: false }
        );
        assert_eq!(
            parse(
                MessageKind::Fatal,
                b"terminating autovacuum process due to administrator command"
            ),
            Parsed::Ignore
        );
        assert_eq!(
            ev(
                MessageKind::ChildExit,
                "server process (PID 4601) was terminated by signal 9: Killed"
            ),
            EventKind::ChildCrashed { pid: 4601 }
        );
        assert_eq!(
            ev(MessageKind::Detail, "Role \"ghost\" does not exist."),
            EventKind::Detail { reason: Reason::NoSuchRole }
        );
    }

    #[test]
    fn details_probes_and_tls() {
        let detail = |m: &str| match ev(MessageKind::Detail, m) {
            EventKind::Detail { reason } => reason,
            other => panic!("{m}: {other:?}"),
        };
        assert_eq!(detail("User \"old\" has an expired password."), Reason::PasswordExpired);
        assert_eq!(detail("User \"np\" has no password assigned."), Reason::NoPassword);
        assert_eq!(detail("User \"m\" does not have a valid SCRAM secret."), Reason::NoScramSecret);
        assert_eq!(
            detail("User \"m\" does not have a valid SCRAM verifier."),
            Reason::NoScramSecret
        );
        assert_eq!(
            detail("User \"s\" has a password that cannot be used with MD5 authentication."),
            Reason::PasswordFormat
        );
        assert_eq!(
            detail("Password of user \"u\" is in unrecognized format."),
            Reason::PasswordFormat
        );
        assert_eq!(
            parse(MessageKind::Detail, b"Password does not match for user \"u\"."),
            Parsed::Ignore
        );
        assert_eq!(
            detail_reason(
                b"Role \"x\" does not exist.\nConnection matched file \"h\" line 3: \"host\""
            ),
            Some(Reason::NoSuchRole)
        );
        let probe = |k: MessageKind, m: &str| match ev(k, m) {
            EventKind::Probe { kind } => kind,
            other => panic!("{m}: {other:?}"),
        };
        assert_eq!(
            probe(MessageKind::StartupPacketLog, "incomplete startup packet"),
            ProbeKind::IncompleteStartupPacket
        );
        assert_eq!(
            probe(MessageKind::StartupPacketLog, "invalid length of startup packet"),
            ProbeKind::InvalidStartupLength
        );
        assert_eq!(
            probe(MessageKind::SslLog, "could not accept SSL connection: EOF detected"),
            ProbeKind::TlsEof
        );
        assert_eq!(
            probe(MessageKind::SslLog, "could not accept SSL connection: Connection reset by peer"),
            ProbeKind::TlsEof
        );
        let tls = |m: &str| match ev(MessageKind::SslLog, m) {
            EventKind::Failure { reason, .. } => reason,
            other => panic!("{m}: {other:?}"),
        };
        assert_eq!(tls("could not accept SSL connection: tlsv1 alert unknown ca"), Reason::Tls);
        assert_eq!(
            tls("could not accept SSL connection: certificate verify failed"),
            Reason::CertUnverified
        );
    }
}
