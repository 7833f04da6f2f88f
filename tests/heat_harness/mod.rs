//! Checks Heat environment files with Heat's own code (openstack-heat 27.0.1) against the
//! parameter declarations of tripleo-heat-templates 18.0.0 (see `check_env.py` next to this file).
//!
//! Use from an integration test with `mod heat_harness;` and
//! `heat_harness::check_env_files(&[path, ...])`.
//!
//! HOT templates are checked by Heat's own engine classes (see `check_template.py`) with
//! `heat_harness::check_template_files(&[path, ...])`; it needs only the venv and a one-off
//! index of Heat's resource types under `target/heat-harness` (or
//! `$OVERCLOUD_KEYS_HEAT_HARNESS_DIR`), not THT. One `check_template.py --serve` process per
//! test binary imports Heat once; each check then takes well under a second.
//!
//! Set-up happens once per process: `scripts/venv.sh heat` (cached venv under `target/venvs`)
//! and `check_env.py --prepare` (THT sdist from PyPI, extracted, j2-rendered and indexed once
//! under `target/tht-18.0.0`, or `$OVERCLOUD_KEYS_THT_DIR`; flock-guarded, so parallel test
//! binaries share it). A first run takes about two minutes (mostly the venv), later ones about
//! a second per call.

#[path = "../support/venv.rs"]
#[allow(clippy::duplicate_mod)] // shared by the harnesses; a test crate may include two of them
mod venv_support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

struct Harness {
    python: PathBuf,
    script: PathBuf,
    cache_dir: PathBuf,
}

static HARNESS: OnceLock<Result<Harness, String>> = OnceLock::new();

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The heat venv's python (`scripts/venv.sh heat`: created once, cached, flock-guarded).
fn venv_python() -> Result<PathBuf, String> {
    Ok(venv_support::venv("heat")?.join("bin/python"))
}

fn setup() -> Result<Harness, String> {
    let started = Instant::now();
    let repo = repo();
    let python = venv_python()?;
    let script = repo.join("tests/heat_harness/check_env.py");
    let cache_dir = std::env::var_os("OVERCLOUD_KEYS_THT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target/tht-18.0.0"));
    let harness = Harness {
        python,
        script,
        cache_dir,
    };
    let out = harness
        .command()
        .arg("--prepare")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", harness.python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "check_env.py --prepare failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    eprintln!(
        "heat harness ready in {:.1}s ({})",
        started.elapsed().as_secs_f64(),
        harness.cache_dir.display()
    );
    Ok(harness)
}

impl Harness {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.python);
        // -I: no PYTHONPATH, no user site, no script directory on sys.path.
        cmd.arg("-I")
            .arg(&self.script)
            .arg("--cache-dir")
            .arg(&self.cache_dir);
        cmd
    }
}

/// Checks Heat environment files: Heat's parser, parameter names and types against THT 18.0.0,
/// `parameter_merge_strategies`, and `OS::TripleO::` `resource_registry` targets.
///
/// `Ok(stdout)` when every file passes (`ok ...` / `info ...` lines), `Err(report)` when the
/// checker found problems (one `PROBLEM <file>: <key> (declared <type> ...): <why>` line each).
/// A harness failure (no venv, no PyPI, a checker crash) panics instead of returning `Err`, so
/// a broken harness can never make a negative test pass.
pub fn check_env_files(paths: &[&Path]) -> Result<String, String> {
    let harness = match HARNESS.get_or_init(setup) {
        Ok(h) => h,
        Err(e) => panic!("heat harness set-up failed: {e}"),
    };
    assert!(!paths.is_empty(), "check_env_files: no files given");
    let out = harness
        .command()
        .args(paths)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", harness.python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => Ok(stdout),
        Some(1) => Err(stdout),
        _ => panic!(
            "heat harness error ({}) checking {paths:?}:\n{stdout}{stderr}",
            out.status
        ),
    }
}

/// `check_template.py --serve`: Heat imported once per test binary (about two seconds of CPU),
/// then one forked check per request, so each check takes a fraction of a second. Requests
/// from parallel tests are serialized by the mutex. The server exits when this process does
/// (its stdin closes).
struct TemplateServer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

static TEMPLATE_SERVER: OnceLock<Result<Mutex<TemplateServer>, String>> = OnceLock::new();

