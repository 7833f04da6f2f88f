//! `build`: the undercloud's pre-deploy / redeploy flow. Repositories (created if missing,
//! reused and checked if present, never regenerated) → tarball (reproducible, named by its
//! content hash) → staged artifact → the three environment files → the deploy arguments.
//!
//! Idempotent: a re-run with nothing changed writes nothing and says so. `dry_run` computes
//! the same report and writes nothing.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::adopt::Deployed;
use crate::artifact::layout::dirs;
pub use crate::artifact::manifest::{
    artifact_name, checksum_path, manifest_path, write_artifact_files,
};
use crate::artifact::sources::{self, Sources};
use crate::artifact::{self, Layout, LayoutKind};
use crate::check::RepoKind;
use crate::config::{ArtifactsMode, Delivery, JwsMode, Settings};
use crate::error::{Error, Result};
use crate::fsutil::{self, KEY_DIR_MODE, PUBLIC_FILE_MODE, SECRET_FILE_MODE, WriteAction};
use crate::heat::{self, ArtifactRefs, FernetEnv, JwsEnv, scoped};
use crate::keys::jws_repo::{self, JwsDirs};
use crate::keys::repo::{self, RepoOptions};
use crate::owner::Owner;
pub use crate::workdir::WorkdirLayout;

/// A repository the build used.
#[derive(Debug, Clone, Serialize)]
pub struct RepoStep {
    /// Kind of keys.
    pub kind: RepoKind,
    /// Local directory.
    pub path: PathBuf,
    /// created | reused | would-create.
    pub action: &'static str,
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
    pub delivery: &'static str,
    /// Who receives which secret.
    pub secrets: Vec<SecretReach>,
    /// Things the operator must know.
    pub warnings: Vec<String>,
}

fn ensure_repo(
    kind: RepoKind,
    path: &Path,
    max_active_keys: usize,
    dry_run: bool,
) -> Result<RepoStep> {
    let exists = repo::has_entries(path)?;
    let action = match (exists, dry_run) {
        (true, _) => "reused",
        (false, true) => "would-create",
        (false, false) => {
            let opts = RepoOptions {
                kind,
                owner: Owner::current(),
                max_active_keys,
            };
            repo::setup(path, &opts, false)?;
            "created"
        }
    };
    Ok(RepoStep {
        kind,
        path: path.to_path_buf(),
        action,
    })
}

fn ensure_jws(jws: &JwsDirs, dry_run: bool) -> Result<RepoStep> {
    let exists = jws
        .private
        .join(crate::keys::jws::PRIVATE_KEY_FILE)
        .exists();
    let action = match (exists, dry_run) {
        (true, _) => "reused",
        (false, true) => "would-create",
        (false, false) => {
            jws_repo::create(jws, &Owner::current(), false)?;
            "created"
        }
    };
    Ok(RepoStep {
        kind: RepoKind::Jws,
        path: jws.private.parent().unwrap_or(&jws.private).to_path_buf(),
        action,
    })
}

