//! The rotation record: when each key of a Fernet token or receipt repository became
//! primary, kept in `<parent>/.<repo-name>.rotation.json` (never inside the repository:
//! keystone reads every file there, and `repo check` flags strangers), and the guard that
//! refuses a rotation that would delete a key still decrypting live tokens.
//!
//! The guard is exact, not just "interval since the last rotation": a rotation deletes the
//! lowest keys (keystone's pruning, via `keys::repo::rotate_keys`); key k stopped encrypting
//! when key k+1 became primary, and its last token must stay decryptable for
//! `expiration + allow_expired_window` after that (see `plan::rotation` for the derivation).
//! For a steady schedule this is the rule `(N - 2) * interval >= E + W`; it also catches a
//! burst of rotations that each look harmless. Records are matched to keys by fingerprint,
//! so a repository replaced by `setup --force` does not inherit stale times. When no record
//! covers the key (a repository rotated before records existed) the rotation is allowed
//! with a warning.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::check::RepoKind;
use crate::error::{Error, Result};
use crate::fsutil::{self, SECRET_FILE_MODE};
use crate::keys::fernet::FernetKey;
use crate::keys::repo::{self, KeySet, RepoOptions, RotateOutcome};
use crate::plan::rotation::{Limits, human, utc};

/// Record entries kept (oldest dropped first); far more than any sane max_active_keys.
const KEEP: usize = 256;

/// One promotion: key `primary` (identified by `fingerprint`) became primary at `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promotion {
    /// Key file number.
    pub primary: u64,
    /// SHA-256 fingerprint of the key (as `repo check` prints it).
    pub fingerprint: String,
    /// Unix seconds.
    pub at: u64,
    /// The same time, UTC, for people reading the file.
    #[serde(default)]
    pub at_utc: String,
}

/// The record file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationRecord {
    /// Format version (1).
    pub format: u32,
    /// Repository kind.
    pub kind: String,
    /// Promotions, oldest first.
    pub rotations: Vec<Promotion>,
}

/// `<parent>/.<repo-name>.rotation.json`.
pub(crate) fn record_path(repository: &Path) -> PathBuf {
    let name = repository
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repository".into());
    fsutil::parent_of(repository).join(format!(".{name}.rotation.json"))
}

/// Reads the record of `repository` (an empty one when there is none).
pub fn load(repository: &Path) -> Result<RotationRecord> {
    let path = record_path(repository);
    match std::fs::metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RotationRecord::default()),
        _ => {}
    }
    let bytes = fsutil::read_small(&path)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::RotationRecord {
        path,
        message: format!("not a rotation record: {e}"),
    })
}

/// Removes temporary files a killed earlier write of `record` left beside it
/// (`<record><TEMP_MARKER>-<pid>-<nanos>`, see `fsutil::write_file_atomic`).
fn remove_stale_temp_files(record: &Path) {
    let (Some(dir), Some(name)) = (record.parent(), record.file_name()) else {
        return;
    };
    let prefix = format!("{}{}", name.to_string_lossy(), fsutil::TEMP_MARKER);
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// What the guard found for one rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// The rotation deletes no key, or only keys whose tokens are all past their window.
    Safe {
        /// The highest key deleted, if any.
        pruned: Option<u64>,
    },
    /// A key would be deleted but no record says when its successor became primary.
    Unknown {
        /// The highest key deleted.
        pruned: u64,
    },
    /// Deleting `pruned` now kills tokens it issued.
    Unsafe {
        /// The highest key deleted.
        pruned: u64,
        /// When it stopped encrypting (Unix seconds).
        retired_at: u64,
        /// When deleting it becomes safe (Unix seconds).
        safe_at: u64,
    },
}

/// Key numbers after a rotation of `numbers` with `max_active` (keystone's pruning).
fn numbers_after(numbers: &[u64], max_active: usize) -> Vec<u64> {
    let dummy: KeySet = numbers
        .iter()
        .map(|&n| (n, FernetKey::from_bytes([1; 32])))
        .collect();
    repo::rotate_keys(&dummy, FernetKey::from_bytes([1; 32]), max_active)
        .into_keys()
        .collect()
}

/// Judges rotating a repository holding `keys` (number -> fingerprint) at `now`.
pub fn judge(
    keys: &BTreeMap<u64, String>,
    record: &RotationRecord,
    limits: &Limits,
    now: u64,
) -> Verdict {
    let numbers: Vec<u64> = keys.keys().copied().collect();
    let after = numbers_after(&numbers, limits.max_active_keys);
    let Some(pruned) = numbers
        .iter()
        .filter(|n| **n != 0 && !after.contains(n))
        .max()
        .copied()
    else {
        return Verdict::Safe { pruned: None };
    };
    // Key `pruned` stopped encrypting when `pruned + 1` became primary; that key, or any
    // later one, was promoted no earlier, so the earliest matching record at or above it is
    // a conservative (never early) stand-in when the exact one is missing.
    let new_primary = numbers.iter().max().copied().unwrap_or(0) + 1;
    let retired_at = if pruned + 1 == new_primary {
        Some(now)
    } else {
        record
            .rotations
            .iter()
            .filter(|p| p.primary > pruned && keys.get(&p.primary) == Some(&p.fingerprint))
            .map(|p| p.at)
            .min()
    };
    match retired_at {
        None => Verdict::Unknown { pruned },
        Some(retired_at) => {
            let life = u64::try_from(limits.token_life()).unwrap_or(u64::MAX);
            let safe_at = retired_at.saturating_add(life);
            if now >= safe_at {
                Verdict::Safe {
                    pruned: Some(pruned),
                }
            } else {
                Verdict::Unsafe {
                    pruned,
                    retired_at,
                    safe_at,
                }
            }
        }
    }
}

