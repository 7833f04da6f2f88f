//! A real Keystone (30.0.0, from PyPI) for interop tests: never a stub.
//!
//! Each [`Keystone`] owns a temp directory holding its `keystone.conf`, sqlite database,
//! log and the key repositories the test fills (with `overcloud-keys` or `keystone-manage`)
//! before [`Keystone::start`]. The server is keystone's public WSGI app under waitress
//! (`serve.py`) on 127.0.0.1 with a kernel-chosen port, so tests run in parallel.
//!
//! Start-up cost is dominated by Python imports (~3 s CPU). `db_sync` + `bootstrap` run once
//! per keystone version: the bootstrapped database is cached under `CARGO_TARGET_TMPDIR` and
//! copied per test. Bootstrap data (admin user, project, roles) holds nothing derived from
//! any key: a database bootstrapped with `provider = fernet` and one bootstrapped with
//! `provider = jws` differ only in random ids and timestamps, so one cache serves both.
//!
//! Set `KEYSTONE_HARNESS_KEEP=1` to keep the temp directories (paths are printed).

#![allow(dead_code)] // shared test module: not every test crate uses every helper

#[path = "../support/venv.rs"]
#[allow(clippy::duplicate_mod)] // shared by the harnesses; a test crate may include two of them
mod venv_support;

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;

/// Password of the bootstrapped `admin` user.
pub const ADMIN_PASSWORD: &str = "harness-admin-password";

/// How long a keystone may take to answer `GET /v3` after launch (imports under load).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The `overcloud-keys` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_overcloud-keys")
}

/// Runs `overcloud-keys ARGS`, returning its output (whatever the exit code).
pub fn overcloud_keys<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run overcloud-keys")
}

/// Runs `overcloud-keys ARGS` and panics (showing stderr) unless it exits 0.
pub fn overcloud_keys_ok<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    let out = overcloud_keys(args);
    assert!(
        out.status.success(),
        "overcloud-keys {:?} failed ({}):\nstdout: {}\nstderr: {}",
        args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The keystone venv (created on first use by `scripts/venv.sh keystone`).
pub fn venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| venv_support::venv("keystone").unwrap_or_else(|e| panic!("{e}")))
}

/// The venv's python.
pub fn python() -> PathBuf {
    venv().join("bin/python")
}

/// Keystone's installed version, read from its dist-info directory name.
pub fn keystone_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let lib = venv().join("lib");
        for py in fs::read_dir(&lib).expect("venv lib").flatten() {
            let site = py.path().join("site-packages");
            for entry in fs::read_dir(&site).into_iter().flatten().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(rest) = name.strip_prefix("keystone-")
                    && let Some(version) = rest.strip_suffix(".dist-info")
                {
                    return version.to_string();
                }
            }
        }
        panic!("keystone is not installed in {}", venv().display())
    })
}

/// Runs a python snippet with the venv's interpreter (isolated mode), returning stdout.
pub fn run_python(code: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg("-I")
        .arg("-c")
        .arg(code)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Which token provider keystone runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// `[token] provider = fernet`.
    Fernet,
    /// `[token] provider = jws`.
    Jws,
}

/// Scope of a password token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Project-scoped to the `admin` project.
    AdminProject,
    /// No scope.
    Unscoped,
}

/// Paths of one keystone's configuration and key repositories.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The temp directory holding everything.
    pub root: PathBuf,
    /// `[fernet_tokens] key_repository`.
    pub fernet: PathBuf,
    /// `[fernet_receipts] key_repository`.
    pub receipt: PathBuf,
    /// `[credential] key_repository`.
    pub credential: PathBuf,
    /// Directory holding `private/` and `public/` (what `repo check --kind jws` takes).
    pub jws: PathBuf,
    /// `[jwt_tokens] jws_private_key_repository`.
    pub jws_private: PathBuf,
    /// `[jwt_tokens] jws_public_key_repository`.
    pub jws_public: PathBuf,
    /// keystone.conf.
    pub conf: PathBuf,
    /// `[DEFAULT] log_file`.
    pub log: PathBuf,
    /// The sqlite database.
    pub db: PathBuf,
    /// stdout + stderr of the server process.
    pub server_out: PathBuf,
}

