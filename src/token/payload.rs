//! The decrypted Fernet payload: keystone 30's eleven payload versions, decoded into the
//! fields keystone's own validation returns (`TokenFormatter.validate_token`).
//!
//! Layout (keystone `token_formatters.py`): a msgpack array `[version, user_id, methods, ...]`.
//! Ids are `[is_uuid, value]` pairs, the value 16 raw UUID bytes shown as 32 lowercase hex, or
//! text; the domain of a domain-scoped token and the trust id are bare values instead. Audit
//! ids are raw bytes shown as URL-safe base64 without padding; `expires_at` is a float Unix
//! time; `methods` a bitmask over the `[auth] methods` list. Elements beyond those a version
//! defines are ignored, as keystone ignores them.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::msgpack::{ReadError, Reader};
use super::time::IsoTime;

/// Keystone 30's default `[auth] methods`, in order: method `i` is bit `1 << i`.
pub const DEFAULT_AUTH_METHODS: [&str; 7] = [
    "external",
    "password",
    "token",
    "oauth1",
    "mapped",
    "application_credential",
    "ec2credential",
];

/// An identifier from a payload: 16 raw UUID bytes or text (LDAP ids, the `default` domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Id {
    /// Stored as bytes; keystone shows `uuid.UUID(bytes=...).hex`.
    Uuid([u8; 16]),
    /// Stored as text.
    Text(String),
}

impl Id {
    /// Appends the id as keystone shows it (ids are most of what `token inspect` prints, so
    /// this skips `fmt`).
    pub(crate) fn push_to(&self, out: &mut String) {
        match self {
            Id::Uuid(bytes) => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let mut hex = [0u8; 32];
                for (i, b) in bytes.iter().enumerate() {
                    hex[2 * i] = HEX[usize::from(b >> 4)];
                    hex[2 * i + 1] = HEX[usize::from(b & 0xf)];
                }
                out.push_str(std::str::from_utf8(&hex).expect("hex is ASCII"));
            }
            Id::Text(text) => out.push_str(text),
        }
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::with_capacity(32);
        self.push_to(&mut text);
        f.write_str(&text)
    }
}

impl serde::Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An audit id: raw bytes in the payload, shown as URL-safe base64 without padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditId {
    /// Keystone's own: 16 random bytes (22 characters).
    Random([u8; 16]),
    /// Any other length (never written by keystone 30, shown all the same).
    Other(Vec<u8>),
}

impl AuditId {
    /// The raw bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            AuditId::Random(raw) => raw,
            AuditId::Other(raw) => raw,
        }
    }

    /// Appends the id as keystone shows it.
    pub(crate) fn push_to(&self, out: &mut String) {
        URL_SAFE_NO_PAD.encode_string(self.bytes(), out);
    }
}

impl fmt::Display for AuditId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::with_capacity(24);
        self.push_to(&mut text);
        f.write_str(&text)
    }
}

impl serde::Serialize for AuditId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The payload versions keystone 30 emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PayloadKind {
    /// 0: no scope.
    Unscoped,
    /// 1: domain scope.
    DomainScoped,
    /// 2: project scope.
    ProjectScoped,
    /// 3: trust (project scope through a trust).
    TrustScoped,
    /// 4: federated, unscoped.
    FederatedUnscoped,
    /// 5: federated, project scope.
    FederatedProjectScoped,
    /// 6: federated, domain scope.
    FederatedDomainScoped,
    /// 7: OAuth1 access token.
    OauthScoped,
    /// 8: system scope.
    SystemScoped,
    /// 9: application credential.
    ApplicationCredentialScoped,
    /// 10: OAuth2 mTLS client credentials.
    Oauth2CredentialsScoped,
}

