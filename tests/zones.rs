//! `--tz`: the zone text output shows times in. Each text time is read
//! back (its abbreviation or offset) and compared with the instant the
//! JSON output gives for the same event; JSON itself must not change.

use crate::util::{fixture, run};

/// A CET log (log_timezone Europe/Berlin) and a UTC one.
const BERLIN: &str = "prefixes/p22-berlin-paren.log";
const UTC: &str = "stderr-default.log";

fn path(name: &str) -> String {
    fixture(name).display().to_string()
}

/// Days since 1970-01-01 (Howard Hinnant's days_from_civil).
fn days(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// Seconds since the epoch of `YYYY-MM-DD?HH:MM:SS` (the first 19 bytes)
/// at `offset` seconds east of UTC.
fn epoch(civil: &str, offset: i64) -> i64 {
    let n = |a: usize, b: usize| civil[a..b].parse::<i64>().unwrap();
    days(n(0, 4), n(5, 7), n(8, 10)) * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19)
        - offset
}

/// The instant of a time as text output shows it,
/// `2026-12-06 19:20:36 EST` or `... +05:45`, to the second.
fn shown(text: &str) -> i64 {
    let zone = &text[20..];
    let offset = match zone {
        "UTC" => 0,
        "EST" => -5 * 3600,
        "EDT" => -4 * 3600,
        "CET" => 3600,
        "CEST" => 7200,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let h: i64 = zone[1..3].parse().unwrap_or_else(|_| panic!("zone of {text}"));
            let m: i64 = if zone.len() > 3 { zone[4..6].parse().unwrap() } else { 0 };
            sign * (h * 3600 + m * 60)
        }
    };
    epoch(text, offset)
}

/// The instant of an RFC 3339 time from the JSON output, to the second.
fn rfc3339(t: &str) -> i64 {
    let zone = &t[t.len() - 6..];
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let offset = sign
        * (zone[1..3].parse::<i64>().unwrap() * 3600 + zone[4..6].parse::<i64>().unwrap() * 60);
    epoch(t, offset)
}

/// The times of the `--watch` lines, and the event times of `--watch
/// --json`, in order.
fn watch_times(file: &str, tz: &str) -> (Vec<String>, Vec<String>) {
    let text = run(&["--watch", "--color", "never", "--tz", tz, &path(file)], None).expect(0).out();
    let json = run(&["--watch", "--json", &path(file)], None).expect(0).out();
    let shown: Vec<String> = text
        .lines()
        .map(|l| {
            let end = l.find(" [").unwrap_or_else(|| panic!("no event mark in {l}"));
            l[..end].to_string()
        })
        .collect();
    let json: Vec<String> = json
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| v["time"].as_str().unwrap_or_else(|| panic!("no time in {v}")).to_string())
        .collect();
    assert_eq!(shown.len(), json.len(), "{text}");
    (shown, json)
}

#[test]
fn watch_lines_show_the_same_instants_in_the_zone_asked() {
    for (file, tz, zones) in [
        (BERLIN, "UTC", &["UTC"][..]),
        (BERLIN, "America/New_York", &["EST"][..]),
        (UTC, "America/New_York", &["EST"][..]),
        (UTC, "Asia/Kathmandu", &["+05:45"][..]),
        (BERLIN, "-03:30", &["-03:30"][..]),
    ] {
        let (shown_times, json_times) = watch_times(file, tz);
        for (s, j) in shown_times.iter().zip(&json_times) {
            assert!(zones.contains(&&s[20..]), "{file} --tz {tz}: {s}");
            assert_eq!(shown(s), rfc3339(j), "{file} --tz {tz}: {s} is not {j}");
        }
    }
}

#[test]
fn the_summary_and_the_other_modes_show_the_zone() {
    let out =
        run(&["--color", "never", "--tz", "America/New_York", &path(BERLIN)], None).expect(0).out();
    // 01:20 CET is 19:20 EST the day before.
    assert!(out.starts_with("pgconn 2026-12-06 19:20:36 EST → 2026-12-06 19:20:36 EST"), "{out}");
    assert!(out.contains("as of 2026-12-06 19:20:36 EST"), "{out}");
    assert!(!out.contains("CET"), "{out}");
    let out =
        run(&["--color", "never", "--tz", "UTC", "--failures", &path(UTC)], None).expect(0).out();
    assert!(out.contains("first 2026-11-27 13:32:4"), "{out}");
    let out = run(&["--color", "never", "--tz", "Asia/Tokyo", "--history", &path(UTC)], None)
        .expect(0)
        .out();
    // The bucket edges stay the log's (15m of UTC), shown in JST.
    assert!(out.contains("2026-11-27 22:30:00 JST"), "{out}");
    let out = run(&["--color", "never", "--tz", "UTC", "--sessions", &path(BERLIN)], None)
        .expect(0)
        .out();
    assert!(out.contains("as of 2026-12-07 00:20:36 UTC"), "{out}");
}

