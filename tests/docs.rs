//! The man page and README against `--help`.

use crate::util::run;

fn long_flags(help: &str) -> Vec<String> {
    let mut flags: Vec<String> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches([',', '.']).to_string())
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

#[test]
fn every_flag_in_help_is_in_the_man_page() {
    let help = run(&["--help"], None).expect(0).out();
    let man =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/pgconn.1")).unwrap();
    let flags = long_flags(&help);
    assert!(flags.len() >= 10, "{flags:?}");
    for flag in flags {
        let roff = flag.replace('-', "\\-");
        assert!(
            man.contains(&format!(".BR {roff}"))
                || man.contains(&format!(".B {roff}"))
                || man.contains(&roff),
            "man/pgconn.1 does not document {flag}"
        );
    }
}

#[test]
fn readme_names_the_test_command_and_settings() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(readme.contains("cargo test"));
    assert!(readme.contains("log_connections"));
    let help = run(&["--help"], None).expect(0).out();
    for flag in long_flags(&help) {
        if flag != "--help" && flag != "--version" {
            assert!(readme.contains(&flag), "README.md does not mention {flag}");
        }
    }
}

#[test]
fn readme_code_fences_are_balanced() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let fences = readme.lines().filter(|l| l.trim_start().starts_with("```")).count();
    assert_eq!(fences % 2, 0, "README.md has an unclosed code fence");
}

#[test]
fn the_man_page_renders_without_warnings() {
    let page = concat!(env!("CARGO_MANIFEST_DIR"), "/man/pgconn.1");
    let Ok(out) = std::process::Command::new("groff").args(["-man", "-ww", "-z", page]).output()
    else {
        assert!(std::env::var_os("PGCONN_REQUIRE_SHELLS").is_none(), "groff is required");
        eprintln!("SKIPPED man page rendering test: groff not installed");
        return;
    };
    assert!(out.status.success(), "groff failed");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "groff warnings");
}
