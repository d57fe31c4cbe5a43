//! Time order: several files read in log-time order whatever order they
//! are given in (a rotated set, compressed pieces among them), a log whose
//! lines run newest first read oldest first, a warning where time goes
//! back in a way pgconn cannot repair (overlapping logs in one stream),
//! and one stream of two formats read as each part is.
//! The log is mostly the history fixture (~100 s of a workload, sessions
//! of up to 41 s), cut here into the pieces a log rotation would have
//! left.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{fixture, read_fixture, run};

const LOG: &str = "history/history.log";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pgconn-order-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The lines of `log` from line `from` (1-based) up to `to` (excluded).
fn lines(log: &[u8], from: usize, to: usize) -> Vec<u8> {
    log.split_inclusive(|&c| c == b'\n').skip(from - 1).take(to - from).flatten().copied().collect()
}

/// The history log rotated twice: `main.log.2` the oldest, `main.log.1`
/// (gzip-compressed) the middle, `main.log` the newest; paths as a shell
/// glob gives them, newest first. Cut so that sessions span both
/// rotations: alice's of pid 23111 begins in main.log.2 and ends in
/// main.log.1, carol's of pid 27707 begins in main.log.1 and ends in
/// main.log.
fn rotated(dir: &Path) -> Vec<String> {
    use std::io::Write;
    let log = read_fixture(LOG);
    let n = log.split_inclusive(|&c| c == b'\n').count();
    let pieces = [lines(&log, 124, n + 1), lines(&log, 12, 124), lines(&log, 1, 12)];
    let spans = |piece: &[u8], what: &str| String::from_utf8_lossy(piece).contains(what);
    assert!(spans(&pieces[2], "[23111] LOG:  connection authorized"));
    assert!(spans(&pieces[1], "[23111] LOG:  disconnection"));
    assert!(spans(&pieces[1], "[27707] LOG:  connection authorized"));
    assert!(spans(&pieces[0], "[27707] LOG:  disconnection"));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&pieces[1]).unwrap();
    let files = [("main.log", pieces[0].clone()), ("main.log.1.gz", gz.finish().unwrap())];
    let files = [files[0].clone(), files[1].clone(), ("main.log.2", pieces[2].clone())];
    files
        .iter()
        .map(|(name, data)| {
            let path = dir.join(name);
            std::fs::write(&path, data).unwrap();
            path.to_str().unwrap().to_string()
        })
        .collect()
}

/// `pgconn ARGS`: its NDJSON output, and standard error.
fn ndjson(args: &[&str], stdin: Option<&[u8]>) -> (Vec<Value>, String) {
    let r = run(args, stdin).expect(0);
    (r.out().lines().map(|l| serde_json::from_str(l).unwrap()).collect(), r.stderr)
}

/// The figures of a summary, and the history of `--bucket 10s`, that do not
/// depend on what the inputs were called.
fn figures(inputs: &[&str], stdin: Option<&[u8]>) -> (Value, Vec<Value>, String) {
    let summary = [&["--json", "--top", "0"], inputs].concat();
    let (mut s, stderr) = ndjson(&summary, stdin);
    let mut s = s.remove(0);
    s["input"] = Value::Null;
    let history = [&["--history", "--bucket", "10s", "--json"], inputs].concat();
    let (buckets, _) = ndjson(&history, stdin);
    let buckets = buckets.into_iter().filter(|o| o["type"] == "bucket").collect();
    (s, buckets, stderr)
}

