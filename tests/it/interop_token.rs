//! `overcloud-keys token inspect` against a real Keystone 30.0.0: for tokens keystone issues
//! with our repositories, the inspector must show the user, scope, expiry and audit ids that
//! keystone's own `GET /v3/auth/tokens` returns, and must refuse what keystone refuses.
//!
//! The harness (tests/keystone_harness) starts keystone; the extra API calls (role grants,
//! users, trusts, application credentials) are made here with ureq.

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use crate::keystone_harness;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use keystone_harness::{ADMIN_PASSWORD, Keystone, Provider, Scope, bin, overcloud_keys_ok};

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// `overcloud-keys ARGS` with `stdin`: (exit code, stdout, stderr).
fn run(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run overcloud-keys");
    // The tool may exit (usage error) before reading stdin: a broken pipe is not a failure.
    if let Err(e) = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
    {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "write tokens: {e}"
        );
    }
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().expect("exit code"),
        String::from_utf8(out.stdout).expect("utf-8"),
        String::from_utf8(out.stderr).expect("utf-8"),
    )
}

/// `token inspect -f json` of `tokens` (one per line) with key flags `keys`.
fn inspect_json(keys: &[&str], tokens: &[&str]) -> (i32, Value) {
    let mut args = vec!["-f", "json", "token", "inspect"];
    args.extend_from_slice(keys);
    let (code, out, err) = run(&args, &(tokens.join("\n") + "\n"));
    let value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("token inspect -f json ({code}): {e}\n{out}\n{err}"));
    (code, value)
}

/// Direct API access for what the harness does not offer (PUT, other users' auth).
struct Api {
    agent: ureq::Agent,
    base: String,
}

impl Api {
    fn new(ks: &Keystone) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent();
        Api {
            agent,
            base: ks.url().to_string(),
        }
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Option<String>, Value) {
        let url = format!("{}{path}", self.base);
        let mut req = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(token) = token {
            req = req.header("X-Auth-Token", token);
        }
        let resp = match body {
            Some(body) => self.agent.run(
                req.header("Content-Type", "application/json")
                    .body(body.to_string())
                    .expect("request"),
            ),
            None => self.agent.run(req.body(()).expect("request")),
        };
        let mut resp = resp.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let subject = resp
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            subject,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    fn ok(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
        let (status, _, reply) = self.call(method, path, Some(token), body);
        assert!(
            (200..300).contains(&status),
            "{method} {path} answered {status}: {reply}"
        );
        reply
    }

    /// `POST /v3/auth/tokens`: the token.
    fn token(&self, auth: Value) -> String {
        let (status, subject, reply) =
            self.call("POST", "/v3/auth/tokens", None, Some(json!({"auth": auth})));
        assert_eq!(status, 201, "token request {auth}: {reply}");
        subject.expect("X-Subject-Token")
    }

    /// Keystone's own validation of `token`: the `token` object of `GET /v3/auth/tokens`.
    fn validate(&self, admin: &str, token: &str) -> Value {
        let url = format!("{}/v3/auth/tokens", self.base);
        let mut resp = self
            .agent
            .get(&url)
            .header("X-Auth-Token", admin)
            .header("X-Subject-Token", token)
            .call()
            .expect("GET /v3/auth/tokens");
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        assert_eq!(status, 200, "keystone does not validate the token: {text}");
        serde_json::from_str::<Value>(&text).expect("token json")["token"].clone()
    }
}

fn password(user: Value) -> Value {
    json!({"methods": ["password"], "password": {"user": user}})
}

fn admin_password() -> Value {
    password(json!({"name": "admin", "domain": {"id": "default"}, "password": ADMIN_PASSWORD}))
}

/// The scope id keystone reports, named like the inspector's field.
fn keystone_scope(token: &Value) -> (&'static str, Value) {
    if let Some(trust) = token.get("OS-TRUST:trust") {
        return ("trust_id", trust["id"].clone());
    }
    if let Some(cred) = token.get("application_credential") {
        return ("app_cred_id", cred["id"].clone());
    }
    if let Some(project) = token.get("project") {
        return ("project_id", project["id"].clone());
    }
    if let Some(domain) = token.get("domain") {
        return ("domain_id", domain["id"].clone());
    }
    if let Some(system) = token.get("system") {
        assert_eq!(system, &json!({"all": true}));
        return ("system", json!("all"));
    }
    ("unscoped", Value::Null)
}

