//! Envelopes: the records that carry the server's lines when something
//! else collected them (a container runtime, journald, a cloud's log
//! service), each with its own time and sometimes the backend's pid.
//!
//! An input's envelope is detected from its first lines (with its format,
//! see `LogParser`); an `Unwrapper` then turns each chunk of records into
//! the lines the server wrote (`Unwrapped`), which the format's own parser
//! reads as it reads a plain log: stderr lines with their log_line_prefix
//! inferred, or csvlog/jsonlog records. Each line keeps its record's time
//! and pid (`Carrier`), which an event takes when its prefix gave none.
//! Plain inputs never come here: the envelope is decided once per input,
//! and the parsers' own loops are unchanged.
//!
//! | envelope | records | time | pid |
//! |---|---|---|---|
//! | `docker` | json-file lines `{"log","stream","time"}`; chunks without `\n` joined | `time` | |
//! | `cri` | `TIME stdout\|stderr P\|F TEXT`; `P` chunks joined | TIME | |
//! | `cloudnative-pg` | `{"logger":"postgres","record":{csvlog columns}}`, maybe in the two above | the record's | the record's |
//! | `journald` | `journalctl -o json` (or `json-pretty`); `MESSAGE` text or bytes | `__REALTIME_TIMESTAMP` | `SYSLOG_PID` (never `_PID`: the postmaster's, for stderr) |
//! | `cloud-logging` | LogEntry per line, or `gcloud logging read --format=json`'s array | `timestamp` | |
//! | `cloudwatch` | `aws logs filter-log-events`: `{"events":[…]}`, pretty or not | `timestamp` (ms) | |
//! | `azure` | resource logs, category `PostgreSQLLogs`; `properties.detail` becomes a DETAIL line | `properties.timestamp` | `properties.processId` |
//! | `heroku` | `TIME app[postgres.PID]: [DATABASE] [n-m] TEXT` (syslog chunks) | TIME | PID |
//! | `loki` | `logcli query -o jsonl`: `{"labels","line","timestamp"}` | `timestamp` | |
//!
//! JSON documents spread over many lines (CloudWatch, gcloud's array,
//! json-pretty) are cut into their records by `Splitter`, which holds at
//! most one record. Records whose times run backwards (gcloud and logcli
//! give the newest first) are kept in a temporary file (`Spool`) and read
//! back oldest first at the end of the input, so memory stays bounded.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

use crate::parse::Stats;
use crate::parse::carrier::{Carrier, Unwrapped};
use crate::parse::spool::Spool;
use crate::parse::syslog::{Chunks, sequence};
use crate::scan::Scanner;
use crate::time::Timestamp;

/// A line over this length (joined from partial chunks) is handed on as
/// it is: the reader cuts longer lines too (`input::MAX_LINE`).
const MAX_JOINED: usize = 1024 * 1024;
/// A record of a JSON document longer than this is dropped, and counted.
const MAX_RECORD: usize = 4 * 1024 * 1024;

/// What carries the server's lines (see the module's table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Envelope {
    Docker,
    Cri,
    CloudNativePg,
    Journald,
    CloudLogging,
    CloudWatch,
    Azure,
    Heroku,
    Loki,
}

impl Envelope {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Envelope::Docker => "docker",
            Envelope::Cri => "cri",
            Envelope::CloudNativePg => "cloudnative-pg",
            Envelope::Journald => "journald",
            Envelope::CloudLogging => "cloud-logging",
            Envelope::CloudWatch => "cloudwatch",
            Envelope::Azure => "azure",
            Envelope::Heroku => "heroku",
            Envelope::Loki => "loki",
        }
    }
}

/// A JSON string (borrowed unless it holds escapes), a number (as its
/// text), an array of byte values (journald's text that is not UTF-8), or
/// null. A repeated journald field (an array of strings) gives its first.
#[derive(Debug, Default)]
struct Text<'a>(Option<Cow<'a, [u8]>>);

impl Text<'_> {
    /// The text, unless empty.
    fn get(&self) -> Option<&[u8]> {
        self.0.as_deref().filter(|b| !b.is_empty())
    }

    fn str(&self) -> Option<Cow<'_, str>> {
        self.get().map(String::from_utf8_lossy)
    }

    fn number<T: std::str::FromStr>(&self) -> Option<T> {
        std::str::from_utf8(self.get()?).ok()?.trim().parse().ok()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text<'a>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, a number, an array of bytes or null")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Borrowed(v.as_bytes()))))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(v.as_bytes().to_vec()))))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(v.into_bytes()))))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(v.to_string().into_bytes()))))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(v.to_string().into_bytes()))))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(v.to_string().into_bytes()))))
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(v.to_string().into_bytes()))))
            }

            fn visit_unit<E: de::Error>(self) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }

            fn visit_none<E: de::Error>(self) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Text<'de>, D::Error> {
                d.deserialize_any(V)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Text<'de>, A::Error> {
                let mut bytes = Vec::new();
                let mut first = None;
                while let Some(v) = seq.next_element::<serde_json::Value>()? {
                    match v {
                        serde_json::Value::Number(n) => bytes
                            .push(n.as_u64().and_then(|n| u8::try_from(n).ok()).unwrap_or(b'?')),
                        serde_json::Value::String(s) => {
                            first.get_or_insert(s);
                        }
                        _ => {}
                    }
                }
                Ok(Text(Some(Cow::Owned(first.map_or(bytes, String::into_bytes)))))
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Text<'de>, A::Error> {
                while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct DockerRecord<'a> {
    #[serde(borrow, default)]
    log: Text<'a>,
    #[serde(borrow, default)]
    stream: Text<'a>,
    #[serde(borrow, default)]
    time: Text<'a>,
}

