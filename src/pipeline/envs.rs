//! The environment files `openstack overcloud deploy` consumes: `fernet.yaml` (keys by
//! parameters, 0600), `deployment-artifacts.yaml`, the role-scoped templates, `jws.yaml`.
//! Each is written only when its bytes change.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::EnvStep;
use super::delivery::{PlannedDelivery, describe_artifact};
use super::repos::BuildKeys;
use crate::artifact::layout::dirs;
use crate::artifact::{self, Layout, LayoutKind};
use crate::config::{JwsMode, Settings};
use crate::error::Result;
use crate::fsutil::{self, PUBLIC_FILE_MODE, SECRET_FILE_MODE};
use crate::heat::{self, ArtifactRefs, FernetEnv, JwsEnv, scoped};
use crate::workdir::WorkdirLayout;

/// `fernet.yaml`: the token keys (unless a baremetal tarball carries them; OSP 11's
/// `KeystoneFernetKey0/1` mirror it) and credential keys 0 and 1.
fn fernet_env(settings: &Settings, local: &WorkdirLayout, keys: &BuildKeys) -> Result<PlannedEnv> {
    let (fernet_keys, credential_keys) = (&keys.fernet, &keys.credential);
    let text = heat::render_fernet(&FernetEnv {
        stack: &settings.stack,
        fernet_keys: Some(fernet_keys),
        in_tarball: settings.layout == LayoutKind::Baremetal,
        params: settings.release.profile().fernet_params,
        credential_keys: Some(credential_keys),
        max_active_keys: settings.max_active_keys,
        notes: vec![format!(
            "Token keys: {} (primary {}), credential keys: {}",
            local.fernet.display(),
            fernet_keys.keys().next_back().copied().unwrap_or(0),
            local.credential.display()
        )],
    })?;
    Ok(planned(
        &settings.workdir.join(heat::names::FERNET),
        text,
        true,
        true,
    ))
}

/// The comment lines of `deployment-artifacts.yaml`: who receives the tarball's secrets.
fn artifact_notes(settings: &Settings, staged: &PlannedDelivery) -> Vec<String> {
    let secrets = describe_artifact(&staged.sources);
    if staged.scoped {
        vec![
            "Role-scoped delivery: this file is not needed; the key artifact goes only to the"
                .into(),
            format!("keystone roles through {}.", scoped::names::ENV),
        ]
    } else if secrets.is_empty() {
        vec![]
    } else {
        vec![
            "WARNING (all-roles delivery): DeployArtifactFILEs/URLs reach every node of every role,".into(),
            format!("so these secrets reach compute, storage and every other node, not only {}: {}.", settings.roles.join(", "), secrets.join(", ")),
        ]
    }
}

/// `deployment-artifacts.yaml`: the TempURL, the staged file, or (scoped) nothing.
fn artifacts_env(settings: &Settings, staged: &PlannedDelivery) -> Result<PlannedEnv> {
    let files = match (&staged.artifact, staged.scoped, &staged.temp_url) {
        (Some(planned), false, None) => vec![planned.path.to_string_lossy().into_owned()],
        _ => vec![],
    };
    let refs = match &staged.temp_url {
        Some(url) if !staged.scoped && !url.is_empty() => ArtifactRefs::Urls(vec![url.clone()]),
        _ => ArtifactRefs::Files(files),
    };
    let text = heat::render_artifacts(&refs, &artifact_notes(settings, staged))?;
    // A TempURL is a bearer credential for the tarball: the file holding it is 0600 too.
    let holds_url = matches!(refs, ArtifactRefs::Urls(_));
    Ok(planned(
        &settings.workdir.join(heat::names::ARTIFACTS),
        text,
        holds_url,
        !staged.scoped,
    ))
}

/// The role-scoped templates (`<Role>ExtraConfigPre`, chaining an existing mapping).
fn scoped_envs(
    settings: &Settings,
    existing: &[scoped::ExistingMapping],
    staged: &PlannedDelivery,
    warnings: &mut Vec<String>,
) -> Result<Vec<PlannedEnv>> {
    let (true, Some(artifact)) = (staged.scoped, &staged.artifact) else {
        return Ok(vec![]);
    };
    let packed = &artifact.packed;
    // The tarball's own directory entries (its manifest), as `render --tarball` reads them.
    let key_dirs = artifact::key_dirs_of(&packed.manifest, &staged.layout.root)?;
    let mut steps = vec![];
    for file in scoped::render(&scoped::ScopedInputs {
        stack: &settings.stack,
        roles: &settings.roles,
        output_dir: &settings.workdir,
        sha256: &packed.sha256,
        layout_root: &staged.layout.root,
        key_dirs: &key_dirs,
        source: match &staged.temp_url {
            Some(url) => scoped::Source::Url(url),
            None => scoped::Source::Embedded(&packed.bytes),
        },
        existing,
        release: settings.release,
    })? {
        let deploy = file.name == scoped::names::ENV;
        let path = settings.workdir.join(&file.name);
        steps.push(planned(&path, file.text, file.secret, deploy));
    }
    for m in existing {
        warnings.push(format!(
            "{}ExtraConfigPre is already mapped to {} in {}: rendered a chaining template that runs it and the key delivery; keep passing your file before {}",
            m.role,
            m.template,
            m.env_file.display(),
            scoped::names::ENV
        ));
    }
    Ok(steps)
}

