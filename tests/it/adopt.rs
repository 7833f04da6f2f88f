//! `adopt` and the deployed-stack guard of `build` through the binary: import byte for byte
//! with indices preserved, idempotence, the "work directory differs" and "passwords file
//! holds undeployed keys" cases, `--replace-workdir`, `--dry-run`, and bad input (exit 2,
//! one error line naming the file and key, nothing written).

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use crate::cli_support;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;

use cli_support::{Cmd, Env, Out, assert_same_tree, files, key_numbers, mode, tree};

/// A key as keystone writes it, distinct per `seed`.
fn key(seed: u8) -> String {
    URL_SAFE.encode([seed; 32])
}

/// An OSP 17 passwords file (tripleoclient's `parameter_defaults` layout).
fn passwords(fernet: &[(u64, String)], credential: Option<(String, String)>) -> String {
    let mut text = String::from("parameter_defaults:\n  AdminPassword: not-a-key\n");
    if let Some((zero, one)) = credential {
        text.push_str(&format!(
            "  KeystoneCredential0: {zero}\n  KeystoneCredential1: {one}\n"
        ));
    }
    text.push_str("  KeystoneFernetKeys:\n");
    for (index, content) in fernet {
        text.push_str(&format!(
            "    /etc/keystone/fernet-keys/{index}:\n      content: {content}\n"
        ));
    }
    text
}

fn deployed() -> Vec<(u64, String)> {
    vec![(0, key(10)), (6, key(16)), (7, key(17))]
}

fn deployed_credential() -> Option<(String, String)> {
    Some((key(20), key(21)))
}

struct Cloud {
    env: Env,
}

impl Cloud {
    /// A home directory whose stack `overcloud` is deployed (passwords file present).
    fn deployed() -> Self {
        let env = Env::new();
        let cloud = Cloud { env };
        cloud.write_passwords(&passwords(&deployed(), deployed_credential()));
        cloud
    }

    fn home(&self) -> PathBuf {
        self.env.path("home")
    }

    fn passwords_path(&self) -> PathBuf {
        self.home()
            .join("overcloud-deploy/overcloud/overcloud-passwords.yaml")
    }

    fn write_passwords(&self, text: &str) {
        let path = self.passwords_path();
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
    }

    fn workdir(&self) -> PathBuf {
        self.env.path("work")
    }

    fn cmd(&self, args: &[&str]) -> Cmd {
        self.env
            .cmd()
            .env("HOME", self.home())
            // No Swift: the plan container is not asked (and says so).
            .env("OS_CLOUD", "")
            .args(args)
            .arg("--workdir")
            .arg(self.workdir())
    }

    fn run(&self, args: &[&str]) -> Out {
        self.cmd(args).run()
    }

    fn fernet(&self) -> PathBuf {
        self.workdir().join("keys/fernet-keys")
    }

    fn credential(&self) -> PathBuf {
        self.workdir().join("keys/credential-keys")
    }
}

fn expected_files(keys: &[(u64, String)]) -> std::collections::BTreeMap<String, Vec<u8>> {
    keys.iter()
        .map(|(n, k)| (n.to_string(), k.as_bytes().to_vec()))
        .collect()
}

#[test]
fn adopt_imports_the_passwords_file_byte_for_byte_with_indices() {
    let cloud = Cloud::deployed();
    let out = cloud.run(&["adopt", "-f", "json"]);
    out.expect_code(0);
    let report = out.json();
    assert_eq!(report["status"], "imported");
    assert_eq!(
        report["source"],
        cloud.passwords_path().display().to_string()
    );
    assert_eq!(files(&cloud.fernet()), expected_files(&deployed()));
    assert_eq!(key_numbers(&cloud.fernet()), [0, 6, 7]);
    let (zero, one) = deployed_credential().unwrap();
    assert_eq!(
        files(&cloud.credential()),
        expected_files(&[(0, zero), (1, one)])
    );
    let me = fs::metadata(cloud.env.root()).unwrap();
    for dir in [cloud.workdir(), cloud.fernet(), cloud.credential()] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        assert_eq!(fs::metadata(&dir).unwrap().uid(), me.uid());
    }
    for file in ["0", "6", "7"] {
        let path = cloud.fernet().join(file);
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        assert_eq!(fs::metadata(&path).unwrap().uid(), me.uid());
    }
    for repo in report["repositories"].as_array().unwrap() {
        assert_eq!(repo["action"], "imported");
        assert_eq!(
            repo["findings"],
            serde_json::json!([]),
            "repo check is clean"
        );
    }

    // Again: nothing to adopt, nothing touched (same inodes, bytes, modes).
    let before = tree(&cloud.workdir());
    let again = cloud.run(&["adopt", "-f", "yaml"]);
    again.expect_code(0);
    assert!(
        again.stdout.contains("status: nothing-to-adopt"),
        "{}",
        again.stdout
    );
    assert_same_tree(&before, &tree(&cloud.workdir()), "second adopt");

    // build renders exactly the adopted keys.
    cloud.cmd(&["build", "--no-jws"]).run().expect_code(0);
    let fernet_yaml = fs::read_to_string(cloud.workdir().join("fernet.yaml")).unwrap();
    for (index, content) in deployed() {
        assert!(
            fernet_yaml.contains(&format!("/etc/keystone/fernet-keys/{index}"))
                && fernet_yaml.contains(&content),
            "key {index} missing from fernet.yaml"
        );
    }
}

