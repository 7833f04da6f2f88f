use super::*;
use crate::token::test_support::{fixture, fixture_key, inspector, seal, vectors};
use crate::token::{FAILURE_CODES, FailureCode, Inspection};
use proptest::prelude::*;

fn ring() -> FernetKeyring {
    FernetKeyring::load(&fixture("fernet-keys")).unwrap()
}

/// msgpack `[0, [false, "u"], 2, 1.0, []]`: a minimal unscoped payload.
const UNSCOPED: &[u8] = &[
    0x95, 0, 0x92, 0xc2, 0xa1, b'u', 2, 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x90,
];

#[test]
fn reports_the_key_file_and_role_that_decrypted() {
    let ring = ring();
    let mut scratch = Scratch::default();
    for (file, role) in [
        ("0", KeyRole::Staged),
        ("1", KeyRole::Secondary),
        ("2", KeyRole::Primary),
    ] {
        let key = fixture_key(file);
        let token = seal(&key, UNSCOPED, 1_700_000_000, [9; 16]);
        let d = ring.decrypt(token.as_bytes(), &mut scratch).unwrap();
        assert_eq!((d.key.file.as_str(), d.key.role), (file, role));
        assert_eq!(d.key.fingerprint, key.fingerprint());
        assert_eq!(d.timestamp, 1_700_000_000);
        assert_eq!(d.plaintext, UNSCOPED);
    }
}

#[test]
fn tries_keys_in_keystones_order() {
    // keystone's load_keys: numbers descending, so primary first and staged 0 last.
    let order: Vec<u64> = ring().slots.iter().map(|s| s.info.index).collect();
    assert_eq!(order, [2, 1, 0]);
}

#[test]
fn a_keyring_never_prints_key_material() {
    let ring = ring();
    let shown = format!("{ring:?}");
    for file in ["0", "1", "2"] {
        let key = fixture_key(file);
        assert!(!shown.contains(key.encode().as_str()));
        assert!(!shown.contains(&crate::keys::fernet::hex(key.signing_key())));
    }
    assert!(shown.contains("[redacted]"));
}

#[test]
fn the_hmac_is_checked_before_decryption() {
    // A token whose HMAC is right for key 2 but whose ciphertext is garbage: bad padding
    // shows the HMAC matched; a flipped tag byte is "no key".
    let key = fixture_key("2");
    let token = seal(&key, UNSCOPED, 1, [0; 16]);
    let mut raw = TOKEN_BASE64.decode(&token).unwrap();
    let n = raw.len();
    raw[n - 1] ^= 1;
    let flipped = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw);
    assert_eq!(
        ring()
            .decrypt(flipped.as_bytes(), &mut Scratch::default())
            .unwrap_err(),
        FernetError::NoKey
    );
}

#[test]
fn load_errors_are_usage_errors_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    assert!(
        matches!(FernetKeyring::load(&missing), Err(Error::RepositoryMissing(p)) if p == missing)
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(
        matches!(FernetKeyring::load(&empty), Err(Error::NoKeys { path, .. }) if path == empty)
    );
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    assert!(matches!(
        FernetKeyring::load(&file),
        Err(Error::NotADirectory(_))
    ));
    // A README only, as keystone would start with: still no keys.
    std::fs::write(empty.join("README"), "keys go here").unwrap();
    assert!(matches!(
        FernetKeyring::load(&empty),
        Err(Error::NoKeys { .. })
    ));
}

#[test]
fn a_damaged_repository_is_inspected_with_its_good_keys_and_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("keys");
    std::fs::create_dir(&repo).unwrap();
    std::fs::copy(fixture("fernet-keys/2"), repo.join("2")).unwrap();
    std::fs::write(repo.join("1"), "short").unwrap();
    std::fs::write(repo.join("README"), "x").unwrap();
    let ring = FernetKeyring::load(&repo).unwrap();
    assert_eq!(ring.key_names(), "2");
    let warnings = ring.warnings().join("\n");
    assert!(warnings.contains("stray-file"), "{warnings}");
    assert!(warnings.contains("staged-key-missing"), "{warnings}");
    let token = seal(&fixture_key("2"), UNSCOPED, 1, [0; 16]);
    assert!(
        ring.decrypt(token.as_bytes(), &mut Scratch::default())
            .is_ok()
    );
}

