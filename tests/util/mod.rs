//! Running the built binary the way a user would, with a scrubbed
//! environment, and showing everything when an expectation fails.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

pub fn read_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

pub fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgconn"));
    // A fixed `generated_at`: runs of the same input compare equal.
    cmd.env("SOURCE_DATE_EPOCH", "1800000000");
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("PGCONN_") || k == "NO_COLOR" || k == "TERM" || k == "TZ" || k == "COLUMNS"
        {
            cmd.env_remove(&key);
        }
    }
    cmd
}

/// pgconn with `args`, its standard input, output and error all pipes.
pub fn spawn_piped(args: &[&str]) -> std::process::Child {
    command()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pgconn")
}

/// Waits for a child whose output pipe the test closed: it must exit 0 and
/// say nothing (`pgconn log | head`).
pub fn expect_quiet_exit(mut child: std::process::Child, writer: std::thread::JoinHandle<()>) {
    use std::io::Read;
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    writer.join().unwrap();
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert_eq!(stderr, "");
}

pub struct Run {
    pub desc: String,
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Asserts the exit status, showing the whole run otherwise.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code,
            code,
            "\n{}\nexit status {} (expected {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.desc,
            self.code,
            self.out(),
            self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        let text = self.out();
        let mut lines = text.lines();
        let first = lines.next().unwrap_or_else(|| panic!("{}: no output", self.desc));
        assert!(lines.next().is_none(), "{}: more than one JSON line:\n{text}", self.desc);
        serde_json::from_str(first)
            .unwrap_or_else(|e| panic!("{}: invalid JSON ({e}): {first}", self.desc))
    }
}

/// Runs pgconn with `args`, writing `stdin` (if any) from a thread.
pub fn run_with(mut cmd: Command, args: &[&str], stdin: Option<&[u8]>) -> Run {
    cmd.args(args);
    let desc = format!("pgconn {}", args.join(" "));
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn pgconn");
    let writer = stdin.map(|data| {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let data = data.to_vec();
        std::thread::spawn(move || {
            // pgconn may stop reading early; that is not this test's error.
            let _ = pipe.write_all(&data);
        })
    });
    let out = child.wait_with_output().expect("wait for pgconn");
    if let Some(w) = writer {
        w.join().expect("stdin writer");
    }
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{desc} panicked:\n{stderr}");
    Run { desc, code: out.status.code().unwrap_or(-1), stdout: out.stdout, stderr }
}

pub fn run(args: &[&str], stdin: Option<&[u8]>) -> Run {
    run_with(command(), args, stdin)
}

/// `pgconn --json FILE` on a fixture, expecting success.
/// The NDJSON objects pgconn prints for `args` (exit 0 expected).
pub fn ndjson(args: &[&str]) -> Vec<serde_json::Value> {
    let r = run(args, None).expect(0);
    r.out().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

pub fn summary(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json", "--top", "0"];
    all.extend_from_slice(args);
    run(&all, None).expect(0).json()
}

/// A summary without the names of its inputs (`input.files[].name`,
/// `input.time_went_back.first_input`): runs that read the same log under
/// other names (a file, standard input) compare equal.
pub fn unnamed(mut summary: serde_json::Value) -> serde_json::Value {
    let input = &mut summary["input"];
    if let Some(files) = input["files"].as_array_mut() {
        for f in files {
            f["name"] = serde_json::Value::Null;
        }
    }
    if let Some(back) = input["time_went_back"].as_object_mut() {
        back.insert("first_input".into(), serde_json::Value::Null);
    }
    summary
}
