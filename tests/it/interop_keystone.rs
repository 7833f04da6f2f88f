//! Interop with a real Keystone 30.0.0 (installed from PyPI into `target/venvs`, served by
//! waitress on 127.0.0.1): keystone must accept what `overcloud-keys` writes, and
//! `overcloud-keys repo check` must accept what keystone writes and reject what breaks it.
//!
//! Each test owns a temp directory, database copy and port, so they run in parallel.

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use crate::keystone_harness;

use std::fs;
use std::path::Path;

use keystone_harness::{
    Keystone, Provider, Scope, assert_modes, fernet_signing_key, jws_header, jws_signed_by, mode,
    overcloud_keys, overcloud_keys_ok, owner_flags, run_python,
};

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Fernet token, receipt and credential repositories made by overcloud-keys, modes checked.
fn setup_fernet_repos(ks: &Keystone) {
    let l = &ks.layout;
    overcloud_keys_ok(&["fernet", "setup", "--key-repository", p(&l.fernet)]);
    overcloud_keys_ok(&["receipt", "setup", "--key-repository", p(&l.receipt)]);
    overcloud_keys_ok(&["credential", "setup", "--key-repository", p(&l.credential)]);
    for repo in [&l.fernet, &l.receipt, &l.credential] {
        assert_modes(repo, 0o600);
        assert_eq!(key_names(repo), ["0", "1"], "{}", repo.display());
    }
}

/// JWS pair, receipt and credential repositories made by overcloud-keys, modes checked.
fn setup_jws_repos(ks: &Keystone) {
    let l = &ks.layout;
    overcloud_keys_ok(&[
        "jws",
        "create",
        "--private-dir",
        p(&l.jws_private),
        "--public-dir",
        p(&l.jws_public),
    ]);
    overcloud_keys_ok(&["receipt", "setup", "--key-repository", p(&l.receipt)]);
    overcloud_keys_ok(&["credential", "setup", "--key-repository", p(&l.credential)]);
    assert_modes(&l.jws_private, 0o600);
    assert_modes(&l.jws_public, 0o644);
    assert_modes(&l.receipt, 0o600);
    assert_modes(&l.credential, 0o600);
    assert!(l.jws_private.join("private.pem").is_file());
}

fn key_names(repo: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(repo)
        .expect("list repo")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort_by_key(|n| n.parse::<u64>().unwrap_or(u64::MAX));
    names
}

fn fernet_rotate(ks: &Keystone, max_active_keys: u32) -> serde_json::Value {
    let out = overcloud_keys_ok(&[
        "-f",
        "json",
        "fernet",
        "rotate",
        "--key-repository",
        p(&ks.layout.fernet),
        "--max-active-keys",
        &max_active_keys.to_string(),
        // Rotations seconds apart break the safe-rotation rule on purpose: the test shows
        // what pruning does to keystone.
        "--force",
    ]);
    assert_modes(&ks.layout.fernet, 0o600);
    serde_json::from_str(&out).expect("rotate -f json")
}

/// `repo check ARGS -f json`: exit code and report.
fn repo_check(args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["-f", "json", "repo", "check"];
    all.extend_from_slice(args);
    let out = overcloud_keys(&all);
    let code = out.status.code().expect("exit code");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "repo check {args:?} printed no JSON ({e}), exit {code}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, report)
}

fn finding_codes(report: &serde_json::Value) -> Vec<String> {
    let mut codes = Vec::new();
    for repo in report["repositories"].as_array().expect("repositories") {
        for f in repo["findings"].as_array().expect("findings") {
            codes.push(f["code"].as_str().expect("code").to_string());
        }
    }
    for f in report["sync_findings"].as_array().expect("sync_findings") {
        codes.push(f["code"].as_str().expect("code").to_string());
    }
    codes
}

