//! `build`, `pack` and `render` through the binary: idempotence, reproducibility, the
//! rotate-then-build contract, extraction as a node does it, and bad input.

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tempfile::TempDir;

use crate::cli_support::{BIN, is_root, mode};
const CONTAINER_ROOT: &str = "var/lib/config-data/puppet-generated/keystone/etc/keystone";

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("HOME", "/nonexistent-home")
        .output()
        .expect("binary runs")
}

fn ok_json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-f", "json"]);
    let out = run(&all);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json output")
}

fn build(workdir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["build", "--workdir", workdir.to_str().unwrap()];
    args.extend(extra);
    ok_json(&args)
}

fn artifact_of(report: &Value) -> PathBuf {
    PathBuf::from(report["artifact"]["path"].as_str().expect("artifact path"))
}

/// Every file under `dir` with its bytes (for byte-for-byte comparisons).
pub(crate) fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

#[test]
fn default_build_creates_everything_with_safe_modes() {
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    let report = build(&wd, &["--delivery", "all-roles"]);
    assert_eq!(report["changed"], true);
    assert_eq!(mode(&wd), 0o700);
    assert_eq!(mode(&wd.join("fernet.yaml")), 0o600);
    for repo in [
        "keys/fernet-keys",
        "keys/credential-keys",
        "keys/jws-keys/private",
        "keys/jws-keys/public",
    ] {
        assert_eq!(mode(&wd.join(repo)), 0o700, "{repo}");
    }
    for key in [
        "keys/fernet-keys/0",
        "keys/fernet-keys/1",
        "keys/credential-keys/1",
        "keys/jws-keys/private/private.pem",
    ] {
        assert_eq!(mode(&wd.join(key)), 0o600, "{key}");
    }
    let artifact = artifact_of(&report);
    assert_eq!(mode(&artifact), 0o600);
    let sha = report["artifact"]["sha256"].as_str().unwrap();
    assert!(
        artifact
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .contains(&sha[..12])
    );
    let sums = fs::read_to_string(format!("{}.sha256", artifact.display())).unwrap();
    assert_eq!(
        sums,
        format!(
            "{sha}  {}\n",
            artifact.file_name().unwrap().to_str().unwrap()
        )
    );
    let args: Vec<&str> = report["deploy_args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        args.iter().filter(|a| **a == "-e").count(),
        2,
        "jws.yaml is not deployed without --jws: {args:?}"
    );
    assert!(args.iter().any(|a| a.ends_with("fernet.yaml")));
    let artifacts_env = fs::read_to_string(wd.join("deployment-artifacts.yaml")).unwrap();
    assert!(artifacts_env.contains(&format!(
        "parameter_defaults:\n  DeployArtifactFILEs:\n  - {}\n",
        artifact.display()
    )));
}

