//! Errors of the Swift path. Each names the input to fix (option, variable, cloud, file,
//! URL) and has a hint; none carries a secret (tokens, passwords, keys, signatures).
//!
//! Exit codes: everything here is bad input (2) except [`SwiftError::Unreachable`] and
//! [`SwiftError::VerifyFailed`], which say a remote service failed (3).

use std::path::PathBuf;

/// What went wrong talking to Swift or Keystone, or with the inputs of an upload.
#[derive(Debug, thiserror::Error)]
pub enum SwiftError {
    /// An option value that can never work (container with `/`, expiry in the past...).
    #[error("invalid {name} {value:?}: {reason}")]
    InvalidOption {
        /// The option, as the user typed it (`--container`).
        name: &'static str,
        /// The value given.
        value: String,
        /// Why it is rejected.
        reason: String,
        /// What to give instead.
        fix: String,
    },
    /// `--os-cloud`/`OS_CLOUD` names a cloud the clouds.yaml in use does not have.
    #[error("cloud {name:?} is not defined in {}", file.display())]
    UnknownCloud {
        /// The cloud asked for.
        name: String,
        /// The clouds.yaml read.
        file: PathBuf,
        /// The clouds it does define.
        known: Vec<String>,
    },
    /// A cloud was asked for but no clouds.yaml exists.
    #[error("cloud {name:?} requested but no clouds.yaml found (searched {searched})")]
    NoCloudsFile {
        /// The cloud asked for.
        name: String,
        /// The paths searched, in order.
        searched: String,
    },
    /// clouds.yaml (or secure.yaml) cannot be used.
    #[error("{}: {message}", file.display())]
    CloudsFile {
        /// The file.
        file: PathBuf,
        /// What is wrong, naming the cloud and key.
        message: String,
    },
    /// Some credentials are given but not all that Keystone or tempauth needs.
    #[error("incomplete Swift credentials in {origin}: {missing} not set")]
    MissingCredentials {
        /// Where the other credentials came from (`OS_* variables`, `cloud "x" in FILE`).
        origin: String,
        /// The missing setting(s).
        missing: String,
        /// How to set them.
        fix: String,
    },
    /// No credentials at all.
    #[error("no Swift credentials: none of --os-cloud/OS_CLOUD, OS_AUTH_URL or ST_AUTH is set")]
    NoCredentials,
    /// An auth type this tool does not speak.
    #[error("auth type {auth_type:?} from {origin} is not supported")]
    UnsupportedAuth {
        /// The `auth_type` / `OS_AUTH_TYPE`.
        auth_type: String,
        /// Where it came from.
        origin: String,
    },
    /// Keystone or tempauth answered 401 to the credentials.
    #[error("{service} at {url} rejected the credentials from {origin} (HTTP {status})")]
    AuthRejected {
        /// `Keystone` or `Swift tempauth`.
        service: &'static str,
        /// The auth URL.
        url: String,
        /// Where the credentials came from.
        origin: String,
        /// 401 (or 403).
        status: u16,
    },
    /// The token's catalog has no usable object-store endpoint.
    #[error(
        "the Keystone catalog from {url} has no object-store endpoint for interface {interface}{}",
        region.as_deref().map(|r| format!(" in region {r}")).unwrap_or_default()
    )]
    NoEndpoint {
        /// The Keystone URL.
        url: String,
        /// The interface asked for.
        interface: String,
        /// The region asked for, if any.
        region: Option<String>,
        /// The object-store endpoints the catalog has (`interface region url`).
        available: Vec<String>,
    },
    /// A remote service could not be reached or kept failing after every retry.
    #[error(
        "{service} at {url} was unreachable or kept failing: {attempts} attempt(s), last: {last}"
    )]
    Unreachable {
        /// `Swift` or `Keystone`.
        service: &'static str,
        /// The URL of the request (never a TempURL).
        url: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// Swift or Keystone answered a request with a 4xx this tool does not expect.
    #[error("{method} {url}: HTTP {status}{detail}")]
    Refused {
        /// HTTP method.
        method: String,
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// `: <first line of the body>` or empty.
        detail: String,
    },
    /// The object exists with another SHA-256 and `--replace` was not given.
    #[error(
        "object {container}/{object} already exists with sha256 {existing} but {} has sha256 {new}",
        file.display()
    )]
    ObjectExists {
        /// Container.
        container: String,
        /// Object.
        object: String,
        /// The file being uploaded.
        file: PathBuf,
        /// The SHA-256 the object carries, or a note that it carries none.
        existing: String,
        /// The file's SHA-256.
        new: String,
    },
    /// Swift answered 422 to a PUT: the body did not match the ETag sent.
    #[error("Swift refused the body of {url} (HTTP 422: its MD5 does not match the ETag sent)")]
    Corrupted {
        /// The object URL.
        url: String,
    },
    /// After upload, HEAD does not show what was uploaded.
    #[error("{url} does not hold what was uploaded: {what}")]
    VerifyFailed {
        /// The object URL.
        url: String,
        /// Which of size, ETag, SHA-256 differs, and how.
        what: String,
    },
    /// No TempURL key exists and one could not be set.
    #[error("cannot get a TempURL key for container {container}: {reason}")]
    TempUrlKey {
        /// The container.
        container: String,
        /// Why.
        reason: String,
    },
    /// Swift refuses the signed URL itself (tempurl missing, digest not allowed...).
    #[error("Swift refuses the signed URL {url} (HTTP {status}) although the object is in place")]
    TempUrlRefused {
        /// The URL, signature redacted.
        url: String,
        /// The status.
        status: u16,
        /// The digest signed with (`sha256`, `sha512`, `sha1`).
        digest: &'static str,
    },
    /// `FILE.sha256` beside the file records another checksum.
    #[error("{} has sha256 {actual} but {} records {recorded}", file.display(), checksum_file.display())]
    ChecksumMismatch {
        /// The file being uploaded.
        file: PathBuf,
        /// The `.sha256` file.
        checksum_file: PathBuf,
        /// What it records.
        recorded: String,
        /// What the file hashes to.
        actual: String,
    },
    /// The env file cannot be read or merged.
    #[error("{}: {message}", path.display())]
    EnvFile {
        /// The env file.
        path: PathBuf,
        /// What is wrong.
        message: String,
        /// What to do.
        fix: String,
    },
    /// An object a URL in the env file points at is gone.
    #[error("{container}/{object} (in {}) no longer exists in Swift", env_file.display())]
    ObjectMissing {
        /// Container.
        container: String,
        /// Object.
        object: String,
        /// The env file holding the URL.
        env_file: PathBuf,
    },
    /// TLS failed (certificate not trusted, bad CA file).
    #[error("TLS with {url} failed: {message}")]
    Tls {
        /// The URL (or CA file).
        url: String,
        /// The TLS error.
        message: String,
    },
}

