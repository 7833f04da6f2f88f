//! Tests of `auth`: credential discovery from clouds.yaml, `OS_*` and `ST_*`.
use super::*;
use crate::error::Error;

fn env(vars: &[(&str, &str)], dir: &Path) -> Environment {
    Environment::new(
        vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        dir.to_path_buf(),
        Some(dir.join("home")),
    )
}

fn swift_err(result: Result<Discovered>) -> SwiftError {
    match result {
        Err(Error::Swift(e)) => e,
        Err(other) => panic!("not a Swift error: {other}"),
        Ok(d) => panic!("discovered {d:?}"),
    }
}

const CLOUDS: &str = r#"
clouds:
  undercloud:
    auth:
      auth_url: https://192.168.24.2:13000
      username: admin
      password: 12345
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: regionOne
    interface: internal
    cacert: /etc/pki/ca-trust/source/anchors/cm-local-ca.pem
  appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: http://keystone:5000/v3/
      application_credential_id: abc
    verify: false
"#;

#[test]
fn clouds_yaml_password_cloud() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("clouds.yaml"), CLOUDS).unwrap();
    let found = discover(&env(&[], dir.path()), Some("undercloud")).unwrap();
    let Credentials::Keystone(k) = found.credentials else {
        panic!()
    };
    assert_eq!(k.auth_url, "https://192.168.24.2:13000/v3");
    assert_eq!(k.interface, "internal");
    assert_eq!(k.region.as_deref(), Some("regionOne"));
    let KeystoneMethod::Password {
        user,
        password,
        project,
    } = &k.method
    else {
        panic!()
    };
    // A YAML number is still a password.
    assert_eq!(password.expose(), "12345");
    assert_eq!(
        user,
        &Named::Name {
            name: "admin".into(),
            domain: DomainRef::Name("Default".into())
        }
    );
    assert!(matches!(project, Named::Name { .. }));
    assert_eq!(
        found.tls.cacert.as_deref(),
        Some(Path::new(
            "/etc/pki/ca-trust/source/anchors/cm-local-ca.pem"
        ))
    );
    assert!(!format!("{k:?}").contains("12345"));
}

#[test]
fn secure_yaml_is_merged_and_os_cloud_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("clouds.yaml"), CLOUDS).unwrap();
    std::fs::write(
        dir.path().join("secure.yaml"),
        "clouds:\n  appcred:\n    auth:\n      application_credential_secret: s3cret\n",
    )
    .unwrap();
    let found = discover(&env(&[("OS_CLOUD", "appcred")], dir.path()), None).unwrap();
    let Credentials::Keystone(k) = found.credentials else {
        panic!()
    };
    assert_eq!(k.auth_url, "http://keystone:5000/v3");
    assert_eq!(k.interface, "public");
    assert!(found.tls.insecure);
    let KeystoneMethod::ApplicationCredential { id, secret, .. } = &k.method else {
        panic!()
    };
    assert_eq!((id.as_deref(), secret.expose()), (Some("abc"), "s3cret"));
}

#[test]
fn clouds_yaml_search_order_and_override() {
    let dir = tempfile::tempdir().unwrap();
    let home_cfg = dir.path().join("home/.config/openstack");
    std::fs::create_dir_all(&home_cfg).unwrap();
    std::fs::write(home_cfg.join("clouds.yaml"), CLOUDS).unwrap();
    // Only ~/.config/openstack has it.
    assert!(discover(&env(&[], dir.path()), Some("undercloud")).is_ok());
    // ./clouds.yaml wins over ~/.config.
    std::fs::write(dir.path().join("clouds.yaml"), "clouds:\n  other: {}\n").unwrap();
    let err = swift_err(discover(&env(&[], dir.path()), Some("undercloud")));
    match &err {
        SwiftError::UnknownCloud { file, known, .. } => {
            assert_eq!(file, &dir.path().join("clouds.yaml"));
            assert_eq!(known, &["other".to_string()]);
        }
        other => panic!("{other}"),
    }
    assert!(err.hint().unwrap().contains("other"));
    // OS_CLIENT_CONFIG_FILE wins over both.
    let custom = dir.path().join("custom.yaml");
    std::fs::write(&custom, CLOUDS).unwrap();
    let vars = [("OS_CLIENT_CONFIG_FILE", custom.to_str().unwrap())];
    assert!(discover(&env(&vars, dir.path()), Some("undercloud")).is_ok());
}

#[test]
fn no_clouds_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = swift_err(discover(&env(&[], dir.path()), Some("x")));
    assert!(matches!(err, SwiftError::NoCloudsFile { .. }), "{err}");
    assert!(err.to_string().contains("clouds.yaml"));
}

#[test]
fn os_variables_with_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let vars = [
        ("OS_AUTH_URL", "http://k:5000"),
        ("OS_USERNAME", "u"),
        ("OS_PASSWORD", "p"),
        ("OS_PROJECT_NAME", "proj"),
        ("OS_INTERFACE", "publicURL"),
    ];
    let found = discover(&env(&vars, dir.path()), None).unwrap();
    let Credentials::Keystone(k) = found.credentials else {
        panic!()
    };
    assert_eq!(k.interface, "public");
    assert_eq!(k.origin, "the OS_* variables");
}

#[test]
fn missing_pieces_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let vars = [("OS_AUTH_URL", "http://k:5000/v3"), ("OS_USERNAME", "u")];
    let err = swift_err(discover(&env(&vars, dir.path()), None));
    assert!(err.to_string().contains("OS_PASSWORD"), "{err}");
    assert!(err.to_string().contains("OS_PROJECT_NAME"), "{err}");
    let err = swift_err(discover(&env(&[("OS_PASSWORD", "p")], dir.path()), None));
    assert!(err.to_string().contains("OS_AUTH_URL"), "{err}");
    let err = swift_err(discover(
        &env(&[("ST_AUTH", "http://s/auth/v1.0")], dir.path()),
        None,
    ));
    assert!(err.to_string().contains("ST_USER, ST_KEY"), "{err}");
    let err = swift_err(discover(&env(&[], dir.path()), None));
    assert!(matches!(err, SwiftError::NoCredentials));
    std::fs::write(
        dir.path().join("clouds.yaml"),
        "clouds:\n  c:\n    auth:\n      auth_url: http://k:5000\n      username: u\n",
    )
    .unwrap();
    let err = swift_err(discover(&env(&[], dir.path()), Some("c")));
    assert!(err.to_string().contains("auth.password"), "{err}");
    assert!(err.hint().unwrap().contains("secure.yaml"));
}

#[test]
fn tempauth_variables() {
    let dir = tempfile::tempdir().unwrap();
    let vars = [
        ("ST_AUTH", "http://127.0.0.1:8080/auth/v1.0"),
        ("ST_USER", "test:tester"),
        ("ST_KEY", "testing"),
    ];
    let found = discover(&env(&vars, dir.path()), None).unwrap();
    assert!(matches!(found.credentials, Credentials::TempAuth(ref t) if t.user == "test:tester"));
    assert!(!format!("{found:?}").contains("testing"));
}

#[test]
fn v2_and_bad_urls_are_refused() {
    assert_eq!(
        v3_url("http://k:5000/v3/", "x").unwrap(),
        "http://k:5000/v3"
    );
    assert!(v3_url("http://k:5000/v2.0", "x").is_err());
    assert!(v3_url("k:5000", "x").is_err());
}
