//! Command-line definitions (clap derive) only: no logic here.
#![allow(missing_docs)] // flattened arg groups carry their docs on their own fields

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::check::RepoKind;

/// Exit codes, shown in `--help`.
pub const EXIT_CODES: &str = "Exit codes:\n  0  success (for `repo check`: no findings)\n  1  `repo check` found problems; `plan rotation`/`plan cutover`: the plan is unsafe or not\n     ready; `token inspect`: some token was not decoded\n  2  usage error, bad input, or I/O error (nothing was changed)\n  3  a remote service (Swift, Keystone) was unreachable or kept failing after retries";

/// Builds Keystone key repositories for TripleO overclouds, crash-safely.
#[derive(Debug, Parser)]
#[command(name = "overcloud-keys", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// Output format.
    ///
    /// table: for people; json and yaml: for pipelines (stable field names, the same data);
    /// value: bare values, one per line. Default: table.
    #[arg(short = 'f', long = "format", global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Output formats, as in the openstack client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable lines (alias `markdown`: `plan cutover` and `switch` print their
    /// runbook as Markdown).
    #[value(alias = "markdown")]
    Table,
    /// One JSON document.
    Json,
    /// Bare values, one per line.
    Value,
    /// One YAML document, the same data as json.
    Yaml,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fernet token keys (`[fernet_tokens] key_repository`).
    #[command(subcommand)]
    Fernet(NumberedCommand),
    /// Fernet receipt keys (`[fernet_receipts] key_repository`), same rules as token keys.
    #[command(subcommand)]
    Receipt(NumberedCommand),
    /// Credential encryption keys (`[credential] key_repository`).
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// JWS ES256 key pairs (`[jwt_tokens]`, `[token] provider = jws`).
    #[command(subcommand)]
    Jws(JwsCommand),
    /// Inspect key repositories.
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Pack key repositories into a reproducible, checksummed tarball for the nodes.
    Pack(PackArgs),
    /// Render the Heat environment files from key repositories and artifact locations.
    Render(RenderArgs),
    /// The whole pre-deploy / redeploy flow: repositories, tarball, artifact, environments.
    ///
    /// With no arguments: stack `overcloud`, release 17.1, work directory
    /// ~/overcloud-keys/overcloud, containerized layout, JWS keys staged but not enabled, and
    /// role-scoped delivery: Fernet and credential keys go by parameters in fernet.yaml, the
    /// key tarball only to the keystone roles through keystone-keys-scoped.yaml (deploy with
    /// `-e fernet.yaml -e keystone-keys-scoped.yaml`); `--delivery all-roles` uses
    /// deployment-artifacts.yaml (DeployArtifactFILEs) instead. --release 13 or 16.2 change
    /// those defaults (Swift TempURLs instead of local files; no JWS on 13). Existing
    /// repositories are reused, never regenerated; a stack that is already deployed gets no
    /// new keys (run `adopt` first); a re-run with nothing changed writes nothing.
    #[command(after_help = EXIT_CODES)]
    Build(BuildArgs),
    /// Import the keys a deployed overcloud already uses into the work directory.
    ///
    /// Run it once on an undercloud whose stack is already deployed, before the first
    /// `build`: otherwise build would mint new keys that log out every user and make every
    /// stored credential undecryptable. Reads, in order: --from FILE; the OSP 17 passwords
    /// file ~/overcloud-deploy/<stack>/<stack>-passwords.yaml; the OSP 13/16.2 plan
    /// container's plan-environment.yaml in the undercloud's Swift. Keys are imported byte for
    /// byte with their indices (0600 files, 0700 directories), then checked. A work directory
    /// that already holds the same keys is left alone (exit 0); one holding other keys is
    /// never replaced without --replace-workdir (exit 2).
    #[command(after_help = EXIT_CODES)]
    Adopt(AdoptArgs),
    /// Inspect tokens: which key decrypts or verifies them, and their payload (read-only).
    #[command(subcommand)]
    Token(crate::token::cli::TokenCommand),
    /// Plans: safe rotation schedules, the provider cutover runbook (writes nothing).
    #[command(subcommand)]
    Plan(crate::plan::cli::PlanCommand),
    /// Post-deploy token provider switch (Fernet <-> JWS): pre-flight, environments, runbook.
    Switch(crate::plan::cli::SwitchArgs),
    /// Upload an artifact to Swift, verify it, and write its TempURL to the Heat environment.
    ///
    /// PUT with ETag (MD5) and X-Object-Meta-Sha256, HEAD to verify, TempURL signed with the
    /// container's Temp-URL-Key (created only when none exists), then DeployArtifactURLs in
    /// ~/.tripleo/environments/deployment-artifacts.yaml. `--refresh` re-signs expiring URLs.
    #[command(after_help = EXIT_CODES)]
    Upload(crate::swift::cli::UploadArgs),
}

