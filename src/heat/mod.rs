//! Heat environment files from the minijinja templates in `templates/` (embedded at build
//! time so the binary works anywhere). Pure: values in, text out.
//!
//! Parameter names and types follow tripleo-heat-templates 18.0.0; a misspelt name is
//! silently ignored by Heat, so the interop tests check every name against THT itself.

use std::collections::BTreeMap;

use minijinja::{Environment, Value, context};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::repo::KeySet;
pub use crate::release::FernetParams;

const TEMPLATES: &[(&str, &str)] = &[
    (
        "fernet.yaml",
        include_str!("../../templates/fernet.yaml.j2"),
    ),
    ("jws.yaml", include_str!("../../templates/jws.yaml.j2")),
    (
        "deployment-artifacts.yaml",
        include_str!("../../templates/deployment-artifacts.yaml.j2"),
    ),
    (
        "keystone-keys-pre.yaml",
        include_str!("../../templates/keystone-keys-pre.yaml.j2"),
    ),
    (
        "keystone-keys-chain.yaml",
        include_str!("../../templates/keystone-keys-chain.yaml.j2"),
    ),
    (
        "keystone-keys-scoped.yaml",
        include_str!("../../templates/keystone-keys-scoped.yaml.j2"),
    ),
];

pub mod extra_config;
pub(crate) mod scoped;

/// File names of the rendered environments.
pub mod names {
    /// Keys and provider by parameters (secret).
    pub const FERNET: &str = "fernet.yaml";
    /// JWS provider switch.
    pub const JWS: &str = "jws.yaml";
    /// Artifact delivery.
    pub const ARTIFACTS: &str = "deployment-artifacts.yaml";
}

/// Any serializable value as a template value.
pub(crate) fn ser<T: Serialize>(value: T) -> Value {
    Value::from(minijinja::value::Serde(value))
}

/// The template environment with every embedded template loaded.
pub(crate) fn template_env() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    // YAML is not HTML: values are quoted explicitly with `tojson` where needed.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    for (n, source) in TEMPLATES {
        env.add_template(n, source).map_err(|e| Error::Render {
            name: n.to_string(),
            message: e.to_string(),
        })?;
    }
    Ok(env)
}

fn render(name: &str, ctx: minijinja::Value) -> Result<String> {
    let env = template_env()?;
    let template = env.get_template(name).map_err(|e| Error::Render {
        name: name.into(),
        message: e.to_string(),
    })?;
    let mut text = template.render(ctx).map_err(|e| Error::Render {
        name: name.into(),
        message: e.to_string(),
    })?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

#[derive(Serialize)]
struct KeyParam {
    path: String,
    content: String,
}

impl Drop for KeyParam {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.content);
    }
}

/// Inputs of `fernet.yaml`.
#[derive(Debug, Clone)]
pub struct FernetEnv<'a> {
    /// Stack name (comment only).
    pub stack: &'a str,
    /// The Fernet token repository, when known.
    pub fernet_keys: Option<&'a KeySet>,
    /// A (baremetal) tarball carries the token keys: puppet must not replace them.
    pub in_tarball: bool,
    /// How the release's THT takes Fernet keys (`KeystoneFernetKeys`, `KeystoneFernetKey0/1`
    /// or nothing).
    pub params: FernetParams,
    /// Credential keys 0 and 1 delivered by `KeystoneCredential0/1`.
    pub credential_keys: Option<&'a KeySet>,
    /// `KeystoneFernetMaxActiveKeys`.
    pub max_active_keys: usize,
    /// Extra comment lines.
    pub notes: Vec<String>,
}

/// Text for `# ...` comment lines: a control character (a newline in a path) would end the
/// comment and start YAML of its own, so each becomes `?`.
pub(crate) fn comment_lines(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| crate::encoding::printable(l))
        .collect()
}

