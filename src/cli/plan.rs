//! `plan`, `switch`, `repo manifest`, `repo check --against` and the guarded `rotate`:
//! arguments and the turning of library results into [`Outcome`]s (the binary prints them).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::cli::output::Outcome;
use overcloud_keys::check::{self, CheckOptions, Finding, RepoKind, RepoReport};
use overcloud_keys::error::{Error, Result};
use overcloud_keys::format::Format;
use overcloud_keys::fsutil::{self, PUBLIC_FILE_MODE};
use overcloud_keys::plan::cutover::{self, Provider, Status, Target};
use overcloud_keys::plan::keystone_conf::KeystoneConf;
use overcloud_keys::plan::manifest;
use overcloud_keys::plan::record::{GuardedRotation, Verdict};
use overcloud_keys::plan::rotation::{
    self, KEYSTONE_MAX_ACTIVE_KEYS, Limits, TRIPLEO_MAX_ACTIVE_KEYS, human, utc,
};
use overcloud_keys::plan::runbook::{self, EnvFile};

/// Exit code of a plan that found a problem (unsafe schedule, failed pre-flight).
const EXIT_PROBLEMS: u8 = 1;

/// Plan subcommands (they write nothing).
#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Is a Fernet rotation schedule safe for the token lifetime? What breaks if not?
    ///
    /// Applies `max_active_keys >= (expiration + allow_expired_window) / interval + 2`:
    /// prints the shortest safe interval for the key count and, with --interval, whether
    /// that schedule is safe, the smallest safe key count, and which tokens die early and by
    /// how much. Exit 1 when the --interval given is unsafe.
    #[command(after_help = crate::cli::output::EXIT_CODES)]
    Rotation(RotationArgs),
    /// The Fernet <-> JWS cutover runbook, with pre-flight checks; writes nothing.
    ///
    /// Same checks and runbook as `overcloud-keys switch`, with the two environment files
    /// shown inline. `-f table` and `-f markdown` print Markdown, `-f json` the runbook as
    /// data. Exit 1 when a pre-flight check failed.
    #[command(after_help = crate::cli::output::EXIT_CODES)]
    Cutover(CutoverArgs),
}

/// `plan rotation`.
#[derive(Debug, Args)]
pub struct RotationArgs {
    /// Read [token] expiration, [token] allow_expired_window and [fernet_tokens]
    /// max_active_keys from this keystone.conf.
    ///
    /// Flags override what the file says; settings the file leaves out take keystone's
    /// defaults (3600, 172800, 3). A file keystone would refuse is an error naming the line.
    #[arg(long, value_name = "FILE")]
    pub keystone_conf: Option<PathBuf>,
    /// `[token] expiration`, seconds. Default: keystone.conf, else 3600.
    #[arg(long, value_name = "S")]
    pub expiration: Option<u64>,
    /// `[token] allow_expired_window`, seconds. Default: keystone.conf, else 172800 (48 h).
    #[arg(long, value_name = "S")]
    pub allow_expired_window: Option<u64>,
    /// Keys kept, staged key included. Default: keystone.conf (else keystone's 3), or
    /// without --keystone-conf TripleO's KeystoneFernetMaxActiveKeys default 5.
    #[arg(long, value_name = "N")]
    pub max_active_keys: Option<usize>,
    /// The rotation interval to judge: 16h, 1d, 90m, 3600s, 1d12h or plain seconds.
    ///
    /// Default: none (only the shortest safe interval is printed).
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
}

/// Arguments shared by `plan cutover` and `switch`.
#[derive(Debug, Args)]
pub struct CutoverArgs {
    /// The token provider to switch to: jws or fernet.
    #[arg(long, value_enum)]
    pub to: Provider,
    /// Work directory of `overcloud-keys build` (keys, artifacts, environment files).
    ///
    /// Default: ~/overcloud-keys/<stack>.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Heat stack name. Default: overcloud.
    #[arg(long, default_value = "overcloud")]
    pub stack: String,
    /// Roles running keystone (`<Role>ExtraConfig`), repeatable. Default: Controller.
    #[arg(long = "role", value_name = "ROLE", default_value = "Controller")]
    pub roles: Vec<String>,
    /// Where `build` staged the artifact. Default: <workdir>/artifacts.
    #[arg(long, value_name = "DIR")]
    pub artifact_dir: Option<PathBuf>,
}

/// `switch` arguments.
#[derive(Debug, Args)]
pub struct SwitchArgs {
    #[command(flatten)]
    /// What to switch to, and where build left its files.
    pub cutover: CutoverArgs,
}

