//! JWS token verification against keystone's public key directory.
//!
//! A keystone JWS token is a compact JWT (`header.claims.signature`, URL-safe base64 without
//! padding) signed ES256 (`[jwt_tokens] jws_accepted_algorithms` defaults to ES256 only).
//! Keystone tries every file of `jws_public_key_repository` in turn (`_decode_token_from_id`)
//! and does not check `exp` there; neither does this. Claims are shown only once a key has
//! verified the signature.

use std::path::{Path, PathBuf};

use base64::Engine;

use super::fernet::TOKEN_BASE64;
use super::payload::PayloadKind;
use super::time::IsoTime;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::keys::jws::PublicKey;
use crate::keys::jws_repo;

/// Which public key verified a token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JwsKeyInfo {
    /// File name in the public key directory.
    pub file: String,
    /// SHA-256 of the SubjectPublicKeyInfo DER, hex.
    pub fingerprint: String,
}

/// The public keys of one directory.
#[derive(Debug)]
pub struct JwsVerifier {
    path: PathBuf,
    keys: Vec<(JwsKeyInfo, PublicKey)>,
}

/// Keystone's claims (`JWSFormatter.create_token`), with times as keystone shows them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JwsClaims {
    /// What the claims amount to, named like the Fernet payload versions.
    #[serde(rename = "type")]
    pub kind: PayloadKind,
    /// `sub`.
    pub user_id: String,
    /// `openstack_methods`.
    pub methods: Vec<String>,
    /// `openstack_system`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// `openstack_domain_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain_id: Option<String>,
    /// `openstack_project_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// `openstack_trust_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_id: Option<String>,
    /// `openstack_group_ids` (a list of `{"id": ...}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub federated_group_ids: Option<serde_json::Value>,
    /// `openstack_idp_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_provider_id: Option<String>,
    /// `openstack_protocol_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_id: Option<String>,
    /// `openstack_access_token_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_id: Option<String>,
    /// `openstack_app_cred_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_cred_id: Option<String>,
    /// `openstack_thumbprint`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbprint: Option<String>,
    /// `iat`.
    pub issued_at: IsoTime,
    /// `exp`.
    pub expires_at: IsoTime,
    /// `openstack_audit_ids`.
    pub audit_ids: Vec<String>,
}

#[derive(serde::Deserialize)]
struct RawClaims {
    sub: String,
    iat: f64,
    exp: f64,
    openstack_methods: Vec<String>,
    openstack_audit_ids: Vec<String>,
    openstack_system: Option<String>,
    openstack_domain_id: Option<String>,
    openstack_project_id: Option<String>,
    openstack_trust_id: Option<String>,
    openstack_group_ids: Option<serde_json::Value>,
    openstack_idp_id: Option<String>,
    openstack_protocol_id: Option<String>,
    openstack_access_token_id: Option<String>,
    openstack_app_cred_id: Option<String>,
    openstack_thumbprint: Option<String>,
}

#[derive(serde::Deserialize)]
struct Header {
    alg: String,
}

/// Why a JWS token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwsError {
    /// Not a compact JWS (three base64 parts, JSON header).
    Malformed(String),
    /// Signed with something other than ES256.
    Algorithm(String),
    /// No public key verifies the signature.
    BadSignature,
    /// Verified, but the claims are not keystone's.
    BadClaims(String),
}

impl std::fmt::Display for JwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwsError::Malformed(why) => write!(f, "not a JWS token: {why}"),
            JwsError::Algorithm(alg) => write!(
                f,
                "signed with {alg:?}; keystone accepts only ES256 (jws_accepted_algorithms)"
            ),
            JwsError::BadSignature => f.write_str("the signature does not verify"),
            JwsError::BadClaims(why) => write!(
                f,
                "the signature verifies but the claims are not keystone's: {why}"
            ),
        }
    }
}

fn part(text: &[u8], name: &str) -> std::result::Result<Vec<u8>, JwsError> {
    TOKEN_BASE64
        .decode(text)
        .map_err(|_| JwsError::Malformed(format!("the {name} is not URL-safe base64")))
}

fn time(t: f64, name: &str) -> std::result::Result<IsoTime, JwsError> {
    IsoTime::from_float(t).ok_or_else(|| {
        JwsError::BadClaims(format!(
            "{name} {t} is not a time between the years 1 and 9999"
        ))
    })
}

