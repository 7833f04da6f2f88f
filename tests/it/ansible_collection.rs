//! The Ansible collection `overcloud_keys.tripleo` (ansible/): `scripts/test-ansible.sh` runs
//! its modules through a real ansible-core from PyPI (a cached venv under target/venvs)
//! against localhost with this binary: idempotent build and adopt, check mode writing
//! nothing, bad options failing with the tool's message, ansible-doc rendering the modules.
//! No silent skip: a venv that cannot be created fails the test.

use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn ansible_collection_playbooks_pass() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-ansible.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_overcloud-keys"))
        .stdin(Stdio::null())
        .output()
        .expect("bash runs scripts/test-ansible.sh");
    assert!(
        out.status.success(),
        "scripts/test-ansible.sh failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
