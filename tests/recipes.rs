//! Every command of the README's `sh` blocks and of the man page (its
//! EXAMPLES and its blocks of commands) is run as written, with only its
//! file names adapted: in a directory holding `postgresql.log` (a real
//! log), with `pgconn` on the PATH, and the system paths (`/var/log/...`)
//! moved into that directory. A `tail -F` pipeline is ended the way its
//! log would end it for good: `tail` is stopped, and pgconn, seeing its
//! input end, writes its final report. `watch` runs in a terminal (tmux).
//! The commands that build, install or configure the system are run by
//! `.ci/run` (as written: CI runs as root on a fresh machine); this test
//! checks that `.ci/run` has each of them, word for word.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::fixture;

/// A command, its source, and whether it is a script of several lines
/// (run with a pause between lines, as typed).
#[derive(Debug, Clone)]
struct Recipe {
    from: &'static str,
    text: String,
    script: bool,
}

/// A line without its trailing comment (`  # ...`).
fn uncomment(line: &str) -> String {
    let mut quote = None;
    let b = line.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        match (quote, c) {
            (None, b'\'' | b'"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, b'#') if i > 0 && b[i - 1] == b' ' => return line[..i].trim_end().to_string(),
            _ => {}
        }
    }
    line.trim_end().to_string()
}

/// Logical lines: a line ending in `|` or `\` goes on with the next.
fn logical_lines(body: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut open = false;
    for line in body.lines() {
        let line = uncomment(line);
        if line.trim().is_empty() {
            continue;
        }
        if open {
            let last = out.last_mut().unwrap();
            last.push(' ');
            last.push_str(line.trim());
        } else {
            out.push(line.trim().to_string());
        }
        let last = out.last_mut().unwrap();
        open = last.ends_with('|') || last.ends_with('\\');
        if last.ends_with('\\') {
            last.pop();
        }
    }
    out
}

/// The recipes of a block of commands: one per logical line, or the whole
/// block as one script when it starts a job and signals it.
fn block(from: &'static str, body: &str) -> Vec<Recipe> {
    let cmds = logical_lines(body);
    if cmds.iter().any(|c| c.ends_with('&')) {
        return vec![Recipe { from, text: cmds.join("\n"), script: true }];
    }
    cmds.into_iter().map(|text| Recipe { from, text, script: false }).collect()
}

fn readme_recipes() -> Vec<Recipe> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "```sh" {
            continue;
        }
        let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        out.extend(block("README.md", &body.join("\n")));
    }
    out
}

fn unroff(line: &str) -> String {
    line.replace("\\-", "-").replace("\\(dq", "\"").replace("\\e", "\\")
}

fn man_recipes() -> Vec<Recipe> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/pgconn.1")).unwrap();
    let mut out = Vec::new();
    let mut section = "";
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(name) = line.strip_prefix(".SH ") {
            section = if name.starts_with("EXAMPLES") {
                "EXAMPLES"
            } else if name.starts_with("SIGNALS") {
                "SIGNALS"
            } else if name.starts_with("INSTALLATION") {
                "INSTALLATION"
            } else {
                ""
            };
            continue;
        }
        match section {
            "EXAMPLES" => {
                if let Some(cmd) = line.strip_prefix(".B ") {
                    let cmd = unroff(cmd.trim_matches('"'));
                    out.push(Recipe { from: "man/pgconn.1", text: cmd, script: false });
                }
            }
            _ if line == ".nf" => {
                // A block of commands (not of output, metrics or schema):
                // its lines start with a command.
                let body: Vec<String> =
                    lines.by_ref().take_while(|l| *l != ".fi").map(unroff).collect();
                let commands =
                    ["pgconn", "tail", "cp", "fail2ban-client", "cargo", "install", "man", "kill"];
                let first = body.first().and_then(|l| l.split_whitespace().next()).unwrap_or("");
                if commands.contains(&first) {
                    out.extend(block("man/pgconn.1", &body.join("\n")));
                }
            }
            _ => {}
        }
    }
    out
}

