//! Compressed input: gzip, bzip2, xz and zstd, known by their magic bytes
//! (whatever the file's name, and on standard input too), decompressed as
//! they are read.
//!
//! Each format is read the way its own tool reads it: concatenated members
//! or streams (`cat a.gz b.gz`, `zstd`'s frames, `xz`'s stream padding)
//! are one input, zstd's skippable frames are skipped, and every checksum
//! the data carries is checked (gzip's CRC-32, bzip2's block CRCs, xz's
//! CRC-32/CRC-64/SHA-256, zstd's content checksum).
//!
//! Data that cannot be decoded (truncated, corrupt, trailing garbage) ends
//! the input with one `io::Error` of kind `InvalidData` whose message names
//! the format and says how much of the log came out before it. The lines
//! that came out before it are real lines and are counted like any others;
//! pgconn then reports the error and exits 2 (README, "Exit status"). An
//! error of the compressed input itself (a failing disk or pipe) is passed
//! on as it is, never called corrupt data.
//!
//! Memory: an xz dictionary or a zstd window over `WINDOW_LIMIT` is refused
//! before it is allocated (a header of a few bytes can ask for 4 GiB, and
//! a small file can fill it); every preset of `xz` and `zstd` stays under
//! it, and it is `zstd`'s own default limit.

use std::cell::Cell;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

/// The largest xz dictionary or zstd window pgconn allocates: zstd's own
/// default limit (`--long=27`); `xz -9` uses 64 MiB.
const WINDOW_LIMIT: u64 = 128 << 20;

/// A compression format pgconn reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compression {
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

impl Compression {
    /// The longest magic of all.
    const MAGIC_LEN: usize = 6;

    /// The format whose magic bytes `head` starts with.
    fn sniff(head: &[u8]) -> Option<Compression> {
        match head {
            [0x1f, 0x8b, ..] => Some(Compression::Gzip),
            // "BZh" and the block size, 1 to 9 (x 100 kB).
            [b'B', b'Z', b'h', b'1'..=b'9', ..] => Some(Compression::Bzip2),
            [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Some(Compression::Xz),
            // A frame, or a skippable frame (magic 0x184D2A50 to 0x184D2A5F).
            [0x28, 0xb5, 0x2f, 0xfd, ..] | [0x50..=0x5f, 0x2a, 0x4d, 0x18, ..] => {
                Some(Compression::Zstd)
            }
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        }
    }

    /// The command that decompresses what pgconn refuses for its size.
    fn unpack_command(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip -dc",
            Compression::Bzip2 => "bzip2 -dc",
            Compression::Xz => "xz -dc",
            Compression::Zstd => "zstd -dc --long=31",
        }
    }
}

/// `rdr`, decompressed if it starts with the magic bytes of gzip, bzip2, xz
/// or zstd (a `.gz`, `.bz2`, `.xz` or `.zst` file, or a compressed
/// standard input); as it is otherwise.
pub(crate) fn decompressed<'a, R: Read + 'a>(mut rdr: R) -> io::Result<Box<dyn Read + 'a>> {
    // The magic bytes, however few bytes each read gives (a pipe may give
    // one at a time), then the rest.
    let mut magic = [0u8; Compression::MAGIC_LEN];
    let mut n = 0;
    let mut ended = false;
    while n < magic.len() {
        match rdr.read(&mut magic[n..]) {
            Ok(0) => {
                ended = true;
                break;
            }
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let head = io::Cursor::new(magic[..n].to_vec());
    if ended {
        // The input ended within its first bytes: not read again (on a
        // terminal, that would wait for a second Ctrl-D).
        return Ok(Box::new(head));
    }
    let Some(format) = Compression::sniff(&magic[..n]) else {
        // Reads of a full LineBuffer bypass the BufReader once it is drained.
        return Ok(Box::new(BufReader::with_capacity(64 * 1024, head.chain(rdr))));
    };
    let failed = Rc::new(Cell::new(None));
    let source = Source { inner: head.chain(rdr), failed: Rc::clone(&failed) };
    let source = BufReader::with_capacity(64 * 1024, source);
    let decoder: Box<dyn Read + 'a> = match format {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(source)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(source)),
        Compression::Xz => {
            // The decoder's own estimate: the dictionary and about 100 KiB.
            let limit_kib = (WINDOW_LIMIT / 1024 + 1024) as u32;
            Box::new(lzma_rust2::XzReader::new_mem_limit(source, true, limit_kib))
        }
        Compression::Zstd => Box::new(ZstdFrames::new(source)),
    };
    Ok(Box::new(Decoded { decoder, format, failed, out: 0 }))
}

