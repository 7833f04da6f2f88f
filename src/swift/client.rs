//! A session with one Swift account: authenticates (see `auth`), sends requests with the
//! token, and authenticates again once when a token is refused.

use super::auth::{self, Credentials, Discovered, Environment};
use super::http::{ConnectOptions, Http, Payload, Reply, backoff_delay, random_jitter};
use super::login;
use super::secret::Secret;
use crate::error::Result;

/// An authenticated connection to one Swift account.
pub struct Swift {
    http: Http,
    credentials: Credentials,
    storage_override: Option<String>,
    storage_url: String,
    token: Secret,
}

impl Swift {
    /// Authenticates with the credentials found in this process's environment (see
    /// `auth::discover`).
    pub fn connect(opts: &ConnectOptions) -> Result<Swift> {
        let found = auth::discover(&Environment::from_process(), opts.cloud.as_deref())?;
        Swift::connect_with(opts, found)
    }

    /// Authenticates with credentials already discovered.
    pub(crate) fn connect_with(opts: &ConnectOptions, found: Discovered) -> Result<Swift> {
        let http = Http::new(opts, &found.tls)?;
        let storage_override = opts
            .storage_url
            .as_ref()
            .map(|u| u.trim_end_matches('/').to_string());
        let session = login::authenticate(&http, &found.credentials, storage_override.is_some())?;
        let storage_url = storage_override
            .clone()
            .or(session.storage_url)
            .unwrap_or_default();
        Ok(Swift {
            http,
            credentials: found.credentials,
            storage_override,
            storage_url,
            token: session.token,
        })
    }

    /// The account's storage URL (`.../v1/AUTH_x`).
    pub fn storage_url(&self) -> &str {
        &self.storage_url
    }

    /// Retries allowed after a first attempt.
    pub(crate) fn retries(&self) -> u32 {
        self.http.policy.retries
    }

    /// Sleeps the backoff before retry number `retry` (0-based) of a check-and-retry loop.
    pub(crate) fn pause(&self, retry: u32) {
        std::thread::sleep(backoff_delay(&self.http.policy, retry, random_jitter()));
    }

    /// The HTTP agent (for requests made without the token, e.g. through a TempURL).
    pub(crate) fn http(&self) -> &Http {
        &self.http
    }

    /// One request with the token; on 401 authenticates again once and repeats it (a cached
    /// token may have expired or been revoked). Replies of any non-5xx status are returned.
    pub(crate) fn request(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        payload: Option<&Payload<'_>>,
    ) -> Result<Reply> {
        let reply = self.with_token(method, url, headers, payload)?;
        if reply.status != 401 {
            return Ok(reply);
        }
        let session = login::authenticate(
            &self.http,
            &self.credentials,
            self.storage_override.is_some(),
        )?;
        self.token = session.token;
        if self.storage_override.is_none()
            && let Some(fresh) = session.storage_url
        {
            self.storage_url = fresh;
        }
        self.with_token(method, url, headers, payload)
    }

    fn with_token(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        payload: Option<&Payload<'_>>,
    ) -> Result<Reply> {
        let mut all = Vec::with_capacity(headers.len() + 1);
        all.push(("X-Auth-Token", self.token.expose()));
        all.extend_from_slice(headers);
        self.http.send("Swift", method, url, &all, payload)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::auth::TlsSettings;
    use super::super::http::test_peer::{scripted, status};
    use super::*;

    #[test]
    fn a_refused_token_is_renewed_once() {
        let auth = |token: &str, storage: &str| {
            format!(
                "HTTP/1.1 200 OK\r\nX-Auth-Token: {token}\r\nX-Storage-Url: {storage}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
        };
        // Authenticate (tk1), 401, authenticate again (tk2), 204.
        let (url, seen) = scripted(vec![
            auth("tk1", "http://storage.invalid/v1/AUTH_t"),
            status(401),
            auth("tk2", "http://storage.invalid/v1/AUTH_t"),
            status(204),
            // A second 401 after renewal is the caller's to report: no third token.
            status(401),
            auth("tk3", "http://storage.invalid/v1/AUTH_t"),
            status(401),
        ]);
        let found = Discovered {
            credentials: Credentials::TempAuth(auth::TempAuthCredentials {
                url: format!("{url}/auth/v1.0"),
                user: "t:u".into(),
                key: Secret::new("k"),
            }),
            tls: TlsSettings::default(),
        };
        let opts = ConnectOptions {
            storage_url: Some(url.clone()),
            ..ConnectOptions::default()
        };
        let mut swift = Swift::connect_with(&opts, found).unwrap();
        let reply = swift
            .request("HEAD", &format!("{url}/c"), &[], None)
            .unwrap();
        assert_eq!(reply.status, 204);
        let heads: Vec<String> = seen.try_iter().collect();
        assert_eq!(heads.len(), 4);
        assert!(heads[1].contains("x-auth-token: tk1"), "{}", heads[1]);
        assert!(heads[3].contains("x-auth-token: tk2"), "{}", heads[3]);
        let reply = swift
            .request("HEAD", &format!("{url}/c"), &[], None)
            .unwrap();
        assert_eq!(reply.status, 401);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(seen.try_iter().count(), 3, "re-authenticated only once");
    }
}
