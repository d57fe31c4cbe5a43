//! The live dashboard in a real terminal: tmux runs pgconn on a FIFO, the
//! test writes log lines into it and reads the screen with capture-pane.
//!
//! Runs when tmux is installed; skipped with a visible message otherwise,
//! unless PGCONN_REQUIRE_TMUX=1 (set by .ci/run).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::util::read_fixture;

/// A tmux server of its own, with one session `t` (also used by
/// `progress`).
pub(crate) struct Tmux {
    pub(crate) socket: String,
    pub(crate) dir: PathBuf,
}

impl Tmux {
    pub(crate) fn cmd(&self, args: &[&str]) -> String {
        let out =
            Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts the session: `shell` in a `width` x `height` terminal.
    pub(crate) fn new_session(&self, width: u32, height: u32, shell: &str) {
        let (w, h) = (width.to_string(), height.to_string());
        let term = "TERM=xterm-256color";
        self.cmd(&["new-session", "-d", "-s", "t", "-x", &w, "-y", &h, "-e", term, shell]);
    }

    /// The visible screen.
    pub(crate) fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-t", "t", "-p"])
    }

    /// The screen and its scrollback.
    pub(crate) fn history(&self) -> String {
        self.cmd(&["capture-pane", "-t", "t", "-p", "-S", "-"])
    }

