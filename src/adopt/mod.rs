//! `adopt`: import the keys a deployed overcloud already uses into the work directory, so
//! the next `build` renders them instead of minting keys that would log out every user and
//! make every stored credential undecryptable.
//!
//! Invariants: the deployed keys are imported byte for byte with their indices; they are
//! written with the same atomic, 0600/0700 machinery as every repository (`repo::commit`),
//! then checked; a work directory that already holds other keys is never replaced silently
//! (only with `replace_workdir`, which keeps the replaced repositories in
//! `keys/replaced-<unix time>/`). `dry_run` writes nothing.
//!
//! The trap (see `docs/adoption-sources.md`): tripleoclient merges its own generated passwords
//! before the operator's `-e` files, so after a deploy with our `fernet.yaml` the passwords
//! file (or plan environment) still holds tripleoclient's keys, which never reached a node.
//! When the work directory's own `fernet.yaml` renders exactly its repositories and the
//! other source shares no key with them, the work directory is what was deployed: nothing
//! is imported.

pub(crate) mod source;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::check::{self, CheckOptions, RepoKind};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::heat;
use crate::keys::repo::{self, KeySet};
use crate::owner::Owner;
use crate::swift::ConnectOptions;
use crate::swift::download::{self, PlanProbe};
use crate::workdir::WorkdirLayout;
use source::DeployedKeys;

/// Largest passwords file, environment or plan export read.
const MAX_INPUT: u64 = 64 << 20;

/// `~/overcloud-deploy/<stack>/<stack>-passwords.yaml`: where tripleoclient (OSP 17) keeps
/// the generated parameters of a deployed stack.
pub(crate) fn passwords_file(home: &Path, stack: &str) -> PathBuf {
    home.join("overcloud-deploy")
        .join(stack)
        .join(format!("{stack}-passwords.yaml"))
}

/// What `adopt` is asked to do.
#[derive(Debug, Clone)]
pub struct AdoptOptions {
    /// Heat stack name (names the passwords file and the plan container).
    pub stack: String,
    /// The work directory to import into.
    pub workdir: PathBuf,
    /// An explicit source file; `None`: the passwords file, then the plan container.
    pub from: Option<PathBuf>,
    /// The home directory holding `overcloud-deploy/`.
    pub home: Option<PathBuf>,
    /// Swift connection for the OSP 13/16.2 plan container.
    pub swift: ConnectOptions,
    /// Write nothing.
    pub dry_run: bool,
    /// The deliberate choice: replace work directory keys that differ from the cloud's.
    pub replace_workdir: bool,
}

/// What adopt found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdoptStatus {
    /// The deployed keys were written to the work directory.
    Imported,
    /// Dry run: they would be.
    WouldImport,
    /// The work directory already holds exactly the deployed keys.
    NothingToAdopt,
    /// The source holds tripleoclient's undeployed keys; the work directory was deployed.
    WorkdirIsDeployed,
    /// `replace_workdir`: the work directory's different keys were replaced (and kept).
    Replaced,
    /// Dry run of `replace_workdir`.
    WouldReplace,
}

/// One repository adopt looked at.
#[derive(Debug, Clone, Serialize)]
pub struct AdoptedRepo {
    /// Kind of keys.
    pub kind: RepoKind,
    /// Local directory.
    pub path: PathBuf,
    /// Key indices: the deployed cloud's, or the work directory's when it is kept.
    pub keys: Vec<u64>,
    /// imported | would-import | unchanged | replaced | would-replace | kept.
    pub action: &'static str,
    /// `repo check` finding codes after the import (empty: clean).
    pub findings: Vec<String>,
}

/// The result of `adopt`, for people and pipelines.
#[derive(Debug, Clone, Serialize)]
pub struct AdoptReport {
    /// Stack.
    pub stack: String,
    /// Work directory.
    pub workdir: PathBuf,
    /// Where the deployed keys were read.
    pub source: String,
    /// The parameter names the source used for Fernet keys.
    pub fernet_params: source::FernetParams,
    /// Outcome.
    pub status: AdoptStatus,
    /// Anything was (or would be) written.
    pub changed: bool,
    /// Nothing was written.
    pub dry_run: bool,
    /// The repositories.
    pub repositories: Vec<AdoptedRepo>,
    /// Where replaced repositories were kept.
    pub backup: Option<PathBuf>,
    /// Things the operator must know.
    pub warnings: Vec<String>,
}

