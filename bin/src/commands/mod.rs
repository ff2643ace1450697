//! One module per subcommand; each calls one library function and renders its result.

pub mod batch;
mod build;
pub mod cache;
pub mod diff;
pub mod fetch;
pub mod limits;
pub mod mount;
mod mountinfo;
pub(crate) mod options;
pub mod registry;
pub mod resolve;
pub(crate) mod sizes;

use std::process::ExitCode;

use crate::cli::Command;

/// Runs a subcommand and says how the process should exit.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Build(args) => build::run(args),
        Command::Batch(args) => batch::run(args),
        Command::Publish(args) => build::publish(args, None),
        Command::Push(args) => registry::push(args),
        Command::Pull(args) => registry::pull(args),
        Command::Resolve(args) => resolve::run(args),
        Command::Mount(args) => mount::run(args),
        Command::Umount(args) => mount::umount(args),
        Command::Diff(args) => diff::run(args),
        Command::Cache(args) => cache::run(args),
    }
}
