//! The `overcloud-keys` binary: parse the command line, run it, print the outcome in the
//! format asked for, and map errors to the documented exit codes. Everything else is in
//! `cli` (flags and handlers) and the library.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use overcloud_keys::encoding::printable;

mod cli;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let format = args.format;
    let result = cli::run(args);
    let mut stdout = std::io::stdout().lock();
    let code = match result {
        Ok(outcome) => {
            if let Some(warning) = &outcome.warning {
                eprintln!("WARNING: {warning}");
            }
            // A closed pipe (`| head`) is not an error.
            let _ = stdout.write_all(cli::output::render(&outcome, format).as_bytes());
            outcome.code
        }
        Err(err) => {
            // One line each, whatever a third-party message quoted from the input.
            eprintln!("error: {}", printable(&err.to_string()));
            if let Some(hint) = err.hint() {
                eprintln!("hint: {}", printable(&hint));
            }
            cli::output::exit_code(&err)
        }
    };
    let _ = stdout.flush();
    ExitCode::from(code)
}
