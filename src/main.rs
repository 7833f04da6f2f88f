//! The `overcloud-keys` binary: parse, call the library, print, map errors to exit codes.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use serde_json::json;

use overcloud_keys::artifact::Layout;
use overcloud_keys::artifact::sources::Sources;
use overcloud_keys::check::{self, CheckOptions, RepoKind};
use overcloud_keys::cli::{AdoptArgs, BuildArgs, PackArgs, RenderArgs};
use overcloud_keys::cli::{
    Cli, Command, CredentialCommand, Format, JwsCommand, JwsRotateCommand, NumberedCommand,
    OwnerArgs, RepoCommand,
};
use overcloud_keys::config::{ConfigFile, JwsMode};
use overcloud_keys::fsutil::{self, WriteAction};
use overcloud_keys::keys::credential;
use overcloud_keys::keys::jws_repo::{self, CreateOutcome, JwsDirs};
use overcloud_keys::keys::repo::{self, RepoOptions, RotateOutcome, SetupOutcome};
use overcloud_keys::output::Outcome;
use overcloud_keys::plan::cli as plan_cli;
use overcloud_keys::{Error, Owner, heat, output, pipeline};

const EXIT_FINDINGS: u8 = 1;
const EXIT_ERROR: u8 = 2;
const EXIT_REMOTE: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = cli.format;
    let result = run(cli);
    let mut stdout = std::io::stdout().lock();
    let code = match result {
        Ok(outcome) => {
            if let Some(warning) = &outcome.warning {
                eprintln!("WARNING: {warning}");
            }
            let text = match format {
                Format::Table => outcome.text,
                Format::Json => serde_json::to_string_pretty(&outcome.json).expect("json") + "\n",
                Format::Yaml => serde_yaml_ng::to_string(&outcome.json).expect("yaml"),
                Format::Value => value_lines(&outcome.json),
            };
            // A closed pipe (`| head`) is not an error.
            let _ = stdout.write_all(text.as_bytes());
            outcome.code
        }
        Err(err) => {
            eprintln!("error: {err}");
            if let Some(hint) = err.hint() {
                eprintln!("hint: {hint}");
            }
            if err.is_remote_failure() {
                EXIT_REMOTE
            } else {
                EXIT_ERROR
            }
        }
    };
    let _ = stdout.flush();
    ExitCode::from(code)
}

fn value_lines(json: &serde_json::Value) -> String {
    match json {
        serde_json::Value::Object(map) => map.values().map(value_lines).collect(),
        serde_json::Value::Array(items) => items.iter().map(value_lines).collect(),
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => format!("{s}\n"),
        other => format!("{other}\n"),
    }
}

fn owner(args: &OwnerArgs, paths: &[&Path]) -> Result<Owner, Error> {
    if !args.allow_etc_keystone {
        for path in paths {
            let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            if absolute.starts_with("/etc/keystone") {
                return Err(Error::InvalidValue {
                    name: "key directory",
                    value: absolute.display().to_string(),
                    reason: "is under /etc/keystone, which on an undercloud holds the undercloud's own keys; overcloud keys belong in the work directory (pass --allow-etc-keystone if this machine really is the keystone node)".into(),
                });
            }
        }
    }
    Owner::resolve(
        args.keystone_user.as_deref(),
        args.keystone_group.as_deref(),
    )
}

fn run(cli: Cli) -> Result<Outcome, Error> {
    match cli.command {
        Command::Fernet(cmd) => numbered(RepoKind::Fernet, cmd),
        Command::Receipt(cmd) => numbered(RepoKind::Receipt, cmd),
        Command::Credential(cmd) => credential_cmd(cmd),
        Command::Jws(cmd) => jws_cmd(cmd),
        Command::Pack(args) => pack_cmd(args),
        Command::Render(args) => render_cmd(args),
        Command::Build(args) => build_cmd(args),
        Command::Adopt(args) => adopt_cmd(args),
        Command::Token(cmd) => overcloud_keys::token::cli::run(cmd),
        Command::Plan(cmd) => overcloud_keys::plan::cli::run_plan(cmd, cli.format),
        Command::Switch(args) => overcloud_keys::plan::cli::run_switch(args, cli.format),
        Command::Upload(args) => overcloud_keys::swift::cli::run(args),
        Command::Repo(RepoCommand::Manifest { dirs, kind, node }) => {
            plan_cli::run_manifest(&dirs, kind, node)
        }
        Command::Repo(RepoCommand::Check {
            dirs,
            kind,
            max_active_keys,
            keystone_user,
            keystone_group,
            no_modes,
            against,
        }) => {
            let opts = CheckOptions {
                modes: !no_modes,
                max_active_keys,
                owner: if keystone_user.is_some() || keystone_group.is_some() {
                    Some(Owner::resolve(
                        keystone_user.as_deref(),
                        keystone_group.as_deref(),
                    )?)
                } else {
                    None
                },
            };
            let reports = dirs
                .iter()
                .map(|d| check::check_path(d, kind, &opts))
                .collect::<Result<Vec<_>, _>>()?;
            let (reports, sync, compared) = if against.is_empty() {
                let sync = check::compare(&reports);
                (reports, sync, dirs.len() > 1)
            } else {
                let (nodes, sync) = plan_cli::against(&reports, &against)?;
                (reports.into_iter().chain(nodes).collect(), sync, true)
            };
            let findings = reports.iter().map(|r| r.findings.len()).sum::<usize>() + sync.len();
            let text = output::check_report(&reports, &sync, compared, cli.format);
            Ok(Outcome {
                json: serde_json::from_str(&output::check_report(
                    &reports,
                    &sync,
                    compared,
                    Format::Json,
                ))
                .expect("json"),
                text,
                warning: None,
                code: if findings == 0 { 0 } else { EXIT_FINDINGS },
            })
        }
    }
}

