//! The repositories a build uses: whose (`keys_from`), whether the stack is already
//! deployed (never mint keys for it), created when missing, reused and checked when present.

use std::fs;
use std::path::{Path, PathBuf};

use super::{RepoAction, RepoStep};
use crate::adopt::Deployed;
use crate::artifact::sources::JwsKeys;
use crate::check::RepoKind;
use crate::config::{JwsMode, Settings};
use crate::error::{Error, Result};
use crate::fsutil::{self, KEY_DIR_MODE};
use crate::keys::jws::KeyPair;
use crate::keys::jws_repo::{self, CreateOutcome, JwsDirs};
use crate::keys::repo::{self, KeySet, RepoOptions, SetupOutcome};
use crate::owner::Owner;
use crate::workdir::WorkdirLayout;

/// New keys a build generates while planning and writes when it applies.
pub(super) enum NewKeys {
    /// Keys `0` and `1` of a Fernet, receipt or credential repository.
    Numbered(KeySet),
    /// An ES256 pair.
    Jws(KeyPair),
}

/// A repository the build uses: reused as it is, or created with keys generated in memory.
pub(super) struct PlannedRepo {
    /// Kind of keys.
    pub(super) kind: RepoKind,
    /// Local directory.
    pub(super) path: PathBuf,
    /// The keys to write when it is missing.
    pub(super) create: Option<NewKeys>,
}

impl PlannedRepo {
    /// The report's line: reused, created, or (dry run) would be created.
    pub(super) fn step(&self, dry_run: bool) -> RepoStep {
        RepoStep {
            kind: self.kind,
            path: self.path.clone(),
            action: match (&self.create, dry_run) {
                (None, _) => RepoAction::Reused,
                (Some(_), true) => RepoAction::WouldCreate,
                (Some(_), false) => RepoAction::Created,
            },
        }
    }
}

/// The keys a build renders and packs: each repository read and checked once (a full
/// `repo check`), or generated for a missing one.
pub(super) struct BuildKeys {
    /// Fernet token keys.
    pub(super) fernet: KeySet,
    /// Credential keys.
    pub(super) credential: KeySet,
    /// Fernet receipt keys (`separate_receipts`).
    pub(super) receipt: Option<KeySet>,
    /// JWS pair and public set (`jws` not off).
    pub(super) jws: Option<JwsKeys>,
}

/// Every repository the settings need and their keys, nothing written.
pub(super) fn plan_all(
    settings: &Settings,
    local: &WorkdirLayout,
) -> Result<(Vec<PlannedRepo>, BuildKeys)> {
    let mut repos = vec![];
    let keys = BuildKeys {
        fernet: plan_numbered(RepoKind::Fernet, &local.fernet, &mut repos)?,
        credential: plan_numbered(RepoKind::Credential, &local.credential, &mut repos)?,
        receipt: settings
            .separate_receipts
            .then(|| plan_numbered(RepoKind::Receipt, &local.receipt, &mut repos))
            .transpose()?,
        jws: (settings.jws != JwsMode::Off)
            .then(|| plan_jws(&local.jws, &mut repos))
            .transpose()?,
    };
    Ok((repos, keys))
}

fn plan_numbered(kind: RepoKind, path: &Path, repos: &mut Vec<PlannedRepo>) -> Result<KeySet> {
    let (keys, create) = if repo::has_entries(path)? {
        (crate::check::load_clean(path, kind)?, None)
    } else {
        let keys = repo::initial_keys();
        (keys.clone(), Some(NewKeys::Numbered(keys)))
    };
    repos.push(PlannedRepo {
        kind,
        path: path.to_path_buf(),
        create,
    });
    Ok(keys)
}

fn plan_jws(jws: &JwsDirs, repos: &mut Vec<PlannedRepo>) -> Result<JwsKeys> {
    let exists = jws
        .private
        .join(crate::keys::jws::PRIVATE_KEY_FILE)
        .exists();
    let (keys, create) = if exists {
        (JwsKeys::load(jws)?, None)
    } else {
        let pair = KeyPair::generate();
        (JwsKeys::of_new(&pair), Some(NewKeys::Jws(pair)))
    };
    repos.push(PlannedRepo {
        kind: RepoKind::Jws,
        path: jws.private.parent().unwrap_or(&jws.private).to_path_buf(),
        create,
    });
    Ok(keys)
}

/// Writes a planned repository's new keys (0600 files, 0700 directories, atomic). The work
/// directory is locked, so a repository that appeared since the plan means another writer
/// ignored the lock: refused rather than rendering keys that are not on disk.
pub(super) fn create(
    planned: PlannedRepo,
    local: &WorkdirLayout,
    max_active_keys: usize,
) -> Result<()> {
    let owner = Owner::current();
    let created = match planned.create {
        None => return Ok(()),
        Some(NewKeys::Numbered(keys)) => {
            let opts = RepoOptions {
                kind: planned.kind,
                owner,
                max_active_keys,
            };
            repo::setup_with(&planned.path, &opts, false, &keys)? == SetupOutcome::Created
        }
        Some(NewKeys::Jws(pair)) => matches!(
            jws_repo::create_pair(&local.jws, &owner, false, pair)?,
            CreateOutcome::Created { .. }
        ),
    };
    if created {
        return Ok(());
    }
    Err(Error::InvalidRepository {
        path: planned.path,
        summary: "it was created by another writer while this build ran; run build again".into(),
    })
}

