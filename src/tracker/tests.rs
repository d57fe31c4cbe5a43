use super::*;
use crate::event::Security;
use crate::parse::Stats;
use crate::parse::stderr::StderrParser;
use crate::prefix::Prefix;

fn track_with(filter: Filter, log: &str) -> Snapshot {
    let mut parser = StderrParser::new(Some(Prefix::compile("%m [%p] ").unwrap()));
    let mut tracker = Tracker::new(filter, std::time::Duration::from_secs(900));
    let mut stats = Stats::default();
    parser.process(log.as_bytes(), &mut stats, |ev| tracker.apply(ev));
    assert_eq!(stats.unparsed, 0, "{stats:?}");
    tracker.snapshot(0, &Dimension::ALL)
}

fn track(log: &str) -> Snapshot {
    track_with(Filter::default(), log)
}

fn ends(s: &Snapshot, cause: &str) -> u64 {
    s.abnormal_ends.iter().find(|(c, _)| *c == cause).map_or(0, |(_, n)| *n)
}

const OPEN_2: &str = "\
2025-03-01 10:00:00.000 UTC [10] LOG:  connection received: host=10.0.0.1 port=1
2025-03-01 10:00:00.001 UTC [10] LOG:  connection authorized: user=a database=d application_name=x
2025-03-01 10:00:00.002 UTC [11] LOG:  connection received: host=[local]
2025-03-01 10:00:00.003 UTC [11] LOG:  connection authorized: user=b database=d
";

#[test]
fn open_sessions_and_hosts() {
    let s = track(OPEN_2);
    assert_eq!((s.active, s.connections, s.peak), (2, 2, 2));
    let hosts = &s.breakdowns[3].rows;
    assert_eq!(hosts.len(), 2);
    let apps = &s.breakdowns[2].rows;
    assert!(apps.iter().any(|r| r.name == b"(unset)" && r.row.active == 1));
}

#[test]
fn pid_reuse_ends_the_old_session() {
    let log = format!(
        "{OPEN_2}2025-03-01 10:00:05.000 UTC [10] LOG:  connection received: host=10.0.0.2 port=2\n\
         2025-03-01 10:00:05.001 UTC [10] LOG:  connection authorized: user=c database=d\n"
    );
    let s = track(&log);
    assert_eq!((s.active, s.connections), (2, 3));
    assert_eq!(ends(&s, "pid_reused"), 1);
}

#[test]
fn crash_and_restart_end_everything() {
    let log = format!(
        "{OPEN_2}\
2025-03-01 10:00:09.000 UTC [1] LOG:  server process (PID 10) was terminated by signal 9: Killed
2025-03-01 10:00:09.000 UTC [1] LOG:  terminating any other active server processes
2025-03-01 10:00:09.100 UTC [1] LOG:  all server processes terminated; reinitializing
2025-03-01 10:00:09.200 UTC [1] LOG:  database system is ready to accept connections
"
    );
    let s = track(&log);
    assert_eq!((s.active, s.connections, s.disconnections), (0, 2, 0));
    assert_eq!(ends(&s, "crash"), 1);
    assert_eq!(ends(&s, "server_restart"), 1);
}

#[test]
fn terminate_then_disconnection_counts_once() {
    let log = format!(
        "{OPEN_2}\
2025-03-01 10:00:09.402 UTC [10] FATAL:  terminating connection due to administrator command
2025-03-01 10:00:09.402 UTC [10] LOG:  could not send data to client: Broken pipe
2025-03-01 10:00:09.402 UTC [10] LOG:  disconnection: session time: 0:00:09.402 user=a database=d host=10.0.0.1 port=1
"
    );
    let s = track(&log);
    assert_eq!((s.active, s.disconnections, s.failures), (1, 1, 0));
    assert_eq!(ends(&s, "admin_terminate"), 1);
    assert_eq!(ends(&s, "client_lost"), 0);
    assert_eq!(s.sessions.as_ref().unwrap().max_ms, 9402);
}

