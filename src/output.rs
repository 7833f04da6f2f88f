//! Turning results into text for `-f table|json|value`. Returns strings; printing is the
//! binary's job.

use serde_json::json;

/// What a command produced: text for people, a JSON value for pipelines, an optional warning
/// for stderr, and the exit code (0 ok, 1 findings, 2 error).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `-f table` output.
    pub text: String,
    /// `-f json` output (and the source of `-f value`).
    pub json: serde_json::Value,
    /// Printed to stderr as `WARNING: ...`.
    pub warning: Option<String>,
    /// Process exit code.
    pub code: u8,
}

impl Outcome {
    /// A successful outcome.
    pub fn ok(text: String, json: serde_json::Value) -> Self {
        Outcome {
            text,
            json,
            warning: None,
            code: 0,
        }
    }
}

use crate::check::{Finding, RepoReport, Severity};

/// `repo check` as the user asked for it.
pub fn check_report(
    reports: &[RepoReport],
    sync: &[Finding],
    compared: bool,
    format: crate::cli::Format,
) -> String {
    use crate::cli::Format;
    let all: Vec<&Finding> = reports
        .iter()
        .flat_map(|r| &r.findings)
        .chain(sync)
        .collect();
    match format {
        Format::Json | Format::Yaml => {
            let value = json!({
                "ok": all.is_empty(),
                "repositories": reports,
                "compared": compared,
                "in_sync": compared.then_some(sync.is_empty()),
                "sync_findings": sync,
            });
            serde_json::to_string_pretty(&value).expect("report serializes") + "\n"
        }
        Format::Value => all
            .iter()
            .map(|f| format!("{} {}\n", f.code, f.path.display()))
            .collect(),
        Format::Table => {
            let mut out = String::new();
            for report in reports {
                let keys: Vec<String> = report
                    .keys
                    .iter()
                    .map(|k| format!("{} {} {}", k.name, k.role, &k.fingerprint[..12]))
                    .collect();
                out.push_str(&format!(
                    "{} ({}): {}\n",
                    report.path.display(),
                    report.kind,
                    if keys.is_empty() {
                        "no valid keys".to_string()
                    } else {
                        keys.join(", ")
                    }
                ));
            }
            for f in &all {
                out.push_str(&finding_line(f));
            }
            if compared && sync.is_empty() {
                out.push_str(&format!(
                    "all {} repositories hold the same keys\n",
                    reports.len()
                ));
            }
            let errors = all.iter().filter(|f| f.severity == Severity::Error).count();
            out.push_str(&format!(
                "{} error(s), {} warning(s)\n",
                errors,
                all.len() - errors
            ));
            out
        }
    }
}

/// One finding as a single line: severity, code, path, message, fix.
pub fn finding_line(f: &Finding) -> String {
    let severity = match f.severity {
        Severity::Error => "ERROR",
        Severity::Warning => "WARNING",
    };
    format!(
        "{severity} {} {}: {} (fix: {})\n",
        f.code,
        f.path.display(),
        f.message,
        f.fix
    )
}

/// `build` for people: what happened to each piece, who receives which secret, and the
/// exact deploy arguments.
pub fn build_text(report: &crate::pipeline::BuildReport) -> String {
    use crate::fsutil::WriteAction;
    let mut out = String::new();
    let verb = |a: WriteAction| match a {
        WriteAction::Written => "written",
        WriteAction::Unchanged => "unchanged",
        WriteAction::WouldWrite => "would write",
    };
    let profile = report.settings.release.profile();
    out.push_str(&format!(
        "work directory {} (OSP {}: heat_template_version {}, artifacts {}){}\n",
        report.settings.workdir.display(),
        profile.name,
        profile.heat_template_version,
        match report.settings.artifacts {
            crate::config::ArtifactsMode::Files => "files",
            crate::config::ArtifactsMode::Swift => "swift",
        },
        if report.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    ));
    for r in &report.repositories {
        out.push_str(&format!(
            "  {:<10} {:<13} {}\n",
            r.kind.to_string(),
            r.action,
            r.path.display()
        ));
    }
    if let Some(a) = &report.artifact {
        out.push_str(&format!(
            "  artifact   {:<13} {} (sha256 {})\n",
            verb(a.action),
            a.path.display(),
            a.sha256
        ));
        for old in &a.removed {
            out.push_str(&format!(
                "  artifact   {:<13} {}\n",
                if report.dry_run {
                    "would remove"
                } else {
                    "removed"
                },
                old.display()
            ));
        }
    }
    for e in &report.env_files {
        out.push_str(&format!(
            "  env        {:<13} {}{}\n",
            verb(e.action),
            e.path.display(),
            if e.secret { " (secret, 0600)" } else { "" }
        ));
    }
    for s in &report.secrets {
        out.push_str(&format!(
            "  secret     {} via {} -> {}\n",
            s.secret, s.via, s.roles
        ));
    }
    if !report.changed {
        out.push_str("nothing changed\n");
    }
    if !report.deploy_args.is_empty() {
        out.push_str(&format!(
            "add to `openstack overcloud deploy` (after your other -e files):\n  {}\n",
            report.deploy_args.join(" ")
        ));
    }
    out
}

/// `adopt` for people: where the keys came from, what happened to each repository, and
/// what to run next.
pub fn adopt_text(report: &crate::adopt::AdoptReport) -> String {
    use crate::adopt::AdoptStatus;
    let mut out = format!(
        "deployed keys of stack {} read from {}\n",
        report.stack, report.source
    );
    for r in &report.repositories {
        out.push_str(&format!(
            "  {:<10} {:<13} {} (keys {:?})\n",
            r.kind.to_string(),
            r.action,
            r.path.display(),
            r.keys
        ));
        for code in &r.findings {
            out.push_str(&format!("    repo check: {code}\n"));
        }
    }
    if let Some(backup) = &report.backup {
        out.push_str(&format!(
            "  replaced repositories {} in {}\n",
            if report.dry_run {
                "would be kept"
            } else {
                "kept"
            },
            backup.display()
        ));
    }
    out.push_str(match report.status {
        AdoptStatus::NothingToAdopt => {
            "nothing to adopt: the work directory already holds the deployed keys\n"
        }
        AdoptStatus::WorkdirIsDeployed => {
            "nothing to adopt: the work directory's keys are the deployed ones (see the warning)\n"
        }
        AdoptStatus::WouldImport | AdoptStatus::WouldReplace => "dry run: nothing written\n",
        AdoptStatus::Imported | AdoptStatus::Replaced => {
            "next: `overcloud-keys build` renders these keys into fernet.yaml; deploy with it\n"
        }
    });
    out
}
