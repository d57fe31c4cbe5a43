//! The fail2ban filter and jail of contrib/fail2ban, read by the real
//! fail2ban (`fail2ban-regex`, `fail2ban-client`; checked when fail2ban is
//! installed: `.ci/run` installs it and sets PGCONN_REQUIRE_FAIL2BAN).
//!
//! On the `--watch` output of the semantics fixtures (real logs with a
//! brute force and many failures of other kinds) the filter must match
//! every guessing failure with its host, and nothing else. The figures come
//! from the fixtures' expected files, which the generator wrote from what
//! its workload did, and from pgconn's own brute-force view. That the
//! filter lists the reasons of `Reason::is_guessing` is a unit test in
//! src/event.rs.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{fixture, read_fixture, run, spawn_piped, summary};

const FILTER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/fail2ban/filter.d/pgconn.conf");
const JAIL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/fail2ban/jail.d/pgconn.conf");

/// Whether fail2ban is installed; when it is not (and not required), the
/// test is skipped and says so.
fn fail2ban() -> bool {
    let found =
        Command::new("fail2ban-regex").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("PGCONN_REQUIRE_FAIL2BAN").is_none(), "fail2ban is required");
        eprintln!("SKIPPED fail2ban test: fail2ban-regex not installed");
    }
    found
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pgconn-fail2ban-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn expected(name: &str) -> Value {
    serde_json::from_slice(&read_fixture(&format!("semantics/{name}.expected.json"))).unwrap()
}

/// Password guessing as the README defines it (`Reason::is_guessing`):
/// a wrong or unusable credential for a role, missing or not, certificates
/// included, and PAM, LDAP and RADIUS.
const GUESSING: &[&str] = &[
    "password",
    "no_such_role",
    "password_expired",
    "no_password",
    "no_scram_secret",
    "password_format",
    "cert_missing",
    "cert_mismatch",
    "cert_unverified",
    "pam",
    "ldap",
    "radius",
];

/// `fail2ban-regex` with the filter on `watch`, pgconn's output: the
/// address fail2ban took from each line it matched, and the line.
fn matches(name: &str, watch: &str) -> Vec<(String, String)> {
    // A file of its own: tests run at once check the same fixture.
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let log = temp(&format!("{name}.{}.watch", CALLS.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&log, watch).unwrap();
    let out = Command::new("fail2ban-regex")
        .args(["-o", "<ip>\t<msg>"])
        .arg(&log)
        .arg(FILTER)
        .output()
        .expect("run fail2ban-regex");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "fail2ban-regex on {name}: {stderr}");
    assert!(!stderr.contains("ERROR"), "fail2ban-regex on {name}: {stderr}");
    let _ = std::fs::remove_file(&log);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (ip, line) = l.split_once('\t').unwrap_or_else(|| panic!("{name}: {l:?}"));
            (ip.to_string(), line.to_string())
        })
        .collect()
}

/// A failure line's reason and host field: `... [!] REASON  NAMES
/// host=HOST[:PORT]  pid=N ...`. The host field is the last one (names come
/// before it). None for other lines, and for an amendment (no host).
fn failure(line: &str) -> Option<(&str, &str)> {
    let (_, rest) = line.split_once(" [!] ")?;
    let reason = rest.split(' ').next()?;
    let (_, host) = rest.rsplit_once("  host=")?;
    Some((reason, host.split("  ").next()?))
}

/// The address in a host field: `10.0.0.5:5432`, `[::1]:5432`, `::1`.
fn address(host: &str) -> &str {
    if let Some(inner) = host.strip_prefix('[') {
        return inner.split(']').next().unwrap();
    }
    match host.split_once(':') {
        Some((a, port)) if !port.contains(':') => a,
        _ => host,
    }
}

