//! The `overcloud-keys` binary: parse the command line, run it, print the outcome in the
//! format asked for, and map errors to the documented exit codes. Everything else is in
//! `cli` (flags and handlers) and the library.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use overcloud_keys::encoding::printable_lines;

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
            // No control character from a third-party message or the input reaches the
            // terminal; the library keeps messages to one line (the fuzz tests hold it to
            // that), except the few that list findings one per line.
            eprintln!("error: {}", printable_lines(&err.to_string()));
            if let Some(hint) = err.hint() {
                eprintln!("hint: {}", printable_lines(&hint));
            }
            cli::output::exit_code(&err)
        }
    };
    let _ = stdout.flush();
    ExitCode::from(code)
}
