//! The notes: when a figure or view cannot be given, or is degraded, the
//! report says the exact cause and the fix (`notes` in the JSON summary,
//! the "Notes" block under a table, standard error when nothing was
//! found). Each case is a real log with lines taken out, as a server with
//! that setting would have written it, and the figures that do not depend
//! on those lines must stay what they were.

use serde_json::Value;

use crate::util::{fixture, read_fixture, run, summary};

fn path(name: &str) -> String {
    fixture(name).to_str().unwrap().to_string()
}

/// The fixture without the lines holding any of `needles`.
fn without(name: &str, needles: &[&str]) -> Vec<u8> {
    let text = String::from_utf8(read_fixture(name)).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        if !needles.iter().any(|n| line.contains(n)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(out.len() < text.len(), "{name}: nothing taken out");
    out.into_bytes()
}

/// The JSON summary of `data` on standard input, expecting events.
fn summary_of(data: &[u8], extra: &[&str]) -> Value {
    let mut args = vec!["--json", "--top", "0"];
    args.extend_from_slice(extra);
    run(&args, Some(data)).expect(0).json()
}

fn codes(v: &Value) -> Vec<String> {
    v["notes"].as_array().unwrap().iter().map(|n| n["code"].as_str().unwrap().to_string()).collect()
}

fn note<'a>(v: &'a Value, code: &str) -> &'a Value {
    let notes = v["notes"].as_array().unwrap();
    notes.iter().find(|n| n["code"] == code).unwrap_or_else(|| panic!("no {code} note: {v}"))
}

/// Every note has its three strings, the code in snake_case.
fn well_formed(v: &Value) {
    for n in v["notes"].as_array().unwrap() {
        let code = n["code"].as_str().unwrap();
        assert!(code.bytes().all(|c| c.is_ascii_lowercase() || c == b'_'), "{code}");
        assert!(!n["message"].as_str().unwrap().is_empty(), "{n}");
        assert!(!n["fix"].as_str().unwrap().is_empty(), "{n}");
    }
}

#[test]
fn log_disconnections_off_makes_active_and_peak_upper_bounds() {
    let full = summary(&[&path("stderr-default.log")]);
    let data = without("stderr-default.log", &["LOG:  disconnection: "]);
    let v = summary_of(&data, &[]);
    well_formed(&v);
    let n = note(&v, "no_disconnections");
    assert!(n["message"].as_str().unwrap().contains("log_disconnections is off"), "{n}");
    assert!(n["message"].as_str().unwrap().contains("upper bounds"), "{n}");
    assert_eq!(n["fix"], "ALTER SYSTEM SET log_disconnections = on; SELECT pg_reload_conf();");
    assert_eq!(v["active_upper_bound"], true);
    assert_eq!(v["peak"]["upper_bound"], true);
    assert_eq!(v["disconnections"], 0);
    for key in ["connections", "failures", "failures_by_reason", "abandoned"] {
        assert_eq!(v[key], full[key], "{key}");
    }
    assert_eq!(full["active_upper_bound"], false);
    assert!(!codes(&full).contains(&"no_disconnections".to_string()));
    let text = run(&["--color", "never"], Some(&data)).expect(0).out();
    // The mark stands next to the number it qualifies.
    let line = |label: &str| text.lines().find(|l| l.starts_with(label)).unwrap().to_string();
    for label in ["Active now", "Peak"] {
        let l = line(label);
        let after = l.split('≤').nth(1).unwrap_or_else(|| panic!("no ≤ in {l:?}"));
        assert!(after.starts_with(|c: char| c.is_ascii_digit()), "{l:?}");
    }
    assert!(text.contains("\nNotes\n"), "{text}");
    assert!(text.contains("fix: ALTER SYSTEM SET log_disconnections = on;"), "{text}");
}

