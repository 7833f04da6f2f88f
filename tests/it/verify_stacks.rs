//! `verify` with several stacks (multi-region) against real sshd daemons: stacks sharing
//! keys through `keys_from` must hold the same keys on every node, independent stacks must
//! have no key in common; the single-stack report stays as it was.

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use crate::cli_support::{Env, Out};
use crate::nodes_harness::{self, Cluster};
use crate::rollout::{deploy, fernet};

use std::fs;
use std::path::{Path, PathBuf};

/// Builds `stack` in ~/overcloud-keys/<stack> (HOME = `home`), with a config file.
fn build(env: &Env, home: &Path, stack: &str, keys_from: Option<&str>) -> PathBuf {
    let config = env.path(&format!("{stack}.toml"));
    let from = keys_from
        .map(|f| format!("keys_from = \"{f}\"\n"))
        .unwrap_or_default();
    fs::write(&config, format!("stack = \"{stack}\"\n{from}")).unwrap();
    env.cmd()
        .env("HOME", home)
        .args(["build", "--config"])
        .arg(&config)
        .run()
        .expect_code(0);
    config
}

/// Starts `count` nodes for `stack` and installs their inventory where OSP 17 keeps it.
fn nodes(home: &Path, stack: &str, count: usize) -> Cluster {
    let cluster = Cluster::start(count);
    let dir = home.join("overcloud-deploy").join(stack);
    fs::create_dir_all(&dir).unwrap();
    fs::copy(
        cluster.inventory(&[]),
        dir.join("tripleo-ansible-inventory.yaml"),
    )
    .unwrap();
    cluster
}

fn verify(env: &Env, home: &Path, args: &[&str]) -> Out {
    env.cmd()
        .env("HOME", home)
        .args(["verify", "--timeout", "20"])
        .args(args)
        .run()
}

fn codes(findings: &serde_json::Value) -> Vec<String> {
    findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn several_stacks_shared_keys_agree_and_independent_ones_share_nothing() {
    if !nodes_harness::require(
        "several_stacks_shared_keys_agree_and_independent_ones_share_nothing",
    ) {
        return;
    }
    let env = Env::new();
    let home = env.path("home");
    fs::create_dir_all(&home).unwrap();
    build(&env, &home, "region1", None);
    let region2 = build(&env, &home, "region2", Some("region1"));
    build(&env, &home, "region3", None);
    let wd = |stack: &str| home.join("overcloud-keys").join(stack);
    let (c1, c2, c3) = (
        nodes(&home, "region1", 2),
        nodes(&home, "region2", 1),
        nodes(&home, "region3", 1),
    );
    for node in c1.nodes.iter().chain(&c2.nodes) {
        deploy(&wd("region1"), node);
    }
    deploy(&wd("region3"), &c3.nodes[0]);
    let region2 = region2.to_str().unwrap();
    let all = [
        "--config", region2, "--stack", "region1", "--stack", "region3",
    ];

    let out = verify(&env, &home, &[&all[..], &["-f", "json"]].concat());
    out.expect_code(0);
    let report = out.json();
    let stacks: Vec<&str> = report["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stack"].as_str().unwrap())
        .collect();
    assert_eq!(stacks, ["region2", "region1", "region3"]);
    assert_eq!(report["stacks"][0]["keys_from"], "region1");
    assert_eq!(
        report["stacks"][0]["workdir"],
        wd("region1").display().to_string()
    );
    let relations: Vec<(bool, bool)> = report["relations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["shared"].as_bool().unwrap(),
                r["consistent"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(relations, [(true, true), (false, true), (false, true)]);
    let text = verify(&env, &home, &all);
    text.expect_code(0);
    assert!(
        text.stdout.contains("stacks region2 and region1 share keys (region2 renders region1's keys (keys_from)); all 3 reached node(s) of both hold the same keys"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("stacks region1 and region3 are independent: no key in common"),
        "{}",
        text.stdout
    );

    // One stack alone keeps the single-stack report, keys_from resolved to region1's keys.
    let single = verify(&env, &home, &["--config", region2, "-f", "json"]);
    single.expect_code(0);
    let single = single.json();
    assert!(
        single.get("stacks").is_none() && single["nodes"].is_array(),
        "{single}"
    );
    assert_eq!(single["ok"], true);

    // Drift: region2's node gets an extra primary, region3's node a key of region1's.
    let r1_fernet = fernet(&wd("region1").join("keys/fernet-keys"));
    c2.nodes[0].put_file(
        "fernet-keys",
        "9",
        b"gAAAAABmore-than-a-key-but-44-bytes-long=====",
        0o600,
    );
    c3.nodes[0].put_file("credential-keys", "7", &r1_fernet["1"], 0o600);
    let out = verify(&env, &home, &[&all[..], &["-f", "json"]].concat());
    out.expect_code(1);
    let report = out.json();
    // region3 now holds a key of region1's, which region2 shares: both pairs are named.
    assert_eq!(
        codes(&report["findings"]),
        ["stacks-disagree", "stacks-share-keys", "stacks-share-keys"]
    );
    assert_eq!(
        codes(&report["stacks"][0]["report"]["findings"]),
        ["node-key-extra-primary"]
    );
    assert_eq!(
        codes(&report["stacks"][2]["report"]["findings"]),
        ["node-key-extra-primary"]
    );
    assert!(
        report["findings"][1]["message"]
            .as_str()
            .unwrap()
            .contains("region2 and region3")
    );
    let share = report["findings"][2]["message"].as_str().unwrap();
    assert!(
        share.contains("region1 and region3") && share.contains("ctl-0 credential-keys/7"),
        "{share}"
    );
    for content in r1_fernet.values() {
        assert!(!out.all().contains(String::from_utf8_lossy(content).trim()));
    }

    // An inventory kept elsewhere, per stack.
    let moved = env.path("region3-inventory.yaml");
    fs::rename(
        home.join("overcloud-deploy/region3/tripleo-ansible-inventory.yaml"),
        &moved,
    )
    .unwrap();
    let given = format!("region3={}", moved.display());
    let out = verify(
        &env,
        &home,
        &[&all[..], &["--stack-inventory", &given, "-f", "json"]].concat(),
    );
    out.expect_code(1);
    assert_eq!(
        out.json()["stacks"][2]["inventory"],
        moved.display().to_string()
    );
    let unknown = verify(
        &env,
        &home,
        &[&all[..], &["--stack-inventory", "region9=/x"]].concat(),
    );
    unknown.expect_code(2);
    assert!(
        unknown
            .stderr
            .contains("region9 is not one of the stacks given"),
        "{}",
        unknown.stderr
    );

    // --workdir / --inventory belong to one stack.
    let bad = verify(
        &env,
        &home,
        &[
            "--stack",
            "region1",
            "--stack",
            "region3",
            "--workdir",
            "/tmp",
        ],
    );
    bad.expect_code(2);
    assert!(bad.stderr.contains("several stacks"), "{}", bad.stderr);
}
