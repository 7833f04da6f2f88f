//! Verified uploads: hash the file (MD5 for the ETag, SHA-256 for the name and metadata),
//! refuse or reuse an existing object, PUT with `ETag` so Swift rejects a corrupted body,
//! HEAD to verify size, ETag and SHA-256, and only then sign a TempURL. A large file whose
//! `FILE.sha256` names it goes up as a static large object hashed while it uploads: each
//! segment is hashed before its own PUT (its MD5 is still the `ETag`), the next one meanwhile.
//!
//! Invariants: memory does not depend on the file size (256 KiB chunks, streamed from disk);
//! an object that exists with another SHA-256 is never touched without `replace`; nothing
//! points at an object (no TempURL returned) before its HEAD matched the file.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use md5::{Digest as _, Md5};
use serde::Serialize;

use super::SwiftError;
use super::client::Swift;
use super::http::{ConnectOptions, Payload, Reply, container_url, expect, object_url};
use super::progress::Progress;
use super::tempurl::{self, Digest, KeySource, TempUrl, hex};
use crate::error::Result;
use crate::fsutil::io_err;

/// Largest object Swift takes in one PUT (`max_file_size`, 5 GiB).
pub const MAX_SINGLE_OBJECT: u64 = 5 << 30;
/// Most segments in one manifest (`max_manifest_segments`).
pub const MAX_SEGMENTS: u64 = 1000;
/// Default `--slo-threshold`: larger files go up as a static large object, hashed while they
/// upload (see [`prepare`]).
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

fn invalid(name: &'static str, value: impl ToString, reason: &str, fix: &str) -> SwiftError {
    SwiftError::InvalidOption {
        name,
        value: value.to_string(),
        reason: reason.into(),
        fix: fix.into(),
    }
}

/// A container name Swift accepts: 1-256 bytes, no `/`.
pub fn validate_container(name: &str) -> Result<()> {
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
pub fn validate_object(name: &str) -> Result<()> {
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
pub fn validate_expiry(seconds: i64) -> Result<u64> {
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

/// One segment of a static large object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentDigest {
    /// First byte in the file.
    pub offset: u64,
    /// Length.
    pub len: u64,
    /// MD5 hex (its ETag).
    pub md5: String,
}

/// How a static large object is cut: the first segment is small so that its upload starts
/// almost at once (it must be hashed before its first byte is sent), and each next one is
/// twice as long, up to `max`. Hashing runs at several times the upload's speed, so it stays
/// ahead of the upload from then on; few segments keep Swift's per-object work low.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentPlan {
    /// The largest segment (`--segment-size`).
    pub max: u64,
}

impl SegmentPlan {
    /// The first segment's length, at most.
    pub const FIRST: u64 = 8 << 20;

    /// Length of segment `index` (the last one of a file may be shorter).
    pub fn len_of(&self, index: usize) -> u64 {
        // FIRST << index, or u64::MAX once a bit would be shifted out.
        let doubled = u32::try_from(index)
            .ok()
            .and_then(|i| {
                Self::FIRST
                    .checked_shl(i)
                    .filter(|len| len >> i == Self::FIRST)
            })
            .unwrap_or(u64::MAX);
        doubled.min(self.max)
    }

    /// How many segments a file of `size` bytes has (an empty file has one).
    pub fn count(&self, size: u64) -> u64 {
        let (mut covered, mut count) = (0u64, 0u64);
        while covered < size {
            covered = covered.saturating_add(self.len_of(count as usize));
            count += 1;
        }
        count.max(1)
    }
}

/// What the file hashes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    /// Bytes read.
    pub size: u64,
    /// SHA-256 hex.
    pub sha256: String,
    /// MD5 hex of the whole file (single objects only; `None` when segmented).
    pub md5: Option<String>,
    /// Segments (static large objects only).
    pub segments: Vec<SegmentDigest>,
}

const CHUNK: usize = 256 << 10;

/// Hashes a file in one streaming pass: SHA-256 (ring) and MD5 in two threads fed the same
/// 256 KiB chunks (about 2 MiB in flight at most). With a segment plan, MD5 is per segment.
pub fn hash_file(path: &Path, plan: Option<SegmentPlan>, progress: bool) -> Result<FileDigest> {
    hash_file_to(path, plan, progress, None)
}

