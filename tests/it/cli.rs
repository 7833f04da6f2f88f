//! Behaviour of the `overcloud-keys` binary on key repositories: setup, rotate, ownership,
//! credential rules, JWS phases, `repo check` findings, and bad input (exit 2, one error line
//! naming the path, a hint, nothing changed).

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use crate::cli_support;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use sha2::{Digest, Sha256};

use cli_support::{
    Cmd, Env, Out, Tmpfs, as_nobody, assert_same_tree, chmod, files, is_root, key_numbers, mode,
    names, skip, tree,
};

// ---------------------------------------------------------------- helpers

/// Runs `<kind> <op> --key-repository REPO EXTRA...`.
fn repo_cmd(env: &Env, kind: &str, op: &str, repo: &Path, extra: &[&str]) -> Out {
    env.cmd()
        .args([kind, op, "--key-repository"])
        .arg(repo)
        .args(extra)
        .run()
}

fn fernet(env: &Env, op: &str, repo: &Path, extra: &[&str]) -> Out {
    repo_cmd(env, "fernet", op, repo, extra)
}

fn credential(env: &Env, op: &str, repo: &Path, extra: &[&str]) -> Out {
    repo_cmd(env, "credential", op, repo, extra)
}

/// A Fernet repository made by `fernet setup` at `rel`.
fn fernet_repo(env: &Env, rel: &str) -> PathBuf {
    let repo = env.path(rel);
    fernet(env, "setup", &repo, &[]).expect_code(0);
    repo
}

/// Rotates `times` times (each must succeed) and returns the key numbers after each.
/// `--force`: back-to-back rotations break the safe-rotation rule on purpose here (the
/// guard itself is tested in tests/plan.rs).
fn rotations(env: &Env, kind: &str, repo: &Path, times: usize, extra: &[&str]) -> Vec<Vec<u64>> {
    let mut args = extra.to_vec();
    args.push("--force");
    (0..times)
        .map(|_| {
            repo_cmd(env, kind, "rotate", repo, &args).expect_code(0);
            key_numbers(repo)
        })
        .collect()
}

/// Deterministic 32 key bytes (never all zero), distinct per seed.
fn key_bytes(seed: u8) -> [u8; 32] {
    std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 7 + 1))
}

/// A valid key file content for `seed`.
fn key_text(seed: u8) -> String {
    URL_SAFE.encode(key_bytes(seed))
}

/// Writes a numbered repository (dir 0700, files 0600) holding exactly `entries`.
fn write_repo(dir: &Path, entries: &[(&str, &[u8])]) {
    fs::create_dir_all(dir).expect("create repo");
    chmod(dir, 0o700);
    for (name, content) in entries {
        let path = dir.join(name);
        fs::write(&path, content).expect("write key");
        chmod(&path, 0o600);
    }
}

/// A valid repository with keys 0, 1 and 2, written directly (no binary involved).
fn valid_repo(env: &Env, rel: &str) -> PathBuf {
    let dir = env.path(rel);
    let (k0, k1, k2) = (key_text(10), key_text(11), key_text(12));
    write_repo(
        &dir,
        &[
            ("0", k0.as_bytes()),
            ("1", k1.as_bytes()),
            ("2", k2.as_bytes()),
        ],
    );
    dir
}

/// Runs `jws ARGS --private-dir BASE/private --public-dir BASE/public`.
fn jws(env: &Env, base: &Path, args: &[&str]) -> Out {
    env.cmd()
        .arg("jws")
        .args(args)
        .arg("--private-dir")
        .arg(base.join("private"))
        .arg("--public-dir")
        .arg(base.join("public"))
        .run()
}

/// A JWS key pair made by `jws create` under `rel` (`rel/private`, `rel/public`).
fn jws_pair(env: &Env, rel: &str) -> PathBuf {
    let base = env.path(rel);
    jws(env, &base, &["create"]).expect_code(0);
    base
}

/// DER inside a PEM document.
fn pem_der(pem: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(pem.to_vec()).expect("PEM is text");
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("PEM body is base64")
}

/// The uncompressed P-256 point of a PKCS#8 private key, derived with ring.
fn public_point_of_private(pem: &[u8]) -> Vec<u8> {
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    let pair = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &pem_der(pem),
        &ring::rand::SystemRandom::new(),
    )
    .expect("private key is ES256 PKCS#8");
    pair.public_key().as_ref().to_vec()
}

/// The uncompressed point at the end of a SubjectPublicKeyInfo PEM.
fn public_point(pem: &[u8]) -> Vec<u8> {
    let der = pem_der(pem);
    der[der.len() - 65..].to_vec()
}

/// Every piece of key material under `paths`: key files' text, PEM body lines, raw key hex.
fn secrets_under(paths: &[&Path]) -> Vec<String> {
    let mut out = Vec::new();
    for path in paths {
        for node in tree(path).into_values() {
            let Some(content) = node.content else {
                continue;
            };
            let text = String::from_utf8_lossy(&content).to_string();
            for line in text.lines().filter(|l| !l.starts_with("-----")) {
                let line = line.trim();
                if line.len() >= 16 {
                    out.push(line.to_string());
                    out.push(line[..16].to_string());
                }
            }
            if let Ok(raw) = URL_SAFE.decode(text.trim())
                && raw.len() >= 8
            {
                out.push(raw.iter().map(|b| format!("{b:02x}")).collect());
            }
        }
    }
    out
}

/// Asserts that none of `outs` prints key material found under `paths`.
fn assert_no_key_material(outs: &[&Out], paths: &[&Path]) {
    for secret in secrets_under(paths) {
        for out in outs {
            assert!(
                !out.all().contains(&secret),
                "`overcloud-keys {}` printed key material {secret:?}",
                out.args
            );
        }
    }
}

/// Runs `repo check DIRS EXTRA` in table and JSON format through `base`.
fn repo_check(base: &Cmd, dirs: &[&Path], extra: &[&str]) -> (Out, Out) {
    let run = |format: &str| {
        base.clone()
            .args(["-f", format, "repo", "check"])
            .args(dirs)
            .args(extra)
            .run()
    };
    let (table, json) = (run("table"), run("json"));
    assert_no_key_material(&[&table, &json], dirs);
    (table, json)
}