#[test]
fn disconnection_of_a_session_from_before_the_log() {
    let s = track(
        "2025-03-01 10:00:00.000 UTC [7] LOG:  disconnection: session time: 27:03:04.005 user=a database=d host=[local]\n",
    );
    assert_eq!((s.active, s.connections, s.disconnections, s.unknown_start), (0, 0, 1, 1));
    assert_eq!(s.sessions.as_ref().unwrap().max_ms, 97_384_005);
}

#[test]
fn abandoned_and_early_failures() {
    let s = track(
        "\
2025-03-01 10:00:00.000 UTC [20] LOG:  connection received: host=10.0.0.9 port=1
2025-03-01 10:00:00.000 UTC [21] LOG:  connection received: host=10.0.0.9 port=2
2025-03-01 10:00:00.001 UTC [21] FATAL:  sorry, too many clients already
2025-03-01 10:00:00.000 UTC [22] LOG:  connection received: host=10.0.0.9 port=3
2025-03-01 10:00:00.001 UTC [22] LOG:  incomplete startup packet
",
    );
    // The incomplete startup packet is a probe, not a failure.
    assert_eq!((s.abandoned, s.failures), (1, 1));
    assert_eq!(s.probes.total, 2);
    assert_eq!(s.probes.kinds, [("incomplete_startup_packet", 1), ("abandoned", 1)]);
    assert_eq!(s.probes.by_host, [(b"10.0.0.9".to_vec(), 2)]);
    let host = &s.breakdowns[3].rows[0];
    assert_eq!((host.name.as_slice(), host.row.failures), (&b"10.0.0.9"[..], 1));
}

#[test]
fn filters_apply_to_sessions() {
    let f = Filter { users: vec!["b".into()], ..Filter::default() };
    let s = track_with(f, OPEN_2);
    assert_eq!((s.active, s.connections), (1, 1));
    let f = Filter { hosts: vec!["10.0.0.0/8".parse().unwrap()], ..Filter::default() };
    let s = track_with(f, OPEN_2);
    assert_eq!((s.active, s.connections), (1, 1));
}

#[test]
fn replication_is_counted_apart() {
    let s = track(
        "2025-03-01 10:00:00.000 UTC [30] LOG:  replication connection authorized: user=rep application_name=walreceiver\n",
    );
    assert_eq!(
        (s.connections, s.active, s.replication_sessions, s.replication_active),
        (0, 0, 1, 1)
    );
}

#[test]
fn session_table_is_bounded() {
    use crate::event::Meta;
    let mut t = Tracker::new(Filter::default(), std::time::Duration::from_secs(900));
    let n = MAX_SESSIONS as u32 + 10;
    for pid in 0..n {
        let meta = Meta { pid: Some(pid), ..Meta::default() };
        let kind = EventKind::Authorized {
            user: b"u",
            db: Some(b"d"),
            app: None,
            replication: false,
            security: Security::default(),
        };
        t.apply(&Event { meta, kind, raw: b"" });
    }
    for pid in n..n + 1000 {
        let meta = Meta { pid: Some(pid), ..Meta::default() };
        t.apply(&Event {
            meta,
            raw: b"",
            kind: EventKind::Received { host: b"10.0.0.1", port: Some(5432) },
        });
    }
    assert!(t.sessions.len() <= MAX_SESSIONS);
    let s = t.snapshot(10, &Dimension::ALL);
    assert_eq!(s.connections, u64::from(n));
    assert_eq!(s.active, MAX_SESSIONS as u64);
    // 10 sessions past the bound, counted once each; 1000 attempts.
    assert_eq!((s.untracked, s.untracked_attempts), (10, 1000));
}

