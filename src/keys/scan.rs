//! Reading a numbered key repository (Fernet tokens, receipts, credentials) the way
//! keystone would, without trusting it: every entry is inspected (type, mode, owner, name)
//! before a key file is read, once, and each problem becomes a [`Finding`] with a stable
//! code, a severity and its fix. A scan returns the keys and the findings together, so
//! the repository operations (`keys::repo`) and `repo check` (the `check` module) judge
//! the same read by the same rules.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Result;
use crate::keys::fernet::{FernetKey, KeyDefect, KeyQuirks};
use crate::keys::kind::{CREDENTIAL_MAX_KEYS, RepoKind, role_of};
use crate::owner::Owner;

crate::codes::stable_codes! {
    /// Every finding code `repo check` can report. Stable: pipelines match on the text
    /// (kebab-case in JSON, in the table and in `-f value`).
    pub enum FindingCode, CODES {
        RepoMissing => "repo-missing",
        NotADirectory => "not-a-directory",
        RepoUnreadable => "repo-unreadable",
        RepoEmpty => "repo-empty",
        StagedKeyMissing => "staged-key-missing",
        PrimaryMissing => "primary-missing",
        StrayFile => "stray-file",
        NonCanonicalName => "non-canonical-name",
        RotationTempFile => "rotation-temp-file",
        StrayDirectory => "stray-directory",
        KeyEmpty => "key-empty",
        KeyBadAlphabet => "key-bad-alphabet",
        KeyBadLength => "key-bad-length",
        KeyTrailingNewline => "key-trailing-newline",
        KeyStandardAlphabet => "key-standard-alphabet",
        NullKey => "null-key",
        ModeTooOpen => "mode-too-open",
        DirModeTooOpen => "dir-mode-too-open",
        OwnerMismatch => "owner-mismatch",
        TooManyKeys => "too-many-keys",
        KeySymlink => "key-symlink",
        KeyNotRegular => "key-not-regular",
        KeyDuplicate => "key-duplicate",
        KeyCountAbsurd => "key-count-absurd",
        JwsPrivateMissing => "jws-private-missing",
        JwsPrivateInvalid => "jws-private-invalid",
        JwsPublicMissing => "jws-public-missing",
        JwsPublicInvalid => "jws-public-invalid",
        JwsPublicSubdirectory => "jws-public-subdirectory",
        JwsPublicHalfMissing => "jws-public-half-missing",
        JwsStagedInvalid => "jws-staged-invalid",
        ReposOutOfSync => "repos-out-of-sync",
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Keystone tolerates it, but it should be fixed.
    Warning,
    /// Keystone fails, or secrets are exposed.
    Error,
}

/// One problem, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable code.
    pub code: FindingCode,
    /// Error or warning.
    pub severity: Severity,
    /// The file or directory concerned.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub fix: String,
}

/// A key found in a repository, described without its material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyEntry {
    /// File name.
    pub name: String,
    /// Key number (Fernet kinds) or 0 (JWS).
    pub index: u64,
    /// staged / primary / secondary for Fernet kinds; `private`, `staged-private` or
    /// `public` for JWS.
    pub role: String,
    /// SHA-256 of the raw key (Fernet) or of the DER public key (JWS).
    pub fingerprint: String,
}

/// The result of checking one repository.
#[derive(Debug, Clone, Serialize)]
pub struct RepoReport {
    /// The directory checked.
    pub path: PathBuf,
    /// Its kind.
    pub kind: RepoKind,
    /// Keys found (valid ones).
    pub keys: Vec<KeyEntry>,
    /// Problems found.
    pub findings: Vec<Finding>,
}

/// What to check beyond structure.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Check file and directory modes (0600/0700 for secrets).
    pub modes: bool,
    /// Warn when more keys than this are present.
    pub max_active_keys: Option<usize>,
    /// Expected owner of every file and directory.
    pub owner: Option<Owner>,
}

impl CheckOptions {
    /// Everything `repo check` checks by default.
    pub fn full() -> Self {
        CheckOptions {
            modes: true,
            ..Default::default()
        }
    }
    /// Only what decides whether keystone can use the keys (used before rewriting).
    pub(crate) fn structural() -> Self {
        CheckOptions::default()
    }
}

/// Gathers the findings of one scan (`check::jws` adds the JWS pair's).
pub(crate) struct Collector {
    pub(crate) findings: Vec<Finding>,
}

impl Collector {
    pub(crate) fn add(
        &mut self,
        code: FindingCode,
        severity: Severity,
        path: &Path,
        message: String,
        fix: String,
    ) {
        self.findings.push(Finding {
            code,
            severity,
            path: path.to_path_buf(),
            message,
            fix,
        });
    }

