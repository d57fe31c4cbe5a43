//! Live use on a pipe: events come out while the input is still open,
//! `--every` reports, and signals.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{fixture, read_fixture, run, spawn_piped};

/// pgconn on a pipe whose writing end the test holds.
struct Live {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Receiver<String>,
}

impl Live {
    /// `threads`: `--threads`' value.
    fn start(threads: &str, args: &[&str]) -> Live {
        let mut all = vec!["--threads", threads];
        all.extend_from_slice(args);
        let mut child = spawn_piped(&all);
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let (etx, stderr) = mpsc::channel();
        let mut err = child.stderr.take().unwrap();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 || etx.send(String::from_utf8_lossy(&buf[..n]).into_owned()).is_err() {
                    return;
                }
            }
        });
        Live { child, stdin, lines, stderr }
    }

    /// pgconn with a whole fixture written to its open input, given time
    /// to read it.
    fn fed(threads: &str, args: &[&str], fixture: &str) -> Live {
        let mut live = Live::start(threads, args);
        for l in lines_of(fixture) {
            live.write(&l);
        }
        thread::sleep(Duration::from_millis(300));
        live
    }

    fn write(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().expect("input still open");
        stdin.write_all(data).unwrap();
        stdin.flush().unwrap();
    }

    /// The next output line, within `secs` seconds.
    fn line(&self, secs: u64) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(secs))
            .unwrap_or_else(|_| panic!("no output line within {secs}s"))
    }

    /// Output lines until one satisfies `f`, within `secs` seconds.
    fn until(&self, secs: u64, f: impl Fn(&str) -> bool) -> Vec<String> {
        let end = Instant::now() + Duration::from_secs(secs);
        let mut seen = Vec::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let done = f(&l);
                    seen.push(l);
                    if done {
                        return seen;
                    }
                }
                Err(_) => panic!("nothing matched within {secs}s; saw {seen:?}"),
            }
        }
    }

    /// Standard error so far, waiting up to `secs` for `want` in it.
    fn stderr_until(&self, secs: u64, want: &str) -> String {
        let end = Instant::now() + Duration::from_secs(secs);
        let mut text = String::new();
        while !text.contains(want) {
            let left = end.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(s) => text.push_str(&s),
                Err(_) => panic!("no {want:?} on stderr within {secs}s; saw {text:?}"),
            }
        }
        text
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success(), "kill {sig}");
    }

    fn close_input(&mut self) {
        self.stdin.take();
    }

    fn wait(mut self) -> (i32, Vec<String>) {
        self.close_input();
        let status = self.child.wait().unwrap();
        let rest: Vec<String> = self.lines.iter().collect();
        (status.code().unwrap_or(-1), rest)
    }
}

/// Live runs are tried with parsing and tracking on one thread and on two.
const THREADS: [&str; 2] = ["1", "2"];

fn lines_of(name: &str) -> Vec<Vec<u8>> {
    read_fixture(name).split_inclusive(|&c| c == b'\n').map(<[u8]>::to_vec).collect()
}

#[test]
fn watch_events_come_out_while_the_input_is_open() {
    for threads in THREADS {
        let mut live = Live::start(threads, &["--watch", "--json"]);
        let lines = lines_of("stderr-default.log");
        // Write up to the first session's authorization, then wait.
        let first = lines
            .iter()
            .position(|l| String::from_utf8_lossy(l).contains("connection authorized"))
            .unwrap();
        for l in &lines[..=first] {
            live.write(l);
        }
        let seen = live.until(5, |l| l.contains("\"type\":\"connect\""));
        let connect: Value = serde_json::from_str(seen.last().unwrap()).unwrap();
        assert_eq!(connect["user"], "postgres");
        assert_eq!(connect["host"], "[local]");
        // One more line, one more event, input still open.
        let next = lines[first + 1..]
            .iter()
            .position(|l| String::from_utf8_lossy(l).contains("disconnection:"))
            .unwrap();
        for l in &lines[first + 1..=first + 1 + next] {
            live.write(l);
        }
        let seen = live.until(5, |l| l.contains("\"type\":\"disconnect\""));
        let disconnect: Value = serde_json::from_str(seen.last().unwrap()).unwrap();
        assert_eq!(disconnect["pid"], connect["pid"]);
        assert!(disconnect["session_seconds"].as_f64().unwrap() > 0.0);
        let (code, _) = live.wait();
        assert_eq!(code, 0);
    }
}