fn cases(default: u32) -> u32 {
    std::env::var("TOKEN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Every keystone-made Fernet token of the vectors.
fn good_tokens() -> Vec<String> {
    vectors()["fernet"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["token"].as_str().unwrap().to_owned())
        .collect()
}

const BASE64_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(4096)))]

    /// Fuzz: any line is inspected into a result with a known code, never a panic.
    #[test]
    fn random_lines_never_panic(line in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Inspection::Failed(f) = inspector().inspect(&line, &mut Default::default()) {
            prop_assert!(FAILURE_CODES.contains(&f.code.as_str()));
        }
    }

    /// Fuzz: random URL-safe text of token-like lengths (gets past the base64 check).
    #[test]
    fn random_base64_never_panics(
        mut text in proptest::collection::vec(proptest::sample::select(BASE64_CHARS), 0..300),
        fernet_prefix in any::<bool>(),
    ) {
        if fernet_prefix {
            text.splice(0..0, b"gAAAAA".iter().copied());
        }
        if let Inspection::Failed(f) = inspector().inspect(&text, &mut Default::default()) {
            prop_assert!(FAILURE_CODES.contains(&f.code.as_str()));
        }
    }

    /// Fuzz: a keystone token with characters replaced, inserted or cut either fails with a
    /// known code or still decodes to exactly the same thing (a change in the unused bits of
    /// the last character or in the padding), never a panic and never another payload.
    #[test]
    fn mutated_tokens_fail_cleanly(
        which in any::<prop::sample::Index>(),
        edits in proptest::collection::vec(
            (any::<prop::sample::Index>(), proptest::sample::select(BASE64_CHARS), 0u8..4), 1..4),
    ) {
        let tokens = good_tokens();
        let original = which.get(&tokens).clone();
        let mut token = original.clone().into_bytes();
        for (at, ch, op) in edits {
            let i = at.index(token.len() + 1);
            match op {
                0 | 1 if i < token.len() => token[i] = ch,
                2 => token.insert(i, ch),
                _ => token.truncate(i),
            }
        }
        let inspector = inspector();
        let mut scratch = Scratch::default();
        let got = format!("{:?}", inspector.inspect(&token, &mut scratch));
        let want = format!("{:?}", inspector.inspect(original.as_bytes(), &mut scratch));
        if got != want {
            let result = inspector.inspect(&token, &mut scratch);
            let Inspection::Failed(f) = result else {
                return Err(TestCaseError::fail(format!("mutation decoded differently: {got}")));
            };
            prop_assert!(FAILURE_CODES.contains(&f.code.as_str()));
        }
    }

    /// Fuzz the payload decoder through the whole path: arbitrary plaintexts sealed with a
    /// real key (so the HMAC passes) decode or fail with a payload code.
    #[test]
    fn sealed_garbage_fails_as_a_payload_problem(
        plaintext in proptest::collection::vec(any::<u8>(), 0..120),
        timestamp in any::<u64>(),
    ) {
        let token = seal(&fixture_key("2"), &plaintext, timestamp, [5; 16]);
        match inspector().inspect(token.as_bytes(), &mut Default::default()) {
            Inspection::Failed(f) => prop_assert!(
                [FailureCode::BadPayload, FailureCode::UnknownPayloadVersion].contains(&f.code), "{}", f.code),
            Inspection::Fernet { key, .. } => prop_assert_eq!(&key.file, "2"),
            Inspection::Jws { .. } => prop_assert!(false),
        }
    }
}
