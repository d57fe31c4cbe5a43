//! `--openmetrics` and `--output`: every exposition passes `promtool check
//! metrics` and a strict OpenMetrics parser, its figures are the
//! workload's, `--output` replaces its file whole, and a real Prometheus
//! reads two pgconn instances through node_exporter's textfile collector.
//!
//! promtool, prometheus and prometheus-node-exporter (Debian packages
//! `prometheus`, `prometheus-node-exporter`) and the strict parser
//! (`python3-prometheus-client`) are installed by `.ci/run`, which sets
//! PGCONN_REQUIRE_PROMETHEUS; elsewhere a test without them is skipped
//! with a message.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{command, fixture, run};

/// A tool's path, or None (a skip) when it is not installed and not
/// required.
fn tool(name: &str) -> Option<PathBuf> {
    let found = ["/usr/bin", "/bin", "/usr/sbin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists());
    if found.is_none() {
        assert!(std::env::var_os("PGCONN_REQUIRE_PROMETHEUS").is_none(), "{name} is required");
        eprintln!("SKIPPED: {name} not installed");
    }
    found
}

/// Debian's python3 with python3-prometheus-client, or None.
fn strict_parser() -> Option<PathBuf> {
    let python = PathBuf::from("/usr/bin/python3");
    let ok = Command::new(&python)
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("PGCONN_REQUIRE_PROMETHEUS").is_none(),
            "python3-prometheus-client is required"
        );
        eprintln!("SKIPPED: the strict OpenMetrics parser (python3-prometheus-client)");
        return None;
    }
    Some(python)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pgconn-om-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `promtool check metrics` on `text`: exit 0 and nothing said.
fn promtool_accepts(promtool: &Path, text: &str, what: &str) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics on {what}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The strict OpenMetrics parser reads each file; prints its families.
const STRICT: &str = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse
for path in sys.argv[1:]:
    try:
        n = len(list(parse(open(path, encoding='utf-8').read())))
    except Exception as e:
        print(path, 'REJECTED', repr(e)); sys.exit(1)
    print(path, n)
"#;

fn strict_accepts(python: &Path, files: &[PathBuf]) {
    let out = Command::new(python).arg("-c").arg(STRICT).args(files).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text.lines().count(), files.len(), "{text}");
}

/// The samples of one exposition: `name{labels}` to value. Checks that it
/// ends in exactly one `# EOF`.
fn samples(text: &str) -> BTreeMap<String, f64> {
    assert!(text.ends_with("# EOF\n"), "no # EOF at the end:\n{text}");
    assert_eq!(text.matches("# EOF").count(), 1, "one # EOF");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            let v = if value == "NaN" { f64::NAN } else { value.parse().unwrap() };
            (name.to_string(), v)
        })
        .collect()
}

fn exposition(args: &[&str]) -> String {
    let mut all = vec!["--openmetrics"];
    all.extend_from_slice(args);
    let r = run(&all, None);
    assert!(r.code == 0 || r.code == 1, "{}: exit {}\n{}", r.desc, r.code, r.stderr);
    r.out()
}

