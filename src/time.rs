//! Log time: parsing the timestamps PostgreSQL writes, and printing them.
//!
//! "Now" in pgconn is always the newest timestamp in the log, never the wall
//! clock, so a replayed log gives the same report as a live one. A timestamp
//! keeps its instant (milliseconds since the Unix epoch, UTC) when the zone
//! is known: `UTC`, a numeric offset (`+03`, `-0430`), a common
//! abbreviation, or one given with `--tz-abbrev NAME=+HH:MM` (which also
//! overrides the common meaning of an ambiguous one). An unknown
//! abbreviation, or a time without a zone (RFC 3164 syslog headers), is
//! taken as UTC: ordered as UTC, printed as written in text and with
//! `+00:00` in RFC 3339 (JSON); the report names it.

use std::fmt;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::bytes;

/// The last second, date and zone `Timestamp::parse_cached` worked out.
#[derive(Clone, Debug, Default)]
pub(crate) struct TimeCache {
    /// `YYYY-MM-DD HH:MM:SS` of the last line, as three words, and its
    /// seconds since the epoch in local time.
    /// (All zero at first: no timestamp's words.)
    second: [u64; 3],
    local_secs: i64,
    /// `YYYY-MM-DD` as a word and two bytes.
    date: Option<(u64, u16)>,
    days: i64,
    zone: u64,
    zone_len: u8,
    offset: Option<i16>,
}

/// A point in log time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timestamp {
    /// Milliseconds since 1970-01-01 UTC (local time if the zone is unknown).
    pub(crate) ms: i64,
    /// Offset from UTC in minutes, when known.
    offset_min: Option<i16>,
    /// Whether the log wrote milliseconds (`%m`) or not (`%t`).
    has_ms: bool,
    /// The zone as written (up to 8 bytes), for timestamps whose offset is
    /// unknown.
    zone: [u8; 8],
    zone_len: u8,
}

fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 18 {
        return None;
    }
    let mut n = 0i64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(c - b'0');
    }
    Some(n)
}

