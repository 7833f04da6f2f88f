//! `deployment-artifacts.yaml` for Swift: tripleo-common's exact format (rendered by
//! [`crate::heat::render_artifacts`]), merged, refreshed, written atomically with mode 0600
//! (a TempURL is a bearer credential for the artifact).
//!
//! Merge rule: URLs of other artifacts stay, in their order; a URL of an older version of
//! the same artifact (same object name once the `-<12 hex>` content hash is removed) is
//! replaced in place. The file is written only as a whole, so it is never half-written.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_yaml_ng::{Mapping, Value};

use super::SwiftError;
use super::client::Swift;
use super::http::{ConnectOptions, expect, object_url};
use super::tempurl::{self, Digest, TempUrl, format_utc, parse_url, percent_decode};
use super::upload::{check_temp_url, validate_expiry};
use crate::error::{Error, Result};
use crate::fsutil::{self, SECRET_FILE_MODE, WriteAction};
use crate::heat::{self, ArtifactRefs};

/// The first line tripleo-common writes.
const HEADER: &str = "Heat environment to deploy artifacts via Swift Temp URL(s)";
/// The comment of a rendered file with nothing to deliver.
const NOTHING: &str = "Nothing to deliver as an artifact";

/// `~/.tripleo/environments/deployment-artifacts.yaml`, where tripleo-common's
/// upload-swift-artifacts wrote it (tripleoclient loads that directory automatically).
pub fn default_path(home: Option<&Path>) -> Result<PathBuf> {
    let home = home.ok_or_else(|| Error::InvalidValue {
        name: "--env-file",
        value: "(default)".into(),
        reason: "HOME is not set, so ~/.tripleo/environments cannot be found; pass --env-file"
            .into(),
    })?;
    Ok(home.join(".tripleo/environments/deployment-artifacts.yaml"))
}

/// An artifact environment file: its URLs and leading comment lines.
pub struct EnvFile {
    path: PathBuf,
    urls: Vec<String>,
    notes: Vec<String>,
    exists: bool,
}

impl fmt::Debug for EnvFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvFile")
            .field("path", &self.path)
            .field("urls", &format_args!("[{} redacted]", self.urls.len()))
            .field("notes", &self.notes)
            .finish()
    }
}

fn env_error(path: &Path, message: String, fix: &str) -> Error {
    SwiftError::EnvFile {
        path: path.into(),
        message,
        fix: fix.into(),
    }
    .into()
}

const ONLY_URLS: &str = "this file is rewritten by `overcloud-keys upload`: keep only DeployArtifactURLs in it and put other settings in another environment file, or pass another --env-file";

/// The URLs of a parsed artifact environment: refuses anything but a mapping holding
/// only `parameter_defaults` (rewriting the file would drop the rest).
fn urls_in(path: &Path, doc: &Value) -> Result<Vec<String>> {
    Ok(match doc {
        Value::Null => vec![],
        Value::Mapping(top) => {
            only_key(path, top, "holds", "parameter_defaults")?;
            deploy_urls(path, top.get("parameter_defaults"))?
        }
        _ => {
            return Err(env_error(
                path,
                "is not a Heat environment (a YAML mapping)".into(),
                "fix the file or pass another --env-file",
            ));
        }
    })
}

/// Refuses a mapping with any key but `key` (rewriting the file would drop it).
fn only_key(path: &Path, map: &Mapping, verb: &str, key: &str) -> Result<()> {
    match map.keys().find(|k| k.as_str() != Some(key)) {
        Some(other) => Err(env_error(
            path,
            format!("{verb} {} besides {key}", describe(other)),
            ONLY_URLS,
        )),
        None => Ok(()),
    }
}

/// The URLs of `parameter_defaults`: refuses a value that is not a mapping holding only
/// `DeployArtifactURLs`, or URLs that are neither a list nor a comma-separated string.
fn deploy_urls(path: &Path, defaults: Option<&Value>) -> Result<Vec<String>> {
    Ok(match defaults {
        None | Some(Value::Null) => vec![],
        Some(Value::Mapping(params)) => {
            only_key(path, params, "sets", "DeployArtifactURLs")?;
            match params.get("DeployArtifactURLs") {
                None | Some(Value::Null) => vec![],
                Some(value) => url_list(value).ok_or_else(|| {
                    env_error(
                        path,
                        "DeployArtifactURLs is neither a list of URLs nor a comma-separated string"
                            .into(),
                        "fix the file or pass another --env-file",
                    )
                })?,
            }
        }
        Some(_) => {
            return Err(env_error(
                path,
                "parameter_defaults is not a mapping".into(),
                "fix the file or pass another --env-file",
            ));
        }
    })
}

