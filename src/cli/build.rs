//! `pack`, `render`, `build` and `adopt`: the undercloud's build step.
#![allow(missing_docs)] // flattened arg groups carry their docs on their own fields

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::output::{self, Outcome};
use overcloud_keys::artifact::Layout;
use overcloud_keys::artifact::sources::Sources;
use overcloud_keys::config::{ConfigFile, JwsMode};
use overcloud_keys::fsutil::{self, WriteAction};
use overcloud_keys::keys::jws_repo::JwsDirs;
use overcloud_keys::{Error, pipeline};

/// Node layout flags shared by pack and render.
#[derive(Debug, Args, Clone)]
pub struct LayoutArgs {
    /// Where keys live on the nodes.
    ///
    /// containerized (default, OSP 12+): var/lib/config-data/puppet-generated/keystone/etc/keystone,
    /// owner 42425. baremetal (OSP 10/11): etc/keystone, owner 163.
    #[arg(long, value_enum, default_value_t = overcloud_keys::artifact::LayoutKind::Containerized)]
    pub layout: overcloud_keys::artifact::LayoutKind,
    /// Override the numeric owner of files in the tarball. Default: the layout's.
    #[arg(long, value_name = "UID")]
    pub node_uid: Option<u32>,
    /// Override the numeric group of files in the tarball. Default: the layout's.
    #[arg(long, value_name = "GID")]
    pub node_gid: Option<u32>,
}

/// `pack`.
#[derive(Debug, Args)]
pub struct PackArgs {
    /// The .tar.gz to write (mode 0600); FILE.sha256 and FILE.manifest.json are written beside it.
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub layout: LayoutArgs,
    /// Fernet token repository (baremetal layout only: containerized nodes get these by parameters).
    #[arg(long, value_name = "DIR")]
    pub fernet: Option<PathBuf>,
    /// A separate Fernet receipt repository.
    #[arg(long, value_name = "DIR")]
    pub receipt: Option<PathBuf>,
    /// Credential repository (baremetal layout only).
    #[arg(long, value_name = "DIR")]
    pub credential: Option<PathBuf>,
    /// JWS private key directory (with --jws-public).
    #[arg(long, value_name = "DIR", requires = "jws_public")]
    pub jws_private: Option<PathBuf>,
    /// JWS public key directory (with --jws-private).
    #[arg(long, value_name = "DIR", requires = "jws_private")]
    pub jws_public: Option<PathBuf>,
}

/// `render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Directory for fernet.yaml (0600), jws.yaml and deployment-artifacts.yaml.
    #[arg(long, value_name = "DIR")]
    pub output_dir: PathBuf,
    /// Heat stack name (comments only). Default: overcloud.
    #[arg(long, default_value = "overcloud")]
    pub stack: String,
    /// Fernet token repository for KeystoneFernetKeys (omit when a baremetal tarball carries them).
    #[arg(long, value_name = "DIR")]
    pub fernet: Option<PathBuf>,
    /// Credential repository (keys 0 and 1) for KeystoneCredential0/1.
    #[arg(long, value_name = "DIR")]
    pub credential: Option<PathBuf>,
    /// KeystoneFernetMaxActiveKeys. Default 5 (TripleO's).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub max_active_keys: usize,
    /// Artifact paths on the undercloud for DeployArtifactFILEs (repeatable).
    #[arg(long, value_name = "PATH")]
    pub artifact_file: Vec<String>,
    /// Artifact URLs for DeployArtifactURLs (repeatable).
    #[arg(long, value_name = "URL", conflicts_with = "artifact_file")]
    pub artifact_url: Vec<String>,
    /// Also render jws.yaml, switching keystone to JWS (refused for --release 13).
    #[arg(long)]
    pub jws: bool,
    /// The OSP release of the overcloud: 10, 11, 13, 16.2 or 17.1. Default: 17.1.
    ///
    /// Sets the heat_template_version of the scoped templates (queens, rocky, wallaby).
    /// Refused with exit 2 before anything is written: --jws on 13 (no JWS provider before
    /// keystone 15), --artifact-file on 13 or 16.2 (no DeployArtifactFILEs before OSP 17).
    #[arg(long, value_name = "RELEASE", value_parser = str::parse::<overcloud_keys::release::Release>, default_value = "17.1")]
    pub release: overcloud_keys::release::Release,
    /// Roles running keystone (`<Role>ExtraConfig`), repeatable. Default: Controller.
    #[arg(long = "role", value_name = "ROLE", default_value = "Controller")]
    pub roles: Vec<String>,
    /// Keystone's separate receipt directory, set in jws.yaml (e.g. /etc/keystone/fernet-receipts).
    #[arg(long, value_name = "PATH")]
    pub receipt_dir: Option<String>,
    /// The key tarball (from `pack`) to deliver role-scoped.
    ///
    /// Renders keystone-keys-pre.yaml and keystone-keys-scoped.yaml (0600): the tarball is
    /// embedded, or with --artifact-url fetched from that TempURL; either way the node checks
    /// its SHA-256. Without --tarball, --artifact-file/--artifact-url render
    /// deployment-artifacts.yaml (all-roles).
    #[arg(long, value_name = "FILE")]
    pub tarball: Option<PathBuf>,
    /// Who receives the tarball. Default: scoped (needs --tarball); all-roles renders
    /// deployment-artifacts.yaml.
    #[arg(long, value_enum, default_value_t = overcloud_keys::config::Delivery::Scoped)]
    pub delivery: overcloud_keys::config::Delivery,
    /// Layout the tarball was packed for (containerized or baremetal).
    #[arg(long, value_enum, default_value_t = overcloud_keys::artifact::LayoutKind::Containerized)]
    pub layout: overcloud_keys::artifact::LayoutKind,
    /// Your environment files (repeatable): an existing <Role>ExtraConfigPre is chained.
    #[arg(long = "check-env", value_name = "FILE")]
    pub check_env: Vec<PathBuf>,
    /// roles_data file to check --role names against.
    #[arg(long, value_name = "FILE")]
    pub roles_data: Option<PathBuf>,
}

