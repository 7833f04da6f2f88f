//! The work directory's side of a comparison: per key directory, the SHA-256 of each key
//! file's bytes (what the nodes' `sha256sum` prints), and the mode and owner a node must
//! give it. Fingerprints only; no key material is kept.
//!
//! Why file bytes and not `repo manifest`'s fingerprint: `repo manifest` hashes the decoded
//! key (so a trailing newline does not count), but the node side can only hash what is on
//! disk without reading keys out. Both sides here hash the file bytes, so like is compared
//! with like; the work directory writes keys exactly as keystone does (44 bytes, no newline),
//! as puppet's `KeystoneFernetKeys` files are.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::NodeError;
use super::remote::KEY_DIRS;
use crate::artifact::layout::dirs;
use crate::check::parse_key_name;
use crate::error::Result;
use crate::fsutil::{self, PUBLIC_FILE_MODE, SECRET_FILE_MODE, TEMP_MARKER};

/// One expected key file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpectedFile {
    /// SHA-256 of the file bytes, hex.
    pub sha256: String,
    /// The mode a node must give it (0600 secrets, 0644 JWS public keys).
    pub mode: u32,
}

/// One expected key directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpectedDir {
    /// Files by name.
    pub files: BTreeMap<String, ExpectedFile>,
}

impl ExpectedDir {
    /// The primary's index in a numbered repository (the highest number).
    pub fn primary(&self) -> Option<u64> {
        self.files.keys().filter_map(|n| parse_key_name(n)).max()
    }
}

/// The work directory's key directories that exist, by their name under `/etc/keystone`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expected {
    /// The work directory.
    pub workdir: PathBuf,
    /// Key directories.
    pub dirs: BTreeMap<&'static str, ExpectedDir>,
}

/// Whether a key directory is numbered (Fernet-style: `0` staged, highest primary).
pub(crate) fn is_numbered(dir: &str) -> bool {
    matches!(dir, dirs::FERNET | dirs::CREDENTIAL | dirs::RECEIPT)
}

/// Reads the work directory's repositories (files hashed, never kept).
pub fn expected(workdir: &Path) -> Result<Expected> {
    let keys = workdir.join("keys");
    let mut out = BTreeMap::new();
    for dir in KEY_DIRS {
        let path = keys.join(dir);
        if !path.is_dir() {
            continue;
        }
        let mode = if dir == dirs::JWS_PUBLIC {
            PUBLIC_FILE_MODE
        } else {
            SECRET_FILE_MODE
        };
        let mut files = BTreeMap::new();
        for name in file_names(&path)? {
            let bytes = zeroize::Zeroizing::new(fsutil::read_key_file(&path.join(&name))?);
            files.insert(
                name,
                ExpectedFile {
                    sha256: sha256_hex(&bytes),
                    mode,
                },
            );
        }
        if !files.is_empty() {
            out.insert(dir, ExpectedDir { files });
        }
    }
    if !out.contains_key(dirs::FERNET) {
        return Err(NodeError::EmptyWorkdir {
            path: workdir.to_path_buf(),
        }
        .into());
    }
    Ok(Expected {
        workdir: workdir.to_path_buf(),
        dirs: out,
    })
}

fn file_names(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(fsutil::io_err("list", dir))?;
    let mut names = vec![];
    for entry in entries {
        let entry = entry.map_err(fsutil::io_err("list", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if is_file && !name.contains(TEMP_MARKER) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Lowercase hex SHA-256 (what `sha256sum` prints).
pub use crate::encoding::sha256_hex;
