//! Delivering what puppet does not manage: the tarball (packed, named by its checksum,
//! staged; superseded ones removed), its TempURL when it goes by Swift, and who receives
//! which secret.

use std::fs;
use std::path::PathBuf;

use super::repos::BuildKeys;
use super::{ArtifactStep, SecretReach};
use crate::artifact::manifest::{
    artifact_hash, artifact_name, manifest_path, write_artifact_files,
};
use crate::artifact::sources::{self, PackKeys, Sources};
use crate::artifact::{self, Layout, LayoutKind};
use crate::check::RepoKind;
use crate::config::{ArtifactsMode, Delivery, JwsMode, Settings};
use crate::error::Result;
use crate::fsutil::{self, KEY_DIR_MODE, WriteAction};
use crate::heat::{self, scoped};
use crate::owner::Owner;
use crate::swift::ConnectOptions;
use crate::workdir::WorkdirLayout;

/// The tarball a build stages: packed in memory from the planned keys.
pub(super) struct PlannedArtifact {
    /// Where it goes (`<artifact_dir>/<name>`).
    pub(super) path: PathBuf,
    /// Its file name (carries the content hash).
    pub(super) name: String,
    /// The bytes and their manifest.
    pub(super) packed: artifact::Packed,
    /// Older artifacts of this stack, to remove (they hold superseded keys).
    pub(super) removed: Vec<PathBuf>,
}

/// How the artifact reaches the nodes, for the environment files.
pub(super) struct PlannedDelivery {
    /// The node layout (root, owner) the tarball is packed for.
    pub(super) layout: Layout,
    /// What the tarball carries.
    pub(super) sources: Sources,
    /// The tarball, when there is anything to deliver by one.
    pub(super) artifact: Option<PlannedArtifact>,
    /// Role-scoped delivery (a tarball and `delivery = scoped`).
    pub(super) scoped: bool,
    /// The TempURL (`artifacts = swift`): the published one, or [`pending_url`] while the
    /// upload is still to be done.
    pub(super) temp_url: Option<String>,
    /// `artifacts = swift` and the published TempURL cannot be kept: upload and sign.
    pub(super) upload: bool,
}

impl PlannedDelivery {
    /// The delivery mode the environment files implement.
    pub(super) fn delivery(&self) -> Delivery {
        if self.scoped {
            Delivery::Scoped
        } else {
            Delivery::AllRoles
        }
    }
}

/// Packs the tarball in memory from `keys` and decides how it reaches the nodes: with
/// `artifacts = swift`, whether the TempURL already published can be kept. Returns the
/// notes to report. Nothing is written.
pub(super) fn plan(
    settings: &Settings,
    local: &WorkdirLayout,
    keys: &BuildKeys,
) -> Result<(PlannedDelivery, Vec<String>)> {
    let mut layout = Layout::new(settings.layout);
    layout.uid = settings.node_uid.unwrap_or(layout.uid);
    layout.gid = settings.node_gid.unwrap_or(layout.gid);
    let baremetal = settings.layout == LayoutKind::Baremetal;
    let sources = Sources {
        fernet: baremetal.then(|| local.fernet.clone()),
        receipt: settings.separate_receipts.then(|| local.receipt.clone()),
        credential: None,
        jws: (settings.jws != JwsMode::Off).then(|| local.jws.clone()),
    };
    let artifact = if sources.is_empty() {
        None
    } else {
        sources::check_delivery(layout.kind, &sources)?;
        let pack = PackKeys {
            fernet: baremetal.then(|| keys.fernet.clone()),
            receipt: keys.receipt.clone(),
            credential: None,
            jws: keys.jws.clone(),
        };
        Some(plan_artifact(settings, &layout, &pack)?)
    };
    let scoped = settings.delivery == Delivery::Scoped && artifact.is_some();
    let mut notes = vec![];
    let (mut temp_url, mut upload) = (None, false);
    if let (ArtifactsMode::Swift, Some(planned)) = (settings.artifacts, &artifact) {
        let kept = published_url(settings, planned, &mut notes);
        upload = kept.is_none();
        temp_url = Some(kept.unwrap_or_else(|| pending_url(settings, planned)));
    }
    let staged = PlannedDelivery {
        layout,
        sources,
        artifact,
        scoped,
        temp_url,
        upload,
    };
    Ok((staged, notes))
}

