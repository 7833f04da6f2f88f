//! Credentials and authentication, found the way the openstack and swift clients find them:
//! `--os-cloud`/`OS_CLOUD` with clouds.yaml (+ secure.yaml), else `OS_*` variables (Keystone
//! v3 password or application credential), else tempauth from `ST_AUTH`/`ST_USER`/`ST_KEY`.
//!
//! Keystone v3 only (`POST /v3/auth/tokens`); the storage URL is the catalog's object-store
//! endpoint for `OS_REGION_NAME` / `OS_INTERFACE` (default public), or tempauth's
//! `X-Storage-Url`. Passwords, keys and tokens are [`Secret`]s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use super::SwiftError;
use super::secret::Secret;
use crate::error::Result;

/// The process environment as this module reads it (injectable for tests).
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
    cwd: PathBuf,
    home: Option<PathBuf>,
}

impl Environment {
    /// This process's variables, working directory and `$HOME`.
    pub fn from_process() -> Self {
        let vars: BTreeMap<String, String> = std::env::vars().collect();
        let home = vars.get("HOME").map(PathBuf::from);
        Environment {
            vars,
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            home,
        }
    }

    /// Given variables (no `HOME` lookup beyond `home`).
    pub fn new<K: Into<String>, V: Into<String>>(
        vars: impl IntoIterator<Item = (K, V)>,
        cwd: PathBuf,
        home: Option<PathBuf>,
    ) -> Self {
        Environment {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            cwd,
            home,
        }
    }

    /// A variable, if set and not empty.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `$HOME`.
    pub fn home(&self) -> Option<&Path> {
        self.home.as_deref()
    }

    fn config_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.cwd.clone()];
        if let Some(xdg) = self.var("XDG_CONFIG_HOME") {
            dirs.push(Path::new(xdg).join("openstack"));
        } else if let Some(home) = &self.home {
            dirs.push(home.join(".config/openstack"));
        }
        dirs.push(PathBuf::from("/etc/openstack"));
        dirs
    }
}

/// A domain, by id or name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainRef {
    /// `{"id": ...}`.
    Id(String),
    /// `{"name": ...}`.
    Name(String),
}

/// A user or project, by id, or by name within a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    /// By id (unique across domains).
    Id(String),
    /// By name in a domain.
    Name {
        /// The name.
        name: String,
        /// Its domain.
        domain: DomainRef,
    },
}

/// How to authenticate to Keystone v3.
#[derive(Debug, Clone)]
pub enum KeystoneMethod {
    /// Password, scoped to a project (Swift needs a project-scoped token).
    Password {
        /// The user.
        user: Named,
        /// Its password.
        password: Secret,
        /// The project whose Swift account is used.
        project: Named,
    },
    /// Application credential (already scoped to its project).
    ApplicationCredential {
        /// Its id, or
        id: Option<String>,
        /// its name with
        name: Option<String>,
        /// its owner.
        user: Option<Named>,
        /// The secret.
        secret: Secret,
    },
}

/// Keystone v3 credentials and where to find Swift in the catalog.
#[derive(Debug, Clone)]
pub struct KeystoneCredentials {
    /// Identity endpoint, ending in `/v3`.
    pub auth_url: String,
    /// Password or application credential.
    pub method: KeystoneMethod,
    /// Region of the object-store endpoint; `None`: the first one.
    pub region: Option<String>,
    /// Interface of the object-store endpoint (public, internal, admin).
    pub interface: String,
    /// Where these came from, for error messages (`OS_* variables`, `cloud "x" in FILE`).
    pub origin: String,
}

/// Swift v1 (tempauth) credentials.
#[derive(Debug, Clone)]
pub struct TempAuthCredentials {
    /// `ST_AUTH` (`http://host:8080/auth/v1.0`).
    pub url: String,
    /// `ST_USER` (`account:user`).
    pub user: String,
    /// `ST_KEY`.
    pub key: Secret,
}

/// Credentials for one of the two auth systems.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// Keystone v3.
    Keystone(KeystoneCredentials),
    /// Swift tempauth (v1).
    TempAuth(TempAuthCredentials),
}

pub use super::http::TlsSettings;

/// Credentials and TLS settings found.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// The credentials.
    pub credentials: Credentials,
    /// TLS settings.
    pub tls: TlsSettings,
}

/// Settings from one source, with the names the user knows them by.
struct Source {
    fields: BTreeMap<String, String>,
    /// `Some((cloud, file))` for clouds.yaml, `None` for `OS_*` variables.
    cloud: Option<(String, PathBuf)>,
}

impl Source {
    fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn label(&self, key: &str) -> String {
        match &self.cloud {
            None => format!("OS_{}", key.to_uppercase()),
            Some(_) if matches!(key, "region_name" | "interface" | "auth_type") => key.into(),
            Some(_) => format!("auth.{key}"),
        }
    }