/// Runs a plan subcommand.
pub fn run_plan(cmd: PlanCommand, _format: Format) -> Result<Outcome> {
    match cmd {
        PlanCommand::Rotation(args) => plan_rotation(args),
        PlanCommand::Cutover(args) => {
            let (target, preflight) = prepare(&args)?;
            let env = |p: Provider| -> Result<EnvFile> {
                Ok(EnvFile {
                    path: target.workdir.join(p.env_file()),
                    action: None,
                    text: cutover::render_provider(
                        p,
                        &target.stack,
                        &target.roles,
                        preflight.separate_receipts,
                    )?,
                })
            };
            let book = runbook::compose(
                &target,
                &preflight,
                env(target.to)?,
                env(target.to.other())?,
            );
            let mut out = Outcome::ok(
                runbook::markdown(&book, true),
                serde_json::to_value(&book).expect("runbook serializes"),
            );
            if !book.ready {
                out.code = EXIT_PROBLEMS;
                out.warning = Some(format!("pre-flight failed:\n{}", preflight.failures()));
            }
            Ok(out)
        }
    }
}

/// Runs switch: pre-flight, then writes the flip and rollback environments (public, 0644)
/// and prints the runbook. Nothing is written when a pre-flight check fails.
pub fn run_switch(args: SwitchArgs, _format: Format) -> Result<Outcome> {
    let (target, preflight) = prepare(&args.cutover)?;
    if !preflight.ready() {
        return Err(Error::Preflight(preflight.failures()));
    }
    let mut envs = vec![];
    for p in [target.to, target.to.other()] {
        let text =
            cutover::render_provider(p, &target.stack, &target.roles, preflight.separate_receipts)?;
        let path = target.workdir.join(p.env_file());
        let action = fsutil::write_if_changed(&path, text.as_bytes(), PUBLIC_FILE_MODE, false)?;
        envs.push(EnvFile {
            path,
            action: Some(action),
            text,
        });
    }
    let rollback = envs.pop().expect("two environments");
    let flip = envs.pop().expect("two environments");
    let book = runbook::compose(&target, &preflight, flip, rollback);
    let mut out = Outcome::ok(
        runbook::markdown(&book, false),
        serde_json::to_value(&book).expect("runbook serializes"),
    );
    let warnings: Vec<String> = preflight
        .checks
        .iter()
        .filter(|c| c.status == Status::Warning)
        .map(|c| format!("{}: {}", c.code, c.detail))
        .collect();
    if !warnings.is_empty() {
        out.warning = Some(warnings.join("\nWARNING: "));
    }
    Ok(out)
}

fn prepare(args: &CutoverArgs) -> Result<(Target, cutover::Preflight)> {
    let workdir = args
        .workdir
        .clone()
        .unwrap_or_else(|| cutover::default_workdir(&args.stack));
    let target = Target {
        artifact_dir: args
            .artifact_dir
            .clone()
            .unwrap_or_else(|| cutover::default_artifact_dir(&workdir)),
        workdir,
        stack: args.stack.clone(),
        roles: args.roles.clone(),
        to: args.to,
    };
    let preflight = cutover::preflight(&target)?;
    Ok((target, preflight))
}

fn plan_rotation(args: RotationArgs) -> Result<Outcome> {
    let (limits, sources) = rotation_limits(&args)?;
    let (expiration, window, max_active_keys) = (
        limits.expiration,
        limits.allow_expired_window,
        limits.max_active_keys,
    );
    let [expiration_src, window_src, keys_src] = sources;
    let interval = args
        .interval
        .as_deref()
        .map(rotation::parse_duration)
        .transpose()?;
    let life = limits.token_life() as u64;
    let shortest = limits.shortest_safe_interval();
    let mut text = format!(
        "settings: expiration {expiration} s ({expiration_src}), allow_expired_window {window} s ({window_src}), max_active_keys {max_active_keys} ({keys_src})\n\
         rule: max_active_keys >= (expiration + allow_expired_window) / interval + 2, i.e. ({max_active_keys} - 2) x interval >= {life} s\n"
    );
    text.push_str(&match shortest {
        Some(s) => format!(
            "shortest safe interval for {max_active_keys} keys: {s} s ({}, {:.2} h)\n",
            human(s),
            s as f64 / 3600.0
        ),
        None => format!(
            "no interval is safe with {max_active_keys} keys: the previous primary is deleted by the rotation that retires it; use at least 3\n"
        ),
    });
    let mut json = json!({
        "expiration": expiration,
        "allow_expired_window": window,
        "max_active_keys": max_active_keys,
        "sources": {"expiration": expiration_src, "allow_expired_window": window_src, "max_active_keys": keys_src},
        "token_life": life,
        "rule": "max_active_keys >= (expiration + allow_expired_window) / interval + 2",
        "shortest_safe_interval": shortest,
        "shortest_safe_interval_human": shortest.map(human),
        "interval": interval,
        "safe": null,
        "smallest_safe_max_active_keys": null,
        "violation": null,
    });
    let mut code = 0;
    if let Some(r) = interval {
        let min_keys = rotation::smallest_safe_max_active_keys(expiration, window, r);
        json["safe"] = json!(limits.is_safe(r));
        json["smallest_safe_max_active_keys"] = json!(min_keys);
        match limits.violation(r) {
            None => text.push_str(&format!(
                "interval {} ({r} s): safe; {min_keys} keys would be enough for it\n",
                human(r)
            )),
            Some(v) => {
                code = EXIT_PROBLEMS;
                text.push_str(&format!(
                    "interval {} ({r} s): UNSAFE; it needs max_active_keys >= {min_keys}{}\n",
                    human(r),
                    shortest
                        .map(|s| format!(", or an interval of at least {}", human(s)))
                        .unwrap_or_default()
                ));
                text.push_str(&violation_text(&v, r));
                json["violation"] = serde_json::to_value(&v).expect("violation serializes");
            }
        }
    }
    let (table, by_count) = by_key_count(&limits);
    text.push_str(&by_count);
    text.push_str("note: on TripleO a rotation reaches the nodes only with the next deploy (rotate, build, deploy): the interval that counts is between deploys that deliver rotated keys, and each rotation should be deployed before the next, so the nodes' staged key is the next primary.\n");
    json["by_max_active_keys"] = json!(table);
    let mut out = Outcome::ok(text, json);
    out.code = code;
    Ok(out)
}

