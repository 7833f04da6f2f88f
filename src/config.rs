//! The build configuration: embedded defaults, an optional TOML file, then command-line
//! flags (flags win). Unknown keys, wrong types, relative paths and unknown names are errors
//! that name the key (and line, for the file) before anything is written.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::artifact::LayoutKind;
use crate::error::{Error, Result};
use crate::heat;
use crate::release::Release;

/// How artifacts reach the undercloud's deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum ArtifactsMode {
    /// Local files, `DeployArtifactFILEs` (OSP 17+; no Swift needed).
    Files,
    /// Swift TempURLs, `DeployArtifactURLs` (OSP 10-16).
    Swift,
}

/// What to do about JWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum JwsMode {
    /// No JWS keys.
    Off,
    /// Create and deliver JWS keys; keystone stays on Fernet (the safe first step of a switch).
    Stage,
    /// Deliver JWS keys and switch keystone to JWS (adds jws.yaml to the deploy).
    Enable,
}

/// Which nodes receive the key artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    /// Only the keystone roles, through `<Role>ExtraConfigPre` (default).
    Scoped,
    /// Every node of every role, through DeployArtifactFILEs/URLs (the seed-compatible path).
    AllRoles,
}

/// The config file, every key optional. See README for an example.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Heat stack name.
    pub stack: Option<String>,
    /// Work directory (absolute).
    pub workdir: Option<PathBuf>,
    /// containerized | baremetal.
    pub layout: Option<LayoutKind>,
    /// The OSP release deployed: "13" | "16.2" | "17.1" (a string; default "17.1").
    pub release: Option<Release>,
    /// files | swift.
    pub artifacts: Option<ArtifactsMode>,
    /// Where the artifact is staged (absolute). Default `<workdir>/artifacts`.
    pub artifact_dir: Option<PathBuf>,
    /// off | stage | enable.
    pub jws: Option<JwsMode>,
    /// Keep Fernet receipts in their own repository (delivered by tarball).
    pub separate_receipts: Option<bool>,
    /// `KeystoneFernetMaxActiveKeys` and the rotation limit.
    pub max_active_keys: Option<usize>,
    /// Roles running keystone (`<Role>ExtraConfig`).
    pub roles: Option<Vec<String>>,
    /// scoped | all-roles.
    pub delivery: Option<Delivery>,
    /// `--artifacts swift`: cloud in clouds.yaml (else `OS_CLOUD`, `OS_*`, `ST_*`).
    pub os_cloud: Option<String>,
    /// `--artifacts swift`: storage URL instead of the catalog's.
    pub os_storage_url: Option<String>,
    /// `--artifacts swift`: container (default overcloud-artifacts).
    pub swift_container: Option<String>,
    /// `--artifacts swift`: TempURL lifetime in seconds (default one year).
    pub temp_url_expiry: Option<i64>,
    /// `--artifacts swift`: sha256 | sha512 | sha1 (RGW).
    pub temp_url_digest: Option<crate::swift::Digest>,
    /// `--artifacts swift`: re-sign a URL that expires within this many seconds (default 30 days).
    pub temp_url_refresh_margin: Option<u64>,
    /// The operator's environment files, checked for an existing `<Role>ExtraConfigPre`.
    pub check_env: Option<Vec<PathBuf>>,
    /// A roles_data file to check role names against.
    pub roles_data: Option<PathBuf>,
    /// Owner of key files on the nodes (tarball), default from the layout.
    pub node_uid: Option<u32>,
    /// Group of key files on the nodes (tarball), default from the layout.
    pub node_gid: Option<u32>,
    /// Use another stack's repositories (multi-region clouds validating each other's tokens).
    pub keys_from: Option<String>,
    /// `build --new-keys` (a flag only: never read from the file).
    #[serde(skip)]
    pub new_keys: Option<bool>,
}

/// Fully resolved settings of a build.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Heat stack name.
    pub stack: String,
    /// Work directory.
    pub workdir: PathBuf,
    /// Node layout.
    pub layout: LayoutKind,
    /// The OSP release rendered for (see [`crate::release`]).
    pub release: Release,
    /// Artifact mode.
    pub artifacts: ArtifactsMode,
    /// Artifact staging directory.
    pub artifact_dir: PathBuf,
    /// JWS mode.
    pub jws: JwsMode,
    /// Separate receipt repository.
    pub separate_receipts: bool,
    /// Max active Fernet keys.
    pub max_active_keys: usize,
    /// Keystone roles.
    pub roles: Vec<String>,
    /// Artifact delivery.
    pub delivery: Delivery,
    /// Swift settings (used with `artifacts = swift`).
    pub swift: SwiftSettings,
    /// Environment files to check for existing mappings.
    pub check_env: Vec<PathBuf>,
    /// roles_data file.
    pub roles_data: Option<PathBuf>,
    /// Node owner override.
    pub node_uid: Option<u32>,
    /// Node group override.
    pub node_gid: Option<u32>,
    /// The stack whose work directory's repositories this build uses (never creates or
    /// rotates); `None`: this stack's own.
    pub keys_from: Option<String>,
    /// Create keys even though the stack is already deployed (`build --new-keys`).
    pub new_keys: bool,
    /// The home directory holding `overcloud-deploy/<stack>/` (from `HOME`).
    #[serde(skip)]
    pub home: Option<PathBuf>,
}

