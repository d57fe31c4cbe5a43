//! Options, exit status and bad input, end to end.

use crate::util::{expect_quiet_exit, fixture, read_fixture, run, spawn_piped, summary};

fn path(name: &str) -> String {
    fixture(name).to_str().unwrap().to_string()
}

fn names(v: &serde_json::Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn filters_select_sessions() {
    let f = path("stderr-default.log");
    let count = |args: &[&str]| {
        let mut all = args.to_vec();
        all.push(&f);
        summary(&all)["connections"].as_u64().unwrap()
    };
    // Figures from fixtures/stderr-default.expected.json.
    assert_eq!(count(&["--db", "appdb"]), 50);
    assert_eq!(count(&["--db", "appdb", "--db", "postgres"]), 64);
    assert_eq!(count(&["--user", "alice"]), 15);
    assert_eq!(count(&["--app", "my app"]), 5);
    assert_eq!(count(&["--app", "(unset)"]), 4);
    assert_eq!(count(&["--host", "127.0.0.0/8"]), 18);
    assert_eq!(count(&["--host", "[local]"]), 54);
    run(&["--host", "::1", &f], None).expect(1);
    let v = summary(&["--user", "alice", &f]);
    assert_eq!(names(&v["by_user"]), vec!["alice"]);
    assert_eq!(v["failures_by_reason"]["password"], 1, "alice's wrong password");
}

#[test]
fn filter_matching_nothing_exits_1() {
    let r = run(&["--db", "nope", &path("stderr-default.log")], None).expect(1);
    assert!(r.stderr.contains("no connection event matched the filters"), "{}", r.stderr);
}

#[test]
fn top_folds_the_rest_into_other() {
    let v = crate::util::run(&["--json", "--top", "2", &path("stderr-default.log")], None)
        .expect(0)
        .json();
    let apps = names(&v["by_application"]);
    assert_eq!(apps.len(), 3, "{apps:?}");
    assert_eq!(apps[2], "(other)");
    let total: u64 = v["by_application"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["connections"].as_u64().unwrap())
        .sum();
    assert_eq!(total, v["connections"].as_u64().unwrap());
}

#[test]
fn by_chooses_breakdowns() {
    let r = run(&["--color", "never", "--by", "user,host", &path("stderr-default.log")], None)
        .expect(0);
    let out = r.out();
    assert!(out.contains("USER ") && out.contains("HOST "), "{out}");
    assert!(!out.contains("DATABASE ") && !out.contains("APPLICATION "), "{out}");
}

#[test]
fn table_shows_the_figures() {
    let out = run(&["--color", "never", &path("stderr-debian.log")], None).expect(0).out();
    assert!(out.contains("Active now           2"), "{out}");
    assert!(
        out.contains("Connections         72   disconnections 68, failures 10, abandoned 2"),
        "{out}"
    );
    assert!(out.contains("Peak                12"), "{out}");
    assert!(out.contains("  reserved_slots                  1"), "{out}");
    assert!(!out.contains('\x1b'), "no color with --color never");
}

#[test]
fn color_choices() {
    let f = path("stderr-default.log");
    assert!(run(&["--color", "always", &f], None).expect(0).out().contains("\x1b["));
    // Not a terminal: auto means no color.
    assert!(!run(&["--color", "auto", &f], None).expect(0).out().contains('\x1b'));
    let r = run(&["--color", "purple", &f], None).expect(2);
    assert!(r.stderr.contains("auto, always, never"), "{}", r.stderr);
}

#[test]
fn usage_errors_exit_2() {
    let r = run(&["--bogus"], None).expect(2);
    assert!(r.stderr.starts_with("pgconn: "), "{}", r.stderr);
    assert!(r.stderr.contains("pgconn --help"), "{}", r.stderr);
    run(&["--top"], None).expect(2);
    run(&["--host", "10.0.0.0/99"], None).expect(2);
    run(&["--format", "xml"], None).expect(2);
}

#[test]
fn help_and_version() {
    let r = run(&["--help"], None).expect(0);
    assert!(r.out().contains("Usage: pgconn [OPTIONS] [FILE...]"));
    let r = run(&["-V"], None).expect(0);
    assert!(r.out().starts_with("pgconn "));
}

#[test]
fn empty_input_exits_1_with_a_hint() {
    let r = run(&[], Some(b"")).expect(1);
    assert!(r.out().is_empty());
    assert!(r.stderr.contains("no PostgreSQL log lines found"), "{}", r.stderr);
    let r = run(&["--json"], Some(b"")).expect(1);
    assert_eq!(r.json()["connections"], 0);
}

#[test]
fn log_without_connection_lines_names_the_settings() {
    let log =
        b"2025-03-01 10:00:00.000 UTC [1] LOG:  database system is ready to accept connections\n\
                2025-03-01 10:00:01.000 UTC [2] LOG:  checkpoint starting: time\n";
    let r = run(&[], Some(log)).expect(1);
    assert!(r.stderr.contains("log_connections = on"), "{}", r.stderr);
    assert!(r.stderr.contains("log_disconnections = on"), "{}", r.stderr);
}

#[test]
fn wrong_prefix_shows_the_first_unmatched_line() {
    let r = run(&["--prefix", "%t <%p> ", &path("stderr-default.log")], None).expect(1);
    assert!(r.stderr.contains("did not match --prefix '%t <%p> '"), "{}", r.stderr);
    assert!(r.stderr.contains("LOG:  starting PostgreSQL"), "{}", r.stderr);
    assert_eq!(r.stderr.matches("did not match").count(), 1, "said once: {}", r.stderr);
}

#[test]
fn unreadable_file_is_reported_and_the_rest_read() {
    let r = run(&["--json", "/nonexistent/pg.log", &path("stderr-default.log")], None).expect(2);
    assert!(r.stderr.contains("pgconn: /nonexistent/pg.log: No such file"), "{}", r.stderr);
    assert_eq!(r.json()["connections"], 72);
    run(&["/nonexistent/pg.log"], None).expect(2);
    // A directory cannot be read either.
    run(&["/"], None).expect(2);
}

#[test]
fn several_files_are_read_in_order() {
    // Two servers' logs in a row: the second one's start ends nothing of the
    // first (all closed by then) and the totals add up.
    let a = path("stderr-default.log");
    let b = path("stderr-rds.log");
    let v = summary(&[&a, &b]);
    assert_eq!(v["connections"], 144);
    assert_eq!(v["disconnections"], 136);
    // The first log's two open sessions end when the second server starts.
    assert_eq!(v["active"], 2);
    assert_eq!(v["abnormal_ends"]["server_restart"], 6);
}

#[test]
fn crlf_and_missing_final_newline_change_nothing() {
    let log = read_fixture("stderr-default.log");
    let base = run(&["--json"], Some(&log)).expect(0).json();
    let crlf: Vec<u8> =
        log.iter().flat_map(|&b| if b == b'\n' { vec![b'\r', b'\n'] } else { vec![b] }).collect();
    let v = run(&["--json"], Some(&crlf)).expect(0).json();
    assert_eq!(v["connections"], base["connections"]);
    assert_eq!(v["by_application"], base["by_application"]);
    // Cut the final newline off a log whose last line is an event.
    let mut cut = log.clone();
    cut.extend_from_slice(
        b"2030-01-01 00:00:00.000 UTC [99999] LOG:  connection received: host=[local]",
    );
    let v = run(&["--json"], Some(&cut)).expect(0).json();
    assert_eq!(v["abandoned"], base["abandoned"].as_u64().unwrap() + 1);
}

#[test]
fn garbage_huge_lines_and_nul_bytes_are_survived() {
    let log = read_fixture("stderr-default.log");
    let base = run(&["--json"], Some(&log)).expect(0).json();
    let mut data = Vec::new();
    // Binary noise, a 50 MB line, NUL bytes, invalid UTF-8 in between.
    data.extend((0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 1));
    data.push(b'\n');
    data.extend(std::iter::repeat_n(b'x', 50 * 1024 * 1024));
    data.extend_from_slice(b"\n\0\0\0\xff\xfe\n");
    data.extend_from_slice(&log);
    let v = run(&["--json", "--prefix", "%m [%p] "], Some(&data)).expect(0).json();
    assert_eq!(v["connections"], base["connections"]);
    assert_eq!(v["active"], base["active"]);
    assert_eq!(v["input"]["long_lines"], 1);
    // Random bytes alone: no panic, nothing found.
    let noise: Vec<u8> =
        (0..300_000u32).map(|i| (i.wrapping_mul(2_246_822_519) >> 11) as u8).collect();
    run(&[], Some(&noise)).expect(1);
}

#[test]
fn names_with_control_characters_are_escaped() {
    let bytes: &[u8] = b"\
2025-03-01 10:00:00.000 UTC [10] LOG:  connection received: host=[local]
2025-03-01 10:00:00.001 UTC [10] LOG:  connection authorized: user=\x1b]0;owned\x07 database=d\rb application_name=\x1b[31mred\x1b[0m \xff
";
    let out = run(&["--color", "never"], Some(bytes)).expect(0);
    let text = out.out();
    assert!(!out.stdout.contains(&0x1b), "raw ESC reached the output:\n{text}");
    assert!(!out.stdout.contains(&b'\r'), "raw CR reached the output");
    assert!(text.contains("\\x1b]0;owned\\x07"), "{text}");
    assert!(text.contains("d\\rb"), "{text}");
    assert!(text.contains("\\x1b[31mred\\x1b[0m \\xff"), "{text}");
    let v = run(&["--json"], Some(bytes)).expect(0).json();
    assert_eq!(v["by_user"][0]["name"], "\x1b]0;owned\x07");
    assert_eq!(v["by_application"][0]["name"], "\x1b[31mred\x1b[0m \u{fffd}");
    assert_eq!(v["input"]["invalid_utf8_lines"], 1);
}

#[test]
fn closed_output_pipe_exits_0_quietly() {
    let log = read_fixture("stderr-default.log");
    let mut big = Vec::new();
    for _ in 0..50 {
        big.extend_from_slice(&log);
    }
    let mut child = spawn_piped(&["--top", "0"]);
    // Close our end of pgconn's stdout before it writes anything.
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = std::io::Write::write_all(&mut stdin, &big);
    });
    expect_quiet_exit(child, writer);
}

