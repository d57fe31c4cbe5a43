//! Envelopes: the committed server logs inside the records of the systems
//! that carry them (`fixtures/generate-envelopes.py`), each against the
//! figures of the log it wraps; and syslog whose prefix has no time (or
//! pid), read with the header's.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::figures::check;
use crate::util::{fixture, read_fixture, run, summary, unnamed};

/// (fixture in envelopes/, the log it wraps, its envelopes, its format).
const CASES: &[(&str, &str, &[&str], &str)] = &[
    ("docker.log", "stderr-default.log", &["docker"], "stderr"),
    ("docker-notime.log", "stderr-default.log", &["docker"], "stderr"),
    ("cri-notime.log", "v15/extended.log", &["cri"], "stderr"),
    ("cloudnative-pg.json", "v15/extended.csv", &["cloudnative-pg"], "csvlog"),
    ("cloudnative-pg-cri.log", "v15/extended.csv", &["cri", "cloudnative-pg"], "csvlog"),
    ("journald-notime.json", "stderr-default.log", &["journald"], "stderr"),
    ("journald-syslog-notime.json", "syslog/syslog.log", &["journald"], "stderr"),
    ("cloud-logging-notime.json", "stderr-default.log", &["cloud-logging"], "stderr"),
    ("cloud-logging-gcloud-notime.json", "stderr-default.log", &["cloud-logging"], "stderr"),
    ("cloudwatch.json", "stderr-rds.log", &["cloudwatch"], "stderr"),
    ("azure-notime.json", "stderr-default.log", &["azure"], "stderr"),
    ("heroku-notime.log", "syslog/syslog.log", &["heroku"], "stderr"),
    ("loki-notime.json", "stderr-default.log", &["loki"], "stderr"),
    ("syslog5424-notime.log", "syslog/syslog.log", &[], "syslog"),
];

fn expected(log: &str) -> Value {
    let stem = log.rsplit_once('.').unwrap().0;
    serde_json::from_slice(&read_fixture(&format!("{stem}.expected.json"))).unwrap()
}

fn path(name: &str) -> String {
    fixture(name).to_str().unwrap().to_string()
}

#[test]
fn every_envelope_gives_the_figures_of_the_log_it_wraps() {
    for &(name, log, envelopes, format) in CASES {
        let file = path(&format!("envelopes/{name}"));
        let got = summary(&[&file]);
        check(name, &got, &expected(log));
        assert_eq!(got["input"]["envelopes"], serde_json::json!(envelopes), "{name}: envelopes");
        assert_eq!(got["input"]["formats"], serde_json::json!([format]), "{name}: format");
        assert_eq!(got["unparsed"], 0, "{name}: unparsed");
        assert_eq!(got["input"]["pid"], true, "{name}: pid");
        // The times are the server's, to the millisecond, whether the
        // prefix or the envelope carried them.
        let plain = summary(&[&path(log)]);
        for key in ["first", "last"] {
            assert_eq!(got[key], plain[key], "{name}: {key}");
        }
        assert_eq!(got["peak"]["at"], plain["peak"]["at"], "{name}: peak time");
        assert!(got["first"].is_string(), "{name}: no time");
    }
}

#[test]
fn the_text_report_names_the_envelope() {
    for (name, says) in [
        ("docker-notime.log", "stderr in docker; log_line_prefix '[%p] ' (inferred)"),
        ("cloudnative-pg-cri.log", "csvlog in cloudnative-pg in cri"),
        ("journald-syslog-notime.json", "stderr in journald; log_line_prefix '' (inferred)"),
    ] {
        let out =
            run(&["--color", "never", &path(&format!("envelopes/{name}"))], None).expect(0).out();
        assert!(out.contains(says), "{name}:\n{out}");
        assert!(!out.contains("no time in log_line_prefix"), "{name}:\n{out}");
    }
}

#[test]
fn envelopes_are_read_from_standard_input_too() {
    for name in ["docker-notime.log", "cloudwatch.json", "cloud-logging-gcloud-notime.json"] {
        let data = read_fixture(&format!("envelopes/{name}"));
        let piped = run(&["--json", "--top", "0"], Some(&data)).expect(0).json();
        let file = summary(&[&path(&format!("envelopes/{name}"))]);
        for key in ["connections", "failures", "first", "last", "by_user", "input"] {
            let (piped, file) = (unnamed(piped.clone()), unnamed(file.clone()));
            let (mut a, mut b) = (piped[key].clone(), file[key].clone());
            if key == "input" {
                a["bytes"] = Value::Null;
                b["bytes"] = Value::Null;
            }
            assert_eq!(a, b, "{name}: {key}");
        }
    }
}