/// How one work-directory repository compares with the deployed keys.
#[derive(Debug, PartialEq, Eq)]
enum Compared {
    /// No repository there.
    Missing,
    /// Exactly the deployed keys.
    Same,
    /// Other keys; `shared` of them are also deployed.
    Differs { shared: usize },
}

struct Side {
    kind: RepoKind,
    path: PathBuf,
    deployed: KeySet,
    local: Option<KeySet>,
}

impl Side {
    fn compared(&self) -> Compared {
        match &self.local {
            None => Compared::Missing,
            Some(local) if *local == self.deployed => Compared::Same,
            Some(local) => Compared::Differs {
                shared: local
                    .values()
                    .filter(|k| self.deployed.values().any(|d| d == *k))
                    .count(),
            },
        }
    }
}

/// Finds the deployed keys and imports them (see the module doc for every rule).
pub fn adopt(opts: &AdoptOptions) -> Result<AdoptReport> {
    let (deployed, origin) = find_deployed(opts)?;
    adopt_deployed(opts, deployed, origin, true)
}

/// Imports keys already read from `origin` (a file, or a live node for `adopt
/// --from-node`). `record_source`: the origin is a record (passwords file, plan) that may
/// hold tripleoclient's undeployed keys, so the work directory's own `fernet.yaml` is
/// checked for that trap; a live node is what keystone uses, so it is never second-guessed.
pub(crate) fn adopt_deployed(
    opts: &AdoptOptions,
    deployed: DeployedKeys,
    origin: String,
    record_source: bool,
) -> Result<AdoptReport> {
    // One writer of the work directory at a time (a dry run writes nothing: no lock).
    let _lock = (!opts.dry_run)
        .then(|| fsutil::lock(&opts.workdir))
        .transpose()?;
    let artifacts = crate::workdir::default_artifact_dir(&opts.workdir);
    let tightened = crate::workdir::secure(&opts.workdir, &artifacts, opts.dry_run)?;
    let local = WorkdirLayout::new(&opts.workdir);
    let mut sides = vec![side(
        RepoKind::Fernet,
        &local.fernet,
        deployed.fernet.clone(),
    )?];
    if let Some(credential) = &deployed.credential {
        sides.push(side(
            RepoKind::Credential,
            &local.credential,
            credential.clone(),
        )?);
    }
    let mut report = AdoptReport {
        stack: opts.stack.clone(),
        workdir: opts.workdir.clone(),
        source: origin.clone(),
        fernet_params: deployed.fernet_params,
        status: AdoptStatus::NothingToAdopt,
        changed: false,
        dry_run: opts.dry_run,
        repositories: vec![],
        backup: None,
        warnings: warnings_of(&deployed, &origin),
    };
    report.warnings.extend(tightened);
    let differs = sides
        .iter()
        .any(|s| matches!(s.compared(), Compared::Differs { .. }));
    if differs && !opts.replace_workdir {
        if record_source && workdir_was_deployed(&opts.workdir, &sides) {
            report.status = AdoptStatus::WorkdirIsDeployed;
            report.warnings.push(trap_warning(&origin));
            report.repositories = sides.iter().map(|s| describe(s, "kept")).collect();
            return Ok(report);
        }
        return Err(conflict(opts, &origin, &sides));
    }
    if differs {
        report.backup = Some(keep_replaced(opts, &sides)?);
    }
    apply(opts, &sides, &mut report)?;
    Ok(report)
}

fn side(kind: RepoKind, path: &Path, deployed: KeySet) -> Result<Side> {
    let local = if repo::has_entries(path)? {
        Some(repo::load(path, kind)?)
    } else {
        None
    };
    Ok(Side {
        kind,
        path: path.to_path_buf(),
        deployed,
        local,
    })
}

fn describe(side: &Side, action: &'static str) -> AdoptedRepo {
    let keys = match (&side.local, action) {
        (Some(local), "kept") => local,
        _ => &side.deployed,
    };
    AdoptedRepo {
        kind: side.kind,
        path: side.path.clone(),
        keys: keys.keys().copied().collect(),
        action,
        findings: vec![],
    }
}

