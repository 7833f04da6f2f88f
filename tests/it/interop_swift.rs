//! Interop: `overcloud-keys upload` against a real Swift 2.38.3 (all-in-one on 127.0.0.1,
//! `tests/swift_harness`), checked with a plain HTTP client and Swift's own answers.

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use crate::{keystone_harness, swift_harness};

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use swift_harness::{
    Account, Fault, FaultProxy, KeystoneBackend, Run, Swift, TempUrl, TempUrlDigest, dead_url,
    http, noise, run_tool, sha256_hex, sign, try_http,
};

// ---------------------------------------------------------------------------------------
// The harness itself: if these fail, every other verdict here is meaningless.
// ---------------------------------------------------------------------------------------

/// The harness signs TempURLs the way Swift checks them, and Swift refuses what it must.
#[test]
fn harness_signatures_agree_with_swift() {
    let swift = Swift::shared();
    let acct = swift.account();
    acct.put_container("harness", &[("X-Container-Meta-Temp-URL-Key", "k3y")]);
    let body = noise(1000, 7);
    acct.put_object("harness", "dir/é x.bin", &body, &[]);
    let path = format!("{}/harness/dir/é x.bin", acct.path());
    let expires = swift_harness::now() + 600;
    for digest in [
        TempUrlDigest::Sha1,
        TempUrlDigest::Sha256,
        TempUrlDigest::Sha512,
    ] {
        let sig = sign("k3y", "GET", expires, &path, digest);
        let url = format!(
            "{}?temp_url_sig={sig}&temp_url_expires={expires}",
            acct.url("harness", Some("dir/é x.bin"))
        );
        let parsed = TempUrl::parse(&url);
        assert_eq!(parsed.digest(), digest);
        assert_eq!(parsed.decoded_path(), path);
        let resp = http("GET", &url, &[], None);
        assert_eq!(resp.status, 200, "{digest:?}: {}", resp.text());
        assert_eq!(sha256_hex(&resp.body), sha256_hex(&body));
        let wrong = sign("other", "GET", expires, &path, digest);
        assert_eq!(
            http("GET", &parsed.with(&wrong, expires), &[], None).status,
            401
        );
        let past = swift_harness::now() - 10;
        let expired = sign("k3y", "GET", past, &path, digest);
        assert_eq!(
            http("GET", &parsed.with(&expired, past), &[], None).status,
            401
        );
    }
    // A bad token gets 401 (the proxy has a cache), not 500.
    let resp = http(
        "HEAD",
        &acct.storage_url,
        &[("X-Auth-Token", "AUTH_tk0000")],
        None,
    );
    assert_eq!(resp.status, 401);
}

/// Each fault mode does what the upload tests rely on.
#[test]
fn harness_fault_proxy_modes() {
    let swift = Swift::shared();
    let acct = swift.account();
    acct.put_container("faults", &[]);
    acct.put_object("faults", "o", b"payload", &[]);
    let proxy = FaultProxy::start(swift.proxy_addr(), Fault::ServiceUnavailable, 2);
    let url = format!("{}/faults/o", acct.storage_url_via(&proxy.url()));
    let auth = [("X-Auth-Token", acct.token.as_str())];
    for _ in 0..2 {
        assert_eq!(http("GET", &url, &auth, None).status, 503);
    }
    let resp = http("GET", &url, &auth, None);
    assert_eq!((resp.status, resp.body.as_slice()), (200, &b"payload"[..]));
    // A PUT refused with 503 (body drained first) has no effect.
    proxy.set_fault(Fault::ServiceUnavailable, 1);
    let resp = http("PUT", &url, &auth, Some(&noise(300_000, 1)));
    assert_eq!(resp.status, 503);
    assert_eq!(acct.get_object("faults", "o").body, b"payload");
    assert_eq!(proxy.count(), 4, "{:?}", proxy.log());

    proxy.set_fault(Fault::Reset, 1);
    let err = try_http("GET", &url, &auth, None).expect_err("reset");
    assert!(
        format!("{err}").to_lowercase().contains("reset")
            || format!("{err:?}").contains("ConnectionReset"),
        "{err:?}"
    );
    proxy.set_fault(Fault::Truncate, 1);
    match try_http("GET", &url, &auth, None) {
        Err(_) => {}
        Ok(resp) => panic!("truncated response read as complete: {resp:?}"),
    }
    proxy.set_fault(Fault::Stall, 1);
    let agent = ureq::Agent::config_builder()
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(1)))
        .build()
        .new_agent();
    let started = std::time::Instant::now();
    assert!(
        agent
            .get(&url)
            .header("X-Auth-Token", &acct.token)
            .call()
            .is_err()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(http("GET", &url, &auth, None).status, 200);
    assert_eq!(proxy.count(), 8, "{:?}", proxy.log());

    assert!(try_http("GET", &format!("{}/info", dead_url()), &[], None).is_err());
}

// ---------------------------------------------------------------------------------------
// Keystone: a real Keystone, and a Swift proxy with authtoken + keystoneauth in front of it.
// ---------------------------------------------------------------------------------------

/// Name of the cloud in the generated clouds.yaml.
const CLOUD: &str = "overcloud-test";

/// Keystone, a Swift with a Keystone proxy, an object-store endpoint, and a clouds.yaml.
struct KeystoneSwift {
    swift: Swift,
    ks: keystone_harness::Keystone,
    dir: tempfile::TempDir,
    /// clouds.yaml: `overcloud-test` (admin), `wrong-password`.
    clouds: PathBuf,
    /// `admin` project id (the Swift account is `AUTH_<id>`).
    project_id: String,
    /// `admin` user id.
    user_id: String,
}

