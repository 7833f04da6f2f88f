//! `build`: the undercloud's pre-deploy / redeploy flow. Repositories (created if missing,
//! reused and checked if present, never regenerated) → tarball (reproducible, named by its
//! content hash) → staged artifact → the three environment files → the deploy arguments.
//!
//! Idempotent: a re-run with nothing changed writes nothing and says so. `dry_run` computes
//! the same report and writes nothing.

use std::path::PathBuf;

use serde::Serialize;

use crate::artifact::LayoutKind;
pub use crate::artifact::manifest::{
    artifact_name, checksum_path, manifest_path, write_artifact_files,
};
use crate::check::RepoKind;
use crate::config::{ArtifactsMode, Delivery, JwsMode, Settings};
use crate::error::{Error, Result};
use crate::fsutil::WriteAction;
use crate::heat::scoped;
pub use crate::workdir::WorkdirLayout;
use delivery::Staged;

mod delivery;
mod envs;
pub mod render;
mod repos;

/// A repository the build used.
#[derive(Debug, Clone, Serialize)]
pub struct RepoStep {
    /// Kind of keys.
    pub kind: RepoKind,
    /// Local directory.
    pub path: PathBuf,
    /// What the build did with it.
    pub action: RepoAction,
}

crate::codes::stable_codes! {
    /// What `build` did with a repository.
    pub enum RepoAction, REPO_ACTIONS {
        /// Missing: created.
        Created => "created",
        /// There: used as it is (never regenerated).
        Reused => "reused",
        /// Missing, dry run: would be created.
        WouldCreate => "would-create",
    }
}

/// The artifact the build staged.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactStep {
    /// Staged tarball.
    pub path: PathBuf,
    /// SHA-256 of the tarball.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// What happened to the file.
    pub action: WriteAction,
    /// The JSON manifest next to it.
    pub manifest: PathBuf,
    /// Key kinds it carries.
    pub carries: Vec<RepoKind>,
    /// Older artifacts of this stack that were removed (they held superseded keys).
    pub removed: Vec<PathBuf>,
}

/// An environment file the build rendered.
#[derive(Debug, Clone, Serialize)]
pub struct EnvStep {
    /// Where.
    pub path: PathBuf,
    /// What happened to the file.
    pub action: WriteAction,
    /// Holds key material (mode 0600).
    pub secret: bool,
    /// Part of the printed deploy arguments.
    pub deploy: bool,
}

/// Which secret reaches which nodes, and how.
#[derive(Debug, Clone, Serialize)]
pub struct SecretReach {
    /// The secret.
    pub secret: String,
    /// Delivery path.
    pub via: String,
    /// Nodes that receive it.
    pub roles: String,
}

/// Everything a build did, for people and pipelines.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    /// The resolved settings.
    pub settings: Settings,
    /// Nothing was written.
    pub dry_run: bool,
    /// True when any file was (or would be) created or changed.
    pub changed: bool,
    /// Repositories.
    pub repositories: Vec<RepoStep>,
    /// The artifact, when there is anything to deliver by tarball.
    pub artifact: Option<ArtifactStep>,
    /// Rendered environment files.
    pub env_files: Vec<EnvStep>,
    /// Arguments to add to `openstack overcloud deploy`.
    pub deploy_args: Vec<String>,
    /// Artifact delivery mode.
    pub delivery: Delivery,
    /// Who receives which secret.
    pub secrets: Vec<SecretReach>,
    /// Things the operator must know.
    pub warnings: Vec<String>,
}

/// Runs the whole build: settings checked, repositories ensured (or the stack's deployed
/// keys protected), then the tarball, then the environment files, then the record.
pub fn build(settings: &Settings, dry_run: bool) -> Result<BuildReport> {
    let existing = check_settings(settings)?;
    let (local, shared_note) = repos::key_source(settings)?;
    let new_keys_warning = repos::guard_deployed_stack(settings, &local)?;
    // One writer of the work directory at a time (a dry run writes nothing: no lock).
    let _lock = (!dry_run)
        .then(|| crate::fsutil::lock(&settings.workdir))
        .transpose()?;
    let tightened = crate::workdir::secure(&settings.workdir, &settings.artifact_dir, dry_run)?;
    repos::prepare_workdir(&settings.workdir, dry_run)?;
    if !dry_run {
        // Temporary files of runs killed mid-write (superseded keys, the JWS private key).
        for dir in [settings.workdir.clone(), settings.workdir.join("keys")] {
            crate::fsutil::sweep_temp_files(&dir);
        }
    }
    let repositories = repos::ensure_all(settings, &local, dry_run)?;
    let mut report = BuildReport {
        settings: settings.clone(),
        dry_run,
        changed: !tightened.is_empty()
            || repositories.iter().any(|r| r.action != RepoAction::Reused),
        repositories,
        artifact: None,
        env_files: vec![],
        deploy_args: vec![],
        delivery: Delivery::AllRoles,
        secrets: vec![],
        warnings: shared_note
            .into_iter()
            .chain(new_keys_warning)
            .chain(tightened)
            .collect(),
    };
    if report
        .repositories
        .iter()
        .any(|r| r.action == RepoAction::WouldCreate)
    {
        report.warnings.push("dry run: repositories do not exist yet, so the artifact and environment files cannot be computed; run without --dry-run".into());
        return Ok(report);
    }
    // Validates (full repo check) every repository, including the ones only rendered.
    let keys = repos::load_rendered(&local)?;
    let staged = delivery::stage(settings, &local, dry_run, &mut report)?;
    let mut env_files = vec![
        envs::fernet_env(settings, &local, &keys, dry_run)?,
        envs::artifacts_env(settings, &staged, &report, dry_run)?,
    ];
    env_files.extend(envs::scoped_envs(
        settings,
        &existing,
        &staged,
        dry_run,
        &mut report.warnings,
    )?);
    if settings.jws != JwsMode::Off {
        env_files.push(envs::jws_env(settings, dry_run, &mut report.warnings)?);
    }
    finish(settings, dry_run, &staged, env_files, &mut report)?;
    Ok(report)
}