impl EnvFile {
    /// Reads `path` (a missing file is an empty one). Refuses a file holding anything but
    /// `parameter_defaults: DeployArtifactURLs`, since rewriting it would drop the rest.
    pub fn load(path: &Path) -> Result<EnvFile> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(EnvFile {
                    path: path.into(),
                    urls: vec![],
                    notes: vec![],
                    exists: false,
                });
            }
            Err(e) => return Err(fsutil::io_err("read", path)(e)),
        };
        let doc: Value = serde_yaml_ng::from_str(&text).map_err(|e| {
            env_error(
                path,
                format!("not valid YAML: {e}"),
                "fix the file or pass another --env-file",
            )
        })?;
        let urls = urls_in(path, &doc)?;
        let notes = text
            .lines()
            .map_while(|l| l.trim_start().strip_prefix('#'))
            .map(|l| l.strip_prefix(' ').unwrap_or(l).to_string())
            .filter(|l| l != HEADER && !l.starts_with(NOTHING))
            .collect();
        Ok(EnvFile {
            path: path.into(),
            urls,
            notes,
            exists: true,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file existed when loaded.
    pub fn exists(&self) -> bool {
        self.exists
    }

    /// The URLs (bearer credentials: do not print them).
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// Puts `url` in: in place of the URLs of the same artifact (any version), else at the
    /// end. Returns how many URLs it replaced (0 for a new artifact).
    pub(crate) fn merge(&mut self, url: &str) -> usize {
        let key = artifact_key(url);
        let same: Vec<usize> = (0..self.urls.len())
            .filter(|&i| artifact_key(&self.urls[i]) == key)
            .collect();
        match same.first() {
            None => {
                self.urls.push(url.into());
                0
            }
            Some(&first) => {
                let replaced = same.iter().filter(|&&i| self.urls[i] != url).count();
                self.urls[first] = url.into();
                for &i in same[1..].iter().rev() {
                    self.urls.remove(i);
                }
                replaced
            }
        }
    }

    /// The file's text.
    pub fn render(&self) -> Result<String> {
        heat::render_artifacts(&ArtifactRefs::Urls(self.urls.clone()), &self.notes)
    }

    /// Writes the file atomically with mode 0600, unless it already holds exactly this.
    pub fn write(&self) -> Result<WriteAction> {
        let text = zeroize::Zeroizing::new(self.render()?);
        fsutil::create_parents(&self.path)?;
        fsutil::write_if_changed(&self.path, text.as_bytes(), SECRET_FILE_MODE, false)
    }

    /// URLs that expire within `margin` seconds of `now` (already expired included), as
    /// `(index, expires)`; for `build`'s warning and for refresh.
    pub fn expiring(&self, now: u64, margin: u64) -> Vec<(usize, u64)> {
        self.urls
            .iter()
            .enumerate()
            .filter_map(|(i, u)| expiry_of(u).map(|e| (i, e)))
            .filter(|&(_, e)| e <= now.saturating_add(margin))
            .collect()
    }
}

fn describe(key: &Value) -> String {
    key.as_str()
        .map(String::from)
        .unwrap_or_else(|| format!("{key:?}"))
}

fn url_list(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::Sequence(items) => items.iter().map(|v| v.as_str().map(String::from)).collect(),
        // comma_delimited_list also takes "a,b".
        Value::String(s) => Some(
            s.split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(String::from)
                .collect(),
        ),
        _ => None,
    }
}

fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// `temp_url_expires` of a TempURL (with a signature), if it is one.
pub(crate) fn expiry_of(url: &str) -> Option<u64> {
    query_param(url, "temp_url_sig")?;
    query_param(url, "temp_url_expires")?.parse().ok()
}

/// Where the content hash `-<12 lowercase hex>` (followed by `.` or the end) starts in an
/// object name: the last such place.
fn hash_at(name: &str) -> Option<usize> {
    let bytes = name.as_bytes();
    (0..bytes.len()).rev().find(|&i| {
        bytes[i] == b'-'
            && bytes.len() >= i + 13
            && bytes[i + 1..i + 13]
                .iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            && matches!(bytes.get(i + 13), None | Some(b'.'))
    })
}

