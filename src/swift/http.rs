//! HTTP to Swift and Keystone (ureq, blocking): timeouts, bounded retries with exponential
//! backoff and jitter, TLS roots, and the URL helpers. No credentials here: `auth` finds and
//! uses them, `client` holds a session.
//!
//! Retried: 5xx, connection refused or reset, truncated or garbled responses, timeouts.
//! Never retried: 4xx (the request is wrong as it stands), TLS failures, bad URLs.
//! After the last attempt the error names the URL and the number of attempts (exit code 3).

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};
use ureq::http::HeaderMap;

use super::SwiftError;
use super::progress::Progress;
use crate::error::{Error, Result};

/// How to reach Swift: which credentials, and how patient to be.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Cloud in clouds.yaml (`--os-cloud`); `None`: `OS_CLOUD`, then `OS_*`, then `ST_*`.
    pub cloud: Option<String>,
    /// Storage URL to use instead of the catalog's (or tempauth's) one.
    pub storage_url: Option<String>,
    /// CA certificate (PEM) to trust instead of the system trust store.
    pub cacert: Option<PathBuf>,
    /// Do not verify the server's certificate (`--insecure`).
    pub insecure: bool,
    /// Retries after the first attempt of each request.
    pub retries: u32,
    /// Timeout of connecting and of each read or write (a stalled server).
    pub timeout: Duration,
    /// Report progress to the program's sink (see `progress::set_sink`).
    pub progress: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            cloud: None,
            storage_url: None,
            cacert: None,
            insecure: false,
            retries: 5,
            timeout: Duration::from_secs(60),
            progress: false,
        }
    }
}

/// Bounds of the retry loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// Backoff before the first retry (before jitter).
    pub base: Duration,
    /// Longest backoff.
    pub cap: Duration,
}

impl RetryPolicy {
    /// `retries` retries, 0.5 s doubling up to 30 s.
    pub fn new(retries: u32) -> Self {
        RetryPolicy {
            retries,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
        }
    }
}

/// Backoff before retry number `retry` (0-based): `d = min(cap, base * 2^retry)`, then "equal
/// jitter": `d/2 + jitter * d/2` with `jitter` in [0, 1), so concurrent uploaders spread out
/// while each still waits at least half the exponential delay.
pub(crate) fn backoff_delay(policy: &RetryPolicy, retry: u32, jitter: f64) -> Duration {
    let exp = policy
        .base
        .saturating_mul(2u32.saturating_pow(retry.min(31)))
        .min(policy.cap);
    let half = exp / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

pub(crate) fn random_jitter() -> f64 {
    let mut b = [0u8; 4];
    if SystemRandom::new().fill(&mut b).is_err() {
        return 0.5;
    }
    f64::from(u32::from_be_bytes(b)) / (f64::from(u32::MAX) + 1.0)
}

/// Whether an HTTP status is worth another attempt: 5xx only (4xx says the request is wrong).
pub(crate) fn status_is_retryable(status: u16) -> bool {
    (500..600).contains(&status)
}

/// What a failed attempt means.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Transient (reset, timeout, truncated response...): try again.
    Retry(String),
    /// Will fail the same way every time.
    Fatal(Error),
}