fn setup_outcome(kind: RepoKind, path: &Path, outcome: SetupOutcome) -> Outcome {
    let (action, text, warning) = match &outcome {
        SetupOutcome::Created => (
            "created",
            format!(
                "created {kind} repository {}: staged key 0, primary key 1\n",
                path.display()
            ),
            None,
        ),
        SetupOutcome::AlreadyPresent { keys } => (
            "unchanged",
            format!(
                "{kind} repository {} already holds keys {keys:?}: nothing changed ({} replaces them)\n",
                path.display(),
                if kind == RepoKind::Credential {
                    "--i-understand-this-destroys-credentials"
                } else {
                    "--force"
                }
            ),
            None,
        ),
        SetupOutcome::Replaced { previous } => (
            "replaced",
            format!(
                "replaced {kind} repository {}: new keys 0 and 1\n",
                path.display()
            ),
            Some(format!(
                "the previous {kind} keys {previous:?} in {} are gone: once deployed, everything encrypted with them is invalid",
                path.display()
            )),
        ),
    };
    let mut out = Outcome::ok(
        text,
        json!({"repository": path, "kind": kind, "action": action}),
    );
    out.warning = warning;
    out
}

fn rotate_outcome(kind: RepoKind, path: &Path, r: &RotateOutcome) -> Outcome {
    let text = format!(
        "rotated {kind} repository {}: key 0 promoted to primary {}; keys now {:?}; pruned {:?}\n",
        path.display(),
        r.new_primary,
        r.after,
        r.pruned
    );
    Outcome::ok(
        text,
        json!({"repository": path, "kind": kind, "action": "rotated", "primary": r.new_primary, "keys": r.after, "pruned": r.pruned}),
    )
}

fn numbered(kind: RepoKind, cmd: NumberedCommand) -> Result<Outcome, Error> {
    match cmd {
        NumberedCommand::Setup {
            target,
            max_active_keys,
            force,
        } => {
            repo::validate_max_active_keys(max_active_keys)?;
            let owner = owner(&target.owner, &[&target.key_repository])?;
            let opts = RepoOptions {
                kind,
                owner,
                max_active_keys,
            };
            let outcome = repo::setup(&target.key_repository, &opts, force)?;
            Ok(setup_outcome(kind, &target.key_repository, outcome))
        }
        NumberedCommand::Rotate {
            target,
            max_active_keys,
            expiration,
            allow_expired_window,
            force,
        } => {
            let chosen = overcloud_keys::build_record::rotation_max_active_keys(
                &target.key_repository,
                max_active_keys,
            )?;
            let max_active_keys = chosen.value;
            let owner = owner(&target.owner, &[&target.key_repository])?;
            let opts = RepoOptions {
                kind,
                owner,
                max_active_keys,
            };
            let limits = overcloud_keys::plan::rotation::Limits {
                expiration,
                allow_expired_window,
                max_active_keys,
            };
            let g = overcloud_keys::plan::record::rotate(
                &target.key_repository,
                &opts,
                &limits,
                force,
                plan_cli::now(),
            )?;
            let mut out = rotate_outcome(kind, &target.key_repository, &g.outcome);
            out.text.push_str(&format!("{}\n", chosen.describe()));
            out.json["max_active_keys"] = json!(chosen);
            Ok(plan_cli::guarded_rotate_outcome(out, &g, &limits))
        }
    }
}

