//! One module per subcommand; each calls one library function and renders its result.

mod build;
pub mod limits;
mod options;

use std::process::ExitCode;

use crate::cli::Command;

/// Runs a subcommand and says how the process should exit.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Build(args) => build::run(args),
    }
}
