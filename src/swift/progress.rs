//! Progress of long operations (hashing, uploading): counted here, drawn by whoever the
//! program registered with [`set_sink`] (the command line draws a bar on a terminal). The
//! library itself never writes to stderr; with no sink, nothing is shown. At most ten
//! updates a second reach the sink, and it is told when the operation ends.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const REDRAW: Duration = Duration::from_millis(100);

/// Where progress goes.
pub trait ProgressSink: Send + Sync {
    /// `label` has done `done` of `total` bytes, `elapsed` after it started.
    fn show(&self, label: &str, done: u64, total: u64, elapsed: Duration);
    /// The operation ended (or failed): remove what `show` drew.
    fn clear(&self);
}

static SINK: OnceLock<Box<dyn ProgressSink>> = OnceLock::new();

/// Registers the program's progress sink (once; `false` if one was already set).
pub fn set_sink(sink: Box<dyn ProgressSink>) -> bool {
    SINK.set(sink).is_ok()
}

/// Progress of one long operation over `total` bytes.
pub(crate) struct Progress {
    label: &'static str,
    total: u64,
    done: Cell<u64>,
    last_draw: Cell<Option<Instant>>,
    started: Instant,
    sink: Option<&'static dyn ProgressSink>,
}

impl Progress {
    /// Progress that reaches the registered sink only when `wanted`.
    pub(crate) fn new(label: &'static str, total: u64, wanted: bool) -> Self {
        Progress {
            label,
            total,
            done: Cell::new(0),
            last_draw: Cell::new(None),
            started: Instant::now(),
            sink: SINK.get().filter(|_| wanted).map(|s| s.as_ref()),
        }
    }

    /// Moves to an absolute position (a retried request starts its range again).
    pub(crate) fn set(&self, position: u64) {
        self.done.set(position);
        self.draw();
    }

    /// Adds `n` bytes.
    pub(crate) fn advance(&self, n: u64) {
        self.done.set(self.done.get() + n);
        self.draw();
    }

    /// Tells the sink the operation ended.
    pub(crate) fn finish(&self) {
        if let Some(sink) = self.sink {
            sink.clear();
        }
    }

    fn draw(&self) {
        let Some(sink) = self.sink else {
            return;
        };
        let now = Instant::now();
        if self.last_draw.get().is_some_and(|t| now - t < REDRAW) {
            return;
        }
        self.last_draw.set(Some(now));
        sink.show(self.label, self.done.get(), self.total, now - self.started);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