/// Commands `.ci/run` runs (building, installing, configuring the
/// system), or that are CI itself.
const BY_CI: &[&str] = &[
    "cargo run --release -- fixtures/stderr-default.log",
    "cargo test",
    "cargo build --release",
    "cargo install --locked --path .",
    "man ./man/pgconn.1",
    "sudo install -Dm644 man/pgconn.1 /usr/local/share/man/man1/pgconn.1",
    "install -Dm644 man/pgconn.1 /usr/local/share/man/man1/pgconn.1",
    "pgconn --completions bash | sudo install -Dm644 /dev/stdin /etc/bash_completion.d/pgconn",
    "pgconn --completions zsh | sudo install -Dm644 /dev/stdin /usr/local/share/zsh/site-functions/_pgconn",
    "pgconn --completions fish | install -Dm644 /dev/stdin ~/.config/fish/completions/pgconn.fish",
    "pgconn --completions bash | install -Dm644 /dev/stdin /etc/bash_completion.d/pgconn",
    "pgconn --completions zsh | install -Dm644 /dev/stdin /usr/local/share/zsh/site-functions/_pgconn",
    "cp contrib/fail2ban/filter.d/pgconn.conf /etc/fail2ban/filter.d/",
    "cp contrib/fail2ban/jail.d/pgconn.conf /etc/fail2ban/jail.d/",
    "fail2ban-client reload",
];

/// What CI is: not run from within itself.
const CI_ITSELF: &str = "bash .ci/run";

/// The system paths of the recipes, and where the test puts them.
const MOVED: &[(&str, &str)] = &[
    ("/var/log/postgresql/postgresql-16-main.log", "main.log"),
    ("/var/lib/prometheus/node-exporter/pgconn.prom", "node-exporter/pgconn.prom"),
    ("/var/log/pgconn-watch.log", "pgconn-watch.log"),
    ("/var/log/pgconn/events.ndjson", "pgconn/events.ndjson"),
];

/// A directory with the logs the recipes name, and `pgconn` on a PATH.
fn workdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pgconn-recipes-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["bin", "node-exporter", "pgconn"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_pgconn"), dir.join("bin/pgconn")).unwrap();
    // A log with sessions, failures and a brute force (the semantics
    // fixture), the default-prefix log, and two files of a glob.
    let copy = |from: &str, to: &str| std::fs::copy(fixture(from), dir.join(to)).unwrap();
    copy("semantics/v15.log", "postgresql.log");
    copy("stderr-default.log", "main.log");
    copy("stderr-default.log", "postgresql-1.log");
    copy("history/history.log", "postgresql-2.log");
    dir
}

