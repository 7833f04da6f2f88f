//! `verify` with several stacks (`--stack A --stack B`, or one `--config` per stack):
//! resolving each stack's settings, and the text report around the per-stack ones.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::nodes::{VerifyArgs, finding_line, target, verify_code, verify_text};
use super::output::{EXIT_ERROR, EXIT_FINDINGS, EXIT_REMOTE, Outcome};
use overcloud_keys::Error;
use overcloud_keys::config::{ConfigFile, Settings};
use overcloud_keys::nodes::stacks::{self, MultiReport, StackTarget, key_workdir};

/// `overcloud-keys verify` with more than one stack.
pub fn verify(args: VerifyArgs) -> Result<Outcome, Error> {
    if args.workdir.is_some() || args.ssh.inventory.is_some() {
        return Err(Error::InvalidValue {
            name: "--workdir/--inventory",
            value: "given with several stacks".into(),
            reason: "each stack uses its own work directory (~/overcloud-keys/<stack>, or the workdir of its --config) and inventory (~/overcloud-deploy/<stack>/tripleo-ansible-inventory.yaml, or --stack-inventory STACK=FILE)".into(),
        });
    }
    let mut all: Vec<Settings> = vec![];
    for config in &args.config {
        let settings = ConfigFile::settings(Some(config), layout_only(&args))?;
        if all.iter().any(|s| s.stack == settings.stack) {
            return Err(Error::InvalidValue {
                name: "--config",
                value: config.display().to_string(),
                reason: format!(
                    "stack {} is already given by another --config",
                    settings.stack
                ),
            });
        }
        all.push(settings);
    }
    for stack in &args.stack {
        if all.iter().any(|s| &s.stack == stack) {
            continue;
        }
        let flags = ConfigFile {
            stack: Some(stack.clone()),
            ..layout_only(&args)
        };
        all.push(ConfigFile::settings(None, flags)?);
    }
    let mut inventories = stack_inventories(&args.stack_inventory, &all)?;
    let targets = all
        .iter()
        .map(|s| {
            let mut target = target(&args.ssh, s)?;
            if let Some(path) = inventories.remove(&s.stack) {
                target.inventory = path;
            }
            Ok(StackTarget {
                stack: s.stack.clone(),
                target,
                key_workdir: key_workdir(&s.workdir, s.keys_from.as_deref()),
                keys_from: s.keys_from.clone(),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let report = stacks::verify_stacks(&targets)?;
    Ok(Outcome {
        text: text(&report),
        json: serde_json::to_value(&report).expect("report serializes"),
        warning: None,
        code: code(&report),
    })
}

/// `--stack-inventory STACK=FILE` values, each naming one of the stacks given.
fn stack_inventories(
    values: &[String],
    all: &[Settings],
) -> Result<BTreeMap<String, PathBuf>, Error> {
    let mut out = BTreeMap::new();
    for value in values {
        let bad = |reason: String| Error::InvalidValue {
            name: "--stack-inventory",
            value: value.clone(),
            reason,
        };
        let Some((stack, file)) = value
            .split_once('=')
            .filter(|(s, f)| !s.is_empty() && !f.is_empty())
        else {
            return Err(bad("expected STACK=FILE".into()));
        };
        if !all.iter().any(|s| s.stack == stack) {
            let known: Vec<&str> = all.iter().map(|s| s.stack.as_str()).collect();
            return Err(bad(format!(
                "{stack} is not one of the stacks given ({})",
                known.join(", ")
            )));
        }
        if out.insert(stack.to_string(), PathBuf::from(file)).is_some() {
            return Err(bad(format!("stack {stack} has two inventories")));
        }
    }
    Ok(out)
}

fn layout_only(args: &VerifyArgs) -> ConfigFile {
    ConfigFile {
        layout: args.layout,
        ..Default::default()
    }
}

/// The worst code of every stack (2 > 3 > 1), 1 for a cross-stack finding.
pub fn code(report: &MultiReport) -> u8 {
    let codes: Vec<u8> = report
        .stacks
        .iter()
        .map(|s| verify_code(&s.report))
        .chain((!report.findings.is_empty()).then_some(EXIT_FINDINGS))
        .collect();
    [EXIT_ERROR, EXIT_REMOTE, EXIT_FINDINGS]
        .into_iter()
        .find(|c| codes.contains(c))
        .unwrap_or(0)
}

fn text(report: &MultiReport) -> String {
    let mut out = String::new();
    for s in &report.stacks {
        let from = s
            .keys_from
            .as_ref()
            .map(|f| format!("; keys from stack {f}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "== stack {} (inventory {}{from})\n",
            s.stack,
            s.inventory.display()
        ));
        out.push_str(&verify_text(&s.report, &s.workdir));
    }
    out.push_str("== across stacks\n");
    for r in &report.relations {
        out.push_str(&format!("  {}\n", r.summary));
    }
    for f in &report.findings {
        out.push_str(&finding_line(f));
    }
    out.push_str(&format!(
        "{} stack(s); {}\n",
        report.stacks.len(),
        if report.ok {
            "every node of every stack matches its work directory and the stacks are consistent"
                .to_string()
        } else {
            let per_stack: usize = report.stacks.iter().map(|s| s.report.findings.len()).sum();
            format!(
                "{per_stack} node finding(s), {} cross-stack finding(s)",
                report.findings.len()
            )
        }
    ));
    out
}
