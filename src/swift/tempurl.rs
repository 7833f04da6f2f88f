//! TempURLs: Swift's tempurl signature over `METHOD\nEXPIRES\nPATH`, object URLs, and the
//! Temp-URL-Key they are signed with.
//!
//! Invariants: the signature covers the *decoded* path while the URL carries the
//! percent-encoded one (`swift tempurl` gets this wrong for names with spaces or non-ASCII);
//! hex signatures are lowercase; an existing key (container or account, `-Key` or `-Key-2`)
//! is never overwritten, because every URL already signed with it would stop working.

use std::fmt;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;

use super::SwiftError;
use super::client::Swift;
pub use super::http::percent_encode;
use super::http::{Reply, container_url, expect};
use super::secret::Secret;
use crate::error::{Error, Result};

/// HMAC digest of the signature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Digest {
    /// HMAC-SHA256, 64 hex characters (default; Swift's default `allowed_digests` has it).
    #[default]
    Sha256,
    /// HMAC-SHA512, 128 hex characters.
    Sha512,
    /// HMAC-SHA1, 40 hex characters: only for Ceph RGW, which may accept nothing else.
    Sha1,
}

impl Digest {
    fn algorithm(self) -> hmac::Algorithm {
        match self {
            Digest::Sha256 => hmac::HMAC_SHA256,
            Digest::Sha512 => hmac::HMAC_SHA512,
            Digest::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        }
    }

