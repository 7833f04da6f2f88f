//! JWS key directories on disk: create a pair, and rotate it without downtime in three
//! phases, one command each.
//!
//! Keystone signs with `private/private.pem` and verifies with every file in `public/`.
//! Zero-downtime order (docs/domain.md section 1):
//! 1. `stage`: a new pair; its public key joins the public set (every node learns it with
//!    the next deploy), its private key waits in `private/staged.pem` (keystone ignores it).
//! 2. `promote`: `staged.pem` becomes `private.pem` (after every node has the new public
//!    key, tokens signed by any node validate everywhere).
//! 3. `retire`: public keys other than the current and staged private keys' are removed,
//!    once the last token signed by the old key has expired (`expiration` +
//!    `allow_expired_window` after `promote`).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use zeroize::Zeroizing;

use crate::fsutil::{self, DirFile, PUBLIC_FILE_MODE, SECRET_FILE_MODE};
use crate::keys::jws::{FIRST_PUBLIC_FILE, KeyPair, PRIVATE_KEY_FILE, PublicKey, STAGED_KEY_FILE};
use crate::owner::Owner;

/// Where keystone's JWS keys live.
#[derive(Debug, Clone)]
pub struct JwsDirs {
    /// `[jwt_tokens] jws_private_key_repository`.
    pub private: PathBuf,
    /// `[jwt_tokens] jws_public_key_repository`.
    pub public: PathBuf,
}

/// What `create` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// A new pair was written.
    Created {
        /// Fingerprint of the new public key.
        fingerprint: String,
    },
    /// A valid pair exists; nothing was changed.
    AlreadyPresent {
        /// Fingerprint of the existing public key.
        fingerprint: String,
    },
}

