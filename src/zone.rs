//! `--tz`: the one zone text output shows every time in.
//!
//! Without `--tz` a time is shown as its log wrote it, in the log's own
//! zone (time.rs), and this module is never reached. With it, every time of
//! the text output (summary, `--watch`, `--history`, `--sessions`,
//! `--failures`, notes, warnings, the dashboard, the `--every` header) is
//! shown in one zone: `UTC`, `local` (`TZ`, else /etc/localtime, else UTC,
//! as the C library does), a fixed offset (`+05:30`), or an IANA name
//! looked up in the system's tz database (/usr/share/zoneinfo, or `TZDIR`),
//! with its daylight-saving rules. A time is followed by the zone's
//! abbreviation where pgconn reads that abbreviation back as the same
//! offset (`CET`, `EDT`), else by the offset itself (`+08`, `+05:30`), so a
//! time copied from the output into `--since` is the same instant. A time
//! whose log zone pgconn does not know is taken as UTC, as everywhere else
//! (the report's note says so).
//!
//! JSON never goes through here: it stays RFC 3339 with the log's offset.
//! The zone rides in the `Palette` the text renderers get, and the notes
//! take it as an argument, so JSON's notes keep the log's zone too.

use std::fmt;

use jiff::tz::{Offset, TimeZone};

/// A zone text output shows times in, resolved from `--tz`.
#[derive(Clone, Debug)]
pub(crate) struct Zone {
    tz: TimeZone,
    /// As given to `--tz`.
    name: String,
}

impl Zone {
    /// `UTC`, `local`, `+HH[:MM]` or an IANA name. Err says what to give.
    pub(crate) fn resolve(name: &str) -> Result<Zone, String> {
        let zone = |tz| Zone { tz, name: name.to_string() };
        if name == "local" {
            return local().map(zone);
        }
        if let Some(min) = crate::time::offset_minutes(name) {
            let offset = Offset::from_seconds(i32::from(min) * 60).map_err(|e| e.to_string())?;
            return Ok(zone(TimeZone::fixed(offset)));
        }
        match TimeZone::get(name) {
            Ok(tz) => Ok(zone(tz)),
            Err(_) if jiff::tz::db().is_definitively_empty() => Err(format!(
                "'{name}': this system has no tz database (/usr/share/zoneinfo; Debian and \
                 Ubuntu: apt-get install tzdata): give UTC or an offset such as +01:00"
            )),
            Err(_) => Err(format!(
                "'{name}' is not a zone of the tz database: give UTC, local, an offset such \
                 as +01:00, or a name such as Europe/Berlin (the files under \
                 /usr/share/zoneinfo)"
            )),
        }
    }

    /// The name given to `--tz`.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The offset (ms east of UTC) and the label shown after a time, at the
    /// instant `ms` since the epoch.
    fn at(&self, ms: i64) -> (i64, Label) {
        let Ok(t) = jiff::Timestamp::from_millisecond(ms) else {
            // Outside jiff's range (years beyond ±9999): no zone has a rule
            // there; show UTC.
            return (0, Label::Abbreviation("UTC".to_string()));
        };
        let info = self.tz.to_offset_info(t);
        let secs = info.offset().seconds();
        let minutes = (secs / 60) as i16;
        let abbreviation = info.abbreviation();
        let label = if crate::time::offset_minutes(abbreviation) == Some(minutes)
            && abbreviation.bytes().any(|c| c.is_ascii_alphabetic())
        {
            Label::Abbreviation(abbreviation.to_string())
        } else {
            Label::Offset(minutes)
        };
        (i64::from(secs) * 1000, label)
    }