    /// Lowercase name, as in `--temp-url-digest`.
    pub fn name(self) -> &'static str {
        match self {
            Digest::Sha256 => "sha256",
            Digest::Sha512 => "sha512",
            Digest::Sha1 => "sha1",
        }
    }

    /// The digest of an existing signature, as Swift infers it: `<name>:<base64>`, or by the
    /// length of the hex form.
    pub(crate) fn of_signature(sig: &str) -> Option<Digest> {
        match sig.split_once(':') {
            Some(("sha1", _)) => Some(Digest::Sha1),
            Some(("sha256", _)) => Some(Digest::Sha256),
            Some(("sha512", _)) => Some(Digest::Sha512),
            Some(_) => None,
            None => match sig.len() {
                40 => Some(Digest::Sha1),
                64 => Some(Digest::Sha256),
                128 => Some(Digest::Sha512),
                _ => None,
            },
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `HMAC(key, "METHOD\nEXPIRES\nPATH")` as lowercase hex, exactly as Swift's
/// `swift.common.digest.get_hmac` computes it. `path` is the decoded path
/// (`/v1/AUTH_x/container/object`); the key is used as its UTF-8 bytes.
pub fn sign(digest: Digest, key: &Secret, method: &str, expires: u64, path: &str) -> Secret {
    let key = hmac::Key::new(digest.algorithm(), key.expose().as_bytes());
    let message = format!("{method}\n{expires}\n{path}");
    Secret::new(hex(hmac::sign(&key, message.as_bytes()).as_ref()))
}

pub use crate::encoding::hex;

/// Decodes `%XX` escapes; `None` when an escape is malformed or the result is not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    // The crate keeps a malformed escape as it is; a URL holding one is refused instead.
    let malformed = s.split('%').skip(1).any(|escape| {
        let digits = escape.as_bytes();
        digits.len() < 2 || !digits[..2].iter().all(u8::is_ascii_hexdigit)
    });
    if malformed {
        return None;
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

/// The path of an absolute URL (without query or fragment), still encoded.
pub(crate) fn url_path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    path.split(['?', '#']).next().unwrap_or("")
}

/// A signed TempURL. `Debug` shows it with the signature redacted; [`TempUrl::expose`] gives
/// the bearer URL itself.
#[derive(Clone)]
pub struct TempUrl {
    base: String,
    expires: u64,
    digest: Digest,
    sig: Secret,
}

impl TempUrl {
    /// Signs a GET URL (which also allows HEAD) for `container/object` under `account_url`
    /// (the storage URL, `.../v1/AUTH_x`), valid until `expires` (Unix time).
    pub fn sign(
        account_url: &str,
        container: &str,
        object: &str,
        key: &Secret,
        digest: Digest,
        expires: u64,
    ) -> Result<TempUrl> {
        let account_url = account_url.trim_end_matches('/');
        let account_path =
            percent_decode(url_path(account_url)).ok_or_else(|| SwiftError::InvalidOption {
                name: "storage URL",
                value: account_url.to_string(),
                reason: "its path has a malformed percent-escape".into(),
                fix: "pass a valid --os-storage-url".into(),
            })?;
        let path = format!("{account_path}/{container}/{object}");
        Ok(TempUrl {
            base: format!(
                "{account_url}/{}/{}",
                percent_encode(container),
                percent_encode(object)
            ),
            expires,
            digest,
            sig: sign(digest, key, "GET", expires, &path),
        })
    }

    /// The URL with its signature: a bearer credential for the object until it expires.
    pub fn expose(&self) -> String {
        format!(
            "{}?temp_url_sig={}&temp_url_expires={}",
            self.base,
            self.sig.expose(),
            self.expires
        )
    }

    /// The URL with the signature replaced by `[redacted]`, for people and logs.
    pub fn redacted(&self) -> String {
        format!(
            "{}?temp_url_sig=[redacted]&temp_url_expires={}",
            self.base, self.expires
        )
    }

    /// Expiry, Unix time.
    pub fn expires(&self) -> u64 {
        self.expires
    }

    /// The digest it is signed with.
    pub fn digest(&self) -> Digest {
        self.digest
    }
}

impl fmt::Debug for TempUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A URL as found in an env file, split into what re-signing needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedUrl {
    /// Storage URL of the account (`https://host:13808/v1/AUTH_x`).
    pub account_url: String,
    /// Container (decoded).
    pub container: String,
    /// Object (decoded; may hold `/`).
    pub object: String,
    /// `temp_url_expires`, when it is a TempURL.
    pub expires: Option<u64>,
    /// The digest of `temp_url_sig`, when it is a TempURL with a recognisable signature.
    pub digest: Option<Digest>,
}

/// Splits a Swift object URL. `account_url` is the storage URL when known (exact for any
/// layout, e.g. RGW's `/swift/v1`); otherwise the account is the segment after `v1`.
pub(crate) fn parse_url(url: &str, account_url: Option<&str>) -> Option<ParsedUrl> {
    let (without_query, query) = url.split_once('?').unwrap_or((url, ""));
    let (account, rest) = match account_url.map(|a| a.trim_end_matches('/')) {
        Some(a) if without_query.starts_with(&format!("{a}/")) => {
            (a.to_string(), &without_query[a.len() + 1..])
        }
        _ => {
            let path = url_path(without_query);
            let origin = &without_query[..without_query.len() - path.len()];
            let segments: Vec<&str> = path.split('/').collect();
            let v1 = segments.iter().position(|s| *s == "v1")?;
            if segments.len() < v1 + 4 {
                return None;
            }
            let account = format!("{origin}{}", segments[..v1 + 2].join("/"));
            let rest = &without_query[account.len() + 1..];
            (account, rest)
        }
    };
    let (container, object) = rest.split_once('/')?;
    if container.is_empty() || object.is_empty() {
        return None;
    }
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    Some(ParsedUrl {
        account_url: account,
        container: percent_decode(container)?,
        object: percent_decode(object)?,
        expires: param("temp_url_expires").and_then(|e| e.parse().ok()),
        digest: param("temp_url_sig").and_then(Digest::of_signature),
    })
}

/// Where the key that signs the URLs came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeySource {
    /// `X-Container-Meta-Temp-URL-Key`.
    Container,
    /// `X-Container-Meta-Temp-URL-Key-2`.
    Container2,
    /// `X-Account-Meta-Temp-URL-Key`.
    Account,
    /// `X-Account-Meta-Temp-URL-Key-2`.
    Account2,
    /// None existed: a random key was generated and set on the container.
    Created,
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeySource::Container => "the container's Temp-URL-Key",
            KeySource::Container2 => "the container's Temp-URL-Key-2",
            KeySource::Account => "the account's Temp-URL-Key",
            KeySource::Account2 => "the account's Temp-URL-Key-2",
            KeySource::Created => "a new random Temp-URL-Key set on the container",
        })
    }
}

const CONTAINER_KEY: &str = "x-container-meta-temp-url-key";
const CONTAINER_KEY_2: &str = "x-container-meta-temp-url-key-2";
const ACCOUNT_KEY: &str = "x-account-meta-temp-url-key";
const ACCOUNT_KEY_2: &str = "x-account-meta-temp-url-key-2";