fn credential_cmd(cmd: CredentialCommand) -> Result<Outcome, Error> {
    match cmd {
        CredentialCommand::Setup {
            target,
            i_understand_this_destroys_credentials,
        } => {
            let owner = owner(&target.owner, &[&target.key_repository])?;
            let outcome = credential::setup(
                &target.key_repository,
                owner,
                i_understand_this_destroys_credentials,
            )?;
            let mut out = setup_outcome(RepoKind::Credential, &target.key_repository, outcome);
            if out.warning.is_some() {
                out.warning = Some(format!(
                    "credential keys in {} were replaced: every credential stored in keystone (EC2, TOTP) is unreadable once these keys are deployed",
                    target.key_repository.display()
                ));
            }
            Ok(out)
        }
        CredentialCommand::Rotate {
            target,
            credentials_migrated,
        } => {
            let owner = owner(&target.owner, &[&target.key_repository])?;
            let r = credential::rotate(&target.key_repository, owner, credentials_migrated)?;
            let mut out = rotate_outcome(RepoKind::Credential, &target.key_repository, &r);
            out.text.push_str("next: deploy these keys, then run `keystone-manage credential_migrate` on one controller to re-encrypt every credential with the new primary\n");
            Ok(out)
        }
    }
}

fn jws_cmd(cmd: JwsCommand) -> Result<Outcome, Error> {
    let dirs_of = |t: &overcloud_keys::cli::JwsTarget| -> Result<(JwsDirs, Owner), Error> {
        let owner = owner(&t.owner, &[&t.private_dir, &t.public_dir])?;
        Ok((
            JwsDirs {
                private: t.private_dir.clone(),
                public: t.public_dir.clone(),
            },
            owner,
        ))
    };
    match cmd {
        JwsCommand::Create { target, force } => {
            let (dirs, owner) = dirs_of(&target)?;
            let outcome = jws_repo::create(&dirs, &owner, force)?;
            let (action, fp) = match &outcome {
                CreateOutcome::Created { fingerprint } => ("created", fingerprint),
                CreateOutcome::AlreadyPresent { fingerprint } => ("unchanged", fingerprint),
            };
            let text = match action {
                "created" => format!(
                    "created ES256 key pair: {}/private.pem (0600), {}/public.pem (0644), public key sha256 {}\n",
                    dirs.private.display(),
                    dirs.public.display(),
                    &fp[..16]
                ),
                _ => format!(
                    "a valid JWS key pair already exists in {} (public key sha256 {}): nothing changed (--force replaces it)\n",
                    dirs.private.display(),
                    &fp[..16]
                ),
            };
            let mut out = Outcome::ok(
                text,
                json!({"action": action, "private_dir": dirs.private, "public_dir": dirs.public, "public_key_sha256": fp}),
            );
            if force {
                out.warning = Some("the previous JWS key pair was replaced: tokens it signed fail validation once deployed".into());
            }
            Ok(out)
        }
        JwsCommand::Rotate(JwsRotateCommand::Stage { target }) => {
            let (dirs, owner) = dirs_of(&target)?;
            let name = jws_repo::stage(&dirs, &owner)?;
            Ok(Outcome::ok(
                format!(
                    "staged a new key pair: public key {} added to {}, private key waiting in {}/staged.pem\nnext: redeploy so every node has the new public key, then run `overcloud-keys jws rotate promote`\n",
                    name,
                    dirs.public.display(),
                    dirs.private.display()
                ),
                json!({"action": "staged", "public_key_file": name}),
            ))
        }
        JwsCommand::Rotate(JwsRotateCommand::Promote { target }) => {
            let (dirs, owner) = dirs_of(&target)?;
            let fp = jws_repo::promote(&dirs, &owner)?;
            Ok(Outcome::ok(
                format!(
                    "promoted the staged key: private.pem now signs (public key sha256 {})\nnext: redeploy; after expiration + allow_expired_window run `overcloud-keys jws rotate retire`\n",
                    &fp[..16]
                ),
                json!({"action": "promoted", "public_key_sha256": fp}),
            ))
        }
        JwsCommand::Rotate(JwsRotateCommand::Retire {
            target,
            expiration,
            allow_expired_window,
            force,
        }) => {
            let (dirs, _) = dirs_of(&target)?;
            let retired = jws_repo::retire(
                &dirs,
                Duration::from_secs(expiration + allow_expired_window),
                force,
            )?;
            Ok(Outcome::ok(
                format!(
                    "retired public keys {retired:?} from {}\nnext: redeploy\n",
                    dirs.public.display()
                ),
                json!({"action": "retired", "removed": retired}),
            ))
        }
    }
}