fn report_key_names(report: &serde_json::Value) -> Vec<String> {
    report["repositories"][0]["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["name"].as_str().expect("name").to_string())
        .collect()
}

/// Test 1: keystone issues and validates Fernet tokens with repositories made by us, and
/// encrypts with our primary key 1.
#[test]
fn fernet_tokens_with_our_repositories() {
    let mut ks = Keystone::new(Provider::Fernet);
    setup_fernet_repos(&ks);
    for (kind, repo) in [
        ("fernet", &ks.layout.fernet),
        ("receipt", &ks.layout.receipt),
        ("credential", &ks.layout.credential),
    ] {
        let (code, report) = repo_check(&["--kind", kind, p(repo)]);
        assert_eq!(code, 0, "repo check of our own {kind} repo: {report:#}");
    }
    ks.start();

    let reply = ks.issue_token_reply(Scope::AdminProject);
    let scoped = reply.subject_token.clone().expect("token");
    let body: serde_json::Value = serde_json::from_str(&reply.body).expect("token body");
    assert_eq!(body["token"]["project"]["name"], "admin");
    assert!(
        scoped.starts_with("gAAAAA"),
        "Fernet version byte: {scoped}"
    );
    assert_eq!(
        fernet_signing_key(&ks.layout.fernet, &scoped).as_deref(),
        Some("1"),
        "keystone must encrypt with our primary key 1"
    );
    let unscoped = ks.issue_token(Scope::Unscoped);
    assert_ne!(scoped, unscoped);
    assert_eq!(
        fernet_signing_key(&ks.layout.fernet, &unscoped).as_deref(),
        Some("1")
    );

    ks.assert_valid(&scoped, "project-scoped token");
    ks.assert_valid(&unscoped, "unscoped token");
    // The token authenticates itself too.
    assert_eq!(ks.validate_with(&scoped, &unscoped).status, 200);
    // And validation is not a rubber stamp: a token from another key set is refused.
    let mut forged = scoped.clone().into_bytes();
    let i = forged.len() - 10;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).expect("ascii");
    assert_eq!(
        ks.validate(&forged),
        404,
        "tampered token must not validate"
    );
    ks.assert_no_log_errors();
}

/// Test 2: tokens survive our rotation while their key is in the repository and die with it;
/// the new primary really is what keystone encrypts with after the rotation.
#[test]
fn fernet_rotation_keeps_then_prunes_keys_keystone_uses() {
    let mut ks = Keystone::with_max_active_keys(Provider::Fernet, 3);
    setup_fernet_repos(&ks);
    ks.start();
    let t1 = ks.issue_token(Scope::AdminProject);
    assert_eq!(
        fernet_signing_key(&ks.layout.fernet, &t1).as_deref(),
        Some("1")
    );
    ks.assert_valid(&t1, "t1 before rotation");

    // Rotation 1: {0,1} -> {0,1,2}; staged 0 becomes primary 2.
    let staged_before = fs::read(ks.layout.fernet.join("0")).expect("key 0");
    let r = fernet_rotate(&ks, 3);
    assert_eq!(r["primary"], 2, "{r:#}");
    assert_eq!(key_names(&ks.layout.fernet), ["0", "1", "2"]);
    assert_eq!(
        fs::read(ks.layout.fernet.join("2")).expect("key 2"),
        staged_before,
        "the staged key must be what becomes primary (nodes already accept it)"
    );
    assert_ne!(
        fs::read(ks.layout.fernet.join("0")).expect("key 0"),
        staged_before
    );
    ks.restart();
    ks.assert_valid(&t1, "t1 after one rotation (key 1 is secondary now)");
    let t2 = ks.issue_token(Scope::AdminProject);
    assert_eq!(
        fernet_signing_key(&ks.layout.fernet, &t2).as_deref(),
        Some("2"),
        "after rotation keystone must encrypt with the new primary 2"
    );
    ks.assert_valid(&t2, "t2");

    // Rotation 2: {0,1,2} -> {0,2,3}; key 1 is pruned, and t1 with it.
    let r = fernet_rotate(&ks, 3);
    assert_eq!(r["primary"], 3, "{r:#}");
    assert_eq!(r["pruned"], serde_json::json!([1]), "{r:#}");
    assert_eq!(key_names(&ks.layout.fernet), ["0", "2", "3"]);
    ks.restart();
    ks.assert_valid(&t2, "t2 after two rotations (key 2 still present)");
    assert_eq!(
        ks.validate(&t1),
        404,
        "t1's key 1 was pruned: keystone must no longer accept it\n{}",
        ks.diagnostics()
    );
    let t3 = ks.issue_token(Scope::Unscoped);
    assert_eq!(
        fernet_signing_key(&ks.layout.fernet, &t3).as_deref(),
        Some("3")
    );
    ks.assert_valid(&t3, "t3");
    let (code, report) = repo_check(&["--max-active-keys", "3", p(&ks.layout.fernet)]);
    assert_eq!(code, 0, "{report:#}");
}

