//! Reading: one reused buffer, filled by large reads, handed out as runs of
//! complete lines.
//!
//! Whatever one `read()` returns is handed out at once (up to its last
//! newline), so a pipe from `tail -F` is processed as it arrives. The
//! partial line at the end is rolled to the front of the buffer for the
//! next read. A last line without a newline is handed out at end of input.
//! A line longer than `MAX_LINE` is cut: its first `MAX_LINE` bytes are
//! handed out as a line, the rest is skipped and counted, so memory stays
//! bounded and no line is scanned twice.

use std::io::{self, Read};
use std::ops::Range;

pub(crate) use crate::decompress::decompressed;

/// Size of one read.
pub(crate) const READ_SIZE: usize = 256 * 1024;
/// Lines are cut at this length.
pub(crate) const MAX_LINE: usize = 1024 * 1024;

pub(crate) struct LineBuffer {
    buf: Vec<u8>,
    /// Start of the unconsumed bytes.
    start: usize,
    /// End of the valid bytes.
    end: usize,
    /// Skipping the rest of an over-long line.
    skipping: bool,
    pub(crate) bytes_read: u64,
    pub(crate) long_lines: u64,
}

/// The outcome of one `fill`.
pub(crate) enum Chunk {
    /// Complete lines (each ending in `\n`, except a last line at EOF), at
    /// this range of the buffer (see `LineBuffer::get`).
    Lines(Range<usize>),
    /// A read returned data but no complete line yet.
    Pending,
    Eof,
}

impl LineBuffer {
    pub(crate) fn new() -> LineBuffer {
        LineBuffer {
            buf: vec![0; READ_SIZE],
            start: 0,
            end: 0,
            skipping: false,
            bytes_read: 0,
            long_lines: 0,
        }
    }

    /// Forgets any partial line (between inputs: a file's unterminated last
    /// line was already handed out at its EOF).
    pub(crate) fn reset(&mut self) {
        self.start = 0;
        self.end = 0;
        self.skipping = false;
    }

    /// Hands the whole buffer over (the lines of the last `Chunk::Lines`
    /// stay where they are in it) and goes on in `spare`, with only the
    /// partial line copied: lines reach another thread without a copy.
    pub(crate) fn detach(&mut self, mut spare: Vec<u8>) -> Vec<u8> {
        if spare.len() < self.buf.len() {
            spare.resize(self.buf.len(), 0);
        }
        let tail = self.end - self.start;
        spare[..tail].copy_from_slice(&self.buf[self.start..self.end]);
        self.start = 0;
        self.end = tail;
        std::mem::replace(&mut self.buf, spare)
    }

