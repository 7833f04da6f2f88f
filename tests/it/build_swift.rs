//! `build --artifacts swift` against the real Swift harness: the env file points at a
//! verified object whose TempURL serves the artifact without credentials, a re-run changes
//! nothing, scoped delivery passes the URL to the node script, and Swift down changes nothing.

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use crate::{heat_versions, swift_harness};

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use swift_harness::{Account, Swift};
use tempfile::TempDir;

fn build(workdir: &Path, acct_env: &[(String, String)], extra: &[&str]) -> Output {
    let mut cmd = Command::new(swift_harness::bin());
    swift_harness::scrub_env(&mut cmd);
    cmd.args([
        "build",
        "--workdir",
        workdir.to_str().unwrap(),
        "--artifacts",
        "swift",
        "-f",
        "json",
    ])
    .args(extra);
    for (k, v) in acct_env {
        cmd.env(k, v);
    }
    cmd.output().expect("binary runs")
}

fn ok(out: Output) -> Value {
    assert!(
        out.status.success(),
        "build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn urls_in(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap();
    text.split(['\'', '"'])
        .filter(|t| t.starts_with("http") && t.contains("temp_url_sig"))
        .map(String::from)
        .collect()
}

fn account() -> Account {
    Swift::shared().account()
}

#[test]
fn all_roles_build_publishes_a_verified_temp_url_and_reruns_change_nothing() {
    let acct = account();
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    let report = ok(build(&wd, &acct.st_env(), &["--delivery", "all-roles"]));
    let artifact = Path::new(report["artifact"]["path"].as_str().unwrap()).to_path_buf();
    let env = wd.join("deployment-artifacts.yaml");
    let urls = urls_in(&env);
    assert_eq!(urls.len(), 1, "{}", fs::read_to_string(&env).unwrap());
    assert!(
        fs::read_to_string(&env)
            .unwrap()
            .contains("    DeployArtifactURLs:\n    - '")
    );
    assert_eq!(
        fs::metadata(&env).unwrap().permissions().mode() & 0o777,
        0o600,
        "a TempURL is a bearer credential"
    );
    // Fetched with no credentials at all: the exact artifact.
    let body = swift_harness::http("GET", &urls[0], &[], None);
    assert_eq!(body.status, 200);
    assert_eq!(body.body, fs::read(&artifact).unwrap());
    // Re-run a second later (a fresh signature would differ): same URL, nothing changed.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mtime = fs::metadata(&env).unwrap().mtime_nsec();
    let again = ok(build(&wd, &acct.st_env(), &["--delivery", "all-roles"]));
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(urls_in(&env), urls);
    assert_eq!(fs::metadata(&env).unwrap().mtime_nsec(), mtime);
}

#[test]
fn scoped_build_hands_the_url_to_the_node_script() {
    let acct = account();
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    ok(build(&wd, &acct.st_env(), &[]));
    let text = fs::read_to_string(wd.join("keystone-keys-scoped.yaml")).unwrap();
    assert!(
        text.contains("OvercloudKeysArtifactUrl:")
            && !text.contains("OvercloudKeysArtifactBase64:"),
        "{text}"
    );
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let p = &doc["parameter_defaults"];
    let get = |k: &str| p[k].as_str().unwrap().to_string();
    let is_root = fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    if !is_root || Command::new("curl").arg("--version").output().is_err() {
        return crate::cli_support::skip(
            "scoped build's node script",
            "the node-script part needs root and curl",
        );
    }
    let root = tmp.path().join("node");
    let out = Command::new("sh")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/deliver-keys.sh"
        ))
        .env("OVERCLOUD_KEYS_ROOT", &root)
        .env("artifact_b64", "")
        .env("artifact_url", get("OvercloudKeysArtifactUrl"))
        .env("artifact_sha256", get("OvercloudKeysArtifactSha256"))
        .env("layout_root", get("OvercloudKeysLayoutRoot"))
        .env("key_dirs", get("OvercloudKeysKeyDirs"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let private = root
        .join(get("OvercloudKeysKeyDirs"))
        .join("private/private.pem");
    assert_eq!(
        fs::read(&private).unwrap(),
        fs::read(wd.join("keys/jws-keys/private/private.pem")).unwrap()
    );
}

/// A dry run that would upload (repositories there, nothing published yet) plans with a
/// TempURL not signed yet: it reports the change, uploads nothing and writes nothing.
#[test]
fn dry_run_before_the_first_upload_uploads_and_writes_nothing() {
    let acct = account();
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    let mut files = Command::new(swift_harness::bin());
    swift_harness::scrub_env(&mut files);
    let first = files
        .args(["build", "--workdir", wd.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let before = crate::build::snapshot(&wd);
    let report = ok(build(&wd, &acct.st_env(), &["--dry-run"]));
    assert_eq!(report["changed"], true, "{report}");
    assert_eq!(report["delivery"], "scoped", "{report}");
    let object = Path::new(report["artifact"]["path"].as_str().unwrap())
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(acct.head_object("overcloud-artifacts", &object).status, 404);
    assert!(crate::build::snapshot(&wd) == before, "a dry run wrote");
}

#[test]
fn swift_down_is_exit_3_and_changes_no_env_file() {
    let acct = account();
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    ok(build(&wd, &acct.st_env(), &["--delivery", "all-roles"]));
    let env = wd.join("deployment-artifacts.yaml");
    let before = fs::read(&env).unwrap();
    // Rotate so a new artifact must be uploaded, then point at a dead Swift.
    let jws = wd.join("keys/jws-keys");
    let staged = Command::new(swift_harness::bin())
        .args(["jws", "rotate", "stage", "--private-dir"])
        .arg(jws.join("private"))
        .arg("--public-dir")
        .arg(jws.join("public"))
        .status()
        .unwrap();
    assert!(staged.success());
    let dead = vec![
        (
            "ST_AUTH".to_string(),
            format!("{}/auth/v1.0", swift_harness::dead_url()),
        ),
        ("ST_USER".to_string(), acct.user.clone()),
        ("ST_KEY".to_string(), acct.key.clone()),
    ];
    let out = build(&wd, &dead, &["--delivery", "all-roles"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read(&env).unwrap(),
        before,
        "env file changed although the upload failed"
    );
}

/// OSP 13 and 16.2 deliver by Swift (their default): the scoped templates a build renders
/// for them declare a heat_template_version their Heat knows (Heat's own list, from the
/// openstack-heat sdists), and build.json records the release.
#[test]
fn older_releases_build_scoped_templates_their_heat_knows() {
    let acct = account();
    let tmp = TempDir::new().unwrap();
    // 13 has no JWS: only the baremetal layout puts anything (Fernet keys) in the tarball.
    for (release, series, extra) in [
        ("16.2", "train", &[][..]),
        ("13", "queens", &["--layout", "baremetal"][..]),
    ] {
        let known = heat_versions::known_versions(series);
        let wd = tmp.path().join(format!("wd-{release}"));
        let mut args = vec!["--release", release];
        args.extend(extra);
        let report = ok(build(&wd, &acct.st_env(), &args));
        assert_eq!(report["settings"]["release"], release);
        assert_eq!(report["delivery"], "scoped", "{report:#}");
        let templates = heat_versions::templates_in(&wd);
        assert_eq!(templates.len(), 1, "{templates:?}");
        let version = heat_versions::declared_version(&templates[0]);
        assert!(
            known.contains(&version),
            "--release {release}: heat_template_version {version} is not known to Heat {series}: {known:?}"
        );
        let record: Value =
            serde_json::from_slice(&fs::read(wd.join("build.json")).unwrap()).unwrap();
        assert_eq!(record["release"], release);
    }
}

/// OSP 10/11 run keystone on the host (baremetal is their default layout) and the tarball
/// carries the Fernet keys. OSP 11's puppet also writes files 0 and 1 from
/// KeystoneFernetKey0/1 on every deploy, so fernet.yaml mirrors the repository there; OSP 10
/// has no Fernet parameter at all.
#[test]
fn osp10_and_11_render_the_fernet_parameters_their_tht_has() {
    let acct = account();
    let tmp = TempDir::new().unwrap();
    for (release, series) in [("11", "ocata"), ("10", "newton")] {
        let known = heat_versions::known_versions(series);
        let wd = tmp.path().join(format!("wd-{release}"));
        let report = ok(build(&wd, &acct.st_env(), &["--release", release]));
        assert_eq!(report["settings"]["layout"], "baremetal", "{report:#}");
        assert_eq!(report["settings"]["jws"], "off", "{report:#}");
        let templates = heat_versions::templates_in(&wd);
        let version = heat_versions::declared_version(&templates[0]);
        assert!(
            known.contains(&version),
            "{release}: {version} not in {known:?}"
        );
        let fernet: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&fs::read_to_string(wd.join("fernet.yaml")).unwrap()).unwrap();
        let defaults = &fernet["parameter_defaults"];
        assert!(defaults.get("KeystoneFernetKeys").is_none(), "{release}");
        assert!(
            defaults.get("ManageKeystoneFernetKeys").is_none(),
            "{release}"
        );
        let file = |n: &str| fs::read_to_string(wd.join("keys/fernet-keys").join(n)).unwrap();
        if release == "11" {
            assert_eq!(
                defaults["KeystoneFernetKey0"].as_str(),
                Some(file("0").as_str())
            );
            assert_eq!(
                defaults["KeystoneFernetKey1"].as_str(),
                Some(file("1").as_str())
            );
        } else {
            assert!(defaults.get("KeystoneFernetKey0").is_none(), "{release}");
        }
        assert!(defaults.get("KeystoneCredential0").is_some(), "{release}");
    }
    // The containerized layout does not exist there.
    let out = build(
        &tmp.path().join("wd-c"),
        &acct.st_env(),
        &["--release", "11", "--layout", "containerized"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("keystone runs on the host"));
    assert!(!tmp.path().join("wd-c").exists());
}
