//! Tests of `upload`: object names, comparing with what is already there, uploads.
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
        let hasher =
            scope.spawn(|| hash_file_to(&path, Some(SegmentPlan { max: seg }), false, Some(tx)));
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
        let hasher =
            scope.spawn(|| hash_file_to(&path, Some(SegmentPlan { max: seg }), false, Some(tx)));
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
