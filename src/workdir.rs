//! The work directory's layout: where its repositories live (`<workdir>/keys/...`, named
//! like keystone's own directories). One place for that fact; `build`, `adopt` and the
//! cutover plan all read it from here.

use std::path::Path;
use std::path::PathBuf;

use crate::artifact::layout::dirs;
use crate::dirsafety::{self, DirSafety};
use crate::error::Result;
use crate::keys::jws_repo::JwsDirs;

/// Where `build` stages artifacts unless told otherwise: `<workdir>/artifacts`.
pub fn default_artifact_dir(workdir: &Path) -> PathBuf {
    workdir.join("artifacts")
}

/// StrictModes for a work directory before anything in it is read or written (see
/// `dirsafety`): the directories above it, itself (possibly reached through a symlink),
/// `keys/` and the artifact directory. Returns what was (or under `dry_run` would be)
/// tightened to 0700, for the report.
pub fn secure(workdir: &Path, artifact_dir: &Path, dry_run: bool) -> Result<Vec<String>> {
    dirsafety::check_ancestors(workdir)?;
    let dirs = [
        (workdir.to_path_buf(), true),
        (workdir.join("keys"), false),
        (artifact_dir.to_path_buf(), false),
    ];
    let mut notes = vec![];
    for (dir, follow) in dirs {
        if let DirSafety::Tightened(old) = dirsafety::secure_dir(&dir, follow, dry_run)? {
            let verb = if dry_run { "would be" } else { "was" };
            notes.push(format!(
                "{} had mode {old:04o} (readable by others): {verb} tightened to 0700",
                dir.display()
            ));
        }
    }
    Ok(notes)
}

/// Local paths of the repositories under a work directory.
pub struct WorkdirLayout {
    /// Fernet token keys.
    pub fernet: PathBuf,
    /// Credential keys.
    pub credential: PathBuf,
    /// Separate receipt keys.
    pub receipt: PathBuf,
    /// JWS pair.
    pub jws: JwsDirs,
}

impl WorkdirLayout {
    /// The repositories of `workdir`.
    pub fn new(workdir: &Path) -> Self {
        let keys = workdir.join("keys");
        WorkdirLayout {
            fernet: keys.join(dirs::FERNET),
            credential: keys.join(dirs::CREDENTIAL),
            receipt: keys.join(dirs::RECEIPT),
            jws: JwsDirs {
                private: keys.join(dirs::JWS_PRIVATE),
                public: keys.join(dirs::JWS_PUBLIC),
            },
        }
    }
}
