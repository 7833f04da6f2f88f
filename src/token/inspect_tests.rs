use super::*;
use serde_json::{Value, json};
use test_support::{inspector, vectors};

/// The fields of keystone's `validate_token` tuple.
const FIELDS: [&str; 15] = [
    "user_id",
    "methods",
    "audit_ids",
    "system",
    "domain_id",
    "project_id",
    "trust_id",
    "federated_group_ids",
    "identity_provider_id",
    "protocol_id",
    "access_token_id",
    "app_cred_id",
    "thumbprint",
    "issued_at",
    "expires_at",
];

/// Our decoded fields, named as keystone names them.
fn fields(inspection: &Inspection<'_>) -> (String, Value) {
    let (key, mut v) = match inspection {
        Inspection::Fernet {
            key,
            timestamp,
            payload,
        } => {
            let mut v = serde_json::to_value(payload).unwrap();
            v["issued_at"] = json!(
                time::IsoTime::from_seconds(*timestamp as i64)
                    .unwrap()
                    .to_string()
            );
            (format!("{} {}", key.file, key.role), v)
        }
        Inspection::Jws { key, claims } => {
            (key.file.clone(), serde_json::to_value(claims).unwrap())
        }
        Inspection::Failed(f) => panic!("{}: {}", f.code, f.message),
    };
    let map = v.as_object_mut().unwrap();
    map.retain(|k, _| FIELDS.contains(&k.as_str()));
    (key, v)
}

#[test]
fn decodes_every_keystone_payload_like_keystone() {
    let inspector = inspector();
    let vectors = vectors();
    let mut scratch = fernet::Scratch::default();
    let mut versions = std::collections::BTreeSet::new();
    for v in vectors["fernet"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let result = inspector.inspect(v["token"].as_str().unwrap().as_bytes(), &mut scratch);
        if let Inspection::Fernet { payload, .. } = &result {
            versions.insert(payload.version);
        }
        let (key, got) = fields(&result);
        let want_key = format!(
            "{} {}",
            v["key"].as_str().unwrap(),
            v["role"].as_str().unwrap()
        );
        assert_eq!(key, want_key, "{name}: key");
        assert_eq!(got, v["expected"], "{name}");
    }
    assert_eq!(
        versions.len(),
        11,
        "every payload version has a vector: {versions:?}"
    );
}

#[test]
fn verifies_and_decodes_keystone_jws_tokens() {
    let inspector = inspector();
    let mut scratch = fernet::Scratch::default();
    for v in vectors()["jws"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let result = inspector.inspect(v["token"].as_str().unwrap().as_bytes(), &mut scratch);
        let (key, got) = fields(&result);
        assert_eq!(key, "public.pem", "{name}");
        assert_eq!(got, v["expected"], "{name}");
    }
}

#[test]
fn bad_tokens_fail_with_their_code() {
    let inspector = inspector();
    let mut scratch = fernet::Scratch::default();
    for v in vectors()["failures"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        match inspector.inspect(v["token"].as_str().unwrap().as_bytes(), &mut scratch) {
            Inspection::Failed(f) => {
                assert_eq!(
                    f.code.as_str(),
                    v["code"].as_str().unwrap(),
                    "{name}: {}",
                    f.message
                );
                assert!(FAILURE_CODES.contains(&f.code.as_str()), "{name}");
            }
            other => panic!("{name} decoded: {other:?}"),
        }
    }
}

#[test]
fn no_key_message_names_the_repository_and_its_keys() {
    let inspector = inspector();
    let token = vectors()["failures"][0]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let Inspection::Failed(f) = inspector.inspect(token.as_bytes(), &mut Default::default()) else {
        panic!("decoded a token from another cloud");
    };
    assert_eq!(f.code, FailureCode::NoKey);
    assert!(
        f.message.starts_with("no key in Fernet repository "),
        "{}",
        f.message
    );
    assert!(
        f.message
            .contains("fixtures/tokens/fernet-keys (keys 0, 1, 2)"),
        "{}",
        f.message
    );
}

#[test]
fn padding_and_surrounding_whitespace_do_not_matter() {
    let inspector = inspector();
    let token = vectors()["fernet"][0]["token"].as_str().unwrap().to_owned();
    let padded = format!("  {token}{}\r\n", "=".repeat((4 - token.len() % 4) % 4));
    let mut scratch = fernet::Scratch::default();
    assert_eq!(
        fields(&inspector.inspect(padded.as_bytes(), &mut scratch)),
        fields(&inspector.inspect(token.as_bytes(), &mut scratch))
    );
}

#[test]
fn a_token_of_the_other_kind_says_which_flag_is_missing() {
    let ring = fernet::FernetKeyring::load(&test_support::fixture("fernet-keys")).unwrap();
    let fernet_only = Inspector::new(Some(ring), None, Default::default());
    let jws = vectors()["jws"][0]["token"].as_str().unwrap().to_owned();
    let Inspection::Failed(f) = fernet_only.inspect(jws.as_bytes(), &mut Default::default()) else {
        panic!("verified without keys");
    };
    assert_eq!((f.format, f.code), ("jws", FailureCode::NoJwsPublicDir));
}

#[test]
fn lines_are_numbered_from_the_input_and_blank_ones_skipped() {
    struct Lines(Vec<(usize, bool)>);
    impl Sink for Lines {
        fn result(&mut self, line: usize, r: &Inspection<'_>) -> std::io::Result<()> {
            self.0.push((line, matches!(r, Inspection::Failed(_))));
            Ok(())
        }
    }
    let inspector = inspector();
    let token = vectors()["fernet"][0]["token"].as_str().unwrap().to_owned();
    let input = format!("{token}\n\n   \nnot-a-token\n{token}");
    let mut seen = Lines(vec![]);
    let n = inspector
        .inspect_stream(input.as_bytes(), &mut seen)
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(seen.0, [(1, false), (4, true), (5, false)]);
}

#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    struct Closed(usize);
    impl Sink for Closed {
        fn result(&mut self, _: usize, _: &Inspection<'_>) -> std::io::Result<()> {
            self.0 += 1;
            Err(ErrorKind::BrokenPipe.into())
        }
    }
    let token = vectors()["fernet"][0]["token"].as_str().unwrap().to_owned();
    let input = format!("{token}\n{token}\n");
    let mut sink = Closed(0);
    assert_eq!(
        inspector()
            .inspect_stream(input.as_bytes(), &mut sink)
            .unwrap(),
        1
    );
    assert_eq!(sink.0, 1);
}

#[test]
fn failure_codes_serialize_as_their_text() {
    assert_eq!(FailureCode::ALL.len(), FAILURE_CODES.len());
    for (code, text) in FailureCode::ALL.iter().zip(FAILURE_CODES) {
        // What JSON carries is what the text report prints.
        let json = serde_json::to_value(code).unwrap();
        assert_eq!(json.as_str(), Some(code.as_str()));
        assert_eq!(code.as_str(), *text);
        assert_eq!(format!("{code:<24}|"), format!("{text:<24}|"));
    }
}
