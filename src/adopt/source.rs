//! The key parameters a deployed overcloud was given, read from the files TripleO keeps
//! them in. Pure parsing: bytes in, keys out (the caller reads the file or the Swift object).
//!
//! Formats (read from the tripleo-common and python-tripleoclient sources; see
//! `docs/adoption-sources.md`):
//! - OSP 17 `~/overcloud-deploy/<stack>/<stack>-passwords.yaml` and any Heat environment
//!   (`openstack stack environment show <stack> -f yaml`): `parameter_defaults:` (or
//!   `parameters:`) mapping parameter names to values.
//! - OSP 13/16.2 `plan-environment.yaml` in the stack's plan container: the generated values
//!   live under `passwords:`; a value under the plan's own `parameter_defaults:` wins over it,
//!   as it does when tripleo-common merges the plan into the stack environment.
//! - OSP 10/11: the Mistral environment named after the plan (`openstack workflow env show
//!   <plan> -f yaml`), whose `Variables` (a JSON string) hold `passwords:`; or the Heat stack
//!   environment with `KeystoneFernetKey0/1`. From OSP 13 on, tripleo-common still generates
//!   `KeystoneFernetKey0/1` beside `KeystoneFernetKeys`: the latter is what THT deploys.
//! - A plan export (`openstack overcloud plan export`): a gzip tarball holding the plan's
//!   files, `plan-environment.yaml` among them at the top level.
//!
//! `KeystoneFernetKeys` (json) maps `/etc/keystone/fernet-keys/<N>` to `{content: <key>}`;
//! Heat may hand it back as a JSON string, so both shapes are accepted. OSP 10/11 had
//! `KeystoneFernetKey0`/`KeystoneFernetKey1` (keys 0 and 1) instead. Credential keys are
//! `KeystoneCredential0`/`KeystoneCredential1` (files 0 and 1 of credential-keys).

use std::io::Read;

use serde_yaml_ng::{Mapping, Value};

use crate::error::{Error, Result};
use crate::keys::fernet::FernetKey;
use crate::keys::repo::KeySet;

/// The parameter carrying the Fernet token keys (OSP 12 and later).
pub(crate) const FERNET_KEYS: &str = "KeystoneFernetKeys";
/// OSP 10/11 parameters carrying Fernet keys 0 and 1.
pub(crate) const LEGACY_FERNET_KEYS: [&str; 2] = ["KeystoneFernetKey0", "KeystoneFernetKey1"];
/// The parameters carrying credential keys 0 and 1.
pub(crate) const CREDENTIAL_KEYS: [&str; 2] = ["KeystoneCredential0", "KeystoneCredential1"];
/// The plan environment's file name, in the plan container and in a plan export.
pub(crate) const PLAN_ENVIRONMENT: &str = "plan-environment.yaml";
/// Where `KeystoneFernetKeys` puts each key file on the node.
const FERNET_PATH_PREFIX: &str = "/etc/keystone/fernet-keys/";
/// More keys than this in one parameter is not a key repository anyone deployed.
const MAX_KEYS: usize = 100;
/// Largest plan-environment.yaml read out of a plan export.
pub(crate) const MAX_DOCUMENT: u64 = 16 << 20;

/// Which parameter names carried the Fernet keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FernetParams {
    /// `KeystoneFernetKeys` (OSP 12+).
    KeystoneFernetKeys,
    /// `KeystoneFernetKey0/1` (OSP 10/11).
    KeystoneFernetKey01,
}

/// The keys a deployed cloud was given, as found in one document.
#[derive(Debug, Clone)]
pub(crate) struct DeployedKeys {
    /// Fernet token keys by index.
    pub fernet: KeySet,
    /// How they were named.
    pub fernet_params: FernetParams,
    /// Credential keys 0 and 1, when the document has them (OSP 11 and later).
    pub credential: Option<KeySet>,
    /// Key texts keystone accepts but that are not exactly what it writes (trailing newline,
    /// standard base64 alphabet): imported as the same key bytes, written canonically.
    pub normalized: Vec<String>,
}

/// What kind of document a file is, by its first bytes.
pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// `plan-environment.yaml` out of a plan export tarball (`origin` names it in errors).
pub(crate) fn plan_environment_from_export(bytes: &[u8], origin: &str) -> Result<Vec<u8>> {
    // The tar reader's messages quote bytes of the input: kept to one line.
    let bad = |message: String| Error::AdoptSource {
        origin: origin.to_string(),
        key: String::new(),
        message: crate::encoding::printable(&message),
    };
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("not a readable tar.gz plan export: {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| bad(format!("not a readable tar.gz plan export: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| bad(format!("unreadable entry name: {e}")))?
            .to_string_lossy()
            .into_owned();
        if path.trim_start_matches("./") != PLAN_ENVIRONMENT
            || !entry.header().entry_type().is_file()
        {
            continue;
        }
        if entry.size() > MAX_DOCUMENT {
            return Err(bad(format!(
                "{PLAN_ENVIRONMENT} is {} bytes, more than a plan environment holds",
                entry.size()
            )));
        }
        let mut out = Vec::with_capacity(entry.size() as usize);
        entry
            .take(MAX_DOCUMENT)
            .read_to_end(&mut out)
            .map_err(|e| bad(format!("cannot read {PLAN_ENVIRONMENT}: {e}")))?;
        return Ok(out);
    }
    Err(bad(
        "the tarball holds no plan-environment.yaml at its top level: is it an `openstack overcloud plan export`?"
            .into(),
    ))
}