/// Every `.log` fixture, and a few more shapes (csvlog, jsonlog, hostile
/// names).
fn fixture_logs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![fixture("")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "log" || x == "csv" || x == "json") {
                if p.to_string_lossy().ends_with(".expected.json") {
                    continue;
                }
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_fixture_gives_an_exposition_promtool_and_a_strict_parser_accept() {
    let (Some(promtool), python) = (tool("promtool"), strict_parser()) else { return };
    let dir = temp_dir("all");
    let logs = fixture_logs();
    assert!(logs.len() > 60, "{}", logs.len());
    let mut files = Vec::new();
    for (i, log) in logs.iter().enumerate() {
        let log = log.to_str().unwrap();
        // The default breakdowns (--top 10) and all of them.
        for top in ["10", "0"] {
            let text = exposition(&["--top", top, log]);
            samples(&text);
            promtool_accepts(&promtool, &text, log);
            let path = dir.join(format!("{i}-{top}.prom"));
            std::fs::write(&path, &text).unwrap();
            files.push(path);
        }
    }
    if let Some(python) = python {
        strict_accepts(&python, &files);
    }
    // Nothing read at all: still an exposition, of zeros.
    let empty = run(&["--openmetrics"], Some(b"")).expect(1).out();
    assert_eq!(samples(&empty)["pgconn_connections_total"], 0.0);
    promtool_accepts(&promtool, &empty, "empty input");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn hostile_names_are_escaped_and_never_raw_controls() {
    let text = exposition(&["--top", "0", fixture("hostile/hostile.log").to_str().unwrap()]);
    for line in text.lines() {
        assert!(!line.chars().any(|c| c.is_control()), "a raw control character: {line:?}");
    }
    // Each line is one sample: a name with a newline or quote would split
    // or break it.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.starts_with("pgconn_"), "{line}");
    }
    assert!(text.contains("\\\\x1b"), "the escape shows as text");
}

/// The figures the semantics workload produced (counted by its script,
/// fixtures/generate-semantics.sh), in the exposition.
#[test]
fn figures_are_the_workloads() {
    for v in ["v15", "v18"] {
        let log = fixture(&format!("semantics/{v}.log"));
        let exp: serde_json::Value = serde_json::from_slice(
            &std::fs::read(fixture(&format!("semantics/{v}.expected.json"))).unwrap(),
        )
        .unwrap();
        let m = samples(&exposition(&["--top", "0", log.to_str().unwrap()]));
        let get = |k: &str| m.get(k).copied().unwrap_or_else(|| panic!("{v}: no sample {k}"));
        assert_eq!(get("pgconn_connections_total"), exp["connections"].as_f64().unwrap(), "{v}");
        assert_eq!(get("pgconn_disconnections_total"), exp["disconnections"].as_f64().unwrap());
        assert_eq!(get("pgconn_active_sessions"), exp["active"].as_f64().unwrap(), "{v}");
        let failures: f64 =
            m.iter().filter(|(k, _)| k.starts_with("pgconn_failures_total{")).map(|(_, v)| v).sum();
        assert_eq!(failures, exp["failures"].as_f64().unwrap(), "{v}");
        for (reason, n) in exp["failures_by_reason"].as_object().unwrap() {
            let key = m
                .keys()
                .find(|k| k.starts_with(&format!("pgconn_failures_total{{reason=\"{reason}\",")))
                .unwrap_or_else(|| panic!("{v}: no series for {reason}"));
            assert_eq!(m[key], n.as_f64().unwrap(), "{v} {reason}");
        }
        for (class, n) in exp["failures_by_class"].as_object().unwrap() {
            let sum: f64 = m
                .iter()
                .filter(|(k, _)| {
                    k.starts_with("pgconn_failures_total{")
                        && k.contains(&format!("class=\"{class}\""))
                })
                .map(|(_, v)| v)
                .sum();
            assert_eq!(sum, n.as_f64().unwrap(), "{v} class {class}");
        }
        for (db, row) in exp["by_database"].as_object().unwrap() {
            let key = format!("pgconn_database_connections_total{{database=\"{db}\"}}");
            assert_eq!(m.get(&key).copied().unwrap_or(0.0), row["connections"].as_f64().unwrap());
            let key = format!("pgconn_database_active_sessions{{database=\"{db}\"}}");
            assert_eq!(m.get(&key).copied().unwrap_or(0.0), row["active"].as_f64().unwrap());
        }
        // A breakdown sums to the total.
        let by_user: f64 = m
            .iter()
            .filter(|(k, _)| k.starts_with("pgconn_user_connections_total{"))
            .map(|(_, v)| v)
            .sum();
        assert_eq!(by_user, get("pgconn_connections_total"));
        let phys = get("pgconn_replication_sessions_total{kind=\"physical\"}");
        assert_eq!(phys, exp["replication"]["physical"].as_f64().unwrap(), "{v}");
        assert_eq!(
            get("pgconn_brute_force_hosts"),
            exp["brute_force"].as_array().unwrap().len() as f64
        );
        // The input counters are JSON's.
        let json = crate::util::summary(&[log.to_str().unwrap()]);
        assert_eq!(get("pgconn_input_bytes_total"), json["input"]["bytes"].as_f64().unwrap());
        assert_eq!(
            get("pgconn_input_lines_total"),
            json["input"]["candidate_lines"].as_f64().unwrap()
        );
        assert_eq!(
            get("pgconn_session_seconds_count"),
            json["session_seconds"]["count"].as_f64().unwrap()
        );
        assert_eq!(get("pgconn_peak_active_sessions"), json["peak"]["active"].as_f64().unwrap());
    }
}

#[test]
fn top_bounds_the_series_of_a_breakdown() {
    let log = fixture("semantics/v15.log");
    let m = samples(&exposition(&["--top", "2", log.to_str().unwrap()]));
    let rows: Vec<&String> =
        m.keys().filter(|k| k.starts_with("pgconn_database_connections_total{")).collect();
    assert_eq!(rows.len(), 3, "two and (other): {rows:?}");
    assert!(rows.iter().any(|k| k.contains("database=\"(other)\"")), "{rows:?}");
    let sum: f64 = rows.iter().map(|k| m[*k]).sum();
    assert_eq!(sum, m["pgconn_connections_total"]);
}

/// Reads `path` as often as it can while `child` runs: every read is a
/// whole exposition (or the file is not there yet).
fn read_while_running(path: &Path, child: &mut Child) -> (usize, String) {
    let mut whole = 0;
    let mut last = String::new();
    loop {
        let done = child.try_wait().unwrap().is_some();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                assert!(
                    text.starts_with("# TYPE pgconn_active_sessions gauge\n")
                        && text.ends_with("# EOF\n"),
                    "a partial report was seen: {} bytes, ends {:?}",
                    text.len(),
                    &text[text.len().saturating_sub(40)..]
                );
                whole += 1;
                last = text;
            }
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
        }
        if done {
            return (whole, last);
        }
    }
}

