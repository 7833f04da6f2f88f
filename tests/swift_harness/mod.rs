//! A real Swift (2.38.3, from PyPI) for interop tests, and a fault-injecting HTTP proxy.
//!
//! [`Swift`] runs `swift_aio.py` from the swift venv (`scripts/venv.sh swift`): swift's own
//! account, container and object servers and a proxy (tempauth, tempurl, slo, dlo and an
//! in-process cache so a bad token gets 401, not 500), each a process on a free 127.0.0.1
//! port, with 1-replica rings built once per swift version by `swift-ring-builder` (cached
//! under `CARGO_TARGET_TMPDIR`). With a [`KeystoneBackend`], a second proxy authenticates
//! through authtoken + keystoneauth against a real Keystone. Start-up is ~3-5 s (Python
//! imports), so tests share one cluster per test binary ([`Swift::shared`]) and isolate
//! themselves with their own tempauth account ([`Swift::account`]) and containers.
//!
//! Lifetime: the launcher runs until its stdin closes, which happens when a [`Swift`] drops
//! *or* when the test process exits (the shared cluster lives in a static that never drops);
//! it then stops the servers and removes the cluster's directory. The servers die with the
//! launcher whatever happens (PR_SET_PDEATHSIG). Set `SWIFT_HARNESS_KEEP=1` to keep
//! directories and logs (paths are printed).
//!
//! [`FaultProxy`] sits between the tool and Swift: one request per connection (it adds
//! `Connection: close` upstream and closes after each response), so it counts requests, and
//! it answers the first N of them with a fault ([`Fault`]).

#![allow(dead_code)] // shared test module: not every test crate uses every helper

#[path = "../support/venv.rs"]
#[allow(clippy::duplicate_mod)] // shared by the harnesses; a test crate may include two of them
mod venv_support;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Key of every tempauth test user (`t<i>:tester`).
pub const TEMPAUTH_KEY: &str = "testing";

/// Tempauth accounts a cluster defines (`AUTH_t0` ...): one per test sharing a cluster.
const ACCOUNTS: usize = 64;

/// The `overcloud-keys` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_overcloud-keys")
}

fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/swift_harness")
}

/// The swift venv (swift==2.38.3 + python-swiftclient), created on first use.
pub fn venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| venv_support::venv("swift").unwrap_or_else(|e| panic!("{e}")))
}

/// The swift venv's python.
pub fn python() -> PathBuf {
    venv().join("bin/python")
}

/// Runs python-swiftclient's `swift` CLI (`ARGS`, plus `env`), returning its output.
pub fn swift_cli(args: &[&str], env: &[(String, String)]) -> Output {
    let mut cmd = Command::new(python());
    cmd.args(["-I", "-B"])
        .arg(venv().join("bin/swift"))
        .args(args);
    scrub_env(&mut cmd);
    cmd.envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .expect("run swift CLI")
}

/// Removes from `cmd`'s environment everything that could point a client elsewhere than the
/// test says: OpenStack and Swift credentials, HTTP proxies.
pub fn scrub_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        let upper = key.to_ascii_uppercase();
        if upper.starts_with("OS_")
            || upper.starts_with("ST_")
            || upper.starts_with("SWIFTCLIENT_")
            || upper.ends_with("_PROXY")
        {
            cmd.env_remove(&key);
        }
    }
    cmd.env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
}

/// Where a second proxy finds Keystone (authtoken + keystoneauth in its pipeline).
#[derive(Debug, Clone)]
pub struct KeystoneBackend {
    /// Keystone's base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Password of keystone's `admin` user (authtoken's service credentials).
    pub admin_password: String,
    /// A site-packages directory holding keystonemiddleware (the keystone venv's): appended
    /// to that proxy's `sys.path`, after the swift venv's own packages.
    pub site_packages: PathBuf,
}

