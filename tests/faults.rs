//! Malformed structure and I/O faults: each is read, counted
//! and reported; nothing panics (util::run_with checks stderr for it).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::Duration;

use crate::util::{command, expect_quiet_exit, fixture, read_fixture, run, spawn_piped};

fn path(name: &str) -> String {
    fixture(name).to_string_lossy().into_owned()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pgconn-faults-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---------------------------------------------------------------------------
// malformed structure

#[test]
fn a_csv_record_whose_quote_never_closes_is_cut_and_counted() {
    let log = read_fixture("v15/extended.csv");
    let base = run(&["--json"], Some(&log)).expect(0).json();
    assert_eq!(base["input"]["skipped_lines"], 0);
    // A record cut inside its quoted message, in the middle of the log.
    let mid = log.len() / 2;
    let at = mid + log[mid..].iter().position(|&c| c == b'\n').unwrap() + 1;
    let mut data = log[..at].to_vec();
    data.extend_from_slice(
        b"2026-11-27 13:40:00.000 UTC,\"postgres\",\"postgres\",424242,\"[local]\",1.2,1,\"idle\",\
2026-11-27 13:40:00 UTC,3/0,0,LOG,00000,\"statement: select 'never closed\n",
    );
    data.extend_from_slice(&log[at..]);
    let v = run(&["--json"], Some(&data)).expect(0).json();
    assert_eq!(v["connections"], base["connections"]);
    assert_eq!(v["failures"], base["failures"]);
    assert_eq!(v["input"]["skipped_lines"], 1, "{}", v["input"]);
}

#[test]
fn a_truncated_jsonlog_line_is_counted_and_the_rest_read() {
    let log = read_fixture("v15/extended.json");
    let base = run(&["--json"], Some(&log)).expect(0).json();
    // Cut a disconnection record in half (a crash while writing it).
    let needle = b"\"message\":\"disconnection: session time:";
    let hit = log.windows(needle.len()).position(|w| w == needle).unwrap();
    let end = hit + log[hit..].iter().position(|&c| c == b'\n').unwrap();
    // Cut after the needle: a candidate line, then invalid JSON.
    let mut data = log[..hit + needle.len() + 3].to_vec();
    data.extend_from_slice(&log[end..]);
    let v = run(&["--json"], Some(&data)).expect(0).json();
    assert_eq!(v["connections"], base["connections"]);
    assert_eq!(
        v["disconnections"].as_u64().unwrap() + 1,
        base["disconnections"].as_u64().unwrap(),
        "the cut disconnection is lost, no more"
    );
    assert_eq!(v["unparsed"], 1, "{v}");
}

#[test]
fn timestamps_going_backwards_are_read() {
    // The second half of a log before its first half: time jumps back.
    let log = read_fixture("stderr-default.log");
    let mid = log.len() / 2;
    let at = mid + log[mid..].iter().position(|&c| c == b'\n').unwrap() + 1;
    let mut data = log[at..].to_vec();
    data.extend_from_slice(&log[..at]);
    let base = run(&["--json"], Some(&log)).expect(0).json();
    let v = run(&["--json"], Some(&data)).expect(0).json();
    assert_eq!(v["connections"], base["connections"]);
    assert_eq!(v["failures"], base["failures"]);
    assert_eq!(v["disconnections"], base["disconnections"]);
    // The history still has every connection, in buckets of the log's time.
    let h = run(&["--json", "--history", "--bucket", "1m"], Some(&data)).expect(0);
    let total: u64 = h
        .out()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|b| b["type"] == "bucket")
        .filter_map(|b| b["connections"].as_u64())
        .sum();
    assert_eq!(total, base["connections"].as_u64().unwrap(), "{}", h.out());
}

#[test]
fn two_servers_logs_concatenated_in_one_stream() {
    // Different log_line_prefix values, one after the other on stdin.
    let mut data = read_fixture("stderr-default.log");
    data.extend_from_slice(&read_fixture("stderr-rds.log"));
    let v = run(&["--json"], Some(&data)).expect(0).json();
    assert_eq!(v["connections"], 144, "{v}");
    assert_eq!(v["failures"], 20);
    assert_eq!(v["unparsed"], 0, "{}", v["input"]);
}

