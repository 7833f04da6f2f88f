//! Reproducible key tarballs and their manifests.
//!
//! A tarball is extracted on every node with `tar xvz --same-owner --same-permissions -C /`
//! as root, so (docs/domain.md section 2): entries are relative paths, there is never an entry for
//! `./` or a shared parent such as `etc/` or `var/` (that would reset `/etc`'s mode and
//! owner on every node), owners are numeric with empty user and group names (GNU tar prefers
//! a name that exists on the node), modes are explicit (0700 directories, 0600 secrets,
//! 0644 public keys), mtimes are fixed and entries sorted: the same keys give the same bytes.

pub mod layout;
pub(crate) mod manifest;
pub mod sources;

use std::io::Write;

use flate2::Compression;
use flate2::GzBuilder;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub use layout::{Layout, LayoutKind};

/// mtime of every entry: 2020-01-01T00:00:00Z (old enough to be obviously synthetic, recent
/// enough that tar does not warn about implausible timestamps).
pub(crate) const FIXED_MTIME: u64 = 1_577_836_800;

/// One file or directory to put in the tarball.
#[derive(Clone)]
pub struct Entry {
    /// Relative path below `/` on the node, no leading `/` or `./`.
    pub path: String,
    /// `None` for a directory.
    pub content: Option<Zeroizing<Vec<u8>>>,
    /// Permission bits.
    pub mode: u32,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Entry({} {:04o} {}:{})",
            self.path, self.mode, self.uid, self.gid
        )
    }
}

/// A tarball entry's type, as the manifest names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

/// What the manifest says about one entry (never the content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Relative path in the tarball.
    pub path: String,
    /// `file` or `dir`.
    #[serde(rename = "type")]
    pub kind: EntryType,
    /// Octal mode as text, e.g. "0600".
    pub mode: String,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// SHA-256 of the content (files only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// A packed tarball: its bytes, checksum and manifest.
pub struct Packed {
    /// The .tar.gz bytes.
    pub bytes: Zeroizing<Vec<u8>>,
    /// SHA-256 of `bytes`, hex.
    pub sha256: String,
    /// One line per entry.
    pub manifest: Vec<ManifestEntry>,
}

pub use crate::error::pack::PackError;

/// Directories a tarball must never carry an entry for (extracting one resets the mode and
/// owner of that directory on every node).
const SHARED_DIRS: &[&str] = &[
    "etc",
    "etc/keystone",
    "var",
    "var/lib",
    "var/lib/config-data",
    "var/lib/config-data/puppet-generated",
    "var/lib/config-data/puppet-generated/keystone",
    "var/lib/config-data/puppet-generated/keystone/etc",
    "var/lib/config-data/puppet-generated/keystone/etc/keystone",
    "usr",
    "root",
    "home",
    "opt",
    "srv",
    "tmp",
];

fn validate_path(path: &str) -> Result<(), PackError> {
    if path.is_empty() || path.starts_with('/') {
        return Err(PackError::BadPath(
            path.into(),
            "entries must be relative to /",
        ));
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(PackError::BadPath(
            path.into(),
            "no empty, '.' or '..' components",
        ));
    }
    if SHARED_DIRS.contains(&path) {
        return Err(PackError::BadPath(
            path.into(),
            "a shared system directory: extracting it would reset its mode and owner on every node",
        ));
    }
    Ok(())
}

/// Packs `entries` into a reproducible .tar.gz (sorted by path, fixed mtime, numeric
/// owners, no user/group names, gzip header without name or time).
pub fn pack(mut entries: Vec<Entry>) -> Result<Packed, PackError> {
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    entries.dedup_by(|a, b| a.path == b.path);
    let mut manifest = Vec::with_capacity(entries.len());
    let tar_bytes = {
        let mut builder = tar::Builder::new(Vec::new());
        builder.mode(tar::HeaderMode::Deterministic);
        for entry in &entries {
            validate_path(&entry.path)?;
            let mut header = tar::Header::new_gnu();
            header.set_mode(entry.mode);
            header.set_uid(entry.uid as u64);
            header.set_gid(entry.gid as u64);
            header.set_mtime(FIXED_MTIME);
            match &entry.content {
                None => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    builder.append_data(
                        &mut header,
                        format!("{}/", entry.path),
                        std::io::empty(),
                    )?;
                    manifest.push(ManifestEntry {
                        path: format!("{}/", entry.path),
                        kind: EntryType::Dir,
                        mode: format!("{:04o}", entry.mode),
                        uid: entry.uid,
                        gid: entry.gid,
                        size: 0,
                        sha256: None,
                    });
                }
                Some(content) => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(content.len() as u64);
                    builder.append_data(&mut header, &entry.path, &content[..])?;
                    manifest.push(ManifestEntry {
                        path: entry.path.clone(),
                        kind: EntryType::File,
                        mode: format!("{:04o}", entry.mode),
                        uid: entry.uid,
                        gid: entry.gid,
                        size: content.len() as u64,
                        sha256: Some(crate::encoding::sha256_hex(&content[..])),
                    });
                }
            }
        }
        Zeroizing::new(builder.into_inner()?)
    };
    let mut gz = GzBuilder::new()
        .mtime(0)
        .operating_system(3)
        .write(Vec::new(), Compression::best());
    gz.write_all(&tar_bytes)?;
    let bytes = Zeroizing::new(gz.finish()?);
    let sha256 = crate::encoding::sha256_hex(&bytes[..]);
    Ok(Packed {
        bytes,
        sha256,
        manifest,
    })
}