fn pack_cmd(args: PackArgs) -> Result<Outcome, Error> {
    let mut layout = Layout::new(args.layout.layout);
    layout.uid = args.layout.node_uid.unwrap_or(layout.uid);
    layout.gid = args.layout.node_gid.unwrap_or(layout.gid);
    let sources = Sources {
        fernet: args.fernet,
        receipt: args.receipt,
        credential: args.credential,
        jws: args
            .jws_private
            .zip(args.jws_public)
            .map(|(private, public)| JwsDirs { private, public }),
    };
    if sources.is_empty() {
        return Err(Error::InvalidValue {
            name: "pack sources",
            value: "none".into(),
            reason:
                "give at least one of --fernet, --receipt, --credential, --jws-private/--jws-public"
                    .into(),
        });
    }
    let packed = overcloud_keys::artifact::pack(overcloud_keys::artifact::sources::entries(
        &layout, &sources,
    )?)?;
    let name = args
        .output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    fsutil::create_parents(&args.output)?;
    let action = pipeline::write_artifact_files(&args.output, &name, &packed, &layout, false)?;
    let text = format!(
        "{} {} ({} bytes, {} entries)\nsha256 {}\nchecksum {}\nmanifest {}\n",
        if action == WriteAction::Unchanged {
            "unchanged"
        } else {
            "wrote"
        },
        args.output.display(),
        packed.bytes.len(),
        packed.manifest.len(),
        packed.sha256,
        pipeline::checksum_path(&args.output).display(),
        pipeline::manifest_path(&args.output).display()
    );
    Ok(Outcome::ok(
        text,
        json!({"path": args.output, "sha256": packed.sha256, "size": packed.bytes.len(), "action": action, "entries": packed.manifest}),
    ))
}

