//! `rollout`: flags, handler and the text report.
#![allow(missing_docs)] // flattened arg groups carry their docs on their own fields

use std::path::{Path, PathBuf};

use clap::Args;

use super::nodes::{SshArgs, finding_line, target};
use super::output::{EXIT_ERROR, EXIT_FINDINGS, EXIT_REMOTE, Outcome};
use overcloud_keys::Error;
use overcloud_keys::artifact::layout::LayoutKind;
use overcloud_keys::build_record::{self, BuildRecord};
use overcloud_keys::config::{ConfigFile, Settings};
use overcloud_keys::nodes::rollout::{
    self, NodeStep, Restore, RolloutOptions, RolloutReport, RolloutStatus, Rotation,
};
use overcloud_keys::nodes::verify::NodeStatus;
use overcloud_keys::plan::rotation::Limits;
use overcloud_keys::workdir::WorkdirLayout;

/// Exit codes of `rollout`, shown in its `--help`.
pub const ROLLOUT_EXIT_CODES: &str = "Exit codes:\n  0  every keystone node holds the rotated keys and fernet.yaml was rendered (or --dry-run: the\n     rollout would go ahead)\n  1  refused: a node does not hold exactly the work directory's keys (the drift report is\n     printed); nothing was changed\n  2  usage error, bad input, the rotation guard or a node's write failed (the nodes already\n     done and the work directory were put back), or fernet.yaml could not be rendered\n  3  a node was unreachable (before: nothing was changed; during: the nodes already done and\n     the work directory were put back)";