#[derive(Deserialize)]
struct JournalRecord<'a> {
    #[serde(rename = "MESSAGE", borrow, default)]
    message: Text<'a>,
    #[serde(rename = "__REALTIME_TIMESTAMP", borrow, default)]
    realtime: Text<'a>,
    #[serde(rename = "SYSLOG_PID", borrow, default)]
    syslog_pid: Text<'a>,
    #[serde(rename = "_TRANSPORT", borrow, default)]
    transport: Text<'a>,
}

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow, default)]
    message: Text<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogEntry<'a> {
    #[serde(borrow, default)]
    text_payload: Text<'a>,
    #[serde(borrow, default)]
    json_payload: Option<Payload<'a>>,
    #[serde(borrow, default)]
    timestamp: Text<'a>,
}

#[derive(Deserialize)]
struct CloudWatchEvent<'a> {
    #[serde(borrow, default)]
    message: Text<'a>,
    #[serde(borrow, default)]
    timestamp: Text<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AzureProperties<'a> {
    #[serde(borrow, default)]
    message: Text<'a>,
    #[serde(borrow, default)]
    detail: Text<'a>,
    #[serde(borrow, default)]
    timestamp: Text<'a>,
    #[serde(borrow, default)]
    process_id: Text<'a>,
}

#[derive(Deserialize)]
struct AzureRecord<'a> {
    #[serde(borrow, default)]
    properties: Option<AzureProperties<'a>>,
    #[serde(borrow, default)]
    time: Text<'a>,
}

#[derive(Deserialize)]
struct LokiEntry<'a> {
    #[serde(borrow, default)]
    line: Text<'a>,
    #[serde(borrow, default)]
    timestamp: Text<'a>,
}

/// A CloudNativePG line: the csvlog record, by column name, of a server
/// line (`"logger":"postgres","msg":"record"`).
#[derive(Deserialize)]
struct CnpgLine<'a> {
    #[serde(borrow, default)]
    logger: Text<'a>,
    #[serde(borrow, default)]
    record: Option<CsvColumns<'a>>,
}

#[derive(Deserialize)]
struct CsvColumns<'a> {
    #[serde(borrow, default)]
    log_time: Text<'a>,
    #[serde(borrow, default)]
    user_name: Text<'a>,
    #[serde(borrow, default)]
    database_name: Text<'a>,
    #[serde(borrow, default)]
    process_id: Text<'a>,
    #[serde(borrow, default)]
    connection_from: Text<'a>,
    #[serde(borrow, default)]
    error_severity: Text<'a>,
    #[serde(borrow, default)]
    message: Text<'a>,
    #[serde(borrow, default)]
    detail: Text<'a>,
}

/// The jsonlog record (PostgreSQL 15+'s keys) a CloudNativePG record is
/// read as.
#[derive(Serialize)]
struct Jsonlog<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dbname: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_host: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_severity: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<Cow<'a, str>>,
}

/// The jsonlog line of a CloudNativePG line, into `out`; false if it is
/// not a server record.
fn cnpg_record(line: &[u8], out: &mut Vec<u8>) -> bool {
    let Ok(l) = serde_json::from_slice::<CnpgLine<'_>>(line) else { return false };
    let (Some(b"postgres"), Some(r)) = (l.logger.get(), l.record) else { return false };
    // csvlog's connection_from is `host:port` (or `[local]`).
    let host = r.connection_from.str().map(|from| match from.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|c| c.is_ascii_digit()) => {
            Cow::Owned(host.to_string())
        }
        _ => from,
    });
    let record = Jsonlog {
        timestamp: r.log_time.str(),
        user: r.user_name.str(),
        dbname: r.database_name.str(),
        pid: r.process_id.number(),
        remote_host: host,
        error_severity: r.error_severity.str(),
        message: r.message.str(),
        detail: r.detail.str(),
    };
    out.clear();
    serde_json::to_writer(&mut *out, &record).is_ok()
}

/// `TIME stdout|stderr P|F[:tags] TEXT`: (time, stderr?, partial?, text).
fn cri(line: &[u8]) -> Option<(&[u8], bool, bool, &[u8])> {
    let (time, rest) = split_word(line)?;
    if time.len() < 20 || time[4] != b'-' || time[10] != b'T' {
        return None;
    }
    let (stream, rest) = split_word(rest)?;
    let stderr = match stream {
        b"stdout" => false,
        b"stderr" => true,
        _ => return None,
    };
    let (tag, text) = split_word(rest).unwrap_or((rest, b""));
    let partial = match tag.split(|&c| c == b':').next()? {
        b"P" => true,
        b"F" => false,
        _ => return None,
    };
    Some((time, stderr, partial, text))
}

/// `TIME app[postgres.PID]: [DATABASE] TEXT`: (time, pid, text).
fn heroku(line: &[u8]) -> Option<(&[u8], u32, &[u8])> {
    let (time, rest) = split_word(line)?;
    let (source, rest) = split_word(rest)?;
    let pid = source.strip_prefix(b"app[postgres.")?.strip_suffix(b"]:")?;
    let pid = std::str::from_utf8(pid).ok()?.parse().ok()?;
    if time.len() < 20 || time[4] != b'-' || time[10] != b'T' {
        return None;
    }
    // The attachment's name (`[DATABASE]`, `[HEROKU_POSTGRESQL_RED]`).
    let text = match rest.strip_prefix(b"[") {
        Some(r) => match memchr::memchr(b']', r) {
            Some(end)
                if end > 0
                    && r[..end]
                        .iter()
                        .all(|c| c.is_ascii_uppercase() || *c == b'_' || c.is_ascii_digit())
                    && !r[..end].iter().all(u8::is_ascii_digit)
                    && r.get(end + 1) == Some(&b' ') =>
            {
                &r[end + 2..]
            }
            _ => rest,
        },
        None => rest,
    };
    Some((time, pid, text))
}