fn render_cmd(args: RenderArgs) -> Result<Outcome, Error> {
    // Release refusals first: nothing is written, not even the output directory.
    let profile = args.release.profile();
    if args.jws {
        profile.check_jws("enable").map_err(Error::NotInRelease)?;
    }
    if !args.artifact_file.is_empty() {
        profile
            .check_artifact_files()
            .map_err(Error::NotInRelease)?;
    }
    if args.tarball.is_some() {
        profile
            .check_layout(args.layout == overcloud_keys::artifact::LayoutKind::Containerized)
            .map_err(Error::NotInRelease)?;
    }
    let mut written = vec![];
    let dir = &args.output_dir;
    fsutil::create_parents(&dir.join("x"))?;
    let mut write = |name: &str, text: &str, mode: u32| -> Result<(), Error> {
        let path = dir.join(name);
        let action = fsutil::write_if_changed(&path, text.as_bytes(), mode, false)?;
        written.push(json!({"path": path, "action": action}));
        Ok(())
    };
    if args.fernet.is_some() || args.credential.is_some() {
        repo::validate_max_active_keys(args.max_active_keys)?;
        let load =
            |path: &Option<std::path::PathBuf>, kind| -> Result<Option<repo::KeySet>, Error> {
                path.as_ref()
                    .map(|p| {
                        overcloud_keys::artifact::sources::require_clean(p, kind)
                            .and_then(|()| repo::load(p, kind))
                    })
                    .transpose()
            };
        let fernet = load(&args.fernet, RepoKind::Fernet)?;
        let credential = load(&args.credential, RepoKind::Credential)?;
        let text = heat::render_fernet(&heat::FernetEnv {
            stack: &args.stack,
            fernet_keys: fernet.as_ref(),
            // Without --fernet a baremetal tarball carries the keys.
            in_tarball: fernet.is_none(),
            params: args.release.profile().fernet_params,
            credential_keys: credential.as_ref(),
            max_active_keys: args.max_active_keys,
            notes: vec![],
        })?;
        write(heat::names::FERNET, &text, fsutil::SECRET_FILE_MODE)?;
    }
    if args.jws {
        let text = heat::render_jws(&heat::JwsEnv {
            stack: &args.stack,
            roles: &args.roles,
            receipt_dir: args.receipt_dir.clone(),
            operator: heat::extra_config::operator_entries(&args.check_env, &args.roles)?,
        })?;
        write(heat::names::JWS, &text, fsutil::PUBLIC_FILE_MODE)?;
    }
    if let Some(roles_data) = &args.roles_data {
        heat::scoped::check_roles(&args.roles, roles_data)?;
    }
    let scoped = args.delivery == overcloud_keys::config::Delivery::Scoped;
    if scoped
        && args.tarball.is_none()
        && !(args.artifact_file.is_empty() && args.artifact_url.is_empty())
    {
        return Err(Error::InvalidValue {
            name: "render --delivery scoped",
            value: "no --tarball".into(),
            reason: "scoped delivery needs the tarball (--tarball FILE) to embed it or to checksum it; use --delivery all-roles for deployment-artifacts.yaml".into(),
        });
    }
    if let (true, Some(tarball)) = (scoped, &args.tarball) {
        let bytes = fsutil::read_small(tarball)?;
        let layout = Layout::new(args.layout);
        let key_dirs = overcloud_keys::artifact::key_dirs_in(&bytes, &layout.root)?;
        let sha256 =
            overcloud_keys::keys::fernet::hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        let existing = heat::scoped::existing_mappings(&args.check_env)?;
        let output_dir = std::path::absolute(dir).map_err(fsutil::io_err("resolve", dir))?;
        let source = match args.artifact_url.first() {
            Some(url) => heat::scoped::Source::Url(url),
            None => heat::scoped::Source::Embedded(&bytes),
        };
        for file in heat::scoped::render(&heat::scoped::ScopedInputs {
            stack: &args.stack,
            roles: &args.roles,
            output_dir: &output_dir,
            sha256: &sha256,
            layout_root: &layout.root,
            key_dirs: &key_dirs,
            source,
            existing: &existing,
            release: args.release,
        })? {
            let mode = if file.secret {
                fsutil::SECRET_FILE_MODE
            } else {
                fsutil::PUBLIC_FILE_MODE
            };
            write(&file.name, &file.text, mode)?;
        }
    } else if !args.artifact_file.is_empty() || !args.artifact_url.is_empty() {
        let refs = if args.artifact_url.is_empty() {
            heat::ArtifactRefs::Files(args.artifact_file.clone())
        } else {
            heat::ArtifactRefs::Urls(args.artifact_url.clone())
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
    let text = written
        .iter()
        .map(|w| {
            format!(
                "{} {}\n",
                w["action"].as_str().unwrap_or(""),
                w["path"].as_str().unwrap_or("")
            )
        })
        .collect();
    Ok(Outcome::ok(text, json!({"files": written})))
}

/// The config file's settings (`--config`), or the embedded defaults, with `flags` on top.
fn settings(
    config: Option<&Path>,
    flags: ConfigFile,
) -> Result<overcloud_keys::config::Settings, Error> {
    let file = match config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    file.resolve(flags, config)
}

/// A report's text and JSON, its warnings joined for stderr.
fn reported<T: serde::Serialize>(text: String, report: &T, warnings: &[String]) -> Outcome {
    let mut out = Outcome::ok(
        text,
        serde_json::to_value(report).expect("report serializes"),
    );
    if !warnings.is_empty() {
        out.warning = Some(warnings.join("\nWARNING: "));
    }
    out
}

fn build_cmd(args: BuildArgs) -> Result<Outcome, Error> {
    let flags = ConfigFile {
        stack: args.stack,
        workdir: args.workdir,
        layout: args.layout,
        release: args.release,
        artifacts: args.artifacts,
        artifact_dir: args.artifact_dir,
        jws: if args.jws {
            Some(JwsMode::Enable)
        } else if args.no_jws {
            Some(JwsMode::Off)
        } else {
            None
        },
        max_active_keys: args.max_active_keys,
        roles: (!args.roles.is_empty()).then_some(args.roles),
        delivery: args.delivery,
        os_cloud: args.os_cloud,
        check_env: (!args.check_env.is_empty()).then_some(args.check_env),
        roles_data: args.roles_data,
        new_keys: Some(args.new_keys),
        keys_from: args.keys_from,
        ..Default::default()
    };
    let settings = settings(args.config.as_deref(), flags)?;
    let report = pipeline::build(&settings, args.dry_run)?;
    Ok(reported(
        output::build_text(&report),
        &report,
        &report.warnings,
    ))
}

fn adopt_cmd(args: AdoptArgs) -> Result<Outcome, Error> {
    let flags = ConfigFile {
        stack: args.stack,
        workdir: args.workdir,
        os_cloud: args.os_cloud,
        ..Default::default()
    };
    let settings = settings(args.config.as_deref(), flags)?;
    let report = overcloud_keys::adopt::adopt(&overcloud_keys::adopt::AdoptOptions {
        stack: settings.stack.clone(),
        workdir: settings.workdir.clone(),
        from: args.from,
        home: settings.home.clone(),
        swift: overcloud_keys::swift::ConnectOptions {
            cloud: settings.swift.cloud.clone(),
            ..Default::default()
        },
        dry_run: args.dry_run,
        replace_workdir: args.replace_workdir,
    })?;
    Ok(reported(
        output::adopt_text(&report),
        &report,
        &report.warnings,
    ))
}