    pub(crate) fn wait_for(&self, secs: u64, f: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if f(&s) {
                return s;
            }
            assert!(Instant::now() < end, "the screen never matched:\n{s}");
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn tmux_available() -> bool {
    let found = Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success());
    if !found {
        let required = std::env::var("PGCONN_REQUIRE_TMUX").is_ok_and(|v| v == "1");
        assert!(!required, "PGCONN_REQUIRE_TMUX=1 but tmux is not installed");
        let _ = writeln!(std::io::stderr(), "SKIPPED dashboard test: tmux is not installed");
    }
    found
}

/// Starts pgconn in a `width` x `height` terminal, reading a FIFO.
fn start(name: &str, width: u32, height: u32, args: &str) -> (Tmux, PathBuf) {
    let dir = std::env::temp_dir().join(format!("pgconn-tmux-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("log");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let tmux = Tmux { socket: format!("pgconn-test-{name}-{}", std::process::id()), dir };
    let exe = env!("CARGO_BIN_EXE_pgconn");
    // Ctrl-C is for pgconn, not the shell (see `progress::start`).
    let shell = format!("trap : INT; {exe} {args} {}; echo EXIT=$?; sleep 60", fifo.display());
    tmux.new_session(width, height, &shell);
    (tmux, fifo)
}

fn open_writer(fifo: &Path) -> std::fs::File {
    OpenOptions::new().write(true).open(fifo).expect("open the FIFO")
}

fn active(screen: &str) -> u64 {
    let line = screen.lines().find(|l| l.starts_with("Active now")).expect("an Active now line");
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

#[test]
fn dashboard_redraws_in_place_and_leaves_the_final_summary() {
    if !tmux_available() {
        return;
    }
    let (tmux, fifo) = start("redraw", 100, 40, "--top 3");
    let mut log = open_writer(&fifo);
    let data = read_fixture("stderr-default.log");
    let cut = data.len() / 3;
    let cut = cut + data[cut..].iter().position(|&c| c == b'\n').unwrap() + 1;
    log.write_all(&data[..cut]).unwrap();
    let first = tmux.wait_for(5, |s| s.starts_with("live: newest log line"));
    assert!(first.contains("Ctrl-C to stop"), "{first}");
    let before = active(&first);
    // A new session, and the same frame shows one more active.
    log.write_all(
        b"2030-01-01 00:00:00.000 UTC [99999] LOG:  connection authorized: user=zed database=zdb\n",
    )
    .unwrap();
    let second = tmux.wait_for(5, |s| s.contains("as of 2030-01-01 00:00:00 UTC"));
    assert_eq!(active(&second), before + 1, "{second}");
    assert!(second.starts_with("live: newest log line 2030-01-01 00:00:00 UTC"), "{second}");
    // Redrawn in place: one status line in the whole scrollback.
    assert_eq!(tmux.history().matches("live: newest log line").count(), 1, "{}", tmux.history());
    // End of input: the final summary replaces the frame.
    drop(log);
    let last = tmux.wait_for(5, |s| s.contains("EXIT=0"));
    let history = tmux.history();
    assert!(!history.contains("live: newest log line"), "{history}");
    assert_eq!(history.matches("Connections ").count(), 1, "{history}");
    assert!(last.contains("log_line_prefix '%m [%p] ' (inferred)"), "{last}");
}

#[test]
fn dashboard_fits_a_small_terminal_and_ctrl_c_keeps_the_summary() {
    if !tmux_available() {
        return;
    }
    let (tmux, fifo) = start("small", 60, 20, "");
    let mut log = open_writer(&fifo);
    log.write_all(&read_fixture("stderr-keyvalue.log")).unwrap();
    // The first redraw may come before the whole log is read (a loaded
    // machine): the one with all of it has more names than rows.
    let screen = tmux.wait_for(10, |s| s.starts_with("live: ") && s.contains("(other)"));
    let lines: Vec<&str> = screen.lines().collect();
    assert!(lines.len() <= 20, "{screen}");
    assert!(lines.iter().all(|l| l.chars().count() <= 60), "{screen}");
    // Fewer rows per breakdown: the rest is summed as (other).
    assert!(screen.contains("(other)"), "{screen}");
    tmux.cmd(&["send-keys", "-t", "t", "C-c"]);
    let last = tmux.wait_for(5, |s| s.contains("EXIT=0"));
    assert!(!tmux.history().contains("live: "), "{last}");
    assert!(tmux.history().contains("Connections         72"), "{}", tmux.history());
    drop(log);
}

#[test]
fn hostile_names_cannot_take_over_the_terminal() {
    if !tmux_available() {
        return;
    }
    // Role, database and application names with escape sequences (a title
    // change, a screen clear, colours), written by a real server.
    let (tmux, fifo) = start("hostile", 120, 60, "--by db,user,app --top 10");
    let title = |t: &Tmux| t.cmd(&["display-message", "-p", "-t", "t", "#{pane_title}"]);
    let before = title(&tmux);
    let mut log = open_writer(&fifo);
    log.write_all(&read_fixture("hostile/hostile.log")).unwrap();
    let screen = tmux.wait_for(5, |s| s.starts_with("live: ") && s.contains("Connections"));
    assert!(screen.contains("evil\\x1b[2J\\x1b[Hclear"), "{screen}");
    assert!(screen.contains("shop\\rX"), "{screen}");
    // The OSC title sequence did not reach the terminal, nor the clear.
    assert_eq!(title(&tmux), before, "the pane title changed");
    assert!(!title(&tmux).contains("owned"));
    drop(log);
    let last = tmux.wait_for(5, |s| s.contains("EXIT=0"));
    assert!(tmux.history().contains("Connections          7"), "{last}\n{}", tmux.history());
    assert_eq!(title(&tmux), before, "the pane title changed");
}

/// pgconn alone on a terminal, nothing piped in.
fn start_bare(name: &str) -> Tmux {
    let dir = std::env::temp_dir().join(format!("pgconn-tmux-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tmux = Tmux { socket: format!("pgconn-test-{name}-{}", std::process::id()), dir };
    let exe = env!("CARGO_BIN_EXE_pgconn");
    let shell = format!("trap : INT; {exe} --color never; echo EXIT=$?; sleep 60");
    tmux.new_session(100, 40, &shell);
    tmux
}

#[test]
fn bare_pgconn_on_a_terminal_prints_a_hint_and_one_ctrl_d_ends_it() {
    if !tmux_available() {
        return;
    }
    let tmux = start_bare("bare");
    let hint = tmux.wait_for(5, |s| s.contains("Ctrl-D ends it"));
    assert!(hint.contains("usage: pgconn postgresql.log"), "{hint}");
    // No empty dashboard is drawn while it waits.
    thread::sleep(Duration::from_millis(1500));
    assert!(!tmux.screen().contains("live: newest log line"), "{}", tmux.screen());
    tmux.cmd(&["send-keys", "-t", "t", "C-d"]);
    let end = tmux.wait_for(5, |s| s.contains("EXIT="));
    assert!(end.contains("EXIT=1"), "{end}");
    assert!(end.contains("no PostgreSQL log lines found"), "{end}");

    // Lines typed (or pasted) are read; Ctrl-D on the empty line after
    // them ends the input.
    let tmux = start_bare("typed");
    tmux.wait_for(5, |s| s.contains("Ctrl-D ends it"));
    tmux.cmd(&[
        "send-keys",
        "-t",
        "t",
        "-l",
        "2030-01-01 00:00:00.000 UTC [99999] LOG:  connection authorized: user=zed database=zdb\n",
    ]);
    tmux.cmd(&["send-keys", "-t", "t", "C-d"]);
    let end = tmux.wait_for(5, |s| s.contains("EXIT="));
    assert!(end.contains("EXIT=0"), "{end}");
    assert!(end.lines().any(|l| l.starts_with("Active now") && l.contains('1')), "{end}");
}
