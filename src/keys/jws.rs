//! ES256 key pairs for keystone's JWS token provider: generation with ring, PKCS#8 PEM for
//! `private.pem`, SubjectPublicKeyInfo PEM for the public set. Pure: no file I/O.
//!
//! Byte-compatible with `keystone-manage create_jws_keypair` (python-cryptography): the
//! private key is PKCS#8 v1 with the public point embedded (241-byte PEM), the public key an
//! uncompressed P-256 point in SPKI (178-byte PEM).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use zeroize::Zeroizing;

/// File keystone reads the signing key from (`jws_private_key_repository/private.pem`).
pub(crate) const PRIVATE_KEY_FILE: &str = "private.pem";
/// Where `jws rotate stage` keeps the next private key until `promote`. Keystone reads only
/// `private.pem` from the private directory, so this file is inert on a node.
pub(crate) const STAGED_KEY_FILE: &str = "staged.pem";
/// Name `jws create` gives the first public key, as keystone-manage does.
pub(crate) const FIRST_PUBLIC_FILE: &str = "public.pem";

/// DER prefix of a P-256 SubjectPublicKeyInfo (id-ecPublicKey, prime256v1, BIT STRING of 66).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Why a PEM document is not an ES256 key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    /// No `-----BEGIN <label>-----` block.
    #[error("no {0} PEM block")]
    NoBlock(&'static str),
    /// The base64 inside does not decode.
    #[error("PEM body is not base64")]
    BadBase64,
    /// The DER is not a P-256 key of the expected structure.
    #[error("not a P-256 (ES256) key: {0}")]
    NotP256(String),
}

/// An ES256 signing key with its public half. Prints as `[redacted]`, zeroized on drop.
pub struct KeyPair {
    pkcs8: Zeroizing<Vec<u8>>,
    public: PublicKey,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeyPair([redacted], public {})",
            &self.public.fingerprint()[..16]
        )
    }
}

/// A P-256 public key as SubjectPublicKeyInfo DER. Public: may be printed and compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    spki: Vec<u8>,
}

impl KeyPair {
    /// A new ES256 key pair from the OS CSPRNG.
    pub fn generate() -> Self {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("the operating system's random number generator failed");
        Self::from_pkcs8(doc.as_ref()).expect("ring produced an unparsable PKCS#8 document")
    }

    /// Parses PKCS#8 DER (as keystone-manage and ring write it).
    pub(crate) fn from_pkcs8(der: &[u8]) -> Result<Self, PemError> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map_err(|e| PemError::NotP256(e.to_string()))?;
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(pair.public_key().as_ref());
        Ok(KeyPair {
            pkcs8: Zeroizing::new(der.to_vec()),
            public: PublicKey { spki },
        })
    }

    /// Parses a `-----BEGIN PRIVATE KEY-----` PEM.
    pub(crate) fn from_pem(pem: &[u8]) -> Result<Self, PemError> {
        let der = Zeroizing::new(pem_decode(pem, "PRIVATE KEY")?);
        Self::from_pkcs8(&der)
    }

    /// `private.pem` content.
    pub(crate) fn to_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(pem_encode(&self.pkcs8, "PRIVATE KEY"))
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `message` (ES256, fixed-length r||s as JWS wants). Used by tests and inspection.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.pkcs8, &rng)
            .expect("key was validated at construction");
        pair.sign(&rng, message)
            .expect("signing failed")
            .as_ref()
            .to_vec()
    }
}

impl PublicKey {
    /// Parses a `-----BEGIN PUBLIC KEY-----` PEM holding a P-256 key.
    pub(crate) fn from_pem(pem: &[u8]) -> Result<Self, PemError> {
        let der = pem_decode(pem, "PUBLIC KEY")?;
        if der.len() != P256_SPKI_PREFIX.len() + 65
            || der[..26] != P256_SPKI_PREFIX
            || der[26] != 0x04
        {
            return Err(PemError::NotP256(
                "expected an uncompressed P-256 SubjectPublicKeyInfo".into(),
            ));
        }
        Ok(PublicKey { spki: der })
    }

