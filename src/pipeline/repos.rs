//! The repositories a build uses: whose (`keys_from`), whether the stack is already
//! deployed (never mint keys for it), created when missing, reused and checked when present.

use std::fs;
use std::path::Path;

use super::{RepoAction, RepoStep};
use crate::adopt::Deployed;
use crate::check::RepoKind;
use crate::config::{JwsMode, Settings};
use crate::error::{Error, Result};
use crate::fsutil::{self, KEY_DIR_MODE};
use crate::keys::jws_repo::{self, JwsDirs};
use crate::keys::repo::{self, KeySet, RepoOptions};
use crate::owner::Owner;
use crate::workdir::WorkdirLayout;

/// Every repository the settings need: created when missing (unless `dry_run`), else reused.
pub(super) fn ensure_all(
    settings: &Settings,
    local: &WorkdirLayout,
    dry_run: bool,
) -> Result<Vec<RepoStep>> {
    let max = settings.max_active_keys;
    let mut steps = vec![
        ensure_repo(RepoKind::Fernet, &local.fernet, max, dry_run)?,
        ensure_repo(RepoKind::Credential, &local.credential, max, dry_run)?,
    ];
    if settings.separate_receipts {
        steps.push(ensure_repo(
            RepoKind::Receipt,
            &local.receipt,
            max,
            dry_run,
        )?);
    }
    if settings.jws != JwsMode::Off {
        steps.push(ensure_jws(&local.jws, dry_run)?);
    }
    Ok(steps)
}

/// The Fernet and credential keys `fernet.yaml` renders, after a full `repo check` of each.
pub(super) fn load_rendered(local: &WorkdirLayout) -> Result<(KeySet, KeySet)> {
    Ok((
        crate::check::load_clean(&local.fernet, RepoKind::Fernet)?,
        crate::check::load_clean(&local.credential, RepoKind::Credential)?,
    ))
}

pub(super) fn ensure_repo(
    kind: RepoKind,
    path: &Path,
    max_active_keys: usize,
    dry_run: bool,
) -> Result<RepoStep> {
    let exists = repo::has_entries(path)?;
    let action = match (exists, dry_run) {
        (true, _) => RepoAction::Reused,
        (false, true) => RepoAction::WouldCreate,
        (false, false) => {
            let opts = RepoOptions {
                kind,
                owner: Owner::current(),
                max_active_keys,
            };
            repo::setup(path, &opts, false)?;
            RepoAction::Created
        }
    };
    Ok(RepoStep {
        kind,
        path: path.to_path_buf(),
        action,
    })
}

pub(super) fn ensure_jws(jws: &JwsDirs, dry_run: bool) -> Result<RepoStep> {
    let exists = jws
        .private
        .join(crate::keys::jws::PRIVATE_KEY_FILE)
        .exists();
    let action = match (exists, dry_run) {
        (true, _) => RepoAction::Reused,
        (false, true) => RepoAction::WouldCreate,
        (false, false) => {
            jws_repo::create(jws, &Owner::current(), false)?;
            RepoAction::Created
        }
    };
    Ok(RepoStep {
        kind: RepoKind::Jws,
        path: jws.private.parent().unwrap_or(&jws.private).to_path_buf(),
        action,
    })
}

/// Creates the work directory (0700) or checks that it can be written.
pub(super) fn prepare_workdir(workdir: &Path, dry_run: bool) -> Result<()> {
    if let Ok(meta) = fs::metadata(workdir) {
        if !meta.is_dir() {
            return Err(Error::NotADirectory(workdir.to_path_buf()));
        }
        return Ok(());
    }
    if dry_run {
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
