//! The committed fixtures against the figures their workload produced.
//!
//! Each `fixtures/NAME.log` was written by a real PostgreSQL server while
//! `fixtures/generate.sh` ran a known workload; `NAME.expected.json` holds
//! what that workload did (its own bookkeeping, not a count of the log).

use serde_json::Value;

use crate::util::{read_fixture, run, summary};

const NAMES: &[&str] =
    &["stderr-default", "stderr-debian", "stderr-keyvalue", "stderr-nopid", "stderr-rds"];

fn expected(name: &str) -> Value {
    let text = read_fixture(&format!("{name}.expected.json"));
    serde_json::from_slice(&text).expect("expected figures are JSON")
}

fn num(v: &Value, path: &str) -> u64 {
    let mut cur = v;
    for key in path.split('.') {
        cur = &cur[key];
    }
    cur.as_u64().unwrap_or_else(|| panic!("{path} is not a count in {v}"))
}

/// The rows of a breakdown as name -> row.
fn rows(summary: &Value, key: &str) -> Option<serde_json::Map<String, Value>> {
    let list = summary[key].as_array()?;
    Some(list.iter().map(|r| (r["name"].as_str().unwrap().to_string(), r.clone())).collect())
}

/// Compares a pgconn summary with a workload's expected figures. `label`
/// names the case in failure messages.
pub fn check(label: &str, got: &Value, want: &Value) {
    for key in ["connections", "disconnections", "active", "failures", "abandoned"] {
        assert_eq!(num(got, key), num(want, key), "{label}: {key}");
    }
    assert_eq!(num(got, "peak.active"), num(want, "peak.active"), "{label}: peak");
    assert_eq!(
        num(got, "session_seconds.count"),
        num(want, "session_seconds.count"),
        "{label}: sessions"
    );
    assert_eq!(
        got["failures_by_reason"], want["failures_by_reason"],
        "{label}: failures by reason"
    );
    // Abnormal ends: the workload's, plus the sessions its restart killed.
    let mut ends = want["abnormal_ends"].as_object().cloned().unwrap_or_default();
    let restart = num(want, "ended_by_restart");
    if restart > 0 {
        ends.insert("server_restart".into(), restart.into());
    }
    assert_eq!(got["abnormal_ends"], Value::Object(ends), "{label}: abnormal ends");
    // How sessions connected (extended workloads).
    if let Some(r) = want.get("replication") {
        for key in ["sessions", "physical", "logical"] {
            if let Some(n) = r.get(key) {
                assert_eq!(&got["replication"][key], n, "{label}: replication {key}");
            }
        }
    }
    if let Some(t) = want.get("tls") {
        assert_eq!(got["tls"]["sessions"], t["sessions"], "{label}: TLS sessions");
        if let Some(p) = t.get("by_protocol") {
            assert_eq!(&got["tls"]["by_protocol"], p, "{label}: TLS protocols");
        }
    }
    for key in ["auth_methods", "password_without_tls"] {
        if let Some(w) = want.get(key) {
            assert_eq!(&got[key], w, "{label}: {key}");
        }
    }
    if let Some(w) = want.get("trust_inferred") {
        assert_eq!(&got["trust_inferred"], w, "{label}: trust_inferred");
    }
    if let Some(s) = want.get("setup_ms") {
        assert_eq!(got["setup_ms"]["count"], s["count"], "{label}: setup_ms count");
    }
    let pid = got["input"]["pid"].as_bool().unwrap();
    for (dim, key) in [
        ("by_user", "user"),
        ("by_database", "database"),
        ("by_application", "application"),
        ("by_host", "host"),
    ] {
        let Some(got_rows) = rows(got, dim) else {
            assert!(!pid && dim == "by_host", "{label}: {dim} missing");
            continue;
        };
        let want_rows = want[dim].as_object().unwrap();
        for (name, w) in want_rows {
            let g = got_rows
                .get(name)
                .unwrap_or_else(|| panic!("{label}: no {key} {name:?} in {got_rows:?}"));
            assert_eq!(g["connections"], w["connections"], "{label}: connections of {key} {name}");
            if pid || !matches!(dim, "by_application") {
                assert_eq!(g["active"], w["active"], "{label}: active of {key} {name}");
            } else {
                assert!(g["active"].is_null(), "{label}: {key} active should be unavailable");
            }
        }
        // No session shows up under a name the workload never used.
        for (name, g) in &got_rows {
            if num(g, "connections") > 0 {
                assert!(want_rows.contains_key(name), "{label}: unexpected {key} {name}: {g}");
            }
        }
    }
}

#[test]
fn every_fixture_gives_the_workload_figures() {
    for name in NAMES {
        let path = crate::util::fixture(&format!("{name}.log"));
        let got = summary(&[path.to_str().unwrap()]);
        check(name, &got, &expected(name));
    }
}

#[test]
fn given_prefix_agrees_with_inferred() {
    for name in NAMES {
        let want = expected(name);
        let prefix = want["prefix"].as_str().unwrap();
        let path = crate::util::fixture(&format!("{name}.log"));
        let got = summary(&["--prefix", prefix, path.to_str().unwrap()]);
        check(&format!("{name} --prefix"), &got, &want);
        assert_eq!(got["input"]["log_line_prefix"], prefix);
        assert_eq!(got["input"]["prefix_inferred"], false);
        let inferred = summary(&[path.to_str().unwrap()]);
        assert_eq!(inferred["input"]["log_line_prefix"], prefix, "{name}: inferred prefix");
    }
}

