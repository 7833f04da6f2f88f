//! `render`: the environment files from given inputs (repositories, a tarball, artifact
//! references), without a work directory, for operators who assemble their own flow. The
//! same renderers as `build`; release refusals come before anything is written.

use std::path::PathBuf;

use serde::Serialize;

use crate::artifact::{Layout, LayoutKind};
use crate::config::Delivery;
use crate::error::{Error, Result};
use crate::fsutil::{self, WriteAction};
use crate::heat;
use crate::keys::kind::RepoKind;
use crate::keys::repo::KeySet;
use crate::release::Release;

/// What to render, and where.
#[derive(Debug, Clone)]
pub struct RenderInputs {
    /// Where the files go.
    pub output_dir: PathBuf,
    /// Heat stack name.
    pub stack: String,
    /// Fernet repository rendered into `fernet.yaml`.
    pub fernet: Option<PathBuf>,
    /// Credential repository rendered into `fernet.yaml`.
    pub credential: Option<PathBuf>,
    /// `KeystoneFernetMaxActiveKeys`.
    pub max_active_keys: usize,
    /// `DeployArtifactFILEs` entries.
    pub artifact_file: Vec<String>,
    /// `DeployArtifactURLs` entries.
    pub artifact_url: Vec<String>,
    /// Render `jws.yaml`.
    pub jws: bool,
    /// Release profile.
    pub release: Release,
    /// Roles running keystone.
    pub roles: Vec<String>,
    /// `[fernet_receipts] key_repository` for `jws.yaml`.
    pub receipt_dir: Option<String>,
    /// The key tarball (scoped delivery embeds or checksums it).
    pub tarball: Option<PathBuf>,
    /// Who receives the tarball.
    pub delivery: Delivery,
    /// Layout of the tarball.
    pub layout: LayoutKind,
    /// Environment files the deploy also uses (mappings, operator keystone_config).
    pub check_env: Vec<PathBuf>,
    /// roles_data.yaml to check the roles against.
    pub roles_data: Option<PathBuf>,
}

/// One file `render` wrote (or left as it was).
#[derive(Debug, Clone, Serialize)]
pub struct RenderedFile {
    /// Its path.
    pub path: PathBuf,
    /// What happened to it.
    pub action: WriteAction,
}

/// Renders every file the inputs ask for; an error when they ask for none. Every file is
/// rendered (and every input checked) before the first one is written.
pub fn render(inputs: &RenderInputs) -> Result<Vec<RenderedFile>> {
    check_release(inputs)?;
    let mut files = vec![];
    if inputs.fernet.is_some() || inputs.credential.is_some() {
        files.push(fernet_file(inputs)?);
    }
    if inputs.jws {
        let text = heat::render_jws(&heat::JwsEnv {
            stack: &inputs.stack,
            roles: &inputs.roles,
            receipt_dir: inputs.receipt_dir.clone(),
            operator: heat::extra_config::operator_entries(&inputs.check_env, &inputs.roles)?,
        })?;
        files.push(File::public(heat::names::JWS, text));
    }
    files.extend(artifact_files(inputs)?);
    if files.is_empty() {
        return Err(Error::InvalidValue {
            name: "render inputs",
            value: "none".into(),
            reason: "give --fernet/--credential, --jws, or --artifact-file/--artifact-url".into(),
        });
    }
    let dir = &inputs.output_dir;
    fsutil::create_parents(&dir.join("x"))?;
    files
        .into_iter()
        .map(|file| {
            let path = dir.join(&file.name);
            let action = fsutil::write_if_changed(&path, file.text.as_bytes(), file.mode, false)?;
            Ok(RenderedFile { path, action })
        })
        .collect()
}

/// A rendered file not yet written (zeroized when dropped: it may hold keys).
struct File {
    name: String,
    text: zeroize::Zeroizing<String>,
    mode: u32,
}

impl File {
    fn public(name: &str, text: String) -> File {
        File {
            name: name.into(),
            text: text.into(),
            mode: fsutil::PUBLIC_FILE_MODE,
        }
    }
}