#[test]
fn log_connections_off_counts_connections_from_disconnections() {
    let full = summary(&[&path("stderr-default.log")]);
    let data = without(
        "stderr-default.log",
        &[
            "LOG:  connection received: ",
            "LOG:  connection authorized: ",
            "LOG:  connection authenticated: ",
        ],
    );
    let v = summary_of(&data, &[]);
    well_formed(&v);
    let n = note(&v, "no_connections");
    let message = n["message"].as_str().unwrap();
    for part in ["log_connections is off", "Failures are still counted", "from disconnections"] {
        assert!(message.contains(part), "{part}: {n}");
    }
    assert!(message.contains("no connection times"), "{n}");
    assert_eq!(n["fix"], "ALTER SYSTEM SET log_connections = on; SELECT pg_reload_conf();");
    for key in ["disconnections", "failures", "failures_by_reason", "session_seconds"] {
        assert_eq!(v[key], full[key], "{key}");
    }
    assert_eq!(v["connections"], full["disconnections"]);
    assert_eq!(v["connections_from_disconnections"], true);
    assert_eq!(v["active_lower_bound"], true);
    // The sessions known from their disconnection alone make a peak, with
    // its time: the real one less the sessions never seen to end (those
    // the restart ended), and a lower bound.
    let (peak, real) =
        (v["peak"]["active"].as_u64().unwrap(), full["peak"]["active"].as_u64().unwrap());
    assert!(peak > 0 && peak <= real, "{} vs {}", v["peak"], full["peak"]);
    assert!(v["peak"]["at"].is_string(), "{}", v["peak"]);
    assert_eq!(v["peak"]["lower_bound"], true);
    let db = v["by_database"].as_array().unwrap();
    assert!(db.iter().all(|r| r["connections"] == r["disconnections"]), "{db:?}");
    // A disconnection of a session from before the log is no evidence.
    let one = b"2025-03-01 10:00:00.000 UTC [7] LOG:  disconnection: session time: 27:03:04.005 \
                user=a database=d host=[local]\n";
    let v = summary_of(one, &[]);
    assert_eq!((v["connections"].as_u64(), v["disconnections"].as_u64()), (Some(0), Some(1)));
    assert!(!codes(&v).contains(&"no_connections".to_string()), "{v}");
}

#[test]
fn no_pid_says_which_views_are_missing() {
    let v = summary(&[&path("stderr-nopid.log")]);
    well_formed(&v);
    assert_eq!(v["connections"], 72);
    let n = note(&v, "no_pid");
    assert!(n["message"].as_str().unwrap().contains("--sessions"), "{n}");
    assert!(n["fix"].as_str().unwrap().contains("'%m [%p] %u@%d '"), "{n}");
    let host = note(&v, "no_host");
    assert!(host["message"].as_str().unwrap().contains("host breakdown"), "{host}");
    assert!(v["by_host"].is_null());
    // The same notes under every table.
    for mode in ["--sessions", "--history", "--failures"] {
        let text =
            run(&["--color", "never", mode, &path("stderr-nopid.log")], None).expect(0).out();
        assert!(text.contains("no pid in the log (log_line_prefix has no %p"), "{mode}: {text}");
        assert!(text.contains("the host breakdown"), "{mode}: {text}");
    }
    // The NDJSON of sessions has no room: standard error has them.
    let r = run(&["--sessions", "--json", &path("stderr-nopid.log")], None).expect(0);
    assert!(r.stderr.contains("pgconn: note: no pid in the log"), "{}", r.stderr);
}