/// Renders `fernet.yaml` (contains secrets).
pub fn render_fernet(model: &FernetEnv<'_>) -> Result<Zeroizing<String>> {
    let by_map = model.params == FernetParams::KeysMap && !model.in_tarball;
    let fernet_keys: Vec<KeyParam> = model
        .fernet_keys
        .filter(|_| by_map)
        .map(|keys| {
            keys.iter()
                .map(|(n, k)| KeyParam {
                    path: format!("/etc/keystone/fernet-keys/{n}"),
                    content: k.encode().to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let credential_keys: Vec<String> = match model.credential_keys {
        None => vec![],
        Some(keys) => {
            let numbers: Vec<u64> = keys.keys().copied().collect();
            if numbers != [0, 1] {
                return Err(Error::Delivery(format!(
                    "the credential repository holds keys {numbers:?}, but THT carries only KeystoneCredential0 and KeystoneCredential1: deploying it would drop the primary credential key"
                )));
            }
            keys.values().map(|k| k.encode().to_string()).collect()
        }
    };
    let mut key_pair = key_pair(model)?;
    let text = render(
        names::FERNET,
        context! {
            stack => model.stack,
            version => env!("CARGO_PKG_VERSION"),
            notes => ser(comment_lines(&model.notes)),
            max_active_keys => model.max_active_keys,
            keys_map => model.params == FernetParams::KeysMap,
            // With a baremetal tarball carrying the keys, puppet must not replace them.
            manage_fernet_keys => by_map && model.fernet_keys.is_some(),
            fernet_keys => ser(&fernet_keys),
            key_pair => ser(&key_pair),
            credential_keys => ser(&credential_keys),
        },
    );
    let mut credential_keys = credential_keys;
    credential_keys
        .iter_mut()
        .chain(key_pair.iter_mut())
        .for_each(zeroize::Zeroize::zeroize);
    text.map(Zeroizing::new)
}

/// OSP 11's `KeystoneFernetKey0/1`: puppet writes files 0 and 1 from them on every deploy,
/// whatever the tarball carries, so they mirror the repository: 0 is its staged key, 1 its
/// key 1, or (once rotated past 1) a copy of the staged key, which adds no key material
/// and decrypts nothing the staged key does not.
fn key_pair(model: &FernetEnv<'_>) -> Result<Vec<String>> {
    if model.params != FernetParams::KeyPair {
        return Ok(vec![]);
    }
    let keys = model.fernet_keys.ok_or_else(|| {
        Error::Delivery("OSP 11 deploys KeystoneFernetKey0 and KeystoneFernetKey1 as Fernet key files 0 and 1 on every deploy: fernet.yaml must mirror the repository (give --fernet)".into())
    })?;
    let staged = keys.get(&0).ok_or_else(|| {
        Error::Delivery("the Fernet repository has no staged key 0 for KeystoneFernetKey0".into())
    })?;
    let one = keys.get(&1).unwrap_or(staged);
    Ok(vec![staged.encode().to_string(), one.encode().to_string()])
}

/// Inputs of `jws.yaml`.
#[derive(Debug, Clone)]
pub struct JwsEnv<'a> {
    /// Stack name (comment only).
    pub stack: &'a str,
    /// Roles whose keystone switches (`<Role>ExtraConfig`), e.g. `Controller`.
    pub roles: &'a [String],
    /// A separate receipt directory keystone should use, if any.
    pub receipt_dir: Option<String>,
    /// The operator's own keystone_config entries per role, carried over (Heat's shallow
    /// merge would otherwise drop them); ours win for the options the switch sets.
    pub operator: BTreeMap<String, extra_config::OperatorEntries>,
}

/// keystone_config options `jws.yaml` sets itself (an operator's value for them is replaced;
/// `token/provider` is set through `keystone::token_provider`, and puppet fails on a
/// duplicate declaration).
pub(crate) fn jws_owned_options(receipt_dir: Option<&str>) -> Vec<&'static str> {
    let mut owned = vec![
        "jwt_tokens/jws_private_key_repository",
        "jwt_tokens/jws_public_key_repository",
        "token/provider",
    ];
    if receipt_dir.is_some() {
        owned.push("fernet_receipts/key_repository");
    }
    owned
}

#[derive(Serialize)]
struct CarriedEntry {
    /// JSON string literal (a valid YAML double-quoted scalar).
    key: String,
    /// Compact JSON (valid YAML flow).
    value: String,
}

/// Renders `jws.yaml`.
pub fn render_jws(model: &JwsEnv<'_>) -> Result<String> {
    for role in model.roles {
        validate_role(role)?;
    }
    let owned = jws_owned_options(model.receipt_dir.as_deref());
    let operator: BTreeMap<&String, Vec<CarriedEntry>> = model
        .operator
        .iter()
        .map(|(role, found)| {
            let carried = found
                .entries
                .iter()
                .filter(|(k, _)| !owned.contains(&k.as_str()))
                .map(|(k, v)| CarriedEntry {
                    key: serde_json::Value::from(k.as_str()).to_string(),
                    value: v.to_string(),
                })
                .collect();
            (role, carried)
        })
        .collect();
    render(
        names::JWS,
        context! {
            stack => model.stack,
            version => env!("CARGO_PKG_VERSION"),
            roles => ser(model.roles),
            private_dir => "/etc/keystone/jws-keys/private",
            public_dir => "/etc/keystone/jws-keys/public",
            receipt_dir => model.receipt_dir.clone(),
            operator => ser(&operator),
        },
    )
}

/// Where the artifacts are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactRefs {
    /// OSP 17+: absolute paths on the undercloud (`DeployArtifactFILEs`).
    Files(Vec<String>),
    /// Swift TempURLs (`DeployArtifactURLs`).
    Urls(Vec<String>),
}

/// Renders `deployment-artifacts.yaml` in tripleo-common's exact layout, with `notes` as
/// leading comments (which secrets reach which roles).
pub fn render_artifacts(refs: &ArtifactRefs, notes: &[String]) -> Result<String> {
    let (files, urls) = match refs {
        ArtifactRefs::Files(files) => {
            for file in files {
                validate_artifact_path(file)?;
            }
            (files.clone(), vec![])
        }
        ArtifactRefs::Urls(urls) => (vec![], urls.clone()),
    };
    let text = render(
        names::ARTIFACTS,
        context! { files => ser(&files), urls => ser(&urls), notes => ser(comment_lines(notes)) },
    )?;
    Ok(text.trim_start_matches('\n').to_string())
}

/// `DeployArtifactFILEs` paths reach a shell unquoted in tripleo_push_artifacts: absolute,
/// and nothing but letters, digits, `.`, `_`, `-`, `/`.
pub(crate) fn validate_artifact_path(path: &str) -> Result<()> {
    let ok = path.starts_with('/')
        && !path.contains("..")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidValue {
            name: "artifact path",
            value: path.into(),
            reason: "must be absolute and use only letters, digits, '.', '_', '-' and '/': tripleo_push_artifacts passes it to a shell unquoted".into(),
        })
    }
}

/// A TripleO role name: starts with a capital letter, letters and digits only.
pub(crate) fn validate_role(role: &str) -> Result<()> {
    let ok = role.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && role.chars().all(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidValue {
            name: "role",
            value: role.into(),
            reason: "TripleO role names are CamelCase letters and digits, e.g. Controller".into(),
        })
    }
}