fn start_template_server() -> Result<Mutex<TemplateServer>, String> {
    let started = Instant::now();
    let repo = repo();
    let harness = Harness {
        python: venv_python()?,
        script: repo.join("tests/heat_harness/check_template.py"),
        cache_dir: std::env::var_os("OVERCLOUD_KEYS_HEAT_HARNESS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo.join("target/heat-harness")),
    };
    let mut child = harness
        .command()
        .arg("--serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", harness.python.display()))?;
    let stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut ready = String::new();
    let n = stdout
        .read_line(&mut ready)
        .map_err(|e| format!("check_template.py --serve: {e}"))?;
    let hello: serde_json::Value = serde_json::from_str(&ready).unwrap_or_default();
    if n == 0 || hello["ready"] != true {
        let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
        return Err(format!(
            "check_template.py --serve did not start ({status}): {ready:?}"
        ));
    }
    eprintln!(
        "heat template checker ready in {:.1}s: Heat {}, {} resource types ({})",
        started.elapsed().as_secs_f64(),
        hello["heat_version"],
        hello["resource_types"],
        harness.cache_dir.display()
    );
    Ok(Mutex::new(TemplateServer {
        child,
        stdin,
        stdout,
    }))
}

impl TemplateServer {
    /// One request; `(exit status, stdout, stderr)` of the check.
    fn check(&mut self, args: &[String]) -> Result<(i64, String, String), String> {
        let request = serde_json::json!({ "args": args }).to_string();
        writeln!(self.stdin, "{request}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("cannot send a request to the checker: {e}"))?;
        let mut line = String::new();
        let n = self
            .stdout
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the checker's answer: {e}"))?;
        if n == 0 {
            let status = self.child.try_wait().ok().flatten();
            return Err(format!("the checker exited ({status:?})"));
        }
        let answer: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| format!("bad answer {line:?}: {e}"))?;
        let text = |k: &str| answer[k].as_str().unwrap_or_default().to_string();
        Ok((
            answer["rc"].as_i64().unwrap_or(-1),
            text("stdout"),
            text("stderr"),
        ))
    }
}

/// Validates HOT templates with Heat 27.0.1's own engine classes, no Heat service: Heat's
/// template parser, `heat_template_version: wallaby`, `Template.validate()`, Heat's parameter
/// schemas and defaults, get_param/get_resource/get_attr/depends_on targets, and every
/// resource built by Heat's `Stack` and validated by its plugin (properties schema: unknown,
/// missing required, wrong types). Resource types that are template files must exist and
/// are checked recursively (their lines come first), and the properties passed to them must
/// be their parameters.
///
/// `Ok(stdout)` when every template passes (`ok <file>: ...` lines, `info` lines), `Err(report)`
/// when the checker found problems (one `PROBLEM <file>: <where> (line N): <message>` line
/// each). A harness failure panics instead of returning `Err`, so a broken harness can never
/// make a negative test pass.
#[allow(dead_code)]
pub fn check_template_files(paths: &[&Path]) -> Result<String, String> {
    check_template_files_with_env(paths, &[])
}

/// As [`check_template_files`], with the `parameter_defaults` of Heat environment files as
/// parameter values, as Heat passes them to nested stacks (a chaining template needs the
/// inputs of the template it nests).
#[allow(dead_code)]
pub fn check_template_files_with_env(paths: &[&Path], envs: &[&Path]) -> Result<String, String> {
    check_template_files_at("wallaby", paths, envs)
}

/// As [`check_template_files_with_env`], requiring `heat_template_version: <version>` (e.g.
/// `rocky`, `queens`) instead of wallaby: Heat validates the templates with that version's
/// template class, which knows only the intrinsic functions of that version.
#[allow(dead_code)]
pub fn check_template_files_at(
    version: &str,
    paths: &[&Path],
    envs: &[&Path],
) -> Result<String, String> {
    let server = match TEMPLATE_SERVER.get_or_init(start_template_server) {
        Ok(s) => s,
        Err(e) => panic!("heat template checker set-up failed: {e}"),
    };
    assert!(!paths.is_empty(), "check_template_files: no files given");
    let abs = |p: &Path| {
        std::path::absolute(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .display()
            .to_string()
    };
    let mut args = vec!["--version".to_string(), version.to_string()];
    for env in envs {
        args.extend(["--env".to_string(), abs(env)]);
    }
    args.push("--".into());
    args.extend(paths.iter().map(|p| abs(p)));
    // A panic elsewhere while holding the lock leaves the server usable.
    let answer = server
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .check(&args);
    match answer {
        Ok((0, stdout, _)) => Ok(stdout),
        Ok((1, stdout, _)) => Err(stdout),
        Ok((rc, stdout, stderr)) => {
            panic!("heat template checker error (exit {rc}) checking {paths:?}:\n{stdout}{stderr}")
        }
        Err(e) => panic!("heat template checker failed checking {paths:?}: {e}"),
    }
}