/// What the filter matched in `watch`, the `--watch` output of fixture
/// `name`, against what the workload did.
fn check(name: &str, watch: &str) {
    let want = expected(name);
    let is_guessing = |r: &str| GUESSING.contains(&r);

    // The workload's guessing failures from an address, by address; over
    // a Unix socket there is nothing to ban.
    let mut wanted: BTreeMap<String, u64> = BTreeMap::new();
    let mut local = 0;
    for f in want["failures_detail"].as_array().unwrap() {
        let (reason, host) = (f["reason"].as_str().unwrap(), f["host"].as_str().unwrap());
        match (is_guessing(reason), host) {
            (false, _) => {}
            (true, "[local]") => local += 1,
            (true, h) => *wanted.entry(h.to_string()).or_default() += 1,
        }
    }
    let by_reason: u64 =
        GUESSING.iter().map(|r| want["failures_by_reason"][r].as_u64().unwrap_or(0)).sum();
    assert_eq!(by_reason, wanted.values().sum::<u64>() + local, "{name}: expected file");

    let mut matched: BTreeMap<String, u64> = BTreeMap::new();
    for (ip, line) in matches(name, watch) {
        let (reason, host) = failure(&line)
            .unwrap_or_else(|| panic!("{name}: matched a line of no failure: {line}"));
        assert!(is_guessing(reason), "{name}: matched a {reason} failure: {line}");
        assert_eq!(ip, address(host), "{name}: the wrong address from {line}");
        *matched.entry(ip).or_default() += 1;
    }
    assert_eq!(matched, wanted, "{name}: guessing failures by address");
    // pgconn's own brute-force view, with a rule that flags every host.
    let path = fixture(&format!("semantics/{name}.log"));
    let view = summary(&["--brute-force", "1/1d", path.to_str().unwrap()]);
    let flagged: BTreeMap<String, u64> = view["brute_force"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["host"].as_str().unwrap().to_string(), b["failures"].as_u64().unwrap()))
        .filter(|(h, _)| h != "[local]")
        .collect();
    assert_eq!(matched, flagged, "{name}: pgconn --brute-force 1/1d");
    // The brute force the workload ran: every attempt.
    for b in want["brute_force"].as_array().unwrap() {
        let host = b["host"].as_str().unwrap();
        assert_eq!(matched.get(host).copied(), b["failures"].as_u64(), "{name}: brute force");
    }
    // Not vacuous: failures of other reasons from an address were there.
    let others = watch
        .lines()
        .filter_map(failure)
        .filter(|&(r, h)| !is_guessing(r) && address(h) != "[local]")
        .count();
    assert!(others >= 10, "{name}: {others} other failures from an address");
}

#[test]
fn the_filter_matches_every_guessing_failure_with_its_host_and_nothing_else() {
    if !fail2ban() {
        return;
    }
    for name in ["v15", "v18"] {
        // As the jail's pipeline runs it: no --color, not to a terminal.
        let path = fixture(&format!("semantics/{name}.log"));
        let out = run(&["--watch", path.to_str().unwrap()], None).expect(0).out();
        assert!(!out.contains('\x1b'), "{name}: colour off a terminal");
        // A brute force from ::1, with ports of 5 digits: bracketed.
        assert!(out.contains("host=[::1]:"), "{name}");
        check(name, &out);
    }
}

/// A DETAIL read after its failure was shown amends it in a line of its
/// own, with no host: the attempt is matched once, in its first line.
#[test]
fn an_amended_failure_is_matched_once() {
    if !fail2ban() {
        return;
    }
    let log = read_fixture("semantics/v15.log");
    // Up to the FATAL of pid 32635 (`admin`, a missing role); its DETAIL
    // is written once the failure is out.
    let detail = b"[32635] admin@appdb/[unknown] DETAIL:";
    let at = log.windows(detail.len()).position(|w| w == detail).expect("the DETAIL line");
    let cut = log[..at].iter().rposition(|&c| c == b'\n').unwrap() + 1;

    let mut child = spawn_piped(&["--watch"]);
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    stdin.write_all(&log[..cut]).unwrap();
    stdin.flush().unwrap();
    let end = Instant::now() + Duration::from_secs(30);
    let mut lines: Vec<String> = Vec::new();
    while !lines.last().is_some_and(|l| l.contains("[!] password  admin@appdb")) {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => lines.push(l),
            Err(_) => panic!("the failure of pid 32635 was not shown; saw {lines:?}"),
        }
    }
    stdin.write_all(&log[cut..]).unwrap();
    drop(stdin);
    lines.extend(rx.iter());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

    let watch = lines.join("\n") + "\n";
    let amended = "[!] no_such_role  pid=32635  (the password failure above, on a closer look)";
    assert!(watch.contains(amended), "{watch}");
    check("v15", &watch);
}

