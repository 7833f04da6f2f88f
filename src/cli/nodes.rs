//! `verify` and the node side of `adopt --from-node`: flags, handlers and the text report.
#![allow(missing_docs)] // flattened arg groups carry their docs on their own fields

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use super::output::{EXIT_ERROR, EXIT_FINDINGS, EXIT_REMOTE, Outcome};
use overcloud_keys::Error;
use overcloud_keys::artifact::layout::{Layout, LayoutKind};
use overcloud_keys::config::{ConfigFile, Settings};
use overcloud_keys::nodes::stacks::key_workdir;
use overcloud_keys::nodes::transport::{self, Multiplex, SshOptions};
use overcloud_keys::nodes::verify::{Level, NodeFinding, NodeStatus, VerifyReport};
use overcloud_keys::nodes::{self, NodeError, Target};

/// Exit codes of the node commands, shown in their `--help`.
pub const NODE_EXIT_CODES: &str = "Exit codes:\n  0  every keystone node holds exactly the work directory's keys\n  1  drift: some node differs (the report names node, directory, key and fix); with several\n     stacks also: stacks sharing keys differ, or independent stacks hold a common key\n  2  usage error or bad input (inventory, work directory); nothing was changed\n  3  a node was unreachable or answered garbage (the others are still reported)";

/// How to find and reach the keystone nodes.
#[derive(Debug, Args)]
pub struct SshArgs {
    /// The stack's Ansible inventory (YAML).
    ///
    /// Default: ~/overcloud-deploy/<stack>/tripleo-ansible-inventory.yaml (OSP 17). On 16.2
    /// write one with `tripleo-ansible-inventory --static-yaml-inventory FILE`. Hosts come from
    /// the `keystone` service group (its role children) unless --role is given; ansible_host,
    /// ansible_port, ansible_user/ansible_ssh_user, ansible_ssh_private_key_file and
    /// ansible_ssh_common_args are honoured (host over group over all).
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Take hosts from this inventory group instead of `keystone` (repeatable).
    #[arg(long, value_name = "GROUP")]
    pub role: Vec<String>,
    /// Contact at most this many nodes at once. Default: 10.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub forks: usize,
    /// Seconds one node may take (connect, run, answer) before it counts as unreachable.
    ///
    /// Default: 60. ssh's own ConnectTimeout is the smaller of this and 10.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
    /// Keep each node's ssh connection open this many idle seconds for the next command
    /// (OpenSSH ControlMaster=auto, ControlPersist, as Ansible does by default); 0: off.
    ///
    /// Default: 60. The sockets live in $XDG_RUNTIME_DIR/overcloud-keys (else
    /// ~/.cache/overcloud-keys/ssh), a directory only you can open: while a connection is
    /// kept, your processes reach that node without authenticating again, as with Ansible. A
    /// node whose inventory sets ControlMaster, ControlPath or ControlPersist keeps its own.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub control_persist: u64,
}

/// `adopt --from-node` flags (flattened into `adopt`).
#[derive(Debug, Args)]
pub struct FromNodeArgs {
    /// Copy the Fernet and credential keys from this keystone node (inventory name).
    ///
    /// For clouds with no usable passwords file, or rotated in place by tripleo-ansible's
    /// rotate-fernet-keys playbook. First fingerprints every keystone node of the inventory
    /// (as `verify`); unless all are reached and hold the same repositories it refuses and
    /// prints the disagreement (exit 2; 3 when a node is unreachable). The keys travel over
    /// ssh, are validated as keystone reads them and written atomically (0600 files, 0700
    /// directories), then checked. The --replace-workdir and --dry-run rules of adopt apply.
    #[arg(long, value_name = "NODE", conflicts_with = "from")]
    pub from_node: Option<String>,
    #[command(flatten)]
    pub ssh: SshArgs,
}

