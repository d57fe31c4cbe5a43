//! Client-controlled names with escape sequences, control characters,
//! great length and invalid UTF-8, as a real PostgreSQL 15 server logged
//! them (fixtures/hostile, made by fixtures/generate-hostile.sh): every
//! text output shows them escaped and cut, JSON carries them faithfully.

use serde_json::Value;

use crate::util::{fixture, run};

fn expected() -> Value {
    let text = std::fs::read_to_string(fixture("hostile/hostile.names.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The expected names of `key`, decoded as JSON shows them (invalid UTF-8
/// as U+FFFD).
fn names(exp: &Value, key: &str) -> Vec<String> {
    exp[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let h = h.as_str().unwrap();
            let bytes: Vec<u8> = (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .collect()
}

fn rows(v: &Value, key: &str) -> Vec<String> {
    v[key].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_owned()).collect()
}

const LOGS: &[&str] = &["hostile/hostile.log", "hostile/hostile.csv", "hostile/hostile.json"];

fn path(name: &str) -> String {
    fixture(name).to_string_lossy().into_owned()
}

#[test]
fn json_carries_the_names_faithfully() {
    let exp = expected();
    for log in LOGS {
        let v = run(&["--json", "--top", "0", &path(log)], None).expect(0).json();
        assert_eq!(v["connections"], exp["connections"], "{log}");
        assert_eq!(v["failures"], exp["failures"], "{log}");
        let users = rows(&v, "by_user");
        for u in names(&exp, "users").iter().chain(&names(&exp, "failed_users")) {
            assert!(users.contains(u), "{log}: user {u:?} not in {users:?}");
        }
        let dbs = rows(&v, "by_database");
        for d in names(&exp, "databases").iter().chain(&names(&exp, "failed_databases")) {
            assert!(dbs.contains(d), "{log}: database {d:?} not in {dbs:?}");
        }
        let apps = rows(&v, "by_application");
        for a in names(&exp, "applications") {
            assert!(apps.contains(&a), "{log}: application {a:?} not in {apps:?}");
        }
        // The server cut a name inside a UTF-8 character.
        assert!(v["input"]["invalid_utf8_lines"].as_u64().unwrap() >= 1, "{log}: {}", v["input"]);
        // Every other JSON output parses too.
        for mode in [&["--sessions"][..], &["--failures"], &["--history"], &["--watch"]] {
            let mut args = vec!["--json"];
            args.extend_from_slice(mode);
            let p = path(log);
            args.push(&p);
            let r = run(&args, None).expect(0);
            for line in r.out().lines() {
                serde_json::from_str::<Value>(line)
                    .unwrap_or_else(|e| panic!("{log} {mode:?}: {e}: {line}"));
            }
        }
    }
}

/// No byte that a terminal acts on: C0 controls but newline, DEL, C1
/// controls (as UTF-8), ESC above all.
fn assert_inert(what: &str, out: &[u8]) {
    let text = String::from_utf8(out.to_vec())
        .unwrap_or_else(|e| panic!("{what}: the output is not UTF-8: {e}"));
    for (i, c) in text.char_indices() {
        let bad = (c.is_control() && c != '\n') || ('\u{80}'..='\u{9f}').contains(&c);
        assert!(!bad, "{what}: raw {c:?} at byte {i}:\n{text}");
    }
}

#[test]
fn text_outputs_show_the_names_escaped_and_cut() {
    for log in LOGS {
        let p = path(log);
        let mut seen_escape = false;
        for mode in [
            &["--top", "0"][..],
            &["--top", "0", "--by", "db,user,app,host"],
            &["--sessions"],
            &["--failures"],
            &["--watch"],
            &["--history"],
        ] {
            let mut args = mode.to_vec();
            args.push(&p);
            let r = run(&args, None).expect(0);
            assert_inert(&format!("{log} {mode:?}"), &r.stdout);
            assert_inert(&format!("{log} {mode:?} (stderr)"), r.stderr.as_bytes());
            let text = r.out();
            seen_escape |= text.contains("\\x1b");
            // The 100-byte application_name (the server logs it whole) and
            // the 63-byte role name are cut.
            assert!(!text.contains(&"a".repeat(60)), "{log} {mode:?}: a long name uncut:\n{text}");
            assert!(!text.contains(&"l".repeat(60)), "{log} {mode:?}: a long name uncut:\n{text}");
        }
        assert!(seen_escape, "{log}: no escaped ESC anywhere");
    }
    // The default table: the role that clears the screen, escaped.
    let r = run(&["--top", "0", "--by", "user", &path("hostile/hostile.log")], None).expect(0);
    assert!(r.out().contains("evil\\x1b[2J\\x1b[Hclear"), "{}", r.out());
    let r = run(&["--watch", &path("hostile/hostile.log")], None).expect(0);
    assert!(r.out().contains("\\x1b]0;owned\\x07"), "{}", r.out());
    assert!(r.out().contains("shop\\rX"), "{}", r.out());
}
