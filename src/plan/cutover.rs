//! Token provider cutover (Fernet <-> JWS) after deployment: the pre-flight that checks,
//! from the work directory `build` left, that the target provider's keys already reached
//! the nodes by an earlier deploy, and the two environment files (flip and roll back).
//!
//! What `build` leaves (see `pipeline`): the last artifact in `<workdir>/artifacts/` with
//! `<artifact>.manifest.json` (every tarball entry, path and sha256), `fernet.yaml`
//! (KeystoneFernetKeys and credential keys), `deployment-artifacts.yaml` (which artifact
//! the deploy delivers). JWS needs its key pair in the artifact, and the Fernet receipt keys
//! keystone still uses with JWS: by default `[fernet_receipts] key_repository` is the token
//! key directory, so they are the KeystoneFernetKeys of fernet.yaml, unless a separate
//! receipt repository was packed. The tool cannot see the nodes: that the deploy ran is a
//! "confirm" item, and the runbook's first step checks it on each node.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use serde::Serialize;

use crate::artifact::layout::dirs;
use crate::artifact::{Layout, LayoutKind};
use crate::check::{self, CheckOptions, RepoKind, Severity};
use crate::error::Result;
use crate::heat;
use crate::pipeline::WorkdirLayout;
use crate::plan::delivered::{
    FernetEnvKeys, StagedArtifact, fernet_env_keys, latest_artifact, sha256_file,
};

/// A token provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Fernet tokens (keystone's default; THT's only KeystoneTokenProvider value).
    Fernet,
    /// JWS (ES256-signed) tokens.
    Jws,
}

impl Provider {
    /// The other one.
    pub fn other(self) -> Provider {
        match self {
            Provider::Fernet => Provider::Jws,
            Provider::Jws => Provider::Fernet,
        }
    }

    /// The environment file that sets this provider, in the work directory.
    pub fn env_file(self) -> &'static str {
        match self {
            Provider::Fernet => "keystone-provider-fernet.yaml",
            Provider::Jws => "keystone-provider-jws.yaml",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Provider::Fernet => "fernet",
            Provider::Jws => "jws",
        })
    }
}

/// Outcome of one pre-flight check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Verified.
    Ok,
    /// Blocks the switch.
    Failed,
    /// Does not block, but read it.
    Warning,
    /// Cannot be verified from the undercloud: the operator confirms it.
    Confirm,
}

impl Status {
    /// `Ok` when the check passed, else `Failed`.
    fn passed(ok: bool) -> Status {
        if ok { Status::Ok } else { Status::Failed }
    }
}

/// One pre-flight check, with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable kebab-case code.
    pub code: PreflightCode,
    /// Result.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do when it is not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

crate::codes::stable_codes! {
    /// Every pre-flight code. Stable: pipelines match on the text.
    pub enum PreflightCode, CODES {
        ArtifactStaged => "artifact-staged",
        ArtifactInDeployEnv => "artifact-in-deploy-env",
        JwsPrivateDelivered => "jws-private-delivered",
        JwsPublicDelivered => "jws-public-delivered",
        JwsArtifactCurrent => "jws-artifact-current",
        JwsRotationInProgress => "jws-rotation-in-progress",
        ReceiptKeysDelivered => "receipt-keys-delivered",
        FernetKeysDelivered => "fernet-keys-delivered",
        FernetRepoValid => "fernet-repo-valid",
        FernetEnvCurrent => "fernet-env-current",
        RollbackKeysDelivered => "rollback-keys-delivered",
        Deployed => "deployed",
    }
}

/// Where a cutover reads from.
#[derive(Debug, Clone)]
pub struct Target {
    /// The work directory of `build`.
    pub workdir: PathBuf,
    /// Heat stack name.
    pub stack: String,
    /// Where `build` staged artifacts (default `<workdir>/artifacts`).
    pub artifact_dir: PathBuf,
    /// Roles running keystone.
    pub roles: Vec<String>,
    /// The provider to switch to.
    pub to: Provider,
}

/// The pre-flight result, plus what the environments need to know.
#[derive(Debug, Clone)]
pub struct Preflight {
    /// Every check.
    pub checks: Vec<Check>,
    /// The last staged artifact, if any.
    pub artifact: Option<StagedArtifact>,
    /// A separate receipt repository was packed (JWS env must point keystone at it).
    pub separate_receipts: bool,
}