impl Layout {
    fn new(root: &Path) -> Self {
        Layout {
            root: root.to_path_buf(),
            fernet: root.join("fernet-keys"),
            receipt: root.join("receipt-keys"),
            credential: root.join("credential-keys"),
            jws: root.join("jws-keys"),
            jws_private: root.join("jws-keys/private"),
            jws_public: root.join("jws-keys/public"),
            conf: root.join("keystone.conf"),
            log: root.join("keystone.log"),
            db: root.join("keystone.db"),
            server_out: root.join("server.out"),
        }
    }

    fn write_conf(&self, provider: Provider, max_active_keys: u32) {
        let provider = match provider {
            Provider::Fernet => "fernet",
            Provider::Jws => "jws",
        };
        let conf = format!(
            "[DEFAULT]\n\
             log_file = {log}\n\
             [database]\n\
             connection = sqlite:///{db}\n\
             [fernet_tokens]\n\
             key_repository = {fernet}\n\
             max_active_keys = {max_active_keys}\n\
             [fernet_receipts]\n\
             key_repository = {receipt}\n\
             [credential]\n\
             key_repository = {credential}\n\
             [jwt_tokens]\n\
             jws_private_key_repository = {private}\n\
             jws_public_key_repository = {public}\n\
             [token]\n\
             provider = {provider}\n\
             [identity]\n\
             # bcrypt cost 4 (keystone's minimum): hashes made at bootstrap are cheap to check\n\
             password_hash_rounds = 4\n",
            log = self.log.display(),
            db = self.db.display(),
            fernet = self.fernet.display(),
            receipt = self.receipt.display(),
            credential = self.credential.display(),
            private = self.jws_private.display(),
            public = self.jws_public.display(),
        );
        fs::write(&self.conf, conf).expect("write keystone.conf");
    }
}

/// `keystone-manage --config-file CONF ARGS` (the ownership flags keystone-manage demands
/// as root are the caller's job: see [`owner_flags`]).
pub fn keystone_manage(conf: &Path, args: &[&str]) -> Output {
    Command::new(venv().join("bin/keystone-manage"))
        .arg("--config-file")
        .arg(conf)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run keystone-manage")
}

/// `--keystone-user UID --keystone-group GID` of the current process: required by the
/// key-setup subcommands of keystone-manage when running as root, harmless otherwise.
pub fn owner_flags() -> Vec<String> {
    vec![
        "--keystone-user".into(),
        nix::unistd::geteuid().to_string(),
        "--keystone-group".into(),
        nix::unistd::getegid().to_string(),
    ]
}

/// A random Fernet key file content (44 URL-safe base64 characters), made here rather than by
/// the tool under test.
fn random_fernet_key() -> String {
    let mut raw = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .expect("read /dev/urandom");
    base64::engine::general_purpose::URL_SAFE.encode(raw)
}

fn write_throwaway_repo(dir: &Path) {
    fs::create_dir_all(dir).expect("mkdir");
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).expect("chmod");
    for name in ["0", "1"] {
        fs::write(dir.join(name), random_fernet_key()).expect("write key");
        fs::set_permissions(dir.join(name), fs::Permissions::from_mode(0o600)).expect("chmod");
    }
}