/// The limits `plan rotation` judges, each with where it came from: a flag, else the
/// keystone.conf given, else keystone's (or with no keystone.conf, TripleO's) default.
fn rotation_limits(args: &RotationArgs) -> Result<(Limits, [String; 3])> {
    let conf = args
        .keystone_conf
        .as_deref()
        .map(KeystoneConf::load)
        .transpose()?;
    let from_conf = |section: &str, key: &str, min: u64| -> Result<Option<(u64, String)>> {
        let Some(conf) = &conf else { return Ok(None) };
        Ok(conf.int(section, key, min)?.map(|v| {
            (
                v.value,
                format!("{} line {}", conf.path().display(), v.line),
            )
        }))
    };
    let pick = |flag: Option<u64>,
                flag_name: &str,
                file: Option<(u64, String)>,
                default: (u64, String)| match (flag, file) {
        (Some(v), _) => (v, flag_name.to_string()),
        (None, Some(found)) => found,
        (None, None) => default,
    };
    // Read every setting from the file first, so a bad value is reported even when a flag
    // overrides it: keystone would still refuse to start with that file.
    let conf_expiration = from_conf("token", "expiration", 0)?;
    let conf_window = from_conf("token", "allow_expired_window", 0)?;
    let conf_keys = from_conf("fernet_tokens", "max_active_keys", 1)?;
    let (expiration, expiration_src) = pick(
        args.expiration,
        "--expiration",
        conf_expiration,
        (rotation::DEFAULT_EXPIRATION, "keystone default".into()),
    );
    let (window, window_src) = pick(
        args.allow_expired_window,
        "--allow-expired-window",
        conf_window,
        (
            rotation::DEFAULT_ALLOW_EXPIRED_WINDOW,
            "keystone default".into(),
        ),
    );
    let (keys, keys_src) = pick(
        args.max_active_keys.map(|n| n as u64),
        "--max-active-keys",
        conf_keys,
        if conf.is_some() {
            (KEYSTONE_MAX_ACTIVE_KEYS as u64, "keystone default".into())
        } else {
            (
                TRIPLEO_MAX_ACTIVE_KEYS as u64,
                "TripleO KeystoneFernetMaxActiveKeys default".into(),
            )
        },
    );
    let max_active_keys = usize::try_from(keys).unwrap_or(usize::MAX);
    overcloud_keys::keys::repo::validate_max_active_keys(max_active_keys)?;
    let limits = Limits {
        expiration,
        allow_expired_window: window,
        max_active_keys,
    };
    Ok((limits, [expiration_src, window_src, keys_src]))
}

/// What an unsafe interval `r` breaks, in words.
fn violation_text(v: &rotation::Violation, r: u64) -> String {
    let mut text = String::new();
    let who = if v.affected_issue_window >= r {
        "Every token becomes".to_string()
    } else {
        format!(
            "Tokens issued in the last {} before each rotation ({:.1}% of tokens) become",
            human(v.affected_issue_window),
            v.affected_fraction * 100.0
        )
    };
    text.push_str(&format!(
        "what breaks: each key is deleted {} too early. {who} undecryptable up to {} before the end of their allow_expired_window{}.\n",
        human(v.deficit),
        human(v.early_by_max),
        if v.early_by_min > 0 {
            format!(" (even the first token of each key loses {})", human(v.early_by_min))
        } else {
            String::new()
        }
    ));
    text.push_str(&match &v.valid_tokens {
        Some(d) => format!(
            "valid tokens die: tokens issued in the last {} before each rotation are rejected (401) up to {} before they expire.\n",
            human(d.issue_window),
            human(d.before_expiry_max)
        ),
        None => "no token dies before its own expiry: what fails is work that relies on allow_expired_window (services validating expired tokens for long-running operations).\n".into(),
    });
    text
}

