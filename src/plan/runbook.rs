//! The operator runbook of a token provider cutover, as data (for `-f json`) and as
//! Markdown (for people, `-f table` / `-f markdown`). Pure: pre-flight and environments in,
//! text out.
//!
//! The procedure never lets one load-balancer pool serve both providers (keystone runs one
//! provider at a time and each rejects the other's tokens): half the nodes are flipped while
//! drained, the pool is swapped to them in one change (the moment old tokens die), then the
//! rest are flipped one by one while drained and re-added. The drains are written for the
//! `haproxy-bundle` TripleO runs on its controllers (`plan::haproxy`).

use std::path::PathBuf;

use serde::Serialize;

use crate::artifact::Layout;
use crate::artifact::layout::dirs;
use crate::fsutil::WriteAction;
use crate::plan::cutover::{Check, Preflight, Provider, Status, Target};
use crate::plan::haproxy;

/// An environment file of the cutover.
#[derive(Debug, Clone, Serialize)]
pub struct EnvFile {
    /// Where it is (or would be) written.
    pub path: PathBuf,
    /// `written` / `unchanged` by `switch`; `None` for `plan cutover` (nothing written).
    pub action: Option<WriteAction>,
    /// Its content (no secrets).
    pub text: String,
}

/// A phase of the procedure.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// Title.
    pub title: String,
    /// Ordered steps.
    pub steps: Vec<String>,
}

/// A row of the validation matrix.
#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    /// What is checked.
    pub check: String,
    /// The command.
    pub command: String,
    /// Expected answer from a node on the new provider.
    pub on_new: String,
    /// Expected answer from a node still on the old provider.
    pub on_old: String,
}

/// The whole runbook.
#[derive(Debug, Clone, Serialize)]
pub struct Runbook {
    /// Current provider.
    pub from: Provider,
    /// Target provider.
    pub to: Provider,
    /// Heat stack.
    pub stack: String,
    /// Work directory.
    pub workdir: PathBuf,
    /// Roles running keystone.
    pub roles: Vec<String>,
    /// No pre-flight check failed.
    pub ready: bool,
    /// Pre-flight checks.
    pub preflight: Vec<Check>,
    /// The environment that flips the provider.
    pub flip: EnvFile,
    /// The environment that flips it back.
    pub rollback: EnvFile,
    /// What users and services see.
    pub impact: Vec<String>,
    /// Draining, checking and re-adding a node in TripleO's haproxy-bundle.
    pub load_balancer: Vec<String>,
    /// Node-by-node procedure.
    pub procedure: Vec<Phase>,
    /// Validation matrix.
    pub validation: Vec<Validation>,
    /// How to roll back.
    pub rollback_steps: Vec<String>,
    /// Everything else the operator must know.
    pub notes: Vec<String>,
}

fn name(p: Provider) -> &'static str {
    match p {
        Provider::Fernet => "Fernet",
        Provider::Jws => "JWS",
    }
}

/// What a keystone running `on` answers to a token of the other provider.
fn rejection(on: Provider) -> &'static str {
    match on {
        Provider::Jws => "404 \"Could not find token\"",
        Provider::Fernet => "404 \"Could not recognize Fernet token\"",
    }
}

fn shape(p: Provider) -> &'static str {
    match p {
        Provider::Jws => "starts with `eyJ`, about 400 characters",
        Provider::Fernet => "starts with `gAAAAA`, about 180 characters",
    }
}

/// Phase 0's planning step: what each `--limit` run costs. From python-tripleoclient
/// `tripleoclient/v1/overcloud_deploy.py` (master of 2021 and `stable/train`): `--limit`
/// "identifies a single node or comma-separated list of nodes the config-download Ansible
/// playbook execution will be limited to" (the stack update before it is not limited);
/// `--stack-only` and `--config-download-only` split the two halves.
fn limit_run() -> String {
    "Plan the window: each `--limit NODE` run is a full `openstack overcloud deploy`, a stack update, not a quick restart. `--limit` narrows only the config-download Ansible run (tripleoclient's help): the Heat stack update and the config-download of the whole overcloud run as in any deploy, then every deploy step (host prep, container-puppet for every service, steps 1-5) applies NODE's whole configuration, and every container on NODE whose configuration changed restarts (on a controller that can include pacemaker bundles such as haproxy-bundle). Expect each run to take about as long as a deploy of that node, often tens of minutes to more than an hour, and count one run per keystone node plus phase 4's deploy. Running the config-download `ansible-playbook ... --limit NODE` yourself is the same: NODE's full configuration. `--stack-only` once with the flip environment, then `--config-download-only --limit NODE` per node, saves repeating the stack update, not the node's steps. From the first run on the stack holds the flip environment for every node: that is why no other deploy may run until phase 4.".into()
}

