//! Verified uploads: hash the file (MD5 for the ETag, SHA-256 for the name and metadata),
//! refuse or reuse an existing object, PUT with `ETag` so Swift rejects a corrupted body,
//! HEAD to verify size, ETag and SHA-256, and only then sign a TempURL. A large file whose
//! `FILE.sha256` names it goes up as a static large object hashed while it uploads: each
//! segment is hashed before its own PUT (its MD5 is still the `ETag`), the next one meanwhile.
//!
//! Invariants: memory does not depend on the file size (256 KiB chunks, streamed from disk);
//! an object that exists with another SHA-256 is never touched without `replace`; nothing
//! points at an object (no TempURL returned) before its HEAD matched the file.

use std::path::Path;

use serde::Serialize;

use super::SwiftError;
use super::client::Swift;
use super::hashing::*;
use super::http::{Reply, expect, object_url};
use super::objects::*;
pub use super::options::*;
use super::slo::*;
use super::tempurl::{self, KeySource, TempUrl};
use crate::error::Result;
use crate::fsutil::io_err;

/// The object name: `--object` as given (with a warning when it lacks the content hash),
/// the file name when it already holds the first 12 hex of its SHA-256, else
/// `<stem>-<sha12>.tar.gz` (other extensions are kept: `<stem>-<sha12>.rpm`). A new file
/// therefore never hides behind the URL of an old one.
pub(crate) fn object_name(
    file: &Path,
    sha256: &str,
    explicit: Option<&str>,
) -> (String, Option<String>) {
    let short = &sha256[..12];
    if let Some(name) = explicit {
        let warning = (!name.contains(short)).then(|| {
            format!(
                "--object {name} does not contain the content hash {short}: a later file uploaded under the same name would be served by the URLs already handed out"
            )
        });
        return (name.to_string(), warning);
    }
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "artifact".into());
    if name.contains(short) {
        return (name, None);
    }
    let (stem, ext) = if let Some(stem) = name.strip_suffix(".tar.gz") {
        (stem, ".tar.gz")
    } else if let Some(stem) = name.strip_suffix(".tgz") {
        (stem, ".tar.gz")
    } else {
        match name.rfind('.') {
            Some(i) if i > 0 => (&name[..i], &name[i..]),
            _ => (name.as_str(), ".tar.gz"),
        }
    };
    (format!("{stem}-{short}{ext}"), None)
}

/// What happened to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UploadAction {
    /// It did not exist and was uploaded.
    Uploaded,
    /// It existed with the same SHA-256 and size: not uploaded again.
    Reused,
    /// It existed with another SHA-256 and was overwritten (`replace`).
    Replaced,
}

/// The result of [`upload_artifact`].
#[derive(Debug, Clone)]
pub struct UploadReport {
    /// What happened to the object.
    pub action: UploadAction,
    /// The account's storage URL.
    pub storage_url: String,
    /// Container.
    pub container: String,
    /// Object.
    pub object: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256 hex of the file (also `X-Object-Meta-Sha256`).
    pub sha256: String,
    /// The object's ETag as verified (MD5, or the SLO ETag).
    pub etag: String,
    /// Segments of a static large object uploaded now (0: a single object, or reused).
    pub segments: usize,
    /// The container holding those segments (the object's own container unless the URL is
    /// signed with an account key).
    pub segments_container: Option<String>,
    /// Segments that were already in Swift with the right ETag (a resumed upload).
    pub segments_reused: usize,
    /// The file was hashed while it uploaded (a static large object with `FILE.sha256`),
    /// rather than in a pass of its own before.
    pub hashed_while_uploading: bool,
    /// The container was created.
    pub container_created: bool,
    /// The signed URL.
    pub temp_url: TempUrl,
    /// Where its key came from.
    pub key_source: KeySource,
    /// Things the user should know.
    pub warnings: Vec<String>,
}

/// Uploads `file` with the credentials from this process's environment (see
/// `super::auth::discover`), verifies it, and signs a TempURL. Everything local (options,
/// credentials present, file hashes, `FILE.sha256`) is checked before the first request.
pub fn upload_artifact(opts: &UploadOptions, file: &Path) -> Result<UploadReport> {
    opts.validate()?;
    regular_file(file)?;
    let found = super::auth::discover(
        &super::auth::Environment::from_process(),
        opts.connect.cloud.as_deref(),
    )?;
    let prepared = prepare(opts, file)?;
    let mut swift = Swift::connect_with(&opts.connect, found)?;
    upload_prepared(&mut swift, opts, file, prepared)
}

