//! What an upload is asked to do (`UploadOptions`), its limits and defaults, and the
//! checks of container, object and expiry values before any request is made.

use super::SwiftError;
use super::hashing::SegmentPlan;
use super::http::ConnectOptions;
use super::tempurl::{self, Digest};
use crate::error::Result;

/// Largest object Swift takes in one PUT (`max_file_size`, 5 GiB).
pub(crate) const MAX_SINGLE_OBJECT: u64 = 5 << 30;
/// Most segments in one manifest (`max_manifest_segments`).
pub(crate) const MAX_SEGMENTS: u64 = 1000;
/// Default `--slo-threshold`: larger files go up as a static large object, hashed while they
/// upload (see `upload::prepare`).
pub const DEFAULT_SLO_THRESHOLD: u64 = 256 << 20;
/// Default `--segment-size`: the largest segment of a static large object.
pub const DEFAULT_SEGMENT_SIZE: u64 = 256 << 20;
/// Default `--temp-url-expiry`: one year, as tripleo-common's upload-swift-artifacts.
pub const DEFAULT_EXPIRY: i64 = 31_536_000;
/// Default `--container`.
pub const DEFAULT_CONTAINER: &str = "overcloud-artifacts";

/// What to upload where, and how to sign it.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Container (created if missing).
    pub container: String,
    /// Object name; `None`: derived from the file name and its SHA-256.
    pub object: Option<String>,
    /// TempURL lifetime, seconds from now.
    pub expiry: i64,
    /// TempURL digest.
    pub digest: Digest,
    /// Overwrite an object that exists with another SHA-256.
    pub replace: bool,
    /// Largest segment of a static large object (they start at 8 MiB and double).
    pub segment_size: u64,
    /// Files larger than this go up as a static large object.
    pub slo_threshold: u64,
    /// Credentials, retries, timeouts.
    pub connect: ConnectOptions,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            container: DEFAULT_CONTAINER.into(),
            object: None,
            expiry: DEFAULT_EXPIRY,
            digest: Digest::Sha256,
            replace: false,
            segment_size: DEFAULT_SEGMENT_SIZE,
            slo_threshold: DEFAULT_SLO_THRESHOLD,
            connect: ConnectOptions::default(),
        }
    }
}

pub(crate) fn invalid(
    name: &'static str,
    value: impl ToString,
    reason: &str,
    fix: &str,
) -> SwiftError {
    SwiftError::InvalidOption {
        name,
        value: value.to_string(),
        reason: reason.into(),
        fix: fix.into(),
    }
}

/// A container name Swift accepts: 1-256 bytes, no `/`.
pub(crate) fn validate_container(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 256 {
        return Err(invalid(
            "--container",
            name,
            "a container name has 1 to 256 bytes",
            "give a name like overcloud-artifacts",
        )
        .into());
    }
    if name.contains('/') {
        return Err(invalid(
            "--container",
            name,
            "a container name cannot contain '/' (Swift reads the rest as the object name)",
            "remove the '/' (use --object for a pseudo-directory path such as keys/overcloud.tar.gz)",
        )
        .into());
    }
    if name.contains('\0') {
        return Err(invalid("--container", name, "contains a NUL byte", "remove it").into());
    }
    Ok(())
}

/// An object name Swift accepts and that means one object: 1-1024 bytes, no NUL, not
/// starting with `/`, no `.` or `..` segments (clients normalise those away).
pub(crate) fn validate_object(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.len() > 1024
        || name.contains('\0')
        || name.starts_with('/')
        || name.split('/').any(|s| s == "." || s == "..");
    if bad {
        return Err(invalid(
            "--object",
            name,
            "an object name has 1 to 1024 bytes, does not start with '/' and has no '.' or '..' segments",
            "give a plain name such as overcloud-keys-<sha12>.tar.gz",
        )
        .into());
    }
    Ok(())
}

/// A TempURL lifetime in seconds: positive, so the URL does not expire before it is used.
pub(crate) fn validate_expiry(seconds: i64) -> Result<u64> {
    if seconds <= 0 {
        return Err(invalid(
            "--temp-url-expiry",
            seconds,
            "the URL would already be expired (the value is seconds from now)",
            "give a positive number of seconds, e.g. 31536000 (one year, the default)",
        )
        .into());
    }
    let expires = tempurl::now().checked_add(seconds as u64);
    match expires {
        Some(e) if e < 253_402_300_800 => Ok(e),
        _ => Err(invalid(
            "--temp-url-expiry",
            seconds,
            "the expiry is after the year 9999",
            "give a number of seconds such as 31536000 (one year)",
        )
        .into()),
    }
}

impl UploadOptions {
    /// How a static large object is cut.
    pub fn plan(&self) -> SegmentPlan {
        SegmentPlan {
            max: self.segment_size,
        }
    }

    /// Checks every option before anything is read or sent.
    pub fn validate(&self) -> Result<()> {
        validate_container(&self.container)?;
        if let Some(object) = &self.object {
            validate_object(object)?;
        }
        validate_expiry(self.expiry)?;
        if self.slo_threshold == 0 || self.slo_threshold > MAX_SINGLE_OBJECT {
            return Err(invalid(
                "--slo-threshold",
                self.slo_threshold,
                "must be 1 byte to 5 GiB (Swift's largest single object)",
                "leave the default (256 MiB)",
            )
            .into());
        }
        if self.segment_size == 0 || self.segment_size > MAX_SINGLE_OBJECT {
            return Err(invalid(
                "--segment-size",
                self.segment_size,
                "must be 1 byte to 5 GiB",
                "leave the default (256 MiB)",
            )
            .into());
        }
        if self.connect.timeout.is_zero() {
            return Err(invalid(
                "--timeout",
                0,
                "must be at least 1 second",
                "leave the default (60)",
            )
            .into());
        }
        Ok(())
    }
}