/// `[fernet_receipts] key_repository` before and after flipping to `new`.
fn receipt_dirs(new: Provider) -> (String, String) {
    let (token, separate) = (
        Layout::keystone_path(dirs::FERNET),
        Layout::keystone_path(dirs::RECEIPT),
    );
    match new {
        Provider::Jws => (token, separate),
        Provider::Fernet => (separate, token),
    }
}

/// What MFA users see of receipts at the flip.
fn receipts_impact(new: Provider, separate: bool) -> String {
    if separate {
        let (before, after) = receipt_dirs(new);
        format!(
            "MFA receipts are Fernet under both providers, but at the flip keystone's `[fernet_receipts] key_repository` moves from `{before}` to `{after}`: a receipt issued by a node on one side of the flip is refused by a node on the other, so MFA logins in flight at the cut-over repeat their first factor."
        )
    } else {
        "MFA receipts are Fernet under both providers and keep the token key directory (`[fernet_receipts] key_repository` defaults to it): a receipt in flight survives the flip while every node has the same Fernet keys.".into()
    }
}

/// The receipt notes: keys unchanged during the flip, and what must stay afterwards.
fn receipts_notes(new: Provider, separate: bool, workdir: &std::path::Path) -> Vec<String> {
    if separate {
        return vec![format!(
            "Receipts are kept in a separate repository (`{}` on the nodes): MFA receipts in flight at the flip stay valid only if the receipt keys are the same on every node during the flip (receipts stay Fernet under both providers). Do not rotate the receipt keys during the cutover, and check in phase 0 that every node has the undercloud's (add `<keystone etc>/{r}` to the node's `repo manifest` and `{}/keys/{r}` to `repo check`).",
            Layout::keystone_path(dirs::RECEIPT),
            workdir.display(),
            r = dirs::RECEIPT,
        )];
    }
    match new {
        Provider::Jws => vec![format!(
            "Receipts share the token key directory (the default): JWS keystone still issues and validates MFA receipts with Fernet keys from `{}`. If you remove the Fernet token keys after the cutover, that repository must remain non-empty (JWS still needs Fernet receipt keys): keep fernet.yaml's KeystoneFernetKeys, or move receipts to their own repository first (`separate_receipts`, deployed before the keys go).",
            Layout::keystone_path(dirs::FERNET)
        )],
        Provider::Fernet => vec![],
    }
}

/// Builds the runbook.
pub fn compose(
    target: &Target,
    preflight: &Preflight,
    flip: EnvFile,
    rollback: EnvFile,
) -> Runbook {
    let (old, new) = (target.to.other(), target.to);
    let flip_path = flip.path.display().to_string();
    let rollback_path = rollback.path.display().to_string();
    let deploy = format!(
        "`openstack overcloud deploy <your usual arguments, with the -e files overcloud-keys build printed> -e {flip_path}`"
    );
    let keys_on_node = keys_on_node(target, preflight, new);
    let impact = impact(old, new, preflight.separate_receipts);
    let validation = validation_matrix(old, new);
    let procedure = procedure(target, old, new, &deploy, &flip_path, keys_on_node);
    let rollback_steps = rollback_steps(old, new, &flip_path, &rollback_path);
    let notes = notes(target, new, preflight.separate_receipts);
    Runbook {
        from: old,
        to: new,
        stack: target.stack.clone(),
        workdir: target.workdir.clone(),
        roles: target.roles.clone(),
        ready: preflight.ready(),
        preflight: preflight.checks.clone(),
        flip,
        rollback,
        impact,
        load_balancer: haproxy::section(&target.stack),
        procedure,
        validation,
        rollback_steps,
        notes,
    }
}

