//! `verify`: every keystone node's key directories against the work directory, and the
//! nodes against each other. Pure comparison of fingerprints (SHA-256 of file bytes, mode,
//! owner); the SSH fan-out that gathers them is `scan`.
//!
//! Why an extra key is critical: keystone takes the highest-numbered file as the primary, so
//! a key above the work directory's primary (a hand-copied file, the rotate-fernet-keys
//! playbook) encrypts that node's new tokens with a key the others cannot decrypt and that
//! the next deploy removes.

use std::collections::BTreeMap;

use serde::Serialize;

use super::error::NodeError;
use super::expected::{Expected, ExpectedDir, is_numbered};
use super::inventory::Node;
use super::remote::{self, DirView, NodeView, Tree};
use super::transport::{self, SshOptions};
use crate::artifact::layout::dirs;
use crate::check::parse_key_name;

crate::codes::stable_codes! {
    /// Finding codes of `verify` and of the cross-stack comparison (stable; shown in every
    /// output format).
    pub enum NodeCode, CODES {
        /// The keystone root itself (the parent of every key directory) is absent on the node.
        RootMissing => "node-root-missing",
        /// A key directory of the work directory is absent on the node.
        DirMissing => "node-dir-missing",
        /// A key of the work directory is absent on the node.
        KeyMissing => "node-key-missing",
        /// The node holds other bytes under the same key name.
        KeyDifferent => "node-key-different",
        /// A key the work directory does not have, below its primary.
        KeyExtra => "node-key-extra",
        /// A key above the work directory's primary: keystone on that node makes it primary.
        KeyExtraPrimary => "node-key-extra-primary",
        /// A JWS public key of the work directory is absent on the node.
        JwsPublicMissing => "node-jws-public-missing",
        /// A JWS public key the work directory does not have.
        JwsPublicExtra => "node-jws-public-extra",
        /// Something that is not a key file in a key directory.
        StrayEntry => "node-stray-entry",
        /// A key directory on the node the work directory has no repository for.
        DirUnexpected => "node-dir-unexpected",
        /// A key file or directory readable or writable by others.
        ModeWrong => "node-mode-wrong",
        /// A key file or directory not owned by keystone's uid/gid.
        OwnerWrong => "node-owner-wrong",
        /// The node could not be reached, or its answer did not parse.
        Unreachable => "node-unreachable",
        /// The inventory does not say how to reach the node.
        InventoryProblem => "node-inventory-problem",
        /// The nodes do not all hold the same keys.
        NodesDisagree => "nodes-disagree",
        /// Stacks that share keys hold different keys on their nodes.
        StacksDisagree => "stacks-disagree",
        /// Stacks that do not share keys hold the same key.
        StacksShareKeys => "stacks-share-keys",
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Worth knowing; keystone works.
    Warning,
    /// Keystone on that node does not behave like the others (or fails).
    Error,
    /// Tokens break now or at the next deploy (an extra primary).
    Critical,
}

/// One difference, naming node, place, directory and key; never key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeFinding {
    /// Stable code.
    pub code: NodeCode,
    /// Severity.
    pub level: Level,
    /// The node (inventory name); empty for `nodes-disagree`.
    pub node: String,
    /// `host` (puppet-generated) or `container` (the running keystone's /etc/keystone).
    pub place: Option<&'static str>,
    /// Key directory under /etc/keystone.
    pub dir: Option<String>,
    /// Key file name (index).
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub fix: String,
}

/// How one node came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeStatus {
    /// Exactly the work directory's keys, modes and owners.
    Match,
    /// Reached, but something differs.
    Drift,
    /// Not reached, or its answer did not parse.
    Unreachable,
    /// The inventory does not say how to reach it.
    InventoryProblem,
}

/// One node's line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct NodeResult {
    /// Inventory name.
    pub node: String,
    /// `user@host:port` as ssh was given it.
    pub address: String,
    /// Outcome.
    pub status: NodeStatus,
    /// Key names per directory on the host side (what the node holds).
    pub keys: BTreeMap<String, Vec<String>>,
    /// The keystone container found (`podman`/`docker`), if any.
    pub container: Option<String>,
    /// Why it was not reached.
    pub error: Option<String>,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Every node, in inventory order.
    pub nodes: Vec<NodeResult>,
    /// Every difference.
    pub findings: Vec<NodeFinding>,
    /// All reached nodes hold the same keys (host side).
    pub nodes_agree: bool,
    /// Every node matches the work directory.
    pub ok: bool,
}