/// A copy of the RFC 3164 syslog fixture last written on `modified`: its
/// times have no year, which is that of the file's modification time.
fn syslog_3164(modified: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pgconn-envelopes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join(format!("syslog-notime-{modified}.log"));
    std::fs::write(&copy, read_fixture("envelopes/syslog-notime.log")).unwrap();
    let day: u64 = match modified {
        "2026-12-01" => 20_788,
        "2027-01-05" => 20_823,
        _ => unreachable!(),
    };
    let file = std::fs::File::options().write(true).open(&copy).unwrap();
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(day * 86_400)).unwrap();
    copy
}

#[test]
fn syslog_without_time_in_the_prefix_takes_the_header_time() {
    let plain = summary(&[&path("syslog/syslog.log")]);
    let copy = syslog_3164("2026-12-01");
    let got = summary(&[copy.to_str().unwrap()]);
    check("syslog-notime.log", &got, &expected("syslog/syslog.log"));
    assert_eq!(got["input"]["log_line_prefix"], "");
    assert_eq!(got["input"]["pid"], true);
    // RFC 3164: whole seconds, no zone (taken as UTC, and said so), the
    // year of the file's mtime.
    assert_eq!(got["first"], "2026-11-27T14:04:47+00:00");
    assert_eq!(plain["first"], "2026-11-27T14:04:47.887+00:00");
    let zone = got["notes"].as_array().unwrap().iter().find(|n| n["code"] == "unknown_zone");
    assert!(zone.unwrap()["message"].as_str().unwrap().contains("carry no zone"), "{got}");
    // Read in January, November's lines are of the year before.
    let got = summary(&[syslog_3164("2027-01-05").to_str().unwrap()]);
    assert_eq!(got["first"], "2026-11-27T14:04:47+00:00");
}

/// Bucket counts of `--history --json --bucket 10s`, without the times
/// (RFC 3164 writes them without a zone).
fn buckets(file: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["--history", "--json", "--bucket", "10s"];
    args.extend_from_slice(extra);
    args.push(file);
    let out = run(&args, None).expect(0).out();
    out.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|b| b["type"] == "bucket")
        .map(|mut b| {
            let o = b.as_object_mut().unwrap();
            o.remove("start");
            o.remove("end");
            b
        })
        .collect()
}

#[test]
fn syslog_without_time_in_the_prefix_has_the_same_history() {
    let copy = syslog_3164("2026-12-01");
    let plain = buckets(&path("syslog/syslog.log"), &[]);
    assert!(plain.len() >= 2, "{plain:?}");
    assert_eq!(buckets(copy.to_str().unwrap(), &[]), plain, "RFC 3164");
    assert_eq!(buckets(&path("envelopes/syslog5424-notime.log"), &[]), plain, "RFC 5424");
}

#[test]
fn syslog_without_time_in_the_prefix_honours_since() {
    let copy = syslog_3164("2026-12-01");
    let copy = copy.to_str().unwrap();
    let rfc5424 = path("envelopes/syslog5424-notime.log");
    let plain = path("syslog/syslog.log");
    // A duration counts back from the newest line: RFC 3164's whole
    // seconds would move it.
    let cases = [
        (&["--since", "2026-11-27 14:04:50"][..], vec![copy, &rfc5424[..]]),
        (&["--since", "2s"][..], vec![&rfc5424[..]]),
    ];
    for (since, files) in cases {
        let mut args = since.to_vec();
        args.extend(["--json", "--top", "0"]);
        let want = run(&[&args[..], &[&plain[..]]].concat(), None).expect(0).json();
        assert!(want["connections"].as_u64().unwrap() < 82, "{since:?}: {want}");
        for file in files {
            let got = run(&[&args[..], &[file]].concat(), None).expect(0).json();
            for key in ["connections", "disconnections", "failures", "active", "by_user"] {
                assert_eq!(got[key], want[key], "{file} {since:?}: {key}");
            }
        }
    }
}