/// The check that the new provider's keys reached every keystone node (phase 0).
fn keys_on_node(target: &Target, preflight: &Preflight, new: Provider) -> String {
    match new {
        Provider::Jws => {
            let publics: Vec<String> = preflight
                .artifact
                .iter()
                .flat_map(|a| a.files.iter())
                .filter(|(p, s)| p.starts_with("jws-keys/public/") && !s.is_empty())
                .map(|(p, s)| {
                    format!(
                        "`{}...` for {}",
                        &s[..16.min(s.len())],
                        p.rsplit('/').next().unwrap_or(p)
                    )
                })
                .collect();
            format!(
                "On every {} node check that the JWS keys arrived: `sudo sha256sum <keystone etc>/jws-keys/public/*` shows {} and `sudo ls -ln <keystone etc>/jws-keys/private/private.pem` shows mode `-rw-------`, owner 42425 (containerized) or keystone (baremetal) (<keystone etc> is `/var/lib/config-data/puppet-generated/keystone/etc/keystone` on containerized nodes, `/etc/keystone` on baremetal). With overcloud-keys on the node: `overcloud-keys repo manifest <keystone etc>/jws-keys <keystone etc>/fernet-keys -f json > $(hostname).json`, then on the undercloud `overcloud-keys repo check {wd}/keys/jws-keys {wd}/keys/fernet-keys --against *.json`.",
                target.roles.join("/"),
                if publics.is_empty() {
                    "the public keys of the artifact".to_string()
                } else {
                    publics.join(", ")
                },
                wd = target.workdir.display(),
            )
        }
        Provider::Fernet => format!(
            "On every {} node check that the Fernet keys are the undercloud's: `overcloud-keys repo manifest <keystone etc>/fernet-keys -f json > $(hostname).json` there, then `overcloud-keys repo check {}/keys/fernet-keys --against *.json` here (or compare `sudo ls <keystone etc>/fernet-keys` with the undercloud's).",
            target.roles.join("/"),
            target.workdir.display()
        ),
    }
}

/// What the flip does to tokens, services and clients.
fn impact(old: Provider, new: Provider, separate_receipts: bool) -> Vec<String> {
    let (o, n) = (name(old), name(new));
    let mut impact = vec![
        format!(
            "At the flip every {o} token becomes invalid on the flipped keystone: validating a {o} token there (`X-Subject-Token`) gets {}, and every API request that carries one gets 401 (keystonemiddleware is told the token does not exist). Users authenticate again (dashboard sessions end, CLI and SDK clients re-authenticate when they can).",
            rejection(new)
        ),
        format!(
            "Services holding tokens (keystonemiddleware in nova, neutron, cinder, glance, ...) get 401 for their cached {o} tokens and re-authenticate with their service credentials: expect a burst of authentications and retried requests at the cut-over. Long-running operations that rely on `allow_expired_window` with a {o} token fail."
        ),
        "Trusts and application credentials survive: they are database objects, not tokens. Tokens made from them must be issued again (Heat, Magnum, Octavia and others do so through their trusts or credentials).".into(),
        "Revocation events live in the database and apply to both providers: revoked stays revoked.".into(),
        format!(
            "Mixed pools reject each other's tokens: while some nodes issue {n} tokens and others {o} tokens, a token from one is refused by the other ({} on a {n} node, {} on a {o} node). The procedure never puts both in the load-balancer pool at once.",
            rejection(new),
            rejection(old)
        ),
    ];
    impact.push(match new {
        Provider::Jws => "JWS tokens are about 412 characters (Fernet about 183) and each validation costs 100-700 µs of ECDSA verification instead of about 7 µs: check header size limits in front of the APIs and watch keystone's CPU.".into(),
        Provider::Fernet => "Fernet tokens are smaller (about 183 characters) and cheaper to validate; nothing to resize.".into(),
    });
    impact.push(receipts_impact(new, separate_receipts));
    impact
}

