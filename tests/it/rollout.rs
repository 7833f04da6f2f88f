//! `rollout` against real sshd daemons (one per simulated keystone node, each with its own
//! /var/lib/config-data in a private mount namespace; see `nodes_harness`): refused on
//! drift with nothing changed, a successful rollout, and a failure on the second node that
//! puts the first node and the work directory back.

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use crate::{cli_support, nodes_harness};

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use cli_support::{Env, Out};
use nodes_harness::{Cluster, KEYSTONE_ID, SshNode};

/// The key directories a default build creates, as the nodes name them.
const DIRS: [&str; 4] = [
    "fernet-keys",
    "credential-keys",
    "jws-keys/private",
    "jws-keys/public",
];

/// A built work directory (build's defaults: Fernet, credential and staged JWS keys).
fn built_workdir(env: &Env) -> PathBuf {
    let wd = env.path("wd");
    env.cmd()
        .env("HOME", env.root())
        .args(["build", "--workdir"])
        .arg(&wd)
        .run()
        .expect_code(0);
    wd
}

/// The regular files of `dir`: name, bytes and permission bits.
fn files_with_modes(dir: &Path) -> Vec<(String, Vec<u8>, u32)> {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            let mode = e.metadata().unwrap().mode() & 0o777;
            let name = e.file_name().to_string_lossy().into_owned();
            (name, fs::read(e.path()).unwrap(), mode)
        })
        .collect()
}

/// Copies the work directory's key directories onto `node` as a deploy would.
pub(crate) fn deploy(wd: &Path, node: &SshNode) {
    for dir in DIRS {
        let src = wd.join("keys").join(dir);
        if !src.is_dir() {
            continue;
        }
        let _ = fs::remove_dir_all(node.dir(dir));
        let files = files_with_modes(&src);
        node.put(dir, &[], 0o600);
        for (name, content, mode) in &files {
            node.put_file(dir, name, content, *mode);
        }
    }
}

pub(crate) fn start(env: &Env, count: usize) -> (PathBuf, Cluster) {
    let wd = built_workdir(env);
    let cluster = Cluster::start(count);
    for node in &cluster.nodes {
        deploy(&wd, node);
    }
    (wd, cluster)
}

pub(crate) fn rollout(env: &Env, cluster: &Cluster, wd: &Path, extra: &[&str]) -> Out {
    env.cmd()
        .env("HOME", env.root())
        .args(["rollout", "--timeout", "20", "--workdir"])
        .arg(wd)
        .arg("--inventory")
        .arg(cluster.inventory(&[]))
        .args(extra)
        .run()
}

pub(crate) fn fernet(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    cli_support::files(dir)
}

/// No key of `keys` appears in what the command printed.
fn assert_no_key_material(out: &Out, keys: &BTreeMap<String, Vec<u8>>) {
    for content in keys.values() {
        let text = String::from_utf8_lossy(content);
        assert!(
            !out.all().contains(text.trim()),
            "key material printed:\n{}",
            out.all()
        );
    }
}

#[test]
fn rollout_refused_on_drift_changes_nothing() {
    if !nodes_harness::require("rollout_refused_on_drift_changes_nothing") {
        return;
    }
    let env = Env::new();
    let (wd, cluster) = start(&env, 2);
    // ctl-1 lost a key.
    let keys = fernet(&wd.join("keys/fernet-keys"));
    let last = keys.keys().next_back().unwrap().clone();
    fs::remove_file(cluster.nodes[1].dir("fernet-keys").join(&last)).unwrap();
    let before_wd = cli_support::tree(&wd);
    let before_nodes: Vec<_> = cluster
        .nodes
        .iter()
        .map(|n| cli_support::tree(&n.config_data))
        .collect();
    for extra in [&[][..], &["--dry-run"][..]] {
        let out = rollout(&env, &cluster, &wd, extra);
        out.expect_code(1);
        assert!(out.stdout.contains("REFUSED"), "{}", out.stdout);
        assert!(
            out.stdout
                .contains("node-key-missing ctl-1 host fernet-keys"),
            "{}",
            out.stdout
        );
        assert_no_key_material(&out, &keys);
    }
    cli_support::assert_same_tree(&before_wd, &cli_support::tree(&wd), "work directory");
    for (node, before) in cluster.nodes.iter().zip(&before_nodes) {
        cli_support::assert_same_tree(before, &cli_support::tree(&node.config_data), &node.name);
    }
}