/// The cached, bootstrapped database for this keystone version (created once, under a lock).
pub fn cached_db() -> &'static Path {
    static DB: OnceLock<PathBuf> = OnceLock::new();
    DB.get_or_init(|| {
        let venv_name = venv()
            .file_name()
            .expect("venv name")
            .to_string_lossy()
            .into_owned();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("keystone-db")
            .join(format!("keystone-{}-{venv_name}", keystone_version()));
        fs::create_dir_all(&dir).expect("mkdir db cache");
        let db = dir.join("keystone.db");
        // Other test binaries (or a concurrent `cargo test`) may build it at the same time.
        let lock = fs::File::create(dir.join(".lock")).expect("lock file");
        lock.lock().expect("lock db cache");
        if !db.exists() {
            let work = tempfile::Builder::new()
                .prefix("bootstrap-")
                .tempdir_in(&dir)
                .expect("tempdir");
            let layout = Layout::new(work.path());
            // bootstrap loads the token provider, which insists on existing Fernet token and
            // receipt repositories; their keys are never used (nothing is encrypted).
            write_throwaway_repo(&layout.fernet);
            write_throwaway_repo(&layout.receipt);
            layout.write_conf(Provider::Fernet, 3);
            for args in [
                vec!["db_sync"],
                vec!["bootstrap", "--bootstrap-password", ADMIN_PASSWORD],
            ] {
                let out = keystone_manage(&layout.conf, &args);
                assert!(
                    out.status.success(),
                    "keystone-manage {args:?} failed ({}):\n{}\nlog:\n{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr),
                    fs::read_to_string(&layout.log).unwrap_or_default()
                );
            }
            fs::rename(&layout.db, &db).expect("publish cached db");
        }
        drop(lock);
        db
    })
}

/// Mode bits (permissions only) of a path.
pub fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Asserts a key repository written by overcloud-keys (without `--keystone-user`):
/// directory 0700, every file `file_mode`, all owned by the current user. Running as root
/// (as CI does) hides permission mistakes from keystone, so they are checked here.
pub fn assert_modes(dir: &Path, file_mode: u32) {
    use std::os::unix::fs::MetadataExt;
    let euid = nix::unistd::geteuid().as_raw();
    let owner = |path: &Path| fs::metadata(path).expect("stat").uid();
    assert_eq!(mode(dir), 0o700, "mode of directory {}", dir.display());
    assert_eq!(owner(dir), euid, "owner of {}", dir.display());
    let mut files = 0;
    for entry in fs::read_dir(dir).expect("list repo").flatten() {
        let path = entry.path();
        assert!(path.is_file(), "unexpected non-file {}", path.display());
        files += 1;
        assert_eq!(mode(&path), file_mode, "mode of {}", path.display());
        assert_eq!(owner(&path), euid, "owner of {}", path.display());
    }
    assert!(files > 0, "{} holds no file", dir.display());
}

/// The answer to one HTTP request.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `X-Subject-Token`, if any.
    pub subject_token: Option<String>,
    /// Body text.
    pub body: String,
}

/// One keystone: its files, and the server process while running.
pub struct Keystone {
    /// Paths of config, database, log and key repositories.
    pub layout: Layout,
    provider: Provider,
    dir: Option<tempfile::TempDir>,
    child: Option<Child>,
    base: String,
    agent: ureq::Agent,
    admin_token: Option<String>,
    log_offset: u64,
}

impl Keystone {
    /// A new keystone (not started): temp dir, keystone.conf, and a copy of the cached
    /// bootstrapped database. Key repositories are left for the test to create.
    pub fn new(provider: Provider) -> Self {
        Self::with_max_active_keys(provider, 3)
    }