/// The validation matrix: each check, its command, and what each provider answers.
fn validation_matrix(old: Provider, new: Provider) -> Vec<Validation> {
    let (o, n) = (name(old), name(new));
    let validate = |node: &str| {
        format!(
            "`curl -s -o /dev/null -w '%{{http_code}}\\n' -H \"X-Auth-Token: $T\" -H \"X-Subject-Token: $T\" http://{node}:5000/v3/auth/tokens`"
        )
    };
    vec![
        Validation {
            check: "issue a token".into(),
            command: "`T=$(openstack --os-auth-url http://NODE:5000/v3 token issue -f value -c id)`".into(),
            on_new: format!("a {n} token: {}", shape(new)),
            on_old: format!("a {o} token: {}", shape(old)),
        },
        Validation {
            check: "validate it".into(),
            command: validate("NODE"),
            on_new: "200".into(),
            on_old: "200".into(),
        },
        Validation {
            check: "revoke it, validate again".into(),
            command: "`openstack --os-auth-url http://NODE:5000/v3 token revoke $T`, then row 2 with a fresh token as X-Auth-Token".into(),
            on_new: "404".into(),
            on_old: "404".into(),
        },
        Validation {
            check: format!("a {o} token issued before the flip"),
            command: "row 2 with that token as X-Subject-Token and a fresh token from NODE as X-Auth-Token".into(),
            on_new: rejection(new).into(),
            on_old: "200 (until it expires)".into(),
        },
        Validation {
            check: format!("the {n} token of row 1 at a node not yet flipped (phase 1 only)"),
            command: validate("OTHER_NODE"),
            on_new: "-".into(),
            on_old: format!("{}: this is why the pools never mix", rejection(old)),
        },
        Validation {
            check: "application credential".into(),
            command: "`openstack --os-auth-type v3applicationcredential --os-application-credential-id ID --os-application-credential-secret SECRET --os-auth-url http://NODE:5000/v3 token issue`".into(),
            on_new: format!("a {n} token"),
            on_old: format!("a {o} token"),
        },
        Validation {
            check: "services re-authenticated (after the cut-over, through the VIP)".into(),
            command: "`openstack compute service list`, `openstack network agent list`, `openstack volume service list`".into(),
            on_new: "every service up".into(),
            on_old: "-".into(),
        },
    ]
}

/// Phases 0-4 of the cut-over.
fn procedure(
    target: &Target,
    old: Provider,
    new: Provider,
    deploy: &str,
    flip_path: &str,
    keys_on_node: String,
) -> Vec<Phase> {
    let (o, n) = (name(old), name(new));
    let restart = "Restart: the deploy restarts the keystone container when its configuration changed; check for a fresh \"Up\" time with `sudo podman ps --filter name=keystone` (docker on OSP 13), or restart it yourself (`sudo podman restart keystone`; `sudo systemctl restart httpd` for baremetal keystone).";
    let drain = haproxy::drain_step();
    vec![
        Phase {
            title: "Phase 0: before you start (nothing changes)".into(),
            steps: vec![
                "Every pre-flight check above is `ok` or `warning`; confirm the `confirm` items.".into(),
                keys_on_node,
                format!("Split the keystone nodes ({}) into group A (about half, at least one) and group B (the rest). Group B alone serves while group A is flipped; group A alone serves after the cut-over until group B rejoins: size for it.", target.roles.join(", ")),
                format!("Have credentials that can authenticate directly against each node (`--os-auth-url http://NODE:5000/v3`, NODE = the node's internal API address). The flip deploy is {deploy} plus `--limit NODE`. Run no other deploy until phase 4 is done."),
                "Prepare the load balancer (see Load balancer): the haproxy admin socket at level admin on every controller, each keystone node's SERVER name noted, the drain commands tried on one node and undone.".into(),
                limit_run(),
            ],
        },
        Phase {
            title: format!("Phase 1: flip group A, one node at a time, while drained (users stay on {o})"),
            steps: vec![
                drain,
                format!("Flip it: {deploy} `--limit NODE` (the configuration steps run on that node only; a full stack update, see phase 0)."),
                haproxy::recheck_step(),
                restart.into(),
                "Validate directly against the drained node: rows 1-6 of the validation matrix.".into(),
                format!("Leave it drained: a {n} node in a pool of {o} nodes is a mixed pool."),
            ],
        },
        Phase {
            title: format!("Phase 2: the cut-over (the moment {o} tokens die)"),
            steps: vec![
                haproxy::swap_step(&target.stack),
                format!("Every {o} token is refused from now on; services re-authenticate. Watch keystone's and the services' logs for 401 storms that do not settle, and run row 7 of the matrix through the VIP."),
            ],
        },
        Phase {
            title: "Phase 3: flip group B, one node at a time (each already drained)".into(),
            steps: vec![
                format!("The node is already drained: flip it with {deploy} `--limit NODE`."),
                haproxy::recheck_step(),
                restart.into(),
                "Validate directly against it: rows 1-4 and 6.".into(),
                format!("Re-add it to the pool (the pool is all {n} now). {}", haproxy::ready_step()),
            ],
        },
        Phase {
            title: "Phase 4: finish".into(),
            steps: {
                let mut s = vec![
                    format!("Deploy once without `--limit`, same arguments and `-e {flip_path}`: Heat and every node agree; nothing restarts where nothing changed."),
                    match new {
                        Provider::Jws => format!("Keep `-e {flip_path}` on every later deploy (or set `jws = \"enable\"` / `build --jws`, whose deploy arguments then include jws.yaml): a deploy without it flips keystone back to Fernet."),
                        Provider::Fernet => format!("Keep `-e {flip_path}` on later deploys, or drop every JWS environment (Fernet is THT's default)."),
                    },
                ];
                s.push(match new {
                    Provider::Jws => "Keep the Fernet repositories and fernet.yaml on every deploy: they hold the credential keys and (unless separate) the receipt keys JWS still uses, and they make the rollback a pure configuration flip.".into(),
                    Provider::Fernet => "Keep the JWS keys in the artifact until Fernet is validated: they make the rollback a pure configuration flip. Removing them later from the tarball does not delete them from the nodes.".into(),
                });
                s
            },
        },
    ]
}