/// Node layout flags shared by pack and render.
#[derive(Debug, Args, Clone)]
pub struct LayoutArgs {
    /// Where keys live on the nodes.
    ///
    /// containerized (default, OSP 12+): var/lib/config-data/puppet-generated/keystone/etc/keystone,
    /// owner 42425. baremetal (OSP 10/11): etc/keystone, owner 163.
    #[arg(long, value_enum, default_value_t = crate::artifact::LayoutKind::Containerized)]
    pub layout: crate::artifact::LayoutKind,
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
    #[arg(long, value_name = "RELEASE", value_parser = str::parse::<crate::release::Release>, default_value = "17.1")]
    pub release: crate::release::Release,
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
    #[arg(long, value_enum, default_value_t = crate::config::Delivery::Scoped)]
    pub delivery: crate::config::Delivery,
    /// Layout the tarball was packed for (containerized or baremetal).
    #[arg(long, value_enum, default_value_t = crate::artifact::LayoutKind::Containerized)]
    pub layout: crate::artifact::LayoutKind,
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
    pub artifacts: Option<crate::config::ArtifactsMode>,
    /// Where to stage the artifact (absolute, no shell metacharacters). Default: <workdir>/artifacts.
    #[arg(long, value_name = "DIR")]
    pub artifact_dir: Option<PathBuf>,
    /// Node layout: containerized (default) or baremetal.
    #[arg(long, value_enum)]
    pub layout: Option<crate::artifact::LayoutKind>,
    /// The OSP release of the overcloud: 10, 11, 13, 16.2 or 17.1. Default: 17.1.
    ///
    /// Sets what is rendered: heat_template_version (queens, rocky, wallaby), the default
    /// --artifacts (swift on 13 and 16.2, files on 17.1) and JWS (off on 13). Refused with
    /// exit 2 before anything is written: --artifacts files on 13 or 16.2 (no
    /// DeployArtifactFILEs before OSP 17) and --jws or jws = "stage"/"enable" on 13 (no JWS
    /// provider before keystone 15). Config key: release = "16.2".
    #[arg(long, value_name = "RELEASE", value_parser = str::parse::<crate::release::Release>)]
    pub release: Option<crate::release::Release>,
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
    pub delivery: Option<crate::config::Delivery>,
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
}

/// Where to write and as whom.
#[derive(Debug, Args)]
pub struct WriteTarget {
    /// The key repository directory.
    ///
    /// Created (mode 0700, parents too) if missing. Never point this at the undercloud's own
    /// /etc/keystone: overcloud keys belong in the work directory.
    #[arg(long, value_name = "DIR")]
    pub key_repository: PathBuf,

    #[command(flatten)]
    pub owner: OwnerArgs,
}

/// `--keystone-user` / `--keystone-group`.
#[derive(Debug, Args, Clone, Default)]
pub struct OwnerArgs {
    /// Owner of the files written: a user name or numeric uid.
    ///
    /// Default: the current user. Use 42425 for containerized keystone, 163 (keystone) on
    /// baremetal RHEL. Needs root. A name also sets the group unless --keystone-group is given.
    #[arg(long, value_name = "USER")]
    pub keystone_user: Option<String>,

    /// Group of the files written: a group name or numeric gid.
    ///
    /// Default: the current user's group (or the --keystone-user's primary group).
    #[arg(long, value_name = "GROUP")]
    pub keystone_group: Option<String>,