/// `pgconn --openmetrics --every EVERY --output PATH`, reading a pipe.
fn reporting_to(path: &Path, every: &str) -> Child {
    command()
        .args(["--openmetrics", "--every", every, "--output"])
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn output_replaces_the_file_whole_every_report() {
    let dir = temp_dir("output");
    let path = dir.join("pgconn.prom");
    // A log long enough to give many reports, fed through a pipe.
    let log = std::fs::read(fixture("semantics/v15.log")).unwrap();
    let mut child = reporting_to(&path, "5ms");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        for chunk in log.chunks(2048) {
            stdin.write_all(chunk).unwrap();
            std::thread::sleep(Duration::from_millis(3));
        }
    });
    let (whole, last) = read_while_running(&path, &mut child);
    writer.join().unwrap();
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(stdout, "", "with --output nothing goes to standard output");
    assert!(whole > 20, "read {whole} whole reports");
    // The last report is the whole log's.
    let once = exposition(&[fixture("semantics/v15.log").to_str().unwrap()]);
    let (a, b) = (samples(&last), samples(&once));
    assert_eq!(a["pgconn_connections_total"], b["pgconn_connections_total"]);
    assert_eq!(a["pgconn_failures_total{reason=\"password\",class=\"auth\"}"], 10.0);
    // No temporary file is left beside it.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["pgconn.prom"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn output_takes_every_format_and_says_when_it_cannot_write() {
    let dir = temp_dir("formats");
    let log = fixture("stderr-default.log");
    let log = log.to_str().unwrap();
    for args in
        [&[][..], &["--json"], &["--history", "--json"], &["--failures"], &["--openmetrics"]]
    {
        let path = dir.join("report");
        let path_s = path.to_str().unwrap();
        let written = run(&[args, &["--output", path_s, log]].concat(), None).expect(0);
        assert_eq!(written.out(), "", "{args:?}");
        let stdout = run(&[args, &[log]].concat(), None).expect(0).out();
        let file = std::fs::read_to_string(&path).unwrap();
        if args == ["--openmetrics"] {
            // The report's wall-clock time is its only difference.
            let strip = |t: &str| -> String {
                t.lines().filter(|l| !l.starts_with("pgconn_report_timestamp")).collect()
            };
            assert_eq!(strip(&file), strip(&stdout));
        } else {
            assert_eq!(file, stdout, "{args:?}");
        }
    }
    let bad = run(&["--output", "/nonexistent-dir/pgconn.prom", log], None).expect(2);
    assert!(
        bad.stderr.contains("cannot write --output /nonexistent-dir/pgconn.prom"),
        "{}",
        bad.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Kills the servers it holds when the test ends, however it ends.
struct Servers(Vec<Child>);

impl Servers {
    fn start(&mut self, program: &Path, args: &[String]) {
        let child = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.0.push(child);
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// GET `path` from 127.0.0.1:`port`: the body, or None.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200")
        .then(|| body.to_string())
        .or_else(|| head.starts_with("HTTP/1.1 200").then(|| body.to_string()))
}

/// A PromQL query's vector result: labels (without `__name__`) to value.
fn query(port: u16, promql: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    let enc: String = promql
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect();
    let Some(body) = http_get(port, &format!("/api/v1/query?query={enc}")) else {
        return Vec::new();
    };
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success", "{body}");
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let labels = r["metric"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| *k != "__name__")
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            (labels, r["value"][1].as_str().unwrap().parse().unwrap())
        })
        .collect()
}