impl SwiftError {
    /// True when a remote service was unreachable or kept failing (exit code 3).
    pub fn is_remote_failure(&self) -> bool {
        matches!(
            self,
            SwiftError::Unreachable { .. } | SwiftError::VerifyFailed { .. }
        )
    }

    /// A line telling the user what to do.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            SwiftError::InvalidOption { fix, .. }
            | SwiftError::MissingCredentials { fix, .. }
            | SwiftError::EnvFile { fix, .. } => fix.clone(),
            SwiftError::UnknownCloud { known, .. } if known.is_empty() => {
                "that file defines no clouds: add the cloud under `clouds:`, or unset OS_CLOUD to use OS_* or ST_* variables".into()
            }
            SwiftError::UnknownCloud { known, .. } => format!(
                "pass one of {} with --os-cloud (or OS_CLOUD), or add the cloud to that file",
                known.join(", ")
            ),
            SwiftError::NoCloudsFile { .. } => {
                "create ~/.config/openstack/clouds.yaml (or point OS_CLIENT_CONFIG_FILE at one), or drop --os-cloud/OS_CLOUD and source an rc file with OS_* variables".into()
            }
            SwiftError::CloudsFile { .. } => {
                "fix the file (openstacksdk's clouds.yaml format: clouds: NAME: auth: {auth_url, username, password, project_name, ...})".into()
            }
            SwiftError::NoCredentials => {
                "pass --os-cloud NAME (clouds.yaml), source an rc file (OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME, OS_USER_DOMAIN_NAME, OS_PROJECT_DOMAIN_NAME), or set ST_AUTH, ST_USER and ST_KEY for tempauth".into()
            }
            SwiftError::UnsupportedAuth { .. } => {
                "use password (v3password) or v3applicationcredential credentials, or tempauth through ST_AUTH/ST_USER/ST_KEY".into()
            }
            SwiftError::AuthRejected { origin, .. } => format!(
                "check the user name, password (or key) and project in {origin}; nothing was uploaded"
            ),
            SwiftError::NoEndpoint { available, .. } if available.is_empty() => {
                "this cloud has no Swift (object-store) service: pass --os-storage-url, or use a cloud that has one".into()
            }
            SwiftError::NoEndpoint { available, .. } => format!(
                "set OS_REGION_NAME / OS_INTERFACE (region_name / interface in clouds.yaml) to one of: {}; or pass --os-storage-url",
                available.join("; ")
            ),
            SwiftError::Unreachable { service, .. } => format!(
                "check that {service} is up and reachable from here; raise --retries or --timeout for a slow link; no env file was written or changed"
            ),
            SwiftError::Refused { status: 401, .. } => {
                "Swift refused a fresh token: give the user a role Swift's operator_roles accept (e.g. member or admin) on the project".into()
            }
            SwiftError::Refused { status: 403, .. } => {
                "the user may not do this on that account or container: use a project where it has an operator role, or another --container".into()
            }
            SwiftError::Refused { status: 413, .. } => {
                "the object is larger than Swift accepts in one PUT: lower --slo-threshold and --segment-size".into()
            }
            SwiftError::Refused { status: 404, .. } => {
                "check the storage URL (--os-storage-url or the catalog's object-store endpoint) and the account".into()
            }
            SwiftError::Refused { .. } => {
                "the request was rejected as it stands: check the options named above; it is not retried".into()
            }
            SwiftError::ObjectExists { .. } => {
                "pass --replace to overwrite it (every URL already handed out for it then serves the new file), or choose another --object; nothing was changed".into()
            }
            SwiftError::Corrupted { .. } => {
                "make sure nothing writes the file during the upload, then run again; nothing points at the object".into()
            }
            SwiftError::VerifyFailed { .. } => {
                "run the upload again; nothing points at the object (no env file was written or changed)".into()
            }
            SwiftError::TempUrlKey { .. } => {
                "set a key as the account owner (`swift post -m Temp-URL-Key:$(openssl rand -hex 32) CONTAINER`), or authenticate as a user with an operator role".into()
            }
            SwiftError::TempUrlRefused { digest, .. } => format!(
                "check that the proxy pipeline has tempurl and that its allowed_digests include {digest} (else pass --temp-url-digest with one it allows); no env file was written or changed"
            ),
            SwiftError::ChecksumMismatch { .. } => {
                "the file changed after it was packed: pack it again (`overcloud-keys build` or `overcloud-keys pack`), or remove the stale .sha256 file".into()
            }
            SwiftError::ObjectMissing { .. } => {
                "upload the artifact again with `overcloud-keys upload FILE` (it replaces the URL in the env file)".into()
            }
            SwiftError::Tls { .. } => {
                "install the CA that signed the endpoint's certificate in the system trust store (update-ca-trust), or point cacert (clouds.yaml), OS_CACERT or --os-cacert at it".into()
            }
        })
    }
}
