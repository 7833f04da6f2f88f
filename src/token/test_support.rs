//! Test helpers: the keystone-made vectors in tests/fixtures/tokens and a Fernet sealer, so
//! tests can put any plaintext behind a valid HMAC.

use std::path::PathBuf;
use std::sync::LazyLock;

use aes::Aes128;
use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

use super::Inspector;
use super::fernet::FernetKeyring;
use super::jws::JwsVerifier;
use super::payload::MethodMap;
use crate::keys::fernet::FernetKey;

/// `tests/fixtures/tokens/<rel>`.
pub(crate) fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tokens")
        .join(rel)
}

/// vectors.json, made by make_vectors.py with keystone 30 as the oracle.
pub(crate) fn vectors() -> &'static serde_json::Value {
    static VECTORS: LazyLock<serde_json::Value> = LazyLock::new(|| {
        serde_json::from_str(include_str!("../../tests/fixtures/tokens/vectors.json"))
            .expect("vectors.json parses")
    });
    &VECTORS
}

/// An inspector on the fixture Fernet keys and JWS public key (loaded once per test binary).
pub fn inspector() -> &'static Inspector {
    static INSPECTOR: LazyLock<Inspector> = LazyLock::new(|| {
        Inspector::new(
            Some(FernetKeyring::load(&fixture("fernet-keys")).expect("fixture keys load")),
            Some(JwsVerifier::load(&fixture("jws/public")).expect("fixture public key loads")),
            MethodMap::default(),
        )
    });
    &INSPECTOR
}

/// A fixture key by file name.
pub(crate) fn fixture_key(name: &str) -> FernetKey {
    let content = std::fs::read(fixture("fernet-keys").join(name)).expect("fixture key");
    FernetKey::parse(&content).expect("fixture key parses").0
}

/// A Fernet token for `plaintext` (padding stripped, as keystone hands them out).
pub(crate) fn seal(key: &FernetKey, plaintext: &[u8], timestamp: u64, iv: [u8; 16]) -> String {
    let mut raw = vec![0x80];
    raw.extend_from_slice(&timestamp.to_be_bytes());
    raw.extend_from_slice(&iv);
    let enc = cbc::Encryptor::<Aes128>::new_from_slices(key.encryption_key(), &iv)
        .expect("16-byte key and iv");
    let mut buf = plaintext.to_vec();
    buf.resize(plaintext.len() / 16 * 16 + 16, 0);
    let ciphertext = enc
        .encrypt_padded_mut::<Pkcs7>(&mut buf, plaintext.len())
        .expect("room for the padding");
    raw.extend_from_slice(ciphertext);
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key.signing_key()), &raw);
    raw.extend_from_slice(tag.as_ref());
    URL_SAFE_NO_PAD.encode(raw)
}