/// Creates the work directory (0700) or checks that it can be written.
pub(super) fn prepare_workdir(workdir: &Path) -> Result<()> {
    if let Ok(meta) = fs::metadata(workdir) {
        if !meta.is_dir() {
            return Err(Error::NotADirectory(workdir.to_path_buf()));
        }
        return Ok(());
    }
    fsutil::create_parents(workdir)?;
    fsutil::create_dir(workdir, KEY_DIR_MODE, &Owner::current())
}

/// The repositories this build uses: its own work directory's, or with `keys_from` those of
/// the other stack's work directory (a sibling), which must all exist already: a build never
/// creates or rotates another stack's keys. The note says so in the report.
pub(super) fn key_source(settings: &Settings) -> Result<(WorkdirLayout, Option<String>)> {
    let Some(other) = &settings.keys_from else {
        return Ok((WorkdirLayout::new(&settings.workdir), None));
    };
    let dir = fsutil::parent_of(&settings.workdir).join(other);
    let layout = WorkdirLayout::new(&dir);
    let mut needed = vec![
        (RepoKind::Fernet, layout.fernet.clone()),
        (RepoKind::Credential, layout.credential.clone()),
    ];
    if settings.separate_receipts {
        needed.push((RepoKind::Receipt, layout.receipt.clone()));
    }
    if settings.jws != JwsMode::Off {
        needed.push((
            RepoKind::Jws,
            layout.jws.private.join(crate::keys::jws::PRIVATE_KEY_FILE),
        ));
    }
    for (kind, path) in needed {
        let present = match kind {
            RepoKind::Jws => path.is_file(),
            _ => repo::has_entries(&path)?,
        };
        if !present {
            return Err(Error::InvalidValue {
                name: "keys_from",
                value: other.clone(),
                reason: format!(
                    "{} has no {kind} keys ({}): build stack {other} first; a build never creates another stack's keys",
                    dir.display(),
                    path.display()
                ),
            });
        }
    }
    let note = format!(
        "keys from stack {other}: this build renders the repositories of {} as they are and never creates or rotates them; rotate them there, then rebuild and redeploy every stack that shares them",
        dir.display()
    );
    Ok((layout, Some(note)))
}

/// Never mint keys for a stack that is already deployed: when the Fernet or credential
/// repository is missing and the stack's passwords file or plan container exists, refuse
/// (nothing written) unless `new_keys`, which instead returns the warning saying what breaks.
pub(super) fn guard_deployed_stack(
    settings: &Settings,
    local: &WorkdirLayout,
) -> Result<Option<String>> {
    let mut missing = vec![];
    for (kind, path) in [
        (RepoKind::Fernet, &local.fernet),
        (RepoKind::Credential, &local.credential),
    ] {
        if !repo::has_entries(path)? {
            missing.push(kind);
        }
    }
    if missing.is_empty() {
        return Ok(None);
    }
    let swift = crate::swift::ConnectOptions {
        cloud: settings.swift.cloud.clone(),
        storage_url: settings.swift.storage_url.clone(),
        ..Default::default()
    };
    let state =
        match crate::adopt::deployed_evidence(&settings.stack, settings.home.as_deref(), &swift)? {
            Deployed::No => return Ok(None),
            // OSP 17 keeps no plan in Swift: the passwords file alone tells.
            Deployed::Unchecked(_) if settings.release.profile().artifact_files => return Ok(None),
            Deployed::Yes(evidence) if !settings.new_keys => {
                return Err(Error::StackDeployed {
                    stack: settings.stack.clone(),
                    evidence,
                    workdir: settings.workdir.clone(),
                });
            }
            Deployed::Unchecked(why) if !settings.new_keys => {
                return Err(Error::DeployedUnknown {
                    stack: settings.stack.clone(),
                    release: settings.release.to_string(),
                    why,
                });
            }
            Deployed::Yes(evidence) => format!("is already deployed ({evidence})"),
            Deployed::Unchecked(why) => {
                format!("may already be deployed (its plan container was not checked: {why})")
            }
        };
    let mut breaks = vec![];
    if missing.contains(&RepoKind::Fernet) {
        breaks.push("new Fernet keys: at the next deploy every token in the cloud becomes invalid (every user and service must authenticate again)");
    }
    if missing.contains(&RepoKind::Credential) {
        breaks.push("new credential keys: every credential stored in keystone (EC2, TOTP secrets, anything encrypted with the credential keys) becomes undecryptable");
    }
    Ok(Some(format!(
        "--new-keys: stack {} {state}; {}",
        settings.stack,
        breaks.join("; ")
    )))
}
