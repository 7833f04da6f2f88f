//! The command-line layer: the only code that knows clap or prints. `Cli`/`Command` here,
//! one module per subcommand group holding its flags and its handler, and `output` (the
//! text renderers and exit codes). Handlers call the library and return an [`Outcome`];
//! `main` prints it.
#![allow(missing_docs)] // flattened arg groups carry their docs on their own fields

use clap::{CommandFactory, Parser, Subcommand};

pub use output::EXIT_CODES;
use overcloud_keys::check::RepoKind;
use overcloud_keys::error::Error;

use output::Outcome;
pub use overcloud_keys::format::Format;

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

    /// Seconds to wait for another run that is changing the same repository or work directory.
    ///
    /// Every writer takes a lock beside what it changes (`.<name>.lock`); a run that cannot
    /// get it within this time exits 2 naming the holder's pid, having changed nothing.
    /// Default: 10.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 10.0)]
    pub lock_timeout: f64,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fernet token keys (`[fernet_tokens] key_repository`).
    #[command(subcommand)]
    Fernet(keys::NumberedCommand),
    /// Fernet receipt keys (`[fernet_receipts] key_repository`), same rules as token keys.
    #[command(subcommand)]
    Receipt(keys::NumberedCommand),
    /// Credential encryption keys (`[credential] key_repository`).
    #[command(subcommand)]
    Credential(keys::CredentialCommand),
    /// JWS ES256 key pairs (`[jwt_tokens]`, `[token] provider = jws`).
    #[command(subcommand)]
    Jws(keys::JwsCommand),
    /// Inspect key repositories.
    #[command(subcommand)]
    Repo(repo::RepoCommand),
    /// Pack key repositories into a reproducible, checksummed tarball for the nodes.
    Pack(build::PackArgs),
    /// Render the Heat environment files from key repositories and artifact locations.
    Render(build::RenderArgs),
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
    Build(build::BuildArgs),
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
    Adopt(build::AdoptArgs),
    /// Inspect tokens: which key decrypts or verifies them, and their payload (read-only).
    #[command(subcommand)]
    Token(crate::cli::token::TokenCommand),
    /// Plans: safe rotation schedules, the provider cutover runbook (writes nothing).
    #[command(subcommand)]
    Plan(crate::cli::plan::PlanCommand),
    /// Post-deploy token provider switch (Fernet <-> JWS): pre-flight, environments, runbook.
    Switch(crate::cli::plan::SwitchArgs),
    /// Upload an artifact to Swift, verify it, and write its TempURL to the Heat environment.
    ///
    /// PUT with ETag (MD5) and X-Object-Meta-Sha256, HEAD to verify, TempURL signed with the
    /// container's Temp-URL-Key (created only when none exists), then DeployArtifactURLs in
    /// ~/.tripleo/environments/deployment-artifacts.yaml. `--refresh` re-signs expiring URLs.
    #[command(after_help = EXIT_CODES)]
    Upload(upload::UploadArgs),
    /// Print the shell completion script (bash, zsh, fish) for overcloud-keys.
    ///
    /// bash: `overcloud-keys completions bash > /etc/bash_completion.d/overcloud-keys`.
    Completions(docs::CompletionsArgs),
    /// Write the man pages (overcloud-keys.1 and one per subcommand) into a directory.
    Man(docs::ManArgs),
    /// Compare the keys every keystone node holds with the work directory (read-only).
    ///
    /// Reaches the nodes of the stack's tripleo-ansible inventory with the system ssh client
    /// and runs a fixed read-only sh command that prints, per key file, its mode, owner, size
    /// and SHA-256 (never the key), on the host and inside the running keystone container.
    /// Reports missing, different and extra keys (an extra key above the primary is
    /// critical: keystone makes it primary), wrong modes or owners, JWS public set
    /// differences, and whether the nodes agree with each other.
    #[command(after_help = crate::cli::nodes::NODE_EXIT_CODES)]
    Verify(crate::cli::nodes::VerifyArgs),
    /// Rotate the work directory's Fernet keys and push them to the keystone nodes one at a time.
    ///
    /// Without a stack update: pre-flight `verify` (every node must hold exactly the work
    /// directory's keys; else exit 1, nothing changed), the rotation guard of `fernet rotate`,
    /// then per node: a staging directory next to the live one, synced, swapped in with
    /// renames (and the same in the running keystone container), fingerprinted again. On any
    /// failure the nodes already done and the work directory are put back. Then fernet.yaml is
    /// rendered as `build` does, so the next deploy keeps the rotated keys. Safe in this order
    /// because the new primary is the old staged key 0, which every node already holds.
    #[command(after_help = crate::cli::rollout::ROLLOUT_EXIT_CODES)]
    Rollout(crate::cli::rollout::RolloutArgs),
}

/// Every argument must be UTF-8 without control characters: paths and names end up in YAML,
/// JSON and shell scripts, where a newline could add a top-level key and a non-UTF-8 name
/// cannot be written at all. Refused before anything is read or written.
fn check_arguments() -> Result<(), Error> {
    for arg in std::env::args_os().skip(1) {
        let bad = match arg.to_str() {
            None => Some("is not UTF-8"),
            Some(text) if text.chars().any(char::is_control) => {
                Some("holds a control character (newline, tab, ...)")
            }
            Some(_) => None,
        };
        if let Some(reason) = bad {
            return Err(Error::InvalidValue {
                name: "argument",
                value: format!("{:?}", arg.to_string_lossy()),
                reason: format!(
                    "{reason}: paths and names are rendered into YAML, JSON and shell scripts; rename it"
                ),
            });
        }
    }
    Ok(())
}

/// Runs the parsed command: each group's handler lives in its module.
pub fn run(cli: Cli) -> Result<Outcome, Error> {
    check_arguments()?;
    progress::install();
    let timeout = std::time::Duration::try_from_secs_f64(cli.lock_timeout).map_err(|_| {
        Error::InvalidValue {
            name: "--lock-timeout",
            value: cli.lock_timeout.to_string(),
            reason: "must be a number of seconds, 0 or more".into(),
        }
    })?;
    overcloud_keys::fsutil::set_lock_timeout(timeout);
    match cli.command {
        Command::Fernet(cmd) => keys::numbered(RepoKind::Fernet, cmd),
        Command::Receipt(cmd) => keys::numbered(RepoKind::Receipt, cmd),
        Command::Credential(cmd) => keys::credential(cmd),
        Command::Jws(cmd) => keys::jws(cmd),
        Command::Repo(cmd) => repo::run(cmd, cli.format),
        Command::Pack(args) => build::pack(args),
        Command::Render(args) => build::render(args),
        Command::Build(args) => build::build(args),
        Command::Adopt(args) => build::adopt(args),
        Command::Token(cmd) => token::run(cmd),
        Command::Plan(cmd) => plan::run_plan(cmd, cli.format),
        Command::Switch(args) => plan::run_switch(args, cli.format),
        Command::Upload(args) => upload::run(args),
        Command::Completions(args) => docs::completions(args, Cli::command()),
        Command::Man(args) => docs::man(args, Cli::command()),
        Command::Verify(args) if args.several_stacks() => stacks::verify(args),
        Command::Verify(args) => nodes::verify(args),
        Command::Rollout(args) => rollout::run(args),
    }
}

pub mod build;
pub mod docs;
pub mod keys;
pub mod nodes;
pub mod output;
pub mod plan;
pub mod progress;
pub mod repo;
pub mod rollout;
pub mod stacks;
pub mod token;
pub mod upload;