#[test]
fn dry_run_writes_nothing() {
    let cloud = Cloud::deployed();
    let out = cloud.run(&["adopt", "--dry-run", "-f", "json"]);
    out.expect_code(0);
    assert_eq!(out.json()["status"], "would-import");
    assert!(
        !cloud.workdir().exists(),
        "dry run created the work directory"
    );
}

#[test]
fn build_refuses_a_deployed_stack_without_repositories() {
    let cloud = Cloud::deployed();
    let out = cloud.run(&["build"]);
    out.expect_code(2);
    let error = out.stderr_lines("error:");
    assert_eq!(error.len(), 1, "{}", out.stderr);
    assert!(error[0].contains("already deployed"), "{}", out.stderr);
    assert!(
        error[0].contains(&cloud.passwords_path().display().to_string()),
        "names the evidence: {}",
        out.stderr
    );
    assert!(out.expect_hint().contains("overcloud-keys adopt"));
    assert!(
        !cloud.workdir().exists(),
        "refused build wrote the work directory"
    );
    // --dry-run is refused the same way.
    cloud.run(&["build", "--dry-run"]).expect_code(2);

    // The deliberate flag creates keys and says what breaks.
    let out = cloud.run(&["build", "--new-keys"]);
    out.expect_code(0);
    let warning = out.stderr_lines("WARNING:").join("\n");
    assert!(warning.contains("every token"), "{}", out.stderr);
    assert!(warning.contains("undecryptable"), "{}", out.stderr);
    assert_ne!(files(&cloud.fernet()), expected_files(&deployed()));

    // A stack that is not deployed builds without the flag.
    let fresh = Env::new();
    let mut out = fresh
        .cmd()
        .env("HOME", fresh.path("home"))
        .env("OS_CLOUD", "");
    out = out.args(["build", "--workdir"]).arg(fresh.path("w"));
    out.run().expect_code(0);
}

#[test]
fn differing_work_directory_is_never_replaced_silently() {
    let cloud = Cloud::deployed();
    cloud.run(&["adopt"]).expect_code(0);
    // The cloud was rotated elsewhere (tripleo-ansible rotate-fernet-keys): 0 -> 8, new 0.
    let rotated = vec![(0, key(30)), (6, key(16)), (7, key(17)), (8, key(10))];
    cloud.write_passwords(&passwords(&rotated, deployed_credential()));
    let before = tree(&cloud.workdir());
    let out = cloud.run(&["adopt"]);
    out.expect_code(2);
    let error = out.stderr_lines("error:").join("\n");
    assert!(
        error.contains(&cloud.workdir().display().to_string()),
        "{error}"
    );
    assert!(
        error.contains(&cloud.passwords_path().display().to_string()),
        "{error}"
    );
    assert!(
        error.contains("every token") && error.contains("--replace-workdir"),
        "{error}"
    );
    assert!(out.expect_hint().contains("--replace-workdir"));
    assert_same_tree(&before, &tree(&cloud.workdir()), "refused adopt");

    // Dry run of the deliberate choice: still nothing written.
    let dry = cloud.run(&["adopt", "--replace-workdir", "--dry-run", "-f", "json"]);
    dry.expect_code(0);
    assert_eq!(dry.json()["status"], "would-replace");
    assert_same_tree(&before, &tree(&cloud.workdir()), "dry-run replace");

    let out = cloud.run(&["adopt", "--replace-workdir", "-f", "json"]);
    out.expect_code(0);
    let report = out.json();
    assert_eq!(report["status"], "replaced");
    assert_eq!(files(&cloud.fernet()), expected_files(&rotated));
    let backup = PathBuf::from(report["backup"].as_str().unwrap());
    assert_eq!(
        files(&backup.join("fernet-keys")),
        expected_files(&deployed())
    );
    assert_eq!(mode(&backup.join("fernet-keys")), 0o700);
    assert_eq!(mode(&backup.join("fernet-keys/7")), 0o600);
    // The credential keys were the same: not replaced, not backed up.
    assert!(!backup.join("credential-keys").exists());
}