/// Classifies a transport error of ureq for `url`.
pub(crate) fn classify(err: ureq::Error, url: &str) -> Failure {
    let tls = |message: String| {
        Failure::Fatal(
            SwiftError::Tls {
                url: url.into(),
                message,
            }
            .into(),
        )
    };
    let bad_request = |reason: String| {
        Failure::Fatal(
            SwiftError::InvalidOption {
                name: "URL",
                value: url.into(),
                reason,
                fix: "check --os-storage-url, the auth URL and the endpoint in the catalog".into(),
            }
            .into(),
        )
    };
    match err {
        ureq::Error::Timeout(t) => Failure::Retry(format!("timed out ({t})")),
        ureq::Error::Io(e) if e.kind() == io::ErrorKind::InvalidData && looks_like_tls(&e) => {
            tls(e.to_string())
        }
        ureq::Error::Io(e) => Failure::Retry(match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => format!("timed out ({e})"),
            io::ErrorKind::UnexpectedEof => format!("connection closed early ({e})"),
            _ => e.to_string(),
        }),
        ureq::Error::Protocol(e) => Failure::Retry(format!("bad or truncated response ({e})")),
        ureq::Error::ConnectionFailed => Failure::Retry("connection failed".into()),
        ureq::Error::HostNotFound => Failure::Retry("host not found".into()),
        ureq::Error::Tls(m) => tls(m.to_string()),
        ureq::Error::Rustls(e) => tls(e.to_string()),
        ureq::Error::Pem(e) => tls(e.to_string()),
        ureq::Error::BadUri(reason) => bad_request(reason),
        ureq::Error::Http(e) => bad_request(e.to_string()),
        ureq::Error::RequireHttpsOnly(reason) => bad_request(reason),
        other => Failure::Retry(other.to_string()),
    }
}

fn looks_like_tls(e: &io::Error) -> bool {
    let text = e.to_string().to_lowercase();
    text.contains("certificate") || text.contains("tls") || text.contains("handshake")
}

/// A response whose status was not 5xx: status, headers, and the (small) body.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers (names lowercase).
    pub headers: HeaderMap,
    /// The body, read completely (at most 16 MiB).
    pub body: Vec<u8>,
}

impl Reply {
    /// A header as text, if present and ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The first line of the body, for error messages (trimmed, at most 200 characters).
    pub(crate) fn excerpt(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('<'))
            .unwrap_or("");
        line.chars().take(200).collect()
    }
}

/// `reply` if its status is one of `ok`, else [`SwiftError::Refused`] naming the request.
pub(crate) fn expect(reply: Reply, method: &str, url: &str, ok: &[u16]) -> Result<Reply> {
    if ok.contains(&reply.status) {
        return Ok(reply);
    }
    let excerpt = reply.excerpt();
    Err(SwiftError::Refused {
        method: method.into(),
        url: url.into(),
        status: reply.status,
        detail: if excerpt.is_empty() {
            String::new()
        } else {
            format!(": {excerpt}")
        },
    }
    .into())
}

/// `account_url/container`, encoded.
pub(crate) fn container_url(account_url: &str, container: &str) -> String {
    format!(
        "{}/{}",
        account_url.trim_end_matches('/'),
        percent_encode(container)
    )
}

/// `account_url/container/object`, encoded.
pub(crate) fn object_url(account_url: &str, container: &str, object: &str) -> String {
    format!(
        "{}/{}",
        container_url(account_url, container),
        percent_encode(object)
    )
}

/// A request body.
pub(crate) enum Payload<'a> {
    /// Bytes in memory (JSON, manifests).
    Bytes(&'a [u8]),
    /// `len` bytes of a file from `offset`, read from disk on each attempt.
    File {
        /// The file.
        path: &'a Path,
        /// First byte.
        offset: u64,
        /// Bytes to send.
        len: u64,
        /// Bar to move (positioned at `offset` when an attempt starts).
        progress: Option<&'a Progress>,
    },
}

/// Reads a file range for a request body, counting progress and remembering a local read
/// error (which must not be mistaken for a network failure and retried).
struct FileBody<'a> {
    inner: io::Take<File>,
    progress: Option<&'a Progress>,
    local_error: &'a RefCell<Option<io::Error>>,
}

impl Read for FileBody<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            // The file ended before the range did: it shrank after it was hashed. A local
            // error, not a network one to retry.
            Ok(0) if !buf.is_empty() && self.inner.limit() > 0 => {
                let e = io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the file ended {} byte(s) early: it changed during the upload",
                        self.inner.limit()
                    ),
                );
                *self.local_error.borrow_mut() = Some(io::Error::new(e.kind(), e.to_string()));
                Err(e)
            }
            Ok(n) => {
                if let Some(p) = self.progress {
                    p.advance(n as u64);
                }
                Ok(n)
            }
            Err(e) => {
                *self.local_error.borrow_mut() = Some(io::Error::new(e.kind(), e.to_string()));
                Err(e)
            }
        }
    }
}

