//! Release profiles through the binary: `--release` (and config `release`) on `build` and
//! `render` set the defaults, refuse what a release cannot consume before anything is
//! written, and head every rendered template with a `heat_template_version` that release's
//! Heat knows, checked against Heat's own list (scripts/heat-versions.sh).

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use crate::heat_versions;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tempfile::TempDir;

use crate::cli_support::BIN;

fn run(home: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        // No passwords file, no clouds.yaml: nothing of the machine's leaks in.
        .env("HOME", home)
        .env_remove("OS_CLOUD")
        .output()
        .expect("binary runs")
}

fn ok_json(home: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-f", "json"]);
    let out = run(home, &all);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json output")
}

/// Runs a command that must be refused: exit 2, one `error:` line holding every needle,
/// and a `hint:` line. Returns stderr.
fn refused(home: &Path, args: &[&str], needles: &[&str]) -> String {
    let out = run(home, args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{args:?}: one error line expected:\n{err}");
    for needle in needles {
        assert!(
            errors[0].contains(needle),
            "{args:?}: no {needle:?} in:\n{err}"
        );
    }
    err
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn each_release_sets_its_defaults() {
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    // Dry runs: the defaults are decided before anything (Swift included) is touched.
    for (release, artifacts, jws) in [
        (None, "files", "stage"),
        (Some("17.1"), "files", "stage"),
        (Some("16.2"), "swift", "stage"),
        (Some("13"), "swift", "off"),
    ] {
        // No Swift here: on 13/16.2 build cannot check the plan container, so a new cloud
        // says so with --new-keys.
        let mut args = vec!["build", "--workdir", s(&wd), "--dry-run", "--new-keys"];
        args.extend(release.iter().flat_map(|r| ["--release", r]));
        let report = ok_json(tmp.path(), &args);
        let settings = &report["settings"];
        assert_eq!(settings["release"], release.unwrap_or("17.1"), "{args:?}");
        assert_eq!(settings["artifacts"], artifacts, "{args:?}");
        assert_eq!(settings["jws"], jws, "{args:?}");
    }
    assert!(!wd.exists(), "a dry run wrote the work directory");
}

#[test]
fn artifacts_files_is_refused_on_13_and_16_2_before_anything_is_written() {
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    for release in ["16.2", "13"] {
        let err = refused(
            tmp.path(),
            &[
                "build",
                "--workdir",
                s(&wd),
                "--release",
                release,
                "--artifacts",
                "files",
            ],
            &[
                "\"files\"",
                &format!("OSP {release}"),
                "DeployArtifactFILEs",
            ],
        );
        assert!(err.contains("hint: use --artifacts swift"), "{err}");
        assert!(
            !wd.exists(),
            "--release {release}: the work directory was created"
        );
    }
    // The same from the config file.
    let cfg = tmp.path().join("keys.toml");
    fs::write(
        &cfg,
        format!(
            "workdir = \"{}\"\nrelease = \"16.2\"\nartifacts = \"files\"\n",
            wd.display()
        ),
    )
    .unwrap();
    refused(
        tmp.path(),
        &["build", "--config", s(&cfg)],
        &["\"files\"", "OSP 16.2"],
    );
    assert!(!wd.exists());
    // render: DeployArtifactFILEs paths are refused the same way, output directory untouched.
    let out_dir = tmp.path().join("out");
    refused(
        tmp.path(),
        &[
            "render",
            "--release",
            "16.2",
            "--output-dir",
            s(&out_dir),
            "--delivery",
            "all-roles",
            "--artifact-file",
            "/var/lib/a.tar.gz",
        ],
        &["\"files\"", "OSP 16.2"],
    );
    assert!(!out_dir.exists());
}

#[test]
fn jws_is_refused_on_13_and_off_by_default_there() {
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    let err = refused(
        tmp.path(),
        &["build", "--workdir", s(&wd), "--release", "13", "--jws"],
        &["OSP 13", "no JWS token provider before keystone 15 (Stein)"],
    );
    assert!(err.contains("hint:"), "{err}");
    assert!(!wd.exists(), "--jws on 13 created the work directory");
    let cfg = tmp.path().join("keys.toml");
    for jws in ["stage", "enable"] {
        fs::write(
            &cfg,
            format!(
                "workdir = \"{}\"\nrelease = \"13\"\njws = \"{jws}\"\n",
                wd.display()
            ),
        )
        .unwrap();
        refused(
            tmp.path(),
            &["build", "--config", s(&cfg)],
            &[&format!("jws = \"{jws}\""), "keystone 15"],
        );
        assert!(!wd.exists());
    }
    let out_dir = tmp.path().join("out");
    refused(
        tmp.path(),
        &[
            "render",
            "--release",
            "13",
            "--jws",
            "--output-dir",
            s(&out_dir),
        ],
        &["OSP 13", "keystone 15"],
    );
    assert!(!out_dir.exists());

    // The default on 13: Fernet only, so no JWS keys, no jws.yaml and nothing to deliver
    // by artifact (no Swift needed for a containerized 13).
    let report = ok_json(
        tmp.path(),
        &[
            "build",
            "--workdir",
            s(&wd),
            "--release",
            "13",
            "--new-keys",
        ],
    );
    assert_eq!(report["settings"]["jws"], "off");
    assert!(report["artifact"].is_null(), "{report:#}");
    assert!(!wd.join("keys/jws-keys").exists());
    assert!(!wd.join("jws.yaml").exists());
    assert!(wd.join("keys/fernet-keys/1").is_file());
    let kinds: Vec<&str> = report["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["fernet", "credential"]);
    // An explicit off is not refused.
    ok_json(
        tmp.path(),
        &[
            "build",
            "--workdir",
            s(&wd),
            "--release",
            "13",
            "--no-jws",
            "--new-keys",
        ],
    );
}

#[test]
fn unknown_release_is_a_one_line_error_naming_it() {
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    for command in [
        &["build", "--workdir", s(&wd)][..],
        &["render", "--output-dir", s(&wd)],
    ] {
        let mut args = command.to_vec();
        args.extend(["--release", "16"]);
        refused(
            tmp.path(),
            &args,
            &["unknown release \"16\"", "10, 11, 13, 16.2, 17.1"],
        );
    }
    let cfg = tmp.path().join("keys.toml");
    fs::write(
        &cfg,
        format!("workdir = \"{}\"\nrelease = \"16\"\n", wd.display()),
    )
    .unwrap();
    refused(
        tmp.path(),
        &["build", "--config", s(&cfg)],
        &["keys.toml", "unknown release \"16\""],
    );
    fs::write(
        &cfg,
        format!("workdir = \"{}\"\nrelease = 16.2\n", wd.display()),
    )
    .unwrap();
    refused(
        tmp.path(),
        &["build", "--config", s(&cfg)],
        &["keys.toml", "release string"],
    );
    assert!(!wd.exists());
}

#[test]
fn config_key_release_and_the_flag_winning_over_it() {
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    let cfg = tmp.path().join("keys.toml");
    fs::write(
        &cfg,
        format!("workdir = \"{}\"\nrelease = \"16.2\"\n", wd.display()),
    )
    .unwrap();
    let report = ok_json(
        tmp.path(),
        &["build", "--config", s(&cfg), "--dry-run", "--new-keys"],
    );
    assert_eq!(report["settings"]["release"], "16.2");
    assert_eq!(report["settings"]["artifacts"], "swift");
    let report = ok_json(
        tmp.path(),
        &[
            "build",
            "--config",
            s(&cfg),
            "--release",
            "17.1",
            "--dry-run",
        ],
    );
    assert_eq!(report["settings"]["release"], "17.1");
    assert_eq!(report["settings"]["artifacts"], "files");
    // build records the release it rendered for.
    fs::write(
        &cfg,
        format!("workdir = \"{}\"\nrelease = \"13\"\n", wd.display()),
    )
    .unwrap();
    ok_json(tmp.path(), &["build", "--config", s(&cfg), "--new-keys"]);
    let record: Value = serde_json::from_slice(&fs::read(wd.join("build.json")).unwrap()).unwrap();
    assert_eq!(record["release"], "13");
}

/// An operator environment that already maps ControllerExtraConfigPre, so the chaining
/// template is rendered too.
fn operator_env(dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let template = dir.join("operator-pre.yaml");
    fs::write(
        &template,
        "heat_template_version: queens\nparameters:\n  server:\n    type: string\n",
    )
    .unwrap();
    let env = dir.join("operator-env.yaml");
    fs::write(
        &env,
        "resource_registry:\n  OS::TripleO::ControllerExtraConfigPre: operator-pre.yaml\n",
    )
    .unwrap();
    env
}

fn assert_known(templates: &[PathBuf], known: &[String], release: &str, series: &str) {
    assert_eq!(
        templates.len(),
        2,
        "--release {release}: expected the template and the chaining template: {templates:?}"
    );
    for template in templates {
        let version = heat_versions::declared_version(template);
        assert!(
            known.contains(&version),
            "--release {release}: {} declares heat_template_version {version}, which Heat {series} does not know ({known:?})",
            template.display()
        );
    }
}

#[test]
fn rendered_templates_use_a_heat_template_version_the_release_knows() {
    let lists: Vec<(&str, &str, Vec<String>)> = heat_versions::RELEASES
        .iter()
        .map(|(release, series)| (*release, *series, heat_versions::known_versions(series)))
        .collect();
    let known = |series: &str| &lists.iter().find(|l| l.1 == series).unwrap().2;
    // The lists differ where it matters, so a wrong version fails below.
    assert!(
        !known("train").contains(&"wallaby".to_string()),
        "{:?}",
        known("train")
    );
    assert!(
        !known("queens").contains(&"rocky".to_string()),
        "{:?}",
        known("queens")
    );
    assert!(
        !known("newton").contains(&"ocata".to_string()),
        "{:?}",
        known("newton")
    );
    assert!(known("train").contains(&"rocky".to_string()));
    assert!(known("wallaby").contains(&"wallaby".to_string()));

    let tmp = TempDir::new().unwrap();
    let operator = operator_env(&tmp.path().join("operator"));
    // 17.1 through build (scoped delivery embeds the tarball: no Swift needed).
    let wd = tmp.path().join("wd");
    let report = ok_json(
        tmp.path(),
        &["build", "--workdir", s(&wd), "--check-env", s(&operator)],
    );
    assert_eq!(report["delivery"], "scoped");
    let ours: Vec<PathBuf> = heat_versions::templates_in(&wd);
    assert_known(&ours, known("wallaby"), "17.1", "wallaby");
    // Every release through render, from the same tarball (13 and 16.2 build with Swift;
    // tests/build_swift.rs covers those builds).
    let tarball = report["artifact"]["path"].as_str().unwrap().to_string();
    // OSP 10/11 run keystone on the host: a baremetal tarball.
    let bare_wd = tmp.path().join("bare");
    let report = ok_json(
        tmp.path(),
        &["build", "--workdir", s(&bare_wd), "--layout", "baremetal"],
    );
    let bare_tarball = report["artifact"]["path"].as_str().unwrap().to_string();
    for (release, series, list) in &lists {
        let out = tmp.path().join(format!("render-{release}"));
        let (tarball, layout) = match *release {
            "10" | "11" => (&bare_tarball, "baremetal"),
            _ => (&tarball, "containerized"),
        };
        ok_json(
            tmp.path(),
            &[
                "render",
                "--release",
                release,
                "--tarball",
                tarball,
                "--layout",
                layout,
                "--output-dir",
                s(&out),
                "--check-env",
                s(&operator),
            ],
        );
        assert_known(&heat_versions::templates_in(&out), list, release, series);
    }
}
