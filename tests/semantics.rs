//! Session and failure semantics on logs that real PostgreSQL 15 and 18
//! servers wrote (`fixtures/generate-semantics.sh`): startup FATALs after
//! authorization, probes, the failure taxonomy with its DETAIL lines,
//! trust, brute force, leaks, replication, and the views that must agree
//! with the summary. Each `semantics/NAME.expected.json` holds what the
//! script's workload did; `figures.rs` checks the common figures.

use serde_json::Value;

use crate::util::{fixture, ndjson, read_fixture, run, summary};

const NAMES: &[&str] = &["v15", "v15-rotated", "v18", "v18-rotated"];

fn expected(name: &str) -> Value {
    serde_json::from_slice(&read_fixture(&format!("semantics/{name}.expected.json"))).unwrap()
}

fn path(name: &str) -> String {
    fixture(&format!("semantics/{name}.log")).to_str().unwrap().to_string()
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn classes_probes_trust_and_replication() {
    for name in NAMES {
        let (got, want) = (summary(&[&path(name)]), expected(name));
        assert_eq!(got["failures_by_class"], want["failures_by_class"], "{name}: classes");
        // Probes: the lines of each kind, and the attempts with only
        // `connection received` (abandoned) beside them.
        let probes = &want["probes"];
        assert_eq!(
            n(&got["probes"]["total"]),
            n(&probes["total"]) + n(&want["abandoned"]),
            "{name}: probes {}",
            got["probes"]
        );
        for (kind, count) in probes["by_kind"].as_object().unwrap() {
            let got_kind = got["probes"]["by_kind"][kind].as_u64().unwrap_or(0);
            assert_eq!(got_kind, n(count), "{name}: probes of kind {kind}");
        }
        // Probes are not failures.
        assert_eq!(got["failures"], want["failures"], "{name}");
        assert_eq!(got["trust_inferred"], want["trust_inferred"], "{name}");
        assert_eq!(got["auth_methods"], want["auth_methods"], "{name}");
        for key in ["sessions", "physical", "logical"] {
            assert_eq!(got["replication"][key], want["replication"][key], "{name}: {key}");
        }
        // Replication sessions are not in the client peak.
        assert_eq!(got["peak"]["active"], want["peak"]["active"], "{name}: peak");
        assert!(got["peak"]["at"].is_string(), "{name}: the peak has a time");
    }
}

#[test]
fn every_failure_has_its_reason_and_names() {
    for name in NAMES {
        let want = expected(name);
        // The watch stream shows each failure once, in log order; a
        // DETAIL read after it amends it with its own event type.
        let events = ndjson(&["--watch", "--json", &path(name)]);
        let mut failures: Vec<Value> = Vec::new();
        for e in &events {
            match e["type"].as_str().unwrap() {
                "failure" => failures.push(e.clone()),
                "failure_amended" => {
                    let f = failures.iter_mut().rev().find(|f| f["pid"] == e["pid"]).unwrap();
                    assert_eq!(f["reason"], e["was"], "{name}: {e}");
                    f["reason"] = e["reason"].clone();
                    f["class"] = e["class"].clone();
                }
                _ => {}
            }
        }
        let detail = want["failures_detail"].as_array().unwrap();
        assert_eq!(failures.len(), detail.len(), "{name}: failure events");
        for (got, w) in failures.iter().zip(detail) {
            for key in ["reason", "class", "user", "database", "host"] {
                assert_eq!(got[key], w[key], "{name}: {key} of {got} (expected {w})");
            }
        }
    }
}

#[test]
fn startup_fatals_after_authorization_are_failures_not_sessions() {
    for name in ["v15", "v18"] {
        let got = summary(&[&path(name)]);
        let want = expected(name);
        // None of the sessions refused right after `connection authorized`
        // (a bad PGOPTIONS, no CONNECT privilege, ...) stays open.
        assert_eq!(got["active"], want["active"], "{name}");
        let sessions = ndjson(&["--sessions", "--json", &path(name)]);
        assert_eq!(sessions.len() as u64, n(&want["active"]), "{name}: {sessions:?}");
        for reason in ["startup_option", "no_connect_privilege", "database_not_accepting"] {
            assert_eq!(
                got["failures_by_reason"][reason], want["failures_by_reason"][reason],
                "{name}: {reason}"
            );
        }
        assert_eq!(got["abnormal_ends"], want["abnormal_ends"], "{name}");
    }
}

#[test]
fn brute_force_counts_guessing_only() {
    for name in NAMES {
        let (got, want) = (summary(&[&path(name)]), expected(name));
        let flagged: Vec<(String, u64, u64)> = got["brute_force"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h["host"].as_str().unwrap().into(), n(&h["failures"]), n(&h["roles"])))
            .collect();
        let wanted: Vec<(String, u64, u64)> = want["brute_force"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h["host"].as_str().unwrap().into(), n(&h["failures"]), n(&h["roles"])))
            .collect();
        // The burst of `too many clients` from 127.0.0.1 is not guessing.
        assert_eq!(flagged, wanted, "{name}");
    }
}