/// What the plan renders in place of a TempURL not signed yet (a reserved `.invalid` host,
/// RFC 2606): never written, `apply` renders those files again with the signed URL.
fn pending_url(settings: &Settings, planned: &PlannedArtifact) -> String {
    format!(
        "https://pending-upload.invalid/{}/{}",
        settings.swift.container, planned.name
    )
}

/// The tarball of `keys` for `layout`, its name and place, and the older ones it supersedes.
fn plan_artifact(settings: &Settings, layout: &Layout, keys: &PackKeys) -> Result<PlannedArtifact> {
    let packed = artifact::pack(sources::entries_of(layout, keys))?;
    let name = artifact_name(&settings.stack, &packed.sha256);
    let dir = &settings.artifact_dir;
    let path = dir.join(&name);
    let mut removed = vec![];
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let hash = artifact_hash(&settings.stack, &file);
            if hash.is_some_and(|h| h != &packed.sha256[..12]) {
                removed.push(entry.path());
            }
        }
    }
    removed.sort();
    Ok(PlannedArtifact {
        path,
        name,
        packed,
        removed,
    })
}

/// Stages the planned tarball with its checksum and manifest (the artifact directory
/// created 0700 when missing) and removes the ones it supersedes; under `dry_run` only
/// compares. Returns the report's step.
pub(super) fn write(
    staged: &PlannedDelivery,
    settings: &Settings,
    dry_run: bool,
) -> Result<Option<ArtifactStep>> {
    let Some(planned) = &staged.artifact else {
        return Ok(None);
    };
    let dir = &settings.artifact_dir;
    if !dry_run && !dir.is_dir() {
        fsutil::create_parents(dir)?;
        fsutil::create_dir(dir, KEY_DIR_MODE, &Owner::current())?;
    }
    let action = write_artifact_files(
        &planned.path,
        &planned.name,
        &planned.packed,
        &staged.layout,
        dry_run,
    )?;
    if !dry_run {
        for old in &planned.removed {
            fsutil::remove_file_durable(old)?;
        }
    }
    Ok(Some(step(staged, planned, action)))
}

/// The report's line for the artifact.
fn step(staged: &PlannedDelivery, planned: &PlannedArtifact, action: WriteAction) -> ArtifactStep {
    ArtifactStep {
        manifest: manifest_path(&planned.path),
        path: planned.path.clone(),
        sha256: planned.packed.sha256.clone(),
        size: planned.packed.bytes.len() as u64,
        action,
        carries: staged.sources.kinds(),
        removed: planned.removed.clone(),
    }
}

pub(super) fn describe_artifact(sources: &Sources) -> Vec<String> {
    sources
        .kinds()
        .into_iter()
        .map(|k| match k {
            RepoKind::Fernet => "the Fernet token keys".to_string(),
            RepoKind::Receipt => "the Fernet receipt keys".to_string(),
            RepoKind::Credential => "the credential keys".to_string(),
            RepoKind::Jws => "the JWS private (signing) key".to_string(),
        })
        .collect()
}

fn connect_options(settings: &Settings) -> ConnectOptions {
    ConnectOptions {
        cloud: settings.swift.cloud.clone(),
        storage_url: settings.swift.storage_url.clone(),
        progress: true,
        ..Default::default()
    }
}

