//! `token` subcommands.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::output::Outcome;
use overcloud_keys::error::{Error, Result};
use overcloud_keys::format::Format;
use overcloud_keys::token::Inspector;
use overcloud_keys::token::fernet::FernetKeyring;
use overcloud_keys::token::jws::JwsVerifier;
use overcloud_keys::token::payload::{DEFAULT_AUTH_METHODS, MethodMap};
use overcloud_keys::token::report::Renderer;

/// Exit codes of `token inspect`, shown in its `--help`.
pub const INSPECT_EXIT_CODES: &str = "Exit codes:\n  0  every token was decrypted or verified and decoded\n  1  some token was not (no key decrypts it, bad signature, truncated, not base64...): each says why\n  2  usage or I/O error: no key directory given, directory missing, empty or unreadable, no token on stdin";

/// Token subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Decrypt or verify tokens and show which key did it and the payload.
    ///
    /// Fernet tokens are decrypted with every key of --key-repository; JWS tokens (those with
    /// '.' separators) are verified with every public key of --jws-public-dir. For each token:
    /// the key file and its role, the creation time, and the payload as keystone decodes it
    /// (user, methods, scope, expiry, audit ids). Read-only; never prints key material or the
    /// tokens themselves (results name tokens by input line).
    #[command(after_help = INSPECT_EXIT_CODES)]
    Inspect(InspectArgs),
}

/// `token inspect` arguments.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The token, or `-` to read tokens from stdin, one per line.
    ///
    /// Default: `-`. Blank lines are skipped. Prefer stdin: a token on the command line is
    /// visible to other users in the process list, and it is a bearer credential.
    #[arg(default_value = "-", value_name = "TOKEN|-")]
    pub token: String,

    /// Fernet token key repository to decrypt with.
    ///
    /// Keystone's `[fernet_tokens] key_repository` (on a node,
    /// /var/lib/config-data/puppet-generated/keystone/etc/keystone/fernet-keys). Keys that do
    /// not parse are skipped with a warning. Required for Fernet tokens.
    #[arg(long, value_name = "DIR")]
    pub key_repository: Option<PathBuf>,

    /// JWS public key directory to verify with.
    ///
    /// Keystone's `[jwt_tokens] jws_public_key_repository`: every file must be a P-256 public
    /// key. Required for JWS tokens.
    #[arg(long, value_name = "DIR")]
    pub jws_public_dir: Option<PathBuf>,

    /// `[auth] methods` of the deployment, comma-separated, to name the methods bitmask.
    ///
    /// Default: keystone 30's list (external, password, token, oauth1, mapped,
    /// application_credential, ec2credential). Fernet tokens carry methods as bits of this
    /// list: a deployment with a different list needs it here to show the right names.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_values_t = DEFAULT_AUTH_METHODS.map(String::from))]
    pub auth_methods: Vec<String>,

    /// The global `-f/--format`, read here so only the requested output is built.
    #[arg(from_global)]
    pub format: Format,
}

/// Runs a token subcommand.
pub fn run(cmd: TokenCommand) -> Result<Outcome> {
    match cmd {
        TokenCommand::Inspect(args) => inspect(args),
    }
}

fn inspect(args: InspectArgs) -> Result<Outcome> {
    if args.key_repository.is_none() && args.jws_public_dir.is_none() {
        return Err(Error::InvalidValue {
            name: "--key-repository/--jws-public-dir",
            value: "none".into(),
            reason:
                "give --key-repository DIR (Fernet tokens) and/or --jws-public-dir DIR (JWS tokens)"
                    .into(),
        });
    }
    let fernet = args
        .key_repository
        .as_deref()
        .map(FernetKeyring::load)
        .transpose()?;
    let jws = args
        .jws_public_dir
        .as_deref()
        .map(JwsVerifier::load)
        .transpose()?;
    let inspector = Inspector::new(fernet, jws, MethodMap::new(&args.auth_methods));
    let now = i64::try_from(overcloud_keys::clock::now()).unwrap_or(i64::MAX);
    // Results stream to stdout as tokens are read; the binary prints the summary after.
    let out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let mut renderer = Renderer::new(args.format, now, out);
    let (tokens, source) = if args.token == "-" {
        let stdin = std::io::stdin();
        (
            inspector.inspect_stream(stdin, &mut renderer)?,
            "standard input",
        )
    } else {
        (
            inspector.inspect_stream(args.token.as_bytes(), &mut renderer)?,
            "the TOKEN argument",
        )
    };
    if tokens == 0 {
        return Err(Error::InvalidValue {
            name: "token input",
            value: source.into(),
            reason: "holds no token (give one per line on stdin, or the token as an argument)"
                .into(),
        });
    }
    let (_, outcome) = renderer.finish(&inspector).map_err(|source| Error::Io {
        op: "write results to",
        path: "standard output".into(),
        source,
    })?;
    Ok(outcome)
}