fn split_word(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let sp = memchr::memchr(b' ', b)?;
    Some((&b[..sp], &b[sp + 1..]))
}

/// The envelope a JSON object's keys say it is.
fn classify_object(o: &serde_json::Map<String, serde_json::Value>) -> Option<Envelope> {
    let has = |k: &str| o.contains_key(k);
    let str_of = |k: &str| o.get(k).and_then(serde_json::Value::as_str);
    if has("log") && has("stream") && has("time") {
        Some(Envelope::Docker)
    } else if has("__REALTIME_TIMESTAMP") && (has("MESSAGE") || has("__CURSOR")) {
        Some(Envelope::Journald)
    } else if has("textPayload") || (has("logName") && has("insertId")) {
        Some(Envelope::CloudLogging)
    } else if str_of("category") == Some("PostgreSQLLogs")
        || (has("properties") && str_of("operationName") == Some("LogEvent"))
    {
        Some(Envelope::Azure)
    } else if has("labels") && has("line") {
        Some(Envelope::Loki)
    } else if str_of("logger") == Some("postgres") && (has("record") || has("msg")) {
        Some(Envelope::CloudNativePg)
    } else if has("message")
        && has("timestamp")
        && (has("ingestionTime") || has("logStreamName") || has("eventId"))
    {
        Some(Envelope::CloudWatch)
    } else {
        None
    }
}

/// How an input's records are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// One record a line.
    Lines,
    /// The objects at this depth of one JSON document (or of several in a
    /// row): 1 for pretty-printed objects one after another, 2 for an
    /// array's, 3 for those of `{"events":[…]}`.
    Objects(u32),
}

/// Cuts a JSON document, fed in chunks, into its objects at one depth.
#[derive(Clone, Debug)]
struct Splitter {
    depth: u32,
    target: u32,
    in_string: bool,
    escaped: bool,
    /// The object being read (from its `{`), or None between objects.
    object: Option<Vec<u8>>,
    /// Its bytes were dropped past `MAX_RECORD`.
    overflowed: bool,
}

impl Splitter {
    fn new(target: u32) -> Splitter {
        Splitter {
            depth: 0,
            target,
            in_string: false,
            escaped: false,
            object: None,
            overflowed: false,
        }
    }

    /// Feeds `chunk`, calling `f` with each object completed in it (and
    /// `None` for one that was too long).
    fn feed(&mut self, chunk: &[u8], f: &mut impl FnMut(Option<&[u8]>)) {
        let mut from = 0;
        for (i, &c) in chunk.iter().enumerate() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if c == b'\\' {
                    self.escaped = true;
                } else if c == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match c {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.depth += 1;
                    if c == b'{' && self.depth == self.target && self.object.is_none() {
                        self.object = Some(Vec::new());
                        self.overflowed = false;
                        from = i;
                    }
                }
                b'}' | b']' => {
                    if self.depth == self.target
                        && let Some(mut object) = self.object.take()
                    {
                        self.keep(&mut object, &chunk[from..=i]);
                        f((!self.overflowed).then_some(&object[..]));
                    }
                    self.depth = self.depth.saturating_sub(1);
                }
                _ => {}
            }
        }
        if let Some(mut object) = self.object.take() {
            self.keep(&mut object, &chunk[from..]);
            self.object = Some(object);
        }
    }

    /// How many objects at depth 1 to 3 of `doc` are complete.
    fn objects(doc: &[u8]) -> usize {
        let mut n = 0;
        for depth in 1..=3 {
            Splitter::new(depth).feed(doc, &mut |_| n += 1);
        }
        n
    }

    fn keep(&mut self, object: &mut Vec<u8>, bytes: &[u8]) {
        if object.len() + bytes.len() > MAX_RECORD {
            self.overflowed = true;
            object.clear();
        } else if !self.overflowed {
            object.extend_from_slice(bytes);
        }
    }
}

/// The envelope of one input, and what unwrapping it keeps between chunks.
pub(crate) struct Unwrapper {
    envelope: Envelope,
    framing: Framing,
    /// The lines inside are CloudNativePG records (itself, or inside a
    /// container's log).
    cnpg: bool,
    splitter: Splitter,
    /// A line of stdout (0) or stderr (1) whose chunks are being joined,
    /// and the carrier of its first.
    partial: [(Vec<u8>, Carrier); 2],
    chunks: Chunks,
    /// Records newest first: kept, to be read back at the end.
    spool: Option<Spool>,
    scratch: Vec<u8>,
}

impl Unwrapper {
    fn new(envelope: Envelope, framing: Framing, cnpg: bool) -> Unwrapper {
        let target = match framing {
            Framing::Objects(d) => d,
            Framing::Lines => 1,
        };
        Unwrapper {
            envelope,
            framing,
            cnpg,
            splitter: Splitter::new(target),
            partial: Default::default(),
            chunks: Chunks::default(),
            spool: None,
            scratch: Vec::new(),
        }
    }

    /// A fresh unwrapper of the same envelope.
    fn fresh(&self) -> Unwrapper {
        Unwrapper::new(self.envelope, self.framing, self.cnpg)
    }