/// Asserts the inspector's result says what keystone's validation says.
fn assert_same(name: &str, keystone: &Value, ours: &Value) {
    assert_eq!(ours["ok"], true, "{name}: {ours:#}");
    assert_eq!(ours["user_id"], keystone["user"]["id"], "{name}: user id");
    assert_eq!(ours["expires_at"], keystone["expires_at"], "{name}: expiry");
    assert_eq!(
        ours["issued_at"], keystone["issued_at"],
        "{name}: issue time"
    );
    assert_eq!(
        ours["audit_ids"], keystone["audit_ids"],
        "{name}: audit ids"
    );
    assert_eq!(ours["methods"], keystone["methods"], "{name}: methods");
    let (field, id) = keystone_scope(keystone);
    if field != "unscoped" {
        assert_eq!(ours[field], id, "{name}: {field}");
    }
    if field == "trust_id" || field == "app_cred_id" {
        assert_eq!(
            ours["project_id"], keystone["project"]["id"],
            "{name}: project of the {field}"
        );
    }
    for other in [
        "project_id",
        "domain_id",
        "system",
        "trust_id",
        "app_cred_id",
    ] {
        if other != field && !(other == "project_id" && keystone.get("project").is_some()) {
            assert!(
                ours.get(other).is_none(),
                "{name}: unexpected {other}: {ours:#}"
            );
        }
    }
}

fn fernet_keystone() -> Keystone {
    let ks = Keystone::new(Provider::Fernet);
    let l = &ks.layout;
    overcloud_keys_ok(&["fernet", "setup", "--key-repository", p(&l.fernet)]);
    overcloud_keys_ok(&["receipt", "setup", "--key-repository", p(&l.receipt)]);
    overcloud_keys_ok(&["credential", "setup", "--key-repository", p(&l.credential)]);
    ks
}

/// Every scope keystone issues here: inspected like keystone validates it.
#[test]
fn fernet_tokens_of_every_scope_decode_as_keystone_validates_them() {
    let mut ks = fernet_keystone();
    ks.start();
    let api = Api::new(&ks);
    let admin = ks.admin_token();
    let me = api.validate(&admin, &admin);
    let admin_id = me["user"]["id"].as_str().expect("user id").to_string();
    let project_id = me["project"]["id"]
        .as_str()
        .expect("project id")
        .to_string();
    let roles = api.ok("GET", "/v3/roles?name=admin", &admin, None);
    let role_id = roles["roles"][0]["id"]
        .as_str()
        .expect("admin role")
        .to_string();
    api.ok(
        "PUT",
        &format!("/v3/domains/default/users/{admin_id}/roles/{role_id}"),
        &admin,
        None,
    );

    let mut tokens: Vec<(&str, String)> = vec![];
    let unscoped = ks.issue_token(Scope::Unscoped);
    tokens.push(("unscoped", unscoped.clone()));
    tokens.push(("project", ks.issue_token(Scope::AdminProject)));
    tokens.push((
        "domain",
        api.token(json!({"identity": admin_password(), "scope": {"domain": {"id": "default"}}})),
    ));
    tokens.push((
        "system",
        api.token(json!({"identity": admin_password(), "scope": {"system": {"all": true}}})),
    ));
    tokens.push((
        "rescoped-by-token",
        api.token(json!({
            "identity": {"methods": ["token"], "token": {"id": unscoped}},
            "scope": {"project": {"id": project_id}},
        })),
    ));

    // A trust from admin to a second user, and a token the trustee gets through it.
    let trustee = api.ok(
        "POST",
        "/v3/users",
        &admin,
        Some(
            json!({"user": {"name": "trustee", "domain_id": "default", "password": "trustee-pw"}}),
        ),
    );
    let trustee_id = trustee["user"]["id"]
        .as_str()
        .expect("trustee id")
        .to_string();
    let trust = api.ok(
        "POST",
        "/v3/OS-TRUST/trusts",
        &admin,
        Some(json!({"trust": {
            "trustor_user_id": admin_id,
            "trustee_user_id": trustee_id,
            "project_id": project_id,
            "impersonation": false,
            "roles": [{"name": "admin"}],
        }})),
    );
    let trust_id = trust["trust"]["id"].as_str().expect("trust id").to_string();
    tokens.push((
        "trust",
        api.token(json!({
            "identity": password(json!({"id": trustee_id, "password": "trustee-pw"})),
            "scope": {"OS-TRUST:trust": {"id": trust_id}},
        })),
    ));

    // An application credential of admin's and a token from it.
    let cred = api.ok(
        "POST",
        &format!("/v3/users/{admin_id}/application_credentials"),
        &admin,
        Some(json!({"application_credential": {"name": "inspect-test"}})),
    );
    let cred = &cred["application_credential"];
    tokens.push((
        "application-credential",
        api.token(json!({"identity": {
            "methods": ["application_credential"],
            "application_credential": {"id": cred["id"], "secret": cred["secret"]},
        }})),
    ));

    let fernet = p(&ks.layout.fernet).to_string();
    let lines: Vec<&str> = tokens.iter().map(|(_, t)| t.as_str()).collect();
    let (code, report) = inspect_json(&["--key-repository", &fernet], &lines);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["decoded"], tokens.len());
    let results = report["results"].as_array().expect("results");
    let mut versions = vec![];
    for ((name, token), ours) in tokens.iter().zip(results) {
        let theirs = api.validate(&admin, token);
        assert_same(name, &theirs, ours);
        assert_eq!(
            ours["key"]["file"], "1",
            "{name}: keystone encrypts with our primary 1"
        );
        assert_eq!(ours["key"]["role"], "primary", "{name}");
        versions.push(ours["version"].as_u64().expect("version"));
    }
    // unscoped, project, domain, system, project (rescoped), trust, application credential
    assert_eq!(versions, [0, 2, 1, 8, 2, 3, 9]);
    assert_eq!(results[5]["user_id"], trustee_id.as_str());
    ks.assert_no_log_errors();
}

