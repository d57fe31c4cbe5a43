//! `log_line_prefix`: compiling a value into a matcher, and inferring the
//! value from sample lines when the user gave none.
//!
//! A compiled `Prefix` matches exactly the text a server writes before the
//! severity word (`LOG:  `), anchored at both ends, and reports where the
//! fields pgconn uses are: time (`%m`, `%t`, `%n`), pid (`%p`), session id
//! (`%c`), user (`%u`), database (`%d`), host (`%h`, `%r`). Every escape of
//! PostgreSQL 12 to 18 is understood, with padding (`%-10u`) and `%q`
//! (what follows may be absent, in processes without a client).
//!
//! Inference tries the common values (the default of every version, the
//! Debian one, AWS RDS, key=value styles) and a value built from the sample
//! lines' own shape, and keeps the one that matches the most samples.

use regex_automata::dfa::onepass;
use regex_automata::meta::Regex;
use regex_automata::util::captures::Captures;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input};

use crate::bytes;
use crate::error::{Error, Result};
use crate::event::Meta;
use crate::time::{TimeCache, Timestamp};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimeForm {
    /// `%m` or `%t`: `YYYY-MM-DD HH:MM:SS[.mmm] ZONE`
    Civil,
    /// `%n`: epoch seconds with milliseconds
    Epoch,
}

/// A compiled log_line_prefix.
///
/// Two matchers of the same groups: `strict`, a one-pass DFA (fast, and
/// built only when the prefix allows one), where free-text fields (`%u`,
/// `%d`, `%a`, ...) may not contain the first byte of the literal after
/// them; and `regex`, which allows anything there and is tried when the
/// strict one does not match (a database named `a@b` in `%u@%d`). Where
/// both match they agree: the lenient fields are lazy, so they end at the
/// first place the rest can match, which is where the strict ones end.
#[derive(Clone, Debug)]
pub(crate) struct Prefix {
    source: String,
    regex: Regex,
    strict: Option<onepass::DFA>,
    /// A hand-written matcher of the strict form, when every field can be
    /// cut without looking ahead (the common prefixes); it is tried first.
    fast: Option<Vec<Step>>,
    /// The fast matcher's prefix has fixed fields only (no free text, no
    /// `%q`) and no colon in its literals: no `WORD:  ` can be inside it,
    /// so a line's severity word is right where it ends (`head`).
    fixed: bool,
    groups: Groups,
}

/// One step of the hand-written matcher; `to` is the field it fills.
#[derive(Clone, Debug)]
enum Step {
    Literal(Vec<u8>),
    /// `%m` / `%t` / `%s`: `YYYY-MM-DD HH:MM:SS[.mmm] ZONE`; the zone ends
    /// before `until`, the first byte of the literal after it.
    Time {
        ms: bool,
        until: Option<u8>,
        to: Slot,
    },
    /// `%n`: digits `.` three digits.
    Epoch {
        to: Slot,
    },
    /// Digits: one or more (`%p`, `%l`, `%x`), or any number (`%P`, `%v`).
    Digits {
        min: usize,
        slash: bool,
        to: Slot,
    },
    /// `%c`: hex `.` hex.
    Session {
        to: Slot,
    },
    /// `%e`: five of `[0-9A-Z]`; `%Q`: an optional `-` and digits.
    Sqlstate,
    QueryId,
    /// A free-text field, up to the first byte of the literal after it.
    Text {
        until: u8,
        to: Slot,
    },
    /// `%q`: the rest may be absent.
    Optional,
}

/// The fields pgconn uses, as slots of `Raw`; `Skip` is a slot nobody
/// reads (fields printed but not used, and repeats of a field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Time,
    Pid,
    Session,
    User,
    Db,
    Host,
    Remote,
    App,
    Skip,
}

/// The text of each field of a match, by `Slot`; empty where the prefix
/// has no such field or the line no value for it.
pub(crate) type Raw<'a> = [&'a [u8]; 9];

impl Slot {
    fn of(c: u8, group: Option<usize>) -> Slot {
        match (group, c) {
            (None, _) => Slot::Skip,
            (Some(_), b'm' | b't' | b'n') => Slot::Time,
            (Some(_), b'p') => Slot::Pid,
            (Some(_), b'c') => Slot::Session,
            (Some(_), b'u') => Slot::User,
            (Some(_), b'd') => Slot::Db,
            (Some(_), b'h') => Slot::Host,
            (Some(_), b'r') => Slot::Remote,
            (Some(_), b'a') => Slot::App,
            _ => Slot::Skip,
        }
    }
}