/// What the launcher printed once the cluster answered.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ClusterInfo {
    /// Launcher pid.
    pub pid: u32,
    /// Directory holding etc/, srv/ and log/.
    pub root: PathBuf,
    /// Swift version serving.
    pub version: String,
    /// Ports by server name (`account`, `container`, `object`, `proxy`, `proxy-keystone`).
    pub ports: BTreeMap<String, u16>,
    /// Tempauth proxy, e.g. `http://127.0.0.1:PORT`.
    pub proxy_url: String,
    /// Tempauth v1 auth URL (`ST_AUTH`).
    pub auth_url: String,
    /// The Keystone-authenticated proxy, if started.
    pub keystone_proxy_url: Option<String>,
    /// Server logs directory.
    pub logs: PathBuf,
}

/// One all-in-one Swift cluster.
pub struct Swift {
    info: ClusterInfo,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    next_account: AtomicUsize,
}

/// How to start a cluster of one's own.
#[derive(Debug, Clone, Default)]
pub struct SwiftOptions<'a> {
    /// Also start a proxy authenticating against this Keystone.
    pub keystone: Option<&'a KeystoneBackend>,
    /// Tempauth's `token_life` in seconds (default 86400): short, to test re-authentication.
    pub token_life: Option<u32>,
}

impl Swift {
    /// Starts a cluster of its own (tempauth proxy, plus a Keystone proxy if asked).
    pub fn start(keystone: Option<&KeystoneBackend>) -> Swift {
        Swift::start_with(&SwiftOptions {
            keystone,
            ..SwiftOptions::default()
        })
    }