/// A file named (and, unless it is streamed, hashed), ready to upload.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Its hashes (per segment when it goes up as a static large object); `None` when they
    /// are taken during the upload (see [`prepare`]).
    pub digest: Option<FileDigest>,
    /// Bytes, as the file's metadata gave them.
    pub size: u64,
    /// The SHA-256 the object is named after: computed, or the one `FILE.sha256` records
    /// (then checked against the file before anything points at the object).
    pub sha256: String,
    /// The object name.
    pub object: String,
    /// Whether it goes up as a static large object.
    pub slo: bool,
    /// Warnings so far (an --object without the content hash).
    pub warnings: Vec<String>,
}

/// Names `file` and, where needed, hashes it (no network): the local half of an upload.
///
/// A static large object whose `FILE.sha256` records its checksum (every `build` and `pack`
/// artifact) is not hashed here: its name is known from that record, and each segment is
/// hashed while the previous one uploads, its MD5 still sent as `ETag` before its body.
/// Hashing first would add a full read of the file (MD5 runs at ~500 MB/s) to every upload.
pub fn prepare(opts: &UploadOptions, file: &Path) -> Result<Prepared> {
    opts.validate()?;
    let meta = regular_file(file)?;
    let slo = meta.len() > opts.slo_threshold;
    if slo && opts.plan().count(meta.len()) > MAX_SEGMENTS {
        return Err(invalid(
            "--segment-size",
            opts.segment_size,
            &format!(
                "{} bytes would need more than {MAX_SEGMENTS} segments (Swift's max_manifest_segments)",
                meta.len()
            ),
            "give a larger --segment-size",
        )
        .into());
    }
    let streamed = slo
        .then(|| recorded_checksum(file))
        .flatten()
        .filter(|sha| is_sha256_hex(sha));
    let (digest, sha256) = match streamed {
        Some(recorded) => (None, recorded),
        None => {
            let digest = hash_for(opts, file, slo)?;
            let sha256 = digest.sha256.clone();
            (Some(digest), sha256)
        }
    };
    let (object, warning) = object_name(file, &sha256, opts.object.as_deref());
    validate_object(&object)?;
    Ok(Prepared {
        digest,
        size: meta.len(),
        sha256,
        object,
        slo,
        warnings: warning.into_iter().collect(),
    })
}

/// Hashes `file` whole before the upload (per segment when `slo`), and checks it against
/// `FILE.sha256`.
fn hash_for(opts: &UploadOptions, file: &Path, slo: bool) -> Result<FileDigest> {
    let digest = hash_file(file, slo.then_some(opts.plan()), opts.connect.progress)?;
    check_recorded_checksum(file, &digest.sha256)?;
    Ok(digest)
}

/// The file's metadata, if it is a regular file.
pub fn regular_file(file: &Path) -> Result<std::fs::Metadata> {
    let meta = std::fs::metadata(file).map_err(io_err("read", file))?;
    if !meta.is_file() {
        return Err(crate::error::Error::InvalidValue {
            name: "FILE",
            value: file.display().to_string(),
            reason: "is not a regular file".into(),
        });
    }
    Ok(meta)
}

enum Existing {
    Missing,
    Same(Reply),
    /// Another file: the SHA-256 it records, and whether it is a static large object.
    Different {
        sha256: String,
        slo: bool,
    },
}

/// The remote half of an upload: `prepared` (from [`prepare`] on the same file) goes up,
/// is verified and signed.
pub(crate) fn upload_prepared(
    swift: &mut Swift,
    opts: &UploadOptions,
    file: &Path,
    mut prepared: Prepared,
) -> Result<UploadReport> {
    let account = swift.storage_url().to_string();
    let url = object_url(&account, &opts.container, &prepared.object);

    // Look before touching anything: a refused upload changes nothing remotely.
    let (container_head, existing) = look_before(swift, opts, file, &account, &url, &mut prepared)?;
    let container_exists = container_head.is_some();
    if !container_exists {
        create_container(swift, &account, &opts.container)?;
    }
    let Prepared {
        digest,
        size,
        sha256,
        object,
        slo,
        mut warnings,
    } = prepared;

    let hashed_while_uploading = digest.is_none();
    let target = Destination {
        account: &account,
        url: &url,
        object: &object,
        container_head: container_head.as_ref(),
        container_exists,
        slo,
        size,
        sha256: &sha256,
    };
    let sent = match existing {
        Existing::Same(head) => reused(&head, digest),
        other => send(swift, opts, file, &target, other, digest, &mut warnings)?,
    };

    let (temp_url, key_source) = sign(swift, opts, &account, &object, sent.digest.size)?;
    Ok(UploadReport {
        action: sent.action,
        storage_url: account,
        container: opts.container.clone(),
        object,
        size: sent.digest.size,
        sha256: sent.digest.sha256,
        etag: sent.etag,
        segments: if sent.segments_in.is_some() {
            sent.digest.segments.len()
        } else {
            0
        },
        segments_container: sent.segments_in,
        segments_reused: sent.segments_reused,
        hashed_while_uploading,
        container_created: !container_exists,
        temp_url,
        key_source,
        warnings,
    })
}