/// Test 3: what keystone-manage writes and rotates, repo check accepts, and repo check's
/// comparison notices when two copies drift apart.
#[test]
fn repo_check_accepts_keystone_manage_repositories() {
    let ks = Keystone::new(Provider::Fernet);
    let owner = owner_flags();
    let mut setup = vec!["fernet_setup"];
    setup.extend(owner.iter().map(String::as_str));
    ks.manage_ok(&setup);
    let fernet = &ks.layout.fernet;
    assert_eq!(key_names(fernet), ["0", "1"]);
    let (code, report) = repo_check(&[p(fernet)]);
    assert_eq!(code, 0, "fresh keystone-manage fernet_setup: {report:#}");
    // fernet_setup also sets up the receipt repository.
    let (code, report) = repo_check(&["--kind", "receipt", p(&ks.layout.receipt)]);
    assert_eq!(code, 0, "receipt repo from fernet_setup: {report:#}");

    // A copy of the repository (another node) compares equal...
    let copy = ks.layout.root.join("node2-fernet-keys");
    fs::create_dir(&copy).expect("mkdir copy");
    fs::set_permissions(&copy, fs::metadata(fernet).expect("stat").permissions()).expect("chmod");
    for name in key_names(fernet) {
        fs::copy(fernet.join(&name), copy.join(&name)).expect("copy key");
    }
    let (code, report) = repo_check(&[p(fernet), p(&copy)]);
    assert_eq!(code, 0, "identical copies: {report:#}");
    assert_eq!(report["in_sync"], true, "{report:#}");

    // ...and unequal once keystone-manage rotates one of them.
    let mut rotate = vec!["fernet_rotate"];
    rotate.extend(owner.iter().map(String::as_str));
    ks.manage_ok(&rotate);
    assert_eq!(key_names(fernet), ["0", "1", "2"]);
    let (code, report) = repo_check(&[p(fernet), p(&copy)]);
    assert_eq!(code, 1, "rotated vs not rotated must differ: {report:#}");
    assert_eq!(report["in_sync"], false, "{report:#}");
    assert!(
        finding_codes(&report).contains(&"repos-out-of-sync".to_string()),
        "{report:#}"
    );

    // Rotated several times (pruning with keystone's default max_active_keys 3): still fine.
    ks.manage_ok(&rotate);
    ks.manage_ok(&rotate);
    assert_eq!(key_names(fernet), ["0", "3", "4"]);
    let (code, report) = repo_check(&["--max-active-keys", "3", p(fernet)]);
    assert_eq!(code, 0, "after three keystone-manage rotations: {report:#}");
    assert_eq!(report_key_names(&report), ["0", "3", "4"], "{report:#}");
    let roles: Vec<&str> = report["repositories"][0]["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["role"].as_str().expect("role"))
        .collect();
    assert_eq!(roles, ["staged", "secondary", "primary"], "{report:#}");
}

/// Test 4: JWS tokens with our ES256 pair, and a zero-downtime rotation (stage, promote).
#[test]
fn jws_tokens_with_our_key_pair_and_rotation() {
    let mut ks = Keystone::new(Provider::Jws);
    setup_jws_repos(&ks);
    let (code, report) = repo_check(&["--kind", "jws", p(&ks.layout.jws)]);
    assert_eq!(code, 0, "our JWS pair: {report:#}");
    let first_public = ks.layout.jws_public.join("public.pem");
    ks.start();

    let t1 = ks.issue_token(Scope::AdminProject);
    assert_eq!(jws_header(&t1)["alg"], "ES256", "{t1}");
    assert!(
        jws_signed_by(&t1, &first_public),
        "t1 must be signed by our key"
    );
    ks.assert_valid(&t1, "t1");

    // Phase 1: stage. Keystone still signs with the old key and accepts both.
    let staged: serde_json::Value = serde_json::from_str(&overcloud_keys_ok(&[
        "-f",
        "json",
        "jws",
        "rotate",
        "stage",
        "--private-dir",
        p(&ks.layout.jws_private),
        "--public-dir",
        p(&ks.layout.jws_public),
    ]))
    .expect("stage -f json");
    let new_public = ks
        .layout
        .jws_public
        .join(staged["public_key_file"].as_str().expect("public_key_file"));
    assert!(new_public.is_file(), "{staged:#}");
    assert_eq!(mode(&ks.layout.jws_private.join("staged.pem")), 0o600);
    assert_modes(&ks.layout.jws_public, 0o644);
    assert_eq!(mode(&ks.layout.jws_private), 0o700);
    ks.restart();
    ks.assert_valid(&t1, "t1 after stage");
    let t2 = ks.issue_token(Scope::Unscoped);
    assert!(
        jws_signed_by(&t2, &first_public),
        "staging must not switch signing"
    );
    assert!(!jws_signed_by(&t2, &new_public));
    ks.assert_valid(&t2, "t2 after stage");

    // Phase 2: promote. Keystone signs with the new key and still accepts old tokens.
    overcloud_keys_ok(&[
        "jws",
        "rotate",
        "promote",
        "--private-dir",
        p(&ks.layout.jws_private),
        "--public-dir",
        p(&ks.layout.jws_public),
    ]);
    assert_modes(&ks.layout.jws_private, 0o600);
    assert_modes(&ks.layout.jws_public, 0o644);
    ks.restart();
    ks.assert_valid(&t1, "t1 after promote");
    ks.assert_valid(&t2, "t2 after promote");
    let t3 = ks.issue_token(Scope::AdminProject);
    assert_eq!(jws_header(&t3)["alg"], "ES256");
    assert!(
        jws_signed_by(&t3, &new_public),
        "after promote keystone must sign with the staged key"
    );
    assert!(!jws_signed_by(&t3, &first_public));
    ks.assert_valid(&t3, "t3 after promote");
    let (code, report) = repo_check(&["--kind", "jws", p(&ks.layout.jws)]);
    assert_eq!(code, 0, "after promote: {report:#}");
}

/// Test 5a: a Fernet key of the wrong length makes keystone answer 500; repo check exits 1.
#[test]
fn repo_check_rejects_bad_length_key_that_breaks_keystone() {
    let mut ks = Keystone::new(Provider::Fernet);
    setup_fernet_repos(&ks);
    ks.start();
    let before = ks.issue_token(Scope::AdminProject);
    ks.assert_valid(&before, "token before the corruption");

    // 30 bytes instead of 32, still valid URL-safe base64 (40 characters). Only the staged
    // key, which never encrypts anything: one bad file anywhere breaks every request.
    let bad = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE, [7u8; 30]);
    assert_eq!(bad.len(), 40);
    keystone_harness::overwrite(&ks.layout.fernet.join("0"), bad.as_bytes());
    ks.mark_log();
    let reply = ks.request_token(Scope::AdminProject);
    assert_eq!(
        reply.status,
        500,
        "token issue with a bad-length key: {}\n{}",
        reply.body,
        ks.diagnostics()
    );
    assert!(
        keystone_harness::error_lines(&ks.new_log())
            .contains("Fernet key must be 32 url-safe base64-encoded bytes"),
        "keystone's 500 should come from the bad key:\n{}",
        ks.new_log()
    );
    // Validation of a token made before is broken too (authenticated by that same token).
    assert_eq!(ks.validate_with(&before, &before).status, 500);

    let (code, report) = repo_check(&[p(&ks.layout.fernet)]);
    assert_eq!(code, 1, "{report:#}");
    assert!(
        finding_codes(&report).contains(&"key-bad-length".to_string()),
        "{report:#}"
    );
    let finding = &report["repositories"][0]["findings"][0];
    assert_eq!(finding["severity"], "error", "{report:#}");
    assert_eq!(
        Path::new(finding["path"].as_str().expect("path")),
        ks.layout.fernet.join("0")
    );
}

