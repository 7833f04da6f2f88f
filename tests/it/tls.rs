//! TLS as on a real undercloud, whose public endpoints carry a certificate from its own CA:
//! the real Swift harness behind a TLS front whose CA is only in a test trust store
//! (`SSL_CERT_FILE`, which the system-store loader honours as it does on RHEL). Trusted by
//! default through the system store; refused with a hint when the store lacks the CA;
//! `--os-cacert` and `--insecure` still work; and `build --artifacts swift` re-runs change
//! nothing over TLS (the published TempURL is checked with the same TLS settings).

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use crate::swift_harness::{self, Account, Swift};

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use tempfile::TempDir;

/// A CA and a server certificate for 127.0.0.1 it signed, plus an unrelated CA.
struct Pki {
    dir: TempDir,
}

/// The openssl command line, installed from Debian when missing (as the other harnesses
/// install what they need); a test that cannot get it fails, naming it.
fn ensure_openssl() {
    static READY: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    READY.get_or_init(|| {
        let present = || {
            Command::new("openssl")
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !present() {
            let _ = Command::new("sh")
                .args([
                    "-c",
                    "flock /tmp/overcloud-keys-apt.lock sh -c '(apt-get install -y -q openssl || (apt-get update -q && apt-get install -y -q openssl)) >/tmp/overcloud-keys-apt-openssl.log 2>&1'",
                ])
                .status();
        }
        assert!(
            present(),
            "the openssl command is needed to make the test CA (apt-get install openssl)"
        );
    });
}

fn openssl(dir: &Path, args: &[&str]) {
    ensure_openssl();
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::Builder::new()
            .prefix("tls-pki-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        make_ca(d, "undercloud-ca");
        make_ca(d, "other-ca");
        fs::write(
            d.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "undercloud-ca.pem",
                "-CAkey",
                "undercloud-ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
        );
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// The TLS front (tests/swift_harness/tls_front.py) relaying to the shared Swift's proxy.
struct Front {
    child: Child,
    base: String,
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn front(pki: &Pki) -> Front {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/swift_harness/tls_front.py");
    let upstream = Swift::shared().proxy_addr().port().to_string();
    let mut child = Command::new("python3")
        .arg("-I")
        .arg(script)
        .arg(pki.path("server.pem"))
        .arg(pki.path("server.key"))
        .arg(upstream)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs the TLS front");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().expect("the front prints its port");
    Front {
        child,
        base: format!("https://127.0.0.1:{port}"),
    }
}

/// A PKI and a front of the test's own: the front dies with the thread that started it
/// (PR_SET_PDEATHSIG follows the parent thread), so it cannot be shared between tests.
fn setup() -> (Pki, Front) {
    let pki = Pki::new();
    let front = front(&pki);
    (pki, front)
}

/// Tempauth through the front: ST_AUTH and the storage URL are both https.
fn tls_env(acct: &Account, base: &str) -> Vec<(String, String)> {
    vec![
        ("ST_AUTH".into(), format!("{base}/auth/v1.0")),
        ("ST_USER".into(), acct.user.clone()),
        ("ST_KEY".into(), acct.key.clone()),
        ("OS_STORAGE_URL".into(), acct.storage_url_via(base)),
    ]
}

fn run(args: &[&str], env: &[(String, String)], trust: Option<&Path>, home: &Path) -> Output {
    let mut cmd = Command::new(swift_harness::bin());
    swift_harness::scrub_env(&mut cmd);
    cmd.env_remove("SSL_CERT_DIR").env("HOME", home).args(args);
    match trust {
        Some(bundle) => cmd.env("SSL_CERT_FILE", bundle),
        None => cmd.env_remove("SSL_CERT_FILE"),
    };
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null()).output().expect("binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn artifact(tmp: &TempDir) -> PathBuf {
    let path = tmp.path().join("keys.tar.gz");
    fs::write(&path, b"a test artifact, not a real tarball\n").unwrap();
    path
}

fn upload(tmp: &TempDir, env: &[(String, String)], trust: Option<&Path>, extra: &[&str]) -> Output {
    let file = artifact(tmp);
    let env_file = tmp.path().join("env.yaml");
    let mut args = vec![
        "upload",
        file.to_str().unwrap(),
        "--env-file",
        env_file.to_str().unwrap(),
        "--retries",
        "0",
        "--replace",
    ];
    args.extend_from_slice(extra);
    run(&args, env, trust, tmp.path())
}

#[test]
fn the_system_trust_store_is_trusted_by_default() {
    let (pki, front) = setup();
    let (pki, front) = (&pki, &front);
    let tmp = TempDir::new().unwrap();
    let env = tls_env(&Swift::shared().account(), &front.base);
    let out = upload(&tmp, &env, Some(&pki.path("undercloud-ca.pem")), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = fs::read_to_string(tmp.path().join("env.yaml")).unwrap();
    let url = text
        .split(['\'', '"'])
        .find(|t| t.starts_with("https://") && t.contains("temp_url_sig"))
        .unwrap_or_else(|| panic!("an https TempURL in {text}"));
    // The URL serves the artifact through TLS (trusting the test CA only).
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[
                    ureq::tls::Certificate::from_pem(
                        &fs::read(pki.path("undercloud-ca.pem")).unwrap(),
                    )
                    .unwrap()
                    .to_owned(),
                ]))
                .build(),
        )
        .build()
        .into();
    let body = agent
        .get(url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap();
    assert_eq!(body, fs::read(artifact(&tmp)).unwrap());
}

#[test]
fn an_untrusted_ca_is_refused_with_a_hint_and_no_env_file() {
    let (pki, front) = setup();
    let (pki, front) = (&pki, &front);
    let tmp = TempDir::new().unwrap();
    let env = tls_env(&Swift::shared().account(), &front.base);
    let out = upload(&tmp, &env, Some(&pki.path("other-ca.pem")), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("TLS with https://127.0.0.1:"), "{err}");
    assert!(
        err.contains("hint:") && err.contains("system trust store"),
        "{err}"
    );
    assert!(!tmp.path().join("env.yaml").exists());
}

#[test]
fn os_cacert_and_insecure_still_work() {
    let (pki, front) = setup();
    let (pki, front) = (&pki, &front);
    let env = tls_env(&Swift::shared().account(), &front.base);
    let other = pki.path("other-ca.pem");
    let ca = pki.path("undercloud-ca.pem");
    let tmp = TempDir::new().unwrap();
    let out = upload(
        &tmp,
        &env,
        Some(&other),
        &["--os-cacert", ca.to_str().unwrap()],
    );
    assert!(out.status.success(), "--os-cacert: {}", stderr(&out));
    let tmp = TempDir::new().unwrap();
    let out = upload(&tmp, &env, Some(&other), &["--insecure"]);
    assert!(out.status.success(), "--insecure: {}", stderr(&out));
}

/// `build --artifacts swift` with the storage URL (https, through the front) from a config
/// file, as an operator whose catalog lists the public endpoint would get it.
fn build(
    wd: &Path,
    env: &[(String, String)],
    trust: &Path,
    storage_url: &str,
) -> serde_json::Value {
    let config = wd.with_extension("toml");
    fs::write(&config, format!("os_storage_url = \"{storage_url}\"\n")).unwrap();
    let args = [
        "build",
        "--config",
        config.to_str().unwrap(),
        "--workdir",
        wd.to_str().unwrap(),
        "--artifacts",
        "swift",
        "--delivery",
        "all-roles",
        "-f",
        "json",
    ];
    let out = run(&args, env, Some(trust), wd.parent().unwrap());
    assert!(out.status.success(), "build: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn build_over_tls_reruns_change_nothing() {
    let (pki, front) = setup();
    let (pki, front) = (&pki, &front);
    let acct = Swift::shared().account();
    let env = tls_env(&acct, &front.base);
    let storage_url = acct.storage_url_via(&front.base);
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    let trust = pki.path("undercloud-ca.pem");
    build(&wd, &env, &trust, &storage_url);
    let envfile = wd.join("deployment-artifacts.yaml");
    let first = fs::read_to_string(&envfile).unwrap();
    assert!(first.contains("https://127.0.0.1:"), "{first}");
    // A second later a fresh signature would differ: the same URL proves it was checked
    // (HEAD through the TempURL over TLS) and kept.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let again = build(&wd, &env, &trust, &storage_url);
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(fs::read_to_string(&envfile).unwrap(), first);
}