#[test]
fn leak_hints_do_not_depend_on_the_bucket() {
    for name in NAMES {
        let want = expected(name);
        let before = want["before_log"]["by_application"]["leaky"].as_u64().unwrap_or(0);
        let summary_leaks = summary(&[&path(name)])["leaks"].clone();
        let leaky = summary_leaks
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["dimension"] == "application" && l["name"] == "leaky")
            .unwrap_or_else(|| panic!("{name}: no leak hint for leaky in {summary_leaks}"));
        let w = &want["leaks"][0];
        // The sessions of the run that began inside this log.
        assert_eq!(n(&leaky["opened"]), n(&w["open_max"]) - before, "{name}: {leaky}");
        assert_eq!(leaky["ended_by"], w["ended_by"], "{name}");
        assert_eq!(leaky["open"], 0, "{name}");
        for bucket in ["10s", "1m", "15m", "1h"] {
            let hist = ndjson(&["--history", "--json", "--bucket", bucket, &path(name)]);
            let leaks: Vec<&Value> = hist.iter().filter(|e| e["type"] == "leak").collect();
            let mut as_summary: Vec<Value> = leaks
                .into_iter()
                .map(|l| {
                    let mut l = l.clone();
                    // The report's stamp is not the leak's.
                    for key in ["type", "report", "final", "generated_at"] {
                        l.as_object_mut().unwrap().remove(key);
                    }
                    l
                })
                .collect();
            as_summary.sort_by_key(|l| l.to_string());
            let mut want_leaks = summary_leaks.as_array().unwrap().clone();
            want_leaks.sort_by_key(|l| l.to_string());
            assert_eq!(as_summary, want_leaks, "{name} --bucket {bucket}");
            let total = hist.iter().find(|e| e["type"] == "history_total").unwrap();
            let buckets: Vec<&Value> = hist.iter().filter(|e| e["type"] == "bucket").collect();
            let sum = |k: &str| buckets.iter().map(|b| b[k].as_i64().unwrap()).sum::<i64>();
            for key in ["connections", "disconnections", "failures", "net"] {
                assert_eq!(total[key].as_i64().unwrap(), sum(key), "{name} {bucket}: {key}");
            }
        }
    }
}

#[test]
fn failures_view_breakdowns_add_up_and_probes_stand_apart() {
    for name in NAMES {
        let want = expected(name);
        let total = n(&want["failures"]);
        let objects = ndjson(&["--failures", "--json", &path(name)]);
        let reasons: u64 =
            objects.iter().filter(|o| o["type"] == "failure_reason").map(|o| n(&o["count"])).sum();
        assert_eq!(reasons, total, "{name}");
        for o in objects.iter().filter(|o| o["type"] == "failure_reason") {
            let samples = o["samples"].as_array().unwrap();
            assert!(!samples.is_empty(), "{name}: {o} has no sample");
            assert!(samples.len() as u64 <= n(&o["count"]).min(3), "{name}: {o}");
            assert!(o["first"].as_str() <= o["last"].as_str(), "{name}: {o}");
        }
        let by: Vec<&Value> = objects.iter().filter(|o| o["type"] == "failures_by").collect();
        let dims: Vec<&str> = by.iter().map(|o| o["dimension"].as_str().unwrap()).collect();
        assert_eq!(dims, ["database", "user", "application", "host"], "{name}");
        for o in by {
            let sum: u64 = o["rows"].as_array().unwrap().iter().map(|r| n(&r["failures"])).sum();
            assert_eq!(sum, total, "{name}: {o}");
        }
        let probes = objects.iter().find(|o| o["type"] == "probes").unwrap();
        assert_eq!(n(&probes["total"]), n(&want["probes"]["total"]) + n(&want["abandoned"]));
        let text = run(&["--failures", "--color", "never", &path(name)], None).expect(0).out();
        assert!(text.contains("Probes (not failures)"), "{name}: {text}");
        assert!(text.contains("FAILURES BY HOST"), "{name}: {text}");
    }
}

