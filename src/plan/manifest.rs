//! Key manifests: what a node's repositories hold, as fingerprints only (kind, and per key
//! its name, role and SHA-256 fingerprint: never key material), so the repositories of
//! several nodes can be compared without copying keys off them. `repo manifest` writes one
//! on each node; `repo check DIR --against NODE.json...` compares the local repository
//! (the reference, e.g. the undercloud's) with every node's and names the node that
//! differs, using the same comparison (`check::compare`) as `repo check` on several
//! directories.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::check::{self, Finding, FindingCode, KeyEntry, RepoKind, RepoReport, Severity};
use crate::error::{Error, Result};
use crate::fsutil;

/// Manifest format version.
pub(crate) const FORMAT: u32 = 1;

/// A node's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version (`FORMAT`).
    pub format: u32,
    /// The node it describes (host name unless given).
    pub node: String,
    /// Tool and version that wrote it.
    pub generated_by: String,
    /// One entry per repository.
    pub repositories: Vec<ManifestRepo>,
}

/// One repository of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRepo {
    /// The directory on the node.
    pub path: PathBuf,
    /// `fernet`, `receipt`, `credential` or `jws`.
    pub kind: String,
    /// Keys, by file name.
    pub keys: Vec<ManifestKey>,
    /// `repo check` findings on the node (codes, messages and fixes; no key material).
    #[serde(default)]
    pub findings: Vec<ManifestFinding>,
}

/// One key, without its material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestKey {
    /// File name.
    pub name: String,
    /// staged / primary / secondary, or private / staged-private / public for JWS.
    pub role: String,
    /// SHA-256 of the raw key (Fernet kinds) or of the DER public key (JWS).
    pub sha256: String,
}

/// A finding as a manifest carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFinding {
    /// Stable finding code.
    pub code: String,
    /// error / warning.
    pub severity: String,
    /// Path on the node.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
    /// What to do.
    #[serde(default)]
    pub fix: String,
}

fn kind_name(kind: RepoKind) -> String {
    kind.to_string()
}

fn parse_kind(name: &str) -> Option<RepoKind> {
    Some(match name {
        "fernet" => RepoKind::Fernet,
        "receipt" => RepoKind::Receipt,
        "credential" => RepoKind::Credential,
        "jws" => RepoKind::Jws,
        _ => return None,
    })
}