    /// Allow writing under /etc/keystone.
    ///
    /// Refused by default: on an undercloud that directory holds the undercloud's own keys,
    /// and replacing them logs out every undercloud user.
    #[arg(long)]
    pub allow_etc_keystone: bool,
}

/// setup / rotate for Fernet token and receipt repositories.
#[derive(Debug, Subcommand)]
pub enum NumberedCommand {
    /// Create keys 0 (staged) and 1 (primary), like `keystone-manage fernet_setup`.
    ///
    /// Idempotent: an existing valid repository is left as it is.
    Setup {
        #[command(flatten)]
        target: WriteTarget,
        /// Accepted for symmetry with rotate; setup always writes two keys.
        #[arg(long, value_name = "N", default_value_t = 3)]
        max_active_keys: usize,
        /// Replace an existing repository with new keys.
        ///
        /// Every token encrypted with the old keys becomes invalid as soon as the new keys
        /// are deployed: every user and service must authenticate again.
        #[arg(long)]
        force: bool,
    },
    /// Promote the staged key to primary and stage a new one, like `keystone-manage fernet_rotate`.
    ///
    /// Prunes the lowest non-zero keys down to --max-active-keys.
    Rotate {
        #[command(flatten)]
        target: WriteTarget,
        /// Keys kept after rotation, staged key included.
        ///
        /// Default: for a work directory's repository (<workdir>/keys/fernet-keys or
        /// fernet-receipts), the max_active_keys its last `build` rendered as
        /// KeystoneFernetMaxActiveKeys (TripleO's default is 5), so the guard judges the
        /// schedule that is deployed; for any other repository 3 (keystone's). The output
        /// says which value was used and why. Too few keys for your rotation interval
        /// invalidates live tokens early.
        #[arg(long, value_name = "N")]
        max_active_keys: Option<usize>,
        /// Token lifetime, seconds (`[token] expiration`), for the safety check. Default 3600.
        #[arg(long, value_name = "S", default_value_t = 3600)]
        expiration: u64,
        /// `[token] allow_expired_window`, seconds, for the safety check. Default 172800 (48 h).
        #[arg(long, value_name = "S", default_value_t = 172800)]
        allow_expired_window: u64,
        /// Rotate even when it deletes a key whose tokens may still be in use.
        ///
        /// Without it, a rotation is refused (exit 2, nothing changed) when the times
        /// recorded in `<parent>/.<repository>.rotation.json` show that a key it deletes
        /// encrypted tokens less than expiration + allow_expired_window ago; the message
        /// says when the next safe rotation is. Forcing invalidates those tokens early.
        #[arg(long)]
        force: bool,
    },
}

/// Credential repository commands.
#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// Create credential keys 0 and 1, like `keystone-manage credential_setup`.
    ///
    /// Never replaces existing credential keys unless explicitly told to.
    Setup {
        #[command(flatten)]
        target: WriteTarget,
        /// Replace existing credential keys.
        ///
        /// DESTROYS every credential stored in keystone's database (EC2 credentials, TOTP
        /// secrets): they stay encrypted with keys that no longer exist.
        #[arg(long)]
        i_understand_this_destroys_credentials: bool,
    },
    /// Rotate credential keys, like `keystone-manage credential_rotate` (at most 3 keys).
    ///
    /// Afterwards, deploy the keys and run `keystone-manage credential_migrate` on one
    /// controller so every credential is re-encrypted with the new primary.
    Rotate {
        #[command(flatten)]
        target: WriteTarget,
        /// Confirm that `keystone-manage credential_migrate` ran since the last rotation.
        ///
        /// Needed only when the rotation prunes a key: credentials still encrypted with a
        /// pruned key are lost. keystone-manage checks this against the database; we cannot.
        #[arg(long)]
        credentials_migrated: bool,
    },
}

/// The two JWS directories.
#[derive(Debug, Args)]
pub struct JwsTarget {
    /// Private key directory (`[jwt_tokens] jws_private_key_repository`), mode 0700.
    #[arg(long, value_name = "DIR")]
    pub private_dir: PathBuf,
    /// Public key directory (`[jwt_tokens] jws_public_key_repository`), mode 0700.
    #[arg(long, value_name = "DIR")]
    pub public_dir: PathBuf,
    #[command(flatten)]
    pub owner: OwnerArgs,
}

