//! The log_line_prefix fixtures: one small workload written by a real
//! server under each of the values in `fixtures/prefixes/index.tsv`
//! (`fixtures/generate-prefixes.sh`). Each is read with no `--prefix`:
//! the inferred value must carry the fields the real one has, and give
//! the workload's figures (`tests/figures.rs` checks those for every
//! `*.expected.json`, these among them) and each failure's user, database
//! and host wherever the log holds them. Then each is read with the real
//! value given, with and without its trailing space.

use serde_json::Value;

use crate::figures::check;
use crate::util::{fixture, run, summary};

struct Case {
    name: String,
    prefix: String,
    want: Value,
    log: String,
}

fn cases() -> Vec<Case> {
    let index = std::fs::read_to_string(fixture("prefixes/index.tsv")).unwrap();
    let cases: Vec<Case> = index
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let name = cols[0].to_string();
            let want = serde_json::from_slice(
                &std::fs::read(fixture(&format!("prefixes/{name}.expected.json"))).unwrap(),
            )
            .unwrap();
            let log = fixture(&format!("prefixes/{name}.log")).to_str().unwrap().to_string();
            Case { name, prefix: cols[1].to_string(), want, log }
        })
        .collect();
    assert!(cases.len() >= 40, "{} prefix fixtures", cases.len());
    cases
}

/// The fields a log_line_prefix value carries, as the fixtures' `fields`.
fn fields_of(prefix: &str) -> Value {
    let mut esc = Vec::new();
    let b = prefix.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let mut j = i + 1;
            while j < b.len() && (b[j] == b'-' || b[j].is_ascii_digit()) {
                j += 1;
            }
            if let Some(&c) = b.get(j) {
                esc.push(c);
            }
            i = j + 1;
        } else {
            i += 1;
        }
    }
    let has = |cs: &[u8]| cs.iter().any(|c| esc.contains(c));
    serde_json::json!({
        "time": has(b"mtn"), "pid": has(b"p"), "session": has(b"c"), "user": has(b"u"),
        "database": has(b"d"), "application": has(b"a"), "host": has(b"hr"),
    })
}

#[test]
fn every_prefix_is_inferred_with_the_fields_it_has() {
    let mut exact = 0;
    for case in cases() {
        let got = summary(&[&case.log]);
        let inferred = got["input"]["log_line_prefix"].as_str().unwrap_or_else(|| {
            panic!("{}: no prefix inferred for {:?}: {got}", case.name, case.prefix)
        });
        assert_eq!(got["input"]["prefix_inferred"], true, "{}", case.name);
        assert_eq!(
            fields_of(inferred),
            case.want["fields"],
            "{}: inferred {inferred:?} for {:?}",
            case.name,
            case.prefix
        );
        assert_eq!(got["unparsed"], 0, "{}: unparsed lines with {inferred:?}", case.name);
        assert_eq!(
            got["input"]["prefix_disagreements"], 0,
            "{}: {inferred:?} disagrees with the messages",
            case.name
        );
        exact += usize::from(inferred == case.prefix);
    }
    // Where two escapes print the same text on every line of the log (%L
    // and %h over loopback, an empty %P), or padding hides its width, the
    // value shown may differ; most are the server's own.
    assert!(exact >= 40, "{exact} inferred exactly");
}

/// Each failure's user, database and host are never wrong, and are there
/// whenever the log holds them: in the message, in the prefix, or (with a
/// pid) in the same backend's earlier lines.
#[test]
fn failures_keep_their_user_database_and_host() {
    for case in cases() {
        let out = run(&["--watch", "--json", &case.log], None).expect(0).out();
        let failures: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v["type"] == "failure")
            .collect();
        let want = case.want["failures_detail"].as_array().unwrap();
        assert_eq!(failures.len(), want.len(), "{}: {out}", case.name);
        let f = &case.want["fields"];
        let session = f["pid"] == true || f["session"] == true;
        for (got, want) in failures.iter().zip(want) {
            let label = format!("{} {}", case.name, want["reason"]);
            assert_eq!(got["reason"], want["reason"], "{label}");
            let reason = want["reason"].as_str().unwrap();
            let named = |key: &str| match key {
                "user" => matches!(reason, "password" | "hba_reject"),
                "database" => matches!(reason, "no_such_database" | "hba_reject"),
                _ => reason == "hba_reject",
            };
            for (key, field, by_session) in [
                ("user", "user", reason == "no_such_database"),
                ("database", "database", false),
                ("host", "host", true),
            ] {
                let held = named(key) || f[field] == true || (session && by_session);
                if held {
                    assert_eq!(got[key], want[key], "{label}: {key} in {got}");
                } else if !got[key].is_null() {
                    assert_eq!(got[key], want[key], "{label}: a wrong {key} in {got}");
                }
            }
        }
    }
}

#[test]
fn the_value_given_works_with_and_without_its_trailing_space() {
    for case in cases() {
        for value in [case.prefix.as_str(), case.prefix.trim_end()] {
            let got = summary(&["--prefix", value, &case.log]);
            check(&format!("{} --prefix {value:?}", case.name), &got, &case.want);
            assert_eq!(got["input"]["prefix_inferred"], false);
            assert_eq!(got["unparsed"], 0, "{} --prefix {value:?}", case.name);
        }
    }
}

#[test]
fn an_unknown_escape_is_named() {
    let log = fixture("prefixes/p01-default.log");
    let r = run(&["--prefix", "%m [%p] %k ", log.to_str().unwrap()], None).expect(2);
    assert!(r.stderr.contains("unknown escape '%k'"), "{}", r.stderr);
}

/// A prefix whose fields disagree with the messages is said to be wrong,
/// line by line; the messages' names are used.
#[test]
fn a_wrong_prefix_is_caught_by_the_messages() {
    let case = cases().into_iter().find(|c| c.prefix == "%m [%p] %q%u@%d ").unwrap();
    let swapped = run(&["--json", "--prefix", "%m [%p] %q%d@%u ", &case.log], None).expect(0);
    let got = swapped.json();
    // Every authorized and disconnection line whose user differs from its
    // database disagrees.
    assert!(got["input"]["prefix_disagreements"].as_u64().unwrap() >= 6, "{got}");
    assert!(
        swapped.stderr.contains("reads a user, database or host other than"),
        "{}",
        swapped.stderr
    );
    check("swapped prefix", &got, &case.want);
    let right = run(&["--json", "--prefix", &case.prefix, &case.log], None).expect(0);
    assert_eq!(right.json()["input"]["prefix_disagreements"], 0);
    assert!(!right.stderr.contains("reads a user"), "{}", right.stderr);
}