#[test]
fn watch_shows_each_session_and_failure_once() {
    for name in NAMES {
        let events = ndjson(&["--watch", "--json", &path(name)]);
        let got = summary(&[&path(name)]);
        let count = |t: &str| events.iter().filter(|e| e["type"] == t).count() as u64;
        assert_eq!(count("failure"), n(&got["failures"]), "{name}");
        // A [-] for every session that ends, and for nothing else.
        let without_line = events.iter().filter(|e| e["without_line"] == true).count() as u64;
        assert_eq!(count("disconnect") - without_line, n(&got["disconnections"]), "{name}");
        // Probes are events of their own, not failures.
        assert_eq!(
            count("probe"),
            got["probes"]["by_kind"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| *k != "abandoned")
                .map(|(_, v)| n(v))
                .sum::<u64>(),
            "{name}"
        );
    }
}

#[test]
fn sessions_without_pids_say_why_instead_of_none() {
    let log = fixture("stderr-nopid.log");
    let log = log.to_str().unwrap();
    let text = run(&["--sessions", "--color", "never", log], None).expect(0).out();
    assert!(text.contains("sessions cannot be listed: the log has no pid"), "{text}");
    assert!(!text.contains("0 open session"), "{text}");
    let objects = ndjson(&["--sessions", "--json", log]);
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert_eq!(objects[0]["type"], "sessions_unavailable");
    assert_eq!(objects[0]["active"], summary(&[log])["active"]);
}

/// The extended fixtures' two walsenders with their `replication
/// connection authorized` lines taken out: known from their disconnection
/// alone, as when they began before the log.
fn without_walsender_starts(name: &str) -> Vec<u8> {
    let text = String::from_utf8(read_fixture(name)).unwrap();
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        if !line.contains("replication connection authorized") {
            out.push_str(line);
        }
    }
    out.into_bytes()
}

#[test]
fn walsenders_known_from_their_end_are_replication_not_clients() {
    for (name, logical_known) in
        [("v15/extended.csv", true), ("v18/extended.json", true), ("v15/extended.log", false)]
    {
        let full = summary(&[fixture(name).to_str().unwrap()]);
        let data = without_walsender_starts(name);
        let cut = run(&["--json", "--top", "0"], Some(&data)).expect(0).json();
        let r = &cut["replication"];
        // The physical walsender's disconnection has an empty database=;
        // the logical one's record says backend_type walsender.
        assert_eq!(r["physical"], 1, "{name}: {r}");
        assert_eq!(r["logical"], u64::from(logical_known), "{name}: {r}");
        assert_eq!(r["began_before_log"], 1 + u64::from(logical_known), "{name}: {r}");
        let extra = u64::from(!logical_known);
        assert_eq!(n(&cut["disconnections"]), n(&full["disconnections"]) + extra, "{name}");
        assert_eq!(cut["peak"]["active"], full["peak"]["active"], "{name}");
    }
}

#[test]
fn before_12_the_disconnection_line_names_the_application() {
    let log = String::from_utf8(read_fixture("semantics/v11.log")).unwrap();
    // A PostgreSQL 11 log: `connection authorized` never names the
    // application.
    assert!(log.contains("connection authorized: user="));
    assert!(!log.contains("application_name="));
    let (got, want) = (summary(&[&path("v11")]), expected("v11"));
    assert_eq!(want["app_from_prefix"], true);
    let rows: Vec<(String, u64, i64)> = got["by_application"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().into(),
                n(&r["connections"]),
                r["active"].as_i64().unwrap(),
            )
        })
        .collect();
    let want_rows = want["by_application"].as_object().unwrap();
    assert_eq!(rows.len(), want_rows.len(), "{rows:?}");
    for (name, connections, active) in rows {
        let w = &want_rows[&name];
        assert_eq!(
            (connections, active),
            (n(&w["connections"]), w["active"].as_i64().unwrap()),
            "{name}"
        );
    }
}
