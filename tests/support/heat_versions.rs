//! The `heat_template_version` names each Heat release knows, from Heat's own `setup.cfg`
//! entry points (`scripts/heat-versions.sh`, which downloads and caches the openstack-heat
//! sdists), and the version a rendered template declares.

#![allow(dead_code)] // shared test module: not every test crate uses every helper

use std::path::Path;
use std::process::{Command, Stdio};

/// The releases rendered for, with the Heat series each one runs (OSP 10: newton, 11: ocata,
/// 13: queens, 16.2: train, 17.1: wallaby). Written out here rather than taken from the
/// crate's table, so a wrong row in the table fails the test instead of moving it.
pub const RELEASES: [(&str, &str); 5] = [
    ("10", "newton"),
    ("11", "ocata"),
    ("13", "queens"),
    ("16.2", "train"),
    ("17.1", "wallaby"),
];

/// The version names Heat `series` knows. Panics when the script fails (no network on the
/// first run, a changed sdist): a list that cannot be had must fail the test, never skip it.
pub fn known_versions(series: &str) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/heat-versions.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(series)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "scripts/heat-versions.sh {series} failed ({}): Heat's version list is needed, not skipped:\n{stderr}",
        out.status
    );
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert!(
        names.len() >= 5,
        "scripts/heat-versions.sh {series} listed too few versions: {names:?}\n{stderr}"
    );
    names
}

/// The `heat_template_version` a template file declares (panics when it has none).
pub fn declared_version(path: &Path) -> String {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .find_map(|l| l.strip_prefix("heat_template_version:"))
        .map(|v| v.trim().trim_matches(['\'', '"']).to_string())
        .unwrap_or_else(|| {
            panic!(
                "{} declares no heat_template_version:\n{text}",
                path.display()
            )
        })
}

/// Every file in `dir` that declares a `heat_template_version` (the rendered templates),
/// sorted.
pub fn templates_in(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "yaml")
                && std::fs::read_to_string(p)
                    .is_ok_and(|t| t.lines().any(|l| l.starts_with("heat_template_version:")))
        })
        .collect();
    out.sort();
    out
}
