use super::*;
use crate::token::test_support::{fixture, vectors};
use proptest::prelude::*;

fn verifier() -> &'static JwsVerifier {
    crate::token::test_support::inspector().jws().unwrap()
}

fn token(i: usize) -> String {
    vectors()["jws"][i]["token"].as_str().unwrap().to_owned()
}

#[test]
fn the_key_that_verified_is_named_among_several() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("other-jws/public/public.pem"),
        dir.path().join("a-old.pem"),
    )
    .unwrap();
    std::fs::copy(
        fixture("jws/public/public.pem"),
        dir.path().join("b-new.pem"),
    )
    .unwrap();
    let v = JwsVerifier::load(dir.path()).unwrap();
    assert_eq!(v.key_names(), "a-old.pem, b-new.pem");
    let (key, claims) = v.verify(token(0).as_bytes()).unwrap();
    assert_eq!(key.file, "b-new.pem");
    assert_eq!(claims.kind, PayloadKind::ProjectScoped);
}

#[test]
fn the_wrong_key_set_does_not_verify() {
    let v = JwsVerifier::load(&fixture("other-jws/public")).unwrap();
    assert_eq!(
        v.verify(token(0).as_bytes()).unwrap_err(),
        JwsError::BadSignature
    );
}

#[test]
fn scope_kinds_follow_the_claims() {
    let v = verifier();
    let kinds: Vec<PayloadKind> = (0..5)
        .map(|i| v.verify(token(i).as_bytes()).unwrap().1.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            PayloadKind::ProjectScoped,
            PayloadKind::SystemScoped,
            PayloadKind::TrustScoped,
            PayloadKind::ApplicationCredentialScoped,
            PayloadKind::FederatedUnscoped,
        ]
    );
}

#[test]
fn load_errors_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        JwsVerifier::load(&dir.path().join("nope")),
        Err(Error::RepositoryMissing(_))
    ));
    assert!(matches!(
        JwsVerifier::load(dir.path()),
        Err(Error::NoKeys { .. })
    ));
    std::fs::write(dir.path().join("notes.txt"), "not a key").unwrap();
    assert!(matches!(
        JwsVerifier::load(dir.path()),
        Err(Error::BadJwsKey { .. })
    ));
}

fn cases(default: u32) -> u32 {
    std::env::var("TOKEN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(1024)))]

    /// Fuzz: random dotted text never panics.
    #[test]
    fn random_jws_text_never_panics(text in proptest::collection::vec(proptest::sample::select(CHARS), 0..300)) {
        let _ = verifier().verify(&text);
    }

    /// Fuzz: a keystone JWS token with characters changed either fails or verifies to the
    /// same claims (a change in the unused bits of a part's last character).
    #[test]
    fn mutated_jws_tokens_fail_or_say_the_same(
        which in 0usize..5,
        edits in proptest::collection::vec(
            (any::<prop::sample::Index>(), proptest::sample::select(CHARS), 0u8..3), 1..3),
    ) {
        let original = token(which);
        let mut text = original.clone().into_bytes();
        for (at, ch, op) in edits {
            let i = at.index(text.len() + 1);
            match op {
                0 if i < text.len() => text[i] = ch,
                1 => text.insert(i, ch),
                _ => text.truncate(i),
            }
        }
        let v = verifier();
        if let Ok((_, claims)) = v.verify(&text) {
            prop_assert_eq!(claims, v.verify(original.as_bytes()).unwrap().1);
        }
    }
}