/// `jws.yaml`, carrying the operator's own keystone_config entries found in `--check-env`
/// files (Heat's shallow merge of `<Role>ExtraConfig` would drop them), and saying so.
fn jws_env(settings: &Settings, warnings: &mut Vec<String>) -> Result<PlannedEnv> {
    let receipt_dir = settings
        .separate_receipts
        .then(|| Layout::keystone_path(dirs::RECEIPT));
    let operator = heat::extra_config::operator_entries(&settings.check_env, &settings.roles)?;
    let owned = heat::jws_owned_options(receipt_dir.as_deref());
    for (role, found) in &operator {
        let replaced: Vec<&str> = found
            .entries
            .keys()
            .map(String::as_str)
            .filter(|k| owned.contains(k))
            .collect();
        warnings.push(format!(
            "jws.yaml carries your {} keystone_config entries for {role}ExtraConfig from {} (Heat merges {role}ExtraConfig shallowly, so jws.yaml would otherwise drop them){}; pass jws.yaml after those files",
            found.entries.len() - replaced.len(),
            found.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", "),
            if replaced.is_empty() {
                String::new()
            } else {
                format!("; the switch sets {} itself", replaced.join(", "))
            }
        ));
    }
    if settings.jws == JwsMode::Enable && settings.check_env.is_empty() {
        warnings.push(format!(
            "jws.yaml sets keystone::config::keystone_config in {}ExtraConfig: Heat merges that parameter shallowly, so a keystone_config map in your own environment files is replaced whole; pass those files with --check-env (config check_env) so build carries their entries over",
            settings.roles.join("ExtraConfig, ")
        ));
    }
    let text = heat::render_jws(&JwsEnv {
        stack: &settings.stack,
        roles: &settings.roles,
        receipt_dir,
        operator,
    })?;
    Ok(planned(
        &settings.workdir.join(heat::names::JWS),
        text,
        false,
        settings.jws == JwsMode::Enable,
    ))
}

/// An environment file to write: rendered, compared with what is on disk.
pub(super) struct PlannedEnv {
    /// Where.
    pub(super) path: PathBuf,
    /// The rendered text (zeroized on drop: it may hold keys or a TempURL).
    pub(super) text: Zeroizing<String>,
    /// Holds key material or a TempURL (mode 0600).
    pub(super) secret: bool,
    /// Part of the printed deploy arguments.
    pub(super) deploy: bool,
}

impl PlannedEnv {
    fn mode(&self) -> u32 {
        if self.secret {
            SECRET_FILE_MODE
        } else {
            PUBLIC_FILE_MODE
        }
    }

    /// Writes it unless the file already holds exactly these bytes (under `dry_run` only
    /// compares), and returns the report's line.
    pub(super) fn write(&self, dry_run: bool) -> Result<EnvStep> {
        let action =
            fsutil::write_if_changed(&self.path, self.text.as_bytes(), self.mode(), dry_run)?;
        Ok(EnvStep {
            path: self.path.clone(),
            action,
            secret: self.secret,
            deploy: self.deploy,
        })
    }
}

fn planned(
    path: &Path,
    text: impl Into<Zeroizing<String>>,
    secret: bool,
    deploy: bool,
) -> PlannedEnv {
    PlannedEnv {
        path: path.to_path_buf(),
        text: text.into(),
        secret,
        deploy,
    }
}

/// Every environment file of the build, rendered in memory in the order of the deploy
/// arguments, and the warnings rendering them raised.
pub(super) fn render_all(
    settings: &Settings,
    local: &WorkdirLayout,
    keys: &BuildKeys,
    existing: &[scoped::ExistingMapping],
    staged: &PlannedDelivery,
) -> Result<(Vec<PlannedEnv>, Vec<String>)> {
    let mut warnings = vec![];
    let mut envs = vec![
        fernet_env(settings, local, keys)?,
        artifacts_env(settings, staged)?,
    ];
    envs.extend(scoped_envs(settings, existing, staged, &mut warnings)?);
    if settings.jws != JwsMode::Off {
        envs.push(jws_env(settings, &mut warnings)?);
    }
    Ok((envs, warnings))
}
