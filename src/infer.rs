//! Inferring a log_line_prefix from an input's first lines, with nothing
//! to configure.
//!
//! The connection messages say what several prefix fields must hold: a
//! `connection authorized` line's `%u` and `%d` are its `user=` and
//! `database=`, a disconnection line's `%h` (or `%r`, with the port) its
//! `host=`, and every line of one backend has the same `%p`. So candidate
//! values are built from the lines themselves: each part of a line's
//! prefix text is read as the escape that prints it (a time, a session id,
//! a value the message names, a backend type, a run of digits), and the
//! candidates are then **checked against the messages of every sample
//! line**: a candidate whose user, database, host or pid disagrees with
//! what the messages say is the wrong prefix, whatever it matches. Of the
//! rest, the one that matches the most lines and agrees with the messages
//! most often wins. Literal text of the winner that varies between lines
//! is made a field, and a digit field that never varies is shown as its
//! text.

use std::collections::HashMap;

use crate::event::EventKind;
use crate::prefix::{BACKEND_TYPES, COMMAND_TAGS, Prefix, session_only};

/// One sample line: its text before the severity word, and what its
/// message says (nothing for lines that are not connection messages).
#[derive(Clone, Debug, Default)]
pub(crate) struct Sample {
    pub(crate) text: Vec<u8>,
    pub(crate) facts: Facts,
}

/// What a connection message names, to check a prefix against.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Facts {
    pub(crate) said: Said,
    pub(crate) user: Option<Vec<u8>>,
    pub(crate) db: Option<Vec<u8>>,
    pub(crate) app: Option<Vec<u8>>,
    pub(crate) host: Option<Vec<u8>>,
    pub(crate) port: Option<u16>,
}

/// Which message a sample line holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Said {
    #[default]
    Nothing,
    Received,
    Authorized,
    Disconnection,
    Failure,
}

impl Sample {
    /// A line whose message names nothing.
    pub(crate) fn bare(text: &[u8]) -> Sample {
        Sample { text: text.to_vec(), facts: Facts::default() }
    }
}

impl Facts {
    /// What `kind`, the event of message `msg`, names.
    pub(crate) fn of(kind: &EventKind<'_>, msg: &[u8]) -> Facts {
        let own = |v: &[u8]| Some(v.to_vec());
        match *kind {
            EventKind::Received { host, port } => {
                Facts { said: Said::Received, host: own(host), port, ..Facts::default() }
            }
            EventKind::Authorized { user, db, app, replication: false, .. } => Facts {
                said: Said::Authorized,
                user: own(user),
                db: db.map(<[u8]>::to_vec),
                app: app.map(<[u8]>::to_vec),
                ..Facts::default()
            },
            EventKind::Disconnected { user, db, host, .. } => {
                // The message ends `host=H port=P` over TCP.
                let port = memchr::memmem::rfind(msg, b" port=")
                    .and_then(|i| std::str::from_utf8(&msg[i + 6..]).ok()?.trim().parse().ok());
                Facts {
                    said: Said::Disconnection,
                    user: own(user),
                    db: own(db),
                    host: own(host),
                    port,
                    ..Facts::default()
                }
            }
            EventKind::Failure { user, db, host, .. } if user.is_some() || db.is_some() => Facts {
                said: Said::Failure,
                user: user.map(<[u8]>::to_vec),
                db: db.map(<[u8]>::to_vec),
                host: host.map(<[u8]>::to_vec),
                ..Facts::default()
            },
            _ => Facts::default(),
        }
    }
}

/// Lines whose prefix text is longer are not read field by field (a
/// prefix is rarely over 200 bytes; a `LOG:  ` found far into a line is
/// more likely in its message).
const MAX_TEXT: usize = 1024;
/// Literal words `generalise` tries as fields, per round.
const MAX_WORDS: usize = 32;

/// Common values, tried besides the ones built from the lines.
const COMMON: &[&str] = &[
    "%m [%p] ",
    "%t [%p] ",
    "%m [%p] %q%u@%d ",
    "%t [%p] %q%u@%d ",
    "%t [%p-%l] %q%u@%d ",
    "%t:%r:%u@%d:[%p]:",
    "%m:%r:%u@%d:[%p]:",
    "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
    "%m [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
    "%t-%c-",
    "%m %u@%d ",
    "%t %u@%d ",
    "%m ",
    "%t ",
    "",
];

/// A part of a prefix value, with the text it printed on the line it was
/// read from.
#[derive(Clone, Debug, PartialEq)]
enum Part {
    Lit(Vec<u8>),
    /// An escape letter; `#` is a run of digits that is the pid or a
    /// counter (decided by the candidates). `pad`: `%-N` (> 0) or `%N`
    /// (< 0) padding.
    Esc {
        c: u8,
        text: Vec<u8>,
        pad: i32,
    },
}

fn render(parts: &[Part]) -> String {
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Lit(l) => out.push_str(&String::from_utf8_lossy(l).replace('%', "%%")),
            Part::Esc { c, pad, .. } => {
                out.push('%');
                match pad {
                    0 => {}
                    n if *n > 0 => out.push_str(&format!("-{n}")),
                    n => out.push_str(&format!("{}", -n)),
                }
                out.push(if *c == b'#' { 'l' } else { *c as char });
            }
        }
    }
    out
}

