//! What a build leaves in its work directory for the commands that run on it later:
//! `<workdir>/build.json` (release, `max_active_keys`), and the way back from a key
//! repository (`<workdir>/keys/fernet-keys`, `<workdir>/keys/fernet-receipts`) to it.
//!
//! Why: `fernet rotate` on a work directory's repository must judge the schedule that is
//! deployed. Build renders `KeystoneFernetMaxActiveKeys` (TripleO's default 5) into
//! fernet.yaml, and puppet-keystone sets `[fernet_tokens] max_active_keys` from it, while
//! `keystone-manage fernet_rotate` defaults to 3; rotating with 3 would prune keys the
//! deployment still keeps. The record holds no key material (mode 0644).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::artifact::layout::dirs;
use crate::error::{Error, Result};
use crate::fsutil::{self, PUBLIC_FILE_MODE, WriteAction};
use crate::keys::kind::DEFAULT_MAX_ACTIVE_KEYS as KEYSTONE_MAX_ACTIVE_KEYS;
use crate::keys::repo::validate_max_active_keys;
use crate::release::Release;

/// The record's file name, inside the work directory.
pub const FILE: &str = "build.json";

/// Version of the record's format.
pub(crate) const FORMAT: u32 = 1;

/// What the last build of a work directory rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildRecord {
    /// `FORMAT`.
    pub format: u32,
    /// The stack.
    pub stack: String,
    /// The release rendered for.
    pub release: Release,
    /// `KeystoneFernetMaxActiveKeys` as rendered in fernet.yaml.
    pub max_active_keys: usize,
}

impl BuildRecord {
    /// Writes `<workdir>/build.json` unless it already holds exactly this record.
    pub fn write(&self, workdir: &Path, dry_run: bool) -> Result<WriteAction> {
        let text = serde_json::to_string_pretty(self).expect("record serializes") + "\n";
        fsutil::write_if_changed(
            &workdir.join(FILE),
            text.as_bytes(),
            PUBLIC_FILE_MODE,
            dry_run,
        )
    }

    /// Reads `<workdir>/build.json`.
    pub fn load(workdir: &Path) -> Result<Self> {
        let path = workdir.join(FILE);
        let bytes = fsutil::read_small(&path)?;
        let record: BuildRecord =
            serde_json::from_slice(&bytes).map_err(|e| Error::BuildRecord {
                path: path.clone(),
                message: format!("not a build record: {e}"),
            })?;
        if record.format != FORMAT {
            return Err(Error::BuildRecord {
                path,
                message: format!(
                    "format {} is not {FORMAT} (written by another version of overcloud-keys)",
                    record.format
                ),
            });
        }
        validate_max_active_keys(record.max_active_keys).map_err(|e| Error::BuildRecord {
            path,
            message: e.to_string(),
        })?;
        Ok(record)
    }
}

/// The work directory holding `repository`, when it is one of a build's numbered
/// repositories: `<workdir>/keys/fernet-keys` or `<workdir>/keys/fernet-receipts`, where
/// `<workdir>` holds `build.json` or a rendered `fernet.yaml`.
pub(crate) fn workdir_of(repository: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(repository).ok()?;
    let name = absolute.file_name()?.to_str()?;
    if name != dirs::FERNET && name != dirs::RECEIPT {
        return None;
    }
    let keys = absolute.parent()?;
    if keys.file_name()? != "keys" {
        return None;
    }
    let workdir = keys.parent()?;
    (workdir.join(FILE).is_file() || workdir.join(crate::heat::names::FERNET).is_file())
        .then(|| workdir.to_path_buf())
}

/// Where a rotation's `max_active_keys` came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum MaxActiveKeysSource {
    /// `--max-active-keys`.
    Flag,
    /// The work directory's `build.json`.
    BuildRecord {
        /// The record.
        path: PathBuf,
    },
    /// `KeystoneFernetMaxActiveKeys` in the work directory's fernet.yaml (a work directory
    /// built before builds recorded `build.json`).
    Rendered {
        /// The environment file.
        path: PathBuf,
    },
    /// keystone's default: the repository is not a work directory's.
    KeystoneDefault,
}

/// The `max_active_keys` a rotation uses, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaxActiveKeys {
    /// The value.
    pub value: usize,
    /// Its origin.
    pub source: MaxActiveKeysSource,
}

impl MaxActiveKeys {
    /// One line for the rotate output.
    pub fn describe(&self) -> String {
        let value = self.value;
        match &self.source {
            MaxActiveKeysSource::Flag => format!("max_active_keys {value} (--max-active-keys)"),
            MaxActiveKeysSource::BuildRecord { path } => format!(
                "max_active_keys {value}: the KeystoneFernetMaxActiveKeys the work directory's last build rendered (recorded in {})",
                path.display()
            ),
            MaxActiveKeysSource::Rendered { path } => format!(
                "max_active_keys {value}: KeystoneFernetMaxActiveKeys in {} (the work directory's last build)",
                path.display()
            ),
            MaxActiveKeysSource::KeystoneDefault => format!(
                "max_active_keys {value}: keystone's default (not a build work directory's repository; pass --max-active-keys to match a deployment's setting)"
            ),
        }
    }
}

