//! Unix times shown the way keystone shows them: `2025-01-31T12:00:00.000000Z`.
//!
//! Keystone (`keystone.common.utils.isotime(subsecond=True)`) drops the microseconds and
//! prints six zeros, so a token's `issued_at`/`expires_at` only carry whole seconds. Python's
//! `datetime` covers years 1 to 9999; a time outside that range is a malformed token (keystone
//! fails on it too), so it is rejected here rather than printed as something keystone never shows.

use std::fmt;

/// Seconds of the first instant of year 1 and the last second of year 9999 (Unix time).
const MIN_SECONDS: i64 = -62_135_596_800;
const MAX_SECONDS: i64 = 253_402_300_799;

/// "00" to "99", two digits at a time.
const PAIRS: &[u8; 200] = b"00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";

/// A whole-second UTC time inside Python's `datetime` range. Displays as keystone's ISO 8601.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct IsoTime(i64);

impl IsoTime {
    /// A time from whole Unix seconds, if `datetime` can represent it.
    pub(crate) fn from_seconds(seconds: i64) -> Option<Self> {
        (MIN_SECONDS..=MAX_SECONDS)
            .contains(&seconds)
            .then_some(IsoTime(seconds))
    }

    /// The second keystone shows for a float Unix time (a Fernet payload's `expires_at`):
    /// `datetime.fromtimestamp` rounds to the microsecond (ties to even), then `isotime`
    /// drops the microseconds, so 9.9999996 shows as second 10 and 9.9999994 as second 9.
    pub(crate) fn from_float(t: f64) -> Option<Self> {
        if !t.is_finite() {
            return None;
        }
        let whole = t.trunc();
        let micros = (t.fract() * 1e6).round_ties_even();
        let seconds = if micros >= 1e6 {
            whole + 1.0
        } else if micros < 0.0 {
            whole - 1.0
        } else {
            whole
        };
        if !(MIN_SECONDS as f64..=MAX_SECONDS as f64).contains(&seconds) {
            return None;
        }
        Self::from_seconds(seconds as i64)
    }

    /// Unix seconds.
    pub fn seconds(self) -> i64 {
        self.0
    }
}

impl IsoTime {
    /// Appends the time as keystone shows it. Built by hand: `write!` with six padded
    /// numbers costs more than decrypting the token.
    pub(crate) fn push_to(&self, out: &mut String) {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        let mut text = *b"0000-00-00T00:00:00.000000Z";
        let mut pair = |at: usize, value: u32| {
            let i = 2 * value as usize;
            text[at..at + 2].copy_from_slice(&PAIRS[i..i + 2]);
        };
        pair(0, year as u32 / 100);
        pair(2, year as u32 % 100);
        pair(5, month);
        pair(8, day);
        pair(11, secs / 3600);
        pair(14, secs / 60 % 60);
        pair(17, secs % 60);
        out.push_str(std::str::from_utf8(&text).expect("digits are ASCII"));
    }
}

impl fmt::Display for IsoTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::with_capacity(27);
        self.push_to(&mut text);
        f.write_str(&text)
    }
}

impl serde::Serialize for IsoTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Unix seconds as UTC ISO 8601 (`2025-01-31T16:20:00Z`), without a date library. The one
/// formatter the crate uses for whole-second times (rotation records, TempURL expiries).
pub fn utc(unix: u64) -> String {
    let (year, month, day) = civil_from_days((unix / 86_400) as i64);
    let secs = unix % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(t: f64) -> String {
        IsoTime::from_float(t).unwrap().to_string()
    }

    #[test]
    fn formats_like_keystone_isotime() {
        // Values checked with keystone.common.utils.isotime(datetime.fromtimestamp(t, utc)).
        assert_eq!(show(0.0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(show(1_700_000_000.25), "2023-11-14T22:13:20.000000Z");
        assert_eq!(show(951_782_400.0), "2000-02-29T00:00:00.000000Z");
        assert_eq!(show(4_102_444_799.0), "2099-12-31T23:59:59.000000Z");
        assert_eq!(show(-1.5), "1969-12-31T23:59:58.000000Z");
        assert_eq!(
            IsoTime::from_seconds(MIN_SECONDS).unwrap().to_string(),
            "0001-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            IsoTime::from_seconds(MAX_SECONDS).unwrap().to_string(),
            "9999-12-31T23:59:59.000000Z"
        );
    }

    #[test]
    fn rounds_to_the_microsecond_before_dropping_it() {
        assert_eq!(show(9.999_999_6), "1970-01-01T00:00:10.000000Z");
        assert_eq!(show(9.999_999_4), "1970-01-01T00:00:09.000000Z");
    }

    #[test]
    fn rejects_what_datetime_cannot_hold() {
        assert!(IsoTime::from_float(f64::NAN).is_none());
        assert!(IsoTime::from_float(f64::INFINITY).is_none());
        assert!(IsoTime::from_float(1e300).is_none());
        assert!(IsoTime::from_seconds(MAX_SECONDS + 1).is_none());
        assert!(IsoTime::from_seconds(MIN_SECONDS - 1).is_none());
    }
}