    /// Like [`Keystone::new`] with `[fernet_tokens] max_active_keys`.
    pub fn with_max_active_keys(provider: Provider, max_active_keys: u32) -> Self {
        let cached = cached_db();
        let dir = tempfile::Builder::new()
            .prefix("keystone-interop-")
            .tempdir()
            .expect("tempdir");
        let layout = Layout::new(dir.path());
        layout.write_conf(provider, max_active_keys);
        fs::copy(cached, &layout.db).expect("copy cached db");
        let dir = if std::env::var_os("KEYSTONE_HARNESS_KEEP").is_some() {
            eprintln!("keeping {}", dir.path().display());
            let _ = dir.keep();
            None
        } else {
            Some(dir)
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent();
        Keystone {
            layout,
            provider,
            dir,
            child: None,
            base: String::new(),
            agent,
            admin_token: None,
            log_offset: 0,
        }
    }

    /// Points `[fernet_tokens] key_repository` at `repo` (e.g. a simulated node's key
    /// directory) instead of the temp directory's; before [`Keystone::start`].
    pub fn set_fernet_repository(&mut self, repo: &Path) {
        let conf = fs::read_to_string(&self.layout.conf).expect("read keystone.conf");
        let old = format!("key_repository = {}\n", self.layout.fernet.display());
        assert_eq!(
            conf.matches(&old).count(),
            1,
            "one fernet key_repository line"
        );
        let new = format!("key_repository = {}\n", repo.display());
        fs::write(&self.layout.conf, conf.replace(&old, &new)).expect("write keystone.conf");
        self.layout.fernet = repo.to_path_buf();
    }

    /// The token provider in keystone.conf.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// `keystone-manage` on this keystone's configuration.
    pub fn manage(&self, args: &[&str]) -> Output {
        keystone_manage(&self.layout.conf, args)
    }

    /// Like [`Keystone::manage`], panicking with keystone's log unless it succeeds.
    pub fn manage_ok(&self, args: &[&str]) {
        let out = self.manage(args);
        assert!(
            out.status.success(),
            "keystone-manage {args:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.diagnostics()
        );
    }

    /// Starts the server and waits until `GET /v3` answers 200.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "keystone already running");
        let port_file = self.layout.root.join("port");
        let _ = fs::remove_file(&port_file);
        let out = fs::File::create(&self.layout.server_out).expect("server.out");
        let serve = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keystone_harness/serve.py");
        let child = Command::new(python())
            .arg("-I")
            .arg(&serve)
            .env("OS_KEYSTONE_CONFIG_FILES", &self.layout.conf)
            .env("KEYSTONE_HARNESS_PORT_FILE", &port_file)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .expect("spawn keystone");
        self.child = Some(child);
        self.admin_token = None;
        let deadline = Instant::now() + START_TIMEOUT;
        let port = loop {
            if let Ok(text) = fs::read_to_string(&port_file)
                && let Ok(port) = text.trim().parse::<u16>()
            {
                break port;
            }
            self.assert_alive("while starting");
            assert!(
                Instant::now() < deadline,
                "keystone did not listen within {START_TIMEOUT:?}\n{}",
                self.diagnostics()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        self.base = format!("http://127.0.0.1:{port}");
        loop {
            if let Ok(resp) = self.agent.get(format!("{}/v3", self.base)).call()
                && resp.status().as_u16() == 200
            {
                return;
            }
            self.assert_alive("while waiting for GET /v3");
            assert!(
                Instant::now() < deadline,
                "keystone did not answer GET /v3 within {START_TIMEOUT:?}\n{}",
                self.diagnostics()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn assert_alive(&mut self, when: &str) {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait().expect("try_wait")
        {
            self.child = None;
            panic!("keystone exited {when} ({status})\n{}", self.diagnostics());
        }
    }

    /// Stops the server (SIGKILL: keystone holds no state outside its database and keys).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.admin_token = None;
    }

    /// Stops and starts the server on the same configuration (a new port).
    pub fn restart(&mut self) {
        self.stop();
        self.start();
    }

    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        assert!(self.child.is_some(), "keystone is not running");
        &self.base
    }

    fn auth_body(scope: Scope) -> String {
        let mut auth = serde_json::json!({
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {
                        "name": "admin",
                        "domain": {"id": "default"},
                        "password": ADMIN_PASSWORD,
                    }},
                },
            }
        });
        if scope == Scope::AdminProject {
            auth["auth"]["scope"] =
                serde_json::json!({"project": {"name": "admin", "domain": {"id": "default"}}});
        }
        auth.to_string()
    }

    fn reply(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>, what: &str) -> Reply {
        let mut resp = resp.unwrap_or_else(|e| panic!("{what}: {e}"));
        let subject_token = resp
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().unwrap_or_default();
        Reply {
            status,
            subject_token,
            body,
        }
    }

    /// `POST /v3/auth/tokens` with the admin password, whatever the answer.
    pub fn request_token(&self, scope: Scope) -> Reply {
        let resp = self
            .agent
            .post(format!("{}/v3/auth/tokens", self.url()))
            .header("Content-Type", "application/json")
            .send(Self::auth_body(scope));
        Self::reply(resp, "POST /v3/auth/tokens")
    }

    /// Issues a password token; panics (with keystone's log) unless keystone answers 201.
    pub fn issue_token(&self, scope: Scope) -> String {
        self.issue_token_reply(scope).subject_token.expect("token")
    }

