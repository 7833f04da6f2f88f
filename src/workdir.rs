//! The work directory's layout: where its repositories live (`<workdir>/keys/...`, named
//! like keystone's own directories). One place for that fact; `build`, `adopt` and the
//! cutover plan all read it from here.

use std::path::Path;
use std::path::PathBuf;

use crate::artifact::layout::dirs;
use crate::keys::jws_repo::JwsDirs;

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
