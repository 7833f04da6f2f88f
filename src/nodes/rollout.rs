//! `rollout`: rotate the work directory's Fernet token keys and push them to the keystone
//! nodes one at a time, without a stack update.
//!
//! Order: pre-flight `verify` (every node must hold exactly the work directory's keys; a
//! dry-run `build` must show the render would change nothing else) → guarded rotation of
//! the work directory (`plan::record::rotate`, the `fernet rotate` guard), the previous
//! repository kept in memory → per node: push (`super::push`) and fingerprint again →
//! on any failure: the previous repository pushed back to the nodes already done (and the
//! failing one), the work directory's repository and rotation record restored → `build`
//! renders `fernet.yaml` so the next deploy keeps the rotated keys.
//!
//! Why pushing one node at a time is safe: see `WHY_SAFE`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Target;
use super::error::NodeError;
use super::expected::{self, Expected};
use super::inventory::Node;
use super::push;
use super::verify::{self, NodeFinding, NodeStatus, VerifyReport};
use crate::artifact::layout::dirs;
use crate::check::RepoKind;
use crate::config::Settings;
use crate::error::Result;
use crate::fsutil::{self, SECRET_FILE_MODE};
use crate::keys::fernet::FernetKey;
use crate::keys::repo::{self, KeySet, RepoOptions};
use crate::owner::Owner;
use crate::plan::record::{self, Verdict};
use crate::plan::rotation::Limits;
use crate::workdir::WorkdirLayout;

/// The safety argument, printed by `rollout` and documented in docs/nodes.md.
pub(crate) const WHY_SAFE: &str = "why one node at a time is safe: the key that becomes primary is the old staged key 0, which the pre-flight verify showed every node already holds; an updated node encrypts new tokens with it and the nodes not yet updated decrypt them with their key 0, while tokens the not-yet-updated nodes issue (old primary) decrypt everywhere because the old primary stays as a secondary; the new key 0 is only staged: keystone uses it for decryption only, until the next rotation, by when every node holds it. Keystone reads the key directory on every request (fernet_utils load_keys, no cache), so no restart is needed.";

/// How to run the rollout.
#[derive(Debug, Clone)]
pub struct RolloutOptions {
    /// The guard's limits (max_active_keys from the build record, as `fernet rotate`).
    pub limits: Limits,
    /// Where max_active_keys came from, for the output.
    pub max_active_keys_source: String,
    /// Override drift and the rotation guard (unreachable nodes still refuse).
    pub force: bool,
    /// Verify and plan only.
    pub dry_run: bool,
    /// Now (Unix seconds), for the guard.
    pub now: u64,
}

/// How the rollout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutStatus {
    /// Pre-flight refused; nothing was changed.
    Refused,
    /// `--dry-run`: nothing was changed.
    DryRun,
    /// Every node holds the new repository and fernet.yaml was rendered.
    RolledOut,
    /// Every node holds the new repository, but rendering fernet.yaml failed.
    RenderFailed,
    /// A node failed; what was done was undone (see `restore`).
    Failed,
}

/// What happened on one node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStep {
    /// Inventory name.
    pub node: String,
    /// `user@host:port`.
    pub address: String,
    /// `would-update`, `updated`, `failed`, `not-touched`.
    pub action: &'static str,
    /// The keystone container updated too (`podman`/`docker`).
    pub container: Option<String>,
    /// The SELinux type the new host directory was labeled with, where SELinux is enabled.
    pub selinux: Option<String>,
    /// What failed.
    pub error: Option<String>,
}

/// The node that failed, and how.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// Inventory name.
    pub node: String,
    /// `push` or `confirm` (the fingerprints after the push).
    pub step: &'static str,
    /// What went wrong (never key material).
    pub message: String,
    /// The node could not be reached (exit 3) rather than failing (exit 2).
    pub unreachable: bool,
}

/// One node put back after a failure.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    /// Inventory name.
    pub node: String,
    /// Holds the previous repository again (confirmed by its fingerprints).
    pub ok: bool,
    /// It had not been changed (the failing node, when it failed before its swap).
    pub unchanged: bool,
    /// Why not.
    pub error: Option<String>,
}

/// What the failure handling put back.
#[derive(Debug, Clone, Serialize)]
pub struct Restore {
    /// The nodes already done (and the failing one), in reverse order.
    pub nodes: Vec<Restored>,
    /// The work directory's repository and rotation record are the previous ones again.
    pub workdir: bool,
    /// Why the work directory could not be restored.
    pub workdir_error: Option<String>,
}