/// `verify` flags.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// TOML config file (the one `build` uses): its stack, workdir, layout and keys_from apply.
    ///
    /// With keys_from the nodes are compared with that stack's work directory (a sibling of
    /// this one's, as `build` renders it). Repeat --config, one file per stack, to verify
    /// several stacks together (see --stack).
    #[arg(long, value_name = "FILE")]
    pub config: Vec<PathBuf>,
    /// Heat stack name. Default: overcloud.
    ///
    /// Repeat it (or --config) to verify several stacks together (multi-region): each with
    /// its own inventory (~/overcloud-deploy/<stack>/tripleo-ansible-inventory.yaml, or
    /// --stack-inventory) and work directory (~/overcloud-keys/<stack>, or its config's), so
    /// --workdir and --inventory are refused then. Stacks that share keys (one config's
    /// keys_from names the other) must hold the same keys on all their nodes; the others must
    /// have no key in common. A stack named by both --stack and a config's `stack` uses that
    /// config.
    #[arg(long)]
    pub stack: Vec<String>,
    /// With several stacks: one stack's inventory, as STACK=FILE (repeatable).
    ///
    /// Default for each stack: ~/overcloud-deploy/<stack>/tripleo-ansible-inventory.yaml (OSP
    /// 17); on 16.2 write one per stack with `tripleo-ansible-inventory
    /// --static-yaml-inventory FILE --stack STACK`. With one stack, use --inventory.
    #[arg(long, value_name = "STACK=FILE")]
    pub stack_inventory: Vec<String>,
    /// Work directory holding the expected keys. Default: ~/overcloud-keys/<stack>.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Where keys live on the nodes. Default: containerized
    /// (/var/lib/config-data/puppet-generated/keystone/etc/keystone, owner 42425); baremetal:
    /// /etc/keystone, owner 163.
    #[arg(long, value_enum)]
    pub layout: Option<LayoutKind>,
    #[command(flatten)]
    pub ssh: SshArgs,
}

impl VerifyArgs {
    /// More than one stack (`cli::stacks` handles those).
    pub fn several_stacks(&self) -> bool {
        self.config.len() > 1 || self.stack.len() > 1
    }
}

/// The nodes of `settings`' stack as `args` describe them.
pub fn target(args: &SshArgs, settings: &Settings) -> Result<Target, Error> {
    if args.forks == 0 || args.timeout == 0 {
        return Err(Error::InvalidValue {
            name: "--forks/--timeout",
            value: format!("{}/{}", args.forks, args.timeout),
            reason: "must be at least 1".into(),
        });
    }
    let inventory = match (&args.inventory, &settings.home) {
        (Some(path), _) => path.clone(),
        (None, Some(home)) => nodes::inventory::default_path(home, &settings.stack),
        (None, None) => {
            return Err(NodeError::Inventory {
                path: PathBuf::from("~/overcloud-deploy"),
                message: "HOME is not set".into(),
            }
            .into());
        }
    };
    Ok(Target {
        inventory,
        roles: args.role.clone(),
        layout: Layout::new(settings.layout),
        ssh: SshOptions {
            connect_timeout: args.timeout.min(10),
            timeout: Duration::from_secs(args.timeout),
            program: "ssh".into(),
            multiplex: multiplex(args.control_persist, settings.home.as_deref()),
        },
        forks: args.forks,
    })
}

/// Connection sharing for `persist` seconds, with its private socket directory.
fn multiplex(persist: u64, home: Option<&Path>) -> Option<Multiplex> {
    if persist == 0 {
        return None;
    }
    let base = match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(run) if run.is_absolute() && run.is_dir() => run.join("overcloud-keys"),
        _ => home?.join(".cache/overcloud-keys/ssh"),
    };
    Some(Multiplex {
        dir: transport::control_dir(&base)?,
        persist,
    })
}

