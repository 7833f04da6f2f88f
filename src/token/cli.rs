//! `token` subcommands.

use clap::Subcommand;

use crate::error::{Error, Result};
use crate::output::Outcome;

/// Token subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Decrypt or verify tokens and show which key did it and the payload.
    Inspect {
        /// The token, or `-` (default) to read one token per line from stdin.
        #[arg(default_value = "-")]
        token: String,
    },
}

/// Runs a token subcommand.
pub fn run(_cmd: TokenCommand) -> Result<Outcome> {
    Err(Error::Unsupported(
        "token inspect is not available yet".into(),
    ))
}