    /// Like [`Keystone::issue_token`], returning the whole reply (for the token body).
    pub fn issue_token_reply(&self, scope: Scope) -> Reply {
        let reply = self.request_token(scope);
        assert!(
            reply.status == 201 && reply.subject_token.is_some(),
            "token issue answered {} (expected 201 with X-Subject-Token): {}\n{}",
            reply.status,
            reply.body,
            self.diagnostics()
        );
        reply
    }

    /// A valid admin token to authenticate API calls (issued once per server start).
    pub fn admin_token(&mut self) -> String {
        if self.admin_token.is_none() {
            self.admin_token = Some(self.issue_token(Scope::AdminProject));
        }
        self.admin_token.clone().expect("admin token")
    }

    /// `GET /v3/auth/tokens` for `token`, authenticated by `auth_token`: the reply.
    pub fn validate_with(&self, auth_token: &str, token: &str) -> Reply {
        let resp = self
            .agent
            .get(format!("{}/v3/auth/tokens", self.url()))
            .header("X-Auth-Token", auth_token)
            .header("X-Subject-Token", token)
            .call();
        Self::reply(resp, "GET /v3/auth/tokens")
    }

    /// Validates `token` (authenticated by a fresh admin token): the HTTP status.
    pub fn validate(&mut self, token: &str) -> u16 {
        let admin = self.admin_token();
        self.validate_with(&admin, token).status
    }

    /// Asserts that `token` validates (200), with keystone's log on failure.
    pub fn assert_valid(&mut self, token: &str, what: &str) {
        let admin = self.admin_token();
        let reply = self.validate_with(&admin, token);
        assert_eq!(
            reply.status,
            200,
            "{what}: validation answered {}: {}\n{}",
            reply.status,
            reply.body,
            self.diagnostics()
        );
    }

    /// An authenticated JSON API call; returns the reply whatever its status.
    pub fn api(&mut self, method: &str, path: &str, body: Option<&serde_json::Value>) -> Reply {
        let token = self.admin_token();
        let url = format!("{}{path}", self.url());
        let resp = match (method, body) {
            ("GET", None) => self.agent.get(&url).header("X-Auth-Token", &token).call(),
            ("POST", Some(body)) => self
                .agent
                .post(&url)
                .header("X-Auth-Token", &token)
                .header("Content-Type", "application/json")
                .send(body.to_string()),
            ("DELETE", None) => self
                .agent
                .delete(&url)
                .header("X-Auth-Token", &token)
                .call(),
            other => panic!("unsupported api call {other:?}"),
        };
        Self::reply(resp, &format!("{method} {path}"))
    }

    /// Keystone's whole log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.layout.log).unwrap_or_default()
    }

    /// Marks the current end of the log: [`Keystone::new_log`] returns what follows.
    pub fn mark_log(&mut self) {
        self.log_offset = fs::metadata(&self.layout.log).map(|m| m.len()).unwrap_or(0);
    }

    /// The log written since the last [`Keystone::mark_log`].
    pub fn new_log(&self) -> String {
        let log = fs::read(&self.layout.log).unwrap_or_default();
        let start = (self.log_offset as usize).min(log.len());
        String::from_utf8_lossy(&log[start..]).into_owned()
    }

    /// ERROR/CRITICAL lines of keystone's log (tracebacks included).
    pub fn log_errors(&self) -> String {
        error_lines(&self.log())
    }

    /// Fails the test when keystone logged an ERROR or CRITICAL line.
    pub fn assert_no_log_errors(&self) {
        let errors = self.log_errors();
        assert!(errors.is_empty(), "keystone logged errors:\n{errors}");
    }

    /// Stores an EC2 credential holding `blob` for the admin user and project (keystone
    /// encrypts it with the primary credential key); returns its id. Panics unless 201.
    pub fn store_ec2_credential(&mut self, blob: &str) -> String {
        let reply = self.issue_token_reply(Scope::AdminProject);
        let body: serde_json::Value = serde_json::from_str(&reply.body).expect("token body");
        let user_id = body["token"]["user"]["id"].as_str().expect("user id");
        let project_id = body["token"]["project"]["id"].as_str().expect("project id");
        let created = self.api(
            "POST",
            "/v3/credentials",
            Some(&serde_json::json!({"credential": {
                "type": "ec2",
                "user_id": user_id,
                "project_id": project_id,
                "blob": blob,
            }})),
        );
        assert_eq!(
            created.status,
            201,
            "create credential: {}\n{}",
            created.body,
            self.diagnostics()
        );
        serde_json::from_str::<serde_json::Value>(&created.body).expect("json")["credential"]["id"]
            .as_str()
            .expect("credential id")
            .to_string()
    }

    /// What to print when an assertion about keystone fails: log errors and server output.
    pub fn diagnostics(&self) -> String {
        let mut out = String::new();
        let errors = self.log_errors();
        let _ = write!(
            out,
            "--- keystone log errors ({}) ---\n{}",
            self.layout.log.display(),
            if errors.is_empty() {
                "(none)\n".to_string()
            } else {
                errors
            }
        );
        let server = fs::read_to_string(&self.layout.server_out).unwrap_or_default();
        let tail: Vec<&str> = server
            .lines()
            .filter(|l| !l.trim().is_empty())
            .rev()
            .take(20)
            .collect();
        let _ = writeln!(out, "--- server output (last lines) ---");
        for line in tail.into_iter().rev() {
            let _ = writeln!(out, "{line}");
        }
        out
    }
}

