//! `overcloud-keys upload`: the bad-input contract without a Swift (each case exits 2 with one
//! error naming what to fix and a hint, and no env file appears), and the unreachable-service
//! contract (exit 3, the URL and attempts named, the env file untouched). The behaviour
//! against a real Swift is in tests/interop_swift.rs.

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use crate::cli_support;

use std::fs;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use cli_support::{BIN, Out, tree};

/// A temporary HOME and working directory, and a clean environment: no OS_* or ST_*
/// variable of the machine running the tests leaks in.
struct Case {
    dir: tempfile::TempDir,
    vars: Vec<(String, String)>,
}

impl Case {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("upload-cli-")
            .tempdir()
            .unwrap();
        fs::create_dir(dir.path().join("home")).unwrap();
        fs::write(dir.path().join("keys.tar.gz"), b"not really a tarball").unwrap();
        Case { dir, vars: vec![] }
    }

    /// A case whose tempauth credentials point at a closed port: anything that connects fails.
    fn unreachable_tempauth() -> Self {
        Self::new()
            .env(
                "ST_AUTH",
                &format!("http://127.0.0.1:{}/auth/v1.0", closed_port()),
            )
            .env("ST_USER", "t:u")
            .env("ST_KEY", "k")
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn home(&self) -> PathBuf {
        self.path("home")
    }

    fn env(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.into(), value.into()));
        self
    }

    fn run(&self, args: &[&str]) -> Out {
        let output = Command::new(BIN)
            .arg("upload")
            .args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("HOME", self.home())
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .expect("run overcloud-keys");
        Out {
            args: format!("upload {}", args.join(" ")),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The default env file must not exist (nothing was written locally).
    fn assert_no_env_file(&self) {
        let tripleo = self.home().join(".tripleo");
        assert!(!tripleo.exists(), "{} was created", tripleo.display());
    }
}

/// Asserts the bad-input contract: exit 2, one error line containing every `needle`, a
/// hint line containing `hint`, and no default env file.
fn expect_bad_input(case: &Case, out: &Out, needles: &[&str], hint: &str) {
    out.expect_code(2);
    let errors = out.stderr_lines("error:");
    assert_eq!(errors.len(), 1, "one error line expected:\n{}", out.stderr);
    for needle in needles {
        assert!(
            errors[0].contains(needle),
            "the error does not name {needle:?}:\n{}",
            out.stderr
        );
    }
    let hint_line = out.expect_hint();
    assert!(
        hint_line.contains(hint),
        "the hint does not say {hint:?}:\n{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "stdout: {}", out.stdout);
    case.assert_no_env_file();
}

/// A 127.0.0.1 port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}

#[test]
fn unknown_cloud_names_the_cloud_the_file_and_the_known_clouds() {
    let case = Case::new();
    fs::write(
        case.path("clouds.yaml"),
        "clouds:\n  undercloud:\n    auth:\n      auth_url: http://127.0.0.1:1/v3\n",
    )
    .unwrap();
    let out = case.run(&["keys.tar.gz", "--os-cloud", "overcloud"]);
    let file = case.path("clouds.yaml");
    expect_bad_input(
        &case,
        &out,
        &["\"overcloud\"", &file.display().to_string()],
        "undercloud",
    );
}

#[test]
fn os_cloud_variable_is_honoured_and_missing_clouds_yaml_is_named() {
    let case = Case::new().env("OS_CLOUD", "overcloud");
    let out = case.run(&["keys.tar.gz"]);
    expect_bad_input(
        &case,
        &out,
        &["\"overcloud\"", "clouds.yaml"],
        "clouds.yaml",
    );
}

#[test]
fn no_credentials_at_all() {
    let case = Case::new();
    let out = case.run(&["keys.tar.gz"]);
    expect_bad_input(
        &case,
        &out,
        &["no Swift credentials", "OS_CLOUD", "OS_AUTH_URL", "ST_AUTH"],
        "--os-cloud",
    );
}

#[test]
fn incomplete_os_variables_name_what_is_missing() {
    let case = Case::new()
        .env("OS_AUTH_URL", "http://127.0.0.1:1/v3")
        .env("OS_USERNAME", "admin");
    let out = case.run(&["keys.tar.gz"]);
    expect_bad_input(
        &case,
        &out,
        &["OS_PASSWORD", "OS_PROJECT_NAME"],
        "OS_PASSWORD",
    );
}

#[test]
fn incomplete_tempauth_variables_name_what_is_missing() {
    let case = Case::new().env("ST_AUTH", "http://127.0.0.1:1/auth/v1.0");
    let out = case.run(&["keys.tar.gz"]);
    expect_bad_input(&case, &out, &["ST_USER", "ST_KEY"], "ST_USER");
}

#[test]
fn incomplete_cloud_names_the_key_and_the_file() {
    let case = Case::new();
    fs::write(
        case.path("clouds.yaml"),
        "clouds:\n  undercloud:\n    auth:\n      auth_url: http://127.0.0.1:1\n      username: admin\n      project_name: admin\n",
    )
    .unwrap();
    let out = case.run(&["keys.tar.gz", "--os-cloud", "undercloud"]);
    expect_bad_input(
        &case,
        &out,
        &["auth.password", "clouds.yaml"],
        "auth.password",
    );
}

#[test]
fn container_with_a_slash_is_refused_before_anything_else() {
    // Credentials that point nowhere: the option is refused before any connection.
    let case = Case::unreachable_tempauth();
    let out = case.run(&["keys.tar.gz", "--container", "artifacts/keys"]);
    expect_bad_input(
        &case,
        &out,
        &["--container", "artifacts/keys", "'/'"],
        "--object",
    );
}

#[test]
fn zero_or_negative_expiry_is_refused() {
    for expiry in ["0", "-3600"] {
        let case = Case::unreachable_tempauth();
        let out = case.run(&["keys.tar.gz", "--temp-url-expiry", expiry]);
        expect_bad_input(
            &case,
            &out,
            &["--temp-url-expiry", expiry, "expired"],
            "positive number of seconds",
        );
        // --refresh takes the same option and refuses it the same way.
        let out = case.run(&["--refresh", "--temp-url-expiry", expiry]);
        expect_bad_input(&case, &out, &["--temp-url-expiry", expiry], "positive");
    }
}

#[test]
fn missing_file_is_named() {
    let case = Case::new().env("ST_AUTH", "http://127.0.0.1:1/auth/v1.0");
    let out = case.run(&["nope.tar.gz"]);
    expect_bad_input(&case, &out, &["nope.tar.gz"], "exists");
}

#[test]
fn stale_checksum_file_is_refused_before_any_connection() {
    let case = Case::unreachable_tempauth();
    fs::write(
        case.path("keys.tar.gz.sha256"),
        format!("{}  keys.tar.gz\n", "0".repeat(64)),
    )
    .unwrap();
    let out = case.run(&["keys.tar.gz"]);
    expect_bad_input(
        &case,
        &out,
        &["keys.tar.gz.sha256", &"0".repeat(64)],
        "pack it again",
    );
}

#[test]
fn env_file_with_other_settings_is_refused_and_kept() {
    let case = Case::unreachable_tempauth();
    let env = case.path("env.yaml");
    let text = "resource_registry:\n  OS::TripleO::Services::Foo: foo.yaml\nparameter_defaults:\n  DeployArtifactURLs: []\n";
    fs::write(&env, text).unwrap();
    let out = case.run(&["keys.tar.gz", "--env-file", env.to_str().unwrap()]);
    expect_bad_input(
        &case,
        &out,
        &[&env.display().to_string(), "resource_registry"],
        "another --env-file",
    );
    assert_eq!(fs::read_to_string(&env).unwrap(), text);
}

#[test]
fn refresh_without_env_file_says_upload_first() {
    let case = Case::new();
    let out = case.run(&["--refresh"]);
    expect_bad_input(
        &case,
        &out,
        &["deployment-artifacts.yaml", "does not exist"],
        "upload",
    );
}

#[test]
fn unknown_digest_is_a_usage_error() {
    let case = Case::new();
    let out = case.run(&["keys.tar.gz", "--temp-url-digest", "md5"]);
    out.expect_code(2);
    assert!(out.stderr.contains("sha256"), "{}", out.stderr);
    case.assert_no_env_file();
}

/// Swift down: exit 3, the URL and the number of attempts named, the env file untouched.
#[test]
fn unreachable_tempauth_exits_3_and_leaves_the_env_file() {
    let url = format!("http://127.0.0.1:{}/auth/v1.0", closed_port());
    let case = Case::new()
        .env("ST_AUTH", &url)
        .env("ST_USER", "t:u")
        .env("ST_KEY", "secret-key-value");
    let env_dir = case.home().join(".tripleo/environments");
    fs::create_dir_all(&env_dir).unwrap();
    let env = env_dir.join("deployment-artifacts.yaml");
    fs::write(
        &env,
        "# Heat environment to deploy artifacts via Swift Temp URL(s)\nparameter_defaults:\n    DeployArtifactURLs:\n    - 'http://s/v1/AUTH_a/c/o-1a2b3c4d5e6f.tar.gz?temp_url_sig=00&temp_url_expires=1'\n",
    )
    .unwrap();
    let before = tree(&env_dir);
    let out = case.run(&["keys.tar.gz", "--retries", "2", "--timeout", "5"]);
    out.expect_code(3);
    let errors = out.stderr_lines("error:");
    assert_eq!(errors.len(), 1, "{}", out.stderr);
    assert!(errors[0].contains(&url), "{}", out.stderr);
    assert!(errors[0].contains("3 attempt(s)"), "{}", out.stderr);
    assert!(
        out.expect_hint()
            .contains("no env file was written or changed")
    );
    assert!(!out.stderr.contains("secret-key-value"));
    assert_eq!(tree(&env_dir), before, "the env file changed");
}

#[test]
fn unreachable_keystone_exits_3() {
    let port = closed_port();
    let case = Case::new()
        .env("OS_AUTH_URL", &format!("http://127.0.0.1:{port}"))
        .env("OS_USERNAME", "admin")
        .env("OS_PASSWORD", "secret-password")
        .env("OS_PROJECT_NAME", "admin");
    let out = case.run(&["keys.tar.gz", "--retries", "0"]);
    out.expect_code(3);
    let error = &out.stderr_lines("error:")[0].to_string();
    assert!(error.contains("Keystone"), "{}", out.stderr);
    assert!(
        error.contains(&format!("http://127.0.0.1:{port}/v3/auth/tokens")),
        "{}",
        out.stderr
    );
    assert!(error.contains("1 attempt(s)"), "{}", out.stderr);
    assert!(!out.stderr.contains("secret-password"));
    case.assert_no_env_file();
}

#[test]
fn help_documents_defaults_and_exit_code_3() {
    let case = Case::new();
    let out = case.run(&["--help"]);
    out.expect_code(0);
    for text in [
        "overcloud-artifacts",
        "31536000",
        "sha256",
        "deployment-artifacts.yaml",
        "2592000",
        "3  a remote service (Swift, Keystone) was unreachable",
    ] {
        assert!(
            out.stdout.contains(text),
            "--help lacks {text:?}:\n{}",
            out.stdout
        );
    }
}
