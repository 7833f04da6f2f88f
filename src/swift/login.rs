//! Logging in: a token (and the storage URL from the catalog) from the credentials
//! `auth` found, by Keystone v3 (password or application credential) or tempauth v1.

use serde::Deserialize;
use zeroize::Zeroizing;

use super::SwiftError;
use super::auth::{
    Credentials, DomainRef, KeystoneCredentials, KeystoneMethod, Named, TempAuthCredentials,
};
use super::http::{Http, expect};
use super::secret::Secret;
use crate::error::Result;

/// A token and, unless an override makes it moot, the storage URL.
pub(crate) struct Session {
    pub(crate) token: Secret,
    pub(crate) storage_url: Option<String>,
}

/// Authenticates; `storage_overridden` skips the catalog lookup (`--os-storage-url`).
pub(crate) fn authenticate(
    http: &Http,
    credentials: &Credentials,
    storage_overridden: bool,
) -> Result<Session> {
    match credentials {
        Credentials::Keystone(k) => keystone(http, k, storage_overridden),
        Credentials::TempAuth(t) => tempauth(http, t),
    }
}

fn tempauth(http: &Http, creds: &TempAuthCredentials) -> Result<Session> {
    let reply = http.send(
        "Swift tempauth",
        "GET",
        &creds.url,
        &[
            ("X-Auth-User", &creds.user),
            ("X-Auth-Key", creds.key.expose()),
        ],
        None,
    )?;
    if matches!(reply.status, 401 | 403) {
        return Err(SwiftError::AuthRejected {
            service: "Swift tempauth",
            url: creds.url.clone(),
            origin: "ST_USER/ST_KEY".into(),
            status: reply.status,
        }
        .into());
    }
    let reply = expect(reply, "GET", &creds.url, &[200, 204])?;
    let token = reply
        .header("x-auth-token")
        .or(reply.header("x-storage-token"));
    let (Some(token), Some(storage)) = (token, reply.header("x-storage-url")) else {
        return Err(SwiftError::Refused {
            method: "GET".into(),
            url: creds.url.clone(),
            status: reply.status,
            detail:
                ": no X-Auth-Token or X-Storage-Url in the reply (is ST_AUTH a tempauth endpoint?)"
                    .into(),
        }
        .into());
    };
    Ok(Session {
        token: Secret::new(token),
        storage_url: Some(storage.trim_end_matches('/').to_string()),
    })
}

fn json_str(s: &str) -> Zeroizing<String> {
    Zeroizing::new(serde_json::to_string(s).expect("a string serializes"))
}

fn named_json(named: &Named) -> String {
    match named {
        Named::Id(id) => format!("\"id\":{}", *json_str(id)),
        Named::Name { name, domain } => format!(
            "\"name\":{},\"domain\":{{{}}}",
            *json_str(name),
            match domain {
                DomainRef::Id(id) => format!("\"id\":{}", *json_str(id)),
                DomainRef::Name(n) => format!("\"name\":{}", *json_str(n)),
            }
        ),
    }
}

/// The `POST /v3/auth/tokens` body. Built as text so the secret is only ever in zeroized
/// buffers.
pub(crate) fn token_request_body(method: &KeystoneMethod) -> Zeroizing<String> {
    match method {
        KeystoneMethod::Password {
            user,
            password,
            project,
        } => Zeroizing::new(format!(
            "{{\"auth\":{{\"identity\":{{\"methods\":[\"password\"],\"password\":{{\"user\":{{{},\"password\":{}}}}}}},\"scope\":{{\"project\":{{{}}}}}}}}}",
            named_json(user),
            *json_str(password.expose()),
            named_json(project)
        )),
        KeystoneMethod::ApplicationCredential {
            id,
            name,
            user,
            secret,
        } => {
            let mut fields = vec![];
            if let Some(id) = id {
                fields.push(format!("\"id\":{}", *json_str(id)));
            } else {
                if let Some(name) = name {
                    fields.push(format!("\"name\":{}", *json_str(name)));
                }
                if let Some(user) = user {
                    fields.push(format!("\"user\":{{{}}}", named_json(user)));
                }
            }
            Zeroizing::new(format!(
                "{{\"auth\":{{\"identity\":{{\"methods\":[\"application_credential\"],\"application_credential\":{{{},\"secret\":{}}}}}}}}}",
                fields.join(","),
                *json_str(secret.expose())
            ))
        }
    }
}

#[derive(Deserialize)]
struct TokenReply {
    token: TokenBody,
}

#[derive(Deserialize)]
struct TokenBody {
    #[serde(default)]
    catalog: Vec<CatalogService>,
}

/// One service of a Keystone catalog.
#[derive(Debug, Deserialize)]
pub(crate) struct CatalogService {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    endpoints: Vec<CatalogEndpoint>,
}

/// One endpoint of a catalog service.
#[derive(Debug, Deserialize)]
pub(crate) struct CatalogEndpoint {
    interface: String,
    url: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    region_id: Option<String>,
}