    /// Starts a cluster of its own with `opts`.
    pub fn start_with(opts: &SwiftOptions<'_>) -> Swift {
        let keystone = opts.keystone;
        let keep = std::env::var_os("SWIFT_HARNESS_KEEP").is_some();
        let root = tempfile::Builder::new()
            .prefix("swift-harness-")
            .tempdir()
            .expect("tempdir")
            .keep();
        if keep {
            eprintln!("swift harness: keeping {}", root.display());
        }
        let ring_cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("swift-rings");
        let launcher_log = root.join("launcher.log");
        let mut cmd = Command::new(python());
        cmd.args(["-I", "-B"])
            .arg(harness_dir().join("swift_aio.py"))
            .arg("--root")
            .arg(&root)
            .arg("--ring-cache")
            .arg(&ring_cache)
            .arg("--accounts")
            .arg(ACCOUNTS.to_string());
        if !keep {
            cmd.arg("--cleanup");
        }
        if let Some(life) = opts.token_life {
            cmd.arg("--token-life").arg(life.to_string());
        }
        if let Some(ks) = keystone {
            cmd.arg("--keystone-url")
                .arg(&ks.url)
                .arg("--keystone-password")
                .arg(&ks.admin_password)
                .arg("--keystone-site")
                .arg(&ks.site_packages);
        }
        scrub_env(&mut cmd);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&launcher_log).expect("launcher.log"))
            .spawn()
            .expect("spawn swift_aio.py");
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read launcher stdout");
        if line.trim().is_empty() {
            let status = child.wait().expect("wait launcher");
            let log = fs::read_to_string(&launcher_log).unwrap_or_default();
            if !keep {
                let _ = fs::remove_dir_all(&root);
            }
            panic!("swift_aio.py exited ({status}) before the cluster answered:\n{log}");
        }
        let info: ClusterInfo = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("bad launcher line {line:?}: {e}"));
        Swift {
            info,
            child: Some(child),
            stdin,
            next_account: AtomicUsize::new(0),
        }
    }

    /// The cluster shared by every test of this test binary (tempauth only), started on
    /// first use and stopped when the process exits.
    pub fn shared() -> &'static Swift {
        static SHARED: OnceLock<Swift> = OnceLock::new();
        SHARED.get_or_init(|| Swift::start(None))
    }

    /// What the launcher reported.
    pub fn info(&self) -> &ClusterInfo {
        &self.info
    }

    /// The tempauth proxy's base URL.
    pub fn proxy_url(&self) -> &str {
        &self.info.proxy_url
    }

    /// The tempauth proxy's address (for a [`FaultProxy`] upstream).
    pub fn proxy_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.info.ports["proxy"]))
    }

    /// The Keystone proxy's base URL (panics if the cluster has none).
    pub fn keystone_proxy_url(&self) -> &str {
        self.info
            .keystone_proxy_url
            .as_deref()
            .expect("cluster started without a Keystone proxy")
    }

    /// A tempauth account no other test of this cluster uses, authenticated.
    pub fn account(&self) -> Account {
        let index = self.next_account.fetch_add(1, Ordering::SeqCst);
        assert!(
            index < ACCOUNTS,
            "more than {ACCOUNTS} accounts taken from one cluster"
        );
        Account::login(
            &self.info.auth_url,
            &format!("t{index}:tester"),
            TEMPAUTH_KEY,
        )
    }

    /// The last lines of every server log (for assertion messages).
    pub fn log_tail(&self, lines: usize) -> String {
        let mut out = String::new();
        for name in ["proxy", "proxy-keystone", "object", "container", "account"] {
            let Ok(text) = fs::read_to_string(self.info.logs.join(format!("{name}.log"))) else {
                continue;
            };
            let all: Vec<&str> = text.lines().collect();
            out.push_str(&format!("--- {name}.log (last {lines} lines) ---\n"));
            for line in &all[all.len().saturating_sub(lines)..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for Swift {
    fn drop(&mut self) {
        // EOF on its stdin: the launcher stops the servers and removes the directory.
        drop(self.stdin.take());
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
    }
}

/// A plain HTTP agent: no proxy, statuses as values, bounded time.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .new_agent()
}

/// A whole HTTP response.
#[derive(Debug, Clone)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: BTreeMap<String, String>,
    /// Body.
    pub body: Vec<u8>,
}

impl Resp {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The body as text (lossy), for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `METHOD url` with `headers` and `body`; panics only if no HTTP answer came back.
pub fn http(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Resp {
    try_http(method, url, headers, body).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// Like [`http`], returning transport errors.
pub fn try_http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Resp, ureq::Error> {
    let agent = agent();
    let result = match method {
        "GET" | "HEAD" | "DELETE" => {
            let mut req = match method {
                "GET" => agent.get(url),
                "HEAD" => agent.head(url),
                _ => agent.delete(url),
            };
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.call()
        }
        "PUT" | "POST" => {
            let mut req = if method == "PUT" {
                agent.put(url)
            } else {
                agent.post(url)
            };
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.send(body.unwrap_or_default())
        }
        other => panic!("unsupported method {other}"),
    };
    let mut resp = result?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = if method == "HEAD" {
        Vec::new()
    } else {
        resp.body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()?
    };
    Ok(Resp {
        status,
        headers,
        body,
    })
}

/// A tempauth account with a token, for setting up and checking what the tool did.
#[derive(Debug, Clone)]
pub struct Account {
    /// `account:user`.
    pub user: String,
    /// Tempauth key.
    pub key: String,
    /// `ST_AUTH`.
    pub auth_url: String,
    /// `X-Storage-Url` from the auth reply (`.../v1/AUTH_x`).
    pub storage_url: String,
    /// `X-Auth-Token`.
    pub token: String,
}

impl Account {
    /// Authenticates `user`/`key` with tempauth v1.
    pub fn login(auth_url: &str, user: &str, key: &str) -> Account {
        let resp = http(
            "GET",
            auth_url,
            &[("X-Auth-User", user), ("X-Auth-Key", key)],
            None,
        );
        assert_eq!(resp.status, 200, "tempauth login {user}: {}", resp.text());
        Account {
            user: user.to_string(),
            key: key.to_string(),
            auth_url: auth_url.to_string(),
            storage_url: resp.header("x-storage-url").expect("X-Storage-Url").into(),
            token: resp.header("x-auth-token").expect("X-Auth-Token").into(),
        }
    }

    /// `ST_AUTH`, `ST_USER`, `ST_KEY` for this account.
    pub fn st_env(&self) -> Vec<(String, String)> {
        vec![
            ("ST_AUTH".into(), self.auth_url.clone()),
            ("ST_USER".into(), self.user.clone()),
            ("ST_KEY".into(), self.key.clone()),
        ]
    }

    /// The account path, e.g. `/v1/AUTH_t3`.
    pub fn path(&self) -> String {
        let rest = self
            .storage_url
            .split_once("://")
            .map(|(_, r)| r)
            .unwrap_or(&self.storage_url);
        rest[rest.find('/').expect("path in storage URL")..].to_string()
    }

    /// The storage URL with its host replaced by `base` (e.g. a [`FaultProxy`] URL).
    pub fn storage_url_via(&self, base: &str) -> String {
        format!("{base}{}", self.path())
    }

    /// URL of a container or object (names are percent-encoded here).
    pub fn url(&self, container: &str, object: Option<&str>) -> String {
        match object {
            Some(o) => format!("{}/{}/{}", self.storage_url, quote(container), quote(o)),
            None => format!("{}/{}", self.storage_url, quote(container)),
        }
    }

    /// An authenticated request on a container or object.
    pub fn request(
        &self,
        method: &str,
        container: &str,
        object: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        let mut all = vec![("X-Auth-Token", self.token.as_str())];
        all.extend_from_slice(headers);
        http(method, &self.url(container, object), &all, body)
    }

    /// `HEAD` the account.
    pub fn head_account(&self) -> Resp {
        http(
            "HEAD",
            &self.storage_url,
            &[("X-Auth-Token", &self.token)],
            None,
        )
    }

    /// `HEAD` a container.
    pub fn head_container(&self, container: &str) -> Resp {
        self.request("HEAD", container, None, &[], None)
    }

    /// `PUT` a container (201/202 expected).
    pub fn put_container(&self, container: &str, headers: &[(&str, &str)]) {
        let resp = self.request("PUT", container, None, headers, Some(b""));
        assert!(
            resp.status == 201 || resp.status == 202,
            "PUT container {container}: {} {}",
            resp.status,
            resp.text()
        );
    }

    /// `HEAD` an object.
    pub fn head_object(&self, container: &str, object: &str) -> Resp {
        self.request("HEAD", container, Some(object), &[], None)
    }

    /// `GET` an object.
    pub fn get_object(&self, container: &str, object: &str) -> Resp {
        self.request("GET", container, Some(object), &[], None)
    }

    /// `PUT` an object (201 expected).
    pub fn put_object(&self, container: &str, object: &str, body: &[u8], headers: &[(&str, &str)]) {
        let resp = self.request("PUT", container, Some(object), headers, Some(body));
        assert_eq!(
            resp.status,
            201,
            "PUT {container}/{object}: {}",
            resp.text()
        );
    }

    /// Object names in a container (plain-text listing).
    pub fn list(&self, container: &str) -> Vec<String> {
        let resp = self.request("GET", container, None, &[], None);
        match resp.status {
            200 => resp.text().lines().map(str::to_string).collect(),
            204 | 404 => Vec::new(),
            other => panic!("GET container {container}: {other} {}", resp.text()),
        }
    }
}

/// Percent-encodes a name for a URL path: everything but unreserved characters (and `/`,
/// which Swift object names may hold).
pub fn quote(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (what Swift signs is the decoded path).
pub fn unquote(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex_at = |j: usize| bytes.get(j).and_then(|b| (*b as char).to_digit(16));
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (hex_at(i + 1), hex_at(i + 2))
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("decoded path is UTF-8")
}

/// A TempURL's parts.
#[derive(Debug, Clone)]
pub struct TempUrl {
    /// The whole URL.
    pub url: String,
    /// `scheme://host:port`.
    pub base: String,
    /// Path as it appears in the URL (percent-encoded).
    pub path: String,
    /// `temp_url_sig`.
    pub sig: String,
    /// `temp_url_expires`.
    pub expires: u64,
    /// Query parameters other than the signature and expiry, in order.
    pub other_params: Vec<(String, String)>,
}

impl TempUrl {
    /// Parses a TempURL (panics, naming the URL, if it is not one).
    pub fn parse(url: &str) -> TempUrl {
        let (scheme, rest) = url
            .split_once("://")
            .unwrap_or_else(|| panic!("not a URL: {url}"));
        let slash = rest.find('/').unwrap_or_else(|| panic!("no path: {url}"));
        let (host, path_query) = rest.split_at(slash);
        let (path, query) = path_query
            .split_once('?')
            .unwrap_or_else(|| panic!("no query in TempURL {url}"));
        let mut sig = None;
        let mut expires = None;
        let mut other_params = Vec::new();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "temp_url_sig" => sig = Some(unquote(v)),
                "temp_url_expires" => {
                    expires =
                        Some(v.parse().unwrap_or_else(|_| {
                            panic!("temp_url_expires is not a Unix time in {url}")
                        }))
                }
                _ => other_params.push((k.to_string(), v.to_string())),
            }
        }
        TempUrl {
            url: url.to_string(),
            base: format!("{scheme}://{host}"),
            path: path.to_string(),
            sig: sig.unwrap_or_else(|| panic!("no temp_url_sig in {url}")),
            expires: expires.unwrap_or_else(|| panic!("no temp_url_expires in {url}")),
            other_params,
        }
    }

    /// The decoded path, what the signature covers.
    pub fn decoded_path(&self) -> String {
        unquote(&self.path)
    }

    /// The digest the signature's form implies (hex length, or a `sha512:` prefix).
    pub fn digest(&self) -> TempUrlDigest {
        if let Some((prefix, _)) = self.sig.split_once(':') {
            return match prefix {
                "sha1" => TempUrlDigest::Sha1,
                "sha256" => TempUrlDigest::Sha256,
                "sha512" => TempUrlDigest::Sha512,
                other => panic!("unknown signature prefix {other}"),
            };
        }
        match self.sig.len() {
            40 => TempUrlDigest::Sha1,
            64 => TempUrlDigest::Sha256,
            128 => TempUrlDigest::Sha512,
            n => panic!("a hex signature of {n} characters: {}", self.sig),
        }
    }

    /// This URL with `sig` and `expires` in place of its own (other parameters kept).
    pub fn with(&self, sig: &str, expires: u64) -> String {
        let mut url = format!(
            "{}{}?temp_url_sig={}&temp_url_expires={expires}",
            self.base,
            self.path,
            quote(sig).replace('/', "%2F")
        );
        for (k, v) in &self.other_params {
            url.push_str(&format!("&{k}={v}"));
        }
        url
    }
}

/// TempURL HMAC digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TempUrlDigest {
    /// HMAC-SHA1 (40 hex characters).
    Sha1,
    /// HMAC-SHA256 (64 hex characters).
    Sha256,
    /// HMAC-SHA512 (128 hex characters).
    Sha512,
}

/// Swift's TempURL signature: lowercase hex HMAC of `METHOD\nEXPIRES\nPATH`.
pub fn sign(key: &str, method: &str, expires: u64, path: &str, digest: TempUrlDigest) -> String {
    let algorithm = match digest {
        TempUrlDigest::Sha1 => ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        TempUrlDigest::Sha256 => ring::hmac::HMAC_SHA256,
        TempUrlDigest::Sha512 => ring::hmac::HMAC_SHA512,
    };
    let key = ring::hmac::Key::new(algorithm, key.as_bytes());
    let tag = ring::hmac::sign(&key, format!("{method}\n{expires}\n{path}").as_bytes());
    hex(tag.as_ref())
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 hex of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
}

/// SHA-256 hex of a file, streamed.
pub fn sha256_file(path: &Path) -> String {
    let mut file = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut hasher = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hex(hasher.finish().as_ref())
}

/// Current Unix time.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// A URL on 127.0.0.1 where nothing listens ("Swift down").
pub fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// What a [`FaultProxy`] does to the first N requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing: every request passes through.
    None,
    /// Answer `503 Service Unavailable` (as Swift's proxy words it) without forwarding.
    ServiceUnavailable,
    /// Close the connection with a TCP reset once the request head arrived.
    Reset,
    /// Forward, then send only part of Swift's response and close (the request took effect).
    Truncate,
    /// Read the request and never answer (the connection stays open).
    Stall,
    /// Hold the request this many milliseconds, then pass it through.
    Delay(u64),
}

struct ProxyState {
    upstream: SocketAddr,
    /// (fault, requests to pass first, requests to fault then).
    fault: Mutex<(Fault, usize, usize)>,
    count: AtomicUsize,
    /// The request log, and its generation (bumped by every reset, so the status of a
    /// request answered before a reset never lands on a line of the next phase).
    log: Mutex<(u64, Vec<String>)>,
    stop: AtomicBool,
}

/// A fault-injecting HTTP/1.1 proxy on 127.0.0.1, one request per connection.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
    accept: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` applying `fault` to the first `first` requests.
    pub fn start(upstream: SocketAddr, fault: Fault, first: usize) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fault proxy");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(ProxyState {
            upstream,
            fault: Mutex::new((fault, 0, first)),
            count: AtomicUsize::new(0),
            log: Mutex::new((0, Vec::new())),
            stop: AtomicBool::new(false),
        });
        let accept_state = state.clone();
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if accept_state.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let state = accept_state.clone();
                std::thread::spawn(move || handle(conn, &state));
            }
        });
        FaultProxy {
            addr,
            state,
            accept: Some(accept),
        }
    }

    /// A pass-through proxy (counts requests).
    pub fn passthrough(upstream: SocketAddr) -> FaultProxy {
        Self::start(upstream, Fault::None, 0)
    }

    /// Base URL, e.g. `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Applies `fault` to the next `first` requests (and resets nothing else).
    pub fn set_fault(&self, fault: Fault, first: usize) {
        self.set_fault_after(fault, 0, first);
    }

    /// Lets `skip` requests through, then applies `fault` to the `count` after them.
    pub fn set_fault_after(&self, fault: Fault, skip: usize, count: usize) {
        *self.state.fault.lock().expect("lock") = (fault, skip, count);
    }

    /// Requests received so far (complete request heads).
    pub fn count(&self) -> usize {
        self.state.count.load(Ordering::SeqCst)
    }

    /// `METHOD PATH -> what happened`, one per request, in arrival order.
    pub fn log(&self) -> Vec<String> {
        self.state.log.lock().expect("lock").1.clone()
    }

    /// Zeroes the counter and the log.
    pub fn reset_counts(&self) {
        self.state.count.store(0, Ordering::SeqCst);
        let mut log = self.state.log.lock().expect("lock");
        log.0 += 1;
        log.1.clear();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
    }
}

