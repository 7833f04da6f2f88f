use super::*;
use proptest::prelude::*;

/// The methods a bitmask shows, with keystone 30's default `[auth] methods`.
fn names(bitmask: i64) -> Vec<String> {
    MethodMap::default()
        .names(bitmask)
        .iter()
        .map(|n| n.to_string())
        .collect()
}

#[test]
fn methods_decode_like_keystones_auth_plugin_mapping() {
    // Results of keystone.auth.plugins.core.convert_integer_to_method_list with default
    // [auth] methods.
    assert_eq!(names(0), Vec::<String>::new());
    assert_eq!(names(2), ["password"]);
    assert_eq!(names(6), ["token", "password"]);
    assert_eq!(names(32), ["application_credential"]);
    assert_eq!(names(127).len(), 7);
    // A bit beyond the list hides the methods below it, in keystone too.
    assert_eq!(names(130), Vec::<String>::new());
    assert_eq!(names(-2), Vec::<String>::new());
}

#[test]
fn a_custom_methods_list_renames_the_bits() {
    let map = MethodMap::new(["password", "totp", "token"]);
    let got: Vec<String> = map.names(3).iter().map(|n| n.to_string()).collect();
    assert_eq!(got, ["totp", "password"]);
}

#[test]
fn uuid_ids_show_as_32_hex_like_uuid_hex() {
    let id = Id::Uuid([
        0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0, 1, 2, 3, 4, 5, 6, 0xff,
    ]);
    assert_eq!(id.to_string(), "123456789abcdef000010203040506ff");
}

/// msgpack for `[10, [true, uuid], 2, [false, nil], [false, nil], 1.0, [], [false, "tp"]]`:
/// an OAuth2 token without project or domain (keystone packs a missing id as `(False, None)`).
#[test]
fn absent_optional_ids_are_none() {
    let mut bytes = vec![0x98, 10, 0x92, 0xc3, 0xc4, 16];
    bytes.extend_from_slice(&[7; 16]);
    bytes.extend_from_slice(&[2, 0x92, 0xc2, 0xc0, 0x92, 0xc2, 0xc0]);
    bytes.extend_from_slice(&[0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x90]);
    bytes.extend_from_slice(&[0x92, 0xc2, 0xa2, b't', b'p']);
    let p = decode(&bytes, &MethodMap::default()).unwrap();
    assert_eq!(p.kind, PayloadKind::Oauth2CredentialsScoped);
    assert_eq!((p.project_id, p.domain_id), (None, None));
    assert_eq!(p.thumbprint.as_deref(), Some("tp"));
    assert_eq!(p.expires_at.to_string(), "1970-01-01T00:00:01.000000Z");
}

#[test]
fn malformed_payloads_say_which_field() {
    let err = |bytes: &[u8]| {
        decode(bytes, &MethodMap::default())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(err(&[0x81, 0xa1, b'a', 1]), "payload: found a map");
    assert_eq!(
        err(&[0x95, 12, 0, 0, 0, 0]),
        "payload version 12 is not one keystone 30 writes (0 to 10)"
    );
    assert_eq!(
        err(&[0x93, 2, 0, 0]),
        "a version 2 payload has 6 elements, this one 3"
    );
    assert_eq!(
        err(&[0x95, 0, 0x92, 0xc3, 0xc4, 2, 1, 2, 2, 0, 0x90]),
        "user_id: 2 bytes, a UUID has 16"
    );
    assert_eq!(
        err(&[0x95, 0, 0x92, 0xc2, 0xa1, b'u', 2, 0xc0, 0x90]),
        "expires_at: found nil"
    );
}

/// A valid project-scoped payload to mutate.
fn project_payload() -> Vec<u8> {
    let mut b = vec![0x96, 2, 0x92, 0xc3, 0xc4, 16];
    b.extend_from_slice(&[1; 16]);
    b.extend_from_slice(&[2, 0x92, 0xc3, 0xc4, 16]);
    b.extend_from_slice(&[2; 16]);
    b.extend_from_slice(&[0xcb, 0x41, 0xd0, 0, 0, 0, 0, 0, 0, 0x91, 0xc4, 16]);
    b.extend_from_slice(&[3; 16]);
    b
}

fn cases(default: u32) -> u32 {
    std::env::var("TOKEN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn the_mutation_seed_is_valid() {
    let p = decode(&project_payload(), &MethodMap::default()).unwrap();
    assert_eq!(p.project_id.unwrap().to_string(), "02".repeat(16));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(4096)))]

    /// Fuzz: any bytes decode to a payload or an error, never a panic.
    #[test]
    fn decode_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode(&bytes, &MethodMap::default());
    }

    /// Fuzz: a valid payload with bytes replaced, cut or inserted never panics.
    #[test]
    fn decode_never_panics_on_mutated_payloads(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let mut bytes = project_payload();
        for (at, byte, op) in edits {
            let i = at.index(bytes.len() + 1);
            match op {
                0 if i < bytes.len() => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => bytes.truncate(i),
            }
        }
        let _ = decode(&bytes, &MethodMap::default());
    }
}
