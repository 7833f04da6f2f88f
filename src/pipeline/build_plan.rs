//! `build` as plan, then apply. [`BuildPlan::compute`] reads the settings and what is on
//! disk and writes nothing: each repository is scanned once into keys and findings (a
//! missing one gets keys generated in memory), the tarball is packed in memory, the
//! published TempURL is checked, every environment file is rendered. Preview and apply
//! compare each file with the disk, so an unchanged one is never rewritten.
//! [`BuildPlan::apply`] carries it out; a dry run only reports it ([`BuildPlan::preview`]).
//! The one thing a plan cannot know is a TempURL not signed yet: when the artifact must be
//! uploaded, the files that carry the URL are rendered again once it is.

use super::delivery::{self, PlannedDelivery};
use super::envs::{self, PlannedEnv};
use super::repos::{self, PlannedRepo};
use super::{ArtifactStep, BuildReport, EnvStep, RepoAction, RepoStep};
use crate::artifact::LayoutKind;
use crate::build_record::BuildRecord;
use crate::config::Settings;
use crate::error::Result;
use crate::fsutil::WriteAction;
use crate::heat::scoped;
use crate::workdir::WorkdirLayout;

/// What the build checked before taking the work directory's lock (settings, whose keys,
/// whether the stack is deployed): nothing on disk is created before these pass.
pub(crate) struct Preflight {
    /// The `<Role>ExtraConfigPre` mappings of the `--check-env` files (parsed once).
    pub(super) existing: Vec<scoped::ExistingMapping>,
    /// The repositories the build uses (its own, or `keys_from`'s).
    pub(super) local: WorkdirLayout,
    /// Notes for the report (keys from another stack, `--new-keys`).
    pub(super) notes: Vec<String>,
}

/// Everything `build` would do, computed without writing anything.
pub(crate) struct BuildPlan {
    settings: Settings,
    preflight: Preflight,
    /// Directories StrictModes would tighten to 0700 (the report's notes).
    tighten: Vec<String>,
    repos: Vec<PlannedRepo>,
    keys: repos::BuildKeys,
    staged: PlannedDelivery,
    /// Why the published TempURL is not kept, when it is not.
    url_notes: Vec<String>,
    envs: Vec<PlannedEnv>,
    env_warnings: Vec<String>,
    record: BuildRecord,
}

/// What carrying out (or previewing) the plan did, for the report.
struct Outcome {
    dry_run: bool,
    tightened: Vec<String>,
    repositories: Vec<RepoStep>,
    artifact: Option<ArtifactStep>,
    url_notes: Vec<String>,
    env_files: Vec<EnvStep>,
    record: WriteAction,
}

impl BuildPlan {
    /// Reads the work directory (StrictModes checked first) and computes the plan.
    pub(crate) fn compute(settings: &Settings, preflight: Preflight) -> Result<Self> {
        let tighten = crate::workdir::secure(&settings.workdir, &settings.artifact_dir, true)?;
        let (repos, keys) = repos::plan_all(settings, &preflight.local)?;
        let (staged, url_notes) = delivery::plan(settings, &preflight.local, &keys)?;
        let (envs, env_warnings) = envs::render_all(
            settings,
            &preflight.local,
            &keys,
            &preflight.existing,
            &staged,
        )?;
        // For later commands on this work directory (`fernet rotate` reads max_active_keys).
        let record = BuildRecord {
            format: crate::build_record::FORMAT,
            stack: settings.stack.clone(),
            release: settings.release,
            max_active_keys: settings.max_active_keys,
        };
        Ok(Self {
            settings: settings.clone(),
            preflight,
            tighten,
            repos,
            keys,
            staged,
            url_notes,
            envs,
            env_warnings,
            record,
        })
    }

    /// The report of a dry run: what [`apply`](Self::apply) would do, nothing written.
    pub(crate) fn preview(&self) -> Result<BuildReport> {
        let artifact = delivery::write(&self.staged, &self.settings, true)?;
        let env_files = self
            .envs
            .iter()
            .map(|e| e.write(true))
            .collect::<Result<_>>()?;
        Ok(self.report(Outcome {
            dry_run: true,
            tightened: self.tighten.clone(),
            repositories: self.repos.iter().map(|r| r.step(true)).collect(),
            artifact,
            url_notes: self.url_notes.clone(),
            env_files,
            record: self.record.write(&self.settings.workdir, true)?,
        }))
    }

