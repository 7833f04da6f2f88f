//! The safe Fernet rotation rule, derived from keystone's pruning, and what breaks when a
//! schedule violates it. Pure arithmetic on whole seconds: no clock, no I/O.
//!
//! # Derivation
//!
//! Keystone's `fernet_rotate` (`keystone/common/fernet_utils.py`) promotes the staged key `0`
//! to `max + 1`, writes a new `0`, then deletes the lowest non-zero keys until at most
//! `max_active_keys` (N) remain: after every rotation the repository holds the staged key,
//! the primary and N - 2 secondaries. Number the rotations 0, 1, 2, ... at times T0, T1, ...
//!
//! * The key promoted at rotation i is the primary during [Ti, Ti+1): every token it
//!   encrypts is issued in that interval.
//! * Each later rotation pushes it one place down; it is among the N - 2 secondaries after
//!   rotations i+1 ... i+N-2 and is deleted by rotation i+N-1.
//! * A token issued at t carries `expires_at = t + expiration` (E) and keystone still
//!   validates it with `allow_expired=True` until `t + E + allow_expired_window` (W). It can
//!   be decrypted only while its key exists.
//!
//! The last token of key i is issued just before Ti+1 and must stay decryptable until
//! Ti+1 + E + W; the key lives until Ti+N-1. So the schedule is safe iff, for every i,
//!
//! ```text
//!     T(i+N-1) - T(i+1) >= E + W        (the N - 2 intervals after the key stops encrypting)
//! ```
//!
//! With a fixed interval R this is `(N - 2) * R >= E + W`, i.e. keystone's documented
//! `max_active_keys >= (E + W) / R + 2`, taken exactly (no rounding of the quotient):
//!
//! * smallest safe N for an interval R: `2 + ceil((E + W) / R)`;
//! * shortest safe R for N keys: `ceil((E + W) / (N - 2))` seconds (none for N <= 2 unless
//!   E + W = 0: with two keys the previous primary is deleted by the very rotation that
//!   retires it).
//!
//! TripleO's defaults (N = 5, E = 3600, W = 172800) give R >= 176400 / 3 = 58800 s =
//! 16 h 20 min, the "about 16.3 hours" of docs/domain.md section 1; keystone's own default N = 3 needs 49 h.
//!
//! When violated the shortfall is `D = E + W - (N - 2) * R`. A token issued at offset s
//! into its key's interval (0 <= s < R) loses `max(0, s - (R - D))` seconds of its
//! usable life: the tokens issued in the last `min(D, R)` seconds before each rotation,
//! the last one by D seconds. Of that loss, the part beyond W (`V = E - (N - 2) * R`, when
//! positive) falls inside the token's normal validity: those tokens are rejected with 401
//! before they expire. When V <= 0 only the `allow_expired_window` is cut short, which
//! breaks long-running operations that rely on it (services validating expired tokens).
//!
//! `keys::repo::rotate_keys` implements keystone's pruning; the tests below check the
//! closed forms against a simulation that uses it.

use serde::Serialize;

use crate::error::{Error, Result};

/// Keystone's `[token] expiration` default, seconds.
pub const DEFAULT_EXPIRATION: u64 = 3600;
/// Keystone's `[token] allow_expired_window` default, seconds (48 h).
pub const DEFAULT_ALLOW_EXPIRED_WINDOW: u64 = 172_800;
/// TripleO's `KeystoneFernetMaxActiveKeys` default.
pub const TRIPLEO_MAX_ACTIVE_KEYS: usize = 5;
/// Keystone's `[fernet_tokens] max_active_keys` default.
pub const KEYSTONE_MAX_ACTIVE_KEYS: usize = 3;

/// The three settings the rule depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// `[token] expiration`, seconds.
    pub expiration: u64,
    /// `[token] allow_expired_window`, seconds.
    pub allow_expired_window: u64,
    /// `[fernet_tokens] max_active_keys` (staged key included).
    pub max_active_keys: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            expiration: DEFAULT_EXPIRATION,
            allow_expired_window: DEFAULT_ALLOW_EXPIRED_WINDOW,
            max_active_keys: TRIPLEO_MAX_ACTIVE_KEYS,
        }
    }
}