#[test]
fn standard_input_same_as_file() {
    let data = read_fixture("stderr-keyvalue.log");
    let from_stdin = run(&["--json", "--top", "0"], Some(&data)).expect(0).json();
    let path = crate::util::fixture("stderr-keyvalue.log");
    let from_file = summary(&[path.to_str().unwrap()]);
    assert_eq!(from_stdin["connections"], from_file["connections"]);
    assert_eq!(from_stdin["by_user"], from_file["by_user"]);
    let dash = run(&["--json", "--top", "0", "-"], Some(&data)).expect(0).json();
    assert_eq!(dash["by_host"], from_file["by_host"]);
}

#[test]
fn without_pid_says_what_it_cannot_give() {
    let path = crate::util::fixture("stderr-nopid.log");
    let got = summary(&[path.to_str().unwrap()]);
    assert!(got["by_host"].is_null());
    assert_eq!(got["input"]["pid"], false);
    let notes = got["unavailable"].as_array().unwrap();
    assert!(notes.iter().any(|n| n.as_str().unwrap().starts_with("host")), "{notes:?}");
    let table = run(&["--color", "never", path.to_str().unwrap()], None).expect(0).out();
    assert!(table.contains("HOST (not available: no pid in the log, nor %h or %r"), "{table}");
}

#[test]
fn statements_that_look_like_events_do_not_count() {
    // The workload logs `select 'disconnection: session time: ...'` and a
    // multi-line statement whose second line reads like a full
    // `connection authorized` log line: grep counts them, pgconn must not.
    let log = read_fixture("stderr-default.log");
    let text = String::from_utf8_lossy(&log);
    let grep_authorized = text.lines().filter(|l| l.contains("connection authorized: ")).count();
    let grep_disconnections =
        text.lines().filter(|l| l.contains("disconnection: session time: ")).count();
    let want = expected("stderr-default");
    let post_auth_failures = ["no_such_database", "not_permitted", "role_limit", "reserved_slots"]
        .iter()
        .map(|r| want["failures_by_reason"][r].as_u64().unwrap_or(0))
        .sum::<u64>()
        + 1; // ghost2 over the socket: trust, then `role "ghost2" does not exist`
    assert!(
        grep_authorized as u64 > num(&want, "connections") + post_auth_failures,
        "the fixture lacks the fake line"
    );
    assert!(
        grep_disconnections as u64 > num(&want, "disconnections"),
        "the fixture lacks the fake statement"
    );
    let path = crate::util::fixture("stderr-default.log");
    let got = summary(&[path.to_str().unwrap()]);
    assert_eq!(num(&got, "connections"), num(&want, "connections"));
    assert_eq!(num(&got, "disconnections"), num(&want, "disconnections"));
    assert_eq!(num(&got, "unparsed"), 0);
}

/// Every log of every major and format the generator wrote: `vNN/NAME.log`
/// (stderr), `.csv` (csvlog), `.json` (jsonlog), `.log.gz` (and `.bz2`,
/// `.xz`, `.zst`), `syslog/`,
/// each against its `NAME.expected.json`.
#[test]
fn every_version_and_format_gives_the_workload_figures() {
    let root = crate::util::fixture("");
    let mut cases = Vec::new();
    // history/ has its own figures (tests/analysis.rs).
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            !name.starts_with('.') && name != "history"
        })
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut files: Vec<_> =
            std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for expected in files.iter().filter(|p| p.to_string_lossy().ends_with(".expected.json")) {
            let stem = expected.to_string_lossy().trim_end_matches(".expected.json").to_string();
            let want: Value = serde_json::from_slice(&std::fs::read(expected).unwrap()).unwrap();
            for ext in [".log", ".csv", ".json", ".log.gz", ".log.bz2", ".log.xz", ".log.zst"] {
                let log = format!("{stem}{ext}");
                if !std::path::Path::new(&log).exists() {
                    continue;
                }
                let got = summary(&[&log]);
                let label = log.trim_start_matches(root.to_str().unwrap()).to_string();
                check(&label, &got, &want);
                let format = match ext {
                    ".csv" => "csvlog",
                    ".json" => "jsonlog",
                    _ if label.starts_with("syslog") => "syslog",
                    _ => "stderr",
                };
                assert_eq!(got["input"]["formats"][0], format, "{label}: detected format");
                assert_eq!(got["unparsed"], 0, "{label}: unparsed lines");
                cases.push(label);
            }
        }
    }
    // The fixture set: every major from 13 to 18 in stderr (default and a
    // custom prefix) and csvlog, jsonlog from 15, one syslog, one log in
    // each compression format.
    for major in 13..=18 {
        for file in ["extended.log", "extended.csv", "custom.log"] {
            assert!(
                cases.contains(&format!("v{major}/{file}")),
                "no fixture v{major}/{file}: {cases:?}"
            );
        }
        if major >= 15 {
            assert!(
                cases.contains(&format!("v{major}/extended.json")),
                "no v{major}/extended.json"
            );
        }
    }
    assert!(cases.iter().any(|c| c.starts_with("syslog/")), "no syslog fixture: {cases:?}");
    for ext in [".gz", ".bz2", ".xz", ".zst"] {
        assert!(cases.iter().any(|c| c.ends_with(ext)), "no {ext} fixture: {cases:?}");
    }
}