fn kind_of(c: &RawClaims) -> PayloadKind {
    use PayloadKind::*;
    if c.openstack_trust_id.is_some() {
        TrustScoped
    } else if c.openstack_app_cred_id.is_some() {
        ApplicationCredentialScoped
    } else if c.openstack_thumbprint.is_some() {
        Oauth2CredentialsScoped
    } else if c.openstack_access_token_id.is_some() {
        OauthScoped
    } else if c.openstack_idp_id.is_some() {
        match (&c.openstack_project_id, &c.openstack_domain_id) {
            (Some(_), _) => FederatedProjectScoped,
            (None, Some(_)) => FederatedDomainScoped,
            _ => FederatedUnscoped,
        }
    } else if c.openstack_system.is_some() {
        SystemScoped
    } else if c.openstack_project_id.is_some() {
        ProjectScoped
    } else if c.openstack_domain_id.is_some() {
        DomainScoped
    } else {
        Unscoped
    }
}

impl JwsVerifier {
    /// Loads every public key of `dir` (any file that is not a P-256 public key is an error,
    /// as keystone fails on it too).
    pub fn load(dir: &Path) -> Result<Self> {
        let meta = std::fs::metadata(dir).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                Error::RepositoryMissing(dir.to_path_buf())
            } else {
                fsutil::io_err("inspect", dir)(source)
            }
        })?;
        if !meta.is_dir() {
            return Err(Error::NotADirectory(dir.to_path_buf()));
        }
        let keys: Vec<_> = jws_repo::public_set(dir)?
            .into_iter()
            .map(|(file, key)| {
                let fingerprint = key.fingerprint();
                (JwsKeyInfo { file, fingerprint }, key)
            })
            .collect();
        if keys.is_empty() {
            return Err(Error::NoKeys {
                path: dir.to_path_buf(),
                what: crate::error::KeySetKind::JwsPublic,
            });
        }
        Ok(JwsVerifier {
            path: dir.to_path_buf(),
            keys,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The public key file names.
    pub fn key_names(&self) -> String {
        self.keys
            .iter()
            .map(|(info, _)| info.file.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Verifies one compact JWS token and decodes keystone's claims.
    pub fn verify(&self, token: &[u8]) -> std::result::Result<(&JwsKeyInfo, JwsClaims), JwsError> {
        let mut parts = token.split(|&b| b == b'.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            let n = token.split(|&b| b == b'.').count();
            return Err(JwsError::Malformed(format!(
                "a JWS token has three parts separated by '.', this one {n}"
            )));
        };
        let header: Header = serde_json::from_slice(&part(header, "header")?).map_err(|e| {
            JwsError::Malformed(format!("the header is not JSON with \"alg\": {e}"))
        })?;
        if header.alg != "ES256" {
            return Err(JwsError::Algorithm(header.alg));
        }
        let signature = part(signature, "signature")?;
        if signature.len() != 64 {
            return Err(JwsError::Malformed(format!(
                "an ES256 signature has 64 bytes, this one {}",
                signature.len()
            )));
        }
        let signed = &token[..header_and_claims_len(token)];
        let (info, _) = self
            .keys
            .iter()
            .find(|(_, key)| key.verify(signed, &signature))
            .ok_or(JwsError::BadSignature)?;
        let raw: RawClaims = serde_json::from_slice(&part(claims, "claims")?)
            .map_err(|e| JwsError::BadClaims(e.to_string()))?;
        let claims = JwsClaims {
            kind: kind_of(&raw),
            issued_at: time(raw.iat, "iat")?,
            expires_at: time(raw.exp, "exp")?,
            user_id: raw.sub,
            methods: raw.openstack_methods,
            system: raw.openstack_system,
            domain_id: raw.openstack_domain_id,
            project_id: raw.openstack_project_id,
            trust_id: raw.openstack_trust_id,
            federated_group_ids: raw.openstack_group_ids,
            identity_provider_id: raw.openstack_idp_id,
            protocol_id: raw.openstack_protocol_id,
            access_token_id: raw.openstack_access_token_id,
            app_cred_id: raw.openstack_app_cred_id,
            thumbprint: raw.openstack_thumbprint,
            audit_ids: raw.openstack_audit_ids,
        };
        Ok((info, claims))
    }
}

/// Length of `header.claims`, the signing input (everything before the last '.').
fn header_and_claims_len(token: &[u8]) -> usize {
    token.iter().rposition(|&b| b == b'.').unwrap_or(0)
}

#[cfg(test)]
#[path = "jws_tests.rs"]
mod tests;
