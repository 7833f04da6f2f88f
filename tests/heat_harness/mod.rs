//! Checks Heat environment files with Heat's own code (openstack-heat 27.0.1) against the
//! parameter declarations of tripleo-heat-templates 18.0.0 (see `check_env.py` next to this file).
//!
//! Use from an integration test with `mod heat_harness;` and
//! `heat_harness::check_env_files(&[path, ...])`.
//!
//! Set-up happens once per process: `scripts/venv.sh heat` (cached venv under `target/venvs`)
//! and `check_env.py --prepare` (THT sdist from PyPI, extracted, j2-rendered and indexed once
//! under `target/tht-18.0.0`, or `$OVERCLOUD_KEYS_THT_DIR`; flock-guarded, so parallel test
//! binaries share it). A first run takes about two minutes (mostly the venv), later ones about
//! a second per call.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
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

fn setup() -> Result<Harness, String> {
    let started = Instant::now();
    let repo = repo();
    let out = Command::new("bash")
        .arg(repo.join("scripts/venv.sh"))
        .arg("heat")
        .output()
        .map_err(|e| format!("cannot run scripts/venv.sh heat: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "scripts/venv.sh heat failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let venv = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let python = Path::new(&venv).join("bin/python");
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