/// The object-store endpoint for `interface` (and `region` if given): `Ok(url)`, or
/// `Err(available endpoints)` described as `interface region url`.
pub(crate) fn select_endpoint(
    catalog: &[CatalogService],
    interface: &str,
    region: Option<&str>,
) -> std::result::Result<String, Vec<String>> {
    let endpoints = catalog
        .iter()
        .filter(|s| s.kind == "object-store")
        .flat_map(|s| &s.endpoints);
    let found = endpoints.clone().find(|e| {
        e.interface == interface
            && region
                .is_none_or(|r| e.region_id.as_deref() == Some(r) || e.region.as_deref() == Some(r))
    });
    match found {
        Some(e) => Ok(e.url.trim_end_matches('/').to_string()),
        None => Err(endpoints
            .map(|e| {
                format!(
                    "{} {} {}",
                    e.interface,
                    e.region_id
                        .as_deref()
                        .or(e.region.as_deref())
                        .unwrap_or("-"),
                    e.url
                )
            })
            .collect()),
    }
}

fn keystone(http: &Http, creds: &KeystoneCredentials, storage_overridden: bool) -> Result<Session> {
    let url = format!("{}/auth/tokens", creds.auth_url);
    let body = token_request_body(&creds.method);
    let reply = http.send(
        "Keystone",
        "POST",
        &url,
        &[("Content-Type", "application/json")],
        Some(&super::http::Payload::Bytes(body.as_bytes())),
    )?;
    if reply.status == 401 {
        return Err(SwiftError::AuthRejected {
            service: "Keystone",
            url: creds.auth_url.clone(),
            origin: creds.origin.clone(),
            status: 401,
        }
        .into());
    }
    let reply = expect(reply, "POST", &url, &[200, 201])?;
    let Some(token) = reply.header("x-subject-token").map(Secret::new) else {
        return Err(SwiftError::Refused {
            method: "POST".into(),
            url,
            status: reply.status,
            detail: ": no X-Subject-Token in the reply (is this a Keystone v3 endpoint?)".into(),
        }
        .into());
    };
    if storage_overridden {
        return Ok(Session {
            token,
            storage_url: None,
        });
    }
    let parsed: TokenReply =
        serde_json::from_slice(&reply.body).map_err(|e| SwiftError::Refused {
            method: "POST".into(),
            url: url.clone(),
            status: reply.status,
            detail: format!(": the token reply is not Keystone v3 JSON ({e})"),
        })?;
    match select_endpoint(
        &parsed.token.catalog,
        &creds.interface,
        creds.region.as_deref(),
    ) {
        Ok(storage) => Ok(Session {
            token,
            storage_url: Some(storage),
        }),
        Err(available) => Err(SwiftError::NoEndpoint {
            url: creds.auth_url.clone(),
            interface: creds.interface.clone(),
            region: creds.region.clone(),
            available,
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_body_from_os_variables() {
        let dir = tempfile::tempdir().unwrap();
        let vars = [
            ("OS_AUTH_URL", "http://k:5000"),
            ("OS_USERNAME", "u"),
            ("OS_PASSWORD", "p"),
            ("OS_PROJECT_NAME", "proj"),
        ];
        let env = super::super::auth::Environment::new(vars, dir.path().to_path_buf(), None);
        let found = super::super::auth::discover(&env, None).unwrap();
        let Credentials::Keystone(k) = found.credentials else {
            panic!()
        };
        let body = token_request_body(&k.method);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "u", "domain": {"id": "default"}, "password": "p"}}}, "scope": {"project": {"name": "proj", "domain": {"id": "default"}}}}})
        );
    }

    #[test]
    fn application_credential_body() {
        let body = token_request_body(&KeystoneMethod::ApplicationCredential {
            id: Some("id\"1".into()),
            name: None,
            user: None,
            secret: Secret::new("s"),
        });
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": "id\"1", "secret": "s"}}}})
        );
    }

    #[test]
    fn endpoint_selection() {
        let catalog: Vec<CatalogService> = serde_json::from_value(serde_json::json!([
            {"type": "identity", "endpoints": [{"interface": "public", "url": "http://k", "region_id": "r1"}]},
            {"type": "object-store", "endpoints": [
                {"interface": "internal", "url": "http://int/v1/AUTH_p", "region_id": "r1", "region": "r1"},
                {"interface": "public", "url": "http://pub1/v1/AUTH_p/", "region_id": "r1"},
                {"interface": "public", "url": "http://pub2/v1/AUTH_p", "region_id": "r2"}
            ]}
        ]))
        .unwrap();
        assert_eq!(
            select_endpoint(&catalog, "public", None).unwrap(),
            "http://pub1/v1/AUTH_p"
        );
        assert_eq!(
            select_endpoint(&catalog, "public", Some("r2")).unwrap(),
            "http://pub2/v1/AUTH_p"
        );
        assert_eq!(
            select_endpoint(&catalog, "internal", Some("r1")).unwrap(),
            "http://int/v1/AUTH_p"
        );
        let available = select_endpoint(&catalog, "admin", None).unwrap_err();
        assert_eq!(available.len(), 3);
        assert!(available[0].starts_with("internal r1 http://int"));
    }
}
