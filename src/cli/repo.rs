//! `repo check` and `repo manifest`: findings with codes, fingerprints, node comparison.
#![allow(missing_docs)] // flattened arg groups carry their docs on their own fields

use std::path::PathBuf;

use clap::Subcommand;

use super::output::{self, EXIT_CODES, EXIT_FINDINGS, Outcome};
use super::plan as plan_cli;
use overcloud_keys::check::{self, CheckOptions, RepoKind};
use overcloud_keys::format::Format;
use overcloud_keys::{Error, Owner};

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

/// Runs `repo check` or `repo manifest`.
pub fn run(cmd: RepoCommand, format: Format) -> Result<Outcome, Error> {
    match cmd {
        RepoCommand::Manifest { dirs, kind, node } => plan_cli::run_manifest(&dirs, kind, node),
        RepoCommand::Check {
            dirs,
            kind,
            max_active_keys,
            keystone_user,
            keystone_group,
            no_modes,
            against,
        } => {
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
            let text = output::check_report(&reports, &sync, compared, format);
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
