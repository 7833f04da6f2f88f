//! What an earlier `build` delivered, read back from its work directory: the last staged
//! artifact (from `<artifact>.manifest.json`: every tarball entry with its sha256) and the
//! Fernet keys `fernet.yaml` carries (as fingerprints). Read-only; key material is parsed
//! only to fingerprint it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::artifact::LayoutKind;
use crate::artifact::manifest::{ArtifactManifest, artifact_hash};
use crate::check;
use crate::error::Result;
use crate::fsutil;
use crate::keys::fernet::FernetKey;

/// The artifact `build` staged last, from its manifest.
#[derive(Debug, Clone)]
pub struct StagedArtifact {
    /// The tarball.
    pub tarball: PathBuf,
    /// Its file name.
    pub name: String,
    /// SHA-256 of the tarball (from its manifest).
    pub sha256: String,
    /// Node layout it was packed for.
    pub layout: LayoutKind,
    /// Entry path (relative to the layout root, e.g. `jws-keys/public/public.pem`) -> sha256
    /// (empty for directories).
    pub files: BTreeMap<String, String>,
}

impl StagedArtifact {
    /// True when the artifact carries the file `rel` (relative to the layout root).
    pub fn has(&self, rel: &str) -> bool {
        self.files.get(rel).is_some_and(|s| !s.is_empty())
    }

    /// Files under `rel` directory `dir`, with their sha256.
    pub fn under(&self, dir: &str) -> Vec<(&String, &String)> {
        let prefix = format!("{dir}/");
        self.files
            .iter()
            .filter(|(p, s)| p.starts_with(&prefix) && !s.is_empty())
            .collect()
    }
}

/// Finds the newest `overcloud-keys-<stack>-<hash>.tar.gz.manifest.json` in `dir`.
pub(crate) fn latest_artifact(dir: &Path, stack: &str) -> Result<Option<StagedArtifact>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fsutil::io_err("list", dir)(e)),
    };
    let mut candidates = vec![];
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".manifest.json") || artifact_hash(stack, &name).is_none() {
            continue;
        }
        let modified = entry.metadata().and_then(|m| m.modified()).ok();
        candidates.push((modified, name, entry.path()));
    }
    candidates.sort();
    let Some((_, _, manifest)) = candidates.pop() else {
        return Ok(None);
    };
    let value = ArtifactManifest::read(&manifest)?;
    let root = &value.layout.root;
    let mut files = BTreeMap::new();
    for entry in &value.entries {
        let Some(rel) = entry.path.strip_prefix(root).map(|r| r.trim_matches('/')) else {
            continue;
        };
        files.insert(rel.to_string(), entry.sha256.clone().unwrap_or_default());
    }
    let tarball = PathBuf::from(
        manifest
            .to_string_lossy()
            .trim_end_matches(".manifest.json"),
    );
    Ok(Some(StagedArtifact {
        sha256: value.sha256,
        name: tarball
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        tarball,
        layout: value.layout.kind,
        files,
    }))
}

/// What fernet.yaml delivers: `ManageKeystoneFernetKeys` and KeystoneFernetKeys fingerprints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FernetEnvKeys {
    /// `ManageKeystoneFernetKeys` (puppet writes the keys).
    pub managed: bool,
    /// Key number -> fingerprint.
    pub keys: BTreeMap<u64, String>,
}

/// Reads the keys of a `fernet.yaml` rendered by `build` (its own line layout: a quoted
/// `"/etc/keystone/fernet-keys/N":` line followed by `content: "..."`). Key material is
/// parsed only to fingerprint it and is never returned.
pub(crate) fn fernet_env_keys(path: &Path) -> Result<Option<FernetEnvKeys>> {
    let bytes = match fs::read(path) {
        Ok(b) => zeroize::Zeroizing::new(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fsutil::io_err("read", path)(e)),
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut out = FernetEnvKeys::default();
    let mut pending: Option<u64> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("ManageKeystoneFernetKeys:") {
            out.managed = v.trim() == "true";
        } else if let Some(rest) = t.strip_prefix("\"/etc/keystone/fernet-keys/") {
            pending = rest.strip_suffix("\":").and_then(check::parse_key_name);
        } else if let (Some(n), Some(v)) = (pending.take(), t.strip_prefix("content:")) {
            let quoted = v.trim().trim_matches('"');
            if let Ok((key, _)) = FernetKey::parse(quoted.as_bytes()) {
                out.keys.insert(n, key.fingerprint());
            }
        }
    }
    Ok(Some(out))
}

/// SHA-256 (hex) of a file, `None` when unreadable.
pub fn sha256_file(path: &Path) -> Option<String> {
    let bytes = zeroize::Zeroizing::new(fs::read(path).ok()?);
    Some(crate::encoding::sha256_hex(&bytes[..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fernet_env_scanner_reads_builds_layout() {
        let dir = tempfile::tempdir().unwrap();
        let key = FernetKey::from_bytes([7; 32]);
        let text = format!(
            "parameter_defaults:\n  ManageKeystoneFernetKeys: true\n  KeystoneFernetKeys:\n    \"/etc/keystone/fernet-keys/0\":\n      content: \"{}\"\n",
            &*key.encode()
        );
        let path = dir.path().join("fernet.yaml");
        fs::write(&path, text).unwrap();
        let env = fernet_env_keys(&path).unwrap().unwrap();
        assert!(env.managed);
        assert_eq!(env.keys, BTreeMap::from([(0, key.fingerprint())]));
    }
}