/// `rollout` flags.
#[derive(Debug, Args)]
pub struct RolloutArgs {
    /// TOML config file (the one `build` uses): its stack, workdir, layout and build settings
    /// apply. fernet.yaml is rendered by `build` with these settings; the release and
    /// max_active_keys come from the work directory's build.json (the last build).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Heat stack name. Default: overcloud.
    #[arg(long)]
    pub stack: Option<String>,
    /// Work directory whose Fernet keys are rotated. Default: ~/overcloud-keys/<stack>.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Where keys live on the nodes. Default: containerized
    /// (/var/lib/config-data/puppet-generated/keystone/etc/keystone, owner 42425); baremetal:
    /// /etc/keystone, owner 163.
    #[arg(long, value_enum)]
    pub layout: Option<LayoutKind>,
    #[command(flatten)]
    pub ssh: SshArgs,
    /// Token lifetime, seconds (`[token] expiration`), for the rotation guard. Default 3600.
    #[arg(long, value_name = "S", default_value_t = 3600)]
    pub expiration: u64,
    /// `[token] allow_expired_window`, seconds, for the rotation guard. Default 172800.
    #[arg(long, value_name = "S", default_value_t = 172800)]
    pub allow_expired_window: u64,
    /// Go ahead although some node drifts from the work directory, or the rotation guard
    /// refuses (as `fernet rotate --force`). Unreachable nodes still refuse. The output says
    /// what was overridden.
    #[arg(long)]
    pub force: bool,
    /// Verify the nodes and show what would happen; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

fn settings(args: &RolloutArgs) -> Result<Settings, Error> {
    let flags = ConfigFile {
        stack: args.stack.clone(),
        workdir: args.workdir.clone(),
        layout: args.layout,
        ..Default::default()
    };
    let first = ConfigFile::settings(args.config.as_deref(), flags)?;
    // The last build's release and max_active_keys, so the render matches it.
    if !first.workdir.join(build_record::FILE).is_file() {
        return Ok(first);
    }
    let record = BuildRecord::load(&first.workdir)?;
    if record.stack != first.stack {
        return Err(Error::InvalidValue {
            name: "--stack",
            value: first.stack.clone(),
            reason: format!(
                "the work directory {} was built for stack {}",
                first.workdir.display(),
                record.stack
            ),
        });
    }
    let flags = ConfigFile {
        stack: args.stack.clone(),
        workdir: Some(first.workdir.clone()),
        layout: args.layout,
        release: Some(record.release),
        max_active_keys: Some(record.max_active_keys),
        ..Default::default()
    };
    ConfigFile::settings(args.config.as_deref(), flags)
}

/// `overcloud-keys rollout`.
pub fn run(args: RolloutArgs) -> Result<Outcome, Error> {
    let settings = settings(&args)?;
    if let Some(other) = &settings.keys_from {
        // The keys are another stack's: rotating them here would leave that stack's nodes
        // (and every other stack sharing them) a rotation behind, and the next rotation
        // would make primary a key they never received.
        return Err(Error::InvalidValue {
            name: "keys_from",
            value: other.clone(),
            reason: format!(
                "stack {} renders stack {other}'s keys and never rotates them: a rollout would leave the nodes of the other stacks sharing them a rotation behind; rotate them in stack {other}'s work directory (`overcloud-keys fernet rotate`), then build and deploy every stack sharing them (`overcloud-keys verify` with each stack's --config shows whether their nodes agree); nothing was changed",
                settings.stack
            ),
        });
    }
    let target = target(&args.ssh, &settings)?;
    let fernet = WorkdirLayout::new(&settings.workdir).fernet;
    let chosen = build_record::rotation_max_active_keys(&fernet, None)?;
    let opts = RolloutOptions {
        limits: Limits {
            expiration: args.expiration,
            allow_expired_window: args.allow_expired_window,
            max_active_keys: chosen.value,
        },
        max_active_keys_source: chosen.describe(),
        force: args.force,
        dry_run: args.dry_run,
        now: super::plan::now(),
    };
    let report = rollout::rollout(&target, &settings, &opts)?;
    let code = code(&report);
    Ok(Outcome {
        text: text(&report, &settings.workdir),
        json: serde_json::to_value(&report).expect("report serializes"),
        warning: warning(&report),
        code,
    })
}

/// The exit code of a rollout report.
pub fn code(report: &RolloutReport) -> u8 {
    match report.status {
        RolloutStatus::RolledOut | RolloutStatus::DryRun => 0,
        RolloutStatus::Refused => {
            let has = |s: NodeStatus| report.verify.nodes.iter().any(|n| n.status == s);
            if has(NodeStatus::InventoryProblem) {
                EXIT_ERROR
            } else if has(NodeStatus::Unreachable) {
                EXIT_REMOTE
            } else if report.verify.findings.is_empty() {
                EXIT_ERROR
            } else {
                EXIT_FINDINGS
            }
        }
        RolloutStatus::RenderFailed => EXIT_ERROR,
        RolloutStatus::Failed => {
            if report.failure.as_ref().is_some_and(|f| f.unreachable) {
                EXIT_REMOTE
            } else {
                EXIT_ERROR
            }
        }
    }
}

fn warning(report: &RolloutReport) -> Option<String> {
    let mut all: Vec<String> = report.overridden.clone();
    if let Some(r) = &report.rotation {
        all.extend(r.warnings.iter().cloned());
    }
    if let Some(restore) = &report.restore {
        for n in restore.nodes.iter().filter(|n| !n.ok) {
            all.push(format!(
                "node {} could NOT be put back and may hold the rotated keys the work directory no longer has ({}); run `overcloud-keys verify` and fix it by hand or with `adopt --from-node`",
                n.node,
                n.error.as_deref().unwrap_or("")
            ));
        }
        if let Some(e) = &restore.workdir_error {
            all.push(format!("the work directory could NOT be restored: {e}"));
        }
    }
    (!all.is_empty()).then(|| all.join("\nWARNING: "))
}

fn text(report: &RolloutReport, workdir: &Path) -> String {
    let mut out = format!(
        "work directory {}; repository {}\n",
        workdir.display(),
        report.repository.display()
    );
    out.push_str(&preflight_text(report));
    for o in &report.overridden {
        out.push_str(&format!("{o}\n"));
    }
    if let Some(why) = &report.refused {
        out.push_str(&format!("REFUSED: {why}\n"));
        return out;
    }
    if let Some(r) = &report.rotation {
        out.push_str(&rotation_text(r, report.status == RolloutStatus::DryRun));
    }
    for s in &report.nodes {
        out.push_str(&format!("  {:<28} {}\n", s.node, node_action(s)));
    }
    if let Some(f) = &report.failure {
        out.push_str(&format!(
            "rollout FAILED on node {} ({}): {}\n",
            f.node, f.step, f.message
        ));
    }
    if let Some(restore) = &report.restore {
        out.push_str(&restore_text(restore));
        return out;
    }
    out.push_str(&status_text(report));
    out.push_str(&format!("{}\n", report.why_safe));
    out
}

/// The pre-flight verify, node by node, and its findings.
fn preflight_text(report: &RolloutReport) -> String {
    let mut out = String::new();
    out.push_str("pre-flight verify:\n");
    for n in &report.verify.nodes {
        out.push_str(&format!(
            "  {:<28} {:<24} {}\n",
            n.node,
            n.address,
            match n.status {
                NodeStatus::Match => "match",
                NodeStatus::Drift => "DRIFT",
                NodeStatus::Unreachable => "UNREACHABLE",
                NodeStatus::InventoryProblem => "INVENTORY PROBLEM",
            }
        ));
    }
    for f in &report.verify.findings {
        out.push_str(&finding_line(f));
    }
    out
}

/// What the rotation did (or would do) to the work directory's keys.
fn rotation_text(r: &Rotation, dry_run: bool) -> String {
    format!(
        "{} Fernet keys: {:?} -> {:?}; the staged key 0 becomes primary {}; the old primary {} {}; a new key 0 is staged; pruned {:?}\n{}\n",
        if dry_run { "would rotate" } else { "rotated" },
        r.before,
        r.after,
        r.new_primary,
        r.old_primary,
        if r.after.contains(&r.old_primary) {
            "stays as a secondary"
        } else {
            "is pruned"
        },
        r.pruned,
        r.max_active_keys
    )
}

/// One node's line of the push.
fn node_action(s: &NodeStep) -> String {
    match s.action {
        "would-update" => "would push the rotated keys (one node at a time)".to_string(),
        "updated" => format!(
            "updated and confirmed by its fingerprints{}{}",
            s.container
                .as_ref()
                .map(|e| format!(" (host and {e} container)"))
                .unwrap_or_default(),
            s.selinux
                .as_ref()
                .map(|t| format!("; SELinux: labeled {t}"))
                .unwrap_or_default()
        ),
        "failed" => format!("FAILED: {}", s.error.as_deref().unwrap_or("")),
        other => other.to_string(),
    }
}

/// How the nodes and the work directory were put back after a failure.
fn restore_text(restore: &Restore) -> String {
    let mut out = String::new();
    for n in &restore.nodes {
        out.push_str(&format!(
            "  {:<28} {}\n",
            n.node,
            if n.unchanged {
                "unchanged: still holds the previous keys (confirmed)".to_string()
            } else if n.ok {
                "restored: holds the previous keys again (confirmed)".to_string()
            } else {
                format!(
                    "NOT restored: {}",
                    n.error.as_deref().unwrap_or("unknown error")
                )
            }
        ));
    }
    out.push_str(&if restore.workdir {
        "work directory restored: it holds the previous keys again; nothing to deploy\n".to_string()
    } else {
        format!(
            "work directory NOT restored: {}\n",
            restore.workdir_error.as_deref().unwrap_or("")
        )
    });
    out
}

/// The last line for how the rollout ended.
fn status_text(report: &RolloutReport) -> String {
    let mut out = String::new();
    match report.status {
        RolloutStatus::DryRun => {
            out.push_str("dry run: nothing was changed; then `build` would render fernet.yaml with the rotated keys so the next deploy keeps them\n");
        }
        RolloutStatus::RolledOut => {
            if let Some(r) = &report.render {
                out.push_str(&format!(
                    "rendered {} ({:?}) with the rotated keys: the next deploy keeps them (deploy with: {})\n",
                    r.fernet_yaml.display(),
                    r.action,
                    r.deploy_args.join(" ")
                ));
            }
        }
        RolloutStatus::RenderFailed => {
            out.push_str(&format!(
                "every node and the work directory hold the rotated keys, but fernet.yaml was NOT rendered ({}): run `overcloud-keys build` before the next deploy, or the deploy puts the old keys back\n",
                report.render_error.as_deref().unwrap_or("")
            ));
        }
        _ => {}
    }
    out
}
