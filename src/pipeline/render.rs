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

/// Renders every file the inputs ask for; an error when they ask for none.
pub fn render(inputs: &RenderInputs) -> Result<Vec<RenderedFile>> {
    // Release refusals first: nothing is written, not even the output directory.
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
            .check_layout(inputs.layout == crate::artifact::LayoutKind::Containerized)
            .map_err(Error::NotInRelease)?;
    }
    let mut written = vec![];
    let dir = &inputs.output_dir;
    fsutil::create_parents(&dir.join("x"))?;
    let mut write = |name: &str, text: &str, mode: u32| -> Result<()> {
        let path = dir.join(name);
        let action = fsutil::write_if_changed(&path, text.as_bytes(), mode, false)?;
        written.push(RenderedFile { path, action });
        Ok(())
    };
    if inputs.fernet.is_some() || inputs.credential.is_some() {
        crate::keys::repo::validate_max_active_keys(inputs.max_active_keys)?;
        let load = |path: &Option<PathBuf>, kind| -> Result<Option<KeySet>> {
            path.as_ref()
                .map(|p| {
                    crate::artifact::sources::require_clean(p, kind)
                        .and_then(|()| crate::keys::repo::load(p, kind))
                })
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
        write(heat::names::FERNET, &text, fsutil::SECRET_FILE_MODE)?;
    }
    if inputs.jws {
        let text = heat::render_jws(&heat::JwsEnv {
            stack: &inputs.stack,
            roles: &inputs.roles,
            receipt_dir: inputs.receipt_dir.clone(),
            operator: heat::extra_config::operator_entries(&inputs.check_env, &inputs.roles)?,
        })?;
        write(heat::names::JWS, &text, fsutil::PUBLIC_FILE_MODE)?;
    }
    if let Some(roles_data) = &inputs.roles_data {
        heat::scoped::check_roles(&inputs.roles, roles_data)?;
    }
    let scoped = inputs.delivery == crate::config::Delivery::Scoped;
    if scoped
        && inputs.tarball.is_none()
        && !(inputs.artifact_file.is_empty() && inputs.artifact_url.is_empty())
    {
        return Err(Error::InvalidValue {
            name: "render --delivery scoped",
            value: "no --tarball".into(),
            reason: "scoped delivery needs the tarball (--tarball FILE) to embed it or to checksum it; use --delivery all-roles for deployment-artifacts.yaml".into(),
        });
    }
    if let (true, Some(tarball)) = (scoped, &inputs.tarball) {
        let bytes = fsutil::read_small(tarball)?;
        let layout = Layout::new(inputs.layout);
        let key_dirs = crate::artifact::key_dirs_in(&bytes, &layout.root)?;
        let sha256 = crate::encoding::sha256_hex(&bytes);
        let existing = heat::scoped::existing_mappings(&inputs.check_env)?;
        let output_dir = std::path::absolute(dir).map_err(fsutil::io_err("resolve", dir))?;
        let source = match inputs.artifact_url.first() {
            Some(url) => heat::scoped::Source::Url(url),
            None => heat::scoped::Source::Embedded(&bytes),
        };
        for file in heat::scoped::render(&heat::scoped::ScopedInputs {
            stack: &inputs.stack,
            roles: &inputs.roles,
            output_dir: &output_dir,
            sha256: &sha256,
            layout_root: &layout.root,
            key_dirs: &key_dirs,
            source,
            existing: &existing,
            release: inputs.release,
        })? {
            let mode = if file.secret {
                fsutil::SECRET_FILE_MODE
            } else {
                fsutil::PUBLIC_FILE_MODE
            };
            write(&file.name, &file.text, mode)?;
        }
    } else if !inputs.artifact_file.is_empty() || !inputs.artifact_url.is_empty() {
        let refs = if inputs.artifact_url.is_empty() {
            heat::ArtifactRefs::Files(inputs.artifact_file.clone())
        } else {
            heat::ArtifactRefs::Urls(inputs.artifact_url.clone())
        };
        write(
            heat::names::ARTIFACTS,
            &heat::render_artifacts(&refs, &[])?,
            fsutil::PUBLIC_FILE_MODE,
        )?;
    }
    if written.is_empty() {
        return Err(Error::InvalidValue {
            name: "render inputs",
            value: "none".into(),
            reason: "give --fernet/--credential, --jws, or --artifact-file/--artifact-url".into(),
        });
    }
    Ok(written)
}
