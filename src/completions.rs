//! `--completions bash|zsh|fish`: shell completion scripts, written from
//! the flag table that `--help` prints, so a new flag is completed as soon
//! as it is documented.

use crate::args::{FLAGS, Flag};

/// The shells pgconn writes a completion script for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl std::str::FromStr for Shell {
    type Err = String;

    fn from_str(s: &str) -> Result<Shell, String> {
        match s {
            "bash" => Ok(Shell::Bash),
            "zsh" => Ok(Shell::Zsh),
            "fish" => Ok(Shell::Fish),
            _ => Err(format!("'{s}': expected bash, zsh or fish")),
        }
    }
}

/// The values a flag takes, when they are a fixed set; `--by` takes a
/// comma-separated list of them.
fn values(flag: &str) -> Option<&'static [&'static str]> {
    Some(match flag {
        "format" => &["auto", "stderr", "csvlog", "jsonlog", "syslog"],
        "by" => &["database", "user", "application", "host"],
        "color" => &["auto", "always", "never"],
        "threads" => &["1", "2"],
        // Any IANA name too (Europe/Berlin): these two are the words.
        "tz" => &["UTC", "local"],
        "completions" => &["bash", "zsh", "fish"],
        _ => return None,
    })
}

/// The completion script for `shell`.
pub fn script(shell: Shell) -> String {
    match shell {
        Shell::Bash => bash(),
        Shell::Zsh => zsh(),
        Shell::Fish => fish(),
    }
}

fn names(f: &Flag) -> Vec<String> {
    let mut v = vec![format!("--{}", f.long)];
    if let Some(c) = f.short {
        v.push(format!("-{c}"));
    }
    // The spelling pgconn also accepts.
    if f.long == "color" {
        v.push("--colour".into());
    }
    v
}

fn bash() -> String {
    let all: Vec<String> = FLAGS.iter().flat_map(names).collect();
    let mut cases = String::new();
    for f in FLAGS.iter().filter(|f| f.value.is_some()) {
        let pattern = names(f).join("|");
        let body = match (f.long, values(f.long)) {
            // A list: complete its last element.
            ("by", Some(v)) => format!(
                "local head=\"${{cur%,*}}\"; [[ $cur == *,* ]] && head=\"$head,\" || head=\"\"\n            \
                 COMPREPLY=($(compgen -P \"$head\" -W \"{}\" -- \"${{cur##*,}}\")); return ;;",
                v.join(" ")
            ),
            (_, Some(v)) => {
                format!("COMPREPLY=($(compgen -W \"{}\" -- \"$cur\")); return ;;", v.join(" "))
            }
            // Free values (a prefix, a time, a name): nothing to offer.
            (_, None) => "COMPREPLY=(); return ;;".to_string(),
        };
        cases.push_str(&format!("        {pattern})\n            {body}\n"));
    }
    format!(
        "# bash completion for pgconn (pgconn --completions bash)\n\
         _pgconn() {{\n    \
             local cur=\"${{COMP_WORDS[COMP_CWORD]}}\" prev=\"${{COMP_WORDS[COMP_CWORD-1]}}\"\n    \
             case \"$prev\" in\n{cases}    esac\n    \
             if [[ $cur == -* ]]; then\n        \
                 COMPREPLY=($(compgen -W \"{}\" -- \"$cur\"))\n        \
                 return\n    \
             fi\n    \
             COMPREPLY=($(compgen -f -- \"$cur\"))\n\
         }}\n\
         complete -o filenames -o bashdefault -F _pgconn pgconn\n",
        all.join(" ")
    )
}

/// `'` inside a zsh or fish single-quoted word.
fn quoted(text: &str, escape: &str) -> String {
    text.replace('\'', escape)
}

fn zsh() -> String {
    let mut specs = String::new();
    for f in FLAGS {
        let doc =
            quoted(&f.doc.replace('[', "\\[").replace(']', "\\]").replace(':', "\\:"), "'\\''");
        let action = match (f.value, values(f.long)) {
            (None, _) => String::new(),
            (Some(v), Some(vals)) if f.long == "by" => {
                format!(
                    ":{}:_values -s , {} {}",
                    v.to_lowercase(),
                    v.to_lowercase(),
                    vals.join(" ")
                )
            }
            (Some(v), Some(vals)) => format!(":{}:({})", v.to_lowercase(), vals.join(" ")),
            (Some(v), None) => format!(":{}: ", v.to_lowercase()),
        };
        let names = names(f);
        let spec = if names.len() > 1 {
            format!("'({})'{{{}}}'[{doc}]{action}'", names.join(" "), names.join(","))
        } else {
            format!("'{}[{doc}]{action}'", names[0])
        };
        specs.push_str(&format!("  {spec} \\\n"));
    }
    format!(
        "#compdef pgconn\n\
         # zsh completion for pgconn (pgconn --completions zsh)\n\
         _arguments -s \\\n{specs}  '*:log file:_files'\n"
    )
}

fn fish() -> String {
    let mut out = String::from("# fish completion for pgconn (pgconn --completions fish)\n");
    for f in FLAGS {
        let mut line = String::from("complete -c pgconn");
        if let Some(c) = f.short {
            line.push_str(&format!(" -s {c}"));
        }
        line.push_str(&format!(" -l {}", f.long));
        if f.long == "color" {
            line.push_str(" -l colour");
        }
        match (f.value, values(f.long)) {
            (None, _) => {}
            (Some(_), Some(vals)) => line.push_str(&format!(" -x -a '{}'", vals.join(" "))),
            (Some(_), None) => line.push_str(" -x"),
        }
        line.push_str(&format!(" -d '{}'", quoted(f.doc, "\\'")));
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_is_in_every_script() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let s = script(shell);
            for f in FLAGS {
                let needle = match shell {
                    Shell::Fish => format!("-l {}", f.long),
                    _ => format!("--{}", f.long),
                };
                assert!(s.contains(&needle), "{shell:?}: no {needle}");
            }
            for v in ["csvlog", "application", "never"] {
                assert!(s.contains(v), "{shell:?}: no value {v}");
            }
        }
    }
}