    fn origin(&self) -> String {
        match &self.cloud {
            None => "the OS_* variables".into(),
            Some((name, file)) => format!("cloud {name:?} in {}", file.display()),
        }
    }
}

const ENV_KEYS: &[&str] = &[
    "auth_url",
    "auth_type",
    "username",
    "user_id",
    "password",
    "project_name",
    "project_id",
    "tenant_name",
    "tenant_id",
    "user_domain_name",
    "user_domain_id",
    "project_domain_name",
    "project_domain_id",
    "default_domain_name",
    "default_domain_id",
    "application_credential_id",
    "application_credential_name",
    "application_credential_secret",
    "region_name",
    "interface",
    "identity_api_version",
];

/// Finds credentials: `cloud` (or `OS_CLOUD`) in clouds.yaml, else `OS_AUTH_URL` and the
/// other `OS_*` variables, else `ST_AUTH`/`ST_USER`/`ST_KEY`. Reads files, no network.
pub(crate) fn discover(env: &Environment, cloud: Option<&str>) -> Result<Discovered> {
    if let Some(name) = cloud.or_else(|| env.var("OS_CLOUD")) {
        let (source, tls) = load_cloud(env, name)?;
        return Ok(Discovered {
            credentials: Credentials::Keystone(keystone_from(&source)?),
            tls,
        });
    }
    if env.var("OS_AUTH_URL").is_some() {
        let mut fields = BTreeMap::new();
        for key in ENV_KEYS {
            if let Some(v) = env.var(&format!("OS_{}", key.to_uppercase())) {
                fields.insert(key.to_string(), v.to_string());
            }
        }
        if let Some(v) = env.var("OS_DEFAULT_DOMAIN") {
            fields
                .entry("default_domain_id".into())
                .or_insert_with(|| v.into());
        }
        let source = Source {
            fields,
            cloud: None,
        };
        return Ok(Discovered {
            credentials: Credentials::Keystone(keystone_from(&source)?),
            tls: TlsSettings {
                cacert: env.var("OS_CACERT").map(PathBuf::from),
                insecure: false,
            },
        });
    }
    let st = ["ST_AUTH", "ST_USER", "ST_KEY"].map(|n| env.var(n));
    if st.iter().any(Option::is_some) {
        let missing: Vec<&str> = ["ST_AUTH", "ST_USER", "ST_KEY"]
            .iter()
            .zip(&st)
            .filter(|(_, v)| v.is_none())
            .map(|(n, _)| *n)
            .collect();
        if !missing.is_empty() {
            return Err(SwiftError::MissingCredentials {
                origin: "the ST_* variables (tempauth)".into(),
                missing: missing.join(", "),
                fix: format!(
                    "set {} (the swift client's tempauth variables), or use Keystone with --os-cloud or OS_* variables",
                    missing.join(" and ")
                ),
            }
            .into());
        }
        let [Some(url), Some(user), Some(key)] = st else {
            unreachable!("checked above")
        };
        return Ok(Discovered {
            credentials: Credentials::TempAuth(TempAuthCredentials {
                url: url.into(),
                user: user.into(),
                key: Secret::new(key),
            }),
            tls: TlsSettings::default(),
        });
    }
    if ["OS_USERNAME", "OS_PASSWORD", "OS_APPLICATION_CREDENTIAL_ID"]
        .iter()
        .any(|n| env.var(n).is_some())
    {
        return Err(SwiftError::MissingCredentials {
            origin: "the OS_* variables".into(),
            missing: "OS_AUTH_URL".into(),
            fix: "set OS_AUTH_URL to the Keystone endpoint (source the whole rc file), or use --os-cloud".into(),
        }
        .into());
    }
    Err(SwiftError::NoCredentials.into())
}

fn candidates(env: &Environment, override_var: &str, name: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = env
        .var(override_var)
        .map(PathBuf::from)
        .into_iter()
        .collect();
    out.extend(env.config_dirs().into_iter().map(|d| d.join(name)));
    out
}

fn read_yaml(path: &Path) -> Result<Value> {
    let text = crate::fsutil::read_text(path)?;
    serde_yaml_ng::from_str(&text).map_err(|e| {
        SwiftError::CloudsFile {
            file: path.into(),
            message: format!("not valid YAML: {e}"),
        }
        .into()
    })
}

