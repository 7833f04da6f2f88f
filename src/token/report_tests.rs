use super::*;
use crate::token::test_support::{inspector, vectors};

/// Renders the vector `name` and a bad token as `format`, `now` = 2030-01-01.
fn render(format: Format, name: &str) -> (String, Outcome) {
    let inspector = inspector();
    let v = vectors()["fernet"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap();
    let input = format!("{}\n\nnot*base64\n", v["token"].as_str().unwrap());
    let mut renderer = Renderer::new(format, 1_893_456_000, Vec::new());
    inspector
        .inspect_stream(input.as_bytes(), &mut renderer)
        .unwrap();
    let (out, outcome) = renderer.finish(inspector).unwrap();
    (String::from_utf8(out).unwrap(), outcome)
}

fn expected(name: &str, field: &str) -> String {
    let v = vectors()["fernet"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap();
    match &v["expected"][field] {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().unwrap())
            .collect::<Vec<_>>()
            .join(", "),
        other => panic!("{other}"),
    }
}

#[test]
fn table_shows_a_block_per_token_and_one_line_per_failure() {
    let (out, outcome) = render(Format::Table, "trust-scoped");
    let e = |f| expected("trust-scoped", f);
    let fingerprint = crate::token::test_support::fixture_key("2").fingerprint();
    let want = format!(
        "line 1: ok fernet key 2 (primary, {}) trust-scoped (version 3)\n\
         \x20   user_id              {}\n\
         \x20   methods              token (bitmask 4)\n\
         \x20   project_id           {}\n\
         \x20   trust_id             {}\n\
         \x20   issued_at            {}\n\
         \x20   expires_at           {}\n\
         \x20   audit_ids            {}\n\
         line 3: FAILED fernet bad-base64: not URL-safe base64: character '*' at position 3\n",
        &fingerprint[..12],
        e("user_id"),
        e("project_id"),
        e("trust_id"),
        e("issued_at"),
        e("expires_at"),
        e("audit_ids"),
    );
    assert_eq!(out, want);
    assert_eq!(outcome.text, "2 token(s): 1 decoded, 1 failed\n");
    assert_eq!(outcome.code, 1);
}

#[test]
fn value_shows_one_line_per_token() {
    let (out, outcome) = render(Format::Value, "domain-scoped-default");
    let e = |f| expected("domain-scoped-default", f);
    assert_eq!(
        out,
        format!(
            "1 ok 2 primary domain-scoped {} default {} valid\n3 failed bad-base64\n",
            e("user_id"),
            e("expires_at")
        )
    );
    assert_eq!((outcome.text.as_str(), &outcome.json), ("", &Value::Null));
}

#[test]
fn json_is_one_document_with_keystones_field_names() {
    let (out, outcome) = render(Format::Json, "federated-unscoped");
    assert_eq!((outcome.text.as_str(), &outcome.json), ("", &Value::Null));
    let document: Value = serde_json::from_str(&out).expect("one JSON document");
    let yaml = render(Format::Yaml, "federated-unscoped").0;
    let from_yaml: Value = serde_yaml_ng::from_str(&yaml).expect("one YAML document");
    assert_eq!(from_yaml, document, "the same data in YAML");
    let json = &document;
    assert_eq!(
        (json["tokens"].as_u64(), json["failed"].as_u64()),
        (Some(2), Some(1))
    );
    let r = &json["results"][0];
    for field in [
        "user_id",
        "identity_provider_id",
        "protocol_id",
        "expires_at",
    ] {
        assert_eq!(
            r[field],
            expected("federated-unscoped", field).as_str(),
            "{field}"
        );
    }
    let v = vectors()["fernet"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "federated-unscoped")
        .unwrap();
    assert_eq!(
        r["federated_group_ids"],
        v["expected"]["federated_group_ids"]
    );
    assert_eq!(
        (r["line"].as_u64(), r["ok"].as_bool()),
        (Some(1), Some(true))
    );
    assert_eq!(r["key"]["role"], "primary");
    assert_eq!(r["expired"], false);
    assert_eq!(
        json["results"][1],
        serde_json::json!({"line": 3, "ok": false, "format": "fernet", "code": "bad-base64",
            "message": "not URL-safe base64: character '*' at position 3"})
    );
}
