//! How a command other than `mount` ends on SIGINT, SIGTERM or SIGHUP: the temporary outputs
//! and cache temporaries it was writing are removed first, so an interrupted build leaves no
//! hidden half-written layout or archive beside its output, nor files in the cache's `tmp/`.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use flatroot_materialize::oci::pending;
use nix::sys::signal::{SigSet, Signal};

/// Set once a signal has come: the process is ending with the signal's status.
static ENDING: AtomicBool = AtomicBool::new(false);

/// Blocks for good once a signal has come, so that the signal thread's exit, with the
/// signal's status, is how the process ends: not an error the command met because its
/// outputs were being removed under it.
pub fn wait_if_ending() {
    while ENDING.load(Ordering::SeqCst) {
        std::thread::park();
    }
}

/// Takes the three signals on a thread of its own, which removes the process's temporary
/// outputs and exits with 128 + the signal's number, as a shell reports a process that a
/// signal ended. Call before any other thread starts, so that all inherit the blocked mask.
///
/// # Errors
/// When the signals cannot be blocked or the thread started.
pub fn clean_up_on_signals() -> anyhow::Result<()> {
    let mut signals = SigSet::empty();
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        signals.add(signal);
    }
    signals.thread_block().context("cannot block signals")?;
    std::thread::Builder::new()
        .name("flatroot-signals".to_string())
        .spawn(move || {
            if let Ok(signal) = signals.wait() {
                ENDING.store(true, Ordering::SeqCst);
                let removed = pending::remove_all();
                tracing::debug!(?signal, removed, "ending on a signal");
                // Said once, so that a user who pressed Ctrl-C sees the command did stop.
                let unfinished = match removed {
                    0 => String::new(),
                    1 => ": the 1 unfinished output it was writing is removed".to_string(),
                    n => format!(": the {n} unfinished outputs it was writing are removed"),
                };
                crate::output::note(&format!("flatroot stopped on {signal}{unfinished}"));
                std::process::exit(128 + signal as i32);
            }
        })
        .context("cannot start the signal thread")?;
    Ok(())
}
