//! A one-line progress bar on stderr, drawn only when stderr is a terminal (a pipeline's log
//! gets no carriage returns). At most ten redraws a second; cleared when done.

use std::cell::Cell;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

const REDRAW: Duration = Duration::from_millis(100);
const WIDTH: u64 = 30;

/// Progress of one long operation (hashing, uploading) over `total` bytes.
pub(crate) struct Progress {
    label: &'static str,
    total: u64,
    done: Cell<u64>,
    last_draw: Cell<Option<Instant>>,
    started: Instant,
    enabled: bool,
}

impl Progress {
    /// A bar that draws only when `wanted` and stderr is a terminal.
    pub(crate) fn new(label: &'static str, total: u64, wanted: bool) -> Self {
        Progress {
            label,
            total,
            done: Cell::new(0),
            last_draw: Cell::new(None),
            started: Instant::now(),
            enabled: wanted && std::io::stderr().is_terminal(),
        }
    }

    /// Moves to an absolute position (a retried request starts its range again).
    pub(crate) fn set(&self, position: u64) {
        self.done.set(position);
        self.draw(false);
    }

    /// Adds `n` bytes.
    pub(crate) fn advance(&self, n: u64) {
        self.done.set(self.done.get() + n);
        self.draw(false);
    }

    /// Clears the line.
    pub(crate) fn finish(&self) {
        if self.enabled {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }

    fn draw(&self, force: bool) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if !force && self.last_draw.get().is_some_and(|t| now - t < REDRAW) {
            return;
        }
        self.last_draw.set(Some(now));
        let line = render(self.label, self.done.get(), self.total, now - self.started);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The bar's text: `label [#####-----]  45%  450.0 MiB / 1.0 GiB  85.3 MiB/s`.
fn render(label: &str, done: u64, total: u64, elapsed: Duration) -> String {
    let done = done.min(total);
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
    format!(
        "{label} [{}{}] {percent:>3}%  {} / {}  {}/s",
        "#".repeat(filled as usize),
        "-".repeat((WIDTH - filled) as usize),
        size(done as f64),
        size(total as f64),
        size(rate)
    )
}

fn size(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_text() {
        let line = render("upload", 512 << 20, 1 << 30, Duration::from_secs(2));
        assert_eq!(
            line,
            "upload [###############---------------]  50%  512.0 MiB / 1.0 GiB  256.0 MiB/s"
        );
        assert!(render("hash", 0, 0, Duration::ZERO).contains("100%"));
    }
}
