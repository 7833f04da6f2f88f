//! `rollout` with a real Keystone 30 per simulated node (the keystone harness, its
//! `[fernet_tokens] key_repository` pointed at that node's key directory as the host sees
//! it): a token issued before the rollout still validates on every node after it, tokens
//! issued after it are encrypted with the new primary and validate everywhere, and the
//! mixed state in the middle of a rollout (one node updated, one not) validates both ways.
//! No keystone is restarted: keystone reads the key directory per request.

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use crate::keystone_harness::{Keystone, Provider, Scope, fernet_signing_key, overcloud_keys_ok};
use crate::nodes_harness;
use crate::rollout::{fernet, rollout, start};

use std::fs;

use crate::cli_support::Env;

#[test]
fn a_token_issued_before_the_rollout_validates_on_every_node_after_it() {
    if !nodes_harness::require("a_token_issued_before_the_rollout_validates_on_every_node_after_it")
    {
        return;
    }
    let env = Env::new();
    let (wd, cluster) = start(&env, 2);
    let mut keystones: Vec<Keystone> = cluster
        .nodes
        .iter()
        .map(|node| {
            let mut ks = Keystone::new(Provider::Fernet);
            ks.set_fernet_repository(&node.dir("fernet-keys"));
            // Keystone checks its receipt repository at start; receipts play no part here.
            let receipts = ks.layout.receipt.display().to_string();
            overcloud_keys_ok(&["receipt", "setup", "--key-repository", &receipts]);
            ks
        })
        .collect();
    for ks in &mut keystones {
        ks.start();
    }
    let repo = wd.join("keys/fernet-keys");
    let old = fernet(&repo);
    let old_primary = old
        .keys()
        .filter_map(|n| n.parse::<u64>().ok())
        .max()
        .unwrap();

    // Before: a token from ctl-0's keystone, encrypted with the deployed primary.
    let before = keystones[0].issue_token(Scope::AdminProject);
    assert_eq!(
        fernet_signing_key(&cluster.nodes[0].dir("fernet-keys"), &before),
        Some(old_primary.to_string())
    );
    for ks in &mut keystones {
        ks.assert_valid(&before, "pre-rollout token, before the rollout");
    }

    rollout(&env, &cluster, &wd, &[]).expect_code(0);
    let new_primary = (old_primary + 1).to_string();
    assert_eq!(fernet(&repo)[&new_primary], old["0"]);

    // After, with the same keystone processes: the old token still validates everywhere,
    // and each node's new tokens use the new primary and validate on the other node.
    for (i, ks) in keystones.iter_mut().enumerate() {
        ks.assert_valid(&before, &format!("pre-rollout token on ctl-{i}"));
    }
    let fresh: Vec<String> = keystones
        .iter()
        .map(|ks| ks.issue_token(Scope::AdminProject))
        .collect();
    for (i, token) in fresh.iter().enumerate() {
        assert_eq!(
            fernet_signing_key(&cluster.nodes[i].dir("fernet-keys"), token),
            Some(new_primary.clone()),
            "ctl-{i} encrypts with the new primary without a restart"
        );
        for (j, ks) in keystones.iter_mut().enumerate() {
            ks.assert_valid(token, &format!("token of ctl-{i} on ctl-{j}"));
        }
    }

    // The middle of a rollout: only ctl-0 gets the next rotation (an inventory naming it
    // alone), ctl-1 still holds the previous repository. Tokens cross both ways.
    let inventory = cluster.inventory(&[]);
    let text = fs::read_to_string(&inventory).unwrap();
    let only_first: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("ctl-1:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let partial = env.path("inventory-ctl-0.yaml");
    fs::write(&partial, only_first).unwrap();
    env.cmd()
        .env("HOME", env.root())
        .args(["rollout", "--timeout", "20", "--workdir"])
        .arg(&wd)
        .arg("--inventory")
        .arg(&partial)
        .run()
        .expect_code(0);
    let updated = keystones[0].issue_token(Scope::AdminProject);
    let next_primary = (old_primary + 2).to_string();
    assert_eq!(
        fernet_signing_key(&cluster.nodes[0].dir("fernet-keys"), &updated),
        Some(next_primary)
    );
    let not_yet = keystones[1].issue_token(Scope::AdminProject);
    keystones[1].assert_valid(&updated, "updated node's token on the node not yet updated");
    keystones[0].assert_valid(&not_yet, "not-yet-updated node's token on the updated node");
    for (i, ks) in keystones.iter_mut().enumerate() {
        ks.assert_valid(
            &before,
            &format!("pre-rollout token on ctl-{i}, two rotations on"),
        );
        ks.assert_no_log_errors();
    }
}