/// What is in Swift already, before anything is touched: the container's HEAD (`None` when
/// there is no container) and what is at the object's name. Refuses, changing nothing, when
/// another file is there and replacing was not asked for.
fn look_before(
    swift: &mut Swift,
    opts: &UploadOptions,
    file: &Path,
    account: &str,
    url: &str,
    prepared: &mut Prepared,
) -> Result<(Option<Reply>, Existing)> {
    let container_head = container_head(swift, account, &opts.container)?;
    let existing = if container_head.is_some() {
        existing_object(swift, opts, file, url, prepared.slo, &mut prepared.digest)?
    } else {
        Existing::Missing
    };
    if let Existing::Different {
        sha256: existing, ..
    } = &existing
        && !opts.replace
    {
        return Err(SwiftError::ObjectExists {
            container: opts.container.clone(),
            object: prepared.object.clone(),
            file: file.into(),
            existing: existing.clone(),
            new: prepared.sha256.clone(),
        }
        .into());
    }
    Ok((container_head, existing))
}

/// The same file is already there (`head` describes it): nothing is sent, its ETag is kept.
fn reused(head: &Reply, digest: Option<FileDigest>) -> Sent {
    Sent {
        action: UploadAction::Reused,
        etag: head
            .header("etag")
            .unwrap_or_default()
            .trim_matches('"')
            .to_string(),
        segments_reused: 0,
        digest: digest.expect("hashed to compare with the existing object"),
        segments_in: None,
    }
}

/// Signs the object's TempURL (with the container's or account's key, created if there is
/// none) and checks that the URL serves all `size` bytes.
fn sign(
    swift: &mut Swift,
    opts: &UploadOptions,
    account: &str,
    object: &str,
    size: u64,
) -> Result<(TempUrl, KeySource)> {
    let expires = validate_expiry(opts.expiry)?;
    let (key, key_source) = tempurl::ensure_key(swift, account, &opts.container)?;
    let temp_url = TempUrl::sign(account, &opts.container, object, &key, opts.digest, expires)?;
    check_temp_url(swift, &temp_url, size)?;
    Ok((temp_url, key_source))
}

/// What is at the object's name already (the container exists). Comparing takes the file's
/// own hashes: taken now if the upload was to hash while streaming.
fn existing_object(
    swift: &mut Swift,
    opts: &UploadOptions,
    file: &Path,
    url: &str,
    slo: bool,
    digest: &mut Option<FileDigest>,
) -> Result<Existing> {
    let head = swift.request("HEAD", url, &[], None)?;
    match head.status {
        404 => Ok(Existing::Missing),
        200 | 204 => {
            let digest = match digest {
                Some(known) => &*known,
                None => digest.insert(hash_for(opts, file, slo)?),
            };
            Ok(classify(head, digest, slo))
        }
        _ => Err(expect(head, "HEAD", url, &[200]).unwrap_err()),
    }
}

/// Where an upload goes.
struct Destination<'a> {
    account: &'a str,
    url: &'a str,
    object: &'a str,
    container_head: Option<&'a Reply>,
    container_exists: bool,
    slo: bool,
    size: u64,
    sha256: &'a str,
}

/// What an upload (or a reuse) left in Swift.
struct Sent {
    action: UploadAction,
    etag: String,
    segments_reused: usize,
    digest: FileDigest,
    segments_in: Option<String>,
}

/// Uploads the file (a single object or a static large object), verifies what Swift
/// stored, and removes the segments of a replaced large object that are no longer used.
fn send(
    swift: &mut Swift,
    opts: &UploadOptions,
    file: &Path,
    to: &Destination<'_>,
    existing: Existing,
    digest: Option<FileDigest>,
    warnings: &mut Vec<String>,
) -> Result<Sent> {
    let action = action_of(&existing, opts, to.object, warnings);
    // A large object being replaced: its segments, read before the new manifest
    // overwrites the list.
    let replaced = match existing {
        Existing::Different { slo: true, .. } => {
            replaced_segments(swift, to.url, &opts.container, to.object, warnings)
        }
        _ => vec![],
    };
    let mut new_prefix = None;
    let mut segments_in = None;
    let ctype = content_type(to.object);
    let uploaded = if to.slo {
        let segments_container = segments_container(swift, opts, to)?;
        segments_in = Some(segments_container.clone());
        let target = SloTarget {
            account: to.account,
            segments_container: &segments_container,
            object: to.object,
            content_type: ctype,
            size: to.size,
            sha256: to.sha256,
            fresh: !to.container_exists && segments_container == opts.container,
        };
        new_prefix = Some(format!(
            "/{segments_container}/{}",
            target.segment_prefix(opts.plan())
        ));
        put_slo(swift, opts, file, &target, digest)
    } else {
        put_single(swift, opts, file, to.url, digest, ctype)
    };
    let (etag, segments_reused, digest) = uploaded.inspect_err(|_| {
        if !to.container_exists {
            remove_if_empty(swift, to.account, &opts.container);
        }
    })?;
    verify(
        swift,
        to.url,
        &Expected {
            size: digest.size,
            etag: &etag,
            sha256: &digest.sha256,
            slo: to.slo,
        },
    )?;
    delete_segments(
        swift,
        to.account,
        &replaced,
        new_prefix.as_deref(),
        warnings,
    );
    Ok(Sent {
        action,
        etag,
        segments_reused,
        digest,
        segments_in,
    })
}