/// Deep merge of `over` into `base` (mappings merge, anything else is replaced), as
/// openstacksdk merges secure.yaml into clouds.yaml.
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(base), Value::Mapping(over)) => {
            for (k, v) in over {
                match base.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        base.insert(k, v);
                    }
                }
            }
        }
        (base, over) => *base = over,
    }
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The cloud `name` from the first clouds.yaml found (`OS_CLIENT_CONFIG_FILE`, ./,
/// ~/.config/openstack/, /etc/openstack/), with its secure.yaml entry merged in.
fn load_cloud(env: &Environment, name: &str) -> Result<(Source, TlsSettings)> {
    let searched = candidates(env, "OS_CLIENT_CONFIG_FILE", "clouds.yaml");
    let Some(file) = searched.iter().find(|p| p.is_file()).cloned() else {
        return Err(SwiftError::NoCloudsFile {
            name: name.into(),
            searched: searched
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }
        .into());
    };
    let doc = read_yaml(&file)?;
    let clouds = doc.get("clouds").and_then(Value::as_mapping);
    let known: Vec<String> = clouds
        .map(|m| m.keys().filter_map(scalar).collect())
        .unwrap_or_default();
    let Some(mut entry) = clouds.and_then(|m| m.get(name)).cloned() else {
        return Err(SwiftError::UnknownCloud {
            name: name.into(),
            file,
            known,
        }
        .into());
    };
    if let Some(secure) = candidates(env, "OS_CLIENT_SECURE_FILE", "secure.yaml")
        .into_iter()
        .find(|p| p.is_file())
    {
        let doc = read_yaml(&secure)?;
        if let Some(over) = doc.get("clouds").and_then(|c| c.get(name)) {
            merge(&mut entry, over.clone());
        }
    }
    if entry.get("profile").is_some() && entry.get("auth").and_then(|a| a.get("auth_url")).is_none()
    {
        return Err(SwiftError::CloudsFile {
            file,
            message: format!(
                "cloud {name:?} uses a vendor profile, which this tool does not read; give auth.auth_url"
            ),
        }
        .into());
    }
    let mut fields = BTreeMap::new();
    if let Some(auth) = entry.get("auth").and_then(Value::as_mapping) {
        for (k, v) in auth {
            if let (Some(k), Some(v)) = (scalar(k), scalar(v)) {
                fields.insert(k, v);
            }
        }
    }
    for key in [
        "auth_type",
        "region_name",
        "interface",
        "identity_api_version",
    ] {
        if let Some(v) = entry.get(key).and_then(scalar) {
            fields.insert(key.into(), v);
        }
    }
    let tls = TlsSettings {
        cacert: entry
            .get("cacert")
            .and_then(scalar)
            .map(PathBuf::from)
            .or_else(|| env.var("OS_CACERT").map(PathBuf::from)),
        insecure: matches!(entry.get("verify"), Some(Value::Bool(false))),
    };
    Ok((
        Source {
            fields,
            cloud: Some((name.into(), file)),
        },
        tls,
    ))
}

fn domain(source: &Source, prefix: &str) -> DomainRef {
    let id = source.get(&format!("{prefix}_domain_id"));
    let name = source.get(&format!("{prefix}_domain_name"));
    match (id, name) {
        (Some(id), _) => DomainRef::Id(id.into()),
        (None, Some(name)) => DomainRef::Name(name.into()),
        // python-openstackclient's --os-default-domain: "default".
        _ => match (
            source.get("default_domain_id"),
            source.get("default_domain_name"),
        ) {
            (Some(id), _) => DomainRef::Id(id.into()),
            (None, Some(name)) => DomainRef::Name(name.into()),
            _ => DomainRef::Id("default".into()),
        },
    }
}

/// `auth_url` as the v3 identity endpoint: `.../v3` (added when absent, as TripleO's
/// clouds.yaml gives the bare endpoint).
pub(crate) fn v3_url(auth_url: &str, label: &str) -> Result<String> {
    let url = auth_url.trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(SwiftError::InvalidOption {
            name: "auth URL",
            value: auth_url.into(),
            reason: "not an http(s) URL".into(),
            fix: format!("set {label} to the Keystone endpoint, e.g. https://192.168.24.2:13000"),
        }
        .into());
    }
    if url.ends_with("/v2.0") || url.ends_with("/v2") {
        return Err(SwiftError::InvalidOption {
            name: "auth URL",
            value: auth_url.into(),
            reason: "Keystone v2.0 is not supported (removed in Queens)".into(),
            fix: format!("set {label} to the v3 endpoint (…/v3)"),
        }
        .into());
    }
    Ok(if url.ends_with("/v3") {
        url.to_string()
    } else {
        format!("{url}/v3")
    })
}