/// Settings the build cannot work with, before anything is read or written.
/// Returns the `<Role>ExtraConfigPre` mappings of the `--check-env` files (parsed once).
fn check_settings(settings: &Settings) -> Result<Vec<scoped::ExistingMapping>> {
    check_name_lengths(&settings.stack)?;
    if settings.artifacts == ArtifactsMode::Swift {
        crate::swift::upload::validate_container(&settings.swift.container)?;
        crate::swift::upload::validate_expiry(settings.swift.expiry)?;
    }
    if settings.separate_receipts && settings.jws == JwsMode::Off {
        return Err(Error::Config {
            file: "settings".into(),
            message: "separate_receipts needs jws = stage or enable; with the Fernet provider receipts share the token keys".into(),
        });
    }
    if let Some(roles_data) = &settings.roles_data {
        scoped::check_roles(&settings.roles, roles_data)?;
    }
    scoped::existing_mappings(&settings.check_env)
}

/// Every file name derived from the stack fits NAME_MAX (255 bytes), checked before the
/// first write: the longest is an artifact's manifest while it is staged under a temporary
/// name (`overcloud-keys-<stack>-<12 hex>.tar.gz.manifest.json<marker>-<pid>-<nanos>`).
fn check_name_lengths(stack: &str) -> Result<()> {
    const NAME_MAX: usize = 255;
    let longest = format!(
        "{}.manifest.json{}-{}-{}",
        crate::artifact::manifest::artifact_name(stack, &"0".repeat(64)),
        crate::fsutil::TEMP_MARKER,
        u32::MAX,
        u64::MAX
    );
    if longest.len() <= NAME_MAX {
        return Ok(());
    }
    let most = NAME_MAX - (longest.len() - stack.len());
    Err(Error::InvalidValue {
        name: "stack",
        value: format!(
            "{}... ({} bytes)",
            stack.chars().take(40).collect::<String>(),
            stack.len()
        ),
        reason: format!(
            "too long: the artifact's file names would exceed the file system's 255-byte limit; use a stack name of at most {most} bytes"
        ),
    })
}

/// The deploy arguments, whether anything changed, the build record, and who receives what.
fn finish(
    settings: &Settings,
    dry_run: bool,
    staged: &Staged,
    env_files: Vec<EnvStep>,
    report: &mut BuildReport,
) -> Result<()> {
    report.deploy_args = env_files
        .iter()
        .filter(|e| e.deploy)
        .flat_map(|e| ["-e".to_string(), e.path.display().to_string()])
        .collect();
    report.changed |= env_files.iter().any(|e| e.action != WriteAction::Unchanged)
        || report
            .artifact
            .as_ref()
            .is_some_and(|a| a.action != WriteAction::Unchanged || !a.removed.is_empty());
    report.env_files = env_files;
    // For later commands on this work directory (`fernet rotate` reads max_active_keys).
    let record = crate::build_record::BuildRecord {
        format: crate::build_record::FORMAT,
        stack: settings.stack.clone(),
        release: settings.release,
        max_active_keys: settings.max_active_keys,
    };
    report.changed |= record.write(&settings.workdir, dry_run)? != WriteAction::Unchanged;
    let baremetal = settings.layout == LayoutKind::Baremetal;
    report.secrets = delivery::reach(settings, &staged.sources, baremetal, staged.scoped);
    let secrets = delivery::describe_artifact(&staged.sources);
    if !staged.scoped && !secrets.is_empty() {
        report.warnings.push(format!(
            "all-roles delivery: the artifact puts these secrets on every node of every role, not only {}: {}",
            settings.roles.join(", "),
            secrets.join(", ")
        ));
    }
    Ok(())
}