impl Limits {
    /// How long after its issue a token must stay decryptable: E + W.
    pub fn token_life(&self) -> u128 {
        u128::from(self.expiration) + u128::from(self.allow_expired_window)
    }

    /// Rotations a retired primary survives as a secondary: N - 2.
    fn secondary_slots(&self) -> u128 {
        self.max_active_keys.saturating_sub(2) as u128
    }

    /// True when rotating every `interval` seconds never deletes a key that can still
    /// decrypt a live token: `(N - 2) * interval >= E + W`.
    pub fn is_safe(&self, interval: u64) -> bool {
        self.secondary_slots() * u128::from(interval) >= self.token_life()
    }

    /// The shortest safe interval in seconds, or `None` when no interval is safe (N <= 2).
    pub fn shortest_safe_interval(&self) -> Option<u64> {
        let life = self.token_life();
        match self.secondary_slots() {
            0 if life == 0 => Some(0),
            0 => None,
            slots => Some(saturate(life.div_ceil(slots))),
        }
    }

    /// What a rotation every `interval` seconds breaks, or `None` when it is safe.
    pub fn violation(&self, interval: u64) -> Option<Violation> {
        let covered = self.secondary_slots() * u128::from(interval);
        let life = self.token_life();
        if covered >= life {
            return None;
        }
        let deficit = life - covered;
        let r = u128::from(interval);
        let valid_deficit = u128::from(self.expiration).saturating_sub(covered);
        Some(Violation {
            deficit: saturate(deficit),
            affected_issue_window: saturate(deficit.min(r)),
            affected_fraction: if interval == 0 {
                1.0
            } else {
                deficit.min(r) as f64 / r as f64
            },
            early_by_max: saturate(deficit),
            early_by_min: saturate(deficit.saturating_sub(r)),
            valid_tokens: (valid_deficit > 0).then(|| ValidTokensDie {
                issue_window: saturate(valid_deficit.min(r)),
                before_expiry_max: saturate(valid_deficit),
            }),
        })
    }
}

/// The smallest safe `max_active_keys` for an interval: `2 + ceil((E + W) / interval)`.
pub fn smallest_safe_max_active_keys(
    expiration: u64,
    allow_expired_window: u64,
    interval: u64,
) -> u64 {
    let life = u128::from(expiration) + u128::from(allow_expired_window);
    if interval == 0 {
        return u64::MAX;
    }
    saturate(2 + life.div_ceil(u128::from(interval)))
}

fn saturate(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// What an unsafe schedule does to tokens (all figures in seconds).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    /// `E + W - (N - 2) * interval`: how much too short the keys live.
    pub deficit: u64,
    /// Tokens issued in this many seconds before each rotation are cut short.
    pub affected_issue_window: u64,
    /// Share of all tokens cut short, for a steady issue rate (0..=1).
    pub affected_fraction: f64,
    /// The worst token (issued just before a rotation) becomes undecryptable this early.
    pub early_by_max: u64,
    /// The best token (issued just after a rotation) becomes undecryptable this early.
    pub early_by_min: u64,
    /// Set when some tokens die before their own expiry (not just in the expired window).
    pub valid_tokens: Option<ValidTokensDie>,
}

/// Tokens rejected while still unexpired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidTokensDie {
    /// Tokens issued in this many seconds before each rotation are hit.
    pub issue_window: u64,
    /// The worst one is rejected this long before it expires.
    pub before_expiry_max: u64,
}