    /// The envelopes, outermost first.
    pub(crate) fn envelopes(&self) -> impl Iterator<Item = Envelope> {
        let inner = (self.cnpg && self.envelope != Envelope::CloudNativePg)
            .then_some(Envelope::CloudNativePg);
        std::iter::once(self.envelope).chain(inner)
    }

    /// The lines inside are CloudNativePG's csvlog records, handed on as
    /// jsonlog records.
    pub(crate) fn cnpg(&self) -> bool {
        self.cnpg
    }

    /// Unwraps `evidence` with a fresh unwrapper (the real one reads it
    /// again): the inner lines, to detect their format and prefix from.
    /// Records whose times mostly run backwards make this unwrapper keep
    /// them, to read them back oldest first.
    pub(crate) fn inspect(&mut self, evidence: &[u8]) -> Unwrapped {
        let mut inner = Unwrapped::default();
        let mut ignored = Stats::default();
        self.fresh().unwrap(evidence, &mut inner, &mut ignored);
        let times: Vec<i64> =
            inner.carriers().iter().filter_map(|c| c.time.map(|t| t.ms)).collect();
        let back = times.windows(2).filter(|w| w[1] < w[0]).count();
        let forth = times.windows(2).filter(|w| w[1] > w[0]).count();
        if back > forth {
            self.spool = Some(Spool::new());
        }
        inner
    }

    /// Its records run newest first: they are kept, and read back oldest
    /// first at the end of the input.
    pub(crate) fn newest_first(&self) -> bool {
        self.spool.is_some()
    }

    /// Unwraps the records in `chunk` (complete lines) into `out`.
    pub(crate) fn unwrap(&mut self, chunk: &[u8], out: &mut Unwrapped, stats: &mut Stats) {
        match self.framing {
            Framing::Lines => {
                for line in chunk.split(|&c| c == b'\n') {
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    if !line.trim_ascii().is_empty() {
                        self.record(line, out, stats);
                    }
                }
            }
            Framing::Objects(_) => {
                let mut splitter = std::mem::replace(&mut self.splitter, Splitter::new(0));
                splitter.feed(chunk, &mut |object| match object {
                    Some(o) => self.record(o, out, stats),
                    None => stats.not_enveloped += 1,
                });
                self.splitter = splitter;
            }
        }
    }

    /// The input ended: what is left of a JSON document is counted, and
    /// kept records are read back from the last (see `unspool`).
    pub(crate) fn finish(&mut self, stats: &mut Stats) {
        if let Some(spool) = &mut self.spool {
            spool.rewind();
        }
        if self.splitter.object.take().is_some() {
            stats.not_enveloped += 1;
        }
    }

    /// After `finish`: the kept records, oldest first, a batch at a time,
    /// then the lines whose chunks were still being joined, into `out`;
    /// false when nothing is left.
    pub(crate) fn unspool(&mut self, out: &mut Unwrapped, stats: &mut Stats) -> bool {
        let start = out.text.len();
        if let Some(mut spool) = self.spool.take() {
            let mut record = Vec::new();
            let mut any = false;
            while out.text.len() < 256 * 1024 && spool.pop(&mut record) {
                self.open(&record, out, stats);
                any = true;
            }
            self.spool = Some(spool);
            if any {
                return true;
            }
        }
        for (line, carrier) in &mut self.partial {
            if !line.is_empty() {
                let line = std::mem::take(line);
                Self::inner(self.cnpg, &mut self.scratch, &line, *carrier, out);
            }
        }
        out.text.len() > start
    }

    fn record(&mut self, record: &[u8], out: &mut Unwrapped, stats: &mut Stats) {
        match &mut self.spool {
            Some(spool) => spool.push(record),
            None => self.open(record, out, stats),
        }
    }