#[test]
fn rollout_pushes_the_rotated_keys_to_every_node_and_renders_fernet_yaml() {
    if !nodes_harness::require(
        "rollout_pushes_the_rotated_keys_to_every_node_and_renders_fernet_yaml",
    ) {
        return;
    }
    let env = Env::new();
    let (wd, cluster) = start(&env, 2);
    let repo = wd.join("keys/fernet-keys");
    let old = fernet(&repo);
    let old_primary: u64 = old.keys().filter_map(|n| n.parse().ok()).max().unwrap();
    let fernet_yaml = wd.join("fernet.yaml");
    let yaml_before = fs::read(&fernet_yaml).unwrap();

    // Dry run: nothing changes.
    let before_wd = cli_support::tree(&wd);
    let dry = rollout(&env, &cluster, &wd, &["--dry-run"]);
    dry.expect_code(0);
    assert!(dry.stdout.contains("would rotate"), "{}", dry.stdout);
    cli_support::assert_same_tree(&before_wd, &cli_support::tree(&wd), "work directory");

    let out = rollout(&env, &cluster, &wd, &[]);
    out.expect_code(0);
    let new = fernet(&repo);
    assert_ne!(new, old);
    // Keystone's rotation: the old staged key 0 is the new primary, the old primary stays.
    let new_primary = (old_primary + 1).to_string();
    assert_eq!(new[&new_primary], old["0"]);
    assert_eq!(new[&old_primary.to_string()], old[&old_primary.to_string()]);
    assert_ne!(new["0"], old["0"]);
    for node in &cluster.nodes {
        let dir = node.dir("fernet-keys");
        assert_eq!(fernet(&dir), new, "{}", node.name);
        assert_eq!(cli_support::mode(&dir), 0o700, "{}", node.name);
        for name in new.keys() {
            let meta = fs::metadata(dir.join(name)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
            assert_eq!((meta.uid(), meta.gid()), (KEYSTONE_ID, KEYSTONE_ID));
        }
        let meta = fs::metadata(&dir).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (KEYSTONE_ID, KEYSTONE_ID));
        // No staging or old directory left next to the live one.
        let root = dir.parent().unwrap();
        let stray: Vec<String> = cli_support::names(root)
            .into_iter()
            .filter(|n| n.contains("overcloud-keys"))
            .collect();
        assert!(stray.is_empty(), "{stray:?}");
    }
    // fernet.yaml carries the new repository.
    let yaml = fs::read_to_string(&fernet_yaml).unwrap();
    assert_ne!(yaml.as_bytes(), &yaml_before[..]);
    for content in new.values() {
        assert!(yaml.contains(String::from_utf8_lossy(content).trim()));
    }
    assert!(out.stdout.contains("fernet.yaml"), "{}", out.stdout);
    assert!(
        out.stdout.contains("next deploy keeps them"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("staged key 0"), "{}", out.stdout);
    assert_no_key_material(&out, &new);
    assert_no_key_material(&out, &old);
    // And verify agrees.
    env.cmd()
        .env("HOME", env.root())
        .args(["verify", "--timeout", "20", "--workdir"])
        .arg(&wd)
        .arg("--inventory")
        .arg(cluster.inventory(&[]))
        .run()
        .expect_code(0);
}

#[test]
fn rollout_failing_on_the_second_node_restores_the_first_and_the_workdir() {
    if !nodes_harness::require(
        "rollout_failing_on_the_second_node_restores_the_first_and_the_workdir",
    ) {
        return;
    }
    let env = Env::new();
    let (wd, cluster) = start(&env, 3);
    let repo = wd.join("keys/fernet-keys");
    let old = fernet(&repo);
    let record = wd.join("keys/.fernet-keys.rotation.json");
    let record_before = fs::read(&record).ok();
    let yaml_before = fs::read(wd.join("fernet.yaml")).unwrap();
    let third_before = cli_support::tree(&cluster.nodes[2].config_data);
    cluster.nodes[1].make_keystone_root_read_only();

    let out = rollout(&env, &cluster, &wd, &["-f", "json"]);
    out.expect_code(2);
    let report = out.json();
    assert_eq!(report["status"], "failed");
    assert_eq!(report["failure"]["node"], "ctl-1");
    assert_eq!(report["failure"]["step"], "push");
    let actions: Vec<&str> = report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["updated", "failed", "not-touched"]);
    assert_eq!(report["restore"]["workdir"], true);
    let restored: Vec<(&str, bool)> = report["restore"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["node"].as_str().unwrap(), n["ok"].as_bool().unwrap()))
        .collect();
    assert_eq!(restored, [("ctl-1", true), ("ctl-0", true)]);
    // The first node, the work directory, its rotation record and fernet.yaml are back.
    assert_eq!(fernet(&cluster.nodes[0].dir("fernet-keys")), old);
    assert_eq!(
        cli_support::mode(&cluster.nodes[0].dir("fernet-keys")),
        0o700
    );
    assert_eq!(fernet(&cluster.nodes[1].dir("fernet-keys")), old);
    assert_eq!(fernet(&repo), old);
    assert_eq!(fs::read(&record).ok(), record_before);
    assert_eq!(fs::read(wd.join("fernet.yaml")).unwrap(), yaml_before);
    cli_support::assert_same_tree(
        &third_before,
        &cli_support::tree(&cluster.nodes[2].config_data),
        "ctl-2",
    );
    assert_no_key_material(&out, &old);

    // The text names the node and what failed.
    let text = rollout(&env, &cluster, &wd, &[]);
    text.expect_code(2);
    assert!(
        text.stdout.contains("rollout FAILED on node ctl-1 (push)"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("work directory restored"),
        "{}",
        text.stdout
    );
    assert_eq!(fernet(&repo), old);
}

