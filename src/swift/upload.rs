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

    // Look before touching anything: a refused upload changes nothing remotely.
    let container_head = container_head(swift, &account, &opts.container)?;
    let container_exists = container_head.is_some();
    let existing = if container_exists {
        existing_object(swift, opts, file, &url, slo, &mut digest)?
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
        Existing::Same(head) => Sent {
            action: UploadAction::Reused,
            etag: head
                .header("etag")
                .unwrap_or_default()
                .trim_matches('"')
                .to_string(),
            segments_reused: 0,
            digest: digest.expect("hashed to compare with the existing object"),
            segments_in: None,
        },
        other => send(swift, opts, file, &target, other, digest, &mut warnings)?,
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
    check_temp_url(swift, &temp_url, sent.digest.size)?;
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
    let action = if matches!(existing, Existing::Missing) {
        UploadAction::Uploaded
    } else {
        warnings.push(format!(
            "replaced {}/{}: every URL already handed out for it now serves the new file",
            opts.container, to.object
        ));
        UploadAction::Replaced
    };
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
        let digest = digest.expect("single objects are hashed before the upload");
        let md5 = digest.md5.clone().unwrap_or_default();
        put_object(swift, opts, to.url, file, &digest, &md5, ctype).map(|()| (md5, 0, digest))
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
mod tests {
    use super::*;
    use crate::swift::tempurl::hex;
    use md5::{Digest as _, Md5};
    use std::sync::mpsc::sync_channel;

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
        assert_eq!(whole.sha256, crate::encoding::sha256_hex(&data));
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
        let sha = crate::encoding::sha256_hex(b"x");
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
        let sha = crate::encoding::sha256_hex(b"x");
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
