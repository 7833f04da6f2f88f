//! jws.yaml and the operator's own `keystone::config::keystone_config`: THT merges
//! `<Role>ExtraConfig` with Heat's shallow `merge`, so jws.yaml would replace the operator's
//! map whole. With `--check-env`, build carries their entries over (ours win only for the
//! JWS options) and says so; without it, it warns. Proven with Heat's own environment merge.

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use crate::{cli_support, venv_support};

use std::fs;
use std::path::Path;
use std::process::Command;

use cli_support::Env;
use serde_json::{Value, json};

const OPERATOR_ENV: &str = "parameter_defaults:
  ControllerExtraConfig:
    keystone::config::keystone_config:
      token/expiration:
        value: 7200
      identity/max_password_length:
        value: 128
      jwt_tokens/jws_public_key_repository:
        value: /somewhere/else
    nova::compute::foo: bar
";

/// What THT 18.0.0's rendered overcloud-resource-registry-puppet.yaml sets for the role before
/// any `-e` file: the `merge` strategy and an empty default, so the strategy is registered
/// and a later file that names none inherits it (Heat's get_param_merge_strategy).
const THT_REGISTRY: &str = "parameter_merge_strategies:\n  ControllerExtraConfig: merge\nparameter_defaults:\n  ControllerExtraConfig: {}\n";

/// `openstack overcloud deploy -e ...` as Heat merges it (THT's registry first):
/// ControllerExtraConfig after all files.
fn heat_merge(files: &[&Path]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("registry.yaml");
    fs::write(&registry, THT_REGISTRY).unwrap();
    let python = venv_support::venv("heat")
        .unwrap_or_else(|e| panic!("heat venv: {e}"))
        .join("bin/python");
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jws-merge/heat_merge.py");
    let out = Command::new(python)
        .arg("-I")
        .arg(script)
        .arg("ControllerExtraConfig")
        .arg(&registry)
        .args(files)
        .output()
        .expect("run heat_merge.py");
    assert!(
        out.status.success(),
        "heat_merge.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged: Value = serde_json::from_slice(&out.stdout).unwrap();
    merged["ControllerExtraConfig"].clone()
}

#[test]
fn operator_keystone_config_survives_the_jws_switch() {
    let env = Env::new();
    let operator = env.path("my-extraconfig.yaml");
    fs::write(&operator, OPERATOR_ENV).unwrap();
    let wd = env.path("w");

    // Without --check-env: jws.yaml alone replaces the operator's map (the bug), and build warns.
    let out = env
        .cmd()
        .env("HOME", env.path("home"))
        .args(["build", "--jws", "--workdir"])
        .arg(&wd)
        .run();
    out.expect_code(0);
    assert!(
        out.stderr.contains("--check-env"),
        "warns without --check-env: {}",
        out.stderr
    );
    let merged = heat_merge(&[&operator, &wd.join("jws.yaml")]);
    let config = &merged["keystone::config::keystone_config"];
    assert!(
        config.get("token/expiration").is_none(),
        "Heat's shallow merge is expected to drop the operator's entries: {merged}"
    );
    assert_eq!(merged["nova::compute::foo"], "bar", "other keys are kept");

    // With --check-env: carried over, ours win for the JWS options, and build says so.
    let out = env
        .cmd()
        .env("HOME", env.path("home"))
        .args(["build", "--jws", "--workdir"])
        .arg(&wd)
        .arg("--check-env")
        .arg(&operator)
        .run();
    out.expect_code(0);
    let warning = out.stderr_lines("WARNING:").join("\n");
    assert!(
        warning.contains("carries your 2 keystone_config entries for ControllerExtraConfig"),
        "{}",
        out.stderr
    );
    assert!(
        warning.contains("jwt_tokens/jws_public_key_repository"),
        "{warning}"
    );
    let merged = heat_merge(&[&operator, &wd.join("jws.yaml")]);
    let config = &merged["keystone::config::keystone_config"];
    assert_eq!(config["token/expiration"], json!({"value": 7200}));
    assert_eq!(
        config["identity/max_password_length"],
        json!({"value": 128})
    );
    assert_eq!(
        config["jwt_tokens/jws_public_key_repository"],
        json!({"value": "/etc/keystone/jws-keys/public"})
    );
    assert_eq!(merged["keystone::token_provider"], "jws");
    assert_eq!(merged["nova::compute::foo"], "bar");
}