/// Where and how `build --artifacts swift` uploads.
#[derive(Debug, Clone, Serialize)]
pub struct SwiftSettings {
    /// clouds.yaml cloud.
    pub cloud: Option<String>,
    /// Storage URL override.
    pub storage_url: Option<String>,
    /// Container.
    pub container: String,
    /// TempURL lifetime, seconds.
    pub expiry: i64,
    /// TempURL digest.
    pub digest: crate::swift::Digest,
    /// Re-sign URLs expiring within this many seconds.
    pub refresh_margin: u64,
}

/// TripleO's default `KeystoneFernetMaxActiveKeys`.
pub const DEFAULT_MAX_ACTIVE_KEYS: usize = 5;

impl ConfigFile {
    /// Reads and parses a TOML config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::fsutil::read_text(path)?;
        toml::from_str(&text).map_err(|e| Error::Config {
            file: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " "),
        })
    }

    /// The settings of `config` (a TOML file), or of the embedded defaults, with `flags` on
    /// top: what every command that takes `--config` resolves.
    pub fn settings(config: Option<&Path>, flags: ConfigFile) -> Result<Settings> {
        let file = match config {
            Some(path) => ConfigFile::load(path)?,
            None => ConfigFile::default(),
        };
        file.resolve(flags, config)
    }

    /// Fills every unset key from `flags` (which win) and the embedded defaults.
    pub fn resolve(self, flags: ConfigFile, file: Option<&Path>) -> Result<Settings> {
        let bad = |key: &str, message: String| config_error(file, key, message);
        let stack = flags
            .stack
            .or(self.stack)
            .unwrap_or_else(|| "overcloud".into());
        validate_stack(&stack).map_err(|m| bad("stack", m))?;
        let keys_from = keys_from(flags.keys_from.or(self.keys_from), &stack)
            .map_err(|m| bad("keys_from", m))?;
        let (workdir, artifact_dir) = resolve_dirs(
            flags.workdir.or(self.workdir),
            flags.artifact_dir.or(self.artifact_dir),
            &stack,
            file,
        )?;
        let max_active_keys = flags
            .max_active_keys
            .or(self.max_active_keys)
            .unwrap_or(DEFAULT_MAX_ACTIVE_KEYS);
        crate::keys::repo::validate_max_active_keys(max_active_keys)
            .map_err(|e| bad("max_active_keys", e.to_string()))?;
        let roles = resolve_roles(flags.roles.or(self.roles), file)?;
        let release = flags.release.or(self.release).unwrap_or_default();
        let (artifacts, jws) = release_defaults(
            release,
            flags.artifacts.or(self.artifacts),
            flags.jws.or(self.jws),
        )?;
        let layout = release_layout(release, flags.layout.or(self.layout))?;
        Ok(Settings {
            stack,
            workdir,
            layout,
            release,
            artifacts,
            artifact_dir,
            jws,
            separate_receipts: flags
                .separate_receipts
                .or(self.separate_receipts)
                .unwrap_or(false),
            max_active_keys,
            roles,
            delivery: flags.delivery.or(self.delivery).unwrap_or(Delivery::Scoped),
            swift: SwiftSettings {
                cloud: flags.os_cloud.or(self.os_cloud),
                storage_url: flags.os_storage_url.or(self.os_storage_url),
                container: flags
                    .swift_container
                    .or(self.swift_container)
                    .unwrap_or_else(|| crate::swift::upload::DEFAULT_CONTAINER.into()),
                expiry: flags
                    .temp_url_expiry
                    .or(self.temp_url_expiry)
                    .unwrap_or(crate::swift::upload::DEFAULT_EXPIRY),
                digest: flags
                    .temp_url_digest
                    .or(self.temp_url_digest)
                    .unwrap_or_default(),
                refresh_margin: flags
                    .temp_url_refresh_margin
                    .or(self.temp_url_refresh_margin)
                    .unwrap_or(30 * 86_400),
            },
            check_env: flags.check_env.or(self.check_env).unwrap_or_default(),
            roles_data: flags.roles_data.or(self.roles_data),
            node_uid: flags.node_uid.or(self.node_uid),
            node_gid: flags.node_gid.or(self.node_gid),
            keys_from,
            new_keys: flags.new_keys.unwrap_or(false),
            home: home_dir(),
        })
    }
}