/// Sessions ended without their line (restart, crash, pid reuse), from
/// the summary's abnormal ends.
fn summary_ended_by_restart(path: &std::path::Path) -> u64 {
    let s = crate::util::summary(&[path.to_str().unwrap()]);
    ["server_restart", "crash", "pid_reused"]
        .iter()
        .filter_map(|k| s["abnormal_ends"][k].as_u64())
        .sum()
}

#[test]
fn watch_stream_agrees_with_the_summary() {
    for name in ["stderr-default.log", "stderr-nopid.log", "stderr-keyvalue.log"] {
        let path = fixture(name);
        let r = run(&["--watch", "--json", path.to_str().unwrap()], None).expect(0);
        let events: Vec<Value> =
            r.out().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let count = |f: &dyn Fn(&Value) -> bool| events.iter().filter(|e| f(e)).count() as u64;
        let connects = count(&|e| e["type"] == "connect");
        let taken_back = count(&|e| e["type"] == "failure" && e["after_authorization"] == true);
        // A DETAIL read after its failure was shown is an event of its
        // own type: `failure` counts each failure once.
        let failures = count(&|e| e["type"] == "failure");
        // Sessions a restart ended are shown too, marked: they have no
        // disconnection line.
        let disconnects = count(&|e| e["type"] == "disconnect" && e["without_line"].is_null());
        let restarted = count(&|e| e["type"] == "disconnect" && e["without_line"] == true);
        // Without pids the sessions a restart ended cannot be named: they
        // are counted in the summary only.
        let ended_by_restart =
            if name == "stderr-nopid.log" { 0 } else { summary_ended_by_restart(&path) };
        assert_eq!(restarted, ended_by_restart, "{name}: a [-] per session the restart ended");
        let summary = crate::util::summary(&[path.to_str().unwrap()]);
        assert_eq!(connects - taken_back, summary["connections"].as_u64().unwrap(), "{name}");
        assert_eq!(failures, summary["failures"].as_u64().unwrap(), "{name}");
        assert_eq!(disconnects, summary["disconnections"].as_u64().unwrap(), "{name}");
        // The password failure whose DETAIL says the role is missing is
        // shown with its final reason, or amended by a `failure_amended`.
        let amended = count(&|e| e["type"] == "failure_amended" && e["reason"] == "no_such_role");
        assert_eq!(
            count(&|e| e["type"] == "failure" && e["reason"] == "no_such_role") + amended,
            summary["failures_by_reason"]["no_such_role"].as_u64().unwrap(),
            "{name}"
        );
        assert!(r.stderr.contains("72 connections"), "{}", r.stderr);
    }
}

#[test]
fn watch_text_lines_and_filters() {
    let path = fixture("stderr-default.log");
    let r = run(&["--watch", "--color", "never", "--user", "carol", path.to_str().unwrap()], None)
        .expect(0);
    let out = r.out();
    let lines: Vec<&str> = out.lines().filter(|l| !l.contains("[*]")).collect();
    assert!(lines.iter().all(|l| l.contains("carol@")), "{out}");
    assert_eq!(lines.iter().filter(|l| l.contains(" [+] ")).count(), 3, "{out}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" [!] role_limit") && l.contains("refused after authorization")),
        "{out}"
    );
    assert!(lines.iter().any(|l| l.contains(" [-] carol@appdb") && l.contains("after ")), "{out}");
    let colored =
        run(&["--watch", "--color", "always", path.to_str().unwrap()], None).expect(0).out();
    assert!(
        colored.contains("\x1b[1;32m[+]\x1b[0m") || colored.contains("\x1b[32;1m[+]"),
        "green [+]"
    );
}