/// [`hash_file`], also sending each segment's digest to `segments_to` as soon as it is
/// complete, so an upload can start on it while the rest of the file is hashed. The channel's
/// bound keeps the hashing at most that many segments ahead; when the receiver is gone the
/// hashing stops (the returned digest is then partial).
fn hash_file_to(
    path: &Path,
    plan: Option<SegmentPlan>,
    progress: bool,
    segments_to: Option<SyncSender<SegmentDigest>>,
) -> Result<FileDigest> {
    if segments_to.is_some() {
        yield_cpu();
    }
    let mut file = File::open(path).map_err(io_err("open", path))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = Progress::new("hashing", total, progress);
    let (sha_tx, sha_rx) = sync_channel::<Arc<Vec<u8>>>(4);
    let (md5_tx, md5_rx) = sync_channel::<Arc<Vec<u8>>>(4);
    let (size, sha256, (md5, segments)) = std::thread::scope(|scope| {
        let sha = std::thread::Builder::new()
            .name("ok-sha256".into())
            .spawn_scoped(scope, move || {
                let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
                for chunk in sha_rx {
                    ctx.update(&chunk);
                }
                hex(ctx.finish().as_ref())
            })
            .expect("spawn the SHA-256 thread");
        let md5 = std::thread::Builder::new()
            .name("ok-md5".into())
            .spawn_scoped(scope, move || md5_worker(md5_rx, plan, segments_to))
            .expect("spawn the MD5 thread");
        let mut size = 0u64;
        let read = loop {
            let mut buf = vec![0u8; CHUNK];
            let mut filled = 0;
            // Fill whole chunks (short reads happen on pipes and network file systems).
            while filled < CHUNK {
                match file.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if filled == 0 {
                break Ok(());
            }
            buf.truncate(filled);
            size += filled as u64;
            bar.advance(filled as u64);
            let chunk = Arc::new(buf);
            if sha_tx.send(Arc::clone(&chunk)).is_err() || md5_tx.send(chunk).is_err() {
                break Ok(());
            }
        };
        drop(sha_tx);
        drop(md5_tx);
        let sha = sha.join().expect("sha256 thread");
        let md5 = md5.join().expect("md5 thread");
        read.map(|()| (size, sha, md5))
    })
    .map_err(io_err("read", path))?;
    bar.finish();
    Ok(FileDigest {
        size,
        sha256,
        md5,
        segments,
    })
}

fn md5_worker(
    chunks: Receiver<Arc<Vec<u8>>>,
    plan: Option<SegmentPlan>,
    segments_to: Option<SyncSender<SegmentDigest>>,
) -> (Option<String>, Vec<SegmentDigest>) {
    let Some(plan) = plan else {
        let mut whole = Md5::new();
        for chunk in chunks {
            whole.update(&chunk[..]);
        }
        return (Some(hex(&whole.finalize())), vec![]);
    };
    let mut segments = vec![];
    let mut hasher = Md5::new();
    let (mut offset, mut filled) = (0u64, 0u64);
    let mut segment_size = plan.len_of(0);
    for chunk in chunks {
        let mut data = &chunk[..];
        while !data.is_empty() {
            let take = (segment_size - filled).min(data.len() as u64) as usize;
            hasher.update(&data[..take]);
            filled += take as u64;
            data = &data[take..];
            if filled == segment_size {
                let segment = SegmentDigest {
                    offset,
                    len: filled,
                    md5: hex(&hasher.finalize_reset()),
                };
                if !deliver(&segments_to, &segment) {
                    // Nobody is uploading any more: dropping `chunks` stops the reader.
                    return (None, segments);
                }
                segments.push(segment);
                offset += filled;
                filled = 0;
                segment_size = plan.len_of(segments.len());
            }
        }
    }
    if filled > 0 || segments.is_empty() {
        let segment = SegmentDigest {
            offset,
            len: filled,
            md5: hex(&hasher.finalize()),
        };
        if deliver(&segments_to, &segment) {
            segments.push(segment);
        }
    }
    (None, segments)
}

/// Lowers the calling thread's priority to the lowest (nice 19), so that hashing ahead of an
/// upload only takes CPU time nothing else wants (threads created afterwards inherit it).
fn yield_cpu() {
    let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19);
}

/// Sends `segment` to the uploader, if there is one; false when it has gone.
fn deliver(to: &Option<SyncSender<SegmentDigest>>, segment: &SegmentDigest) -> bool {
    to.as_ref()
        .is_none_or(|tx| tx.send(segment.clone()).is_ok())
}