/// An error about `key` of the config file (or the command line when there is none).
fn config_error(file: Option<&Path>, key: &str, message: String) -> Error {
    Error::Config {
        file: file
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("command line")),
        message: format!("{key}: {message}"),
    }
}

/// The work directory (default `~/overcloud-keys/<stack>`; relative on the command line is
/// taken from the current directory) and the artifact directory (default
/// `<workdir>/artifacts`): absolute, printable, and an artifact path Heat accepts.
fn resolve_dirs(
    workdir: Option<PathBuf>,
    artifact_dir: Option<PathBuf>,
    stack: &str,
    file: Option<&Path>,
) -> Result<(PathBuf, PathBuf)> {
    let bad = |key: &str, message: String| config_error(file, key, message);
    let workdir = match workdir {
        Some(dir) => dir,
        None => default_workdir(stack)?,
    };
    let workdir = if file.is_some() || workdir.is_absolute() {
        workdir
    } else {
        std::path::absolute(&workdir).map_err(crate::fsutil::io_err("resolve", &workdir))?
    };
    if !workdir.is_absolute() {
        return Err(bad(
            "workdir",
            format!("{} is not an absolute path", workdir.display()),
        ));
    }
    printable_path(&workdir).map_err(|m| bad("workdir", m))?;
    let artifact_dir =
        artifact_dir.unwrap_or_else(|| crate::workdir::default_artifact_dir(&workdir));
    if !artifact_dir.is_absolute() {
        return Err(bad(
            "artifact_dir",
            format!("{} is not an absolute path", artifact_dir.display()),
        ));
    }
    printable_path(&artifact_dir).map_err(|m| bad("artifact_dir", m))?;
    heat::validate_artifact_path(&artifact_dir.to_string_lossy())
        .map_err(|e| bad("artifact_dir", e.to_string()))?;
    Ok((workdir, artifact_dir))
}

/// The roles running keystone (default `Controller`): at least one, each a valid role name.
fn resolve_roles(roles: Option<Vec<String>>, file: Option<&Path>) -> Result<Vec<String>> {
    let bad = |key: &str, message: String| config_error(file, key, message);
    let roles = roles.unwrap_or_else(|| vec!["Controller".into()]);
    if roles.is_empty() {
        return Err(bad(
            "roles",
            "needs at least one role, e.g. [\"Controller\"]".into(),
        ));
    }
    for role in &roles {
        heat::validate_role(role).map_err(|e| bad("roles", e.to_string()))?;
    }
    Ok(roles)
}

/// A path that is rendered into YAML and JSON: UTF-8, no control characters (a newline in a
/// comment would start a new YAML line).
fn printable_path(path: &Path) -> std::result::Result<(), String> {
    match path.to_str() {
        None => Err(format!("{} is not UTF-8", path.display())),
        Some(text) if text.chars().any(char::is_control) => Err(format!(
            "{:?} holds a control character (newline, tab, ...)",
            text
        )),
        Some(_) => Ok(()),
    }
}

/// A Heat stack name as TripleO uses it in paths and container names.
fn validate_stack(stack: &str) -> std::result::Result<(), String> {
    if stack.is_empty()
        || !stack
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "{stack:?} is not a Heat stack name (letters, digits, '-', '_')"
        ));
    }
    Ok(())
}

fn keys_from(other: Option<String>, stack: &str) -> std::result::Result<Option<String>, String> {
    let Some(other) = other else {
        return Ok(None);
    };
    validate_stack(&other)?;
    if other == stack {
        return Err(format!(
            "{other:?} is this stack: leave keys_from unset to use its own repositories"
        ));
    }
    Ok(Some(other))
}

/// The invoking user's home directory (`HOME`), where tripleoclient keeps
/// `overcloud-deploy/` and the default work directory lives.
pub(crate) fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The artifact mode and JWS mode for `release`: what was asked for when the release can
/// consume it (refused otherwise), else the release's default (`files` where
/// `DeployArtifactFILEs` exists, else `swift`; JWS keys staged where keystone has JWS, else off).
fn release_defaults(
    release: Release,
    artifacts: Option<ArtifactsMode>,
    jws: Option<JwsMode>,
) -> Result<(ArtifactsMode, JwsMode)> {
    let profile = release.profile();
    let artifacts = match artifacts {
        Some(ArtifactsMode::Files) => {
            profile
                .check_artifact_files()
                .map_err(Error::NotInRelease)?;
            ArtifactsMode::Files
        }
        Some(mode) => mode,
        None if profile.artifact_files => ArtifactsMode::Files,
        None => ArtifactsMode::Swift,
    };
    let jws = match jws {
        Some(JwsMode::Off) => JwsMode::Off,
        Some(mode) => {
            let name = if mode == JwsMode::Stage {
                "stage"
            } else {
                "enable"
            };
            profile.check_jws(name).map_err(Error::NotInRelease)?;
            mode
        }
        None if profile.jws => JwsMode::Stage,
        None => JwsMode::Off,
    };
    Ok((artifacts, jws))
}

