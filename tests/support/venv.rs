//! The one way test harnesses get a Python venv: `scripts/venv.sh NAME` (created on first
//! use, cached under target/venvs keyed by the pinned versions, flock-guarded).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Path of the `name` venv (keystone, heat, swift), or why it could not be made.
pub fn venv(name: &str) -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/venv.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(name)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run scripts/venv.sh {name}: {e}"))?;
    if !out.status.success() {
        return Err(format!("scripts/venv.sh {name} failed ({})", out.status));
    }
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !path.join("bin/python").exists() {
        return Err(format!("no python in {}", path.display()));
    }
    Ok(path)
}
