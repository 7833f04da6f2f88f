//! `keys_from` / `--keys-from STACK`: stacks that validate each other's tokens deploy the same
//! keys; the sharing stack renders the other stack's repositories and never creates them.

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use crate::cli_support;

use std::fs;

use cli_support::{Env, files};

#[test]
fn a_stack_renders_the_other_stacks_keys_and_never_creates_them() {
    let env = Env::new();
    let home = env.path("home");
    let build = |stack: &str, extra: &[&str]| {
        env.cmd()
            .env("HOME", &home)
            .args(["build", "--stack", stack, "--workdir"])
            .arg(env.path(stack))
            .args(extra)
            .run()
    };
    // The other stack has no repositories yet: refused, nothing written.
    let out = build("region2", &["--keys-from", "region1"]);
    let error = out.expect_bad_input(&env.path("region1"));
    assert!(error.contains("keys_from"), "{error}");
    assert!(!env.path("region2").exists());

    build("region1", &[]).expect_code(0);
    let out = build("region2", &["--keys-from", "region1", "-f", "json"]);
    out.expect_code(0);
    assert!(
        out.stderr.contains("keys from stack region1"),
        "says so: {}",
        out.stderr
    );
    let fernet = |stack: &str| fs::read_to_string(env.path(stack).join("fernet.yaml")).unwrap();
    let keys_block = |text: &str| {
        text.lines()
            .filter(|l| l.contains("content") || l.contains("KeystoneCredential"))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert!(!keys_block(&fernet("region1")).is_empty());
    assert_eq!(
        keys_block(&fernet("region1")),
        keys_block(&fernet("region2"))
    );
    assert!(
        !env.path("region2/keys").exists(),
        "region2 created repositories of its own"
    );
    // region1's repositories are untouched by region2's build.
    let before = files(&env.path("region1/keys/fernet-keys"));
    build("region2", &["--keys-from", "region1"]).expect_code(0);
    assert_eq!(before, files(&env.path("region1/keys/fernet-keys")));
    // Its own name is not another stack.
    let out = build("region2", &["--keys-from", "region2"]);
    out.expect_code(2);
    assert!(out.stderr.contains("is this stack"), "{}", out.stderr);
}