#[test]
fn failed_attempts_after_authorization_are_not_sessions() {
    // From the reference: authorized, then refused by a startup check.
    let log = "\
2025-03-01 10:00:04.100 UTC [4401] LOG:  connection received: host=10.0.0.5 port=5000
2025-03-01 10:00:04.128 UTC [4401] LOG:  connection authorized: user=postgres database=nosuchdb application_name=psql
2025-03-01 10:00:04.128 UTC [4401] FATAL:  database \"nosuchdb\" does not exist
2025-03-01 10:00:04.500 UTC [4402] LOG:  connection received: host=10.0.0.5 port=5001
2025-03-01 10:00:04.525 UTC [4402] LOG:  connection authorized: user=ghost database=postgres application_name=psql
2025-03-01 10:00:04.525 UTC [4402] FATAL:  role \"ghost\" does not exist
2025-03-01 10:00:07.100 UTC [5120] LOG:  connection received: host=10.0.0.6 port=5002
2025-03-01 10:00:07.100 UTC [5120] FATAL:  password authentication failed for user \"ghost2\"
2025-03-01 10:00:07.100 UTC [5120] DETAIL:  Role \"ghost2\" does not exist.
\tConnection matched file \"/etc/postgresql/17/main/pg_hba.conf\" line 11: \"host all ghost2 10.0.0.0/8 scram-sha-256\"
";
    let v = run(&["--json"], Some(log.as_bytes())).expect(0).json();
    assert_eq!(v["connections"], 0);
    assert_eq!(v["active"], 0);
    assert_eq!(v["peak"]["active"], 0);
    assert_eq!(v["failures_by_reason"]["no_such_database"], 1);
    assert_eq!(v["failures_by_reason"]["no_such_role"], 2);
    assert!(v["failures_by_reason"].get("password").is_none(), "{v}");
    let hosts = &v["by_host"];
    assert_eq!(hosts[0]["name"], "10.0.0.5");
    assert_eq!(hosts[0]["failures"], 2);
}

