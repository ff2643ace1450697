//! The `flatroot` command line: parses arguments, calls one library function per
//! subcommand, and renders the result. No domain logic lives here.

mod cli;
mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    output::init_logging(cli.verbose);
    match commands::run(cli.command) {
        Ok(code) => code,
        Err(error) => {
            output::print_error(&error);
            ExitCode::from(2)
        }
    }
}