fn push_lit(parts: &mut Vec<Part>, b: &[u8]) {
    if let Some(Part::Lit(l)) = parts.last_mut() {
        l.extend_from_slice(b);
    } else {
        parts.push(Part::Lit(b.to_vec()));
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The values a message names, as (text, escapes that print it), longest
/// first.
fn known_values(facts: &Facts, apps: &[Vec<u8>]) -> Vec<(Vec<u8>, &'static [u8])> {
    let mut out: Vec<(Vec<u8>, &'static [u8])> = Vec::new();
    let mut add = |v: &[u8], c: &'static [u8]| {
        if !v.is_empty() && v != b"[unknown]" {
            out.push((v.to_vec(), c));
        }
    };
    if let (Some(h), Some(p)) = (&facts.host, facts.port) {
        add(format!("{}({p})", String::from_utf8_lossy(h)).as_bytes(), b"r");
    }
    let user = facts.user.as_deref();
    let db = facts.db.as_deref();
    match (user, db) {
        // The same name for both: the first is %u, the next %d.
        (Some(u), Some(d)) if u == d => add(u, b"ud"),
        _ => {
            if let Some(u) = user {
                add(u, b"u");
            }
            if let Some(d) = db {
                add(d, b"d");
            }
        }
    }
    if let Some(h) = &facts.host {
        // `[local]` is what %r prints too; %L prints the local address,
        // the same as %h on loopback.
        add(h, if h == b"[local]" { b"rhL" } else { b"hL" });
    }
    // %a is `[unknown]` on the startup lines; after them, the name the
    // authorized lines gave.
    if !matches!(facts.said, Said::Authorized | Said::Received) {
        for a in apps {
            add(a, b"a");
        }
    }
    out.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
    out
}

/// Reads one sample's prefix text as the escapes that printed it.
fn parts_of(p: &[u8], facts: &Facts, apps: &[Vec<u8>]) -> Vec<Part> {
    let values = known_values(facts, apps);
    let mut parts = Vec::new();
    let mut used: Vec<u8> = Vec::new();
    let mut i = 0;
    let esc = |parts: &mut Vec<Part>, c: u8, text: &[u8]| {
        parts.push(Part::Esc { c, text: text.to_vec(), pad: 0 });
    };
    while i < p.len() {
        let rest = &p[i..];
        let at_start = i == 0 || !is_word(p[i - 1]);
        let ends_at = |n: usize| rest.get(n).is_none_or(|&b| !is_word(b));
        if !at_start {
            push_lit(&mut parts, &rest[..1]);
            i += 1;
            continue;
        }
        if let Some((n, ms)) = civil_len(rest) {
            let c = if used.contains(&b't') {
                b's'
            } else if ms {
                b'm'
            } else {
                b't'
            };
            used.push(b't');
            esc(&mut parts, c, &rest[..n]);
            i += n;
            continue;
        }
        if let Some(n) = epoch_len(rest) {
            esc(&mut parts, b'n', &rest[..n]);
            i += n;
            continue;
        }
        // A value the message names (the longest that fits).
        let mut found = None;
        for (v, letters) in &values {
            if rest.starts_with(v) && ends_at(v.len()) {
                let free = letters.iter().copied().find(|c| !used.contains(c));
                if let Some(c) = free {
                    found = Some((v.len(), c));
                    break;
                }
            }
        }
        if let Some((n, c)) = found {
            used.push(c);
            esc(&mut parts, c, &rest[..n]);
            i += n;
            continue;
        }
        if rest.starts_with(b"[unknown]") {
            // On the startup lines: %u, %d, then %a, in that order.
            let order: &[u8] = if facts.said == Said::Received { b"uda" } else { b"a" };
            if let Some(c) = order.iter().copied().find(|c| !used.contains(c)) {
                used.push(c);
                esc(&mut parts, c, b"[unknown]");
                i += 9;
                continue;
            }
        }
        if let Some(n) = session_id_len(rest) {
            esc(&mut parts, b'c', &rest[..n]);
            i += n;
            continue;
        }
        if let Some(n) = remote_len(rest)
            && !used.contains(&b'r')
        {
            used.push(b'r');
            esc(&mut parts, b'r', &rest[..n]);
            i += n;
            continue;
        }
        // An address no message named: the client's (%h) or, after it,
        // the server's (%L, 18+).
        if let Some(n) = address_len(rest).filter(|&n| ends_at(n))
            && let Some(c) = [b'h', b'L'].into_iter().find(|c| !used.contains(c))
        {
            used.push(c);
            esc(&mut parts, c, &rest[..n]);
            i += n;
            continue;
        }
        let word = BACKEND_TYPES
            .iter()
            .map(|w| (w, b'b'))
            .chain(COMMAND_TAGS.iter().map(|w| (w, b'i')))
            .find(|(w, c)| rest.starts_with(w.as_bytes()) && ends_at(w.len()) && !used.contains(c));
        if let Some((w, c)) = word {
            used.push(c);
            esc(&mut parts, c, w.as_bytes());
            i += w.len();
            continue;
        }
        let digits = run_len(rest, |c| c.is_ascii_digit());
        // SQLSTATE: `00000` on LOG lines, `28P01` and the like on others.
        let state = run_len(rest, |c| c.is_ascii_digit() || c.is_ascii_uppercase());
        if state == 5
            && ends_at(5)
            && (&rest[..5] == b"00000"
                || (digits < 5 && rest[..5].iter().filter(|c| c.is_ascii_digit()).count() >= 2))
        {
            esc(&mut parts, b'e', &rest[..5]);
            i += 5;
            continue;
        }
        if digits > 0 && rest.get(digits) == Some(&b'/') {
            let more = run_len(&rest[digits + 1..], |c| c.is_ascii_digit());
            if more > 0 && ends_at(digits + 1 + more) {
                esc(&mut parts, b'v', &rest[..digits + 1 + more]);
                i += digits + 1 + more;
                continue;
            }
        }
        if digits > 0 && ends_at(digits) {
            esc(&mut parts, b'#', &rest[..digits]);
            i += digits;
            continue;
        }
        let word = run_len(rest, is_word).max(1);
        push_lit(&mut parts, &rest[..word]);
        i += word;
    }
    parts
}

/// The templates one reading of a line gives: each run of digits in turn
/// as the pid (the others counters), or none; each with the fields it
/// pads padded, and not.
fn variants(parts: &[Part]) -> Vec<Vec<Part>> {
    let runs: Vec<usize> = parts
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p, Part::Esc { c: b'#', .. }))
        .map(|(i, _)| i)
        .take(6)
        .collect();
    let mut out = Vec::new();
    let choices = runs.iter().map(|&i| Some(i)).chain([None]);
    for pid in choices {
        let mut v = parts.to_vec();
        for &i in &runs {
            if let Part::Esc { c, .. } = &mut v[i] {
                *c = if Some(i) == pid { b'p' } else { b'l' };
            }
        }
        let padded = padded(&v);
        if padded != v {
            out.push(padded);
        }
        out.push(v);
    }
    out
}