fn header_key(reply: &Reply, name: &str) -> Option<Secret> {
    reply
        .header(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(Secret::new)
}

/// The container's key (`-Key` before `-Key-2`) from a container HEAD.
pub fn container_key(head: &Reply) -> Option<(Secret, KeySource)> {
    header_key(head, CONTAINER_KEY)
        .map(|k| (k, KeySource::Container))
        .or_else(|| header_key(head, CONTAINER_KEY_2).map(|k| (k, KeySource::Container2)))
}

/// The account's key (`-Key` before `-Key-2`) from an account HEAD.
pub(crate) fn account_key(head: &Reply) -> Option<(Secret, KeySource)> {
    header_key(head, ACCOUNT_KEY)
        .map(|k| (k, KeySource::Account))
        .or_else(|| header_key(head, ACCOUNT_KEY_2).map(|k| (k, KeySource::Account2)))
}

/// The key to sign with: the container's before the account's (Swift accepts either).
/// A container key authorizes only its own container, an account key the whole account.
pub(crate) fn pick_key(container: &Reply, account: Option<&Reply>) -> Option<(Secret, KeySource)> {
    container_key(container).or_else(|| account.and_then(account_key))
}

/// Whether the URLs for objects in this container will be signed with an account key
/// (none on the container, one on the account): only then may a static large object's
/// segments live in another container.
pub(crate) fn signs_with_account_key(
    swift: &mut Swift,
    account_url: &str,
    container_head: Option<&Reply>,
) -> Result<bool> {
    if container_head.and_then(container_key).is_some() {
        return Ok(false);
    }
    let head = swift.request("HEAD", account_url, &[], None)?;
    Ok(head.status / 100 == 2 && account_key(&head).is_some())
}

/// 32 random bytes as 64 hex characters (the key is used as text, like `openssl rand -hex 32`).
pub(crate) fn generate_key() -> Result<Secret> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    SystemRandom::new().fill(bytes.as_mut()).map_err(|_| {
        crate::error::Error::Unsupported("the system random generator failed".into())
    })?;
    Ok(Secret::new(hex(bytes.as_ref())))
}

/// The key for `container`: an existing one (never replaced), else a new random key set on
/// the container. The new key is read back, so a concurrent uploader's key wins for both.
pub(crate) fn ensure_key(
    swift: &mut Swift,
    account_url: &str,
    container: &str,
) -> Result<(Secret, KeySource)> {
    let url = container_url(account_url, container);
    let head = expect(
        swift.request("HEAD", &url, &[], None)?,
        "HEAD",
        &url,
        &[200, 204],
    )?;
    if let Some(found) = pick_key(&head, None) {
        return Ok(found);
    }
    let account = swift.request("HEAD", account_url, &[], None)?;
    let account = (account.status / 100 == 2).then_some(account);
    if let Some(found) = pick_key(&head, account.as_ref()) {
        return Ok(found);
    }
    let key = generate_key()?;
    let reply = swift.request(
        "POST",
        &url,
        &[("X-Container-Meta-Temp-URL-Key", key.expose())],
        None,
    )?;
    expect(reply, "POST", &url, &[200, 202, 204])?;
    let head = expect(
        swift.request("HEAD", &url, &[], None)?,
        "HEAD",
        &url,
        &[200, 204],
    )?;
    match pick_key(&head, None) {
        Some((found, _)) if found == key => Ok((found, KeySource::Created)),
        Some(found) => Ok(found),
        None => Err(SwiftError::TempUrlKey {
            container: container.into(),
            reason: "Swift did not keep the key set on the container (only an account owner may set or see Temp-URL-Key)".into(),
        }
        .into()),
    }
}

/// Current Unix time, seconds.
pub use crate::clock::now;

/// Unix time as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub use crate::token::time::utc as format_utc;

/// A request to a TempURL, without the token (as a node makes it). Errors name the URL
/// with its signature redacted.
pub(crate) fn fetch(
    swift: &Swift,
    method: &str,
    url: &super::tempurl::TempUrl,
    headers: &[(&str, &str)],
) -> Result<Reply> {
    swift
        .http()
        .send("Swift", method, &url.expose(), headers, None)
        .map_err(|err| shown_as(err, url.redacted()))
}