/// The TempURL already in the rendered environment, when it is for the same object, valid
/// beyond the refresh margin and still serving the artifact (so a re-run changes nothing);
/// `None` when the artifact must be uploaded and signed again. Says why in `notes`.
fn published_url(
    settings: &Settings,
    planned: &PlannedArtifact,
    notes: &mut Vec<String>,
) -> Option<String> {
    let now = crate::clock::now();
    let connect = connect_options(settings);
    let md5 = crate::encoding::hex(&<md5::Md5 as md5::Digest>::digest(&planned.packed.bytes));
    for env in [heat::names::ARTIFACTS, scoped::names::ENV] {
        let Ok(text) = fs::read_to_string(settings.workdir.join(env)) else {
            continue;
        };
        for url in text
            .split(['\'', '"'])
            .filter(|t| t.starts_with("http") && t.contains(&format!("/{}?", planned.name)))
        {
            match crate::swift::envfile::expiry_of(url) {
                Some(expires) if expires > now + settings.swift.refresh_margin => {
                    if url_serves(url, &md5, &connect) {
                        return Some(url.to_string());
                    }
                    notes.push(format!(
                        "the TempURL in {env} no longer serves this artifact: uploading again"
                    ));
                }
                Some(expires) => notes.push(format!(
                    "the TempURL in {env} expires in {} s (within the {} s margin): re-signing it",
                    expires.saturating_sub(now),
                    settings.swift.refresh_margin
                )),
                None => {}
            }
        }
    }
    None
}

/// Uploads the staged artifact (verified) and signs its TempURL. Returns the URL and the
/// upload's warnings.
pub(super) fn upload(
    settings: &Settings,
    planned: &PlannedArtifact,
) -> Result<(String, Vec<String>)> {
    let opts = crate::swift::UploadOptions {
        container: settings.swift.container.clone(),
        object: Some(planned.name.clone()),
        expiry: settings.swift.expiry,
        digest: settings.swift.digest,
        connect: connect_options(settings),
        ..Default::default()
    };
    let report = crate::swift::upload_artifact(&opts, &planned.path)?;
    Ok((report.temp_url.expose(), report.warnings.clone()))
}

/// HEAD through the TempURL itself (a GET signature allows HEAD): the object is still there
/// and its ETag is the artifact's MD5 (`md5`, hex). (Swift's tempurl middleware strips
/// `X-Object-Meta-*` from TempURL responses, so the recorded SHA-256 is not visible here;
/// the object name already carries the SHA-256 prefix.)
fn url_serves(url: &str, md5: &str, connect: &ConnectOptions) -> bool {
    crate::swift::download::served_etag(connect, url)
        .ok()
        .flatten()
        .is_some_and(|etag| etag == md5)
}

pub(super) fn reach(
    settings: &Settings,
    tar: &Sources,
    baremetal: bool,
    scoped: bool,
) -> Vec<SecretReach> {
    let roles = settings.roles.join(", ");
    let mut out = vec![];
    if !baremetal {
        out.push(SecretReach {
            secret: "fernet token keys".into(),
            via: "KeystoneFernetKeys (fernet.yaml)".into(),
            roles: format!("{roles} (nodes running keystone)"),
        });
    }
    out.push(SecretReach {
        secret: "credential keys".into(),
        via: "KeystoneCredential0/1 (fernet.yaml)".into(),
        roles: format!("{roles} (nodes running keystone)"),
    });
    for secret in describe_artifact(tar) {
        out.push(SecretReach {
            secret: secret.trim_start_matches("the ").into(),
            via: if scoped {
                "key artifact, role-scoped (<Role>ExtraConfigPre)".into()
            } else {
                match settings.artifacts {
                    ArtifactsMode::Files => "deployment artifact (DeployArtifactFILEs)".into(),
                    ArtifactsMode::Swift => "deployment artifact (DeployArtifactURLs)".into(),
                }
            },
            roles: if scoped {
                format!("{roles} only")
            } else {
                "every node of every role".into()
            },
        });
    }
    out
}