/// The artifact a URL is a version of: its object's last path segment, decoded, with the
/// content hash removed.
pub(crate) fn artifact_key(url: &str) -> String {
    let path = tempurl::url_path(url);
    let last = path.rsplit('/').next().unwrap_or(path);
    let name = percent_decode(last).unwrap_or_else(|| last.to_string());
    match hash_at(&name) {
        Some(i) => format!("{}{}", &name[..i], &name[i + 13..]),
        None => name,
    }
}

/// The `<12 hex>` content hash in an object name, if any.
fn artifact_hash(object: &str) -> Option<&str> {
    hash_at(object).map(|i| &object[i + 1..i + 13])
}

/// What `upload --refresh` should do.
#[derive(Debug, Clone)]
pub struct RefreshOptions {
    /// The env file.
    pub env_file: PathBuf,
    /// Re-sign URLs expiring within this many seconds.
    pub margin: u64,
    /// New lifetime, seconds from now.
    pub expiry: i64,
    /// Digest of the new signatures; `None`: the one each URL already uses.
    pub digest: Option<Digest>,
    /// Credentials, retries, timeouts.
    pub connect: ConnectOptions,
}

/// What happened to one URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefreshStatus {
    /// Re-signed with a new expiry.
    Refreshed,
    /// Valid beyond the margin: left as it is.
    Valid,
    /// Not a TempURL (no signature): left as it is.
    NotTempUrl,
}

/// One URL of a refresh.
#[derive(Debug, Clone, Serialize)]
pub struct RefreshedUrl {
    /// The URL with its signature redacted (the new one when refreshed).
    pub url: String,
    /// What happened.
    pub status: RefreshStatus,
    /// Expiry before.
    pub previous_expires: Option<u64>,
    /// Expiry now.
    pub expires: Option<u64>,
    /// `expires` as UTC.
    pub expires_at: Option<String>,
}

/// The result of [`refresh`].
#[derive(Debug, Clone, Serialize)]
pub struct RefreshReport {
    /// The env file.
    pub env_file: PathBuf,
    /// Whether it was written.
    pub action: WriteAction,
    /// Each URL, in file order.
    pub urls: Vec<RefreshedUrl>,
}