impl PayloadKind {
    fn from_version(version: i64) -> Option<Self> {
        use PayloadKind::*;
        Some(match version {
            0 => Unscoped,
            1 => DomainScoped,
            2 => ProjectScoped,
            3 => TrustScoped,
            4 => FederatedUnscoped,
            5 => FederatedProjectScoped,
            6 => FederatedDomainScoped,
            7 => OauthScoped,
            8 => SystemScoped,
            9 => ApplicationCredentialScoped,
            10 => Oauth2CredentialsScoped,
            _ => return None,
        })
    }
}

impl PayloadKind {
    /// The kebab-case name used in text and JSON output.
    pub fn name(self) -> &'static str {
        use PayloadKind::*;
        match self {
            Unscoped => "unscoped",
            DomainScoped => "domain-scoped",
            ProjectScoped => "project-scoped",
            TrustScoped => "trust-scoped",
            FederatedUnscoped => "federated-unscoped",
            FederatedProjectScoped => "federated-project-scoped",
            FederatedDomainScoped => "federated-domain-scoped",
            OauthScoped => "oauth-scoped",
            SystemScoped => "system-scoped",
            ApplicationCredentialScoped => "application-credential-scoped",
            Oauth2CredentialsScoped => "oauth2-credentials-scoped",
        }
    }
}

impl fmt::Display for PayloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The `[auth] methods` list that gives the bitmask its meaning.
#[derive(Debug, Clone)]
pub struct MethodMap(Vec<Arc<str>>);

impl Default for MethodMap {
    fn default() -> Self {
        MethodMap::new(DEFAULT_AUTH_METHODS)
    }
}

impl MethodMap {
    /// A map from a deployment's `[auth] methods` (at most 62 are meaningful).
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        MethodMap(
            names
                .into_iter()
                .take(62)
                .map(|n| n.as_ref().into())
                .collect(),
        )
    }

    /// The names keystone shows for a bitmask (`convert_integer_to_method_list`): it walks the
    /// bits from the highest, keeping a method when the remainder divided by its bit is exactly
    /// 1, so bits beyond the list hide the methods below them, as they do in keystone.
    pub fn names(&self, bitmask: i64) -> Vec<Arc<str>> {
        let mut rest = i128::from(bitmask);
        let mut out = Vec::new();
        for (i, name) in self.0.iter().enumerate().rev() {
            let bit = 1i128 << i;
            // `int(rest / bit) == 1` in keystone, without a division.
            if rest >= bit && rest < 2 * bit {
                out.push(name.clone());
                rest -= bit;
            }
        }
        out
    }
}

/// A decoded payload, field names as in keystone's `validate_token`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Payload {
    /// Payload version (0-10).
    pub version: u8,
    /// What the version means.
    #[serde(rename = "type")]
    pub kind: PayloadKind,
    /// The user.
    pub user_id: Id,
    /// Method names from the bitmask.
    #[serde(serialize_with = "names")]
    pub methods: Vec<Arc<str>>,
    /// The raw methods bitmask.
    pub methods_bitmask: i64,
    /// System scope (`all`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Domain scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain_id: Option<Id>,
    /// Project scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Id>,
    /// Trust in effect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_id: Option<Id>,
    /// Federated group ids (JSON: `[{"id": ...}]`, as keystone returns them).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "groups")]
    pub federated_group_ids: Option<Vec<Id>>,
    /// Federated identity provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_provider_id: Option<Id>,
    /// Federated protocol.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_id: Option<String>,
    /// OAuth1 access token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_id: Option<Id>,
    /// Application credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_cred_id: Option<Id>,
    /// OAuth2 mTLS certificate thumbprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbprint: Option<String>,
    /// Expiry.
    pub expires_at: IsoTime,
    /// Audit ids (the first is this token's, a second one its parent chain's).
    pub audit_ids: Vec<AuditId>,
}

fn names<S: serde::Serializer>(names: &[Arc<str>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(names.iter().map(|n| &**n))
}

fn groups<S: serde::Serializer>(ids: &Option<Vec<Id>>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(serde::Serialize)]
    struct Group<'a> {
        id: &'a Id,
    }
    s.collect_seq(ids.iter().flatten().map(|id| Group { id }))
}