#[test]
fn a_daylight_saving_change_shows_both_abbreviations() {
    // New York springs forward at 2026-03-08 07:00 UTC.
    let log = "\
2026-03-08 06:59:58.000 UTC [101] LOG:  connection received: host=10.0.0.1 port=5000
2026-03-08 06:59:58.100 UTC [101] LOG:  connection authorized: user=alice database=app application_name=psql
2026-03-08 07:00:01.000 UTC [101] LOG:  disconnection: session time: 0:00:02.900 user=alice database=app host=10.0.0.1 port=5000
";
    let out =
        run(&["--watch", "--color", "never", "--tz", "America/New_York"], Some(log.as_bytes()))
            .expect(0)
            .out();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("2026-03-08 01:59:58 EST [+] alice@app"), "{out}");
    assert!(lines[1].starts_with("2026-03-08 03:00:01 EDT [-] alice@app"), "{out}");
}

#[test]
fn json_is_the_same_with_or_without_tz() {
    for file in [BERLIN, UTC] {
        for mode in
            [None, Some("--watch"), Some("--history"), Some("--sessions"), Some("--failures")]
        {
            let mut args = vec!["--json"];
            args.extend(mode);
            let f = path(file);
            args.push(&f);
            let plain = run(&args, None).expect(0);
            args.extend(["--tz", "Asia/Tokyo"]);
            let zoned = run(&args, None).expect(0);
            assert_eq!(plain.out(), zoned.out(), "{file} {mode:?}");
        }
    }
}

#[test]
fn the_every_header_is_in_the_zone() {
    // SOURCE_DATE_EPOCH=1800000000 (util): 2027-01-15 08:00:00 UTC.
    let f = path(UTC);
    let out = run(&["--every", "1h", "--color", "never", &f], None).expect(0).out();
    assert!(out.starts_with("--- report 1, final, generated at 2027-01-15T08:00:00.000Z ---"));
    let out =
        run(&["--every", "1h", "--color", "never", "--tz", "Asia/Tokyo", &f], None).expect(0).out();
    assert!(out.starts_with("--- report 1, final, generated at 2027-01-15T17:00:00.000+09:00 ---"));
}

#[test]
fn a_date_without_a_zone_is_read_in_the_tz_zone() {
    // The Berlin log's events are at 2026-12-07 01:20:36 CET, which is
    // 2026-12-06 19:20:36 in New York.
    let f = path(BERLIN);
    let args = |until: &'static str, tz: Option<&'static str>| {
        let mut a = vec!["--json", "--until", until, &f];
        if let Some(tz) = tz {
            a.extend(["--tz", tz]);
        }
        run(&a, None)
    };
    args("2026-12-06 19:21", Some("America/New_York")).expect(0);
    args("2026-12-06 19:20", Some("America/New_York")).expect(1);
    // Without --tz, the log's own clock: 19:21 is before 01:20 CET.
    args("2026-12-06 19:21", None).expect(1);
    args("2026-12-07 01:21", None).expect(0);
    // A time with its zone is that instant, whatever --tz says.
    args("2026-12-07 00:21:00 UTC", Some("America/New_York")).expect(0);
    let r = run(
        &["--color", "never", "--tz", "America/New_York", "--until", "2026-12-06 19:20", &f],
        None,
    )
    .expect(1);
    assert!(r.stderr.contains("from 2026-12-06 19:20:36 EST"), "{}", r.stderr);
    assert!(r.stderr.contains("read in --tz America/New_York"), "{}", r.stderr);
}

#[test]
fn local_is_the_environment_zone() {
    let f = path(UTC);
    let mut cmd = crate::util::command();
    cmd.env("TZ", "Asia/Kathmandu");
    let out = crate::util::run_with(cmd, &["--color", "never", "--tz", "local", &f], None)
        .expect(0)
        .out();
    assert!(out.starts_with("pgconn 2026-11-27 19:17:44 +05:45"), "{out}");
    let mut cmd = crate::util::command();
    cmd.env("TZ", "Nowhere/Zone");
    let r = crate::util::run_with(cmd, &["--tz", "local", &f], None).expect(2);
    assert!(r.stderr.contains("TZ='Nowhere/Zone'"), "{}", r.stderr);
}

#[test]
fn an_unknown_zone_is_a_usage_error() {
    let r = run(&["--tz", "Nowhere/Zone", &path(UTC)], None).expect(2);
    assert!(r.stderr.starts_with("pgconn: --tz: 'Nowhere/Zone' is not a zone"), "{}", r.stderr);
    assert!(r.stderr.contains("Europe/Berlin"), "{}", r.stderr);
    assert!(r.stderr.contains("pgconn --help"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}