#[test]
fn without_a_pid_a_host_in_the_prefix_gives_the_host_breakdown() {
    // p11's lines with their `[%p]:` taken out (a rewrite, not a removal
    // of lines): the prefix still has `client=%h`.
    let text = String::from_utf8(read_fixture("prefixes/p11-pgbadger.log")).unwrap();
    let mut data = String::new();
    for line in text.lines() {
        match (line.find(" ["), line.find("]: ")) {
            (Some(a), Some(b)) if a < b && line[a + 2..b].bytes().all(|c| c.is_ascii_digit()) => {
                data.push_str(&line[..a]);
                data.push_str(&line[b + 2..]);
            }
            _ => data.push_str(line),
        }
        data.push('\n');
    }
    let prefix = "%t [%l-1] user=%u,db=%d,app=%a,client=%h ";
    let v = summary_of(data.as_bytes(), &["--prefix", prefix]);
    assert_eq!(v["input"]["pid"], false);
    assert_eq!(v["connections"], 6);
    assert!(codes(&v).contains(&"no_pid".to_string()), "{v}");
    assert!(!codes(&v).contains(&"no_host".to_string()), "{v}");
    let hosts = v["by_host"].as_array().unwrap_or_else(|| panic!("no host breakdown: {v}"));
    let names: Vec<&str> = hosts.iter().map(|h| h["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["[local]", "127.0.0.1"], "{hosts:?}");
    assert!(hosts.iter().all(|h| h["active"] == 0), "{hosts:?}");
}

#[test]
fn a_partly_translated_log_is_called_so() {
    let full = summary(&[&path("stderr-default.log")]);
    let mut data = read_fixture("stderr-default.log");
    data.extend_from_slice(&read_fixture("translated/de.log"));
    let v = summary_of(&data, &[]);
    well_formed(&v);
    let n = note(&v, "translated");
    assert!(n["message"].as_str().unwrap().contains("part of the log is translated"), "{n}");
    assert!(n["fix"].as_str().unwrap().contains("lc_messages = 'C'"), "{n}");
    for key in ["connections", "disconnections", "failures", "failures_by_reason"] {
        assert_eq!(v[key], full[key], "{key}");
    }
    assert!(!codes(&full).contains(&"translated".to_string()));
    // Wholly translated: nothing found, and the note says why.
    let r = run(&["--json", &path("translated/de.log")], None).expect(1);
    assert_eq!(codes(&r.json()), vec!["translated"]);
    assert!(!r.stderr.contains("log_connections"), "{}", r.stderr);
}

#[test]
fn a_prefix_without_a_time_names_the_view_asked_for() {
    // p10: ' sql_error_code = %e ' (Heroku style): no time, no pid.
    let log = path("prefixes/p10-heroku.log");
    let v = summary(&[&log]);
    well_formed(&v);
    let n = note(&v, "no_time");
    assert!(n["message"].as_str().unwrap().contains("no time in log_line_prefix"), "{n}");
    assert!(n["fix"].as_str().unwrap().contains("'%m [%p] sql_error_code = %e"), "{n}");
    let text = run(&["--color", "never", "--history", &log], None).expect(0).out();
    assert!(text.contains("--history cannot be given"), "{text}");
    // A window cannot place events without a time: that is what left nothing.
    let r = run(&["--json", "--since", "2026-01-01", &log], None).expect(1);
    let n = note(&r.json(), "window_empty").clone();
    assert!(n["message"].as_str().unwrap().contains("without a time"), "{n}");
    assert!(n["fix"].as_str().unwrap().contains("%m"), "{n}");
    assert!(!r.stderr.contains("log_connections"), "{}", r.stderr);
}

#[test]
fn failures_without_a_database_name_the_missing_escape() {
    let v = summary(&[&path("stderr-default.log")]);
    let n = note(&v, "no_database");
    assert!(n["message"].as_str().unwrap().starts_with("no %d in log_line_prefix: 3 failures"));
    assert!(n["fix"].as_str().unwrap().contains("'%m [%p] %q%u@%d '"), "{n}");
    // The Debian default has %d: no note.
    let v = summary(&[&path("stderr-debian.log")]);
    assert!(!codes(&v).contains(&"no_database".to_string()), "{v}");
}

#[test]
fn a_prefix_for_csvlog_or_jsonlog_is_reported_unused() {
    for file in ["v15/extended.csv", "v15/extended.json"] {
        let plain = summary(&[&path(file)]);
        let v = summary(&["--prefix", "%m [%p] ", &path(file)]);
        let n = note(&v, "prefix_unused");
        assert_eq!(
            n["message"],
            "--prefix is not used for csvlog/jsonlog input: their records carry the fields"
        );
        assert!(!codes(&plain).contains(&"prefix_unused".to_string()));
        for key in ["connections", "disconnections", "failures", "active", "peak"] {
            assert_eq!(v[key], plain[key], "{file}: {key}");
        }
        let text = run(&["--color", "never", "-p", "%m [%p] ", &path(file)], None).expect(0).out();
        assert!(text.contains("--prefix is not used"), "{text}");
        assert!(!text.contains("(given)"), "the unused prefix is not shown as in use: {text}");
    }
}

#[test]
fn what_left_nothing_is_said_instead_of_the_settings() {
    let log = path("stderr-default.log");
    let cases: [(&[&str], &str, &str); 4] = [
        (&["--db", "nope", "--user", "alice"], "filtered_out", "--db nope --user alice"),
        (&["--since", "2030-01-01"], "window_empty", "--since '2030-01-01 00:00:00'"),
        (&["--until", "2020-01-01 10:00"], "window_empty", "from 2026-11-27 13:32:44 UTC"),
        (&["--format", "csvlog"], "format_forced", "looks like stderr"),
    ];
    for (args, code, says) in cases {
        let mut all = args.to_vec();
        all.push(&log);
        let r = run(&all, None).expect(1);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("  fix: "), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("log_connections"), "{args:?}: {}", r.stderr);
        all.insert(0, "--json");
        let v = run(&all, None).expect(1).json();
        well_formed(&v);
        assert_eq!(codes(&v)[0], code, "{args:?}: {v}");
    }
    // How many events the input had before the filter.
    let r = run(&["--db", "nope", &log], None).expect(1);
    assert!(r.stderr.contains("(259 connection events in the input)"), "{}", r.stderr);
}

/// fixtures/prefixes/p53-pagopago-sst.log: a real PostgreSQL 15 with
/// log_timezone = 'Pacific/Pago_Pago', which writes `SST` (UTC-11).
#[test]
fn an_unknown_zone_is_named_and_can_be_given() {
    let log = path("prefixes/p53-pagopago-sst.log");
    let r = run(&["--json", &log], None).expect(0);
    let v = r.json();
    well_formed(&v);
    let n = note(&v, "unknown_zone");
    assert!(n["message"].as_str().unwrap().contains("abbreviation SST is unknown"), "{n}");
    assert!(n["fix"].as_str().unwrap().contains("--tz-abbrev SST=+HH:MM"), "{n}");
    assert!(r.stderr.contains("warning: time zone abbreviation SST unknown"), "{}", r.stderr);
    // Taken as UTC, and said so with an offset.
    let first = v["first"].as_str().unwrap();
    assert!(first.ends_with("+00:00") && first.contains('T'), "{first}");
    let r = run(&["--json", "--tz-abbrev", "SST=-11:00", &log], None).expect(0);
    let given = r.json();
    assert_eq!(r.stderr, "");
    assert!(!codes(&given).contains(&"unknown_zone".to_string()), "{given}");
    let shifted = given["first"].as_str().unwrap();
    assert_eq!(shifted, first.replace("+00:00", "-11:00"));
    assert!(given["peak"]["at"].as_str().unwrap().ends_with("-11:00"), "{given}");
    for key in ["connections", "disconnections", "failures", "failures_by_reason"] {
        assert_eq!(given[key], v[key], "{key}");
    }
    assert_eq!(given["peak"]["active"], v["peak"]["active"]);
    // The text keeps the log's own zone name.
    let text = run(&["--color", "never", "--tz-abbrev", "SST=-11:00", &log], None).expect(0).out();
    assert!(text.contains(" SST → "), "{text}");
    // Every time in JSON has an offset, whatever the zone.
    let out = run(&["--watch", "--json", &log], None).expect(0).out();
    for line in out.lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        let t = e["time"].as_str().unwrap();
        assert!(t.ends_with("+00:00") && t.as_bytes()[10] == b'T', "{t}");
    }
}