/// Why a decrypted payload is not one keystone would accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// Not the msgpack shape keystone writes.
    Malformed(String),
    /// A version keystone 30 does not know.
    UnknownVersion(i64),
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadError::Malformed(m) => f.write_str(m),
            PayloadError::UnknownVersion(v) => write!(
                f,
                "payload version {v} is not one keystone 30 writes (0 to 10)"
            ),
        }
    }
}

impl From<ReadError> for PayloadError {
    fn from(e: ReadError) -> Self {
        PayloadError::Malformed(format!("{}: found {}", e.field, e.found))
    }
}

fn malformed(field: &str, why: &str) -> PayloadError {
    PayloadError::Malformed(format!("{field}: {why}"))
}

fn text(bytes: &[u8], field: &'static str) -> Result<String, PayloadError> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| malformed(field, "not UTF-8 text"))
}

fn uuid(bytes: &[u8], field: &'static str) -> Result<[u8; 16], PayloadError> {
    bytes
        .try_into()
        .map_err(|_| malformed(field, &format!("{} bytes, a UUID has 16", bytes.len())))
}

/// Reads keystone's `[is_uuid, value]` pair; `[false, nil]` (an absent optional id) is `None`.
fn id_pair(r: &mut Reader<'_>, field: &'static str) -> Result<Option<Id>, PayloadError> {
    if r.array(field)? < 2 {
        return Err(malformed(field, "expected an [is_uuid, id] pair"));
    }
    let is_uuid = r.boolean(field)?;
    if r.nil() {
        return Ok(None);
    }
    let value = r.bytes(field)?;
    Ok(Some(if is_uuid {
        Id::Uuid(uuid(value, field)?)
    } else {
        Id::Text(text(value, field)?)
    }))
}

fn required_id(r: &mut Reader<'_>, field: &'static str) -> Result<Id, PayloadError> {
    id_pair(r, field)?.ok_or_else(|| malformed(field, "missing"))
}

fn expires(r: &mut Reader<'_>) -> Result<IsoTime, PayloadError> {
    let t = r.float("expires_at")?;
    IsoTime::from_float(t).ok_or_else(|| {
        malformed(
            "expires_at",
            &format!("{t} is not a time between the years 1 and 9999"),
        )
    })
}

fn audit_ids(r: &mut Reader<'_>) -> Result<Vec<AuditId>, PayloadError> {
    let n = r.array("audit_ids")?;
    let mut out = Vec::with_capacity(n.min(4) as usize);
    for _ in 0..n {
        let bytes = r.bytes("audit_ids")?;
        out.push(match <[u8; 16]>::try_from(bytes) {
            Ok(raw) => AuditId::Random(raw),
            Err(_) => AuditId::Other(bytes.to_vec()),
        });
    }
    Ok(out)
}

fn group_ids(r: &mut Reader<'_>) -> Result<Vec<Id>, PayloadError> {
    let n = r.array("federated_group_ids")?;
    let mut out = Vec::with_capacity(n.min(16) as usize);
    for _ in 0..n {
        out.push(required_id(r, "federated_group_ids")?);
    }
    Ok(out)
}

fn optional_text(r: &mut Reader<'_>, field: &'static str) -> Result<Option<String>, PayloadError> {
    if r.nil() {
        return Ok(None);
    }
    Ok(Some(text(r.bytes(field)?, field)?))
}

/// How many elements a payload of `kind` has (fewer is malformed).
fn elements(kind: PayloadKind) -> u32 {
    use PayloadKind::*;
    match kind {
        Unscoped => 5,
        DomainScoped | ProjectScoped | SystemScoped => 6,
        TrustScoped | OauthScoped | ApplicationCredentialScoped => 7,
        FederatedUnscoped | Oauth2CredentialsScoped => 8,
        FederatedProjectScoped | FederatedDomainScoped => 9,
    }
}

