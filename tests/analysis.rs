//! History, sessions, failures and time windows on real-server fixtures.

use serde_json::Value;

use crate::util::{fixture, ndjson, read_fixture, run};

fn path(name: &str) -> String {
    fixture(name).to_str().unwrap().to_string()
}

/// The `bucket` objects of `--history --json` (a `history_total` and the
/// `leak` objects follow them).
fn buckets(args: &[&str]) -> Vec<Value> {
    ndjson(args).into_iter().filter(|o| o["type"] == "bucket").collect()
}

fn expected(name: &str) -> Value {
    serde_json::from_slice(&read_fixture(name)).unwrap()
}

fn sum(rows: &[Value], key: &str) -> u64 {
    rows.iter().map(|r| r[key].as_u64().unwrap()).sum()
}

#[test]
fn history_buckets_add_up_to_the_summary() {
    for name in ["stderr-default", "v15/extended", "v18/extended"] {
        let log = path(&format!("{name}.log"));
        let want = expected(&format!("{name}.expected.json"));
        let buckets = buckets(&["--history", "--bucket", "1s", "--json", &log]);
        assert!(buckets.len() >= 3, "{name}: {buckets:?}");
        assert!(buckets.iter().all(|b| b["type"] == "bucket"));
        assert_eq!(sum(&buckets, "connections"), want["connections"].as_u64().unwrap(), "{name}");
        assert_eq!(
            sum(&buckets, "disconnections"),
            want["disconnections"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(sum(&buckets, "failures"), want["failures"].as_u64().unwrap(), "{name}");
        let last = buckets.last().unwrap();
        assert_eq!(last["active"], want["active"], "{name}: open at the end");
        let peak = buckets.iter().map(|b| b["peak"].as_u64().unwrap()).max().unwrap();
        assert_eq!(peak, want["peak"]["active"].as_u64().unwrap(), "{name}: peak");
        // Consecutive buckets: each starts where the last ended, and the
        // sessions open at one's end are open at the next's start.
        for w in buckets.windows(2) {
            assert_eq!(w[0]["end"], w[1]["start"], "{name}");
            let (a, b) = (&w[0], &w[1]);
            assert_eq!(
                b["active"].as_i64().unwrap() - b["net"].as_i64().unwrap(),
                a["active"].as_i64().unwrap(),
                "{name}: net"
            );
        }
        // These logs begin with the server's start: no lower bounds.
        assert!(buckets.iter().all(|b| b["lower_bound"] == false), "{name}");
    }
}

#[test]
fn history_table_has_a_sparkline_and_totals() {
    let r = run(
        &["--history", "--bucket", "1s", "--color", "never", &path("stderr-default.log")],
        None,
    )
    .expect(0);
    let out = r.out();
    assert!(out.starts_with("pgconn history "), "{out}");
    assert!(out.lines().nth(1).unwrap().starts_with("active "), "{out}");
    assert!(out.chars().any(|c| ('▁'..='█').contains(&c)), "{out}");
    let total = out.lines().find(|l| l.starts_with("total")).expect("a totals line");
    let nums: Vec<i64> = total.split_whitespace().skip(1).map(|n| n.parse().unwrap()).collect();
    assert_eq!(nums, vec![72, 68, 10, 2]);
}

#[test]
fn long_histories_are_merged_to_a_screenful() {
    let r = run(
        &[
            "--history",
            "--bucket",
            "1s",
            "--color",
            "never",
            &path("stderr-default.log"),
            &path("v15/extended.log"),
        ],
        None,
    )
    .expect(0);
    let out = r.out();
    let rows = out.lines().filter(|l| l.starts_with("20")).count();
    assert!(rows <= 200, "{rows} rows");
    assert!(out.lines().next().unwrap().contains("asked for 1.0s"), "{out}");
}

#[test]
fn sessions_lists_who_is_connected() {
    for name in ["stderr-default", "v15/extended", "v17/extended"] {
        let want = expected(&format!("{name}.expected.json"));
        let sessions = ndjson(&["--sessions", "--json", &path(&format!("{name}.log"))]);
        assert_eq!(sessions.len() as u64, want["active"].as_u64().unwrap(), "{name}");
        for (key, dim) in [
            ("user", "by_user"),
            ("database", "by_database"),
            ("application", "by_application"),
            ("host", "by_host"),
        ] {
            for (n, row) in want[dim].as_object().unwrap() {
                let open = sessions.iter().filter(|s| s[key] == n.as_str()).count() as u64;
                assert_eq!(
                    open,
                    row["active"].as_u64().unwrap(),
                    "{name}: open sessions of {key} {n}"
                );
            }
        }
        let since: Vec<&str> = sessions.iter().map(|s| s["since"].as_str().unwrap()).collect();
        let mut sorted = since.clone();
        sorted.sort();
        assert_eq!(since, sorted, "{name}: oldest first");
        assert!(
            sessions
                .iter()
                .all(|s| s["pid"].as_u64().is_some() && s["age_seconds"].as_f64().is_some())
        );
    }
    let table =
        run(&["--sessions", "--color", "never", &path("v15/extended.log")], None).expect(0).out();
    assert!(table.starts_with("pgconn sessions 2 open session(s) as of "), "{table}");
    assert!(table.contains("127.0.0.1:"), "{table}");
}

#[test]
fn failures_view_has_reasons_samples_and_times() {
    let want = expected("stderr-default.expected.json");
    let objects = ndjson(&["--failures", "--json", &path("stderr-default.log")]);
    let reasons: Vec<&Value> = objects.iter().filter(|o| o["type"] == "failure_reason").collect();
    let by_reason = want["failures_by_reason"].as_object().unwrap();
    assert_eq!(reasons.len(), by_reason.len());
    for r in reasons {
        let name = r["reason"].as_str().unwrap();
        assert_eq!(&r["count"], &by_reason[name], "{name}");
        let samples = r["samples"].as_array().unwrap();
        assert_eq!(samples.len() as u64, r["count"].as_u64().unwrap().min(3), "{name}");
        assert!(
            samples.iter().all(|s| s.as_str().unwrap().contains("FATAL:  ")),
            "{name}: {samples:?}"
        );
        assert!(r["first"].as_str().unwrap() <= r["last"].as_str().unwrap());
    }
    // The missing role over TCP keeps its own line as a sample.
    let missing = objects.iter().find(|o| o["reason"] == "no_such_role").unwrap();
    assert!(
        missing["samples"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.as_str().unwrap().contains("password authentication failed"))
    );
    let table =
        run(&["--failures", "--color", "never", &path("stderr-default.log")], None).expect(0).out();
    assert!(table.contains("FAILURES BY HOST"), "{table}");
    assert!(table.contains("  127.0.0.1  ") || table.contains("  127.0.0.1 "), "{table}");
}

#[test]
fn time_windows_by_date_and_by_duration() {
    let log = path("stderr-default.log");
    let all: Value = run(&["--json", &log], None).expect(0).json();
    let first = all["first"].as_str().unwrap();
    let last = all["last"].as_str().unwrap();
    // A window that holds everything changes nothing.
    let day = &first[..10];
    let v = run(&["--json", "--since", day, &log], None).expect(0).json();
    assert_eq!(v["connections"], all["connections"]);
    // After the immediate restart (in the last second), only its sessions.
    let restart_second = format!("{} {}", &last[..10], &last[11..19]);
    let v = run(&["--json", "--since", &restart_second, &log], None).expect(0).json();
    assert!(v["first"].as_str().unwrap() >= &last[..19], "{v}");
    assert!(v["connections"].as_u64().unwrap() < all["connections"].as_u64().unwrap());
    // Until: everything before that second; the two add up.
    let u = run(&["--json", "--until", &restart_second, &log], None).expect(0).json();
    assert_eq!(
        u["connections"].as_u64().unwrap() + v["connections"].as_u64().unwrap(),
        all["connections"].as_u64().unwrap()
    );
    // A duration counts back from the newest line: 1h holds everything.
    let v = run(&["--json", "--since", "1h", &log], None).expect(0).json();
    assert_eq!(v["connections"], all["connections"]);
    let r = run(&["--since", "1h"], Some(&read_fixture("stderr-default.log"))).expect(2);
    assert!(r.stderr.contains("give FILE arguments, or a date"), "{}", r.stderr);
    // Nothing in the window: exit 1.
    run(&["--since", "2099-01-01", &log], None).expect(1);
}

#[test]
fn a_window_that_starts_mid_session_counts_it_from_its_disconnection() {
    // The 12 sessions of the max_connections step were all authorized before
    // the second in which most of them disconnected: a window starting then
    // sees only their disconnection lines, yet they count as open.
    let log = path("stderr-default.log");
    let history = buckets(&["--history", "--bucket", "1s", "--json", &log]);
    let peak_bucket = history.iter().max_by_key(|b| b["peak"].as_u64().unwrap()).unwrap();
    let next = &history[history.iter().position(|b| b == peak_bucket).unwrap() + 1];
    let start = next["start"].as_str().unwrap();
    let since = format!("{} {}", &start[..10], &start[11..19]);
    let v = run(&["--json", "--since", &since, &log], None).expect(0).json();
    assert!(
        v["peak"]["active"].as_u64().unwrap() >= peak_bucket["active"].as_u64().unwrap(),
        "{v}"
    );
    assert_eq!(v["peak"]["lower_bound"], true, "the window starts mid-run");
}

/// fixtures/history: a real server on a 10-second grid, its log rotated
/// while three sessions were open, a leaking application and a password
/// guesser. Exact buckets from the workload's own schedule.
#[test]
fn history_fixture_exact_buckets_peaks_sessions_leak_and_brute_force() {
    let want = expected("history/history.expected.json");
    let log = path("history/history.log");
    let buckets = buckets(&["--history", "--bucket", "10s", "--json", &log]);
    let wanted = want["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), wanted.len(), "{buckets:?}");
    for (i, (got, w)) in buckets.iter().zip(wanted).enumerate() {
        let start = chrono_free_epoch(got["start"].as_str().unwrap());
        assert_eq!(start, w["start"].as_i64().unwrap(), "bucket {i} start");
        for key in ["connections", "disconnections", "failures", "active", "peak"] {
            assert_eq!(got[key], w[key], "bucket B{i} {key}");
        }
        // The log begins mid-run: figures are lower bounds.
        assert_eq!(got["lower_bound"], true);
    }
    // The summary: the three sessions from before the log count in the peak.
    let s: Value = run(&["--json", &log], None).expect(0).json();
    for key in ["connections", "disconnections", "failures", "active", "failures_by_reason"] {
        assert_eq!(s[key], want[key], "{key}");
    }
    assert_eq!(s["peak"]["active"], want["peak"]["active"]);
    assert_eq!(s["peak"]["lower_bound"], true);
    assert_eq!(s["active_lower_bound"], true);
    // The leak: the application, since its first session, 3 per bucket.
    let leak = &want["leak"];
    let leaks = s["leaks"].as_array().unwrap();
    let found = leaks
        .iter()
        .find(|l| l["dimension"] == leak["dimension"] && l["name"] == leak["name"])
        .unwrap_or_else(|| panic!("no leak hint for {leak}: {leaks:?}"));
    assert_eq!(found["open"], want["active"]);
    let since = chrono_free_epoch(found["since"].as_str().unwrap());
    let bucket = (since - want["first_bucket_start"].as_i64().unwrap()) / 10;
    assert_eq!(bucket, leak["since_bucket"].as_i64().unwrap());
    let per_minute = found["per_minute"].as_f64().unwrap();
    let rate = leak["per_bucket"].as_f64().unwrap() * 6.0;
    assert!((per_minute - rate).abs() / rate < 0.25, "{per_minute}/min vs {rate}/min");
    // No false hint for the host everyone shares.
    assert!(leaks.iter().all(|l| l["dimension"] != "host"), "{leaks:?}");
    // The brute force: one host, its failures, the roles it tried.
    let bf = &want["brute_force"];
    let flagged = s["brute_force"].as_array().unwrap();
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    assert_eq!(flagged[0]["host"], bf["host"]);
    assert_eq!(flagged[0]["failures"], bf["failures"]);
    assert_eq!(flagged[0]["roles"], bf["roles"]);
    let failures = ndjson(&["--failures", "--json", &log]);
    let b = failures.iter().find(|o| o["type"] == "brute_force").expect("a brute_force object");
    assert_eq!(b["roles_in_window"], bf["roles"]);
    // A higher threshold flags nobody.
    let s: Value = run(&["--json", "--brute-force", "26/1m", &log], None).expect(0).json();
    assert_eq!(s["brute_force"], serde_json::json!([]));
    // Who is connected: the open sessions, oldest first.
    let sessions = ndjson(&["--sessions", "--json", &log]);
    let open = want["open_sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), open.len());
    for (got, w) in sessions.iter().zip(open) {
        for key in ["user", "database", "application", "host"] {
            assert_eq!(got[key], w[key], "{key}");
        }
    }
}

/// Seconds since the epoch of an RFC 3339 UTC time (`...+00:00`).
fn chrono_free_epoch(t: &str) -> i64 {
    assert!(t.ends_with("+00:00"), "{t}");
    let n = |a: usize, b: usize| t[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19)
}