fn fast_steps(tokens: &[Token]) -> Option<Vec<Step>> {
    let mut groups = Groups::default();
    let mut steps = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let step = match t {
            Token::Literal(l) => Step::Literal(l.clone()),
            Token::Q => Step::Optional,
            &Token::Field { padded: true, .. } => return None,
            // Values with spaces: the regex knows them.
            &Token::Field { c: b'b' | b'i', .. } => return None,
            &Token::Field { c, .. } => {
                let to = Slot::of(c, groups.take(c));
                match c {
                    b'm' | b't' | b's' => {
                        let until = match tokens.get(i + 1) {
                            Some(Token::Literal(l)) => Some(l[0]),
                            _ => None,
                        };
                        Step::Time { ms: c == b'm', until, to }
                    }
                    b'n' => Step::Epoch { to },
                    b'p' | b'l' | b'x' => Step::Digits { min: 1, slash: false, to },
                    b'P' => Step::Digits { min: 0, slash: false, to },
                    b'v' => Step::Digits { min: 0, slash: true, to },
                    b'c' => Step::Session { to },
                    b'e' => Step::Sqlstate,
                    b'Q' => Step::QueryId,
                    _ => match tokens.get(i + 1) {
                        Some(Token::Literal(l)) => Step::Text { until: l[0], to },
                        _ => return None,
                    },
                }
            }
        };
        steps.push(step);
    }
    Some(steps)
}

/// Runs the steps over `text`, filling `raw` with the fields' texts:
/// whether they matched all of it.
fn fast_match<'a>(steps: &[Step], text: &'a [u8], raw: &mut Raw<'a>) -> bool {
    fast_head(steps, text, raw) == Some(text.len())
}

/// Runs the steps over the start of `text`, filling `raw` with the
/// fields' texts: where the match ends.
fn fast_head<'a>(steps: &[Step], text: &'a [u8], raw: &mut Raw<'a>) -> Option<usize> {
    let mut pos = 0;
    let digits = |from: usize, slash: bool| {
        text[from..].iter().take_while(|c| c.is_ascii_digit() || (slash && **c == b'/')).count()
    };
    let mut steps = steps;
    // `%m [%p] ` (the default) and the prefixes that start like it: the
    // first four steps without the loop, whose jump per step was
    // mispredicted often (a quarter of the matcher's time).
    if let [
        Step::Time { ms, until, to },
        Step::Literal(open),
        Step::Digits { min: 1, slash: false, to: pid },
        Step::Literal(close),
        rest @ ..,
    ] = steps
    {
        let n = time_len(text, *ms, *until)?;
        raw[*to as usize] = &text[..n];
        pos = n;
        if !bytes::starts_with(&text[pos..], open) {
            return None;
        }
        pos += open.len();
        let n = digits(pos, false);
        if n == 0 {
            return None;
        }
        raw[*pid as usize] = &text[pos..pos + n];
        pos += n;
        if !bytes::starts_with(&text[pos..], close) {
            return None;
        }
        pos += close.len();
        steps = rest;
    }
    for step in steps {
        let rest = &text[pos..];
        match *step {
            Step::Optional => {
                if rest.is_empty() {
                    return Some(pos);
                }
            }
            Step::Literal(ref l) => {
                if !bytes::starts_with(rest, l) {
                    return None;
                }
                pos += l.len();
            }
            Step::Time { ms, until, to } => {
                let n = time_len(rest, ms, until)?;
                raw[to as usize] = &rest[..n];
                pos += n;
            }
            Step::Epoch { to } => {
                let a = digits(pos, false);
                if a == 0 || text.get(pos + a) != Some(&b'.') || digits(pos + a + 1, false) != 3 {
                    return None;
                }
                raw[to as usize] = &rest[..a + 4];
                pos += a + 4;
            }
            Step::Digits { min, slash, to } => {
                let n = digits(pos, slash);
                if n < min {
                    return None;
                }
                raw[to as usize] = &rest[..n];
                pos += n;
            }
            Step::Session { to } => {
                let hex = |from: usize| {
                    text[from..]
                        .iter()
                        .take_while(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(*c))
                        .count()
                };
                let a = hex(pos);
                if a == 0 || text.get(pos + a) != Some(&b'.') {
                    return None;
                }
                let b = hex(pos + a + 1);
                if b == 0 {
                    return None;
                }
                raw[to as usize] = &rest[..a + 1 + b];
                pos += a + 1 + b;
            }
            Step::Sqlstate => {
                if rest.len() < 5
                    || !rest[..5].iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
                {
                    return None;
                }
                pos += 5;
            }
            Step::QueryId => {
                let sign = usize::from(rest.first() == Some(&b'-'));
                let n = digits(pos + sign, false);
                if n == 0 {
                    return None;
                }
                pos += sign + n;
            }
            Step::Text { until, to } => {
                let n = memchr::memchr(until, rest).unwrap_or(rest.len());
                raw[to as usize] = trim_spaces(&rest[..n]);
                pos += n;
            }
        }
    }
    Some(pos)
}

