//! Adopting a deployed cloud's keys, proven against a real Keystone 30.0.0 (issue 11).
//!
//! The "deployed cloud" is a keystone running on repositories made by `keystone-manage`
//! (Fernet rotated twice, so the indices are 0, 2 and 3), holding a token signed by a
//! secondary key, one signed by the primary, and an EC2 credential encrypted with the
//! primary credential key. Its keys are written to an OSP 17 passwords file by Python's
//! `yaml.safe_dump`, the way tripleoclient writes `overcloud-passwords.yaml`.
//!
//! Then the keys `overcloud-keys build` renders into `fernet.yaml` are written to FRESH
//! directories exactly as puppet-keystone would (one file per `KeystoneFernetKeys` entry,
//! `KeystoneCredential0/1` to `0` and `1`) and keystone is restarted on them:
//! - after `adopt`, the old tokens validate and the credential decrypts;
//! - without `adopt`, `build` refuses (exit 2); with `--new-keys` it warns, and keystone on
//!   those keys rejects the old tokens and cannot decrypt the credential: the refusal matters.

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use crate::keystone_harness;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use keystone_harness::{
    Keystone, Provider, Scope, assert_modes, bin, fernet_signing_key, mode, owner_flags, run_python,
};

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// The deployed cloud: its keystone (stopped), tokens, credential and key files.
struct Deployed {
    ks: Keystone,
    /// Signed by key 2 (a secondary key after the second rotation).
    token_secondary: String,
    /// Signed by key 3 (the primary).
    token_primary: String,
    credential_id: String,
    blob: String,
    /// File name → bytes of keystone-manage's Fernet repository.
    fernet: BTreeMap<String, Vec<u8>>,
    /// File name → bytes of keystone-manage's credential repository.
    credential: BTreeMap<String, Vec<u8>>,
    /// `$HOME` holding `overcloud-deploy/overcloud/overcloud-passwords.yaml`.
    home: tempfile::TempDir,
}

fn read_repo(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).expect("read key"),
            )
        })
        .collect()
}

fn names(repo: &BTreeMap<String, Vec<u8>>) -> Vec<&str> {
    repo.keys().map(String::as_str).collect()
}

/// Writes the passwords file tripleoclient writes after a deploy (OSP 17): Python's
/// `yaml.safe_dump` of `{'parameter_defaults': {...}}`, the keys read from the repositories.
const WRITE_PASSWORDS: &str = r#"
import os, sys, yaml
fernet_dir, credential_dir, out = sys.argv[1:4]
def read(path):
    with open(path) as f:
        return f.read()
fernet = {
    '/etc/keystone/fernet-keys/%s' % name: {'content': read(os.path.join(fernet_dir, name))}
    for name in os.listdir(fernet_dir)
}
params = {
    'AdminPassword': 'Xq3lW0cKe9hGJtYzvN4pUaRbM',
    'AdminToken': 'p6fKdJ2sGmTnB8vR1cLxQwZyE',
    'CinderPassword': 'Hh7sTq2mVb9LcXw4RpNzK1aYd',
    'KeystoneCredential0': read(os.path.join(credential_dir, '0')),
    'KeystoneCredential1': read(os.path.join(credential_dir, '1')),
    'KeystoneFernetKeys': fernet,
    'MysqlRootPassword': 'n0tAF3rn3tK3y',
    'RabbitCookie': 'Zk2Wq8Lr5Ty1Ux7Vi4Ob',
}
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, 'w') as f:
    f.write(yaml.safe_dump({'parameter_defaults': params}, default_flow_style=False))
print(out)
"#;