/// A first upload, or a replacement (which warns: every URL already handed out for the
/// object now serves the new file).
fn action_of(
    existing: &Existing,
    opts: &UploadOptions,
    object: &str,
    warnings: &mut Vec<String>,
) -> UploadAction {
    if matches!(existing, Existing::Missing) {
        UploadAction::Uploaded
    } else {
        warnings.push(format!(
            "replaced {}/{}: every URL already handed out for it now serves the new file",
            opts.container, object
        ));
        UploadAction::Replaced
    }
}

/// The container a static large object's segments go to: the object's own, unless the
/// TempURL is signed with the account's key.
fn segments_container(
    swift: &mut Swift,
    opts: &UploadOptions,
    to: &Destination<'_>,
) -> Result<String> {
    // A container-scoped TempURL key authorizes requests to its own container only,
    // and Swift fetches the segments with the URL's authorization: with such a key (the
    // usual case, and the one created here) the segments must live in the same
    // container, else every GET of the URL fails (409).
    let segments_container =
        if tempurl::signs_with_account_key(swift, to.account, to.container_head)? {
            format!("{}_segments", opts.container)
        } else {
            opts.container.clone()
        };
    validate_container(&segments_container)?;
    Ok(segments_container)
}

/// Uploads a single object, hashed before the upload: returns the ETag Swift must report
/// (the file's MD5), no reused segments, and the hashes.
fn put_single(
    swift: &mut Swift,
    opts: &UploadOptions,
    file: &Path,
    url: &str,
    digest: Option<FileDigest>,
    ctype: &str,
) -> Result<(String, usize, FileDigest)> {
    let digest = digest.expect("single objects are hashed before the upload");
    let md5 = digest.md5.clone().unwrap_or_default();
    put_object(swift, opts, url, file, &digest, &md5, ctype).map(|()| (md5, 0, digest))
}

/// Whether the object `head` describes is the file `digest` describes: the same SHA-256
/// metadata, size, and ETag (metadata alone can be set by anyone; the ETag is the MD5 of the
/// content, or of the segment ETags for a static large object).
fn classify(head: Reply, digest: &FileDigest, slo: bool) -> Existing {
    let sha = head.header("x-object-meta-sha256").map(str::to_lowercase);
    let size = head
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok());
    let etag = head
        .header("etag")
        .map(|e| e.trim_matches('"').to_lowercase());
    let want_etag = if slo {
        slo_etag(&digest.segments)
    } else {
        digest.md5.clone().unwrap_or_default()
    };
    if sha.as_deref() == Some(digest.sha256.as_str())
        && size == Some(digest.size)
        && etag.as_deref() == Some(want_etag.as_str())
    {
        Existing::Same(head)
    } else {
        Existing::Different {
            sha256: sha.unwrap_or_else(|| "unknown (no X-Object-Meta-Sha256)".into()),
            slo: head
                .header("x-static-large-object")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        }
    }
}

/// Fetches the first byte through the signed URL, without credentials, as a node will:
/// proves the key, digest and (for a large object) segment access before the URL is
/// handed out. A key set moments ago may not be visible to every proxy yet, so a refusal
/// is retried within the retry budget.
pub(crate) fn check_temp_url(swift: &mut Swift, url: &TempUrl, size: u64) -> Result<()> {
    let (method, range) = if size == 0 {
        ("HEAD", None)
    } else {
        ("GET", Some(("Range", "bytes=0-0")))
    };
    let mut retry = 0;
    loop {
        let reply = tempurl::fetch(swift, method, url, range.as_slice())?;
        if matches!(reply.status, 200 | 206) {
            return Ok(());
        }
        if retry >= swift.retries() || !matches!(reply.status, 401 | 409) {
            return Err(SwiftError::TempUrlRefused {
                url: url.redacted(),
                status: reply.status,
                digest: url.digest().name(),
            }
            .into());
        }
        swift.pause(retry);
        retry += 1;
    }
}

#[cfg(test)]
#[path = "upload_tests.rs"]
mod tests;