/// Test 5b: a sub-directory in the JWS public key set makes validation answer 500; repo
/// check exits 1 with jws-public-subdirectory.
#[test]
fn repo_check_rejects_jws_public_subdirectory_that_breaks_keystone() {
    let mut ks = Keystone::new(Provider::Jws);
    setup_jws_repos(&ks);
    ks.start();
    let token = ks.issue_token(Scope::AdminProject);
    let admin = ks.admin_token();
    assert_eq!(ks.validate_with(&admin, &token).status, 200);

    let stray = ks.layout.jws_public.join("old-keys");
    fs::create_dir(&stray).expect("mkdir stray");
    ks.mark_log();
    let reply = ks.validate_with(&admin, &token);
    assert_eq!(
        reply.status,
        500,
        "validation with a sub-directory in the public set: {}\n{}",
        reply.body,
        ks.diagnostics()
    );
    assert!(
        keystone_harness::error_lines(&ks.new_log()).contains("IsADirectoryError"),
        "keystone's 500 should come from the sub-directory:\n{}",
        ks.new_log()
    );

    let (code, report) = repo_check(&["--kind", "jws", p(&ks.layout.jws)]);
    assert_eq!(code, 1, "{report:#}");
    assert!(
        finding_codes(&report).contains(&"jws-public-subdirectory".to_string()),
        "{report:#}"
    );
    // Removing it is the fix keystone agrees with.
    fs::remove_dir(&stray).expect("rmdir");
    assert_eq!(ks.validate_with(&admin, &token).status, 200);
    let (code, report) = repo_check(&["--kind", "jws", p(&ks.layout.jws)]);
    assert_eq!(code, 0, "{report:#}");
}