/// The length of the `%m` / `%t` time at the start of `rest`:
/// `YYYY-MM-DD HH:MM:SS[.mmm] ZONE`, the zone ending before `until`.
fn time_len(rest: &[u8], ms: bool, until: Option<u8>) -> Option<usize> {
    let n = if ms { 23 } else { 19 };
    if rest.len() < n + 2 || rest[4] != b'-' || rest[10] != b' ' || rest[13] != b':' {
        return None;
    }
    if (ms && rest[19] != b'.') || rest[n] != b' ' {
        return None;
    }
    let zone = rest[n + 1..]
        .iter()
        .take_while(|&&c| {
            Some(c) != until && (c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-'))
        })
        .count();
    (zone > 0).then_some(n + 1 + zone)
}

/// Per-parser scratch space for matching a `Prefix`.
pub(crate) struct PrefixCache {
    time: TimeCache,
    caps: Captures,
    strict: Option<(onepass::Cache, Captures)>,
}

/// Which escapes print nothing in processes without a client connection.
pub(crate) fn session_only(c: u8) -> bool {
    matches!(c, b'a' | b'u' | b'd' | b'r' | b'h' | b'i' | b'Q' | b'L')
}

fn push_literal(re: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b == b' ' {
            re.push(b as char);
        } else {
            re.push_str(&format!(r"\x{b:02x}"));
        }
    }
}

/// A log_line_prefix value, split into its parts.
#[derive(Debug, PartialEq)]
enum Token {
    Literal(Vec<u8>),
    /// An escape letter, with padding (`%-10u`: padded, left-justified).
    Field {
        c: u8,
        padded: bool,
        left: bool,
    },
    /// `%q`: in processes without a client, the rest is not printed.
    Q,
}

fn tokenize(value: &[u8]) -> std::result::Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut literal = Vec::new();
    let mut i = 0;
    while i < value.len() {
        if value[i] != b'%' {
            literal.push(value[i]);
            i += 1;
            continue;
        }
        // '%' [-] digits* letter
        let start = i;
        let mut j = i + 1;
        let left = value.get(j) == Some(&b'-');
        if left {
            j += 1;
        }
        let digits_start = j;
        while value.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        let Some(&c) = value.get(j) else {
            // A '%' (or '%<digits>') at the end ends processing.
            break;
        };
        i = j + 1;
        if c == b'%' {
            literal.push(b'%');
            continue;
        }
        let known = b"aubdhrLpPtmnscliexvqQ";
        if !known.contains(&c) {
            // PostgreSQL ignores an unknown escape; a value given with
            // one is more likely mistyped than copied.
            let esc = String::from_utf8_lossy(&value[start..j + 1]).into_owned();
            return Err(format!(
                "unknown escape '{esc}' (log_line_prefix knows %a %u %d %r %h %L %b %p %P %t %m %n %i %e %c %l %s %v %x %q %Q and %%)"
            ));
        }
        if !literal.is_empty() {
            out.push(Token::Literal(std::mem::take(&mut literal)));
        }
        if c == b'q' {
            out.push(Token::Q);
        } else {
            out.push(Token::Field { c, padded: j > digits_start, left });
        }
    }
    if !literal.is_empty() {
        out.push(Token::Literal(literal));
    }
    Ok(out)
}

