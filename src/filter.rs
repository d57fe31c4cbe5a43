//! `--db`, `--user`, `--app` and `--host`: which sessions and attempts count.
//!
//! Repeating one option means OR, different options combine with AND. Names
//! are compared exactly, as bytes. A value the log does not carry for an
//! attempt (no application on a failed login, say) does not match a filter
//! on that dimension: the attempt is left out rather than guessed in.

use std::net::IpAddr;
use std::str::FromStr;

/// A `--host` value: `[local]`, an address, a CIDR range, or a host name
/// (as logged with log_hostname = on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HostPattern {
    Local,
    Net { addr: IpAddr, bits: u8 },
    Name(String),
}

impl FromStr for HostPattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "[local]" || s == "local" {
            return Ok(HostPattern::Local);
        }
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        match addr.parse::<IpAddr>() {
            Ok(ip) => {
                let max = if ip.is_ipv4() { 32 } else { 128 };
                let bits = match bits {
                    None => max,
                    Some(b) => match b.parse::<u8>() {
                        Ok(n) if n <= max => n,
                        _ => return Err(format!("'{s}': prefix length must be 0 to {max}")),
                    },
                };
                Ok(HostPattern::Net { addr: ip, bits })
            }
            Err(_) if bits.is_some() => Err(format!("'{s}' is not an address range")),
            Err(_) if s.is_empty() => Err("the host is empty".to_string()),
            Err(_) => Ok(HostPattern::Name(s.to_string())),
        }
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostPattern::Local => f.write_str("[local]"),
            HostPattern::Name(name) => f.write_str(name),
            HostPattern::Net { addr, bits } => {
                let max = if addr.is_ipv4() { 32 } else { 128 };
                if *bits == max { write!(f, "{addr}") } else { write!(f, "{addr}/{bits}") }
            }
        }
    }
}

impl HostPattern {
    fn matches(&self, host: &[u8]) -> bool {
        match self {
            HostPattern::Local => host == b"[local]",
            HostPattern::Name(name) => host == name.as_bytes(),
            HostPattern::Net { addr, bits } => {
                let Some(ip) =
                    std::str::from_utf8(host).ok().and_then(|h| h.parse::<IpAddr>().ok())
                else {
                    return false;
                };
                match (addr, ip) {
                    (IpAddr::V4(net), IpAddr::V4(ip)) => {
                        prefix_eq(&net.octets(), &ip.octets(), *bits)
                    }
                    (IpAddr::V6(net), IpAddr::V6(ip)) => {
                        prefix_eq(&net.octets(), &ip.octets(), *bits)
                    }
                    // An IPv4 range also covers IPv4-mapped IPv6 peers.
                    (IpAddr::V4(net), IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
                        Some(v4) => prefix_eq(&net.octets(), &v4.octets(), *bits),
                        None => false,
                    },
                    (IpAddr::V6(_), IpAddr::V4(_)) => false,
                }
            }
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    if a[..full] != b[..full] {
        return false;
    }
    let rest = bits % 8;
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[full] & mask == b[full] & mask
}

/// The filters of one run. An empty list means "no filter on this".
#[derive(Clone, Debug, Default)]
pub(crate) struct Filter {
    pub(crate) dbs: Vec<String>,
    pub(crate) users: Vec<String>,
    pub(crate) apps: Vec<String>,
    pub(crate) hosts: Vec<HostPattern>,
}

/// What is known of one session or attempt, for matching.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Subject<'a> {
    pub(crate) db: Option<&'a [u8]>,
    pub(crate) user: Option<&'a [u8]>,
    pub(crate) app: Option<&'a [u8]>,
    pub(crate) host: Option<&'a [u8]>,
}

impl Filter {
    pub(crate) fn is_empty(&self) -> bool {
        self.dbs.is_empty()
            && self.users.is_empty()
            && self.apps.is_empty()
            && self.hosts.is_empty()
    }

    /// The filters as given: `--db a --db b --host 10.0.0.0/8`.
    pub(crate) fn describe(&self) -> String {
        let mut out = Vec::new();
        for (flag, values) in [("--db", &self.dbs), ("--user", &self.users), ("--app", &self.apps)]
        {
            out.extend(values.iter().map(|v| format!("{flag} {}", quoted(v))));
        }
        out.extend(self.hosts.iter().map(|h| format!("--host {}", quoted(&h.to_string()))));
        out.join(" ")
    }

    pub(crate) fn matches(&self, s: &Subject<'_>) -> bool {
        fn names(list: &[String], value: Option<&[u8]>) -> bool {
            list.is_empty() || value.is_some_and(|v| list.iter().any(|n| n.as_bytes() == v))
        }
        names(&self.dbs, s.db)
            && names(&self.users, s.user)
            && names(&self.apps, s.app)
            && (self.hosts.is_empty()
                || s.host.is_some_and(|h| self.hosts.iter().any(|p| p.matches(h))))
    }
}

/// A value as a shell would take it back: quoted when it holds anything
/// but plain characters.
fn quoted(v: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:@%+,".contains(c);
    if !v.is_empty() && v.chars().all(plain) {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn described_as_given() {
        let f = Filter {
            dbs: vec!["sales db".into()],
            users: vec!["alice".into()],
            hosts: vec!["10.0.0.0/8".parse().unwrap(), "[local]".parse().unwrap()],
            ..Filter::default()
        };
        assert_eq!(f.describe(), "--db 'sales db' --user alice --host 10.0.0.0/8 --host '[local]'");
        assert_eq!(quoted("it's"), "'it'\\''s'");
    }

    fn host(p: &str, h: &str) -> bool {
        p.parse::<HostPattern>().unwrap().matches(h.as_bytes())
    }

    #[test]
    fn cidr_v4_and_v6() {
        assert!(host("10.0.0.0/8", "10.1.2.3"));
        assert!(!host("10.0.0.0/8", "11.0.0.1"));
        assert!(host("192.168.1.128/25", "192.168.1.200"));
        assert!(!host("192.168.1.128/25", "192.168.1.100"));
        assert!(host("127.0.0.1", "127.0.0.1"));
        assert!(!host("127.0.0.1", "127.0.0.2"));
        assert!(host("0.0.0.0/0", "8.8.8.8"));
        assert!(host("fd00::/8", "fd12::1"));
        assert!(!host("fd00::/8", "fe80::1"));
        assert!(host("10.0.0.0/8", "::ffff:10.0.0.1"));
        assert!(!host("10.0.0.0/8", "[local]"));
    }

    #[test]
    fn local_and_names() {
        assert!(host("[local]", "[local]"));
        assert!(!host("[local]", "127.0.0.1"));
        assert!(host("db1.example.com", "db1.example.com"));
        assert!("10.0.0.0/40".parse::<HostPattern>().is_err());
        assert!("name/8".parse::<HostPattern>().is_err());
    }

    #[test]
    fn and_of_ors() {
        let f = Filter {
            dbs: vec!["a".into(), "b".into()],
            users: vec!["u".into()],
            ..Filter::default()
        };
        let s = |db: &'static str, user: Option<&'static str>| Subject {
            db: Some(db.as_bytes()),
            user: user.map(str::as_bytes),
            ..Subject::default()
        };
        assert!(f.matches(&s("a", Some("u"))));
        assert!(f.matches(&s("b", Some("u"))));
        assert!(!f.matches(&s("c", Some("u"))));
        assert!(!f.matches(&s("a", Some("v"))));
        assert!(!f.matches(&s("a", None)), "unknown user does not match a user filter");
        assert!(Filter::default().matches(&Subject::default()));
    }
}
