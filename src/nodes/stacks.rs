//! `verify --stack A --stack B`: several stacks (multi-region) at once. Each stack is
//! verified on its own (its inventory, its key source), then the stacks are compared:
//!
//! - stacks that share keys (one renders the other's repositories with `keys_from`, so both
//!   deploy the same key source) must hold the same keys on every node of every one of them,
//!   or tokens issued in one region fail in the other (`stacks-disagree`);
//! - stacks that do not are confirmed independent: no key file of one (work directory or
//!   node) is a key file of the other. A shared key there (a work directory copied from
//!   another stack, a key copied by hand) makes one region accept tokens the other issues
//!   for the same user ids, and rotating one silently diverges them (`stacks-share-keys`).
//!
//! Comparison is by SHA-256 of the key files, as in `super::verify`; no key material.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Target;
use super::expected::{self, Expected};
use super::remote::{NodeView, Tree};
use super::verify::{self, Level, NodeCode, NodeFinding, VerifyReport};
use crate::artifact::layout::dirs;
use crate::error::Result;

/// The key directories whose keys a token or credential depends on (JWS public keys are
/// public: sharing them is how regions are meant to trust each other's signatures).
const SECRET_DIRS: [&str; 4] = [
    dirs::FERNET,
    dirs::CREDENTIAL,
    dirs::RECEIPT,
    dirs::JWS_PRIVATE,
];

/// One stack to verify.
#[derive(Debug, Clone)]
pub struct StackTarget {
    /// Heat stack name.
    pub stack: String,
    /// Its nodes.
    pub target: Target,
    /// The work directory whose keys its nodes must hold (its own, or `keys_from`'s).
    pub key_workdir: PathBuf,
    /// The stack whose repositories it renders (`keys_from`), if any.
    pub keys_from: Option<String>,
}

/// One stack's part of the report: exactly the single-stack `verify` report.
#[derive(Debug, Clone, Serialize)]
pub struct StackReport {
    /// Heat stack name.
    pub stack: String,
    /// The inventory read.
    pub inventory: PathBuf,
    /// The work directory compared with.
    pub workdir: PathBuf,
    /// `keys_from` of its configuration.
    pub keys_from: Option<String>,
    /// The comparison, as `verify` with this stack alone.
    pub report: VerifyReport,
}

/// How two stacks relate.
#[derive(Debug, Clone, Serialize)]
pub struct Relation {
    /// The two stacks.
    pub stacks: [String; 2],
    /// They deploy the same key source (`keys_from`).
    pub shared: bool,
    /// Shared: every reached node of both holds the same keys. Independent: no key in common.
    pub consistent: bool,
    /// In words.
    pub summary: String,
}

/// The whole multi-stack report.
#[derive(Debug, Clone, Serialize)]
pub struct MultiReport {
    /// Every stack, in the order given.
    pub stacks: Vec<StackReport>,
    /// Every pair of stacks.
    pub relations: Vec<Relation>,
    /// Cross-stack findings (per-node findings stay in each stack's report).
    pub findings: Vec<NodeFinding>,
    /// Every stack matches and every relation is consistent.
    pub ok: bool,
}

