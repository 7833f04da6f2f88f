//! What a key repository is and what each key in it does, by kind and file number: the
//! facts `check` and the repository operations share (keystone's `fernet_utils.py`).

use serde::Serialize;

/// Which repository a directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum RepoKind {
    /// `[fernet_tokens] key_repository`.
    Fernet,
    /// `[fernet_receipts] key_repository`.
    Receipt,
    /// `[credential] key_repository`.
    Credential,
    /// A JWS key directory holding `private/` and `public/`.
    Jws,
}

impl std::fmt::Display for RepoKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RepoKind::Fernet => "fernet",
            RepoKind::Receipt => "receipt",
            RepoKind::Credential => "credential",
            RepoKind::Jws => "jws",
        })
    }
}

/// Keystone's default `max_active_keys` for token and receipt repositories.
pub const DEFAULT_MAX_ACTIVE_KEYS: usize = 3;
/// Keystone keeps at most three credential keys, fixed.
pub const CREDENTIAL_MAX_KEYS: usize = 3;

/// Role of a key in the repository, from its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyRole {
    /// `0`: next primary, accepted for decryption only.
    Staged,
    /// Highest number: encrypts new tokens.
    Primary,
    /// Any other: decrypts only.
    Secondary,
}

impl std::fmt::Display for KeyRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyRole::Staged => "staged",
            KeyRole::Primary => "primary",
            KeyRole::Secondary => "secondary",
        })
    }
}

/// The role of key `index` in a repository whose highest number is `max`.
pub fn role_of(index: u64, max: u64) -> KeyRole {
    if index == max && index != 0 {
        KeyRole::Primary
    } else if index == 0 {
        KeyRole::Staged
    } else {
        KeyRole::Secondary
    }
}