/// What the release cannot do is refused before anything is read or written.
fn check_release(inputs: &RenderInputs) -> Result<()> {
    let profile = inputs.release.profile();
    if inputs.jws {
        profile.check_jws("enable").map_err(Error::NotInRelease)?;
    }
    if !inputs.artifact_file.is_empty() {
        profile
            .check_artifact_files()
            .map_err(Error::NotInRelease)?;
    }
    if inputs.tarball.is_some() {
        profile
            .check_layout(inputs.layout == LayoutKind::Containerized)
            .map_err(Error::NotInRelease)?;
    }
    Ok(())
}

/// `fernet.yaml` from the repositories given, each fully checked first.
fn fernet_file(inputs: &RenderInputs) -> Result<File> {
    crate::keys::repo::validate_max_active_keys(inputs.max_active_keys)?;
    let load = |path: &Option<PathBuf>, kind| -> Result<Option<KeySet>> {
        path.as_ref()
            .map(|p| crate::check::load_clean(p, kind))
            .transpose()
    };
    let fernet = load(&inputs.fernet, RepoKind::Fernet)?;
    let credential = load(&inputs.credential, RepoKind::Credential)?;
    let text = heat::render_fernet(&heat::FernetEnv {
        stack: &inputs.stack,
        fernet_keys: fernet.as_ref(),
        // Without --fernet a baremetal tarball carries the keys.
        in_tarball: fernet.is_none(),
        params: inputs.release.profile().fernet_params,
        credential_keys: credential.as_ref(),
        max_active_keys: inputs.max_active_keys,
        notes: vec![],
    })?;
    Ok(File {
        name: heat::names::FERNET.into(),
        text,
        mode: fsutil::SECRET_FILE_MODE,
    })
}

/// How the tarball reaches the nodes: the role-scoped templates (which embed or checksum
/// it), or `deployment-artifacts.yaml` for every role.
fn artifact_files(inputs: &RenderInputs) -> Result<Vec<File>> {
    if let Some(roles_data) = &inputs.roles_data {
        heat::scoped::check_roles(&inputs.roles, roles_data)?;
    }
    let scoped = inputs.delivery == Delivery::Scoped;
    let references = !(inputs.artifact_file.is_empty() && inputs.artifact_url.is_empty());
    match (&inputs.tarball, scoped) {
        (Some(tarball), true) => scoped_files(inputs, tarball),
        (None, true) if references => Err(Error::InvalidValue {
            name: "render --delivery scoped",
            value: "no --tarball".into(),
            reason: "scoped delivery needs the tarball (--tarball FILE) to embed it or to checksum it; use --delivery all-roles for deployment-artifacts.yaml".into(),
        }),
        _ if references => {
            let refs = if inputs.artifact_url.is_empty() {
                heat::ArtifactRefs::Files(inputs.artifact_file.clone())
            } else {
                heat::ArtifactRefs::Urls(inputs.artifact_url.clone())
            };
            let text = heat::render_artifacts(&refs, &[])?;
            Ok(vec![File::public(heat::names::ARTIFACTS, text)])
        }
        _ => Ok(vec![]),
    }
}

/// The role-scoped templates for `tarball`.
fn scoped_files(inputs: &RenderInputs, tarball: &std::path::Path) -> Result<Vec<File>> {
    let bytes = fsutil::read_small(tarball)?;
    let layout = Layout::new(inputs.layout);
    let key_dirs = crate::artifact::key_dirs_in(&bytes, &layout.root)?;
    let sha256 = crate::encoding::sha256_hex(&bytes);
    let existing = heat::scoped::existing_mappings(&inputs.check_env)?;
    let dir = &inputs.output_dir;
    let output_dir = std::path::absolute(dir).map_err(fsutil::io_err("resolve", dir))?;
    let source = match inputs.artifact_url.first() {
        Some(url) => heat::scoped::Source::Url(url),
        None => heat::scoped::Source::Embedded(&bytes),
    };
    let rendered = heat::scoped::render(&heat::scoped::ScopedInputs {
        stack: &inputs.stack,
        roles: &inputs.roles,
        output_dir: &output_dir,
        sha256: &sha256,
        layout_root: &layout.root,
        key_dirs: &key_dirs,
        source,
        existing: &existing,
        release: inputs.release,
    })?;
    Ok(rendered
        .into_iter()
        .map(|file| File {
            mode: if file.secret {
                fsutil::SECRET_FILE_MODE
            } else {
                fsutil::PUBLIC_FILE_MODE
            },
            name: file.name,
            text: file.text.into(),
        })
        .collect())
}