/// Parses a passwords file, Heat environment or plan environment.
pub fn parse(bytes: &[u8], origin: &str) -> Result<DeployedKeys> {
    let bad = |key: &str, message: String| Error::AdoptSource {
        origin: origin.to_string(),
        key: key.to_string(),
        message,
    };
    let text = std::str::from_utf8(bytes)
        .map_err(|e| bad("", format!("not UTF-8 text (byte {})", e.valid_up_to())))?;
    let doc: Value = serde_yaml_ng::from_str(text)
        .map_err(|e| bad("", format!("not YAML: {}", one_line(&e.to_string()))))?;
    let Value::Mapping(top) = doc else {
        return Err(bad("", "not a YAML mapping of sections".into()));
    };
    let top = mistral_variables(&top)
        .map_err(|m| bad("Variables", m))?
        .unwrap_or(top);
    // Heat's own precedence: explicit parameters, then parameter_defaults, then the plan's
    // generated passwords (merged first, so anything else overrides them).
    let sections: Vec<&Mapping> = ["parameters", "parameter_defaults", "passwords"]
        .iter()
        .filter_map(|s| top.get(*s).and_then(Value::as_mapping))
        .collect();
    let lookup = |name: &str| sections.iter().find_map(|m| m.get(name));
    let mut normalized = vec![];
    let mut key_of = |name: &str, value: &Value| -> Result<FernetKey> {
        let Some(text) = value.as_str() else {
            return Err(bad(name, "is not a string".into()));
        };
        let (key, quirks) = FernetKey::parse(text.as_bytes()).map_err(|defect| {
            bad(
                name,
                format!(
                    "is not a Fernet key keystone can use ({}; {} characters, a key is 44)",
                    describe(defect),
                    text.trim_end().chars().count()
                ),
            )
        })?;
        if quirks != Default::default() {
            normalized.push(name.to_string());
        }
        Ok(key)
    };
    let (fernet, fernet_params) = token_keys(&lookup, &mut key_of, &bad)?;
    let credential = credential_keys(&lookup, &mut key_of, &bad)?;
    Ok(DeployedKeys {
        fernet,
        fernet_params,
        credential,
        normalized,
    })
}

/// The Fernet token keys the sections hold (`lookup` finds a parameter by name):
/// KeystoneFernetKeys, or OSP 10/11's KeystoneFernetKey0 and 1 (both needed); refuses
/// when neither is there.
fn token_keys<'v>(
    lookup: &dyn Fn(&str) -> Option<&'v Value>,
    key_of: &mut dyn FnMut(&str, &Value) -> Result<FernetKey>,
    bad: &dyn Fn(&str, String) -> Error,
) -> Result<(KeySet, FernetParams)> {
    Ok(if let Some(value) = lookup(FERNET_KEYS) {
        (
            fernet_keys(value, key_of, bad)?,
            FernetParams::KeystoneFernetKeys,
        )
    } else if lookup(LEGACY_FERNET_KEYS[0]).is_some() || lookup(LEGACY_FERNET_KEYS[1]).is_some() {
        let mut keys = KeySet::new();
        for (index, name) in LEGACY_FERNET_KEYS.iter().enumerate() {
            let value = lookup(name).ok_or_else(|| {
                bad(
                    name,
                    "is missing (OSP 10/11 deploy both keys 0 and 1)".into(),
                )
            })?;
            keys.insert(index as u64, key_of(name, value)?);
        }
        (keys, FernetParams::KeystoneFernetKey01)
    } else {
        return Err(bad(
            FERNET_KEYS,
            "not found (looked in parameters, parameter_defaults and passwords, and for KeystoneFernetKey0/1)".into(),
        ));
    })
}