/// How to go back, before and after the cut-over.
fn rollback_steps(
    old: Provider,
    new: Provider,
    flip_path: &str,
    rollback_path: &str,
) -> Vec<String> {
    let (o, n) = (name(old), name(new));
    let mut rollback_steps = vec![
        format!(
            "Before phase 2 (users never saw {n}): for each flipped, still drained node deploy with `-e {rollback_path}` instead of `-e {flip_path}` and `--limit NODE`, restart, validate rows 1-3 ({o} tokens again), re-add it."
        ),
        format!(
            "After phase 2: run the same procedure the other way (`overcloud-keys plan cutover --to {old}`), or when speed matters more than a smooth cut, deploy once without `--limit` with `-e {rollback_path}` instead of `-e {flip_path}`: every node flips back in that deploy, {n} tokens get {}, services re-authenticate again.",
            rejection(old)
        ),
        format!(
            "The rollback needs nothing but that environment file: the {o} keys stayed in place. Do not remove them until the switch is validated."
        ),
    ];
    if old == Provider::Fernet {
        rollback_steps.push("Fernet tokens issued before the cut-over that have not expired validate again after a rollback (their keys never changed) unless they were revoked.".into());
    }
    rollback_steps
}

/// What the operator must know about the flip environment and the procedure.
fn notes(target: &Target, new: Provider, separate_receipts: bool) -> Vec<String> {
    let mut notes = vec![
        format!("The flip sets `keystone::token_provider` through `<Role>ExtraConfig` for {}: list every role that runs keystone with `--role`.", target.roles.join(", ")),
        "THT 18 accepts only `fernet` for KeystoneTokenProvider, so the provider is hieradata; with the `merge` strategy a `keystone::config::keystone_config` of your own in the same `<Role>ExtraConfig` is replaced by the flip environment's: merge yours into it.".into(),
        "`--limit` needs a tripleoclient whose `openstack overcloud deploy` has it (OSP 16.1 and later). Without it one deploy flips every node in the same run: skip the drains, expect the cut-over for everyone at once, validate through the VIP, and keep the rollback file at hand.".into(),
        "Rotate no keys (`fernet rotate`, `receipt rotate`, `jws rotate`) between phase 0 and the end of phase 4: each `--limit` run delivers keys to its node only, so a rotation in between leaves the nodes with different keys.".into(),
    ];
    notes.extend(receipts_notes(new, separate_receipts, &target.workdir));
    notes
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn status(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Failed => "FAILED",
        Status::Warning => "warning",
        Status::Confirm => "confirm",
    }
}