/// The HTTP agent and the retry policy.
pub(crate) struct Http {
    agent: ureq::Agent,
    pub(crate) policy: RetryPolicy,
}

const MAX_BODY: u64 = 16 << 20;

impl Http {
    /// An agent with the timeouts and TLS roots of `opts` and `tls`.
    pub(crate) fn new(opts: &ConnectOptions, tls: &TlsSettings) -> Result<Http> {
        let t = Some(opts.timeout);
        let cacert = opts.cacert.as_ref().or(tls.cacert.as_ref());
        let mut tls_config = ureq::tls::TlsConfig::builder().root_certs(root_certs(cacert)?);
        if tls.insecure || opts.insecure {
            tls_config = tls_config.disable_verification(true);
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(concat!("overcloud-keys/", env!("CARGO_PKG_VERSION")))
            .timeout_resolve(t)
            .timeout_connect(t)
            .timeout_per_read(t)
            .timeout_per_write(t)
            .tls_config(tls_config.build())
            .build();
        Ok(Http {
            agent: config.new_agent(),
            policy: RetryPolicy::new(opts.retries),
        })
    }

    /// Sends a request, retrying transient failures; returns the first non-5xx reply.
    pub(crate) fn send(
        &self,
        service: &'static str,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        payload: Option<&Payload<'_>>,
    ) -> Result<Reply> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (reason, retry_after) = match self.once(method, url, headers, payload) {
                Ok(reply) if status_is_retryable(reply.status) => {
                    let retry_after = reply
                        .header("retry-after")
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let excerpt = reply.excerpt();
                    let reason = if excerpt.is_empty() {
                        format!("HTTP {}", reply.status)
                    } else {
                        format!("HTTP {} ({excerpt})", reply.status)
                    };
                    (reason, retry_after)
                }
                Ok(reply) => return Ok(reply),
                Err(Failure::Fatal(err)) => return Err(err),
                Err(Failure::Retry(reason)) => (reason, None),
            };
            if attempts > self.policy.retries {
                return Err(SwiftError::Unreachable {
                    service,
                    url: url.into(),
                    attempts,
                    last: reason,
                }
                .into());
            }
            let backoff = backoff_delay(&self.policy, attempts - 1, random_jitter());
            let wait = retry_after.map_or(backoff, |r| r.min(self.policy.cap).max(backoff));
            std::thread::sleep(wait);
        }
    }

    fn once(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        payload: Option<&Payload<'_>>,
    ) -> std::result::Result<Reply, Failure> {
        let mut builder = ureq::http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let local_error = RefCell::new(None);
        let invalid = |e: ureq::http::Error| classify(ureq::Error::Http(e), url);
        let result = match payload {
            None => self.agent.run(builder.body(()).map_err(invalid)?),
            Some(Payload::Bytes(bytes)) => self.agent.run(builder.body(*bytes).map_err(invalid)?),
            Some(Payload::File {
                path,
                offset,
                len,
                progress,
            }) => {
                let open = || -> io::Result<File> {
                    let mut f = File::open(path)?;
                    f.seek(SeekFrom::Start(*offset))?;
                    Ok(f)
                };
                let file =
                    open().map_err(|e| Failure::Fatal(crate::fsutil::io_err("read", path)(e)))?;
                if let Some(p) = progress {
                    p.set(*offset);
                }
                let mut body = FileBody {
                    inner: file.take(*len),
                    progress: *progress,
                    local_error: &local_error,
                };
                let request = builder
                    .header("Content-Length", len.to_string())
                    .body(ureq::SendBody::from_reader(&mut body))
                    .map_err(invalid)?;
                self.agent.run(request)
            }
        };
        if let Some(e) = local_error.into_inner() {
            let path = match payload {
                Some(Payload::File { path, .. }) => path.to_path_buf(),
                _ => PathBuf::new(),
            };
            return Err(Failure::Fatal(crate::fsutil::io_err("read", &path)(e)));
        }
        let mut response = result.map_err(|e| classify(e, url))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = if method == "HEAD" {
            Vec::new()
        } else {
            response
                .body_mut()
                .with_config()
                .limit(MAX_BODY)
                .read_to_vec()
                .map_err(|e| classify(e, url))?
        };
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

/// The roots to trust: the CA file given (`--os-cacert`, `OS_CACERT`, clouds.yaml `cacert`),
/// else the system trust store (RHEL's `update-ca-trust` bundle, Debian's ca-certificates;
/// `SSL_CERT_FILE`/`SSL_CERT_DIR` override where to look), which holds an undercloud's own CA.
/// A system without any CA certificate falls back to the built-in Mozilla roots.
fn root_certs(cacert: Option<&PathBuf>) -> Result<ureq::tls::RootCerts> {
    if let Some(path) = cacert {
        return Ok(ureq::tls::RootCerts::new_with_certs(&ca_file(path)?));
    }
    let system = rustls_native_certs::load_native_certs();
    if system.certs.is_empty() {
        return Ok(ureq::tls::RootCerts::WebPki);
    }
    let certs: Vec<_> = system
        .certs
        .iter()
        .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    Ok(ureq::tls::RootCerts::new_with_certs(&certs))
}

/// The certificates of a PEM CA bundle; an error naming the file when it has none.
fn ca_file(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>> {
    let pem = crate::fsutil::read_small(path)?;
    let certs = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SwiftError::Tls {
            url: path.display().to_string(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(SwiftError::Tls {
            url: path.display().to_string(),
            message: "no PEM certificate in the file".into(),
        }
        .into());
    }
    Ok(certs)
}

/// TLS settings that come with the credentials (clouds.yaml `cacert`/`verify`, `OS_CACERT`).
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// CA bundle to trust.
    pub cacert: Option<PathBuf>,
    /// clouds.yaml `verify: false`.
    pub insecure: bool,
}

/// What `urllib.parse.quote(s, safe='/')` escapes: everything but RFC 3986 unreserved
/// characters and `/`.
const QUOTED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Percent-encodes a path or name as Python's `urllib.parse.quote(s, safe='/')` does:
/// everything but RFC 3986 unreserved characters and `/`, as UTF-8 bytes.
pub fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, QUOTED).to_string()
}