/// Verifies every stack, then compares them.
pub fn verify_stacks(stacks: &[StackTarget]) -> Result<MultiReport> {
    let mut parts = vec![];
    for s in stacks {
        let expected = expected::expected(&s.key_workdir)?;
        let nodes = s.target.nodes()?;
        let scans = verify::scan(&nodes, &s.target.root(), &s.target.ssh, s.target.forks);
        let report = verify::compare(&expected, &nodes, &scans, s.target.owner());
        let views: Vec<(String, NodeView)> = nodes
            .iter()
            .zip(scans)
            .filter_map(|(n, r)| r.ok().map(|v| (n.name.clone(), v)))
            .collect();
        parts.push((s, expected, views, report));
    }
    let mut relations = vec![];
    let mut findings = vec![];
    for (i, a) in parts.iter().enumerate() {
        for b in &parts[i + 1..] {
            let shared = same_dir(&a.0.key_workdir, &b.0.key_workdir);
            let (relation, finding) = if shared {
                compare_shared(a.0, &a.2, b.0, &b.2)
            } else {
                compare_independent((a.0, &a.1, &a.2), (b.0, &b.1, &b.2))
            };
            relations.push(relation);
            findings.extend(finding);
        }
    }
    let stacks: Vec<StackReport> = parts
        .into_iter()
        .map(|(s, _, _, report)| StackReport {
            stack: s.stack.clone(),
            inventory: s.target.inventory.clone(),
            workdir: s.key_workdir.clone(),
            keys_from: s.keys_from.clone(),
            report,
        })
        .collect();
    let ok = findings.is_empty() && stacks.iter().all(|s| s.report.ok);
    Ok(MultiReport {
        stacks,
        relations,
        findings,
        ok,
    })
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Shared keys: one signature (secret directories, host side) across both stacks' nodes.
fn compare_shared(
    a: &StackTarget,
    a_views: &[(String, NodeView)],
    b: &StackTarget,
    b_views: &[(String, NodeView)],
) -> (Relation, Option<NodeFinding>) {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (stack, views) in [(&a.stack, a_views), (&b.stack, b_views)] {
        for (node, view) in views {
            groups
                .entry(verify::signature(&secret(&view.host)))
                .or_default()
                .push(format!("{stack}/{node}"));
        }
    }
    let how = match (&a.keys_from, &b.keys_from) {
        (_, Some(from)) => format!("{} renders {from}'s keys (keys_from)", b.stack),
        (Some(from), _) => format!("{} renders {from}'s keys (keys_from)", a.stack),
        _ => "both use the same work directory".to_string(),
    };
    let consistent = groups.len() < 2;
    let reached = groups.values().map(Vec::len).sum::<usize>();
    let summary = if consistent {
        format!(
            "stacks {} and {} share keys ({how}); all {reached} reached node(s) of both hold the same keys",
            a.stack, b.stack
        )
    } else {
        format!(
            "stacks {} and {} share keys ({how}) but their nodes hold different keys",
            a.stack, b.stack
        )
    };
    let finding = (!consistent).then(|| {
        let detail: Vec<String> = groups
            .iter()
            .map(|(sig, names)| format!("{} hold {sig}", names.join(", ")))
            .collect();
        cross_finding(
            NodeCode::StacksDisagree,
            Level::Critical,
            format!(
                "stacks {} and {} share keys ({how}) but their nodes differ: {}; tokens issued in one region fail in the other",
                a.stack,
                b.stack,
                detail.join("; ")
            ),
            "bring every node of both stacks to the shared work directory's keys: `overcloud-keys build` for each stack and deploy both (or `rollout` in each)",
        )
    });
    (
        Relation {
            stacks: [a.stack.clone(), b.stack.clone()],
            shared: true,
            consistent,
            summary,
        },
        finding,
    )
}

type Side<'a> = (&'a StackTarget, &'a Expected, &'a [(String, NodeView)]);

/// Independent stacks: no key file in common between them (work directories and nodes).
fn compare_independent(a: Side, b: Side) -> (Relation, Option<NodeFinding>) {
    let a_keys = key_hashes(a.1, a.2);
    let b_keys = key_hashes(b.1, b.2);
    let common: Vec<String> = a_keys
        .iter()
        .filter_map(|(hash, where_a)| {
            b_keys
                .get(hash)
                .map(|where_b| format!("{} ({} / {})", &hash[..12], where_a, where_b))
        })
        .collect();
    let (sa, sb) = (&a.0.stack, &b.0.stack);
    let consistent = common.is_empty();
    let summary = if consistent {
        format!(
            "stacks {sa} and {sb} are independent: no key in common (neither uses keys_from the other)"
        )
    } else {
        format!(
            "stacks {sa} and {sb} do not share keys by configuration but hold {} key(s) in common",
            common.len()
        )
    };
    let finding = (!consistent).then(|| {
        cross_finding(
            NodeCode::StacksShareKeys,
            Level::Error,
            format!(
                "stacks {sa} and {sb} are independent (no keys_from) but hold the same key(s): {}; each accepts what the other encrypts, and rotating one diverges them silently",
                common.join(", ")
            ),
            "if they are meant to share keys, set keys_from in one stack's config and verify them together with --config; otherwise give one of them its own keys (`overcloud-keys build --new-keys` in a fresh work directory, then deploy)",
        )
    });
    (
        Relation {
            stacks: [sa.clone(), sb.clone()],
            shared: false,
            consistent,
            summary,
        },
        finding,
    )
}

/// SHA-256 of every secret key file, work directory and nodes, with where it was first seen.
fn key_hashes(expected: &Expected, views: &[(String, NodeView)]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (dir, files) in &expected.dirs {
        if !SECRET_DIRS.contains(dir) {
            continue;
        }
        for (name, file) in &files.files {
            out.entry(file.sha256.clone())
                .or_insert_with(|| format!("work directory {dir}/{name}"));
        }
    }
    for (node, view) in views {
        for (dir, files) in secret(&view.host) {
            for (name, file) in files.files {
                if let Some(hash) = file.sha256.filter(|_| file.size > 0) {
                    out.entry(hash)
                        .or_insert_with(|| format!("{node} {dir}/{name}"));
                }
            }
        }
    }
    out
}

fn secret(tree: &Tree) -> Tree {
    tree.iter()
        .filter(|(d, _)| SECRET_DIRS.contains(&d.as_str()))
        .map(|(d, v)| (d.clone(), v.clone()))
        .collect()
}