/// Two ASCII digits at `b[i..i + 2]`.
fn two(b: &[u8], i: usize) -> Option<i64> {
    let (x, y) = (b[i].wrapping_sub(b'0'), b[i + 1].wrapping_sub(b'0'));
    (x < 10 && y < 10).then(|| i64::from(x) * 10 + i64::from(y))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Offsets of zone abbreviations PostgreSQL commonly prints for
/// log_timezone. Ambiguous ones take their most common meaning (IST is
/// India, CST is US Central).
fn abbreviation_offset(zone: &[u8]) -> Option<i16> {
    let hours = |h: i16| Some(h * 60);
    match zone {
        b"UTC" | b"GMT" | b"UT" | b"Z" | b"WET" => hours(0),
        b"BST" | b"CET" | b"WEST" | b"MET" | b"WAT" => hours(1),
        b"CEST" | b"EET" | b"MEST" | b"SAST" | b"CAT" | b"IST2" => hours(2),
        b"EEST" | b"MSK" | b"EAT" | b"AST3" => hours(3),
        b"IST" => Some(5 * 60 + 30),
        b"PKT" => hours(5),
        b"ICT" | b"WIB" => hours(7),
        b"HKT" | b"SGT" | b"AWST" | b"PHT" | b"WITA" => hours(8),
        b"JST" | b"KST" | b"WIT" => hours(9),
        b"ACST" => Some(9 * 60 + 30),
        b"ACDT" => Some(10 * 60 + 30),
        b"AEST" | b"ChST" => hours(10),
        b"AEDT" => hours(11),
        b"NZST" => hours(12),
        b"NZDT" => hours(13),
        b"ADT" => hours(-3),
        b"AST" | b"EDT" => hours(-4),
        b"EST" | b"CDT" => hours(-5),
        b"CST" | b"MDT" => hours(-6),
        b"MST" | b"PDT" => hours(-7),
        b"PST" | b"AKDT" => hours(-8),
        b"AKST" | b"HDT" => hours(-9),
        b"HST" => hours(-10),
        b"NST" => Some(-(3 * 60 + 30)),
        b"NDT" => Some(-(2 * 60 + 30)),
        _ => None,
    }
}

/// Zone abbreviations given with `--tz-abbrev`, set once before any log is
/// read (`set_abbreviations`). A global: the parsers that read times (the
/// prefix's, csvlog's, jsonlog's, the envelopes') are many and reach it
/// only when a line's zone differs from the line before's, behind `GIVEN`.
static ABBREVIATIONS: RwLock<Vec<(String, i16)>> = RwLock::new(Vec::new());
static GIVEN: AtomicBool = AtomicBool::new(false);

/// Makes `given` (name, minutes east of UTC) the offsets of those zone
/// abbreviations, before pgconn's own table.
pub(crate) fn set_abbreviations(given: &[(String, i16)]) {
    let mut table = ABBREVIATIONS.write().unwrap_or_else(|e| e.into_inner());
    table.clear();
    table.extend_from_slice(given);
    GIVEN.store(!table.is_empty(), Ordering::Release);
}

fn given_offset(zone: &[u8]) -> Option<i16> {
    if !GIVEN.load(Ordering::Acquire) {
        return None;
    }
    let table = ABBREVIATIONS.read().unwrap_or_else(|e| e.into_inner());
    table.iter().find(|(name, _)| name.as_bytes() == zone).map(|&(_, off)| off)
}

/// Parses a `--tz-abbrev` value, `NAME=+HH:MM` (or `+HH`, `-HHMM`): the
/// abbreviation as the log writes it (letters, up to 8) and its offset.
pub(crate) fn parse_abbreviation(s: &str) -> Result<(String, i16), String> {
    let (name, offset) =
        s.split_once('=').ok_or_else(|| format!("'{s}' is not NAME=+HH:MM, e.g. SST=-11:00"))?;
    if name.is_empty() || name.len() > 8 || !name.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "'{name}' is not a zone abbreviation (letters and digits, up to 8, as the log \
             writes it)"
        ));
    }
    if !name.bytes().any(|c| c.is_ascii_alphabetic()) {
        return Err(format!("'{name}' is not a zone abbreviation (it has no letter)"));
    }
    let off = numeric_offset(offset.as_bytes())
        .ok_or_else(|| format!("'{offset}' is not an offset such as +05:30 or -11:00"))?;
    Ok((name.to_string(), off))
}

/// The offset (minutes east of UTC) pgconn reads a zone as, as the log
/// would write it: `+03`, `-04:30`, an abbreviation given with
/// `--tz-abbrev` or one of the common ones; None for one it does not know.
pub(crate) fn offset_minutes(zone: &str) -> Option<i16> {
    let zone = zone.as_bytes();
    if zone.is_empty() || zone.len() > 8 {
        return None;
    }
    numeric_offset(zone).or_else(|| given_offset(zone)).or_else(|| abbreviation_offset(zone))
}

/// `+03`, `-0430`, `+05:30`.
fn numeric_offset(zone: &[u8]) -> Option<i16> {
    let (sign, rest) = match zone.first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    let (h, m) = match rest.len() {
        1 | 2 => (digits(rest)?, 0),
        4 => (digits(&rest[..2])?, digits(&rest[2..])?),
        5 if rest[2] == b':' => (digits(&rest[..2])?, digits(&rest[3..])?),
        _ => return None,
    };
    if h > 15 || m > 59 {
        return None;
    }
    Some(sign * (h * 60 + m) as i16)
}

impl Timestamp {
    /// Parses `YYYY-MM-DD HH:MM:SS[.mmm][ ZONE]` (`%m`, `%t`).
    pub(crate) fn parse(b: &[u8]) -> Option<Timestamp> {
        Timestamp::parse_cached(b, &mut TimeCache::default())
    }