/// The compressed bytes as read, keeping aside an error of their own (a
/// failing disk or pipe): the decoder may wrap or replace it, and it is an
/// I/O error to report as it is, not corrupt data.
struct Source<R> {
    inner: R,
    failed: Rc<Cell<Option<io::Error>>>,
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.failed.set(Some(e));
                Err(copy)
            }
            other => other,
        }
    }
}

/// A decoder whose errors say what went wrong in which format.
struct Decoded<'a> {
    decoder: Box<dyn Read + 'a>,
    format: Compression,
    failed: Rc<Cell<Option<io::Error>>>,
    /// Bytes of log decompressed so far.
    out: u64,
}

impl Read for Decoded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.decoder.read(buf) {
            Ok(n) => {
                self.out += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => Err(match self.failed.take() {
                Some(own) => own,
                None => Undecodable::new(self.format, self.out, &e).into(),
            }),
        }
    }
}

/// Compressed data pgconn could not decompress.
#[derive(Debug)]
struct Undecodable {
    format: Compression,
    /// Bytes of log that came out before the problem.
    after: u64,
    problem: Problem,
}

#[derive(Debug)]
enum Problem {
    /// The data stops in the middle (a file cut short, or still being
    /// written).
    Truncated,
    /// A dictionary or window over `WINDOW_LIMIT`.
    TooLarge,
    /// Anything else, in the decoder's words.
    Corrupt(String),
}

impl Undecodable {
    fn new(format: Compression, after: u64, err: &io::Error) -> Undecodable {
        let problem = if err.kind() == io::ErrorKind::OutOfMemory {
            Problem::TooLarge
        } else if ends_early(err) {
            Problem::Truncated
        } else {
            Problem::Corrupt(err.to_string())
        };
        Undecodable { format, after, problem }
    }
}

/// Whether `err`, or an error it wraps, is an unexpected end of input.
fn ends_early(err: &io::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::UnexpectedEof) {
            return true;
        }
        // io::Error's source() skips the error it wraps; look at it too.
        cause = match e.downcast_ref::<io::Error>().and_then(|e| e.get_ref()) {
            Some(inner) => Some(inner),
            None => e.source(),
        };
    }
    false
}

impl fmt::Display for Undecodable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.format.name();
        if let Problem::TooLarge = self.problem {
            return write!(
                f,
                "{name} data that needs more than {} MiB of memory to decompress: \
                 decompress it first ({} FILE | pgconn)",
                WINDOW_LIMIT >> 20,
                self.format.unpack_command()
            );
        }
        write!(f, "corrupt {name} data")?;
        if self.after > 0 {
            write!(f, " after {} bytes of log (the lines before it are counted)", self.after)?;
        }
        match &self.problem {
            Problem::Truncated => write!(f, ": it ends early (a truncated file?)"),
            Problem::Corrupt(why) => write!(f, ": {why}"),
            Problem::TooLarge => unreachable!("handled above"),
        }
    }
}

impl std::error::Error for Undecodable {}

impl From<Undecodable> for io::Error {
    fn from(err: Undecodable) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, err)
    }
}

/// zstd frames one after the other, as `zstd` writes them and `cat` joins
/// them: skippable frames are skipped, and a frame's content checksum, when
/// it has one (`zstd` writes one by default), is checked at its end.
/// (ruzstd's StreamingDecoder reads one frame and checks no checksum.)
struct ZstdFrames<R> {
    source: R,
    frame: FrameDecoder,
    /// Between frames: the next one's header comes next.
    between: bool,
}

impl<R: BufRead> ZstdFrames<R> {
    fn new(source: R) -> ZstdFrames<R> {
        let mut frame = FrameDecoder::new();
        frame.set_max_window_size(WINDOW_LIMIT);
        ZstdFrames { source, frame, between: true }
    }

