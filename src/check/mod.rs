//! `repo check`: validates key repositories as strictly as keystone needs, and compares the
//! repositories of several nodes by SHA-256 fingerprints (never key material).
//!
//! Every finding has a stable kebab-case code (listed in [`CODES`]), a severity, the path it
//! is about, and the fix. Errors are what makes keystone fail (HTTP 500 on every token
//! request, or a crash of keystone-manage); warnings are what keystone tolerates but an
//! operator should not ship (trailing newlines, loose modes are errors: see each code).

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::Result;
use crate::keys::fernet::FernetKey;
pub use crate::keys::kind::RepoKind;
pub use crate::keys::scan::{
    CODES, CheckOptions, Finding, FindingCode, KeyEntry, RepoReport, Severity,
};
pub(crate) use crate::keys::scan::{parse_key_name, scan_numbered};

mod jws;
pub use jws::check_jws;

/// Checks a numbered repository (Fernet tokens, receipts, credentials).
pub(crate) fn check_numbered(
    path: &Path,
    kind: RepoKind,
    opts: &CheckOptions,
) -> Result<RepoReport> {
    scan_numbered(path, kind, opts).map(|(report, _)| report)
}

/// The keys of a repository that passes a full `repo check` without an error (one read of
/// each key file); otherwise an error listing every error finding.
pub(crate) fn load_clean(path: &Path, kind: RepoKind) -> Result<BTreeMap<u64, FernetKey>> {
    let (report, keys) = scan_numbered(path, kind, &CheckOptions::full())?;
    refuse_errors(path, &report.findings)?;
    Ok(keys)
}

/// An error naming every error-severity finding (code, path, message), if there is one.
pub(crate) fn refuse_errors(path: &Path, findings: &[Finding]) -> Result<()> {
    let errors: Vec<String> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("{} {}: {}", f.code, f.path.display(), f.message))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(crate::error::Error::InvalidRepository {
            path: path.to_path_buf(),
            summary: errors.join("; "),
        })
    }
}

/// Guesses the kind of a directory: `private/` + `public/` is JWS, anything else Fernet.
pub(crate) fn detect_kind(path: &Path) -> RepoKind {
    if path.join("private").is_dir() && path.join("public").is_dir() {
        RepoKind::Jws
    } else {
        RepoKind::Fernet
    }
}

/// Checks one directory of the given (or detected) kind.
pub fn check_path(path: &Path, kind: Option<RepoKind>, opts: &CheckOptions) -> Result<RepoReport> {
    match kind.unwrap_or_else(|| detect_kind(path)) {
        RepoKind::Jws => Ok(check_jws(
            path,
            &path.join("private"),
            &path.join("public"),
            opts,
        )),
        kind => check_numbered(path, kind, opts),
    }
}

/// Compares several repositories (one per node): same file names with the same fingerprints.
/// Returns one `repos-out-of-sync` finding per repository that differs from the first.
pub fn compare(reports: &[RepoReport]) -> Vec<Finding> {
    let Some(reference) = reports.first() else {
        return vec![];
    };
    let as_map = |r: &RepoReport| -> BTreeMap<String, String> {
        r.keys
            .iter()
            .map(|k| (k.name.clone(), k.fingerprint.clone()))
            .collect()
    };
    let want = as_map(reference);
    let mut out = Vec::new();
    for other in &reports[1..] {
        let have = as_map(other);
        let mut diffs = Vec::new();
        for (name, fp) in &want {
            match have.get(name) {
                None => diffs.push(format!("{name} missing")),
                Some(other_fp) if other_fp != fp => diffs.push(format!(
                    "{name} differs ({} vs {})",
                    &other_fp[..12],
                    &fp[..12]
                )),
                _ => {}
            }
        }
        for name in have.keys().filter(|n| !want.contains_key(*n)) {
            diffs.push(format!("{name} extra"));
        }
        if !diffs.is_empty() {
            out.push(Finding {
                code: FindingCode::ReposOutOfSync,
                severity: Severity::Error,
                path: other.path.clone(),
                message: format!("differs from {}: {}", reference.path.display(), diffs.join(", ")),
                fix: format!(
                    "redeploy with one fernet.yaml/artifact built from a single repository, or copy {} to every node",
                    reference.path.display()
                ),
            });
        }
    }
    out
}