/// The recipe with its system paths moved into `dir`, and the log its
/// `postgresql.log` stands for when another is needed (the prefix
/// example's server writes that prefix).
fn adapt(recipe: &str, dir: &Path) -> String {
    let mut cmd = recipe.to_string();
    for (from, to) in MOVED {
        cmd = cmd.replace(from, &dir.join(to).to_string_lossy());
    }
    cmd
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` with bash in `dir`, in a session of its own. A `tail -F`
/// pipeline is given a moment, then its `tail` is stopped.
fn run_recipe(cmd: &str, dir: &Path, script: bool) -> Ran {
    // The logs a `tail -F` follows start empty; their lines come later.
    let mut live = Vec::new();
    if cmd.contains("tail -F") {
        for name in ["postgresql.log", "main.log"] {
            let path = dir.join(name);
            live.push((path.clone(), std::fs::read(&path).unwrap()));
            std::fs::write(&path, b"").unwrap();
        }
    }
    let path = format!("{}:{}", dir.join("bin").display(), std::env::var("PATH").unwrap());
    let body = if script {
        // As typed: a moment between lines (a signal handler is in place
        // once pgconn has started).
        cmd.lines().collect::<Vec<_>>().join("\nsleep 1\n")
    } else {
        cmd.to_string()
    };
    let mut child = Command::new("setsid")
        .args(["bash", "-c", &body])
        .current_dir(dir)
        .env("PATH", path)
        .env("SOURCE_DATE_EPOCH", "1800000000")
        .env_remove("PGCONN_THREADS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // A live log: `tail -F` shows what the server writes from now on, so
    // the server's lines are written while the recipe runs.
    let writer = cmd.contains("tail -F").then(|| {
        let logs = live.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(700));
            for (path, data) in logs {
                let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
                for chunk in data.chunks(data.len() / 3 + 1) {
                    std::io::Write::write_all(&mut f, chunk).unwrap();
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        })
    });
    let out_reader = {
        let mut out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut out, &mut s).unwrap();
            s
        })
    };
    let err_reader = {
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut err, &mut s).unwrap();
            s
        })
    };
    let start = Instant::now();
    let mut stopped_tail = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if !script && !stopped_tail && start.elapsed() > Duration::from_millis(3000) {
            // The log ends: its `tail -F` (in the recipe's session) stops.
            let _ = Command::new("pkill")
                .args(["-TERM", "-s", &pid.to_string(), "-x", "tail"])
                .status();
            stopped_tail = true;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = Command::new("pkill").args(["-KILL", "-s", &pid.to_string()]).status();
            panic!("{cmd}: still running after 30s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if let Some(w) = writer {
        w.join().unwrap();
    }
    Ran {
        code: status.code().unwrap_or(-1),
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

fn all_recipes() -> Vec<Recipe> {
    let mut all = readme_recipes();
    all.extend(man_recipes());
    all
}

#[test]
fn the_docs_have_recipes_and_ci_runs_the_ones_this_test_does_not() {
    let all = all_recipes();
    assert!(all.len() > 30, "{} recipes: {all:#?}", all.len());
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    for r in all.iter().filter(|r| BY_CI.contains(&r.text.as_str())) {
        // Its output may go to /dev/null.
        let run_as_written = |l: &str| {
            let l = uncomment(l);
            let l = l.trim().trim_end_matches("> /dev/null").trim_end_matches(">/dev/null");
            l.trim_end() == r.text
        };
        assert!(
            ci.lines().any(run_as_written),
            "{} has `{}`, which .ci/run does not run as written",
            r.from,
            r.text
        );
    }
    // No stale entry: each is still in the docs.
    for cmd in BY_CI {
        assert!(all.iter().any(|r| r.text == *cmd), "`{cmd}` is no longer in the docs");
    }
    assert!(all.iter().any(|r| r.text == CI_ITSELF));
}

/// What a recipe must have done, beyond an exit status other than 2.
fn check(recipe: &Recipe, ran: &Ran, dir: &Path) {
    let cmd = &recipe.text;
    let what = format!(
        "{}: `{cmd}`\nexit {}\n--- stdout\n{}\n--- stderr\n{}",
        recipe.from, ran.code, ran.stdout, ran.stderr
    );
    assert!(!ran.stderr.contains("panicked"), "{what}");
    assert!(!ran.stderr.contains("try 'pgconn --help'"), "a usage error: {what}");
    assert!(!ran.stderr.contains("command not found"), "{what}");
    // Filters that the log has nothing for say so, with status 1; every
    // other recipe finds what it shows.
    // (A window of dates another log has: this one's are elsewhere.)
    let window = cmd.contains("--since '20");
    let filtered = cmd.contains("--app rails") || cmd.contains("--host 10.0.0.0/8") || window;
    if filtered {
        assert!(ran.code == 1 || ran.code == 0, "{what}");
        if ran.code == 1 {
            let says = if window { "in the window" } else { "fix:" };
            assert!(ran.stderr.contains(says), "{what}");
        }
    } else {
        assert_eq!(ran.code, 0, "{what}");
    }
    let file = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    if cmd.contains("pgconn.prom") {
        let prom = file("node-exporter/pgconn.prom");
        let connections = prom.lines().find_map(|l| l.strip_prefix("pgconn_connections_total "));
        assert!(prom.ends_with("# EOF\n"), "{what}\n{prom}");
        assert!(connections.is_some_and(|n| n != "0"), "{what}\n{prom}");
    } else if cmd.contains("pgconn-watch.log") {
        let watch = file("pgconn-watch.log");
        assert!(
            watch.lines().filter(|l| l.contains(" [!] password ")).count() >= 10,
            "{what}\n{watch}"
        );
    } else if cmd.contains("events.ndjson") {
        let events = file("pgconn/events.ndjson");
        assert!(events.lines().count() > 100, "{what}");
        for line in events.lines() {
            let _: serde_json::Value = serde_json::from_str(line).unwrap();
        }
    } else if cmd.contains("summary.json") {
        let summary = file("summary.json");
        let last: serde_json::Value =
            serde_json::from_str(summary.lines().last().unwrap()).unwrap();
        assert_eq!(last["final"], true, "{what}");
        // After SIGHUP, nothing more came: the final report is of nothing.
        let after_reset = if cmd.contains("-HUP") { 0 } else { 52 };
        assert_eq!(last["connections"], after_reset, "{what}");
        // SIGUSR1 wrote a report to standard error, which the script's
        // caller sees.
        assert!(ran.stderr.contains("\"type\":\"summary\""), "{what}");
    } else if !filtered {
        assert!(!ran.stdout.trim().is_empty(), "no output: {what}");
    }
    if cmd.contains("jq .active") {
        assert_eq!(ran.stdout.trim(), if cmd.contains("main.log") { "2" } else { "1" }, "{what}");
    }
}

#[test]
fn every_recipe_runs_as_written() {
    let recipes = all_recipes();
    let mut ran = 0;
    for r in &recipes {
        if BY_CI.contains(&r.text.as_str()) || r.text == CI_ITSELF || r.text.starts_with("watch ") {
            continue;
        }
        let dir = workdir("run");
        if r.text.contains("--prefix") {
            // The log of a server that writes the prefix given.
            std::fs::copy(fixture("prefixes/p11-pgbadger.log"), dir.join("postgresql.log"))
                .unwrap();
        }
        let cmd = adapt(&r.text, &dir);
        let out = run_recipe(&cmd, &dir, r.script);
        check(r, &out, &dir);
        ran += 1;
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(ran > 25, "{ran} recipes run");
}

/// `watch -n 5 pgconn ...` in a terminal: pgconn's table, refreshed.
#[test]
fn the_watch_recipe_runs_in_a_terminal() {
    let found = Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("PGCONN_REQUIRE_TMUX").is_none(), "tmux is required");
        eprintln!("SKIPPED watch recipe: tmux not installed");
        return;
    }
    let recipes: Vec<Recipe> =
        all_recipes().into_iter().filter(|r| r.text.starts_with("watch ")).collect();
    assert_eq!(recipes.len(), 2, "README and man page: {recipes:?}");
    for (i, r) in recipes.iter().enumerate() {
        let dir = workdir(&format!("watch{i}"));
        let cmd = adapt(&r.text, &dir);
        let socket = format!("pgconn-recipe-{i}-{}", std::process::id());
        let tmux = |args: &[&str]| {
            Command::new("tmux").arg("-L").arg(&socket).args(args).output().unwrap()
        };
        let shell =
            format!("cd {} && PATH={}:$PATH {cmd}", dir.display(), dir.join("bin").display());
        tmux(&["new-session", "-d", "-s", "t", "-x", "120", "-y", "40", &shell]);
        let start = Instant::now();
        let screen = loop {
            let s = String::from_utf8_lossy(&tmux(&["capture-pane", "-t", "t", "-p"]).stdout)
                .into_owned();
            if s.contains("Active now") {
                break s;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "{}: {cmd}\n{s}", r.from);
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(screen.contains("Every 5.0s"), "{screen}");
        tmux(&["kill-server"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