/// sha1 hex, the way keystone hashes the primary credential key.
fn sha1_hex(data: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Test 6: keystone encrypts credentials with our primary credential key. Keystone 30.0.0
/// (`credential/providers/fernet/core.py`) stores `key_hash = sha1(keys[0])`, where
/// `keys[0]` is the primary key file's text as read (not the decoded 32 bytes); with a
/// missing repository it would be the all-zero NULL key's hash.
#[test]
fn credentials_are_encrypted_with_our_primary_credential_key() {
    let mut ks = Keystone::new(Provider::Fernet);
    setup_fernet_repos(&ks);
    ks.start();
    let blob = r#"{"access": "harness-access", "secret": "harness-secret"}"#;
    let id = ks.store_ec2_credential(blob);
    // Readable back through the API (keystone decrypts with our repository).
    let shown = ks.api("GET", &format!("/v3/credentials/{id}"), None);
    assert_eq!(shown.status, 200, "{}", shown.body);
    let shown: serde_json::Value = serde_json::from_str(&shown.body).expect("json");
    assert_eq!(shown["credential"]["blob"], blob);

    let row = run_python(
        "import json, sqlite3, sys\n\
         c = sqlite3.connect(sys.argv[1])\n\
         r = c.execute('select key_hash, encrypted_blob from credential where id = ?', (sys.argv[2],)).fetchone()\n\
         print(json.dumps({'key_hash': r[0], 'encrypted_blob': r[1]}))\n",
        &[p(&ks.layout.db), &id],
    );
    let row: serde_json::Value = serde_json::from_str(&row).expect("row json");
    let key_hash = row["key_hash"].as_str().expect("key_hash");
    let primary = fs::read(ks.layout.credential.join("1")).expect("credential key 1");
    let staged = fs::read(ks.layout.credential.join("0")).expect("credential key 0");
    let null_key = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE, [0u8; 32]);
    assert_ne!(
        key_hash,
        sha1_hex(null_key.as_bytes()),
        "keystone fell back to the NULL key: our credential repository was not used\n{}",
        ks.log()
    );
    assert_ne!(
        key_hash,
        sha1_hex(&staged),
        "encrypted with the staged key 0"
    );
    assert_eq!(
        key_hash,
        sha1_hex(&primary),
        "key_hash must be sha1 of our primary credential key's text"
    );
    // The stored blob is a Fernet token whose HMAC verifies with our key 1.
    let encrypted = row["encrypted_blob"].as_str().expect("encrypted_blob");
    assert_eq!(
        fernet_signing_key(&ks.layout.credential, encrypted).as_deref(),
        Some("1")
    );
    assert!(
        !ks.log().contains("null key"),
        "keystone warned about the null key:\n{}",
        ks.log()
    );
}