    /// Hands the line(s) of one record on to `out`.
    fn open(&mut self, record: &[u8], out: &mut Unwrapped, stats: &mut Stats) {
        let cnpg = self.cnpg;
        let scratch = &mut self.scratch;
        let ok = match self.envelope {
            Envelope::Docker => match serde_json::from_slice::<DockerRecord<'_>>(record) {
                Ok(r) => {
                    let carrier = Carrier { time: rfc3339(&r.time), pid: None };
                    let stream = usize::from(r.stream.get() == Some(b"stderr"));
                    let log = r.log.get().unwrap_or_default();
                    match log.strip_suffix(b"\n") {
                        Some(line) => self.join(stream, line, false, carrier, out),
                        None => self.join(stream, log, true, carrier, out),
                    }
                    true
                }
                Err(_) => false,
            },
            Envelope::Cri => match cri(record) {
                Some((time, stderr, partial, text)) => {
                    let carrier = Carrier { time: Timestamp::parse_rfc3339(time), pid: None };
                    self.join(usize::from(stderr), text, partial, carrier, out);
                    true
                }
                None => false,
            },
            Envelope::CloudNativePg => {
                if cnpg_record(record, scratch) {
                    out.push(scratch, Carrier::default());
                }
                serde_json::from_slice::<de::IgnoredAny>(record).is_ok()
            }
            Envelope::Journald => match serde_json::from_slice::<JournalRecord<'_>>(record) {
                Ok(r) => {
                    let time =
                        r.realtime.number::<i64>().map(|us| Timestamp::from_unix_ms(us / 1000));
                    let pid = r.syslog_pid.number();
                    let message = r.message.get().unwrap_or_default();
                    if r.transport.get() == Some(b"syslog") {
                        // `[seq-chunk] text`, as PostgreSQL writes to syslog.
                        let (seq, body) = sequence(message);
                        let (continues, body) = self.chunks.line(pid, seq, body);
                        let tab: &[u8] = if continues { b"\t" } else { b"" };
                        out.push_parts(tab, body, Carrier { time, pid });
                    } else {
                        Self::inner(cnpg, scratch, message, Carrier { time, pid }, out);
                    }
                    true
                }
                Err(_) => false,
            },
            Envelope::CloudLogging => match serde_json::from_slice::<LogEntry<'_>>(record) {
                Ok(e) => {
                    let carrier = Carrier { time: rfc3339(&e.timestamp), pid: None };
                    let text = e
                        .text_payload
                        .get()
                        .or(e.json_payload.as_ref().and_then(|p| p.message.get()));
                    if let Some(text) = text {
                        Self::inner(cnpg, scratch, text, carrier, out);
                    }
                    true
                }
                Err(_) => false,
            },
            Envelope::CloudWatch => match serde_json::from_slice::<CloudWatchEvent<'_>>(record) {
                Ok(e) => {
                    let time = e.timestamp.number::<i64>().map(Timestamp::from_unix_ms);
                    if let Some(text) = e.message.get() {
                        Self::inner(cnpg, scratch, text, Carrier { time, pid: None }, out);
                    }
                    true
                }
                Err(_) => false,
            },
            Envelope::Azure => match serde_json::from_slice::<AzureRecord<'_>>(record) {
                Ok(AzureRecord { properties: Some(p), time }) => {
                    let time =
                        p.timestamp.get().and_then(Timestamp::parse).or_else(|| rfc3339(&time));
                    let carrier =
                        Carrier { time, pid: p.process_id.number::<f64>().map(|p| p as u32) };
                    if let Some(message) = p.message.get() {
                        continued_lines(b"", message, carrier, out);
                        if let Some(detail) = p.detail.get() {
                            detail_lines(message, detail, carrier, out);
                        }
                    }
                    true
                }
                Ok(_) => true,
                Err(_) => false,
            },
            Envelope::Heroku => match heroku(record) {
                Some((time, pid, text)) => {
                    let (seq, body) = sequence(text);
                    let (continues, body) = self.chunks.line(Some(pid), seq, body);
                    let carrier = Carrier { time: Timestamp::parse_rfc3339(time), pid: Some(pid) };
                    let tab: &[u8] = if continues { b"\t" } else { b"" };
                    out.push_parts(tab, body, carrier);
                    true
                }
                None => false,
            },
            Envelope::Loki => match serde_json::from_slice::<LokiEntry<'_>>(record) {
                Ok(e) => {
                    let carrier = Carrier { time: rfc3339(&e.timestamp), pid: None };
                    if let Some(line) = e.line.get() {
                        Self::inner(cnpg, scratch, line, carrier, out);
                    }
                    true
                }
                Err(_) => false,
            },
        };
        if !ok {
            stats.not_enveloped += 1;
        }
    }

    /// A chunk of a container's line: joined to the chunks before it of
    /// the same stream until the last (`partial` false).
    fn join(
        &mut self,
        stream: usize,
        text: &[u8],
        partial: bool,
        carrier: Carrier,
        out: &mut Unwrapped,
    ) {
        let (line, first) = &mut self.partial[stream];
        if line.is_empty() {
            *first = carrier;
        }
        if partial && line.len() + text.len() < MAX_JOINED {
            line.extend_from_slice(text);
            return;
        }
        if line.is_empty() {
            Self::inner(self.cnpg, &mut self.scratch, text, carrier, out);
        } else {
            line.extend_from_slice(text);
            let joined = std::mem::take(line);
            Self::inner(self.cnpg, &mut self.scratch, &joined, *first, out);
            *line = joined;
            line.clear();
        }
    }

    /// Hands on a line of the server's (the lines after its first, if it
    /// has several, as continuation lines), or the jsonlog record of a
    /// CloudNativePG one.
    fn inner(
        cnpg: bool,
        scratch: &mut Vec<u8>,
        text: &[u8],
        carrier: Carrier,
        out: &mut Unwrapped,
    ) {
        if !cnpg {
            continued_lines(b"", text, carrier, out);
        } else if cnpg_record(text, scratch) {
            out.push(scratch, carrier);
        }
    }
}

fn rfc3339(t: &Text<'_>) -> Option<Timestamp> {
    t.get().and_then(Timestamp::parse_rfc3339)
}

/// Azure's `properties.detail` as the DETAIL line(s) the server wrote
/// after `message`, with the same prefix.
fn detail_lines(message: &[u8], detail: &[u8], carrier: Carrier, out: &mut Unwrapped) {
    let first = message.split(|&c| c == b'\n').next().unwrap_or_default();
    let Some(sev) = Scanner::new().severity(first) else { return };
    let mut head = first[..sev.start].to_vec();
    head.extend_from_slice(b"DETAIL:  ");
    continued_lines(&head, detail, carrier, out);
}

/// A message of several lines as the server writes it to stderr: its
/// first line after `head`, the others as continuation lines (led by a
/// TAB), so that none is read as a line of its own.
fn continued_lines(head: &[u8], text: &[u8], carrier: Carrier, out: &mut Unwrapped) {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    for (i, line) in text.split(|&c| c == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if i == 0 {
            out.push_parts(head, line, carrier);
        } else {
            let tab: &[u8] = if line.starts_with(b"\t") { b"" } else { b"\t" };
            out.push_parts(tab, line, carrier);
        }
    }
}