/// Backend types `%b` prints (13+), longest first.
pub(crate) const BACKEND_TYPES: &[&str] = &[
    "logical replication launcher",
    "logical replication worker",
    "autovacuum launcher",
    "autovacuum worker",
    "background writer",
    "background worker",
    "standalone backend",
    "parallel worker",
    "not initialized",
    "slotsync worker",
    "client backend",
    "walsummarizer",
    "checkpointer",
    "walreceiver",
    "walsender",
    "walwriter",
    "postmaster",
    "io worker",
    "archiver",
    "startup",
];

/// Command tags `%i` prints on connection lines, and those with spaces.
pub(crate) const COMMAND_TAGS: &[&str] =
    &["idle in transaction (aborted)", "idle in transaction", "authentication", "startup", "idle"];

/// The regex of one field. `next` is the first byte of the literal that
/// follows it, for the strict form of free-text fields.
fn field_pattern(c: u8, strict: bool, next: Option<u8>) -> String {
    let civil = r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}";
    // PostgreSQL always prints a zone (`UTC`, `CET`, `+03`, `-0430`).
    let zone = if strict { r" [A-Za-z0-9+\-]+" } else { r"(?: [A-Za-z0-9+\-:]+)?" };
    match c {
        // Backend types and command tags hold spaces: the known ones are
        // tried first, so that a space after the field is not taken for
        // the one inside `client backend`.
        b'b' | b'i' => {
            let known = if c == b'b' { BACKEND_TYPES } else { COMMAND_TAGS };
            let mut alt = String::from("(?:");
            for k in known {
                push_literal(&mut alt, k.as_bytes());
                alt.push('|');
            }
            // Other backend types (a bgworker's) are one word here.
            alt.push_str(&field_pattern(if c == b'b' { b'h' } else { b'a' }, strict, next));
            alt.push(')');
            alt
        }
        // Addresses and host names hold no space: a space after one ends it.
        b'h' | b'r' | b'L' if !strict => "[^ ]*?".into(),
        b'a' | b'L' | b'u' | b'd' | b'h' | b'r' => match (strict, next) {
            (false, _) => ".*?".into(),
            (true, Some(n)) => format!(r"[^\x{n:02x}]*"),
            (true, None) => ".*".into(),
        },
        b'p' | b'l' | b'x' => "[0-9]+".into(),
        b'P' => "[0-9]*".into(),
        b'c' => r"[0-9a-f]+\.[0-9a-f]+".into(),
        b'v' => "[0-9/]*".into(),
        b'e' => "[0-9A-Z]{5}".into(),
        b'Q' => "-?[0-9]+".into(),
        b's' | b't' => format!("{civil}{zone}"),
        b'm' => format!(r"{civil}\.[0-9]{{3}}{zone}"),
        b'n' => r"[0-9]+\.[0-9]{3}".into(),
        _ => unreachable!("tokenize keeps only known escapes"),
    }
}

/// Capture group numbers of the fields pgconn uses (first occurrence of
/// each), in pattern order.
#[derive(Clone, Debug, Default)]
struct Groups {
    count: usize,
    time: Option<(usize, TimeForm)>,
    pid: Option<usize>,
    session: Option<usize>,
    user: Option<usize>,
    db: Option<usize>,
    host: Option<usize>,
    remote: Option<usize>,
    app: Option<usize>,
}

impl Groups {
    /// The group for escape `c`, if it is captured.
    fn take(&mut self, c: u8) -> Option<usize> {
        let slot = match c {
            b'p' => &mut self.pid,
            b'c' => &mut self.session,
            b'u' => &mut self.user,
            b'd' => &mut self.db,
            b'h' => &mut self.host,
            b'r' => &mut self.remote,
            b'a' => &mut self.app,
            b'm' | b't' | b'n' if self.time.is_none() => {
                self.count += 1;
                let form = if c == b'n' { TimeForm::Epoch } else { TimeForm::Civil };
                self.time = Some((self.count, form));
                return Some(self.count);
            }
            _ => return None,
        };
        if slot.is_some() {
            return None;
        }
        self.count += 1;
        *slot = Some(self.count);
        *slot
    }
}

