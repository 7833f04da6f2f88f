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
use crate::keys::jws::{FIRST_PUBLIC_FILE, KeyPair, PRIVATE_KEY_FILE, PublicKey};
use crate::keys::jws_repo::{self, JwsDirs};
use crate::keys::repo::KeySet;

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
    pub(crate) fn kinds(&self) -> Vec<RepoKind> {
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
pub(crate) fn check_delivery(layout: LayoutKind, sources: &Sources) -> Result<()> {
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

/// Runs the full `repo check` of a JWS pair and refuses on any error (a pair that fails the
/// check is never packed).
pub(crate) fn require_clean_jws(jws: &JwsDirs) -> Result<()> {
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

/// The JWS material a tarball carries: the signing key and the public set. `staged.pem`
/// stays on the undercloud: nodes need it only once promoted.
#[derive(Clone)]
pub(crate) struct JwsKeys {
    /// `private.pem`'s bytes.
    pub private_pem: Zeroizing<Vec<u8>>,
    /// The public key set, by file name.
    pub public: Vec<(String, PublicKey)>,
}

impl JwsKeys {
    /// Reads a pair that passes the full `repo check`.
    pub fn load(jws: &JwsDirs) -> Result<Self> {
        require_clean_jws(jws)?;
        Ok(Self {
            private_pem: Zeroizing::new(fsutil::read_key_file(
                &jws.private.join(PRIVATE_KEY_FILE),
            )?),
            public: jws_repo::public_set(&jws.public)?,
        })
    }

    /// A new pair, exactly as [`jws_repo::create_pair`] writes it.
    pub(crate) fn of_new(pair: &KeyPair) -> Self {
        Self {
            private_pem: Zeroizing::new(pair.to_pem().as_bytes().to_vec()),
            public: vec![(FIRST_PUBLIC_FILE.to_string(), pair.public().clone())],
        }
    }
}

/// The keys a tarball carries, in memory: read from the repositories, or (a build's plan)
/// generated and not yet written.
#[derive(Default)]
pub(crate) struct PackKeys {
    /// Fernet token keys.
    pub fernet: Option<KeySet>,
    /// Fernet receipt keys.
    pub receipt: Option<KeySet>,
    /// Credential keys.
    pub credential: Option<KeySet>,
    /// JWS pair and public set.
    pub jws: Option<JwsKeys>,
}

impl PackKeys {
    /// Reads every source, each checked as strictly as `repo check` (one read of each key
    /// file).
    pub fn load(sources: &Sources) -> Result<Self> {
        let numbered = |path: &Option<PathBuf>, kind| {
            path.as_ref()
                .map(|path| check::load_clean(path, kind))
                .transpose()
        };
        Ok(Self {
            fernet: numbered(&sources.fernet, RepoKind::Fernet)?,
            receipt: numbered(&sources.receipt, RepoKind::Receipt)?,
            credential: numbered(&sources.credential, RepoKind::Credential)?,
            jws: sources.jws.as_ref().map(JwsKeys::load).transpose()?,
        })
    }
}

/// Reads and validates every source and returns the tarball entries for `layout`.
pub fn entries(layout: &Layout, sources: &Sources) -> Result<Vec<Entry>> {
    check_delivery(layout.kind, sources)?;
    Ok(entries_of(layout, &PackKeys::load(sources)?))
}

/// The tarball entries for `layout` of keys already in memory.
pub(crate) fn entries_of(layout: &Layout, keys: &PackKeys) -> Vec<Entry> {
    let mut out = Vec::new();
    for (set, sub) in [
        (&keys.fernet, dirs::FERNET),
        (&keys.receipt, dirs::RECEIPT),
        (&keys.credential, dirs::CREDENTIAL),
    ] {
        let Some(set) = set else { continue };
        out.push(dir_entry(layout, sub));
        for (index, key) in set {
            out.push(file_entry(
                layout,
                sub,
                &index.to_string(),
                key.encode().as_bytes().to_vec(),
                fsutil::SECRET_FILE_MODE,
            ));
        }
    }
    if let Some(jws) = &keys.jws {
        out.push(dir_entry(layout, dirs::JWS));
        out.push(dir_entry(layout, dirs::JWS_PRIVATE));
        out.push(dir_entry(layout, dirs::JWS_PUBLIC));
        out.push(file_entry(
            layout,
            dirs::JWS_PRIVATE,
            PRIVATE_KEY_FILE,
            jws.private_pem.to_vec(),
            fsutil::SECRET_FILE_MODE,
        ));
        for (name, public) in &jws.public {
            out.push(file_entry(
                layout,
                dirs::JWS_PUBLIC,
                name,
                public.to_pem().into_bytes(),
                fsutil::PUBLIC_FILE_MODE,
            ));
        }
    }
    out
}