/// What the nodes should look like.
#[derive(Debug, Clone, Copy)]
pub struct Owner {
    /// Keystone's uid on the node (42425 containerized, 163 baremetal).
    pub uid: u32,
    /// Keystone's gid.
    pub gid: u32,
}

/// Fingerprints every node (at most `forks` at a time).
pub(crate) fn scan(
    nodes: &[Node],
    root: &str,
    ssh: &SshOptions,
    forks: usize,
) -> Vec<Result<NodeView, NodeError>> {
    let script = remote::fingerprint_script(root);
    transport::fan_out(nodes, forks, |node| {
        let out = transport::run_script(node, ssh, script.as_bytes())?;
        remote::parse(&node.name, &out)
    })
}

/// Compares the scanned nodes with the work directory and with each other.
pub fn compare(
    expected: &Expected,
    nodes: &[Node],
    scans: &[Result<NodeView, NodeError>],
    owner: Owner,
) -> VerifyReport {
    let mut findings = vec![];
    let mut results = vec![];
    for (node, scan) in nodes.iter().zip(scans) {
        let before = findings.len();
        let status = match scan {
            Ok(view) => {
                compare_node(expected, node, view, owner, &mut findings);
                if findings.len() == before {
                    NodeStatus::Match
                } else {
                    NodeStatus::Drift
                }
            }
            Err(err) => {
                let inventory = node.problem.is_some();
                findings.push(unreached(node, err, inventory));
                if inventory {
                    NodeStatus::InventoryProblem
                } else {
                    NodeStatus::Unreachable
                }
            }
        };
        results.push(result_of(node, scan, status));
    }
    let disagree = disagreement(nodes, scans);
    let nodes_agree = disagree.is_none();
    findings.extend(disagree);
    let ok = results.iter().all(|r| r.status == NodeStatus::Match);
    VerifyReport {
        nodes: results,
        findings,
        nodes_agree,
        ok,
    }
}

fn result_of(node: &Node, scan: &Result<NodeView, NodeError>, status: NodeStatus) -> NodeResult {
    let (keys, container, error) = match scan {
        Ok(view) => (
            view.host
                .iter()
                .map(|(d, v)| (d.clone(), v.files.keys().cloned().collect()))
                .collect(),
            view.engine.clone(),
            None,
        ),
        Err(e) => (BTreeMap::new(), None, Some(e.to_string())),
    };
    NodeResult {
        node: node.name.clone(),
        address: address(node),
        status,
        keys,
        container,
        error,
    }
}

/// `user@host:port` for the report.
pub fn address(node: &Node) -> String {
    let host = node.host.as_deref().unwrap_or("?");
    let user = node
        .user
        .as_deref()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let port = node.port.map(|p| format!(":{p}")).unwrap_or_default();
    format!("{user}{host}{port}")
}

fn unreached(node: &Node, err: &NodeError, inventory: bool) -> NodeFinding {
    NodeFinding {
        code: if inventory {
            NodeCode::InventoryProblem
        } else {
            NodeCode::Unreachable
        },
        level: Level::Error,
        node: node.name.clone(),
        place: None,
        dir: None,
        key: None,
        message: err.to_string(),
        fix: err.hint().unwrap_or_default(),
    }
}

fn compare_node(
    expected: &Expected,
    node: &Node,
    view: &NodeView,
    owner: Owner,
    out: &mut Vec<NodeFinding>,
) {
    if let Some(root) = view.roots_missing.get("host") {
        out.push(root_missing(node, "host", root));
    } else {
        compare_tree(expected, node, "host", &view.host, owner, out);
    }
    if let Some(container) = &view.container {
        if let Some(root) = view.roots_missing.get("container") {
            out.push(root_missing(node, "container", root));
        } else {
            compare_tree(expected, node, "container", container, owner, out);
        }
    }
}

