//! The three channels: data on stdout, user messages and progress on stderr, diagnostics
//! through `tracing` (enabled with `-v` or `FLATROOT_LOG`).

use std::io::{IsTerminal as _, Write as _};

use flatroot_materialize::progress::{Progress, Stage};
use indicatif::{ProgressBar, ProgressStyle};
use tracing_subscriber::filter::LevelFilter;

/// Sets up `tracing` on stderr: warnings by default, more with `-v`, or `FLATROOT_LOG`.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("FLATROOT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // ureq's trace level dumps requests unredacted, `Authorization` included: when trace is
    // asked for, ureq stays at debug.
    let tracing_anything = filter.max_level_hint().is_none_or(|max| max == LevelFilter::TRACE);
    for directive in ["ureq=debug", "ureq_proto=debug"] {
        if let (true, Ok(directive)) = (tracing_anything, directive.parse()) {
            filter = filter.add_directive(directive);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // Without -v or FLATROOT_LOG only warnings show, and they are for the user: no time
    // stamp or module path, which diagnostics need and a warning does not.
    if verbose == 0 && std::env::var_os("FLATROOT_LOG").is_none() {
        builder.without_time().with_target(false).init();
    } else {
        builder.init();
    }
}

/// Prints an error and its causes, one per line: `error: …` then `caused by: …`.
pub fn print_error(error: &anyhow::Error) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "error: {error}");
    for cause in error.chain().skip(1) {
        let _ = writeln!(stderr, "caused by: {cause}");
    }
}

/// Prints a warning for the user.
pub fn warn(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "warning: {message}");
}

/// Tells the user what was done, on stderr.
pub fn note(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{message}");
}

/// Writes a line of data to stdout. A reader that has gone away (`| head`, `| true`) is
/// not an error: the work the line reports is done, and the exit status must say so.
pub fn data(line: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(()),
    }
}

/// Progress drawn with a spinner when stderr is a terminal, and nothing otherwise.
pub struct Spinner {
    bar: Option<ProgressBar>,
}

impl Spinner {
    /// A spinner on a terminal, a silent reporter elsewhere.
    pub fn new() -> Spinner {
        if !std::io::stderr().is_terminal() {
            return Spinner { bar: None };
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Spinner { bar: Some(bar) }
    }

    /// Prints a line on stderr above the spinner.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| note(line)),
            None => note(line),
        }
    }

    /// Removes the spinner from the terminal.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Spinner {
    /// Clears the spinner on every way out, an error's included, so that no stale line stays
    /// above the message.
    fn drop(&mut self) {
        self.finish();
    }
}

impl Progress for Spinner {
    fn stage(&self, image: &str, stage: Stage) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{image}: {stage}"));
        }
    }
}