/// The rotation of the work directory.
#[derive(Debug, Clone, Serialize)]
pub struct Rotation {
    /// Key numbers before.
    pub before: Vec<u64>,
    /// Key numbers after.
    pub after: Vec<u64>,
    /// The new primary (the old staged key 0, renumbered).
    pub new_primary: u64,
    /// The previous primary, still present as a secondary unless pruned.
    pub old_primary: u64,
    /// Pruned key numbers.
    pub pruned: Vec<u64>,
    /// The guard's verdict.
    pub guard: Verdict,
    /// max_active_keys and where it came from.
    pub max_active_keys: String,
    /// Guard warnings (forced, unchecked, record not written).
    pub warnings: Vec<String>,
}

/// The rendered fernet.yaml.
#[derive(Debug, Clone, Serialize)]
pub struct Rendered {
    /// The environment file.
    pub fernet_yaml: PathBuf,
    /// What build did to it.
    pub action: crate::fsutil::WriteAction,
    /// `openstack overcloud deploy` arguments.
    pub deploy_args: Vec<String>,
}

/// Everything `rollout` did.
#[derive(Debug, Clone, Serialize)]
pub struct RolloutReport {
    /// How it ended.
    pub status: RolloutStatus,
    /// The work directory's Fernet repository.
    pub repository: PathBuf,
    /// The pre-flight verify.
    pub verify: VerifyReport,
    /// Why it was refused (nothing changed).
    pub refused: Option<String>,
    /// What `--force` overrode.
    pub overridden: Vec<String>,
    /// The rotation (planned, in a dry run).
    pub rotation: Option<Rotation>,
    /// Per node, in push order.
    pub nodes: Vec<NodeStep>,
    /// The failure, if any.
    pub failure: Option<Failure>,
    /// What the failure handling put back.
    pub restore: Option<Restore>,
    /// fernet.yaml, once rendered.
    pub render: Option<Rendered>,
    /// Why rendering failed (the nodes and work directory hold the new keys).
    pub render_error: Option<String>,
    /// The safety argument.
    pub why_safe: &'static str,
}

impl RolloutReport {
    fn new(repository: PathBuf, verify: VerifyReport) -> Self {
        RolloutReport {
            status: RolloutStatus::Refused,
            repository,
            verify,
            refused: None,
            overridden: vec![],
            rotation: None,
            nodes: vec![],
            failure: None,
            restore: None,
            render: None,
            render_error: None,
            why_safe: WHY_SAFE,
        }
    }
}

/// Runs the rollout (see the module docs). Errors before anything changed are `Err`; a
/// refusal, a dry run and a failure after changes are a report.
pub fn rollout(
    target: &Target,
    settings: &Settings,
    opts: &RolloutOptions,
) -> Result<RolloutReport> {
    let workdir = &settings.workdir;
    // Refuse a work directory someone else could have changed (modes are left to `build`).
    crate::workdir::secure(workdir, &settings.artifact_dir, true)?;
    let fernet = WorkdirLayout::new(workdir).fernet;
    let before_expected = expected::expected(workdir)?;
    let nodes = target.nodes()?;
    let root = target.root();
    let scans = verify::scan(&nodes, &root, &target.ssh, target.forks);
    let report = verify::compare(&before_expected, &nodes, &scans, target.owner());
    let mut out = RolloutReport::new(fernet.clone(), report);

    // 1. Pre-flight: every node reached and identical to the work directory.
    if let Some(refusal) = preflight_refusal(&mut out, opts) {
        out.refused = Some(refusal);
        return Ok(out);
    }
    // The render must change nothing but the keys: same settings as the last build.
    if let Some(refusal) = render_refusal(settings)? {
        out.refused = Some(refusal);
        return Ok(out);
    }

    // 2. The rotation (the guard of `fernet rotate`), previous repository kept in memory.
    let previous = repo::load(&fernet, RepoKind::Fernet)?;
    let previous_record = read_record(&fernet)?;
    if opts.dry_run {
        dry_run(&mut out, &fernet, &previous, &nodes, opts)?;
        return Ok(out);
    }
    let new = rotate(&mut out, &fernet, &previous, opts)?;
    let new_expected = fernet_only(expected::expected(workdir)?);
    let old_expected = fernet_only(before_expected);

    // 3-4. One node at a time: push, then fingerprint again.
    if let Some((node, done)) = push_each(target, &nodes, &new, &new_expected, &mut out) {
        out.restore = Some(put_back(
            target,
            node,
            &done,
            &previous,
            &old_expected,
            &fernet,
            previous_record.as_deref(),
        ));
        out.status = RolloutStatus::Failed;
        return Ok(out);
    }

    // 6. fernet.yaml as build renders it, so the next deploy keeps the rotated keys.
    render_after(settings, &mut out);
    Ok(out)
}

