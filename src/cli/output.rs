//! Turning results into text for `-f table|json|value`. Returns strings; printing is the
//! binary's job.

use serde_json::json;

/// Exit codes, shown in `--help`.
pub const EXIT_CODES: &str = "Exit codes:\n  0  success (for `repo check`: no findings)\n  1  `repo check` found problems; `plan rotation`/`plan cutover`: the plan is unsafe or not\n     ready; `token inspect`: some token was not decoded\n  2  usage error, bad input, or I/O error (nothing was changed)\n  3  a remote service (Swift, Keystone) was unreachable or kept failing after retries";

/// `repo check` found problems; a plan is unsafe or not ready; a token was not decoded.
pub const EXIT_FINDINGS: u8 = 1;
/// Usage error, bad input or I/O error: nothing was changed.
pub const EXIT_ERROR: u8 = 2;
/// A remote service was unreachable or kept failing after retries.
pub const EXIT_REMOTE: u8 = 3;

/// The exit code of a failed command.
pub fn exit_code(err: &overcloud_keys::Error) -> u8 {
    if err.is_remote_failure() {
        EXIT_REMOTE
    } else {
        EXIT_ERROR
    }
}

/// An outcome as the user asked for it (`-f table|json|yaml|value`): the one place output
/// formats are decided.
pub fn render(outcome: &Outcome, format: overcloud_keys::format::Format) -> String {
    use overcloud_keys::format::Format;
    if outcome.json.is_null() && outcome.text.is_empty() {
        // Nothing left to print: the command streamed its whole output (`token inspect`).
        return String::new();
    }
    match format {
        Format::Table => outcome.text.clone(),
        Format::Json => serde_json::to_string_pretty(&outcome.json).expect("json") + "\n",
        Format::Yaml => serde_yaml_ng::to_string(&outcome.json).expect("yaml"),
        Format::Value => value_lines(&outcome.json),
    }
}

fn value_lines(json: &serde_json::Value) -> String {
    match json {
        serde_json::Value::Object(map) => map.values().map(value_lines).collect(),
        serde_json::Value::Array(items) => items.iter().map(value_lines).collect(),
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => format!("{s}\n"),
        other => format!("{other}\n"),
    }
}

pub use overcloud_keys::format::Outcome;

use overcloud_keys::check::{Finding, RepoReport, Severity};

/// `repo check` as the user asked for it.
pub fn check_report(
    reports: &[RepoReport],
    sync: &[Finding],
    compared: bool,
    format: overcloud_keys::format::Format,
) -> String {
    use overcloud_keys::format::Format;
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
pub fn build_text(report: &overcloud_keys::pipeline::BuildReport) -> String {
    use overcloud_keys::fsutil::WriteAction;
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
            overcloud_keys::config::ArtifactsMode::Files => "files",
            overcloud_keys::config::ArtifactsMode::Swift => "swift",
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
pub fn adopt_text(report: &overcloud_keys::adopt::AdoptReport) -> String {
    use overcloud_keys::adopt::AdoptStatus;
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
