//! `completions` and `man`: shell completion scripts and man pages generated from the same
//! clap definitions as `--help`, so neither can drift from the flags. Man pages are named like
//! git's (`overcloud-keys-fernet-rotate.1`); every page carries the EXIT STATUS section from
//! the exit-code table `--help` shows, and the FILES the tool reads and writes.

use std::path::PathBuf;

use clap::Args;
use clap_complete::Shell;
use clap_mangen::Man;
use serde_json::json;

use super::output::{EXIT_CODES, Outcome};
use overcloud_keys::Error;
use overcloud_keys::fsutil::{self, PUBLIC_FILE_MODE};

/// The files behind the tool, for the FILES section.
pub const FILES: &[(&str, &str)] = &[
    (
        "~/overcloud-keys/<stack>/",
        "the work directory (0700): keys/ (the repositories, 0600 files in 0700 directories), artifacts/, fernet.yaml (0600, holds keys), the other environment files, build.json",
    ),
    (
        "~/overcloud-deploy/<stack>/<stack>-passwords.yaml",
        "OSP 17: tripleoclient's generated parameters of a deployed stack; read by adopt, and by build to refuse minting keys for a deployed stack",
    ),
    (
        "~/.tripleo/environments/deployment-artifacts.yaml",
        "upload's default environment file (DeployArtifactURLs), loaded by openstack overcloud deploy itself",
    ),
    (
        "clouds.yaml, secure.yaml",
        "Swift credentials (./, ~/.config/openstack/, /etc/openstack/, or OS_CLIENT_CONFIG_FILE), as the openstack client reads them",
    ),
];

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish (also elvish, powershell).
    #[arg(value_enum)]
    pub shell: Shell,
}

/// `man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory for the pages: overcloud-keys.1 and one per subcommand
    /// (overcloud-keys-build.1, overcloud-keys-fernet-rotate.1, ...). Created if missing.
    #[arg(long, value_name = "DIR")]
    pub output_dir: PathBuf,
}

/// Prints the completion script for `shell`.
pub fn completions(args: CompletionsArgs, mut cmd: clap::Command) -> Result<Outcome, Error> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "overcloud-keys", &mut script);
    let script = String::from_utf8_lossy(&script).into_owned();
    Ok(Outcome::ok(
        script.clone(),
        json!({"shell": args.shell.to_string(), "script": script}),
    ))
}

/// Writes a man page for the command and each subcommand into `--output-dir`.
pub fn man(args: ManArgs, cmd: clap::Command) -> Result<Outcome, Error> {
    let dir = &args.output_dir;
    fsutil::create_parents(&dir.join("x"))?;
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    for command in all_commands(&cmd) {
        let man = Man::new(command.clone());
        let path = dir.join(man.get_filename());
        let action =
            fsutil::write_if_changed(&path, &page(&man, &command)?, PUBLIC_FILE_MODE, false)?;
        pages.push(json!({"path": path, "action": action}));
    }
    let text = pages
        .iter()
        .map(|p| {
            format!(
                "{} {}\n",
                p["action"].as_str().unwrap_or(""),
                p["path"].as_str().unwrap_or("")
            )
        })
        .collect();
    Ok(Outcome::ok(text, json!({"pages": pages})))
}

/// The command and every visible subcommand, depth first.
fn all_commands(cmd: &clap::Command) -> Vec<clap::Command> {
    let mut out = vec![cmd.clone()];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        out.extend(all_commands(sub));
    }
    out
}

/// One page: clap_mangen's sections, then EXIT STATUS and FILES (instead of its "EXTRA"
/// section, which would repeat the exit codes under a meaningless title).
fn page(man: &Man, cmd: &clap::Command) -> Result<Vec<u8>, Error> {
    let io = |e: std::io::Error| Error::Io {
        op: "render man page",
        path: PathBuf::from(man.get_filename()),
        source: e,
    };
    let mut out = Vec::new();
    man.render_title(&mut out).map_err(io)?;
    man.render_name_section(&mut out).map_err(io)?;
    man.render_synopsis_section(&mut out).map_err(io)?;
    man.render_description_section(&mut out).map_err(io)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out).map_err(io)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut out).map_err(io)?;
    }
    out.extend_from_slice(exit_status().as_bytes());
    out.extend_from_slice(files().as_bytes());
    // clap_mangen unwraps the version: only the top command has one.
    if cmd.get_version().is_some() || cmd.get_long_version().is_some() {
        man.render_version_section(&mut out).map_err(io)?;
    }
    Ok(ascii_roff(&String::from_utf8_lossy(&out)).into_bytes())
}

/// Non-ASCII characters (`…` in a help text) as groff's `\[uXXXX]` escapes: troff reads its
/// input as Latin-1 unless told otherwise, and warns about the bytes of UTF-8.
fn ascii_roff(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                format!("\\[u{:04X}]", u32::from(c))
            }
        })
        .collect()
}

/// Text as roff: backslashes escaped, a line never starting a request, hyphens as minus
/// signs (groff -ww warns otherwise).
fn roff_text(line: &str) -> String {
    let escaped = line.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

fn exit_status() -> String {
    let mut out = String::from(".SH \"EXIT STATUS\"\n");
    for line in EXIT_CODES.lines().skip(1) {
        let line = line.trim_start();
        match line.split_once("  ") {
            Some((code, text)) if code.chars().all(|c| c.is_ascii_digit()) => {
                out.push_str(&format!(".TP\n.B {code}\n{}\n", roff_text(text.trim())));
            }
            _ => out.push_str(&format!("{}\n", roff_text(line))),
        }
    }
    out
}

fn files() -> String {
    let mut out = String::from(".SH FILES\n");
    for (path, what) in FILES {
        out.push_str(&format!(
            ".TP\n.I {}\n{}\n",
            roff_text(path),
            roff_text(what)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roff_text_cannot_start_a_request() {
        assert_eq!(roff_text(".x"), "\\&.x");
        assert_eq!(roff_text("'x"), "\\&'x");
        assert_eq!(roff_text("a\\b-c"), "a\\eb\\-c");
        assert_eq!(ascii_roff("a…b"), "a\\[u2026]b");
    }

    #[test]
    fn exit_status_lists_every_code() {
        let text = exit_status();
        for code in ["0", "1", "2", "3"] {
            assert!(text.contains(&format!(".B {code}\n")), "{text}");
        }
    }
}