/// `build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// TOML config file; flags override its keys. Default: the embedded defaults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Work directory for repositories, artifacts and environment files (mode 0700).
    ///
    /// Default: ~/overcloud-keys/<stack>.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Heat stack name. Default: overcloud.
    #[arg(long)]
    pub stack: Option<String>,
    /// files: stage a local artifact for DeployArtifactFILEs (default on 17.1; refused on 13
    /// and 16.2). swift: upload it, verify it and publish a signed TempURL (DeployArtifactURLs,
    /// or the scoped template's URL; default on 13 and 16.2).
    #[arg(long, value_enum)]
    pub artifacts: Option<overcloud_keys::config::ArtifactsMode>,
    /// Where to stage the artifact (absolute, no shell metacharacters). Default: <workdir>/artifacts.
    #[arg(long, value_name = "DIR")]
    pub artifact_dir: Option<PathBuf>,
    /// Node layout: containerized (default) or baremetal.
    #[arg(long, value_enum)]
    pub layout: Option<overcloud_keys::artifact::LayoutKind>,
    /// The OSP release of the overcloud: 10, 11, 13, 16.2 or 17.1. Default: 17.1.
    ///
    /// Sets what is rendered: heat_template_version (queens, rocky, wallaby), the default
    /// --artifacts (swift on 13 and 16.2, files on 17.1) and JWS (off on 13). Refused with
    /// exit 2 before anything is written: --artifacts files on 13 or 16.2 (no
    /// DeployArtifactFILEs before OSP 17) and --jws or jws = "stage"/"enable" on 13 (no JWS
    /// provider before keystone 15). Config key: release = "16.2".
    #[arg(long, value_name = "RELEASE", value_parser = str::parse::<overcloud_keys::release::Release>)]
    pub release: Option<overcloud_keys::release::Release>,
    /// Switch keystone to JWS: include jws.yaml in the deploy arguments (keys are staged either way).
    #[arg(long, conflicts_with = "no_jws")]
    pub jws: bool,
    /// Do not create or deliver JWS keys at all.
    #[arg(long)]
    pub no_jws: bool,
    /// KeystoneFernetMaxActiveKeys. Default 5 (TripleO's).
    #[arg(long, value_name = "N")]
    pub max_active_keys: Option<usize>,
    /// Roles running keystone, repeatable. Default: Controller.
    #[arg(long = "role", value_name = "ROLE")]
    pub roles: Vec<String>,
    /// With --artifacts swift: the cloud in clouds.yaml holding the Swift credentials.
    ///
    /// Default: OS_CLOUD, then OS_* variables, then ST_AUTH/ST_USER/ST_KEY (tempauth).
    #[arg(long, value_name = "NAME")]
    pub os_cloud: Option<String>,
    /// Who receives the key artifact.
    ///
    /// scoped (default): only the keystone roles, through a rendered <Role>ExtraConfigPre
    /// template that checks the tarball's SHA-256 before replacing the key directories.
    /// all-roles: DeployArtifactFILEs, which puts the JWS private key on every node.
    #[arg(long, value_enum)]
    pub delivery: Option<overcloud_keys::config::Delivery>,
    /// Your environment files (repeatable): an existing <Role>ExtraConfigPre mapping found
    /// there is chained instead of replaced.
    #[arg(long = "check-env", value_name = "FILE")]
    pub check_env: Vec<PathBuf>,
    /// roles_data file to check --role names against.
    #[arg(long, value_name = "FILE")]
    pub roles_data: Option<PathBuf>,
    /// Show what would be done; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Create new keys even though the stack is already deployed.
    ///
    /// Without it, build refuses (exit 2, nothing written) when the Fernet or credential
    /// repository is missing and the stack's passwords file or plan container exists: run
    /// `overcloud-keys adopt` instead. With it, the next deploy invalidates every token in the
    /// cloud, and new credential keys make every stored credential undecryptable.
    #[arg(long)]
    pub new_keys: bool,
    /// Use the key repositories of another stack's work directory (a sibling of this one).
    ///
    /// For clouds whose stacks must validate each other's tokens (multi-region): every stack
    /// deploys the same keys. This build never creates or rotates them: rotate in the other
    /// stack's work directory, then rebuild every stack. Default: this stack's own keys.
    #[arg(long, value_name = "STACK")]
    pub keys_from: Option<String>,
}