impl KeystoneSwift {
    fn start() -> KeystoneSwift {
        use keystone_harness::{ADMIN_PASSWORD, Keystone, Provider, Scope};
        let mut ks = Keystone::new(Provider::Fernet);
        for (kind, dir) in [
            ("fernet", &ks.layout.fernet),
            ("receipt", &ks.layout.receipt),
        ] {
            keystone_harness::overcloud_keys_ok(&[
                kind,
                "setup",
                "--key-repository",
                dir.to_str().expect("utf-8 path"),
            ]);
        }
        ks.start();
        let swift = Swift::start(Some(&KeystoneBackend {
            url: ks.url().to_string(),
            admin_password: ADMIN_PASSWORD.to_string(),
            site_packages: site_packages(keystone_harness::venv()),
        }));
        let reply = ks.issue_token_reply(Scope::AdminProject);
        let body: serde_json::Value = serde_json::from_str(&reply.body).expect("token JSON");
        let project_id = body["token"]["project"]["id"]
            .as_str()
            .expect("project id")
            .to_string();
        let user_id = body["token"]["user"]["id"]
            .as_str()
            .expect("user id")
            .to_string();
        let created = |reply: keystone_harness::Reply, what: &str| -> serde_json::Value {
            assert_eq!(reply.status, 201, "{what}: {}", reply.body);
            serde_json::from_str(&reply.body).expect("JSON")
        };
        created(
            ks.api(
                "POST",
                "/v3/regions",
                Some(&serde_json::json!({"region": {"id": "RegionOne"}})),
            ),
            "create region",
        );
        // authtoken finds keystone itself through the catalog (internal identity endpoint);
        // the tool finds Swift there (public object-store endpoint).
        for (kind, name, url) in [
            ("identity", "keystone", format!("{}/v3", ks.url())),
            (
                "object-store",
                "swift",
                format!("{}/v1/AUTH_%(project_id)s", swift.keystone_proxy_url()),
            ),
        ] {
            let service = created(
                ks.api(
                    "POST",
                    "/v3/services",
                    Some(&serde_json::json!({"service": {"type": kind, "name": name}})),
                ),
                "create service",
            );
            let service_id = service["service"]["id"].as_str().expect("service id");
            for interface in ["public", "internal"] {
                created(
                    ks.api(
                        "POST",
                        "/v3/endpoints",
                        Some(&serde_json::json!({"endpoint": {
                            "service_id": service_id,
                            "interface": interface,
                            "region_id": "RegionOne",
                            "url": url,
                        }})),
                    ),
                    "create endpoint",
                );
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("keystone-swift-")
            .tempdir()
            .expect("tempdir");
        let clouds = dir.path().join("clouds.yaml");
        let cloud = |password: &str| {
            format!(
                "    auth:\n      auth_url: {}/v3\n      username: admin\n      password: {password}\n      \
                 project_name: admin\n      user_domain_name: Default\n      \
                 project_domain_name: Default\n    region_name: RegionOne\n    \
                 interface: public\n    identity_api_version: 3\n",
                ks.url()
            )
        };
        fs::write(
            &clouds,
            format!(
                "clouds:\n  {CLOUD}:\n{}  wrong-password:\n{}",
                cloud(ADMIN_PASSWORD),
                cloud("not-the-password")
            ),
        )
        .expect("write clouds.yaml");
        KeystoneSwift {
            swift,
            ks,
            dir,
            clouds,
            project_id,
            user_id,
        }
    }

    /// The admin project's Swift account through the Keystone proxy, with a Keystone token.
    fn account(&mut self) -> Account {
        Account {
            user: "admin".into(),
            key: keystone_harness::ADMIN_PASSWORD.into(),
            auth_url: format!("{}/v3", self.ks.url()),
            storage_url: format!(
                "{}/v1/AUTH_{}",
                self.swift.keystone_proxy_url(),
                self.project_id
            ),
            token: self.ks.admin_token(),
        }
    }

    /// `OS_CLIENT_CONFIG_FILE` pointing at the generated clouds.yaml.
    fn clouds_env(&self) -> Vec<(String, String)> {
        vec![(
            "OS_CLIENT_CONFIG_FILE".into(),
            self.clouds.to_str().expect("utf-8").into(),
        )]
    }

    /// `OS_*` variables for the admin user (no clouds.yaml).
    fn os_env(&self) -> Vec<(String, String)> {
        [
            ("OS_AUTH_URL", format!("{}/v3", self.ks.url())),
            ("OS_USERNAME", "admin".into()),
            ("OS_PASSWORD", keystone_harness::ADMIN_PASSWORD.into()),
            ("OS_PROJECT_NAME", "admin".into()),
            ("OS_USER_DOMAIN_NAME", "Default".into()),
            ("OS_PROJECT_DOMAIN_NAME", "Default".into()),
            ("OS_REGION_NAME", "RegionOne".into()),
            ("OS_IDENTITY_API_VERSION", "3".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// The `site-packages` directory of a venv.
fn site_packages(venv: &Path) -> PathBuf {
    fs::read_dir(venv.join("lib"))
        .expect("venv lib")
        .flatten()
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("no site-packages in {}", venv.display()))
}

/// The Keystone proxy takes Keystone tokens (and refuses a bad one with 401), and serves
/// TempURLs without one.
#[test]
fn harness_keystone_proxy_accepts_keystone_tokens() {
    let mut kss = KeystoneSwift::start();
    let acct = kss.account();
    acct.put_container("ks", &[("X-Container-Meta-Temp-URL-Key", "kk")]);
    acct.put_object("ks", "o", b"through keystoneauth", &[]);
    assert_eq!(acct.get_object("ks", "o").body, b"through keystoneauth");
    let bad = http(
        "HEAD",
        &acct.storage_url,
        &[("X-Auth-Token", "gAAAAAnot-a-token")],
        None,
    );
    assert_eq!(bad.status, 401, "{}", kss.swift.log_tail(20));
    let expires = swift_harness::now() + 300;
    let path = format!("{}/ks/o", acct.path());
    let sig = sign("kk", "GET", expires, &path, TempUrlDigest::Sha256);
    let url = format!(
        "{}?temp_url_sig={sig}&temp_url_expires={expires}",
        acct.url("ks", Some("o"))
    );
    assert_eq!(http("GET", &url, &[], None).status, 200);
}

// ---------------------------------------------------------------------------------------
// overcloud-keys upload
// ---------------------------------------------------------------------------------------

/// Environment variables for one run.
type Env = Vec<(String, String)>;
/// A labelled way to run the tool: (what, extra arguments, environment).
type Scenario<'a> = (&'a str, Vec<&'a str>, Env);

/// Longest any single `overcloud-keys upload` may run here before the test kills it.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// One test's corner: the shared cluster, an account of its own, a HOME of its own.
struct Case {
    swift: &'static Swift,
    acct: Account,
    home: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        let swift = Swift::shared();
        Case {
            swift,
            acct: swift.account(),
            home: tempfile::Builder::new()
                .prefix("upload-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    fn dir(&self) -> &Path {
        self.home.path()
    }

    /// `dir/name` + `dir/name.sha256`.
    fn artifact(&self, name: &str, data: &[u8]) -> (PathBuf, String) {
        swift_harness::artifact(self.dir(), name, data)
    }

    /// `overcloud-keys ARGS` with this account's tempauth credentials.
    fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &self.acct.st_env())
    }

    fn run_env(&self, args: &[&str], env: &[(String, String)]) -> Run {
        run_tool(self.dir(), args, env, RUN_LIMIT)
    }

    /// `overcloud-keys upload FILE -f json ARGS`, which must succeed: its JSON summary.
    fn upload(&self, file: &Path, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["upload", file.to_str().expect("utf-8"), "-f", "json"];
        all.extend_from_slice(args);
        let run = self.run(&all);
        run.expect_code(0);
        run.json()
    }

    /// The default env file under this HOME.
    fn default_env_file(&self) -> PathBuf {
        self.dir()
            .join(".tripleo/environments/deployment-artifacts.yaml")
    }

    /// A file path in this test's directory, as a string argument.
    fn path(&self, name: &str) -> String {
        self.dir().join(name).to_str().expect("utf-8").to_string()
    }

    /// The container's Temp-URL-Key (`None` if it has none).
    fn container_key(&self, container: &str) -> Option<String> {
        let resp = self.acct.head_container(container);
        assert_eq!(resp.status, 204, "HEAD container {container}");
        resp.header("x-container-meta-temp-url-key")
            .map(str::to_string)
    }
}

fn str_field<'a>(json: &'a serde_json::Value, name: &str) -> &'a str {
    json[name]
        .as_str()
        .unwrap_or_else(|| panic!("no string {name:?} in {json:#}"))
}

/// GET `url` without credentials: (status, SHA-256 of the body).
fn fetch(url: &str) -> (u16, String) {
    let resp = http("GET", url, &[], None);
    (resp.status, sha256_hex(&resp.body))
}

/// A TempURL with one signature character changed.
fn tampered(url: &TempUrl) -> String {
    let mut sig: Vec<char> = url.sig.chars().collect();
    let last = sig.len() - 1;
    sig[last] = if sig[last] == '0' { '1' } else { '0' };
    url.with(&sig.into_iter().collect::<String>(), url.expires)
}

/// The exact tripleo-common `DeployArtifactURLs` environment for `urls`.
fn expected_env_file(urls: &[&str]) -> String {
    let mut text = String::from(
        "# Heat environment to deploy artifacts via Swift Temp URL(s)\nparameter_defaults:\n    \
         DeployArtifactURLs:\n",
    );
    for url in urls {
        text.push_str(&format!("    - '{url}'\n"));
    }
    text
}

/// The URLs in an env file, read as YAML (what Heat sees).
fn yaml_urls(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not YAML ({e}):\n{text}", path.display()));
    let urls = doc["parameter_defaults"]["DeployArtifactURLs"]
        .as_sequence()
        .unwrap_or_else(|| panic!("no DeployArtifactURLs list in {}:\n{text}", path.display()));
    urls.iter()
        .map(|u| u.as_str().expect("URL string").to_string())
        .collect()
}

/// A real artifact: `overcloud-keys pack` of a JWS key pair and a receipt repository.
fn packed_artifact(dir: &Path) -> (PathBuf, String) {
    let p = |name: &str| dir.join(name).to_str().expect("utf-8").to_string();
    for args in [
        vec![
            "jws",
            "create",
            "--private-dir",
            &p("jws/private"),
            "--public-dir",
            &p("jws/public"),
        ],
        vec!["receipt", "setup", "--key-repository", &p("receipt")],
        vec![
            "pack",
            "--output",
            &p("keystone-keys.tar.gz"),
            "--jws-private",
            &p("jws/private"),
            "--jws-public",
            &p("jws/public"),
            "--receipt",
            &p("receipt"),
        ],
    ] {
        run_tool(dir, &args, &[], RUN_LIMIT).expect_code(0);
    }
    let file = dir.join("keystone-keys.tar.gz");
    let sha = swift_harness::read_sha256_file(&dir.join("keystone-keys.tar.gz.sha256"));
    (file, sha)
}

/// The whole path: a packed artifact goes up, the env file points at it, anyone holding the
/// URL gets exactly FILE.sha256's bytes, and nobody gets more than that.
#[test]
fn upload_then_fetch_temp_url_without_credentials() {
    let case = Case::new();
    let (file, sha) = packed_artifact(case.dir());
    assert_eq!(swift_harness::sha256_file(&file), sha, "pack's .sha256");
    let env_file = case.path("deployment-artifacts.yaml");
    let json = case.upload(&file, &["--env-file", &env_file]);
    let url = str_field(&json, "temp_url").to_string();
    let container = str_field(&json, "container");
    let object = str_field(&json, "object");
    assert_eq!(container, "overcloud-artifacts");
    assert_eq!(str_field(&json, "sha256"), sha);
    assert!(
        object.contains(&sha[..12]),
        "object name {object} should embed the content hash"
    );

    // The env file: tripleo-common's exact format, the same URL.
    let text = fs::read_to_string(&env_file).expect("env file written");
    assert_eq!(text, expected_env_file(&[&url]));
    assert_eq!(yaml_urls(Path::new(&env_file)), vec![url.clone()]);
    assert_eq!(swift_harness::env_file_urls(&text), vec![url.clone()]);

    // No credentials: 200 and FILE.sha256's digest.
    assert_eq!(fetch(&url), (200, sha.clone()), "GET {url}");
    let parsed = TempUrl::parse(&url);
    assert_eq!(parsed.digest(), TempUrlDigest::Sha256, "default digest");
    assert!(
        parsed
            .sig
            .chars()
            .all(|c| matches!(c, '0'..='9' | 'a'..='f')),
        "lowercase hex signature: {}",
        parsed.sig
    );
    let expiry = parsed.expires as i64 - swift_harness::now() as i64;
    assert!(
        (31_536_000 - 120..=31_536_000 + 5).contains(&expiry),
        "default lifetime is one year, got {expiry} s"
    );
    assert_eq!(
        parsed.decoded_path(),
        format!("{}/{container}/{object}", case.acct.path())
    );

    // Swift holds what was verified: size, SHA-256 metadata.
    let head = case.acct.head_object(container, object);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(
            fs::metadata(&file)
                .expect("stat")
                .len()
                .to_string()
                .as_str()
        )
    );
    assert_eq!(head.header("x-object-meta-sha256"), Some(sha.as_str()));
    assert_eq!(head.header("etag"), json["etag"].as_str());

    // The signature is Swift's HMAC with the container key the tool set.
    let key = case
        .container_key(container)
        .expect("a Temp-URL-Key on the container");
    assert!(
        key.len() >= 32,
        "a strong random key, got {} chars",
        key.len()
    );
    assert_eq!(
        sign(
            &key,
            "GET",
            parsed.expires,
            &parsed.decoded_path(),
            TempUrlDigest::Sha256
        ),
        parsed.sig
    );

    // Tampered signature, expired signature, other method, other object: 401.
    assert_eq!(fetch(&tampered(&parsed)).0, 401, "tampered signature");
    let past = swift_harness::now() - 60;
    let expired = sign(
        &key,
        "GET",
        past,
        &parsed.decoded_path(),
        TempUrlDigest::Sha256,
    );
    assert_eq!(fetch(&parsed.with(&expired, past)).0, 401, "expired URL");
    let put = http("PUT", &url, &[], Some(b"overwritten"));
    assert_eq!(put.status, 401, "a GET URL must not allow PUT");
    let other = url.replacen(object, "other-object", 1);
    assert_eq!(fetch(&other).0, 401, "the signature covers the object name");
    assert_eq!(fetch(&url), (200, sha), "object unchanged");
}

/// `--temp-url-expiry` is honoured: the URL works, then Swift refuses it once expired.
#[test]
fn short_lived_url_expires() {
    let case = Case::new();
    let (file, sha) = case.artifact("short.tar.gz", &noise(10_000, 2));
    let json = case.upload(
        &file,
        &[
            "--container",
            "short",
            "--temp-url-expiry",
            "4",
            "--env-file",
            &case.path("env.yaml"),
        ],
    );
    let url = str_field(&json, "temp_url").to_string();
    let expires = TempUrl::parse(&url).expires;
    assert!(expires <= swift_harness::now() + 5, "expires {expires}");
    assert_eq!(fetch(&url), (200, sha));
    while swift_harness::now() <= expires {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(fetch(&url).0, 401, "expired TempURL");
}

/// SHA-512 and SHA-1 (for RGW) signatures are made the way Swift checks them.
#[test]
fn sha512_and_sha1_digests() {
    let case = Case::new();
    let (file, sha) = case.artifact("digests.tar.gz", &noise(50_000, 3));
    for (name, digest) in [
        ("sha512", TempUrlDigest::Sha512),
        ("sha1", TempUrlDigest::Sha1),
    ] {
        let container = format!("digest-{name}");
        let json = case.upload(
            &file,
            &[
                "--container",
                &container,
                "--temp-url-digest",
                name,
                "--env-file",
                &case.path(&format!("{name}.yaml")),
            ],
        );
        let url = str_field(&json, "temp_url").to_string();
        let parsed = TempUrl::parse(&url);
        assert_eq!(parsed.digest(), digest, "{url}");
        assert_eq!(fetch(&url), (200, sha.clone()), "{name}: GET {url}");
        assert_eq!(fetch(&tampered(&parsed)).0, 401, "{name}: tampered");
        let key = case.container_key(&container).expect("container key");
        if !parsed.sig.contains(':') {
            assert_eq!(
                sign(&key, "GET", parsed.expires, &parsed.decoded_path(), digest),
                parsed.sig
            );
        }
    }
}

/// A container key set beforehand (by swiftclient) signs the URL and is never replaced; so
/// is the one the tool generated itself, across uploads.
#[test]
fn existing_container_key_is_reused_never_replaced() {
    let case = Case::new();
    let out = swift_harness::swift_cli(
        &["post", "-m", "Temp-URL-Key:operator-chosen-key", "keyed"],
        &case.acct.st_env(),
    );
    assert!(
        out.status.success(),
        "swift post: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (file, sha) = case.artifact("a.tar.gz", &noise(20_000, 4));
    let json = case.upload(
        &file,
        &["--container", "keyed", "--env-file", &case.path("e.yaml")],
    );
    let url = str_field(&json, "temp_url").to_string();
    let parsed = TempUrl::parse(&url);
    assert_eq!(
        case.container_key("keyed").as_deref(),
        Some("operator-chosen-key"),
        "the existing key must stay"
    );
    assert_eq!(
        sign(
            "operator-chosen-key",
            "GET",
            parsed.expires,
            &parsed.decoded_path(),
            TempUrlDigest::Sha256
        ),
        parsed.sig,
        "signed with the existing key"
    );
    assert_eq!(fetch(&url), (200, sha));

    // A key the tool generated survives the next upload, and so does the first URL.
    let (first, first_sha) = case.artifact("b.tar.gz", &noise(20_000, 5));
    let json = case.upload(
        &first,
        &["--container", "fresh", "--env-file", &case.path("f.yaml")],
    );
    let first_url = str_field(&json, "temp_url").to_string();
    let generated = case.container_key("fresh").expect("generated key");
    let (second, second_sha) = case.artifact("c.tar.gz", &noise(20_000, 6));
    let json = case.upload(
        &second,
        &["--container", "fresh", "--env-file", &case.path("f.yaml")],
    );
    assert_eq!(case.container_key("fresh"), Some(generated));
    assert_eq!(fetch(&first_url), (200, first_sha), "first URL still valid");
    assert_eq!(fetch(str_field(&json, "temp_url")), (200, second_sha));
}

/// With only an account key, the URL is signed with it and no container key is added.
#[test]
fn account_key_is_used_when_the_container_has_none() {
    let case = Case::new();
    let resp = http(
        "POST",
        &case.acct.storage_url,
        &[
            ("X-Auth-Token", &case.acct.token),
            ("X-Account-Meta-Temp-URL-Key", "account-wide-key"),
        ],
        Some(b""),
    );
    assert_eq!(resp.status, 204, "set account key: {}", resp.text());
    let (file, sha) = case.artifact("acct.tar.gz", &noise(5_000, 8));
    let json = case.upload(
        &file,
        &["--container", "acct", "--env-file", &case.path("e.yaml")],
    );
    let url = str_field(&json, "temp_url").to_string();
    let parsed = TempUrl::parse(&url);
    assert_eq!(
        sign(
            "account-wide-key",
            "GET",
            parsed.expires,
            &parsed.decoded_path(),
            TempUrlDigest::Sha256
        ),
        parsed.sig
    );
    assert_eq!(fetch(&url), (200, sha));
    assert_eq!(case.container_key("acct"), None, "no container key added");
    assert_eq!(
        case.acct
            .head_account()
            .header("x-account-meta-temp-url-key"),
        Some("account-wide-key")
    );

    // An account key authorizes every container: a large object's segments go in
    // `<container>_segments`, created for them, and the URL serves the whole file.
    let slo_args = ["--slo-threshold", "1048576", "--segment-size", "1048576"];
    let (big, big_sha) = case.artifact("acct-big.tar.gz", &noise(3 << 20, 24));
    let env2 = case.path("e2.yaml");
    let mut args = vec!["--container", "acct", "--env-file", &env2];
    args.extend_from_slice(&slo_args);
    let json = case.upload(&big, &args);
    assert_eq!(json["segments_container"], "acct_segments", "{json:#}");
    assert_eq!(json["hashed_while_uploading"], true);
    assert_eq!(case.acct.list("acct_segments").len(), 3);
    assert_eq!(fetch(str_field(&json, "temp_url")), (200, big_sha));

    // A stale FILE.sha256: the segments container this run created is removed again.
    let (stale, _) = case.artifact("acct-stale.tar.gz", &noise(3 << 20, 25));
    fs::write(
        case.dir().join("acct-stale.tar.gz.sha256"),
        format!("{}  acct-stale.tar.gz\n", sha256_hex(b"something else")),
    )
    .expect("write .sha256");
    let env3 = case.path("e3.yaml");
    let mut args = vec![
        "upload",
        stale.to_str().expect("utf-8"),
        "--container",
        "acct2",
        "--env-file",
        &env3,
    ];
    args.extend_from_slice(&slo_args);
    let run = case.run(&args);
    assert_eq!(run.code, 2, "{}", run.describe());
    assert_eq!(case.acct.head_container("acct2_segments").status, 404);
    assert_eq!(case.acct.head_container("acct2").status, 404);
    assert!(!Path::new(&env3).exists(), "env file written");
}

/// An object already there with another checksum is refused (exit 2, untouched) unless
/// --replace; the same content is reused.
#[test]
fn different_checksum_refused_without_replace() {
    let case = Case::new();
    case.acct.put_container("clash", &[]);
    case.acct
        .put_object("clash", "keys.tar.gz", b"somebody else's tarball", &[]);
    let before = case.acct.head_object("clash", "keys.tar.gz");
    let (file, sha) = case.artifact("keys.tar.gz", &noise(30_000, 9));
    let env_file = case.path("env.yaml");
    let args = [
        "upload",
        file.to_str().expect("utf-8"),
        "--container",
        "clash",
        "--object",
        "keys.tar.gz",
        "--env-file",
        &env_file,
        "-f",
        "json",
    ];
    let run = case.run(&args);
    run.expect_code(2);
    assert!(
        run.stderr.contains("--replace"),
        "the error names the fix:\n{}",
        run.describe()
    );
    let after = case.acct.get_object("clash", "keys.tar.gz");
    assert_eq!(after.body, b"somebody else's tarball", "object untouched");
    assert_eq!(after.header("x-timestamp"), before.header("x-timestamp"));
    assert!(
        !Path::new(&env_file).exists(),
        "no env file after a refusal"
    );

    let mut replace = args.to_vec();
    replace.push("--replace");
    let run = case.run(&replace);
    run.expect_code(0);
    let json = run.json();
    assert_eq!(fetch(str_field(&json, "temp_url")), (200, sha.clone()));
    assert_eq!(
        case.acct
            .head_object("clash", "keys.tar.gz")
            .header("x-object-meta-sha256"),
        Some(sha.as_str())
    );

    // Same content again, no --replace: reused, not refused, not re-uploaded.
    let stamp = case
        .acct
        .head_object("clash", "keys.tar.gz")
        .header("x-timestamp")
        .map(String::from);
    let run = case.run(&args);
    run.expect_code(0);
    assert_eq!(
        case.acct
            .head_object("clash", "keys.tar.gz")
            .header("x-timestamp")
            .map(String::from),
        stamp,
        "identical object not uploaded again"
    );
    assert_eq!(fetch(str_field(&run.json(), "temp_url")), (200, sha));
}

/// Container and object names with spaces, non-ASCII and URL-special characters give URLs
/// that work, and an env file Heat reads back to the same URLs.
#[test]
fn names_with_spaces_and_non_ascii() {
    let case = Case::new();
    let (file, sha) = case.artifact("art.tar.gz", &noise(8_000, 10));
    let env_file = case.path("env.yaml");
    for (container, object) in [
        ("artefacts ü 2", "clés de l’overcloud ☃.tar.gz"),
        ("odd names", "it's a+b #1 ?x=1 100%.tar.gz"),
    ] {
        let json = case.upload(
            &file,
            &[
                "--container",
                container,
                "--object",
                object,
                "--env-file",
                &env_file,
            ],
        );
        let url = str_field(&json, "temp_url").to_string();
        assert!(
            url.is_ascii() && !url.contains(' '),
            "URL not percent-encoded: {url}"
        );
        let parsed = TempUrl::parse(&url);
        assert_eq!(
            parsed.decoded_path(),
            format!("{}/{container}/{object}", case.acct.path())
        );
        assert_eq!(
            fetch(&url),
            (200, sha.clone()),
            "{container}/{object}: {url}"
        );
        assert!(
            yaml_urls(Path::new(&env_file)).contains(&url),
            "env file does not read back to {url}:\n{}",
            fs::read_to_string(&env_file).unwrap_or_default()
        );
    }
}

/// Above --slo-threshold the file goes up as a static large object of --segment-size
/// segments, and the TempURL serves the whole body.
#[test]
fn large_file_uploads_as_slo() {
    let case = Case::new();
    let data = noise(3 << 20, 11);
    let (file, sha) = case.artifact("big.tar.gz", &data);
    let json = case.upload(
        &file,
        &[
            "--container",
            "slo",
            "--slo-threshold",
            "1048576",
            "--segment-size",
            "262144",
            "--env-file",
            &case.path("env.yaml"),
        ],
    );
    assert_eq!(json["segments"], 12, "{json:#}");
    let object = str_field(&json, "object");
    let manifest = case
        .acct
        .request("GET", "slo", Some(object), &[], None)
        .header("x-static-large-object")
        .map(str::to_string);
    assert_eq!(
        manifest.as_deref(),
        Some("True"),
        "stored as an SLO manifest"
    );
    // The manifest as Swift stores it: 12 segments of at most --segment-size bytes.
    let raw = http(
        "GET",
        &format!(
            "{}?multipart-manifest=get",
            case.acct.url("slo", Some(object))
        ),
        &[("X-Auth-Token", &case.acct.token)],
        None,
    );
    assert_eq!(raw.status, 200, "{}", raw.text());
    let segments: Vec<serde_json::Value> =
        serde_json::from_slice(&raw.body).expect("SLO manifest JSON");
    assert_eq!(segments.len(), 12, "{segments:#?}");
    let mut total = 0;
    for seg in &segments {
        let bytes = seg["bytes"].as_u64().expect("bytes");
        assert!(bytes <= 262_144, "segment {seg} is {bytes} bytes");
        total += bytes;
        // Each segment is a real object (its name is `/container/object`, percent-encoded
        // only as needed).
        let name = seg["name"].as_str().expect("segment name");
        let head = http(
            "HEAD",
            &format!("{}{}", case.acct.storage_url, swift_harness::quote(name)),
            &[("X-Auth-Token", &case.acct.token)],
            None,
        );
        assert_eq!(head.status, 200, "segment {name}");
    }
    assert_eq!(total, data.len() as u64);
    let url = str_field(&json, "temp_url");
    let resp = http("GET", url, &[], None);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.len(), data.len());
    assert_eq!(sha256_hex(&resp.body), sha);
}

/// The SLO manifest as Swift stores it: each segment's size in bytes.
fn manifest_sizes(case: &Case, container: &str, object: &str) -> Vec<u64> {
    let raw = http(
        "GET",
        &format!(
            "{}?multipart-manifest=get",
            case.acct.url(container, Some(object))
        ),
        &[("X-Auth-Token", &case.acct.token)],
        None,
    );
    assert_eq!(raw.status, 200, "{}", raw.text());
    let segments: Vec<serde_json::Value> =
        serde_json::from_slice(&raw.body).expect("SLO manifest JSON");
    segments
        .iter()
        .map(|seg| seg["bytes"].as_u64().expect("bytes"))
        .collect()
}

/// A large file with its FILE.sha256 is hashed while it uploads: segments start at 8 MiB and
/// double up to --segment-size, the TempURL serves the file, and the same file again is
/// reused (hashed, compared, not uploaded). Without FILE.sha256 it is hashed first and goes
/// up the same way.
#[test]
fn large_file_streams_in_doubling_segments() {
    let case = Case::new();
    const MIB: usize = 1 << 20;
    let data = noise(30 * MIB, 21);
    let (file, sha) = case.artifact("stream.tar.gz", &data);
    let args = [
        "--container",
        "stream",
        "--slo-threshold",
        "1048576",
        "--segment-size",
        "16777216",
        "--env-file",
        &case.path("env.yaml"),
    ];
    let json = case.upload(&file, &args);
    assert_eq!(json["action"], "uploaded", "{json:#}");
    let object = str_field(&json, "object").to_string();
    // 8 MiB, 16 MiB (the maximum), then the 6 MiB left.
    let sizes = manifest_sizes(&case, "stream", &object);
    assert_eq!(
        sizes,
        [8 * MIB as u64, 16 * MIB as u64, 6 * MIB as u64],
        "{json:#}"
    );
    assert_eq!(json["segments"], 3);
    assert_eq!(json["hashed_while_uploading"], true);
    assert_eq!(fetch(str_field(&json, "temp_url")), (200, sha.clone()));

    let again = case.upload(&file, &args);
    assert_eq!(again["action"], "reused", "{again:#}");
    assert_eq!(again["hashed_while_uploading"], false);
    assert_eq!(again["object"], object.as_str());

    // No FILE.sha256: hashed before the upload, the same segments and object.
    fs::remove_file(case.dir().join("stream.tar.gz.sha256")).expect("remove .sha256");
    let unrecorded = case.upload(
        &file,
        &[
            "--container",
            "stream2",
            "--slo-threshold",
            "1048576",
            "--segment-size",
            "16777216",
            "--env-file",
            &case.path("env2.yaml"),
        ],
    );
    assert_eq!(unrecorded["object"], object.as_str());
    assert_eq!(unrecorded["hashed_while_uploading"], false);
    assert_eq!(manifest_sizes(&case, "stream2", &object), sizes);
    assert_eq!(fetch(str_field(&unrecorded, "temp_url")), (200, sha));
}

/// `--replace` of a large object deletes the segments of the object it replaces (only those
/// under `<object>/slo/`, where this tool puts them), once the new one is verified.
#[test]
fn replacing_a_large_object_deletes_its_old_segments() {
    let case = Case::new();
    let slo = |file: &Path, extra: &[&str]| {
        let env_file = case.path("env.yaml");
        let mut args = vec![
            "--container",
            "rep",
            "--object",
            "fixed.bin",
            "--slo-threshold",
            "1048576",
            "--segment-size",
            "1048576",
            "--env-file",
            &env_file,
        ];
        args.extend_from_slice(extra);
        case.upload(file, &args)
    };
    let (first, _) = case.artifact("first.bin", &noise(3 << 20, 26));
    let json = slo(&first, &[]);
    assert_eq!(json["segments"], 3, "{json:#}");
    let old: Vec<String> = case.acct.list("rep");
    assert_eq!(old.len(), 4, "manifest + 3 segments: {old:#?}");

    let (second, sha) = case.artifact("second.bin", &noise((2 << 20) + 5, 27));
    let json = slo(&second, &["--replace"]);
    assert_eq!(json["action"], "replaced", "{json:#}");
    let now = case.acct.list("rep");
    assert_eq!(now.len(), 4, "manifest + 3 new segments only: {now:#?}");
    for name in old.iter().filter(|n| n.contains("/slo/")) {
        assert!(!now.contains(name), "old segment {name} left: {now:#?}");
    }
    assert_eq!(fetch(str_field(&json, "temp_url")), (200, sha));
}

/// A FILE.sha256 that does not match FILE is found only once the streamed segments are up:
/// exit 2, the segments and the container this run created are deleted again, nothing
/// points at the object and no env file is written.
#[test]
fn streamed_upload_with_a_stale_checksum_leaves_nothing() {
    let case = Case::new();
    let data = noise(3 << 20, 22);
    let (file, _) = case.artifact("stale.tar.gz", &data);
    let stale = sha256_hex(b"an older artifact");
    fs::write(
        case.dir().join("stale.tar.gz.sha256"),
        format!("{stale}  stale.tar.gz\n"),
    )
    .expect("write .sha256");
    let env_file = case.path("env.yaml");
    let run = case.run(&[
        "upload",
        file.to_str().expect("utf-8"),
        "--container",
        "stale",
        "--slo-threshold",
        "1048576",
        "--segment-size",
        "1048576",
        "--env-file",
        &env_file,
    ]);
    assert_eq!(run.code, 2, "{}", run.describe());
    assert!(run.stderr.contains(".sha256"), "{}", run.describe());
    assert!(!Path::new(&env_file).exists(), "env file written");
    assert_eq!(
        case.acct.head_container("stale").status,
        404,
        "container left behind: {:?}",
        case.acct.list("stale")
    );

    // Into a container that already exists: the segments go, the container stays.
    case.acct.request("PUT", "kept", None, &[], None);
    let run = case.run(&[
        "upload",
        file.to_str().expect("utf-8"),
        "--container",
        "kept",
        "--slo-threshold",
        "1048576",
        "--segment-size",
        "1048576",
        "--env-file",
        &env_file,
    ]);
    assert_eq!(run.code, 2, "{}", run.describe());
    assert_eq!(case.acct.head_container("kept").status, 204);
    assert_eq!(case.acct.list("kept"), Vec::<String>::new());
}

/// `--refresh` re-signs an expired URL without uploading again, and leaves a URL alone
/// when it is not due.
#[test]
fn refresh_resigns_without_reupload() {
    let case = Case::new();
    let (file, sha) = case.artifact("refresh.tar.gz", &noise(12_000, 12));
    let env_file = case.path("env.yaml");
    let json = case.upload(
        &file,
        &[
            "--container",
            "refresh",
            "--temp-url-expiry",
            "2",
            "--env-file",
            &env_file,
        ],
    );
    let old_url = str_field(&json, "temp_url").to_string();
    let object = str_field(&json, "object").to_string();
    let head = case.acct.head_object("refresh", &object);
    let stamp = (
        head.header("last-modified").map(String::from),
        head.header("x-timestamp").map(String::from),
    );
    let old = TempUrl::parse(&old_url);
    while swift_harness::now() <= old.expires {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(fetch(&old_url).0, 401, "expired before the refresh");

    let run = case.run(&[
        "upload",
        "--refresh",
        "--env-file",
        &env_file,
        "--refresh-margin",
        "3600",
        "--temp-url-expiry",
        "7200",
        "-f",
        "json",
    ]);
    run.expect_code(0);
    let urls = yaml_urls(Path::new(&env_file));
    assert_eq!(urls.len(), 1, "{urls:?}");
    let new_url = &urls[0];
    assert_ne!(new_url, &old_url, "URL re-signed");
    let new = TempUrl::parse(new_url);
    assert_eq!(new.path, old.path, "same object");
    assert!(
        new.expires >= swift_harness::now() + 7200 - 60,
        "new expiry {}",
        new.expires
    );
    assert_eq!(fetch(new_url), (200, sha), "refreshed URL works");
    let head = case.acct.head_object("refresh", &object);
    assert_eq!(
        (
            head.header("last-modified").map(String::from),
            head.header("x-timestamp").map(String::from),
        ),
        stamp,
        "object not uploaded again (Last-Modified, X-Timestamp)"
    );
    assert_eq!(case.acct.list("refresh"), vec![object.clone()]);

    // Not due (expires in 2 h, margin 60 s): the file stays byte for byte.
    let before = fs::read(&env_file).expect("env file");
    let run = case.run(&[
        "upload",
        "--refresh",
        "--env-file",
        &env_file,
        "--refresh-margin",
        "60",
    ]);
    run.expect_code(0);
    assert_eq!(
        fs::read(&env_file).expect("env file"),
        before,
        "{}",
        run.describe()
    );
}

/// Wrong tempauth key: exit 2, nothing written.
#[test]
fn tempauth_wrong_key_is_exit_2() {
    let case = Case::new();
    let (file, _) = case.artifact("x.tar.gz", b"x");
    let env = vec![
        ("ST_AUTH".to_string(), case.acct.auth_url.clone()),
        ("ST_USER".to_string(), case.acct.user.clone()),
        ("ST_KEY".to_string(), "not-the-key".to_string()),
    ];
    let env_file = case.path("env.yaml");
    let run = case.run_env(
        &[
            "upload",
            file.to_str().expect("utf-8"),
            "--env-file",
            &env_file,
        ],
        &env,
    );
    run.expect_code(2);
    assert!(!run.stderr.trim().is_empty());
    assert!(!Path::new(&env_file).exists());
}

/// Bad input is refused before anything is sent (exit 2, no container, no env file).
#[test]
fn bad_input_is_exit_2_and_touches_nothing() {
    let case = Case::new();
    let (file, _) = case.artifact("bad.tar.gz", &noise(1_000, 13));
    let f = file.to_str().expect("utf-8");
    let env_file = case.path("env.yaml");
    let clouds = case.dir().join("clouds.yaml");
    fs::write(
        &clouds,
        "clouds:\n  known:\n    auth:\n      auth_url: http://127.0.0.1:9/v3\n      username: u\n      password: p\n",
    )
    .expect("clouds.yaml");
    let clouds_env = vec![(
        "OS_CLIENT_CONFIG_FILE".to_string(),
        clouds.to_str().expect("utf-8").to_string(),
    )];
    let cases: Vec<Scenario> = vec![
        (
            "container with /",
            vec!["--container", "a/b"],
            case.acct.st_env(),
        ),
        (
            "expiry in the past",
            vec!["--container", "c1", "--temp-url-expiry", "-5"],
            case.acct.st_env(),
        ),
        (
            "zero expiry",
            vec!["--container", "c2", "--temp-url-expiry", "0"],
            case.acct.st_env(),
        ),
        ("no credentials", vec!["--container", "c3"], vec![]),
        (
            "unknown cloud",
            vec!["--container", "c4", "--os-cloud", "unknown"],
            clouds_env,
        ),
    ];
    for (what, extra, env) in cases {
        let mut args = vec!["upload", f, "--env-file", &env_file];
        args.extend(extra.iter());
        let run = case.run_env(&args, &env);
        assert_eq!(run.code, 2, "{what}: {}", run.describe());
        assert!(!run.stderr.trim().is_empty(), "{what}: no message");
        assert!(!Path::new(&env_file).exists(), "{what}: env file written");
    }
    // A FILE.sha256 that disagrees with FILE.
    fs::write(
        case.dir().join("bad.tar.gz.sha256"),
        format!("{}  bad.tar.gz\n", "0".repeat(64)),
    )
    .expect("write");
    let run = case.run(&["upload", f, "--container", "c5", "--env-file", &env_file]);
    assert_eq!(run.code, 2, "mismatched .sha256: {}", run.describe());
    for c in ["c1", "c2", "c3", "c4", "c5"] {
        assert_eq!(
            case.acct.head_container(c).status,
            404,
            "container {c} created"
        );
    }
    assert!(!Path::new(&env_file).exists());
}

// ---------------------------------------------------------------------------------------
// Faults, through the fault-injecting proxy (storage requests only: auth goes to Swift).
// ---------------------------------------------------------------------------------------

/// A Case whose storage requests go through a counting, fault-injecting proxy.
struct Faulty {
    case: Case,
    proxy: FaultProxy,
    file: PathBuf,
    sha: String,
}

impl Faulty {
    fn new() -> Faulty {
        Self::with_artifact("faulty.tar.gz", &noise(400_000, 20))
    }

    /// A Faulty case uploading `data` as `name` (with its `.sha256`).
    fn with_artifact(name: &str, data: &[u8]) -> Faulty {
        let case = Case::new();
        let proxy = FaultProxy::passthrough(case.swift.proxy_addr());
        let (file, sha) = case.artifact(name, data);
        Faulty {
            case,
            proxy,
            file,
            sha,
        }
    }

    /// Uploads to `container` through the proxy with `extra` flags.
    fn upload(&self, container: &str, extra: &[&str]) -> Run {
        let storage = self.case.acct.storage_url_via(&self.proxy.url());
        let env_file = self.case.path(&format!("{container}.yaml"));
        let mut args = vec![
            "upload",
            self.file.to_str().expect("utf-8"),
            "--container",
            container,
            "--os-storage-url",
            &storage,
            "--env-file",
            &env_file,
            "-f",
            "json",
        ];
        args.extend_from_slice(extra);
        self.case.run(&args)
    }

    /// Requests of a fault-free upload to a fresh container, and the position of its object
    /// PUT among them.
    fn baseline(&self) -> (usize, usize) {
        self.proxy.reset_counts();
        self.upload("baseline", &[]).expect_code(0);
        let log = self.proxy.log();
        let put = log
            .iter()
            .position(|l| l.starts_with("PUT ") && l.contains("/baseline/"))
            .unwrap_or_else(|| panic!("no object PUT in {log:#?}"));
        self.proxy.reset_counts();
        (log.len(), put)
    }

    /// The upload succeeded, its URL serves the file, and the proxy saw `expected` requests.
    fn assert_ok(&self, run: &Run, expected: usize, what: &str) {
        run.expect_code(0);
        assert_eq!(
            self.proxy.count(),
            expected,
            "{what}: requests seen {:#?}\n{}",
            self.proxy.log(),
            run.describe()
        );
        let url = run.json()["temp_url"]
            .as_str()
            .expect("temp_url")
            .to_string();
        self.proxy.reset_counts();
        assert_eq!(fetch(&url), (200, self.sha.clone()), "{what}: {url}");
        self.proxy.reset_counts();
    }
}

/// 503s are retried (at the start and on the object PUT) and the upload succeeds with
/// exactly one extra request per 503; past --retries it fails with exit 3 and no env file.
#[test]
fn service_unavailable_is_retried_then_gives_up() {
    let f = Faulty::new();
    let (base, put) = f.baseline();
    f.proxy.set_fault(Fault::ServiceUnavailable, 2);
    let run = f.upload("first-503", &["--retries", "3"]);
    f.assert_ok(&run, base + 2, "503 x2 first");

    f.proxy.set_fault_after(Fault::ServiceUnavailable, put, 2);
    let run = f.upload("put-503", &["--retries", "3"]);
    f.assert_ok(&run, base + 2, "503 x2 on the object PUT");

    f.proxy.set_fault(Fault::ServiceUnavailable, 100);
    let run = f.upload("give-up", &["--retries", "2"]);
    run.expect_code(3);
    assert_eq!(
        f.proxy.count(),
        3,
        "1 try + 2 retries: {:#?}",
        f.proxy.log()
    );
    assert!(
        run.stderr.contains("503"),
        "error names the status:\n{}",
        run.describe()
    );
    assert!(
        !Path::new(&f.case.path("give-up.yaml")).exists(),
        "env file written"
    );
    f.proxy.set_fault(Fault::None, 0);
}

/// Connection resets (before any reply; on the object PUT, mid-body) are retried.
#[test]
fn connection_reset_is_retried() {
    let f = Faulty::new();
    let (base, put) = f.baseline();
    f.proxy.set_fault(Fault::Reset, 2);
    let run = f.upload("first-reset", &["--retries", "3"]);
    f.assert_ok(&run, base + 2, "reset x2 first");
    f.proxy.set_fault_after(Fault::Reset, put, 2);
    let run = f.upload("put-reset", &["--retries", "3"]);
    f.assert_ok(&run, base + 2, "reset x2 on the object PUT");
}

/// Where the `n`th (from 0) segment PUT stands in a proxy log.
fn segment_put(log: &[String], n: usize) -> usize {
    log.iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("PUT ") && l.contains("/slo/"))
        .nth(n)
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("no segment PUT #{n} in {log:#?}"))
}

/// A large file hashed while it uploads, through the proxy: a reset on a segment PUT is
/// retried; past --retries the upload stops (exit 3, no env file, no object), and a re-run
/// finds the segments already up (same content, same names) and sends only the rest.
#[test]
fn streamed_segments_are_retried_and_resumed() {
    let f = Faulty::with_artifact("resume.tar.gz", &noise(4 << 20, 23));
    const SLO: [&str; 4] = ["--slo-threshold", "1048576", "--segment-size", "1048576"];
    let upload = |container: &str, extra: &[&str]| f.upload(container, &[&SLO[..], extra].concat());
    let segment_puts = |log: &[String], container: &str| {
        log.iter()
            .filter(|l| l.starts_with("PUT ") && l.contains(&format!("/{container}/")))
            .filter(|l| l.contains("/slo/"))
            .count()
    };

    // Fault-free: 4 segments of 1 MiB, one PUT each.
    let run = upload("clean", &[]);
    run.expect_code(0);
    assert_eq!(run.json()["hashed_while_uploading"], true);
    let log = f.proxy.log();
    assert_eq!(segment_puts(&log, "clean"), 4, "{log:#?}");
    // Requests before the third segment PUT, in a fresh container.
    let third = segment_put(&log, 2);

    // A reset on the third segment PUT, once: retried, one extra PUT.
    f.proxy.reset_counts();
    f.proxy.set_fault_after(Fault::Reset, third, 1);
    let run = upload("retried", &["--retries", "2"]);
    run.expect_code(0);
    let log = f.proxy.log();
    assert!(
        log[third].starts_with("PUT ") && log[third].contains("/slo/"),
        "the fault hit a segment PUT: {log:#?}"
    );
    assert_eq!(segment_puts(&log, "retried"), 5, "{log:#?}");
    assert_eq!(
        fetch(run.json()["temp_url"].as_str().expect("url")),
        (200, f.sha.clone())
    );

    // Resets past --retries on the third segment: exit 3, nothing points at anything.
    f.proxy.reset_counts();
    f.proxy.set_fault_after(Fault::Reset, third, 100);
    let run = upload("resumed", &["--retries", "1"]);
    run.expect_code(3);
    assert!(
        !Path::new(&f.case.path("resumed.yaml")).exists(),
        "env file written"
    );
    f.proxy.set_fault(Fault::None, 0);
    let listed = f.case.acct.list("resumed");
    assert_eq!(
        listed.len(),
        2,
        "the two segments sent before the fault: {listed:#?}"
    );
    assert!(
        listed.iter().all(|name| name.contains("/slo/")),
        "{listed:#?}"
    );

    // The re-run keeps those two and sends the other two.
    f.proxy.reset_counts();
    let run = upload("resumed", &[]);
    run.expect_code(0);
    let json = run.json();
    assert_eq!(json["segments_reused"], 2, "{json:#}");
    assert_eq!(
        segment_puts(&f.proxy.log(), "resumed"),
        2,
        "{:#?}",
        f.proxy.log()
    );
    assert_eq!(
        fetch(json["temp_url"].as_str().expect("url")),
        (200, f.sha.clone())
    );
}

/// A file that shrinks while its segments upload (after it was hashed): the segment being
/// sent ends early, which is a local error naming the file (exit 2), not a network failure
/// to retry; no env file.
#[test]
fn file_shrinking_during_upload_is_a_local_error() {
    const MIB: usize = 1 << 20;
    // Segments of 8, 16 and 32 MiB: the third is far larger than the socket buffers, so the
    // client is still reading it from the file while the proxy holds the request.
    let f = Faulty::with_artifact("shrink.tar.gz", &noise(56 * MIB, 28));
    let slo = ["--slo-threshold", "1048576", "--segment-size", "33554432"];
    f.upload("baseline", &slo).expect_code(0);
    let third = segment_put(&f.proxy.log(), 2);
    f.proxy.reset_counts();
    f.proxy.set_fault_after(Fault::Delay(3000), third, 1);
    let run = std::thread::scope(|scope| {
        let upload = scope.spawn(|| f.upload("shrunk", &slo));
        let start = std::time::Instant::now();
        while !f.proxy.log().iter().any(|l| l.contains("delayed")) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{:#?}",
                f.proxy.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // 6 MiB of the third segment's 32 are left.
        fs::OpenOptions::new()
            .write(true)
            .open(&f.file)
            .and_then(|file| file.set_len(30 * MIB as u64))
            .expect("truncate");
        upload.join().expect("upload thread")
    });
    f.proxy.set_fault(Fault::None, 0);
    assert_eq!(run.code, 2, "{}", run.describe());
    assert!(
        run.stderr.contains("changed during the upload") && run.stderr.contains("shrink.tar.gz"),
        "{}",
        run.describe()
    );
    assert!(
        !Path::new(&f.case.path("shrunk.yaml")).exists(),
        "env file written"
    );
}

/// A truncated reply is retried: first request, and the object PUT (stored by Swift, reply
/// lost on the way back).
#[test]
fn truncated_response_is_retried() {
    let f = Faulty::new();
    let (base, put) = f.baseline();
    f.proxy.set_fault(Fault::Truncate, 1);
    let run = f.upload("first-truncated", &["--retries", "3"]);
    f.assert_ok(&run, base + 1, "truncated first reply");
    f.proxy.set_fault_after(Fault::Truncate, put, 1);
    let run = f.upload("put-truncated", &["--retries", "3"]);
    f.assert_ok(&run, base + 1, "truncated PUT reply");
}

/// A server that accepts and never answers: --timeout bounds each try, exit 3, a clear
/// error, no env file.
#[test]
fn stalled_server_times_out() {
    let f = Faulty::new();
    f.proxy.set_fault(Fault::Stall, 100);
    let run = f.upload("stalled", &["--timeout", "2", "--retries", "1"]);
    run.expect_code(3);
    assert_eq!(f.proxy.count(), 2, "1 try + 1 retry: {:#?}", f.proxy.log());
    assert!(
        run.elapsed < Duration::from_secs(15),
        "2 tries of 2 s took {:?}",
        run.elapsed
    );
    let err = run.stderr.to_lowercase();
    assert!(
        err.contains("timed out") || err.contains("timeout"),
        "error says it timed out:\n{}",
        run.describe()
    );
    assert!(!Path::new(&f.case.path("stalled.yaml")).exists());
}

/// Swift (or Keystone) down: exit 3, and an existing env file is left byte for byte.
#[test]
fn swift_down_is_exit_3_and_env_file_untouched() {
    let case = Case::new();
    let (file, _) = case.artifact("down.tar.gz", &noise(2_000, 21));
    let f = file.to_str().expect("utf-8");
    let env_file = case.path("env.yaml");
    let existing = expected_env_file(&[
        "https://swift.example.com:13808/v1/AUTH_x/overcloud-artifacts/old.tar.gz?temp_url_sig=0&temp_url_expires=1",
    ]);
    fs::write(&env_file, &existing).expect("write env file");
    let dead = dead_url();
    let storage = format!("{dead}{}", case.acct.path());
    let run = case.run(&[
        "upload",
        f,
        "--os-storage-url",
        &storage,
        "--env-file",
        &env_file,
        "--retries",
        "1",
    ]);
    run.expect_code(3);
    assert!(!run.stderr.trim().is_empty());
    assert_eq!(fs::read_to_string(&env_file).expect("env file"), existing);

    // Auth endpoint down: tempauth, and Keystone.
    let fresh = case.path("fresh.yaml");
    let st = vec![
        ("ST_AUTH".to_string(), format!("{dead}/auth/v1.0")),
        ("ST_USER".to_string(), case.acct.user.clone()),
        ("ST_KEY".to_string(), case.acct.key.clone()),
    ];
    let os: Vec<(String, String)> = [
        ("OS_AUTH_URL", format!("{dead}/v3")),
        ("OS_USERNAME", "admin".into()),
        ("OS_PASSWORD", "x".into()),
        ("OS_PROJECT_NAME", "admin".into()),
        ("OS_USER_DOMAIN_NAME", "Default".into()),
        ("OS_PROJECT_DOMAIN_NAME", "Default".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (what, env) in [("tempauth", st), ("keystone", os)] {
        let run = case.run_env(&["upload", f, "--env-file", &fresh, "--retries", "1"], &env);
        assert_eq!(run.code, 3, "{what} down: {}", run.describe());
        assert!(!Path::new(&fresh).exists(), "{what} down: env file written");
    }
}

// ---------------------------------------------------------------------------------------
// Keystone v3 auth through keystoneauth.
// ---------------------------------------------------------------------------------------

/// clouds.yaml (--os-cloud and OS_CLOUD), OS_* variables and an application credential all
/// reach Swift through authtoken + keystoneauth; a wrong password and an unknown cloud are
/// exit 2.
#[test]
fn keystone_v3_auth_clouds_yaml_os_vars_and_application_credential() {
    let mut kss = KeystoneSwift::start();
    let acct = kss.account();
    let dir = kss.dir.path().to_path_buf();
    let (file, sha) = swift_harness::artifact(&dir, "ks.tar.gz", &noise(64_000, 30));
    let f = file.to_str().expect("utf-8").to_string();

    // An application credential for the admin user, in its own clouds.yaml entry.
    let reply = kss.ks.api(
        "POST",
        &format!("/v3/users/{}/application_credentials", kss.user_id),
        Some(&serde_json::json!({"application_credential": {"name": "overcloud-keys-upload"}})),
    );
    assert_eq!(reply.status, 201, "application credential: {}", reply.body);
    let appcred: serde_json::Value = serde_json::from_str(&reply.body).expect("JSON");
    let mut clouds = fs::read_to_string(&kss.clouds).expect("clouds.yaml");
    clouds.push_str(&format!(
        "  appcred:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: {}/v3\n      \
         application_credential_id: {}\n      application_credential_secret: {}\n    \
         region_name: RegionOne\n",
        kss.ks.url(),
        appcred["application_credential"]["id"].as_str().expect("id"),
        appcred["application_credential"]["secret"].as_str().expect("secret"),
    ));
    fs::write(&kss.clouds, clouds).expect("clouds.yaml");

    let clouds_env = kss.clouds_env();
    let mut os_cloud_env = clouds_env.clone();
    os_cloud_env.push(("OS_CLOUD".into(), CLOUD.into()));
    let ways: Vec<Scenario> = vec![
        ("--os-cloud", vec!["--os-cloud", CLOUD], clouds_env.clone()),
        ("OS_CLOUD", vec![], os_cloud_env),
        ("OS_* variables", vec![], kss.os_env()),
        (
            "application credential",
            vec!["--os-cloud", "appcred"],
            clouds_env.clone(),
        ),
    ];
    for (i, (what, extra, env)) in ways.into_iter().enumerate() {
        let container = format!("ks-{i}");
        let env_file = dir.join(format!("env-{i}.yaml"));
        let mut args = vec![
            "upload",
            &f,
            "--container",
            &container,
            "--env-file",
            env_file.to_str().expect("utf-8"),
            "-f",
            "json",
        ];
        args.extend(extra);
        let run = run_tool(&dir, &args, &env, RUN_LIMIT);
        assert_eq!(
            run.code,
            0,
            "{what}: {}\n{}",
            run.describe(),
            kss.swift.log_tail(20)
        );
        let json = run.json();
        assert_eq!(
            str_field(&json, "storage_url"),
            acct.storage_url,
            "{what}: storage URL from the catalog"
        );
        let url = str_field(&json, "temp_url");
        assert!(
            url.starts_with(kss.swift.keystone_proxy_url()),
            "{what}: {url}"
        );
        assert_eq!(fetch(url), (200, sha.clone()), "{what}: GET {url}");
        assert_eq!(
            acct.head_object(&container, str_field(&json, "object"))
                .header("x-object-meta-sha256"),
            Some(sha.as_str()),
            "{what}"
        );
    }

    for (what, cloud) in [
        ("wrong password", "wrong-password"),
        ("unknown cloud", "nope"),
    ] {
        let env_file = dir.join("never.yaml");
        let run = run_tool(
            &dir,
            &[
                "upload",
                &f,
                "--container",
                "ks-bad",
                "--os-cloud",
                cloud,
                "--env-file",
                env_file.to_str().expect("utf-8"),
            ],
            &kss.clouds_env(),
            RUN_LIMIT,
        );
        assert_eq!(run.code, 2, "{what}: {}", run.describe());
        assert!(!env_file.exists(), "{what}: env file written");
    }
    assert_eq!(acct.head_container("ks-bad").status, 404);
}

/// Without --env-file: ~/.tripleo/environments/deployment-artifacts.yaml, mode 0600; other
/// artifacts' URLs are kept, an older version of the same artifact is replaced.
#[test]
fn default_env_file_keeps_other_artifacts() {
    use std::os::unix::fs::PermissionsExt;
    let case = Case::new();
    let (keys_v1, _) = case.artifact("keys.tar.gz", &noise(3_000, 40));
    let (extra, extra_sha) = case.artifact("extra.tar.gz", &noise(3_000, 41));
    let first = case.upload(&keys_v1, &[]);
    let second = case.upload(&extra, &[]);
    let (keys_v2, keys_v2_sha) = case.artifact("keys.tar.gz", &noise(3_000, 42));
    let third = case.upload(&keys_v2, &[]);
    let env_file = case.default_env_file();
    let mode = fs::metadata(&env_file)
        .expect("default env file")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "{}", env_file.display());
    let urls = yaml_urls(&env_file);
    let old = str_field(&first, "temp_url").to_string();
    let kept = str_field(&second, "temp_url").to_string();
    let new = str_field(&third, "temp_url").to_string();
    assert!(!urls.contains(&old), "old version still listed: {urls:#?}");
    assert!(urls.contains(&kept) && urls.contains(&new), "{urls:#?}");
    assert_eq!(urls.len(), 2, "{urls:#?}");
    assert_eq!(fetch(&kept), (200, extra_sha));
    assert_eq!(fetch(&new), (200, keys_v2_sha));
}

/// An object whose metadata claims the file's SHA-256 but whose bytes differ (same size) is
/// not "reused": no URL handed out may serve anything but FILE's bytes.
#[test]
fn reuse_is_decided_by_content_not_metadata_alone() {
    let case = Case::new();
    let data = noise(20_000, 50);
    let (file, sha) = case.artifact("liar.tar.gz", &data);
    let other = noise(20_000, 51);
    assert_ne!(sha256_hex(&other), sha);
    case.acct.put_container("liar", &[]);
    case.acct.put_object(
        "liar",
        "liar.tar.gz",
        &other,
        &[("X-Object-Meta-Sha256", &sha)],
    );
    let run = case.run(&[
        "upload",
        file.to_str().expect("utf-8"),
        "--container",
        "liar",
        "--object",
        "liar.tar.gz",
        "--env-file",
        &case.path("env.yaml"),
        "-f",
        "json",
    ]);
    match run.code {
        // Refused as a different object: untouched, nothing written.
        2 => {
            assert_eq!(case.acct.get_object("liar", "liar.tar.gz").body, other);
            assert!(!Path::new(&case.path("env.yaml")).exists());
        }
        0 => {
            let json = run.json();
            let url = str_field(&json, "temp_url");
            assert_eq!(
                fetch(url),
                (200, sha.clone()),
                "upload reported {:?} and handed out a URL serving other bytes than FILE \
                 (its ETag {:?} is not FILE's MD5)\n{}",
                json["action"],
                json["etag"],
                run.describe()
            );
        }
        _ => panic!("{}", run.describe()),
    }
}

/// A token that expires mid-upload (real tempauth expiry, 401 from Swift) is renewed once
/// and the request repeated; the upload succeeds.
#[test]
fn expired_token_is_renewed() {
    let swift = Swift::start_with(&swift_harness::SwiftOptions {
        token_life: Some(3),
        ..Default::default()
    });
    let acct = swift.account();
    let dir = tempfile::Builder::new()
        .prefix("reauth-")
        .tempdir()
        .expect("tempdir");
    let (file, sha) = swift_harness::artifact(dir.path(), "reauth.tar.gz", &noise(300_000, 60));
    let auth = FaultProxy::passthrough(swift.proxy_addr());
    let storage = FaultProxy::passthrough(swift.proxy_addr());
    let env = vec![
        ("ST_AUTH".to_string(), format!("{}/auth/v1.0", auth.url())),
        ("ST_USER".to_string(), acct.user.clone()),
        ("ST_KEY".to_string(), acct.key.clone()),
    ];
    let upload = |container: &str| {
        let storage_url = acct.storage_url_via(&storage.url());
        let env_file = dir.path().join(format!("{container}.yaml"));
        run_tool(
            dir.path(),
            &[
                "upload",
                file.to_str().expect("utf-8"),
                "--container",
                container,
                "--os-storage-url",
                &storage_url,
                "--env-file",
                env_file.to_str().expect("utf-8"),
                "-f",
                "json",
            ],
            &env,
            RUN_LIMIT,
        )
    };
    let baseline = upload("baseline");
    baseline.expect_code(0);
    let log = storage.log();
    let put = log
        .iter()
        .position(|l| l.starts_with("PUT ") && l.contains("/baseline/"))
        .unwrap_or_else(|| panic!("no object PUT in {log:#?}"));
    assert!(
        log.iter().all(|l| !l.ends_with(" 401")),
        "baseline outlived the token: {log:#?}"
    );
    let base = log.len();
    for (what, skip) in [("first request", 0), ("object PUT", put)] {
        let container = format!("renew-{skip}");
        auth.reset_counts();
        storage.reset_counts();
        // Held past the token's life: Swift itself answers 401.
        storage.set_fault_after(Fault::Delay(4_500), skip, 1);
        let run = upload(&container);
        assert_eq!(
            run.code,
            0,
            "{what}: {:#?}\n{}",
            storage.log(),
            run.describe()
        );
        let log = storage.log();
        assert!(
            log[skip].ends_with(" 401"),
            "{what}: the delayed request met an expired token: {log:#?}"
        );
        assert_eq!(auth.count(), 2, "{what}: one renewal: {:#?}", auth.log());
        assert_eq!(
            log.len(),
            base + 1,
            "{what}: the 401 repeated once: {log:#?}"
        );
        let url = run.json()["temp_url"]
            .as_str()
            .expect("temp_url")
            .to_string();
        assert_eq!(fetch(&url), (200, sha.clone()), "{what}");
    }
}

/// `--refresh` never re-signs a URL for an object that is gone or no longer holds the
/// content its name promises; the env file is then left byte for byte.
#[test]
fn refresh_refuses_missing_or_changed_objects() {
    let case = Case::new();
    type Change = fn(&Account, &str);
    let scenarios: [(&str, Change); 3] = [
        ("deleted", |acct, object| {
            let resp = acct.request("DELETE", "changing", Some(object), &[], None);
            assert_eq!(resp.status, 204);
        }),
        ("overwritten with another sha256", |acct, object| {
            acct.put_object(
                "changing",
                object,
                b"other bytes",
                &[("X-Object-Meta-Sha256", &sha256_hex(b"other bytes"))],
            );
        }),
        (
            "overwritten by a plain upload (no sha256 metadata)",
            |acct, object| {
                acct.put_object("changing", object, b"other bytes", &[]);
            },
        ),
    ];
    for (i, (what, change)) in scenarios.into_iter().enumerate() {
        let (file, sha) = case.artifact(&format!("art{i}.tar.gz"), &noise(5_000, 70 + i as u64));
        let env_file = case.path(&format!("env{i}.yaml"));
        let json = case.upload(&file, &["--container", "changing", "--env-file", &env_file]);
        change(&case.acct, str_field(&json, "object"));
        let before = fs::read(&env_file).expect("env file");
        let run = case.run(&[
            "upload",
            "--refresh",
            "--env-file",
            &env_file,
            "--refresh-margin",
            "1000000000",
        ]);
        if run.code == 0 {
            let url = yaml_urls(Path::new(&env_file)).remove(0);
            let (status, body_sha) = fetch(&url);
            panic!(
                "{what}: refresh succeeded and re-signed {url} (GET: {status}, body sha256 \
                 {body_sha}, the artifact's is {sha})\n{}",
                run.describe()
            );
        }
        assert!(!run.stderr.trim().is_empty(), "{what}: no message");
        assert_eq!(
            fs::read(&env_file).expect("env file"),
            before,
            "{what}: env file changed"
        );
    }
}