/// Keystone on keystone-manage repositories with a token per Fernet key role and a stored
/// credential; the passwords file written from those repositories. Keystone is stopped.
fn deployed_cloud() -> Deployed {
    let mut ks = Keystone::new(Provider::Fernet); // max_active_keys 3
    let owner = owner_flags();
    let with_owner = |cmd: &'static str| {
        let mut args = vec![cmd];
        args.extend(owner.iter().map(String::as_str));
        args
    };
    ks.manage_ok(&with_owner("fernet_setup"));
    ks.manage_ok(&with_owner("credential_setup"));
    ks.manage_ok(&with_owner("fernet_rotate")); // {0,1} -> {0,1,2}
    ks.start();
    let token_secondary = ks.issue_token(Scope::AdminProject);
    assert_eq!(
        fernet_signing_key(&ks.layout.fernet, &token_secondary).as_deref(),
        Some("2")
    );
    // Keystone reads its key repository per request: the rotation takes effect at once.
    ks.manage_ok(&with_owner("fernet_rotate")); // {0,1,2} -> {0,2,3}
    let token_primary = ks.issue_token(Scope::Unscoped);
    assert_eq!(
        fernet_signing_key(&ks.layout.fernet, &token_primary).as_deref(),
        Some("3")
    );
    ks.assert_valid(
        &token_secondary,
        "token signed by key 2 on the deployed cloud",
    );
    ks.assert_valid(
        &token_primary,
        "token signed by key 3 on the deployed cloud",
    );

    let blob = r#"{"access": "adopt-access", "secret": "adopt-secret"}"#.to_string();
    let credential_id = ks.store_ec2_credential(&blob);
    let shown = ks.api("GET", &format!("/v3/credentials/{credential_id}"), None);
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&shown.body).expect("json")["credential"]["blob"],
        blob.as_str()
    );
    ks.assert_no_log_errors();
    ks.stop();

    let fernet = read_repo(&ks.layout.fernet);
    let credential = read_repo(&ks.layout.credential);
    assert_eq!(names(&fernet), ["0", "2", "3"]);
    assert_eq!(names(&credential), ["0", "1"]);

    let home = tempfile::Builder::new()
        .prefix("adopt-home-")
        .tempdir()
        .expect("tempdir");
    let passwords = passwords_file(home.path());
    let written = run_python(
        WRITE_PASSWORDS,
        &[
            p(&ks.layout.fernet),
            p(&ks.layout.credential),
            p(&passwords),
        ],
    );
    assert_eq!(written.trim(), p(&passwords));
    let text = fs::read_to_string(&passwords).expect("passwords file");
    assert!(
        text.starts_with("parameter_defaults:\n  AdminPassword: ")
            && text.contains(
                "\n  KeystoneFernetKeys:\n    /etc/keystone/fernet-keys/0:\n      content: "
            ),
        "not what yaml.safe_dump writes:\n{text}"
    );
    Deployed {
        ks,
        token_secondary,
        token_primary,
        credential_id,
        blob,
        fernet,
        credential,
        home,
    }
}

fn passwords_file(home: &Path) -> PathBuf {
    home.join("overcloud-deploy/overcloud/overcloud-passwords.yaml")
}

/// `overcloud-keys ARGS` with `HOME=home` and no OpenStack/Swift credentials in the
/// environment (the plan container must not be looked up in some real Swift).
fn run(home: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(bin());
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy();
        if n.starts_with("OS_") || n.starts_with("ST_") {
            cmd.env_remove(&name);
        }
    }
    cmd.args(args)
        .env("HOME", home)
        .stdin(Stdio::null())
        .output()
        .expect("run overcloud-keys")
}

fn show(args: &[&str], out: &Output) -> String {
    format!(
        "overcloud-keys {args:?} exited {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_ok(home: &Path, args: &[&str]) -> Output {
    let out = run(home, args);
    assert_eq!(out.status.code(), Some(0), "{}", show(args, &out));
    out
}

/// The keys of a rendered `fernet.yaml`: Fernet file name → content (the path must be
/// under /etc/keystone/fernet-keys/), and KeystoneCredential0/1.
fn rendered_keys(fernet_yaml: &Path) -> (BTreeMap<String, String>, [String; 2]) {
    assert_eq!(
        mode(fernet_yaml),
        0o600,
        "mode of {}",
        fernet_yaml.display()
    );
    let text = fs::read_to_string(fernet_yaml).expect("read fernet.yaml");
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("fernet.yaml is YAML");
    let params = &doc["parameter_defaults"];
    let entries = params["KeystoneFernetKeys"]
        .as_mapping()
        .unwrap_or_else(|| panic!("no KeystoneFernetKeys mapping in fernet.yaml:\n{text}"));
    let mut fernet = BTreeMap::new();
    for (path, value) in entries {
        let path = Path::new(path.as_str().expect("path is a string"));
        assert_eq!(
            path.parent(),
            Some(Path::new("/etc/keystone/fernet-keys")),
            "{}",
            path.display()
        );
        let name = path.file_name().expect("file name").to_string_lossy();
        let content = value["content"].as_str().expect("content").to_string();
        assert!(
            fernet.insert(name.into_owned(), content).is_none(),
            "duplicate {}",
            path.display()
        );
    }
    let credential = ["KeystoneCredential0", "KeystoneCredential1"].map(|k| {
        params[k]
            .as_str()
            .unwrap_or_else(|| panic!("no {k} in fernet.yaml:\n{text}"))
            .to_string()
    });
    (fernet, credential)
}

/// Replaces a key repository by a fresh directory holding `files` (0700, files 0600), as
/// puppet-keystone writes it from the Heat parameters: nothing of the old directory survives.
fn write_like_puppet<'a>(dir: &Path, files: impl IntoIterator<Item = (&'a str, &'a str)>) {
    fs::remove_dir_all(dir).unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
    fs::create_dir(dir).expect("mkdir");
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).expect("chmod");
    for (name, content) in files {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dir.join(name))
            .expect("create key file");
        f.write_all(content.as_bytes()).expect("write key");
    }
}