/// Snapshots of the work directory and every node's tree, to prove nothing changed.
fn snapshot(wd: &Path, cluster: &Cluster) -> Vec<cli_support::Tree> {
    std::iter::once(cli_support::tree(wd))
        .chain(
            cluster
                .nodes
                .iter()
                .map(|n| cli_support::tree(&n.config_data)),
        )
        .collect()
}

fn assert_unchanged(before: &[cli_support::Tree], wd: &Path, cluster: &Cluster) {
    for (i, (b, a)) in before.iter().zip(snapshot(wd, cluster)).enumerate() {
        cli_support::assert_same_tree(b, &a, &format!("tree {i}"));
    }
}

#[test]
fn rollout_refused_when_a_node_answers_garbage_changes_nothing() {
    if !nodes_harness::require("rollout_refused_when_a_node_answers_garbage_changes_nothing") {
        return;
    }
    let env = Env::new();
    let wd = built_workdir(&env);
    let cluster = Cluster::start_with(3, |name| {
        if name == "ctl-2" {
            "ForceCommand echo 'This system is managed by Puppet'\n".into()
        } else {
            String::new()
        }
    });
    for node in &cluster.nodes {
        deploy(&wd, node);
    }
    let keys = fernet(&wd.join("keys/fernet-keys"));
    let before = snapshot(&wd, &cluster);
    for extra in [&[][..], &["--force"][..]] {
        let out = rollout(&env, &cluster, &wd, extra);
        out.expect_code(3);
        assert!(
            out.stdout.contains("REFUSED: node(s) ctl-2 not reached"),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout
                .contains("node-unreachable ctl-2: node ctl-2: unexpected output"),
            "{}",
            out.stdout
        );
        assert_no_key_material(&out, &keys);
    }
    assert_unchanged(&before, &wd, &cluster);
}

