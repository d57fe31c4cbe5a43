//! Turning log bytes into events. Each input format has its parser; the
//! message texts they carry are read by `message`, shared by all.

pub(crate) mod message;
pub(crate) mod stderr;

/// What the parser saw besides events: the "bad input" side of the report.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stats {
    /// Lines whose marker sat where a message starts.
    pub(crate) candidates: u64,
    /// Candidate lines that could not be used.
    pub(crate) unparsed: u64,
    /// ... of which the log_line_prefix did not match.
    pub(crate) prefix_mismatch: u64,
    /// The first unusable line, for the hint (lossy, cut short).
    pub(crate) first_unparsed: Option<String>,
    /// Candidate lines holding invalid UTF-8 / NUL bytes (they are used;
    /// their names are shown escaped).
    pub(crate) invalid_utf8: u64,
    pub(crate) nul_lines: u64,
}

impl Stats {
    pub(crate) fn unmatched(&mut self, line: &[u8], prefix: bool) {
        self.unparsed += 1;
        if prefix {
            self.prefix_mismatch += 1;
        }
        if self.first_unparsed.is_none() {
            let cut = &line[..line.len().min(300)];
            self.first_unparsed = Some(String::from_utf8_lossy(cut).into_owned());
        }
    }
}
