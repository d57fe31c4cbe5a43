//! Compressed logs, end to end: v16/extended.log as gzip, bzip2, xz and
//! zstd wrote it (fixtures/generate.sh --all-extended), read as FILE and on
//! standard input, whole, concatenated, cut short and corrupted.

use serde_json::Value;

use crate::util::{fixture, read_fixture, run, unnamed};

/// The format's name in pgconn's messages, and the fixture's extension.
const FORMATS: [(&str, &str); 4] =
    [("gzip", "gz"), ("bzip2", "bz2"), ("xz", "xz"), ("zstd", "zst")];

const PLAIN: &str = "v16/extended.log";

fn compressed(ext: &str) -> Vec<u8> {
    read_fixture(&format!("{PLAIN}.{ext}"))
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pgconn-compressed-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `pgconn --json --top 0` on `data` given on standard input, or as a file
/// named `name` in `dir` when there is a `dir`: the exit status, the
/// summary and standard error.
fn read(dir: Option<&std::path::Path>, name: &str, data: &[u8]) -> (i32, Value, String) {
    let r = match dir {
        Some(dir) => {
            let p = dir.join(name);
            std::fs::write(&p, data).unwrap();
            run(&["--json", "--top", "0", p.to_str().unwrap()], None)
        }
        None => run(&["--json", "--top", "0"], Some(data)),
    };
    let v = unnamed(r.json());
    (r.code, v, r.stderr)
}

#[test]
fn every_format_as_a_file_and_on_standard_input_gives_the_plain_log_figures() {
    let plain = read_fixture(PLAIN);
    let (code, want, stderr) = read(None, "", &plain);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert!(want["connections"].as_u64().unwrap() > 50, "{want}");
    for (name, ext) in FORMATS {
        let file = fixture(&format!("{PLAIN}.{ext}"));
        let r = run(&["--json", "--top", "0", file.to_str().unwrap()], None).expect(0);
        assert_eq!(unnamed(r.json()), want, "{name} as a file");
        assert_eq!(r.stderr, "", "{name} as a file");
        let (code, v, stderr) = read(None, "", &compressed(ext));
        assert_eq!((code, stderr.as_str()), (0, ""), "{name} on standard input");
        assert_eq!(v, want, "{name} on standard input");
    }
}

#[test]
fn concatenated_files_read_as_their_concatenated_logs() {
    // `cat a.xz b.xz > c.xz`, as `cat` of the plain logs would read.
    let plain = read_fixture(PLAIN);
    let (_, want, _) = read(None, "", &plain.repeat(2));
    let (_, once, _) = read(None, "", &plain);
    assert_ne!(want, once, "the second copy changes nothing: test nothing");
    // The second copy goes back to the first one's start, and says so.
    let went_back = |stderr: &str| {
        stderr.lines().count() == 1 && stderr.starts_with("pgconn: warning: time went back once")
    };
    let dir = temp_dir("concatenated");
    for (name, ext) in FORMATS {
        let twice = compressed(ext).repeat(2);
        let (code, v, stderr) = read(None, "", &twice);
        assert!(code == 0 && went_back(&stderr), "{name} on standard input: {stderr}");
        assert_eq!(v, want, "{name} on standard input");
        let (code, v, stderr) = read(Some(&dir), &format!("twice.log.{ext}"), &twice);
        assert!(code == 0 && went_back(&stderr), "{name} as a file: {stderr}");
        assert_eq!(v, want, "{name} as a file");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Exactly one line on standard error, the error, naming the input and the
/// format; no hint about an empty log after it. (A log followed by a copy
/// of its start goes back in time, which is warned about too.)
fn expect_one_error(stderr: &str, input: &str, format: &str, case: &str) {
    let back = |l: &&str| l.starts_with("pgconn: warning: time went back");
    let lines: Vec<&str> = stderr.lines().filter(|l| !back(l)).collect();
    assert_eq!(lines.len(), 1, "{case}: {stderr}");
    let start = format!("pgconn: {input}: corrupt {format} data");
    assert!(lines[0].starts_with(&start), "{case}: {stderr}");
}

#[test]
fn a_truncated_file_is_one_error_naming_the_file_and_the_format() {
    let dir = temp_dir("truncated");
    for (name, ext) in FORMATS {
        let data = compressed(ext);
        // Just the magic, half, all but the last byte (in each format a
        // checksum or the end of the index).
        for cut in [6, data.len() / 2, data.len() - 1] {
            let file = format!("cut-{cut}.log.{ext}");
            let case = format!("{name} cut at {cut} of {}", data.len());
            let (code, v, stderr) = read(Some(&dir), &file, &data[..cut]);
            assert_eq!(code, 2, "{case}: {stderr}");
            let path = dir.join(&file);
            expect_one_error(&stderr, path.to_str().unwrap(), name, &case);
            assert!(stderr.contains("it ends early (a truncated file?)"), "{case}: {stderr}");
            // The report is still written, with what was read.
            assert_eq!(v["type"], "summary", "{case}");
            let (code, _, stderr) = read(None, "", &data[..cut]);
            assert_eq!(code, 2, "{case} on standard input: {stderr}");
            expect_one_error(&stderr, "<stdin>", name, &case);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn garbage_after_the_magic_or_inside_is_one_error_naming_the_file_and_the_format() {
    let dir = temp_dir("corrupt");
    for (name, ext) in FORMATS {
        let data = compressed(ext);
        let mut garbage = data[..6].to_vec();
        garbage.extend((0..3000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        let mut flipped = data.clone();
        let mid = data.len() / 2;
        for b in &mut flipped[mid..mid + 8] {
            *b ^= 0x55;
        }
        for (what, bad) in [("garbage", garbage), ("flipped", flipped)] {
            let file = format!("{what}.log.{ext}");
            let case = format!("{name} {what}");
            let (code, _, stderr) = read(Some(&dir), &file, &bad);
            assert_eq!(code, 2, "{case}: {stderr}");
            // Garbage that decoded into lines may add the warning about
            // lines that could not be used; no other line.
            let errors: String = stderr
                .lines()
                .filter(|l| !l.starts_with("pgconn: warning: "))
                .map(|l| format!("{l}\n"))
                .collect();
            expect_one_error(&errors, dir.join(&file).to_str().unwrap(), name, &case);
            assert!(!stderr.contains("ends early"), "{case}: {stderr}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_lines_before_the_damage_are_counted_and_the_error_says_so() {
    // A whole copy of the log, then half of another: the first copy's
    // figures are all there, and the run still fails.
    let (_, once, _) = read(None, "", &read_fixture(PLAIN));
    let len = read_fixture(PLAIN).len();
    for (name, ext) in FORMATS {
        let data = compressed(ext);
        let damaged = [&data[..], &data[..data.len() / 2]].concat();
        let (code, v, stderr) = read(None, "", &damaged);
        assert_eq!(code, 2, "{name}: {stderr}");
        let after = format!(" data after {len} bytes of log (the lines before it are counted): ");
        expect_one_error(&stderr, "<stdin>", name, name);
        // gzip hands out part of the second copy too.
        if name == "gzip" {
            assert!(v["connections"].as_u64() > once["connections"].as_u64(), "{v}");
            assert!(stderr.contains(" data after "), "{stderr}");
        } else {
            assert_eq!(v, once, "{name}");
            assert!(stderr.contains(&after), "{name}: {stderr}");
        }
    }
}

#[test]
fn a_damaged_file_with_a_duration_window_is_one_error_and_a_report() {
    // --since 1h reads the files once before the run to find their end.
    let dir = temp_dir("window");
    let plain = read_fixture(PLAIN);
    let (_, want, _) = read(Some(&dir), "plain.log", &plain);
    for (name, ext) in FORMATS {
        let data = compressed(ext);
        let file = dir.join(format!("damaged.log.{ext}"));
        std::fs::write(&file, [&data[..], &data[..data.len() / 2]].concat()).unwrap();
        let r =
            run(&["--json", "--top", "0", "--since", "1h", file.to_str().unwrap()], None).expect(2);
        expect_one_error(&r.stderr, file.to_str().unwrap(), name, name);
        // The log spans seconds: the hour before its end holds all of it.
        let v = r.json();
        assert!(v["connections"].as_u64() >= want["connections"].as_u64(), "{name}: {v}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