    /// `parse`, remembering the last date and zone: consecutive log lines
    /// share them, and working them out is most of the cost. Inlined into
    /// its caller: a `Timestamp` returned through memory, written in narrow
    /// stores and read back at once in words, stalled (store forwarding;
    /// half of `Prefix::fields`' cycles in perf).
    #[inline(always)]
    pub(crate) fn parse_cached(b: &[u8], cache: &mut TimeCache) -> Option<Timestamp> {
        if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        if b[10] != b' ' && b[10] != b'T' {
            return None;
        }
        // Lines of the same second share `YYYY-MM-DD HH:MM:SS`: three
        // word compares instead of the digits.
        let second = [bytes::word(b, 0), bytes::word(b, 8), bytes::word(b, 11)];
        // Word by word: an array compare was vectorised through the stack,
        // and the 16-byte load of two 8-byte stores stalled (store
        // forwarding fails), half of this function's time.
        let same = (second[0] ^ cache.second[0])
            | (second[1] ^ cache.second[1])
            | (second[2] ^ cache.second[2]);
        let local_secs = if same == 0 {
            cache.local_secs
        } else {
            let date = (second[0], u16::from_le_bytes([b[8], b[9]]));
            let days = if cache.date == Some(date) {
                cache.days
            } else {
                let y = digits(&b[0..4])?;
                let mo = digits(&b[5..7])?;
                let d = digits(&b[8..10])?;
                if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
                    return None;
                }
                let days = days_from_civil(y, mo, d);
                cache.date = Some(date);
                cache.days = days;
                days
            };
            let (h, mi, s) = (two(b, 11)?, two(b, 14)?, two(b, 17)?);
            if h > 23 || mi > 59 || s > 60 {
                return None;
            }
            let local_secs = days * 86_400 + h * 3600 + mi * 60 + s;
            cache.second = second;
            cache.local_secs = local_secs;
            local_secs
        };
        let mut rest = &b[19..];
        let mut ms = 0;
        let mut has_ms = false;
        if rest.len() >= 4
            && rest[0] == b'.'
            && rest[1..4].iter().all(u8::is_ascii_digit)
            && !rest.get(4).is_some_and(u8::is_ascii_digit)
        {
            // The usual `.mmm`.
            ms = i64::from(rest[1] - b'0') * 100
                + i64::from(rest[2] - b'0') * 10
                + i64::from(rest[3] - b'0');
            has_ms = true;
            rest = &rest[4..];
        } else if rest.first() == Some(&b'.') {
            let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            let frac = &rest[1..1 + n];
            // Keep milliseconds; longer fractions are truncated.
            let take = frac.len().min(3);
            ms = digits(&frac[..take])? * 10i64.pow(3 - take as u32);
            has_ms = true;
            rest = &rest[1 + n..];
        }
        let zone = match rest.first() {
            None => &rest[..0],
            Some(b' ') => &rest[1..],
            Some(b'+' | b'-' | b'Z') => rest,
            Some(_) => return None,
        };
        // A zone is one short word: `UTC`, `CEST`, `+03`, `-04:30`.
        if zone.len() > 8 {
            return None;
        }
        // The zone's bytes as one word, put together in a register: an
        // array filled byte by byte and then read as a whole stalled
        // (store forwarding).
        let z = zone.iter().rev().fold(0u64, |w, &c| (w << 8) | u64::from(c));
        let offset_min = if zone.is_empty() {
            None
        } else if usize::from(cache.zone_len) == zone.len() && cache.zone == z {
            // The zone of the line before: checked then.
            cache.offset
        } else {
            let word = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b':');
            if !zone.iter().all(word) {
                return None;
            }
            let offset = numeric_offset(zone)
                .or_else(|| given_offset(zone))
                .or_else(|| abbreviation_offset(zone));
            cache.zone = z;
            cache.zone_len = zone.len() as u8;
            cache.offset = offset;
            offset
        };
        let local = local_secs * 1000 + ms;
        let utc = local - i64::from(offset_min.unwrap_or(0)) * 60_000;
        let zone_len = zone.len() as u8;
        Some(Timestamp { ms: utc, offset_min, has_ms, zone: z.to_le_bytes(), zone_len })
    }

    /// Parses `%n`: seconds since the epoch with milliseconds.
    pub(crate) fn parse_epoch(b: &[u8]) -> Option<Timestamp> {
        let (secs, frac) = match memchr::memchr(b'.', b) {
            Some(i) => (&b[..i], &b[i + 1..]),
            None => (b, &b[..0]),
        };
        let secs = digits(secs)?;
        let ms = if frac.is_empty() {
            0
        } else {
            let take = frac.len().min(3);
            digits(&frac[..take])? * 10i64.pow(3 - take as u32)
        };
        let mut zone = [0u8; 8];
        zone[..3].copy_from_slice(b"UTC");
        Some(Timestamp {
            ms: secs * 1000 + ms,
            offset_min: Some(0),
            has_ms: true,
            zone,
            zone_len: 3,
        })
    }

    /// The instant `ms` milliseconds after the epoch, in UTC (the times
    /// envelopes carry as numbers: journald's microseconds, CloudWatch's
    /// milliseconds).
    pub(crate) fn from_unix_ms(ms: i64) -> Timestamp {
        Timestamp { ms, ..Timestamp::utc_zone() }
    }

    fn utc_zone() -> Timestamp {
        let mut zone = [0u8; 8];
        zone[..3].copy_from_slice(b"UTC");
        Timestamp { ms: 0, offset_min: Some(0), has_ms: true, zone, zone_len: 3 }
    }

    /// Parses an RFC 3339 time as envelopes write it
    /// (`2024-01-05T09:12:03.123456789Z`, `…+01:00`): `Z` is shown as
    /// `UTC`, as PostgreSQL writes it.
    pub(crate) fn parse_rfc3339(b: &[u8]) -> Option<Timestamp> {
        match b.strip_suffix(b"Z").or_else(|| b.strip_suffix(b"z")) {
            Some(local) => {
                let t = Timestamp::parse(local)?;
                // A zone after the `Z` is not RFC 3339.
                (t.zone_len == 0).then(|| Timestamp {
                    ms: t.ms,
                    has_ms: t.has_ms,
                    ..Timestamp::utc_zone()
                })
            }
            None => Timestamp::parse(b),
        }
    }

    /// Parses the RFC 3164 (BSD syslog) time `Mmm dd hh:mm:ss`, which has
    /// no year and no zone: the year is `reference`'s (the file's
    /// modification time, or now), or the one before for a date after
    /// `reference` (more than a day after it: the zone is unknown), so that
    /// a log that crosses New Year stays in order. The zone is unknown
    /// (local time, ordered as if UTC).
    pub(crate) fn parse_bsd(b: &[u8], reference_ms: i64) -> Option<Timestamp> {
        const MONTHS: [&[u8; 3]; 12] = [
            b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
            b"Dec",
        ];
        if b.len() != 15 || b[3] != b' ' || b[6] != b' ' || b[9] != b':' || b[12] != b':' {
            return None;
        }
        let month = MONTHS.iter().position(|m| m[..] == b[..3])? as i64 + 1;
        let day = match b[4] {
            b' ' => digits(&b[5..6])?,
            _ => digits(&b[4..6])?,
        };
        let (h, mi, s) = (two(b, 7)?, two(b, 10)?, two(b, 13)?);
        if !(1..=31).contains(&day) || h > 23 || mi > 59 || s > 60 {
            return None;
        }
        let (year, _, _) = civil_from_days(reference_ms.div_euclid(86_400_000));
        let at = |y| (days_from_civil(y, month, day) * 86_400 + h * 3600 + mi * 60 + s) * 1000;
        let ms = if at(year) > reference_ms + 86_400_000 { at(year - 1) } else { at(year) };
        Some(Timestamp { ms, offset_min: None, has_ms: false, zone: [0; 8], zone_len: 0 })
    }

    /// The same zone, `delta_ms` later (earlier when negative).
    pub(crate) fn shifted(&self, delta_ms: i64) -> Timestamp {
        Timestamp { ms: self.ms + delta_ms, ..*self }
    }

    /// The instant `ms` in this timestamp's zone.
    pub(crate) fn with_ms(&self, ms: i64) -> Timestamp {
        Timestamp { ms, ..*self }
    }

    /// The offset from UTC in milliseconds (0 when unknown).
    pub(crate) fn offset_ms(&self) -> i64 {
        i64::from(self.offset_min.unwrap_or(0)) * 60_000
    }

    fn zone(&self) -> &[u8] {
        &self.zone[..usize::from(self.zone_len)]
    }

    /// Local date and time fields in the log's zone.
    fn local_fields(&self) -> (i64, i64, i64, i64, i64, i64, i64) {
        let local = self.ms + i64::from(self.offset_min.unwrap_or(0)) * 60_000;
        let days = local.div_euclid(86_400_000);
        let in_day = local.rem_euclid(86_400_000);
        let (y, m, d) = civil_from_days(days);
        (y, m, d, in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000)
    }

    /// RFC 3339 with the log's offset (`2025-03-01T10:00:00.123+00:00`);
    /// a time whose zone is unknown (or not written) is taken as UTC.
    pub(crate) fn rfc3339(&self) -> String {
        let (y, mo, d, h, mi, s, ms) = self.local_fields();
        let mut out = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
        if self.has_ms {
            out.push_str(&format!(".{ms:03}"));
        }
        let off = self.offset_min.unwrap_or(0);
        let sign = if off < 0 { '-' } else { '+' };
        let off = off.unsigned_abs();
        out.push_str(&format!("{sign}{:02}:{:02}", off / 60, off % 60));
        out
    }

    /// As text output shows it: as the log wrote it (`zone` None, the
    /// `Display` form), or in the `--tz` zone.
    pub(crate) fn shown(&self, zone: Option<&crate::zone::Zone>) -> String {
        match zone {
            None => self.to_string(),
            Some(z) => z.show(self.ms).to_string(),
        }
    }

    /// The zone as written when pgconn does not know its offset (empty for
    /// a time written without one); None when the offset is known.
    pub(crate) fn unknown_zone(&self) -> Option<&[u8]> {
        match self.offset_min {
            Some(_) => None,
            None => Some(self.zone()),
        }
    }
}