/// The ETag Swift gives a static large object: MD5 of the concatenated segment ETags.
pub fn slo_etag(segments: &[SegmentDigest]) -> String {
    let mut h = Md5::new();
    for s in segments {
        h.update(s.md5.as_bytes());
    }
    hex(&h.finalize())
}

/// The object name: `--object` as given (with a warning when it lacks the content hash),
/// the file name when it already holds the first 12 hex of its SHA-256, else
/// `<stem>-<sha12>.tar.gz` (other extensions are kept: `<stem>-<sha12>.rpm`). A new file
/// therefore never hides behind the URL of an old one.
pub fn object_name(file: &Path, sha256: &str, explicit: Option<&str>) -> (String, Option<String>) {
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

fn content_type(object: &str) -> &'static str {
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
fn recorded_checksum(file: &Path) -> Option<String> {
    let text = std::fs::read_to_string(crate::artifact::manifest::checksum_path(file)).ok()?;
    Some(text.split_whitespace().next().unwrap_or("").to_lowercase())
}

/// A SHA-256 in hex, as [`hash_file`] writes it.
fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `FILE.sha256` (sha256sum format) beside the file, when present, must agree.
fn check_recorded_checksum(file: &Path, sha256: &str) -> Result<()> {
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
/// [`super::auth::discover`]), verifies it, and signs a TempURL. Everything local (options,
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

/// [`upload_artifact`] over an existing connection.
pub fn upload_with(swift: &mut Swift, opts: &UploadOptions, file: &Path) -> Result<UploadReport> {
    let prepared = prepare(opts, file)?;
    upload_prepared(swift, opts, file, prepared)
}

/// The remote half of an upload: `prepared` (from [`prepare`] on the same file) goes up,
/// is verified and signed.
pub fn upload_prepared(
    swift: &mut Swift,
    opts: &UploadOptions,
    file: &Path,
    prepared: Prepared,
) -> Result<UploadReport> {
    let Prepared {
        mut digest,
        size,
        sha256,
        object,
        slo,
        mut warnings,
    } = prepared;
    let account = swift.storage_url().to_string();
    let url = object_url(&account, &opts.container, &object);
    let display_name = format!("{}/{}", opts.container, object);

    // Look before touching anything: a refused upload changes nothing remotely.
    let container_head = container_head(swift, &account, &opts.container)?;
    let container_exists = container_head.is_some();
    let existing = if container_exists {
        let head = swift.request("HEAD", &url, &[], None)?;
        match head.status {
            404 => Existing::Missing,
            200 | 204 => {
                // Whether it is this file takes the file's own hashes: take them now if the
                // upload was to hash while streaming.
                let digest = match &mut digest {
                    Some(known) => &*known,
                    None => digest.insert(hash_for(opts, file, slo)?),
                };
                classify(head, digest, slo)
            }
            _ => return Err(expect(head, "HEAD", &url, &[200]).unwrap_err()),
        }
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
            object,
            file: file.into(),
            existing: existing.clone(),
            new: sha256,
        }
        .into());
    }
    if !container_exists {
        create_container(swift, &account, &opts.container)?;
    }

    let mut segments_in = None;
    let hashed_while_uploading = digest.is_none();
    let (action, etag, segments_reused, digest) = match existing {
        Existing::Same(head) => {
            let etag = head
                .header("etag")
                .unwrap_or_default()
                .trim_matches('"')
                .to_string();
            let digest = digest.expect("hashed to compare with the existing object");
            (UploadAction::Reused, etag, 0, digest)
        }
        other => {
            let action = if matches!(other, Existing::Missing) {
                UploadAction::Uploaded
            } else {
                warnings.push(format!(
                    "replaced {display_name}: every URL already handed out for it now serves the new file"
                ));
                UploadAction::Replaced
            };
            // A large object being replaced: its segments, read before the new manifest
            // overwrites the list.
            let replaced = match other {
                Existing::Different { slo: true, .. } => {
                    replaced_segments(swift, &url, &opts.container, &object, &mut warnings)
                }
                _ => vec![],
            };
            let mut new_prefix = None;
            let ctype = content_type(&object);
            let uploaded = if slo {
                // A container-scoped TempURL key authorizes requests to its own container
                // only, and Swift fetches the segments with the URL's authorization: with
                // such a key (the usual case, and the one created here) the segments must
                // live in the same container, else every GET of the URL fails (409).
                let segments_container =
                    if tempurl::signs_with_account_key(swift, &account, container_head.as_ref())? {
                        format!("{}_segments", opts.container)
                    } else {
                        opts.container.clone()
                    };
                validate_container(&segments_container)?;
                segments_in = Some(segments_container.clone());
                let target = SloTarget {
                    account: &account,
                    segments_container: &segments_container,
                    object: &object,
                    content_type: ctype,
                    size,
                    sha256: &sha256,
                    fresh: !container_exists && segments_container == opts.container,
                };
                new_prefix = Some(format!(
                    "/{segments_container}/{}",
                    target.segment_prefix(opts.plan())
                ));
                put_slo(swift, opts, file, &target, digest)
            } else {
                let digest = digest.expect("single objects are hashed before the upload");
                let md5 = digest.md5.clone().unwrap_or_default();
                put_object(swift, opts, &url, file, &digest, &md5, ctype).map(|()| (md5, 0, digest))
            };
            let (etag, reused, digest) = uploaded.inspect_err(|_| {
                if !container_exists {
                    remove_if_empty(swift, &account, &opts.container);
                }
            })?;
            verify(
                swift,
                &url,
                &Expected {
                    size: digest.size,
                    etag: &etag,
                    sha256: &digest.sha256,
                    slo,
                },
            )?;
            let kept = new_prefix.as_deref();
            delete_segments(swift, &account, &replaced, kept, &mut warnings);
            (action, etag, reused, digest)
        }
    };

    let expires = validate_expiry(opts.expiry)?;
    let (key, key_source) = tempurl::ensure_key(swift, &account, &opts.container)?;
    let temp_url = TempUrl::sign(
        &account,
        &opts.container,
        &object,
        &key,
        opts.digest,
        expires,
    )?;
    check_temp_url(swift, &temp_url, digest.size)?;
    Ok(UploadReport {
        action,
        storage_url: account,
        container: opts.container.clone(),
        object,
        size: digest.size,
        sha256: digest.sha256,
        etag,
        segments: if segments_in.is_some() {
            digest.segments.len()
        } else {
            0
        },
        segments_container: segments_in,
        segments_reused,
        hashed_while_uploading,
        container_created: !container_exists,
        temp_url,
        key_source,
        warnings,
    })
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
                digest: url.digest(),
            }
            .into());
        }
        swift.pause(retry);
        retry += 1;
    }
}

