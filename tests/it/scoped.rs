//! Role-scoped delivery: the rendered files, and the node-side script run for real as root
//! against a fake node root (good tarball, tampered tarball, wrong checksum, foreign entry).

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use serde_json::Value;
use tempfile::TempDir;

use crate::cli_support::{BIN, is_root};
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/templates/deliver-keys.sh");
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("binary runs")
}

fn build(workdir: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "build",
        "--workdir",
        workdir.to_str().unwrap(),
        "-f",
        "json",
    ];
    args.extend(extra);
    let out = run(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The scoped environment's parameter_defaults.
pub(crate) fn scoped_inputs(workdir: &Path) -> BTreeMap<String, String> {
    let text = fs::read_to_string(workdir.join("keystone-keys-scoped.yaml")).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    doc["parameter_defaults"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_string(),
                v.as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn deliver(root: &Path, inputs: &BTreeMap<String, String>, b64: &str) -> Output {
    Command::new("sh")
        .arg(SCRIPT)
        .env("OVERCLOUD_KEYS_ROOT", root)
        .env("artifact_b64", b64)
        .env("artifact_url", "")
        .env("artifact_sha256", &inputs["OvercloudKeysArtifactSha256"])
        .env("layout_root", &inputs["OvercloudKeysLayoutRoot"])
        .env("key_dirs", &inputs["OvercloudKeysKeyDirs"])
        .output()
        .unwrap()
}

/// Every path under `dir` with (mode, uid, gid, content).
fn tree(dir: &Path) -> BTreeMap<PathBuf, (u32, u32, u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = fs::symlink_metadata(&p).unwrap();
        let content = if m.is_file() {
            fs::read(&p).unwrap()
        } else {
            vec![]
        };
        out.insert(
            p.strip_prefix(dir).unwrap().to_path_buf(),
            (m.mode() & 0o7777, m.uid(), m.gid(), content),
        );
        if m.is_dir() {
            stack.extend(fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
        }
    }
    out
}

struct Node {
    _tmp: TempDir,
    workdir: PathBuf,
    root: PathBuf,
    inputs: BTreeMap<String, String>,
}

fn node() -> Node {
    let tmp = TempDir::new().unwrap();
    let workdir = tmp.path().join("wd");
    build(&workdir, &[]);
    let inputs = scoped_inputs(&workdir);
    let root = tmp.path().join("node");
    // Old keys from an earlier deploy, including a public key retired since.
    let jws = root.join(&inputs["OvercloudKeysKeyDirs"]);
    fs::create_dir_all(jws.join("public")).unwrap();
    fs::write(jws.join("public/retired.pem"), "old").unwrap();
    fs::write(
        root.join(&inputs["OvercloudKeysLayoutRoot"])
            .join("keystone.conf"),
        "[DEFAULT]\n",
    )
    .unwrap();
    Node {
        _tmp: tmp,
        workdir,
        root,
        inputs,
    }
}

#[test]
fn good_tarball_lands_with_modes_and_owners_and_replaces_the_key_directory() {
    if !is_root() {
        return crate::cli_support::skip(
            "good tarball lands with modes and owners",
            "needs root to extract numeric owners (CI runs as root)",
        );
    }
    let n = node();
    let out = deliver(&n.root, &n.inputs, &n.inputs["OvercloudKeysArtifactBase64"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let jws = n.root.join(&n.inputs["OvercloudKeysKeyDirs"]);
    let meta = |p: &str| {
        let m = fs::metadata(jws.join(p)).unwrap();
        (m.permissions().mode() & 0o7777, m.uid(), m.gid())
    };
    assert_eq!(meta("."), (0o700, 42425, 42425));
    assert_eq!(meta("private"), (0o700, 42425, 42425));
    assert_eq!(meta("private/private.pem"), (0o600, 42425, 42425));
    assert_eq!(meta("public/public.pem"), (0o644, 42425, 42425));
    assert_eq!(
        fs::read(jws.join("private/private.pem")).unwrap(),
        fs::read(n.workdir.join("keys/jws-keys/private/private.pem")).unwrap()
    );
    assert!(
        !jws.join("public/retired.pem").exists(),
        "a key removed from the tarball stayed on the node"
    );
    assert!(
        n.root
            .join(&n.inputs["OvercloudKeysLayoutRoot"])
            .join("keystone.conf")
            .exists()
    );
    let leftovers: Vec<_> = fs::read_dir(n.root.join(&n.inputs["OvercloudKeysLayoutRoot"]))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("overcloud-keys"))
        .collect();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
}

fn assert_refused(n: &Node, b64: &str, sha: Option<&str>, needle: &str) {
    let before = tree(&n.root);
    let mut inputs = n.inputs.clone();
    if let Some(sha) = sha {
        inputs.insert("OvercloudKeysArtifactSha256".into(), sha.into());
    }
    let out = deliver(&n.root, &inputs, b64);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted: {err}");
    assert!(
        err.contains(needle) && err.contains("previous keys were left in place"),
        "{err}"
    );
    assert_eq!(
        before,
        tree(&n.root),
        "the node changed although delivery failed"
    );
}

#[test]
fn tampered_tarball_is_refused_and_old_keys_stay() {
    let n = node();
    let mut bytes = B64
        .decode(&n.inputs["OvercloudKeysArtifactBase64"])
        .unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0x01;
    assert_refused(&n, &B64.encode(&bytes), None, "checksum mismatch");
}

#[test]
fn wrong_checksum_is_refused_and_old_keys_stay() {
    let n = node();
    let b64 = n.inputs["OvercloudKeysArtifactBase64"].clone();
    assert_refused(&n, &b64, Some(&"0".repeat(64)), "checksum mismatch");
}

#[test]
fn entry_outside_the_key_directories_is_refused() {
    let n = node();
    let tmp = TempDir::new().unwrap();
    fs::create_dir_all(tmp.path().join("etc")).unwrap();
    fs::write(tmp.path().join("etc/passwd"), "x").unwrap();
    let tarball = tmp.path().join("evil.tar.gz");
    assert!(
        Command::new("tar")
            .args([
                "czf",
                tarball.to_str().unwrap(),
                "-C",
                tmp.path().to_str().unwrap(),
                "etc/passwd"
            ])
            .status()
            .unwrap()
            .success()
    );
    let bytes = fs::read(&tarball).unwrap();
    let sha: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert_refused(
        &n,
        &B64.encode(&bytes),
        Some(&sha),
        "outside the key directories",
    );
}

fn ensure_shellcheck() -> bool {
    if Command::new("shellcheck").arg("--version").output().is_ok() {
        return true;
    }
    if is_root() {
        let _ = Command::new("apt-get").args(["-qq", "update"]).status();
        let _ = Command::new("apt-get")
            .args(["-y", "-qq", "install", "shellcheck"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
    }
    Command::new("shellcheck").arg("--version").output().is_ok()
}

#[test]
fn node_script_is_shellcheck_clean() {
    assert!(
        ensure_shellcheck(),
        "shellcheck is needed (apt-get install shellcheck)"
    );
    let out = Command::new("shellcheck")
        .args(["-s", "sh", SCRIPT])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn scoped_is_the_default_and_all_roles_stays_available() {
    let tmp = TempDir::new().unwrap();
    let scoped = build(&tmp.path().join("a"), &[]);
    assert_eq!(scoped["delivery"], "scoped");
    let args: Vec<&str> = scoped["deploy_args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        args.iter()
            .any(|a| a.ends_with("keystone-keys-scoped.yaml")),
        "{args:?}"
    );
    assert!(
        !args
            .iter()
            .any(|a| a.ends_with("deployment-artifacts.yaml")),
        "{args:?}"
    );
    let jws = scoped["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["secret"].as_str().unwrap().contains("JWS"))
        .unwrap();
    assert_eq!(jws["roles"], "Controller only");
    assert_eq!(
        fs::metadata(tmp.path().join("a/keystone-keys-scoped.yaml"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let all = run(&[
        "build",
        "--workdir",
        tmp.path().join("b").to_str().unwrap(),
        "--delivery",
        "all-roles",
        "-f",
        "json",
    ]);
    let warn = String::from_utf8_lossy(&all.stderr);
    assert!(
        warn.contains("every node of every role") && warn.contains("JWS private"),
        "{warn}"
    );
    let report: Value = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(report["delivery"], "all-roles");
}

#[test]
fn an_existing_extraconfigpre_mapping_is_chained_not_replaced() {
    let tmp = TempDir::new().unwrap();
    let theirs = tmp.path().join("my-pre.yaml");
    fs::write(
        &theirs,
        "heat_template_version: wallaby\nparameters:\n  server:\n    type: string\n",
    )
    .unwrap();
    let env = tmp.path().join("my-env.yaml");
    fs::write(
        &env,
        "resource_registry:\n  OS::TripleO::ControllerExtraConfigPre: ./my-pre.yaml\n",
    )
    .unwrap();
    let wd = tmp.path().join("wd");
    let out = run(&[
        "build",
        "--workdir",
        wd.to_str().unwrap(),
        "--check-env",
        env.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("chaining template"));
    let scoped = fs::read_to_string(wd.join("keystone-keys-scoped.yaml")).unwrap();
    let chain = wd.join("keystone-keys-pre-chain-Controller.yaml");
    assert!(scoped.contains(chain.to_str().unwrap()), "{scoped}");
    let chain_text = fs::read_to_string(&chain).unwrap();
    assert!(
        chain_text.contains(theirs.to_str().unwrap()),
        "{chain_text}"
    );
    assert!(chain_text.contains(wd.join("keystone-keys-pre.yaml").to_str().unwrap()));
}

#[test]
fn unknown_role_in_roles_data_is_refused_before_writing() {
    let tmp = TempDir::new().unwrap();
    let roles = tmp.path().join("roles_data.yaml");
    fs::write(&roles, "- name: Controller\n- name: Compute\n").unwrap();
    let wd = tmp.path().join("wd");
    let out = run(&[
        "build",
        "--workdir",
        wd.to_str().unwrap(),
        "--roles-data",
        roles.to_str().unwrap(),
        "--role",
        "Keystone",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Keystone") && err.contains("Controller, Compute") && err.contains("hint:"),
        "{err}"
    );
    assert!(!wd.exists());
}

#[test]
fn render_scoped_from_a_packed_tarball() {
    let tmp = TempDir::new().unwrap();
    let jws = tmp.path().join("jws");
    let (private, public) = (jws.join("private"), jws.join("public"));
    let created = run(&[
        "jws",
        "create",
        "--private-dir",
        private.to_str().unwrap(),
        "--public-dir",
        public.to_str().unwrap(),
    ]);
    assert!(created.status.success());
    let tarball = tmp.path().join("keys.tar.gz");
    let packed = run(&[
        "pack",
        "--output",
        tarball.to_str().unwrap(),
        "--jws-private",
        private.to_str().unwrap(),
        "--jws-public",
        public.to_str().unwrap(),
        "-f",
        "json",
    ]);
    assert!(
        packed.status.success(),
        "{}",
        String::from_utf8_lossy(&packed.stderr)
    );
    let sha = serde_json::from_slice::<Value>(&packed.stdout).unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let out_dir = tmp.path().join("env");
    let rendered = run(&[
        "render",
        "--output-dir",
        out_dir.to_str().unwrap(),
        "--tarball",
        tarball.to_str().unwrap(),
    ]);
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let inputs = scoped_inputs(&out_dir);
    assert_eq!(inputs["OvercloudKeysArtifactSha256"], sha);
    assert_eq!(
        inputs["OvercloudKeysKeyDirs"],
        "var/lib/config-data/puppet-generated/keystone/etc/keystone/jws-keys"
    );
    assert_eq!(
        B64.decode(&inputs["OvercloudKeysArtifactBase64"]).unwrap(),
        fs::read(&tarball).unwrap()
    );
    assert!(out_dir.join("keystone-keys-pre.yaml").exists());
    // Packed for the containerized layout, rendered for baremetal: refused.
    let wrong = run(&[
        "render",
        "--output-dir",
        tmp.path().join("w").to_str().unwrap(),
        "--tarball",
        tarball.to_str().unwrap(),
        "--layout",
        "baremetal",
    ]);
    assert_eq!(wrong.status.code(), Some(2));
    // Scoped delivery without the tarball: refused, nothing written.
    let none = tmp.path().join("none");
    let refused = run(&[
        "render",
        "--output-dir",
        none.to_str().unwrap(),
        "--artifact-file",
        "/var/lib/x.tar.gz",
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--tarball"));
    assert!(!none.join("deployment-artifacts.yaml").exists());
    let all = run(&[
        "render",
        "--output-dir",
        none.to_str().unwrap(),
        "--artifact-file",
        "/var/lib/x.tar.gz",
        "--delivery",
        "all-roles",
    ]);
    assert!(all.status.success());
    assert!(
        fs::read_to_string(none.join("deployment-artifacts.yaml"))
            .unwrap()
            .contains("  - /var/lib/x.tar.gz\n")
    );
}
