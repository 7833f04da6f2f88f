//! Hashing a file for its upload: MD5 (the `ETag` Swift checks) and SHA-256 (the name and
//! metadata), in 256 KiB chunks; for a large object, per segment and one segment ahead of
//! the upload, by threads at the lowest CPU priority.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use md5::{Digest as _, Md5};

use super::progress::Progress;
use super::tempurl::hex;
use crate::error::Result;
use crate::fsutil::io_err;

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
    pub(crate) fn len_of(&self, index: usize) -> u64 {
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

pub(crate) const CHUNK: usize = 256 << 10;

/// Hashes a file in one streaming pass: SHA-256 (ring) and MD5 in two threads fed the same
/// 256 KiB chunks (about 2 MiB in flight at most). With a segment plan, MD5 is per segment.
pub(crate) fn hash_file(
    path: &Path,
    plan: Option<SegmentPlan>,
    progress: bool,
) -> Result<FileDigest> {
    hash_file_to(path, plan, progress, None)
}

/// [`hash_file`], also sending each segment's digest to `segments_to` as soon as it is
/// complete, so an upload can start on it while the rest of the file is hashed. The channel's
/// bound keeps the hashing at most that many segments ahead; when the receiver is gone the
/// hashing stops (the returned digest is then partial).
pub(crate) fn hash_file_to(
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

pub(crate) fn md5_worker(
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
pub(crate) fn yield_cpu() {
    let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19);
}

/// Sends `segment` to the uploader, if there is one; false when it has gone.
pub(crate) fn deliver(to: &Option<SyncSender<SegmentDigest>>, segment: &SegmentDigest) -> bool {
    to.as_ref()
        .is_none_or(|tx| tx.send(segment.clone()).is_ok())
}

/// The ETag Swift gives a static large object: MD5 of the concatenated segment ETags.
pub(crate) fn slo_etag(segments: &[SegmentDigest]) -> String {
    let mut h = Md5::new();
    for s in segments {
        h.update(s.md5.as_bytes());
    }
    hex(&h.finalize())
}