/// Writes every repository that is missing (or, deliberately, different) and checks it.
fn apply(opts: &AdoptOptions, sides: &[Side], report: &mut AdoptReport) -> Result<()> {
    let mut wrote_any = false;
    for side in sides {
        let (action, write) = match (side.compared(), opts.dry_run) {
            (Compared::Same, _) => ("unchanged", false),
            (Compared::Missing, false) => ("imported", true),
            (Compared::Missing, true) => ("would-import", false),
            (Compared::Differs { .. }, false) => ("replaced", true),
            (Compared::Differs { .. }, true) => ("would-replace", false),
        };
        let mut entry = describe(side, action);
        if write {
            repo::commit(&side.path, &side.deployed, &Owner::current())?;
            entry.findings = check::check_numbered(&side.path, side.kind, &CheckOptions::full())?
                .findings
                .iter()
                .map(|f| f.code.to_string())
                .collect();
        }
        report.changed |= action != "unchanged";
        wrote_any |= write;
        report.repositories.push(entry);
    }
    report.status = match (report.changed, report.backup.is_some(), opts.dry_run) {
        (false, _, _) => AdoptStatus::NothingToAdopt,
        (true, true, false) => AdoptStatus::Replaced,
        (true, true, true) => AdoptStatus::WouldReplace,
        (true, false, false) => AdoptStatus::Imported,
        (true, false, true) => AdoptStatus::WouldImport,
    };
    if wrote_any {
        fsutil::sync_dir(&opts.workdir)?;
    }
    Ok(())
}

/// `replace_workdir`: copies the repositories about to be replaced to
/// `keys/replaced-<unix time>/` (0700, keys 0600) before anything is replaced.
fn keep_replaced(opts: &AdoptOptions, sides: &[Side]) -> Result<PathBuf> {
    let now = crate::clock::now();
    let backup = opts.workdir.join("keys").join(format!("replaced-{now}"));
    if opts.dry_run {
        return Ok(backup);
    }
    for side in sides {
        if let (Some(local), Some(name)) = (&side.local, side.path.file_name())
            && !matches!(side.compared(), Compared::Same)
        {
            repo::commit(&backup.join(name), local, &Owner::current())?;
        }
    }
    Ok(backup)
}

/// The trap: the work directory rendered its own `fernet.yaml` from exactly its repositories,
/// and the other source shares no key with them (tripleoclient's own, never deployed).
fn workdir_was_deployed(workdir: &Path, sides: &[Side]) -> bool {
    let rendered = workdir.join(heat::names::FERNET);
    let Ok(bytes) = fsutil::read_input(&rendered, MAX_INPUT) else {
        return false;
    };
    let Ok(ours) = source::parse(&bytes, &rendered.display().to_string()) else {
        return false;
    };
    sides.iter().all(|s| {
        let rendered = match s.kind {
            RepoKind::Credential => ours.credential.as_ref(),
            _ => Some(&ours.fernet),
        };
        match s.compared() {
            Compared::Same => true,
            Compared::Differs { shared: 0 } => s.local.as_ref() == rendered,
            _ => false,
        }
    })
}

fn trap_warning(origin: &str) -> String {
    format!(
        "{origin} holds keys other than the work directory's, but the work directory's fernet.yaml renders exactly its repositories and shares no key with {origin}: these are tripleoclient's own generated keys, which a deploy with fernet.yaml overrides and which never reached a node. Nothing adopted; keep passing fernet.yaml to every deploy (without it those undeployed keys would replace the cloud's). If this cloud was never deployed with this fernet.yaml, run `overcloud-keys adopt --replace-workdir`"
    )
}

fn summary(keys: &KeySet) -> String {
    let primary = keys.keys().next_back().copied().unwrap_or(0);
    format!(
        "keys {:?}, primary {primary}",
        keys.keys().collect::<Vec<_>>()
    )
}

fn conflict(opts: &AdoptOptions, origin: &str, sides: &[Side]) -> Error {
    let mut parts = vec![];
    for s in sides {
        if let (Compared::Differs { shared }, Some(local)) = (s.compared(), &s.local) {
            parts.push(format!(
                "{} repository: work directory {}, deployed {} ({shared} shared)",
                s.kind,
                summary(local),
                summary(&s.deployed)
            ));
        }
    }
    let credential = sides.iter().any(|s| {
        s.kind == RepoKind::Credential && matches!(s.compared(), Compared::Differs { .. })
    });
    Error::AdoptConflict {
        workdir: opts.workdir.clone(),
        source_name: origin.to_string(),
        detail: format!(
            "{}. Keeping the work directory (build, deploy with its fernet.yaml) replaces the cloud's keys: every token issued with a key only the cloud has becomes invalid{}. Adopting (--replace-workdir) makes the next deploy keep the cloud's keys and drops the work directory's (kept in keys/replaced-<time>/). Nothing was written",
            parts.join("; "),
            if credential {
                ", and credentials encrypted with the cloud's credential keys become undecryptable"
            } else {
                ""
            }
        ),
    }
}