/// Writes what `fernet.yaml` carries into fresh Fernet and credential repositories.
fn deploy_rendered(ks: &Keystone, fernet_yaml: &Path) -> BTreeMap<String, String> {
    let (fernet, credential) = rendered_keys(fernet_yaml);
    write_like_puppet(
        &ks.layout.fernet,
        fernet.iter().map(|(n, c)| (n.as_str(), c.as_str())),
    );
    write_like_puppet(
        &ks.layout.credential,
        [("0", credential[0].as_str()), ("1", credential[1].as_str())],
    );
    fernet
}

fn get_credential(ks: &mut Keystone, id: &str) -> keystone_harness::Reply {
    ks.api("GET", &format!("/v3/credentials/{id}"), None)
}

/// Adopt, then build: the rendered keys are the deployed ones, so after a "redeploy" keystone
/// still accepts the tokens it issued and still decrypts the stored credential.
#[test]
fn adopt_then_build_keeps_tokens_and_credentials() {
    let Deployed {
        mut ks,
        token_secondary,
        token_primary,
        credential_id,
        blob,
        fernet,
        credential,
        home,
    } = deployed_cloud();
    let work = tempfile::Builder::new()
        .prefix("adopt-work-")
        .tempdir()
        .expect("tempdir");
    let w = work.path().join("overcloud");

    let args = ["-f", "json", "adopt", "--workdir", p(&w)];
    let out = run_ok(home.path(), &args);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("adopt -f json printed no JSON ({e}): {}", show(&args, &out)));
    assert_eq!(report["status"], "imported", "{report:#}");

    // Imported byte for byte with their indices, 0600 files in 0700 directories.
    let adopted_fernet = w.join("keys/fernet-keys");
    let adopted_credential = w.join("keys/credential-keys");
    assert_modes(&adopted_fernet, 0o600);
    assert_modes(&adopted_credential, 0o600);
    assert_eq!(read_repo(&adopted_fernet), fernet, "adopted Fernet keys");
    assert_eq!(
        read_repo(&adopted_credential),
        credential,
        "adopted credential keys"
    );
    assert_eq!(mode(&w), 0o700, "mode of the work directory");

    let args = ["build", "--workdir", p(&w), "--no-jws"];
    run_ok(home.path(), &args);
    // build reuses the adopted repositories as they are.
    assert_eq!(
        read_repo(&adopted_fernet),
        fernet,
        "Fernet keys after build"
    );
    assert_eq!(
        read_repo(&adopted_credential),
        credential,
        "credential keys after build"
    );
    assert_modes(&adopted_fernet, 0o600);
    assert_modes(&adopted_credential, 0o600);

    let rendered = deploy_rendered(&ks, &w.join("fernet.yaml"));
    assert_eq!(
        rendered.keys().map(String::as_str).collect::<Vec<_>>(),
        ["0", "2", "3"],
        "KeystoneFernetKeys must keep the deployed indices"
    );
    assert_eq!(
        read_repo(&ks.layout.fernet),
        fernet,
        "puppet's Fernet files"
    );
    assert_eq!(
        read_repo(&ks.layout.credential),
        credential,
        "puppet's credential files"
    );
    assert_modes(&ks.layout.fernet, 0o600);
    assert_modes(&ks.layout.credential, 0o600);

    ks.start();
    ks.assert_valid(
        &token_secondary,
        "token signed by key 2, after adopt + build",
    );
    ks.assert_valid(&token_primary, "token signed by key 3, after adopt + build");
    let shown = get_credential(&mut ks, &credential_id);
    assert_eq!(
        shown.status,
        200,
        "credential after adopt + build: {}\n{}",
        shown.body,
        ks.diagnostics()
    );
    let shown: serde_json::Value = serde_json::from_str(&shown.body).expect("json");
    assert_eq!(shown["credential"]["blob"], blob.as_str());
    // The primary is still 3: new tokens are signed by it.
    let fresh = ks.issue_token(Scope::Unscoped);
    assert_eq!(
        fernet_signing_key(&ks.layout.fernet, &fresh).as_deref(),
        Some("3")
    );
    ks.assert_no_log_errors();
}

