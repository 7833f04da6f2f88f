//! A numbered key repository (Fernet tokens, Fernet receipts, credentials): load, set up,
//! rotate, with keystone's exact semantics and crash-safe writes.
//!
//! Semantics (keystone `fernet_utils.py`): file `0` is the staged key, the highest number
//! is the primary, everything between is secondary. Setup creates `0` and then rotates once,
//! giving `{0, 1}`. Rotation promotes `0` to `max + 1`, writes a new `0`, and removes the
//! lowest non-zero keys until at most `max_active_keys` remain.
//!
//! Every change builds the complete new repository in a sibling staging directory and swaps
//! it in with one atomic exchange (see `fsutil::replace_dir`), so a crash at any instant
//! leaves the complete old repository or the complete new one.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::error::{Error, Result};
use crate::fsutil::{self, SECRET_FILE_MODE};
use crate::keys::fernet::FernetKey;
pub use crate::keys::kind::{
    CREDENTIAL_MAX_KEYS, DEFAULT_MAX_ACTIVE_KEYS, KeyRole, RepoKind, role_of,
};
use crate::keys::scan;
use crate::owner::Owner;

/// The keys of a repository by file number. Pure data: no path, no I/O.
pub type KeySet = BTreeMap<u64, FernetKey>;

/// The key set `fernet_setup` creates: a fresh `0` promoted to `1` and a fresh `0`.
pub(crate) fn initial_keys() -> KeySet {
    let mut keys = KeySet::new();
    keys.insert(0, FernetKey::generate());
    rotate_keys(&keys, FernetKey::generate(), usize::MAX)
}

/// Keystone's rotation on a key set: staged `0` becomes `max + 1` (the new primary), `new`
/// becomes `0`, then the lowest non-zero keys go until at most `max_active` remain.
pub(crate) fn rotate_keys(keys: &KeySet, new: FernetKey, max_active: usize) -> KeySet {
    let mut next = keys.clone();
    let highest = next.keys().next_back().copied().unwrap_or(0);
    if let Some(staged) = next.remove(&0) {
        next.insert(highest + 1, staged);
    }
    next.insert(0, new);
    while next.len() > max_active {
        let Some(lowest) = next.keys().find(|&&k| k != 0).copied() else {
            break;
        };
        next.remove(&lowest);
    }
    next
}

/// Checks a `--max-active-keys` value: below 2 the new primary itself would be pruned.
pub fn validate_max_active_keys(n: usize) -> Result<usize> {
    if n < 2 {
        return Err(Error::InvalidValue {
            name: "--max-active-keys",
            value: n.to_string(),
            reason: "must be at least 2 (a staged key and a primary); keystone's default is 3, TripleO's 5".into(),
        });
    }
    Ok(n)
}

