//! Reading what a deployed OSP 13/16.2 plan keeps in the undercloud's Swift: the plan
//! container is named after the stack and holds `plan-environment.yaml` (tripleo-common).
//! Read-only: one authenticated GET or HEAD. Also what a published TempURL serves, asked
//! the way a node asks (no token), with the same TLS settings as every other request.

use super::SwiftError;
use super::auth::{self, Environment};
use super::client::Swift;
use super::http::{ConnectOptions, Http, container_url, object_url};
use crate::error::{Error, Result};

/// What the undercloud's Swift says about a stack's plan.
#[derive(Debug)]
pub(crate) enum PlanProbe<T> {
    /// Found.
    Found(T),
    /// Swift answered: no such container or object.
    Missing,
    /// No Swift to ask: no credentials configured, or a catalog without object-store (the
    /// OSP 17 undercloud has no Swift). The text says which.
    NoSwift(String),
}

/// The ETag of the object a TempURL serves (HEAD through the URL itself: a GET signature
/// allows HEAD), `None` when Swift refuses it (expired, revoked key, object gone). TLS as for
/// an upload: `opts.cacert`/`opts.insecure`, else the credentials' `OS_CACERT` or clouds.yaml
/// `cacert`/`verify`, else the system trust store. Transient failures are retried; an error
/// names the URL without its signature.
pub(crate) fn served_etag(opts: &ConnectOptions, url: &str) -> Result<Option<String>> {
    let tls = auth::discover(&Environment::from_process(), opts.cloud.as_deref())
        .map(|found| found.tls)
        .unwrap_or_default();
    let http = Http::new(opts, &tls)?;
    let reply = http.send("Swift", "HEAD", url, &[], None).map_err(|err| {
        let without_signature = url.split('?').next().unwrap_or_default();
        super::tempurl::shown_as(err, without_signature.to_string())
    })?;
    if !(200..300).contains(&reply.status) {
        return Ok(None);
    }
    Ok(reply
        .header("etag")
        .map(|v| v.trim().trim_matches('"').to_ascii_lowercase()))
}

fn connect(opts: &ConnectOptions) -> Result<std::result::Result<Swift, String>> {
    match Swift::connect(opts) {
        Ok(swift) => Ok(Ok(swift)),
        Err(Error::Swift(SwiftError::NoCredentials)) => Ok(Err(
            "no Swift credentials (source the undercloud's stackrc or pass --os-cloud)".into(),
        )),
        Err(Error::Swift(SwiftError::NoEndpoint { available, .. })) if available.is_empty() => {
            Ok(Err(
                "the undercloud's catalog has no object-store (no plan container, as on OSP 17)"
                    .into(),
            ))
        }
        Err(other) => Err(other),
    }
}

fn refused(method: &str, url: &str, status: u16) -> Error {
    SwiftError::Refused {
        method: method.into(),
        url: url.into(),
        status,
        detail: String::new(),
    }
    .into()
}

/// `plan-environment.yaml` of the plan `stack`, with the URL it came from.
pub(crate) fn plan_environment(
    opts: &ConnectOptions,
    stack: &str,
    object: &str,
) -> Result<PlanProbe<(Vec<u8>, String)>> {
    let mut swift = match connect(opts)? {
        Ok(swift) => swift,
        Err(why) => return Ok(PlanProbe::NoSwift(why)),
    };
    let url = object_url(swift.storage_url(), stack, object);
    let reply = swift.request("GET", &url, &[], None)?;
    match reply.status {
        200..=299 => Ok(PlanProbe::Found((reply.body, url))),
        404 => Ok(PlanProbe::Missing),
        status => Err(refused("GET", &url, status)),
    }
}

/// Whether the plan container `stack` exists (a deployed OSP 13/16.2 stack has one).
pub(crate) fn plan_container_exists(
    opts: &ConnectOptions,
    stack: &str,
) -> Result<PlanProbe<String>> {
    let mut swift = match connect(opts)? {
        Ok(swift) => swift,
        Err(why) => return Ok(PlanProbe::NoSwift(why)),
    };
    let url = container_url(swift.storage_url(), stack);
    let reply = swift.request("HEAD", &url, &[], None)?;
    match reply.status {
        200..=299 => Ok(PlanProbe::Found(url)),
        404 => Ok(PlanProbe::Missing),
        status => Err(refused("HEAD", &url, status)),
    }
}