/// The shortest safe interval for 3 to 8 keys: the JSON rows and the text line.
fn by_key_count(limits: &Limits) -> (Vec<serde_json::Value>, String) {
    let table: Vec<serde_json::Value> = (3..=8)
        .map(|n| {
            let l = Limits {
                max_active_keys: n,
                ..*limits
            };
            json!({"max_active_keys": n, "shortest_safe_interval": l.shortest_safe_interval()})
        })
        .collect();
    let line = format!(
        "shortest safe interval by key count: {}\n",
        table
            .iter()
            .map(|row| format!(
                "{}: {}",
                row["max_active_keys"],
                row["shortest_safe_interval"]
                    .as_u64()
                    .map(human)
                    .unwrap_or_default()
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    (table, line)
}

/// Current time, Unix seconds.
pub use overcloud_keys::clock::now;

/// Adds the guard's result to the `rotate` outcome the binary built.
pub fn guarded_rotate_outcome(mut out: Outcome, g: &GuardedRotation, limits: &Limits) -> Outcome {
    let next = match &g.next {
        Verdict::Safe { pruned: None } => {
            "the next rotation deletes no key: it is safe any time (deploy each rotation before the next)".to_string()
        }
        Verdict::Safe { pruned: Some(_) } => "the next rotation is safe now".to_string(),
        Verdict::Unsafe { safe_at, .. } => format!(
            "the next safe rotation is at {} (in {}, for max_active_keys {}, expiration + allow_expired_window {} s)",
            utc(*safe_at),
            human(safe_at.saturating_sub(now())),
            limits.max_active_keys,
            limits.token_life()
        ),
        Verdict::Unknown { .. } => "the next rotation cannot be checked: no record of the keys it would delete".into(),
    };
    out.text.push_str(&format!("{next}\n"));
    out.json["guard"] = serde_json::to_value(&g.verdict).expect("verdict serializes");
    out.json["next_rotation"] = serde_json::to_value(&g.next).expect("verdict serializes");
    out.json["next_safe_rotation"] = match &g.next {
        Verdict::Unsafe { safe_at, .. } => json!(utc(*safe_at)),
        Verdict::Safe { .. } => json!("now"),
        Verdict::Unknown { .. } => json!(null),
    };
    out.json["warnings"] = json!(g.warnings);
    if !g.warnings.is_empty() {
        let mut all: Vec<String> = out.warning.take().into_iter().collect();
        all.extend(g.warnings.iter().cloned());
        out.warning = Some(all.join("\nWARNING: "));
    }
    out
}

/// `repo manifest DIR...`: fingerprints only.
pub fn run_manifest(
    dirs: &[PathBuf],
    kind: Option<RepoKind>,
    node: Option<String>,
) -> Result<Outcome> {
    let opts = CheckOptions::full();
    let reports = dirs
        .iter()
        .map(|d| check::check_path(d, kind, &opts))
        .collect::<Result<Vec<_>>>()?;
    let node = node.unwrap_or_else(manifest::host_name);
    let m = manifest::from_reports(&node, &reports);
    let mut text = format!("node {node}\n");
    for r in &m.repositories {
        text.push_str(&format!(
            "{} ({}): {}\n",
            r.path.display(),
            r.kind,
            if r.keys.is_empty() {
                "no valid keys".to_string()
            } else {
                r.keys
                    .iter()
                    .map(|k| format!("{} {} {}", k.name, k.role, &k.sha256[..12]))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
    }
    let findings: usize = m.repositories.iter().map(|r| r.findings.len()).sum();
    let mut out = Outcome::ok(text, serde_json::to_value(&m).expect("manifest serializes"));
    if findings > 0 {
        out.warning = Some(format!(
            "{findings} repo check finding(s) recorded in the manifest; run `overcloud-keys repo check` here for details"
        ));
    }
    Ok(out)
}

/// `repo check DIR... --against MANIFEST...`: the nodes' reports (paths `node:/dir`) and the
/// out-of-sync findings, each naming the node.
pub fn against(local: &[RepoReport], files: &[PathBuf]) -> Result<(Vec<RepoReport>, Vec<Finding>)> {
    let manifests = files
        .iter()
        .map(|f| manifest::load(f).map(|m| (f.clone(), m)))
        .collect::<Result<Vec<_>>>()?;
    let cmp = manifest::compare_against(local, &manifests);
    Ok((cmp.nodes, cmp.out_of_sync))
}