/// Loads every key of an existing repository, refusing anything `repo check` flags as an
/// error (a repository we would rewrite must be one keystone can use).
pub fn load(path: &Path, kind: RepoKind) -> Result<KeySet> {
    let meta = fs::metadata(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::RepositoryMissing(path.to_path_buf())
        } else {
            Error::Io {
                op: "inspect",
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    if !meta.is_dir() {
        return Err(Error::NotADirectory(path.to_path_buf()));
    }
    let (report, keys) = scan::scan_numbered(path, kind, &scan::CheckOptions::structural())?;
    if let Some(unreadable) = report
        .findings
        .iter()
        .find(|f| f.code == scan::FindingCode::RepoUnreadable)
    {
        return Err(Error::Io {
            op: "read",
            path: unreadable.path.clone(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        });
    }
    let blocking: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.severity == scan::Severity::Error)
        .map(|f| format!("{} ({})", f.message, f.code))
        .collect();
    if !blocking.is_empty() {
        return Err(Error::InvalidRepository {
            path: path.to_path_buf(),
            summary: blocking.join("; "),
        });
    }
    Ok(keys)
}

/// True when `path` holds at least one file (so "set up" would replace something).
pub(crate) fn has_entries(path: &Path) -> Result<bool> {
    match fs::read_dir(path) {
        Ok(mut entries) => Ok(entries.next().is_some()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::Io {
            op: "list",
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Writes `keys` as the complete repository at `path`, atomically (staging dir + exchange).
/// Without an explicit owner, an existing repository keeps its owner.
pub(crate) fn commit(path: &Path, keys: &KeySet, owner: &Owner) -> Result<()> {
    let owner = fsutil::effective_owner(owner, path);
    let files: Vec<fsutil::DirFile> = keys
        .iter()
        .map(|(index, key)| fsutil::DirFile {
            name: index.to_string(),
            content: zeroize::Zeroizing::new(key.encode().as_bytes().to_vec()),
            mode: SECRET_FILE_MODE,
        })
        .collect();
    fsutil::commit_dir(path, &files, &owner)
}

/// What `setup` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupOutcome {
    /// A new repository with keys `0` and `1` was written.
    Created,
    /// A valid repository was already there; nothing was changed.
    AlreadyPresent {
        /// Key numbers found.
        keys: Vec<u64>,
    },
    /// `--force`: the existing repository was replaced by a new one.
    Replaced {
        /// Key numbers that were destroyed.
        previous: Vec<u64>,
    },
}

/// Options shared by setup and rotate.
#[derive(Debug, Clone)]
pub struct RepoOptions {
    /// Which repository this is (decides messages and credential rules).
    pub kind: RepoKind,
    /// Owner of what is written.
    pub owner: Owner,
    /// Pruning limit for rotation.
    pub max_active_keys: usize,
}

/// `fernet_setup` / `receipt_setup` / `credential_setup`: idempotent. An existing valid
/// repository is left alone; `force` replaces it (for credentials `force` is only honoured
/// by the caller after the explicit destroy flag).
pub fn setup(path: &Path, opts: &RepoOptions, force: bool) -> Result<SetupOutcome> {
    setup_with(path, opts, force, &initial_keys())
}

/// As [`setup`] with the initial keys given (`build` generates them while planning, then
/// writes them).
pub(crate) fn setup_with(
    path: &Path,
    opts: &RepoOptions,
    force: bool,
    initial: &KeySet,
) -> Result<SetupOutcome> {
    if fs::symlink_metadata(path).is_ok_and(|m| !m.is_dir()) {
        return Err(Error::NotADirectory(path.to_path_buf()));
    }
    let _lock = fsutil::lock(path)?;
    if has_entries(path)? {
        match load(path, opts.kind) {
            Ok(existing) if !force => {
                return Ok(SetupOutcome::AlreadyPresent {
                    keys: existing.keys().copied().collect(),
                });
            }
            Err(err) if !force => return Err(err),
            _ => {}
        }
        let previous = list_numbers(path);
        commit(path, initial, &opts.owner)?;
        return Ok(SetupOutcome::Replaced { previous });
    }
    commit(path, initial, &opts.owner)?;
    Ok(SetupOutcome::Created)
}

/// What `rotate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotateOutcome {
    /// Key numbers before.
    pub before: Vec<u64>,
    /// Key numbers after.
    pub after: Vec<u64>,
    /// The new primary's number.
    pub new_primary: u64,
    /// Numbers removed by pruning.
    pub pruned: Vec<u64>,
}

/// `fernet_rotate` / `receipt_rotate` / `credential_rotate` on disk.
pub fn rotate(path: &Path, opts: &RepoOptions) -> Result<RotateOutcome> {
    let keys = load(path, opts.kind)?;
    if !keys.contains_key(&0) {
        // load() refuses this already; kept as a guard for the invariant rotate depends on.
        return Err(Error::InvalidRepository {
            path: path.to_path_buf(),
            summary: "the staged key 0 is missing".into(),
        });
    }
    let next = rotate_keys(&keys, FernetKey::generate(), opts.max_active_keys);
    commit(path, &next, &opts.owner)?;
    let before: Vec<u64> = keys.keys().copied().collect();
    let after: Vec<u64> = next.keys().copied().collect();
    Ok(RotateOutcome {
        pruned: before
            .iter()
            .filter(|k| **k != 0 && !after.contains(k))
            .copied()
            .collect(),
        new_primary: *after.last().unwrap_or(&0),
        before,
        after,
    })
}

fn list_numbers(path: &Path) -> Vec<u64> {
    let mut numbers: Vec<u64> = fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    numbers.sort_unstable();
    numbers
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn numbers(keys: &KeySet) -> Vec<u64> {
        keys.keys().copied().collect()
    }

    #[test]
    fn setup_gives_staged_and_primary() {
        assert_eq!(numbers(&initial_keys()), vec![0, 1]);
    }

    #[test]
    fn rotation_matches_keystone_sequence_with_three_keys() {
        // docs/domain.md section 1: {0,1} -> {0,1,2} -> {0,2,3} -> {0,3,4}
        let mut keys = initial_keys();
        let mut seen = vec![];
        for _ in 0..3 {
            keys = rotate_keys(&keys, FernetKey::generate(), 3);
            seen.push(numbers(&keys));
        }
        assert_eq!(seen, vec![vec![0, 1, 2], vec![0, 2, 3], vec![0, 3, 4]]);
    }

    #[test]
    fn staged_key_becomes_primary() {
        let keys = initial_keys();
        let staged = keys[&0].clone();
        let next = rotate_keys(&keys, FernetKey::generate(), 3);
        assert_eq!(next[&2], staged);
        assert_ne!(next[&0], staged);
    }

    proptest! {
        #[test]
        fn rotation_invariants(max in 2usize..8, rotations in 0usize..40) {
            let mut keys = initial_keys();
            for _ in 0..rotations {
                let before = keys.clone();
                let old_primary = *before.keys().next_back().unwrap();
                let old_staged = before[&0].clone();
                keys = rotate_keys(&before, FernetKey::generate(), max);
                let nums = numbers(&keys);
                // 0 always present, never more than max keys
                prop_assert!(keys.contains_key(&0));
                prop_assert!(keys.len() <= max);
                // names strictly increasing: the new primary is above every earlier name
                let new_primary = *nums.last().unwrap();
                prop_assert_eq!(new_primary, old_primary + 1);
                prop_assert!(nums.windows(2).all(|w| w[0] < w[1]));
                // the previous staged key is the new primary
                prop_assert!(keys[&new_primary] == old_staged);
                // the previous primary survives unless pruned (only when at the limit)
                if max > 2 {
                    prop_assert!(keys.get(&old_primary) == before.get(&old_primary));
                }
                // surviving keys keep their content
                for (n, k) in &keys {
                    if *n != 0 && *n != new_primary {
                        prop_assert!(before.get(n) == Some(k));
                    }
                }
            }
        }
    }
}
