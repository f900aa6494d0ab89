//! Progress of long operations (`ledger verify`, `feed export`) on standard error: a bar with the
//! count, rate and ETA when standard error is a terminal, nothing otherwise (pipes, logs, CI) or
//! when the caller asked for quiet output.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar that draws only on a terminal.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar counting `unit` (e.g. "entries") towards `total`, with `what` in front; hidden unless
    /// standard error is a terminal and `quiet` is false.
    pub fn new(what: &str, unit: &str, total: u64, quiet: bool) -> Self {
        let shown = !quiet && std::io::stderr().is_terminal();
        let target = if shown {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(total), target);
        let template = format!(
            "{{msg}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} {{per_sec}} ETA {{eta}}"
        );
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_string());
        Self { bar }
    }

    /// A bar that never draws.
    pub fn hidden() -> Self {
        Self {
            bar: ProgressBar::hidden(),
        }
    }

    /// Whether anything is drawn.
    pub fn is_shown(&self) -> bool {
        !self.bar.is_hidden()
    }

    /// Sets the total once it is known.
    pub fn set_total(&self, total: u64) {
        self.bar.set_length(total);
    }

    /// Sets how far the operation is.
    pub fn set_position(&self, done: u64) {
        self.bar.set_position(done);
    }

    /// Removes the bar, leaving the terminal as it was.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_or_not_a_terminal_draws_nothing() {
        assert!(!Progress::new("verify", "entries", 10, true).is_shown());
        assert!(!Progress::hidden().is_shown());
        // Under `cargo test` standard error is captured, never a terminal.
        if !std::io::stderr().is_terminal() {
            assert!(!Progress::new("verify", "entries", 10, false).is_shown());
        }
    }
}