    pub(crate) fn mode(
        &mut self,
        path: &Path,
        meta: &fs::Metadata,
        secret: bool,
        opts: &CheckOptions,
    ) {
        if opts.modes {
            let mode = meta.permissions().mode() & 0o7777;
            let (forbidden, wanted) = match (meta.is_dir(), secret) {
                (true, true) => (0o077, "0700"),
                (true, false) => (0o022, "0700 or 0755"),
                (false, true) => (0o077, "0600"),
                (false, false) => (0o022, "0644"),
            };
            if mode & forbidden != 0 {
                let code = if meta.is_dir() {
                    FindingCode::DirModeTooOpen
                } else {
                    FindingCode::ModeTooOpen
                };
                self.add(
                    code,
                    Severity::Error,
                    path,
                    format!("mode {mode:04o} is looser than {wanted}"),
                    format!("chmod {} {}", &wanted[..4], path.display()),
                );
            }
        }
        if let Some(owner) = opts.owner {
            let uid_bad = owner.uid.is_some_and(|u| u != meta.uid());
            let gid_bad = owner.gid.is_some_and(|g| g != meta.gid());
            if uid_bad || gid_bad {
                self.add(
                    FindingCode::OwnerMismatch,
                    Severity::Error,
                    path,
                    format!("owned by {}:{}, expected {owner}", meta.uid(), meta.gid()),
                    format!("chown {owner} {}", path.display()),
                );
            }
        }
    }

    /// Returns false (after recording why) when a key entry is not a regular file: a link is
    /// never followed (a repository owned by the keystone user could point root at any
    /// root-only file), a FIFO would block and a device would never end.
    pub(crate) fn regular_key_file(&mut self, path: &Path, meta: &fs::Metadata) -> bool {
        let (code, what) = if meta.file_type().is_symlink() {
            (
                FindingCode::KeySymlink,
                "a symbolic link: keys are never read, packed or rewritten through one",
            )
        } else if !meta.is_file() {
            (
                FindingCode::KeyNotRegular,
                "not a regular file (a FIFO, device or socket)",
            )
        } else {
            return true;
        };
        self.add(
            code,
            Severity::Error,
            path,
            what.into(),
            format!(
                "replace {} with a regular 0600 key file, or remove it",
                path.display()
            ),
        );
        false
    }

    /// Returns false (after recording why) when `path` is not a usable directory.
    pub(crate) fn directory(&mut self, path: &Path, secret: bool, opts: &CheckOptions) -> bool {
        match fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.add(
                    FindingCode::RepoMissing,
                    Severity::Error,
                    path,
                    "does not exist".into(),
                    "create it with the matching `overcloud-keys ... setup`, or fix the path"
                        .into(),
                );
                false
            }
            Err(e) => {
                self.add(
                    FindingCode::RepoUnreadable,
                    Severity::Error,
                    path,
                    format!("cannot be read: {e}"),
                    "run as the repository's owner or as root".into(),
                );
                false
            }
            Ok(meta) if !meta.is_dir() => {
                self.add(
                    FindingCode::NotADirectory,
                    Severity::Error,
                    path,
                    "is a file, not a key directory".into(),
                    "point at the directory that holds the keys".into(),
                );
                false
            }
            Ok(meta) => {
                self.mode(path, &meta, secret, opts);
                true
            }
        }
    }
}

pub(crate) fn list(path: &Path, c: &mut Collector) -> Vec<(String, PathBuf, fs::Metadata)> {
    let mut out = Vec::new();
    match fs::read_dir(path) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let entry_path = entry.path();
                // The entry itself, not what a link points to: links are findings, never read.
                if let Ok(meta) = fs::symlink_metadata(&entry_path) {
                    out.push((
                        entry.file_name().to_string_lossy().into_owned(),
                        entry_path,
                        meta,
                    ));
                }
            }
        }
        Err(e) => c.add(
            FindingCode::RepoUnreadable,
            Severity::Error,
            path,
            format!("cannot be listed: {e}"),
            "run as the repository's owner or as root".into(),
        ),
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Checks a numbered repository and keeps the keys it read on the way, so a caller that
/// needs both (`build`, `render`, every rewrite) reads each key file once.
pub(crate) fn scan_numbered(
    path: &Path,
    kind: RepoKind,
    opts: &CheckOptions,
) -> Result<(RepoReport, BTreeMap<u64, FernetKey>)> {
    let mut c = Collector { findings: vec![] };
    let mut keys: BTreeMap<u64, KeyEntry> = BTreeMap::new();
    let mut material: BTreeMap<u64, FernetKey> = BTreeMap::new();
    if c.directory(path, true, opts) {
        for (name, entry_path, meta) in list(path, &mut c) {
            if meta.is_dir() {
                c.add(
                    FindingCode::StrayDirectory,
                    Severity::Error,
                    &entry_path,
                    "a directory inside a key repository".into(),
                    format!("move {} out of the repository", entry_path.display()),
                );
                continue;
            }
            let Some(index) = parse_key_name(&name) else {
                c.misnamed(&name, &entry_path);
                continue;
            };
            if let Some((entry, key)) = c.key_file(name, index, &entry_path, &meta, opts) {
                keys.insert(index, entry);
                material.insert(index, key);
            }
        }
        let max = keys.keys().next_back().copied().unwrap_or(0);
        for entry in keys.values_mut() {
            entry.role = role_of(entry.index, max).to_string();
        }
        check_duplicates(path, &keys, &mut c);
        check_key_numbers(path, kind, &keys, opts, &mut c);
    }
    let report = RepoReport {
        path: path.to_path_buf(),
        kind,
        keys: keys.into_values().collect(),
        findings: c.findings,
    };
    Ok((report, material))
}