/// After our rotation the inspector still reads a token issued before it (now under a
/// secondary key), keystone agrees, and a new token comes from the new primary. A token from
/// another repository, or a damaged one, is a finding (exit 1) that names what was tried.
#[test]
fn tokens_survive_rotation_and_foreign_tokens_are_refused() {
    let mut ks = fernet_keystone();
    ks.start();
    let api = Api::new(&ks);
    let admin = ks.admin_token();
    let before = ks.issue_token(Scope::AdminProject);
    let fernet = p(&ks.layout.fernet).to_string();

    overcloud_keys_ok(&["fernet", "rotate", "--key-repository", &fernet]);
    let after = ks.issue_token(Scope::AdminProject);
    let (code, report) = inspect_json(&["--key-repository", &fernet], &[&before, &after]);
    assert_eq!(code, 0, "{report:#}");
    let results = &report["results"];
    assert_same(
        "before rotation",
        &api.validate(&admin, &before),
        &results[0],
    );
    assert_same("after rotation", &api.validate(&admin, &after), &results[1]);
    assert_eq!(
        results[0]["key"],
        json!({"file": "1", "index": 1, "role": "secondary", "fingerprint": results[0]["key"]["fingerprint"]})
    );
    assert_eq!(results[1]["key"]["file"], "2");
    assert_eq!(results[1]["key"]["role"], "primary");

    // Another cloud's repository: no key works, and the message says which were tried.
    let other = tempfile::tempdir().expect("tempdir");
    let other_repo = other.path().join("fernet-keys");
    overcloud_keys_ok(&["fernet", "setup", "--key-repository", p(&other_repo)]);
    let (code, out, _) = run(
        &["token", "inspect", "--key-repository", p(&other_repo)],
        &format!("{before}\n"),
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "line 1: FAILED fernet no-key: no key in Fernet repository {} (keys 0, 1) decrypts this token",
            other_repo.display()
        )),
        "{out}"
    );
    // A token keystone's own formatter made with the other repository: keystone refuses it
    // (404), and so does the inspector.
    let foreign = keystone_token_from(&other_repo);
    assert_eq!(
        ks.validate(&foreign),
        404,
        "keystone must refuse the other cloud's token"
    );
    let (code, report) = inspect_json(&["--key-repository", &fernet], &[&foreign]);
    assert_eq!(code, 1);
    assert_eq!(report["results"][0]["code"], "no-key");

    // Damaged tokens: a clear reason each, and the good ones in the same batch still decode.
    let truncated = &before[..before.len() - 30];
    let bad_char = format!("{}*{}", &before[..40], &before[41..]);
    let (code, out, _) = run(
        &["token", "inspect", "--key-repository", &fernet],
        &format!("{truncated}\n{bad_char}\n{after}\n"),
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "line 1: FAILED fernet truncated: truncated or damaged: {} characters",
            truncated.len()
        )),
        "{out}"
    );
    assert!(
        out.contains(
            "line 2: FAILED fernet bad-base64: not URL-safe base64: character '*' at position 40"
        ),
        "{out}"
    );
    assert!(out.contains("line 3: ok fernet key 2 (primary, "), "{out}");
    assert!(out.ends_with("3 token(s): 1 decoded, 2 failed\n"), "{out}");
    ks.assert_no_log_errors();
}