/// The key directories a packed tarball owns: its directory entries directly below the
/// layout root (`<root>/jws-keys`, `<root>/fernet-receipts`, ...).
pub(crate) fn key_dirs_in(tar_gz: &[u8], root: &str) -> Result<Vec<String>, PackError> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tar_gz));
    let mut dirs = vec![];
    for entry in archive.entries()? {
        let entry = entry?;
        if entry.header().entry_type() == tar::EntryType::Directory {
            dirs.push(entry.path()?.to_string_lossy().into_owned());
        }
    }
    key_dirs(dirs, root)
}

/// As [`key_dirs_in`], from the manifest `pack` returned with the tarball (no need to
/// decompress what was just written).
pub(crate) fn key_dirs_of(
    manifest: &[ManifestEntry],
    root: &str,
) -> Result<Vec<String>, PackError> {
    key_dirs(
        manifest
            .iter()
            .filter(|e| e.kind == EntryType::Dir)
            .map(|e| e.path.clone())
            .collect(),
        root,
    )
}

fn key_dirs(dir_paths: Vec<String>, root: &str) -> Result<Vec<String>, PackError> {
    let mut dirs: Vec<String> = dir_paths
        .iter()
        .map(|p| p.trim_end_matches('/'))
        .filter(|p| p.rsplit_once('/').is_some_and(|(parent, _)| parent == root))
        .map(String::from)
        .collect();
    if dirs.is_empty() {
        return Err(PackError::BadPath(
            root.into(),
            "the tarball has no key directory below this layout root (packed for another --layout?)",
        ));
    }
    dirs.sort();
    dirs.dedup();
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &[u8], mode: u32) -> Entry {
        Entry {
            path: path.into(),
            content: Some(Zeroizing::new(content.to_vec())),
            mode,
            uid: 42425,
            gid: 42425,
        }
    }

    #[test]
    fn same_entries_give_same_bytes_in_any_order() {
        let a = vec![file("x/keys/b", b"2", 0o600), file("x/keys/a", b"1", 0o600)];
        let b = vec![a[1].clone(), a[0].clone()];
        assert_eq!(pack(a).unwrap().bytes, pack(b).unwrap().bytes);
    }

    #[test]
    fn content_change_changes_checksum() {
        let one = pack(vec![file("x/k", b"1", 0o600)]).unwrap();
        let two = pack(vec![file("x/k", b"2", 0o600)]).unwrap();
        assert_ne!(one.sha256, two.sha256);
    }

    #[test]
    fn key_dirs_are_the_directories_below_the_root() {
        let dir = |p: &str| Entry {
            path: p.into(),
            content: None,
            mode: 0o700,
            uid: 1,
            gid: 1,
        };
        let packed = pack(vec![
            dir("r/x/jws-keys"),
            dir("r/x/jws-keys/private"),
            file("r/x/jws-keys/private/k", b"1", 0o600),
        ])
        .unwrap();
        assert_eq!(
            key_dirs_in(&packed.bytes, "r/x").unwrap(),
            vec!["r/x/jws-keys".to_string()]
        );
        assert!(key_dirs_in(&packed.bytes, "etc/keystone").is_err());
        // The manifest says the same as the tarball.
        assert_eq!(
            key_dirs_of(&packed.manifest, "r/x").unwrap(),
            key_dirs_in(&packed.bytes, "r/x").unwrap()
        );
    }

    #[test]
    fn shared_and_unsafe_paths_are_refused() {
        for bad in ["etc", "var", "/etc/keystone/x", "./x", "a/../b", ""] {
            let entry = Entry {
                path: bad.into(),
                content: None,
                mode: 0o700,
                uid: 0,
                gid: 0,
            };
            assert!(pack(vec![entry]).is_err(), "{bad:?} accepted");
        }
    }
}