#[test]
fn a_rotated_set_given_newest_first_reads_as_the_whole_log() {
    let whole = fixture(LOG);
    let want = figures(&[whole.to_str().unwrap()], None);
    assert!(want.0["connections"].as_u64().unwrap() >= 20, "{}", want.0);
    assert_eq!(want.1.len(), 8, "{:?}", want.1);
    let dir = temp_dir("rotated");
    let files = rotated(&dir);
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    // As a glob gives them, and shuffled.
    for given in [files.clone(), vec![files[1], files[2], files[0]]] {
        let got = figures(&given, None);
        assert_eq!(got.0, want.0, "{given:?}");
        assert_eq!(got.1, want.1, "{given:?}: history");
        assert_eq!(got.0["session_seconds"]["count"], want.0["session_seconds"]["count"]);
    }
    // The order read is in the report: oldest first, with each file's times.
    let s = crate::util::summary(&files);
    let read = read_order(&s);
    assert_eq!(read, [files[2], files[1], files[0]], "{s}");
    assert_eq!(s["input"]["reordered"], true);
    let first = &s["input"]["files"][0];
    assert_eq!(first["first"], "2026-11-27T14:16:52.020+00:00", "{s}");
    assert_eq!(first["newest_first"], false);
    let text = run(&["--color", "never", files[0], files[1], files[2]], None).expect(0).out();
    let said = format!("read in log-time order: {}, {}, {}", files[2], files[1], files[0]);
    assert!(text.contains(&said), "{text}");
    // Given in log-time order, nothing is said.
    let s = crate::util::summary(&[files[2], files[1], files[0]]);
    assert_eq!(s["input"]["reordered"], false, "{s}");
    let text = run(&["--color", "never", files[2], files[1], files[0]], None).expect(0).out();
    assert!(!text.contains("log-time order"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn files_without_a_time_keep_their_places() {
    let dir = temp_dir("untimed");
    let files = rotated(&dir);
    let empty = dir.join("empty.log");
    std::fs::write(&empty, "").unwrap();
    let missing = dir.join("missing.log");
    let (empty, missing) = (empty.to_str().unwrap(), missing.to_str().unwrap());
    let given = [empty, files[0].as_str(), missing, files[1].as_str(), files[2].as_str()];
    let r = run(&[&["--json"], &given[..]].concat(), None).expect(2);
    let s = r.json();
    let read = read_order(&s);
    assert_eq!(read, [empty, files[2].as_str(), missing, files[1].as_str(), files[0].as_str()]);
    assert!(r.stderr.contains("missing.log"), "{}", r.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_log_whose_lines_run_newest_first_reads_as_the_log() {
    let log = read_fixture(LOG);
    let want = figures(&[], Some(&log));
    let mut reversed = Vec::new();
    for line in log.split_inclusive(|&c| c == b'\n').rev() {
        reversed.extend_from_slice(line);
    }
    let got = figures(&[], Some(&reversed));
    assert_eq!(got.0, want.0);
    assert_eq!(got.1, want.1, "history");
    for threads in ["1", "2"] {
        let s = run(&["--json", "--threads", threads], Some(&reversed)).expect(0).json();
        assert_eq!(s["input"]["files"][0]["newest_first"], true, "{s}");
        assert_eq!(s["input"]["files"][0]["first"], "2026-11-27T14:16:52.020+00:00", "{s}");
    }
    let text = run(&["--color", "never"], Some(&reversed)).expect(0).out();
    assert!(text.contains("newest line first, read oldest first: <stdin>"), "{text}");
}

/// The standard error of a run that warns of time going back.
fn went_back(stderr: &str) -> bool {
    stderr.contains("warning: time went back")
}

#[test]
fn overlapping_logs_in_one_stream_warn_that_time_went_back() {
    let log = read_fixture(LOG);
    // The same log twice: at the second's start, back from 14:18:02.020 to
    // 14:16:52.020.
    let twice = log.repeat(2);
    let r = run(&["--json"], Some(&twice)).expect(0);
    let back = &r.json()["input"]["time_went_back"];
    assert_eq!(back["count"], 1, "{back}");
    assert_eq!(back["max_seconds"], 70.0, "{back}");
    assert_eq!(back["first_at"], "2026-11-27T14:16:52.020+00:00", "{back}");
    assert_eq!(back["first_from"], "2026-11-27T14:18:02.020+00:00", "{back}");
    assert_eq!(back["first_input"], "<stdin>", "{back}");
    let warning = "pgconn: warning: time went back once in the input, by up to 1m10s (first in \
                   <stdin>, from 2026-11-27 14:18:02 UTC to 2026-11-27 14:16:52 UTC)";
    assert!(r.stderr.starts_with(warning), "{}", r.stderr);
    assert!(r.stderr.contains("are unreliable"), "{}", r.stderr);
    let r = run(&["--color", "never"], Some(&twice)).expect(0);
    assert!(r.out().contains("warning: time went back once"), "{}", r.out());
    assert!(went_back(&r.stderr), "{}", r.stderr);
    // Two files that cover the same time: read one after the other, the
    // second goes back.
    let path = fixture(LOG);
    let path = path.to_str().unwrap();
    let r = run(&["--json", path, path], None).expect(0);
    assert_eq!(r.json()["input"]["time_went_back"]["count"], 1);
    assert!(went_back(&r.stderr), "{}", r.stderr);
}

#[test]
fn ordered_logs_do_not_warn() {
    // Real logs: lines of several backends a millisecond out of order
    // (v17), a server restarted, the envelopes' times, a rotated set given
    // newest first, a log read backwards.
    let mut inputs: Vec<Vec<String>> = [
        LOG,
        "stderr-default.log",
        "v17/extended.log",
        "v17/extended.json",
        "v18/extended.csv",
        "syslog/syslog.log",
        "envelopes/azure-notime.json",
        "envelopes/docker.log",
    ]
    .iter()
    .map(|f| vec![fixture(f).to_str().unwrap().to_string()])
    .collect();
    let dir = temp_dir("ordered");
    inputs.push(rotated(&dir));
    for input in &inputs {
        let args: Vec<&str> = input.iter().map(String::as_str).collect();
        let r = run(&[&["--json"], &args[..]].concat(), None).expect(0);
        assert_eq!(r.json()["input"]["time_went_back"], Value::Null, "{input:?}");
        assert!(!went_back(&r.stderr), "{input:?}: {}", r.stderr);
    }
    let mut reversed = Vec::new();
    for line in read_fixture(LOG).split_inclusive(|&c| c == b'\n').rev() {
        reversed.extend_from_slice(line);
    }
    let r = run(&["--json"], Some(&reversed)).expect(0);
    assert_eq!(r.json()["input"]["time_went_back"], Value::Null);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_clock_set_back_while_the_server_was_down_is_not_going_back() {
    // v15/extended.log has a restart (immediate shutdown, new server):
    // its second server written an hour earlier, as if the clock had
    // been set back while the server was down.
    let log = String::from_utf8(read_fixture("v15/extended.log")).unwrap();
    let start = log.find("LOG:  starting PostgreSQL").unwrap();
    let restart = start + log[start + 1..].find("LOG:  starting PostgreSQL").unwrap() + 1;
    let restart = log[..restart].rfind('\n').unwrap() + 1;
    let earlier = |line: &str| line.replacen("2026-11-27 14:", "2026-11-27 13:", 1);
    let shifted: String = log[..restart].to_string()
        + &log[restart..].split_inclusive('\n').map(earlier).collect::<String>();
    assert_ne!(shifted, log);
    let r = run(&["--json"], Some(shifted.as_bytes())).expect(0);
    assert_eq!(r.json()["input"]["time_went_back"], Value::Null, "{}", r.stderr);
    assert!(!went_back(&r.stderr), "{}", r.stderr);
    // The same step at a session's line is going back.
    let at = log[restart..].find("connection received").unwrap() + restart;
    let at = log[..at].rfind('\n').unwrap() + 1;
    let shifted: String =
        log[..at].to_string() + &log[at..].split_inclusive('\n').map(earlier).collect::<String>();
    let r = run(&["--json"], Some(shifted.as_bytes())).expect(0);
    assert_eq!(r.json()["input"]["time_went_back"]["count"], 1, "{}", r.stderr);
}

#[test]
fn one_stream_of_two_formats_gives_the_sum_of_their_figures() {
    // The same server's stderr, csvlog and jsonlog output, one after the
    // other in one stream: each part's figures, added up.
    let summary = |data: &[u8]| run(&["--json", "--top", "0"], Some(data)).expect(0);
    for (a, b) in [("log", "csv"), ("csv", "log"), ("log", "json"), ("json", "csv")] {
        let (a, b) = (format!("v15/extended.{a}"), format!("v15/extended.{b}"));
        let (one, two) = (summary(&read_fixture(&a)).json(), summary(&read_fixture(&b)).json());
        let r = summary(&[read_fixture(&a), read_fixture(&b)].concat());
        let got = r.json();
        let case = format!("{a} + {b}");
        let sum = |key: &str| {
            let n = |v: &Value| key.split('.').fold(v, |v, k| &v[k]).as_u64().unwrap();
            assert!(n(&one) > 0 || key == "abandoned", "{case}: no {key}");
            (n(&got), n(&one) + n(&two))
        };
        for key in
            ["connections", "disconnections", "failures", "abandoned", "session_seconds.count"]
        {
            let (got, want) = sum(key);
            assert_eq!(got, want, "{case}: {key}");
        }
        for reason in one["failures_by_reason"].as_object().unwrap().keys() {
            let (got, want) = sum(&format!("failures_by_reason.{reason}"));
            assert_eq!(got, want, "{case}: {reason}");
        }
        let formats = [&one["input"]["formats"][0], &two["input"]["formats"][0]];
        assert_eq!(got["input"]["formats"], serde_json::json!(formats), "{case}");
        assert_eq!(got["unparsed"], 0, "{case}");
        // The second part goes back to the first one's start (the same
        // server's times), as `cat` of two logs that overlap would.
        assert!(went_back(&r.stderr), "{case}: {}", r.stderr);
    }
}

#[test]
fn pipes_given_as_files_are_read_once_in_their_places() {
    // `pgconn <(zcat a.gz) <(cat b.log)`: a FIFO cannot be read twice, so
    // it is not read ahead for its time; both are read whole, in order.
    let dir = temp_dir("fifos");
    let log = read_fixture(LOG);
    let n = log.split_inclusive(|&c| c == b'\n').count();
    let pieces = [lines(&log, 1, 60), lines(&log, 60, n + 1)];
    let mut paths = Vec::new();
    let mut writers = Vec::new();
    for (i, piece) in pieces.into_iter().enumerate() {
        let fifo = dir.join(format!("piece{i}"));
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        paths.push(fifo.to_str().unwrap().to_string());
        writers.push(std::thread::spawn(move || {
            use std::io::Write;
            let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            let _ = w.write_all(&piece);
        }));
    }
    let mut child = crate::util::command()
        .args(["--json", "--top", "0", &paths[0], &paths[1]])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            // A writer still waiting for a reader is let go (opened
            // without waiting for one); the others are done.
            use std::os::unix::fs::OpenOptionsExt;
            for p in &paths {
                let mut open = std::fs::OpenOptions::new();
                let _ = open.read(true).custom_flags(libc::O_NONBLOCK).open(p);
            }
            panic!("pgconn did not finish reading two FIFOs");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let mut got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["input"]["reordered"], false);
    got["input"] = Value::Null;
    let (want, _, _) = figures(&[fixture(LOG).to_str().unwrap()], None);
    assert_eq!(got, want);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The names of the inputs in the order read (`input.files`).
fn read_order(s: &serde_json::Value) -> Vec<&str> {
    s["input"]["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect()
}
