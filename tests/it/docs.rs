//! `completions` and `man`: generated from the clap definitions, so they list every
//! subcommand; the scripts parse in their shell, the pages render with `groff -man -ww`
//! without a warning, and carry the same exit codes as `--help`.

use std::path::Path;
use std::process::Command;

use crate::cli_support::{Env, is_root, skip};

/// `groff`, installed from Debian (groff-base) when missing and we are root.
fn groff() -> Option<&'static str> {
    let found = || Command::new("groff").arg("--version").output().is_ok();
    if !found() && is_root() {
        let _ = Command::new("apt-get")
            .args(["-y", "-qq", "install", "groff-base"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
    }
    found().then_some("groff")
}

#[test]
fn completion_scripts_know_every_subcommand_and_parse() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = env.ok(["completions", shell]);
        for sub in ["adopt", "build", "upload", "rotate", "completions", "man"] {
            assert!(out.stdout.contains(sub), "{shell} script lacks {sub}");
        }
        let script = env.path(&format!("ok.{shell}"));
        std::fs::write(&script, &out.stdout).unwrap();
        if Command::new(shell).arg("--version").output().is_err() {
            skip(&format!("{shell} -n"), &format!("{shell} is not installed"));
            continue;
        }
        let parsed = Command::new(shell).arg("-n").arg(&script).output().unwrap();
        assert!(
            parsed.status.success(),
            "{shell} -n: {}",
            String::from_utf8_lossy(&parsed.stderr)
        );
    }
    env.run(["completions", "tcsh"]).expect_code(2);
}

fn exit_codes_in_help(env: &Env) -> Vec<String> {
    let help = env.ok(["--help"]).stdout;
    help.lines()
        .skip_while(|l| !l.starts_with("Exit codes:"))
        .filter_map(|l| l.trim_start().split_once("  ").map(|(c, _)| c.to_string()))
        .filter(|c| c.chars().all(|ch| ch.is_ascii_digit()))
        .collect()
}

#[test]
fn man_pages_render_cleanly_with_the_help_exit_codes() {
    let env = Env::new();
    let dir = env.path("man");
    let out = env.ok(["man", "--output-dir", dir.to_str().unwrap(), "-f", "json"]);
    let pages = out.json()["pages"].as_array().unwrap().len();
    for name in [
        "overcloud-keys.1",
        "overcloud-keys-build.1",
        "overcloud-keys-adopt.1",
        "overcloud-keys-fernet-rotate.1",
        "overcloud-keys-jws-rotate-retire.1",
    ] {
        assert!(dir.join(name).is_file(), "{name} missing");
    }
    assert!(pages > 25, "one page per subcommand: {pages}");
    let codes = exit_codes_in_help(&env);
    assert_eq!(codes, ["0", "1", "2", "3"]);
    let Some(groff) = groff() else {
        return skip(
            "groff -man -ww",
            "groff is not installed and cannot be (not root)",
        );
    };
    for entry in std::fs::read_dir(&dir).unwrap() {
        let page = entry.unwrap().path();
        let text = std::fs::read_to_string(&page).unwrap();
        assert!(
            text.is_ascii(),
            "{}: non-ASCII reaches troff",
            page.display()
        );
        assert!(text.contains(".SH \"EXIT STATUS\""), "{}", page.display());
        assert!(text.contains(".SH FILES"), "{}", page.display());
        for code in &codes {
            assert!(text.contains(&format!(".B {code}\n")), "{}", page.display());
        }
        check_renders(groff, &page);
    }
    // Again: nothing changes.
    let again = env.ok(["man", "--output-dir", dir.to_str().unwrap()]);
    assert!(
        again.stdout.lines().all(|l| l.starts_with("unchanged ")),
        "{}",
        again.stdout
    );
}

fn check_renders(groff: &str, page: &Path) {
    let out = Command::new(groff)
        .args(["-man", "-ww", "-z"])
        .arg(page)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}: {}",
        page.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The operator guide's troubleshooting tables: every finding code the tool can emit
/// (`repo check`, `verify`, the `plan cutover`/`switch` pre-flight) has a row, and every row
/// names a code the tool has. Its exit code table covers the codes of `--help`.
#[test]
fn operator_guide_covers_every_finding_code_and_exit_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let guide = std::fs::read_to_string(root.join("docs/operator-guide.md")).unwrap();
    let check_src = ["src/keys/scan.rs", "src/check/mod.rs", "src/check/jws.rs"]
        .map(|f| std::fs::read_to_string(root.join(f)).unwrap())
        .concat();
    let codes: Vec<&str> = overcloud_keys::check::CODES
        .iter()
        .chain(overcloud_keys::nodes::verify::CODES)
        .chain(overcloud_keys::plan::cutover::CODES)
        .copied()
        .collect();
    for code in overcloud_keys::check::FindingCode::ALL {
        // Declared in the table and emitted somewhere else in the file.
        let variant = format!("FindingCode::{code:?}");
        assert!(
            check_src.matches(&variant).count() >= 1,
            "repo check code {code} is declared but never emitted"
        );
    }
    for code in &codes {
        assert!(
            guide.contains(&format!("| `{code}` |")),
            "docs/operator-guide.md has no troubleshooting row for {code}"
        );
    }
    let section: String = guide
        .lines()
        .skip_while(|l| !l.starts_with("## Troubleshooting by finding code"))
        .take_while(|l| !l.starts_with("## Exit codes"))
        .collect::<Vec<_>>()
        .join("\n");
    let rows: Vec<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .collect();
    assert!(rows.len() >= codes.len(), "{rows:?}");
    for row in rows {
        assert!(
            codes.contains(&row),
            "the guide explains {row}, which the tool never emits"
        );
    }
    let env = Env::new();
    let exit_table: String = guide
        .lines()
        .skip_while(|l| !l.starts_with("## Exit codes"))
        .collect::<Vec<_>>()
        .join("\n");
    let help_codes = exit_codes_in_help(&env);
    assert!(help_codes.len() >= 4, "{help_codes:?}");
    for code in help_codes {
        assert!(
            exit_table.contains(&format!("\n| {code} |")),
            "exit code {code} of --help is not in the guide's table"
        );
    }
}
