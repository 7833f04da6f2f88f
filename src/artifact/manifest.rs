//! The files beside a staged tarball, one place for their names and format:
//! `overcloud-keys-<stack>-<first 12 hex of sha256>.tar.gz`, `FILE.sha256` (sha256sum
//! format) and `FILE.manifest.json` (the typed [`ArtifactManifest`]: every entry with its
//! mode, owner and SHA-256, never content), written by `build`/`pack` and read back by the
//! day-2 plans.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Layout, ManifestEntry, Packed};
use crate::error::{Error, Result};
use crate::fsutil::{self, PUBLIC_FILE_MODE, SECRET_FILE_MODE, WriteAction};

/// Format version of `FILE.manifest.json`.
pub(crate) const FORMAT: u32 = 1;
/// Largest manifest read back.
const MAX_MANIFEST: u64 = 16 << 20;

/// `FILE.manifest.json`. Fields are in the order the file has them (sorted), so the bytes
/// stay those of every earlier build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ArtifactManifest {
    /// The tarball's file name.
    pub artifact: String,
    /// Every entry, sorted.
    pub entries: Vec<ManifestEntry>,
    /// [`FORMAT`].
    pub format: u32,
    /// The node layout it was packed for.
    pub layout: Layout,
    /// SHA-256 of the tarball, hex.
    pub sha256: String,
    /// Size of the tarball in bytes.
    pub size: u64,
}

impl ArtifactManifest {
    /// Reads a manifest; errors name the file.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = fsutil::read_input(path, MAX_MANIFEST)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Manifest {
            path: path.to_path_buf(),
            message: format!("not an artifact manifest: {e}"),
        })
    }
}

/// Artifact file name for a stack and tarball checksum.
pub fn artifact_name(stack: &str, sha256: &str) -> String {
    format!("overcloud-keys-{stack}-{}.tar.gz", &sha256[..12])
}

/// The checksum prefix in `file_name` when it is one of `stack`'s artifact files (the
/// tarball, its `.sha256` or its `.manifest.json`); `None` for anything else, including the
/// files of another stack whose name starts with this one (`overcloud` and `overcloud-2`).
pub(crate) fn artifact_hash<'a>(stack: &str, file_name: &'a str) -> Option<&'a str> {
    let rest = file_name
        .strip_prefix("overcloud-keys-")?
        .strip_prefix(stack)?
        .strip_prefix('-')?;
    let (hash, suffix) = rest.split_at_checked(12)?;
    let ours = matches!(
        suffix,
        ".tar.gz" | ".tar.gz.sha256" | ".tar.gz.manifest.json"
    );
    (ours && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hash)
}

/// `FILE.manifest.json` next to a tarball.
pub fn manifest_path(tarball: &Path) -> PathBuf {
    PathBuf::from(format!("{}.manifest.json", tarball.display()))
}

/// `FILE.sha256` next to a tarball.
pub fn checksum_path(tarball: &Path) -> PathBuf {
    PathBuf::from(format!("{}.sha256", tarball.display()))
}

/// Writes the tarball (0600), `FILE.sha256` (sha256sum format) and `FILE.manifest.json` as
/// one group, under the lock of their directory (one writer at a time, as `pack` into a
/// work directory's artifacts and `build` may both do): all three are written and fsynced
/// under temporary names first, so a full disk leaves the previous trio as it was, then
/// renamed into place, the tarball last. Stale temporary files of killed writers are swept
/// first. The action is the tarball's.
pub fn write_artifact_files(
    path: &Path,
    name: &str,
    packed: &Packed,
    layout: &Layout,
    dry_run: bool,
) -> Result<WriteAction> {
    let _lock = (!dry_run).then(|| fsutil::lock(path)).transpose()?;
    if !dry_run {
        fsutil::sweep_temp_files(&fsutil::parent_of(path));
    }
    let checksum = format!("{}  {}\n", packed.sha256, name);
    let manifest = ArtifactManifest {
        artifact: name.to_string(),
        entries: packed.manifest.clone(),
        format: FORMAT,
        layout: layout.clone(),
        sha256: packed.sha256.clone(),
        size: packed.bytes.len() as u64,
    };
    // Through a `Value`, whose maps are sorted: the same bytes as every earlier build.
    let value = serde_json::to_value(&manifest).expect("manifest serializes");
    let text = serde_json::to_string_pretty(&value).expect("manifest serializes") + "\n";
    let (_, checksum_file) = fsutil::stage_if_changed(
        &checksum_path(path),
        checksum.as_bytes(),
        PUBLIC_FILE_MODE,
        dry_run,
    )?;
    let (_, manifest_file) = fsutil::stage_if_changed(
        &manifest_path(path),
        text.as_bytes(),
        PUBLIC_FILE_MODE,
        dry_run,
    )?;
    let (action, tarball) =
        fsutil::stage_if_changed(path, &packed.bytes, SECRET_FILE_MODE, dry_run)?;
    fsutil::publish_all(
        [checksum_file, manifest_file, tarball]
            .into_iter()
            .flatten()
            .collect(),
    )?;
    Ok(action)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_hash_knows_only_its_own_stacks_files() {
        let name = artifact_name("overcloud", &"ab12".repeat(16));
        assert_eq!(artifact_hash("overcloud", &name), Some("ab12ab12ab12"));
        for sidecar in [".sha256", ".manifest.json"] {
            let file = format!("{name}{sidecar}");
            assert_eq!(artifact_hash("overcloud", &file), Some("ab12ab12ab12"));
        }
        // Another stack whose name starts with this one, or whose name looks like a hash.
        let other = artifact_name("overcloud-2", &"cd34".repeat(16));
        assert_eq!(artifact_hash("overcloud", &other), None);
        assert_eq!(artifact_hash("overcloud-2", &other), Some("cd34cd34cd34"));
        let tricky = artifact_name("a-0123456789ab", &"ef56".repeat(16));
        assert_eq!(artifact_hash("a", &tricky), None);
        for stray in [
            format!("{name}.bak"),
            format!("{name}.tmp-1-2"),
            "overcloud-keys-overcloud-xyz.tar.gz".to_string(),
            "overcloud-keys-overcloud-ab12ab12ab1é.tar.gz".to_string(),
        ] {
            assert_eq!(artifact_hash("overcloud", &stray), None, "{stray}");
        }
    }
}
