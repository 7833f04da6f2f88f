//! Snapshots of every rendered environment file, from fixed keys so they are stable.
//! A change in a template shows up here as a reviewable diff.

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use overcloud_keys::heat::{self, ArtifactRefs, FernetEnv, FernetParams, JwsEnv};
use overcloud_keys::keys::fernet::FernetKey;
use overcloud_keys::keys::repo::KeySet;

fn keys(numbers: &[u64], seed: u8) -> KeySet {
    numbers
        .iter()
        .map(|&n| (n, FernetKey::from_bytes([seed.wrapping_add(n as u8); 32])))
        .collect()
}

#[test]
fn fernet_yaml_containerized() {
    let fernet = keys(&[0, 3, 4], 0x10);
    let credential = keys(&[0, 1], 0x80);
    let text = heat::render_fernet(&FernetEnv {
        stack: "overcloud",
        fernet_keys: Some(&fernet),
        in_tarball: false,
        params: FernetParams::KeysMap,
        credential_keys: Some(&credential),
        max_active_keys: 5,
        notes: vec![
            "Token keys: /home/stack/overcloud-keys/overcloud/keys/fernet-keys (primary 4)".into(),
        ],
    })
    .unwrap();
    insta::assert_snapshot!(text.as_str());
}

#[test]
fn fernet_yaml_baremetal_keys_in_tarball() {
    let credential = keys(&[0, 1], 0x80);
    let text = heat::render_fernet(&FernetEnv {
        stack: "overcloud",
        fernet_keys: None,
        in_tarball: true,
        params: FernetParams::KeysMap,
        credential_keys: Some(&credential),
        max_active_keys: 3,
        notes: vec![],
    })
    .unwrap();
    insta::assert_snapshot!(text.as_str());
}

/// OSP 11 (baremetal): puppet writes files 0 and 1 from KeystoneFernetKey0/1 on every deploy,
/// so they mirror the repository the tarball carries; once rotated past 1, file 1 gets a copy
/// of the staged key (no new key material). OSP 10 has no Fernet parameter at all.
#[test]
fn fernet_yaml_osp11_key_pair_and_osp10_nothing() {
    let credential = keys(&[0, 1], 0x80);
    let render = |fernet: &KeySet, params| {
        heat::render_fernet(&FernetEnv {
            stack: "overcloud",
            fernet_keys: Some(fernet),
            in_tarball: true,
            params,
            credential_keys: Some(&credential),
            max_active_keys: 3,
            notes: vec![],
        })
        .unwrap()
    };
    let fresh = keys(&[0, 1], 0x10);
    let text = render(&fresh, FernetParams::KeyPair);
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let defaults = &doc["parameter_defaults"];
    assert_eq!(defaults["KeystoneFernetKey0"], fresh[&0].encode().as_str());
    assert_eq!(defaults["KeystoneFernetKey1"], fresh[&1].encode().as_str());
    for absent in [
        "KeystoneFernetKeys",
        "ManageKeystoneFernetKeys",
        "KeystoneFernetMaxActiveKeys",
    ] {
        assert!(
            defaults.get(absent).is_none(),
            "{absent} does not exist on OSP 11"
        );
    }
    let rotated = keys(&[0, 3, 4], 0x10);
    let text = render(&rotated, FernetParams::KeyPair);
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(
        doc["parameter_defaults"]["KeystoneFernetKey1"],
        rotated[&0].encode().as_str()
    );
    insta::assert_snapshot!(text.as_str());
    let text = render(&rotated, FernetParams::NoParams);
    assert!(!text.contains("KeystoneFernetKey"), "{}", text.as_str());
    assert!(text.contains("KeystoneCredential0"));
}

#[test]
fn credential_repository_beyond_keys_0_and_1_is_refused() {
    let credential = keys(&[0, 1, 2], 0x80);
    let err = heat::render_fernet(&FernetEnv {
        stack: "overcloud",
        fernet_keys: None,
        in_tarball: true,
        params: FernetParams::KeysMap,
        credential_keys: Some(&credential),
        max_active_keys: 3,
        notes: vec![],
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("KeystoneCredential0 and KeystoneCredential1"),
        "{err}"
    );
}

#[test]
fn jws_yaml_two_roles() {
    let roles = vec!["Controller".to_string(), "KeystoneApi".to_string()];
    let text = heat::render_jws(&JwsEnv {
        stack: "overcloud",
        roles: &roles,
        receipt_dir: None,
        operator: Default::default(),
    })
    .unwrap();
    insta::assert_snapshot!(text);
}

#[test]
fn jws_yaml_carries_operator_entries_without_breaking_out() {
    let roles = vec!["Controller".to_string()];
    let mut found = heat::extra_config::OperatorEntries::default();
    found.entries.insert(
        "token/expiration".into(),
        serde_json::json!({"value": 7200}),
    );
    // A hostile key and value: must stay inside the map, never become YAML structure.
    found.entries.insert(
        "x: 1\nresource_registry:\n  OS::Evil: /tmp/e.yaml\n#".into(),
        serde_json::json!({"value": "'\n}\nresource_registry: {a: b}"}),
    );
    found.entries.insert(
        "jwt_tokens/jws_public_key_repository".into(),
        serde_json::json!({"value": "/elsewhere"}),
    );
    let text = heat::render_jws(&JwsEnv {
        stack: "overcloud",
        roles: &roles,
        receipt_dir: None,
        operator: [("Controller".to_string(), found)].into(),
    })
    .unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let top: Vec<&str> = doc
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(|k| k.as_str())
        .collect();
    assert_eq!(top, ["parameter_merge_strategies", "parameter_defaults"]);
    let config =
        &doc["parameter_defaults"]["ControllerExtraConfig"]["keystone::config::keystone_config"];
    let keys: Vec<&str> = config
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(|k| k.as_str())
        .collect();
    assert_eq!(keys.len(), 4, "{text}");
    assert_eq!(config["token/expiration"]["value"], 7200);
    assert_eq!(
        config["jwt_tokens/jws_public_key_repository"]["value"], "/etc/keystone/jws-keys/public",
        "ours win for the JWS options"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn deployment_artifacts_files_matches_tripleo_common_layout() {
    let text = heat::render_artifacts(&ArtifactRefs::Files(vec!["/var/lib/tripleo/artifacts/overcloud-artifacts/overcloud-keys-overcloud-0123456789ab.tar.gz".into()]), &[]).unwrap();
    assert!(text.starts_with(
        "parameter_defaults:\n  DeployArtifactFILEs:\n  - /var/lib/tripleo/artifacts/"
    ));
    insta::assert_snapshot!(text);
}

#[test]
fn deployment_artifacts_urls_matches_upload_swift_artifacts() {
    let url = "http://192.0.2.1:8080/v1/AUTH_x/overcloud-artifacts/k.tar.gz?temp_url_sig=ab&temp_url_expires=1";
    let text = heat::render_artifacts(&ArtifactRefs::Urls(vec![url.into()]), &[]).unwrap();
    assert_eq!(
        text,
        format!(
            "# Heat environment to deploy artifacts via Swift Temp URL(s)\nparameter_defaults:\n    DeployArtifactURLs:\n    - '{url}'\n"
        )
    );
}

#[test]
fn artifact_paths_with_shell_metacharacters_are_refused() {
    for bad in [
        "relative/x.tar.gz",
        "/a b/x.tar.gz",
        "/a/x.tar.gz;rm",
        "/a/$(x)",
        "/a/../etc/x",
    ] {
        assert!(
            heat::render_artifacts(&ArtifactRefs::Files(vec![bad.into()]), &[]).is_err(),
            "{bad}"
        );
    }
}
