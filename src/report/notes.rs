//! Notes: what a report could not give, or gave degraded, with the exact
//! cause and the fix.
//!
//! One list for every output, worked out here from the report alone: the
//! JSON summary's `notes`, the "Notes" block under the tables, and
//! standard error when nothing was found (then they say why) or the output
//! has no room for them (`--watch`, NDJSON of buckets or sessions). Each
//! note has a stable snake_case `code`, a `message` that names the cause
//! and what it costs, and a `fix`: the setting, option or command that
//! removes it.

use serde::Serialize;

use crate::config::Mode;
use crate::parse::Format;
use crate::report::{Report, escape};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Note {
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) fix: String,
}

fn note(code: &'static str, message: String, fix: impl Into<String>) -> Note {
    Note { code, message, fix: fix.into() }
}

const RELOAD: &str = "SELECT pg_reload_conf();";

/// Whether the inputs' lines carry a log_line_prefix (stderr, syslog):
/// csvlog and jsonlog records have every field.
fn prefixed(r: &Report<'_>) -> bool {
    r.formats.iter().any(|f| matches!(f, Format::Stderr | Format::Syslog))
}

/// The escapes of a log_line_prefix value (`%m [%p] %%` gives `m`, `p`).
fn escapes(prefix: &str) -> Vec<u8> {
    let b = prefix.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < b.len() && (b[j] == b'-' || b[j].is_ascii_digit()) {
            j += 1;
        }
        if let Some(&c) = b.get(j)
            && c != b'%'
        {
            out.push(c);
        }
        i = j + 1;
    }
    out
}

