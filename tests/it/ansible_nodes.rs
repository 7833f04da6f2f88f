//! The collection's `verify` and `rollout` modules against real keystone nodes: simulated
//! nodes with a real sshd each (`nodes_harness`), the playbooks of `ansible/tests/nodes/` run
//! by a real ansible-core from PyPI (the venv of `scripts/test-ansible.sh --venv`) against
//! localhost. The playbooks assert on the modules' results; this test checks what is on
//! disk: the work directory and the nodes are byte-identical where nothing may be written,
//! the nodes carry the rotated keys after a rollout, and hold their keys again after a
//! rollout that failed on the second node. No key appears in any output.

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use crate::{cli_support, nodes_harness};

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cli_support::{Env, Tree};
use nodes_harness::{Cluster, SshNode};

const DIRS: [&str; 4] = [
    "fernet-keys",
    "credential-keys",
    "jws-keys/private",
    "jws-keys/public",
];

/// The ansible-core venv `scripts/test-ansible.sh` creates (cached, shared with its test).
fn ansible_venv() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(repo.join("scripts/test-ansible.sh"))
        .arg("--venv")
        .stdin(Stdio::null())
        .output()
        .expect("bash runs scripts/test-ansible.sh --venv");
    assert!(
        out.status.success(),
        "scripts/test-ansible.sh --venv failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Copies the work directory's key directories onto `node`, as a deploy would.
fn deploy(wd: &Path, node: &SshNode) {
    for dir in DIRS {
        let src = wd.join("keys").join(dir);
        if !src.is_dir() {
            continue;
        }
        let _ = fs::remove_dir_all(node.dir(dir));
        node.put(dir, &[], 0o600);
        for entry in fs::read_dir(&src).unwrap().flatten() {
            let meta = entry.metadata().unwrap();
            if meta.is_file() {
                node.put_file(
                    dir,
                    &entry.file_name().to_string_lossy(),
                    &fs::read(entry.path()).unwrap(),
                    meta.mode() & 0o777,
                );
            }
        }
    }
}

/// Runs ansible-playbook the way `scripts/test-ansible.sh` does: isolated config, HOME and
/// temporary directory, only this collection.
struct Playbooks {
    venv: PathBuf,
    home: PathBuf,
    vars: Vec<String>,
    output: String,
}

impl Playbooks {
    fn new(env: &Env, venv: PathBuf, vars: &[(&str, &Path)]) -> Playbooks {
        let home = env.root().to_path_buf();
        let tmp = env.path("ansible-tmp");
        fs::create_dir_all(&tmp).unwrap();
        let collections = Path::new(env!("CARGO_MANIFEST_DIR")).join("ansible");
        fs::write(
            env.path("ansible.cfg"),
            format!(
                "[defaults]\ncollections_path = {}\ncollections_scan_sys_path = false\n\
                 local_tmp = {tmp}\nremote_tmp = {tmp}\nretry_files_enabled = false\n\
                 stdout_callback = default\ninterpreter_python = {}\n",
                collections.display(),
                venv.join("bin/python").display(),
                tmp = tmp.display(),
            ),
        )
        .unwrap();
        let mut extra = vec![format!("overcloud_keys_bin={}", cli_support::BIN)];
        for (name, path) in vars {
            extra.push(format!("{name}={}", path.display()));
        }
        Playbooks {
            venv,
            home,
            vars: extra,
            output: String::new(),
        }
    }

    /// Runs `ansible/tests/nodes/<name>`; panics with its output when it fails.
    fn play(&mut self, name: &str) {
        let playbook = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("ansible/tests/nodes")
            .join(name);
        let mut cmd = Command::new(self.venv.join("bin/ansible-playbook"));
        cmd.args(["-v", "-i", "localhost,", "-c", "local"])
            .arg(&playbook);
        for var in &self.vars {
            cmd.arg("-e").arg(var);
        }
        let path = format!(
            "{}:{}",
            self.venv.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = cmd
            .current_dir(&self.home)
            .env("ANSIBLE_CONFIG", self.home.join("ansible.cfg"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("HOME", &self.home)
            .env("PATH", path)
            .env("LC_ALL", "C.UTF-8")
            .env_remove("OS_CLOUD")
            .stdin(Stdio::null())
            .output()
            .expect("run ansible-playbook");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "playbook {name} failed ({}):\n{text}",
            out.status
        );
        self.output.push_str(&text);
    }
}

fn trees(wd: &Path, cluster: &Cluster) -> (Tree, Vec<Tree>) {
    (
        cli_support::tree(wd),
        cluster
            .nodes
            .iter()
            .map(|n| cli_support::tree(&n.config_data))
            .collect(),
    )
}

fn assert_unchanged(before: &(Tree, Vec<Tree>), wd: &Path, cluster: &Cluster, what: &str) {
    let after = trees(wd, cluster);
    cli_support::assert_same_tree(&before.0, &after.0, &format!("{what}: work directory"));
    for ((node, b), a) in cluster.nodes.iter().zip(&before.1).zip(&after.1) {
        cli_support::assert_same_tree(b, a, &format!("{what}: {}", node.name));
    }
}

fn all_keys(wd: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for dir in ["fernet-keys", "credential-keys"] {
        for (name, content) in cli_support::files(&wd.join("keys").join(dir)) {
            out.insert(format!("{dir}/{name}"), content);
        }
    }
    out
}

#[test]
fn ansible_verify_and_rollout_modules_against_real_nodes() {
    let test = "ansible_verify_and_rollout_modules_against_real_nodes";
    if !nodes_harness::require(test) {
        return;
    }
    let venv = ansible_venv();
    let env = Env::new();
    let wd = env.path("wd");
    env.cmd()
        .env("HOME", env.root())
        .args(["build", "--workdir"])
        .arg(&wd)
        .run()
        .expect_code(0);
    let cluster = Cluster::start(2);
    for node in &cluster.nodes {
        deploy(&wd, node);
    }
    let inventory = cluster.inventory(&[]);
    let gone = nodes_harness::free_port();
    let unreachable = {
        // A second inventory file with one more host nobody listens for.
        let path = cluster.inventory(&[("ctl-gone", gone)]);
        let copy = env.path("unreachable-inventory.yaml");
        fs::copy(&path, &copy).unwrap();
        cluster.inventory(&[]);
        copy
    };
    let mut books = Playbooks::new(
        &env,
        venv,
        &[
            ("workdir", &wd),
            ("inventory", &inventory),
            ("unreachable_inventory", &unreachable),
        ],
    );
    let old_keys = all_keys(&wd);
    let old_fernet = cli_support::files(&wd.join("keys/fernet-keys"));

    // 1. In sync: ok, unchanged, nothing written.
    let before = trees(&wd, &cluster);
    books.play("verify_in_sync.yml");
    assert_unchanged(&before, &wd, &cluster, "verify in sync");

    // 2. ctl-1 lost its highest Fernet key: verify fails or reports, rollout refuses.
    let last = old_fernet.keys().next_back().unwrap().clone();
    let lost = cluster.nodes[1].dir("fernet-keys").join(&last);
    let lost_meta = fs::metadata(&lost).unwrap();
    fs::remove_file(&lost).unwrap();
    let before = trees(&wd, &cluster);
    books.play("drift.yml");
    assert_unchanged(&before, &wd, &cluster, "drift");
    cluster.nodes[1].put_file(
        "fernet-keys",
        &last,
        &old_fernet[&last],
        lost_meta.mode() & 0o777,
    );

    // 3. Check mode: changed reported, nothing written anywhere.
    let before = trees(&wd, &cluster);
    books.play("rollout_check_mode.yml");
    assert_unchanged(&before, &wd, &cluster, "rollout check mode");

    // 4. Rollout: the work directory's keys are rotated and every node holds them.
    let yaml_before = fs::read(wd.join("fernet.yaml")).unwrap();
    books.play("rollout.yml");
    let new_fernet = cli_support::files(&wd.join("keys/fernet-keys"));
    assert_ne!(new_fernet, old_fernet, "the rollout rotated nothing");
    let old_primary: u64 = old_fernet
        .keys()
        .filter_map(|n| n.parse().ok())
        .max()
        .unwrap();
    assert_eq!(new_fernet[&(old_primary + 1).to_string()], old_fernet["0"]);
    for node in &cluster.nodes {
        assert_eq!(
            cli_support::files(&node.dir("fernet-keys")),
            new_fernet,
            "{} does not hold the rotated keys",
            node.name
        );
    }
    assert_ne!(fs::read(wd.join("fernet.yaml")).unwrap(), yaml_before);

    // 5. Bad options and an unreachable node: the tool's messages, nothing written.
    let before = trees(&wd, &cluster);
    books.play("bad_input.yml");
    assert_unchanged(&before, &wd, &cluster, "bad input");

    // 6. The push fails on ctl-1 (read-only keystone root): the task fails, and ctl-0 and
    // the work directory hold the keys they held before (rewritten, so compared by content).
    let fernet_before = cli_support::files(&wd.join("keys/fernet-keys"));
    let nodes_before: Vec<_> = cluster
        .nodes
        .iter()
        .map(|n| cli_support::files(&n.dir("fernet-keys")))
        .collect();
    cluster.nodes[1].make_keystone_root_read_only();
    books.play("rollout_failure.yml");
    assert_eq!(
        cli_support::files(&wd.join("keys/fernet-keys")),
        fernet_before,
        "the work directory was not put back"
    );
    for (node, before) in cluster.nodes.iter().zip(&nodes_before) {
        assert_eq!(
            &cli_support::files(&node.dir("fernet-keys")),
            before,
            "{} was not put back",
            node.name
        );
    }

    // No key, old or new, in anything ansible-playbook printed (-v shows every result).
    let mut keys = old_keys;
    keys.extend(
        all_keys(&wd)
            .into_iter()
            .map(|(k, v)| (format!("new {k}"), v)),
    );
    for (name, content) in &keys {
        let text = String::from_utf8_lossy(content);
        assert!(
            !books.output.contains(text.trim()),
            "key {name} appears in the playbooks' output"
        );
    }
    assert!(
        books.output.contains("rolled-out"),
        "the -v output shows no results:\n{}",
        books.output
    );
}