/// Free-text fields followed (or preceded) by two spaces or more are read
/// as padded (`%-10u`): the regex then allows any run of spaces there.
fn padded(parts: &[Part]) -> Vec<Part> {
    let mut v = parts.to_vec();
    for i in 0..v.len() {
        let free = |p: &Part| matches!(p, Part::Esc { c, .. } if matches!(c, b'u' | b'd' | b'a' | b'h' | b'r' | b'i' | b'b' | b'L'));
        if !free(&v[i]) {
            continue;
        }
        if let Some(Part::Lit(next)) = v.get(i + 1) {
            let spaces = run_len(next, |c| c == b' ');
            if spaces >= 2 {
                let keep = next[spaces - 1..].to_vec();
                if let Part::Esc { text, pad, .. } = &mut v[i] {
                    *pad = (text.len() + spaces - 1) as i32;
                }
                v[i + 1] = Part::Lit(keep);
                continue;
            }
        }
        if i > 0
            && let Part::Lit(before) = &v[i - 1]
        {
            let spaces = before.iter().rev().take_while(|&&c| c == b' ').count();
            if spaces >= 2 {
                let keep = before[..before.len() - spaces + 1].to_vec();
                if let Part::Esc { text, pad, .. } = &mut v[i] {
                    *pad = -((text.len() + spaces - 1) as i32);
                }
                v[i - 1] = Part::Lit(keep);
            }
        }
    }
    v.retain(|p| !matches!(p, Part::Lit(l) if l.is_empty()));
    v
}

/// How well a candidate reads the samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Score {
    /// No field disagrees with the messages (beyond 1 in 20: names that
    /// hold the prefix's own delimiters can be cut wrong).
    valid: bool,
    matched: usize,
    /// Fields the messages confirm.
    agree: usize,
    /// Distinct pids (up to 3): a digit field that never varies is no pid.
    pids: usize,
    fields: usize,
    not_wildcard: bool,
    /// Built from a line read field by field (not a common value or a
    /// shape): its digit fields stay fields.
    read: bool,
    simpler: std::cmp::Reverse<usize>,
}