/// Every finding of a JSON `repo check` report.
fn json_findings(json: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut out: Vec<serde_json::Value> = json["repositories"]
        .as_array()
        .expect("repositories")
        .iter()
        .flat_map(|r| r["findings"].as_array().cloned().unwrap_or_default())
        .collect();
    out.extend(
        json["sync_findings"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    );
    out
}

/// Asserts `repo check` reports `code` with `severity` about `at`: exit 1, the code and
/// path in the JSON, a table line naming code and path with a "fix:" part, no key material.
fn expect_finding_as(
    base: &Cmd,
    dirs: &[&Path],
    extra: &[&str],
    code: &str,
    severity: &str,
    at: &Path,
) {
    let (table, json) = repo_check(base, dirs, extra);
    table.expect_code(1);
    json.expect_code(1);
    let at_text = at.display().to_string();
    let found = json_findings(&json.json())
        .into_iter()
        .any(|f| f["code"] == code && f["severity"] == severity && f["path"] == at_text.as_str());
    assert!(
        found,
        "no {severity} {code} about {at_text} in:\n{}",
        json.stdout
    );
    let label = severity.to_uppercase();
    let line = table
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("{label} {code} {at_text}")))
        .unwrap_or_else(|| panic!("no table line for {code} {at_text}:\n{}", table.stdout));
    assert!(line.contains("(fix: "), "no fix in {line:?}");
}

fn expect_finding(env: &Env, dirs: &[&Path], extra: &[&str], code: &str, at: &Path) {
    expect_finding_as(&env.cmd(), dirs, extra, code, "error", at);
}

/// Writes a valid repository plus one extra entry `name` with `content`, and expects `code`
/// about that entry.
fn expect_entry_finding(name: &str, content: &[u8], code: &str) {
    let env = Env::new();
    let repo = valid_repo(&env, "fk");
    write_repo(&repo, &[(name, content)]);
    expect_finding(&env, &[&repo], &[], code, &repo.join(name));
}

/// Asserts every entry of `root` (itself included) is owned by uid:gid.
fn assert_owned_by(root: &Path, uid: u32, gid: u32) {
    let snapshot = tree(root);
    assert!(snapshot.len() > 1, "nothing under {}", root.display());
    for (rel, node) in snapshot {
        assert_eq!(
            (node.uid, node.gid),
            (uid, gid),
            "{} is owned by {}:{}",
            root.join(rel).display(),
            node.uid,
            node.gid
        );
    }
}

const KEYSTONE_ID: u32 = 42425;

// ---------------------------------------------------------------- fernet setup / rotate

#[test]
fn fernet_setup_creates_staged_and_primary_keys() {
    let env = Env::new();
    let repo = fernet_repo(&env, "fk");
    let keys = files(&repo);
    assert_eq!(keys.keys().collect::<Vec<_>>(), ["0", "1"]);
    for (name, content) in &keys {
        assert_eq!(content.len(), 44, "key {name} length");
        assert!(
            content
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(b)),
            "key {name} is not URL-safe base64: {:?}",
            String::from_utf8_lossy(content)
        );
        assert!(!content.ends_with(b"\n"), "key {name} ends with a newline");
        assert_eq!(URL_SAFE.decode(content).expect("decodes").len(), 32);
    }
    assert_ne!(keys["0"], keys["1"], "staged and primary keys are equal");
}

#[test]
fn fernet_setup_modes_and_missing_parents() {
    let env = Env::new();
    let repo = fernet_repo(&env, "work/nested/deeper/fernet-keys");
    assert_eq!(mode(&repo), 0o700, "repository directory mode");
    for name in ["0", "1"] {
        assert_eq!(mode(&repo.join(name)), 0o600, "key {name} mode");
    }
    for parent in ["work", "work/nested", "work/nested/deeper"] {
        let path = env.path(parent);
        assert!(path.is_dir(), "{parent} not created");
        assert_eq!(mode(&path) & 0o077, 0, "{parent} is open to others");
    }
}

#[test]
fn fernet_setup_twice_changes_nothing() {
    let env = Env::new();
    let repo = fernet_repo(&env, "fk");
    let before = tree(env.root());
    let out = fernet(&env, "setup", &repo, &[]);
    out.expect_code(0);
    assert!(out.stdout.contains("nothing changed"), "{}", out.stdout);
    assert_same_tree(&before, &tree(env.root()), "second setup");
}