/// What a guarded rotation did.
#[derive(Debug, Clone)]
pub struct GuardedRotation {
    /// The rotation itself.
    pub outcome: RotateOutcome,
    /// The guard's verdict before rotating.
    pub verdict: Verdict,
    /// The guard's verdict on rotating again right away (its `safe_at` is the next safe time).
    pub next: Verdict,
    /// Things the operator must know (forced, unchecked, record not written).
    pub warnings: Vec<String>,
}

fn fingerprints(keys: &KeySet) -> BTreeMap<u64, String> {
    keys.iter().map(|(n, k)| (*n, k.fingerprint())).collect()
}

/// `fernet rotate` / `receipt rotate` with the safety guard and the record.
///
/// Refuses (`Error::UnsafeRotation`, nothing changed) when the rotation would delete a key
/// whose tokens may still be in use, unless `force`. Records the new primary afterwards; a
/// failure to write the record is a warning, not an error (the rotation happened).
pub fn rotate(
    path: &Path,
    opts: &RepoOptions,
    limits: &Limits,
    force: bool,
    now: u64,
) -> Result<GuardedRotation> {
    debug_assert!(matches!(opts.kind, RepoKind::Fernet | RepoKind::Receipt));
    // One writer at a time: load, guard, rotate and record as one step.
    let _lock = fsutil::lock(path)?;
    let before = repo::load(path, opts.kind)?;
    let mut warnings = vec![];
    let mut record = match load(path) {
        Ok(record) => record,
        Err(err) if force => {
            warnings.push(format!("{err}; starting a new record"));
            RotationRecord::default()
        }
        Err(err) => return Err(err),
    };
    let verdict = judge(&fingerprints(&before), &record, limits, now);
    if let Some(warning) = guard(path, &verdict, limits, force, now)? {
        warnings.push(warning);
    }
    let outcome = repo::rotate(path, opts)?;
    let after = repo::load(path, opts.kind)?;
    let primary = outcome.new_primary;
    if let Some(warning) = write_record(path, opts, &mut record, &after, primary, now) {
        warnings.push(warning);
    }
    let next = judge(&fingerprints(&after), &record, limits, now);
    Ok(GuardedRotation {
        outcome,
        verdict,
        next,
        warnings,
    })
}

/// What the verdict means for this rotation: an error when it is unsafe and not forced,
/// else the warning to report (forced, or no record to judge by).
fn guard(
    path: &Path,
    verdict: &Verdict,
    limits: &Limits,
    force: bool,
    now: u64,
) -> Result<Option<String>> {
    match verdict {
        Verdict::Unsafe {
            pruned,
            retired_at,
            safe_at,
        } => {
            let message = format!(
                "it would delete key {pruned}, which was primary until {} ({} ago); tokens it encrypted stay in use for expiration + allow_expired_window = {} ({} s) and would fail up to {} early",
                utc(*retired_at),
                human(now.saturating_sub(*retired_at)),
                human(limits.token_life() as u64),
                limits.token_life(),
                human(safe_at - now),
            );
            if !force {
                return Err(Error::UnsafeRotation {
                    path: path.to_path_buf(),
                    message,
                    next_safe: format!(
                        "the next safe rotation is at {} (in {})",
                        utc(*safe_at),
                        human(safe_at - now)
                    ),
                });
            }
            Ok(Some(format!("--force: {message}")))
        }
        Verdict::Unknown { pruned } => Ok(Some(format!(
            "no record of when key {} became primary (rotated before overcloud-keys kept {}): cannot tell whether deleting key {pruned} cuts live tokens short; recording from now on",
            pruned + 1,
            record_path(path).display()
        ))),
        Verdict::Safe { .. } => Ok(None),
    }
}

