//! How sessions connected: TLS, GSS, authentication methods, and the
//! PostgreSQL 18 setup durations.

use crate::event::Security;
use crate::intern::{Interner, Sym};
use crate::sketch::Sketch;

use super::Tracker;
use super::session::Session;
use super::snapshot::{AccessSummary, Durations, Setup};

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
    /// Sessions with no `connection authenticated` line, and those of them
    /// from a host other than `[local]`: trust, where the log has such
    /// lines (14+) and does not log trust itself (14-16).
    pub(crate) no_method: u64,
    pub(crate) no_method_remote: u64,
    /// Trust logins (logged, 17+) from a host other than `[local]`.
    pub(crate) trust_remote: u64,
    /// A `connection authenticated` line was seen; one of them said
    /// `method=trust` (17+ log trust).
    pub(crate) seen_methods: bool,
    pub(crate) trust_logged: bool,
    /// PostgreSQL 18 setup durations (`connection ready`), microseconds.
    pub(crate) setup_total: Sketch,
    pub(crate) setup_fork: Sketch,
    pub(crate) setup_auth: Sketch,
}

impl Access {
    pub(super) fn new() -> Access {
        Access {
            protocols: Interner::new(64),
            methods: Interner::new(64),
            tls: 0,
            by_protocol: Vec::new(),
            gss: 0,
            gss_encrypted: 0,
            by_method: Vec::new(),
            password_without_tls: 0,
            no_method: 0,
            no_method_remote: 0,
            trust_remote: 0,
            seen_methods: false,
            trust_logged: false,
            setup_total: Sketch::new(),
            setup_fork: Sketch::new(),
            setup_auth: Sketch::new(),
        }
    }

    pub(super) fn protocol(&mut self, security: &Security<'_>) -> Sym {
        match security.tls {
            None => Sym::UNSET,
            Some(b"") => self.protocols.intern(b"(unknown)"),
            Some(p) => self.protocols.intern(p),
        }
    }

    pub(super) fn count(list: &mut Vec<u64>, sym: Sym, delta: i64) {
        let i = sym.0 as usize;
        if list.len() <= i {
            list.resize(i + 1, 0);
        }
        list[i] = list[i].saturating_add_signed(delta);
    }

    /// Counts (`delta` 1) or takes back (-1) a session.
    pub(super) fn add(&mut self, s: &Session, local: bool, delta: i64) {
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
            if !local && self.methods.name(s.method) == b"trust" {
                step(&mut self.trust_remote);
            }
        } else {
            step(&mut self.no_method);
            if !local {
                step(&mut self.no_method_remote);
            }
        }
    }

    /// A `connection authenticated` line's method.
    pub(super) fn method(&mut self, method: &[u8]) -> Sym {
        self.seen_methods = true;
        self.trust_logged |= method == b"trust";
        self.methods.intern(method)
    }
}

impl Tracker {
    pub(super) fn access_summary(&self) -> AccessSummary {
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
        let mut auth_methods = named(&a.methods, &a.by_method);
        // 14-16 log `connection authenticated` for every method but trust:
        // where the log has such lines but none for trust, a session
        // without one was authenticated by trust.
        let trust_inferred = a.seen_methods && !a.trust_logged && a.no_method > 0;
        if trust_inferred {
            auth_methods.push(("trust".to_string(), a.no_method));
            auth_methods.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        }
        AccessSummary {
            tls: a.tls,
            tls_by_protocol: named(&a.protocols, &a.by_protocol),
            gss: a.gss,
            gss_encrypted: a.gss_encrypted,
            auth_methods,
            trust_inferred,
            trust_remote: if trust_inferred { a.no_method_remote } else { a.trust_remote },
            password_without_tls: a.password_without_tls,
            setup: (a.setup_total.count > 0).then(|| Setup {
                count: a.setup_total.count,
                total: times(&a.setup_total),
                fork: times(&a.setup_fork),
                authentication: times(&a.setup_auth),
            }),
        }
    }
}