/// The rotation record as it was before the rollout (`None` when there is none), kept so a
/// failure can put it back.
fn read_record(fernet: &Path) -> Result<Option<Vec<u8>>> {
    let record_file = record::record_path(fernet);
    match std::fs::read(&record_file) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(fsutil::io_err("read", &record_file)(e)),
    }
}

/// Rotates the work directory's Fernet repository under the guard of `fernet rotate`,
/// records the rotation in the report, and returns the rotated repository.
fn rotate(
    out: &mut RolloutReport,
    fernet: &Path,
    previous: &KeySet,
    opts: &RolloutOptions,
) -> Result<KeySet> {
    let old_primary = previous.keys().next_back().copied().unwrap_or(0);
    let repo_opts = RepoOptions {
        kind: RepoKind::Fernet,
        owner: Owner::current(),
        max_active_keys: opts.limits.max_active_keys,
    };
    let guarded = record::rotate(fernet, &repo_opts, &opts.limits, opts.force, opts.now)?;
    let new = repo::load(fernet, RepoKind::Fernet)?;
    let after: Vec<u64> = new.keys().copied().collect();
    let mut rotation = rotation_of(
        previous,
        &after,
        old_primary,
        guarded.verdict.clone(),
        opts,
        guarded.warnings.clone(),
    );
    rotation.pruned = guarded.outcome.pruned.clone();
    out.rotation = Some(rotation);
    Ok(new)
}

/// Pushes the new keys to one node at a time and confirms each by fingerprint, recording
/// every step. Stops at the first failure: records it (later nodes not touched) and returns
/// the failed node with the nodes already updated, for the restore; `None` when all took them.
fn push_each<'n>(
    target: &Target,
    nodes: &'n [Node],
    new: &KeySet,
    new_expected: &Expected,
    out: &mut RolloutReport,
) -> Option<(&'n Node, Vec<&'n Node>)> {
    let mut done: Vec<&Node> = vec![];
    for node in nodes {
        match push_and_confirm(target, node, new, new_expected) {
            Ok(pushed) => {
                let mut updated = step(node, "updated", pushed.container.clone(), None);
                updated.selinux = pushed.selinux;
                out.nodes.push(updated);
                done.push(node);
            }
            Err(failure) => {
                out.nodes
                    .push(step(node, "failed", None, Some(failure.message.clone())));
                out.failure = Some(failure);
                for rest in nodes.iter().skip(out.nodes.len()) {
                    out.nodes.push(step(rest, "not-touched", None, None));
                }
                return Some((node, done));
            }
        }
    }
    None
}

/// Why the rollout must not start: a node not reached (never overridable), or drift
/// without `--force` (with it, the override is recorded in the report).
fn preflight_refusal(out: &mut RolloutReport, opts: &RolloutOptions) -> Option<String> {
    let unreached: Vec<&str> = out
        .verify
        .nodes
        .iter()
        .filter(|n| {
            matches!(
                n.status,
                NodeStatus::Unreachable | NodeStatus::InventoryProblem
            )
        })
        .map(|n| n.node.as_str())
        .collect();
    if !unreached.is_empty() {
        return Some(format!(
            "node(s) {} not reached: every keystone node must be checked and updated (--force does not override this)",
            unreached.join(", ")
        ));
    }
    if !out.verify.findings.is_empty() {
        let drift = drift_summary(&out.verify.findings);
        if !opts.force {
            return Some(format!(
                "the nodes do not hold exactly the work directory's keys ({drift}): nothing was changed"
            ));
        }
        out.overridden.push(format!(
            "--force: drift overridden ({drift}); those nodes' fernet-keys will be replaced by the work directory's, and a node that lacked the staged key 0 cannot decrypt tokens of updated nodes until it is updated"
        ));
    }
    None
}