fn pattern(tokens: &[Token], strict: bool) -> (String, Groups) {
    let mut re = String::from("(?s-u)^");
    let mut groups = Groups::default();
    let mut optional = 0;
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Literal(bytes) => push_literal(&mut re, bytes),
            Token::Q => {
                re.push_str("(?:");
                optional += 1;
            }
            &Token::Field { c, padded, left } => {
                let next = match tokens.get(i + 1) {
                    Some(Token::Literal(l)) if !padded => l.first().copied(),
                    _ => None,
                };
                let body = field_pattern(c, strict, next);
                let body = match groups.take(c) {
                    Some(_) => format!("({body})"),
                    None => format!("(?:{body})"),
                };
                match (padded, left) {
                    (false, _) => re.push_str(&body),
                    (true, true) => re.push_str(&format!("{body} *")),
                    (true, false) => re.push_str(&format!(" *{body}")),
                }
            }
        }
    }
    for _ in 0..optional {
        re.push_str(")?");
    }
    re.push('$');
    (re, groups)
}

impl Prefix {
    /// Compiles a log_line_prefix value, as `SHOW log_line_prefix` prints it.
    pub(crate) fn compile(value: &str) -> Result<Prefix> {
        let tokens = tokenize(value.as_bytes())
            .map_err(|e| Error::usage(format!("bad --prefix '{value}': {e}")))?;
        let syntax = syntax::Config::new().unicode(false).utf8(false);
        let (lenient, g) = pattern(&tokens, false);
        let regex = Regex::builder()
            .syntax(syntax)
            .build(&lenient)
            .map_err(|e| Error::usage(format!("bad --prefix '{value}': {e}")))?;
        // Not every prefix has a one-pass form; those use the regex alone.
        let (strict, _) = pattern(&tokens, true);
        let strict = onepass::DFA::builder().syntax(syntax).build(&strict).ok();
        let fast = fast_steps(&tokens);
        let fixed = fast.as_ref().is_some_and(|steps| {
            steps.iter().all(|step| match step {
                Step::Text { .. } | Step::Optional => false,
                Step::Literal(l) => !l.contains(&b':'),
                _ => true,
            })
        });
        Ok(Prefix { source: value.to_string(), regex, strict, fast, fixed, groups: g })
    }

    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    pub(crate) fn has_pid(&self) -> bool {
        self.groups.pid.is_some() || self.groups.session.is_some()
    }

    pub(crate) fn has_time(&self) -> bool {
        self.groups.time.is_some()
    }

    pub(crate) fn create_cache(&self) -> PrefixCache {
        PrefixCache {
            time: TimeCache::default(),
            caps: self.regex.create_captures(),
            strict: self.strict.as_ref().map(|d| (d.create_cache(), d.create_captures())),
        }
    }

    /// True when `text` (everything before the severity word) is this
    /// prefix.
    pub(crate) fn is_match(&self, text: &[u8]) -> bool {
        self.regex.is_match(Input::new(text).anchored(Anchored::Yes))
    }

