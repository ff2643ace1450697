//! The three channels: data on stdout, user messages and progress on stderr, diagnostics
//! through `tracing` (enabled with `-v` or `FLATROOT_LOG`).

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;

use flatroot_materialize::progress::{Progress, Stage};
use flatroot_materialize::terminal::visible;
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

/// Prints an error and its causes, one per line: `error: …` then `caused by: …`. What they
/// quote of the input (a registry's message, a layer's bytes, a path) is shown [`visible`]:
/// no control character of it reaches the terminal, and a line feed in a file name cannot
/// start a line that reads as one of flatroot's own.
pub fn print_error(error: &anyhow::Error) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "error: {}", visible(&error.to_string()));
    for cause in error.chain().skip(1) {
        let _ = writeln!(stderr, "caused by: {}", visible(&cause.to_string()));
    }
}

/// Prints a warning for the user, on one line, [`visible`] as errors are.
pub fn warn(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "warning: {}", visible(message));
}

/// Tells the user what was done, on stderr, on one line, [`visible`] as errors are.
pub fn note(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{}", visible(message));
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

/// Progress drawn with a spinner when stderr is a terminal, and nothing otherwise: one line
/// that names each image in progress, its stage and how much of the stage is done.
pub struct Spinner {
    bar: Option<ProgressBar>,
    images: Mutex<Shown>,
}

/// Each image in progress, by name: its stage and, once reported, the steps done of it and
/// their total.
type Shown = BTreeMap<String, (Stage, Option<(usize, usize)>)>;

/// The spinner's line for `images`: `NAME: STAGE, N of M done`, joined by ` · `.
fn status_line(images: &Shown) -> String {
    let parts: Vec<String> = images
        .iter()
        .map(|(name, (stage, steps))| match steps {
            Some((done, total)) => format!("{name}: {stage}, {done} of {total} done"),
            None => format!("{name}: {stage}"),
        })
        .collect();
    parts.join(" · ")
}

impl Spinner {
    /// A spinner on a terminal, a silent reporter elsewhere.
    pub fn new() -> Spinner {
        let images = Mutex::default();
        if !std::io::stderr().is_terminal() {
            return Spinner { bar: None, images };
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>4} {wide_msg}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Spinner { bar: Some(bar), images }
    }

    /// Stops showing the images whose names start with `prefix` (those of a finished
    /// blueprint of a batch).
    pub fn forget(&self, prefix: &str) {
        self.update(|images| images.retain(|name, _| !name.starts_with(prefix)));
    }

    /// Changes what is shown of the images and redraws the line.
    fn update(&self, change: impl FnOnce(&mut Shown)) {
        let mut images = self.images.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        change(&mut images);
        if let Some(bar) = &self.bar {
            bar.set_message(visible(&status_line(&images)).into_owned());
        }
    }

    /// Prints a line on stderr above the spinner.
    pub fn println(&self, line: &str) {
        self.suspend(|| note(line));
    }

    /// Runs `f` with the spinner off the terminal, so that what it prints (on stdout or
    /// stderr) does not land on the spinner's line.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
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
        self.update(|images| {
            images.insert(image.to_string(), (stage, None));
        });
    }

    fn advance(&self, image: &str, done: usize, total: usize) {
        self.update(|images| {
            if let Some(shown) = images.get_mut(image) {
                // Threads report out of order: the count only grows.
                let before = shown.1.map_or(0, |(done, _)| done);
                shown.1 = Some((done.max(before), total));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_names_each_image_its_stage_and_what_is_done() {
        let mut shown = Shown::new();
        assert_eq!(status_line(&shown), "");
        shown.insert("x86_64".into(), (Stage::Unpack { packages: 12 }, Some((5, 12))));
        shown.insert("aarch64".into(), (Stage::Layer, None));
        assert_eq!(
            status_line(&shown),
            "aarch64: writing the layer · x86_64: unpacking 12 packages, 5 of 12 done"
        );
    }

    #[test]
    fn advances_only_count_up_and_a_finished_blueprint_is_forgotten() {
        // A spinner that draws nothing still keeps what it would show.
        let spinner = Spinner { bar: None, images: Mutex::default() };
        let shown = |spinner: &Spinner| status_line(&spinner.images.lock().unwrap());
        spinner.stage("a/x86_64", Stage::Unpack { packages: 3 });
        spinner.stage("b/x86_64", Stage::Resolve);
        spinner.advance("a/x86_64", 2, 3);
        spinner.advance("a/x86_64", 1, 3);
        assert_eq!(
            shown(&spinner),
            "a/x86_64: unpacking 3 packages, 2 of 3 done · b/x86_64: resolving"
        );
        spinner.forget("a/");
        assert_eq!(shown(&spinner), "b/x86_64: resolving");
    }
}
