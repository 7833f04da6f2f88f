//! Heat environment files checked by Heat 27.0.1's own parser and parameter classes against
//! tripleo-heat-templates 18.0.0 (see tests/heat_harness). The fixtures in tests/fixtures/heat
//! are our own small files with fake, non-secret key values.

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use crate::heat_harness;

use heat_harness::check_env_files;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/heat")
        .join(name)
}

fn accepted(names: &[&str]) -> String {
    let paths: Vec<PathBuf> = names.iter().map(|n| fixture(n)).collect();
    let refs: Vec<&std::path::Path> = paths.iter().map(PathBuf::as_path).collect();
    match check_env_files(&refs) {
        Ok(out) => {
            for name in names {
                assert!(
                    out.lines()
                        .any(|l| l.starts_with("ok ") && l.contains(&format!("/{name}:"))),
                    "no ok line for {name}:\n{out}"
                );
            }
            out
        }
        Err(report) => panic!("{names:?} rejected:\n{report}"),
    }
}

/// The fixture must be rejected, and every `expected` fragment must appear on one PROBLEM line.
fn rejected(name: &str, expected: &[&[&str]]) -> String {
    let path = fixture(name);
    let report = match check_env_files(&[&path]) {
        Ok(out) => panic!("{name} was accepted:\n{out}"),
        Err(report) => report,
    };
    for fragments in expected {
        assert!(
            report.lines().any(|l| l.starts_with("PROBLEM ")
                && l.contains(&format!("/{name}:"))
                && fragments.iter().all(|f| l.contains(f))),
            "{name}: no PROBLEM line with {fragments:?}:\n{report}"
        );
    }
    report
}

#[test]
fn fernet_environment_is_valid_for_heat_and_tht() {
    let out = accepted(&["fernet.yaml"]);
    assert!(out.contains("6 parameter_defaults valid"), "{out}");
}

#[test]
fn deployment_artifacts_environments_are_valid_in_both_forms() {
    // The historic upload-swift-artifacts shape (DeployArtifactURLs) and the OSP 17 one
    // (DeployArtifactFILEs).
    accepted(&[
        "deployment-artifacts-urls.yaml",
        "deployment-artifacts-files.yaml",
    ]);
}

#[test]
fn jws_environment_with_merge_strategy_is_valid() {
    accepted(&["jws.yaml"]);
}

#[test]
fn resource_registry_targets_resolve_and_say_how() {
    let out = accepted(&["registry.yaml"]);
    for (key, how) in [
        (
            "OS::TripleO::ControllerExtraConfigPre",
            "relative to env file",
        ),
        ("OS::TripleO::ComputeExtraConfigPre", "THT install path"),
        ("OS::TripleO::CephStorageExtraConfigPre", "THT-relative"),
        ("OS::TripleO::BlockStorageExtraConfigPre", "OS::Heat::None"),
    ] {
        assert!(
            out.lines().any(|l| l.contains(key) && l.contains(how)),
            "{key}: expected '{how}':\n{out}"
        );
    }
}

#[test]
fn heat_string_forms_of_json_list_number_and_boolean_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("string-forms.yaml");
    std::fs::write(
        &path,
        concat!(
            "parameter_defaults:\n",
            "  KeystoneFernetKeys: '{\"/etc/keystone/fernet-keys/0\": {\"content\": ",
            "\"FgpnEM2toFrMfzpKUJr48ZgL0BECAfVBNagqnZrPbHI=\"}}'\n",
            "  DeployArtifactFILEs: /var/lib/tripleo/artifacts/a.tar.gz,/var/lib/tripleo/artifacts/b.tar.gz\n",
            "  KeystoneFernetMaxActiveKeys: '7'\n",
            "  ManageKeystoneFernetKeys: 'false'\n",
        ),
    )
    .unwrap();
    let out = check_env_files(&[&path]).unwrap_or_else(|r| panic!("rejected:\n{r}"));
    assert!(out.contains("4 parameter_defaults valid"), "{out}");
}

#[test]
fn misspelt_parameter_is_rejected_with_a_suggestion() {
    rejected(
        "bad-misspelt-parameter.yaml",
        &[&[
            "parameter_defaults.KeystoneFernetKey ",
            "declared: nowhere",
            "did you mean KeystoneFernetKeys",
        ]],
    );
}

#[test]
fn wrong_type_is_rejected_naming_the_declared_type() {
    rejected(
        "bad-type.yaml",
        &[&[
            "KeystoneFernetMaxActiveKeys",
            "declared number",
            "keystone-container-puppet.yaml",
        ]],
    );
}

#[test]
fn invalid_yaml_is_rejected_by_heats_parser() {
    rejected(
        "bad-yaml.yaml",
        &[&["heat.common.environment_format.parse rejects it", "line 4"]],
    );
}

#[test]
fn unknown_environment_section_is_rejected_by_heats_parser() {
    rejected(
        "bad-section.yaml",
        &[&["environment has wrong section \"parameter_default\""]],
    );
}

#[test]
fn bad_merge_strategy_is_rejected() {
    rejected(
        "bad-merge-strategy.yaml",
        &[&[
            "parameter_merge_strategies.ControllerExtraConfig",
            "declared json",
            "'mrege'",
        ]],
    );
}

#[test]
fn merge_strategy_conflicting_with_thts_registry_is_rejected() {
    // THT's overcloud-resource-registry-puppet.yaml sets ControllerExtraConfig: merge.
    rejected(
        "bad-merge-conflict.yaml",
        &[&["ControllerExtraConfig", "conflicts with 'merge'"]],
    );
}

#[test]
fn jws_token_provider_parameter_fails_heat_validation() {
    // Why jws.yaml goes through hieradata: THT 18 allows only 'fernet' here.
    rejected(
        "bad-token-provider.yaml",
        &[&[
            "KeystoneTokenProvider",
            "declared string",
            "not an allowed value",
        ]],
    );
}

#[test]
fn bad_values_are_each_reported() {
    rejected(
        "bad-values.yaml",
        &[
            &["KeystoneFernetKeys", "declared json", "valid JSON"],
            &["ManageKeystoneFernetKeys", "declared boolean", "'maybe'"],
            &["DeployArtifactFILEs", "declared comma_delimited_list"],
            &["KeystoneCredential0", "declared string", "null"],
        ],
    );
}

#[test]
fn bad_resource_registry_entries_are_rejected() {
    rejected(
        "bad-registry.yaml",
        &[
            &[
                "OS::TripleO::ControllerExtraConfigPre",
                "does-not-exist/pre.yaml",
            ],
            &[
                "OS::TripleO::ControlerExtraConfigPre",
                "did you mean OS::TripleO::ControllerExtraConfigPre",
            ],
        ],
    );
}

#[test]
fn a_heat_template_is_not_an_environment() {
    rejected(
        "noop-pre-deploy.yaml",
        &[&["wrong section \"heat_template_version\""]],
    );
}

#[test]
fn one_bad_file_fails_the_batch_and_only_it_is_blamed() {
    let good = fixture("fernet.yaml");
    let bad = fixture("bad-type.yaml");
    let report = check_env_files(&[&good, &bad]).expect_err("batch with a bad file passed");
    assert!(
        report.contains("ok ") && report.contains("/fernet.yaml:"),
        "{report}"
    );
    assert!(
        report
            .lines()
            .filter(|l| l.starts_with("PROBLEM "))
            .all(|l| l.contains("/bad-type.yaml:")),
        "{report}"
    );
}