/// Length of the request head (through `\r\n\r\n`) once it has all arrived, by peeking so
/// nothing is consumed (a reset must leave unread data behind).
fn peek_head(conn: &TcpStream, state: &ProxyState) -> Option<usize> {
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = conn.peek(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        if let Some(pos) = find(&buf[..n], b"\r\n\r\n") {
            return Some(pos + 4);
        }
        if n == buf.len() || Instant::now() > deadline || state.stop.load(Ordering::SeqCst) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Header lines of a request or response head (after the first line), names lowercased.
fn head_fields(head: &str) -> Vec<(String, String)> {
    head.split("\r\n")
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn handle(mut conn: TcpStream, state: &ProxyState) {
    let Some(head_len) = peek_head(&conn, state) else {
        return;
    };
    state.count.fetch_add(1, Ordering::SeqCst);
    let fault = {
        let mut guard = state.fault.lock().expect("lock");
        if guard.1 > 0 {
            guard.1 -= 1;
            Fault::None
        } else if guard.2 > 0 {
            guard.2 -= 1;
            guard.0
        } else {
            Fault::None
        }
    };
    if fault == Fault::Reset {
        let mut head = vec![0u8; head_len];
        let _ = conn.peek(&mut head);
        record(state, &head, "reset".into());
        // Unread bytes in the receive queue make the kernel answer close() with RST.
        drop(conn);
        return;
    }
    let mut head = vec![0u8; head_len];
    if conn.read_exact(&mut head).is_err() {
        return;
    }
    let head_text = String::from_utf8_lossy(&head).into_owned();
    let fields = head_fields(&head_text);
    match fault {
        Fault::ServiceUnavailable => {
            record(state, &head, "503".into());
            let expects_continue =
                field(&fields, "expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
            if !expects_continue {
                drain_body(&mut conn, &fields);
            }
            let body = "<html><h1>Service Unavailable</h1><p>The server is currently \
                        unavailable. Please try again at a later time.</p></html>";
            let reply = format!(
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html; charset=UTF-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(reply.as_bytes());
            linger_close(conn);
        }
        Fault::Stall => {
            record(state, &head, "stalled".into());
            while !state.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Fault::None | Fault::Truncate | Fault::Delay(_) => {
            let truncate = fault == Fault::Truncate;
            let what = match fault {
                Fault::Truncate => "truncated".to_string(),
                Fault::Delay(ms) => format!("delayed {ms} ms, passed"),
                _ => "passed".to_string(),
            };
            let entry = record(state, &head, what);
            if let Fault::Delay(ms) = fault {
                std::thread::sleep(Duration::from_millis(ms));
            }
            if let Some(status) = forward(conn, &head_text, state.upstream, truncate) {
                // The client has its answer before this line runs: a test may already have
                // reset the log for its next phase. Indexing it blindly panicked (and poisoned
                // the log for every later request) or marked a line of the next phase.
                let mut log = state.log.lock().expect("lock");
                let (generation, lines) = &mut *log;
                if *generation == entry.0
                    && let Some(line) = lines.get_mut(entry.1)
                {
                    line.push_str(&format!(" {status}"));
                }
            }
        }
        Fault::Reset => unreachable!(),
    }
}

/// Appends `REQUEST LINE -> what` to the log; returns the log's generation and the index.
fn record(state: &ProxyState, head: &[u8], what: String) -> (u64, usize) {
    let text = String::from_utf8_lossy(head);
    let line = text.lines().next().unwrap_or("").to_string();
    let mut log = state.log.lock().expect("lock");
    log.1.push(format!("{line} -> {what}"));
    (log.0, log.1.len() - 1)
}

/// The status of the final (non-1xx) response at the start of `buf`, once its line arrived.
fn final_status(buf: &[u8]) -> Option<u16> {
    let mut rest = buf;
    loop {
        let line_end = find(rest, b"\r\n")?;
        let line = std::str::from_utf8(&rest[..line_end]).ok()?;
        let status: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
        if !(100..200).contains(&status) {
            return Some(status);
        }
        rest = &rest[find(rest, b"\r\n\r\n")? + 4..];
    }
}

/// Reads and discards a request body (Content-Length or chunked).
fn drain_body(conn: &mut TcpStream, fields: &[(String, String)]) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    if let Some(len) = field(fields, "content-length").and_then(|v| v.parse::<u64>().ok()) {
        let _ = std::io::copy(&mut conn.take(len), &mut std::io::sink());
    } else if field(fields, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        let mut reader = BufReader::new(conn);
        loop {
            let mut size_line = String::new();
            if reader.read_line(&mut size_line).unwrap_or(0) == 0 {
                return;
            }
            let size =
                usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0").trim(), 16)
                    .unwrap_or(0);
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        return;
                    }
                }
            }
            let mut chunk = vec![0u8; size + 2];
            if reader.read_exact(&mut chunk).is_err() {
                return;
            }
        }
    }
}

/// Half-closes and drains what the client still sends, so the reply is read, not reset.
fn linger_close(mut conn: TcpStream) {
    let _ = conn.shutdown(Shutdown::Write);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 8192];
    while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
}

/// The request head rewritten for upstream: `Connection: close`, no keep-alive.
fn upstream_head(head: &str) -> String {
    let mut out = String::new();
    for (i, line) in head.trim_end_matches("\r\n").split("\r\n").enumerate() {
        let name = line
            .split_once(':')
            .map(|(k, _)| k.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if i > 0 && (name == "connection" || name == "keep-alive") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out
}

/// Passes one request to `upstream` and its response back (cut short if `truncate`);
/// returns the final response's status when one was seen.
fn forward(conn: TcpStream, head: &str, upstream: SocketAddr, truncate: bool) -> Option<u16> {
    let Ok(mut up) = TcpStream::connect(upstream) else {
        // Upstream down: close as a dead server would look through a proxy.
        return None;
    };
    if up.write_all(upstream_head(head).as_bytes()).is_err() {
        return None;
    }
    // Client -> upstream (the request body), until either side closes.
    let (Ok(mut client_in), Ok(mut up_out)) = (conn.try_clone(), up.try_clone()) else {
        return None;
    };
    let pump = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut up_out);
        let _ = up_out.shutdown(Shutdown::Write);
    });
    let mut client_out = conn;
    let mut status = None;
    if truncate {
        truncate_response(&mut up, &mut client_out);
    } else {
        let mut head = Vec::new();
        let mut chunk = vec![0u8; 256 * 1024];
        loop {
            let n = match up.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if status.is_none() && head.len() < 64 * 1024 {
                head.extend_from_slice(&chunk[..n]);
                status = final_status(&head);
            }
            if client_out.write_all(&chunk[..n]).is_err() {
                break;
            }
        }
    }
    let _ = client_out.shutdown(Shutdown::Both);
    let _ = up.shutdown(Shutdown::Both);
    let _ = pump.join();
    status
}