#[test]
fn second_build_changes_nothing() {
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    let first = build(&wd, &[]);
    let before = snapshot(&wd);
    let mtime = fs::metadata(wd.join("fernet.yaml")).unwrap().mtime_nsec();
    let second = build(&wd, &[]);
    assert_eq!(second["changed"], false);
    assert_eq!(first["artifact"]["path"], second["artifact"]["path"]);
    assert_eq!(before, snapshot(&wd));
    assert_eq!(
        mtime,
        fs::metadata(wd.join("fernet.yaml")).unwrap().mtime_nsec()
    );
    let text = run(&["build", "--workdir", wd.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("nothing changed"));
}

#[test]
fn same_keys_give_a_byte_identical_artifact() {
    let tmp = TempDir::new().unwrap();
    let a = tmp.path().join("a");
    let first = build(&a, &[]);
    // A second work directory holding copies of the same keys.
    let b = tmp.path().join("b");
    let copy = Command::new("cp")
        .args(["-a", a.to_str().unwrap(), b.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(copy.success());
    fs::remove_dir_all(b.join("artifacts")).unwrap();
    let second = build(&b, &[]);
    assert_eq!(
        fs::read(artifact_of(&first)).unwrap(),
        fs::read(artifact_of(&second)).unwrap()
    );
    assert_eq!(
        artifact_of(&first).file_name(),
        artifact_of(&second).file_name()
    );
}

fn fernet_keys_param(wd: &Path) -> BTreeMap<String, String> {
    let text = fs::read_to_string(wd.join("fernet.yaml")).unwrap();
    let mut out = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(path) = t.strip_prefix("\"/etc/keystone/fernet-keys/") {
            current = Some(path.trim_end_matches("\":").to_string());
        } else if let (Some(name), Some(content)) = (current.take(), t.strip_prefix("content: ")) {
            out.insert(name, content.trim_matches('"').to_string());
        }
    }
    out
}

#[test]
fn rotate_then_build_renders_exactly_the_rotated_repository() {
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    build(&wd, &[]);
    let repo = wd.join("keys/fernet-keys");
    for _ in 0..3 {
        ok_json(&[
            "fernet",
            "rotate",
            "--key-repository",
            repo.to_str().unwrap(),
            "--max-active-keys",
            "3",
            // Three rotations within seconds break the safe-rotation rule on purpose.
            "--force",
        ]);
    }
    let report = build(&wd, &[]);
    assert_eq!(report["changed"], true);
    let on_disk: BTreeMap<String, String> = fs::read_dir(&repo)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    assert_eq!(on_disk.keys().cloned().collect::<Vec<_>>(), ["0", "3", "4"]);
    assert_eq!(fernet_keys_param(&wd), on_disk);
}

#[test]
fn jws_rotation_phase_changes_the_artifact_name_and_removes_the_old_one() {
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    let first = build(&wd, &["--delivery", "all-roles"]);
    let jws = wd.join("keys/jws-keys");
    ok_json(&[
        "jws",
        "rotate",
        "stage",
        "--private-dir",
        jws.join("private").to_str().unwrap(),
        "--public-dir",
        jws.join("public").to_str().unwrap(),
    ]);
    let second = build(&wd, &["--delivery", "all-roles"]);
    assert_ne!(artifact_of(&first), artifact_of(&second));
    assert!(
        !artifact_of(&first).exists(),
        "superseded artifact (old keys) left behind"
    );
    let env = fs::read_to_string(wd.join("deployment-artifacts.yaml")).unwrap();
    assert!(env.contains(artifact_of(&second).to_str().unwrap()));
    assert!(!env.contains(artifact_of(&first).to_str().unwrap()));
    // The staged private key stays on the undercloud.
    let listing = Command::new("tar")
        .args(["tzf", artifact_of(&second).to_str().unwrap()])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(!listing.contains("staged.pem"), "{listing}");
    assert_eq!(
        listing.matches("jws-keys/public/public").count(),
        2,
        "{listing}"
    );
}

#[test]
fn dry_run_writes_nothing() {
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    build(&wd, &["--dry-run"]);
    assert!(!wd.exists());
    build(&wd, &[]);
    let repo = wd.join("keys/fernet-keys");
    ok_json(&[
        "fernet",
        "rotate",
        "--key-repository",
        repo.to_str().unwrap(),
    ]);
    let before = snapshot(&wd);
    let report = build(&wd, &["--dry-run"]);
    assert_eq!(report["changed"], true);
    assert_eq!(before, snapshot(&wd));
}

/// mode and owner of every path under `root`, keyed by relative path.
fn tree_meta(root: &Path) -> BTreeMap<String, (u32, u32, u32)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = fs::symlink_metadata(&p).unwrap();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        out.insert(rel, (m.mode() & 0o7777, m.uid(), m.gid()));
        if m.is_dir() {
            stack.extend(fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
        }
    }
    out
}

fn fake_node_root(tmp: &Path) -> PathBuf {
    let root = tmp.join("node");
    for (dir, m) in [
        ("", 0o755),
        ("etc", 0o755),
        ("var", 0o755),
        ("var/lib", 0o755),
        ("tmp", 0o1777),
    ] {
        let p = root.join(dir);
        fs::create_dir_all(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(m)).unwrap();
    }
    // What puppet left from an earlier deploy: the config-data tree, owned by root.
    let keystone = root.join(CONTAINER_ROOT);
    fs::create_dir_all(keystone.join("fernet-keys")).unwrap();
    fs::set_permissions(&keystone, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(keystone.join("keystone.conf"), "[DEFAULT]\n").unwrap();
    root
}

#[test]
fn extraction_as_a_node_does_it_touches_only_key_directories() {
    if !is_root() {
        return crate::cli_support::skip(
            "extraction as a node does it",
            "extraction with --same-owner needs root (CI runs as root)",
        );
    }
    let tmp = TempDir::new().unwrap();
    let report = build(&tmp.path().join("wd"), &[]);
    let root = fake_node_root(tmp.path());
    let before = tree_meta(&root);
    // TripleO's artifact script: tar xvz --same-owner --same-permissions -C / as root.
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "tar xvz --same-owner --same-permissions -C {} < {}",
            root.display(),
            artifact_of(&report).display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let after = tree_meta(&root);
    for (path, meta) in &before {
        assert_eq!(after.get(path), Some(meta), "{path} changed mode or owner");
    }
    let jws = format!("{CONTAINER_ROOT}/jws-keys");
    for (path, meta) in &after {
        if before.contains_key(path) {
            continue;
        }
        assert!(
            path.starts_with(&jws),
            "extraction created {path} outside the key directories"
        );
        let expected = if path.ends_with("public.pem") {
            0o644
        } else if path.ends_with(".pem") {
            0o600
        } else {
            0o700
        };
        assert_eq!(*meta, (expected, 42425, 42425), "{path}");
    }
    assert!(after.contains_key(&format!("{jws}/private/private.pem")));
}

#[test]
fn baremetal_layout_carries_fernet_keys_and_stops_puppet_replacing_them() {
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    let report = build(&wd, &["--layout", "baremetal"]);
    let listing = Command::new("tar")
        .args(["tvzf", artifact_of(&report).to_str().unwrap()])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains("etc/keystone/fernet-keys/0"), "{listing}");
    assert!(listing.contains("163/163"), "{listing}");
    assert!(
        !listing
            .lines()
            .any(|l| l.ends_with(" etc/") || l.ends_with(" etc/keystone/")),
        "{listing}"
    );
    let fernet = fs::read_to_string(wd.join("fernet.yaml")).unwrap();
    assert!(
        !fernet.contains("\n  KeystoneFernetKeys:"),
        "fernet keys delivered both ways:\n{fernet}"
    );
    assert!(fernet.contains("ManageKeystoneFernetKeys: false"));
}

#[test]
fn containerized_pack_refuses_fernet_keys() {
    let tmp = TempDir::new().unwrap();
    let repo = tmp.path().join("fernet");
    ok_json(&[
        "fernet",
        "setup",
        "--key-repository",
        repo.to_str().unwrap(),
    ]);
    let out_file = tmp.path().join("out.tar.gz");
    let out = run(&[
        "pack",
        "--output",
        out_file.to_str().unwrap(),
        "--fernet",
        repo.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mixed repository"), "{err}");
    assert!(!out_file.exists());
    let ok = run(&[
        "pack",
        "--layout",
        "baremetal",
        "--output",
        out_file.to_str().unwrap(),
        "--fernet",
        repo.to_str().unwrap(),
    ]);
    assert!(ok.status.success());
    let manifest: Value =
        serde_json::from_slice(&fs::read(format!("{}.manifest.json", out_file.display())).unwrap())
            .unwrap();
    let key0 = fs::read_to_string(repo.join("0")).unwrap();
    assert!(
        !serde_json::to_string(&manifest).unwrap().contains(&key0),
        "manifest leaks key material"
    );
    assert_eq!(manifest["entries"].as_array().unwrap().len(), 3);
}

#[test]
fn a_repository_failing_check_is_never_packed_or_rendered() {
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    build(&wd, &[]);
    let before = snapshot(&wd);
    fs::write(wd.join("keys/fernet-keys/1"), "not-a-key").unwrap();
    let out = run(&["build", "--workdir", wd.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fernet-keys"), "{err}");
    let mut after = snapshot(&wd);
    after.remove(Path::new("keys/fernet-keys/1"));
    let mut expected = before;
    expected.remove(Path::new("keys/fernet-keys/1"));
    assert_eq!(expected, after, "a failed build changed files");
}

fn config_error(toml: &str, needle: &str) {
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    let cfg = tmp.path().join("keys.toml");
    fs::write(&cfg, toml.replace("WD", wd.to_str().unwrap())).unwrap();
    let out = run(&["build", "--config", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{toml}: {err}");
    assert!(
        err.contains(needle) && err.contains("keys.toml"),
        "{toml}: {err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert!(!wd.exists(), "{toml}: something was written");
}

#[test]
fn bad_config_files_are_refused_before_anything_is_written() {
    config_error("workdir = \"WD\"\nunknown_key = 1\n", "unknown_key");
    config_error(
        "workdir = \"WD\"\nmax_active_keys = \"five\"\n",
        "max_active_keys",
    );
    config_error("workdir = \"relative\"\n", "workdir");
    config_error("workdir = \"WD\"\nlayout = \"kubernetes\"\n", "kubernetes");
    config_error("workdir = \"WD\"\nmax_active_keys = 1\n", "max_active_keys");
    config_error("workdir = \"WD\"\nroles = [\"compute\"]\n", "roles");
}

#[test]
fn config_file_sets_what_flags_set() {
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    let cfg = tmp.path().join("keys.toml");
    fs::write(&cfg, format!("workdir = \"{}\"\nstack = \"prod\"\njws = \"enable\"\nmax_active_keys = 7\nroles = [\"Controller\", \"KeystoneApi\"]\n", wd.display())).unwrap();
    let report = ok_json(&["build", "--config", cfg.to_str().unwrap()]);
    assert!(
        artifact_of(&report)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("overcloud-keys-prod-")
    );
    let jws = fs::read_to_string(wd.join("jws.yaml")).unwrap();
    assert!(jws.contains("KeystoneApiExtraConfig:"));
    assert!(
        report["deploy_args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().ends_with("jws.yaml"))
    );
    assert!(
        fs::read_to_string(wd.join("fernet.yaml"))
            .unwrap()
            .contains("KeystoneFernetMaxActiveKeys: 7")
    );
}

#[test]
fn unwritable_workdir_is_a_clear_error() {
    let tmp = TempDir::new().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, "x").unwrap();
    let out = run(&["build", "--workdir", file.join("wd").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(file.to_str().unwrap()), "{err}");
    assert_eq!(fs::read(&file).unwrap(), b"x");
}

fn rotate_json(repo: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "fernet",
        "rotate",
        "--key-repository",
        repo.to_str().unwrap(),
        // Rotations seconds apart break the safe-rotation rule on purpose.
        "--force",
    ];
    args.extend(extra);
    ok_json(&args)
}

fn keys_in(repo: &Path) -> Vec<u64> {
    let mut keys: Vec<u64> = fs::read_dir(repo)
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    keys.sort();
    keys
}

#[test]
fn rotate_in_a_work_directory_keeps_the_max_active_keys_build_deployed() {
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    build(&wd, &["--max-active-keys", "4"]);
    let record: Value = serde_json::from_slice(&fs::read(wd.join("build.json")).unwrap()).unwrap();
    assert_eq!(record["max_active_keys"], 4);
    let repo = wd.join("keys/fernet-keys");
    let mut last = Value::Null;
    for _ in 0..3 {
        last = rotate_json(&repo, &[]);
    }
    // keystone's 3 would have pruned key 2 as well.
    assert_eq!(keys_in(&repo), [0, 2, 3, 4]);
    assert_eq!(last["max_active_keys"]["value"], 4);
    assert_eq!(last["max_active_keys"]["source"]["from"], "build-record");
    let out = run(&[
        "fernet",
        "rotate",
        "--key-repository",
        repo.to_str().unwrap(),
        "--force",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("max_active_keys 4: ") && text.contains("build.json"),
        "{text}"
    );
    // The flag still wins.
    let flagged = rotate_json(&repo, &["--max-active-keys", "3"]);
    assert_eq!(flagged["max_active_keys"]["source"]["from"], "flag");
    assert_eq!(keys_in(&repo), [0, 5, 6]);
    // A receipt repository of the same work directory follows the same setting.
    let receipts = wd.join("keys/fernet-receipts");
    ok_json(&[
        "receipt",
        "setup",
        "--key-repository",
        receipts.to_str().unwrap(),
    ]);
    let receipt = ok_json(&[
        "receipt",
        "rotate",
        "--key-repository",
        receipts.to_str().unwrap(),
    ]);
    assert_eq!(receipt["max_active_keys"]["value"], 4);
}

#[test]
fn rotate_outside_a_work_directory_uses_keystones_3_and_older_work_directories_their_fernet_yaml() {
    let tmp = TempDir::new().unwrap();
    let repo = tmp.path().join("elsewhere/fernet-keys");
    ok_json(&[
        "fernet",
        "setup",
        "--key-repository",
        repo.to_str().unwrap(),
    ]);
    for _ in 0..3 {
        let report = rotate_json(&repo, &[]);
        assert_eq!(report["max_active_keys"]["value"], 3);
        assert_eq!(
            report["max_active_keys"]["source"]["from"],
            "keystone-default"
        );
    }
    assert_eq!(keys_in(&repo), [0, 3, 4]);
    let text = String::from_utf8_lossy(
        &run(&[
            "fernet",
            "rotate",
            "--key-repository",
            repo.to_str().unwrap(),
            "--force",
        ])
        .stdout,
    )
    .into_owned();
    assert!(
        text.contains("max_active_keys 3: keystone's default"),
        "{text}"
    );

    // A work directory built before build.json existed: fernet.yaml says what was deployed.
    let wd = tmp.path().join("wd");
    build(&wd, &["--max-active-keys", "6"]);
    fs::remove_file(wd.join("build.json")).unwrap();
    let report = rotate_json(&wd.join("keys/fernet-keys"), &[]);
    assert_eq!(report["max_active_keys"]["value"], 6);
    assert_eq!(report["max_active_keys"]["source"]["from"], "rendered");
    // A broken record is an error naming it, and nothing is rotated.
    fs::write(wd.join("build.json"), "{").unwrap();
    let before = keys_in(&wd.join("keys/fernet-keys"));
    let out = run(&[
        "fernet",
        "rotate",
        "--key-repository",
        wd.join("keys/fernet-keys").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("build.json") && err.contains("hint:"), "{err}");
    assert_eq!(before, keys_in(&wd.join("keys/fernet-keys")));
}

/// A first build packs keys it generated in memory while planning, before any was written:
/// the tarball must be byte for byte the one `pack` makes from the repositories it then
/// wrote (Fernet, separate receipts and the JWS pair, baremetal layout).
#[test]
fn first_build_packs_what_it_writes() {
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    let cfg = tmp.path().join("separate.toml");
    fs::write(&cfg, "separate_receipts = true\n").unwrap();
    let report = build(
        &wd,
        &[
            "--layout",
            "baremetal",
            "--jws",
            "--config",
            cfg.to_str().unwrap(),
        ],
    );
    let kinds: Vec<&str> = report["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created"; 4], "{report}");
    let built = fs::read(artifact_of(&report)).unwrap();
    let out_file = tmp.path().join("from-disk.tar.gz");
    let keys = wd.join("keys");
    let path = |sub: &str| keys.join(sub).to_str().unwrap().to_string();
    ok_json(&[
        "pack",
        "--layout",
        "baremetal",
        "--output",
        out_file.to_str().unwrap(),
        "--fernet",
        &path("fernet-keys"),
        "--receipt",
        &path("fernet-receipts"),
        "--jws-private",
        &path("jws-keys/private"),
        "--jws-public",
        &path("jws-keys/public"),
    ]);
    assert!(
        built == fs::read(&out_file).unwrap(),
        "build's in-memory tarball differs from pack's"
    );
}

/// Two stacks whose names share a prefix may share an artifact directory: a build removes
/// only its own superseded artifacts, never the other stack's (which its deployment still
/// references).
#[test]
fn a_build_never_removes_another_stacks_artifacts() {
    let tmp = TempDir::new().unwrap();
    let shared = tmp.path().join("artifacts");
    let dir = shared.to_str().unwrap();
    let other = build(
        &tmp.path().join("wd-2"),
        &["--stack", "overcloud-2", "--artifact-dir", dir],
    );
    let other_files: Vec<PathBuf> = {
        let tarball = artifact_of(&other);
        vec![
            PathBuf::from(format!("{}.sha256", tarball.display())),
            PathBuf::from(format!("{}.manifest.json", tarball.display())),
            tarball,
        ]
    };
    // An older artifact of stack overcloud itself: superseded, so removed.
    let older = shared.join("overcloud-keys-overcloud-000000000000.tar.gz");
    fs::copy(&other_files[2], &older).unwrap();
    let report = build(
        &tmp.path().join("wd"),
        &["--stack", "overcloud", "--artifact-dir", dir],
    );
    assert_eq!(
        report["artifact"]["removed"],
        serde_json::json!([older.to_str().unwrap()]),
        "{report}"
    );
    assert!(!older.exists());
    for f in &other_files {
        assert!(
            f.exists(),
            "{} removed by stack overcloud's build",
            f.display()
        );
    }
}