/// The manifest of `reports` (from `check::check_path`) for `node`.
pub fn from_reports(node: &str, reports: &[RepoReport]) -> Manifest {
    Manifest {
        format: FORMAT,
        node: node.to_string(),
        generated_by: format!("overcloud-keys {}", env!("CARGO_PKG_VERSION")),
        repositories: reports
            .iter()
            .map(|r| ManifestRepo {
                path: r.path.clone(),
                kind: kind_name(r.kind),
                keys: r
                    .keys
                    .iter()
                    .map(|k| ManifestKey {
                        name: k.name.clone(),
                        role: k.role.clone(),
                        sha256: k.fingerprint.clone(),
                    })
                    .collect(),
                findings: r
                    .findings
                    .iter()
                    .map(|f| ManifestFinding {
                        code: f.code.to_string(),
                        severity: match f.severity {
                            Severity::Error => "error",
                            Severity::Warning => "warning",
                        }
                        .into(),
                        path: f.path.clone(),
                        message: f.message.clone(),
                        fix: f.fix.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// This machine's host name (for `--node`'s default).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Reads a manifest file, checking its format and that every fingerprint is 64 hex digits.
pub fn load(path: &Path) -> Result<Manifest> {
    let bad = |message: String| Error::Manifest {
        path: path.to_path_buf(),
        message,
    };
    let bytes = fsutil::read_small(path)?;
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a key manifest ({e})")))?;
    if manifest.format != FORMAT {
        return Err(bad(format!(
            "manifest format {} (this version reads {FORMAT})",
            manifest.format
        )));
    }
    for repo in &manifest.repositories {
        if parse_kind(&repo.kind).is_none() {
            return Err(bad(format!("unknown repository kind {:?}", repo.kind)));
        }
        for key in &repo.keys {
            if key.sha256.len() != 64 || !key.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad(format!(
                    "key {} of {} has no SHA-256 fingerprint",
                    key.name,
                    repo.path.display()
                )));
            }
        }
    }
    Ok(manifest)
}

/// A manifest repository as a `RepoReport` whose path names the node: `node:/path`.
fn as_report(node: &str, repo: &ManifestRepo) -> RepoReport {
    let path = PathBuf::from(format!("{node}:{}", repo.path.display()));
    RepoReport {
        kind: parse_kind(&repo.kind).unwrap_or(RepoKind::Fernet),
        keys: repo
            .keys
            .iter()
            .map(|k| KeyEntry {
                name: k.name.clone(),
                index: check::parse_key_name(&k.name).unwrap_or(0),
                role: k.role.clone(),
                fingerprint: k.sha256.to_ascii_lowercase(),
            })
            .collect(),
        findings: repo
            .findings
            .iter()
            // Codes this version does not know are dropped.
            .filter_map(|f| {
                let code = *FindingCode::ALL.iter().find(|c| c.as_str() == f.code)?;
                Some(Finding {
                    code,
                    severity: if f.severity == "warning" {
                        Severity::Warning
                    } else {
                        Severity::Error
                    },
                    path: PathBuf::from(format!("{node}:{}", f.path.display())),
                    message: f.message.clone(),
                    fix: f.fix.clone(),
                })
            })
            .collect(),
        path,
    }
}

/// The repository of `manifest` that corresponds to `local`: same kind and directory name,
/// else the only one of that kind.
fn counterpart<'a>(local: &RepoReport, manifest: &'a Manifest) -> Option<&'a ManifestRepo> {
    let same_kind: Vec<&ManifestRepo> = manifest
        .repositories
        .iter()
        .filter(|r| parse_kind(&r.kind) == Some(local.kind))
        .collect();
    same_kind
        .iter()
        .find(|r| r.path.file_name() == local.path.file_name())
        .or_else(|| (same_kind.len() == 1).then(|| &same_kind[0]))
        .copied()
}

/// The nodes' repositories and the differences found.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// One report per (local repository, node), path `node:/path`, with the node's findings.
    pub nodes: Vec<RepoReport>,
    /// `repos-out-of-sync` findings, each naming the node.
    pub out_of_sync: Vec<Finding>,
}

/// Compares each local repository (the reference) with its counterpart on every node.
pub fn compare_against(local: &[RepoReport], manifests: &[(PathBuf, Manifest)]) -> Comparison {
    let mut nodes = vec![];
    let mut out_of_sync = vec![];
    for reference in local {
        for (file, manifest) in manifests {
            match counterpart(reference, manifest) {
                Some(repo) => {
                    let node = as_report(&manifest.node, repo);
                    out_of_sync.extend(check::compare(&[reference.clone(), node.clone()]));
                    nodes.push(node);
                }
                None => out_of_sync.push(Finding {
                    code: FindingCode::ReposOutOfSync,
                    severity: Severity::Error,
                    path: PathBuf::from(format!("{}:", manifest.node)),
                    message: format!(
                        "node {} has no {} repository in its manifest {} (reference {})",
                        manifest.node,
                        reference.kind,
                        file.display(),
                        reference.path.display()
                    ),
                    fix: format!(
                        "make the manifest on {} with that repository's directory, or redeploy so it has one",
                        manifest.node
                    ),
                }),
            }
        }
    }
    Comparison { nodes, out_of_sync }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(path: &str, keys: &[(&str, &str)]) -> RepoReport {
        RepoReport {
            path: path.into(),
            kind: RepoKind::Fernet,
            keys: keys
                .iter()
                .map(|(n, fp)| KeyEntry {
                    name: n.to_string(),
                    index: n.parse().unwrap(),
                    role: "secondary".into(),
                    fingerprint: fp.repeat(64),
                })
                .collect(),
            findings: vec![],
        }
    }

    #[test]
    fn manifest_round_trips_and_carries_no_material() {
        let m = from_reports(
            "controller-0",
            &[report("/k/fernet-keys", &[("0", "a"), ("1", "b")])],
        );
        let text = serde_json::to_string(&m).unwrap();
        assert!(!text.contains("content"));
        assert_eq!(serde_json::from_str::<Manifest>(&text).unwrap(), m);
    }

    #[test]
    fn the_node_that_differs_is_named() {
        let local = report(
            "/wd/keys/fernet-keys",
            &[("0", "a"), ("1", "b"), ("2", "c")],
        );
        let good = from_reports(
            "controller-0",
            &[report(
                "/n/fernet-keys",
                &[("0", "a"), ("1", "b"), ("2", "c")],
            )],
        );
        let stale = from_reports(
            "controller-1",
            &[report("/n/fernet-keys", &[("0", "c"), ("1", "b")])],
        );
        let cmp = compare_against(
            &[local],
            &[("c0.json".into(), good), ("c1.json".into(), stale)],
        );
        assert_eq!(cmp.nodes.len(), 2);
        assert_eq!(cmp.out_of_sync.len(), 1);
        let f = &cmp.out_of_sync[0];
        assert_eq!(f.code, FindingCode::ReposOutOfSync);
        assert!(f.path.starts_with("controller-1:"), "{}", f.path.display());
        assert!(
            f.message.contains("2 missing") && f.message.contains("0 differs"),
            "{}",
            f.message
        );
    }

    #[test]
    fn a_node_without_the_repository_is_out_of_sync() {
        let local = report("/wd/keys/fernet-keys", &[("0", "a")]);
        let empty = Manifest {
            format: 1,
            node: "compute-0".into(),
            generated_by: String::new(),
            repositories: vec![],
        };
        let cmp = compare_against(&[local], &[("x.json".into(), empty)]);
        assert_eq!(cmp.out_of_sync.len(), 1);
        assert!(cmp.out_of_sync[0].message.contains("compute-0"));
    }
}