#[test]
fn a_line_of_hundreds_of_megabytes_is_cut_and_counted() {
    // 300 MB without a newline, streamed (never held whole by the test),
    // between two halves of a log.
    let log = read_fixture("stderr-default.log");
    let mid = log.len() / 2;
    let at = mid + log[mid..].iter().position(|&c| c == b'\n').unwrap() + 1;
    let mut child = spawn_piped(&["--json"]);
    let mut stdin = child.stdin.take().unwrap();
    let (head, tail) = (log[..at].to_vec(), log[at..].to_vec());
    let writer = std::thread::spawn(move || {
        stdin.write_all(&head).unwrap();
        let block = vec![b'y'; 1 << 20];
        for _ in 0..300 {
            stdin.write_all(&block).unwrap();
        }
        stdin.write_all(b"\n").unwrap();
        stdin.write_all(&tail).unwrap();
    });
    let v = summary_of(child);
    writer.join().unwrap();
    assert_eq!(v["connections"], 72);
    assert_eq!(v["input"]["long_lines"], 1);
    assert!(v["input"]["bytes"].as_u64().unwrap() > 300 << 20, "{}", v["input"]);
}

// ---------------------------------------------------------------------------
// I/O faults

#[test]
fn output_device_full_is_a_clear_error() {
    let Ok(full) = OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("skipped: no /dev/full");
        return;
    };
    for args in [&["--json"][..], &[][..], &["--watch"][..], &["--history"][..]] {
        let mut cmd = command();
        cmd.args(args).arg(path("stderr-default.log"));
        cmd.stdout(full.try_clone().unwrap()).stderr(Stdio::piped()).stdin(Stdio::null());
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("No space left on device"), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");
    }
}

#[test]
fn a_closed_pipe_after_some_output_exits_0_quietly() {
    // `pgconn --watch log | head -1`: the reader goes away mid-stream.
    let log = read_fixture("stderr-default.log");
    let mut data = Vec::new();
    for _ in 0..200 {
        data.extend_from_slice(&log);
    }
    let mut child = spawn_piped(&["--watch"]);
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.contains(" [*] ") || first.contains(" [+] "), "a watch line: {first}");
    // The BufReader (our end of the pipe) is dropped here.
    expect_quiet_exit(child, writer);
}

#[test]
fn a_read_error_among_several_inputs_is_reported_and_the_rest_read() {
    // A directory opens but cannot be read (EISDIR): a read error.
    let dir = temp_dir("readerr");
    let r = run(
        &["--json", &path("stderr-default.log"), dir.to_str().unwrap(), &path("stderr-rds.log")],
        None,
    )
    .expect(2);
    assert!(r.stderr.contains("Is a directory"), "{}", r.stderr);
    assert_eq!(r.json()["connections"], 144);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A log with a long hole of NUL bytes (a sparse file: no disk used) after
/// its lines, so that pgconn is still reading when the test acts.
fn log_with_hole(dir: &std::path::Path, hole: u64, tail: &[u8]) -> std::path::PathBuf {
    let p = dir.join("pg.log");
    let mut f = File::create(&p).unwrap();
    f.write_all(&read_fixture("stderr-default.log")).unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len + hole).unwrap();
    let mut f = OpenOptions::new().append(true).open(&p).unwrap();
    f.write_all(tail).unwrap();
    p
}

/// Waits until process `pid` has read more than `bytes` (its rchar in
/// /proc), so that the test acts while it is reading.
fn wait_until_read(pid: u32, bytes: u64) {
    for _ in 0..2000 {
        let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
        let rchar = io
            .lines()
            .find_map(|l| l.strip_prefix("rchar: "))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if rchar > bytes {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("pid {pid} did not read {bytes} bytes in 10 s");
}

/// The JSON summary of a child that must exit 0 without panicking.
fn summary_of(child: std::process::Child) -> serde_json::Value {
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_file_truncated_while_read_ends_there() {
    let dir = temp_dir("truncate");
    let p = log_with_hole(&dir, 8 << 30, b"\n");
    let child = spawn_piped(&["--json", p.to_str().unwrap()]);
    wait_until_read(child.id(), 64 << 20);
    // copytruncate-style rotation: the file is emptied under the reader.
    OpenOptions::new().write(true).open(&p).unwrap().set_len(0).unwrap();
    let v = summary_of(child);
    assert_eq!(v["connections"], 72);
    // It stopped at the truncation, not at the end of the 8 GiB.
    assert!(v["input"]["bytes"].as_u64().unwrap() < 8 << 30, "{}", v["input"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_deleted_while_read_is_read_to_its_end() {
    let dir = temp_dir("delete");
    let mut second = b"\n".to_vec();
    second.extend_from_slice(&read_fixture("stderr-default.log"));
    let p = log_with_hole(&dir, 1 << 30, &second);
    let mut child = spawn_piped(&["--json", p.to_str().unwrap()]);
    wait_until_read(child.id(), 64 << 20);
    std::fs::remove_file(&p).unwrap();
    assert!(child.try_wait().unwrap().is_none(), "deleted after pgconn finished: test nothing");
    let v = summary_of(child);
    // The open file stays readable: both copies of the log are counted.
    assert_eq!(v["connections"], 144, "{}", v["input"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