/// Names the client chooses cannot get another address banned: quoted, or
/// before the real host field, which the filter reads from the end.
#[test]
fn a_hostile_name_cannot_get_another_address_banned() {
    if !fail2ban() {
        return;
    }
    const PREFIX: &str = "%m [%p] %q%u@%d/%a ";
    let attempts: &[(u32, &str, &str, &str)] = &[
        (50001, "203.0.113.7 port=40001", "x host=6.6.6.6", "appdb"),
        (50002, "203.0.113.7 port=40002", "x\"  host=6.6.6.6  pid=1", "appdb  host=6.6.6.6  pid=2"),
        // A line separator (U+2028) is written raw; fail2ban does not
        // split lines on it.
        (
            50003,
            "203.0.113.7 port=40003",
            "\u{2028}2026-12-07 03:14:09 [!] pam  ",
            "\"  host=6.6.6.6\u{2028}",
        ),
        // A port of 4 digits: `2001:db8::7:5432` would read as one address.
        (50004, "2001:db8::7 port=5432", "alice", "appdb"),
        // No address to ban: not the one in the name either.
        (50005, "[local]", "x  host=6.6.6.6  pid=5", "appdb  host=6.6.6.6"),
    ];
    let mut log = String::new();
    for &(pid, from, user, db) in attempts {
        let t = "2026-12-07 03:20:01";
        log += &format!(
            "{t}.100 UTC [{pid}] [unknown]@[unknown]/[unknown] LOG:  connection received: host={from}\n\
             {t}.110 UTC [{pid}] {user}@{db}/[unknown] FATAL:  password authentication failed for user \"{user}\"\n"
        );
    }
    // Trust authorized a role that does not exist, then refused it (as in
    // hostile.log below, but over TCP): a guess all the same.
    log += "2026-12-07 03:20:02.100 UTC [50006] [unknown]@[unknown]/[unknown] LOG:  connection received: host=203.0.113.8 port=40006\n\
            2026-12-07 03:20:02.110 UTC [50006] ghost@appdb/[unknown] LOG:  connection authorized: user=ghost database=appdb application_name=psql\n\
            2026-12-07 03:20:02.110 UTC [50006] ghost@appdb/psql FATAL:  role \"ghost\" does not exist\n";
    let out = run(&["--watch", "--prefix", PREFIX], Some(log.as_bytes())).expect(0).out();
    assert!(out.contains("host=[2001:db8::7]:5432"), "{out}");
    assert_eq!(out.lines().filter(|l| l.contains(" [!] password  ")).count(), 5, "{out}");
    assert!(out.contains("203.0.113.8:40006  pid=50006  (refused after authorization"), "{out}");
    let got: Vec<String> = matches("hostile", &out).into_iter().map(|(ip, _)| ip).collect();
    let want = ["203.0.113.7", "203.0.113.7", "203.0.113.7", "2001:db8::7", "203.0.113.8"];
    assert_eq!(got, want, "{out}");

    // Over a Unix socket: no address, nothing matched (a real server's
    // log: roles that do not exist, refused after trust authorized them).
    let path = fixture("hostile/hostile.log");
    let out = run(&["--watch", path.to_str().unwrap()], None).expect(0).out();
    let local =
        out.lines().filter(|l| l.contains("[!] no_such_role") && l.contains("host=[local]"));
    assert_eq!(local.count(), 3, "{out}");
    assert_eq!(matches("local", &out), [], "{out}");
}