#[test]
fn undeployed_keys_in_the_passwords_file_do_not_fool_adopt() {
    // First deploy used our fernet.yaml: the passwords file still holds tripleoclient's own
    // keys, which never reached a node; the work directory is the truth.
    let cloud = Cloud::deployed();
    cloud
        .run(&["build", "--new-keys", "--no-jws"])
        .expect_code(0);
    let before = tree(&cloud.workdir());
    let out = cloud.run(&["adopt", "-f", "json"]);
    out.expect_code(0);
    let report = out.json();
    assert_eq!(report["status"], "workdir-is-deployed");
    assert!(
        out.stderr.contains("never reached a node"),
        "explains the trap: {}",
        out.stderr
    );
    assert_same_tree(
        &before,
        &tree(&cloud.workdir()),
        "adopt with undeployed keys",
    );

    // Without our rendered fernet.yaml there is no evidence: differing keys stop adopt.
    fs::remove_file(cloud.workdir().join("fernet.yaml")).unwrap();
    cloud.run(&["adopt"]).expect_code(2);
}

#[test]
fn heat_environment_plan_environment_and_osp10_parameters() {
    let cloud = Cloud::deployed();
    // `openstack stack environment show -f yaml`: parameter_defaults, the json parameter as
    // a JSON string.
    let json = format!(
        "{{\"/etc/keystone/fernet-keys/0\": {{\"content\": \"{}\"}}, \"/etc/keystone/fernet-keys/4\": {{\"content\": \"{}\"}}}}",
        key(40),
        key(44)
    );
    let env_show = format!(
        "parameter_defaults:\n  KeystoneFernetKeys: '{json}'\n  KeystoneCredential0: {}\n  KeystoneCredential1: {}\nparameters: {{}}\nresource_registry: {{}}\n",
        key(41),
        key(42)
    );
    fs::write(cloud.env.path("env.yaml"), env_show).unwrap();
    let out = cloud.run(&[
        "adopt", "--from", "env.yaml", "--stack", "other", "-f", "json",
    ]);
    out.expect_code(0);
    assert_eq!(
        files(&cloud.fernet()),
        expected_files(&[(0, key(40)), (4, key(44))])
    );

    // A plan environment's passwords section, OSP 10 parameter names.
    let plan_env = format!(
        "name: overcloud\ntemplate: overcloud.yaml\nenvironments:\n- path: overcloud-resource-registry-puppet.yaml\npasswords:\n  KeystoneFernetKey0: {}\n  KeystoneFernetKey1: {}\n",
        key(50),
        key(51)
    );
    let other = Env::new();
    fs::write(other.path("plan-environment.yaml"), plan_env).unwrap();
    let out = other
        .cmd()
        .args([
            "adopt",
            "--from",
            "plan-environment.yaml",
            "-f",
            "json",
            "--workdir",
        ])
        .arg(other.path("w"))
        .run();
    out.expect_code(0);
    let report = out.json();
    assert_eq!(report["fernet_params"], "keystone-fernet-key01");
    assert_eq!(
        files(&other.path("w/keys/fernet-keys")),
        expected_files(&[(0, key(50)), (1, key(51))])
    );
    assert!(!other.path("w/keys/credential-keys").exists());
    assert!(
        out.stderr.contains("KeystoneCredential0/1"),
        "{}",
        out.stderr
    );
}