/// The `max_active_keys` for rotating `repository`: `explicit` when given, else what the
/// last build of its work directory rendered, else keystone's 3.
pub fn rotation_max_active_keys(
    repository: &Path,
    explicit: Option<usize>,
) -> Result<MaxActiveKeys> {
    if let Some(value) = explicit {
        return Ok(MaxActiveKeys {
            value: validate_max_active_keys(value)?,
            source: MaxActiveKeysSource::Flag,
        });
    }
    let Some(workdir) = workdir_of(repository) else {
        return Ok(MaxActiveKeys {
            value: KEYSTONE_MAX_ACTIVE_KEYS,
            source: MaxActiveKeysSource::KeystoneDefault,
        });
    };
    if workdir.join(FILE).is_file() {
        return Ok(MaxActiveKeys {
            value: BuildRecord::load(&workdir)?.max_active_keys,
            source: MaxActiveKeysSource::BuildRecord {
                path: workdir.join(FILE),
            },
        });
    }
    let path = workdir.join(crate::heat::names::FERNET);
    Ok(MaxActiveKeys {
        value: rendered_max_active_keys(&path)?,
        source: MaxActiveKeysSource::Rendered { path },
    })
}

/// `KeystoneFernetMaxActiveKeys: N` in a rendered fernet.yaml (which also holds keys: read
/// into memory that is wiped afterwards, and only that one line is looked at).
fn rendered_max_active_keys(path: &Path) -> Result<usize> {
    let bytes = zeroize::Zeroizing::new(fsutil::read_small(path)?);
    let text = String::from_utf8_lossy(&bytes);
    let bad = |message: String| Error::BuildRecord {
        path: path.to_path_buf(),
        message,
    };
    let value = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("KeystoneFernetMaxActiveKeys:"))
        .ok_or_else(|| bad("has no KeystoneFernetMaxActiveKeys".into()))?;
    let value = value.trim().parse::<usize>().map_err(|_| {
        bad(format!(
            "KeystoneFernetMaxActiveKeys {:?} is not a number",
            value.trim()
        ))
    })?;
    validate_max_active_keys(value).map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workdir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("keys/fernet-keys")).unwrap();
        for (name, text) in files {
            std::fs::write(tmp.path().join(name), text).unwrap();
        }
        tmp
    }

    #[test]
    fn record_round_trips_and_wins_over_the_rendered_file() {
        let tmp = workdir_with(&[("fernet.yaml", "  KeystoneFernetMaxActiveKeys: 4\n")]);
        let record = BuildRecord {
            format: FORMAT,
            stack: "overcloud".into(),
            release: Release::Osp16_2,
            max_active_keys: 7,
        };
        assert_eq!(
            record.write(tmp.path(), false).unwrap(),
            WriteAction::Written
        );
        assert_eq!(
            record.write(tmp.path(), false).unwrap(),
            WriteAction::Unchanged
        );
        assert_eq!(BuildRecord::load(tmp.path()).unwrap(), record);
        let repo = tmp.path().join("keys/fernet-keys");
        let got = rotation_max_active_keys(&repo, None).unwrap();
        assert_eq!(got.value, 7);
        assert!(matches!(
            got.source,
            MaxActiveKeysSource::BuildRecord { .. }
        ));
        assert_eq!(rotation_max_active_keys(&repo, Some(3)).unwrap().value, 3);
    }

    #[test]
    fn rendered_file_then_keystone_default() {
        let tmp = workdir_with(&[(
            "fernet.yaml",
            "parameter_defaults:\n  KeystoneFernetMaxActiveKeys: 6\n",
        )]);
        let repo = tmp.path().join("keys/fernet-keys");
        let got = rotation_max_active_keys(&repo, None).unwrap();
        assert_eq!(
            (got.value, got.describe().contains("fernet.yaml")),
            (6, true)
        );
        // Same layout, but nothing a build wrote: not a work directory.
        let bare = workdir_with(&[]);
        let got = rotation_max_active_keys(&bare.path().join("keys/fernet-keys"), None).unwrap();
        assert_eq!(got.source, MaxActiveKeysSource::KeystoneDefault);
        assert_eq!(got.value, 3);
        // Another directory name under a work directory is not one of its repositories.
        let got = rotation_max_active_keys(&tmp.path().join("keys/other"), None).unwrap();
        assert_eq!(got.source, MaxActiveKeysSource::KeystoneDefault);
    }

    #[test]
    fn a_broken_record_is_an_error_naming_it() {
        let tmp = workdir_with(&[("build.json", "{\"format\": 1}")]);
        let err = rotation_max_active_keys(&tmp.path().join("keys/fernet-keys"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("build.json"), "{err}");
        let tmp = workdir_with(&[("fernet.yaml", "  KeystoneFernetMaxActiveKeys: lots\n")]);
        let err = rotation_max_active_keys(&tmp.path().join("keys/fernet-keys"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"lots\""), "{err}");
    }
}