fn redact(url: &str) -> String {
    match url.split_once('?') {
        Some((base, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some(("temp_url_sig", _)) => "temp_url_sig=[redacted]".to_string(),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{base}?{}", params.join("&"))
        }
        None => url.into(),
    }
}

/// What [`record_url`] did to the env file.
#[derive(Debug, Clone)]
pub struct RecordedUrl {
    /// The env file.
    pub path: PathBuf,
    /// Written, or unchanged (the URL was already there).
    pub action: WriteAction,
    /// URLs it now holds.
    pub urls: usize,
    /// Earlier URLs of the same artifact it replaced.
    pub replaced: usize,
}

/// Puts a freshly signed TempURL into the env file (replacing earlier URLs of the same
/// artifact), under the file's lock and read again under it: the URL of an upload that
/// finished meanwhile is merged, not lost.
pub fn record_url(path: &Path, url: &str) -> Result<RecordedUrl> {
    let _lock = crate::fsutil::lock(path)?;
    let mut env = EnvFile::load(path)?;
    let replaced = env.merge(url);
    let action = env.write()?;
    Ok(RecordedUrl {
        path: path.to_path_buf(),
        action,
        urls: env.urls.len(),
        replaced,
    })
}

/// Re-signs the TempURLs of the env file that expire within the margin, without uploading:
/// each object is HEADed first (it must still exist and, when its name carries a content
/// hash, still hold that content). The file is written once, after every URL is signed.
pub fn refresh(opts: &RefreshOptions) -> Result<RefreshReport> {
    let expires = validate_expiry(opts.expiry)?;
    // One writer of the env file at a time: load, re-sign and write under its lock.
    // (No directory, no env file: nothing to lock, and nothing is created.)
    let _lock = crate::fsutil::parent_of(&opts.env_file)
        .is_dir()
        .then(|| crate::fsutil::lock(&opts.env_file))
        .transpose()?;
    let mut env = EnvFile::load(&opts.env_file)?;
    if !env.exists {
        return Err(env_error(
            &opts.env_file,
            "does not exist: there is nothing to refresh".into(),
            "upload the artifact first with `overcloud-keys upload FILE`, or pass the right --env-file",
        ));
    }
    if env.urls.is_empty() {
        return Err(env_error(
            &opts.env_file,
            "holds no DeployArtifactURLs: there is nothing to refresh".into(),
            "upload the artifact with `overcloud-keys upload FILE`",
        ));
    }
    let now = tempurl::now();
    let due: Vec<usize> = env
        .expiring(now, opts.margin)
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    let mut report: Vec<RefreshedUrl> = env
        .urls
        .iter()
        .map(|u| {
            let e = expiry_of(u);
            RefreshedUrl {
                url: redact(u),
                status: if e.is_some() {
                    RefreshStatus::Valid
                } else {
                    RefreshStatus::NotTempUrl
                },
                previous_expires: e,
                expires: e,
                expires_at: e.map(format_utc),
            }
        })
        .collect();
    if due.is_empty() {
        return Ok(RefreshReport {
            env_file: opts.env_file.clone(),
            action: WriteAction::Unchanged,
            urls: report,
        });
    }
    let mut swift = Swift::connect(&opts.connect)?;
    for i in due {
        let signed = re_sign(&mut swift, opts, &env.urls[i], expires)?;
        env.urls[i] = signed.expose();
        report[i] = RefreshedUrl {
            url: signed.redacted(),
            status: RefreshStatus::Refreshed,
            previous_expires: report[i].previous_expires,
            expires: Some(expires),
            expires_at: Some(format_utc(expires)),
        };
    }
    let action = env.write()?;
    Ok(RefreshReport {
        env_file: opts.env_file.clone(),
        action,
        urls: report,
    })
}

/// A fresh signature for one URL of the env file, after checking that the object is still
/// there and still holds what its name promises.
fn re_sign(swift: &mut Swift, opts: &RefreshOptions, url: &str, expires: u64) -> Result<TempUrl> {
    let parsed = parse_url(url, Some(swift.storage_url())).ok_or_else(|| {
        env_error(
            &opts.env_file,
            format!(
                "cannot tell account, container and object apart in {}",
                redact(url)
            ),
            "upload the artifact again with `overcloud-keys upload FILE` (it replaces the URL)",
        )
    })?;
    let target = object_url(&parsed.account_url, &parsed.container, &parsed.object);
    let head = swift.request("HEAD", &target, &[], None)?;
    if head.status == 404 {
        return Err(SwiftError::ObjectMissing {
            container: parsed.container,
            object: parsed.object,
            env_file: opts.env_file.clone(),
        }
        .into());
    }
    let head = expect(head, "HEAD", &target, &[200])?;
    let stored = head.header("x-object-meta-sha256").map(str::to_lowercase);
    let named = artifact_hash(&parsed.object);
    if let Some(named) = named {
        // A name that promises a content hash must be backed by a recorded SHA-256 that
        // matches it: an object overwritten without one is not what the URL promised.
        let holds = stored
            .clone()
            .unwrap_or_else(|| "no recorded sha256".into());
        if !stored.as_deref().is_some_and(|s| s.starts_with(named)) {
            return Err(env_error(
                &opts.env_file,
                format!(
                    "{}/{} now holds {holds}, not the content its name ({named}) promises",
                    parsed.container, parsed.object
                ),
                "upload the artifact again with `overcloud-keys upload FILE`",
            ));
        }
    }
    let (key, _) = tempurl::ensure_key(swift, &parsed.account_url, &parsed.container)?;
    let digest = opts.digest.or(parsed.digest).unwrap_or_default();
    let signed = TempUrl::sign(
        &parsed.account_url,
        &parsed.container,
        &parsed.object,
        &key,
        digest,
        expires,
    )?;
    let size = head
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    check_temp_url(swift, &signed, size)?;
    Ok(signed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A1: &str = "http://s/v1/AUTH_x/overcloud-artifacts/overcloud-keys-overcloud-1a2b3c4d5e6f.tar.gz?temp_url_sig=aa&temp_url_expires=100";
    const A2: &str = "http://s/v1/AUTH_x/overcloud-artifacts/overcloud-keys-overcloud-0123456789ab.tar.gz?temp_url_sig=bb&temp_url_expires=200";
    const OTHER: &str = "http://s/v1/AUTH_x/overcloud-artifacts/extra-packages.tar.gz?temp_url_sig=cc&temp_url_expires=300";

    #[test]
    fn artifact_keys_ignore_the_hash() {
        assert_eq!(artifact_key(A1), "overcloud-keys-overcloud.tar.gz");
        assert_eq!(artifact_key(A1), artifact_key(A2));
        assert_eq!(artifact_key(OTHER), "extra-packages.tar.gz");
        assert_eq!(
            artifact_key("http://s/v1/a/c/my%20file-1a2b3c4d5e6f"),
            "my file"
        );
        // Uppercase or 11 hex digits are not a content hash.
        assert_eq!(
            artifact_key("http://s/v1/a/c/x-1A2B3C4D5E6F.tgz"),
            "x-1A2B3C4D5E6F.tgz"
        );
        assert_eq!(
            artifact_key("http://s/v1/a/c/x-1a2b3c4d5e6.tgz"),
            "x-1a2b3c4d5e6.tgz"
        );
        assert_eq!(
            artifact_hash("overcloud-keys-1a2b3c4d5e6f.tar.gz"),
            Some("1a2b3c4d5e6f")
        );
        assert_eq!(artifact_hash("plain.tar.gz"), None);
    }

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("deployment-artifacts.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn merge_keeps_others_and_replaces_older_versions() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            &format!(
                "# Heat environment to deploy artifacts via Swift Temp URL(s)\nparameter_defaults:\n    DeployArtifactURLs:\n    - '{A1}'\n    - '{OTHER}'\n"
            ),
        );
        let mut env = EnvFile::load(&path).unwrap();
        assert_eq!(env.urls(), [A1, OTHER]);
        assert!(env.notes.is_empty());
        assert_eq!(env.merge(A2), 1);
        assert_eq!(env.urls(), [A2, OTHER]);
        // The same URL again replaces nothing.
        assert_eq!(env.merge(A2), 0);
        assert_eq!(env.write().unwrap(), WriteAction::Written);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!(
                "# Heat environment to deploy artifacts via Swift Temp URL(s)\nparameter_defaults:\n    DeployArtifactURLs:\n    - '{A2}'\n    - '{OTHER}'\n"
            )
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // Unchanged content is not rewritten.
        assert_eq!(
            EnvFile::load(&path).unwrap().write().unwrap(),
            WriteAction::Unchanged
        );
    }

    #[test]
    fn new_file_and_duplicates_collapse() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/env.yaml");
        let mut env = EnvFile::load(&path).unwrap();
        assert!(!env.exists());
        assert_eq!(env.merge(A1), 0);
        env.urls.push(A2.into());
        env.urls.push(OTHER.into());
        // Two versions of one artifact collapse into the new one, at the first's place.
        let a3 = A1.replace("1a2b3c4d5e6f", "ffffffffffff");
        assert_eq!(env.merge(&a3), 2);
        assert_eq!(env.urls(), [a3.as_str(), OTHER]);
        env.write().unwrap();
        assert!(path.exists());
    }

    #[test]
    fn notes_and_comma_lists_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            &format!(
                "# secrets: JWS private key -> all roles\n# second note\nparameter_defaults:\n  DeployArtifactURLs: '{A1},{OTHER}'\n"
            ),
        );
        let env = EnvFile::load(&path).unwrap();
        assert_eq!(env.urls(), [A1, OTHER]);
        assert_eq!(
            env.notes,
            ["secrets: JWS private key -> all roles", "second note"]
        );
        assert!(env.render().unwrap().starts_with(
            "# secrets: JWS private key -> all roles\n# second note\n# Heat environment to deploy artifacts via Swift Temp URL(s)\n"
        ));
    }

    #[test]
    fn foreign_content_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for text in [
            "resource_registry:\n  OS::X: y.yaml\n",
            "parameter_defaults:\n  DeployArtifactFILEs:\n  - /a\n",
            "parameter_defaults:\n  DeployArtifactURLs: {a: b}\n",
            "[1, 2]\n",
            "parameter_defaults: [\n",
        ] {
            let path = write(dir.path(), text);
            let err = EnvFile::load(&path).unwrap_err();
            assert!(
                err.to_string().contains("deployment-artifacts.yaml"),
                "{err}"
            );
            assert!(err.hint().is_some());
        }
        let path = write(dir.path(), "");
        assert!(EnvFile::load(&path).unwrap().urls().is_empty());
    }

    #[test]
    fn expiring_urls() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = EnvFile::load(&dir.path().join("x.yaml")).unwrap();
        env.urls = vec![
            A1.into(),
            A2.into(),
            OTHER.into(),
            "http://plain/url".into(),
        ];
        // Expires at 100, 200, 300; now 150 with a margin of 100: the first two.
        assert_eq!(env.expiring(150, 100), vec![(0, 100), (1, 200)]);
        assert_eq!(env.expiring(0, 0), vec![]);
        assert_eq!(expiry_of("http://plain/url?temp_url_expires=5"), None);
        assert_eq!(
            redact(A1),
            "http://s/v1/AUTH_x/overcloud-artifacts/overcloud-keys-overcloud-1a2b3c4d5e6f.tar.gz?temp_url_sig=[redacted]&temp_url_expires=100"
        );
    }
}