/// The `ALTER SYSTEM` that gives the server a log_line_prefix like `prefix`
/// with a time, a pid and a database where they are `missing`.
fn prefix_fix(prefix: Option<&str>, time: bool, pid: bool, db: bool) -> String {
    let mut p = prefix.unwrap_or("%m [%p] %q%u@%d ").to_string();
    let has = escapes(&p);
    // `at` and a space, unless one is there.
    let insert = |p: &mut String, at: usize, what: &str| {
        let space = if p[at..].starts_with(' ') { "" } else { " " };
        p.insert_str(at, &format!("{what}{space}"));
    };
    if db && !has.contains(&b'd') {
        if !p.ends_with(' ') {
            p.push(' ');
        }
        p.push_str(if has.contains(&b'u') { "%qdb=%d " } else { "%q%u@%d " });
    }
    if pid && !has.contains(&b'p') && !has.contains(&b'c') {
        let after_time = ["%m ", "%t ", "%n "].iter().find(|t| p.starts_with(**t));
        insert(&mut p, after_time.map_or(0, |t| t.len()), "[%p]");
    }
    if time && !has.iter().any(|c| matches!(c, b'm' | b't' | b'n')) {
        insert(&mut p, 0, "%m");
    }
    format!("ALTER SYSTEM SET log_line_prefix = '{}'; {RELOAD}", p.replace('\'', "''"))
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The notes of `r`, most telling first, with times shown in `zone` (None:
/// the log's own, as in JSON).
pub(crate) fn notes(r: &Report<'_>, zone: Option<&crate::zone::Zone>) -> Vec<Note> {
    let t = r.totals;
    let s = r.snapshot;
    let st = r.stats;
    let a = &r.asked;
    let found = t.matched > 0;
    let prefix = r.prefix.filter(|_| prefixed(r));
    let pidless = t.with_pid == 0 && t.without_pid > 0;
    let no_db = prefix.is_some_and(|p| t.failures_without_db > 0 && !escapes(p).contains(&b'd'));
    // One value for every field the prefix lacks, so that one reload
    // clears every note it causes.
    let prefix_sql = prefix_fix(prefix, !r.time_in_prefix, pidless, no_db);
    let mut out = Vec::new();

    if let Some((forced, seen)) = st.forced_mismatch {
        let what = if found { "" } else { ", and found no connection event in it" };
        out.push(note(
            "format_forced",
            format!(
                "--format {} read an input that looks like {}{what}",
                forced.as_str(),
                seen.as_str()
            ),
            "leave --format out: each input's format is detected from its first lines",
        ));
    }
    if a.prefix_given && !r.formats.is_empty() && !prefixed(r) {
        out.push(note(
            "prefix_unused",
            "--prefix is not used for csvlog/jsonlog input: their records carry the fields"
                .to_string(),
            "leave --prefix out",
        ));
    }
    let events = t.events.saturating_sub(t.unknown_fatal);
    let window_empty = !a.window.is_empty() && events == 0 && r.outside + r.untimed > 0;
    if window_empty {
        let all = r.outside + r.untimed;
        let mut message = format!(
            "no connection event in the window {}: the input has {} outside it",
            a.window,
            plural(all, "connection or server event", "connection or server events"),
        );
        if let Some((first, last)) = r.outside_span {
            message.push_str(&format!(", from {} to {}", first.shown(zone), last.shown(zone)));
        }
        if r.untimed > 0 {
            message.push_str(&format!(
                " ({} without a time, which no window holds)",
                plural(r.untimed, "is", "are")
            ));
        }
        let fix = match (&a.tz, r.outside) {
            (_, 0) => prefix_sql.clone(),
            (None, _) => "give --since/--until inside that span (log time, in the log's own \
                          zone), or a duration (--since 1h: the log's last hour)"
                .to_string(),
            (Some(tz), _) => format!(
                "give --since/--until inside that span (a date without a zone is read in \
                 --tz {tz}), or a duration (--since 1h: the log's last hour)"
            ),
        };
        out.push(note("window_empty", message, fix));
    }
    if !found && events > 0 && !a.filters.is_empty() {
        let inside = if a.window.is_empty() { "" } else { " inside the window" };
        out.push(note(
            "filtered_out",
            format!(
                "no connection event matched the filters {} ({} in the input{inside})",
                a.filters,
                plural(events, "connection event", "connection events"),
            ),
            "names are exact and case-sensitive: run without the filters to see the names \
             the log holds (--top 0 shows them all)",
        ));
    }
    if st.prefix_mismatch > 0 {
        let named = match (r.prefix, r.prefix_inferred) {
            (Some(p), true) => format!("the inferred log_line_prefix '{}'", escape(p.as_bytes())),
            (Some(p), false) => format!("--prefix '{}'", escape(p.as_bytes())),
            (None, _) => "the log_line_prefix".to_string(),
        };
        out.push(note(
            "prefix_mismatch",
            format!(
                "{} connection or server line(s) did not match {named}{}; first: {}",
                st.prefix_mismatch,
                if found { " and are not counted" } else { "" },
                escape(st.first_unparsed.as_deref().unwrap_or("").as_bytes()),
            ),
            "pass the server's value (SHOW log_line_prefix) with --prefix",
        ));
    }
    let foreign = st.foreign_severity + t.translated_fatal;
    let unknown_only = t.unknown_fatal > 0 && events == 0 && t.server_events == 0;
    let lc = format!(
        "ALTER SYSTEM SET lc_messages = 'C'; {RELOAD} (and RESET lc_messages where a database \
         or role sets it)"
    );
    if !found && !window_empty && (foreign > 0 || unknown_only) {
        let why = if st.foreign_severity > 0 {
            format!("{} line(s) have severity words that are not English", st.foreign_severity)
        } else if t.translated_fatal > 0 {
            format!("{} FATAL message(s) are not in English", t.translated_fatal)
        } else {
            format!("{} FATAL message(s) are none pgconn knows", t.unknown_fatal)
        };
        out.push(note(
            "translated",
            format!(
                "no connection events found, and {why}: the log looks translated \
                 (lc_messages); pgconn reads PostgreSQL's English messages"
            ),
            lc.clone(),
        ));
    } else if found && foreign > 0 {
        out.push(note(
            "translated",
            format!(
                "part of the log is translated (lc_messages): {} line(s) are not in English, \
                 and the connection events written in another language are not counted",
                foreign
            ),
            lc.clone(),
        ));
    }
    if !found && out.is_empty() {
        if r.prefix.is_none() && r.formats.is_empty() {
            out.push(note(
                "no_log_lines",
                format!(
                    "no PostgreSQL log lines found in {} bytes of input (expected stderr-format \
                     lines such as '2025-03-01 10:00:00.123 UTC [4242] LOG:  ...', or csvlog, \
                     jsonlog or syslog)",
                    r.bytes
                ),
                "give pgconn the server's log files (SHOW log_directory; SHOW log_filename)",
            ));
        } else {
            out.push(note(
                "no_events",
                "no connection events found; the server must log them, in English".to_string(),
                format!(
                    "ALTER SYSTEM SET log_connections = on; ALTER SYSTEM SET \
                     log_disconnections = on; ALTER SYSTEM SET lc_messages = 'C'; {RELOAD}"
                ),
            ));
        }
    }
    if !found {
        // What follows explains figures; there are none.
        out.extend(zone_note(r));
        return out;
    }

    if s.connections_from_disconnections {
        out.push(note(
            "no_connections",
            format!(
                "no connection lines, only {}: log_connections is off. Failures are still \
                 counted; connections are counted from disconnections (sessions still open are \
                 not seen); there are no connection times (--sessions, ages, setup times, \
                 authentication methods, TLS), no abandoned attempts and no application \
                 breakdown, and active and peak are lower bounds (≥)",
                plural(t.seen_disconnections, "disconnection", "disconnections")
            ),
            format!("ALTER SYSTEM SET log_connections = on; {RELOAD}"),
        ));
    }
    if s.active_upper_bound {
        let restarts = s
            .abnormal_ends
            .iter()
            .find(|(c, _)| *c == "server_restart")
            .map(|(_, n)| format!(" ({n} counted as ended by a server restart)"))
            .unwrap_or_default();
        // Sessions seen to end without their line make it certain;
        // otherwise every session could still be open (a pool's).
        let certain = if t.silent_ends > 0 {
            " (sessions were seen to end without one)"
        } else {
            " (or every session in it is still open)"
        };
        out.push(note(
            "no_disconnections",
            format!(
                "no disconnection line in the log, with {}: log_disconnections is off{certain}. \
                 Active and peak are upper bounds (≤): a session never seen to end counts as \
                 open until a server restart ends it{restarts}; there are no session times",
                plural(
                    t.seen_authorized,
                    "connection authorized line",
                    "connection authorized lines"
                )
            ),
            format!("ALTER SYSTEM SET log_disconnections = on; {RELOAD}"),
        ));
    }
    if pidless {
        out.push(note(
            "no_pid",
            "no pid in the log (log_line_prefix has no %p or %c): sessions cannot be followed \
             one by one, so --sessions cannot list them, active is connections minus \
             disconnections, active by application is not given, and abandoned attempts are \
             estimated"
                .to_string(),
            prefix_sql.clone(),
        ));
    }
    if pidless && t.pidless_hostless > 0 {
        out.push(note(
            "no_host",
            "no host in the log (log_line_prefix has no %p, %h or %r): the host breakdown \
             cannot be given, and failures have no host"
                .to_string(),
            prefix_sql.clone(),
        ));
    }
    if !r.time_in_prefix {
        let mut views = vec![
            "first and last times",
            "peak time",
            "session ages",
            "--history",
            "--since/--until",
        ];
        let asked = match (a.mode, a.window.is_empty()) {
            (Mode::History, _) => Some("--history"),
            (_, false) => Some("--since/--until"),
            (Mode::Sessions, _) => Some("session ages"),
            _ => None,
        };
        views.retain(|v| Some(*v) != asked);
        let rest =
            format!("{}, or {}", views[..views.len() - 1].join(", "), views[views.len() - 1]);
        let mut message = match asked {
            Some(v) => format!(
                "no time in log_line_prefix (%m, %t or %n): {v} cannot be given, and there are \
                 no {rest}"
            ),
            None => format!("no time in log_line_prefix (%m, %t or %n): there are no {rest}"),
        };
        if r.untimed > 0 {
            message.push_str(&format!(
                "; {} without a time left out of the window",
                plural(r.untimed, "event", "events")
            ));
        }
        out.push(note("no_time", message, prefix_sql.clone()));
    }
    if no_db {
        out.push(note(
            "no_database",
            format!(
                "no %d in log_line_prefix: {} whose message does not name the database \
                 (password, too many clients, ...) {} not in the database breakdown",
                plural(t.failures_without_db, "failure", "failures"),
                if t.failures_without_db == 1 { "is" } else { "are" }
            ),
            prefix_sql,
        ));
    }
    out.extend(zone_note(r));
    out
}

/// Times whose zone pgconn does not know.
fn zone_note(r: &Report<'_>) -> Option<Note> {
    let t = r.totals;
    if t.unknown_zone_times == 0 {
        return None;
    }
    let named: Vec<String> =
        t.unknown_zones.iter().filter(|z| !z.is_empty()).map(|z| escape(z)).collect();
    let times = plural(t.unknown_zone_times, "time", "times");
    if named.is_empty() {
        return Some(note(
            "unknown_zone",
            format!(
                "{times} carry no zone (syslog's Mmm dd hh:mm:ss): taken as UTC (+00:00 in \
                 JSON)"
            ),
            "add %m to log_line_prefix (its times carry their zone), or have the syslog \
             daemon write RFC 3339 times",
        ));
    }
    let example = &named[0];
    Some(note(
        "unknown_zone",
        format!(
            "time zone abbreviation {} unknown to pgconn: {times} taken as UTC (+00:00 in \
             JSON; the log's clock for --since, --until and buckets)",
            if named.len() == 1 {
                format!("{example} is")
            } else {
                format!("{} are", named.join(", "))
            }
        ),
        format!(
            "give its offset: --tz-abbrev {example}=+HH:MM (the server's: SELECT abbrev, \
             utc_offset FROM pg_timezone_names WHERE name = current_setting('log_timezone'))"
        ),
    ))
}

/// Writes `notes` as text, each message and its fix wrapped to `width`.
pub(crate) fn write_text<W: std::io::Write>(
    out: &mut W,
    notes: &[Note],
    indent: &str,
    width: usize,
) -> std::io::Result<()> {
    for n in notes {
        for line in wrap(&n.message, " ", indent, indent, width) {
            writeln!(out, "{line}")?;
        }
        // SQL is cut between statements only, to be pasted whole.
        let fix_indent = format!("{indent}  ");
        let sep = if n.fix.starts_with("ALTER SYSTEM") { "; " } else { " " };
        for line in wrap(&n.fix, sep, &format!("{fix_indent}fix: "), &fix_indent, width) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

/// Cuts `text` into lines of at most `width` characters at `sep` (` `, or
/// `; ` between SQL statements, which keep their `;`); a longer piece gets
/// a line of its own. The first line starts with `first`, the rest with
/// `rest`.
fn wrap(text: &str, sep: &str, first: &str, rest: &str, width: usize) -> Vec<String> {
    let keep = sep.trim_end();
    let pieces: Vec<String> = {
        let parts: Vec<&str> = text.split(sep).filter(|w| !w.is_empty()).collect();
        let last = parts.len().saturating_sub(1);
        parts
            .iter()
            .enumerate()
            .map(|(i, p)| if i < last { format!("{p}{keep}") } else { p.to_string() })
            .collect()
    };
    let mut lines = Vec::new();
    let mut line = first.to_string();
    let mut empty = true;
    for piece in &pieces {
        let len = line.chars().count() + 1 + piece.chars().count();
        if !empty && len > width {
            lines.push(std::mem::replace(&mut line, rest.to_string()));
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(piece);
        empty = false;
    }
    lines.push(line);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_escapes() {
        assert_eq!(escapes("%m [%p] %q%u@%d "), b"mpqud");
        assert_eq!(escapes("%%d %-10u"), b"u");
    }

    #[test]
    fn prefix_fixes_keep_the_rest() {
        let fix = |p, t, pid, db| prefix_fix(Some(p), t, pid, db);
        assert_eq!(
            fix("%m %u@%d ", false, true, false),
            "ALTER SYSTEM SET log_line_prefix = '%m [%p] %u@%d '; SELECT pg_reload_conf();"
        );
        assert!(fix("%m [%p] ", false, false, true).contains("'%m [%p] %q%u@%d '"));
        assert!(fix("%m [%p] user=%u ", false, false, true).contains("'%m [%p] user=%u %qdb=%d '"));
        assert!(fix(" sql_error_code = %e ", true, true, false).contains("'%m [%p] sql_error"));
        assert!(fix("it's ", true, false, false).contains("'%m it''s '"));
    }

    #[test]
    fn wraps_at_words() {
        let lines = wrap("one two three four", " ", "  ", "    ", 12);
        assert_eq!(lines, vec!["  one two", "    three", "    four"]);
        assert_eq!(wrap("averyverylongword", " ", "  ", "  ", 5), vec!["  averyverylongword"]);
        let sql = wrap("ALTER SYSTEM SET a = 1; SELECT pg_reload_conf();", "; ", "", "", 30);
        assert_eq!(sql, vec!["ALTER SYSTEM SET a = 1;", "SELECT pg_reload_conf();"]);
    }
}