#[test]
fn brute_force_needs_n_failures_within_the_window() {
    let mut log = String::new();
    // 6 failures in 20 s from one host over 3 roles, then 1 much later.
    for (i, user) in ["a", "b", "c", "a", "b", "c"].iter().enumerate() {
        log.push_str(&format!(
            "2025-03-01 10:00:{:02}.000 UTC [{}] LOG:  connection received: host=10.9.9.9 port={}\n\
             2025-03-01 10:00:{:02}.001 UTC [{}] FATAL:  password authentication failed for user \"{user}\"\n",
            i * 4, 100 + i, 5000 + i, i * 4, 100 + i
        ));
    }
    log.push_str(
        "2025-03-01 11:00:00.000 UTC [200] LOG:  connection received: host=10.8.8.8 port=1\n\
         2025-03-01 11:00:00.001 UTC [200] FATAL:  password authentication failed for user \"x\"\n",
    );
    let mut parser = StderrParser::new(Some(Prefix::compile("%m [%p] ").unwrap()));
    let mut stats = Stats::default();
    let mut t = Tracker::new(Filter::default(), std::time::Duration::from_secs(900));
    t.set_brute_force(5, std::time::Duration::from_secs(30));
    parser.process(log.as_bytes(), &mut stats, |ev| t.apply(ev));
    let flagged = t.brute_force();
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    assert_eq!(flagged[0].host, b"10.9.9.9");
    assert_eq!((flagged[0].failures, flagged[0].roles, flagged[0].worst), (6, 3, 6));
    t.set_brute_force(7, std::time::Duration::from_secs(30));
    assert!(t.brute_force().is_empty(), "6 failures are under 7");
}

#[test]
fn a_daylight_saving_switch_keeps_order_and_buckets() {
    // 01:59 CET and 03:01 CEST are two minutes apart.
    let log = "\
2025-03-30 01:59:00.000 CET [10] LOG:  connection authorized: user=a database=d
2025-03-30 03:01:00.000 CEST [11] LOG:  connection authorized: user=b database=d
";
    let mut parser = StderrParser::new(Some(Prefix::compile("%m [%p] ").unwrap()));
    let mut stats = Stats::default();
    let mut t = Tracker::new(Filter::default(), std::time::Duration::from_secs(60));
    parser.process(log.as_bytes(), &mut stats, |ev| t.apply(ev));
    let tl = t.timeline();
    assert_eq!(tl.rows.len(), 3, "01:59, 02:00 (= 03:00 CEST), 02:01");
    assert_eq!(tl.rows[2].connections, 1);
    assert_eq!(tl.rows[2].active, 2);
    assert_eq!(t.last.unwrap().ms - t.first.unwrap().ms, 120_000);
}

#[test]
fn a_name_that_only_opens_sessions_is_a_leak_hint() {
    let mut log = String::new();
    for i in 0..6 {
        log.push_str(&format!(
            "2025-03-01 10:{:02}:00.000 UTC [{}] LOG:  connection received: host=[local]\n\
             2025-03-01 10:{:02}:00.001 UTC [{}] LOG:  connection authorized: user=u database=d application_name=leaky\n",
            i * 10, 100 + i, i * 10, 100 + i
        ));
        // A well-behaved application alongside.
        log.push_str(&format!(
            "2025-03-01 10:{:02}:01.000 UTC [{}] LOG:  connection received: host=[local]\n\
             2025-03-01 10:{:02}:01.000 UTC [{}] LOG:  connection authorized: user=u database=d application_name=good\n\
             2025-03-01 10:{:02}:02.000 UTC [{}] LOG:  disconnection: session time: 0:00:01.000 user=u database=d host=[local]\n",
            i * 10, 200 + i, i * 10, 200 + i, i * 10, 200 + i
        ));
    }
    let mut parser = StderrParser::new(Some(Prefix::compile("%m [%p] ").unwrap()));
    let mut stats = Stats::default();
    let mut t = Tracker::new(Filter::default(), std::time::Duration::from_secs(600));
    parser.process(log.as_bytes(), &mut stats, |ev| t.apply(ev));
    let leaks = t.leaks();
    let apps: Vec<&Leak> = leaks.iter().filter(|l| l.dimension == Dimension::Application).collect();
    assert_eq!(apps.len(), 1, "{leaks:?}");
    assert_eq!((apps[0].name.as_slice(), apps[0].open), (&b"leaky"[..], 6));
    assert!((apps[0].per_minute - 6.0 / 50.0).abs() < 0.01, "{}", apps[0].per_minute);
    // The user and host also close sessions (the good ones): no hint.
    assert!(leaks.iter().all(|l| l.dimension == Dimension::Application), "{leaks:?}");
}