    /// The instant (ms since the epoch) of the civil time `civil_ms` (ms
    /// since the epoch as if this zone were UTC). A time a DST change
    /// skipped is read with the offset before the change (02:30 on a
    /// spring-forward night is 03:30 after it); one it repeated, as the
    /// first of the two (as PostgreSQL's `timestamptz` input does).
    pub(crate) fn instant(&self, civil_ms: i64) -> i64 {
        let dt = jiff::Timestamp::from_millisecond(civil_ms)
            .map(|t| TimeZone::UTC.to_datetime(t))
            .and_then(|dt| self.tz.to_ambiguous_timestamp(dt).compatible());
        match dt {
            Ok(t) => t.as_millisecond(),
            Err(_) => civil_ms,
        }
    }

    /// `ms` as text output shows it: `2026-11-27 08:32:45 EST`.
    pub(crate) fn show(&self, ms: i64) -> Shown {
        let (offset_ms, label) = self.at(ms);
        Shown { local_ms: ms + offset_ms, label, millis: false }
    }

    /// `ms` in RFC 3339 with this zone's offset, to the millisecond
    /// (`2026-12-07T06:00:00.000+01:00`): the `--every` header's time.
    pub(crate) fn rfc3339(&self, ms: i64) -> String {
        let (offset_ms, _) = self.at(ms);
        let local = crate::time::format_civil(ms + offset_ms).replace(' ', "T");
        let minutes = offset_ms / 60_000;
        let sign = if minutes < 0 { '-' } else { '+' };
        let m = minutes.unsigned_abs();
        format!("{local}.{:03}{sign}{:02}:{:02}", ms.rem_euclid(1000), m / 60, m % 60)
    }
}