/// `fail2ban-client -t` on a copy of /etc/fail2ban with only the jail
/// (the packaged jails may want logs this machine does not have).
#[test]
fn the_jail_passes_fail2ban_client_test() {
    if !fail2ban() {
        return;
    }
    let dir = temp("etc");
    let _ = std::fs::remove_dir_all(&dir);
    let ok = Command::new("cp").arg("-r").arg("/etc/fail2ban").arg(&dir).status().unwrap();
    assert!(ok.success(), "copy /etc/fail2ban");
    let _ = std::fs::remove_dir_all(dir.join("jail.d"));
    let _ = std::fs::remove_file(dir.join("jail.local"));
    std::fs::create_dir(dir.join("jail.d")).unwrap();
    std::fs::copy(FILTER, dir.join("filter.d/pgconn.conf")).unwrap();
    let watch_log = temp("pgconn-watch.log");
    std::fs::write(&watch_log, "").unwrap();
    let jail = std::fs::read_to_string(JAIL).unwrap();
    let logpath = "logpath  = /var/log/pgconn-watch.log";
    assert!(jail.contains(logpath), "{jail}");
    let jail = jail.replace(logpath, &format!("logpath  = {}", watch_log.display()));
    std::fs::write(dir.join("jail.d/pgconn.conf"), jail).unwrap();

    let client = |flag: &str| {
        let out = Command::new("fail2ban-client").arg("-c").arg(&dir).arg(flag).output().unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(out.status.success(), "fail2ban-client {flag}: {stdout}{stderr}");
        // A value fail2ban does not take is only a warning.
        assert!(!stderr.contains("ERROR") && !stderr.contains("Wrong value"), "{stderr}");
        stdout
    };
    assert!(client("-t").contains("OK: configuration test is successful"));
    let dump = client("-d");
    for want in [
        "['add', 'pgconn', 'auto']".to_string(),
        "['set', 'pgconn', 'maxretry', 10]".to_string(),
        "['set', 'pgconn', 'findtime', '1m']".to_string(),
        "['set', 'pgconn', 'bantime', '1h']".to_string(),
        format!("['set', 'pgconn', 'addlogpath', '{}', 'head']", watch_log.display()),
        "['start', 'pgconn']".to_string(),
    ] {
        assert!(dump.contains(&want), "no {want} in:\n{dump}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&watch_log);
}

/// A spray from more addresses than pgconn keeps names of (10,000 per
/// breakdown: the rest count as `(other)` in the summary) is still shown,
/// and banned, address by address: the watch stream keeps each attempt's
/// address. Hand-written lines of the server's format: 10,000 connections
/// from 10.0.0.0/16 fill the names, then 20 password failures come from
/// new addresses.
#[test]
fn a_spray_from_more_addresses_than_pgconn_keeps_is_banned_address_by_address() {
    use std::fmt::Write as _;
    let mut log = String::new();
    for i in 0..10_000u32 {
        let pid = 100_000 + i;
        let _ = writeln!(
            log,
            "2026-12-07 03:00:00.000 UTC [{pid}] LOG:  connection received: host=10.0.{}.{} port=5000",
            i / 250,
            i % 250 + 1
        );
    }
    let spray: Vec<String> = (1..=20).map(|i| format!("198.51.100.{i}")).collect();
    for (i, host) in spray.iter().enumerate() {
        let pid = 200_000 + i;
        let _ = writeln!(
            log,
            "2026-12-07 03:00:01.000 UTC [{pid}] LOG:  connection received: host={host} port=6000\n\
             2026-12-07 03:00:01.001 UTC [{pid}] FATAL:  password authentication failed for user \"admin\""
        );
    }
    let watch = run(&["--watch"], Some(log.as_bytes())).expect(0).out();
    let failures: Vec<&str> = watch.lines().filter(|l| l.contains(" [!] password ")).collect();
    assert_eq!(failures.len(), 20, "{watch}");
    for (line, host) in failures.iter().zip(&spray) {
        assert!(line.contains(&format!("  host={host}:6000")), "{line}");
    }
    let json = run(&["--watch", "--json"], Some(log.as_bytes())).expect(0).out();
    let hosts: Vec<String> = json
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] == "failure")
        .map(|e| e["host"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(hosts, spray);
    // The summary still bounds its names: the new addresses are (other).
    let s = run(&["--json", "--by", "host", "--top", "0"], Some(log.as_bytes())).expect(0).json();
    assert_eq!(s["limits"]["folded"], serde_json::json!(["host"]));
    if !fail2ban() {
        return;
    }
    let matched = matches("spray", &watch);
    let ips: Vec<&str> = matched.iter().map(|(ip, _)| ip.as_str()).collect();
    assert_eq!(ips, spray.iter().map(String::as_str).collect::<Vec<_>>());
}