#[test]
fn files_of_different_formats_in_one_run() {
    let csv = path("v15/extended.csv");
    let json = path("v15/extended.json");
    let stderr = path("v15/custom.log");
    let one = summary(&[&csv]);
    let v = summary(&[&csv, &json, &stderr]);
    assert_eq!(v["input"]["formats"], serde_json::json!(["csvlog", "jsonlog", "stderr"]));
    // Three copies of one workload: each server start ends the open sessions
    // of the one before.
    assert_eq!(v["connections"].as_u64(), one["connections"].as_u64().map(|n| n * 3));
    assert_eq!(v["failures"].as_u64(), one["failures"].as_u64().map(|n| n * 3));
    assert_eq!(v["active"], one["active"]);
    assert_eq!(v["unparsed"], 0);
}

#[test]
fn gzip_on_standard_input_and_as_a_file() {
    let plain = summary(&[&path("v16/extended.log")]);
    let gz = read_fixture("v16/extended.log.gz");
    let v = run(&["--json", "--top", "0"], Some(&gz)).expect(0).json();
    assert_eq!(v["connections"], plain["connections"]);
    assert_eq!(v["by_user"], plain["by_user"]);
    let v = summary(&[&path("v16/extended.log.gz")]);
    assert_eq!(v["by_host"], plain["by_host"]);
}