/// Parses `16h`, `1d`, `90m`, `3600s`, `1d12h` or plain seconds into seconds (at least 1).
pub fn parse_duration(text: &str) -> Result<u64> {
    let bad = |reason: &str| Error::InvalidValue {
        name: "duration",
        value: format!("{text:?}"),
        reason: format!("{reason}; use e.g. 16h, 1d, 90m, 3600s, 1d12h or plain seconds"),
    };
    let s = text.trim();
    if s.is_empty() {
        return Err(bad("empty"));
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut last_unit: Option<u64> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            other => return Err(bad(&format!("unknown unit {other:?}"))),
        };
        if digits.is_empty() {
            return Err(bad("a unit needs a number before it"));
        }
        if last_unit.is_some_and(|prev| unit >= prev) {
            return Err(bad("units must go from largest to smallest, each once"));
        }
        last_unit = Some(unit);
        let n: u64 = digits.parse().map_err(|_| bad("number too large"))?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| bad("too large"))?;
        if chars.peek().is_some_and(|c| !c.is_ascii_digit()) {
            return Err(bad("expected a number after each unit"));
        }
    }
    if !digits.is_empty() {
        if last_unit.is_some() {
            return Err(bad("a trailing number needs a unit"));
        }
        total = digits.parse().map_err(|_| bad("number too large"))?;
    }
    if total == 0 {
        return Err(bad("must be longer than 0 seconds"));
    }
    Ok(total)
}

