//! `verify` and `adopt --from-node` against real sshd daemons (one per simulated keystone
//! node, each with its own /var/lib/config-data in a private mount namespace; see
//! `nodes_harness`). The binary runs the system ssh client with strict host key checking.

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use crate::{cli_support, nodes_harness};

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;

use cli_support::{Env, Out};
use nodes_harness::{Cluster, SshNode};

/// A key as keystone writes it, distinct per `seed`.
fn key(seed: u8) -> String {
    URL_SAFE.encode([seed; 32])
}

const FERNET: [(&str, u8); 3] = [("0", 10), ("1", 11), ("2", 12)];
const CREDENTIAL: [(&str, u8); 2] = [("0", 20), ("1", 21)];

fn write_repo(dir: &Path, files: &[(&str, u8)]) {
    fs::create_dir_all(dir).unwrap();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).unwrap();
    for (name, seed) in files {
        let path = dir.join(name);
        fs::write(&path, key(*seed)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// A work directory holding FERNET and CREDENTIAL.
fn workdir(env: &Env) -> PathBuf {
    let wd = env.path("wd");
    write_repo(&wd.join("keys/fernet-keys"), &FERNET);
    write_repo(&wd.join("keys/credential-keys"), &CREDENTIAL);
    wd
}

fn put_keys(node: &SshNode, sub: &str, files: &[(&str, u8)]) {
    let owned: Vec<(&str, Vec<u8>)> = files
        .iter()
        .map(|(n, s)| (*n, key(*s).into_bytes()))
        .collect();
    let refs: Vec<(&str, &[u8])> = owned.iter().map(|(n, c)| (*n, c.as_slice())).collect();
    node.put(sub, &refs, 0o600);
}

/// Every node holds exactly the work directory's keys.
/// The common start of a test: a real sshd (else a visible skip and `None`), the work
/// directory of [`workdir`], and `count` nodes holding exactly its keys.
fn in_sync_cluster(test: &str, count: usize) -> Option<(Env, PathBuf, Cluster)> {
    if !nodes_harness::require(test) {
        return None;
    }
    let env = Env::new();
    let wd = workdir(&env);
    let cluster = Cluster::start(count);
    in_sync(&cluster);
    Some((env, wd, cluster))
}

fn in_sync(cluster: &Cluster) {
    for node in &cluster.nodes {
        put_keys(node, "fernet-keys", &FERNET);
        put_keys(node, "credential-keys", &CREDENTIAL);
    }
}

fn verify(env: &Env, cluster: &Cluster, wd: &Path, extra: &[(&str, u16)], json: bool) -> Out {
    let inventory = cluster.inventory(extra);
    let mut cmd = env
        .cmd()
        .env("HOME", env.root())
        .args(["verify", "--timeout", "20", "--workdir"])
        .arg(wd)
        .arg("--inventory")
        .arg(&inventory);
    if json {
        cmd = cmd.args(["-f", "json"]);
    }
    cmd.run()
}

/// Codes of the findings naming `node`.
fn codes_of(report: &serde_json::Value, node: &str) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["node"] == node)
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["key"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn assert_no_key_material(out: &Out) {
    for seed in FERNET
        .iter()
        .chain(&CREDENTIAL)
        .map(|(_, s)| *s)
        .chain([13, 99])
    {
        assert!(
            !out.all().contains(&key(seed)),
            "key material printed:\n{}",
            out.all()
        );
    }
}

#[test]
fn all_nodes_in_sync_exit_0() {
    let Some((env, wd, cluster)) = in_sync_cluster("all_nodes_in_sync_exit_0", 2) else {
        return;
    };
    let out = verify(&env, &cluster, &wd, &[], false);
    out.expect_code(0);
    assert!(
        out.stdout.contains("ctl-0") && out.stdout.contains("ctl-1"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("all match the work directory"),
        "{}",
        out.stdout
    );
    let json = verify(&env, &cluster, &wd, &[], true);
    json.expect_code(0);
    let report = json.json();
    assert_eq!(report["ok"], true);
    assert_eq!(report["nodes_agree"], true);
    assert_eq!(
        report["nodes"][0]["keys"]["fernet-keys"],
        serde_json::json!(["0", "1", "2"])
    );
    assert_no_key_material(&json);
}

#[test]
fn extra_higher_key_is_critical_and_nodes_disagree() {
    let Some((env, wd, cluster)) =
        in_sync_cluster("extra_higher_key_is_critical_and_nodes_disagree", 2)
    else {
        return;
    };
    cluster.nodes[1].put_file("fernet-keys", "3", key(13).as_bytes(), 0o600);
    let out = verify(&env, &cluster, &wd, &[], true);
    out.expect_code(1);
    let report = out.json();
    assert_eq!(
        codes_of(&report, "ctl-1"),
        [("node-key-extra-primary".to_string(), "3".to_string())]
    );
    assert!(codes_of(&report, "ctl-0").is_empty());
    assert_eq!(report["nodes_agree"], false);
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "nodes-disagree")
    );
    let text = verify(&env, &cluster, &wd, &[], false);
    assert!(
        text.stdout
            .contains("CRITICAL node-key-extra-primary ctl-1 host fernet-keys/3"),
        "{}",
        text.stdout
    );
    assert_no_key_material(&out);
    assert_no_key_material(&text);
}

#[test]
fn missing_different_and_wrong_mode_keys_are_named() {
    let Some((env, wd, cluster)) =
        in_sync_cluster("missing_different_and_wrong_mode_keys_are_named", 3)
    else {
        return;
    };
    fs::remove_file(cluster.nodes[0].dir("fernet-keys").join("1")).unwrap();
    cluster.nodes[1].put_file("credential-keys", "1", key(99).as_bytes(), 0o600);
    fs::set_permissions(
        cluster.nodes[2].dir("fernet-keys").join("2"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = verify(&env, &cluster, &wd, &[], true);
    out.expect_code(1);
    let report = out.json();
    assert_eq!(
        codes_of(&report, "ctl-0"),
        [("node-key-missing".to_string(), "1".to_string())]
    );
    assert_eq!(
        codes_of(&report, "ctl-1"),
        [("node-key-different".to_string(), "1".to_string())]
    );
    assert_eq!(
        codes_of(&report, "ctl-2"),
        [("node-mode-wrong".to_string(), "2".to_string())]
    );
    let dirs: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["dir"].as_str())
        .collect();
    assert!(dirs.contains(&"credential-keys") && dirs.contains(&"fernet-keys"));
    assert_no_key_material(&out);
}

#[test]
fn jws_public_key_missing_on_a_node() {
    if !nodes_harness::require("jws_public_key_missing_on_a_node") {
        return;
    }
    let env = Env::new();
    let wd = workdir(&env);
    let public = wd.join("keys/jws-keys/public");
    fs::create_dir_all(&public).unwrap();
    fs::write(
        public.join("public.pem"),
        b"-----BEGIN PUBLIC KEY-----\nA\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    fs::set_permissions(public.join("public.pem"), fs::Permissions::from_mode(0o644)).unwrap();
    let cluster = Cluster::start(2);
    in_sync(&cluster);
    let pem = fs::read(public.join("public.pem")).unwrap();
    cluster.nodes[0].put("jws-keys/public", &[("public.pem", &pem)], 0o644);
    cluster.nodes[1].put("jws-keys/public", &[], 0o644);
    let out = verify(&env, &cluster, &wd, &[], true);
    out.expect_code(1);
    let report = out.json();
    assert!(codes_of(&report, "ctl-0").is_empty(), "{report}");
    assert_eq!(
        codes_of(&report, "ctl-1"),
        [(
            "node-jws-public-missing".to_string(),
            "public.pem".to_string()
        )]
    );
}

#[test]
fn an_unreachable_node_exits_3_and_the_others_are_reported() {
    let Some((env, wd, mut cluster)) =
        in_sync_cluster("an_unreachable_node_exits_3_and_the_others_are_reported", 2)
    else {
        return;
    };
    cluster.nodes[1].stop();
    let dead = nodes_harness::free_port();
    let out = verify(&env, &cluster, &wd, &[("ctl-gone", dead)], true);
    out.expect_code(3);
    let report = out.json();
    let status: Vec<(&str, &str)> = report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["node"].as_str().unwrap(), n["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        status,
        [
            ("ctl-0", "match"),
            ("ctl-1", "unreachable"),
            ("ctl-gone", "unreachable")
        ]
    );
    assert_eq!(codes_of(&report, "ctl-1")[0].0, "node-unreachable");
}

#[test]
fn bad_inventory_exits_2_with_a_hint() {
    let env = Env::new();
    let wd = workdir(&env);
    let inventory = env.path("inventory.yaml");
    fs::write(&inventory, "- not\n- an inventory\n").unwrap();
    let out = env
        .cmd()
        .env("HOME", env.root())
        .args(["verify", "--workdir"])
        .arg(&wd)
        .arg("--inventory")
        .arg(&inventory)
        .run();
    out.expect_code(2);
    assert!(out.stderr.contains("inventory.yaml"), "{}", out.stderr);
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
}

fn adopt_from(env: &Env, cluster: &Cluster, wd: &Path, node: &str) -> Out {
    let inventory = cluster.inventory(&[]);
    env.cmd()
        .env("HOME", env.root())
        .args(["adopt", "--from-node", node, "--timeout", "20", "--workdir"])
        .arg(wd)
        .arg("--inventory")
        .arg(&inventory)
        .run()
}

#[test]
fn adopt_from_node_copies_the_agreed_keys() {
    if !nodes_harness::require("adopt_from_node_copies_the_agreed_keys") {
        return;
    }
    let env = Env::new();
    let cluster = Cluster::start(2);
    in_sync(&cluster);
    // Rotated in place on every node (the playbook): key 3 is the nodes' primary.
    for node in &cluster.nodes {
        node.put_file("fernet-keys", "3", key(13).as_bytes(), 0o600);
    }
    let wd = env.path("wd");
    let out = adopt_from(&env, &cluster, &wd, "ctl-1");
    out.expect_code(0);
    assert!(out.stdout.contains("node ctl-1"), "{}", out.stdout);
    assert_no_key_material(&out);
    let fernet = cli_support::files(&wd.join("keys/fernet-keys"));
    let want: Vec<(String, Vec<u8>)> = [("0", 10), ("1", 11), ("2", 12), ("3", 13)]
        .iter()
        .map(|(n, s)| (n.to_string(), key(*s).into_bytes()))
        .collect();
    assert_eq!(fernet.into_iter().collect::<Vec<_>>(), want);
    assert_eq!(
        cli_support::key_numbers(&wd.join("keys/credential-keys")),
        [0, 1]
    );
    assert_eq!(cli_support::mode(&wd.join("keys/fernet-keys")), 0o700);
    assert_eq!(cli_support::mode(&wd.join("keys/fernet-keys/3")), 0o600);
    // The work directory now matches every node.
    verify(&env, &cluster, &wd, &[], false).expect_code(0);
    // Again: nothing to adopt.
    let again = adopt_from(&env, &cluster, &wd, "ctl-0");
    again.expect_code(0);
    assert!(
        again.stdout.contains("nothing to adopt"),
        "{}",
        again.stdout
    );
}

#[test]
fn adopt_from_node_refuses_when_nodes_disagree() {
    if !nodes_harness::require("adopt_from_node_refuses_when_nodes_disagree") {
        return;
    }
    let env = Env::new();
    let cluster = Cluster::start(3);
    in_sync(&cluster);
    cluster.nodes[2].put_file("fernet-keys", "3", key(13).as_bytes(), 0o600);
    let wd = env.path("wd");
    let out = adopt_from(&env, &cluster, &wd, "ctl-0");
    out.expect_code(2);
    assert!(out.stderr.contains("disagree"), "{}", out.stderr);
    assert!(
        out.stderr.contains("ctl-0, ctl-1") && out.stderr.contains("ctl-2"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
    assert!(!wd.exists(), "nothing may be written");
    assert_no_key_material(&out);
    let unknown = adopt_from(&env, &cluster, &wd, "ctl-9");
    unknown.expect_code(2);
    assert!(
        unknown.stderr.contains("ctl-9 is not a keystone node"),
        "{}",
        unknown.stderr
    );
}

/// `(node, status)` of every node of a JSON report.
fn statuses(report: &serde_json::Value) -> Vec<(String, String)> {
    report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["node"].as_str().unwrap().to_string(),
                n["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn a_node_answering_garbage_exits_3_and_the_others_are_reported() {
    if !nodes_harness::require("a_node_answering_garbage_exits_3_and_the_others_are_reported") {
        return;
    }
    let env = Env::new();
    let wd = workdir(&env);
    // ctl-1 answers every command with a banner (a forced command, as a login banner or a
    // chatty profile script would): its answer does not parse.
    let cluster = Cluster::start_with(3, |name| {
        if name == "ctl-1" {
            "ForceCommand printf 'Welcome to ctl-1: authorized use only\\n'\n".into()
        } else {
            String::new()
        }
    });
    in_sync(&cluster);
    let out = verify(&env, &cluster, &wd, &[], true);
    out.expect_code(3);
    let report = out.json();
    assert_eq!(
        statuses(&report),
        pairs(&[
            ("ctl-0", "match"),
            ("ctl-1", "unreachable"),
            ("ctl-2", "match")
        ])
    );
    let error = report["nodes"][1]["error"].as_str().unwrap();
    assert!(
        error.contains("node ctl-1: unexpected output from the remote command")
            && error.contains("Welcome to ctl-1"),
        "{error}"
    );
    assert_eq!(codes_of(&report, "ctl-1")[0].0, "node-unreachable");
    let text = verify(&env, &cluster, &wd, &[], false);
    text.expect_code(3);
    assert!(
        text.stdout
            .contains("ERROR node-unreachable ctl-1: node ctl-1: unexpected output"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("login banner"),
        "the fix: {}",
        text.stdout
    );
    // adopt --from-node refuses (every node must be read) and writes nothing.
    let adopt_wd = env.path("adopted");
    let adopt = adopt_from(&env, &cluster, &adopt_wd, "ctl-0");
    adopt.expect_code(3);
    assert!(adopt.stderr.contains("ctl-1"), "{}", adopt.stderr);
    assert!(!adopt_wd.exists(), "nothing may be written");
}

#[test]
fn a_node_without_its_key_directories_is_drift_naming_node_and_root() {
    let Some((env, wd, cluster)) = in_sync_cluster(
        "a_node_without_its_key_directories_is_drift_naming_node_and_root",
        3,
    ) else {
        return;
    };
    // ctl-1: no keystone tree at all (not deployed there); ctl-2: credential-keys missing.
    fs::remove_dir_all(cluster.nodes[1].config_data.join("puppet-generated")).unwrap();
    fs::remove_dir_all(cluster.nodes[2].dir("credential-keys")).unwrap();
    let before = cli_support::tree(&wd);
    let out = verify(&env, &cluster, &wd, &[], true);
    out.expect_code(1);
    let report = out.json();
    assert_eq!(
        statuses(&report),
        pairs(&[("ctl-0", "match"), ("ctl-1", "drift"), ("ctl-2", "drift")])
    );
    assert_eq!(
        codes_of(&report, "ctl-1"),
        [("node-root-missing".to_string(), String::new())]
    );
    assert_eq!(
        codes_of(&report, "ctl-2"),
        [("node-dir-missing".to_string(), String::new())]
    );
    let text = verify(&env, &cluster, &wd, &[], false);
    text.expect_code(1);
    assert!(
        text.stdout.contains(
            "ERROR node-root-missing ctl-1 host: the keystone root /var/lib/config-data/puppet-generated/keystone/etc/keystone does not exist"
        ),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("ERROR node-dir-missing ctl-2 host credential-keys"),
        "{}",
        text.stdout
    );
    cli_support::assert_same_tree(&before, &cli_support::tree(&wd), "work directory");
}

#[test]
fn the_keystone_container_is_read_and_its_failures_are_per_node() {
    let Some((env, wd, cluster)) = in_sync_cluster(
        "the_keystone_container_is_read_and_its_failures_are_per_node",
        4,
    ) else {
        return;
    };
    let fernet: Vec<(&str, Vec<u8>)> = FERNET
        .iter()
        .map(|(n, s)| (*n, key(*s).into_bytes()))
        .collect();
    let fernet: Vec<(&str, &[u8])> = fernet.iter().map(|(n, c)| (*n, c.as_slice())).collect();
    let credential: Vec<(&str, Vec<u8>)> = CREDENTIAL
        .iter()
        .map(|(n, s)| (*n, key(*s).into_bytes()))
        .collect();
    let credential: Vec<(&str, &[u8])> =
        credential.iter().map(|(n, c)| (*n, c.as_slice())).collect();
    // ctl-0: container in sync; ctl-1: the container was started before the last deploy
    // (kolla copied the tree then) and lacks the primary; ctl-2: `podman exec` fails;
    // ctl-3: `podman exec` answers garbage.
    cluster.nodes[0].fake_container(None);
    cluster.nodes[1].fake_container(None);
    cluster.nodes[2].fake_container(Some(("", 125)));
    cluster.nodes[3].fake_container(Some(("Error: OCI runtime error\\n", 0)));
    for node in &cluster.nodes[..2] {
        node.put_in_container("credential-keys", &credential, 0o600);
    }
    cluster.nodes[0].put_in_container("fernet-keys", &fernet, 0o600);
    cluster.nodes[1].put_in_container("fernet-keys", &fernet[..2], 0o600);
    let out = verify(&env, &cluster, &wd, &[], true);
    out.expect_code(3);
    let report = out.json();
    assert_eq!(
        statuses(&report),
        pairs(&[
            ("ctl-0", "match"),
            ("ctl-1", "drift"),
            ("ctl-2", "unreachable"),
            ("ctl-3", "unreachable")
        ])
    );
    assert_eq!(report["nodes"][0]["container"], "podman");
    let ctl1: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["node"] == "ctl-1")
        .collect();
    assert_eq!(ctl1.len(), 1, "{report}");
    assert_eq!(
        (&ctl1[0]["code"], &ctl1[0]["place"], &ctl1[0]["key"]),
        (
            &serde_json::json!("node-key-missing"),
            &serde_json::json!("container"),
            &serde_json::json!("2")
        )
    );
    let error = |i: usize| report["nodes"][i]["error"].as_str().unwrap().to_string();
    assert!(
        error(2).contains(
            "node ctl-2: the running keystone container could not be read: `podman exec` exited 125"
        ),
        "{}",
        error(2)
    );
    assert!(
        error(3).contains("node ctl-3: unexpected output") && error(3).contains("OCI runtime"),
        "{}",
        error(3)
    );
    // The container was really asked (through the node's own PATH), never written.
    let log = fs::read_to_string(cluster.nodes[0].home.join("podman.log")).unwrap();
    assert_eq!(log, "exec sh\n");
    assert_no_key_material(&out);
}

#[test]
fn ssh_connections_are_shared_between_commands_unless_turned_off() {
    let Some((env, wd, cluster)) = in_sync_cluster(
        "ssh_connections_are_shared_between_commands_unless_turned_off",
        2,
    ) else {
        return;
    };
    let sockets = env.root().join(".cache/overcloud-keys/ssh");
    let inventory = cluster.inventory(&[]);
    let run = |extra: &[&str]| {
        env.cmd()
            .env("HOME", env.root())
            .env("XDG_RUNTIME_DIR", "")
            .args(["verify", "--timeout", "20", "--workdir"])
            .arg(&wd)
            .arg("--inventory")
            .arg(&inventory)
            .args(extra)
            .run()
    };
    run(&["--control-persist", "0"]).expect_code(0);
    assert!(
        !sockets.exists() || cli_support::names(&sockets).is_empty(),
        "no shared connection when turned off"
    );
    run(&[]).expect_code(0);
    let names = cli_support::names(&sockets);
    assert_eq!(names.len(), 2, "one master connection per node: {names:?}");
    assert_eq!(cli_support::mode(&sockets), 0o700);
    for name in &names {
        use std::os::unix::fs::FileTypeExt;
        let kind = fs::symlink_metadata(sockets.join(name))
            .unwrap()
            .file_type();
        assert!(kind.is_socket(), "{name}");
    }
    // The next command reuses them (and still sees the nodes as they are now).
    cluster.nodes[0].put_file("fernet-keys", "3", key(13).as_bytes(), 0o600);
    let out = run(&["-f", "json"]);
    out.expect_code(1);
    assert_eq!(
        codes_of(&out.json(), "ctl-0"),
        [("node-key-extra-primary".to_string(), "3".to_string())]
    );
    // Close the masters now rather than when they expire.
    for name in names {
        let _ = std::process::Command::new("ssh")
            .arg("-o")
            .arg(format!("ControlPath={}", sockets.join(name).display()))
            .args(["-O", "exit", "node"])
            .output();
    }
}
