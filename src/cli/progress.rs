//! The progress bar of long uploads and hashing: one line on stderr, drawn only when stderr
//! is a terminal (a pipeline's log gets no carriage returns), cleared when done. The library
//! reports progress to this sink (`swift::progress`); it never writes to stderr itself.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use overcloud_keys::swift::progress::{ProgressSink, set_sink};

const WIDTH: u64 = 30;

struct StderrBar;

impl ProgressSink for StderrBar {
    fn show(&self, label: &str, done: u64, total: u64, elapsed: Duration) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{}", render(label, done, total, elapsed));
        let _ = err.flush();
    }

    fn clear(&self) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
    }
}

/// Draws progress bars on stderr from now on, if it is a terminal.
pub fn install() {
    if std::io::stderr().is_terminal() {
        set_sink(Box::new(StderrBar));
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