/// The container's HEAD, or `None` when it does not exist.
fn container_head(swift: &mut Swift, account: &str, container: &str) -> Result<Option<Reply>> {
    let url = container_url(account, container);
    let head = swift.request("HEAD", &url, &[], None)?;
    match head.status {
        404 => Ok(None),
        _ => expect(head, "HEAD", &url, &[200, 204]).map(Some),
    }
}

/// Deletes a container this upload created, after the upload failed. Best effort, and safe:
/// Swift refuses to delete a container that holds anything (409).
fn remove_if_empty(swift: &mut Swift, account: &str, container: &str) {
    let _ = swift.request("DELETE", &container_url(account, container), &[], None);
}

fn create_container(swift: &mut Swift, account: &str, container: &str) -> Result<()> {
    let url = container_url(account, container);
    let reply = swift.request("PUT", &url, &[("Content-Length", "0")], None)?;
    expect(reply, "PUT", &url, &[201, 202, 204]).map(|_| ())
}

fn put_checked(
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

fn put_object(
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

/// Where a static large object goes.
struct SloTarget<'a> {
    account: &'a str,
    segments_container: &'a str,
    object: &'a str,
    content_type: &'a str,
    /// Bytes, from the file's metadata (for the progress bar).
    size: u64,
    /// The SHA-256 the object is named after: computed, or recorded in `FILE.sha256`.
    sha256: &'a str,
    /// The segments container was created by this upload (so it holds no segment yet).
    fresh: bool,
}

impl SloTarget<'_> {
    /// Where the segments go (the object name, `/slo/`, then what they are cut from and how).
    fn segment_prefix(&self, plan: SegmentPlan) -> String {
        format!(
            "{}/slo/{}/{}/{}-{}/",
            self.object,
            self.sha256,
            self.size,
            SegmentPlan::FIRST,
            plan.max
        )
    }

    /// Segment `index`'s object name: content-addressed by the whole file, so a re-run finds
    /// the segments an interrupted upload left.
    fn segment_name(&self, index: usize, plan: SegmentPlan) -> String {
        format!("{}{index:08}", self.segment_prefix(plan))
    }
}