#[test]
fn rollout_with_a_node_missing_its_keystone_root() {
    if !nodes_harness::require("rollout_with_a_node_missing_its_keystone_root") {
        return;
    }
    let env = Env::new();
    let (wd, cluster) = start(&env, 2);
    fs::remove_dir_all(cluster.nodes[1].config_data.join("puppet-generated")).unwrap();
    let old = fernet(&wd.join("keys/fernet-keys"));
    let before = snapshot(&wd, &cluster);
    let out = rollout(&env, &cluster, &wd, &[]);
    out.expect_code(1);
    assert!(
        out.stdout.contains("node-root-missing ctl-1 host"),
        "{}",
        out.stdout
    );
    assert_unchanged(&before, &wd, &cluster);
    // --force goes ahead, fails on ctl-1 (nothing to replace there: the push creates no
    // keystone tree), and puts ctl-0 and the work directory back.
    let forced = rollout(&env, &cluster, &wd, &["--force", "-f", "json"]);
    forced.expect_code(2);
    let report = forced.json();
    assert_eq!(report["failure"]["node"], "ctl-1");
    let message = report["failure"]["message"].as_str().unwrap();
    assert!(
        message.contains("is missing: nothing to replace"),
        "{message}"
    );
    assert_eq!(report["restore"]["workdir"], true);
    assert_eq!(fernet(&cluster.nodes[0].dir("fernet-keys")), old);
    assert_eq!(fernet(&wd.join("keys/fernet-keys")), old);
    assert!(
        !cluster.nodes[1]
            .config_data
            .join("puppet-generated")
            .exists()
    );
}

/// An `ssh` wrapper first on the binary's PATH: counts the connections to each port and
/// fails (exit 255, as ssh does when it cannot connect) those listed in `fail-<port>`.
struct FlakySsh {
    dir: PathBuf,
}

