//! The live dashboard: the summary redrawn in place on a terminal.
//!
//! Each frame is rendered into one buffer and written at once: the cursor
//! goes back to the first line of the previous frame, every line clears
//! its rest (`ESC[K`), and the frame ends by clearing what is left below
//! (`ESC[J`). No alternate screen, no hidden cursor: an interrupted
//! pgconn leaves the terminal as it was, with the last frame on it.

/// Cuts a line (which may hold color escapes) to `width` visible
/// characters, ending with `…` when cut.
pub(crate) fn fit(line: &str, width: usize) -> String {
    let mut out = String::with_capacity(line.len());
    let mut visible = 0;
    let mut chars = line.chars().peekable();
    let total = count_visible(line);
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ params final-byte
            out.push(c);
            if chars.peek() == Some(&'[') {
                for c in chars.by_ref() {
                    out.push(c);
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        if total > width && visible + 1 >= width {
            out.push('…');
            if line.contains('\x1b') {
                out.push_str("\x1b[0m");
            }
            break;
        }
        out.push(c);
        visible += 1;
    }
    out
}

fn count_visible(line: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in line.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (false, _) => n += 1,
            (true, c) if c.is_ascii_alphabetic() => in_escape = false,
            (true, _) => {}
        }
    }
    n
}

/// Fits `text` (the status line, then the summary) into `width` x
/// `height`: longer lines are cut, and lines past the height are dropped
/// with a last line saying how many.
pub(crate) fn fit_screen(text: &str, width: usize, height: usize) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = Vec::new();
    let room = height.max(2);
    for (i, line) in lines.iter().enumerate() {
        if out.len() + 1 == room && i + 1 < lines.len() {
            out.push(fit(
                &format!("… {} more lines (a taller terminal shows them)", lines.len() - i),
                width,
            ));
            break;
        }
        out.push(fit(line, width));
    }
    out
}

/// The in-place redraw state.
#[derive(Default)]
pub(crate) struct Screen {
    /// Lines of the frame now on the terminal.
    drawn: usize,
}

impl Screen {
    /// Renders `lines` over the previous frame, into `buf`.
    pub(crate) fn frame(&mut self, lines: &[String], buf: &mut Vec<u8>) {
        buf.clear();
        if self.drawn > 0 {
            buf.extend_from_slice(format!("\x1b[{}F", self.drawn).as_bytes());
        }
        for line in lines {
            buf.extend_from_slice(line.as_bytes());
            buf.extend_from_slice(b"\x1b[K\n");
        }
        buf.extend_from_slice(b"\x1b[J");
        self.drawn = lines.len();
    }

    pub(crate) fn is_drawn(&self) -> bool {
        self.drawn > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_counts_only_visible_characters() {
        assert_eq!(fit("abcdef", 10), "abcdef");
        assert_eq!(fit("abcdef", 4), "abc…");
        let colored = "\x1b[32mabcdef\x1b[0m";
        assert_eq!(fit(colored, 10), colored);
        assert_eq!(fit(colored, 4), "\x1b[32mabc…\x1b[0m");
    }

    #[test]
    fn fit_screen_drops_rows_that_do_not_fit() {
        let text = (0..10).map(|i| format!("line {i}")).collect::<Vec<_>>().join("\n");
        let lines = fit_screen(&text, 80, 5);
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[4], "… 6 more lines (a taller terminal shows them)");
        assert_eq!(fit_screen(&text, 80, 20).len(), 10);
    }

    #[test]
    fn frames_redraw_in_place() {
        let mut s = Screen::default();
        let mut buf = Vec::new();
        s.frame(&["a".into(), "b".into()], &mut buf);
        assert_eq!(buf, b"a\x1b[K\nb\x1b[K\n\x1b[J");
        s.frame(&["c".into()], &mut buf);
        assert_eq!(buf, b"\x1b[2Fc\x1b[K\n\x1b[J");
        assert!(s.is_drawn());
    }
}