/// A project-scoped Fernet token made with `repo`'s primary key by keystone's own token
/// formatter (in the keystone venv; no server needed).
fn keystone_token_from(repo: &Path) -> String {
    let code = r#"
import sys, uuid, warnings
warnings.filterwarnings("ignore")
import keystone.conf
from keystone.token import token_formatters as tf
keystone.conf.configure()
keystone.conf.CONF(args=[], project="keystone", default_config_files=[])
keystone.conf.CONF.set_override("key_repository", sys.argv[1], "fernet_tokens")
print(tf.TokenFormatter().create_token(uuid.uuid4().hex, "2031-01-01T00:00:00Z",
      ["AAAAAAAAAAAAAAAAAAAAAA"], tf.ProjectScopedPayload, methods=["password"],
      project_id=uuid.uuid4().hex))
"#;
    keystone_harness::run_python(code, &[p(repo)])
        .trim()
        .to_string()
}

/// A JWS token from keystone with our `jws create` pair verifies and decodes like keystone
/// validates it; a tampered signature is refused by both.
#[test]
fn jws_tokens_verify_and_tampered_signatures_do_not() {
    let mut ks = Keystone::new(Provider::Jws);
    let l = ks.layout.clone();
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
    ks.start();
    let api = Api::new(&ks);
    let admin = ks.admin_token();
    let project = ks.issue_token(Scope::AdminProject);
    let unscoped = ks.issue_token(Scope::Unscoped);
    let system =
        api.token(json!({"identity": admin_password(), "scope": {"system": {"all": true}}}));

    let public = p(&l.jws_public).to_string();
    let (code, report) = inspect_json(
        &["--jws-public-dir", &public],
        &[&project, &unscoped, &system],
    );
    assert_eq!(code, 0, "{report:#}");
    for (i, (name, token)) in [
        ("project", &project),
        ("unscoped", &unscoped),
        ("system", &system),
    ]
    .into_iter()
    .enumerate()
    {
        let ours = &report["results"][i];
        assert_same(name, &api.validate(&admin, token), ours);
        assert_eq!(ours["format"], "jws");
        assert_eq!(ours["key"]["file"], "public.pem", "{name}");
    }

    // Change one character in the middle of the signature (not the last one, whose low bits
    // are padding), then the same with both Fernet and JWS keys given.
    let (head, sig) = project.rsplit_once('.').expect("three parts");
    let i = sig.len() / 2;
    let swap = if &sig[i..=i] == "A" { "B" } else { "A" };
    let tampered = format!("{head}.{}{swap}{}", &sig[..i], &sig[i + 1..]);
    assert_eq!(
        ks.validate(&tampered),
        404,
        "keystone must refuse the tampered token"
    );
    let (code, out, _) = run(
        &["token", "inspect", "--jws-public-dir", &public],
        &format!("{tampered}\n{project}\n"),
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with(&format!(
            "line 1: FAILED jws jws-bad-signature: no public key in {public} (public.pem) verifies this token's signature"
        )),
        "{out}"
    );
    assert!(
        out.contains("line 2: ok jws public key public.pem"),
        "{out}"
    );
    ks.assert_no_log_errors();
}

/// Usage and I/O errors are exit 2 with a message, before any token is read.
#[test]
fn missing_empty_or_absent_key_directories_are_usage_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let missing = dir.path().join("missing");
    let token = "gAAAAABnAAAA\n";
    for (args, message) in [
        (
            vec!["token", "inspect", "--key-repository", p(&empty)],
            format!("error: {} holds no fernet keys", empty.display()),
        ),
        (
            vec!["token", "inspect", "--jws-public-dir", p(&empty)],
            format!("error: {} holds no JWS public keys", empty.display()),
        ),
        (
            vec!["token", "inspect", "--key-repository", p(&missing)],
            format!("error: no key repository at {}", missing.display()),
        ),
        (
            vec!["token", "inspect"],
            "error: invalid --key-repository/--jws-public-dir".to_string(),
        ),
    ] {
        let (code, out, err) = run(&args, token);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.starts_with(&message), "{args:?}: {err}");
        assert!(err.contains("\nhint: "), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
    }
    let keys = dir.path().join("keys");
    overcloud_keys_ok(&["fernet", "setup", "--key-repository", p(&keys)]);
    let (code, _, err) = run(&["token", "inspect", "--key-repository", p(&keys)], "\n\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("holds no token"), "{err}");
}