fn cross_finding(code: NodeCode, level: Level, message: String, fix: &str) -> NodeFinding {
    NodeFinding {
        code,
        level,
        node: String::new(),
        place: None,
        dir: None,
        key: None,
        message,
        fix: fix.to_string(),
    }
}

/// The work directory holding the keys a stack's nodes must hold: with `keys_from`, the
/// other stack's (a sibling of this stack's work directory, as `build` resolves it).
pub fn key_workdir(workdir: &Path, keys_from: Option<&str>) -> PathBuf {
    match keys_from {
        Some(other) => crate::fsutil::parent_of(workdir).join(other),
        None => workdir.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes::remote::{DirView, FileView};

    fn file(hash: char) -> FileView {
        FileView {
            mode: 0o600,
            uid: 42425,
            gid: 42425,
            size: 44,
            kind: "regular file".into(),
            sha256: Some(hash.to_string().repeat(64)),
        }
    }

    fn view(hashes: &[(&str, char)]) -> NodeView {
        let files = hashes
            .iter()
            .map(|(n, h)| (n.to_string(), file(*h)))
            .collect();
        let mut host = Tree::new();
        host.insert(
            dirs::FERNET.into(),
            DirView {
                meta: file('d'),
                files,
            },
        );
        NodeView {
            host,
            container: None,
            engine: None,
            roots_missing: BTreeMap::new(),
        }
    }

    fn expected(hashes: &[(&str, char)]) -> Expected {
        let files = hashes
            .iter()
            .map(|(n, h)| {
                (
                    n.to_string(),
                    expected::ExpectedFile {
                        sha256: h.to_string().repeat(64),
                        mode: 0o600,
                    },
                )
            })
            .collect();
        Expected {
            workdir: PathBuf::from("/w"),
            dirs: [(dirs::FERNET, expected::ExpectedDir { files })].into(),
        }
    }

    fn stack(name: &str, keys_from: Option<&str>) -> StackTarget {
        StackTarget {
            stack: name.into(),
            target: Target {
                inventory: PathBuf::from("/i"),
                roles: vec![],
                layout: crate::artifact::layout::Layout::new(
                    crate::artifact::layout::LayoutKind::Containerized,
                ),
                ssh: Default::default(),
                forks: 1,
            },
            key_workdir: PathBuf::from("/w"),
            keys_from: keys_from.map(String::from),
        }
    }

    #[test]
    fn shared_stacks_must_hold_the_same_keys() {
        let (a, b) = (stack("r1", None), stack("r2", Some("r1")));
        let same = [("ctl-0".to_string(), view(&[("0", 'a'), ("1", 'b')]))];
        let (rel, finding) = compare_shared(&a, &same, &b, &same);
        assert!(rel.shared && rel.consistent && finding.is_none(), "{rel:?}");
        let other = [("ctl-0".to_string(), view(&[("0", 'a'), ("1", 'c')]))];
        let (rel, finding) = compare_shared(&a, &same, &b, &other);
        assert!(!rel.consistent);
        let f = finding.unwrap();
        assert_eq!(f.code, NodeCode::StacksDisagree);
        assert!(
            f.message.contains("r1/ctl-0") && f.message.contains("r2/ctl-0"),
            "{}",
            f.message
        );
        assert!(f.message.contains("r2 renders r1's keys"), "{}", f.message);
    }

    #[test]
    fn independent_stacks_must_not_hold_a_common_key() {
        let (a, b) = (stack("r1", None), stack("r2", None));
        let (ea, eb) = (expected(&[("0", 'a')]), expected(&[("0", 'b')]));
        let va = [("n".to_string(), view(&[("0", 'a')]))];
        let vb = [("m".to_string(), view(&[("0", 'b')]))];
        let (rel, finding) = compare_independent((&a, &ea, &va), (&b, &eb, &vb));
        assert!(!rel.shared && rel.consistent && finding.is_none());
        assert!(rel.summary.contains("independent"), "{}", rel.summary);
        // A key copied by hand onto r2's node.
        let vb = [("m".to_string(), view(&[("0", 'b'), ("1", 'a')]))];
        let (rel, finding) = compare_independent((&a, &ea, &va), (&b, &eb, &vb));
        assert!(!rel.consistent);
        let f = finding.unwrap();
        assert_eq!(f.code, NodeCode::StacksShareKeys);
        assert!(f.message.contains("m fernet-keys/1"), "{}", f.message);
        assert!(
            !f.message.contains(&"a".repeat(64)),
            "short fingerprints only"
        );
    }

    #[test]
    fn keys_from_resolves_to_the_sibling_work_directory() {
        assert_eq!(
            key_workdir(Path::new("/h/overcloud-keys/r2"), Some("r1")),
            PathBuf::from("/h/overcloud-keys/r1")
        );
        assert_eq!(key_workdir(Path::new("/w"), None), PathBuf::from("/w"));
    }
}