/// One finding instead of one per directory: the whole keystone root is absent, which
/// points at the node (not a keystone node, another layout) rather than at its keys.
fn root_missing(node: &Node, place: &'static str, root: &str) -> NodeFinding {
    let (what, fix) = if place == "host" {
        (
            format!(
                "the keystone root {root} does not exist on this node: no key directory at all"
            ),
            "check that this host runs keystone (the inventory's keystone group) and the layout (--layout baremetal reads /etc/keystone); then deploy with the -e files `overcloud-keys build` prints",
        )
    } else {
        (
            format!("{root} does not exist inside the running keystone container"),
            "restart the keystone container so kolla copies the configuration in again, then run verify again",
        )
    };
    NodeFinding {
        code: NodeCode::RootMissing,
        level: Level::Error,
        node: node.name.clone(),
        place: Some(place),
        dir: None,
        key: None,
        message: what,
        fix: fix.to_string(),
    }
}

struct Ctx<'a> {
    node: &'a Node,
    place: &'static str,
    dir: &'a str,
}

impl Ctx<'_> {
    fn finding(
        &self,
        code: NodeCode,
        level: Level,
        key: Option<&str>,
        message: String,
        fix: &str,
    ) -> NodeFinding {
        NodeFinding {
            code,
            level,
            node: self.node.name.clone(),
            place: Some(self.place),
            dir: Some(self.dir.to_string()),
            key: key.map(str::to_string),
            message,
            fix: fix.to_string(),
        }
    }
}

const FIX_DEPLOY: &str = "deploy with the -e files `overcloud-keys build` prints, or push the work directory's Fernet keys with `overcloud-keys rollout`";
const FIX_ADOPT: &str = "if the node is right (rotated in place), `overcloud-keys adopt --from-node NODE --replace-workdir`; else remove it from the node and redeploy";

fn compare_tree(
    expected: &Expected,
    node: &Node,
    place: &'static str,
    tree: &Tree,
    owner: Owner,
    out: &mut Vec<NodeFinding>,
) {
    for (dir, want) in &expected.dirs {
        let ctx = Ctx { node, place, dir };
        match tree.get(*dir) {
            None => out.push(ctx.finding(
                NodeCode::DirMissing,
                Level::Error,
                None,
                format!(
                    "{place} has no {dir} directory; the work directory has {} keys",
                    want.files.len()
                ),
                FIX_DEPLOY,
            )),
            Some(have) => compare_dir(&ctx, want, have, owner, out),
        }
    }
    for dir in tree.keys() {
        if !expected.dirs.contains_key(dir.as_str()) {
            let ctx = Ctx { node, place, dir };
            out.push(ctx.finding(
                NodeCode::DirUnexpected,
                Level::Warning,
                None,
                format!("{place} has a {dir} directory the work directory has no repository for"),
                "leave it if keystone's configuration uses it from elsewhere; otherwise adopt it or remove it",
            ));
        }
    }
}

fn compare_dir(
    ctx: &Ctx,
    want: &ExpectedDir,
    have: &DirView,
    owner: Owner,
    out: &mut Vec<NodeFinding>,
) {
    check_meta(ctx, None, &have.meta, 0o700, owner, out);
    let public = ctx.dir == dirs::JWS_PUBLIC;
    for (name, file) in &want.files {
        match have.files.get(name) {
            None => out.push(ctx.finding(
                if public {
                    NodeCode::JwsPublicMissing
                } else {
                    NodeCode::KeyMissing
                },
                Level::Error,
                Some(name),
                format!(
                    "{} {name} is missing",
                    if public { "public key" } else { "key" }
                ),
                FIX_DEPLOY,
            )),
            Some(got) if got.sha256.as_deref() != Some(file.sha256.as_str()) => {
                out.push(ctx.finding(
                    NodeCode::KeyDifferent,
                    Level::Error,
                    Some(name),
                    format!(
                        "{name} differs (node sha256 {}, work directory {})",
                        got.sha256.as_deref().map_or("none", |h| &h[..12]),
                        &file.sha256[..12]
                    ),
                    FIX_DEPLOY,
                ))
            }
            Some(got) => check_meta(ctx, Some(name), got, file.mode, owner, out),
        }
    }
    for (name, got) in &have.files {
        if !want.files.contains_key(name) {
            out.push(extra(ctx, want, name, got));
        }
    }
}