/// `err` naming `shown` instead of the URL it was sent to (a TempURL's signature is a
/// bearer credential: never in a message).
pub(crate) fn shown_as(err: Error, shown: String) -> Error {
    match err {
        Error::Swift(SwiftError::Unreachable {
            service,
            attempts,
            last,
            ..
        }) => SwiftError::Unreachable {
            service,
            url: shown,
            attempts,
            last,
        }
        .into(),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const PATH: &str = "/v1/AUTH_test/overcloud-artifacts/overcloud-keys-1a2b3c4d5e6f.tar.gz";

    // Expected values from Python:
    //   hmac.new(KEY.encode(), b"GET\n1700000000\n" + PATH.encode(), hashlib.<d>).hexdigest()
    #[test]
    fn sha256_known_answer() {
        let sig = sign(
            Digest::Sha256,
            &Secret::new(KEY),
            "GET",
            1_700_000_000,
            PATH,
        );
        assert_eq!(
            sig.expose(),
            "ec60662bc43d0a5ab29268d94cecea38bb30b719fab1ec27b8720027b2bd0027"
        );
    }

    #[test]
    fn sha512_known_answer() {
        let sig = sign(
            Digest::Sha512,
            &Secret::new(KEY),
            "GET",
            1_700_000_000,
            PATH,
        );
        assert_eq!(
            sig.expose(),
            "89a91c23429f264b541f6b5560ec69479a5f31bffab8a63aee35a2ead638091e6f0e1617d103d1744071572fb34d8225688f415983b1575c7e3c1d119638e53f"
        );
    }

    #[test]
    fn sha1_known_answer() {
        let sig = sign(Digest::Sha1, &Secret::new(KEY), "GET", 1_700_000_000, PATH);
        assert_eq!(sig.expose(), "f31557fc3122ff2c1553de58a79843a6923e760f");
    }

    #[test]
    fn signature_length_tells_the_digest() {
        for digest in [Digest::Sha1, Digest::Sha256, Digest::Sha512] {
            let sig = sign(digest, &Secret::new("k"), "GET", 1, "/v1/a/c/o");
            assert_eq!(Digest::of_signature(sig.expose()), Some(digest));
            assert!(
                sig.expose()
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
            );
        }
        assert_eq!(Digest::of_signature("sha512:AAAA"), Some(Digest::Sha512));
        assert_eq!(Digest::of_signature("abc"), None);
    }

    // hmac.new(b"secret", "GET\n1700000000\n/v1/AUTH_test/my artifacts/clé 1.tar.gz".encode(),
    //          hashlib.sha256).hexdigest(); urllib.parse.quote(path) for the URL.
    #[test]
    fn signs_the_decoded_path_and_encodes_the_url() {
        let url = TempUrl::sign(
            "http://127.0.0.1:8080/v1/AUTH_test",
            "my artifacts",
            "clé 1.tar.gz",
            &Secret::new("secret"),
            Digest::Sha256,
            1_700_000_000,
        )
        .unwrap();
        assert_eq!(
            url.expose(),
            "http://127.0.0.1:8080/v1/AUTH_test/my%20artifacts/cl%C3%A9%201.tar.gz?temp_url_sig=7bd63b46ea9bb43792f6a33ca63a2a5d5ec0a0114e1d9b84184c699409c98164&temp_url_expires=1700000000"
        );
        assert!(!format!("{url:?}").contains("7bd63b"));
        assert!(url.redacted().contains("temp_url_sig=[redacted]"));
    }

    #[test]
    fn percent_encoding_matches_python_quote() {
        assert_eq!(percent_encode("a b/c"), "a%20b/c");
        assert_eq!(percent_encode("clé"), "cl%C3%A9");
        assert_eq!(
            percent_encode("a&b=c?d#e'f+g%"),
            "a%26b%3Dc%3Fd%23e%27f%2Bg%25"
        );
        assert_eq!(percent_encode("AZaz09-._~"), "AZaz09-._~");
        assert_eq!(percent_decode("cl%C3%A9%201").as_deref(), Some("clé 1"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        for s in ["plain", "with space", "ünïcödé/名前", "100%"] {
            assert_eq!(percent_decode(&percent_encode(s)).as_deref(), Some(s));
        }
    }

    #[test]
    fn parses_urls_back() {
        let url = "https://h:13808/v1/AUTH_x/c%20d/dir/o%C3%A9-1a2b3c4d5e6f.tar.gz?temp_url_sig=f31557fc3122ff2c1553de58a79843a6923e760f&temp_url_expires=42";
        let parsed = parse_url(url, None).unwrap();
        assert_eq!(parsed.account_url, "https://h:13808/v1/AUTH_x");
        assert_eq!(parsed.container, "c d");
        assert_eq!(parsed.object, "dir/oé-1a2b3c4d5e6f.tar.gz");
        assert_eq!(parsed.expires, Some(42));
        assert_eq!(parsed.digest, Some(Digest::Sha1));
        // RGW without an account segment: only the known storage URL can split it.
        let rgw = "http://rgw/swift/v1/c/o?temp_url_expires=1";
        let parsed = parse_url(rgw, Some("http://rgw/swift/v1")).unwrap();
        assert_eq!(
            (parsed.container.as_str(), parsed.object.as_str()),
            ("c", "o")
        );
        assert_eq!(parse_url("http://h/v1/AUTH_x/c", None), None);
    }

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn generated_keys_are_64_hex_and_differ() {
        let a = generate_key().unwrap();
        let b = generate_key().unwrap();
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
