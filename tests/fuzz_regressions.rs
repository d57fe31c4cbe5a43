//! Inputs the fuzzers found (fuzz/regressions/TARGET/), replayed through
//! the same entry points as the fuzz targets: each must now run through.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8]) -> usize) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions").join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else { return 0 };
    let mut n = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let started = std::time::Instant::now();
        run(&data);
        eprintln!("{}: {:?}", path.display(), started.elapsed());
        n += 1;
    }
    n
}

#[test]
fn fuzz_findings_stay_fixed() {
    let mut n = 0;
    n += replay("scan", pgconn::fuzz::scan);
    n += replay("prefix", pgconn::fuzz::prefix);
    n += replay("stderr", |d| pgconn::fuzz::parse(d, "stderr"));
    n += replay("csvlog", |d| pgconn::fuzz::parse(d, "csvlog"));
    n += replay("jsonlog", |d| pgconn::fuzz::parse(d, "jsonlog"));
    n += replay("syslog", |d| pgconn::fuzz::parse(d, "syslog"));
    n += replay("pipeline", pgconn::fuzz::pipeline);
    assert!(n >= 1, "no fuzz regressions found under fuzz/regressions/");
}
