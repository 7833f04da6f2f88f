//! Fernet token decryption against a key repository loaded once.
//!
//! Token layout (Fernet spec, as keystone uses it through `cryptography`): URL-safe base64,
//! padding stripped by keystone, of `0x80 | timestamp (8, big-endian) | IV (16) | AES-128-CBC
//! ciphertext, PKCS#7 | HMAC-SHA256 (32)` over everything before the HMAC. The first 16 key
//! bytes sign, the last 16 encrypt. Like `MultiFernet.decrypt`, every key is tried; the HMAC
//! is checked in constant time before anything is decrypted.
//!
//! Key bytes live only in `ring`'s HMAC key and the AES key schedule (zeroized on drop); the
//! keyring prints as `[redacted]` and reports keys by file name, role and fingerprint.

use std::fmt;
use std::path::{Path, PathBuf};

use aes::Aes128Dec;
use aes::cipher::{BlockDecryptMut, InnerIvInit, KeyInit, block_padding::Pkcs7};
use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ring::hmac;

use crate::check::{self, RepoKind, Severity};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::keys::fernet::FernetKey;
use crate::keys::repo::{KeyRole, KeySet, role_of};

/// Keystone strips the `=` padding and restores it from the length (`restore_padding`); a
/// token with or without padding decodes the same. Python's decoder ignores non-zero trailing
/// bits, so this one does too.
pub(super) const TOKEN_BASE64: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

const VERSION: u8 = 0x80;
const HEADER: usize = 1 + 8 + 16;
const MAC: usize = 32;
const BLOCK: usize = 16;
/// The smallest token: header, one AES block, HMAC.
pub(crate) const MIN_TOKEN_BYTES: usize = HEADER + BLOCK + MAC;

/// Which key file decrypted a token. Never holds key bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyInfo {
    /// The file name in the repository (its number).
    pub file: String,
    /// The key number.
    pub index: u64,
    /// Staged (0), primary (highest) or secondary.
    pub role: KeyRole,
    /// SHA-256 of the key, hex (as `repo check` shows it).
    pub fingerprint: String,
}

struct Slot {
    info: KeyInfo,
    mac: hmac::Key,
    /// Decryption key schedule only (tokens are never encrypted here).
    aes: Aes128Dec,
}

/// The keys of one Fernet repository, ready to decrypt. Prints as `[redacted]`.
pub struct FernetKeyring {
    path: PathBuf,
    /// Most likely first: primary, then secondaries newest first, then staged (never used to
    /// encrypt, tried last).
    slots: Vec<Slot>,
    warnings: Vec<String>,
}

impl fmt::Debug for FernetKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FernetKeyring")
            .field("path", &self.path)
            .field("keys", &self.key_names())
            .field("material", &"[redacted]")
            .finish()
    }
}

/// Why a Fernet token could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FernetError {
    /// Not URL-safe base64.
    BadBase64(String),
    /// The first byte is not Fernet's version byte.
    NotFernet(u8),
    /// Too short, or not whole AES blocks: cut short or damaged.
    Truncated(usize),
    /// A number of characters no base64 text has (4k + 1): cut short or damaged.
    ImpossibleLength(usize),
    /// No key's HMAC matches: another cloud, a rotated-out key, or a damaged token.
    NoKey,
    /// The HMAC matched but the ciphertext does not decrypt (never seen from keystone).
    BadPadding(Box<KeyInfo>),
}

impl fmt::Display for FernetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FernetError::BadBase64(why) => write!(f, "not URL-safe base64: {why}"),
            FernetError::NotFernet(b) => write!(
                f,
                "not a Fernet token: it starts with byte 0x{b:02x}, Fernet tokens with 0x80 (text `gAAAAA`)"
            ),
            FernetError::Truncated(n) => write!(
                f,
                "truncated or damaged: it decodes to {n} bytes, a Fernet token has 57 plus a multiple of 16 (at least 73)"
            ),
            FernetError::ImpossibleLength(n) => write!(
                f,
                "truncated or damaged: {n} characters is a length no base64 text has (one more than a multiple of 4)"
            ),
            FernetError::NoKey => f.write_str("no key decrypts this token"),
            FernetError::BadPadding(key) => write!(
                f,
                "key {} ({}) verifies the HMAC but the ciphertext has bad PKCS#7 padding",
                key.file, key.role
            ),
        }
    }
}

/// A decrypted token, borrowing the scratch buffer.
#[derive(Debug)]
pub struct Decrypted<'k, 'b> {
    /// The key that verified and decrypted it.
    pub key: &'k KeyInfo,
    /// Creation time from the token header (Unix seconds, unsigned as in the format).
    pub timestamp: u64,
    /// The msgpack payload.
    pub plaintext: &'b [u8],
}

/// Reusable buffers, so decrypting many tokens allocates nothing per token.
#[derive(Debug, Default)]
pub struct Scratch {
    raw: Vec<u8>,
    plain: Vec<u8>,
}

fn describe_base64(err: base64::DecodeError) -> String {
    use base64::DecodeError::*;
    match err {
        InvalidByte(at, b'=') => format!("'=' at position {at} inside the token"),
        InvalidByte(at, b) if b.is_ascii_graphic() => {
            format!("character '{}' at position {at}", b as char)
        }
        InvalidByte(at, b) => format!("byte 0x{b:02x} at position {at}"),
        InvalidLength(n) => format!("{n} characters is a length no base64 text has"),
        InvalidLastSymbol {
            offset: at,
            symbol: b,
            ..
        } => format!("last character '{}' at {at}", b as char),
        InvalidPadding => "bad '=' padding".into(),
    }
}