/// The credential keys the sections hold: none, or both KeystoneCredential0 and 1
/// (refuses one without the other).
fn credential_keys<'v>(
    lookup: &dyn Fn(&str) -> Option<&'v Value>,
    key_of: &mut dyn FnMut(&str, &Value) -> Result<FernetKey>,
    bad: &dyn Fn(&str, String) -> Error,
) -> Result<Option<KeySet>> {
    Ok(match CREDENTIAL_KEYS.map(lookup) {
        [None, None] => None,
        [Some(zero), Some(one)] => Some(KeySet::from([
            (0, key_of(CREDENTIAL_KEYS[0], zero)?),
            (1, key_of(CREDENTIAL_KEYS[1], one)?),
        ])),
        [Some(_), None] => {
            return Err(bad(
                CREDENTIAL_KEYS[1],
                "is missing (KeystoneCredential0 is set)".into(),
            ));
        }
        [None, Some(_)] => {
            return Err(bad(
                CREDENTIAL_KEYS[0],
                "is missing (KeystoneCredential1 is set)".into(),
            ));
        }
    })
}

/// OSP 10/11 kept the plan's passwords in the Mistral environment named after the plan;
/// `openstack workflow env show <plan> -f yaml` prints its `Variables` as a JSON string.
fn mistral_variables(top: &Mapping) -> std::result::Result<Option<Mapping>, String> {
    let parsed = match top.get("Variables").or_else(|| top.get("variables")) {
        None => return Ok(None),
        Some(Value::Mapping(map)) => return Ok(Some(map.clone())),
        Some(Value::String(json)) => serde_yaml_ng::from_str::<Value>(json)
            .map_err(|_| "is a string but not a JSON object".to_string())?,
        Some(_) => return Err("is neither a mapping nor a JSON string".into()),
    };
    match parsed {
        Value::Mapping(map) => Ok(Some(map)),
        _ => Err("is a string but not a JSON object".into()),
    }
}

/// `KeystoneFernetKeys`: a mapping (or its JSON text) of node paths to `{content: key}`.
fn fernet_keys(
    value: &Value,
    key_of: &mut dyn FnMut(&str, &Value) -> Result<FernetKey>,
    bad: &dyn Fn(&str, String) -> Error,
) -> Result<KeySet> {
    let parsed;
    let map = match value {
        Value::Mapping(map) => map,
        Value::String(json) => {
            parsed = serde_yaml_ng::from_str::<Value>(json)
                .map_err(|_| bad(FERNET_KEYS, "is a string but not a JSON object".into()))?;
            parsed
                .as_mapping()
                .ok_or_else(|| bad(FERNET_KEYS, "is a string but not a JSON object".into()))?
        }
        _ => return Err(bad(FERNET_KEYS, "is not a mapping of key paths".into())),
    };
    if map.len() > MAX_KEYS {
        return Err(bad(
            FERNET_KEYS,
            format!(
                "holds {} keys; no deployment keeps more than {MAX_KEYS}",
                map.len()
            ),
        ));
    }
    let mut keys = KeySet::new();
    for (path, entry) in map {
        let path = path.as_str().unwrap_or("");
        let index = path
            .strip_prefix(FERNET_PATH_PREFIX)
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .filter(|n| *n == "0" || !n.starts_with('0'))
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| {
                bad(
                    FERNET_KEYS,
                    format!("entry {:?} is not {FERNET_PATH_PREFIX}<N>", clip(path)),
                )
            })?;
        let name = format!("{FERNET_KEYS}[{path}]");
        let content = entry
            .as_mapping()
            .and_then(|m| m.get("content"))
            .ok_or_else(|| bad(&name, "has no content".into()))?;
        keys.insert(index, key_of(&name, content)?);
    }
    if !keys.contains_key(&0) {
        return Err(bad(
            FERNET_KEYS,
            format!("has no {FERNET_PATH_PREFIX}0 (the staged key THT requires)"),
        ));
    }
    if keys.len() < 2 {
        return Err(bad(
            FERNET_KEYS,
            "holds only the staged key 0: no primary key to encrypt tokens".into(),
        ));
    }
    Ok(keys)
}

fn describe(defect: crate::keys::fernet::KeyDefect) -> String {
    use crate::keys::fernet::KeyDefect;
    match defect {
        KeyDefect::Empty => "empty".into(),
        KeyDefect::BadAlphabet => "not base64".into(),
        KeyDefect::BadLength(n) => format!("decodes to {n} bytes, not 32"),
    }
}

fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