impl FlakySsh {
    fn new(env: &Env) -> Self {
        let dir = env.path("flaky-ssh");
        fs::create_dir_all(&dir).unwrap();
        let script = format!(
            r#"#!/bin/sh
D='{}'
port=; prev=
for a; do [ "$prev" = -p ] && port=$a; prev=$a; done
n=$(( $(cat "$D/count-$port" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$D/count-$port"
if [ -f "$D/fail-$port" ] && grep -qx "$n" "$D/fail-$port"; then
  echo "ssh: connect to host 127.0.0.1 port $port: Connection refused" >&2
  exit 255
fi
exec /usr/bin/ssh "$@"
"#,
            dir.display()
        );
        fs::write(dir.join("ssh"), script).unwrap();
        fs::set_permissions(dir.join("ssh"), fs::Permissions::from_mode(0o755)).unwrap();
        FlakySsh { dir }
    }

    /// Connections number `from..to` to `node` fail.
    fn fail(&self, node: &SshNode, connections: std::ops::Range<u32>) {
        let list: String = connections.map(|n| format!("{n}\n")).collect();
        fs::write(self.dir.join(format!("fail-{}", node.port)), list).unwrap();
    }

    fn path(&self) -> String {
        format!(
            "{}:{}",
            self.dir.display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }
}

#[test]
fn rollout_with_a_node_lost_in_the_middle_puts_back_what_was_done() {
    if !nodes_harness::require("rollout_with_a_node_lost_in_the_middle_puts_back_what_was_done") {
        return;
    }
    let env = Env::new();
    let (wd, cluster) = start(&env, 3);
    let repo = wd.join("keys/fernet-keys");
    let old = fernet(&repo);
    let record = wd.join("keys/.fernet-keys.rotation.json");
    let record_before = fs::read(&record).ok();
    let yaml_before = fs::read(wd.join("fernet.yaml")).unwrap();
    let third_before = cli_support::tree(&cluster.nodes[2].config_data);
    let ssh = FlakySsh::new(&env);
    let run = |extra: &[&str]| {
        env.cmd()
            .env("HOME", env.root())
            .env("PATH", ssh.path())
            .args(["rollout", "--timeout", "20", "--workdir"])
            .arg(&wd)
            .arg("--inventory")
            .arg(cluster.inventory(&[]))
            .args(extra)
            .run()
    };

    // 1. ctl-1 answers the pre-flight (connection 1), then is unreachable for its push
    // (connection 2) and back afterwards: nothing reached it, it is confirmed unchanged.
    ssh.fail(&cluster.nodes[1], 2..3);
    let out = run(&["-f", "json"]);
    out.expect_code(3);
    let report = out.json();
    assert_eq!(report["status"], "failed");
    assert_eq!(report["failure"]["node"], "ctl-1");
    assert_eq!(report["failure"]["step"], "push");
    assert_eq!(report["failure"]["unreachable"], true);
    let restored: Vec<(&str, bool, bool)> = report["restore"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["node"].as_str().unwrap(),
                n["ok"].as_bool().unwrap(),
                n["unchanged"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(restored, [("ctl-1", true, true), ("ctl-0", true, false)]);
    assert_eq!(report["restore"]["workdir"], true);
    for node in &cluster.nodes[..2] {
        assert_eq!(fernet(&node.dir("fernet-keys")), old, "{}", node.name);
    }
    assert_eq!(fernet(&repo), old);
    assert_eq!(fs::read(&record).ok(), record_before);
    assert_eq!(fs::read(wd.join("fernet.yaml")).unwrap(), yaml_before);
    cli_support::assert_same_tree(
        &third_before,
        &cli_support::tree(&cluster.nodes[2].config_data),
        "ctl-2",
    );
    assert_no_key_material(&out, &old);

    // 2. ctl-1 takes the push, then stays unreachable (its confirm and every later
    // connection fail): it cannot be put back, and the output says so, naming it.
    fs::remove_file(ssh.dir.join(format!("count-{}", cluster.nodes[1].port))).unwrap();
    ssh.fail(&cluster.nodes[1], 3..100);
    let out = run(&[]);
    out.expect_code(3);
    assert!(
        out.stdout
            .contains("rollout FAILED on node ctl-1 (confirm): node ctl-1: ssh failed"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("ctl-1") && out.stdout.contains("NOT restored"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("node ctl-1 could NOT be put back"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("work directory restored"),
        "{}",
        out.stdout
    );
    assert_eq!(fernet(&cluster.nodes[0].dir("fernet-keys")), old);
    assert_eq!(fernet(&repo), old);
    // What ctl-1 really holds: the rotated keys, which `verify` (once it is back) reports.
    assert_ne!(fernet(&cluster.nodes[1].dir("fernet-keys")), old);
    assert_no_key_material(&out, &old);
}

#[test]
fn rollout_updates_the_running_keystone_container_too() {
    if !nodes_harness::require("rollout_updates_the_running_keystone_container_too") {
        return;
    }
    let env = Env::new();
    let (wd, cluster) = start(&env, 2);
    // A running keystone container per node (fake podman on the node's PATH) holding what
    // kolla copied in at its start: the deployed keys.
    for node in &cluster.nodes {
        node.fake_container(None);
        for dir in DIRS {
            let host = node.dir(dir);
            if !host.is_dir() {
                continue;
            }
            let files = files_with_modes(&host);
            node.put_in_container(dir, &[], 0o600);
            for (name, content, mode) in &files {
                node.put_in_container(dir, &[(name.as_str(), content.as_slice())], *mode);
            }
        }
    }
    let out = rollout(&env, &cluster, &wd, &[]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("(host and podman container)"),
        "{}",
        out.stdout
    );
    let new = fernet(&wd.join("keys/fernet-keys"));
    for node in &cluster.nodes {
        let inside = node.container_dir("fernet-keys");
        assert_eq!(fernet(&inside), new, "{}", node.name);
        assert_eq!(cli_support::mode(&inside), 0o700);
        for name in new.keys() {
            let meta = fs::metadata(inside.join(name)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
            assert_eq!((meta.uid(), meta.gid()), (KEYSTONE_ID, KEYSTONE_ID));
        }
        let stray: Vec<String> = cli_support::names(inside.parent().unwrap())
            .into_iter()
            .filter(|n| n.contains("overcloud-keys"))
            .collect();
        assert!(stray.is_empty(), "{stray:?}");
    }
}

#[test]
fn rollout_labels_the_new_directory_container_file_t_where_selinux_is_enabled() {
    if !nodes_harness::require(
        "rollout_labels_the_new_directory_container_file_t_where_selinux_is_enabled",
    ) {
        return;
    }
    let env = Env::new();
    let (wd, cluster) = start(&env, 2);
    // ctl-0: SELinux enabled; ctl-1: disabled (selinuxenabled exits 1). Both get a chcon
    // that logs its arguments (and fails when the file `chcon-fails` exists in its home).
    for (node, enabled) in cluster.nodes.iter().zip([0, 1]) {
        node.install_tool("selinuxenabled", &format!("#!/bin/sh\nexit {enabled}\n"));
        node.install_tool(
            "chcon",
            &format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{home}/chcon.log'\n\
                 [ -e '{home}/chcon-fails' ] && {{ echo 'chcon: failed to change context: Operation not supported' >&2; exit 1; }}\n\
                 exit 0\n",
                home = node.home.display()
            ),
        );
    }
    let out = rollout(&env, &cluster, &wd, &[]);
    out.expect_code(0);
    let log = |i: usize| fs::read_to_string(cluster.nodes[i].home.join("chcon.log")).ok();
    assert_eq!(
        log(0).as_deref(),
        Some(
            "-R -t container_file_t -l s0 /var/lib/config-data/puppet-generated/keystone/etc/keystone/.fernet-keys.overcloud-keys-new\n"
        ),
        "the staging directory is labeled before it is swapped in"
    );
    assert_eq!(log(1), None, "no chcon where SELinux is disabled");
    assert!(
        out.stdout.contains("SELinux: labeled container_file_t"),
        "{}",
        out.stdout
    );

    // A label that cannot be set fails the push before the swap: the node keeps its keys.
    let rotated = fernet(&wd.join("keys/fernet-keys"));
    fs::write(cluster.nodes[0].home.join("chcon-fails"), b"").unwrap();
    let failed = rollout(&env, &cluster, &wd, &[]);
    failed.expect_code(2);
    assert!(
        failed
            .stdout
            .contains("rollout FAILED on node ctl-0 (push)")
            && failed.stdout.contains("(SELinux)"),
        "{}",
        failed.stdout
    );
    assert_eq!(fernet(&cluster.nodes[0].dir("fernet-keys")), rotated);
    assert_eq!(fernet(&wd.join("keys/fernet-keys")), rotated);
    let stray: Vec<String> =
        cli_support::names(cluster.nodes[0].dir("fernet-keys").parent().unwrap())
            .into_iter()
            .filter(|n| n.contains("overcloud-keys"))
            .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

#[test]
fn rollout_refuses_a_stack_that_renders_another_stacks_keys() {
    let env = Env::new();
    let home = env.path("home");
    fs::create_dir_all(&home).unwrap();
    env.cmd()
        .env("HOME", &home)
        .args(["build", "--stack", "region1"])
        .run()
        .expect_code(0);
    let config = env.path("region2.toml");
    fs::write(&config, "stack = \"region2\"\nkeys_from = \"region1\"\n").unwrap();
    let before = cli_support::tree(&home);
    let out = env
        .cmd()
        .env("HOME", &home)
        .args(["rollout", "--config"])
        .arg(&config)
        .run();
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("stack region2 renders stack region1's keys"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
    cli_support::assert_same_tree(&before, &cli_support::tree(&home), "home");
}