fn read_pair(path: &Path) -> Result<KeyPair> {
    let pem = zeroize::Zeroizing::new(fsutil::read_key_file(path)?);
    KeyPair::from_pem(&pem).map_err(|e| Error::BadJwsKey {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Fingerprints of every public key in the set, by file name.
pub(crate) fn public_set(dir: &Path) -> Result<Vec<(String, PublicKey)>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(fsutil::io_err("list", dir)(e)),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            return Err(Error::BadJwsKey {
                path,
                reason:
                    "a directory inside the JWS public key set makes keystone fail with HTTP 500"
                        .into(),
            });
        }
        let public =
            PublicKey::from_pem(&fsutil::read_key_file(&path)?).map_err(|e| Error::BadJwsKey {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        out.push((entry.file_name().to_string_lossy().into_owned(), public));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn not_a_file(path: &Path) -> Result<()> {
    if fs::symlink_metadata(path).is_ok_and(|m| !m.is_dir()) {
        return Err(Error::NotADirectory(path.to_path_buf()));
    }
    Ok(())
}

fn file(name: &str, content: &[u8], mode: u32) -> DirFile {
    DirFile {
        name: name.into(),
        content: Zeroizing::new(content.to_vec()),
        mode,
    }
}

/// Replaces a directory's contents with `files` (atomic exchange; nothing is ever written
/// inside the live directory, which keystone reads in full).
fn commit(dir: &Path, files: &[DirFile], owner: &Owner) -> Result<()> {
    fsutil::commit_dir(dir, files, &fsutil::effective_owner(owner, dir))
}

/// `jws create`: a new ES256 pair, `private.pem` (0600) and `public.pem` (0644), each in a
/// 0700 directory. Idempotent: a valid existing pair is kept unless `force`.
pub fn create(dirs: &JwsDirs, owner: &Owner, force: bool) -> Result<CreateOutcome> {
    create_pair(dirs, owner, force, KeyPair::generate())
}

/// As [`create`] with the pair given (`build` generates it while planning, then writes it).
pub(crate) fn create_pair(
    dirs: &JwsDirs,
    owner: &Owner,
    force: bool,
    pair: KeyPair,
) -> Result<CreateOutcome> {
    let _lock = fsutil::lock(&dirs.private)?;
    let private_path = dirs.private.join(PRIVATE_KEY_FILE);
    if !force && private_path.exists() {
        let pair = read_pair(&private_path)?;
        let fingerprint = pair.public().fingerprint();
        let set = public_set(&dirs.public)?;
        if !set.iter().any(|(_, p)| p.fingerprint() == fingerprint) {
            return Err(Error::JwsRotationOrder(format!(
                "{} exists but its public key is not in {}; refusing to guess (use --force to replace both)",
                private_path.display(),
                dirs.public.display()
            )));
        }
        return Ok(CreateOutcome::AlreadyPresent { fingerprint });
    }
    not_a_file(&dirs.public)?;
    not_a_file(&dirs.private)?;
    // Public set first: a node must never hold a private key whose public half is missing.
    let public = file(
        FIRST_PUBLIC_FILE,
        pair.public().to_pem().as_bytes(),
        PUBLIC_FILE_MODE,
    );
    commit(&dirs.public, &[public], owner)?;
    let private = file(PRIVATE_KEY_FILE, pair.to_pem().as_bytes(), SECRET_FILE_MODE);
    commit(&dirs.private, &[private], owner)?;
    Ok(CreateOutcome::Created {
        fingerprint: pair.public().fingerprint(),
    })
}

/// Phase 1: a new pair; public key added to the set, private key kept as `staged.pem`.
/// Returns the new public key's file name.
pub fn stage(dirs: &JwsDirs, owner: &Owner) -> Result<String> {
    let _lock = fsutil::lock(&dirs.private)?;
    read_pair(&dirs.private.join(PRIVATE_KEY_FILE))?;
    if dirs.private.join(STAGED_KEY_FILE).exists() {
        return Err(Error::JwsRotationOrder(format!(
            "a staged key already exists in {}: run `overcloud-keys jws rotate promote` (after redeploying) before staging another",
            dirs.private.display()
        )));
    }
    not_a_file(&dirs.public)?;
    public_set(&dirs.public)?;
    let pair = KeyPair::generate();
    let name = pair.public().file_name();
    let mut public = fsutil::read_dir_files(&dirs.public)?;
    public.push(file(
        &name,
        pair.public().to_pem().as_bytes(),
        PUBLIC_FILE_MODE,
    ));
    commit(&dirs.public, &public, owner)?;
    let mut private = fsutil::read_dir_files(&dirs.private)?;
    private.push(file(
        STAGED_KEY_FILE,
        pair.to_pem().as_bytes(),
        SECRET_FILE_MODE,
    ));
    commit(&dirs.private, &private, owner)?;
    Ok(name)
}

/// Phase 2: `staged.pem` becomes `private.pem`. Refuses when the staged key's public half is
/// not in the public set. Returns the new signing key's fingerprint.
pub fn promote(dirs: &JwsDirs, owner: &Owner) -> Result<String> {
    let _lock = fsutil::lock(&dirs.private)?;
    let staged_path = dirs.private.join(STAGED_KEY_FILE);
    if !staged_path.exists() {
        return Err(Error::JwsRotationOrder(format!(
            "no staged key in {}: run `overcloud-keys jws rotate stage` and redeploy first",
            dirs.private.display()
        )));
    }
    let staged = read_pair(&staged_path)?;
    let fingerprint = staged.public().fingerprint();
    if !public_set(&dirs.public)?
        .iter()
        .any(|(_, p)| p.fingerprint() == fingerprint)
    {
        return Err(Error::JwsRotationOrder(format!(
            "the staged key's public half is not in {}: promoting it would make its tokens fail validation",
            dirs.public.display()
        )));
    }
    // One exchange: private.pem becomes the staged key and staged.pem goes, together. The
    // new file's mtime records the promotion time that `retire` measures the window from.
    let private: Vec<DirFile> = fsutil::read_dir_files(&dirs.private)?
        .into_iter()
        .filter(|f| f.name != STAGED_KEY_FILE && f.name != PRIVATE_KEY_FILE)
        .chain([file(
            PRIVATE_KEY_FILE,
            staged.to_pem().as_bytes(),
            SECRET_FILE_MODE,
        )])
        .collect();
    commit(&dirs.private, &private, owner)?;
    Ok(fingerprint)
}

/// Phase 3: removes public keys that neither `private.pem` nor `staged.pem` uses, once
/// `min_age` has passed since `promote` (unless `force`). Returns the removed file names.
pub fn retire(dirs: &JwsDirs, min_age: Duration, force: bool) -> Result<Vec<String>> {
    let _lock = fsutil::lock(&dirs.private)?;
    let private_path = dirs.private.join(PRIVATE_KEY_FILE);
    let current = read_pair(&private_path)?;
    let mut keep = vec![current.public().fingerprint()];
    let staged_path = dirs.private.join(STAGED_KEY_FILE);
    if staged_path.exists() {
        keep.push(read_pair(&staged_path)?.public().fingerprint());
    }
    let age = fs::metadata(&private_path)
        .and_then(|m| m.modified())
        .ok()
        .map(crate::clock::age)
        .unwrap_or_default();
    let retired: Vec<String> = public_set(&dirs.public)?
        .into_iter()
        .filter(|(_, p)| !keep.contains(&p.fingerprint()))
        .map(|(name, _)| name)
        .collect();
    if !retired.is_empty() && age < min_age && !force {
        return Err(Error::JwsRotationOrder(format!(
            "private.pem was promoted {}s ago; tokens signed by the old key stay valid for {}s (expiration + allow_expired_window): retire after that, or pass --force to invalidate them now",
            age.as_secs(),
            min_age.as_secs()
        )));
    }
    if !retired.is_empty() {
        let kept: Vec<DirFile> = fsutil::read_dir_files(&dirs.public)?
            .into_iter()
            .filter(|f| !retired.contains(&f.name))
            .collect();
        commit(&dirs.public, &kept, &Owner::current())?;
    }
    Ok(retired)
}
