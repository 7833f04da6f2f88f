//! `build`: the undercloud's pre-deploy / redeploy flow. Repositories (created if missing,
//! reused and checked if present, never regenerated) → tarball (reproducible, named by its
//! content hash) → staged artifact → the three environment files → the deploy arguments.
//!
//! Idempotent: a re-run with nothing changed writes nothing and says so. `dry_run` computes
//! the same report and writes nothing.

use std::path::PathBuf;

use serde::Serialize;

pub use crate::artifact::manifest::{
    artifact_name, checksum_path, manifest_path, write_artifact_files,
};
use crate::check::RepoKind;
use crate::config::{ArtifactsMode, Delivery, JwsMode, Settings};
use crate::error::{Error, Result};
use crate::fsutil::WriteAction;
use crate::heat::scoped;
pub use crate::workdir::WorkdirLayout;
pub(crate) use build_plan::{BuildPlan, Preflight};

mod build_plan;
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
    /// PlannedDelivery tarball.
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

/// Runs the whole build: settings checked and the stack's deployed keys protected, then
/// under the work directory's lock the plan (repositories, tarball, environment files,
/// record, computed without writing), then unless `dry_run` the plan carried out.
pub fn build(settings: &Settings, dry_run: bool) -> Result<BuildReport> {
    let preflight = preflight(settings)?;
    // One writer of the work directory at a time (a dry run writes nothing: no lock).
    let _lock = (!dry_run)
        .then(|| crate::fsutil::lock(&settings.workdir))
        .transpose()?;
    let plan = BuildPlan::compute(settings, preflight)?;
    if dry_run {
        plan.preview()
    } else {
        plan.apply()
    }
}

/// What is checked before the lock is taken (so a refusal creates nothing, not even the
/// work directory's parents): the settings, whose repositories the build uses, and that a
/// deployed stack never gets new keys by accident.
pub(crate) fn preflight(settings: &Settings) -> Result<Preflight> {
    let existing = check_settings(settings)?;
    let (local, shared_note) = repos::key_source(settings)?;
    let new_keys_warning = repos::guard_deployed_stack(settings, &local)?;
    Ok(Preflight {
        existing,
        local,
        notes: shared_note.into_iter().chain(new_keys_warning).collect(),
    })
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
