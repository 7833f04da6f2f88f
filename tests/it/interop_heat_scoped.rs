//! Role-scoped delivery (`build --delivery scoped`) checked by Heat 27.0.1's own code: the
//! rendered `<Role>ExtraConfigPre` template and chaining template by Heat's engine classes
//! (tests/heat_harness/check_template.py), the environment files by Heat's parser and the
//! tripleo-heat-templates 18.0.0 declaration check (check_env.py), where the scoped
//! environment's own parameters are declared by the template it maps. Negative fixtures in
//! tests/fixtures/heat-templates show that each check can fail.

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use crate::heat_harness;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use heat_harness::{
    check_env_files, check_template_files, check_template_files_at, check_template_files_with_env,
};
use serde_json::Value;
use tempfile::TempDir;

use crate::cli_support::BIN;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/heat-templates")
        .join(name)
}

/// `overcloud-keys build --workdir DIR --delivery scoped -f json EXTRA...`
fn build_scoped(workdir: &Path, extra: &[&str]) -> Value {
    let out = Command::new(BIN)
        .args(["build", "--workdir"])
        .arg(workdir)
        .args(["--delivery", "scoped", "-f", "json"])
        .args(extra)
        .output()
        .expect("overcloud-keys runs");
    assert!(
        out.status.success(),
        "build failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("build -f json prints JSON");
    assert_eq!(report["delivery"], "scoped", "{report:#}");
    report
}

/// The `-e` files of the report's `deploy_args`.
fn deploy_env_files(report: &Value) -> Vec<PathBuf> {
    let args = report["deploy_args"].as_array().expect("deploy_args");
    args.chunks(2)
        .map(|pair| {
            assert_eq!(pair[0], "-e", "{args:?}");
            PathBuf::from(pair[1].as_str().unwrap())
        })
        .collect()
}

fn has_line(out: &str, prefix: &str, path: &Path, fragments: &[&str]) -> bool {
    let head = format!("{prefix} {}:", path.display());
    out.lines()
        .any(|l| l.starts_with(&head) && fragments.iter().all(|f| l.contains(f)))
}

fn assert_ok(out: &str, path: &Path) {
    assert!(
        has_line(out, "ok", path, &[]),
        "no ok line for {}:\n{out}",
        path.display()
    );
}

/// The report must have a PROBLEM line for `path` with all `fragments`, for each entry.
fn assert_problems(report: &str, path: &Path, expected: &[&[&str]]) {
    for fragments in expected {
        assert!(
            has_line(report, "PROBLEM", path, fragments),
            "{}: no PROBLEM line with {fragments:?}:\n{report}",
            path.display()
        );
    }
}

fn rejected_template(name: &str, expected: &[&[&str]]) {
    let path = fixture(name);
    match check_template_files(&[&path]) {
        Ok(out) => panic!("{name} was accepted:\n{out}"),
        Err(report) => assert_problems(&report, &path, expected),
    }
}

#[test]
fn rendered_extraconfigpre_template_passes_heats_validation() {
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    build_scoped(&wd, &[]);
    let pre = wd.join("keystone-keys-pre.yaml");
    assert!(pre.is_file(), "build did not render {}", pre.display());
    let out = check_template_files(&[&pre]).unwrap_or_else(|r| panic!("rejected:\n{r}"));
    assert!(
        has_line(
            &out,
            "ok",
            &pre,
            &[
                "heat_template_version wallaby",
                "6 parameters, 2 resources, 1 outputs"
            ]
        ),
        "{out}"
    );

    // As a deployment uses it: THT's role template instantiates OS::TripleO::ControllerExtraConfigPre
    // with `server` only; Heat resolves the type through the scoped environment's
    // resource_registry (bundled by python-heatclient) and validates the nested stack with the
    // environment's parameter_defaults.
    let role = fixture("tht-role-extraconfigpre.yaml");
    let scoped = wd.join("keystone-keys-scoped.yaml");
    let out = check_template_files_with_env(&[&role], &[&scoped])
        .unwrap_or_else(|r| panic!("rejected:\n{r}"));
    assert_ok(&out, &role);
    // Without the environment, Heat does not know the type: the mapping is what makes it work.
    let report = check_template_files(&[&role]).expect_err("accepted without the environment");
    assert_problems(
        &report,
        &role,
        &[&[
            "resources.ControllerExtraConfigPre.type (line 13)",
            "The Resource Type (OS::TripleO::ControllerExtraConfigPre) could not be found.",
        ]],
    );
}

#[test]
fn scoped_environments_pass_the_tht_declaration_check() {
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    let report = build_scoped(&wd, &[]);
    let envs = deploy_env_files(&report);
    let scoped = wd.join("keystone-keys-scoped.yaml");
    let fernet = wd.join("fernet.yaml");
    assert!(envs.contains(&scoped) && envs.contains(&fernet), "{envs:?}");
    let refs: Vec<&Path> = envs.iter().map(PathBuf::as_path).collect();
    let out = check_env_files(&refs).unwrap_or_else(|r| panic!("{envs:?} rejected:\n{r}"));
    for env in &envs {
        assert_ok(&out, env);
    }
    // The OvercloudKeys* inputs are declared by the template the environment maps, which THT
    // does not know: they must be found there, and checked against its types.
    let pre = wd.join("keystone-keys-pre.yaml");
    assert!(
        has_line(
            &out,
            "ok",
            &scoped,
            &[
                "4 parameter_defaults valid",
                "1 template its resource_registry brings in"
            ]
        ),
        "{out}"
    );
    assert!(
        has_line(
            &out,
            "info",
            &scoped,
            &[
                "resource_registry.OS::TripleO::ControllerExtraConfigPre:",
                pre.to_str().unwrap(),
                "OvercloudKeysArtifactSha256",
            ]
        ),
        "{out}"
    );
    // THT's role template passes `server` to <Role>ExtraConfigPre: the template takes it, and
    // needs nothing else that neither THT nor the environment gives.
    assert!(
        has_line(
            &out,
            "info",
            &scoped,
            &[
                "THT's puppet/controller-role.yaml resources.ControllerExtraConfigPre passes server to"
            ]
        ),
        "{out}"
    );
}

#[test]
fn mapped_template_must_take_what_tht_passes() {
    let env = fixture("bad-interface-env.yaml");
    let report = check_env_files(&[&env]).expect_err("accepted");
    assert_problems(
        &report,
        &env,
        &[
            &[
                "resource_registry.OS::TripleO::ControllerExtraConfigPre:",
                "THT's puppet/controller-role.yaml passes property server",
                "(Unknown Property)",
            ],
            &["parameter node of", "(Property node not assigned)"],
        ],
    );
}

#[test]
fn chaining_template_for_an_operator_mapping_passes_heats_validation() {
    let tmp = TempDir::new().unwrap();
    let theirs = tmp.path().join("operator-pre.yaml");
    fs::copy(fixture("operator-pre.yaml"), &theirs).unwrap();
    let operator_env = tmp.path().join("operator-env.yaml");
    fs::write(
        &operator_env,
        "resource_registry:\n  OS::TripleO::ControllerExtraConfigPre: operator-pre.yaml\n",
    )
    .unwrap();
    let wd = tmp.path().join("wd");
    build_scoped(&wd, &["--check-env", operator_env.to_str().unwrap()]);
    let chain = wd.join("keystone-keys-pre-chain-Controller.yaml");
    let pre = wd.join("keystone-keys-pre.yaml");
    let scoped = wd.join("keystone-keys-scoped.yaml");
    assert!(chain.is_file(), "build did not render {}", chain.display());

    // Heat validates the chain's nested stacks: the pre template's inputs come from the
    // scoped environment's parameter_defaults, as in a deployment.
    let out = check_template_files_with_env(&[&chain], &[&scoped])
        .unwrap_or_else(|r| panic!("rejected:\n{r}"));
    for path in [&theirs, &pre, &chain] {
        assert_ok(&out, path);
    }
    // Without them, Heat's TemplateResource refuses the nested pre template: the chain is
    // really validated through its nested stacks.
    let report = check_template_files(&[&chain]).expect_err("accepted without the inputs");
    assert_problems(
        &report,
        &chain,
        &[&[
            "resources.OvercloudKeysExtraConfigPre.properties",
            "Property OvercloudKeysArtifactSha256 not assigned",
        ]],
    );

    // As a deployment uses it: the operator's environment, then the scoped one (which wins the
    // ControllerExtraConfigPre mapping), resolved by Heat from THT's role template.
    let role = fixture("tht-role-extraconfigpre.yaml");
    let out = check_template_files_with_env(&[&role], &[&operator_env, &scoped])
        .unwrap_or_else(|r| panic!("rejected:\n{r}"));
    assert_ok(&out, &role);

    // The environment maps the chain; the inputs are declared two levels down.
    let out =
        check_env_files(&[&operator_env, &scoped]).unwrap_or_else(|r| panic!("rejected:\n{r}"));
    assert_ok(&out, &operator_env);
    assert!(
        has_line(
            &out,
            "ok",
            &scoped,
            &["3 templates its resource_registry brings in"]
        ),
        "{out}"
    );
}

#[test]
fn get_param_to_an_undeclared_parameter_is_rejected() {
    rejected_template(
        "bad-undeclared-param.yaml",
        &[&[
            "resources.Deployment.properties.input_values.sha256.get_param (line 23)",
            "parameter 'ArtifactSha256' is not declared",
        ]],
    );
}

#[test]
fn software_deployment_without_server_is_rejected_by_its_plugin_schema() {
    rejected_template(
        "bad-deployment-without-server.yaml",
        &[&[
            "resources.Deployment.properties",
            "Property server not assigned",
        ]],
    );
}

#[test]
fn misspelt_properties_are_rejected_by_the_plugin_schemas() {
    rejected_template(
        "bad-misspelt-property.yaml",
        &[
            &[
                "resources.Config.properties.input (line 13)",
                "Unknown Property input; did you mean inputs?",
            ],
            &[
                "resources.Deployment.properties.input_value (line 21)",
                "Unknown Property input_value; did you mean input_values?",
            ],
        ],
    );
}

#[test]
fn broken_references_version_and_nested_templates_are_rejected() {
    let chain = fixture("bad-chain.yaml");
    let refs = fixture("bad-references.yaml");
    let report = match check_template_files(&[&chain, &refs]) {
        Ok(out) => panic!("accepted:\n{out}"),
        Err(report) => report,
    };
    assert_problems(
        &report,
        &chain,
        &[
            &[
                "resources.OperatorExtraConfigPre.properties.servr (line 13)",
                "is not a parameter of nested template",
                "did you mean server?",
            ],
            &[
                "resources.OvercloudKeysExtraConfigPre.type (line 15)",
                "missing-pre.yaml does not exist",
            ],
        ],
    );
    // The nested template that exists is checked too, and is fine.
    assert_ok(&report, &fixture("operator-pre.yaml"));
    assert_problems(
        &report,
        &refs,
        &[
            &["heat_template_version (line 3)", "expected wallaby"],
            &[
                "resources.Deployment.properties.config.get_resource",
                "resource 'Configuration' is not declared",
            ],
            &[
                "resources.Deployment.depends_on",
                "resource 'Conifg' is not declared",
                "did you mean Config?",
            ],
            &[
                "outputs.deploy_stdout.value.get_attr",
                "has no attribute 'deploy_stdot'",
                "did you mean deploy_stdout",
            ],
        ],
    );
}

#[test]
fn parameters_of_mapped_templates_count_as_declared_with_their_types() {
    let good = fixture("mapped-env.yaml");
    let out = check_env_files(&[&good]).unwrap_or_else(|r| panic!("rejected:\n{r}"));
    assert!(
        has_line(
            &out,
            "ok",
            &good,
            &[
                "3 parameter_defaults valid",
                "1 template its resource_registry brings in"
            ]
        ),
        "{out}"
    );
    let bad = fixture("bad-mapped-env.yaml");
    let unmapped = fixture("unmapped-env.yaml");
    let report = check_env_files(&[&bad, &unmapped]).expect_err("accepted");
    assert_problems(
        &report,
        &bad,
        &[
            &[
                "parameter_defaults.OvercloudKeysArtifactSha265 (declared: nowhere)",
                "did you mean OvercloudKeysArtifactSha256?",
            ],
            &[
                "parameter_defaults.OvercloudKeysRetries (declared number in ",
                "mapped-pre.yaml",
                "could not convert string to float: 'many'",
            ],
        ],
    );
    // Without the mapping, the same name is declared nowhere.
    assert_problems(
        &report,
        &unmapped,
        &[&["parameter_defaults.OvercloudKeysArtifactSha256 (declared: nowhere)"]],
    );
}

/// An operator mapping `<Role>ExtraConfigPre` to another resource type (Heat resolves type
/// names through the environment) must be chained by that name: the chain's `type:` must not
/// become a path.
#[test]
fn operator_mapping_to_a_resource_type_name_is_chained_by_name() {
    let tmp = TempDir::new().unwrap();
    fs::copy(
        fixture("operator-pre.yaml"),
        tmp.path().join("operator-pre.yaml"),
    )
    .unwrap();
    let operator_env = tmp.path().join("operator-env.yaml");
    fs::write(
        &operator_env,
        concat!(
            "resource_registry:\n",
            "  OS::TripleO::ControllerExtraConfigPre: OS::TripleO::OperatorPre\n",
            "  OS::TripleO::OperatorPre: operator-pre.yaml\n",
        ),
    )
    .unwrap();
    let wd = tmp.path().join("wd");
    build_scoped(&wd, &["--check-env", operator_env.to_str().unwrap()]);
    let chain = wd.join("keystone-keys-pre-chain-Controller.yaml");
    let scoped = wd.join("keystone-keys-scoped.yaml");
    let role = fixture("tht-role-extraconfigpre.yaml");
    let out = check_template_files_with_env(&[&chain, &role], &[&operator_env, &scoped])
        .unwrap_or_else(|r| panic!("rejected:\n{r}"));
    assert_ok(&out, &chain);
    assert_ok(&out, &role);
}

/// Templates rendered for OSP 16.2, 13, 11 and 10 (`render --release`, the scoped rendering `build`
/// uses; their builds need Swift) validate in Heat under the older HOT version they declare:
/// Heat's template class for `rocky` / `queens` knows only that version's intrinsic
/// functions, so a newer one in our templates would be refused here.
#[test]
fn older_release_templates_pass_heats_validation_at_their_version() {
    let tmp = TempDir::new().unwrap();
    let report = build_scoped(&tmp.path().join("wd"), &[]);
    let tarball = report["artifact"]["path"].as_str().unwrap().to_string();
    // OSP 10/11 run keystone on the host: a baremetal tarball.
    let bare = build_scoped(&tmp.path().join("bare"), &["--layout", "baremetal"]);
    let bare_tarball = bare["artifact"]["path"].as_str().unwrap().to_string();
    for (release, version, older) in [
        ("16.2", "rocky", "queens"),
        ("13", "queens", "pike"),
        ("11", "ocata", "newton"),
        ("10", "newton", "2016-04-08"),
    ] {
        let (tarball, layout) = match release {
            "10" | "11" => (&bare_tarball, "baremetal"),
            _ => (&tarball, "containerized"),
        };
        let dir = tmp.path().join(release);
        fs::create_dir_all(&dir).unwrap();
        let theirs = dir.join("operator-pre.yaml");
        fs::write(
            &theirs,
            format!("heat_template_version: {version}\nparameters:\n  server:\n    type: string\n"),
        )
        .unwrap();
        let operator_env = dir.join("operator-env.yaml");
        fs::write(
            &operator_env,
            "resource_registry:\n  OS::TripleO::ControllerExtraConfigPre: operator-pre.yaml\n",
        )
        .unwrap();
        let out_dir = dir.join("out");
        let out = Command::new(BIN)
            .args([
                "render",
                "--release",
                release,
                "--tarball",
                tarball,
                "--layout",
                layout,
                "--output-dir",
            ])
            .arg(&out_dir)
            .arg("--check-env")
            .arg(&operator_env)
            .output()
            .expect("overcloud-keys runs");
        assert!(
            out.status.success(),
            "render --release {release}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let chain = out_dir.join("keystone-keys-pre-chain-Controller.yaml");
        let pre = out_dir.join("keystone-keys-pre.yaml");
        let scoped = out_dir.join("keystone-keys-scoped.yaml");
        let ok = check_template_files_at(version, &[&chain], &[&scoped])
            .unwrap_or_else(|r| panic!("--release {release} rejected:\n{r}"));
        for path in [&theirs, &pre, &chain] {
            assert_ok(&ok, path);
        }
        assert!(
            has_line(
                &ok,
                "ok",
                &pre,
                &[&format!("heat_template_version {version}")]
            ),
            "{ok}"
        );
        // The version check is live: the same template is not the older release's.
        let report = check_template_files_at(older, &[&pre], &[&scoped])
            .expect_err("accepted under an older heat_template_version");
        assert_problems(
            &report,
            &pre,
            &[&["heat_template_version", &format!("expected {older}")]],
        );
    }
}
