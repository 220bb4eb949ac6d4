//! The progress bar on stderr while a phase runs (etcd shows one too).
//!
//! It is drawn only when stderr is a terminal, so redirected output, CI
//! logs and the tests see nothing of it; stdout carries only the report.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps, hidden unless stderr is a terminal.
pub fn bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{pos:>7}/{len:7} [{bar:40}] {percent:>3}% {per_sec} {elapsed_precise} (eta {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
