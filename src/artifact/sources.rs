//! Which repositories go into the tarball, read and validated, turned into tar entries; and
//! the delivery rule that keeps one key kind from arriving two ways.
//!
//! In the containerized layout puppet owns the Fernet token and credential key files: THT
//! maps `KeystoneFernetKeys` / `KeystoneCredential0/1` (always present: tripleoclient puts
//! generated values in the plan when the user gives none) to files it writes on every
//! deploy. A tarball that also drops such files produces a mixed repository whose primary
//! may come from either side, so those kinds go only by parameters there.

use std::path::PathBuf;

use zeroize::Zeroizing;

use crate::artifact::layout::dirs;
use crate::artifact::{Entry, Layout, LayoutKind};
use crate::check::{self, CheckOptions, RepoKind};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::keys::jws::PRIVATE_KEY_FILE;
use crate::keys::jws_repo::{self, JwsDirs};
use crate::keys::repo;

/// The local repositories to pack (any subset).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Fernet token keys (baremetal only).
    pub fernet: Option<PathBuf>,
    /// A separate Fernet receipt repository.
    pub receipt: Option<PathBuf>,
    /// Credential keys (baremetal only).
    pub credential: Option<PathBuf>,
    /// JWS key pair and public set.
    pub jws: Option<JwsDirs>,
}

impl Sources {
    /// Kinds of key carried.
    pub fn kinds(&self) -> Vec<RepoKind> {
        let mut kinds = Vec::new();
        if self.fernet.is_some() {
            kinds.push(RepoKind::Fernet);
        }
        if self.receipt.is_some() {
            kinds.push(RepoKind::Receipt);
        }
        if self.credential.is_some() {
            kinds.push(RepoKind::Credential);
        }
        if self.jws.is_some() {
            kinds.push(RepoKind::Jws);
        }
        kinds
    }

    /// True when nothing would be packed.
    pub fn is_empty(&self) -> bool {
        self.kinds().is_empty()
    }
}

/// Refuses to deliver a key kind by tarball that puppet also writes from parameters.
pub fn check_delivery(layout: LayoutKind, sources: &Sources) -> Result<()> {
    if layout != LayoutKind::Containerized {
        return Ok(());
    }
    for (present, kind, param) in [
        (
            sources.fernet.is_some(),
            "Fernet token",
            "KeystoneFernetKeys",
        ),
        (
            sources.credential.is_some(),
            "credential",
            "KeystoneCredential0/1",
        ),
    ] {
        if present {
            return Err(Error::Delivery(format!(
                "{kind} keys cannot go in a containerized tarball: puppet writes them from {param} on every deploy, overwriting the names it knows and keeping the others, which leaves a mixed repository whose primary key may come from either side"
            )));
        }
    }
    Ok(())
}

/// Runs the full `repo check` and refuses on any error (a repository that fails the check
/// is never packed or rendered).
pub fn require_clean(path: &std::path::Path, kind: RepoKind) -> Result<()> {
    let report = check::check_path(path, Some(kind), &CheckOptions::full())?;
    check::refuse_errors(path, &report.findings)
}

/// As [`require_clean`] for a JWS pair.
pub fn require_clean_jws(jws: &JwsDirs) -> Result<()> {
    let report = check::check_jws(
        &jws.private,
        &jws.private,
        &jws.public,
        &CheckOptions::full(),
    );
    check::refuse_errors(&jws.private, &report.findings)
}

fn dir_entry(layout: &Layout, sub: &str) -> Entry {
    Entry {
        path: layout.tar_path(sub),
        content: None,
        mode: fsutil::KEY_DIR_MODE,
        uid: layout.uid,
        gid: layout.gid,
    }
}

fn file_entry(layout: &Layout, sub: &str, name: &str, content: Vec<u8>, mode: u32) -> Entry {
    Entry {
        path: format!("{}/{}", layout.tar_path(sub), name),
        content: Some(Zeroizing::new(content)),
        mode,
        uid: layout.uid,
        gid: layout.gid,
    }
}

/// Reads and validates every source and returns the tarball entries for `layout`.
pub fn entries(layout: &Layout, sources: &Sources) -> Result<Vec<Entry>> {
    check_delivery(layout.kind, sources)?;
    let mut out = Vec::new();
    for (path, kind, sub) in [
        (&sources.fernet, RepoKind::Fernet, dirs::FERNET),
        (&sources.receipt, RepoKind::Receipt, dirs::RECEIPT),
        (&sources.credential, RepoKind::Credential, dirs::CREDENTIAL),
    ] {
        let Some(path) = path else { continue };
        require_clean(path, kind)?;
        out.push(dir_entry(layout, sub));
        for (index, key) in repo::load(path, kind)? {
            out.push(file_entry(
                layout,
                sub,
                &index.to_string(),
                key.encode().as_bytes().to_vec(),
                fsutil::SECRET_FILE_MODE,
            ));
        }
    }
    if let Some(jws) = &sources.jws {
        require_clean_jws(jws)?;
        out.push(dir_entry(layout, dirs::JWS));
        out.push(dir_entry(layout, dirs::JWS_PRIVATE));
        out.push(dir_entry(layout, dirs::JWS_PUBLIC));
        // staged.pem stays on the undercloud: nodes need it only once promoted.
        let private = fsutil::read_key_file(&jws.private.join(PRIVATE_KEY_FILE))?;
        out.push(file_entry(
            layout,
            dirs::JWS_PRIVATE,
            PRIVATE_KEY_FILE,
            private,
            fsutil::SECRET_FILE_MODE,
        ));
        for (name, public) in jws_repo::public_set(&jws.public)? {
            out.push(file_entry(
                layout,
                dirs::JWS_PUBLIC,
                &name,
                public.to_pem().into_bytes(),
                fsutil::PUBLIC_FILE_MODE,
            ));
        }
    }
    Ok(out)
}