/// The envelope of an input, from its first lines (`evidence`); None for
/// a plain log.
pub(crate) fn detect(evidence: &[u8], scanner: &Scanner) -> Option<Unwrapper> {
    let doc = evidence.trim_ascii_start();
    let first_line = doc.split(|&c| c == b'\n').next().unwrap_or_default().trim_ascii();
    let (envelope, framing) = match doc.first() {
        // gcloud's array, or a JSON document spread over lines.
        Some(b'[') => (first_object(doc, 2)?, Framing::Objects(2)),
        Some(b'{') if serde_json::from_slice::<de::IgnoredAny>(first_line).is_err() => {
            let depth = if starts_with_key(doc, &["events", "records"]) { 3 } else { 1 };
            (first_object(doc, depth)?, Framing::Objects(depth))
        }
        Some(b'{') if starts_with_key(doc, &["events", "records"]) => {
            (first_object(doc, 3)?, Framing::Objects(3))
        }
        _ => (vote(doc, scanner)?, Framing::Lines),
    };
    let mut unwrapper = Unwrapper::new(envelope, framing, envelope == Envelope::CloudNativePg);
    // CloudNativePG inside another envelope (a container's log).
    if !unwrapper.cnpg {
        let mut inner = Unwrapped::default();
        unwrapper.fresh().unwrap(evidence, &mut inner, &mut Stats::default());
        let lines = || inner.text.split(|&c| c == b'\n').filter(|l| !l.is_empty()).take(20);
        let records = lines().filter(|l| cnpg_record(l, &mut Vec::new())).count();
        if records > 0 && records * 2 >= lines().count() {
            unwrapper.cnpg = true;
        }
    }
    Some(unwrapper)
}

/// Whether `lines` (an input's first) start a JSON document spread over
/// lines whose first record is not complete in them: `{` or `[` alone on
/// the first line. Its envelope cannot be told yet.
pub(crate) fn document_start(lines: &[u8]) -> bool {
    let doc = lines.trim_ascii_start();
    let first = doc.split(|&c| c == b'\n').next().unwrap_or_default().trim_ascii();
    matches!(first.first(), Some(b'{' | b'['))
        && serde_json::from_slice::<de::IgnoredAny>(first).is_err()
        && Splitter::objects(doc) == 0
}

/// Whether the JSON object at the start of `doc` starts with one of `keys`.
fn starts_with_key(doc: &[u8], keys: &[&str]) -> bool {
    let after = doc.strip_prefix(b"{").unwrap_or(doc).trim_ascii_start();
    keys.iter().any(|k| after.strip_prefix(format!("\"{k}\"").as_bytes()).is_some())
}

/// The envelope of the first object at `depth` of `doc`.
fn first_object(doc: &[u8], depth: u32) -> Option<Envelope> {
    let mut splitter = Splitter::new(depth);
    let mut found = None;
    splitter.feed(doc, &mut |o| {
        if found.is_none()
            && let Some(o) = o
        {
            found = Some(
                serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(o)
                    .ok()
                    .and_then(|o| classify_object(&o)),
            );
        }
    });
    found.flatten()
}

