//! `--help` of every subcommand, pinned: flag names and defaults are the public interface
//! pipelines script against, so any change shows up here as a reviewable diff.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test code

use std::process::Command;

const SUBCOMMANDS: &[&[&str]] = &[
    &[],
    &["fernet", "setup"],
    &["fernet", "rotate"],
    &["receipt", "rotate"],
    &["credential", "setup"],
    &["credential", "rotate"],
    &["jws", "create"],
    &["jws", "rotate", "stage"],
    &["jws", "rotate", "promote"],
    &["jws", "rotate", "retire"],
    &["repo", "check"],
    &["repo", "manifest"],
    &["pack"],
    &["render"],
    &["build"],
    &["adopt"],
    &["completions"],
    &["man"],
    &["upload"],
    &["token", "inspect"],
    &["plan", "rotation"],
    &["plan", "cutover"],
    &["switch"],
    &["verify"],
    &["rollout"],
];

#[test]
fn help_of_every_subcommand() {
    for path in SUBCOMMANDS {
        let out = Command::new(env!("CARGO_BIN_EXE_overcloud-keys"))
            .args(*path)
            .arg("--help")
            .output()
            .expect("binary runs");
        assert!(out.status.success(), "{path:?} --help failed");
        let text = String::from_utf8(out.stdout).expect("utf-8 help");
        let name = if path.is_empty() {
            "overcloud-keys".to_string()
        } else {
            path.join("-")
        };
        insta::assert_snapshot!(name, text);
    }
}