/// As the log writes it, to the second: `2025-03-01 10:00:00 UTC`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d, h, mi, s, _) = self.local_fields();
        write!(f, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")?;
        if self.zone_len > 0 {
            write!(f, " {}", String::from_utf8_lossy(self.zone()))?;
        }
        Ok(())
    }
}

/// Parses `YYYY-MM-DD[ HH:MM[:SS]]` (or with `T`) as local log time:
/// milliseconds since the epoch as if the log's clock were UTC.
pub(crate) fn parse_civil(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let full: Vec<u8> = match b.len() {
        10 => [b, b" 00:00:00"].concat(),
        16 => [b, b":00"].concat(),
        _ => b.to_vec(),
    };
    // With fractional seconds too (`.123`), but without a zone.
    let t = Timestamp::parse(&full).filter(|t| t.zone_len == 0)?;
    Some(t.ms)
}

/// Parses a time with a zone as pgconn prints it (`2025-03-01 10:00:00
/// UTC`, `2025-03-01 10:00:00.123+03`, RFC 3339 `2025-03-01T10:00:00.123
/// +00:00` or `...Z`): the instant, in ms since the epoch. Err names a zone
/// whose offset pgconn does not know.
pub(crate) fn parse_zoned(s: &str) -> Option<Result<i64, String>> {
    let s = s.trim();
    // `2026-12-07 00:21 UTC`: minutes, as the civil forms allow, are `:00`.
    let b = s.as_bytes();
    let minutes_only = b.len() >= 17
        && matches!(b[10], b' ' | b'T')
        && b[13] == b':'
        && b[14..16].iter().all(u8::is_ascii_digit)
        && matches!(b[16], b' ' | b'+' | b'-' | b'Z');
    let with_seconds;
    let s = if minutes_only {
        with_seconds = format!("{}:00{}", &s[..16], &s[16..]);
        with_seconds.as_str()
    } else {
        s
    };
    let t = Timestamp::parse_rfc3339(s.as_bytes()).filter(|t| t.zone_len > 0)?;
    Some(match t.unknown_zone() {
        None => Ok(t.ms),
        Some(z) => Err(format!(
            "'{s}': pgconn does not know the offset of '{}' (give it as +HH:MM)",
            String::from_utf8_lossy(z)
        )),
    })
}