/// A scripted HTTP peer for the retry and re-authentication tests of this module and of
/// `client`.
#[cfg(test)]
pub(crate) mod test_peer {
    /// Answers one connection per canned response (then closes it) and records each
    /// request's head, lowercased: just enough HTTP to drive the retry loop.
    pub(crate) fn scripted(responses: Vec<String>) -> (String, std::sync::mpsc::Receiver<String>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for response in responses {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line.to_lowercase());
                }
                let _ = tx.send(head);
                let mut stream = stream;
                let _ = stream.write_all(response.as_bytes());
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        });
        (url, rx)
    }

    pub(crate) fn status(code: u16) -> String {
        format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    }
}

#[cfg(test)]
mod tests {
    use super::test_peer::{scripted, status};
    use super::*;

    #[test]
    fn a_file_that_ends_early_is_a_local_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let local_error = RefCell::new(None);
        let read = |len: u64| {
            let mut body = FileBody {
                inner: File::open(&path).unwrap().take(len),
                progress: None,
                local_error: &local_error,
            };
            let mut out = Vec::new();
            body.read_to_end(&mut out).map(|_| out)
        };
        assert_eq!(read(10).unwrap(), b"0123456789");
        assert!(local_error.borrow().is_none());
        // The range says 12 bytes, the file has 10 (it shrank after it was hashed).
        let err = read(12).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let recorded = local_error.borrow_mut().take().expect("recorded as local");
        assert!(
            recorded.to_string().contains("2 byte(s) early"),
            "{recorded}"
        );
    }

    #[test]
    fn only_5xx_is_retried() {
        for status in [500, 502, 503, 504, 507] {
            assert!(status_is_retryable(status), "{status}");
        }
        for status in [
            200, 201, 204, 301, 400, 401, 403, 404, 409, 411, 413, 422, 429, 499,
        ] {
            assert!(!status_is_retryable(status), "{status}");
        }
    }

    #[test]
    fn transport_errors_are_classified() {
        let retry = |e| matches!(classify(e, "http://x/"), Failure::Retry(_));
        assert!(retry(ureq::Error::Io(io::Error::from(
            io::ErrorKind::ConnectionReset
        ))));
        assert!(retry(ureq::Error::Io(io::Error::from(
            io::ErrorKind::ConnectionRefused
        ))));
        assert!(retry(ureq::Error::Io(io::Error::from(
            io::ErrorKind::UnexpectedEof
        ))));
        assert!(retry(ureq::Error::Io(io::Error::from(
            io::ErrorKind::TimedOut
        ))));
        assert!(retry(ureq::Error::ConnectionFailed));
        assert!(retry(ureq::Error::Timeout(ureq::Timeout::RecvResponse)));
        assert!(!retry(ureq::Error::BadUri("x".into())));
        assert!(!retry(ureq::Error::Tls("bad certificate")));
        assert!(!retry(ureq::Error::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            "invalid peer certificate: UnknownIssuer"
        ))));
    }

    #[test]
    fn backoff_doubles_within_jitter_bounds_and_is_capped() {
        let policy = RetryPolicy::new(5);
        for retry in 0..12 {
            let exp = (policy.base * 2u32.pow(retry)).min(policy.cap);
            let low = backoff_delay(&policy, retry, 0.0);
            let high = backoff_delay(&policy, retry, 0.999_999);
            assert_eq!(low, exp / 2, "retry {retry}");
            assert!(high <= exp && high > low, "retry {retry}: {high:?}");
            assert!(high <= policy.cap);
        }
        assert_eq!(backoff_delay(&policy, 0, 0.0), Duration::from_millis(250));
        assert_eq!(backoff_delay(&policy, 1000, 0.0), Duration::from_secs(15));
        for _ in 0..100 {
            let j = random_jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }

    fn fast_http(retries: u32) -> Http {
        let opts = ConnectOptions {
            retries,
            timeout: Duration::from_secs(5),
            ..ConnectOptions::default()
        };
        let mut http = Http::new(&opts, &TlsSettings::default()).unwrap();
        http.policy.base = Duration::from_millis(1);
        http
    }

    #[test]
    fn retry_loop_retries_5xx_and_truncation_but_not_4xx() {
        let (url, seen) = scripted(vec![status(503), status(502), status(204)]);
        let reply = fast_http(5).send("Swift", "HEAD", &url, &[], None).unwrap();
        assert_eq!(reply.status, 204);
        assert_eq!(seen.try_iter().count(), 3);

        let (url, seen) = scripted(vec![status(404), status(204)]);
        let reply = fast_http(5).send("Swift", "HEAD", &url, &[], None).unwrap();
        assert_eq!(reply.status, 404);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(seen.try_iter().count(), 1, "a 4xx must not be retried");

        let truncated =
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\nshort".to_string();
        let full = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nfull";
        let (url, seen) = scripted(vec![truncated, full.into()]);
        let reply = fast_http(5).send("Swift", "GET", &url, &[], None).unwrap();
        assert_eq!(reply.body, b"full");
        assert_eq!(seen.try_iter().count(), 2);

        let (url, _) = scripted(vec![status(503), status(503), status(503)]);
        match fast_http(2).send("Swift", "HEAD", &url, &[], None) {
            Err(Error::Swift(SwiftError::Unreachable { attempts, last, .. })) => {
                assert_eq!(attempts, 3);
                assert!(last.contains("503"), "{last}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn urls_are_encoded() {
        assert_eq!(
            object_url("http://h/v1/AUTH_a/", "c 1", "dir/é.tar.gz"),
            "http://h/v1/AUTH_a/c%201/dir/%C3%A9.tar.gz"
        );
    }
}