/// Creates the work directory (0700) or checks that it can be written.
fn prepare_workdir(workdir: &Path, dry_run: bool) -> Result<()> {
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

/// Runs the whole build.
pub fn build(settings: &Settings, dry_run: bool) -> Result<BuildReport> {
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
    scoped::existing_mappings(&settings.check_env)?;
    let (local, shared_note) = key_source(settings)?;
    let new_keys_warning = guard_deployed_stack(settings, &local)?;
    prepare_workdir(&settings.workdir, dry_run)?;
    let mut repositories = vec![
        ensure_repo(
            RepoKind::Fernet,
            &local.fernet,
            settings.max_active_keys,
            dry_run,
        )?,
        ensure_repo(
            RepoKind::Credential,
            &local.credential,
            settings.max_active_keys,
            dry_run,
        )?,
    ];
    if settings.separate_receipts {
        repositories.push(ensure_repo(
            RepoKind::Receipt,
            &local.receipt,
            settings.max_active_keys,
            dry_run,
        )?);
    }
    if settings.jws != JwsMode::Off {
        repositories.push(ensure_jws(&local.jws, dry_run)?);
    }
    let mut report = BuildReport {
        settings: settings.clone(),
        dry_run,
        changed: repositories.iter().any(|r| r.action != "reused"),
        repositories,
        artifact: None,
        env_files: vec![],
        deploy_args: vec![],
        delivery: "all-roles",
        secrets: vec![],
        warnings: shared_note.into_iter().chain(new_keys_warning).collect(),
    };
    if report
        .repositories
        .iter()
        .any(|r| r.action == "would-create")
    {
        report.warnings.push("dry run: repositories do not exist yet, so the artifact and environment files cannot be computed; run without --dry-run".into());
        return Ok(report);
    }

    let mut layout = Layout::new(settings.layout);
    layout.uid = settings.node_uid.unwrap_or(layout.uid);
    layout.gid = settings.node_gid.unwrap_or(layout.gid);
    let baremetal = settings.layout == LayoutKind::Baremetal;
    let tar_sources = Sources {
        fernet: baremetal.then(|| local.fernet.clone()),
        receipt: settings.separate_receipts.then(|| local.receipt.clone()),
        credential: None,
        jws: (settings.jws != JwsMode::Off).then(|| local.jws.clone()),
    };
    // Validates (full repo check) every repository, including the ones only rendered.
    sources::require_clean(&local.fernet, RepoKind::Fernet)?;
    sources::require_clean(&local.credential, RepoKind::Credential)?;
    let fernet_keys = repo::load(&local.fernet, RepoKind::Fernet)?;
    let credential_keys = repo::load(&local.credential, RepoKind::Credential)?;

    let mut artifact_files = vec![];
    let mut packed = None;
    if !tar_sources.is_empty() {
        let (step, bytes) = stage_artifact(settings, &layout, &tar_sources, dry_run)?;
        artifact_files.push(step.path.to_string_lossy().into_owned());
        report.artifact = Some(step);
        packed = Some(bytes);
    }
    let scoped = settings.delivery == Delivery::Scoped && packed.is_some();
    report.delivery = if scoped { "scoped" } else { "all-roles" };
    let mut temp_url = None;
    if let (ArtifactsMode::Swift, Some(step)) = (settings.artifacts, &report.artifact) {
        let (url, note) = swift_url(settings, &step.path, dry_run)?;
        report.warnings.extend(note);
        report.changed |= url.is_none();
        temp_url = Some(url.unwrap_or_default());
    }

    let env_dir = &settings.workdir;
    let fernet_text = heat::render_fernet(&FernetEnv {
        stack: &settings.stack,
        fernet_keys: Some(&fernet_keys),
        in_tarball: baremetal,
        params: settings.release.profile().fernet_params,
        credential_keys: Some(&credential_keys),
        max_active_keys: settings.max_active_keys,
        notes: vec![format!(
            "Token keys: {} (primary {}), credential keys: {}",
            local.fernet.display(),
            fernet_keys.keys().next_back().copied().unwrap_or(0),
            local.credential.display()
        )],
    })?;
    let mut env_files = vec![write_env(
        &env_dir.join(heat::names::FERNET),
        fernet_text.as_bytes(),
        true,
        true,
        dry_run,
    )?];
    let secrets_in_artifact = describe_artifact(&tar_sources);
    let notes = if scoped {
        artifact_files.clear();
        vec![
            "Role-scoped delivery: this file is not needed; the key artifact goes only to the"
                .into(),
            format!("keystone roles through {}.", scoped::names::ENV),
        ]
    } else if secrets_in_artifact.is_empty() {
        vec![]
    } else {
        vec![
            "WARNING (all-roles delivery): DeployArtifactFILEs/URLs reach every node of every role,".into(),
            format!("so these secrets reach compute, storage and every other node, not only {}: {}.", settings.roles.join(", "), secrets_in_artifact.join(", ")),
        ]
    };
    let refs = match &temp_url {
        Some(url) if !scoped && !url.is_empty() => ArtifactRefs::Urls(vec![url.clone()]),
        _ => ArtifactRefs::Files(if temp_url.is_some() {
            vec![]
        } else {
            artifact_files
        }),
    };
    let artifacts_text = heat::render_artifacts(&refs, &notes)?;
    // A TempURL is a bearer credential for the tarball: the file holding it is 0600 too.
    let holds_url = matches!(refs, ArtifactRefs::Urls(_));
    env_files.push(write_env(
        &env_dir.join(heat::names::ARTIFACTS),
        artifacts_text.as_bytes(),
        holds_url,
        !scoped,
        dry_run,
    )?);
    if let (true, Some(packed)) = (scoped, &packed) {
        let existing = scoped::existing_mappings(&settings.check_env)?;
        // Read from the tarball itself, as `render --tarball` does: one source of truth.
        let key_dirs = artifact::key_dirs_in(&packed.bytes, &layout.root)?;
        for file in scoped::render(&scoped::ScopedInputs {
            stack: &settings.stack,
            roles: &settings.roles,
            output_dir: env_dir,
            sha256: &packed.sha256,
            layout_root: &layout.root,
            key_dirs: &key_dirs,
            source: match &temp_url {
                Some(url) => scoped::Source::Url(url),
                None => scoped::Source::Embedded(&packed.bytes),
            },
            existing: &existing,
            release: settings.release,
        })? {
            let deploy = file.name == scoped::names::ENV;
            env_files.push(write_env(
                &env_dir.join(&file.name),
                file.text.as_bytes(),
                file.secret,
                deploy,
                dry_run,
            )?);
        }
        for m in &existing {
            report.warnings.push(format!(
                "{}ExtraConfigPre is already mapped to {} in {}: rendered a chaining template that runs it and the key delivery; keep passing your file before {}",
                m.role,
                m.template,
                m.env_file.display(),
                scoped::names::ENV
            ));
        }
    }
    if settings.jws != JwsMode::Off {
        env_files.push(jws_env(settings, dry_run, &mut report.warnings)?);
    }
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
    report.secrets = reach(settings, &tar_sources, baremetal, scoped);
    if !notes.is_empty() && !scoped {
        report.warnings.push(format!(
            "all-roles delivery: the artifact puts these secrets on every node of every role, not only {}: {}",
            settings.roles.join(", "),
            secrets_in_artifact.join(", ")
        ));
    }
    Ok(report)
}

/// `jws.yaml`, carrying the operator's own keystone_config entries found in `--check-env`
/// files (Heat's shallow merge of `<Role>ExtraConfig` would drop them), and saying so.
fn jws_env(settings: &Settings, dry_run: bool, warnings: &mut Vec<String>) -> Result<EnvStep> {
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
    write_env(
        &settings.workdir.join(heat::names::JWS),
        text.as_bytes(),
        false,
        settings.jws == JwsMode::Enable,
        dry_run,
    )
}

/// The repositories this build uses: its own work directory's, or with `keys_from` those of
/// the other stack's work directory (a sibling), which must all exist already: a build never
/// creates or rotates another stack's keys. The note says so in the report.
fn key_source(settings: &Settings) -> Result<(WorkdirLayout, Option<String>)> {
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
fn guard_deployed_stack(settings: &Settings, local: &WorkdirLayout) -> Result<Option<String>> {
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

fn describe_artifact(sources: &Sources) -> Vec<String> {
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
fn swift_url(
    settings: &Settings,
    artifact: &Path,
    dry_run: bool,
) -> Result<(Option<String>, Vec<String>)> {
    let object = artifact
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
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
                    if url_serves(url, artifact) {
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
        connect: crate::swift::ConnectOptions {
            cloud: settings.swift.cloud.clone(),
            storage_url: settings.swift.storage_url.clone(),
            progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            ..Default::default()
        },
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
fn url_serves(url: &str, artifact: &Path) -> bool {
    let Ok(bytes) = fs::read(artifact) else {
        return false;
    };
    let want = crate::keys::fernet::hex(&<md5::Md5 as md5::Digest>::digest(&bytes));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into();
    match agent.head(url).call() {
        Ok(response) => response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_matches('"').eq_ignore_ascii_case(&want)),
        Err(_) => false,
    }
}

fn reach(settings: &Settings, tar: &Sources, baremetal: bool, scoped: bool) -> Vec<SecretReach> {
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

fn write_env(
    path: &Path,
    bytes: &[u8],
    secret: bool,
    deploy: bool,
    dry_run: bool,
) -> Result<EnvStep> {
    let mode = if secret {
        SECRET_FILE_MODE
    } else {
        PUBLIC_FILE_MODE
    };
    let action = fsutil::write_if_changed(path, bytes, mode, dry_run)?;
    Ok(EnvStep {
        path: path.to_path_buf(),
        action,
        secret,
        deploy,
    })
}

fn stage_artifact(
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