/// The layout asked for when the release's keystone runs that way (refused otherwise), else
/// the release's own: containerized from OSP 12, baremetal before.
fn release_layout(release: Release, layout: Option<LayoutKind>) -> Result<LayoutKind> {
    let profile = release.profile();
    match layout {
        Some(layout) => {
            profile
                .check_layout(layout == LayoutKind::Containerized)
                .map_err(Error::NotInRelease)?;
            Ok(layout)
        }
        None if profile.containerized => Ok(LayoutKind::Containerized),
        None => Ok(LayoutKind::Baremetal),
    }
}

/// `~/overcloud-keys/<stack>`.
pub fn default_workdir(stack: &str) -> Result<PathBuf> {
    let home = home_dir().ok_or_else(|| Error::Config {
        file: PathBuf::from("environment"),
        message: "HOME is not set: pass --workdir".into(),
    })?;
    Ok(home.join("overcloud-keys").join(stack))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| Error::Config {
            file: "t.toml".into(),
            message: e.to_string(),
        })?;
        file.resolve(ConfigFile::default(), Some(Path::new("t.toml")))
    }

    #[test]
    fn defaults_are_the_embedded_job() {
        let s = parse("workdir = \"/w\"").unwrap();
        assert_eq!(s.stack, "overcloud");
        assert_eq!(s.layout, LayoutKind::Containerized);
        assert_eq!(s.artifacts, ArtifactsMode::Files);
        assert_eq!(s.jws, JwsMode::Stage);
        assert_eq!(s.max_active_keys, 5);
        assert_eq!(s.artifact_dir, PathBuf::from("/w/artifacts"));
        assert_eq!(s.roles, vec!["Controller".to_string()]);
    }

    #[test]
    fn bad_config_names_the_key() {
        let cases = [
            ("workdir = \"/w\"\nlayuot = \"baremetal\"", "layuot"),
            (
                "workdir = \"/w\"\nmax_active_keys = \"five\"",
                "max_active_keys",
            ),
            ("workdir = \"relative/dir\"", "workdir"),
            ("workdir = \"/w\"\nlayout = \"vm\"", "vm"),
            ("workdir = \"/w\"\nroles = [\"controller\"]", "roles"),
            ("workdir = \"/w\"\nartifact_dir = \"/a b\"", "artifact_dir"),
        ];
        for (text, needle) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?} -> {err}");
        }
    }

    #[test]
    fn release_sets_the_defaults_and_refuses_what_it_cannot_consume() {
        let s = parse("workdir = \"/w\"\nrelease = \"16.2\"").unwrap();
        assert_eq!(
            (s.release, s.artifacts, s.jws),
            (Release::Osp16_2, ArtifactsMode::Swift, JwsMode::Stage)
        );
        let s = parse("workdir = \"/w\"\nrelease = \"13\"").unwrap();
        assert_eq!((s.artifacts, s.jws), (ArtifactsMode::Swift, JwsMode::Off));
        let s = parse("workdir = \"/w\"\nrelease = \"13\"\njws = \"off\"").unwrap();
        assert_eq!(s.jws, JwsMode::Off);
        let s = parse("workdir = \"/w\"").unwrap();
        assert_eq!(s.release, Release::Osp17_1);
        for (text, needle) in [
            (
                "release = \"16.2\"\nartifacts = \"files\"",
                "artifacts = \"files\" is not available on OSP 16.2",
            ),
            (
                "release = \"13\"\nartifacts = \"files\"",
                "artifacts = \"files\" is not available on OSP 13",
            ),
            (
                "release = \"13\"\njws = \"stage\"",
                "jws = \"stage\" is not available on OSP 13",
            ),
            ("release = \"13\"\njws = \"enable\"", "keystone 15"),
            ("release = \"16\"", "unknown release \"16\""),
        ] {
            let err = parse(&format!("workdir = \"/w\"\n{text}")).unwrap_err();
            assert!(err.to_string().contains(needle), "{text:?} -> {err}");
        }
    }

    #[test]
    fn flags_win_over_the_file() {
        let file: ConfigFile = toml::from_str("workdir = \"/w\"\nstack = \"a\"").unwrap();
        let flags = ConfigFile {
            stack: Some("b".into()),
            ..Default::default()
        };
        assert_eq!(file.resolve(flags, None).unwrap().stack, "b");
    }
}
