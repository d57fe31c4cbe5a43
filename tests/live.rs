//! A fresh PostgreSQL server, the fixture workload, and pgconn's figures
//! against what the workload did.
//!
//! Runs when a PostgreSQL server binary is found ($PG_BIN, `pg_config
//! --bindir`, or /usr/lib/postgresql/*/bin; Debian's postgresql-15 package
//! provides one). Without one it is skipped with a visible message, unless
//! PGCONN_REQUIRE_LIVE=1 (set by .ci/run), which makes it mandatory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::run;

fn server_binary() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Some(PathBuf::from(dir).join("postgres")).filter(|p| p.exists());
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let p = Path::new(&dir).join("postgres");
        if out.status.success() && p.exists() {
            return Some(p);
        }
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin/postgres")))
        .filter(|p| p.exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// Runs the workload with `prefix`, then pgconn on its log (inferring the
/// prefix), and compares.
fn workload(dir: &Path, name: &str, prefix: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/generate.sh");
    let out = Command::new("bash")
        .args([script, "--prefix", prefix, dir.to_str().unwrap(), name])
        .output()
        .expect("run fixtures/generate.sh");
    assert!(
        out.status.success(),
        "generate.sh failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let log = dir.join(format!("{name}.log"));
    let want: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.expected.json"))).unwrap())
            .unwrap();
    let got = run(&["--json", "--top", "0", log.to_str().unwrap()], None).expect(0).json();
    crate::figures::check(&format!("live {name} ({prefix:?})"), &got, &want);
    assert_eq!(got["input"]["log_line_prefix"], prefix, "inferred prefix");
    // Written to the stream itself, past the test harness's capture, so the
    // result shows in a plain `cargo test`.
    let _ = writeln!(
        std::io::stderr(),
        "live test {name}: PostgreSQL {} with log_line_prefix {prefix:?}: {} connections, {} failures, peak {}: as the workload did",
        want["server_version"].as_str().unwrap_or("?"),
        got["connections"],
        got["failures"],
        got["peak"]["active"]
    );
}

#[test]
fn live_server_figures_match_the_workload() {
    let required = std::env::var("PGCONN_REQUIRE_LIVE").is_ok_and(|v| v == "1");
    if server_binary().is_none() {
        assert!(!required, "PGCONN_REQUIRE_LIVE=1 but no PostgreSQL server binary was found");
        eprintln!(
            "SKIPPED live test: no PostgreSQL server binary (install postgresql-15 or set PG_BIN)"
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("pgconn-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // One after the other: the script may create its system user.
    workload(&dir, "live-default", "%m [%p] ");
    workload(&dir, "live-spaces", "%m [%p] user=%u db=%d app=%a host=%r ");
    // Azure's: no %p, the session id %c carries the pid.
    workload(&dir, "live-azure", "%t-%c-");
    let _ = std::fs::remove_dir_all(&dir);
}