    /// Matches `text` and extracts the fields, or None when it does not
    /// match.
    pub(crate) fn parse<'a>(&self, text: &'a [u8], cache: &mut PrefixCache) -> Option<Meta<'a>> {
        let mut raw: Raw<'a> = [&[]; 9];
        if let Some(steps) = &self.fast
            && fast_match(steps, text, &mut raw)
        {
            return Some(self.fields(&raw, &mut cache.time));
        }
        let PrefixCache { time, caps, strict } = cache;
        let caps = self.captures(text, caps, strict)?;
        let g = &self.groups;
        let slots = [g.time.map(|t| t.0), g.pid, g.session, g.user, g.db, g.host, g.remote, g.app];
        let mut raw: Raw<'a> = [&[]; 9];
        for (field, group) in raw.iter_mut().zip(slots) {
            if let Some(span) = group.and_then(|g| caps.get_group(g)) {
                *field = trim_spaces(&text[span.range()]);
            }
        }
        Some(self.fields(&raw, time))
    }

    /// For a prefix of fixed fields (`%m [%p] `, `%t [%p-%l] `, ...): where
    /// it ends at the start of `line`, its fields' texts in `raw` (for
    /// `meta`). None for other prefixes, or if it does not match there.
    pub(crate) fn head<'a>(&self, line: &'a [u8], raw: &mut Raw<'a>) -> Option<usize> {
        match &self.fast {
            Some(steps) if self.fixed => fast_head(steps, line, raw),
            _ => None,
        }
    }

    /// The fields of a prefix `head` matched.
    pub(crate) fn meta<'a>(&self, raw: &Raw<'a>, cache: &mut PrefixCache) -> Meta<'a> {
        self.fields(raw, &mut cache.time)
    }

    /// The capture groups of a match of `text`.
    fn captures<'c>(
        &self,
        text: &[u8],
        caps: &'c mut Captures,
        strict: &'c mut Option<(onepass::Cache, Captures)>,
    ) -> Option<&'c Captures> {
        let input = Input::new(text).anchored(Anchored::Yes);
        if let (Some(dfa), Some((c, strict_caps))) = (&self.strict, strict.as_mut()) {
            dfa.captures(c, input.clone(), strict_caps);
            if strict_caps.is_match() {
                return Some(strict_caps);
            }
        }
        self.regex.search_captures(&input, caps);
        caps.is_match().then_some(caps)
    }

    /// Which of the fields pgconn uses have text in `text` (`[unknown]`
    /// included: it shows the field is there).
    pub(crate) fn fields_present(&self, text: &[u8], cache: &mut PrefixCache) -> Option<usize> {
        let groups = [
            self.groups.time.map(|t| t.0),
            self.groups.pid,
            self.groups.session,
            self.groups.user,
            self.groups.db,
            self.groups.host,
            self.groups.remote,
        ];
        let caps = self.captures(text, &mut cache.caps, &mut cache.strict)?;
        Some(
            groups
                .iter()
                .flatten()
                .filter(|&&g| caps.get_group(g).is_some_and(|s| !s.is_empty()))
                .count(),
        )
    }

    /// The fields, from their texts.
    fn fields<'a>(&self, raw: &Raw<'a>, time: &mut TimeCache) -> Meta<'a> {
        let get = |slot: Slot| Some(raw[slot as usize]).filter(|v| !v.is_empty());
        let mut meta = Meta::default();
        if let Some((_, form)) = self.groups.time
            && let Some(t) = get(Slot::Time)
        {
            meta.time = match form {
                TimeForm::Civil => Timestamp::parse_cached(t, time),
                TimeForm::Epoch => Timestamp::parse_epoch(t),
            };
        }
        meta.pid = get(Slot::Pid).and_then(parse_u32).or_else(|| {
            // %c is hex(start time) '.' hex(pid).
            let s = get(Slot::Session)?;
            let dot = memchr::memchr(b'.', s)?;
            u32::from_str_radix(std::str::from_utf8(&s[dot + 1..]).ok()?, 16).ok()
        });
        meta.user = get(Slot::User).filter(|v| known(v));
        meta.app = get(Slot::App).filter(|v| known(v));
        meta.db = get(Slot::Db).filter(|v| known(v));
        meta.host = get(Slot::Host).filter(|v| known(v)).or_else(|| {
            let r = get(Slot::Remote).filter(|v| known(v))?;
            // host(port), or [local]
            match (memchr::memrchr(b'(', r), r.last()) {
                (Some(open), Some(b')')) => Some(&r[..open]),
                _ => Some(r),
            }
        });
        meta
    }
}

/// Padding (`%-10u`) surrounds a value with spaces.
fn trim_spaces(b: &[u8]) -> &[u8] {
    // Most values have no padding: two byte checks.
    if b.first() != Some(&b' ') && b.last() != Some(&b' ') {
        return b;
    }
    let start = b.iter().position(|&c| c != b' ').unwrap_or(b.len());
    let end = b.iter().rposition(|&c| c != b' ').map_or(start, |e| e + 1);
    &b[start..end]
}

/// Empty and `[unknown]` mean the prefix had no value for this line.
fn known(v: &[u8]) -> bool {
    !v.is_empty() && !bytes::eq(v, b"[unknown]")
}

