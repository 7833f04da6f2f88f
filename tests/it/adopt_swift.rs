//! OSP 13/16.2: the deployed keys live in the plan container named after the stack
//! (`plan-environment.yaml`, `passwords:` section) in the undercloud's Swift. Against the
//! real Swift harness: `adopt` reads them from there, `build` refuses a stack whose plan
//! container exists, an absent container means "not deployed", and an unreachable Swift
//! changes nothing (exit 3).

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use crate::swift_harness;

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use swift_harness::{Account, Swift};
use tempfile::TempDir;

fn key(seed: u8) -> String {
    URL_SAFE.encode([seed; 32])
}

fn plan_environment() -> String {
    format!(
        "name: overcloud\ntemplate: overcloud.yaml\nenvironments:\n- path: overcloud-resource-registry-puppet.yaml\nparameter_defaults: {{}}\npasswords:\n  AdminPassword: not-a-key\n  KeystoneCredential0: {}\n  KeystoneCredential1: {}\n  KeystoneFernetKeys:\n    /etc/keystone/fernet-keys/0:\n      content: {}\n    /etc/keystone/fernet-keys/3:\n      content: {}\n    /etc/keystone/fernet-keys/4:\n      content: {}\n",
        key(1),
        key(2),
        key(10),
        key(13),
        key(14)
    )
}

fn run(home: &Path, env: &[(String, String)], args: &[&str]) -> Output {
    let mut cmd = Command::new(swift_harness::bin());
    swift_harness::scrub_env(&mut cmd);
    cmd.env("HOME", home).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn deployed_account() -> Account {
    let acct = Swift::shared().account();
    acct.put_container("overcloud", &[]);
    acct.put_object(
        "overcloud",
        "plan-environment.yaml",
        plan_environment().as_bytes(),
        &[],
    );
    acct
}

#[test]
fn adopt_reads_the_plan_container_and_build_refuses_without_it() {
    let acct = deployed_account();
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    let wd_arg = wd.to_str().unwrap();

    let out = run(tmp.path(), &acct.st_env(), &["build", "--workdir", wd_arg]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("plan container"), "{}", stderr(&out));
    assert!(!wd.exists(), "refused build wrote the work directory");

    let out = run(
        tmp.path(),
        &acct.st_env(),
        &["adopt", "--workdir", wd_arg, "-f", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["status"], "imported");
    let source = report["source"].as_str().unwrap();
    assert!(
        source.ends_with("/overcloud/plan-environment.yaml"),
        "{source}"
    );
    assert!(!source.contains(&acct.token), "no token in the report");
    for (index, seed) in [(0, 10), (3, 13), (4, 14)] {
        let got = std::fs::read_to_string(wd.join(format!("keys/fernet-keys/{index}"))).unwrap();
        assert_eq!(got, key(seed), "fernet key {index}");
    }
    assert_eq!(
        std::fs::read_to_string(wd.join("keys/credential-keys/1")).unwrap(),
        key(2)
    );
    // With the keys adopted, build goes ahead (local artifacts: no upload needed).
    let out = run(
        tmp.path(),
        &acct.st_env(),
        &["build", "--workdir", wd_arg, "--no-jws"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn no_plan_container_means_not_deployed() {
    let acct = Swift::shared().account();
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    let wd_arg = wd.to_str().unwrap();
    let out = run(tmp.path(), &acct.st_env(), &["adopt", "--workdir", wd_arg]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no plan container overcloud/plan-environment.yaml"),
        "{}",
        stderr(&out)
    );
    assert!(!wd.exists());
    let out = run(tmp.path(), &acct.st_env(), &["build", "--workdir", wd_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn unreachable_swift_changes_nothing() {
    let tmp = TempDir::new().unwrap();
    let wd = tmp.path().join("wd");
    let wd_arg = wd.to_str().unwrap();
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/auth/v1.0", closed.local_addr().unwrap());
    drop(closed);
    let env = vec![
        ("ST_AUTH".to_string(), url),
        ("ST_USER".to_string(), "t:u".to_string()),
        ("ST_KEY".to_string(), "k".to_string()),
    ];
    let out = run(tmp.path(), &env, &["build", "--workdir", wd_arg]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(!wd.exists(), "build wrote the work directory");
}