impl FernetKeyring {
    /// A keyring from keys already in memory; `path` only names the repository in messages.
    pub(crate) fn from_keys(path: &Path, keys: &KeySet) -> Self {
        let max = keys.keys().next_back().copied().unwrap_or(0);
        let mut order: Vec<u64> = keys.keys().copied().filter(|&i| i != 0).rev().collect();
        if keys.contains_key(&0) {
            order.push(0);
        }
        let slots = order
            .into_iter()
            .map(|index| {
                let key = &keys[&index];
                Slot {
                    info: KeyInfo {
                        file: index.to_string(),
                        index,
                        role: role_of(index, max),
                        fingerprint: key.fingerprint(),
                    },
                    mac: hmac::Key::new(hmac::HMAC_SHA256, key.signing_key()),
                    aes: Aes128Dec::new_from_slice(key.encryption_key())
                        .expect("the encryption half is 16 bytes"),
                }
            })
            .collect();
        FernetKeyring {
            path: path.to_path_buf(),
            slots,
            warnings: Vec::new(),
        }
    }

    /// Loads every usable key of a repository. Unlike keystone, which fails every request
    /// when one file is bad, inspection uses the good keys and reports the rest as warnings:
    /// a broken node is exactly where one wants to inspect tokens.
    pub fn load(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                Error::RepositoryMissing(path.to_path_buf())
            } else {
                fsutil::io_err("inspect", path)(source)
            }
        })?;
        if !meta.is_dir() {
            return Err(Error::NotADirectory(path.to_path_buf()));
        }
        // Fail on an unreadable directory here: the check below would only note it.
        std::fs::read_dir(path).map_err(fsutil::io_err("list", path))?;
        let report =
            check::check_numbered(path, RepoKind::Fernet, &check::CheckOptions::structural())?;
        let mut keys = KeySet::new();
        let mut warnings = Vec::new();
        for entry in &report.keys {
            let file = path.join(&entry.name);
            match FernetKey::parse(&zeroize::Zeroizing::new(fsutil::read_key_file(&file)?)) {
                Ok((key, _)) => {
                    keys.insert(entry.index, key);
                }
                Err(_) => warnings.push(format!("{} changed while being read", file.display())),
            }
        }
        if keys.is_empty() {
            return Err(Error::NoKeys {
                path: path.to_path_buf(),
                what: crate::error::KeySetKind::Fernet,
            });
        }
        for f in &report.findings {
            if f.severity == Severity::Error && f.code != crate::check::FindingCode::RepoEmpty {
                warnings.push(format!(
                    "{} {}: {} (keystone would fail every request; inspection uses the good keys)",
                    f.code,
                    f.path.display(),
                    f.message
                ));
            }
        }
        let mut ring = Self::from_keys(path, &keys);
        ring.warnings = warnings;
        Ok(ring)
    }

    /// The repository path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Problems found while loading (bad files skipped).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The key file names, ascending: `0, 1, 2`.
    pub fn key_names(&self) -> String {
        let mut indices: Vec<u64> = self.slots.iter().map(|s| s.info.index).collect();
        indices.sort_unstable();
        indices
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Decodes, verifies and decrypts one token (text, padding optional).
    pub fn decrypt<'k, 'b>(
        &'k self,
        token: &[u8],
        scratch: &'b mut Scratch,
    ) -> Result<Decrypted<'k, 'b>, FernetError> {
        let raw = &mut scratch.raw;
        raw.resize(base64::decoded_len_estimate(token.len()), 0);
        let n = TOKEN_BASE64.decode_slice(token, raw).map_err(|e| match e {
            // One character more than a multiple of four: the usual sign of a cut token.
            base64::DecodeSliceError::DecodeError(base64::DecodeError::InvalidLength(_)) => {
                FernetError::ImpossibleLength(token.len())
            }
            base64::DecodeSliceError::DecodeError(e) => FernetError::BadBase64(describe_base64(e)),
            base64::DecodeSliceError::OutputSliceTooSmall => {
                FernetError::BadBase64("too long".into())
            }
        })?;
        let raw = &raw[..n];
        match raw.first() {
            Some(&VERSION) => {}
            Some(&other) => return Err(FernetError::NotFernet(other)),
            None => return Err(FernetError::Truncated(0)),
        }
        if n < MIN_TOKEN_BYTES || !(n - HEADER - MAC).is_multiple_of(BLOCK) {
            return Err(FernetError::Truncated(n));
        }
        let (signed, tag) = raw.split_at(n - MAC);
        let slot = self
            .slots
            .iter()
            .find(|s| hmac::verify(&s.mac, signed, tag).is_ok())
            .ok_or(FernetError::NoKey)?;
        let timestamp = u64::from_be_bytes(raw[1..9].try_into().expect("8 bytes"));
        let iv: &[u8; 16] = raw[9..HEADER].try_into().expect("16 bytes");
        let ciphertext = &signed[HEADER..];
        scratch.plain.resize(ciphertext.len(), 0);
        // By reference: a clone of the key schedule would be zeroized on drop, per token.
        let plaintext = cbc::Decryptor::<&Aes128Dec>::inner_iv_init(&slot.aes, iv.into())
            .decrypt_padded_b2b_mut::<Pkcs7>(ciphertext, &mut scratch.plain)
            .map_err(|_| FernetError::BadPadding(Box::new(slot.info.clone())))?;
        Ok(Decrypted {
            key: &slot.info,
            timestamp,
            plaintext,
        })
    }
}

#[cfg(test)]
#[path = "fernet_tests.rs"]
mod tests;