/// Records when `primary` became primary (keeping only promotions of keys still there, at
/// most `KEEP`); a warning when the record cannot be written.
fn write_record(
    path: &Path,
    opts: &RepoOptions,
    record: &mut RotationRecord,
    after: &KeySet,
    primary: u64,
    now: u64,
) -> Option<String> {
    let key = after.get(&primary)?;
    record.format = 1;
    record.kind = opts.kind.to_string();
    record.rotations.push(Promotion {
        primary,
        fingerprint: key.fingerprint(),
        at: now,
        at_utc: utc(now),
    });
    let current = fingerprints(after);
    // Forget promotions of keys that are gone: they can never be needed again.
    record
        .rotations
        .retain(|p| current.get(&p.primary) == Some(&p.fingerprint));
    let excess = record.rotations.len().saturating_sub(KEEP);
    record.rotations.drain(..excess);
    let text = serde_json::to_string_pretty(&record).expect("record serializes") + "\n";
    remove_stale_temp_files(&record_path(path));
    fsutil::write_file_atomic(
        &record_path(path),
        text.as_bytes(),
        SECRET_FILE_MODE,
        &opts.owner,
    )
    .err()
    .map(|err| {
        format!(
            "rotated, but the rotation record was not written ({err}): the next rotation cannot be checked"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3600;

    fn keys(numbers: &[u64]) -> BTreeMap<u64, String> {
        numbers.iter().map(|n| (*n, format!("fp{n}"))).collect()
    }

    fn record(promotions: &[(u64, u64)]) -> RotationRecord {
        RotationRecord {
            format: 1,
            kind: "fernet".into(),
            rotations: promotions
                .iter()
                .map(|(n, at)| Promotion {
                    primary: *n,
                    fingerprint: format!("fp{n}"),
                    at: *at,
                    at_utc: String::new(),
                })
                .collect(),
        }
    }

    fn limits(n: usize) -> Limits {
        Limits {
            max_active_keys: n,
            ..Limits::default()
        }
    }

    #[test]
    fn no_pruning_is_always_safe() {
        let v = judge(&keys(&[0, 1, 2]), &record(&[(2, 100)]), &limits(5), 101);
        assert_eq!(v, Verdict::Safe { pruned: None });
    }

    #[test]
    fn pruning_waits_for_the_successor_promotion_plus_the_token_life() {
        // N = 3: {0,1,2} -> {0,2,3} deletes key 1, retired when key 2 became primary.
        let rec = record(&[(2, 1000)]);
        let life = 3600 + 172_800;
        assert_eq!(
            judge(&keys(&[0, 1, 2]), &rec, &limits(3), 1000 + life - 1),
            Verdict::Unsafe {
                pruned: 1,
                retired_at: 1000,
                safe_at: 1000 + life
            }
        );
        assert_eq!(
            judge(&keys(&[0, 1, 2]), &rec, &limits(3), 1000 + life),
            Verdict::Safe { pruned: Some(1) }
        );
    }

    #[test]
    fn steady_tripleo_schedule_at_the_limit_is_accepted_below_it_refused() {
        // N = 5 rotating every R: the rotation at time 4R deletes key 1, retired at R.
        for (r, safe) in [(58_800, true), (58_799, false), (16 * H, false)] {
            let rec = record(&[(2, r), (3, 2 * r), (4, 3 * r)]);
            let v = judge(&keys(&[0, 1, 2, 3, 4]), &rec, &limits(5), 4 * r);
            assert_eq!(matches!(v, Verdict::Safe { .. }), safe, "{r}: {v:?}");
        }
    }

    #[test]
    fn a_burst_of_rotations_is_caught_even_after_a_long_pause() {
        // Three quick rotations, then a long pause: the fourth deletes key 1, whose last
        // tokens were issued just before key 2 (the first of the burst) became primary.
        let rec = record(&[(2, 10 * H), (3, 10 * H + 60), (4, 10 * H + 120)]);
        let v = judge(&keys(&[0, 1, 2, 3, 4]), &rec, &limits(5), 30 * H);
        assert!(matches!(v, Verdict::Unsafe { pruned: 1, .. }), "{v:?}");
    }

    #[test]
    fn records_of_replaced_keys_are_ignored() {
        let mut rec = record(&[(2, 0)]);
        rec.rotations[0].fingerprint = "someone-else".into();
        let v = judge(&keys(&[0, 1, 2]), &rec, &limits(3), 1);
        assert_eq!(v, Verdict::Unknown { pruned: 1 });
    }

    #[test]
    fn two_keys_delete_the_primary_that_just_retired() {
        let v = judge(&keys(&[0, 1]), &RotationRecord::default(), &limits(2), 50);
        assert!(
            matches!(
                v,
                Verdict::Unsafe {
                    pruned: 1,
                    retired_at: 50,
                    ..
                }
            ),
            "{v:?}"
        );
    }

    #[test]
    fn stale_temp_files_of_the_record_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join(".fk.rotation.json");
        let stale = dir
            .path()
            .join(format!(".fk.rotation.json{}-1-2", fsutil::TEMP_MARKER));
        let other = dir
            .path()
            .join(format!(".fk2.rotation.json{}-1-2", fsutil::TEMP_MARKER));
        for f in [&stale, &other] {
            fsutil::write_new_file(f, b"{}", 0o600, &crate::owner::Owner::current()).unwrap();
        }
        remove_stale_temp_files(&record);
        assert!(!stale.exists());
        assert!(other.exists(), "another repository's file was removed");
    }

    #[test]
    fn record_lives_next_to_the_repository() {
        assert_eq!(
            record_path(Path::new("/w/keys/fernet-keys")),
            Path::new("/w/keys/.fernet-keys.rotation.json")
        );
        assert_eq!(
            record_path(Path::new("fk")),
            Path::new("./.fk.rotation.json")
        );
    }
}
