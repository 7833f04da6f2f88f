//! The operator's own `keystone::config::keystone_config` hieradata, read from their
//! environment files so `jws.yaml` can carry it over.
//!
//! Why: THT registers Heat's `merge` strategy for `<Role>ExtraConfig`, and that merge is
//! shallow. `jws.yaml` sets `keystone::config::keystone_config` inside
//! `<Role>ExtraConfig`, so an operator's map under the same key in an earlier `-e` file is
//! replaced whole, and with it every keystone option they set that way. Hiera also gives
//! `<Role>ExtraConfig` precedence over `ExtraConfig`, so a map in their global `ExtraConfig`
//! is shadowed too. Rendering their entries into ours keeps them; ours win only for the
//! options the JWS switch needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use crate::error::{Error, Result};

/// The hiera key holding keystone.conf options.
pub(crate) const KEYSTONE_CONFIG: &str = "keystone::config::keystone_config";
/// Largest environment file read.
const MAX_ENV_FILE: u64 = 16 << 20;

/// keystone_config entries the operator set for one role, later files winning.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OperatorEntries {
    /// `section/option` to its hiera value (usually `{value: ...}`), as JSON.
    pub entries: BTreeMap<String, serde_json::Value>,
    /// The files they came from.
    pub files: Vec<PathBuf>,
}

/// For each role, the keystone_config entries found in `ExtraConfig` and `<Role>ExtraConfig`
/// of `env_files` (in deploy order: later files and the role-specific parameter win).
pub(crate) fn operator_entries(
    env_files: &[PathBuf],
    roles: &[String],
) -> Result<BTreeMap<String, OperatorEntries>> {
    let mut out: BTreeMap<String, OperatorEntries> = BTreeMap::new();
    let docs = env_files
        .iter()
        .map(|f| load(f).map(|d| (f, d)))
        .collect::<Result<Vec<_>>>()?;
    for role in roles {
        let mut found = OperatorEntries::default();
        // Global first, then the role's own parameter: hiera prefers the role's.
        for param in ["ExtraConfig".to_string(), format!("{role}ExtraConfig")] {
            for (file, doc) in &docs {
                let Some(map) = keystone_config(doc, &param) else {
                    continue;
                };
                for (key, value) in map {
                    let (Some(key), Ok(value)) = (key.as_str(), serde_json::to_value(value)) else {
                        return Err(bad(
                            file,
                            &param,
                            "has a keystone_config key that is not a string",
                        ));
                    };
                    found.entries.insert(key.to_string(), value);
                }
                if !found.files.contains(file) {
                    found.files.push((*file).clone());
                }
            }
        }
        if !found.entries.is_empty() {
            out.insert(role.clone(), found);
        }
    }
    Ok(out)
}

fn keystone_config<'a>(doc: &'a Value, param: &str) -> Option<&'a serde_yaml_ng::Mapping> {
    doc.get("parameter_defaults")?
        .get(param)?
        .get(KEYSTONE_CONFIG)?
        .as_mapping()
}

fn load(file: &Path) -> Result<Value> {
    let bytes = crate::fsutil::read_input(file, MAX_ENV_FILE)?;
    serde_yaml_ng::from_slice(&bytes).map_err(|e| Error::Config {
        file: file.to_path_buf(),
        message: format!(
            "not a YAML environment: {}",
            e.to_string().lines().next().unwrap_or("")
        ),
    })
}

fn bad(file: &Path, param: &str, message: &str) -> Error {
    Error::Config {
        file: file.to_path_buf(),
        message: format!("parameter_defaults.{param}.{KEYSTONE_CONFIG} {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_parameter_and_later_files_win() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.yaml");
        let b = dir.path().join("b.yaml");
        std::fs::write(
            &a,
            "parameter_defaults:\n  ExtraConfig:\n    keystone::config::keystone_config:\n      token/expiration: {value: 7200}\n      identity/max_password_length: {value: 128}\n  ControllerExtraConfig:\n    keystone::config::keystone_config:\n      token/expiration: {value: 3600}\n",
        )
        .unwrap();
        std::fs::write(
            &b,
            "parameter_defaults:\n  ControllerExtraConfig:\n    keystone::config::keystone_config:\n      token/expiration: {value: 1800}\n  ComputeExtraConfig:\n    nova::foo: 1\n",
        )
        .unwrap();
        let found = operator_entries(&[a.clone(), b.clone()], &["Controller".into()]).unwrap();
        let c = &found["Controller"];
        assert_eq!(
            c.entries["token/expiration"],
            serde_json::json!({"value": 1800})
        );
        assert_eq!(
            c.entries["identity/max_password_length"],
            serde_json::json!({"value": 128})
        );
        assert_eq!(c.files, vec![a, b]);
        let none = operator_entries(&[], &["Controller".into()]).unwrap();
        assert!(none.is_empty());
    }
}