fn parse_u32(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 10 {
        return None;
    }
    let mut n: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(c - b'0');
    }
    u32::try_from(n).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pid, time, user, database, host
    type Fields = (Option<u32>, Option<String>, Option<String>, Option<String>, Option<String>);

    fn fields(prefix: &str, text: &str) -> Option<Fields> {
        let p = Prefix::compile(prefix).unwrap();
        let mut cache = p.create_cache();
        let m = p.parse(text.as_bytes(), &mut cache)?;
        let s = |v: Option<&[u8]>| v.map(|v| String::from_utf8_lossy(v).into_owned());
        Some((m.pid, m.time.map(|t| t.rfc3339()), s(m.user), s(m.db), s(m.host)))
    }

    #[test]
    fn default_prefix() {
        let f = fields("%m [%p] ", "2025-03-01 10:00:00.123 UTC [4242] ").unwrap();
        assert_eq!(f.0, Some(4242));
        assert_eq!(f.1.as_deref(), Some("2025-03-01T10:00:00.123+00:00"));
        assert!(fields("%m [%p] ", "2025-03-01 10:00:00.123 UTC [4242] x@y ").is_none());
    }

    #[test]
    fn debian_prefix_with_q() {
        let p = "%m [%p] %q%u@%d ";
        let f = fields(p, "2025-03-01 10:00:00.123 UTC [7] my user@sales db ").unwrap();
        assert_eq!(f.2.as_deref(), Some("my user"));
        assert_eq!(f.3.as_deref(), Some("sales db"));
        let f = fields(p, "2025-03-01 10:00:00.123 UTC [7] ").unwrap();
        assert_eq!((f.0, f.2), (Some(7), None));
        let f = fields(p, "2025-03-01 10:00:00.123 UTC [7] [unknown]@[unknown] ").unwrap();
        assert_eq!(f.2, None, "[unknown] is no value");
    }

    #[test]
    fn rds_prefix() {
        let p = "%t:%r:%u@%d:[%p]:";
        let f = fields(p, "2025-03-01 10:00:00 UTC:10.0.0.5(51234):app@prod:[4242]:").unwrap();
        assert_eq!(f.0, Some(4242));
        assert_eq!(f.4.as_deref(), Some("10.0.0.5"));
        assert_eq!(f.2.as_deref(), Some("app"));
        let f = fields(p, "2025-03-01 10:00:00 UTC::@:[1]:").unwrap();
        assert_eq!((f.0, f.4), (Some(1), None));
        let f = fields(p, "2025-03-01 10:00:00 UTC:[local]:a@b:[2]:").unwrap();
        assert_eq!(f.4.as_deref(), Some("[local]"));
    }

    #[test]
    fn key_value_with_commas_and_spaces() {
        let p = "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ";
        let f = fields(
            p,
            "2025-03-01 10:00:00 UTC [9]: [3-1] user=a b,db=x,y,app=etl,nightly,client=10.1.1.1 ",
        )
        .unwrap();
        assert_eq!(f.0, Some(9));
        assert_eq!(f.2.as_deref(), Some("a b"));
        assert_eq!(f.4.as_deref(), Some("10.1.1.1"));
    }

    #[test]
    fn padding_percent_and_unknown_escapes() {
        let f = fields("%-10u|%5p %% ", "bob       |   42 % ").unwrap();
        assert_eq!(f.2.as_deref(), Some("bob"));
        assert_eq!(f.0, Some(42));
        // A lone '%' at the end stops processing.
        assert!(fields("[%p] %", "[1] ").is_some());
        // An unknown escape is named.
        let e = Prefix::compile("%m [%p] %Z ").unwrap_err().to_string();
        assert!(e.contains("unknown escape '%Z'"), "{e}");
        let e = Prefix::compile("%-10k").unwrap_err().to_string();
        assert!(e.contains("'%-10k'"), "{e}");
    }

    #[test]
    fn the_fast_matcher_agrees_with_the_regex() {
        let cases = [
            ("%m [%p] ", "2025-03-01 10:00:00.123 UTC [4242] "),
            ("%m [%p] %q%u@%d ", "2025-03-01 10:00:00.123 UTC [7] app@prod "),
            ("%m [%p] %q%u@%d ", "2025-03-01 10:00:00.123 UTC [7] "),
            ("%t:%r:%u@%d:[%p]:", "2025-03-01 10:00:00 UTC:10.0.0.5(51234):app@prod:[4242]:"),
            (
                "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
                "2025-03-01 10:00:00 UTC [9]: [3-1] user=a,db=x,app=y,client=10.1.1.1 ",
            ),
            ("%t-%c-", "2025-03-01 10:00:00 UTC-6b096a2b.4cf4-"),
            ("%n [%p] %e %x ", "1740823200.123 [5] 00000 0 "),
        ];
        for (p, text) in cases {
            let prefix = Prefix::compile(p).unwrap();
            let steps = prefix.fast.as_ref().unwrap_or_else(|| panic!("no fast path for {p}"));
            assert!(fast_match(steps, text.as_bytes(), &mut [&[]; 9]), "{p} on {text}");
            let fast = prefix.parse(text.as_bytes(), &mut prefix.create_cache()).unwrap();
            let mut slow = prefix.clone();
            slow.fast = None;
            let regex = slow.parse(text.as_bytes(), &mut slow.create_cache()).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{regex:?}"), "{p}");
        }
        // Padding has no fast path; a name holding the delimiter falls back.
        assert!(Prefix::compile("%-10u|%p ").unwrap().fast.is_none());
        let p = Prefix::compile("%m [%p] %q%u@%d ").unwrap();
        let text = b"2025-03-01 10:00:00.123 UTC [7] app@sales db ";
        assert!(!fast_match(p.fast.as_ref().unwrap(), text, &mut [&[]; 9]));
        let m = p.parse(text, &mut p.create_cache()).unwrap();
        assert_eq!(m.db, Some(&b"sales db"[..]));
    }

    #[test]
    fn fixed_prefixes_are_matched_at_the_head_of_a_line() {
        let cases = [
            ("%m [%p] ", "2025-03-01 10:00:00.123 UTC [4242] "),
            ("%n [%p] %e %x ", "1740823200.123 [5] 00000 0 "),
            ("%t-%c-", "2025-03-01 10:00:00 UTC-6b096a2b.4cf4-"),
        ];
        for (p, text) in cases {
            let prefix = Prefix::compile(p).unwrap();
            let line = format!("{text}LOG:  connection received: host=[local]");
            let mut raw = [&[][..]; 9];
            assert_eq!(prefix.head(line.as_bytes(), &mut raw), Some(text.len()), "{p}");
            let mut cache = prefix.create_cache();
            let head = prefix.meta(&raw, &mut cache);
            let whole = prefix.parse(text.as_bytes(), &mut prefix.create_cache()).unwrap();
            assert_eq!(format!("{head:?}"), format!("{whole:?}"), "{p}");
        }
        // Free text, %q or a colon in a literal: the severity is searched.
        for p in ["%m [%p] %q%u@%d ", "%t [%p]: [%l-1] ", "%m %u@%d ", "%t:%r:%u@%d:[%p]:"] {
            let prefix = Prefix::compile(p).unwrap();
            let line = b"2025-03-01 10:00:00 UTC [1]: [2-1] LOG:  x";
            assert_eq!(prefix.head(line, &mut [&[]; 9]), None, "{p}");
        }
    }

    #[test]
    fn common_prefixes_get_a_one_pass_matcher() {
        for p in [
            "%m [%p] ",
            "%m [%p] %q%u@%d ",
            "%t:%r:%u@%d:[%p]:",
            "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
        ] {
            assert!(Prefix::compile(p).unwrap().strict.is_some(), "{p}");
        }
    }

    #[test]
    fn names_holding_the_delimiter_fall_back_to_the_regex() {
        let p = "%m [%p] %q%u@%d ";
        let f = fields(p, "2025-03-01 10:00:00.123 UTC [7] a@b@sales db ").unwrap();
        assert_eq!((f.2.as_deref(), f.3.as_deref()), (Some("a"), Some("b@sales db")));
        let p = "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ";
        let f = fields(
            p,
            "2025-03-01 10:00:00 UTC [9]: [3-1] user=u,db=d,app=etl,nightly,client=10.1.1.1 ",
        )
        .unwrap();
        assert_eq!(f.4.as_deref(), Some("10.1.1.1"));
        assert_eq!(
            fields(p, "2025-03-01 10:00:00 UTC [9]: [3-1] user=u,db=d,app=a,client=h ")
                .unwrap()
                .3
                .as_deref(),
            Some("d")
        );
    }

    #[test]
    fn session_id_gives_pid() {
        let f = fields("%t-%c-", "2025-03-01 10:00:00 UTC-6b096a2b.4cf4-").unwrap();
        assert_eq!(f.0, Some(0x4cf4));
    }

    #[test]
    fn epoch_time() {
        let f = fields("%n [%p] ", "1740823200.123 [5] ").unwrap();
        assert_eq!(f.1.as_deref(), Some("2025-03-01T10:00:00.123+00:00"));
    }
}
