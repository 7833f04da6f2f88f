//! The live keystone nodes: find them in the stack's tripleo-ansible inventory, reach them
//! with the system OpenSSH client, fingerprint their key directories with a fixed read-only
//! command, and compare them with the work directory (`verify`) or copy keys from one of
//! them (`adopt --from-node`), or push a rotation to them one at a time (`rollout`).
//!
//! Invariants: no key material leaves a node except through `fetch` (adopt --from-node),
//! which holds it in zeroizing memory until the atomic 0600 commit; remote output is parsed
//! defensively (garbage is a per-node error); one node's failure never hides the others.

pub(crate) mod error;
pub(crate) mod expected;
pub(crate) mod fetch;
pub mod inventory;
pub(crate) mod push;
pub(crate) mod remote;
pub mod rollout;
pub mod stacks;
pub mod transport;
pub mod verify;

pub use error::NodeError;

use std::path::{Path, PathBuf};

use crate::artifact::layout::Layout;
use crate::error::Result;

/// Which nodes, and how to reach and judge them.
#[derive(Debug, Clone)]
pub struct Target {
    /// The tripleo-ansible inventory.
    pub inventory: PathBuf,
    /// Groups to take hosts from; empty: the `keystone` service group.
    pub roles: Vec<String>,
    /// Where keys live on the nodes, and their owner.
    pub layout: Layout,
    /// ssh settings.
    pub ssh: transport::SshOptions,
    /// At most this many nodes at a time.
    pub forks: usize,
}

impl Target {
    /// The keystone root on the nodes, absolute.
    pub fn root(&self) -> String {
        format!("/{}", self.layout.root.trim_start_matches('/'))
    }

    /// The nodes of the inventory.
    pub fn nodes(&self) -> Result<Vec<inventory::Node>> {
        Ok(inventory::load(&self.inventory, &self.roles)?)
    }

    fn owner(&self) -> verify::Owner {
        verify::Owner {
            uid: self.layout.uid,
            gid: self.layout.gid,
        }
    }
}

/// `verify`: fingerprints every node and compares it with `workdir` and the other nodes.
pub fn verify(target: &Target, workdir: &Path) -> Result<verify::VerifyReport> {
    let expected = expected::expected(workdir)?;
    let nodes = target.nodes()?;
    let scans = verify::scan(&nodes, &target.root(), &target.ssh, target.forks);
    Ok(verify::compare(&expected, &nodes, &scans, target.owner()))
}

/// `adopt --from-node`: refuses unless every keystone node was reached and all hold the same
/// Fernet and credential repositories, then copies `from`'s into the work directory through
/// the adopt machinery (atomic 0600/0700, repository check, `--replace-workdir` rules).
pub fn adopt_from_node(
    target: &Target,
    from: &str,
    opts: &crate::adopt::AdoptOptions,
) -> Result<crate::adopt::AdoptReport> {
    let nodes = target.nodes()?;
    let Some(index) = nodes.iter().position(|n| n.name == from) else {
        return Err(NodeError::UnknownNode {
            node: from.to_string(),
            path: target.inventory.clone(),
            known: nodes
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }
        .into());
    };
    let scans = verify::scan(&nodes, &target.root(), &target.ssh, target.forks);
    fetch::require_agreement(&nodes, &scans)?;
    let seen = scans[index]
        .as_ref()
        .expect("agreement means every node was reached");
    let node = &nodes[index];
    let deployed = fetch::fetch(node, &target.root(), &target.ssh, seen)?;
    let origin = format!("node {} ({})", node.name, verify::address(node));
    crate::adopt::adopt_deployed(opts, deployed, origin, false)
}
