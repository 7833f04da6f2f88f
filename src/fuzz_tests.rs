//! Fuzz pass (proptest) over every parser of outside input that is not a token (the token
//! parsers have their own in `token/*_tests.rs`): passwords and plan files, plan exports,
//! Ansible inventories, keystone.conf, the nodes' fingerprint output, TempURLs, Swift env
//! files, the TOML config, artifact manifests, clouds.yaml, `--check-env` files and
//! roles_data. Each property feeds random bytes and random edits of a valid sample, and
//! holds when the parser returns (never panics) and any error is one line, as printed.
//!
//! Cases per property: `OVERCLOUD_KEYS_FUZZ_CASES` (default 1024 for in-memory parsers, a
//! quarter of that for the ones that read a file).

use std::path::Path;

use proptest::prelude::*;

use crate::error::Error;

fn cases(in_memory: bool) -> u32 {
    let base = std::env::var("OVERCLOUD_KEYS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    if in_memory { base } else { (base / 4).max(1) }
}

/// Characters that matter to YAML, TOML, INI, JSON and the fingerprint lines.
const SPECIAL: &[char] = &[
    ':', '-', ' ', '\n', '\t', '"', '\'', '{', '}', '[', ']', '#', '=', '|', '>', '&', '*', '!',
    '%', '@', '`', ',', '\\', '\0', '\r', 'é', '0', '9', 'a',
];

/// `sample` with up to 8 random edits: a character inserted, removed, or replaced.
fn mutated(sample: String) -> impl Strategy<Value = String> {
    let edit = (
        any::<prop::sample::Index>(),
        0u8..3,
        prop::sample::select(SPECIAL),
    );
    prop::collection::vec(edit, 0..8).prop_map(move |edits| {
        let mut chars: Vec<char> = sample.chars().collect();
        for (at, kind, c) in edits {
            let i = at.index(chars.len() + 1);
            match kind {
                0 => chars.insert(i, c),
                1 if i < chars.len() => {
                    chars.remove(i);
                }
                _ if i < chars.len() => chars[i] = c,
                _ => chars.push(c),
            }
        }
        chars.into_iter().collect()
    })
}

/// Random bytes, or random text, or an edited `sample`.
fn input(sample: String) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        ".{0,300}".prop_map(String::into_bytes),
        mutated(sample).prop_map(String::into_bytes),
    ]
}