#[test]
fn fernet_setup_force_replaces_keys_and_warns() {
    let env = Env::new();
    let repo = fernet_repo(&env, "fk");
    let before = files(&repo);
    let out = fernet(&env, "setup", &repo, &["--force"]);
    out.expect_code(0);
    assert!(
        out.stderr.contains("WARNING"),
        "no warning on stderr: {}",
        out.stderr
    );
    let after = files(&repo);
    assert_eq!(after.keys().collect::<Vec<_>>(), ["0", "1"]);
    for old in before.values() {
        assert!(
            !after.values().any(|new| new == old),
            "an old key survived --force"
        );
    }
    // Different fingerprints as `repo check` reports them, too.
    let (_, json) = repo_check(&env.cmd(), &[&repo], &[]);
    let fresh: Vec<String> = json.json()["repositories"][0]["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["fingerprint"].as_str().expect("fingerprint").to_string())
        .collect();
    assert_eq!(fresh.len(), 2);
    for old in before.values() {
        let old_fp = hex_sha256(&URL_SAFE.decode(old).expect("old key"));
        assert!(
            !fresh.contains(&old_fp),
            "fingerprint {old_fp} survived --force"
        );
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn fernet_rotate_sequence_with_default_max_active_keys() {
    let env = Env::new();
    let repo = fernet_repo(&env, "fk");
    assert_eq!(key_numbers(&repo), [0, 1]);
    assert_eq!(
        rotations(&env, "fernet", &repo, 3, &[]),
        [vec![0, 1, 2], vec![0, 2, 3], vec![0, 3, 4]]
    );
}

#[test]
fn fernet_rotate_sequence_with_max_active_keys_5() {
    let env = Env::new();
    let repo = fernet_repo(&env, "fk");
    assert_eq!(
        rotations(&env, "fernet", &repo, 5, &["--max-active-keys", "5"]),
        [
            vec![0, 1, 2],
            vec![0, 1, 2, 3],
            vec![0, 1, 2, 3, 4],
            vec![0, 2, 3, 4, 5],
            vec![0, 3, 4, 5, 6],
        ]
    );
}

#[test]
fn fernet_rotate_promotes_the_staged_key_bytes() {
    let env = Env::new();
    let repo = fernet_repo(&env, "fk");
    let before = files(&repo);
    fernet(&env, "rotate", &repo, &[]).expect_code(0);
    let after = files(&repo);
    assert_eq!(
        after["2"], before["0"],
        "staged key did not become primary 2"
    );
    assert_eq!(after["1"], before["1"], "secondary key changed");
    assert!(
        !before.values().any(|old| *old == after["0"]),
        "new staged key reuses an old key"
    );
    assert_eq!(mode(&repo.join("2")), 0o600);
    assert_eq!(mode(&repo), 0o700);
}

#[test]
fn fernet_rotate_rejects_max_active_keys_1() {
    let env = Env::new();
    let repo = fernet_repo(&env, "fk");
    let before = tree(env.root());
    let out = fernet(&env, "rotate", &repo, &["--max-active-keys", "1"]);
    out.expect_code(2);
    assert!(out.stderr.contains("--max-active-keys"), "{}", out.stderr);
    assert_same_tree(&before, &tree(env.root()), "rejected rotate");
}

#[test]
fn fernet_setup_rejects_max_active_keys_1() {
    let env = Env::new();
    let repo = env.path("fk");
    fernet(&env, "setup", &repo, &["--max-active-keys", "1"]).expect_code(2);
    assert!(!repo.exists(), "setup wrote keys despite the bad value");
}

#[test]
fn fernet_rotate_json_reports_primary_and_keys() {
    let env = Env::new();
    let repo = fernet_repo(&env, "fk");
    let out = env
        .cmd()
        .args(["-f", "json", "fernet", "rotate", "--key-repository"])
        .arg(&repo)
        .run();
    out.expect_code(0);
    let json = out.json();
    assert_eq!(json["primary"], 2);
    assert_eq!(json["keys"], serde_json::json!([0, 1, 2]));
    assert_no_key_material(&[&out], &[&repo]);
}

#[test]
fn receipt_setup_and_rotate_follow_fernet_rules() {
    let env = Env::new();
    let repo = env.path("receipt-keys");
    repo_cmd(&env, "receipt", "setup", &repo, &[]).expect_code(0);
    assert_eq!(key_numbers(&repo), [0, 1]);
    assert_eq!(
        rotations(&env, "receipt", &repo, 3, &[]),
        [vec![0, 1, 2], vec![0, 2, 3], vec![0, 3, 4]]
    );
    let again = repo_cmd(&env, "receipt", "setup", &repo, &[]);
    again.expect_code(0);
    assert!(again.stdout.contains("nothing changed"));
}

// ---------------------------------------------------------------- ownership

#[test]
fn keystone_user_and_group_ids_chown_every_file_and_the_directory() {
    if !is_root() {
        return skip("chown test", "needs root (chown to 42425)");
    }
    let env = Env::new();
    let repo = env.path("fk");
    let owner = ["--keystone-user", "42425", "--keystone-group", "42425"];
    fernet(&env, "setup", &repo, &owner).expect_code(0);
    assert_owned_by(&repo, KEYSTONE_ID, KEYSTONE_ID);
    fernet(&env, "rotate", &repo, &owner).expect_code(0);
    assert_eq!(key_numbers(&repo), [0, 1, 2]);
    assert_owned_by(&repo, KEYSTONE_ID, KEYSTONE_ID);
    let meta = fs::metadata(repo.join("2")).expect("stat");
    assert_eq!((meta.uid(), meta.gid()), (KEYSTONE_ID, KEYSTONE_ID));
}

#[test]
fn keystone_user_and_group_ids_chown_the_jws_pair() {
    if !is_root() {
        return skip("JWS chown test", "needs root (chown to 42425)");
    }
    let env = Env::new();
    let base = env.path("jws");
    let args = [
        "create",
        "--keystone-user",
        "42425",
        "--keystone-group",
        "42425",
    ];
    jws(&env, &base, &args).expect_code(0);
    assert_owned_by(&base.join("private"), KEYSTONE_ID, KEYSTONE_ID);
    assert_owned_by(&base.join("public"), KEYSTONE_ID, KEYSTONE_ID);
}

#[test]
fn rotate_without_owner_flags_keeps_the_repository_owner() {
    if !is_root() {
        return skip("owner preservation test", "needs root (chown to 42425)");
    }
    let env = Env::new();
    let repo = env.path("fk");
    let owner = ["--keystone-user", "42425", "--keystone-group", "42425"];
    fernet(&env, "setup", &repo, &owner).expect_code(0);
    fernet(&env, "rotate", &repo, &[]).expect_code(0);
    assert_owned_by(&repo, KEYSTONE_ID, KEYSTONE_ID);
}

fn expect_unknown_owner(flag: &str, what: &str) {
    let env = Env::new();
    let repo = env.path("fk");
    let out = fernet(&env, "setup", &repo, &[flag, "no-such-keystone-xyz"]);
    out.expect_code(2);
    let error = out.stderr_lines("error:");
    assert_eq!(error.len(), 1, "{}", out.stderr);
    assert!(
        error[0].contains(&format!("unknown {what}")) && error[0].contains("no-such-keystone-xyz"),
        "unclear error: {}",
        out.stderr
    );
    out.expect_hint();
    assert!(tree(env.root()).len() == 1, "something was written");
}

#[test]
fn unknown_keystone_user_is_rejected() {
    expect_unknown_owner("--keystone-user", "user");
}

#[test]
fn unknown_keystone_group_is_rejected() {
    expect_unknown_owner("--keystone-group", "group");
}

// ---------------------------------------------------------------- credential keys

#[test]
fn credential_setup_keeps_existing_keys_without_the_flag() {
    let env = Env::new();
    let repo = env.path("credential-keys");
    credential(&env, "setup", &repo, &[]).expect_code(0);
    let before = tree(env.root());
    let out = credential(&env, "setup", &repo, &[]);
    out.expect_code(0);
    assert!(out.stdout.contains("nothing changed"), "{}", out.stdout);
    assert_same_tree(&before, &tree(env.root()), "credential setup again");
}

#[test]
fn credential_setup_never_replaces_a_broken_repository_without_the_flag() {
    let env = Env::new();
    let repo = env.path("credential-keys");
    let k1 = key_text(1);
    write_repo(&repo, &[("1", k1.as_bytes()), ("2", b"not a key")]);
    let before = tree(env.root());
    credential(&env, "setup", &repo, &[]).expect_bad_input(&repo);
    assert_same_tree(&before, &tree(env.root()), "refused credential setup");
}

#[test]
fn credential_setup_with_the_destroy_flag_replaces_keys() {
    let env = Env::new();
    let repo = env.path("credential-keys");
    credential(&env, "setup", &repo, &[]).expect_code(0);
    let before = files(&repo);
    let out = credential(
        &env,
        "setup",
        &repo,
        &["--i-understand-this-destroys-credentials"],
    );
    out.expect_code(0);
    assert!(
        out.stderr.contains("WARNING") && out.stderr.contains("credential"),
        "no loud warning: {}",
        out.stderr
    );
    let after = files(&repo);
    assert_eq!(after.keys().collect::<Vec<_>>(), ["0", "1"]);
    assert!(
        before
            .values()
            .all(|old| !after.values().any(|new| new == old))
    );
}

#[test]
fn credential_setup_unchanged_message_names_the_real_flag() {
    let env = Env::new();
    let repo = env.path("credential-keys");
    credential(&env, "setup", &repo, &[]).expect_code(0);
    let out = credential(&env, "setup", &repo, &[]);
    out.expect_code(0);
    assert!(!out.stdout.contains("--force"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("--i-understand-this-destroys-credentials"),
        "{}",
        out.stdout
    );
    // The flag the message points at must exist.
    credential(
        &env,
        "setup",
        &repo,
        &["--i-understand-this-destroys-credentials"],
    )
    .expect_code(0);
}

#[test]
fn credential_rotate_prints_the_credential_migrate_instruction() {
    let env = Env::new();
    let repo = env.path("credential-keys");
    credential(&env, "setup", &repo, &[]).expect_code(0);
    let out = credential(&env, "rotate", &repo, &[]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("keystone-manage credential_migrate"),
        "{}",
        out.stdout
    );
    assert_eq!(key_numbers(&repo), [0, 1, 2]);
}

#[test]
fn credential_rotate_that_prunes_needs_credentials_migrated() {
    let env = Env::new();
    let repo = env.path("credential-keys");
    credential(&env, "setup", &repo, &[]).expect_code(0);
    credential(&env, "rotate", &repo, &[]).expect_code(0);
    assert_eq!(key_numbers(&repo), [0, 1, 2]);
    let before = tree(env.root());
    let refused = credential(&env, "rotate", &repo, &[]);
    refused.expect_code(2);
    assert!(
        refused.stderr.contains("--credentials-migrated"),
        "{}",
        refused.stderr
    );
    assert_same_tree(&before, &tree(env.root()), "refused credential rotate");
    credential(&env, "rotate", &repo, &["--credentials-migrated"]).expect_code(0);
    assert_eq!(key_numbers(&repo), [0, 2, 3]);
}

// ---------------------------------------------------------------- JWS

#[test]
fn jws_create_writes_a_keystone_compatible_pair() {
    let env = Env::new();
    let base = jws_pair(&env, "jws");
    let private = fs::read(base.join("private/private.pem")).expect("private.pem");
    let public = fs::read(base.join("public/public.pem")).expect("public.pem");
    assert_eq!(private.len(), 241, "private.pem size");
    assert!(private.starts_with(b"-----BEGIN PRIVATE KEY-----\n"));
    assert_eq!(public.len(), 178, "public.pem size");
    assert!(public.starts_with(b"-----BEGIN PUBLIC KEY-----\n"));
    assert_eq!(public_point_of_private(&private), public_point(&public));
    assert_eq!(mode(&base.join("private/private.pem")), 0o600);
    assert_eq!(mode(&base.join("public/public.pem")), 0o644);
    assert_eq!(mode(&base.join("private")), 0o700);
    assert_eq!(mode(&base.join("public")), 0o700);
}

#[test]
fn jws_create_is_idempotent() {
    let env = Env::new();
    let base = jws_pair(&env, "jws");
    let before = tree(env.root());
    let out = jws(&env, &base, &["create"]);
    out.expect_code(0);
    assert!(out.stdout.contains("nothing changed"), "{}", out.stdout);
    assert_same_tree(&before, &tree(env.root()), "second jws create");
}

#[test]
fn jws_rotate_stage_adds_a_public_key_and_a_staged_private_key() {
    let env = Env::new();
    let base = jws_pair(&env, "jws");
    let (private_before, public_before) =
        (files(&base.join("private")), files(&base.join("public")));
    jws(&env, &base, &["rotate", "stage"]).expect_code(0);
    let private = files(&base.join("private"));
    let public = files(&base.join("public"));
    assert_eq!(private["private.pem"], private_before["private.pem"]);
    assert_eq!(public["public.pem"], public_before["public.pem"]);
    let staged = &private["staged.pem"];
    assert_eq!(staged.len(), 241);
    assert_eq!(mode(&base.join("private/staged.pem")), 0o600);
    let added: Vec<&String> = public.keys().filter(|n| *n != "public.pem").collect();
    assert_eq!(added.len(), 1, "one public key added: {:?}", public.keys());
    let name = added[0];
    let content = &public[name];
    let hex = hex_sha256(&pem_der(content));
    assert_eq!(*name, format!("public-{}.pem", &hex[..12]));
    assert_eq!(content.len(), 178);
    assert_eq!(mode(&base.join("public").join(name)), 0o644);
    assert_eq!(public_point(content), public_point_of_private(staged));
}

#[test]
fn jws_rotate_promote_switches_the_private_key() {
    let env = Env::new();
    let base = jws_pair(&env, "jws");
    jws(&env, &base, &["rotate", "stage"]).expect_code(0);
    let staged = fs::read(base.join("private/staged.pem")).expect("staged");
    let public_before = files(&base.join("public"));
    jws(&env, &base, &["rotate", "promote"]).expect_code(0);
    assert_eq!(names(&base.join("private")), ["private.pem"]);
    assert_eq!(
        fs::read(base.join("private/private.pem")).expect("private"),
        staged
    );
    assert_eq!(mode(&base.join("private/private.pem")), 0o600);
    assert_eq!(files(&base.join("public")), public_before);
}

#[test]
fn jws_rotate_promote_without_stage_is_refused() {
    let env = Env::new();
    let base = jws_pair(&env, "jws");
    let before = tree(env.root());
    let out = jws(&env, &base, &["rotate", "promote"]);
    out.expect_code(2);
    assert!(out.stderr.contains("stage"), "{}", out.stderr);
    assert_same_tree(&before, &tree(env.root()), "refused promote");
}

/// A pair that was created, staged and promoted.
fn promoted_pair(env: &Env) -> PathBuf {
    let base = jws_pair(env, "jws");
    jws(env, &base, &["rotate", "stage"]).expect_code(0);
    jws(env, &base, &["rotate", "promote"]).expect_code(0);
    base
}

#[test]
fn jws_rotate_retire_right_after_promote_is_refused() {
    let env = Env::new();
    let base = promoted_pair(&env);
    let before = tree(env.root());
    let out = jws(&env, &base, &["rotate", "retire"]);
    out.expect_code(2);
    assert!(out.stderr.contains("--force"), "{}", out.stderr);
    assert_same_tree(&before, &tree(env.root()), "refused retire");
}

#[test]
fn jws_rotate_retire_with_force_removes_the_old_public_key() {
    let env = Env::new();
    let base = promoted_pair(&env);
    let private = fs::read(base.join("private/private.pem")).expect("private");
    jws(&env, &base, &["rotate", "retire", "--force"]).expect_code(0);
    let public = files(&base.join("public"));
    assert_eq!(public.len(), 1, "{:?}", public.keys());
    let (name, content) = public.iter().next().expect("one key");
    assert!(name.starts_with("public-"), "{name}");
    assert_eq!(public_point(content), public_point_of_private(&private));
}

#[test]
fn jws_repo_check_is_clean_after_every_phase() {
    let env = Env::new();
    let base = env.path("jws");
    let phases: [&[&str]; 4] = [
        &["create"],
        &["rotate", "stage"],
        &["rotate", "promote"],
        &["rotate", "retire", "--force"],
    ];
    for phase in phases {
        jws(&env, &base, phase).expect_code(0);
        let (table, json) = repo_check(&env.cmd(), &[&base], &[]);
        table.expect_code(0);
        json.expect_code(0);
        assert_eq!(json.json()["ok"], true, "after {phase:?}: {}", json.stdout);
    }
}

// ---------------------------------------------------------------- repo check

#[test]
fn check_clean_repository_exits_0() {
    let env = Env::new();
    let repo = fernet_repo(&env, "fk");
    let (table, json) = repo_check(&env.cmd(), &[&repo], &[]);
    table.expect_code(0);
    json.expect_code(0);
    assert!(table.stdout.contains("0 error(s), 0 warning(s)"));
}

#[test]
fn check_reports_a_non_integer_name_as_stray_file() {
    expect_entry_finding("README", b"notes", "stray-file");
}

#[test]
fn check_reports_a_leading_zero_name() {
    expect_entry_finding("01", key_text(3).as_bytes(), "non-canonical-name");
}

#[test]
fn check_reports_a_rotation_temp_file() {
    expect_entry_finding("0.tmp", key_text(3).as_bytes(), "rotation-temp-file");
}

#[test]
fn check_reports_a_missing_staged_key() {
    let env = Env::new();
    let repo = env.path("fk");
    let (k1, k2) = (key_text(1), key_text(2));
    write_repo(&repo, &[("1", k1.as_bytes()), ("2", k2.as_bytes())]);
    expect_finding(&env, &[&repo], &[], "staged-key-missing", &repo);
}

#[test]
fn check_warns_when_only_the_staged_key_exists() {
    let env = Env::new();
    let repo = env.path("fk");
    write_repo(&repo, &[("0", key_text(1).as_bytes())]);
    expect_finding_as(
        &env.cmd(),
        &[&repo],
        &[],
        "primary-missing",
        "warning",
        &repo,
    );
}

#[test]
fn check_reports_a_key_of_bad_length() {
    let short = URL_SAFE.encode([7u8; 16]);
    expect_entry_finding("3", short.as_bytes(), "key-bad-length");
}

#[test]
fn check_reports_a_key_with_a_bad_alphabet() {
    expect_entry_finding("3", &[b'!'; 44], "key-bad-alphabet");
}

#[test]
fn check_reports_an_empty_key_file() {
    expect_entry_finding("3", b"", "key-empty");
}

#[test]
fn check_warns_about_a_trailing_newline() {
    let env = Env::new();
    let repo = valid_repo(&env, "fk");
    let with_newline = format!("{}\n", key_text(20));
    write_repo(&repo, &[("3", with_newline.as_bytes())]);
    expect_finding_as(
        &env.cmd(),
        &[&repo],
        &[],
        "key-trailing-newline",
        "warning",
        &repo.join("3"),
    );
}

#[test]
fn check_warns_about_the_standard_base64_alphabet() {
    let env = Env::new();
    let repo = valid_repo(&env, "fk");
    let standard = STANDARD.encode([0xfb; 32]);
    assert!(standard.contains('+') || standard.contains('/'));
    write_repo(&repo, &[("3", standard.as_bytes())]);
    expect_finding_as(
        &env.cmd(),
        &[&repo],
        &[],
        "key-standard-alphabet",
        "warning",
        &repo.join("3"),
    );
}

#[test]
fn check_reports_an_all_zero_null_key() {
    let env = Env::new();
    let repo = env.path("credential-keys");
    let null = URL_SAFE.encode([0u8; 32]);
    let k0 = key_text(1);
    write_repo(&repo, &[("0", k0.as_bytes()), ("1", null.as_bytes())]);
    expect_finding(
        &env,
        &[&repo],
        &["--kind", "credential"],
        "null-key",
        &repo.join("1"),
    );
}

#[test]
fn check_reports_a_world_readable_key() {
    let env = Env::new();
    let repo = valid_repo(&env, "fk");
    chmod(&repo.join("1"), 0o644);
    expect_finding(&env, &[&repo], &[], "mode-too-open", &repo.join("1"));
}

#[test]
fn check_reports_an_open_directory() {
    let env = Env::new();
    let repo = valid_repo(&env, "fk");
    chmod(&repo, 0o755);
    expect_finding(&env, &[&repo], &[], "dir-mode-too-open", &repo);
}

#[test]
fn check_reports_a_sub_directory() {
    let env = Env::new();
    let repo = valid_repo(&env, "fk");
    fs::create_dir(repo.join("old")).expect("mkdir");
    expect_finding(&env, &[&repo], &[], "stray-directory", &repo.join("old"));
}

#[test]
fn check_reports_an_empty_repository() {
    let env = Env::new();
    let repo = env.path("fk");
    write_repo(&repo, &[]);
    expect_finding(&env, &[&repo], &[], "repo-empty", &repo);
}

#[test]
fn check_reports_a_file_instead_of_a_directory() {
    let env = Env::new();
    let path = env.path("fk");
    fs::write(&path, key_text(1)).expect("write");
    expect_finding(&env, &[&path], &[], "not-a-directory", &path);
}

#[test]
fn check_reports_a_missing_repository() {
    let env = Env::new();
    let path = env.path("nowhere");
    expect_finding(&env, &[&path], &[], "repo-missing", &path);
}

#[test]
fn check_warns_about_more_keys_than_max_active_keys() {
    let env = Env::new();
    let repo = valid_repo(&env, "fk");
    expect_finding_as(
        &env.cmd(),
        &[&repo],
        &["--max-active-keys", "2"],
        "too-many-keys",
        "warning",
        &repo,
    );
}

#[test]
fn check_reports_an_owner_mismatch() {
    let env = Env::new();
    let repo = valid_repo(&env, "fk");
    expect_finding(
        &env,
        &[&repo],
        &["--keystone-user", "42425"],
        "owner-mismatch",
        &repo.join("0"),
    );
}

#[test]
fn check_reports_an_unreadable_repository() {
    let Some(nobody) = as_nobody() else {
        return skip("repo-unreadable test", "needs root and setpriv or runuser");
    };
    let env = Env::new();
    chmod(env.root(), 0o755);
    let repo = valid_repo(&env, "fk");
    expect_finding_as(
        &env.cmd().wrapped(&nobody),
        &[&repo],
        &[],
        "repo-unreadable",
        "error",
        &repo,
    );
}

#[test]
fn check_reports_a_jws_public_subdirectory() {
    let env = Env::new();
    let base = jws_pair(&env, "jws");
    let sub = base.join("public/old");
    fs::create_dir(&sub).expect("mkdir");
    expect_finding(&env, &[&base], &[], "jws-public-subdirectory", &sub);
}

#[test]
fn check_reports_a_private_key_whose_public_half_is_missing() {
    let env = Env::new();
    let base = jws_pair(&env, "jws");
    let other = jws_pair(&env, "other");
    fs::copy(
        other.join("public/public.pem"),
        base.join("public/public.pem"),
    )
    .expect("copy");
    expect_finding(
        &env,
        &[&base],
        &[],
        "jws-public-half-missing",
        &base.join("private/private.pem"),
    );
}

#[test]
fn check_reports_a_missing_jws_private_key() {
    let env = Env::new();
    let base = jws_pair(&env, "jws");
    let private = base.join("private/private.pem");
    fs::remove_file(&private).expect("rm");
    expect_finding(&env, &[&base], &[], "jws-private-missing", &private);
}

#[test]
fn check_reports_an_empty_jws_public_set() {
    let env = Env::new();
    let base = jws_pair(&env, "jws");
    fs::remove_file(base.join("public/public.pem")).expect("rm");
    expect_finding(
        &env,
        &[&base],
        &[],
        "jws-public-missing",
        &base.join("public"),
    );
}

/// Overwrites a JWS file with garbage and expects `code` about it.
fn expect_jws_garbage(rel: &str, code: &str) {
    let env = Env::new();
    let base = jws_pair(&env, "jws");
    let path = base.join(rel);
    fs::write(&path, b"-----BEGIN PRIVATE KEY-----\nnot a key\n").expect("write");
    chmod(
        &path,
        if rel.starts_with("public") {
            0o644
        } else {
            0o600
        },
    );
    expect_finding(&env, &[&base], &[], code, &path);
}

#[test]
fn check_reports_an_invalid_jws_public_key() {
    expect_jws_garbage("public/extra.pem", "jws-public-invalid");
}

#[test]
fn check_reports_an_invalid_jws_private_key() {
    expect_jws_garbage("private/private.pem", "jws-private-invalid");
}

#[test]
fn check_reports_an_invalid_staged_jws_key() {
    expect_jws_garbage("private/staged.pem", "jws-staged-invalid");
}

/// Three copies of one repository, as three controllers would hold it.
fn node_copies(env: &Env) -> Vec<PathBuf> {
    let first = fernet_repo(env, "controller-0");
    fernet(env, "rotate", &first, &[]).expect_code(0);
    let mut nodes = vec![first.clone()];
    for n in 1..3 {
        let copy = env.path(&format!("controller-{n}"));
        let content: Vec<(String, Vec<u8>)> = files(&first).into_iter().collect();
        let entries: Vec<(&str, &[u8])> = content
            .iter()
            .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
            .collect();
        write_repo(&copy, &entries);
        nodes.push(copy);
    }
    nodes
}

#[test]
fn check_synced_copies_hold_the_same_keys() {
    let env = Env::new();
    let nodes = node_copies(&env);
    let dirs: Vec<&Path> = nodes.iter().map(PathBuf::as_path).collect();
    let (table, json) = repo_check(&env.cmd(), &dirs, &[]);
    table.expect_code(0);
    json.expect_code(0);
    assert!(table.stdout.contains("same keys"), "{}", table.stdout);
    assert_eq!(json.json()["in_sync"], true);
}

#[test]
fn check_out_of_sync_copies_name_the_differing_node() {
    let env = Env::new();
    let nodes = node_copies(&env);
    // controller-2 missed the last rotation.
    fernet(&env, "rotate", &nodes[2], &[]).expect_code(0);
    let dirs: Vec<&Path> = nodes.iter().map(PathBuf::as_path).collect();
    expect_finding(&env, &dirs, &[], "repos-out-of-sync", &nodes[2]);
    let (_, json) = repo_check(&env.cmd(), &dirs, &[]);
    let sync = json.json()["sync_findings"].clone();
    assert_eq!(sync.as_array().map(Vec::len), Some(1), "{sync}");
    assert_eq!(json.json()["in_sync"], false);
}

#[test]
fn check_never_prints_key_material_in_any_format() {
    let env = Env::new();
    let fk = fernet_repo(&env, "fk");
    let newline = format!("{}\n", key_text(30));
    write_repo(
        &fk,
        &[("7", newline.as_bytes()), ("01", key_text(31).as_bytes())],
    );
    let base = jws_pair(&env, "jws");
    jws(&env, &base, &["rotate", "stage"]).expect_code(0);
    for format in ["table", "json", "value"] {
        let out = env
            .cmd()
            .args(["-f", format, "repo", "check"])
            .arg(&fk)
            .arg(&base)
            .run();
        assert!(out.code == Some(1), "{}", out.all());
        assert_no_key_material(&[&out], &[&fk, &base]);
    }
}

// ---------------------------------------------------------------- bad input

#[test]
fn setup_on_a_file_instead_of_a_directory_changes_nothing() {
    let env = Env::new();
    let path = env.path("fk");
    fs::write(&path, b"operator notes\n").expect("write");
    let before = tree(env.root());
    let out = fernet(&env, "setup", &path, &[]);
    out.expect_code(2);
    let error = out.stderr_lines("error:");
    assert_eq!(error.len(), 1, "{}", out.stderr);
    assert!(
        error[0].contains(&path.display().to_string()),
        "{}",
        out.stderr
    );
    assert_same_tree(&before, &tree(env.root()), "setup on a file");
}

#[test]
fn setup_on_a_file_instead_of_a_directory_gives_a_hint() {
    let env = Env::new();
    let path = env.path("fk");
    fs::write(&path, b"operator notes\n").expect("write");
    fernet(&env, "setup", &path, &[]).expect_bad_input(&path);
}

#[test]
fn rotate_on_a_file_instead_of_a_directory_is_refused() {
    let env = Env::new();
    let path = env.path("fk");
    fs::write(&path, b"operator notes\n").expect("write");
    let before = tree(env.root());
    fernet(&env, "rotate", &path, &[]).expect_bad_input(&path);
    assert_same_tree(&before, &tree(env.root()), "rotate on a file");
}

#[test]
fn rotate_on_a_corrupt_repository_is_refused() {
    let env = Env::new();
    let repo = fernet_repo(&env, "fk");
    fs::write(repo.join("1"), b"garbage that is not a key").expect("corrupt");
    let before = tree(env.root());
    let error = fernet(&env, "rotate", &repo, &[]).expect_bad_input(&repo);
    assert!(error.contains("key-bad-alphabet"), "{error}");
    assert_same_tree(&before, &tree(env.root()), "rotate on a corrupt repository");
}

#[test]
fn rotate_on_a_missing_repository_is_refused() {
    let env = Env::new();
    let repo = env.path("not-set-up");
    fernet(&env, "rotate", &repo, &[]).expect_bad_input(&repo);
    assert_eq!(tree(env.root()).len(), 1, "rotate created something");
}

/// A path under /etc/keystone that does not exist (and must not be created).
fn etc_keystone_target() -> PathBuf {
    PathBuf::from(format!(
        "/etc/keystone/overcloud-keys-test-{}/fernet-keys",
        std::process::id()
    ))
}

#[test]
fn etc_keystone_is_refused() {
    let env = Env::new();
    let target = etc_keystone_target();
    let out = fernet(&env, "setup", &target, &[]);
    out.expect_code(2);
    let error = out.stderr_lines("error:");
    assert_eq!(error.len(), 1, "{}", out.stderr);
    assert!(
        error[0].contains(&target.display().to_string()),
        "{}",
        out.stderr
    );
    assert!(error[0].contains("--allow-etc-keystone"), "{}", out.stderr);
    assert!(
        !target.parent().expect("parent").exists(),
        "wrote under /etc/keystone"
    );
}

#[test]
fn etc_keystone_refusal_has_a_hint_line() {
    let env = Env::new();
    let target = etc_keystone_target();
    fernet(&env, "setup", &target, &[]).expect_bad_input(&target);
}

#[test]
fn jws_create_with_a_file_as_private_dir_changes_nothing() {
    let env = Env::new();
    let base = env.path("jws");
    fs::create_dir(&base).expect("mkdir");
    fs::write(base.join("private"), b"not a directory").expect("write");
    let before = tree(env.root());
    jws(&env, &base, &["create"]).expect_bad_input(&base.join("private"));
    assert_same_tree(&before, &tree(env.root()), "jws create on a file");
}

/// How the tmpfs is broken before the command runs.
#[derive(Clone, Copy)]
enum Breakage {
    Full,
    ReadOnly,
}

/// On a 16 KiB tmpfs: `prepare` (with room to spare), then fill it or make it read-only,
/// then `run`, which must be refused (exit 2, error naming the mount, hint) leaving the
/// file system exactly as it was, without staging leftovers. Returns the error line, or
/// `None` (after a note) when mounting is not permitted.
fn refused_on_broken_tmpfs(
    test: &str,
    breakage: Breakage,
    prepare: impl Fn(&Env, &Path),
    run: impl Fn(&Env, &Path) -> Out,
) -> Option<String> {
    let env = Env::new();
    let mnt = match Tmpfs::mount(&env.path("mnt"), "16k") {
        Ok(mnt) => mnt,
        Err(why) => {
            skip(test, &format!("cannot mount a tmpfs ({why})"));
            return None;
        }
    };
    prepare(&env, mnt.path());
    match breakage {
        Breakage::Full => mnt.fill(),
        Breakage::ReadOnly => {
            if let Err(why) = mnt.remount_read_only() {
                skip(test, &why);
                return None;
            }
        }
    }
    let before = tree(mnt.path());
    let error = run(&env, mnt.path()).expect_bad_input(mnt.path());
    assert_same_tree(&before, &tree(mnt.path()), test);
    Some(error)
}

fn fernet_setup_in(env: &Env, dir: &Path) {
    fernet(env, "setup", &dir.join("fk"), &[]).expect_code(0);
}

fn fernet_rotate_in(env: &Env, dir: &Path) -> Out {
    fernet(env, "rotate", &dir.join("fk"), &[])
}

fn fernet_setup_attempt_in(env: &Env, dir: &Path) -> Out {
    fernet(env, "setup", &dir.join("fk"), &[])
}

#[test]
fn full_disk_rotate_leaves_the_repository_intact() {
    let test = "full-disk rotate";
    if let Some(error) =
        refused_on_broken_tmpfs(test, Breakage::Full, fernet_setup_in, fernet_rotate_in)
    {
        assert!(error.contains("no space left on device"), "{error}");
    }
}

#[test]
fn full_disk_setup_leaves_nothing_behind() {
    let test = "full-disk setup";
    if let Some(error) =
        refused_on_broken_tmpfs(test, Breakage::Full, |_, _| {}, fernet_setup_attempt_in)
    {
        assert!(error.contains("no space left on device"), "{error}");
    }
}

#[test]
fn full_disk_jws_stage_leaves_the_pair_intact() {
    refused_on_broken_tmpfs(
        "full-disk jws stage",
        Breakage::Full,
        |env, dir| {
            jws(env, &dir.join("jws"), &["create"]).expect_code(0);
        },
        |env, dir| jws(env, &dir.join("jws"), &["rotate", "stage"]),
    );
}

#[test]
fn read_only_file_system_rotate_leaves_the_repository_intact() {
    let test = "read-only rotate";
    if let Some(error) =
        refused_on_broken_tmpfs(test, Breakage::ReadOnly, fernet_setup_in, fernet_rotate_in)
    {
        assert!(error.contains("read-only file system"), "{error}");
    }
}

#[test]
fn read_only_file_system_setup_is_refused() {
    let test = "read-only setup";
    if let Some(error) =
        refused_on_broken_tmpfs(test, Breakage::ReadOnly, |_, _| {}, fernet_setup_attempt_in)
    {
        assert!(error.contains("read-only file system"), "{error}");
    }
}

/// What a run as `nobody` found and did: the work directory, the repository, the snapshot
/// of the work directory before the run, and the run.
struct ForeignRun {
    env: Env,
    repo: PathBuf,
    before: cli_support::Tree,
    out: Out,
}

/// Runs `fernet OP` on `fk` as nobody in a 0755 root-owned work directory (after a root
/// `fernet setup` when `prepare`).
fn as_nobody_in_root_dir(test: &str, op: &str, prepare: bool) -> Option<ForeignRun> {
    let Some(nobody) = as_nobody() else {
        skip(test, "needs root and setpriv or runuser");
        return None;
    };
    let env = Env::new();
    chmod(env.root(), 0o755);
    let repo = env.path("fk");
    if prepare {
        fernet(&env, "setup", &repo, &[]).expect_code(0);
    }
    let before = tree(env.root());
    let out = env
        .cmd()
        .wrapped(&nobody)
        .args(["fernet", op, "--key-repository"])
        .arg(&repo)
        .run();
    Some(ForeignRun {
        env,
        repo,
        before,
        out,
    })
}

fn assert_permission_hint(out: &Out) {
    let hint = out.expect_hint();
    assert!(
        hint.contains("owner") || hint.contains("permission") || hint.contains("root"),
        "the hint is not about permissions: {hint}"
    );
    assert!(
        !hint.contains("--force"),
        "suggests destroying keys: {hint}"
    );
}

#[test]
fn unwritable_location_gives_a_permission_hint() {
    let Some(run) = as_nobody_in_root_dir("unwritable location", "setup", false) else {
        return;
    };
    run.out.expect_bad_input(run.env.root());
    assert_permission_hint(&run.out);
    assert_same_tree(&run.before, &tree(run.env.root()), "setup as another user");
}

#[test]
fn repository_owned_by_someone_else_is_refused_unchanged() {
    let Some(run) = as_nobody_in_root_dir("foreign repository", "rotate", true) else {
        return;
    };
    run.out.expect_bad_input(&run.repo);
    assert_same_tree(&run.before, &tree(run.env.root()), "rotate as another user");
}

#[test]
fn repository_owned_by_someone_else_gives_a_permission_hint() {
    let Some(run) = as_nobody_in_root_dir("foreign repository hint", "rotate", true) else {
        return;
    };
    run.out.expect_code(2);
    assert_permission_hint(&run.out);
}
