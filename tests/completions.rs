//! `--completions`: the scripts load in their shells, cover every flag of
//! `--help`, and complete values (zsh and fish are checked when installed;
//! `.ci/run` installs them and sets PGCONN_REQUIRE_SHELLS).

use std::process::Command;

use crate::util::run;

fn script(shell: &str) -> String {
    run(&["--completions", shell], None).expect(0).out()
}

fn temp(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pgconn-completions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The shell, or None (a skip) when it is not installed and not required.
fn shell(name: &str) -> Option<&str> {
    let found = Command::new(name).arg("-c").arg("true").status().is_ok_and(|s| s.success());
    if !found {
        assert!(std::env::var_os("PGCONN_REQUIRE_SHELLS").is_none(), "{name} is required");
        eprintln!("SKIPPED {name} completion test: {name} not installed");
        return None;
    }
    Some(name)
}

fn long_flags() -> Vec<String> {
    let help = run(&["--help"], None).expect(0).out();
    help.split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches(',').to_string())
        .collect()
}

#[test]
fn every_flag_of_help_is_in_every_script() {
    let flags = long_flags();
    assert!(flags.len() > 20, "{flags:?}");
    for sh in ["bash", "zsh", "fish"] {
        let s = script(sh);
        for flag in &flags {
            let needle = if sh == "fish" { format!("-l {}", &flag[2..]) } else { flag.clone() };
            assert!(s.contains(&needle), "{sh}: {flag} missing");
        }
    }
    let bad = run(&["--completions", "tcsh"], None).expect(2);
    assert!(bad.stderr.contains("expected bash, zsh or fish"), "{}", bad.stderr);
}

#[test]
fn bash_loads_it_and_completes_flags_and_values() {
    let path = temp("pgconn.bash", &script("bash"));
    let complete = |words: &str, cword: usize| -> String {
        let cmd = format!(
            "source '{}' && complete -p pgconn >/dev/null && COMP_WORDS=({words}) && \
             COMP_CWORD={cword} && _pgconn && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            path.display()
        );
        let out = Command::new("bash").arg("-c").arg(&cmd).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source '{}' && complete -p pgconn", path.display()))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "complete -o bashdefault -o filenames -F _pgconn pgconn"
    );
    assert_eq!(complete("pgconn --format c", 2), "csvlog\n");
    assert_eq!(complete("pgconn --by database,u", 2), "database,user\n");
    assert_eq!(complete("pgconn --colour n", 2), "never\n");
    assert_eq!(complete("pgconn --his", 1), "--history\n");
    // A free value: nothing offered.
    assert_eq!(complete("pgconn --since 2", 2).trim(), "");
}

#[test]
fn zsh_and_fish_load_it() {
    if let Some(zsh) = shell("zsh") {
        let path = temp("_pgconn", &script("zsh"));
        let out = Command::new(zsh).arg("-n").arg(&path).output().unwrap();
        assert!(out.status.success(), "zsh -n: {}", String::from_utf8_lossy(&out.stderr));
    }
    if let Some(fish) = shell("fish") {
        let path = temp("pgconn.fish", &script("fish"));
        let complete = |line: &str| -> String {
            let cmd = format!("source '{}'; complete -C '{line}'", path.display());
            let out = Command::new(fish).arg("-c").arg(&cmd).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        assert!(complete("pgconn --format c").starts_with("csvlog\t"), "fish values");
        assert!(complete("pgconn --wat").starts_with("--watch\t"), "fish flags");
    }
}