#[test]
fn every_reports_while_reading_then_at_the_end() {
    for threads in THREADS {
        let mut live = Live::start(threads, &["--every", "200ms", "--json"]);
        let lines = lines_of("stderr-default.log");
        for l in &lines[..40] {
            live.write(l);
        }
        let first: Value =
            serde_json::from_str(&live.until(5, |l| l.contains("\"connections\":"))[0]).unwrap();
        let second: Value = serde_json::from_str(&live.line(5)).unwrap();
        assert_eq!(first["type"], "summary");
        assert_eq!(second["connections"], first["connections"]);
        for l in &lines[40..] {
            live.write(l);
        }
        let (code, rest) = live.wait();
        assert_eq!(code, 0);
        let last: Value = serde_json::from_str(rest.last().unwrap()).unwrap();
        assert_eq!(last["connections"], 72);
    }
}

#[test]
fn sigint_prints_the_final_summary() {
    for threads in THREADS {
        let mut live = Live::fed(threads, &["--json"], "stderr-default.log");
        live.signal("-INT");
        let last: Value = serde_json::from_str(&live.line(5)).unwrap();
        assert_eq!(last["connections"], 72);
        let status = live.child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "SIGINT ends pgconn normally");
    }
}

#[test]
fn sigterm_prints_the_final_summary() {
    for threads in THREADS {
        let mut live = Live::fed(threads, &["--color", "never"], "stderr-debian.log");
        live.signal("-TERM");
        let out = live.until(5, |l| l.starts_with("Connections"));
        assert!(out.last().unwrap().contains("72"), "{out:?}");
        assert_eq!(live.child.wait().unwrap().code(), Some(0));
    }
}

#[test]
fn sigusr1_reports_to_stderr_and_sighup_resets() {
    for threads in THREADS {
        let mut live = Live::fed(threads, &["--json"], "stderr-default.log");
        live.signal("-USR1");
        let err = live.stderr_until(5, "\n");
        let snapshot: Value = serde_json::from_str(err.lines().next().unwrap()).unwrap();
        assert_eq!(snapshot["connections"], 72);
        live.signal("-HUP");
        live.stderr_until(5, "statistics reset");
        live.write(
            b"2030-01-01 00:00:00.000 UTC [99999] LOG:  connection authorized: user=zed database=zdb\n",
        );
        thread::sleep(Duration::from_millis(300));
        let (code, rest) = live.wait();
        assert_eq!(code, 0);
        let last: Value = serde_json::from_str(rest.last().unwrap()).unwrap();
        assert_eq!(last["connections"], 1, "only what came after the reset");
        assert_eq!(last["by_user"][0]["name"], "zed");
    }
}

#[test]
fn after_sighup_the_report_says_why_figures_are_lower_bounds() {
    let mut live = Live::fed("1", &["--color", "never"], "stderr-default.log");
    live.signal("-HUP");
    live.stderr_until(5, "statistics reset");
    live.write(
        b"2030-01-01 00:00:00.000 UTC [99999] LOG:  connection authorized: user=zed database=zdb\n",
    );
    thread::sleep(Duration::from_millis(300));
    let (code, rest) = live.wait();
    assert_eq!(code, 0);
    let text = rest.join("\n");
    // The log had a server start; the reset is why older sessions are
    // unseen.
    assert!(!text.contains("no server start"), "{text}");
    assert!(text.contains("reset (SIGHUP) are not seen"), "{text}");
}

#[test]
fn every_report_says_which_it_is() {
    for (mode, kind) in [(&[][..], "summary"), (&["--history"][..], "bucket")] {
        let args = [&["--every", "1s", "--json"][..], mode].concat();
        let live = Live::fed("2", &args, "stderr-default.log");
        let mut seen = live.until(8, |l| l.contains("\"report\":2,"));
        let (code, rest) = live.wait();
        assert_eq!(code, 0);
        seen.extend(rest);
        let objects: Vec<Value> = seen.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        let of_kind: Vec<&Value> = objects.iter().filter(|o| o["type"] == kind).collect();
        let numbers: Vec<u64> = of_kind.iter().map(|o| o["report"].as_u64().unwrap()).collect();
        // From 1, in order, each report's objects together; the last only
        // is final; every object has the wall clock.
        assert_eq!(numbers[0], 1, "{numbers:?}");
        assert!(numbers.windows(2).all(|w| w[1] == w[0] || w[1] == w[0] + 1), "{numbers:?}");
        let last = *numbers.last().unwrap();
        assert!(last >= 3, "{numbers:?}");
        for o in &objects {
            assert_eq!(o["final"], o["report"] == last, "{o}");
            let at = o["generated_at"].as_str().unwrap();
            assert!(at.len() == 24 && at.ends_with('Z') && &at[10..11] == "T", "{at}");
        }
    }
    // Text reports with --every: a line before each says the same.
    let live = Live::fed("2", &["--every", "1s", "--color", "never"], "stderr-default.log");
    live.until(8, |l| l.starts_with("--- report 2,"));
    let (code, rest) = live.wait();
    assert_eq!(code, 0);
    assert!(
        rest.iter().any(|l| l.starts_with("--- report ") && l.contains(", final, generated at ")),
        "{rest:?}"
    );
}