/// Checks `prefix` against every sample.
fn score(prefix: &Prefix, samples: &[Sample], wildcard: bool, read: bool) -> Score {
    let mut cache = prefix.create_cache();
    let (mut matched, mut fields, mut agree, mut disagree) = (0, 0, 0, 0);
    let mut pids: Vec<u32> = Vec::new();
    // pid -> (host, port) of its `connection received` line.
    let mut received: HashMap<u32, (&[u8], Option<u16>)> = HashMap::new();
    for s in samples {
        let Some(n) = prefix.fields_present(&s.text, &mut cache) else { continue };
        let Some(meta) = prefix.parse(&s.text, &mut cache) else { continue };
        matched += 1;
        fields = fields.max(n);
        let f = &s.facts;
        let mut check = |got: Option<&[u8]>, want: Option<&Vec<u8>>| {
            if let (Some(g), Some(w)) = (got, want) {
                if g == w.as_slice() {
                    agree += 1;
                } else if !(w.starts_with(g) || g.starts_with(w)) {
                    // Not a name cut short or run on (a name holding
                    // the separator after its field, `sales db` before
                    // a space): another field.
                    disagree += 1;
                }
            }
        };
        match f.said {
            Said::Nothing => {}
            Said::Received => check(meta.host, f.host.as_ref()),
            Said::Authorized | Said::Disconnection | Said::Failure => {
                check(meta.user, f.user.as_ref());
                check(meta.db, f.db.as_ref());
                check(meta.host, f.host.as_ref());
            }
        }
        if let Some(pid) = meta.pid {
            if pids.len() < 3 && !pids.contains(&pid) {
                pids.push(pid);
            }
            match f.said {
                Said::Received => {
                    if let Some(h) = &f.host {
                        received.insert(pid, (h, f.port));
                    }
                }
                Said::Authorized if received.contains_key(&pid) => agree += 1,
                Said::Disconnection => {
                    if let (Some(&(h, port)), Some(host)) = (received.get(&pid), &f.host) {
                        if h == host.as_slice() && port == f.port {
                            agree += 1;
                        } else {
                            disagree += 1;
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Score {
        valid: disagree == 0 || disagree * 20 <= agree,
        matched,
        agree,
        pids: pids.len(),
        fields,
        not_wildcard: !wildcard,
        read,
        simpler: std::cmp::Reverse(prefix.source().len()),
    }
}

/// A candidate: its value, the parts it was built from (none for the
/// common values), and whether it is a wildcard fallback.
struct Candidate {
    value: String,
    parts: Option<Vec<Part>>,
    wildcard: bool,
}

/// Picks sample lines to build candidates from: the connection lines that
/// name the most (disconnections over TCP, authorized lines whose user
/// and database differ), and the longest lines.
fn references(samples: &[Sample]) -> Vec<&Sample> {
    let samples: Vec<&Sample> = samples.iter().filter(|s| s.text.len() <= MAX_TEXT).collect();
    let rank = |s: &Sample| {
        let f = &s.facts;
        let distinct = f.user.is_some() && f.user != f.db;
        match f.said {
            Said::Disconnection => 6 + usize::from(f.port.is_some()) + usize::from(distinct),
            Said::Authorized => 4 + usize::from(distinct),
            Said::Failure => 3,
            Said::Received => 2 + usize::from(f.port.is_some()),
            Said::Nothing => 0,
        }
    };
    let mut by_kind: Vec<&Sample> = samples.iter().copied().filter(|s| rank(s) > 0).collect();
    by_kind.sort_by_key(|s| std::cmp::Reverse(rank(s)));
    let mut out: Vec<&Sample> = Vec::new();
    for said in [Said::Disconnection, Said::Authorized, Said::Received, Said::Failure] {
        out.extend(by_kind.iter().filter(|s| s.facts.said == said).take(2));
    }
    let mut longest: Vec<&Sample> = samples.clone();
    longest.sort_by_key(|s| std::cmp::Reverse(s.text.len()));
    out.extend(longest.into_iter().take(3));
    let mut seen: Vec<&[u8]> = Vec::new();
    out.retain(|s| {
        let new = !seen.contains(&s.text.as_slice());
        seen.push(&s.text);
        new
    });
    out
}

/// Infers the prefix from `samples`, the first lines of an input. None
/// when there is no sample or no candidate matches any.
pub(crate) fn infer(samples: &[Sample]) -> Option<Prefix> {
    if samples.is_empty() {
        return None;
    }
    let mut apps: Vec<Vec<u8>> = Vec::new();
    for s in samples {
        if let Some(a) = &s.facts.app
            && !a.is_empty()
            && !apps.contains(a)
            && apps.len() < 32
        {
            apps.push(a.clone());
        }
    }
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut add = |value: String, parts: Option<Vec<Part>>, wildcard: bool| {
        if !candidates.iter().any(|c| c.value == value) {
            candidates.push(Candidate { value, parts, wildcard });
        }
    };
    for s in references(samples) {
        for v in variants(&parts_of(&s.text, &s.facts, &apps)) {
            if let Some(q) = with_q(&v) {
                add(render(&q), Some(q), false);
            }
            add(render(&v), Some(v), false);
        }
        let template = template_of(&s.text);
        if let Some(q) = with_q(&parts_from(&template)) {
            add(render(&q), None, false);
        }
        if let Some(w) = with_wildcard_tail(&template) {
            add(w, None, true);
        }
        add(template, None, false);
    }
    for c in COMMON {
        add(c.to_string(), None, false);
    }
    let mut best: Option<(Score, Prefix, Option<Vec<Part>>)> = None;
    for c in candidates {
        let Ok(prefix) = Prefix::compile(&c.value) else { continue };
        let s = score(&prefix, samples, c.wildcard, c.parts.is_some());
        if s.matched > 0 && best.as_ref().is_none_or(|(b, _, _)| s > *b) {
            best = Some((s, prefix, c.parts));
        }
    }
    let (mut now, prefix, parts) = best?;
    let Some(mut parts) = parts else { return Some(prefix) };
    // Literal words that vary between lines are fields; digit fields that
    // never do are text.
    if now.matched < samples.len() {
        (now, parts) = generalise(now, parts, samples);
    }
    Some(constants_as_text(parts, samples, now).unwrap_or(prefix))
}

/// Shows digit fields (`%l`, ...) whose text never varies in the samples
/// as that text (the `1` of `[%l-1]`), while the samples read as well; the prefix of
/// the result.
fn constants_as_text(mut parts: Vec<Part>, samples: &[Sample], mut now: Score) -> Option<Prefix> {
    // A `0` on every line is the transaction id (`%x`) of lines outside a
    // transaction: a field, whatever the samples show.
    for part in &mut parts {
        if let Part::Esc { c: c @ b'l', text, .. } = part
            && text == b"0"
        {
            *c = b'x';
        }
    }
    let mut prefix = Prefix::compile(&render(&parts)).ok()?;
    'outer: loop {
        for i in 0..parts.len() {
            let Part::Esc { c: b'l', text, pad: 0 } = &parts[i] else { continue };
            let mut v = parts.clone();
            v[i] = Part::Lit(text.clone());
            let v = merge_literals(v);
            let Ok(p) = Prefix::compile(&render(&v)) else { continue };
            let s = score(&p, samples, false, true);
            if s.valid && s.matched >= now.matched && s.agree >= now.agree {
                (prefix, parts, now) = (p, v, s);
                continue 'outer;
            }
        }
        return Some(prefix);
    }
}

fn merge_literals(parts: Vec<Part>) -> Vec<Part> {
    let mut out: Vec<Part> = Vec::new();
    for p in parts {
        match p {
            Part::Lit(l) => push_lit(&mut out, &l),
            e => out.push(e),
        }
    }
    out
}

/// Makes literal words of `parts` that other lines print differently
/// free-text fields (`%i`, a field pgconn does not use), one at a time,
/// while that reads more lines.
fn generalise(mut now: Score, mut parts: Vec<Part>, samples: &[Sample]) -> (Score, Vec<Part>) {
    for _ in 0..4 {
        let mut best: Option<(Score, Vec<Part>)> = None;
        // A prefix has a few words of its own; a line that seems to have
        // more is no prefix worth the time.
        let mut words = 0;
        for (i, part) in parts.iter().enumerate() {
            let Part::Lit(l) = part else { continue };
            let mut at = 0;
            while at < l.len() && words < MAX_WORDS {
                let n = run_len(&l[at..], is_word);
                if n == 0 {
                    at += 1;
                    continue;
                }
                words += 1;
                // `key=` is the prefix's own text.
                if l.get(at + n) != Some(&b'=') {
                    let mut v = parts[..i].to_vec();
                    v.push(Part::Lit(l[..at].to_vec()));
                    v.push(Part::Esc { c: b'i', text: l[at..at + n].to_vec(), pad: 0 });
                    v.push(Part::Lit(l[at + n..].to_vec()));
                    v.extend_from_slice(&parts[i + 1..]);
                    v.retain(|p| !matches!(p, Part::Lit(l) if l.is_empty()));
                    if let Ok(p) = Prefix::compile(&render(&v)) {
                        let s = score(&p, samples, false, true);
                        if s.valid
                            && s.matched > now.matched
                            && best.as_ref().is_none_or(|(b, _)| s > *b)
                        {
                            best = Some((s, v));
                        }
                    }
                }
                at += n;
            }
        }
        match best {
            Some((s, v)) => (now, parts) = (s, v),
            None => break,
        }
    }
    (now, parts)
}

/// Puts `%q` before the first session-only escape, so that lines from the
/// postmaster and other processes without a client match too; a literal
/// that belongs to that escape (`user=` of `user=%u`) goes after it.
fn with_q(parts: &[Part]) -> Option<Vec<Part>> {
    let first = parts.iter().position(|p| matches!(p, Part::Esc { c, .. } if session_only(*c)))?;
    let mut v = parts[..first].to_vec();
    let mut tail = Vec::new();
    if let Some(Part::Lit(l)) = v.last() {
        // Keep `key=` (and an opening bracket) with the escape.
        let mut start = l.len();
        while start > 0 && (is_word(l[start - 1]) || matches!(l[start - 1], b'=' | b'[' | b'(')) {
            start -= 1;
        }
        tail = l[start..].to_vec();
        let head = l[..start].to_vec();
        v.pop();
        if !head.is_empty() {
            v.push(Part::Lit(head));
        }
    }
    v.push(Part::Esc { c: b'q', text: Vec::new(), pad: 0 });
    if !tail.is_empty() {
        v.push(Part::Lit(tail));
    }
    v.extend_from_slice(&parts[first..]);
    Some(v)
}

/// The parts of a value built by `template_of` (no padding), for `with_q`.
fn parts_from(template: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut rest = template.as_bytes();
    while let Some((&b, after)) = rest.split_first() {
        match (b, after.first()) {
            (b'%', Some(&b'%')) => push_lit(&mut parts, b"%"),
            (b'%', Some(&c)) => parts.push(Part::Esc { c, text: Vec::new(), pad: 0 }),
            _ => {
                push_lit(&mut parts, &[b]);
                rest = after;
                continue;
            }
        }
        rest = &after[1..];
    }
    parts
}

/// Keeps a template up to its pid and lets anything follow (`%m [%p] psql `
/// becomes `%m [%p] %a`): for prefixes whose later fields pgconn cannot
/// tell from literal text, such as a bare `%a`.
fn with_wildcard_tail(template: &str) -> Option<String> {
    let at = template.find("%p")? + 2;
    let tail =
        template[at..].bytes().take_while(|c| matches!(c, b']' | b')' | b':' | b' ')).count();
    let head = &template[..at + tail];
    (head.len() < template.len()).then(|| format!("{head}%a"))
}

/// Key names in key=value prefixes, and the escape each one holds (for
/// lines whose messages name nothing).
const KEYS: &[(&str, char)] = &[
    ("application_name", 'a'),
    ("application", 'a'),
    ("appname", 'a'),
    ("app", 'a'),
    ("user", 'u'),
    ("usr", 'u'),
    ("username", 'u'),
    ("role", 'u'),
    ("database", 'd'),
    ("dbname", 'd'),
    ("db", 'd'),
    ("client_addr", 'h'),
    ("client", 'h'),
    ("clientip", 'h'),
    ("remote", 'h'),
    ("host", 'h'),
    ("ip", 'h'),
    ("pid", 'p'),
    ("session_id", 'c'),
    ("session", 'c'),
    ("sid", 'c'),
    ("line", 'l'),
    ("xid", 'x'),
    ("vxid", 'v'),
    ("tag", 'i'),
    ("sqlstate", 'e'),
    ("backend", 'b'),
    ("query_id", 'Q'),
];

fn key_at(p: &[u8], i: usize) -> Option<(&'static str, char)> {
    if i > 0 && (p[i - 1].is_ascii_alphanumeric() || p[i - 1] == b'_') {
        return None;
    }
    KEYS.iter()
        .find(|(k, _)| p[i..].starts_with(k.as_bytes()) && p.get(i + k.len()) == Some(&b'='))
        .copied()
}

fn is_sep(b: u8) -> bool {
    matches!(b, b' ' | b',' | b';' | b'|')
}

/// A zone PostgreSQL prints: an abbreviation (`UTC`, `CEST`) or a numeric
/// offset (`+03`, `-03`, `+0545`, `+1345`): its length at the start of `z`.
fn zone_len(z: &[u8]) -> usize {
    match z.first() {
        Some(b'+' | b'-') => {
            let d = run_len(&z[1..], |c| c.is_ascii_digit());
            if d == 2 || d == 4 { 1 + d } else { 0 }
        }
        Some(c) if c.is_ascii_alphabetic() => run_len(z, |c| c.is_ascii_alphabetic()),
        _ => 0,
    }
}

/// Length of a `YYYY-MM-DD HH:MM:SS[.mmm] ZONE` at the start of `p`, and
/// whether it has milliseconds.
fn civil_len(p: &[u8]) -> Option<(usize, bool)> {
    let shape = b"dddd-dd-dd dd:dd:dd";
    if p.len() < shape.len() {
        return None;
    }
    for (c, s) in p.iter().zip(shape) {
        let ok = if *s == b'd' { c.is_ascii_digit() } else { c == s };
        if !ok {
            return None;
        }
    }
    let mut n = shape.len();
    let ms = p.get(n) == Some(&b'.') && p[n + 1..].iter().take(3).all(u8::is_ascii_digit);
    if ms {
        n += 4;
    }
    if p.get(n) == Some(&b' ') {
        let zone = zone_len(&p[n + 1..]);
        if zone > 0 {
            n += 1 + zone;
        }
    }
    Some((n, ms))
}

/// `%n`: epoch seconds, a dot and milliseconds.
fn epoch_len(p: &[u8]) -> Option<usize> {
    let digits = run_len(p, |c| c.is_ascii_digit());
    (digits == 10 && p.get(10) == Some(&b'.') && run_len(&p[11..], |c| c.is_ascii_digit()) == 3)
        .then_some(14)
}

fn run_len(p: &[u8], f: impl Fn(u8) -> bool) -> usize {
    p.iter().take_while(|&&c| f(c)).count()
}

/// Builds a log_line_prefix value from the shape of one sample alone (key
/// names, `user@db`), for lines whose messages name nothing.
fn template_of(p: &[u8]) -> String {
    let mut out = String::new();
    let mut i = 0;
    let mut have_pid = false;
    while i < p.len() {
        let rest = &p[i..];
        let at_start = i == 0 || !p[i - 1].is_ascii_alphanumeric();
        if at_start && let Some((n, ms)) = civil_len(rest) {
            out.push_str(if ms { "%m" } else { "%t" });
            i += n;
            continue;
        }
        if at_start && let Some(n) = epoch_len(rest) {
            out.push_str("%n");
            i += n;
            continue;
        }
        if rest[0] == b'[' {
            let d = run_len(&rest[1..], |c| c.is_ascii_digit());
            if d > 0 && rest.get(1 + d) == Some(&b']') && !have_pid {
                out.push_str("[%p]");
                have_pid = true;
                i += d + 2;
                continue;
            }
            if d > 0 && rest.get(1 + d) == Some(&b'-') {
                let d2 = run_len(&rest[2 + d..], |c| c.is_ascii_digit());
                if d2 > 0 && rest.get(2 + d + d2) == Some(&b']') {
                    out.push_str("[%l-");
                    out.push_str(&String::from_utf8_lossy(&rest[2 + d..2 + d + d2]));
                    out.push(']');
                    i += d + d2 + 3;
                    continue;
                }
            }
        }
        if let Some((key, esc)) = key_at(p, i) {
            let value_start = i + key.len() + 1;
            // The value runs to the separator before the next key.
            let mut end = p.len();
            let mut next = value_start;
            while next < p.len() {
                if key_at(p, next).is_some() && next > value_start && is_sep(p[next - 1]) {
                    end = next;
                    while end > value_start && is_sep(p[end - 1]) {
                        end -= 1;
                    }
                    break;
                }
                next += 1;
            }
            if end == p.len() {
                while end > value_start && matches!(p[end - 1], b' ' | b':' | b']' | b'|') {
                    end -= 1;
                }
            }
            let value = &p[value_start..end];
            let esc = if esc == 'h' && value.ends_with(b")") { 'r' } else { esc };
            if esc == 'p' {
                have_pid = true;
            }
            out.push_str(key);
            out.push('=');
            out.push('%');
            out.push(esc);
            i = end;
            continue;
        }
        if at_start && let Some(n) = user_at_db(rest) {
            out.push_str("%u@%d");
            i += n;
            continue;
        }
        if at_start && let Some(n) = remote_len(rest) {
            out.push_str("%r");
            i += n;
            continue;
        }
        if at_start && let Some(n) = session_id_len(rest) {
            out.push_str("%c");
            i += n;
            continue;
        }
        if rest[0] == b'%' {
            out.push_str("%%");
        } else {
            out.push_str(&String::from_utf8_lossy(&rest[..1]));
        }
        i += 1;
    }
    out
}

fn name_len(p: &[u8]) -> usize {
    if p.starts_with(b"[unknown]") {
        return 9;
    }
    run_len(p, |c| !matches!(c, b' ' | b':' | b',' | b'@' | b'[' | b']' | b'\t'))
}

/// `user@db`, `[unknown]@[unknown]`, or `@` (the postmaster without %q).
fn user_at_db(p: &[u8]) -> Option<usize> {
    let u = name_len(p);
    if p.get(u) != Some(&b'@') {
        return None;
    }
    let d = name_len(&p[u + 1..]);
    Some(u + 1 + d)
}

/// `host(port)` or `[local]` (the `%r` escape).
fn remote_len(p: &[u8]) -> Option<usize> {
    if p.starts_with(b"[local]") {
        return Some(7);
    }
    let h = run_len(p, |c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b':' | b'-' | b'_'));
    if h == 0 || p.get(h) != Some(&b'(') {
        return None;
    }
    let d = run_len(&p[h + 1..], |c| c.is_ascii_digit());
    (d > 0 && p.get(h + 1 + d) == Some(&b')')).then_some(h + d + 2)
}

/// An IPv4 or IPv6 address, or `[local]`, at the start of `p`.
fn address_len(p: &[u8]) -> Option<usize> {
    if p.starts_with(b"[local]") {
        return Some(7);
    }
    let v4 = {
        let mut n = 0;
        let mut ok = true;
        for octet in 0..4 {
            let d = run_len(&p[n..], |c| c.is_ascii_digit());
            if !(1..=3).contains(&d) {
                ok = false;
                break;
            }
            n += d;
            if octet < 3 {
                if p.get(n) != Some(&b'.') {
                    ok = false;
                    break;
                }
                n += 1;
            }
        }
        ok.then_some(n)
    };
    if v4.is_some() {
        return v4;
    }
    let n = run_len(p, |c| c.is_ascii_hexdigit() || c == b':');
    let colons = p[..n].iter().filter(|&&c| c == b':').count();
    (colons >= 2 && n >= 3).then_some(n)
}

/// `6b096a2b.4cf4` (the `%c` escape).
fn session_id_len(p: &[u8]) -> Option<usize> {
    let a = run_len(p, |c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
    if !(1..=8).contains(&a) || p.get(a) != Some(&b'.') {
        return None;
    }
    let b = run_len(&p[a + 1..], |c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
    let end = a + 1 + b;
    let boundary = p.get(end).is_none_or(|c| !c.is_ascii_alphanumeric() && *c != b'.');
    // Both parts all digits is more likely a number than a session id.
    let all_digits = p[..end].iter().all(|c| c.is_ascii_digit() || *c == b'.');
    ((1..=8).contains(&b) && boundary && !all_digits).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Fields = (Option<u32>, Option<String>, Option<String>, Option<String>);

    /// pid, user, database, host of `text` read with `prefix`.
    fn fields(prefix: &str, text: &str) -> Option<Fields> {
        let p = Prefix::compile(prefix).unwrap();
        let m = p.parse(text.as_bytes(), &mut p.create_cache())?;
        let s = |v: Option<&[u8]>| v.map(|v| String::from_utf8_lossy(v).into_owned());
        Some((m.pid, s(m.user), s(m.db), s(m.host)))
    }

    fn inferred(samples: &[&str]) -> String {
        let s: Vec<Sample> = samples.iter().map(|s| Sample::bare(s.as_bytes())).collect();
        infer(&s).unwrap().source().to_string()
    }

    #[test]
    fn infers_common_prefixes() {
        assert_eq!(inferred(&["2025-03-01 10:00:00.123 UTC [42] "]), "%m [%p] ");
        assert_eq!(
            inferred(&[
                "2025-03-01 10:00:00.123 UTC [42] ",
                "2025-03-01 10:00:00.123 UTC [43] app@prod "
            ]),
            "%m [%p] %q%u@%d "
        );
        assert_eq!(
            inferred(&[
                "2025-03-01 10:00:00 UTC:10.0.0.5(5432):app@prod:[42]:",
                "2025-03-01 10:00:00 UTC::@:[1]:"
            ]),
            "%t:%r:%u@%d:[%p]:"
        );
        assert_eq!(
            inferred(&["2025-03-01 10:00:00.123 CET a@b ", "2025-03-01 10:00:00.123 CET @ "]),
            "%m %u@%d "
        );
    }

    #[test]
    fn infers_azure_session_id_prefix() {
        let p = inferred(&[
            "2025-03-01 10:00:00 UTC-6b096a2b.4cf4-",
            "2025-03-01 10:00:01 UTC-6b096a2c.1f-",
        ]);
        assert_eq!(p, "%t-%c-");
        let f = fields(&p, "2025-03-01 10:00:00 UTC-6b096a2b.4cf4-").unwrap();
        assert_eq!(f.0, Some(0x4cf4), "the session id gives the pid");
    }

    #[test]
    fn infers_a_bare_application_name() {
        let p = inferred(&[
            "2025-03-01 10:00:00.000 UTC [1]  ",
            "2025-03-01 10:00:00.000 UTC [10] psql ",
            "2025-03-01 10:00:00.000 UTC [11] my app ",
            "2025-03-01 10:00:00.000 UTC [12] pgbench ",
        ]);
        assert_eq!(p, "%m [%p] %a");
    }

    #[test]
    fn infers_key_value_styles() {
        let p = inferred(&[
            "2025-03-01 10:00:00 UTC [9]: [3-1] user=alice,db=sales db,app=etl,nightly,client=10.1.1.1 ",
            "2025-03-01 10:00:00 UTC [8]: [1-1] user=,db=,app=,client= ",
        ]);
        assert_eq!(p, "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ");
        let p =
            inferred(&["2025-03-01 10:00:00.001 UTC pid=77 user=bob database=x host=10.0.0.1 "]);
        assert_eq!(p, "%m pid=%p user=%u database=%d host=%h ");
    }

    fn said(text: &str, said: Said, user: &str, db: &str, host: &str, port: Option<u16>) -> Sample {
        let v = |s: &str| (!s.is_empty()).then(|| s.as_bytes().to_vec());
        let facts = Facts { said, user: v(user), db: v(db), host: v(host), port, app: None };
        Sample { text: text.as_bytes().to_vec(), facts }
    }

    /// Two sessions: received, authorized, disconnection each, the
    /// prefix text of each line made by `line(pid, line number, user, db)`.
    fn sessions(line: impl Fn(u32, u32, &str, &str) -> String) -> Vec<Sample> {
        let mut out = vec![Sample::bare(line(7, 1, "", "").as_bytes())];
        for (pid, user, db, port) in
            [(4242, "alice", "appdb", 50001), (4250, "bob", "sales", 50002)]
        {
            let host = "10.0.0.5";
            out.push(said(
                &line(pid, 1, "[unknown]", "[unknown]"),
                Said::Received,
                "",
                "",
                host,
                Some(port),
            ));
            out.push(said(&line(pid, 2, user, db), Said::Authorized, user, db, "", None));
            out.push(said(
                &line(pid, 3, user, db),
                Said::Disconnection,
                user,
                db,
                host,
                Some(port),
            ));
        }
        out
    }

    #[test]
    fn fields_that_disagree_with_the_messages_are_the_wrong_prefix() {
        // %d@%u: `%u@%d` matches every line, and reads each name wrong.
        let samples = sessions(|pid, _, u, d| {
            let names = if u.is_empty() { String::new() } else { format!("{d}@{u} ") };
            format!("2025-03-01 10:00:00.123 UTC [{pid}] {names}")
        });
        let p = infer(&samples).unwrap();
        assert_eq!(p.source(), "%m [%p] %q%d@%u ");
    }

    #[test]
    fn the_pid_is_the_digits_a_session_keeps() {
        // `%l` first, then the pid: the first run of digits changes
        // within a session, the second does not.
        let samples = sessions(|pid, n, _, _| format!("2025-03-01 10:00:00 UTC [{n}-{pid}] "));
        assert_eq!(infer(&samples).unwrap().source(), "%t [%l-%p] ");
    }

    #[test]
    fn numeric_zones_before_a_separator() {
        for zone in ["+03", "-03", "+0545", "+1345", "CET"] {
            let samples = sessions(|pid, _, u, _| {
                let user = if u.is_empty() { String::new() } else { u.to_string() };
                format!("2025-03-01 10:00:00 {zone}-{pid}-{user}-")
            });
            let p = infer(&samples).unwrap();
            assert_eq!(p.source(), "%t-%p-%u-", "{zone}");
            let f = fields(p.source(), &format!("2025-03-01 10:00:00 {zone}-42-bob-")).unwrap();
            assert_eq!((f.0, f.1.as_deref()), (Some(42), Some("bob")), "{zone}");
        }
    }

    #[test]
    fn backend_types_with_spaces() {
        let samples = sessions(|pid, n, u, d| {
            let kind = if n == 1 { "not initialized" } else { "client backend" };
            let names = if u.is_empty() { String::new() } else { format!("{u}@{d} ") };
            format!("2025-03-01 10:00:00.000 UTC [{pid}] {kind} {names}")
        });
        let p = infer(&samples).unwrap();
        assert_eq!(p.source(), "%m [%p] %b %q%u@%d ");
        let f =
            fields(p.source(), "2025-03-01 10:00:00.000 UTC [9] client backend a b@c ").unwrap();
        assert_eq!((f.1.as_deref(), f.2.as_deref()), (Some("a b"), Some("c")));
    }
}
