//! Progress of reading big files, on standard error: one line, redrawn in
//! place and cleared before the report.
//!
//! Shown only where it helps and harms nothing: config.rs decides that
//! standard error is a terminal (not `TERM=dumb`), there is no `--quiet`
//! and no `--watch`, and standard output is not the dashboard;
//! `Progress::start`, that every input is a regular file (standard input
//! too, when redirected from one): a pipe is live input, with no size and
//! no end. Nothing for the first second (`AFTER`), so a file read at once
//! leaves no trace; then, every `EVERY`,
//! `pgconn: reading 2 of 3 files, 1.2 GiB of 3.4 GiB (35%), 410 MiB/s, ETA 5s`
//! (with `, pass 1 of 2` when `--since`/`--until` with a duration reads
//! the files twice).
//!
//! The hot path does not know about it. A thread of its own wakes every
//! `EVERY` and asks the kernel where the input being read is: the offset
//! of a duplicate of the reader's descriptor, which shares it. The reader
//! only says, once per input, which one it opened. Sizes and offsets are
//! those of the files on disk: for a compressed file, the compressed bytes
//! read of its compressed size, which is what tells how far along it is.

use std::fs::File;
use std::io::{IsTerminal, Seek, Write};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::{Config, Input};

/// Nothing is shown before the run is this old.
const AFTER: Duration = Duration::from_secs(1);
/// The line is redrawn this often.
const EVERY: Duration = Duration::from_millis(250);

/// The progress line and the thread that draws it. Dropping it stops the
/// thread and clears the line.
pub(crate) struct Progress {
    shared: Arc<Shared>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// The line must make way for the reports written to the terminal.
    stdout_tty: bool,
}

/// What the reader tells the progress line: which input it opened.
#[derive(Clone)]
pub(crate) struct Reading(Arc<Shared>);

struct Shared {
    state: Mutex<State>,
}

struct State {
    /// The size of each input, in command-line order.
    sizes: Vec<u64>,
    /// The inputs in the order this pass reads them (indices into `sizes`).
    order: Vec<usize>,
    /// `(n, of)` when the files are read twice.
    pass: Option<(u8, u8)>,
    passes: u8,
    began: Instant,
    /// Which input of `order` is being read, and its file.
    at: usize,
    file: Option<File>,
    drawn: bool,
    stopped: bool,
}

impl Progress {
    /// The progress line for this run, when `config` allows one and every
    /// input is a regular file; None otherwise.
    pub(crate) fn start(config: &Config) -> Option<Progress> {
        if !config.progress {
            return None;
        }
        let sizes = sizes(&config.inputs)?;
        let state = State::new(sizes);
        let shared = Arc::new(Shared { state: Mutex::new(state) });
        let (stop, stopped) = mpsc::channel::<()>();
        let drawer = shared.clone();
        let start = Instant::now();
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                loop {
                    match stopped.recv_timeout(EVERY) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    if start.elapsed() >= AFTER {
                        drawer.draw();
                    }
                }
            })
            .ok()?;
        Some(Progress {
            shared,
            stop: Some(stop),
            thread: Some(thread),
            stdout_tty: std::io::stdout().is_terminal(),
        })
    }

    /// For the dashboard (a terminal showing the summary while big files
    /// are read): the same account of the reading, drawn by no thread but
    /// shown in the dashboard's status line (`status`). None when an
    /// input is not a regular file.
    pub(crate) fn for_dashboard(config: &Config) -> Option<Progress> {
        if !config.dashboard {
            return None;
        }
        let sizes = sizes(&config.inputs)?;
        let state = State::new(sizes);
        let shared = Arc::new(Shared { state: Mutex::new(state) });
        Some(Progress { shared, stop: None, thread: None, stdout_tty: false })
    }

    /// What the line would say, without `pgconn: ` (for the dashboard).
    pub(crate) fn status(&self) -> Option<String> {
        let view = self.shared.lock().view()?;
        Some(view.line(usize::MAX).trim_start_matches("pgconn: ").to_string())
    }

    pub(crate) fn reading(&self) -> Reading {
        Reading(self.shared.clone())
    }

    /// Clears the line until the next redraw, before something else is
    /// written to standard error.
    pub(crate) fn hide(&self) {
        self.shared.lock().clear();
    }

    /// `hide`, when standard output is the same terminal: before a report
    /// (`--every`) is written there.
    pub(crate) fn hide_for_stdout(&self) {
        if self.stdout_tty {
            self.hide();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let mut state = self.shared.lock();
        state.stopped = true;
        state.clear();
    }
}

