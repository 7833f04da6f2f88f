//! One Fernet key: 32 random bytes (16 signing + 16 AES-128), stored as URL-safe base64 with
//! padding, 44 ASCII characters and no newline, exactly as keystone's fernet_utils writes it.
//!
//! The bytes live in a zeroizing buffer and never reach `Debug`/`Display`.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// Length of a key in bytes.
pub(crate) const KEY_BYTES: usize = 32;

/// A Fernet key (token, receipt or credential). Prints as `[redacted]`, zeroized on drop.
#[derive(Clone)]
pub struct FernetKey(Zeroizing<[u8; KEY_BYTES]>);

impl std::fmt::Debug for FernetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FernetKey([redacted])")
    }
}

/// Why a key file's content is not a key keystone can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyDefect {
    /// The file is empty (keystone skips it; a repository of such files has no keys).
    Empty,
    /// Characters outside both base64 alphabets: keystone's decoder drops them and fails.
    BadAlphabet,
    /// Decodes to something other than 32 bytes: every token request fails with 500.
    BadLength(usize),
}

/// Things keystone tolerates but that we never write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyQuirks {
    /// Trailing newline or whitespace after the base64 text.
    pub trailing_whitespace: bool,
    /// Uses the standard alphabet (`+`, `/`) instead of the URL-safe one.
    pub standard_alphabet: bool,
}

impl FernetKey {
    /// Draws a new key from the OS CSPRNG (as `os.urandom(32)` in keystone).
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
        SystemRandom::new()
            .fill(&mut bytes[..])
            .expect("the operating system's random number generator failed");
        FernetKey(bytes)
    }

    /// Builds a key from raw bytes (tests and known-answer vectors).
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        FernetKey(Zeroizing::new(bytes))
    }

    /// The file content keystone writes: URL-safe base64, padded, no newline.
    pub fn encode(&self) -> Zeroizing<String> {
        Zeroizing::new(URL_SAFE.encode(&self.0[..]))
    }

    /// Parses a key file the way keystone reads it (tolerating a trailing newline and the
    /// standard alphabet), reporting the quirks it tolerated.
    pub fn parse(content: &[u8]) -> Result<(Self, KeyQuirks), KeyDefect> {
        let mut quirks = KeyQuirks::default();
        let trimmed = content.trim_ascii_end();
        if trimmed.len() != content.len() {
            quirks.trailing_whitespace = true;
        }
        if trimmed.is_empty() {
            return Err(KeyDefect::Empty);
        }
        if !trimmed
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'+' | b'/' | b'='))
        {
            return Err(KeyDefect::BadAlphabet);
        }
        if trimmed.iter().any(|c| matches!(c, b'+' | b'/')) {
            quirks.standard_alphabet = true;
        }
        let normalized: Zeroizing<Vec<u8>> = Zeroizing::new(
            trimmed
                .iter()
                .map(|&c| match c {
                    b'-' => b'+',
                    b'_' => b'/',
                    c => c,
                })
                .collect(),
        );
        let decoded = Zeroizing::new(
            STANDARD
                .decode(&normalized[..])
                .map_err(|_| KeyDefect::BadAlphabet)?,
        );
        if decoded.len() != KEY_BYTES {
            return Err(KeyDefect::BadLength(decoded.len()));
        }
        let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
        bytes.copy_from_slice(&decoded);
        Ok((FernetKey(bytes), quirks))
    }

    /// True for the all-zero key keystone falls back to when the credential repository is
    /// missing: anything "encrypted" with it is readable by anyone.
    pub fn is_null(&self) -> bool {
        self.0.iter().all(|&b| b == 0)
    }

    /// SHA-256 of the raw key bytes, hex: safe to print and compare across nodes.
    pub fn fingerprint(&self) -> String {
        crate::encoding::sha256_hex(&self.0[..])
    }

    /// The 16-byte HMAC-SHA256 signing half.
    pub(crate) fn signing_key(&self) -> &[u8] {
        &self.0[..16]
    }

    /// The 16-byte AES-128 encryption half.
    pub(crate) fn encryption_key(&self) -> &[u8] {
        &self.0[16..]
    }
}

impl PartialEq for FernetKey {
    fn eq(&self, other: &Self) -> bool {
        // Constant time: no early exit on the first differing byte.
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

pub use crate::encoding::hex;

#[cfg(test)]
mod tests {
    use super::*;

    // A key written by `keystone-manage fernet_setup` (keystone 30.0.0) on this project's test machine.
    const KEYSTONE_MADE: &[u8] = b"RIqBl7ngrX8v3fe100pzAodFgELGhJrBZl1XStUH3Jc=";

    #[test]
    fn keystone_made_key_round_trips() {
        let (key, quirks) = FernetKey::parse(KEYSTONE_MADE).unwrap();
        assert_eq!(quirks, KeyQuirks::default());
        assert_eq!(key.encode().as_bytes(), KEYSTONE_MADE);
    }

    #[test]
    fn generated_keys_are_44_chars_url_safe_and_distinct() {
        let a = FernetKey::generate();
        let b = FernetKey::generate();
        assert_eq!(
            a.encode().len(),
            44,
            "32 bytes in URL-safe base64 with padding"
        );
        assert!(!a.encode().contains(['+', '/', '\n']));
        assert_ne!(a, b);
        assert_ne!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn tolerated_quirks_are_reported() {
        let mut with_newline = KEYSTONE_MADE.to_vec();
        with_newline.push(b'\n');
        let (_, q) = FernetKey::parse(&with_newline).unwrap();
        assert!(q.trailing_whitespace);
        let url_safe = FernetKey::from_bytes([0xfb; 32]).encode();
        assert!(url_safe.contains(['-', '_']));
        let standard = url_safe.replace('-', "+").replace('_', "/");
        let (k, q) = FernetKey::parse(standard.as_bytes()).unwrap();
        assert!(q.standard_alphabet);
        assert_eq!(k.encode(), url_safe);
    }

    #[test]
    fn defects_are_detected() {
        assert_eq!(
            FernetKey::parse(b""),
            Err(KeyDefect::Empty).map(|k: (FernetKey, KeyQuirks)| k)
        );
        assert!(matches!(
            FernetKey::parse(b"abc!"),
            Err(KeyDefect::BadAlphabet)
        ));
        assert!(matches!(
            FernetKey::parse(&KEYSTONE_MADE[..40]),
            Err(KeyDefect::BadLength(_) | KeyDefect::BadAlphabet)
        ));
        let short = URL_SAFE.encode([7u8; 31]);
        assert_eq!(
            FernetKey::parse(short.as_bytes()).err(),
            Some(KeyDefect::BadLength(31))
        );
    }

    #[test]
    fn debug_never_shows_key_material() {
        let key = FernetKey::generate();
        let shown = format!("{key:?}");
        assert!(shown.contains("redacted"));
        assert!(!shown.contains(key.encode().as_str()));
    }

    #[test]
    fn null_key_is_detected() {
        assert!(FernetKey::from_bytes([0; 32]).is_null());
        assert!(!FernetKey::generate().is_null());
    }
}