#[test]
fn a_lost_client_ends_its_session_once_however_many_lines() {
    let s = track(
        "\
2025-03-01 10:00:00.000 UTC [10] LOG:  connection received: host=10.0.0.1 port=1
2025-03-01 10:00:00.001 UTC [10] LOG:  connection authorized: user=a database=d
2025-03-01 10:00:05.000 UTC [10] LOG:  could not receive data from client: Connection reset by peer
2025-03-01 10:00:05.000 UTC [10] LOG:  unexpected EOF on client connection with an open transaction
2025-03-01 10:00:05.001 UTC [10] LOG:  disconnection: session time: 0:00:05.001 user=a database=d host=10.0.0.1 port=1
2025-03-01 10:00:06.000 UTC [20] LOG:  could not receive data from client: Connection reset by peer
2025-03-01 10:00:06.000 UTC [20] LOG:  could not send data to client: Broken pipe
2025-03-01 10:00:06.001 UTC [20] LOG:  disconnection: session time: 1:00:06.001 user=b database=d host=10.0.0.2 port=2
",
    );
    // One each: the session seen to begin, and one from before the log.
    assert_eq!(ends(&s, "client_lost"), 2);
    assert_eq!((s.active, s.disconnections), (0, 2));
}

#[test]
fn an_unknown_fatal_right_after_authorization_refuses_the_session() {
    let s = track(
        "\
2025-03-01 10:00:00.000 UTC [10] LOG:  connection received: host=10.0.0.1 port=1
2025-03-01 10:00:00.001 UTC [10] LOG:  connection authorized: user=a database=d
2025-03-01 10:00:00.002 UTC [10] FATAL:  something pgconn has never seen
2025-03-01 10:00:01.000 UTC [11] LOG:  connection received: host=10.0.0.1 port=2
2025-03-01 10:00:01.001 UTC [11] LOG:  connection authorized: user=a database=d
2025-03-01 10:01:00.000 UTC [11] FATAL:  something pgconn has never seen
2025-03-01 10:01:00.001 UTC [11] LOG:  disconnection: session time: 0:00:59.001 user=a database=d host=10.0.0.1 port=2
",
    );
    // The first never began (no disconnection follows such a FATAL); the
    // second ended abnormally a minute in.
    assert_eq!((s.connections, s.failures, s.disconnections, s.active), (1, 1, 1, 0));
    assert_eq!(ends(&s, "other"), 1);
    assert_eq!(s.peak, 1);
}

#[test]
fn a_later_line_names_the_application_the_authorized_line_did_not() {
    let mut parser = StderrParser::new(Some(Prefix::compile("%m [%p] %a ").unwrap()));
    let mut tracker = Tracker::new(Filter::default(), std::time::Duration::from_secs(900));
    let mut stats = Stats::default();
    // PostgreSQL 11: no application_name in `connection authorized`.
    let log = "\
2025-03-01 10:00:00.000 UTC [10]  LOG:  connection received: host=[local]
2025-03-01 10:00:00.001 UTC [10]  LOG:  connection authorized: user=a database=d
2025-03-01 10:00:00.002 UTC [11]  LOG:  connection received: host=[local]
2025-03-01 10:00:00.003 UTC [11]  LOG:  connection authorized: user=a database=d
2025-03-01 10:00:01.000 UTC [10] web LOG:  disconnection: session time: 0:00:01.000 user=a database=d host=[local]
";
    parser.process(log.as_bytes(), &mut stats, |ev| tracker.apply(ev));
    let s = tracker.snapshot(0, &Dimension::ALL);
    let apps = &s.breakdowns[2].rows;
    let row = |name: &[u8]| {
        apps.iter().find(|r| r.name == name).map(|r| (r.row.connections, r.row.active))
    };
    assert_eq!(row(b"web"), Some((1, 0)), "{apps:?}");
    // Still open, never named: the application is unset.
    assert_eq!(row(b"(unset)"), Some((1, 1)), "{apps:?}");
}