impl Reading {
    /// A pass over the inputs begins, in this order (indices into the
    /// command line's). `first_of_two`: the pass that finds the newest line
    /// for `--since`/`--until`, before the run reads them again.
    pub(crate) fn begin_pass(&self, order: Vec<usize>, first_of_two: bool) {
        let mut state = self.0.lock();
        state.pass = match (first_of_two, state.passes) {
            (true, _) => Some((1, 2)),
            (false, 0) => None,
            (false, _) => Some((2, 2)),
        };
        state.passes += 1;
        state.order = order;
        state.began = Instant::now();
        state.at = 0;
        state.file = None;
    }

    /// The `at`-th input of the pass is open: `file`, or None when it
    /// could not be opened.
    pub(crate) fn input(&self, at: usize, file: Option<&File>) {
        let file = file.and_then(|f| f.try_clone().ok());
        let mut state = self.0.lock();
        state.at = at;
        state.file = file;
    }

    /// `input`, for standard input (redirected from a file).
    pub(crate) fn stdin(&self, at: usize) {
        use std::os::fd::AsFd;
        let file = std::io::stdin().as_fd().try_clone_to_owned().ok().map(File::from);
        self.input(at, file.as_ref());
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn draw(&self) {
        let mut state = self.lock();
        if state.stopped {
            return;
        }
        let Some(view) = state.view() else { return };
        let width = terminal_size::terminal_size_of(std::io::stderr())
            .map_or(80, |(w, _)| usize::from(w.0));
        let text = format!("\r{}\x1b[K", view.line(width));
        // stderr may be closed; the line is not worth an error.
        if std::io::stderr().lock().write_all(text.as_bytes()).is_ok() {
            state.drawn = true;
        }
    }
}

impl State {
    /// Nothing read yet of inputs of these sizes.
    fn new(sizes: Vec<u64>) -> State {
        State {
            order: (0..sizes.len()).collect(),
            sizes,
            pass: None,
            passes: 0,
            began: Instant::now(),
            at: 0,
            file: None,
            drawn: false,
            stopped: false,
        }
    }

    /// How far the reading is; None with nothing to read.
    fn view(&mut self) -> Option<View> {
        let total: u64 = self.order.iter().map(|&i| self.sizes[i]).sum();
        if total == 0 {
            return None;
        }
        let before: u64 = self.order.iter().take(self.at).map(|&i| self.sizes[i]).sum();
        let size = self.order.get(self.at).map_or(0, |&i| self.sizes[i]);
        let offset = self.file.as_mut().and_then(|f| f.stream_position().ok()).unwrap_or(0);
        let done = (before + offset.min(size)).min(total);
        let secs = self.began.elapsed().as_secs_f64();
        Some(View {
            at: self.at.min(self.order.len().saturating_sub(1)),
            files: self.order.len(),
            done,
            total,
            per_second: if secs > 0.0 { done as f64 / secs } else { 0.0 },
            pass: self.pass,
        })
    }