/// The segments (`/container/name`) of the large object at `url` that this tool made for
/// `object` (under `<object>/slo/`, in `container` or `<container>_segments`): the ones a
/// replacement may delete. Anything else the manifest lists is left alone. A manifest that
/// cannot be read costs a warning, not the upload.
fn replaced_segments(
    swift: &mut Swift,
    url: &str,
    container: &str,
    object: &str,
    warnings: &mut Vec<String>,
) -> Vec<String> {
    let reply = match swift.request("GET", &format!("{url}?multipart-manifest=get"), &[], None) {
        Ok(reply) if reply.status == 200 => reply,
        Ok(reply) => {
            warnings.push(format!(
                "the manifest of {container}/{object} could not be read ({}): its old segments stay",
                reply.status
            ));
            return vec![];
        }
        Err(e) => {
            warnings.push(format!(
                "the manifest of {container}/{object} could not be read ({e}): its old segments stay"
            ));
            return vec![];
        }
    };
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&reply.body).unwrap_or_default();
    let ours = [
        format!("/{container}/{object}/slo/"),
        format!("/{container}_segments/{object}/slo/"),
    ];
    listed
        .iter()
        .filter_map(|seg| seg["name"].as_str())
        .filter(|name| ours.iter().any(|prefix| name.starts_with(prefix.as_str())))
        .map(str::to_string)
        .collect()
}

/// Deletes `segments` (`/container/name`: those of a replaced large object, or of an upload
/// that failed its checksum), except those under `kept` (a new object's own). Best effort: a
/// segment left behind costs a warning.
fn delete_segments(
    swift: &mut Swift,
    account: &str,
    segments: &[String],
    kept: Option<&str>,
    warnings: &mut Vec<String>,
) {
    let mut left = 0;
    for path in segments {
        if kept.is_some_and(|prefix| path.starts_with(prefix)) {
            continue;
        }
        let Some((container, name)) = path.trim_start_matches('/').split_once('/') else {
            continue;
        };
        let url = object_url(account, container, name);
        match swift.request("DELETE", &url, &[], None) {
            Ok(reply) if matches!(reply.status, 204 | 404) => {}
            _ => left += 1,
        }
    }
    if left > 0 {
        warnings.push(format!(
            "{left} segment(s) could not be deleted (they are under <object>/slo/ and serve nothing now)"
        ));
    }
}

