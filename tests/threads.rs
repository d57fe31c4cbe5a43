//! `--threads 1` (parsing and tracking on the main thread, what pgconn does
//! on one CPU) and `--threads 2` (each on its own thread) give the same
//! output, byte for byte, on every committed log, in every mode.

use std::path::{Path, PathBuf};

use crate::util::{fixture, run};

/// Every committed log under fixtures/, the hostile ones included.
fn logs(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') {
            // .cache: server binaries generate.sh downloads.
        } else if path.is_dir() {
            logs(&path, into);
        } else if [".log", ".csv", ".json", ".gz"].iter().any(|e| name.ends_with(e))
            && !name.ends_with(".expected.json")
            && !name.ends_with(".names.json")
        {
            into.push(path);
        }
    }
}

#[test]
fn one_thread_and_two_give_the_same_output() {
    let mut files = Vec::new();
    logs(&fixture(""), &mut files);
    files.sort();
    assert!(files.len() >= 30, "{} logs under fixtures/", files.len());
    let modes: &[&[&str]] = &[
        &["--json", "--top", "0"],
        &["--color", "never"],
        &["--watch", "--json"],
        &["--watch", "--color", "never"],
        &["--history", "--json"],
        &["--sessions", "--json"],
        &["--failures", "--json"],
    ];
    for file in &files {
        let file = file.to_str().unwrap();
        for mode in modes {
            let with = |threads: &str| {
                let mut args = vec!["--threads", threads];
                args.extend_from_slice(mode);
                args.push(file);
                run(&args, None)
            };
            let (one, two) = (with("1"), with("2"));
            assert_eq!(one.code, two.code, "{}", one.desc);
            assert_eq!(one.out(), two.out(), "{}", one.desc);
            assert_eq!(one.stderr, two.stderr, "{}", one.desc);
        }
        // The summary always says something: the runs did read the file.
        let summary = run(&["--threads", "1", "--json", file], None);
        assert!(summary.out().contains("\"type\":\"summary\""), "{}", summary.desc);
    }
}