/// Passes interim (1xx) responses, buffers the final one to EOF, sends part of it: half of
/// the body if it has one, else half of its head.
fn truncate_response(up: &mut TcpStream, client: &mut TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        // Interim responses go through at once (the client may wait for 100 Continue).
        while buf.starts_with(b"HTTP/1.1 1") || buf.starts_with(b"HTTP/1.0 1") {
            let Some(end) = find(&buf, b"\r\n\r\n") else {
                break;
            };
            if client.write_all(&buf[..end + 4]).is_err() {
                return;
            }
            buf.drain(..end + 4);
        }
        match up.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let cut = match find(&buf, b"\r\n\r\n") {
        Some(end) if buf.len() > end + 4 => end + 4 + (buf.len() - end - 4) / 2,
        Some(end) => end / 2,
        None => buf.len() / 2,
    };
    let _ = client.write_all(&buf[..cut]);
}

/// Output of one `overcloud-keys` run, with what a failed assertion should show.
#[derive(Debug)]
pub struct Run {
    /// The command line (for messages).
    pub args: Vec<String>,
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
}

impl Run {
    /// A description for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "overcloud-keys {:?} exited {} after {:.1?}\nstdout:\n{}\nstderr:\n{}",
            self.args, self.code, self.elapsed, self.stdout, self.stderr
        )
    }

    /// Panics (with the output) unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "{}", self.describe());
        self
    }

    /// Parses stdout as JSON (`-f json`).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.describe()))
    }
}