/// `ms` of the log's local clock (as `parse_civil` returns) as
/// `YYYY-MM-DD HH:MM:SS`.
pub(crate) fn format_civil(ms: i64) -> String {
    let (y, mo, d) = civil_from_days(ms.div_euclid(86_400_000));
    let s = ms.rem_euclid(86_400_000) / 1000;
    format!("{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Parses a duration: numbers with units, `ms`, `s`, `m`, `h` or `d`
/// (`500ms`, `1s`, `2.5m`, `1h`), one after another (`1h30m`, and what
/// pgconn prints: `4m05s`, `2d04h`, `12.3s`). A bare number is seconds.
pub(crate) fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("'{s}' is not a duration such as 500ms, 10s, 5m, 1h, 1h30m");
    let (mut rest, mut secs) = (s, 0.0);
    while !rest.is_empty() {
        let split = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let n: f64 = rest[..split].parse().map_err(|_| bad())?;
        let after = &rest[split..];
        let len = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let unit = &after[..len];
        secs += match unit {
            "ms" => n / 1000.0,
            "s" => n,
            // A bare number: seconds, and alone.
            "" if rest.len() == s.len() => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            "d" => n * 86_400.0,
            "" => return Err(bad()),
            _ => {
                return Err(format!("'{s}': unknown unit '{unit}' (use ms, s, m, h or d)"));
            }
        };
        rest = &after[len..];
    }
    if !(secs > 0.0 && secs < 1e9) {
        return Err(format!("'{s}': the duration must be more than zero"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// A duration in milliseconds, written for people: `850ms`, `12.3s`,
/// `4m05s`, `3h12m`, `2d04h`.
pub(crate) fn human_ms(ms: u64) -> String {
    let s = ms / 1000;
    if ms < 1000 {
        format!("{ms}ms")
    } else if s < 60 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    } else {
        format!("{}d{:02}h", s / 86_400, s / 3600 % 24)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s.as_bytes()).unwrap_or_else(|| panic!("parse {s}"))
    }

    #[test]
    fn default_forms() {
        let t = ts("2025-03-01 10:00:00.123 UTC");
        assert_eq!(t.rfc3339(), "2025-03-01T10:00:00.123+00:00");
        assert_eq!(t.to_string(), "2025-03-01 10:00:00 UTC");
        assert_eq!(t.ms, 1_740_823_200_123);
        let t = ts("2025-03-01 10:00:00 UTC");
        assert_eq!(t.rfc3339(), "2025-03-01T10:00:00+00:00");
    }

    #[test]
    fn zones() {
        assert_eq!(ts("2025-03-01 13:00:00 +03").ms, ts("2025-03-01 10:00:00 UTC").ms);
        assert_eq!(ts("2025-03-01 05:30:00 -0430").ms, ts("2025-03-01 10:00:00 UTC").ms);
        assert_eq!(ts("2025-03-01 11:00:00 CET").rfc3339(), "2025-03-01T11:00:00+01:00");
        assert_eq!(ts("2025-03-01 15:30:00 IST").ms, ts("2025-03-01 10:00:00 UTC").ms);
        let odd = ts("2025-03-01 10:00:00 XYZT");
        assert_eq!(odd.rfc3339(), "2025-03-01T10:00:00+00:00");
        assert_eq!(odd.to_string(), "2025-03-01 10:00:00 XYZT");
        assert_eq!(odd.unknown_zone(), Some(&b"XYZT"[..]));
        assert_eq!(ts("2025-03-01 10:00:00 CET").unknown_zone(), None);
    }

    #[test]
    fn given_abbreviations() {
        assert_eq!(parse_abbreviation("SST=-11:00"), Ok(("SST".to_string(), -660)));
        assert_eq!(parse_abbreviation("IST=+02"), Ok(("IST".to_string(), 120)));
        assert_eq!(parse_abbreviation("ChST=+1000"), Ok(("ChST".to_string(), 600)));
        assert!(parse_abbreviation("SST").unwrap_err().contains("NAME=+HH:MM"));
        assert!(parse_abbreviation("SST=11").unwrap_err().contains("not an offset"));
        assert!(parse_abbreviation("+03=+03:00").unwrap_err().contains("abbreviation"));
        assert!(parse_abbreviation("=+03:00").unwrap_err().contains("abbreviation"));
        // Only this test sets the table (a name no other test uses).
        set_abbreviations(&[("PGCT".to_string(), -660)]);
        let t = ts("2025-03-01 10:00:00.5 PGCT");
        assert_eq!(t.rfc3339(), "2025-03-01T10:00:00.500-11:00");
        assert_eq!(t.to_string(), "2025-03-01 10:00:00 PGCT");
        assert_eq!(t.ms, ts("2025-03-01 21:00:00.5 UTC").ms);
        assert_eq!(t.unknown_zone(), None);
        set_abbreviations(&[]);
        assert_eq!(ts("2025-03-01 10:00:00 PGCT").unknown_zone(), Some(&b"PGCT"[..]));
    }

    #[test]
    fn rejects_garbage() {
        for bad in
            ["2025-13-01 10:00:00", "2025-03-01 25:00:00", "2025-03-01", "x025-03-01 10:00:00"]
        {
            assert!(Timestamp::parse(bad.as_bytes()).is_none(), "{bad}");
        }
    }

    #[test]
    fn epoch() {
        let t = Timestamp::parse_epoch(b"1740823200.123").unwrap();
        assert_eq!(t, ts("2025-03-01 10:00:00.123 UTC"));
    }

    #[test]
    fn envelope_times() {
        let t = Timestamp::parse_rfc3339(b"2024-01-05T09:12:03.12345678Z").unwrap();
        assert_eq!(t, ts("2024-01-05 09:12:03.123 UTC"));
        assert_eq!(t.to_string(), "2024-01-05 09:12:03 UTC");
        let t = Timestamp::parse_rfc3339(b"2024-01-05T10:12:03+01:00").unwrap();
        assert_eq!(t.ms, ts("2024-01-05 09:12:03 UTC").ms);
        assert!(Timestamp::parse_rfc3339(b"2024-01-05T09:12:03 UTCZ").is_none());
        assert_eq!(Timestamp::from_unix_ms(1_740_823_200_123), ts("2025-03-01 10:00:00.123 UTC"));
    }

    #[test]
    fn bsd_syslog_times_take_the_year_of_their_reference() {
        let reference = ts("2026-12-07 00:14:22 UTC").ms;
        let t = Timestamp::parse_bsd(b"Nov 27 14:04:47", reference).unwrap();
        assert_eq!(t.to_string(), "2026-11-27 14:04:47");
        assert_eq!(t.rfc3339(), "2026-11-27T14:04:47+00:00");
        assert_eq!(t.unknown_zone(), Some(&b""[..]));
        assert_eq!(
            Timestamp::parse_bsd(b"Dec  7 09:00:00", reference).unwrap().ms,
            ts("2026-12-07 09:00:00").ms
        );
        // A log that crosses New Year, read on January 2nd.
        let reference = ts("2027-01-02 08:00:00 UTC").ms;
        let dec = Timestamp::parse_bsd(b"Dec 31 23:59:59", reference).unwrap();
        let jan = Timestamp::parse_bsd(b"Jan  1 00:00:01", reference).unwrap();
        assert_eq!(dec.to_string(), "2026-12-31 23:59:59");
        assert_eq!(jan.to_string(), "2027-01-01 00:00:01");
        for bad in
            [&b"Foo 27 14:04:47"[..], b"Nov 27 14:04", b"Nov 32 14:04:47", b"Nov 27 25:04:47"]
        {
            assert!(Timestamp::parse_bsd(bad, reference).is_none());
        }
    }

    #[test]
    fn calendar_round_trip() {
        for days in [-1000, 0, 59, 60, 11_000, 20_513, 50_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn civil_times() {
        assert_eq!(parse_civil("2025-03-01"), Some(ts("2025-03-01 00:00:00").ms));
        assert_eq!(parse_civil("2025-03-01 10:30"), Some(ts("2025-03-01 10:30:00").ms));
        assert_eq!(parse_civil("2025-03-01T10:30:15"), Some(ts("2025-03-01 10:30:15").ms));
        assert_eq!(parse_civil("01/03/2025"), None);
        assert_eq!(format_civil(parse_civil("2025-03-01 10:30").unwrap()), "2025-03-01 10:30:00");
    }

    #[test]
    fn durations() {
        use std::time::Duration;
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5x").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("fast").is_err());
        // Compound, and every form `human_ms` prints.
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        for ms in [850, 12_300, 245_000, 11_520_000, 187_200_000] {
            let printed = human_ms(ms);
            assert_eq!(parse_duration(&printed), Ok(Duration::from_millis(ms)), "{printed}");
        }
        assert!(parse_duration("1h30").is_err(), "a bare number only alone");
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn times_as_pgconn_prints_them() {
        let civil = parse_civil("2025-03-01 10:00:00").unwrap();
        assert_eq!(parse_civil("2025-03-01 10:00:00.500"), Some(civil + 500));
        assert_eq!(parse_civil("2025-03-01 10:00:00 UTC"), None, "a zone makes it an instant");
        let utc = |s: &str| parse_zoned(s).unwrap().unwrap();
        assert_eq!(utc("2025-03-01 10:00:00 UTC"), civil);
        assert_eq!(utc("2025-03-01T10:00:00.000+00:00"), civil);
        assert_eq!(utc("2025-03-01T10:00:00Z"), civil);
        assert_eq!(utc("2025-03-01 13:00:00+03"), civil);
        assert!(parse_zoned("2025-03-01 10:00:00 SST").unwrap().is_err());
        assert!(parse_zoned("2025-03-01 10:00:00").is_none());
        // Minutes alone, as the civil forms allow.
        assert_eq!(utc("2025-03-01 10:00 UTC"), civil);
        assert_eq!(utc("2025-03-01T13:00+03:00"), civil);
        assert!(parse_zoned("2025-03-01 10:00").is_none());
    }

    #[test]
    fn human() {
        assert_eq!(human_ms(850), "850ms");
        assert_eq!(human_ms(12_345), "12.3s");
        assert_eq!(human_ms(245_000), "4m05s");
        assert_eq!(human_ms(97_384_005), "1d03h");
    }
}
