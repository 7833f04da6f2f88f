//! Errors of the nodes layer (inventory, SSH transport, remote output; see `crate::nodes`):
//! each names the inventory file or the node and carries a hint the operator can act on.

use std::path::PathBuf;

/// What can go wrong while finding, reaching or reading the keystone nodes.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The inventory file is missing, unreadable or not an Ansible YAML inventory.
    #[error("inventory {}: {message}", path.display())]
    Inventory {
        /// The inventory file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The inventory names no host for the keystone service (or the roles asked for).
    #[error("inventory {}: no hosts in {groups}", path.display())]
    NoHosts {
        /// The inventory file.
        path: PathBuf,
        /// The groups looked at.
        groups: String,
    },
    /// The work directory holds no key repository to compare the nodes with.
    #[error("{} holds no key repositories to compare the nodes with", path.display())]
    EmptyWorkdir {
        /// The work directory.
        path: PathBuf,
    },
    /// `--from-node` names a host that is not one of the keystone nodes.
    #[error("{node} is not a keystone node of {} (nodes: {known})", path.display())]
    UnknownNode {
        /// The node asked for.
        node: String,
        /// The inventory file.
        path: PathBuf,
        /// The keystone nodes found.
        known: String,
    },
    /// One node could not be reached, refused the key, or its command failed.
    #[error("node {node}: {message}")]
    Remote {
        /// The node (inventory name).
        node: String,
        /// What happened (ssh's own last line of stderr included).
        message: String,
    },
    /// A node answered with output that is not what the fixed remote command prints.
    #[error("node {node}: unexpected output from the remote command: {message}")]
    Garbage {
        /// The node.
        node: String,
        /// What did not parse (never key material).
        message: String,
    },
    /// The keystone nodes do not hold the same keys: nothing to adopt or roll out from.
    #[error("the keystone nodes disagree, nothing was written:\n{0}")]
    Disagree(String),
    /// `rollout` pre-flight: the nodes do not hold exactly the work directory's keys.
    #[error("the nodes do not match the work directory, nothing was changed:\n{0}")]
    Drift(String),
}

impl NodeError {
    /// What the operator can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            NodeError::Inventory { .. } | NodeError::NoHosts { .. } => {
                "pass the stack's tripleo-ansible inventory with --inventory FILE (OSP 17: ~/overcloud-deploy/<stack>/tripleo-ansible-inventory.yaml; 16.2: `tripleo-ansible-inventory --static-yaml-inventory FILE`), or name the roles with --role".into()
            }
            NodeError::EmptyWorkdir { .. } => {
                "import the keys the nodes hold with `overcloud-keys adopt --from-node NODE` (or `adopt` from the passwords file), or pass the right --workdir".into()
            }
            NodeError::UnknownNode { .. } => {
                "give the inventory name of one keystone node (see `overcloud-keys verify`)".into()
            }
            NodeError::Remote { .. } => {
                "check that `ssh` to the node works non-interactively as the inventory's user (BatchMode: keys or agent, known host key) and that sudo -n works there".into()
            }
            NodeError::Garbage { .. } => {
                "run `ssh NODE sh -s` by hand: a login banner or profile script printing to stdout on non-interactive shells breaks the remote command".into()
            }
            NodeError::Disagree(_) => {
                "run `overcloud-keys verify` to see which node differs, fix that node (or adopt from a file with --from), then run again".into()
            }
            NodeError::Drift(_) => {
                "run `overcloud-keys verify`; bring the nodes in line (deploy with fernet.yaml, or `adopt --from-node` if the nodes are the truth) and run again".into()
            }
        })
    }

    /// Whether a node was unreachable or misbehaved (exit 3) rather than bad input (exit 2).
    pub fn is_remote_failure(&self) -> bool {
        matches!(self, NodeError::Remote { .. } | NodeError::Garbage { .. })
    }
}
