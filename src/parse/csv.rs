//! csvlog: one record per log entry, 23 columns in PostgreSQL 12, 24 in 13,
//! 26 in 14 to 18. Quoted fields may hold commas, doubled quotes and
//! newlines, so a record can span several physical lines.
//!
//! Record bounds come from quote parity: a newline outside quotes ends a
//! record. Between markers the records are skipped at once: when the
//! quotes from a record start to the last newline before the next marker
//! are even in number, that newline ends a record. Only records that hold a marker are parsed (with csv-core, which
//! unescapes without allocating); the message is then classified from its
//! own field, so text inside a quoted statement that reads like a
//! connection message never counts. Fields are taken from the record (pid,
//! user, database, remote host, time) rather than re-read from the message
//! where the record has them.
//!
//! An unterminated quote must not swallow the rest of the input: a record
//! that grows past `MAX_RECORD`, or is still open at the end of the input,
//! is cut at the next line that starts like a record, and the lines before
//! it are counted as skipped.

use csv_core::{ReadRecordResult, Reader};

use crate::event::{Event, EventKind, Meta, Reason};
use crate::parse::Stats;
use crate::parse::message::{self, Parsed};
use crate::scan::{Classifier, Needles, is_english_severity};
use crate::time::Timestamp;

/// A record longer than this is taken to be an unterminated quote.
const MAX_RECORD: usize = 1024 * 1024;

pub(crate) struct CsvParser {
    reader: Reader,
    /// A record that continues past the last chunk.
    carry: Vec<u8>,
    /// Quote parity at the end of `carry`.
    in_quote: bool,
    fields: Vec<u8>,
    ends: Vec<usize>,
    /// Records of this input whose severity word was checked (the first
    /// `SAMPLE` tell whether the log is translated).
    sampled: usize,
}

/// How many records of each input have their severity checked.
const SAMPLE: usize = 50;

impl CsvParser {
    pub(crate) fn new() -> CsvParser {
        CsvParser {
            reader: Reader::new(),
            carry: Vec::new(),
            in_quote: false,
            fields: Vec::new(),
            ends: vec![0; 64],
            sampled: 0,
        }
    }

    /// Whether the next chunk starts inside a quoted field of a record
    /// carried over.
    pub(crate) fn in_quotes(&self) -> bool {
        !self.carry.is_empty() && self.in_quote
    }