impl Drop for Keystone {
    fn drop(&mut self) {
        self.stop();
        drop(self.dir.take());
    }
}

/// Lines of a keystone log at ERROR or CRITICAL level (their continuation lines included).
pub fn error_lines(log: &str) -> String {
    let mut out = String::new();
    for line in log.lines() {
        if line.contains(" ERROR ") || line.contains(" CRITICAL ") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The file name of the key in `repo` whose signing half produced `token`'s HMAC, if any.
/// Fernet: `0x80 | ts(8) | iv(16) | ciphertext | HMAC-SHA256(key[..16], all before)`.
pub fn fernet_signing_key(repo: &Path, token: &str) -> Option<String> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .expect("token is URL-safe base64");
    assert!(
        raw.len() > 1 + 8 + 16 + 32 && raw[0] == 0x80,
        "not a Fernet token"
    );
    let (signed, mac) = raw.split_at(raw.len() - 32);
    let mut names: Vec<String> = fs::read_dir(repo)
        .expect("list repo")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.into_iter().find(|name| {
        let Ok(text) = fs::read_to_string(repo.join(name)) else {
            return false;
        };
        let Ok(key) = base64::engine::general_purpose::URL_SAFE.decode(text.trim()) else {
            return false;
        };
        key.len() == 32
            && ring::hmac::verify(
                &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key[..16]),
                signed,
                mac,
            )
            .is_ok()
    })
}

/// Splits a JWS compact token and decodes its header as JSON.
pub fn jws_header(token: &str) -> serde_json::Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(
        parts.len(),
        3,
        "a JWS has three dot-separated parts: {token}"
    );
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[0])
        .expect("JWS header is base64url");
    serde_json::from_slice(&header).expect("JWS header is JSON")
}

/// Whether `token`'s ES256 signature verifies with the P-256 public key in `public_pem`.
pub fn jws_signed_by(token: &str, public_pem: &Path) -> bool {
    let pem = fs::read_to_string(public_pem).expect("read public key");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("PEM body is base64");
    // SubjectPublicKeyInfo for P-256 is 91 bytes ending in the 65-byte uncompressed point.
    assert_eq!(der.len(), 91, "not a P-256 SPKI: {}", public_pem.display());
    let point = &der[26..];
    assert_eq!(point[0], 0x04, "uncompressed point expected");
    let (signed, sig) = token.rsplit_once('.').expect("JWS");
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .expect("signature is base64url");
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
        .verify(signed.as_bytes(), &sig)
        .is_ok()
}

/// Writes `content` to `path` (test fixtures that break a repository on purpose).
pub fn overwrite(path: &Path, content: &[u8]) {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    f.write_all(content).expect("write");
}