#[test]
fn plan_export_tarball() {
    let env = Env::new();
    let plan_env = format!(
        "passwords:\n  KeystoneFernetKeys:\n    /etc/keystone/fernet-keys/0:\n      content: {}\n    /etc/keystone/fernet-keys/1:\n      content: {}\n  KeystoneCredential0: {}\n  KeystoneCredential1: {}\n",
        key(60),
        key(61),
        key(62),
        key(63)
    );
    fs::create_dir(env.path("plan")).unwrap();
    fs::write(env.path("plan/plan-environment.yaml"), plan_env).unwrap();
    fs::write(
        env.path("plan/overcloud.yaml"),
        "heat_template_version: rocky\n",
    )
    .unwrap();
    let tar = std::process::Command::new("tar")
        .args(["-czf", "overcloud.tar.gz", "-C", "plan", "."])
        .current_dir(env.root())
        .status()
        .unwrap();
    assert!(tar.success());
    env.cmd()
        .args(["adopt", "--from", "overcloud.tar.gz", "--workdir"])
        .arg(env.path("w"))
        .run()
        .expect_code(0);
    assert_eq!(
        files(&env.path("w/keys/fernet-keys")),
        expected_files(&[(0, key(60)), (1, key(61))])
    );
    // Without plan-environment.yaml: exit 2 naming the tarball.
    fs::remove_file(env.path("plan/plan-environment.yaml")).unwrap();
    std::process::Command::new("tar")
        .args(["-czf", "bare.tar.gz", "-C", "plan", "."])
        .current_dir(env.root())
        .status()
        .unwrap();
    let out = env
        .cmd()
        .args(["adopt", "--from", "bare.tar.gz", "--workdir"])
        .arg(env.path("w2"))
        .run();
    let error = out.expect_bad_input(Path::new("bare.tar.gz"));
    assert!(error.contains("plan-environment.yaml"), "{error}");
    assert!(!env.path("w2").exists());
}

#[test]
fn bad_sources_name_the_file_and_key_and_write_nothing() {
    let short = key(1)[..43].to_string();
    let good_cred = deployed_credential();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "short-key.yaml",
            passwords(&[(0, key(0)), (1, short)], good_cred.clone()),
            "KeystoneFernetKeys[/etc/keystone/fernet-keys/1]",
        ),
        (
            "bad-path.yaml",
            passwords(&[(0, key(0)), (1, key(1))], good_cred.clone()).replace(
                "/etc/keystone/fernet-keys/1:",
                "/etc/keystone/fernet-keys/../1:",
            ),
            "KeystoneFernetKeys entry",
        ),
        (
            "missing-zero.yaml",
            passwords(&[(1, key(1)), (2, key(2))], good_cred.clone()),
            "fernet-keys/0",
        ),
        (
            "no-keys.yaml",
            "parameter_defaults:\n  AdminPassword: x\n".into(),
            "KeystoneFernetKeys not found",
        ),
        (
            "bad-credential.yaml",
            passwords(&[(0, key(0)), (1, key(1))], Some((key(3), "abc".into()))),
            "KeystoneCredential1",
        ),
        (
            "not-yaml.yaml",
            "parameter_defaults: [\n".into(),
            "not YAML",
        ),
    ];
    for (name, text, needle) in cases {
        let env = Env::new();
        fs::write(env.path(name), &text).unwrap();
        let out = env
            .cmd()
            .args(["adopt", "--from", name, "--workdir"])
            .arg(env.path("w"))
            .run();
        let error = out.expect_bad_input(Path::new(name));
        assert!(error.contains(needle), "{name}: {needle:?} not in {error}");
        assert!(!error.contains(&key(1)), "{name}: key material in {error}");
        assert!(!env.path("w").exists(), "{name}: wrote the work directory");
    }
}