/// The runbook's pre-flight section: one table row per check (with its fix when it did
/// not pass), then whether the cutover is ready.
fn preflight_md(out: &mut String, r: &Runbook) {
    out.push_str("## Pre-flight\n\n| check | status | detail |\n|---|---|---|\n");
    for c in &r.preflight {
        let detail = match &c.fix {
            Some(fix) if c.status != Status::Ok => format!("{} (fix: {fix})", c.detail),
            _ => c.detail.clone(),
        };
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            c.code,
            status(c.status),
            cell(&detail)
        ));
    }
    out.push_str(if r.ready {
        "\nReady: no check failed.\n\n"
    } else {
        "\n**NOT READY**: fix the FAILED checks first; nothing below is safe to run yet.\n\n"
    });
}

/// The runbook's environments section: where the flip and roll-back files are and whether
/// they were written, and (`inline_envs`) their text.
fn environments_md(out: &mut String, r: &Runbook, inline_envs: bool) {
    out.push_str("## Environments\n\n");
    for (label, env) in [("flip", &r.flip), ("roll back", &r.rollback)] {
        let state = match env.action {
            Some(WriteAction::Written) => "written",
            Some(WriteAction::Unchanged) => "unchanged",
            Some(WriteAction::WouldWrite) | None => {
                "not written (`overcloud-keys switch` writes it)"
            }
        };
        out.push_str(&format!("- {label}: `{}` ({state})\n", env.path.display()));
    }
    if inline_envs {
        for env in [&r.flip, &r.rollback] {
            out.push_str(&format!(
                "\n`{}`:\n\n```yaml\n{}```\n",
                env.path
                    .file_name()
                    .map(|f| f.to_string_lossy())
                    .unwrap_or_default(),
                env.text
            ));
        }
    }
}

/// The runbook as Markdown. `inline_envs`: include the environment files' text (for
/// `plan cutover`, which writes nothing).
pub fn markdown(r: &Runbook, inline_envs: bool) -> String {
    let (o, n) = (name(r.from), name(r.to));
    let mut out = format!(
        "# Keystone token provider cutover: {o} -> {n} (stack {})\n\nWork directory `{}`; roles running keystone: {}. Rendered by overcloud-keys {}.\n\n",
        r.stack,
        r.workdir.display(),
        r.roles.join(", "),
        env!("CARGO_PKG_VERSION")
    );
    preflight_md(&mut out, r);
    environments_md(&mut out, r, inline_envs);
    out.push_str("\n## Impact\n\n");
    for line in &r.impact {
        out.push_str(&format!("- {line}\n"));
    }
    out.push_str("\n## Load balancer (TripleO haproxy-bundle)\n\n");
    for line in &r.load_balancer {
        out.push_str(&format!("- {line}\n"));
    }
    out.push_str("\n## Procedure\n");
    for phase in &r.procedure {
        out.push_str(&format!("\n### {}\n\n", phase.title));
        for (i, step) in phase.steps.iter().enumerate() {
            out.push_str(&format!("{}. {step}\n", i + 1));
        }
    }
    out.push_str(&format!(
        "\n## Validation matrix\n\nNODE: the drained node's internal API address; `$T`: the token of row 1.\n\n| # | check | command | on a {n} node | on a {o} node |\n|---|---|---|---|---|\n"
    ));
    for (i, v) in r.validation.iter().enumerate() {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            i + 1,
            cell(&v.check),
            cell(&v.command),
            cell(&v.on_new),
            cell(&v.on_old)
        ));
    }
    out.push_str("\n## Rollback\n\n");
    for line in &r.rollback_steps {
        out.push_str(&format!("- {line}\n"));
    }
    out.push_str("\n## Notes\n\n");
    for line in &r.notes {
        out.push_str(&format!("- {line}\n"));
    }
    out
}