    /// Carries the plan out, in order: directories tightened, the work directory and the
    /// missing repositories created, the artifact staged (superseded ones removed) and
    /// uploaded when it goes by Swift, the environment files and the build record written,
    /// each only when its bytes change.
    pub(crate) fn apply(mut self) -> Result<BuildReport> {
        let settings = &self.settings;
        let tightened = crate::workdir::secure(&settings.workdir, &settings.artifact_dir, false)?;
        repos::prepare_workdir(&settings.workdir)?;
        // Temporary files of runs killed mid-write (superseded keys, the JWS private key).
        for dir in [settings.workdir.clone(), settings.workdir.join("keys")] {
            crate::fsutil::sweep_temp_files(&dir);
        }
        let mut repositories = vec![];
        for planned in std::mem::take(&mut self.repos) {
            repositories.push(planned.step(false));
            repos::create(planned, &self.preflight.local, settings.max_active_keys)?;
        }
        let artifact = delivery::write(&self.staged, settings, false)?;
        let mut url_notes = std::mem::take(&mut self.url_notes);
        if let (true, Some(planned)) = (self.staged.upload, &self.staged.artifact) {
            let (url, notes) = delivery::upload(settings, planned)?;
            url_notes.extend(notes);
            self.staged.temp_url = Some(url);
            // The files that carry the URL, rendered again now that it is signed.
            let p = &self.preflight;
            (self.envs, _) =
                envs::render_all(settings, &p.local, &self.keys, &p.existing, &self.staged)?;
        }
        let env_files = self
            .envs
            .iter()
            .map(|e| e.write(false))
            .collect::<Result<_>>()?;
        let record = self.record.write(&settings.workdir, false)?;
        Ok(self.report(Outcome {
            dry_run: false,
            tightened,
            repositories,
            artifact,
            url_notes,
            env_files,
            record,
        }))
    }

    /// The report: the plan's notes and what was (or would be) done.
    fn report(&self, done: Outcome) -> BuildReport {
        let settings = &self.settings;
        let mut report = BuildReport {
            settings: settings.clone(),
            dry_run: done.dry_run,
            changed: !done.tightened.is_empty()
                || done
                    .repositories
                    .iter()
                    .any(|r| r.action != RepoAction::Reused),
            repositories: done.repositories,
            artifact: None,
            env_files: vec![],
            deploy_args: vec![],
            delivery: crate::config::Delivery::AllRoles,
            secrets: vec![],
            warnings: self
                .preflight
                .notes
                .iter()
                .cloned()
                .chain(done.tightened)
                .collect(),
        };
        if report
            .repositories
            .iter()
            .any(|r| r.action == RepoAction::WouldCreate)
        {
            report.warnings.push("dry run: repositories do not exist yet, so the artifact and environment files cannot be computed; run without --dry-run".into());
            return report;
        }
        report.delivery = self.staged.delivery();
        report.warnings.extend(done.url_notes);
        report.warnings.extend(self.env_warnings.iter().cloned());
        report.deploy_args = done
            .env_files
            .iter()
            .filter(|e| e.deploy)
            .flat_map(|e| ["-e".to_string(), e.path.display().to_string()])
            .collect();
        report.changed |= self.staged.upload
            || done.record != WriteAction::Unchanged
            || done
                .env_files
                .iter()
                .any(|e| e.action != WriteAction::Unchanged)
            || done
                .artifact
                .as_ref()
                .is_some_and(|a| a.action != WriteAction::Unchanged || !a.removed.is_empty());
        report.env_files = done.env_files;
        report.artifact = done.artifact;
        self.secrets(&mut report);
        report
    }

    /// Who receives which secret, and the warning when the tarball reaches every node.
    fn secrets(&self, report: &mut BuildReport) {
        let settings = &self.settings;
        let (sources, scoped) = (&self.staged.sources, self.staged.scoped);
        let baremetal = settings.layout == LayoutKind::Baremetal;
        report.secrets = delivery::reach(settings, sources, baremetal, scoped);
        let secrets = delivery::describe_artifact(sources);
        if !scoped && !secrets.is_empty() {
            report.warnings.push(format!(
                "all-roles delivery: the artifact puts these secrets on every node of every role, not only {}: {}",
                settings.roles.join(", "),
                secrets.join(", ")
            ));
        }
    }
}