/// Two pgconn instances, each writing its report with `--output` into the
/// textfile directory of its own node_exporter; one Prometheus scrapes
/// both, labelled `instance="db1"` and `"db2"` (the README's fleet
/// configuration); its HTTP API gives back the figures pgconn wrote, one
/// by one and summed across the fleet.
#[test]
fn prometheus_reads_two_instances_through_node_exporter() {
    let (Some(prometheus), Some(exporter)) = (tool("prometheus"), tool("prometheus-node-exporter"))
    else {
        return;
    };
    let dir = temp_dir("prometheus");
    let mut servers = Servers(Vec::new());
    let mut targets = Vec::new();
    let mut written = Vec::new();
    for (instance, log) in [("db1", "semantics/v15.log"), ("db2", "semantics/v18.log")] {
        let textfiles = dir.join(instance);
        std::fs::create_dir_all(&textfiles).unwrap();
        let prom = textfiles.join("pgconn.prom");
        // As a user runs it beside the server: the log through a pipe,
        // a report every interval, the file replaced whole each time.
        let mut pgconn = reporting_to(&prom, "200ms");
        pgconn.stdin.take().unwrap().write_all(&std::fs::read(fixture(log)).unwrap()).unwrap();
        assert!(pgconn.wait().unwrap().success());
        written.push((instance, samples(&std::fs::read_to_string(&prom).unwrap())));
        let port = free_port();
        servers.start(
            &exporter,
            &[
                "--collector.disable-defaults".into(),
                "--collector.textfile".into(),
                format!("--collector.textfile.directory={}", textfiles.display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
            ],
        );
        targets.push((instance, port));
    }
    let config = dir.join("prometheus.yml");
    let mut yml = String::from(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: pgconn\n    static_configs:\n",
    );
    for (instance, port) in &targets {
        yml.push_str(&format!(
            "      - targets: ['127.0.0.1:{port}']\n        labels: {{instance: {instance}}}\n"
        ));
    }
    std::fs::write(&config, yml).unwrap();
    let port = free_port();
    servers.start(
        &prometheus,
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
    );

    // Both targets scraped.
    let start = Instant::now();
    loop {
        let up = query(port, "pgconn_connections_total");
        if up.len() == 2 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(90), "Prometheus has {up:?} after 90s");
        std::thread::sleep(Duration::from_millis(500));
    }
    for (instance, m) in &written {
        for metric in [
            "pgconn_connections_total",
            "pgconn_active_sessions",
            "pgconn_peak_active_sessions",
            "pgconn_session_seconds_count",
            "pgconn_input_bytes_total",
        ] {
            let got = query(port, &format!("{metric}{{instance=\"{instance}\"}}"));
            assert_eq!(got.len(), 1, "{metric} {instance}: {got:?}");
            assert_eq!(got[0].1, m[metric], "{metric} {instance}");
        }
        let got = query(port, &format!("sum(pgconn_failures_total{{instance=\"{instance}\"}})"));
        let failures: f64 =
            m.iter().filter(|(k, _)| k.starts_with("pgconn_failures_total{")).map(|(_, v)| v).sum();
        assert_eq!(got[0].1, failures, "{instance}");
    }
    // Across the fleet.
    let sum = query(port, "sum(pgconn_connections_total)");
    let printed: f64 = written.iter().map(|(_, m)| m["pgconn_connections_total"]).sum();
    assert_eq!(sum.len(), 1);
    assert_eq!(sum[0].1, printed);
    assert_eq!(printed, 104.0, "52 sessions on each server (the workload's figure)");
    let by_reason = query(port, "sum by (reason) (pgconn_failures_total{reason=\"password\"})");
    let password: f64 = written
        .iter()
        .map(|(_, m)| m["pgconn_failures_total{reason=\"password\",class=\"auth\"}"])
        .sum();
    assert_eq!(by_reason[0].1, password);
    drop(servers);
    let _ = std::fs::remove_dir_all(&dir);
}
