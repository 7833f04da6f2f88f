//! The one clock: every "now" of the tool reads it here (Unix time from the system clock;
//! before 1970 reads as 0). Functions that decide on time take `now` as a parameter, so
//! their tests set it; only the edges call these.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds.
pub fn now() -> u64 {
    since_epoch().as_secs()
}

/// Unix nanoseconds (unique temporary names).
pub(crate) fn now_nanos() -> u128 {
    since_epoch().as_nanos()
}

/// How long ago `then` was (zero when it is in the future).
pub(crate) fn age(then: SystemTime) -> std::time::Duration {
    SystemTime::now().duration_since(then).unwrap_or_default()
}

fn since_epoch() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}
