//! jsonlog (PostgreSQL 15+): one object per line. Keys are left out when
//! their value is empty (no `user`, `dbname`, `application_name` or
//! `remote_port` on some records); a message holds its newlines escaped,
//! so a line is always one record.
//!
//! Only lines that hold a marker are parsed, with serde_json; the message
//! is then classified from its own field, so a statement or detail that
//! reads like a connection message never counts. `error_severity` is not
//! translated in jsonlog.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::event::{Event, EventKind, Meta};
use crate::parse::Stats;
use crate::parse::csv::refine_with_detail;
use crate::parse::message::{self, Parsed};
use crate::scan::{Classifier, Needles};
use crate::time::Timestamp;

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(default, borrow, deserialize_with = "borrowed")]
    timestamp: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    user: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    dbname: Option<Cow<'a, str>>,
    pid: Option<u32>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    remote_host: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    error_severity: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    message: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    detail: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    backend_type: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    application_name: Option<Cow<'a, str>>,
}

/// A string or null, borrowed from the line unless it holds escapes.
/// serde's own `Option<Cow<str>>` copies every string (`borrow` borrows
/// only a bare `Cow`): five allocations and copies per record, a tenth of
/// the parsing thread's time on a jsonlog.
fn borrowed<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct Text;
    impl<'de> Visitor<'de> for Text {
        type Value = Option<Cow<'de, str>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or null")
        }

        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }

        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(Text)
        }
    }
    d.deserialize_option(Text)
}

pub(crate) struct JsonParser {}

impl JsonParser {
    pub(crate) fn new() -> JsonParser {
        JsonParser {}
    }

    pub(crate) fn process<F>(&mut self, chunk: &[u8], stats: &mut Stats, emit: &mut F)
    where
        F: FnMut(&Event<'_>),
    {
        let mut at = 0;
        while let Some(hit) = Needles::json().next(chunk, at) {
            let ls = memchr::memrchr(b'\n', &chunk[..hit]).map_or(0, |i| i + 1);
            let le = memchr::memchr(b'\n', &chunk[hit..]).map_or(chunk.len(), |i| hit + i);
            at = (le + 1).min(chunk.len()).max(hit + 1);
            let mut line = &chunk[ls..le];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            match serde_json::from_slice::<Record<'_>>(line) {
                Ok(r) => self.record(&r, line, stats, emit),
                Err(e) if e.is_data() || e.is_syntax() => {
                    // Names are the client's bytes: invalid UTF-8 is
                    // replaced, as in every output.
                    let text = String::from_utf8_lossy(line);
                    match serde_json::from_str::<Record<'_>>(&text) {
                        Ok(r) if matches!(text, Cow::Owned(_)) => {
                            stats.invalid_utf8 += 1;
                            self.record(&r, line, stats, emit);
                        }
                        _ => stats.unmatched(line, false),
                    }
                }
                Err(_) => stats.unmatched(line, false),
            }
        }
    }

    fn record<F>(&self, r: &Record<'_>, line: &[u8], stats: &mut Stats, emit: &mut F)
    where
        F: FnMut(&Event<'_>),
    {
        fn bytes<'r>(v: &'r Option<Cow<'_, str>>) -> Option<&'r [u8]> {
            v.as_deref().map(str::as_bytes).filter(|b| !b.is_empty())
        }
        let (Some(severity), Some(message)) = (bytes(&r.error_severity), bytes(&r.message)) else {
            stats.unmatched(line, false);
            return;
        };
        let Some(kind) = Classifier::get().classify(severity, message) else { return };
        stats.candidates += 1;
        let meta = Meta {
            time: r.timestamp.as_deref().and_then(|t| Timestamp::parse(t.as_bytes())),
            pid: r.pid,
            user: bytes(&r.user),
            db: bytes(&r.dbname),
            host: bytes(&r.remote_host),
            app: bytes(&r.application_name),
        };
        match message::parse(kind, message) {
            Parsed::Event(mut kind) => {
                refine_with_detail(&mut kind, bytes(&r.detail).unwrap_or_default());
                if let EventKind::Disconnected { walsender, .. } = &mut kind {
                    *walsender = r.backend_type.as_deref() == Some("walsender");
                }
                emit(&Event { meta, kind, raw: line });
            }
            Parsed::Ignore => {}
            Parsed::Unparsed => stats.unmatched(line, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(log: &[u8]) -> (Vec<String>, Stats) {
        let mut p = JsonParser::new();
        let mut stats = Stats::default();
        let mut out = Vec::new();
        p.process(log, &mut stats, &mut |e: &Event<'_>| {
            out.push(format!("{:?} {:?}", e.meta.pid, e.kind))
        });
        (out, stats)
    }

    #[test]
    fn records_with_omitted_keys() {
        let log = br#"{"timestamp":"2025-03-01 10:00:00.092 UTC","pid":19700,"remote_host":"[local]","session_id":"6b096a2b.4cf4","line_num":1,"ps":"","session_start":"2025-03-01 10:00:00 UTC","txid":0,"error_severity":"LOG","message":"connection received: host=[local]","backend_type":"not initialized","query_id":0}
{"timestamp":"2025-03-01 10:00:01.244 UTC","user":"app","dbname":"postgres","pid":18320,"remote_host":"10.0.0.5","remote_port":52008,"error_severity":"FATAL","state_code":"28P01","message":"password authentication failed for user \"app\"","detail":"Role \"app\" does not exist.\nConnection matched file \"/etc/pg_hba.conf\" line 3: \"host all all 10.0.0.0/8 scram-sha-256\"","backend_type":"client backend","query_id":0}
"#;
        let (ev, stats) = run(log);
        assert_eq!(ev.len(), 2, "{stats:?}");
        assert!(ev[0].starts_with("Some(19700) Received"));
        assert!(ev[1].contains("NoSuchRole"), "{}", ev[1]);
    }

    #[test]
    fn escaped_log_text_in_a_statement_is_not_an_event() {
        let log = br#"{"timestamp":"2025-03-01 10:00:00.092 UTC","pid":5,"error_severity":"LOG","message":"statement: select 1;\n2025-03-01 10:00:00.092 UTC [6] LOG:  connection authorized: user=x database=y","backend_type":"client backend"}
"#;
        let (ev, stats) = run(log);
        assert!(ev.is_empty());
        assert_eq!(stats.unparsed, 0);
    }

    #[test]
    fn strings_are_borrowed_unless_escaped() {
        let line = br#"{"user":"app","message":"connection authorized: user=\"q\" database=x","detail":null,"pid":5}"#;
        let r: Record<'_> = serde_json::from_slice(line).unwrap();
        assert!(matches!(r.user, Some(Cow::Borrowed("app"))));
        assert_eq!(r.message.as_deref(), Some("connection authorized: user=\"q\" database=x"));
        assert!(matches!(r.message, Some(Cow::Owned(_))));
        assert!(r.detail.is_none() && r.dbname.is_none() && r.timestamp.is_none());
        assert_eq!(r.pid, Some(5));
        // A name that is not a string is refused, as serde's own impl does.
        assert!(serde_json::from_slice::<Record<'_>>(br#"{"user":5}"#).is_err());
    }

    #[test]
    fn truncated_line_is_counted() {
        let (ev, stats) = run(br#"{"timestamp":"2025-03-01 10:00:00.092 UTC","pid":5,"error_severity":"LOG","message":"connection received: host=[lo"#);
        assert!(ev.is_empty());
        assert_eq!(stats.unparsed, 1);
    }
}
