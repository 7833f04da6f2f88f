//! Where keys live on an overcloud node, per deployment style.
//!
//! `containerized` (OSP 12+): keystone runs in a container whose `/etc/keystone` is copied by
//! kolla from `/var/lib/config-data/puppet-generated/keystone/etc/keystone` on the host, files
//! owned by 42425 (the container's keystone uid; the host has no keystone user).
//! `baremetal` (OSP 10/11): keystone reads `/etc/keystone` directly, keystone uid/gid 163.
//! Inside keystone the paths are the same either way: `/etc/keystone/...`.

use serde::{Deserialize, Serialize};

/// The deployment style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum LayoutKind {
    /// OSP 12+ containerized keystone (default).
    Containerized,
    /// OSP 10/11 keystone on the host.
    Baremetal,
}

impl std::fmt::Display for LayoutKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LayoutKind::Containerized => "containerized",
            LayoutKind::Baremetal => "baremetal",
        })
    }
}

/// A layout with its (overridable) root and owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// The style.
    pub kind: LayoutKind,
    /// Directory on the node (relative to `/`) that becomes keystone's `/etc/keystone`.
    pub root: String,
    /// Numeric owner of key files on the node.
    pub uid: u32,
    /// Numeric group of key files on the node.
    pub gid: u32,
}

/// keystone's `/etc/keystone` as seen inside the service, both layouts.
pub(crate) const KEYSTONE_ETC: &str = "/etc/keystone";

impl Layout {
    /// The defaults of a style.
    pub fn new(kind: LayoutKind) -> Self {
        match kind {
            LayoutKind::Containerized => Layout {
                kind,
                root: "var/lib/config-data/puppet-generated/keystone/etc/keystone".into(),
                uid: 42425,
                gid: 42425,
            },
            LayoutKind::Baremetal => Layout {
                kind,
                root: "etc/keystone".into(),
                uid: 163,
                gid: 163,
            },
        }
    }

    /// Relative tarball path of a key directory (e.g. `jws-keys/private`).
    pub(crate) fn tar_path(&self, sub: &str) -> String {
        format!("{}/{}", self.root, sub)
    }

    /// Absolute path keystone sees for a key directory.
    pub(crate) fn keystone_path(sub: &str) -> String {
        format!("{KEYSTONE_ETC}/{sub}")
    }
}

/// Sub-directories of `/etc/keystone` for each repository (keystone's defaults, plus a
/// separate receipt directory when receipts do not share the token keys).
pub mod dirs {
    /// `[fernet_tokens] key_repository`.
    pub const FERNET: &str = "fernet-keys";
    /// `[fernet_receipts] key_repository` when kept separate.
    pub const RECEIPT: &str = "fernet-receipts";
    /// `[credential] key_repository`.
    pub const CREDENTIAL: &str = "credential-keys";
    /// Parent of the JWS directories (ours alone: safe to carry as an entry).
    pub const JWS: &str = "jws-keys";
    /// `[jwt_tokens] jws_private_key_repository`.
    pub const JWS_PRIVATE: &str = "jws-keys/private";
    /// `[jwt_tokens] jws_public_key_repository`.
    pub const JWS_PUBLIC: &str = "jws-keys/public";
}