#[test]
fn odd_sources_are_refused_quickly() {
    let env = Env::new();
    // A FIFO would block a plain read forever.
    let fifo = env.path("fifo.yaml");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let started = std::time::Instant::now();
    let out = env
        .cmd()
        .args(["adopt", "--from", "fifo.yaml", "--workdir"])
        .arg(env.path("w"))
        .run();
    out.expect_bad_input(Path::new("fifo.yaml"));
    assert!(out.stderr.contains("not a regular file"), "{}", out.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    // A device never ends.
    let out = env
        .cmd()
        .args(["adopt", "--from", "/dev/zero", "--workdir"])
        .arg(env.path("w"))
        .run();
    out.expect_bad_input(Path::new("/dev/zero"));
    // Nothing found anywhere: exit 2, says where it looked, hints at build for a new cloud.
    let out = env
        .cmd()
        .env("HOME", env.path("home"))
        .env("OS_CLOUD", "")
        .args(["adopt", "--workdir"])
        .arg(env.path("w"))
        .run();
    out.expect_code(2);
    assert!(
        out.stderr.contains("overcloud-passwords.yaml"),
        "{}",
        out.stderr
    );
    assert!(out.expect_hint().contains("overcloud-keys build"));
    assert!(!env.path("w").exists());
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/adopt")
}

fn expected_from(spec: &serde_json::Value) -> std::collections::BTreeMap<String, Vec<u8>> {
    spec.as_object()
        .map(|keys| {
            // `null`: the document does not carry that key.
            keys.iter()
                .filter_map(|(n, k)| Some((n.clone(), k.as_str()?.as_bytes().to_vec())))
                .collect()
        })
        .unwrap_or_default()
}

/// Every document made with tripleo-common / tripleoclient / heatclient's own code (see
/// tests/fixtures/adopt/make_fixtures.py): the keys recorded in keys.json, byte for byte, or
/// exit 2 naming the file for the broken ones.
#[test]
fn fixtures_made_by_tripleo_code() {
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(fixtures().join("keys.json")).unwrap()).unwrap();
    let specs = manifest.as_object().unwrap();
    assert!(specs.len() >= 12, "keys.json lists the fixtures");
    for (name, spec) in specs {
        let file = fixtures().join(name);
        let env = Env::new();
        let out = env
            .cmd()
            .args(["adopt", "-f", "json", "--from"])
            .arg(&file)
            .arg("--workdir")
            .arg(env.path("w"))
            .run();
        if let Some(kind) = spec["expect_error"].as_str() {
            let error = out.expect_bad_input(&file);
            assert!(!env.path("w").exists(), "{name}: wrote the work directory");
            eprintln!("{name} ({kind}): {error}");
            continue;
        }
        out.expect_code(0);
        assert_eq!(
            files(&env.path("w/keys/fernet-keys")),
            expected_from(&spec["fernet_keys"]),
            "{name}: fernet keys"
        );
        assert_eq!(
            files(&env.path("w/keys/credential-keys")),
            expected_from(&spec["credential_keys"]),
            "{name}: credential keys"
        );
    }
}

/// The trap with tripleoclient's own passwords file: the cloud was deployed with a fernet.yaml
/// whose keys the passwords file never held.
#[test]
fn tripleoclient_passwords_file_after_a_deploy_with_fernet_yaml() {
    let cloud = Cloud::deployed();
    cloud.write_passwords(
        &fs::read_to_string(fixtures().join("osp17-overcloud-passwords.yaml")).unwrap(),
    );
    // The work directory holds the deployed keys (those of the fernet.yaml passed to deploy).
    let trap = fixtures().join("osp17-trap-fernet.yaml");
    let from = trap.to_str().unwrap();
    cloud.run(&["adopt", "--from", from]).expect_code(0);
    // That stand-in carries no credential keys: build makes them (the passwords file is
    // there, so only deliberately).
    cloud
        .run(&["build", "--no-jws", "--new-keys"])
        .expect_code(0);
    let before = tree(&cloud.workdir());
    let out = cloud.run(&["adopt", "-f", "json"]);
    out.expect_code(0);
    assert_eq!(out.json()["status"], "workdir-is-deployed");
    assert_same_tree(&before, &tree(&cloud.workdir()), "adopt after deploy");
}

/// OSP 13/16.2 keep the plan (and its passwords) in the undercloud's Swift: without
/// credentials build cannot tell whether the stack is deployed, so it mints nothing.
#[test]
fn osp16_build_without_swift_credentials_mints_nothing() {
    let env = Env::new();
    let out = env
        .cmd()
        .env("HOME", env.path("home"))
        .env("OS_CLOUD", "")
        .args(["build", "--release", "16.2", "--workdir"])
        .arg(env.path("w"))
        .run();
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("cannot tell whether stack overcloud is already deployed"),
        "{}",
        out.stderr
    );
    assert!(out.expect_hint().contains("stackrc"));
    assert!(!env.path("w").exists());
}
