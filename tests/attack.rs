//! Bounded memory under attack: a million distinct source addresses, a
//! million distinct role names in failed logins, a million sessions that
//! never end. Peak memory stays under the bound README and `--help` state,
//! excess keys fold into `(other)`, and the output says so.
//!
//! These are volume tests of the tracker: the lines are generated (in the
//! shape a PostgreSQL 15 server writes them, default prefix `%m [%p] `).

use std::io::{Read, Write};

use crate::util::spawn_piped;

/// The bound stated in README and `--help`, MiB of peak resident memory.
const BOUND_MIB: u64 = 64;
const N: u32 = 1_000_000;

/// A log time: `i` tenths of a millisecond... one line per 0.1 ms.
fn stamp(out: &mut Vec<u8>, i: u32) {
    let ms = u64::from(i) / 10;
    let (s, ms) = (ms / 1000, ms % 1000);
    write!(out, "2026-01-01 {:02}:{:02}:{:02}.{ms:03} UTC", s / 3600 % 24, s / 60 % 60, s % 60)
        .unwrap();
}

/// Runs pgconn ARGS on the generated lines; (its JSON summary, peak RSS in
/// KiB from wait4).
#[expect(clippy::zombie_processes, reason = "wait4 reaps the child, for its own rusage")]
fn attack(
    args: &[&str],
    line: impl Fn(&mut Vec<u8>, u32) + Send + 'static,
) -> (serde_json::Value, u64) {
    let mut child = spawn_piped(args);
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let mut buf = Vec::with_capacity(1 << 20);
        for i in 0..N {
            line(&mut buf, i);
            if buf.len() > 1 << 20 {
                stdin.write_all(&buf).unwrap();
                buf.clear();
            }
        }
        stdin.write_all(&buf).unwrap();
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).unwrap();
        s
    });
    let mut out = Vec::new();
    stdout.read_to_end(&mut out).unwrap();
    writer.join().unwrap();
    let err = err_reader.join().unwrap();
    // wait4 rather than Child::wait: it gives this child's own peak RSS.
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pid is our child, not yet reaped; the pointers are valid.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4");
    assert!(!err.contains("panicked"), "{err}");
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "status {status}: {err}");
    let v: serde_json::Value = serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)));
    let rss_kib = usage.ru_maxrss as u64;
    eprintln!(
        "pgconn {args:?} on {N} generated events: peak RSS {:.1} MiB",
        rss_kib as f64 / 1024.0
    );
    (v, rss_kib)
}

fn names(v: &serde_json::Value, key: &str) -> Vec<String> {
    v[key].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn a_scan_from_a_million_addresses() {
    let (v, rss) = attack(&["--json", "--by", "host,user", "--top", "5"], |out, i| {
        let (pid, host) =
            (100_000 + i, format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255));
        stamp(out, i);
        writeln!(out, " [{pid}] LOG:  connection received: host={host} port={}", 1024 + i % 60000)
            .unwrap();
        stamp(out, i);
        writeln!(
            out,
            " [{pid}] FATAL:  no pg_hba.conf entry for host \"{host}\", user \"postgres\", database \"postgres\", no encryption"
        )
        .unwrap();
    });
    assert_eq!(v["failures"], u64::from(N));
    assert_eq!(v["connections"], 0);
    assert!(names(&v, "by_host").contains(&"(other)".to_owned()), "{}", v["by_host"]);
    assert_eq!(v["limits"]["folded"], serde_json::json!(["host"]), "{}", v["limits"]);
    assert!(rss < BOUND_MIB * 1024, "peak RSS {rss} KiB");
}

#[test]
fn a_million_role_names_in_failed_logins() {
    let (v, rss) = attack(&["--json", "--by", "user,host", "--top", "5"], |out, i| {
        let pid = 100_000 + i;
        stamp(out, i);
        writeln!(
            out,
            " [{pid}] LOG:  connection received: host=192.0.2.7 port={}",
            1024 + i % 60000
        )
        .unwrap();
        stamp(out, i);
        writeln!(out, " [{pid}] FATAL:  password authentication failed for user \"guess{i}\"")
            .unwrap();
        stamp(out, i);
        writeln!(out, " [{pid}] DETAIL:  Role \"guess{i}\" does not exist.").unwrap();
    });
    assert_eq!(v["failures"], u64::from(N));
    assert!(names(&v, "by_user").contains(&"(other)".to_owned()), "{}", v["by_user"]);
    assert_eq!(v["limits"]["folded"], serde_json::json!(["user"]), "{}", v["limits"]);
    // One host guessing: brute force, with the roles it tried counted up
    // to the bound.
    let bf = &v["brute_force"][0];
    assert_eq!(bf["host"], "192.0.2.7", "{}", v["brute_force"]);
    assert_eq!(bf["failures"], u64::from(N));
    assert!(rss < BOUND_MIB * 1024, "peak RSS {rss} KiB");
}

#[test]
fn a_million_sessions_that_never_end() {
    let (v, rss) = attack(&["--json"], |out, i| {
        let pid = 100_000 + i;
        stamp(out, i);
        writeln!(out, " [{pid}] LOG:  connection received: host=[local]").unwrap();
        stamp(out, i);
        writeln!(
            out,
            " [{pid}] LOG:  connection authorized: user=app database=db application_name=leak"
        )
        .unwrap();
    });
    assert_eq!(v["connections"], u64::from(N));
    let untracked = v["limits"]["untracked_sessions"].as_u64().unwrap();
    let limit = v["limits"]["sessions"].as_u64().unwrap();
    assert_eq!(untracked + limit, u64::from(N), "{}", v["limits"]);
    assert_eq!(v["active"], limit, "the tracked ones are open");
    assert!(rss < BOUND_MIB * 1024, "peak RSS {rss} KiB");
}