    /// The bytes of a `Chunk::Lines`.
    pub(crate) fn get(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    /// Reads once and returns the complete lines now available.
    pub(crate) fn fill<R: Read + ?Sized>(&mut self, rdr: &mut R) -> io::Result<Chunk> {
        // Make room: roll the partial line to the front, grow for a long one.
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.len() - self.end < READ_SIZE / 4 {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.buf.len() - self.end < READ_SIZE / 4 {
                let want = (self.buf.len() * 2).min(MAX_LINE + READ_SIZE);
                self.buf.resize(want, 0);
            }
        }
        let n = loop {
            match rdr.read(&mut self.buf[self.end..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            if self.start == self.end {
                return Ok(Chunk::Eof);
            }
            // The last line has no newline; it still counts.
            let (s, e) = (self.start, self.end);
            self.start = e;
            if self.skipping {
                self.skipping = false;
                return Ok(Chunk::Pending);
            }
            return Ok(Chunk::Lines(s..e));
        }
        self.bytes_read += n as u64;
        let new_from = self.end;
        self.end += n;
        if self.skipping {
            match memchr::memchr(b'\n', &self.buf[new_from..self.end]) {
                Some(i) => {
                    self.skipping = false;
                    self.start = new_from + i + 1;
                }
                None => {
                    self.start = self.end;
                    return Ok(Chunk::Pending);
                }
            }
        }
        let from = self.start.max(new_from);
        match memchr::memrchr(b'\n', &self.buf[from..self.end]) {
            Some(i) => {
                let s = self.start;
                self.start = from + i + 1;
                Ok(Chunk::Lines(s..self.start))
            }
            None if self.end - self.start >= MAX_LINE => {
                // Hand out the head of the over-long line, skip the rest.
                self.long_lines += 1;
                self.skipping = true;
                let s = self.start;
                self.start = self.end;
                Ok(Chunk::Lines(s..s + MAX_LINE))
            }
            None => Ok(Chunk::Pending),
        }
    }
}

/// Reads `rdr` to its end through `buf`, handing each run of complete
/// lines to `f` as soon as a read delivers it.
pub(crate) fn read_lines<R: Read + ?Sized>(
    rdr: &mut R,
    buf: &mut LineBuffer,
    mut f: impl FnMut(&[u8], &LineBuffer),
) -> io::Result<()> {
    buf.reset();
    loop {
        match buf.fill(rdr)? {
            Chunk::Lines(range) => f(buf.get(range), buf),
            Chunk::Pending => {}
            Chunk::Eof => return Ok(()),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A reader that returns at most `step` bytes per read.
    pub(crate) struct Trickle<'a> {
        pub(crate) data: &'a [u8],
        pub(crate) step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(self.data.len()).min(out.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn lines(data: &[u8], step: usize) -> (Vec<Vec<u8>>, u64) {
        let mut lb = LineBuffer::new();
        let mut rdr = Trickle { data, step };
        let mut out = Vec::new();
        loop {
            match lb.fill(&mut rdr).unwrap() {
                Chunk::Lines(r) => {
                    for line in lb.get(r).split_inclusive(|&c| c == b'\n') {
                        out.push(line.to_vec());
                    }
                }
                Chunk::Pending => {}
                Chunk::Eof => break,
            }
        }
        (out, lb.long_lines)
    }

    #[test]
    fn split_mid_line_and_no_final_newline() {
        let data = b"one\ntwo\nthree";
        for step in [1, 2, 3, 5, 100] {
            let (l, _) = lines(data, step);
            assert_eq!(
                l,
                vec![b"one\n".to_vec(), b"two\n".to_vec(), b"three".to_vec()],
                "step {step}"
            );
        }
    }

    #[test]
    fn detached_buffers_keep_their_lines_and_the_tail_moves_on() {
        let mut lb = LineBuffer::new();
        let mut rdr = Trickle { data: b"one\ntwo\nthr", step: 100 };
        let Chunk::Lines(r) = lb.fill(&mut rdr).unwrap() else { panic!("lines") };
        let old = lb.detach(Vec::new());
        assert_eq!(&old[r], b"one\ntwo\n");
        let mut rdr = Trickle { data: b"ee\n", step: 100 };
        let Chunk::Lines(r) = lb.fill(&mut rdr).unwrap() else { panic!("lines") };
        assert_eq!(lb.get(r), b"three\n");
    }

    #[test]
    fn empty_input() {
        assert!(lines(b"", 10).0.is_empty());
        assert_eq!(lines(b"\n", 10).0, vec![b"\n".to_vec()]);
    }

    #[test]
    fn over_long_line_is_cut_and_counted() {
        let mut data = vec![b'x'; MAX_LINE * 3];
        data.extend_from_slice(b"\nnext\n");
        let (l, long) = lines(&data, READ_SIZE);
        assert_eq!(long, 1);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].len(), MAX_LINE);
        assert_eq!(l[1], b"next\n");
    }

    #[test]
    fn many_lines_large_reads() {
        let data: Vec<u8> = (0..100_000).flat_map(|i| format!("line {i}\n").into_bytes()).collect();
        let (l, _) = lines(&data, 70_001);
        assert_eq!(l.len(), 100_000);
        assert_eq!(l[99_999], b"line 99999\n");
    }
}