/// Segments into the segments container, then the manifest; returns the SLO ETag, how many
/// segments were already there, and the file's digest.
///
/// Segments hashed before (`known`) go up one after another. Otherwise a thread hashes
/// segment n+1 while segment n uploads (each segment's MD5 is still its `ETag`, sent before
/// its body), and the whole file must hash to the SHA-256 the object is named after before
/// the manifest makes the segments an object; if it does not, the segments uploaded now are
/// deleted again.
fn put_slo(
    swift: &mut Swift,
    opts: &UploadOptions,
    file: &Path,
    target: &SloTarget<'_>,
    known: Option<FileDigest>,
) -> Result<(String, usize, FileDigest)> {
    // The object's own container exists by now; a separate segments container may not.
    let created = target.segments_container != opts.container
        && container_head(swift, target.account, target.segments_container)?.is_none();
    if created {
        create_container(swift, target.account, target.segments_container)?;
    }
    let bar = Progress::new("uploading", target.size, opts.connect.progress);
    let fresh = created || target.fresh;
    let result = match known {
        Some(digest) => {
            let segments = digest.segments.clone().into_iter();
            put_segments(swift, opts, file, target, segments, fresh, &bar).map(|put| (digest, put))
        }
        None => std::thread::scope(|scope| {
            // One digest queued and one being hashed: at most two segments ahead.
            let (tx, rx) = sync_channel(1);
            let plan = opts.plan();
            let hasher = std::thread::Builder::new()
                .name("ok-read".into())
                .spawn_scoped(scope, move || {
                    hash_file_to(file, Some(plan), false, Some(tx))
                })
                .expect("spawn the hashing thread");
            // `rx` is dropped when put_segments returns, which stops the hasher on an error.
            let put = put_segments(swift, opts, file, target, rx.into_iter(), fresh, &bar);
            let hashed = hasher.join().expect("hash thread");
            let put = put?;
            let digest = hashed?;
            if digest.sha256 != target.sha256 || put.count != digest.segments.len() {
                // Best effort: nothing points at them, and a re-run would overwrite them.
                let paths: Vec<String> = put
                    .uploaded
                    .iter()
                    .map(|name| format!("/{}/{name}", target.segments_container))
                    .collect();
                delete_segments(swift, target.account, &paths, None, &mut vec![]);
                check_recorded_checksum(file, &digest.sha256)?;
                return Err(SwiftError::VerifyFailed {
                    url: object_url(target.account, &opts.container, target.object),
                    what: format!(
                        "{} segment(s) uploaded, {} hashed (the file changed during the upload?)",
                        put.count,
                        digest.segments.len()
                    ),
                }
                .into());
            }
            Ok((digest, put))
        }),
    };
    bar.finish();
    let (digest, put) = result.inspect_err(|_| {
        if created {
            remove_if_empty(swift, target.account, target.segments_container);
        }
    })?;

    let manifest: Vec<serde_json::Value> = digest
        .segments
        .iter()
        .enumerate()
        .map(|(i, seg)| {
            serde_json::json!({
                "path": format!(
                    "/{}/{}",
                    target.segments_container,
                    target.segment_name(i, opts.plan())
                ),
                "etag": seg.md5,
                "size_bytes": seg.len,
            })
        })
        .collect();
    let etag = slo_etag(&digest.segments);
    let body = serde_json::to_vec(&manifest).expect("manifest serializes");
    let url = format!(
        "{}?multipart-manifest=put",
        object_url(target.account, &opts.container, target.object)
    );
    let headers = [
        // Swift's slo middleware answers 422 unless this is the MD5 of the segment ETags.
        ("ETag", etag.as_str()),
        ("X-Object-Meta-Sha256", digest.sha256.as_str()),
        ("Content-Type", target.content_type),
    ];
    put_checked(swift, &url, &headers, &Payload::Bytes(&body))?;
    Ok((etag, put.reused, digest))
}

/// What [`put_segments`] did.
struct SegmentsPut {
    /// Segments handled.
    count: usize,
    /// Segments that were already there with the right ETag and size.
    reused: usize,
    /// Names of the segments uploaded now.
    uploaded: Vec<String>,
}

/// Uploads each segment as it arrives, with its MD5 as `ETag`, unless Swift already has it
/// (not asked when the container is `fresh`).
fn put_segments(
    swift: &mut Swift,
    opts: &UploadOptions,
    file: &Path,
    target: &SloTarget<'_>,
    segments: impl Iterator<Item = SegmentDigest>,
    fresh: bool,
    bar: &Progress,
) -> Result<SegmentsPut> {
    let mut put = SegmentsPut {
        count: 0,
        reused: 0,
        uploaded: vec![],
    };
    for (i, seg) in segments.enumerate() {
        let name = target.segment_name(i, opts.plan());
        let url = object_url(target.account, target.segments_container, &name);
        let present = !fresh && {
            let head = swift.request("HEAD", &url, &[], None)?;
            head.status == 200
                && head.header("etag").map(|e| e.trim_matches('"')) == Some(seg.md5.as_str())
                && head.header("content-length").and_then(|v| v.parse().ok()) == Some(seg.len)
        };
        if present {
            put.reused += 1;
            bar.set(seg.offset + seg.len);
        } else {
            let payload = Payload::File {
                path: file,
                offset: seg.offset,
                len: seg.len,
                progress: Some(bar),
            };
            put_checked(swift, &url, &[("ETag", seg.md5.as_str())], &payload)?;
            put.uploaded.push(name);
        }
        put.count += 1;
    }
    Ok(put)
}

struct Expected<'a> {
    size: u64,
    etag: &'a str,
    sha256: &'a str,
    slo: bool,
}