/// JWS commands.
#[derive(Debug, Subcommand)]
pub enum JwsCommand {
    /// Create an ES256 key pair: private.pem (PKCS#8, 0600) and public.pem (SPKI, 0644).
    ///
    /// Idempotent: an existing valid pair is left as it is.
    Create {
        #[command(flatten)]
        target: JwsTarget,
        /// Replace an existing pair (and the whole public set).
        ///
        /// Every JWS token signed with the old key fails validation once deployed.
        #[arg(long)]
        force: bool,
    },
    /// Rotate the pair without downtime, one phase per command (redeploy between phases).
    #[command(subcommand)]
    Rotate(JwsRotateCommand),
}

/// The three zero-downtime phases.
#[derive(Debug, Subcommand)]
pub enum JwsRotateCommand {
    /// Phase 1: new pair; its public key joins the set, its private key waits as staged.pem.
    Stage {
        #[command(flatten)]
        target: JwsTarget,
    },
    /// Phase 2 (after the stage was deployed everywhere): staged.pem becomes private.pem.
    Promote {
        #[command(flatten)]
        target: JwsTarget,
    },
    /// Phase 3 (after tokens signed by the old key expired): remove unused public keys.
    Retire {
        #[command(flatten)]
        target: JwsTarget,
        /// Token lifetime, seconds (`[token] expiration`). Default 3600.
        #[arg(long, value_name = "S", default_value_t = 3600)]
        expiration: u64,
        /// `[token] allow_expired_window`, seconds. Default 172800 (48 h).
        #[arg(long, value_name = "S", default_value_t = 172800)]
        allow_expired_window: u64,
        /// Retire now even if tokens signed by the old key are still valid (they stop validating).
        #[arg(long)]
        force: bool,
    },
}

/// Repository inspection.
#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Validate repositories; with several (one per node), also check they hold the same keys.
    ///
    /// Prints one line per finding with its code, the path and the fix. Compares SHA-256
    /// fingerprints only; never prints key material.
    #[command(after_help = EXIT_CODES)]
    Check {
        /// Repository directories (for JWS: a directory holding private/ and public/).
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// Kind of repository. Default: detected (private/ + public/ is jws, otherwise fernet).
        #[arg(long, value_enum)]
        kind: Option<RepoKind>,
        /// Also warn when a repository holds more keys than this.
        #[arg(long, value_name = "N")]
        max_active_keys: Option<usize>,
        /// Expected owner (name or uid) of every file; default: not checked.
        #[arg(long, value_name = "USER")]
        keystone_user: Option<String>,
        /// Expected group (name or gid) of every file; default: not checked.
        #[arg(long, value_name = "GROUP")]
        keystone_group: Option<String>,
        /// Do not check modes (0600 files, 0700 directories).
        #[arg(long)]
        no_modes: bool,
        /// Compare DIR (the reference) with the same repository in these node manifests.
        ///
        /// Manifests come from `overcloud-keys repo manifest DIR -f json` on each node; a
        /// node whose keys differ gets a `repos-out-of-sync` finding naming it. No key
        /// material moves: manifests hold SHA-256 fingerprints only.
        #[arg(long, value_name = "MANIFEST", num_args = 1..)]
        against: Vec<PathBuf>,
    },
    /// Describe repositories by fingerprints only (for `repo check --against`).
    ///
    /// Per repository: kind, and per key its name, role and SHA-256 fingerprint, plus the
    /// `repo check` findings; never key material. Run it on each node:
    /// `overcloud-keys repo manifest DIR... -f json > NODE.json`.
    Manifest {
        /// Repository directories (for JWS: a directory holding private/ and public/).
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// Kind of repository. Default: detected (private/ + public/ is jws, otherwise fernet).
        #[arg(long, value_enum)]
        kind: Option<RepoKind>,
        /// Node name recorded in the manifest. Default: this machine's host name.
        #[arg(long, value_name = "NAME")]
        node: Option<String>,
    },
}