/// Reads the scope fields `kind` carries after the methods (domain, project, system,
/// OAuth access token).
fn read_scope(r: &mut Reader<'_>, kind: PayloadKind, p: &mut Payload) -> Result<(), PayloadError> {
    use PayloadKind::*;
    match kind {
        Unscoped => {}
        DomainScoped => {
            // A bare value: UUID bytes, or the (configurable, non-UUID) default domain id.
            let value = r.bytes("domain_id")?;
            p.domain_id = Some(match <[u8; 16]>::try_from(value) {
                Ok(bytes) => Id::Uuid(bytes),
                Err(_) => Id::Text(text(value, "domain_id")?),
            });
        }
        ProjectScoped | TrustScoped | ApplicationCredentialScoped => {
            p.project_id = id_pair(r, "project_id")?;
        }
        FederatedUnscoped => {}
        FederatedProjectScoped => p.project_id = id_pair(r, "project_id")?,
        FederatedDomainScoped => p.domain_id = id_pair(r, "domain_id")?,
        OauthScoped => {
            p.project_id = id_pair(r, "project_id")?;
            p.access_token_id = id_pair(r, "access_token_id")?;
        }
        SystemScoped => p.system = optional_text(r, "system")?,
        Oauth2CredentialsScoped => {
            p.project_id = id_pair(r, "project_id")?;
            p.domain_id = id_pair(r, "domain_id")?;
        }
    }
    Ok(())
}

/// Reads the fields `kind` carries after the audit ids (trust, application credential,
/// OAuth 2.0 thumbprint).
fn read_trailer(
    r: &mut Reader<'_>,
    kind: PayloadKind,
    p: &mut Payload,
) -> Result<(), PayloadError> {
    use PayloadKind::*;
    match kind {
        TrustScoped => {
            p.trust_id = Some(Id::Uuid(uuid(r.bytes("trust_id")?, "trust_id")?));
        }
        ApplicationCredentialScoped => p.app_cred_id = id_pair(r, "app_cred_id")?,
        Oauth2CredentialsScoped => {
            p.thumbprint = id_pair(r, "thumbprint")?.map(|id| id.to_string());
        }
        _ => {}
    }
    Ok(())
}

/// Decodes a decrypted payload the way keystone 30 does.
pub fn decode(plaintext: &[u8], methods: &MethodMap) -> Result<Payload, PayloadError> {
    use PayloadKind::*;
    let mut r = Reader::new(plaintext);
    let len = r.array("payload")?;
    let version = r.int("version")?;
    let kind = PayloadKind::from_version(version).ok_or(PayloadError::UnknownVersion(version))?;
    let needed = elements(kind);
    if len < needed {
        return Err(PayloadError::Malformed(format!(
            "a version {version} payload has {needed} elements, this one {len}"
        )));
    }
    let user_id = required_id(&mut r, "user_id")?;
    let methods_bitmask = r.int("methods")?;
    let mut p = Payload {
        version: version as u8,
        kind,
        user_id,
        methods: methods.names(methods_bitmask),
        methods_bitmask,
        system: None,
        domain_id: None,
        project_id: None,
        trust_id: None,
        federated_group_ids: None,
        identity_provider_id: None,
        protocol_id: None,
        access_token_id: None,
        app_cred_id: None,
        thumbprint: None,
        expires_at: IsoTime::from_seconds(0).expect("epoch is in range"),
        audit_ids: Vec::new(),
    };
    read_scope(&mut r, kind, &mut p)?;
    if matches!(
        kind,
        FederatedUnscoped | FederatedProjectScoped | FederatedDomainScoped
    ) {
        p.federated_group_ids = Some(group_ids(&mut r)?);
        p.identity_provider_id = id_pair(&mut r, "identity_provider_id")?;
        p.protocol_id = optional_text(&mut r, "protocol_id")?;
    }
    p.expires_at = expires(&mut r)?;
    p.audit_ids = audit_ids(&mut r)?;
    read_trailer(&mut r, kind, &mut p)?;
    Ok(p)
}

#[cfg(test)]
#[path = "payload_tests.rs"]
mod tests;