/// What a HEAD shows that differs from `expected`, if anything.
fn mismatch(head: &Reply, expected: &Expected<'_>) -> Option<String> {
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
fn verify(swift: &mut Swift, url: &str, expected: &Expected<'_>) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Sha256;

    #[test]
    fn object_names_embed_the_hash() {
        let sha = "1a2b3c4d5e6f77778888999900001111222233334444555566667777aaaabbbb";
        let name = |f: &str| object_name(Path::new(f), sha, None).0;
        assert_eq!(name("/x/keys.tar.gz"), "keys-1a2b3c4d5e6f.tar.gz");
        assert_eq!(name("keys.tgz"), "keys-1a2b3c4d5e6f.tar.gz");
        assert_eq!(name("pkg.rpm"), "pkg-1a2b3c4d5e6f.rpm");
        assert_eq!(name("blob"), "blob-1a2b3c4d5e6f.tar.gz");
        assert_eq!(
            name("overcloud-keys-overcloud-1a2b3c4d5e6f.tar.gz"),
            "overcloud-keys-overcloud-1a2b3c4d5e6f.tar.gz"
        );
        let (o, w) = object_name(Path::new("k.tar.gz"), sha, Some("fixed.tar.gz"));
        assert_eq!(o, "fixed.tar.gz");
        assert!(w.unwrap().contains("1a2b3c4d5e6f"));
        let (_, w) = object_name(Path::new("k.tar.gz"), sha, Some("k-1a2b3c4d5e6f.tar.gz"));
        assert!(w.is_none());
    }

    #[test]
    fn container_and_expiry_validation() {
        assert!(validate_container("overcloud-artifacts").is_ok());
        let err = validate_container("a/b").unwrap_err();
        assert!(err.to_string().contains("'/'"), "{err}");
        assert!(validate_container("").is_err());
        assert!(validate_container(&"x".repeat(257)).is_err());
        assert!(validate_expiry(0).is_err());
        assert!(validate_expiry(-5).is_err());
        assert!(validate_expiry(i64::MAX).is_err());
        assert!(validate_expiry(60).unwrap() > tempurl::now());
        assert!(validate_object("a/b c.tar.gz").is_ok());
        for bad in ["", "/a", "a/../b", "./a"] {
            assert!(validate_object(bad).is_err(), "{bad:?}");
        }
    }

    fn md5_hex(b: &[u8]) -> String {
        hex(&Md5::digest(b))
    }

    #[test]
    fn hashes_whole_files_and_segments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        // Spans several read chunks and ends mid-segment.
        let data: Vec<u8> = (0..(CHUNK * 2 + 12345)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let whole = hash_file(&path, None, false).unwrap();
        assert_eq!(whole.size, data.len() as u64);
        assert_eq!(whole.sha256, hex(&Sha256::digest(&data)));
        assert_eq!(whole.md5.as_deref(), Some(md5_hex(&data).as_str()));
        let seg = 700_000u64;
        let split = hash_file(&path, Some(SegmentPlan { max: seg }), false).unwrap();
        assert_eq!(split.sha256, whole.sha256);
        assert_eq!(split.md5, None);
        let expected: Vec<SegmentDigest> = data
            .chunks(seg as usize)
            .enumerate()
            .map(|(i, c)| SegmentDigest {
                offset: i as u64 * seg,
                len: c.len() as u64,
                md5: md5_hex(c),
            })
            .collect();
        assert_eq!(split.segments, expected);
        // The SLO ETag as Swift's slo middleware computes it.
        let concat: String = expected.iter().map(|s| s.md5.as_str()).collect();
        assert_eq!(slo_etag(&split.segments), md5_hex(concat.as_bytes()));
        // An empty file is one empty segment (or the MD5 of nothing).
        let empty = dir.path().join("e");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(
            hash_file(&empty, None, false).unwrap().md5.as_deref(),
            Some("d41d8cd98f00b204e9800998ecf8427e")
        );
    }

    #[test]
    fn segments_start_small_and_double_up_to_the_maximum() {
        const MIB: u64 = 1 << 20;
        let plan = SegmentPlan { max: 256 * MIB };
        let lens: Vec<u64> = (0..9).map(|i| plan.len_of(i) / MIB).collect();
        assert_eq!(lens, [8, 16, 32, 64, 128, 256, 256, 256, 256]);
        // 1 GiB: 8+16+32+64+128+256+256+256 = 1016 MiB, then 8 MiB more.
        assert_eq!(plan.count(1024 * MIB), 9);
        assert_eq!(plan.count(8 * MIB), 1);
        assert_eq!(plan.count(8 * MIB + 1), 2);
        assert_eq!(plan.count(0), 1);
        // A maximum below the first length makes every segment that long.
        let small = SegmentPlan { max: 1000 };
        assert_eq!((small.len_of(0), small.len_of(70)), (1000, 1000));
        assert_eq!(small.count(3001), 4);
        // Far indexes do not overflow.
        let huge = SegmentPlan { max: u64::MAX };
        assert_eq!(huge.len_of(200), u64::MAX);
        assert_eq!(huge.len_of(60), u64::MAX);
        assert_eq!(huge.len_of(3), 64 * MIB);
    }

    #[test]
    fn segments_reach_the_uploader_as_they_are_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..(CHUNK * 3 + 777)).map(|i| (i % 241) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let seg = 500_000u64;
        let (tx, rx) = sync_channel(1);
        let (digest, sent) = std::thread::scope(|scope| {
            let hasher = scope
                .spawn(|| hash_file_to(&path, Some(SegmentPlan { max: seg }), false, Some(tx)));
            let sent: Vec<SegmentDigest> = rx.into_iter().collect();
            (hasher.join().unwrap().unwrap(), sent)
        });
        assert_eq!(sent, digest.segments, "every segment is sent, in order");
        assert_eq!(
            digest,
            hash_file(&path, Some(SegmentPlan { max: seg }), false).unwrap()
        );
        assert_eq!(sent.len(), data.len().div_ceil(seg as usize));

        // An uploader that stops after the first segment stops the hashing (no deadlock),
        // and the digest it leaves is partial.
        let (tx, rx) = sync_channel(0);
        let partial = std::thread::scope(|scope| {
            let hasher = scope
                .spawn(|| hash_file_to(&path, Some(SegmentPlan { max: seg }), false, Some(tx)));
            let first = rx.recv().unwrap();
            assert_eq!(first, digest.segments[0]);
            drop(rx);
            hasher.join().unwrap().unwrap()
        });
        assert!(partial.segments.len() < digest.segments.len());
    }

    #[test]
    fn recorded_checksums_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar.gz");
        std::fs::write(&path, b"x").unwrap();
        assert_eq!(recorded_checksum(&path), None);
        let sha = hex(&Sha256::digest(b"x"));
        std::fs::write(
            crate::artifact::manifest::checksum_path(&path),
            format!("{}  a.tar.gz\n", sha.to_uppercase()),
        )
        .unwrap();
        assert_eq!(recorded_checksum(&path).as_deref(), Some(sha.as_str()));
        assert!(is_sha256_hex(&sha));
        assert!(!is_sha256_hex(&sha[1..]));
        assert!(!is_sha256_hex(&sha.to_uppercase()));
        assert!(!is_sha256_hex(&format!("{}g", &sha[1..])));
    }

    #[test]
    fn recorded_checksum_must_agree() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar.gz");
        std::fs::write(&path, b"x").unwrap();
        let sha = hex(&Sha256::digest(b"x"));
        assert!(check_recorded_checksum(&path, &sha).is_ok());
        std::fs::write(
            crate::artifact::manifest::checksum_path(&path),
            format!("{sha}  a.tar.gz\n"),
        )
        .unwrap();
        assert!(check_recorded_checksum(&path, &sha).is_ok());
        std::fs::write(
            crate::artifact::manifest::checksum_path(&path),
            format!("{}  a.tar.gz\n", "0".repeat(64)),
        )
        .unwrap();
        assert!(check_recorded_checksum(&path, &sha).is_err());
    }

    #[test]
    fn verification_names_each_difference() {
        let mut headers = ureq::http::HeaderMap::new();
        headers.insert("content-length", "5".parse().unwrap());
        headers.insert("etag", "\"abc\"".parse().unwrap());
        headers.insert("x-object-meta-sha256", "DEF".parse().unwrap());
        let head = Reply {
            status: 200,
            headers,
            body: vec![],
        };
        let ok = Expected {
            size: 5,
            etag: "abc",
            sha256: "def",
            slo: false,
        };
        assert_eq!(mismatch(&head, &ok), None);
        let bad = Expected {
            size: 6,
            etag: "abd",
            sha256: "def",
            slo: true,
        };
        let what = mismatch(&head, &bad).unwrap();
        assert!(what.contains("size 5, expected 6"), "{what}");
        assert!(what.contains("ETag abc, expected abd"), "{what}");
        assert!(what.contains("not a static large object"), "{what}");
    }
}