impl Collector {
    /// A file in a numbered repository whose name is not a key number.
    fn misnamed(&mut self, name: &str, entry_path: &Path) {
        if name.ends_with(".tmp") && parse_key_name(name.trim_end_matches(".tmp")).is_some() {
            self.add(
                FindingCode::RotationTempFile,
                Severity::Error,
                entry_path,
                "left by an interrupted keystone-manage rotation (the repository may lack its staged key)".into(),
                format!("remove {} and re-run the rotation with overcloud-keys", entry_path.display()),
            );
        } else if name.chars().all(|ch| ch.is_ascii_digit()) {
            self.add(
                FindingCode::NonCanonicalName,
                Severity::Error,
                entry_path,
                "key number with a leading zero: keystone reads it as another key's number".into(),
                format!(
                    "rename it without leading zeros or remove {}",
                    entry_path.display()
                ),
            );
        } else {
            self.add(
                FindingCode::StrayFile,
                Severity::Error,
                entry_path,
                "not a key (key files are named by non-negative integers)".into(),
                format!("move {} out of the repository", entry_path.display()),
            );
        }
    }

    /// One key file: its mode, its content as keystone would read it, and its entry when
    /// it holds a key (`None` after a finding that makes it unusable).
    fn key_file(
        &mut self,
        name: String,
        index: u64,
        entry_path: &Path,
        meta: &fs::Metadata,
        opts: &CheckOptions,
    ) -> Option<(KeyEntry, FernetKey)> {
        if !self.regular_key_file(entry_path, meta) {
            return None;
        }
        self.mode(entry_path, meta, true, opts);
        let content = match crate::fsutil::read_key_file(entry_path) {
            Ok(content) => zeroize::Zeroizing::new(content),
            Err(e) => {
                self.add(
                    FindingCode::RepoUnreadable,
                    Severity::Error,
                    entry_path,
                    format!("cannot be read: {e}"),
                    "run as the repository's owner or as root".into(),
                );
                return None;
            }
        };
        match FernetKey::parse(&content) {
            Err(defect) => {
                self.key_defect(entry_path, defect);
                None
            }
            Ok((key, quirks)) => {
                self.key_quirks(entry_path, quirks, &key);
                let entry = KeyEntry {
                    name,
                    index,
                    role: String::new(),
                    fingerprint: key.fingerprint(),
                };
                Some((entry, key))
            }
        }
    }

    /// The finding for a key file whose content is not a key keystone can read.
    fn key_defect(&mut self, entry_path: &Path, defect: KeyDefect) {
        let (code, message) = match defect {
            KeyDefect::Empty => (FindingCode::KeyEmpty, "empty key file".to_string()),
            KeyDefect::BadAlphabet => (
                FindingCode::KeyBadAlphabet,
                "not base64: keystone fails every token request with HTTP 500".to_string(),
            ),
            KeyDefect::BadLength(n) => (
                FindingCode::KeyBadLength,
                format!(
                    "decodes to {n} bytes, expected 32 (44 base64 characters): keystone fails every token request with HTTP 500"
                ),
            ),
        };
        self.add(
            code,
            Severity::Error,
            entry_path,
            message,
            format!(
                "remove {} (or restore it from a good node), then rotate",
                entry_path.display()
            ),
        );
    }

    /// The findings for a key keystone reads but that is not as written: a trailing
    /// newline, the standard base64 alphabet, or the all-zero NULL key.
    fn key_quirks(&mut self, entry_path: &Path, quirks: KeyQuirks, key: &FernetKey) {
        if quirks.trailing_whitespace {
            self.add(
                FindingCode::KeyTrailingNewline,
                Severity::Warning,
                entry_path,
                "trailing newline after the key (keystone tolerates it; fingerprints still match)"
                    .into(),
                format!("truncate -s 44 {}", entry_path.display()),
            );
        }
        if quirks.standard_alphabet {
            self.add(
                FindingCode::KeyStandardAlphabet,
                Severity::Warning,
                entry_path,
                "standard base64 alphabet ('+', '/') instead of URL-safe".into(),
                "rewrite the key with '-' for '+' and '_' for '/'".into(),
            );
        }
        if key.is_null() {
            self.add(
                FindingCode::NullKey,
                Severity::Error,
                entry_path,
                "all-zero key: the NULL key keystone falls back to; anything encrypted with it is readable by anyone".into(),
                "rotate so a random key becomes primary; for credentials run credential_migrate after".into(),
            );
        }
    }
}

