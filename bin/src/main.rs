//! The `flatroot` command line: parses arguments, calls one library function per
//! subcommand, and renders the result. No domain logic lives here.

mod cli;
mod commands;
mod output;
mod signals;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    output::init_logging(cli.verbose);
    // `mount` handles its signals itself: they unmount.
    if !matches!(cli.command, cli::Command::Mount(_))
        && let Err(error) = signals::clean_up_on_signals()
    {
        output::print_error(&error);
        return ExitCode::from(2);
    }
    let result = commands::run(cli.command);
    // A signal's removal of the outputs can make the command fail; the signal's exit wins.
    signals::wait_if_ending();
    match result {
        Ok(code) => code,
        Err(error) => {
            output::print_error(&error);
            ExitCode::from(2)
        }
    }
}