/// Runs `overcloud-keys ARGS` with `HOME` set to `home`, a scrubbed environment (no OS_*,
/// ST_*, proxies) plus `env`, stdin closed, and a hard limit of `limit`.
pub fn run_tool(home: &Path, args: &[&str], env: &[(String, String)], limit: Duration) -> Run {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    scrub_env(&mut cmd);
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn overcloud-keys");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let status = child.wait().expect("wait");
            let stdout: String =
                String::from_utf8_lossy(&out_thread.join().unwrap_or_default()).into();
            let stderr: String =
                String::from_utf8_lossy(&err_thread.join().unwrap_or_default()).into();
            panic!(
                "overcloud-keys {args:?} still running after {limit:?} (killed: {status})\n\
                 stdout:\n{stdout}\nstderr:\n{stderr}"
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    Run {
        args: args.iter().map(|a| a.to_string()).collect(),
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out_thread.join().unwrap_or_default()).into(),
        stderr: String::from_utf8_lossy(&err_thread.join().unwrap_or_default()).into(),
        elapsed,
    }
}

/// Writes `data` to `dir/name` and `dir/name.sha256` (`sha256sum` format); returns the path
/// and the hex digest.
pub fn artifact(dir: &Path, name: &str, data: &[u8]) -> (PathBuf, String) {
    let path = dir.join(name);
    fs::write(&path, data).expect("write artifact");
    let digest = sha256_hex(data);
    fs::write(
        dir.join(format!("{name}.sha256")),
        format!("{digest}  {name}\n"),
    )
    .expect("write .sha256");
    (path, digest)
}

/// Deterministic pseudo-random bytes (xorshift), so big test files need no RNG crate.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    // Distinct seeds give distinct streams (never zero: xorshift would stay at zero).
    let mut x = seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The digest a `FILE.sha256` holds (first word).
pub fn read_sha256_file(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("{} is empty", path.display()))
        .to_string()
}

/// The URLs under `DeployArtifactURLs:` in a tripleo-common style environment file.
pub fn env_file_urls(text: &str) -> Vec<String> {
    let mut urls = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("DeployArtifactURLs:") {
            inside = true;
            continue;
        }
        if inside {
            if let Some(item) = trimmed.strip_prefix("- ") {
                urls.push(item.trim_matches('\'').trim_matches('"').to_string());
            } else if !trimmed.is_empty() {
                inside = false;
            }
        }
    }
    urls
}