/// Why the rollout must not start when `build` with these settings (a dry run) would change
/// more than the keys: the last build used other settings.
fn render_refusal(settings: &Settings) -> Result<Option<String>> {
    let plan = crate::pipeline::build(settings, true)?;
    if plan.changed {
        let what: Vec<String> = plan
            .env_files
            .iter()
            .filter(|e| e.action != fsutil::WriteAction::Unchanged)
            .map(|e| e.path.display().to_string())
            .chain(
                plan.repositories
                    .iter()
                    .filter(|r| r.action != crate::pipeline::RepoAction::Reused)
                    .map(|r| r.path.display().to_string()),
            )
            .collect();
        return Ok(Some(format!(
            "`build` with these settings would change more than the keys ({}): pass the --config of the last build (or run `overcloud-keys build` first, and deploy what it renders); nothing was changed",
            if what.is_empty() {
                "the artifact or build record".to_string()
            } else {
                what.join(", ")
            }
        )));
    }
    Ok(None)
}

/// `--dry-run`: what the guard says and which keys the rotation would leave; nothing
/// is written and no node is touched.
fn dry_run(
    out: &mut RolloutReport,
    fernet: &Path,
    previous: &KeySet,
    nodes: &[Node],
    opts: &RolloutOptions,
) -> Result<()> {
    let old_primary = previous.keys().next_back().copied().unwrap_or(0);
    let record = record::load(fernet)?;
    let fingerprints: BTreeMap<u64, String> = previous
        .iter()
        .map(|(n, k)| (*n, k.fingerprint()))
        .collect();
    let guard = record::judge(&fingerprints, &record, &opts.limits, opts.now);
    let after: Vec<u64> = repo::rotate_keys(
        previous,
        FernetKey::from_bytes([0; 32]),
        opts.limits.max_active_keys,
    )
    .into_keys()
    .collect();
    let mut warnings = vec![];
    if let Verdict::Unsafe {
        pruned, safe_at, ..
    } = &guard
    {
        let note = format!(
            "the rotation would delete key {pruned} while tokens it encrypted may still be in use (safe from {})",
            crate::plan::rotation::utc(*safe_at)
        );
        if opts.force {
            out.overridden.push(format!("--force: {note}"));
        } else {
            warnings.push(format!(
                "{note}: the real run refuses (exit 2) without --force"
            ));
        }
    }
    out.rotation = Some(rotation_of(
        previous,
        &after,
        old_primary,
        guard,
        opts,
        warnings,
    ));
    out.nodes = nodes
        .iter()
        .map(|n| step(n, "would-update", None, None))
        .collect();
    out.status = RolloutStatus::DryRun;
    Ok(())
}

/// After a failure on `node`: put back the previous repository there (when it was
/// changed), then on the nodes already done (last first), then in the work directory.
fn put_back(
    target: &Target,
    node: &Node,
    done: &[&Node],
    previous: &KeySet,
    old_expected: &Expected,
    fernet: &Path,
    previous_record: Option<&[u8]>,
) -> Restore {
    // 5. Put everything back: the failing node first when it was changed (a
    // failure in its container step leaves its host updated; a node that
    // became unreachable may have run the whole push before the connection
    // dropped, so it is asked too and, if it stays unreachable, reported as
    // not put back), then the nodes already done, last first.
    let unchanged = confirm(target, node, old_expected).is_ok();
    let mut restored_nodes = vec![if unchanged {
        Restored {
            node: node.name.clone(),
            ok: true,
            unchanged: true,
            error: None,
        }
    } else {
        restore_node(target, node, previous, old_expected)
    }];
    for n in done.iter().rev() {
        restored_nodes.push(restore_node(target, n, previous, old_expected));
    }
    let workdir_result = restore_workdir(fernet, previous, previous_record);
    Restore {
        nodes: restored_nodes,
        workdir: workdir_result.is_ok(),
        workdir_error: workdir_result.err().map(|e| e.to_string()),
    }
}

/// Renders `fernet.yaml` as `build` does, so the next deploy keeps the rotated keys.
fn render_after(settings: &Settings, out: &mut RolloutReport) {
    match crate::pipeline::build(settings, false) {
        Ok(built) => {
            let path = settings.workdir.join(crate::heat::names::FERNET);
            let action = built
                .env_files
                .iter()
                .find(|e| e.path == path)
                .map(|e| e.action)
                .unwrap_or(fsutil::WriteAction::Unchanged);
            out.render = Some(Rendered {
                fernet_yaml: path,
                action,
                deploy_args: built.deploy_args,
            });
            out.status = RolloutStatus::RolledOut;
        }
        Err(err) => {
            out.render_error = Some(err.to_string());
            out.status = RolloutStatus::RenderFailed;
        }
    }
}