fn fixture(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The error as the binary prints it: one line.
fn one_line<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<(), TestCaseError> {
    if let Err(e) = result {
        let text = e.to_string();
        prop_assert!(
            !text.contains('\n'),
            "error of more than one line: {text:?}"
        );
    }
    Ok(())
}

fn one_line_error(result: crate::error::Result<impl Sized>) -> Result<(), TestCaseError> {
    if let Some(hint) = result.as_ref().err().and_then(Error::hint) {
        prop_assert!(!hint.contains('\n'), "hint of more than one line: {hint:?}");
    }
    one_line::<_, Error>(result)
}

/// Writes `bytes` to a fresh file named `name` and hands its path to `read`.
fn with_file<T>(name: &str, bytes: &[u8], read: impl FnOnce(&Path) -> T) -> T {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    read(&path)
}

const INVENTORY: &str = "Controller:\n  hosts:\n    c-0: {ansible_host: 192.0.2.10, ansible_port: 22, ansible_user: root}\n  vars:\n    ansible_ssh_user: tripleo-admin\n    ansible_ssh_common_args: \"-o StrictHostKeyChecking=yes\"\nkeystone:\n  children:\n    Controller: {}\n";
const KEYSTONE_CONF: &str = "[DEFAULT]\ndebug = False\n[token]\nexpiration = 3600\nprovider = fernet\n[fernet_tokens]\nmax_active_keys = 5\n";
const FINGERPRINTS: &str = "overcloud-keys-fingerprints\t1\ndir\thost\tfernet-keys\t700 42425 42425 4096 directory\nfile\thost\tfernet-keys\t0\t600 42425 42425 44 regular file\te3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nnodir\thost\tcredential-keys\ncontainer\tpodman\tkeystone\nend\n";
const TEMP_URL: &str = "https://192.0.2.1:13808/v1/AUTH_x/overcloud-artifacts/overcloud-keys-overcloud-0123456789ab.tar.gz?temp_url_sig=0123456789abcdef0123456789abcdef01234567&temp_url_expires=1900000000";
const CONFIG: &str = "stack = \"overcloud\"\nrelease = \"17.1\"\nartifacts = \"files\"\njws = \"stage\"\nmax_active_keys = 5\nroles = [\"Controller\"]\n";
const CLOUDS: &str = "clouds:\n  undercloud:\n    auth:\n      auth_url: https://192.0.2.1:13000\n      username: admin\n      password: secret\n      project_name: admin\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: regionOne\n    cacert: /etc/pki/ca-trust/source/anchors/cm-local-ca.pem\n";
const CHECK_ENV: &str = "resource_registry:\n  OS::TripleO::Controller::PreNetworkConfig: ./pre.yaml\nparameter_defaults:\n  KeystoneFernetMaxActiveKeys: 5\n  ControllerExtraConfig:\n    keystone::config::keystone_config:\n      token/expiration:\n        value: 3600\n";
const ROLES_DATA: &str = "- name: Controller\n  ServicesDefault:\n    - OS::TripleO::Services::Keystone\n- name: Compute\n  ServicesDefault:\n    - OS::TripleO::Services::NovaCompute\n";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(true)))]

    #[test]
    fn adopt_sources_never_panic(bytes in input(fixture("adopt/osp17-overcloud-passwords.yaml"))) {
        one_line_error(crate::adopt::source::parse(&bytes, "fuzz.yaml"))?;
    }

    #[test]
    fn plan_environments_never_panic(bytes in input(fixture("adopt/plan-environment-16.2.yaml"))) {
        one_line_error(crate::adopt::source::parse(&bytes, "plan-environment.yaml"))?;
    }

    #[test]
    fn mistral_environments_never_panic(bytes in input(fixture("adopt/mistral-env-10.yaml"))) {
        one_line_error(crate::adopt::source::parse(&bytes, "mistral.yaml"))?;
    }

    #[test]
    fn plan_exports_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut gz = vec![0x1f, 0x8b, 8, 0];
        gz.extend_from_slice(&bytes);
        one_line_error(crate::adopt::source::plan_environment_from_export(&bytes, "x.tar.gz"))?;
        one_line_error(crate::adopt::source::plan_environment_from_export(&gz, "x.tar.gz"))?;
    }

    #[test]
    fn inventories_never_panic(bytes in input(INVENTORY.into())) {
        let text = String::from_utf8_lossy(&bytes);
        let path = Path::new("inventory.yaml");
        match crate::nodes::inventory::Inventory::parse(&text, path) {
            Ok(inventory) => one_line(inventory.nodes(&["keystone".into()], path))?,
            Err(e) => one_line::<(), _>(Err(e))?,
        }
    }

    #[test]
    fn keystone_confs_never_panic(bytes in input(KEYSTONE_CONF.into())) {
        let text = String::from_utf8_lossy(&bytes);
        let path = Path::new("keystone.conf");
        if let Ok(conf) = crate::plan::keystone_conf::KeystoneConf::parse(path, &text) {
            one_line_error(conf.int("token", "expiration", 1))?;
        } else {
            one_line_error(crate::plan::keystone_conf::KeystoneConf::parse(path, &text))?;
        }
    }

    #[test]
    fn node_fingerprints_never_panic(bytes in input(FINGERPRINTS.into())) {
        one_line(crate::nodes::remote::parse("node-0", &bytes))?;
    }

    #[test]
    fn temp_urls_never_panic(text in mutated(TEMP_URL.into())) {
        let _ = crate::swift::tempurl::parse_url(&text, Some("https://192.0.2.1:13808/v1/AUTH_x"));
        let _ = crate::swift::tempurl::percent_decode(&text);
        let _ = crate::swift::envfile::expiry_of(&text);
        let _ = crate::swift::envfile::artifact_key(&text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(false)))]

    #[test]
    fn swift_env_files_never_panic(bytes in input(fixture("heat/deployment-artifacts-urls.yaml"))) {
        with_file("deployment-artifacts.yaml", &bytes, |path| {
            one_line_error(crate::swift::envfile::EnvFile::load(path))
        })?;
    }

    #[test]
    fn config_files_never_panic(bytes in input(CONFIG.into())) {
        with_file("keys.toml", &bytes, |path| {
            one_line_error(crate::config::ConfigFile::settings(Some(path), Default::default()))
        })?;
    }

    #[test]
    fn artifact_manifests_never_panic(bytes in input("{\"artifact\": \"a.tar.gz\", \"entries\": [], \"format\": 1, \"sha256\": \"00\", \"size\": 1}".into())) {
        with_file("a.tar.gz.manifest.json", &bytes, |path| {
            one_line_error(crate::artifact::manifest::ArtifactManifest::read(path))
        })?;
    }

    #[test]
    fn clouds_yaml_never_panics(bytes in input(CLOUDS.into())) {
        with_file("clouds.yaml", &bytes, |path| {
            let env = crate::swift::auth::Environment::new(
                [("OS_CLIENT_CONFIG_FILE", path.to_string_lossy().into_owned())],
                path.parent().unwrap().to_path_buf(),
                None,
            );
            one_line_error(crate::swift::auth::discover(&env, Some("undercloud")))
        })?;
    }

    #[test]
    fn check_env_files_never_panic(bytes in input(CHECK_ENV.into())) {
        with_file("env.yaml", &bytes, |path| {
            one_line_error(crate::heat::scoped::existing_mappings(&[path.to_path_buf()]))
        })?;
    }

    #[test]
    fn roles_data_never_panics(bytes in input(ROLES_DATA.into())) {
        with_file("roles_data.yaml", &bytes, |path| {
            one_line_error(crate::heat::scoped::check_roles(&["Controller".into()], path))
        })?;
    }
}