/// Without adopt, build refuses to mint keys for a deployed stack; `--new-keys` mints them
/// anyway, and keystone on those keys proves why it refused: old tokens and stored
/// credentials are lost.
#[test]
fn build_without_adopt_refuses_on_a_deployed_stack() {
    let Deployed {
        mut ks,
        token_secondary,
        token_primary,
        credential_id,
        blob,
        fernet,
        credential,
        home,
    } = deployed_cloud();
    let work = tempfile::Builder::new()
        .prefix("adopt-work-")
        .tempdir()
        .expect("tempdir");
    let w = work.path().join("overcloud");

    let args = ["build", "--workdir", p(&w), "--no-jws"];
    let out = run(home.path(), &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", show(&args, &out));
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("error:") && l.contains("already deployed")),
        "{}",
        show(&args, &out)
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("hint:") && l.contains("overcloud-keys adopt")),
        "{}",
        show(&args, &out)
    );
    assert!(
        !w.exists(),
        "a refused build must write nothing, yet {} exists",
        w.display()
    );

    let args = ["build", "--new-keys", "--workdir", p(&w), "--no-jws"];
    let out = run_ok(home.path(), &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warning = stderr
        .lines()
        .find(|l| l.contains("WARNING") && l.contains("--new-keys"))
        .unwrap_or_else(|| panic!("no --new-keys WARNING: {}", show(&args, &out)));
    assert!(
        warning.contains("already deployed") && warning.contains("token"),
        "{warning}"
    );
    assert!(warning.contains("invalid"), "{warning}");
    assert!(warning.contains("undecryptable"), "{warning}");

    let rendered = deploy_rendered(&ks, &w.join("fernet.yaml"));
    let new_fernet = read_repo(&ks.layout.fernet);
    let new_credential = read_repo(&ks.layout.credential);
    assert_eq!(names(&new_credential), ["0", "1"], "KeystoneCredential0/1");
    assert!(!rendered.is_empty());
    for (name, key) in new_fernet.iter().chain(&new_credential) {
        assert!(
            !fernet
                .values()
                .chain(credential.values())
                .any(|old| old == key),
            "new key {name} is one of the deployed keys"
        );
    }

    ks.start();
    ks.mark_log();
    let admin = ks.admin_token();
    for (token, what) in [(&token_secondary, "key 2"), (&token_primary, "key 3")] {
        let reply = ks.validate_with(&admin, token);
        assert_eq!(
            reply.status,
            404,
            "token signed by the deployed {what} on new keys: {}\n{}",
            reply.body,
            ks.diagnostics()
        );
    }
    let shown = get_credential(&mut ks, &credential_id);
    eprintln!(
        "keystone on new credential keys: GET /v3/credentials/{credential_id} -> {} {}",
        shown.status, shown.body
    );
    assert!(
        !shown.body.contains(&blob) && !shown.body.contains("adopt-secret"),
        "keystone decrypted the credential with new keys: {}",
        shown.body
    );
    // Keystone 30.0.0 raises CredentialEncryptionError, which escapes its error handlers:
    // a bare 500 from the WSGI server, the InvalidToken only in keystone's log.
    assert_eq!(
        shown.status,
        500,
        "credential on new keys: {}\n{}",
        shown.body,
        ks.diagnostics()
    );
    let errors = keystone_harness::error_lines(&ks.new_log());
    assert!(
        errors.contains("Credential could not be decrypted")
            && errors.contains("cryptography.fernet.InvalidToken"),
        "keystone's 500 should come from the undecryptable credential:\n{}",
        ks.new_log()
    );
}
