//! Static large objects: segments under `<container>_segments/<object>/slo/`, uploaded
//! (only the missing ones on a re-run), checked, then the manifest; cleanup of the segments
//! of a failed or replaced upload.

use std::path::Path;
use std::sync::mpsc::sync_channel;

use super::SwiftError;
use super::client::Swift;
use super::hashing::*;
use super::http::{Payload, object_url};
use super::objects::*;
use super::options::*;
use super::progress::Progress;
use crate::error::Result;

/// Where a static large object goes.
pub(crate) struct SloTarget<'a> {
    pub(crate) account: &'a str,
    pub(crate) segments_container: &'a str,
    pub(crate) object: &'a str,
    pub(crate) content_type: &'a str,
    /// Bytes, from the file's metadata (for the progress bar).
    pub(crate) size: u64,
    /// The SHA-256 the object is named after: computed, or recorded in `FILE.sha256`.
    pub(crate) sha256: &'a str,
    /// The segments container was created by this upload (so it holds no segment yet).
    pub(crate) fresh: bool,
}

impl SloTarget<'_> {
    /// Where the segments go (the object name, `/slo/`, then what they are cut from and how).
    pub(crate) fn segment_prefix(&self, plan: SegmentPlan) -> String {
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
pub(crate) fn replaced_segments(
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
pub(crate) fn delete_segments(
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
pub(crate) fn put_slo(
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
        None => put_hashing(swift, opts, file, target, fresh, &bar),
    };
    bar.finish();
    let (digest, put) = result.inspect_err(|_| {
        if created {
            remove_if_empty(swift, target.account, target.segments_container);
        }
    })?;

    let etag = put_manifest(swift, opts, target, &digest)?;
    Ok((etag, put.reused, digest))
}

/// Uploads the segments while a thread hashes the file (segment n+1 hashed while segment n
/// uploads). Fails, deleting the segments uploaded now, unless the whole file hashed to the
/// SHA-256 the object is named after, in as many segments as were put.
fn put_hashing(
    swift: &mut Swift,
    opts: &UploadOptions,
    file: &Path,
    target: &SloTarget<'_>,
    fresh: bool,
    bar: &Progress,
) -> Result<(FileDigest, SegmentsPut)> {
    std::thread::scope(|scope| {
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
        let put = put_segments(swift, opts, file, target, rx.into_iter(), fresh, bar);
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
    })
}

/// Puts the manifest that makes the uploaded segments one object; returns its ETag (the MD5
/// of the segment ETags).
fn put_manifest(
    swift: &mut Swift,
    opts: &UploadOptions,
    target: &SloTarget<'_>,
    digest: &FileDigest,
) -> Result<String> {
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
    Ok(etag)
}

/// What [`put_segments`] did.
pub(crate) struct SegmentsPut {
    /// Segments handled.
    pub(crate) count: usize,
    /// Segments that were already there with the right ETag and size.
    pub(crate) reused: usize,
    /// Names of the segments uploaded now.
    pub(crate) uploaded: Vec<String>,
}

/// Uploads each segment as it arrives, with its MD5 as `ETag`, unless Swift already has it
/// (not asked when the container is `fresh`).
pub(crate) fn put_segments(
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