fn rotation_of(
    previous: &KeySet,
    after: &[u64],
    old_primary: u64,
    guard: Verdict,
    opts: &RolloutOptions,
    warnings: Vec<String>,
) -> Rotation {
    let before: Vec<u64> = previous.keys().copied().collect();
    Rotation {
        pruned: before
            .iter()
            .filter(|n| **n != 0 && !after.contains(n))
            .copied()
            .collect(),
        new_primary: after.iter().max().copied().unwrap_or(0),
        before,
        after: after.to_vec(),
        old_primary,
        guard,
        max_active_keys: opts.max_active_keys_source.clone(),
        warnings,
    }
}

fn step(
    node: &Node,
    action: &'static str,
    container: Option<String>,
    error: Option<String>,
) -> NodeStep {
    NodeStep {
        node: node.name.clone(),
        address: verify::address(node),
        action,
        container,
        selinux: None,
        error,
    }
}

fn drift_summary(findings: &[NodeFinding]) -> String {
    let mut by_node: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for f in findings {
        let node = if f.node.is_empty() { "all" } else { &f.node };
        by_node.entry(node).or_default().push(f.code.as_str());
    }
    by_node
        .iter()
        .map(|(n, codes)| format!("{n}: {}", codes.join(" ")))
        .collect::<Vec<_>>()
        .join("; ")
}

fn fernet_only(mut expected: Expected) -> Expected {
    expected.dirs.retain(|d, _| *d == dirs::FERNET);
    expected
}

fn restore_node(target: &Target, node: &Node, previous: &KeySet, want: &Expected) -> Restored {
    match push_and_confirm(target, node, previous, want) {
        Ok(_) => Restored {
            node: node.name.clone(),
            ok: true,
            unchanged: false,
            error: None,
        },
        Err(f) => Restored {
            node: node.name.clone(),
            ok: false,
            unchanged: false,
            error: Some(format!("{}: {}", f.step, f.message)),
        },
    }
}

/// Pushes `keys` to `node` and checks its fingerprints show exactly them (host and
/// container) with mode 0600/0700 and keystone's owner.
fn push_and_confirm(
    target: &Target,
    node: &Node,
    keys: &KeySet,
    want: &Expected,
) -> std::result::Result<push::Pushed, Failure> {
    let root = target.root();
    let fail = |step: &'static str, err: &NodeError| Failure {
        node: node.name.clone(),
        step,
        message: err.to_string(),
        unreachable: push::is_unreachable(err),
    };
    let pushed = push::push(node, &root, &target.ssh, keys).map_err(|e| fail("push", &e))?;
    confirm(target, node, want)?;
    Ok(pushed)
}

/// Whether `node`'s fingerprints show exactly `want`'s Fernet repository (host and
/// container), mode 0600/0700 and keystone's owner.
fn confirm(target: &Target, node: &Node, want: &Expected) -> std::result::Result<(), Failure> {
    let root = target.root();
    let scans = verify::scan(std::slice::from_ref(node), &root, &target.ssh, 1);
    if let Err(err) = &scans[0] {
        return Err(Failure {
            node: node.name.clone(),
            step: "confirm",
            message: err.to_string(),
            unreachable: push::is_unreachable(err),
        });
    }
    let report = verify::compare(want, std::slice::from_ref(node), &scans, target.owner());
    let wrong: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.dir.as_deref() == Some(dirs::FERNET))
        .map(|f| {
            format!(
                "{} {} {}/{}",
                f.code,
                f.place.unwrap_or(""),
                dirs::FERNET,
                f.key.as_deref().unwrap_or("")
            )
        })
        .collect();
    if !wrong.is_empty() {
        return Err(Failure {
            node: node.name.clone(),
            step: "confirm",
            message: format!(
                "after the push the node does not hold exactly the repository sent: {}",
                wrong.join(", ")
            ),
            unreachable: false,
        });
    }
    Ok(())
}

/// The work directory's previous repository and rotation record, back in place.
fn restore_workdir(
    fernet: &std::path::Path,
    previous: &KeySet,
    record_bytes: Option<&[u8]>,
) -> Result<()> {
    repo::commit(fernet, previous, &Owner::current())?;
    let path = record::record_path(fernet);
    match record_bytes {
        Some(bytes) => fsutil::write_file_atomic(&path, bytes, SECRET_FILE_MODE, &Owner::current()),
        None if path.exists() => fsutil::remove_file_durable(&path),
        None => Ok(()),
    }
}
