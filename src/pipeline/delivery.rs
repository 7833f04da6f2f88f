//! Delivering what puppet does not manage: the tarball (packed, named by its checksum,
//! staged; superseded ones removed), its TempURL when it goes by Swift, and who receives
//! which secret.

use std::fs;
use std::path::Path;

use super::{ArtifactStep, BuildReport, SecretReach};
use crate::artifact::manifest::{artifact_name, manifest_path, write_artifact_files};
use crate::artifact::sources::{self, Sources};
use crate::artifact::{self, Layout, LayoutKind};
use crate::check::RepoKind;
use crate::config::{ArtifactsMode, Delivery, JwsMode, Settings};
use crate::error::Result;
use crate::fsutil::{self, KEY_DIR_MODE};
use crate::heat::{self, scoped};
use crate::owner::Owner;
use crate::swift::ConnectOptions;
use crate::workdir::WorkdirLayout;

/// What the artifact step produced, for the environment files.
pub(super) struct Staged {
    /// The node layout (root, owner) the tarball was packed for.
    pub(super) layout: Layout,
    /// What the tarball carries.
    pub(super) sources: Sources,
    /// The tarball, when there is anything to deliver by one.
    pub(super) packed: Option<artifact::Packed>,
    /// Role-scoped delivery (a tarball and `delivery = scoped`).
    pub(super) scoped: bool,
    /// The TempURL (`artifacts = swift`; empty in a dry run that would upload).
    pub(super) temp_url: Option<String>,
}

/// Packs and stages the tarball, uploads it when it goes by Swift, and records both in the
/// report.
pub(super) fn stage(
    settings: &Settings,
    local: &WorkdirLayout,
    dry_run: bool,
    report: &mut BuildReport,
) -> Result<Staged> {
    let mut layout = Layout::new(settings.layout);
    layout.uid = settings.node_uid.unwrap_or(layout.uid);
    layout.gid = settings.node_gid.unwrap_or(layout.gid);
    let sources = Sources {
        fernet: (settings.layout == LayoutKind::Baremetal).then(|| local.fernet.clone()),
        receipt: settings.separate_receipts.then(|| local.receipt.clone()),
        credential: None,
        jws: (settings.jws != JwsMode::Off).then(|| local.jws.clone()),
    };
    let mut packed = None;
    if !sources.is_empty() {
        let (step, bytes) = stage_artifact(settings, &layout, &sources, dry_run)?;
        report.artifact = Some(step);
        packed = Some(bytes);
    }
    let scoped = settings.delivery == Delivery::Scoped && packed.is_some();
    report.delivery = if scoped {
        Delivery::Scoped
    } else {
        Delivery::AllRoles
    };
    let mut temp_url = None;
    if let (ArtifactsMode::Swift, Some(step)) = (settings.artifacts, &report.artifact) {
        let (url, note) = swift_url(settings, &step.path, dry_run)?;
        report.warnings.extend(note);
        report.changed |= url.is_none();
        temp_url = Some(url.unwrap_or_default());
    }
    Ok(Staged {
        layout,
        sources,
        packed,
        scoped,
        temp_url,
    })
}

pub(super) fn stage_artifact(
    settings: &Settings,
    layout: &Layout,
    tar: &Sources,
    dry_run: bool,
) -> Result<(ArtifactStep, artifact::Packed)> {
    let packed = artifact::pack(sources::entries(layout, tar)?)?;
    let name = artifact_name(&settings.stack, &packed.sha256);
    let dir = &settings.artifact_dir;
    if !dry_run && !dir.is_dir() {
        fsutil::create_parents(dir)?;
        fsutil::create_dir(dir, KEY_DIR_MODE, &Owner::current())?;
    }
    let path = dir.join(&name);
    let written = write_artifact_files(&path, &name, &packed, layout, dry_run)?;
    let prefix = format!("overcloud-keys-{}-", settings.stack);
    let mut removed = vec![];
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if file.starts_with(&prefix) && !file.starts_with(&name) && file.contains(".tar.gz") {
                if !dry_run {
                    fsutil::remove_file_durable(&entry.path())?;
                }
                removed.push(entry.path());
            }
        }
    }
    removed.sort();
    let step = ArtifactStep {
        manifest: manifest_path(&path),
        path,
        sha256: packed.sha256.clone(),
        size: packed.bytes.len() as u64,
        action: written,
        carries: tar.kinds(),
        removed,
    };
    Ok((step, packed))
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

/// The TempURL to publish for the staged artifact: the one already in the rendered
/// environment when it is for the same object and valid beyond the refresh margin (so a
/// re-run changes nothing), else a fresh upload (verified) and signature. `None` under
/// `dry_run` when an upload would be needed.
pub(super) fn swift_url(
    settings: &Settings,
    artifact: &Path,
    dry_run: bool,
) -> Result<(Option<String>, Vec<String>)> {
    let object = artifact
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let now = crate::clock::now();
    let connect = ConnectOptions {
        cloud: settings.swift.cloud.clone(),
        storage_url: settings.swift.storage_url.clone(),
        progress: true,
        ..Default::default()
    };
    let mut notes = vec![];
    for env in [heat::names::ARTIFACTS, scoped::names::ENV] {
        let Ok(text) = fs::read_to_string(settings.workdir.join(env)) else {
            continue;
        };
        for url in text
            .split(['\'', '"'])
            .filter(|t| t.starts_with("http") && t.contains(&format!("/{object}?")))
        {
            match crate::swift::envfile::expiry_of(url) {
                Some(expires) if expires > now + settings.swift.refresh_margin => {
                    if url_serves(url, artifact, &connect) {
                        return Ok((Some(url.to_string()), notes));
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
    if dry_run {
        return Ok((None, notes));
    }
    let opts = crate::swift::UploadOptions {
        container: settings.swift.container.clone(),
        object: Some(object),
        expiry: settings.swift.expiry,
        digest: settings.swift.digest,
        connect,
        ..Default::default()
    };
    let report = crate::swift::upload_artifact(&opts, artifact)?;
    notes.extend(report.warnings.iter().cloned());
    Ok((Some(report.temp_url.expose()), notes))
}

/// HEAD through the TempURL itself (a GET signature allows HEAD): the object is still there
/// and its ETag is the artifact's MD5. (Swift's tempurl middleware strips
/// `X-Object-Meta-*` from TempURL responses, so the recorded SHA-256 is not visible here;
/// the object name already carries the SHA-256 prefix.)
pub(super) fn url_serves(url: &str, artifact: &Path, connect: &ConnectOptions) -> bool {
    let Ok(bytes) = fs::read(artifact) else {
        return false;
    };
    let want = crate::encoding::hex(&<md5::Md5 as md5::Digest>::digest(&bytes));
    crate::swift::download::served_etag(connect, url)
        .ok()
        .flatten()
        .is_some_and(|etag| etag == want)
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
