//! `fernet`, `receipt`, `credential` and `jws`: set up and rotate key repositories.
#![allow(missing_docs)] // flattened arg groups carry their docs on their own fields

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::json;

use super::output::Outcome;
use super::plan as plan_cli;
use overcloud_keys::check::RepoKind;
use overcloud_keys::keys::credential as credential_repo;
use overcloud_keys::keys::jws_repo::{self, CreateOutcome, JwsDirs};
use overcloud_keys::keys::repo::{self, RepoOptions, RotateOutcome, SetupOutcome};
use overcloud_keys::{Error, Owner};

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

pub(crate) fn owner(args: &OwnerArgs, paths: &[&Path]) -> Result<Owner, Error> {
    overcloud_keys::keys::refuse_undercloud_keystone(paths, args.allow_etc_keystone)?;
    Owner::resolve(
        args.keystone_user.as_deref(),
        args.keystone_group.as_deref(),
    )
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

pub fn numbered(kind: RepoKind, cmd: NumberedCommand) -> Result<Outcome, Error> {
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

pub fn credential(cmd: CredentialCommand) -> Result<Outcome, Error> {
    match cmd {
        CredentialCommand::Setup {
            target,
            i_understand_this_destroys_credentials,
        } => {
            let owner = owner(&target.owner, &[&target.key_repository])?;
            let outcome = credential_repo::setup(
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
            let r = credential_repo::rotate(&target.key_repository, owner, credentials_migrated)?;
            let mut out = rotate_outcome(RepoKind::Credential, &target.key_repository, &r);
            out.text.push_str("next: deploy these keys, then run `keystone-manage credential_migrate` on one controller to re-encrypt every credential with the new primary\n");
            Ok(out)
        }
    }
}

pub fn jws(cmd: JwsCommand) -> Result<Outcome, Error> {
    match cmd {
        JwsCommand::Create { target, force } => jws_create(&target, force),
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

/// The JWS key directories of `t` and the owner their files get.
fn dirs_of(t: &JwsTarget) -> Result<(JwsDirs, Owner), Error> {
    let owner = owner(&t.owner, &[&t.private_dir, &t.public_dir])?;
    Ok((
        JwsDirs {
            private: t.private_dir.clone(),
            public: t.public_dir.clone(),
        },
        owner,
    ))
}

/// `jws create`: a new key pair, or the valid one kept (`force` replaces it, with a warning).
fn jws_create(target: &JwsTarget, force: bool) -> Result<Outcome, Error> {
    let (dirs, owner) = dirs_of(target)?;
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