fn extra(ctx: &Ctx, want: &ExpectedDir, name: &str, got: &remote::FileView) -> NodeFinding {
    let numbered = is_numbered(ctx.dir);
    let index = parse_key_name(name).filter(|_| numbered && got.is_regular() && got.size > 0);
    match (index, want.primary()) {
        (Some(i), Some(primary)) if i > primary => ctx.finding(
            NodeCode::KeyExtraPrimary,
            Level::Critical,
            Some(name),
            format!("extra key {i} above the work directory's primary {primary}: keystone on this node encrypts with it, other nodes cannot decrypt those tokens, and the next deploy removes it"),
            FIX_ADOPT,
        ),
        (Some(i), _) => ctx.finding(
            NodeCode::KeyExtra,
            Level::Error,
            Some(name),
            format!("extra key {i} the work directory does not have (it still decrypts tokens on this node)"),
            FIX_ADOPT,
        ),
        _ if ctx.dir == dirs::JWS_PUBLIC && got.is_regular() => ctx.finding(
            NodeCode::JwsPublicExtra,
            Level::Warning,
            Some(name),
            format!("extra public key {name}: this node accepts tokens signed by a key the work directory does not know"),
            "remove it from the node, or add it to the work directory with `overcloud-keys jws rotate stage`",
        ),
        _ => ctx.finding(
            NodeCode::StrayEntry,
            if ctx.dir == dirs::JWS_PUBLIC { Level::Error } else { Level::Warning },
            Some(name),
            format!("{name} ({}) is not a key file", got.kind),
            "remove it from the node (a sub-directory in the JWS public directory makes keystone answer 500)",
        ),
    }
}

fn check_meta(
    ctx: &Ctx,
    key: Option<&str>,
    got: &remote::FileView,
    mode: u32,
    owner: Owner,
    out: &mut Vec<NodeFinding>,
) {
    let what = key.map_or_else(|| format!("directory {}", ctx.dir), |k| k.to_string());
    let too_open = if key.is_some() {
        got.mode & 0o7777 != mode
    } else {
        got.mode & 0o077 != 0
    };
    if too_open {
        out.push(ctx.finding(
            NodeCode::ModeWrong,
            if got.mode & 0o022 != 0 || mode == 0o600 {
                Level::Error
            } else {
                Level::Warning
            },
            key,
            format!("{what} has mode {:04o}, expected {mode:04o}", got.mode),
            "chmod it on the node (or redeploy: kolla keeps the mode of puppet-generated)",
        ));
    }
    if got.uid != owner.uid || got.gid != owner.gid {
        out.push(ctx.finding(
            NodeCode::OwnerWrong,
            Level::Error,
            key,
            format!("{what} is owned by {}:{}, expected {}:{} (keystone)", got.uid, got.gid, owner.uid, owner.gid),
            "chown it on the node: keystone cannot read a 0600 key it does not own, and every token request fails",
        ));
    }
}

/// One `nodes-disagree` finding when the reached nodes hold different host-side keys,
/// naming which nodes hold which fingerprints per directory.
fn disagreement(nodes: &[Node], scans: &[Result<NodeView, NodeError>]) -> Option<NodeFinding> {
    let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (node, scan) in nodes.iter().zip(scans) {
        if let Ok(view) = scan {
            groups
                .entry(signature(&view.host))
                .or_default()
                .push(&node.name);
        }
    }
    if groups.len() < 2 {
        return None;
    }
    let detail: Vec<String> = groups
        .iter()
        .map(|(sig, names)| format!("{} hold {sig}", names.join(", ")))
        .collect();
    Some(NodeFinding {
        code: NodeCode::NodesDisagree,
        level: Level::Critical,
        node: String::new(),
        place: Some("host"),
        dir: None,
        key: None,
        message: format!("the keystone nodes hold different keys: {}", detail.join("; ")),
        fix: "tokens issued by one node fail on another: pick the right set (work directory: `overcloud-keys rollout --force` after a deploy; a node: `adopt --from-node`)".into(),
    })
}

/// `dir{name:sha12,...}` for every key directory of a tree (short fingerprints of file bytes).
pub fn signature(tree: &Tree) -> String {
    tree.iter()
        .map(|(dir, view)| {
            let files: Vec<String> = view
                .files
                .iter()
                .map(|(n, f)| format!("{n}:{}", f.sha256.as_deref().map_or("-", |h| &h[..12])))
                .collect();
            format!("{dir}{{{}}}", files.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_kebab_case() {
        for code in NodeCode::ALL {
            // What JSON carries is what the table and `-f value` print.
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json.as_str(), Some(code.as_str()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for code in CODES {
            assert!(seen.insert(code), "duplicate {code}");
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{code}"
            );
        }
    }
}