#[test]
fn idle_input_uses_no_cpu() {
    for threads in THREADS {
        let mut live = Live::start(threads, &["--watch"]);
        live.write(
            b"2030-01-01 00:00:00.000 UTC [1] LOG:  connection authorized: user=a database=b\n",
        );
        live.line(5);
        let ticks = |pid: u32| -> u64 {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
            let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
            fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
        };
        let before = ticks(live.child.id());
        thread::sleep(Duration::from_secs(1));
        let used = ticks(live.child.id()) - before;
        // Clock ticks are 10 ms: a busy loop would use ~100.
        assert!(used <= 2, "{used} ticks of CPU in a second of idle input");
        let (code, _) = live.wait();
        assert_eq!(code, 0);
    }
}

#[test]
fn watch_text_quotes_names_with_spaces_so_lines_split_cleanly() {
    let path = fixture("stderr-default.log");
    let out = run(&["--watch", "--color", "never", path.to_str().unwrap()], None).expect(0).out();
    assert!(out.contains("alice@\"sales db\"  app=billing"), "{out}");
    assert!(out.contains("app=\"my app\""), "{out}");
    // Split as a shell would (double quotes group): a connect line is
    // date, time, zone, [+], user@database, app=, host=, pid=.
    let split = |line: &str| -> Vec<String> {
        let (mut words, mut word, mut quoted) = (Vec::new(), String::new(), false);
        for c in line.chars() {
            match c {
                '"' => quoted = !quoted,
                ' ' if !quoted => {
                    if !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                }
                c => word.push(c),
            }
        }
        if !word.is_empty() {
            words.push(word);
        }
        words
    };
    let connects: Vec<&str> = out.lines().filter(|l| l.contains(" [+] ")).collect();
    assert!(connects.len() > 50);
    for line in connects {
        let words = split(line);
        assert_eq!(words.len(), 8, "{line}: {words:?}");
        assert!(words[5].starts_with("app=") && words[6].starts_with("host="), "{words:?}");
    }
}

#[test]
fn openmetrics_every_report_is_an_exposition_and_sighup_shows_as_a_reset() {
    let live = Live::fed("2", &["--openmetrics", "--every", "100ms"], "stderr-default.log");
    let value = |lines: &[String], name: &str| -> f64 {
        let l = lines.iter().rev().find(|l| l.starts_with(&format!("{name} "))).unwrap();
        l.rsplit_once(' ').unwrap().1.parse().unwrap()
    };
    let first = live.until(5, |l| l == "# EOF");
    assert_eq!(value(&first, "pgconn_connections_total"), 72.0);
    assert_eq!(value(&first, "pgconn_statistics_resets_total"), 0.0);
    live.signal("-HUP");
    live.stderr_until(5, "statistics reset");
    // The next full exposition after the reset: counters back to zero,
    // the reset counted.
    let after = loop {
        let report = live.until(5, |l| l == "# EOF");
        if value(&report, "pgconn_statistics_resets_total") == 1.0 {
            break report;
        }
    };
    assert_eq!(value(&after, "pgconn_connections_total"), 0.0);
    assert_eq!(after.iter().filter(|l| l.starts_with("# EOF")).count(), 1);
    let (code, rest) = live.wait();
    assert_eq!(code, 1, "no connection event since the reset");
    assert_eq!(rest.last().map(String::as_str), Some("# EOF"), "the final report");
}