/// `local`: `TZ`, else /etc/localtime, else UTC. A `TZ` that names no zone
/// is an error rather than a silent UTC: the user set it for a reason.
fn local() -> Result<TimeZone, String> {
    match TimeZone::try_system() {
        Ok(tz) => Ok(tz),
        Err(_) => match std::env::var("TZ") {
            Ok(tz) if !tz.is_empty() => Err(format!(
                "local: the environment's TZ='{tz}' is not a zone this system knows: fix TZ, \
                 or give --tz UTC or a name such as Europe/Berlin"
            )),
            _ => Ok(TimeZone::UTC),
        },
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Label {
    Abbreviation(String),
    /// Minutes east of UTC.
    Offset(i16),
}

/// A time in a `Zone`, ready to print.
pub(crate) struct Shown {
    local_ms: i64,
    label: Label,
    millis: bool,
}

impl Shown {
    /// With milliseconds (`08:32:45.123`).
    #[cfg(test)]
    fn with_millis(mut self) -> Shown {
        self.millis = true;
        self
    }
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::time::format_civil(self.local_ms))?;
        if self.millis {
            write!(f, ".{:03}", self.local_ms.rem_euclid(1000))?;
        }
        match &self.label {
            Label::Abbreviation(a) => write!(f, " {a}"),
            Label::Offset(m) => {
                let sign = if *m < 0 { '-' } else { '+' };
                let m = m.unsigned_abs();
                match m % 60 {
                    0 => write!(f, " {sign}{:02}", m / 60),
                    rest => write!(f, " {sign}{:02}:{rest:02}", m / 60),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(zone: &str, rfc3339: &str) -> String {
        let ms = crate::time::Timestamp::parse_rfc3339(rfc3339.as_bytes()).unwrap().ms;
        Zone::resolve(zone).unwrap().show(ms).to_string()
    }

    /// The tz database is on every machine pgconn's tests run on (CI
    /// installs tzdata); say so plainly where it is not.
    fn have_tzdata() -> bool {
        let ok = std::path::Path::new("/usr/share/zoneinfo/America/New_York").exists()
            || std::env::var_os("TZDIR").is_some();
        assert!(ok, "these tests need the system tz database: apt-get install tzdata");
        ok
    }

    #[test]
    fn utc() {
        assert_eq!(at("UTC", "2026-11-27T13:32:45+01:00"), "2026-11-27 12:32:45 UTC");
        assert_eq!(at("utc", "2026-11-27T13:32:45Z"), "2026-11-27 13:32:45 UTC");
    }

    #[test]
    fn new_york_across_the_spring_forward() {
        have_tzdata();
        // 2026-03-08 02:00 EST becomes 03:00 EDT (07:00 UTC).
        assert_eq!(at("America/New_York", "2026-03-08T06:59:59Z"), "2026-03-08 01:59:59 EST");
        assert_eq!(at("America/New_York", "2026-03-08T07:00:00Z"), "2026-03-08 03:00:00 EDT");
        // Across midnight backwards from UTC.
        assert_eq!(at("America/New_York", "2026-11-27T03:00:00Z"), "2026-11-26 22:00:00 EST");
    }

    #[test]
    fn berlin_across_the_fall_back() {
        have_tzdata();
        // 2026-10-25 03:00 CEST becomes 02:00 CET (01:00 UTC): 02:30 is
        // shown twice, with its abbreviation telling which.
        assert_eq!(at("Europe/Berlin", "2026-10-25T00:30:00Z"), "2026-10-25 02:30:00 CEST");
        assert_eq!(at("Europe/Berlin", "2026-10-25T01:30:00Z"), "2026-10-25 02:30:00 CET");
        let z = Zone::resolve("Europe/Berlin").unwrap();
        assert_eq!(z.rfc3339(1_792_891_800_000), "2026-10-25T02:30:00.000+01:00");
    }

    #[test]
    fn abbreviations_pgconn_would_misread_become_offsets() {
        have_tzdata();
        // CST is US Central to pgconn; Shanghai's is +08.
        assert_eq!(at("Asia/Shanghai", "2026-11-27T00:00:00Z"), "2026-11-27 08:00:00 +08");
        assert_eq!(at("Asia/Kolkata", "2026-11-27T00:00:00Z"), "2026-11-27 05:30:00 IST");
        // Irish summer time is IST too, an hour east: not India's.
        assert_eq!(at("Europe/Dublin", "2026-07-01T00:00:00Z"), "2026-07-01 01:00:00 +01");
        assert_eq!(at("Asia/Kathmandu", "2026-11-27T00:00:00Z"), "2026-11-27 05:45:00 +05:45");
        assert_eq!(at("-03:30", "2026-11-27T00:00:00Z"), "2026-11-26 20:30:00 -03:30");
        // What is shown reads back as the same instant.
        for zone in ["Asia/Shanghai", "Europe/Dublin", "America/New_York", "Australia/Sydney"] {
            let ms = 1_795_000_000_123;
            let shown = Zone::resolve(zone).unwrap().show(ms).with_millis().to_string();
            let back = crate::time::Timestamp::parse(shown.as_bytes()).unwrap();
            assert_eq!(back.ms, ms, "{zone}: {shown}");
        }
    }

    #[test]
    fn civil_times_read_in_the_zone() {
        have_tzdata();
        let z = Zone::resolve("America/New_York").unwrap();
        let civil = |s: &str| crate::time::parse_civil(s).unwrap();
        let utc = |s: &str| crate::time::Timestamp::parse_rfc3339(s.as_bytes()).unwrap().ms;
        assert_eq!(z.instant(civil("2026-11-27 08:00")), utc("2026-11-27T13:00:00Z"));
        assert_eq!(z.instant(civil("2026-07-01 08:00")), utc("2026-07-01T12:00:00Z"));
        // Skipped by the spring forward: read with EST, 03:30 EDT.
        assert_eq!(z.instant(civil("2026-03-08 02:30")), utc("2026-03-08T07:30:00Z"));
        // Repeated by the fall back: the first, EDT.
        assert_eq!(z.instant(civil("2026-11-01 01:30")), utc("2026-11-01T05:30:00Z"));
    }

    #[test]
    fn unknown_zones_say_what_to_give() {
        let e = Zone::resolve("Nowhere/Zone").unwrap_err();
        assert!(e.contains("'Nowhere/Zone'") && e.contains("Europe/Berlin"), "{e}");
        assert!(Zone::resolve("+25:00").is_err());
    }
}