/// The envelope most of the first lines are in, if they are not plain
/// PostgreSQL lines.
fn vote(doc: &[u8], scanner: &Scanner) -> Option<Envelope> {
    let mut votes: Vec<(Envelope, usize)> = Vec::new();
    let mut plain = 0;
    let lines = doc.split(|&c| c == b'\n').map(<[u8]>::trim_ascii).filter(|l| !l.is_empty());
    for line in lines.take(20) {
        let envelope = if line.first() == Some(&b'{') {
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(line)
                .ok()
                .and_then(|o| classify_object(&o))
        } else if cri(line).is_some() {
            Some(Envelope::Cri)
        } else if heroku(line).is_some() {
            Some(Envelope::Heroku)
        } else {
            None
        };
        match envelope {
            Some(e) => match votes.iter_mut().find(|(v, _)| *v == e) {
                Some((_, n)) => *n += 1,
                None => votes.push((e, 1)),
            },
            None if scanner.severity(line).is_some() => plain += 1,
            None => {}
        }
    }
    let (envelope, n) = votes.into_iter().max_by_key(|&(_, n)| n)?;
    (n >= plain).then_some(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unwrap_all(log: &[u8]) -> (Option<Vec<Envelope>>, String, Vec<Carrier>) {
        let Some(mut u) = detect(log, &Scanner::new()) else {
            return (None, String::new(), vec![]);
        };
        let mut stats = Stats::default();
        let mut out = Unwrapped::default();
        let mut carriers = Vec::new();
        u.inspect(log);
        u.unwrap(log, &mut out, &mut stats);
        u.finish(&mut stats);
        let mut more = Unwrapped::default();
        while u.unspool(&mut more, &mut stats) {
            out.text.extend_from_slice(&more.text);
            carriers.extend_from_slice(more.carriers());
            more.clear();
        }
        let text = String::from_utf8_lossy(&out.text).into_owned();
        let carriers = [out.carriers(), &carriers].concat();
        (Some(u.envelopes().collect()), text, carriers)
    }

    fn ts(s: &str) -> Option<Timestamp> {
        Timestamp::parse(s.as_bytes())
    }

    #[test]
    fn plain_logs_have_no_envelope() {
        let s = Scanner::new();
        assert!(detect(b"2025-03-01 10:00:00.000 UTC [1] LOG:  x\n", &s).is_none());
        assert!(
            detect(b"{\"timestamp\":\"2025-03-01 10:00:00.092 UTC\",\"pid\":1}\n", &s).is_none()
        );
        assert!(detect(b"Mar  1 10:00:01 db1 postgres[4301]: [7-1] LOG:  x\n", &s).is_none());
        assert!(
            detect(b"2025-03-01 10:00:01.586 UTC,,,18327,,6b.47,1,,x,,0,LOG,00000,\"m\"\n", &s)
                .is_none()
        );
        assert!(detect(b"", &s).is_none());
    }

    #[test]
    fn docker_lines_and_partial_chunks() {
        let log = concat!(
            r#"{"log":"[10] LOG:  connection received: host=[local]\n","stream":"stderr","time":"2024-01-05T09:12:03.12345678Z"}"#,
            "\n",
            r#"{"log":"[10] LOG:  connection auth","stream":"stderr","time":"2024-01-05T09:12:04Z"}"#,
            "\n",
            r#"{"log":"starting\n","stream":"stdout","time":"2024-01-05T09:12:04.5Z"}"#,
            "\n",
            r#"{"log":"orized: user=a database=b\n","stream":"stderr","time":"2024-01-05T09:12:05Z"}"#,
            "\n",
        );
        let (env, text, carriers) = unwrap_all(log.as_bytes());
        assert_eq!(env, Some(vec![Envelope::Docker]));
        assert_eq!(
            text,
            "[10] LOG:  connection received: host=[local]\nstarting\n[10] LOG:  connection authorized: user=a database=b\n"
        );
        assert_eq!(carriers[0].time, ts("2024-01-05 09:12:03.123 UTC"));
        // A joined line has its first chunk's time.
        assert_eq!(carriers[2].time, ts("2024-01-05 09:12:04 UTC"));
    }

    #[test]
    fn cri_lines_and_partial_chunks() {
        let log = "2024-01-05T09:12:03.813799277Z stderr F [10] LOG:  connection received: host=[local]\n\
                   2024-01-05T09:12:04.1Z stderr P [10] LOG:  connection auth\n\
                   2024-01-05T09:12:04.2+00:00 stderr F orized: user=a database=b\n\
                   2024-01-05T09:12:05Z stdout F:x \n";
        let (env, text, carriers) = unwrap_all(log.as_bytes());
        assert_eq!(env, Some(vec![Envelope::Cri]));
        assert_eq!(
            text,
            "[10] LOG:  connection received: host=[local]\n[10] LOG:  connection authorized: user=a database=b\n\n"
        );
        assert_eq!(carriers[1].time, ts("2024-01-05 09:12:04.100 UTC"));
    }

    #[test]
    fn journald_stdout_and_syslog_transports() {
        let log = concat!(
            r#"{"__CURSOR":"s=1","__REALTIME_TIMESTAMP":"1704445923123456","_PID":"1","_TRANSPORT":"stdout","MESSAGE":"LOG:  connection received: host=[local]"}"#,
            "\n",
            r#"{"__CURSOR":"s=2","__REALTIME_TIMESTAMP":"1704445924000000","_PID":"1","SYSLOG_PID":"4242","_TRANSPORT":"syslog","MESSAGE":"[3-1] LOG:  connection authorized: user=a"}"#,
            "\n",
            r#"{"__CURSOR":"s=3","__REALTIME_TIMESTAMP":"1704445924000000","_PID":"1","SYSLOG_PID":"4242","_TRANSPORT":"syslog","MESSAGE":[91,51,45,50,93,32,9,120,255]}"#,
            "\n",
            r#"{"__CURSOR":"s=4","__REALTIME_TIMESTAMP":"1704445925000000","MESSAGE":null}"#,
            "\n",
        );
        let (env, text, carriers) = unwrap_all(log.as_bytes());
        assert_eq!(env, Some(vec![Envelope::Journald]));
        assert_eq!(
            text,
            "LOG:  connection received: host=[local]\nLOG:  connection authorized: user=a\n\tx\u{fffd}\n\n"
        );
        assert_eq!(carriers[0], Carrier { time: ts("2024-01-05 09:12:03.123 UTC"), pid: None });
        assert_eq!(carriers[1].pid, Some(4242));
    }

    #[test]
    fn cloud_logging_lines_and_gcloud_array_newest_first() {
        let entry = |t: &str, text: &str| {
            format!(
                r#"{{"insertId":"x","logName":"projects/p/logs/cloudsql.googleapis.com%2Fpostgres.log","resource":{{"type":"cloudsql_database"}},"textPayload":"{text}","timestamp":"{t}"}}"#
            )
        };
        let a = entry("2024-01-05T09:12:03.232Z", "[1] LOG:  a");
        let b = entry("2024-01-05T09:12:04Z", "[1] LOG:  b");
        let (env, text, _) = unwrap_all(format!("{a}\n{b}\n").as_bytes());
        assert_eq!(env, Some(vec![Envelope::CloudLogging]));
        assert_eq!(text, "[1] LOG:  a\n[1] LOG:  b\n");
        let array = format!("[\n  {},\n  {}\n]\n", b.replace(',', ",\n    "), a);
        let (env, text, carriers) = unwrap_all(array.as_bytes());
        assert_eq!(env, Some(vec![Envelope::CloudLogging]));
        assert_eq!(text, "[1] LOG:  a\n[1] LOG:  b\n");
        assert_eq!(carriers[0].time, ts("2024-01-05 09:12:03.232 UTC"));
    }

    #[test]
    fn cloudwatch_pretty_document() {
        let log = r#"{
    "events": [
        {
            "logStreamName": "db1",
            "timestamp": 1704445923232,
            "message": "2024-01-05 09:12:03 UTC::@:[4242]:LOG:  connection received: host=[local] {\"x\"}",
            "ingestionTime": 1704445924000,
            "eventId": "1"
        },
        {
            "logStreamName": "db1",
            "timestamp": 1704445924000,
            "message": "b",
            "ingestionTime": 1704445924000,
            "eventId": "2"
        }
    ],
    "searchedLogStreams": [{"logStreamName": "db1", "searchedCompletely": true}]
}
"#;
        let (env, text, carriers) = unwrap_all(log.as_bytes());
        assert_eq!(env, Some(vec![Envelope::CloudWatch]));
        assert_eq!(
            text,
            "2024-01-05 09:12:03 UTC::@:[4242]:LOG:  connection received: host=[local] {\"x\"}\nb\n"
        );
        assert_eq!(carriers[0].time, ts("2024-01-05 09:12:03.232 UTC"));
    }

    #[test]
    fn azure_detail_becomes_a_detail_line() {
        let log = r#"{"time":"2024-01-05T09:12:03.1230000Z","resourceId":"/X","category":"PostgreSQLLogs","operationName":"LogEvent","properties":{"timestamp":"2024-01-05 09:12:03.123 UTC","processId":4242,"errorLevel":"FATAL","sqlerrcode":"28P01","message":"2024-01-05 09:12:03 UTC-659-FATAL:  password authentication failed for user \"x\"","detail":"Role \"x\" does not exist.\nConnection matched file"}}
"#;
        let (env, text, carriers) = unwrap_all(log.as_bytes());
        assert_eq!(env, Some(vec![Envelope::Azure]));
        assert_eq!(
            text,
            "2024-01-05 09:12:03 UTC-659-FATAL:  password authentication failed for user \"x\"\n\
             2024-01-05 09:12:03 UTC-659-DETAIL:  Role \"x\" does not exist.\n\tConnection matched file\n"
        );
        assert_eq!(
            carriers[2],
            Carrier { time: ts("2024-01-05 09:12:03.123 UTC"), pid: Some(4242) }
        );
    }

    #[test]
    fn heroku_lines_with_chunks() {
        let long = "y".repeat(900);
        let log = format!(
            "2024-01-05T09:12:03+00:00 app[postgres.4242]: [DATABASE] [3-1]  sql_error_code = 00000 LOG:  {long}\n\
             2024-01-05T09:12:03+00:00 app[postgres.4242]: [DATABASE] [3-2]  more\n\
             2024-01-05T09:12:03+00:00 app[web.1]: GET /\n"
        );
        let (env, text, carriers) = unwrap_all(log.as_bytes());
        assert_eq!(env, Some(vec![Envelope::Heroku]));
        assert_eq!(text, format!(" sql_error_code = 00000 LOG:  {long}\n\t more\n"));
        assert_eq!(carriers[0].pid, Some(4242));
    }

    #[test]
    fn loki_lines_newest_first() {
        let log = concat!(
            r#"{"labels":{"job":"pg"},"line":"[1] LOG:  b","timestamp":"2024-01-05T10:12:04+01:00"}"#,
            "\n",
            r#"{"labels":{"job":"pg"},"line":"[1] LOG:  a","timestamp":"2024-01-05T10:12:03+01:00"}"#,
            "\n",
        );
        let (env, text, carriers) = unwrap_all(log.as_bytes());
        assert_eq!(env, Some(vec![Envelope::Loki]));
        assert_eq!(text, "[1] LOG:  a\n[1] LOG:  b\n");
        assert_eq!(carriers[0].time.map(|t| t.ms), ts("2024-01-05 09:12:03 UTC").map(|t| t.ms));
    }

    #[test]
    fn cloudnative_pg_records_bare_and_in_cri() {
        let record = r#"{"level":"info","ts":"2024-01-05T09:12:03.232Z","logger":"postgres","msg":"record","logging_pod":"c-1","record":{"log_time":"2024-01-05 09:12:03.232 UTC","user_name":"app","database_name":"shop","process_id":"4242","connection_from":"10.0.0.5:52008","session_id":"1","error_severity":"FATAL","sql_state_code":"28P01","message":"password authentication failed for user \"app\"","detail":"Role \"app\" does not exist."}}"#;
        let want = r#"{"timestamp":"2024-01-05 09:12:03.232 UTC","user":"app","dbname":"shop","pid":4242,"remote_host":"10.0.0.5","error_severity":"FATAL","message":"password authentication failed for user \"app\"","detail":"Role \"app\" does not exist."}"#;
        let other = r#"{"level":"info","ts":"2024-01-05T09:12:03.232Z","logger":"instance-manager","msg":"x"}"#;
        let (env, text, _) = unwrap_all(format!("{record}\n{other}\n").as_bytes());
        assert_eq!(env, Some(vec![Envelope::CloudNativePg]));
        assert_eq!(text, format!("{want}\n"));
        let cri = format!("2024-01-05T09:12:03.3Z stdout F {record}\n");
        let (env, text, _) = unwrap_all(cri.as_bytes());
        assert_eq!(env, Some(vec![Envelope::Cri, Envelope::CloudNativePg]));
        assert_eq!(text, format!("{want}\n"));
    }

    #[test]
    fn splitter_cuts_across_chunks() {
        let doc = br#"{"events":[{"message":"a}{\"","timestamp":1},{"message":"b","timestamp":2}],"x":[{"y":1}]}"#;
        for step in [1, 2, 7, 1000] {
            let mut s = Splitter::new(3);
            let mut got = Vec::new();
            for chunk in doc.chunks(step) {
                s.feed(chunk, &mut |o| got.push(String::from_utf8_lossy(o.unwrap()).into_owned()));
            }
            assert_eq!(
                got,
                [
                    r#"{"message":"a}{\"","timestamp":1}"#,
                    r#"{"message":"b","timestamp":2}"#,
                    r#"{"y":1}"#
                ]
            );
        }
    }
}
