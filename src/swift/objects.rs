//! Single objects and containers: one verified PUT (`ETag` sent before the body), the HEAD
//! that must match size, ETag and SHA-256, the `FILE.sha256` beside a file, and container
//! creation and clean-up.

use std::path::Path;

use super::SwiftError;
use super::client::Swift;
use super::hashing::*;
use super::http::{Payload, Reply, container_url, expect};
use super::options::*;
use super::progress::Progress;
use crate::error::Result;

pub(crate) fn content_type(object: &str) -> &'static str {
    if object.ends_with(".tar.gz") || object.ends_with(".tgz") {
        "application/gzip"
    } else if object.ends_with(".rpm") {
        "application/x-rpm"
    } else {
        "application/octet-stream"
    }
}

/// The first word of `FILE.sha256` (sha256sum format) beside the file, lowercased, when that
/// file can be read.
pub(crate) fn recorded_checksum(file: &Path) -> Option<String> {
    let text = std::fs::read_to_string(crate::artifact::manifest::checksum_path(file)).ok()?;
    Some(text.split_whitespace().next().unwrap_or("").to_lowercase())
}

/// A SHA-256 in hex, as [`hash_file`] writes it.
pub(crate) fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `FILE.sha256` (sha256sum format) beside the file, when present, must agree.
pub(crate) fn check_recorded_checksum(file: &Path, sha256: &str) -> Result<()> {
    let Some(recorded) = recorded_checksum(file) else {
        return Ok(());
    };
    if recorded != sha256 {
        let checksum_file = crate::artifact::manifest::checksum_path(file);
        return Err(SwiftError::ChecksumMismatch {
            file: file.into(),
            checksum_file,
            recorded,
            actual: sha256.into(),
        }
        .into());
    }
    Ok(())
}

/// The container's HEAD, or `None` when it does not exist.
pub(crate) fn container_head(
    swift: &mut Swift,
    account: &str,
    container: &str,
) -> Result<Option<Reply>> {
    let url = container_url(account, container);
    let head = swift.request("HEAD", &url, &[], None)?;
    match head.status {
        404 => Ok(None),
        _ => expect(head, "HEAD", &url, &[200, 204]).map(Some),
    }
}

/// Deletes a container this upload created, after the upload failed. Best effort, and safe:
/// Swift refuses to delete a container that holds anything (409).
pub(crate) fn remove_if_empty(swift: &mut Swift, account: &str, container: &str) {
    let _ = swift.request("DELETE", &container_url(account, container), &[], None);
}

pub(crate) fn create_container(swift: &mut Swift, account: &str, container: &str) -> Result<()> {
    let url = container_url(account, container);
    let reply = swift.request("PUT", &url, &[("Content-Length", "0")], None)?;
    expect(reply, "PUT", &url, &[201, 202, 204]).map(|_| ())
}

pub(crate) fn put_checked(
    swift: &mut Swift,
    url: &str,
    headers: &[(&str, &str)],
    payload: &Payload<'_>,
) -> Result<()> {
    let reply = swift.request("PUT", url, headers, Some(payload))?;
    if reply.status == 422 {
        return Err(SwiftError::Corrupted { url: url.into() }.into());
    }
    expect(reply, "PUT", url, &[201]).map(|_| ())
}

pub(crate) fn put_object(
    swift: &mut Swift,
    opts: &UploadOptions,
    url: &str,
    file: &Path,
    digest: &FileDigest,
    md5: &str,
    ctype: &str,
) -> Result<()> {
    let bar = Progress::new("uploading", digest.size, opts.connect.progress);
    let payload = Payload::File {
        path: file,
        offset: 0,
        len: digest.size,
        progress: Some(&bar),
    };
    let headers = [
        ("ETag", md5),
        ("X-Object-Meta-Sha256", digest.sha256.as_str()),
        ("Content-Type", ctype),
    ];
    let result = put_checked(swift, url, &headers, &payload);
    bar.finish();
    result
}

pub(crate) struct Expected<'a> {
    pub(crate) size: u64,
    pub(crate) etag: &'a str,
    pub(crate) sha256: &'a str,
    pub(crate) slo: bool,
}

/// What a HEAD shows that differs from `expected`, if anything.
pub(crate) fn mismatch(head: &Reply, expected: &Expected<'_>) -> Option<String> {
    if head.status == 404 {
        return Some("HEAD answers 404".into());
    }
    let mut what = vec![];
    let size = head.header("content-length").unwrap_or("none");
    if size.parse::<u64>().ok() != Some(expected.size) {
        what.push(format!("size {size}, expected {}", expected.size));
    }
    let etag = head.header("etag").unwrap_or("none").trim_matches('"');
    if !etag.eq_ignore_ascii_case(expected.etag) {
        what.push(format!("ETag {etag}, expected {}", expected.etag));
    }
    let sha = head.header("x-object-meta-sha256").unwrap_or("none");
    if !sha.eq_ignore_ascii_case(expected.sha256) {
        what.push(format!("sha256 {sha}, expected {}", expected.sha256));
    }
    if expected.slo
        && !head
            .header("x-static-large-object")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        what.push("not a static large object".into());
    }
    (!what.is_empty()).then(|| what.join(", "))
}

/// HEADs the object until it shows the expected size, ETag and SHA-256 (a replica may lag
/// right after the PUT), within the retry budget.
pub(crate) fn verify(swift: &mut Swift, url: &str, expected: &Expected<'_>) -> Result<()> {
    let mut retry = 0;
    loop {
        let head = swift.request("HEAD", url, &[], None)?;
        if !matches!(head.status, 200 | 404) {
            return expect(head, "HEAD", url, &[200]).map(|_| ());
        }
        let Some(what) = mismatch(&head, expected) else {
            return Ok(());
        };
        if retry >= swift.retries() {
            return Err(SwiftError::VerifyFailed {
                url: url.into(),
                what,
            }
            .into());
        }
        swift.pause(retry);
        retry += 1;
    }
}