/// `overcloud-keys verify` with one stack.
pub fn verify(args: VerifyArgs) -> Result<Outcome, Error> {
    if let Some(given) = args.stack_inventory.first() {
        return Err(Error::InvalidValue {
            name: "--stack-inventory",
            value: given.clone(),
            reason: "names one inventory among several stacks; with one stack use --inventory FILE"
                .into(),
        });
    }
    let settings = ConfigFile::settings(
        args.config.first().map(PathBuf::as_path),
        ConfigFile {
            stack: args.stack.into_iter().next(),
            workdir: args.workdir,
            layout: args.layout,
            ..Default::default()
        },
    )?;
    let target = target(&args.ssh, &settings)?;
    let workdir = key_workdir(&settings.workdir, settings.keys_from.as_deref());
    let report = nodes::verify(&target, &workdir)?;
    Ok(Outcome {
        text: verify_text(&report, &workdir),
        json: serde_json::to_value(&report).expect("report serializes"),
        warning: None,
        code: verify_code(&report),
    })
}

/// 2 an inventory problem, 3 an unreachable node, 1 drift, 0 all match.
pub fn verify_code(report: &VerifyReport) -> u8 {
    let has = |s: NodeStatus| report.nodes.iter().any(|n| n.status == s);
    if has(NodeStatus::InventoryProblem) {
        EXIT_ERROR
    } else if has(NodeStatus::Unreachable) {
        EXIT_REMOTE
    } else if !report.findings.is_empty() {
        EXIT_FINDINGS
    } else {
        0
    }
}

/// The single-stack text report.
pub fn verify_text(report: &VerifyReport, workdir: &Path) -> String {
    let mut out = format!("work directory {}\n", workdir.display());
    for n in &report.nodes {
        let status = match n.status {
            NodeStatus::Match => "match".to_string(),
            NodeStatus::Drift => "DRIFT".to_string(),
            NodeStatus::Unreachable => "UNREACHABLE".to_string(),
            NodeStatus::InventoryProblem => "INVENTORY PROBLEM".to_string(),
        };
        let keys: Vec<String> = n
            .keys
            .iter()
            .map(|(dir, names)| format!("{dir} [{}]", names.join(" ")))
            .collect();
        out.push_str(&format!("  {:<28} {:<24} {status}", n.node, n.address));
        if !keys.is_empty() {
            out.push_str(&format!(": {}", keys.join(", ")));
        }
        if let Some(engine) = &n.container {
            out.push_str(&format!(" (+{engine} container)"));
        }
        out.push('\n');
    }
    for f in &report.findings {
        out.push_str(&finding_line(f));
    }
    let reached = report
        .nodes
        .iter()
        .filter(|n| matches!(n.status, NodeStatus::Match | NodeStatus::Drift))
        .count();
    out.push_str(&format!(
        "{} of {} node(s) reached; {}; {}\n",
        reached,
        report.nodes.len(),
        if report.nodes_agree {
            "the reached nodes agree with each other"
        } else {
            "the nodes DISAGREE with each other"
        },
        if report.ok {
            "all match the work directory".to_string()
        } else {
            format!("{} finding(s)", report.findings.len())
        }
    ));
    out
}

/// One finding: level, code, node place dir/key, message, fix. Never key material.
pub fn finding_line(f: &NodeFinding) -> String {
    let level = match f.level {
        Level::Critical => "CRITICAL",
        Level::Error => "ERROR",
        Level::Warning => "WARNING",
    };
    let mut at = vec![];
    if !f.node.is_empty() {
        at.push(f.node.clone());
    }
    if let Some(place) = f.place {
        at.push(place.to_string());
    }
    match (&f.dir, &f.key) {
        (Some(d), Some(k)) => at.push(format!("{d}/{k}")),
        (Some(d), None) => at.push(d.clone()),
        _ => {}
    }
    format!(
        "{level} {} {}: {} (fix: {})\n",
        f.code,
        at.join(" "),
        f.message,
        f.fix
    )
}

/// `adopt --from-node NODE`: the nodes' agreement first, then the copy.
pub fn adopt_from_node(
    from: &str,
    args: &SshArgs,
    settings: &Settings,
    opts: &overcloud_keys::adopt::AdoptOptions,
) -> Result<overcloud_keys::adopt::AdoptReport, Error> {
    let target = target(args, settings)?;
    nodes::adopt_from_node(&target, from, opts)
}