    /// Parses the complete lines in `chunk`.
    pub(crate) fn process<F>(&mut self, chunk: &[u8], stats: &mut Stats, emit: &mut F)
    where
        F: FnMut(&Event<'_>),
    {
        let mut pos = 0;
        if !self.carry.is_empty() {
            // Finish the record carried over from the last chunk.
            match record_end(chunk, 0, &mut self.in_quote) {
                Some(end) => {
                    let carried = self.carry.len();
                    let mut record = std::mem::take(&mut self.carry);
                    record.extend_from_slice(&chunk[..end]);
                    if let Some(inner) = self.is_broken(&record) {
                        stats.skipped_lines_of(&record[..inner]);
                        if inner < carried {
                            // The next record starts in the carried lines:
                            // read them again, with the chunk (no carry:
                            // one level deep).
                            let mut again = record[inner..carried].to_vec();
                            again.extend_from_slice(chunk);
                            return self.process(&again, stats, emit);
                        }
                        pos = inner - carried;
                    } else {
                        self.record(&record, stats, emit);
                        pos = end;
                    }
                    record.clear();
                    self.carry = record;
                }
                None => {
                    self.carry.extend_from_slice(chunk);
                    if self.carry.len() > MAX_RECORD {
                        self.resync(stats, emit);
                    }
                    return;
                }
            }
        }
        let mut next_hit = Needles::csv().next(chunk, pos);
        // `start` is always a record start, outside quotes.
        let mut start = pos;
        loop {
            // Records before the next marker are skipped in one step when
            // the quote count says the last newline before it ends one
            // (once the first records were sampled).
            let target = next_hit.unwrap_or(chunk.len());
            if self.sampled >= SAMPLE
                && let Some(k) = memchr::memrchr(b'\n', &chunk[start..target])
                && even_quotes(&chunk[start..start + k])
            {
                start += k + 1;
            }
            if next_hit.is_none() && memchr::memchr(b'\n', &chunk[start..]).is_none() {
                break;
            }
            // One record, from `start`.
            let mut quoted = false;
            let Some(end) = record_end(chunk, start, &mut quoted) else {
                break;
            };
            if let Some(inner) = self.is_broken(&chunk[start..end]) {
                let cut = start + inner;
                stats.skipped_lines_of(&chunk[start..cut]);
                start = cut;
                if next_hit.is_some_and(|h| h < start) {
                    next_hit = Needles::csv().next(chunk, start);
                }
                continue;
            }
            if let Some(h) = next_hit
                && h < end
            {
                self.record(&chunk[start..end], stats, emit);
                next_hit = Needles::csv().next(chunk, end);
            } else if self.sampled < SAMPLE {
                self.sample(&chunk[start..end], stats);
            }
            start = end;
        }
        if start < chunk.len() {
            self.carry.extend_from_slice(&chunk[start..]);
            self.in_quote = !even_quotes(&chunk[start..]);
            if self.carry.len() > MAX_RECORD {
                self.resync(stats, emit);
            }
        }
    }

    /// The input ended: a record still open is either the last line
    /// without a newline, or an unterminated quote to resynchronise after.
    pub(crate) fn end_input<F>(&mut self, stats: &mut Stats, emit: &mut F)
    where
        F: FnMut(&Event<'_>),
    {
        self.sampled = 0;
        if self.carry.is_empty() {
            return;
        }
        if self.in_quote {
            self.resync(stats, emit);
            self.end_input(stats, emit);
        } else {
            let record = std::mem::take(&mut self.carry);
            if Needles::csv().next(&record, 0).is_some() {
                self.record(&record, stats, emit);
            }
        }
        self.in_quote = false;
    }

    /// A record whose quote never closed (a record cut short by a crash),
    /// with the records after it read as its quoted continuation: it spans
    /// lines, one of its inner lines starts like a record, and it is not a
    /// valid csvlog record. Returns where that inner line starts. (A valid
    /// record with such a line is a quoted field holding log text, say a
    /// logged statement: never taken for records, so a client cannot
    /// inject events.)
    fn is_broken(&mut self, record: &[u8]) -> Option<usize> {
        let body = &record[..record.len().saturating_sub(1)];
        let inner = memchr::memchr_iter(b'\n', body)
            .map(|i| i + 1)
            .find(|&i| looks_like_record_start(&record[i..]))?;
        self.split(record).is_none().then_some(inner)
    }

    /// Drops the open record up to the next line that starts like a record,
    /// counting the lines dropped, and reads on from there.
    fn resync<F>(&mut self, stats: &mut Stats, emit: &mut F)
    where
        F: FnMut(&Event<'_>),
    {
        let carry = std::mem::take(&mut self.carry);
        self.in_quote = false;
        let restart = memchr::memchr_iter(b'\n', &carry)
            .map(|i| i + 1)
            .find(|&i| looks_like_record_start(&carry[i..]));
        let cut = restart.unwrap_or(carry.len());
        let skipped = memchr::memchr_iter(b'\n', &carry[..cut]).count().max(1);
        stats.skipped(skipped as u64, &carry[..cut]);
        if cut < carry.len() {
            self.process(&carry[cut..], stats, emit);
        }
    }

    /// Splits a record into fields; false if it is not a csvlog record.
    fn split(&mut self, record: &[u8]) -> Option<usize> {
        // csv-core ends a record at its line end; the last line of an input
        // may have none.
        let owned;
        let record = if record.ends_with(b"\n") {
            record
        } else {
            owned = [record, b"\n"].concat();
            &owned
        };
        self.reader.reset();
        if self.fields.len() < record.len() {
            self.fields.resize(record.len(), 0);
        }
        let (res, _, _, n) = self.reader.read_record(record, &mut self.fields, &mut self.ends);
        // Field counts of PostgreSQL 12 (23), 13 (24), 14 to 18 (26).
        (res == ReadRecordResult::Record && matches!(n, 23 | 24 | 26)).then_some(n)
    }

    fn field(&self, i: usize) -> &[u8] {
        &self.fields[if i == 0 { 0 } else { self.ends[i - 1] }..self.ends[i]]
    }

    /// Checks the severity word of a record without a marker: a
    /// translated log has no English ones.
    fn sample(&mut self, record: &[u8], stats: &mut Stats) {
        self.sampled += 1;
        if self.split(record).is_some() && !is_english_severity(self.field(11)) {
            stats.foreign_severity += 1;
        }
    }

    /// Parses one complete record that holds a marker.
    fn record<F>(&mut self, record: &[u8], stats: &mut Stats, emit: &mut F)
    where
        F: FnMut(&Event<'_>),
    {
        let Some(count) = self.split(record) else {
            stats.unmatched(record, false);
            return;
        };
        let fields = &self.fields;
        let ends = &self.ends;
        let field = |i: usize| -> &[u8] { &fields[if i == 0 { 0 } else { ends[i - 1] }..ends[i]] };
        let severity = field(11);
        if !is_english_severity(severity) {
            stats.foreign_severity += 1;
            return;
        }
        let Some(kind) = Classifier::get().classify(severity, field(13)) else { return };
        stats.candidates += 1;
        stats.check_bytes(record);
        let non_empty = |v: &'_ [u8]| -> bool { !v.is_empty() };
        let meta = Meta {
            time: Timestamp::parse(field(0)),
            pid: std::str::from_utf8(field(3)).ok().and_then(|p| p.parse().ok()),
            user: Some(field(1)).filter(|v| non_empty(v)),
            db: Some(field(2)).filter(|v| non_empty(v)),
            host: Some(remote_host(field(4))).filter(|v| non_empty(v)),
            app: Some(field(22)).filter(|v| non_empty(v)),
        };
        match message::parse(kind, field(13)) {
            Parsed::Event(mut kind) => {
                refine_with_detail(&mut kind, field(14));
                // backend_type, from PostgreSQL 13 (24 fields and more).
                if let EventKind::Disconnected { walsender, .. } = &mut kind {
                    *walsender = count > 23 && field(23) == b"walsender";
                }
                emit(&Event { meta, kind, raw: record.trim_ascii_end() });
            }
            Parsed::Ignore => {}
            Parsed::Unparsed => stats.unmatched(record, false),
        }
    }
}

/// csvlog puts the DETAIL in the same record: a password failure whose
/// detail names a finer reason (a missing role, an expired password, ...)
/// is that reason.
pub(crate) fn refine_with_detail(kind: &mut EventKind<'_>, detail: &[u8]) {
    if let EventKind::Failure { reason, .. } = kind
        && *reason == Reason::Password
        && let Some(finer) = crate::parse::message::detail_reason(detail)
    {
        *reason = finer;
    }
}

/// `"host:port"` or `"[local]"`: the host.
fn remote_host(from: &[u8]) -> &[u8] {
    match memchr::memrchr(b':', from) {
        Some(i) if from[i + 1..].iter().all(u8::is_ascii_digit) && i + 1 < from.len() => &from[..i],
        _ => from,
    }
}

/// The end (after the newline) of the record that `buf[from..]` continues,
/// given the quote parity so far; None if it does not end in `buf`.
fn record_end(buf: &[u8], from: usize, quoted: &mut bool) -> Option<usize> {
    for i in memchr::memchr2_iter(b'"', b'\n', &buf[from..]) {
        let i = from + i;
        if buf[i] == b'"' {
            *quoted = !*quoted;
        } else if !*quoted {
            return Some(i + 1);
        }
    }
    None
}

/// Whether `s` holds an even number of double quotes: read from a record
/// start, whether its end is outside quotes (counted vectorised).
fn even_quotes(s: &[u8]) -> bool {
    memchr::memchr_iter(b'"', s).count().is_multiple_of(2)
}

/// A csvlog record starts with its timestamp and a comma.
pub(crate) fn looks_like_record_start(line: &[u8]) -> bool {
    // Most lines fail at once (this runs on the inner lines of records).
    if line.len() < 20 || line[4] != b'-' || !line[0].is_ascii_digit() {
        return false;
    }
    let end = line.iter().take(64).position(|&c| c == b',').unwrap_or(0);
    end >= 19 && Timestamp::parse(&line[..end]).is_some()
}

/// Whether `line` starts a csvlog record, for telling the format: the time
/// and then the user name, quoted or empty (`%t,%p,...` and `%m, %p, ...`
/// in a stderr log's prefix start like a record too).
pub(crate) fn looks_like_csvlog(line: &[u8]) -> bool {
    // The byte after the first comma first: most stderr lines fail there,
    // before the time is parsed.
    let end = line.iter().take(64).position(|&c| c == b',').unwrap_or(0);
    matches!(line.get(end + 1), Some(b'"' | b',')) && looks_like_record_start(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> (Vec<String>, Stats) {
        let mut p = CsvParser::new();
        let mut stats = Stats::default();
        let mut out = Vec::new();
        let mut emit = |e: &Event<'_>| {
            out.push(format!(
                "{:?} {:?} {:?}",
                e.meta.pid,
                e.meta.host.map(|h| String::from_utf8_lossy(h).into_owned()),
                e.kind
            ))
        };
        for c in chunks {
            p.process(c, &mut stats, &mut emit);
        }
        p.end_input(&mut stats, &mut emit);
        (out, stats)
    }

    const RECEIVED: &[u8] = b"2025-03-01 10:00:01.586 UTC,,,18327,\"10.0.0.5:52020\",6b096b03.4797,1,\"\",2025-03-01 10:00:01 UTC,,0,LOG,00000,\"connection received: host=10.0.0.5 port=52020\",,,,,,,,,\"\",\"not initialized\",,0\n";
    const FAILED: &[u8] = b"2025-03-01 10:00:01.244 UTC,\"ghost\",\"postgres\",18320,\"10.0.0.5:52008\",6b096b03.4790,2,\"authentication\",2025-03-01 10:00:01 UTC,0/9,0,FATAL,28P01,\"password authentication failed for user \"\"ghost\"\"\",\"Role \"\"ghost\"\" does not exist.\nConnection matched file \"\"/etc/pg_hba.conf\"\" line 3: \"\"host all all 10.0.0.0/8 scram-sha-256\"\"\",,,,,,,,\"\",\"client backend\",,0\n";

    #[test]
    fn records_with_fields_and_detail() {
        let (ev, stats) = run(&[RECEIVED, FAILED]);
        assert_eq!(ev.len(), 2, "{ev:?} {stats:?}");
        assert!(ev[0].starts_with("Some(18327) Some(\"10.0.0.5\") Received"), "{}", ev[0]);
        assert!(ev[1].contains("NoSuchRole"), "{}", ev[1]);
        assert!(ev[1].contains("user: Some([103, 104, 111, 115, 116])"), "{}", ev[1]);
    }

    #[test]
    fn a_record_split_across_chunks() {
        let cut = FAILED.iter().position(|&c| c == b'\n').unwrap() + 1;
        let (ev, _) = run(&[RECEIVED, &FAILED[..cut], &FAILED[cut..]]);
        assert_eq!(ev.len(), 2);
    }

    #[test]
    fn records_skipped_between_markers_keep_quote_parity() {
        // Past the sampled records, the plain records before a marker are
        // skipped at once; a quoted newline (odd quotes before it) and a
        // fake marker line inside a statement must not fool the skip.
        let plain = b"2025-03-01 10:00:00.000 UTC,\"app\",\"db\",7,\"[local]\",1.7,1,\"idle\",2025-03-01 10:00:00 UTC,3/1,0,LOG,00000,\"statement: select 1\",,,,,,,,,\"psql\",\"client backend\",,0\n";
        let multi = b"2025-03-01 10:00:00.500 UTC,\"app\",\"db\",8,\"[local]\",1.8,1,\"idle\",2025-03-01 10:00:00 UTC,3/2,0,LOG,00000,\"statement: select '\n2025-03-01 10:00:01.586 UTC,,,99,\"\"10.0.0.9:1\"\",x,1,\"\"\"\",2025-03-01 10:00:01 UTC,,0,LOG,00000,\"\"connection received: host=10.0.0.9 port=1\"\",,,,,,,,,\"\"\"\",\"\"x\"\",,0\n'\",,,,,,,,,\"psql\",\"client backend\",,0\n";
        let mut data = Vec::new();
        for _ in 0..SAMPLE + 10 {
            data.extend_from_slice(plain);
        }
        for _ in 0..3 {
            data.extend_from_slice(multi);
            data.extend_from_slice(plain);
        }
        data.extend_from_slice(RECEIVED);
        data.extend_from_slice(multi);
        data.extend_from_slice(FAILED);
        let (whole, stats) = run(&[&data]);
        assert_eq!(whole.len(), 2, "{whole:?} {stats:?}");
        assert!(whole[0].starts_with("Some(18327) Some(\"10.0.0.5\") Received"), "{}", whole[0]);
        assert!(whole[1].contains("NoSuchRole"), "{}", whole[1]);
        assert_eq!(stats.unparsed, 0);
        // The same wherever the input is cut.
        for cut in (1..data.len()).step_by(97) {
            let (ev, _) = run(&[&data[..cut], &data[cut..]]);
            assert_eq!(ev, whole, "cut at {cut}");
        }
    }

    #[test]
    fn statement_lines_are_not_records() {
        let fake = b"2025-03-01 10:00:02.000 UTC,\"postgres\",\"postgres\",100,\"[local]\",1.64,3,\"idle\",2025-03-01 10:00:00 UTC,3/2,0,LOG,00000,\"statement: select 1;\n2025-03-01 10:00:01.586 UTC,,,18327,\"\"10.0.0.5:52020\"\",6b096b03.4797,1,\"\"\"\",2025-03-01 10:00:01 UTC,,0,LOG,00000,\"\"connection received: host=10.0.0.5 port=52020\"\"\",,,,,,,,,\"psql\",\"client backend\",,0\n";
        let (ev, stats) = run(&[fake]);
        assert!(ev.is_empty(), "{ev:?}");
        assert_eq!(stats.unparsed, 0);
    }

    #[test]
    fn unterminated_quote_resynchronises() {
        let mut broken = b"2025-03-01 10:00:00.000 UTC,\"a\",\"b\",1,\"[local]\",x,1,\"\",2025-03-01 10:00:00 UTC,,0,LOG,00000,\"statement: select '\n".to_vec();
        broken.extend_from_slice(RECEIVED);
        broken.extend_from_slice(RECEIVED);
        let (ev, stats) = run(&[&broken]);
        assert_eq!(ev.len(), 2, "{ev:?}");
        assert_eq!(stats.skipped_lines, 1);
    }

    /// A quote left open mid-stream: the records after it are read (their
    /// quotes must not be taken as inverted), whether the break falls
    /// inside a chunk or at a chunk boundary; and a statement holding
    /// record-like lines is still one record.
    #[test]
    fn a_broken_record_mid_stream_costs_only_itself() {
        let broken: &[u8] = b"2025-03-01 10:00:00.000 UTC,\"a\",\"b\",1,\"[local]\",x,1,\"\",2025-03-01 10:00:00 UTC,,0,LOG,00000,\"statement: select '\n";
        // A multi-line record ends the inverted stretch.
        let multi: &[u8] = b"2025-03-01 10:00:00.500 UTC,\"app\",\"db\",8,\"[local]\",1.8,1,\"idle\",2025-03-01 10:00:00 UTC,3/2,0,LOG,00000,\"statement: select\n1\",,,,,,,,,\"psql\",\"client backend\",,0\n";
        let mut rest = Vec::new();
        for _ in 0..5 {
            rest.extend_from_slice(RECEIVED);
        }
        rest.extend_from_slice(multi);
        rest.extend_from_slice(RECEIVED);
        let whole = [broken, &rest[..]].concat();
        for chunks in [vec![&whole[..], RECEIVED], vec![broken, &rest[..], RECEIVED]] {
            let (ev, stats) = run(&chunks);
            assert_eq!((ev.len(), stats.skipped_lines), (7, 1), "{ev:?}");
        }
        for cut in (1..whole.len()).step_by(53) {
            let (ev, stats) = run(&[&whole[..cut], &whole[cut..]]);
            assert_eq!((ev.len(), stats.skipped_lines), (6, 1), "cut at {cut}: {ev:?}");
        }
    }

    #[test]
    fn hosts() {
        assert_eq!(remote_host(b"10.0.0.5:52020"), b"10.0.0.5");
        assert_eq!(remote_host(b"[local]"), b"[local]");
        assert_eq!(remote_host(b"::1:5432"), b"::1");
    }
}