    /// Public key file content.
    pub(crate) fn to_pem(&self) -> String {
        pem_encode(&self.spki, "PUBLIC KEY")
    }

    /// SHA-256 of the SPKI DER, hex.
    pub fn fingerprint(&self) -> String {
        crate::encoding::sha256_hex(&self.spki)
    }

    /// File name for a public key added by rotation: `public-<12 hex of fingerprint>.pem`.
    pub fn file_name(&self) -> String {
        format!("public-{}.pem", &self.fingerprint()[..12])
    }

    /// Verifies an ES256 signature (fixed r||s).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            &self.spki[26..],
        )
        .verify(message, signature)
        .is_ok()
    }
}

fn pem_encode(der: &[u8], label: &str) -> String {
    let b64 = Zeroizing::new(STANDARD.encode(der));
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn pem_decode(pem: &[u8], label: &'static str) -> Result<Vec<u8>, PemError> {
    let text = std::str::from_utf8(pem).map_err(|_| PemError::NoBlock(label))?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin).ok_or(PemError::NoBlock(label))? + begin.len();
    let stop = text[start..].find(&end).ok_or(PemError::NoBlock(label))? + start;
    let body: Zeroizing<String> = Zeroizing::new(
        text[start..stop]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect(),
    );
    STANDARD
        .decode(body.as_bytes())
        .map_err(|_| PemError::BadBase64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYSTONE_PRIVATE: &[u8] =
        include_bytes!("../../tests/fixtures/keystone-made/private.pem");
    const KEYSTONE_PUBLIC: &[u8] = include_bytes!("../../tests/fixtures/keystone-made/public.pem");

    #[test]
    fn generated_pems_have_keystone_sizes() {
        let pair = KeyPair::generate();
        assert_eq!(pair.to_pem().len(), 241);
        assert!(pair.to_pem().starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(pair.public().to_pem().len(), 178);
        assert!(
            pair.public()
                .to_pem()
                .starts_with("-----BEGIN PUBLIC KEY-----\n")
        );
    }

    #[test]
    fn keystone_made_pair_parses_and_matches() {
        let pair = KeyPair::from_pem(KEYSTONE_PRIVATE).unwrap();
        let public = PublicKey::from_pem(KEYSTONE_PUBLIC).unwrap();
        assert_eq!(pair.public(), &public);
        assert_eq!(public.to_pem().as_bytes(), KEYSTONE_PUBLIC);
        assert_eq!(pair.to_pem().as_bytes(), KEYSTONE_PRIVATE);
    }

    #[test]
    fn round_trip_sign_verify() {
        let pair = KeyPair::generate();
        let again = KeyPair::from_pem(pair.to_pem().as_bytes()).unwrap();
        let public = PublicKey::from_pem(pair.public().to_pem().as_bytes()).unwrap();
        let sig = again.sign(b"header.payload");
        assert!(public.verify(b"header.payload", &sig));
        assert!(!public.verify(b"header.payload2", &sig));
        assert!(!KeyPair::generate().public().verify(b"header.payload", &sig));
    }

    #[test]
    fn wrong_documents_are_rejected() {
        assert_eq!(
            PublicKey::from_pem(KEYSTONE_PRIVATE),
            Err(PemError::NoBlock("PUBLIC KEY"))
        );
        assert!(KeyPair::from_pem(KEYSTONE_PUBLIC).is_err());
        assert!(
            PublicKey::from_pem(b"-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----\n")
                .is_err()
        );
    }

    #[test]
    fn debug_hides_the_private_key() {
        let pair = KeyPair::generate();
        let shown = format!("{pair:?}");
        assert!(shown.contains("redacted"));
        assert!(!shown.contains(&pair.to_pem()[28..60]));
    }
}