fn warnings_of(deployed: &DeployedKeys, origin: &str) -> Vec<String> {
    let mut out = vec![];
    if deployed.credential.is_none() {
        out.push(format!("{origin} has no KeystoneCredential0/1 (OSP 10 had no credential keys): the credential repository is left as it is, and `build` creates one if missing"));
    }
    if deployed.fernet_params == source::FernetParams::KeystoneFernetKey01 {
        out.push(format!("{origin} carries the Fernet keys as KeystoneFernetKey0/1, which only OSP 11 (ocata) deploys: OSP 10's templates have no Fernet key parameter, so on OSP 10 these keys never reached a node (copy /etc/keystone/fernet-keys from a controller instead)"));
    }
    if !deployed.normalized.is_empty() {
        out.push(format!(
            "{origin}: {} carry a trailing newline or the standard base64 alphabet; keystone reads them as the same keys, written here in keystone's own form",
            deployed.normalized.join(", ")
        ));
    }
    out
}

/// The deployed keys and where they were read: `--from`, else the passwords file, else the
/// plan container.
fn find_deployed(opts: &AdoptOptions) -> Result<(DeployedKeys, String)> {
    if let Some(path) = &opts.from {
        return Ok((read_file(path)?, path.display().to_string()));
    }
    let mut looked = vec![];
    match &opts.home {
        Some(home) => {
            let path = passwords_file(home, &opts.stack);
            if path.exists() {
                return Ok((read_file(&path)?, path.display().to_string()));
            }
            looked.push(format!("no {}", path.display()));
        }
        None => looked.push("HOME is not set (no passwords file to read)".into()),
    }
    match download::plan_environment(&opts.swift, &opts.stack, source::PLAN_ENVIRONMENT)? {
        PlanProbe::Found((bytes, url)) => Ok((source::parse(&bytes, &url)?, url)),
        PlanProbe::Missing => {
            looked.push(format!(
                "no plan container {}/{} in the undercloud's Swift",
                opts.stack,
                source::PLAN_ENVIRONMENT
            ));
            Err(no_keys(opts, looked))
        }
        PlanProbe::NoSwift(why) => {
            looked.push(format!("plan container not checked: {why}"));
            Err(no_keys(opts, looked))
        }
    }
}

fn no_keys(opts: &AdoptOptions, looked: Vec<String>) -> Error {
    Error::NoDeployedKeys {
        stack: opts.stack.clone(),
        looked: looked.join("; "),
    }
}

/// A passwords file, Heat environment, plan environment or plan export tarball.
pub(crate) fn read_file(path: &Path) -> Result<DeployedKeys> {
    let bytes = fsutil::read_input(path, MAX_INPUT)?;
    let origin = path.display().to_string();
    if source::is_gzip(&bytes) {
        let plan_env = source::plan_environment_from_export(&bytes, &origin)?;
        return source::parse(&plan_env, &format!("{origin}:{}", source::PLAN_ENVIRONMENT));
    }
    source::parse(&bytes, &origin)
}

/// Whether `stack` is already deployed, as far as the undercloud can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Deployed {
    /// Yes: what shows it (its passwords file, or its plan container).
    Yes(String),
    /// Neither exists.
    No,
    /// No passwords file, and the plan container could not be checked (why).
    Unchecked(String),
}

/// Looks for `stack`'s passwords file, then its plan container in the undercloud's Swift
/// (only when credentials are configured and the catalog has an object-store).
pub(crate) fn deployed_evidence(
    stack: &str,
    home: Option<&Path>,
    swift: &ConnectOptions,
) -> Result<Deployed> {
    if let Some(home) = home {
        let path = passwords_file(home, stack);
        if path.exists() {
            return Ok(Deployed::Yes(format!("{} exists", path.display())));
        }
    }
    Ok(match download::plan_container_exists(swift, stack)? {
        PlanProbe::Found(url) => Deployed::Yes(format!("its plan container {url} exists")),
        PlanProbe::Missing => Deployed::No,
        PlanProbe::NoSwift(why) => Deployed::Unchecked(why),
    })
}