#[test]
fn a_format_change_inside_one_input_is_reported() {
    // A csvlog stream with stderr lines appended: each part is read as
    // what it is (tests/order.rs has the figures), and the report says so.
    let mut data = read_fixture("v15/extended.csv");
    data.extend_from_slice(&read_fixture("v15/extended.log"));
    let r = run(&["--json"], Some(&data)).expect(0);
    let v = r.json();
    assert_eq!(v["input"]["formats"], serde_json::json!(["csvlog", "stderr"]));
    assert_eq!(v["unparsed"], 0, "{v}");
    assert!(!r.stderr.contains("could not be used"), "{}", r.stderr);
    // Forcing the wrong format is the user's call, but pgconn says so (a
    // warning, or the reason nothing was found).
    let forced = run(&["--json", "--format", "stderr", &path("v15/extended.csv")], None);
    assert!(
        forced.stderr.contains("--format stderr read an input that looks like csvlog"),
        "{}",
        forced.stderr
    );
}

#[test]
fn a_translated_log_is_called_so() {
    // fixtures/translated: a real PostgreSQL 15 with lc_messages = de_DE.
    for file in ["translated/de.log", "translated/de.csv", "translated/de.json"] {
        let r = run(&[&path(file)], None).expect(1);
        assert!(
            r.stderr.contains("the log looks translated (lc_messages)"),
            "{file}: {}",
            r.stderr
        );
        assert!(r.stderr.contains("lc_messages = 'C'"), "{file}: {}", r.stderr);
    }
}

#[test]
fn since_and_until_take_every_time_form_pgconn_prints() {
    let log = crate::util::fixture("stderr-default.log");
    let log = log.to_str().unwrap();
    let count = |args: &[&str]| -> u64 {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        all.push(log);
        run(&all, None).expect(0).json()["connections"].as_u64().unwrap()
    };
    // The same instant, as the text report, JSON and the log write it.
    let civil = count(&["--since", "2026-11-27 13:32:46"]);
    for form in [
        "2026-11-27 13:32:46 UTC",
        "2026-11-27T13:32:46+00:00",
        "2026-11-27T13:32:46Z",
        "2026-11-27 15:32:46+02",
    ] {
        assert_eq!(count(&["--since", form]), civil, "{form}");
    }
    assert!(count(&["--since", "2026-11-27 13:32:46.500"]) < civil);
    // Durations as --help promises them, and compound.
    assert_eq!(count(&["--since", "2h ago"]), count(&["--since", "2h"]));
    assert_eq!(count(&["--since", "1h30m"]), 72);
    // Since after until: nothing between them, a usage error.
    let r =
        run(&["--since", "2026-11-27 13:33", "--until", "2026-11-27 13:32", log], None).expect(2);
    assert!(r.stderr.contains("is not before --until"), "{}", r.stderr);
    let r = run(&["--since", "1m", "--until", "1h", log], None).expect(2);
    assert!(r.stderr.contains("is not before --until"), "{}", r.stderr);
    let r = run(&["--since", "2026-11-27 13:32:46 SST", log], None).expect(2);
    assert!(r.stderr.contains("does not know the offset of 'SST'"), "{}", r.stderr);
}

#[test]
fn top_and_by_cut_the_failures_breakdowns_and_are_refused_where_they_do_nothing() {
    let log = path("semantics/v15.log");
    let rows = |top: &str| -> Vec<usize> {
        crate::util::ndjson(&["--failures", "--json", "--top", top, "--by", "db,host", &log])
            .iter()
            .filter(|o| o["type"] == "failures_by")
            .map(|o| o["rows"].as_array().unwrap().len())
            .collect()
    };
    let (all, one) = (rows("0"), rows("1"));
    assert_eq!(all.len(), 2, "--by database,host: two breakdowns");
    assert!(all[0] > 3, "{all:?}");
    // One name and (other) (and (unknown) where a failure names none).
    assert!(one.iter().all(|&n| (2..=3).contains(&n)), "{one:?}");
    for args in [
        &["--watch", "--top", "3"][..],
        &["--history", "--by", "user"],
        &["--sessions", "--brute-force", "3/1m"],
        &["--bucket", "1h"],
    ] {
        let r = run(&[args, &[log.as_str()]].concat(), None).expect(2);
        assert!(r.stderr.contains("has no effect with"), "{args:?}: {}", r.stderr);
    }
}