fn one_line(text: &str) -> String {
    text.lines().next().unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        FernetKey::from_bytes([byte; 32]).encode().to_string()
    }

    fn passwords(fernet: &str) -> String {
        format!(
            "parameter_defaults:\n  AdminPassword: x\n  KeystoneCredential0: {}\n  KeystoneCredential1: {}\n  KeystoneFernetKeys:\n{fernet}",
            key(10),
            key(11)
        )
    }

    fn entry(index: &str, content: &str) -> String {
        format!("    /etc/keystone/fernet-keys/{index}:\n      content: {content}\n")
    }

    #[test]
    fn reads_a_passwords_file() {
        let text = passwords(&(entry("0", &key(0)) + &entry("1", &key(1)) + &entry("7", &key(7))));
        let keys = parse(text.as_bytes(), "p.yaml").unwrap();
        assert_eq!(keys.fernet.keys().copied().collect::<Vec<_>>(), [0, 1, 7]);
        assert_eq!(keys.fernet[&7], FernetKey::from_bytes([7; 32]));
        let cred = keys.credential.unwrap();
        assert_eq!(cred[&1], FernetKey::from_bytes([11; 32]));
        assert!(keys.normalized.is_empty());
    }

    #[test]
    fn reads_a_plan_environment_and_json_strings() {
        let json = format!(
            "{{\"/etc/keystone/fernet-keys/0\": {{\"content\": \"{}\"}}, \"/etc/keystone/fernet-keys/1\": {{\"content\": \"{}\"}}}}",
            key(0),
            key(1)
        );
        let text = format!("name: overcloud\npasswords:\n  KeystoneFernetKeys: '{json}'\n");
        let keys = parse(text.as_bytes(), "plan").unwrap();
        assert_eq!(keys.fernet.len(), 2);
        assert!(keys.credential.is_none());
        // parameter_defaults wins over passwords, as in the merged stack environment.
        let text = format!(
            "passwords:\n  KeystoneFernetKey0: {}\n  KeystoneFernetKey1: {}\nparameter_defaults:\n  KeystoneFernetKeys:\n{}{}",
            key(0),
            key(1),
            entry("0", &key(20)),
            entry("1", &key(21))
        );
        let keys = parse(text.as_bytes(), "plan").unwrap();
        assert_eq!(keys.fernet_params, FernetParams::KeystoneFernetKeys);
        assert_eq!(keys.fernet[&1], FernetKey::from_bytes([21; 32]));
    }

    #[test]
    fn reads_osp10_parameters() {
        let text = format!(
            "parameter_defaults:\n  KeystoneFernetKey0: {}\n  KeystoneFernetKey1: \"{}\\n\"\n",
            key(0),
            key(1)
        );
        let keys = parse(text.as_bytes(), "p").unwrap();
        assert_eq!(keys.fernet_params, FernetParams::KeystoneFernetKey01);
        assert_eq!(keys.normalized, ["KeystoneFernetKey1"]);
    }

    #[test]
    fn bad_documents_name_the_key() {
        let short = &key(1)[..43];
        let cases = [
            (
                passwords(&(entry("0", &key(0)) + &entry("1", short))),
                "fernet-keys/1]",
            ),
            (
                passwords(&(entry("1", &key(1)) + &entry("2", &key(2)))),
                "fernet-keys/0",
            ),
            (
                passwords(&(entry("0", &key(0)) + &entry("01", &key(1)))),
                "\"/etc/keystone/fernet-keys/01\"",
            ),
            (
                passwords(
                    &(entry("0", &key(0))
                        + "    /etc/keystone/credential-keys/1:\n      content: x\n"),
                ),
                "credential-keys/1",
            ),
            (passwords(&entry("0", &key(0))), "only the staged key"),
            (
                "parameter_defaults:\n  AdminPassword: x\n".into(),
                "KeystoneFernetKeys not found",
            ),
            ("- a list\n".into(), "mapping"),
            (
                format!(
                    "parameter_defaults:\n  KeystoneCredential0: {}\n  KeystoneFernetKey0: {}\n  KeystoneFernetKey1: {}\n",
                    key(1),
                    key(2),
                    key(3)
                ),
                "KeystoneCredential1",
            ),
        ];
        for (text, needle) in cases {
            let err = parse(text.as_bytes(), "p.yaml").unwrap_err().to_string();
            assert!(err.starts_with("p.yaml: "), "{err}");
            assert!(err.contains(needle), "{needle:?} not in {err}");
            assert!(!err.contains('\n'), "one line: {err}");
            assert!(!err.contains(&key(1)[..20]), "no key material: {err}");
        }
        assert!(
            parse(b"\xff\xfe", "p")
                .unwrap_err()
                .to_string()
                .contains("UTF-8")
        );
    }

    #[test]
    fn plan_export_needs_a_plan_environment() {
        let tarball = |name: &str| {
            let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::default(),
            ));
            let body = b"passwords: {}\n";
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, &body[..]).unwrap();
            builder.into_inner().unwrap().finish().unwrap()
        };
        assert_eq!(
            plan_environment_from_export(&tarball("./plan-environment.yaml"), "x").unwrap(),
            b"passwords: {}\n"
        );
        let err = plan_environment_from_export(&tarball("overcloud.yaml"), "x.tar.gz")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x.tar.gz") && err.contains("no plan-environment.yaml"),
            "{err}"
        );
        assert!(is_gzip(&tarball("a")));
    }
}