fn keystone_from(source: &Source) -> Result<KeystoneCredentials> {
    let mut missing: Vec<String> = vec![];
    let auth_url = source.get("auth_url");
    if auth_url.is_none() {
        missing.push(source.label("auth_url"));
    }
    if let Some(version) = source.get("identity_api_version")
        && !version.starts_with('3')
    {
        return Err(SwiftError::UnsupportedAuth {
            auth_type: format!("identity API version {version}"),
            origin: source.origin(),
        }
        .into());
    }
    let has_secret = source.get("application_credential_secret").is_some();
    let auth_type = source
        .get("auth_type")
        .map(|t| t.to_lowercase().replace('-', "_"))
        .unwrap_or_else(|| {
            if has_secret && source.get("password").is_none() {
                "v3applicationcredential".into()
            } else {
                "password".into()
            }
        });
    let method = match auth_type.as_str() {
        "password" | "v3password" => password_method(source, &mut missing),
        "v3applicationcredential"
        | "applicationcredential"
        | "application_credential"
        | "v3_application_credential" => application_credential_method(source, &mut missing),
        other => {
            return Err(SwiftError::UnsupportedAuth {
                auth_type: other.into(),
                origin: source.origin(),
            }
            .into());
        }
    };
    let (Some(auth_url), Some(method), true) = (auth_url, method, missing.is_empty()) else {
        return Err(SwiftError::MissingCredentials {
            origin: source.origin(),
            fix: match &source.cloud {
                None => format!(
                    "set {} (source the complete rc file), or use --os-cloud",
                    missing.join(", ")
                ),
                Some((name, file)) => format!(
                    "add {} to cloud {name:?} in {} (secrets may go in secure.yaml)",
                    missing.join(", "),
                    file.display()
                ),
            },
            missing: missing.join(", "),
        }
        .into());
    };
    let interface = interface(source)?;
    Ok(KeystoneCredentials {
        auth_url: v3_url(auth_url, &source.label("auth_url"))?,
        method,
        region: source.get("region_name").map(String::from),
        interface,
        origin: source.origin(),
    })
}

/// The v3 password method, or `None` with what is missing added to `missing`.
fn password_method(source: &Source, missing: &mut Vec<String>) -> Option<KeystoneMethod> {
    let user = match (source.get("user_id"), source.get("username")) {
        (Some(id), _) => Some(Named::Id(id.into())),
        (None, Some(name)) => Some(Named::Name {
            name: name.into(),
            domain: domain(source, "user"),
        }),
        _ => {
            missing.push(format!(
                "{} (or {})",
                source.label("username"),
                source.label("user_id")
            ));
            None
        }
    };
    let password = source.get("password").map(Secret::new);
    if password.is_none() {
        missing.push(source.label("password"));
    }
    let project = match (
        source.get("project_id").or(source.get("tenant_id")),
        source.get("project_name").or(source.get("tenant_name")),
    ) {
        (Some(id), _) => Some(Named::Id(id.into())),
        (None, Some(name)) => Some(Named::Name {
            name: name.into(),
            domain: domain(source, "project"),
        }),
        _ => {
            missing.push(format!(
                "{} (or {})",
                source.label("project_name"),
                source.label("project_id")
            ));
            None
        }
    };
    match (user, password, project) {
        (Some(user), Some(password), Some(project)) => Some(KeystoneMethod::Password {
            user,
            password,
            project,
        }),
        _ => None,
    }
}

/// The v3 application credential method, or `None` with what is missing added to `missing`.
fn application_credential_method(
    source: &Source,
    missing: &mut Vec<String>,
) -> Option<KeystoneMethod> {
    let id = source.get("application_credential_id").map(String::from);
    let name = source.get("application_credential_name").map(String::from);
    let user = match (source.get("user_id"), source.get("username")) {
        (Some(id), _) => Some(Named::Id(id.into())),
        (None, Some(n)) => Some(Named::Name {
            name: n.into(),
            domain: domain(source, "user"),
        }),
        _ => None,
    };
    if id.is_none() && (name.is_none() || user.is_none()) {
        missing.push(format!(
            "{} (or {} with {})",
            source.label("application_credential_id"),
            source.label("application_credential_name"),
            source.label("username")
        ));
    }
    let secret = source.get("application_credential_secret").map(Secret::new);
    if secret.is_none() {
        missing.push(source.label("application_credential_secret"));
    }
    secret
        .filter(|_| missing.is_empty())
        .map(|secret| KeystoneMethod::ApplicationCredential {
            id,
            name,
            user,
            secret,
        })
}

/// The catalog interface (`public`, `internal`, `admin`; `publicURL` style accepted).
fn interface(source: &Source) -> Result<String> {
    let interface = source
        .get("interface")
        .unwrap_or("public")
        .trim_end_matches("URL")
        .to_lowercase();
    if !matches!(interface.as_str(), "public" | "internal" | "admin") {
        return Err(SwiftError::InvalidOption {
            name: "interface",
            value: interface,
            reason: "must be public, internal or admin".into(),
            fix: format!(
                "set {} to public, internal or admin",
                source.label("interface")
            ),
        }
        .into());
    }
    Ok(interface)
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
