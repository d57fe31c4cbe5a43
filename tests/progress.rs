//! The progress line on standard error, in a real terminal (tmux, as the
//! dashboard's tests): shown for a long read of files, redrawn in place,
//! cleared before the report; never with standard error redirected, with
//! `--quiet`, for a pipe, or for a file read in under a second.
//!
//! The long read is a fixture followed by a 64 GiB hole: a sparse file,
//! which costs no disk and takes far longer than the test to read; Ctrl-C
//! ends it (the final report, as at the end of input).

use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use crate::dashboard::{Tmux, tmux_available};
use crate::util::read_fixture;

const LINE: &str = "pgconn: reading ";

/// A tmux session running `script` (sh, with `PGCONN` for the binary) in
/// a directory of its own that holds `big.log` (the sparse file) and
/// `small.log` (the fixture alone).
fn start(name: &str, script: &str) -> Tmux {
    let dir = std::env::temp_dir().join(format!("pgconn-progress-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = read_fixture("stderr-default.log");
    std::fs::write(dir.join("small.log"), &log).unwrap();
    let big = dir.join("big.log");
    std::fs::write(&big, &log).unwrap();
    std::fs::OpenOptions::new().write(true).open(&big).unwrap().set_len(64 << 30).unwrap();
    let tmux = Tmux { socket: format!("pgconn-progress-{name}-{}", std::process::id()), dir };
    let pgconn = format!("{} --color never", env!("CARGO_BIN_EXE_pgconn"));
    // `trap : INT`: Ctrl-C is for pgconn (and `cat`), not the shell that
    // then prints its exit status; without it, sh was killed by Ctrl-C
    // now and then, and the screen was empty.
    let shell = format!(
        "trap : INT; cd {} && {}; echo EXIT=$?; sleep 60",
        tmux.dir.display(),
        script.replace("PGCONN", &pgconn)
    );
    tmux.new_session(100, 30, &shell);
    tmux
}

fn file(tmux: &Tmux, name: &str) -> PathBuf {
    tmux.dir.join(name)
}

#[test]
fn a_long_read_shows_progress_redrawn_in_place_and_cleared_before_the_report() {
    if !tmux_available() {
        return;
    }
    // --failures: on a terminal the summary would be the dashboard, which
    // has its own status line.
    let tmux = start("shown", "PGCONN --failures big.log big.log");
    let screen = tmux.wait_for(20, |s| s.contains(LINE));
    let line = screen.lines().find(|l| l.contains(LINE)).unwrap();
    assert!(line.starts_with("pgconn: reading 1 of 2 files, "), "{line}");
    assert!(line.contains(" of 128 GiB ("), "{line}");
    assert!(line.contains("/s, ETA "), "{line}");
    assert!(line.len() < 100, "{line}");
    // Redrawn: the numbers move, the line stays one line.
    thread::sleep(Duration::from_millis(600));
    let later = tmux.history();
    assert_eq!(later.matches(LINE).count(), 1, "{later}");
    tmux.cmd(&["send-keys", "-t", "t", "C-c"]);
    let last = tmux.wait_for(10, |s| s.contains("EXIT="));
    let history = tmux.history();
    assert!(!history.contains(LINE), "{history}");
    assert!(history.contains("pgconn failures 10 failed connection attempt(s)"), "{history}");
    // The report starts at the first column of a clean line.
    assert!(history.lines().any(|l| l.starts_with("pgconn failures")), "{history}");
    assert!(last.contains("EXIT=0"), "{last}");
}

/// `script` run for 2.5 seconds (more than the line's first second), then
/// Ctrl-C: no progress line ever reached the terminal.
fn never_shown(name: &str, script: &str) -> Tmux {
    let tmux = start(name, script);
    thread::sleep(Duration::from_millis(2500));
    let screen = tmux.history();
    assert!(!screen.contains(LINE), "{script}:\n{screen}");
    tmux.cmd(&["send-keys", "-t", "t", "C-c"]);
    tmux.wait_for(10, |s| s.contains("EXIT="));
    let history = tmux.history();
    assert!(!history.contains(LINE), "{script}:\n{history}");
    tmux
}

#[test]
fn no_progress_with_stderr_redirected() {
    if !tmux_available() {
        return;
    }
    let tmux = never_shown("redirected", "PGCONN --failures big.log 2>err.txt");
    let err = std::fs::read_to_string(file(&tmux, "err.txt")).unwrap();
    assert!(!err.contains(LINE) && !err.contains('\r'), "{err:?}");
}

#[test]
fn no_progress_with_quiet() {
    if !tmux_available() {
        return;
    }
    never_shown("quiet", "PGCONN --failures --quiet big.log");
    never_shown("q", "PGCONN -q --json big.log");
}

#[test]
fn no_progress_for_a_pipe_or_a_quick_file() {
    if !tmux_available() {
        return;
    }
    // Standard input from a pipe is live input; from a file it is a file.
    never_shown("pipe", "cat big.log | PGCONN --failures");
    // The summary on the terminal is the dashboard, which says how fast
    // it reads in its own status line.
    never_shown("dashboard", "PGCONN big.log");
    // ... and how far it is, of how much, and when it will be done.
    let tmux = start("dashboard-status", "PGCONN big.log");
    let screen = tmux.wait_for(20, |s| s.starts_with("reading "));
    let status = screen.lines().next().unwrap();
    assert!(status.contains(" of 64 GiB (") && status.contains("/s, ETA "), "{screen}");
    assert!(status.contains("; newest log line "), "{screen}");
    tmux.cmd(&["send-keys", "-t", "t", "C-c"]);
    tmux.wait_for(10, |s| s.contains("EXIT="));
    let tmux = start("stdin", "PGCONN --failures < big.log");
    let screen = tmux.wait_for(20, |s| s.contains(LINE));
    assert!(screen.contains(" of 64 GiB ("), "{screen}");
    tmux.cmd(&["send-keys", "-t", "t", "C-c"]);
    tmux.wait_for(10, |s| s.contains("EXIT="));
    // Read in well under a second: nothing shown, the report alone.
    let tmux = start("quick", "PGCONN --failures small.log small.log");
    tmux.wait_for(10, |s| s.contains("EXIT="));
    let history = tmux.history();
    assert!(history.starts_with("pgconn failures 20 failed"), "{history}");
    assert!(!history.contains(LINE), "{history}");
}