/// The same key under two numbers (a hand copy, a key 1 mirrored from 0): keystone works,
/// but the repository holds fewer distinct keys than its count says.
fn check_duplicates(path: &Path, keys: &BTreeMap<u64, KeyEntry>, c: &mut Collector) {
    let mut by_fingerprint: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for entry in keys.values() {
        by_fingerprint
            .entry(&entry.fingerprint)
            .or_default()
            .push(entry.index);
    }
    for indices in by_fingerprint.values().filter(|i| i.len() > 1) {
        c.add(
            FindingCode::KeyDuplicate,
            Severity::Warning,
            path,
            format!("keys {indices:?} are the same key"),
            "rotate: each rotation stages a new random key, and the copies age out".into(),
        );
    }
    if keys.len() > MAX_SANE_KEYS {
        c.add(
            FindingCode::KeyCountAbsurd,
            Severity::Error,
            path,
            format!(
                "{} keys: keystone tries every one on every token, and no rotation schedule needs more than {MAX_SANE_KEYS}",
                keys.len()
            ),
            "restore the repository from a good node or the work directory".into(),
        );
    }
}

/// More keys than any rotation schedule needs (keystone decrypts with each in turn).
const MAX_SANE_KEYS: usize = 1000;

fn check_key_numbers(
    path: &Path,
    kind: RepoKind,
    keys: &BTreeMap<u64, KeyEntry>,
    opts: &CheckOptions,
    c: &mut Collector,
) {
    let has_errors = c.findings.iter().any(|f| f.severity == Severity::Error);
    if keys.is_empty() {
        if !has_errors {
            let fix = match kind {
                RepoKind::Credential => "run `overcloud-keys credential setup --key-repository DIR`; keystone otherwise encrypts credentials with the all-zero NULL key".to_string(),
                _ => format!("run `overcloud-keys {kind} setup --key-repository {}`", path.display()),
            };
            c.add(
                FindingCode::RepoEmpty,
                Severity::Error,
                path,
                "holds no keys: keystone starts, then fails every request".into(),
                fix,
            );
        }
        return;
    }
    if !keys.contains_key(&0) {
        c.add(
            FindingCode::StagedKeyMissing,
            Severity::Error,
            path,
            "no staged key 0: keystone-manage rotation crashes on this repository".into(),
            format!("run `overcloud-keys {kind} rotate` only after restoring 0 from a good node, or replace the repository with `setup --force`"),
        );
    } else if keys.len() == 1 {
        c.add(
            FindingCode::PrimaryMissing,
            Severity::Warning,
            path,
            "only the staged key 0: it is used as primary until the first rotation".into(),
            format!(
                "run `overcloud-keys {kind} rotate --key-repository {}`",
                path.display()
            ),
        );
    }
    let limit = match kind {
        RepoKind::Credential => Some(CREDENTIAL_MAX_KEYS),
        _ => opts.max_active_keys,
    };
    if let Some(limit) = limit
        && keys.len() > limit
    {
        c.add(
            FindingCode::TooManyKeys,
            Severity::Warning,
            path,
            format!("{} keys, more than max_active_keys {limit}", keys.len()),
            "the next rotation prunes the lowest; nothing to do unless this is unexpected".into(),
        );
    }
}

/// A key file name keystone accepts: a canonical non-negative integer.
pub(crate) fn parse_key_name(name: &str) -> Option<u64> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if name.len() > 1 && name.starts_with('0') {
        return None;
    }
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_codes_are_unique_and_kebab_case() {
        for code in FindingCode::ALL {
            // What JSON carries is what the table and `-f value` print.
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json.as_str(), Some(code.as_str()));
        }
        let mut seen = std::collections::HashSet::new();
        for code in CODES {
            assert!(seen.insert(code), "duplicate code {code}");
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{code}"
            );
        }
    }

    #[test]
    fn key_names_follow_keystone() {
        assert_eq!(parse_key_name("0"), Some(0));
        assert_eq!(parse_key_name("17"), Some(17));
        for bad in ["", "01", "-1", "1.tmp", "README", " 1", "1 "] {
            assert_eq!(parse_key_name(bad), None, "{bad:?}");
        }
    }
}
