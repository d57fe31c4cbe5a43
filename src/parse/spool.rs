//! Records kept to be read back last first, for inputs whose records run
//! newest first (an envelope's, see `envelope`; a plain log's lines, see
//! `LogParser`): in a temporary file, so memory stays bounded however
//! long the input is.

use std::io;
use std::os::unix::fs::FileExt;

/// Records kept to be read back last first: in a temporary file (removed
/// at once, so nothing is left behind), or in memory from where the file
/// could not be written (or made) on.
pub(crate) struct Spool {
    file: Option<std::fs::File>,
    /// The spool's first bytes, in the file.
    written: u64,
    /// The rest, not (yet) written.
    pending: Vec<u8>,
    /// Writing failed: what is not in the file stays in memory.
    full: bool,
    /// The end of the records not read back yet, and the bytes before it
    /// read already.
    end: u64,
    tail: Vec<u8>,
}

const SPOOL_BLOCK: usize = 1024 * 1024;

impl Spool {
    pub(crate) fn new() -> Spool {
        let file = temporary_file().ok();
        let full = file.is_none();
        Spool { file, written: 0, pending: Vec::new(), full, end: 0, tail: Vec::new() }
    }

    /// Each record is followed by its length, so they can be read from the end.
    pub(crate) fn push(&mut self, record: &[u8]) {
        self.pending.extend_from_slice(record);
        self.pending.extend_from_slice(&(record.len() as u32).to_le_bytes());
        if self.pending.len() >= SPOOL_BLOCK {
            self.write();
        }
    }

    fn write(&mut self) {
        if let (Some(file), false) = (&self.file, self.full) {
            match file.write_all_at(&self.pending, self.written) {
                Ok(()) => {
                    self.written += self.pending.len() as u64;
                    self.pending.clear();
                }
                Err(_) => self.full = true,
            }
        }
    }

    /// Writes what is pending, and starts reading back from the end.
    pub(crate) fn rewind(&mut self) {
        self.write();
        self.end = self.written + self.pending.len() as u64;
    }

    /// The last record not yet read back, into `out`.
    pub(crate) fn pop(&mut self, out: &mut Vec<u8>) -> bool {
        if self.end < 4 || !self.load(4) {
            return false;
        }
        let t = self.tail.len();
        let n = u32::from_le_bytes(self.tail[t - 4..].try_into().expect("four bytes")) as usize;
        if self.end < 4 + n as u64 || !self.load(4 + n) {
            return false;
        }
        let t = self.tail.len();
        out.clear();
        out.extend_from_slice(&self.tail[t - 4 - n..t - 4]);
        self.tail.truncate(t - 4 - n);
        self.end -= 4 + n as u64;
        true
    }

    /// Makes `tail` hold (at least) the last `n` bytes before `end`.
    fn load(&mut self, n: usize) -> bool {
        if self.tail.len() >= n {
            return true;
        }
        let want = (n.max(SPOOL_BLOCK) as u64).min(self.end);
        let start = self.end - want;
        let mut block = vec![0; (want - self.tail.len() as u64) as usize];
        // From the file up to `written`, from memory after it.
        let in_file = (self.written.saturating_sub(start) as usize).min(block.len());
        if in_file > 0 {
            let Some(file) = &self.file else { return false };
            if file.read_exact_at(&mut block[..in_file], start).is_err() {
                return false;
            }
        }
        if in_file < block.len() {
            let from = (start + in_file as u64 - self.written) as usize;
            let rest = block.len() - in_file;
            block[in_file..].copy_from_slice(&self.pending[from..from + rest]);
        }
        block.extend_from_slice(&self.tail);
        self.tail = block;
        self.tail.len() >= n
    }
}

fn temporary_file() -> io::Result<std::fs::File> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("pgconn-{}-{n}.spool", std::process::id()));
    let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_reads_back_last_first() {
        for fails_at in [None, Some(0), Some(2000)] {
            let mut spool = Spool::new();
            let records: Vec<Vec<u8>> = (0..3000)
                .map(|i| format!("record {i} {}", "x".repeat(i % 1400)).into_bytes())
                .collect();
            for (i, r) in records.iter().enumerate() {
                // Writing fails from here on: the rest stays in memory.
                if fails_at == Some(i) {
                    spool.full = true;
                }
                spool.push(r);
            }
            spool.rewind();
            assert_eq!(spool.written > 0, fails_at != Some(0), "{fails_at:?}");
            let mut out = Vec::new();
            for r in records.iter().rev() {
                assert!(spool.pop(&mut out));
                assert_eq!(&out, r);
            }
            assert!(!spool.pop(&mut out));
        }
    }
}
