//! `plan` and `switch` subcommands.

use clap::{Args, Subcommand};

use crate::cli::Format;
use crate::error::{Error, Result};
use crate::output::Outcome;

/// Plan subcommands.
#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Is a rotation schedule safe for the token lifetime?
    Rotation {},
}

/// `switch` arguments.
#[derive(Debug, Args)]
pub struct SwitchArgs {}

/// Runs a plan subcommand.
pub fn run_plan(_cmd: PlanCommand, _format: Format) -> Result<Outcome> {
    Err(Error::Unsupported("plan is not available yet".into()))
}

/// Runs switch.
pub fn run_switch(_args: SwitchArgs, _format: Format) -> Result<Outcome> {
    Err(Error::Unsupported("switch is not available yet".into()))
}