/// `adopt`.
#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// TOML config file (the one `build` uses): its stack, workdir and os_cloud apply.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Heat stack name. Default: overcloud.
    #[arg(long)]
    pub stack: Option<String>,
    /// Work directory to import into (mode 0700). Default: ~/overcloud-keys/<stack>.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Read the deployed keys from this file instead of looking for them.
    ///
    /// An OSP 17 passwords file; any Heat environment with the keys in parameter_defaults
    /// (`openstack stack environment show <stack> -f yaml`); a plan-environment.yaml
    /// (passwords section); or a plan export tarball (`openstack overcloud plan export`).
    /// KeystoneFernetKeys, or OSP 10/11's KeystoneFernetKey0/1, and KeystoneCredential0/1.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// The cloud in clouds.yaml for the undercloud's Swift (OSP 13/16.2 plan container).
    ///
    /// Default: OS_CLOUD, then OS_* variables, then ST_AUTH/ST_USER/ST_KEY.
    #[arg(long, value_name = "NAME")]
    pub os_cloud: Option<String>,
    /// Replace work directory keys that differ from the deployed cloud's.
    ///
    /// The deliberate choice when the cloud's keys are the truth (for example after the
    /// tripleo-ansible rotate-fernet-keys playbook): the work directory's repositories are
    /// kept in keys/replaced-<unix time>/ and replaced by the cloud's. Without it, differing
    /// keys stop adopt with exit 2 and nothing is written.
    #[arg(long)]
    pub replace_workdir: bool,
    /// Show what would be done; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub nodes: super::nodes::FromNodeArgs,
}

pub fn pack(args: PackArgs) -> Result<Outcome, Error> {
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

pub fn render(args: RenderArgs) -> Result<Outcome, Error> {
    let written = pipeline::render::render(&pipeline::render::RenderInputs {
        output_dir: args.output_dir,
        stack: args.stack,
        fernet: args.fernet,
        credential: args.credential,
        max_active_keys: args.max_active_keys,
        artifact_file: args.artifact_file,
        artifact_url: args.artifact_url,
        jws: args.jws,
        release: args.release,
        roles: args.roles,
        receipt_dir: args.receipt_dir,
        tarball: args.tarball,
        delivery: args.delivery,
        layout: args.layout,
        check_env: args.check_env,
        roles_data: args.roles_data,
    })?;
    let text = written
        .iter()
        .map(|w| format!("{} {}\n", w.action.as_str(), w.path.display()))
        .collect();
    Ok(Outcome::ok(text, json!({"files": written})))
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

pub fn build(args: BuildArgs) -> Result<Outcome, Error> {
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
    let settings = ConfigFile::settings(args.config.as_deref(), flags)?;
    let report = pipeline::build(&settings, args.dry_run)?;
    Ok(reported(
        output::build_text(&report),
        &report,
        &report.warnings,
    ))
}

pub fn adopt(args: AdoptArgs) -> Result<Outcome, Error> {
    let flags = ConfigFile {
        stack: args.stack,
        workdir: args.workdir,
        os_cloud: args.os_cloud,
        ..Default::default()
    };
    let settings = ConfigFile::settings(args.config.as_deref(), flags)?;
    let opts = overcloud_keys::adopt::AdoptOptions {
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
    };
    let report = match &args.nodes.from_node {
        Some(node) => super::nodes::adopt_from_node(node, &args.nodes.ssh, &settings, &opts)?,
        None => overcloud_keys::adopt::adopt(&opts)?,
    };
    Ok(reported(
        output::adopt_text(&report),
        &report,
        &report.warnings,
    ))
}