impl Preflight {
    /// True when nothing failed.
    pub fn ready(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Failed)
    }

    /// The failed checks, one per line (for the error message).
    pub fn failures(&self) -> String {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Failed)
            .map(|c| {
                format!(
                    "  {} {}{}",
                    c.code,
                    c.detail,
                    c.fix
                        .as_ref()
                        .map(|f| format!(" (fix: {f})"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn check(code: PreflightCode, status: Status, detail: String, fix: Option<&str>) -> Check {
    Check {
        code,
        status,
        detail,
        fix: fix.map(str::to_string),
    }
}

const BUILD_AND_DEPLOY: &str = "run `overcloud-keys build`, then `openstack overcloud deploy` with the -e files it prints, then come back";

/// JWS key pair in the artifact, and the same pair as the work directory's.
fn jws_checks(
    out: &mut Vec<Check>,
    artifact: Option<&StagedArtifact>,
    local: &WorkdirLayout,
    name: &str,
) {
    let private_rel = format!(
        "{}/{}",
        dirs::JWS_PRIVATE,
        crate::keys::jws::PRIVATE_KEY_FILE
    );
    let delivered = artifact.is_some_and(|a| a.has(&private_rel));
    out.push(check(
        PreflightCode::JwsPrivateDelivered,
        Status::passed(delivered),
        if delivered {
            format!("{name} carries jws-keys/private/private.pem")
        } else {
            format!(
                "{name}: no JWS private key was delivered (built with --no-jws or jws = \"off\"?)"
            )
        },
        (!delivered)
            .then_some("build with JWS keys (the default `jws = \"stage\"`), deploy, then switch"),
    ));
    let public: Vec<(&String, &String)> = artifact
        .map(|a| a.under(dirs::JWS_PUBLIC))
        .unwrap_or_default();
    out.push(jws_public_check(name, &public));
    if let Some(a) = artifact.filter(|_| delivered) {
        out.push(jws_current_check(a, local, name, &private_rel, &public));
    }
    if local.jws.private.join("staged.pem").exists() {
        out.push(check(
            PreflightCode::JwsRotationInProgress,
            Status::Warning,
            "a JWS rotation is staged (private/staged.pem): the cutover uses private.pem; promote later as usual".into(),
            None,
        ));
    }
}

/// Whether the artifact carries JWS public keys (`public`: path and SHA-256 of each).
fn jws_public_check(name: &str, public: &[(&String, &String)]) -> Check {
    check(
        PreflightCode::JwsPublicDelivered,
        Status::passed(!public.is_empty()),
        if public.is_empty() {
            format!("{name}: no JWS public key was delivered")
        } else {
            format!(
                "{name} carries {} public key(s): {}",
                public.len(),
                public
                    .iter()
                    .map(|(p, s)| format!(
                        "{} (sha256 {})",
                        p.rsplit('/').next().unwrap_or(p),
                        &s[..12.min(s.len())]
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        public.is_empty().then_some(BUILD_AND_DEPLOY),
    )
}

/// Whether the JWS keys in the artifact `a` (private key at `private_rel`, `public` keys) are
/// the work directory's.
fn jws_current_check(
    a: &StagedArtifact,
    local: &WorkdirLayout,
    name: &str,
    private_rel: &str,
    public: &[(&String, &String)],
) -> Check {
    let local_private = sha256_file(&local.jws.private.join(crate::keys::jws::PRIVATE_KEY_FILE));
    let mut local_public: BTreeMap<String, String> = BTreeMap::new();
    if let Ok(entries) = fs::read_dir(&local.jws.public) {
        for e in entries.flatten() {
            if let Some(s) = sha256_file(&e.path()) {
                local_public.insert(
                    format!("{}/{}", dirs::JWS_PUBLIC, e.file_name().to_string_lossy()),
                    s,
                );
            }
        }
    }
    let staged_public: BTreeMap<String, String> = public
        .iter()
        .map(|(p, s)| ((*p).clone(), (*s).clone()))
        .collect();
    let same = local_private.as_ref() == a.files.get(private_rel) && local_public == staged_public;
    check(
        PreflightCode::JwsArtifactCurrent,
        if same { Status::Ok } else { Status::Failed },
        if same {
            format!("the work directory's JWS keys are the ones in {name}")
        } else {
            format!(
                "the work directory's JWS keys ({}) differ from {name}: they changed since the last build, so the nodes do not have them",
                local
                    .jws
                    .private
                    .parent()
                    .unwrap_or(&local.jws.private)
                    .display()
            )
        },
        (!same).then_some(BUILD_AND_DEPLOY),
    )
}

/// Fernet token keys delivered (parameters or baremetal tarball) and current.
fn fernet_checks(
    out: &mut Vec<Check>,
    target: &Target,
    artifact: Option<&StagedArtifact>,
    local: &WorkdirLayout,
    env: &Option<FernetEnvKeys>,
    code: PreflightCode,
    purpose: &str,
) -> Result<bool> {
    let fernet_yaml = target.workdir.join(heat::names::FERNET);
    let by_tarball = artifact
        .filter(|a| a.layout == LayoutKind::Baremetal)
        .is_some_and(|a| a.has(&format!("{}/0", dirs::FERNET)));
    let by_params = env
        .as_ref()
        .is_some_and(|e| e.managed && e.keys.contains_key(&0));
    let delivered = by_params || by_tarball;
    out.push(check(
        code,
        Status::passed(delivered),
        match (by_params, by_tarball) {
            (true, _) => format!(
                "{purpose}: delivered by KeystoneFernetKeys in {} ({} keys, staged key 0 present)",
                fernet_yaml.display(),
                env.as_ref().map_or(0, |e| e.keys.len())
            ),
            (false, true) => format!("{purpose}: delivered in the baremetal artifact"),
            _ => format!(
                "{purpose}: not found in {} or the artifact",
                fernet_yaml.display()
            ),
        },
        (!delivered).then_some(BUILD_AND_DEPLOY),
    ));
    if let Some(env) = env.as_ref().filter(|_| by_params) {
        let report =
            check::check_numbered(&local.fernet, RepoKind::Fernet, &CheckOptions::structural())?;
        let local_fps: BTreeMap<u64, String> = report
            .keys
            .iter()
            .map(|k| (k.index, k.fingerprint.clone()))
            .collect();
        if local_fps != env.keys {
            out.push(check(
                PreflightCode::FernetEnvCurrent,
                Status::Warning,
                format!(
                    "{} differs from {} (rotated since the last build?): the flip deploy also delivers fernet.yaml, so deploy the current keys first to change one thing at a time",
                    fernet_yaml.display(),
                    local.fernet.display()
                ),
                Some("run `overcloud-keys build` and deploy before the switch"),
            ));
        }
    }
    Ok(delivered)
}

/// Which deploy environment delivers the artifact: the role-scoped one
/// (`keystone-keys-scoped.yaml`: `OvercloudKeysArtifactSha256` equal to the artifact's and an
/// `OS::TripleO::<Role>ExtraConfigPre` mapping for every keystone role), or the all-roles
/// one (`deployment-artifacts.yaml` listing the tarball).
fn delivery_check(target: &Target, a: &StagedArtifact) -> Check {
    let scoped_path = target.workdir.join(heat::scoped::names::ENV);
    let all_path = target.workdir.join(heat::names::ARTIFACTS);
    if let Ok(text) = fs::read_to_string(&scoped_path) {
        let sha = text.lines().find_map(|l| {
            l.trim()
                .strip_prefix("OvercloudKeysArtifactSha256:")
                .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
        });
        if sha.as_deref() == Some(a.sha256.as_str()) && !a.sha256.is_empty() {
            let missing: Vec<&String> = target
                .roles
                .iter()
                .filter(|r| {
                    !text.lines().any(|l| {
                        l.trim()
                            .starts_with(&format!("OS::TripleO::{r}ExtraConfigPre:"))
                    })
                })
                .collect();
            return if missing.is_empty() {
                check(
                    PreflightCode::ArtifactInDeployEnv,
                    Status::Ok,
                    format!(
                        "{} delivers it to {} nodes only (<Role>ExtraConfigPre, sha256 {})",
                        scoped_path.display(),
                        target.roles.join(", "),
                        &a.sha256[..12.min(a.sha256.len())]
                    ),
                    None,
                )
            } else {
                check(
                    PreflightCode::ArtifactInDeployEnv,
                    Status::Failed,
                    format!(
                        "{} delivers {} but maps no ExtraConfigPre for role(s) {}: their keystone nodes do not have the keys",
                        scoped_path.display(),
                        a.name,
                        missing
                            .iter()
                            .map(|r| r.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Some("build with the same roles as the switch (`--role`), deploy, then switch"),
                )
            };
        }
    }
    let listed = fs::read_to_string(&all_path).is_ok_and(|t| {
        t.contains(&a.tarball.to_string_lossy().into_owned()) || t.contains(&format!("/{}", a.name))
    });
    if listed {
        return check(
            PreflightCode::ArtifactInDeployEnv,
            Status::Ok,
            format!(
                "{} delivers it (to every node of every role)",
                all_path.display()
            ),
            None,
        );
    }
    check(
        PreflightCode::ArtifactInDeployEnv,
        Status::Failed,
        format!(
            "neither {} nor {} delivers {}: a deploy with them did not deliver this artifact",
            scoped_path.display(),
            all_path.display(),
            a.name
        ),
        Some(BUILD_AND_DEPLOY),
    )
}

/// Runs every pre-flight check for switching to `target.to`. Reads only.
pub fn preflight(target: &Target) -> Result<Preflight> {
    for role in &target.roles {
        heat::validate_role(role)?;
    }
    let local = WorkdirLayout::new(&target.workdir);
    let artifact = latest_artifact(&target.artifact_dir, &target.stack)?;
    let env = fernet_env_keys(&target.workdir.join(heat::names::FERNET))?;
    let mut out = vec![];
    let name = artifact
        .as_ref()
        .map_or_else(|| "no staged artifact".to_string(), |a| a.name.clone());
    out.extend(staged_checks(target, artifact.as_ref()));
    let separate_receipts = artifact
        .as_ref()
        .is_some_and(|a| a.has(&format!("{}/0", dirs::RECEIPT)));
    match target.to {
        Provider::Jws => {
            jws_checks(&mut out, artifact.as_ref(), &local, &name);
            if separate_receipts {
                out.push(check(
                    PreflightCode::ReceiptKeysDelivered,
                    Status::Ok,
                    format!(
                        "receipts: a separate receipt repository in {name}; the flip environment points [fernet_receipts] key_repository at {}",
                        Layout::keystone_path(dirs::RECEIPT)
                    ),
                    None,
                ));
            } else {
                fernet_checks(
                    &mut out,
                    target,
                    artifact.as_ref(),
                    &local,
                    &env,
                    PreflightCode::ReceiptKeysDelivered,
                    "receipt keys (the Fernet token keys, shared by default)",
                )?;
            }
        }
        Provider::Fernet => {
            fernet_checks(
                &mut out,
                target,
                artifact.as_ref(),
                &local,
                &env,
                PreflightCode::FernetKeysDelivered,
                "Fernet token keys",
            )?;
            out.extend(rollback_checks(&local, artifact.as_ref(), &name)?);
        }
    }
    out.push(check(
        PreflightCode::Deployed,
        Status::Confirm,
        format!(
            "overcloud-keys sees the undercloud only: confirm that the last `openstack overcloud deploy` of stack {} ran with the environment files `overcloud-keys build` printed, as they are now; step 0 of the procedure checks each node",
            target.stack,
        ),
        None,
    ));
    Ok(Preflight {
        checks: out,
        artifact,
        separate_receipts,
    })
}

/// Is there a staged artifact for the stack, and did it reach the deploy environment.
fn staged_checks(target: &Target, artifact: Option<&StagedArtifact>) -> Vec<Check> {
    let mut out = vec![];
    match artifact {
        Some(a) => {
            let present = a.tarball.is_file();
            out.push(check(
                PreflightCode::ArtifactStaged,
                if present { Status::Ok } else { Status::Failed },
                format!(
                    "last artifact of stack {}: {}{}",
                    target.stack,
                    a.tarball.display(),
                    if present {
                        ""
                    } else {
                        " (manifest only: the tarball is missing)"
                    }
                ),
                (!present).then_some(BUILD_AND_DEPLOY),
            ));
            out.push(delivery_check(target, a));
        }
        None => out.push(check(
            PreflightCode::ArtifactStaged,
            if target.to == Provider::Jws {
                Status::Failed
            } else {
                Status::Warning
            },
            format!(
                "no artifact of stack {} in {}: `overcloud-keys build` staged nothing there",
                target.stack,
                target.artifact_dir.display()
            ),
            Some(BUILD_AND_DEPLOY),
        )),
    }
    out
}

/// Going back to Fernet: the work directory's Fernet repository is valid, and the artifact
/// still carries the JWS pair a rollback to JWS needs.
fn rollback_checks(
    local: &WorkdirLayout,
    artifact: Option<&StagedArtifact>,
    name: &str,
) -> Result<Vec<Check>> {
    let mut out = vec![];
    let report =
        check::check_numbered(&local.fernet, RepoKind::Fernet, &CheckOptions::structural())?;
    let errors: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.code.as_str())
        .collect();
    out.push(check(
        PreflightCode::FernetRepoValid,
        Status::passed(errors.is_empty()),
        if errors.is_empty() {
            format!("{} is a valid Fernet repository", local.fernet.display())
        } else {
            format!(
                "{} has errors: {}",
                local.fernet.display(),
                errors.join(", ")
            )
        },
        (!errors.is_empty())
            .then_some("run `overcloud-keys repo check` on it and fix every finding"),
    ));
    let jws_ok = artifact.is_some_and(|a| {
        a.has(&format!(
            "{}/{}",
            dirs::JWS_PRIVATE,
            crate::keys::jws::PRIVATE_KEY_FILE
        ))
    });
    out.push(check(
        PreflightCode::RollbackKeysDelivered,
        if jws_ok { Status::Ok } else { Status::Warning },
        if jws_ok {
            format!("rolling back to JWS is possible: {name} still carries the JWS key pair")
        } else {
            "the last artifact carries no JWS keys: rolling back to JWS would fail validation of every token".into()
        },
        (!jws_ok).then_some("keep JWS keys in the build (`jws = \"stage\"`) until the switch to Fernet is validated"),
    ));
    Ok(out)
}

/// The environment that sets `provider` on `roles`: `heat::render_jws` for JWS; for Fernet
/// the per-role form of `environments/keystone-fernet-provider.yaml`.
pub fn render_provider(
    provider: Provider,
    stack: &str,
    roles: &[String],
    separate_receipts: bool,
) -> Result<String> {
    match provider {
        Provider::Jws => heat::render_jws(&heat::JwsEnv {
            stack,
            roles,
            receipt_dir: separate_receipts.then(|| Layout::keystone_path(dirs::RECEIPT)),
            operator: Default::default(),
        }),
        Provider::Fernet => {
            for role in roles {
                heat::validate_role(role)?;
            }
            let mut text = format!(
                "# Sets keystone's token provider to Fernet on {} nodes,\n\
                 # rendered by overcloud-keys {} for stack {stack}.\n\
                 # Pass it instead of the JWS environment, last on the command line, with the same\n\
                 # fernet.yaml: the Fernet repositories stayed in place, so only the provider flips.\n\
                 # Every JWS token becomes invalid at the flip; services re-authenticate.\n\
                 parameter_merge_strategies:\n",
                roles.join(", "),
                env!("CARGO_PKG_VERSION")
            );
            for role in roles {
                text.push_str(&format!("  {role}ExtraConfig: merge\n"));
            }
            text.push_str("parameter_defaults:\n");
            for role in roles {
                text.push_str(&format!(
                    "  {role}ExtraConfig:\n    keystone::token_provider: fernet\n"
                ));
            }
            Ok(text)
        }
    }
}

/// Default work directory of a stack: `~/overcloud-keys/<stack>`.
pub fn default_workdir(stack: &str) -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join("overcloud-keys").join(stack)
}

/// `<workdir>/artifacts`, where `build` stages by default.
pub use crate::workdir::default_artifact_dir;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for code in CODES {
            assert!(seen.insert(code), "duplicate {code}");
            assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'));
        }
    }

    #[test]
    fn fernet_provider_env_has_one_block_per_role() {
        let roles = vec!["Controller".to_string(), "ControllerNoCeph".to_string()];
        let text = render_provider(Provider::Fernet, "overcloud", &roles, false).unwrap();
        assert!(
            text.contains("  ControllerExtraConfig: merge\n  ControllerNoCephExtraConfig: merge\n")
        );
        assert_eq!(text.matches("keystone::token_provider: fernet").count(), 2);
        assert!(render_provider(Provider::Fernet, "o", &["bad role".into()], false).is_err());
    }
}