/// Seconds for people: `16h 20m`, `2d 1h`, `59s`, `0s`.
pub fn human(seconds: u64) -> String {
    if seconds == 0 {
        return "0s".into();
    }
    let parts = [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")];
    let mut left = seconds;
    let mut out = vec![];
    for (size, unit) in parts {
        if left >= size {
            out.push(format!("{}{unit}", left / size));
            left %= size;
        }
    }
    out.join(" ")
}

pub use crate::token::time::utc;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::fernet::FernetKey;
    use crate::keys::repo::{KeySet, rotate_keys};
    use proptest::prelude::*;

    fn limits(e: u64, w: u64, n: usize) -> Limits {
        Limits {
            expiration: e,
            allow_expired_window: w,
            max_active_keys: n,
        }
    }

    #[test]
    fn tripleo_default_needs_16h20m() {
        let l = Limits::default();
        assert_eq!(l.shortest_safe_interval(), Some(58_800));
        assert_eq!(human(58_800), "16h 20m");
        assert!((58_800.0_f64 / 3600.0 - 16.33).abs() < 0.01);
        assert!(l.is_safe(58_800));
        assert!(!l.is_safe(58_799));
        assert!(!l.is_safe(16 * 3600));
        // 16 h needs 2 + ceil(176400 / 57600) = 2 + 4 = 6 keys.
        assert_eq!(smallest_safe_max_active_keys(3600, 172_800, 16 * 3600), 6);
    }

    #[test]
    fn keystone_default_three_keys_needs_49h() {
        let l = limits(3600, 172_800, 3);
        assert_eq!(l.shortest_safe_interval(), Some(176_400));
        assert_eq!(human(176_400), "2d 1h");
    }

    #[test]
    fn daily_rotation_needs_five_keys_not_four() {
        // 176400 / 86400 = 2.04: the extra hour of expiration costs a whole key.
        assert_eq!(smallest_safe_max_active_keys(3600, 172_800, 86_400), 5);
        assert!(!limits(3600, 172_800, 4).is_safe(86_400));
        assert!(limits(3600, 172_800, 5).is_safe(86_400));
    }

    #[test]
    fn equality_is_safe_and_one_second_less_is_not() {
        let l = limits(3600, 3600, 4);
        assert!(l.is_safe(3600));
        let v = l.violation(3599).expect("unsafe");
        assert_eq!(v.deficit, 2);
        assert_eq!(v.affected_issue_window, 2);
        assert_eq!(v.valid_tokens, None);
    }

    #[test]
    fn two_keys_are_never_safe_with_a_token_life() {
        let l = limits(3600, 0, 2);
        assert_eq!(l.shortest_safe_interval(), None);
        let v = l.violation(86_400).expect("unsafe");
        // Every token dies at the next rotation: the worst loses its whole life.
        assert_eq!(v.early_by_max, 3600);
        assert_eq!(limits(0, 0, 2).shortest_safe_interval(), Some(0));
    }

    #[test]
    fn hourly_rotation_with_keystone_defaults_cuts_the_expired_window() {
        let v = limits(3600, 172_800, 3).violation(3600).expect("unsafe");
        assert_eq!(v.deficit, 172_800);
        assert_eq!(v.affected_issue_window, 3600);
        assert_eq!(v.affected_fraction, 1.0);
        assert_eq!(v.early_by_min, 172_800 - 3600);
        // (N-2)R = E: no token dies before its own expiry.
        assert_eq!(v.valid_tokens, None);
    }

    #[test]
    fn half_hourly_rotation_kills_unexpired_tokens() {
        let v = limits(3600, 172_800, 3).violation(1800).expect("unsafe");
        assert_eq!(
            v.valid_tokens,
            Some(ValidTokensDie {
                issue_window: 1800,
                before_expiry_max: 1800
            })
        );
    }

    #[test]
    fn durations() {
        for (text, secs) in [
            ("16h", 57_600),
            ("1d", 86_400),
            ("90m", 5400),
            ("3600s", 3600),
            ("3600", 3600),
            ("1d12h", 129_600),
            ("16h20m", 58_800),
            (" 2w ", 1_209_600),
        ] {
            assert_eq!(parse_duration(text).unwrap(), secs, "{text}");
        }
        for bad in [
            "",
            "0",
            "0h",
            "h",
            "16x",
            "1h1d",
            "1h1h",
            "16.3h",
            "-1",
            "1h30",
            "99999999999999999999",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn utc_formatting() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_767_225_599), "2025-12-31T23:59:59Z");
    }

    /// Simulates keystone's rotation (`rotate_keys`) every `r` seconds and returns the
    /// largest amount by which a token outlives its key (0 when safe).
    fn simulate(l: &Limits, r: u64) -> u64 {
        let mut keys: KeySet = KeySet::new();
        keys.insert(0, FernetKey::from_bytes([1; 32]));
        keys = rotate_keys(&keys, FernetKey::from_bytes([2; 32]), usize::MAX);
        // promoted[k] = time key k became primary.
        let mut promoted = std::collections::BTreeMap::from([(1u64, 0u64)]);
        let mut worst = 0;
        for i in 1..(l.max_active_keys as u64 + 6) {
            let now = i * r;
            let before: Vec<u64> = keys.keys().copied().collect();
            keys = rotate_keys(&keys, FernetKey::from_bytes([3; 32]), l.max_active_keys);
            promoted.insert(*keys.keys().next_back().unwrap(), now);
            for gone in before.iter().filter(|k| **k != 0 && !keys.contains_key(k)) {
                // Its last token was issued just before key gone+1 was promoted.
                let last_issue = promoted[&(gone + 1)];
                let needed = last_issue + l.expiration + l.allow_expired_window;
                worst = worst.max(needed.saturating_sub(now));
            }
        }
        worst
    }

    proptest! {
        #[test]
        fn closed_forms_match_keystone_pruning(
            e in 0u64..20_000, w in 0u64..200_000, n in 2usize..9, r in 1u64..100_000
        ) {
            let l = limits(e, w, n);
            let shortfall = simulate(&l, r);
            prop_assert_eq!(l.is_safe(r), shortfall == 0);
            match l.violation(r) {
                None => prop_assert_eq!(shortfall, 0),
                Some(v) => prop_assert_eq!(v.early_by_max, shortfall),
            }
            let min_n = smallest_safe_max_active_keys(e, w, r);
            prop_assert!(limits(e, w, min_n as usize).is_safe(r));
            prop_assert!(min_n == 2 || !limits(e, w, min_n as usize - 1).is_safe(r));
            if let Some(min_r) = l.shortest_safe_interval() {
                prop_assert!(l.is_safe(min_r.max(1)));
                prop_assert!(min_r == 0 || !l.is_safe(min_r - 1));
            }
        }
    }
}