    /// Reads the next frame's header; false at the end of the input.
    fn next_frame(&mut self) -> io::Result<bool> {
        loop {
            if self.source.fill_buf()?.is_empty() {
                return Ok(false);
            }
            match self.frame.reset(&mut self.source) {
                Ok(()) => return Ok(true),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let want = u64::from(length);
                    let skipped = io::copy(&mut (&mut self.source).take(want), &mut io::sink())?;
                    if skipped < want {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Err(FrameDecoderError::WindowSizeTooBig { .. }) => {
                    return Err(io::ErrorKind::OutOfMemory.into());
                }
                // The first frame's magic was sniffed: this is what follows
                // a frame.
                Err(FrameDecoderError::ReadFrameHeaderError(
                    ReadFrameHeaderError::BadMagicNumber(_),
                )) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "data after a frame that is no zstd frame",
                    ));
                }
                Err(e) => return Err(io::Error::other(e)),
            }
        }
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.between {
                if !self.next_frame()? {
                    return Ok(0);
                }
                self.between = false;
            }
            while self.frame.can_collect() == 0 && !self.frame.is_finished() {
                self.frame
                    .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBlocks(1))
                    .map_err(io::Error::other)?;
            }
            let n = self.frame.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // The frame is decoded and handed out whole: check it.
            if let Some(want) = self.frame.get_checksum_from_data()
                && self.frame.get_calculated_checksum() != Some(want)
            {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "content checksum mismatch",
                ));
            }
            self.between = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::input::tests::Trickle;

    fn read_all(data: &[u8], step: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        decompressed(Trickle { data, step })?.read_to_end(&mut out)?;
        Ok(out)
    }

    const PLAIN: &[u8] = include_bytes!("../fixtures/v16/extended.log");

    /// The log as `gzip`, `bzip2`, `xz` and `zstd` compressed it
    /// (fixtures/generate.sh).
    const COMPRESSED: [(&str, &[u8]); 4] = [
        ("gzip", include_bytes!("../fixtures/v16/extended.log.gz")),
        ("bzip2", include_bytes!("../fixtures/v16/extended.log.bz2")),
        ("xz", include_bytes!("../fixtures/v16/extended.log.xz")),
        ("zstd", include_bytes!("../fixtures/v16/extended.log.zst")),
    ];

    /// One zstd frame of raw blocks with a content checksum: every byte of
    /// its content can change without the blocks noticing.
    fn zstd_raw(data: &[u8]) -> Vec<u8> {
        use std::hash::Hasher;
        // Magic; descriptor: a checksum, no content size; window 1 KiB.
        let mut out = vec![0x28, 0xb5, 0x2f, 0xfd, 0b0000_0100, 0];
        let blocks: Vec<&[u8]> = data.chunks(1024).collect();
        for (i, block) in blocks.iter().enumerate() {
            // Last-block flag, type 0 (raw), size.
            let header = u32::from(i + 1 == blocks.len()) | (block.len() as u32) << 3;
            out.extend_from_slice(&header.to_le_bytes()[..3]);
            out.extend_from_slice(block);
        }
        let mut hash = twox_hash::XxHash64::with_seed(0);
        hash.write(data);
        out.extend_from_slice(&(hash.finish() as u32).to_le_bytes());
        out
    }

    /// Found by the chunking property test: a pipe that gives the gzip
    /// magic one byte per read was read as plain text.
    #[test]
    fn every_format_is_recognised_one_byte_at_a_time() {
        for (name, data) in COMPRESSED {
            for step in [1, 2, 5, 7, 4096] {
                assert!(read_all(data, step).unwrap() == PLAIN, "{name}, step {step}");
            }
        }
        // Shorter than any magic: read as it is.
        assert_eq!(read_all(b"ab", 1).unwrap(), b"ab");
        assert_eq!(read_all(b"", 1).unwrap(), b"");
        // "BZh" and no block size: text.
        assert_eq!(read_all(b"BZh LOG\n", 1).unwrap(), b"BZh LOG\n");
    }

    #[test]
    fn concatenated_members_and_streams_are_one_input() {
        for (name, data) in COMPRESSED {
            assert!(read_all(&data.repeat(3), 4096).unwrap() == PLAIN.repeat(3), "{name}");
        }
        // xz allows zero bytes between streams, in fours.
        let xz = COMPRESSED[2].1;
        let padded = [xz, &[0; 8], xz, &[0; 4]].concat();
        assert!(read_all(&padded, 4096).unwrap() == PLAIN.repeat(2));
        let err = read_all(&[xz, &[0; 3]].concat(), 4096).unwrap_err();
        assert!(err.to_string().starts_with("corrupt xz data after 38960 bytes"), "{err}");
    }

    #[test]
    fn zstd_skippable_frames_are_skipped_even_first() {
        let skippable = |magic: u8, len: u8| {
            let mut frame = vec![magic, 0x2a, 0x4d, 0x18, len, 0, 0, 0];
            frame.extend(std::iter::repeat_n(0xee, len.into()));
            frame
        };
        let zstd = COMPRESSED[3].1;
        let data =
            [skippable(0x50, 5), zstd.to_vec(), skippable(0x5f, 0), zstd_raw(PLAIN)].concat();
        assert!(read_all(&data, 2).unwrap() == PLAIN.repeat(2));
        // A skippable frame cut short is a truncated input.
        let err = read_all(&skippable(0x5a, 9)[..12], 100).unwrap_err();
        assert_eq!(err.to_string(), "corrupt zstd data: it ends early (a truncated file?)");
    }

    #[test]
    fn zstd_content_checksum_is_checked() {
        let mut data = zstd_raw(PLAIN);
        assert!(read_all(&data, 4096).unwrap() == PLAIN);
        // A byte of the log itself: the blocks are still well formed.
        data[2000] ^= 0x20;
        let err = read_all(&data, 4096).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            err.to_string(),
            "corrupt zstd data after 38960 bytes of log (the lines before it are counted): \
             content checksum mismatch"
        );
    }

    #[test]
    fn truncated_corrupt_and_trailed_data_name_the_format() {
        for (name, data) in COMPRESSED {
            let cut = read_all(&data[..data.len() / 2], 4096).unwrap_err();
            assert_eq!(cut.kind(), io::ErrorKind::InvalidData, "{name}: {cut}");
            let msg = cut.to_string();
            assert!(msg.starts_with(&format!("corrupt {name} data")), "{msg}");
            assert!(msg.ends_with(": it ends early (a truncated file?)"), "{msg}");

            let mut garbage = data[..Compression::MAGIC_LEN].to_vec();
            garbage.extend((0..2000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
            let bad = read_all(&garbage, 4096).unwrap_err();
            assert_eq!(bad.kind(), io::ErrorKind::InvalidData, "{name}: {bad}");
            assert!(bad.to_string().starts_with(&format!("corrupt {name} data: ")), "{bad}");

            let trailed = [data, b"not compressed\n"].concat();
            let msg = read_all(&trailed, 4096).unwrap_err().to_string();
            assert!(msg.starts_with(&format!("corrupt {name} data after 38960 bytes")), "{msg}");
        }
    }

    #[test]
    fn errors_of_the_input_itself_are_not_called_corrupt() {
        /// Gives its data 100 bytes at a time, then fails.
        struct Failing<'a>(&'a [u8]);
        impl Read for Failing<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() {
                    return Err(io::Error::other("disk on fire"));
                }
                let n = self.0.len().min(out.len()).min(100);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        for (name, data) in COMPRESSED {
            let mut out = Vec::new();
            let err = decompressed(Failing(&data[..data.len() / 2]))
                .unwrap()
                .read_to_end(&mut out)
                .unwrap_err();
            assert_eq!(err.to_string(), "disk on fire", "{name}");
        }
    }

    #[test]
    fn windows_over_the_limit_are_refused_before_allocation() {
        // zstd: window descriptor exponent 21 (+10): a 2 GiB window.
        let zstd = [0x28, 0xb5, 0x2f, 0xfd, 0, 21 << 3, 0, 0, 0];
        let err = read_all(&zstd, 4096).unwrap_err();
        assert!(err.to_string().starts_with("zstd data that needs more than 128 MiB"), "{err}");
        // xz: a stream header (CRC-32 check), then a block header whose
        // LZMA2 filter asks for the largest dictionary, 4 GiB - 1.
        let crc = |bytes: &[u8]| {
            let mut crc = flate2::Crc::new();
            crc.update(bytes);
            crc.sum().to_le_bytes()
        };
        let mut xz = vec![0xfd, b'7', b'z', b'X', b'Z', 0, 0, 1];
        xz.extend_from_slice(&crc(&[0, 1]));
        // Size (12 / 4 - 1), flags (one filter), LZMA2 (0x21), one byte of
        // properties (dictionary 40), padding.
        let block = [2, 0, 0x21, 1, 40, 0, 0, 0];
        xz.extend_from_slice(&block);
        xz.extend_from_slice(&crc(&block));
        let msg = read_all(&xz, 4096).unwrap_err().to_string();
        assert_eq!(
            msg,
            "xz data that needs more than 128 MiB of memory to decompress: \
             decompress it first (xz -dc FILE | pgconn)"
        );
        // The same block with a dictionary of 128 MiB, the limit itself,
        // passes the check and fails on the missing data.
        let block = [2, 0, 0x21, 1, 30, 0, 0, 0];
        xz.truncate(12);
        xz.extend_from_slice(&block);
        xz.extend_from_slice(&crc(&block));
        let msg = read_all(&xz, 4096).unwrap_err().to_string();
        assert_eq!(msg, "corrupt xz data: it ends early (a truncated file?)");
    }
}