    fn clear(&mut self) {
        if self.drawn {
            let _ = std::io::stderr().lock().write_all(b"\r\x1b[K");
            self.drawn = false;
        }
    }
}

/// The size of each input, or None when one is not a regular file (a pipe,
/// a FIFO, a terminal: live input). One that cannot be read counts as
/// empty: reading it fails, and is reported, in its turn.
fn sizes(inputs: &[Input]) -> Option<Vec<u64>> {
    inputs
        .iter()
        .map(|input| {
            let path = match input {
                Input::File(path) => path.as_path(),
                Input::Stdin => std::path::Path::new("/dev/stdin"),
            };
            match std::fs::metadata(path) {
                Ok(m) if m.is_file() => Some(m.len()),
                Ok(m) if m.is_dir() => Some(0),
                Ok(_) => None,
                Err(_) => Some(0),
            }
        })
        .collect()
}

/// What one line shows.
struct View {
    /// The input being read, of `files`, from 0.
    at: usize,
    files: usize,
    done: u64,
    total: u64,
    per_second: f64,
    pass: Option<(u8, u8)>,
}

impl View {
    /// The line, cut to `width - 1` columns (the last one would wrap on
    /// some terminals, and `\r` would then redraw only the second row).
    fn line(&self, width: usize) -> String {
        let mut line = String::from("pgconn: reading ");
        if self.files > 1 {
            line.push_str(&format!("{} of {} files, ", self.at + 1, self.files));
        }
        let percent = self.done * 100 / self.total.max(1);
        line.push_str(&format!(
            "{} of {} ({percent}%), {}/s, ETA ",
            size(self.done),
            size(self.total),
            size(self.per_second as u64)
        ));
        if self.per_second >= 1.0 {
            let left = (self.total - self.done) as f64 / self.per_second;
            line.push_str(&eta(left.ceil() as u64));
        } else {
            line.push('?');
        }
        if let Some((n, of)) = self.pass {
            line.push_str(&format!(", pass {n} of {of}"));
        }
        // ASCII only: bytes are columns.
        line.truncate(width.saturating_sub(1).max(1));
        line
    }
}

/// `512 B`, `87 KiB`, `1.2 GiB`.
fn size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{n} B"),
        _ if v < 9.95 => format!("{v:.1} {}", UNITS[unit]),
        _ => format!("{v:.0} {}", UNITS[unit]),
    }
}

/// `5s`, `4m05s`, `2h03m`.
fn eta(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, s / 60 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024 * 1024 * 1024;

    #[test]
    fn the_line_says_how_far_how_fast_and_how_long() {
        let v = View {
            at: 1,
            files: 3,
            done: GIB * 12 / 10,
            total: GIB * 34 / 10,
            per_second: 410.0 * 1024.0 * 1024.0,
            pass: None,
        };
        assert_eq!(
            v.line(200),
            "pgconn: reading 2 of 3 files, 1.2 GiB of 3.4 GiB (35%), 410 MiB/s, ETA 6s"
        );
        // One file: no count; a second pass says so, last.
        let one = View { files: 1, at: 0, pass: Some((2, 2)), ..v };
        assert_eq!(
            one.line(200),
            "pgconn: reading 1.2 GiB of 3.4 GiB (35%), 410 MiB/s, ETA 6s, pass 2 of 2"
        );
        // Cut to the terminal, short of its last column.
        assert_eq!(one.line(30), "pgconn: reading 1.2 GiB of 3.");
        let stalled = View { per_second: 0.0, ..one };
        assert!(stalled.line(200).contains("ETA ?"));
    }

    #[test]
    fn sizes_and_times_for_people() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(87 * 1024), "87 KiB");
        assert_eq!(size(10 * 1024 * 1024 - 1), "10 MiB");
        assert_eq!(size(5 * GIB / 4), "1.2 GiB");
        assert_eq!(eta(5), "5s");
        assert_eq!(eta(245), "4m05s");
        assert_eq!(eta(7380), "2h03m");
    }

    #[test]
    fn only_regular_files_have_a_size() {
        let dir = std::env::temp_dir().join(format!("pgconn-progress-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a.log");
        std::fs::write(&file, b"0123456789").unwrap();
        let missing = dir.join("missing.log");
        let got = sizes(&[Input::File(file.clone()), Input::File(missing)]);
        assert_eq!(got, Some(vec![10, 0]));
        // A FIFO is live input: no progress at all.
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            assert_eq!(sizes(&[Input::File(file), Input::File(fifo)]), None);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
