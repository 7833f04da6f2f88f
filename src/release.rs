//! Release profiles: what each Red Hat OpenStack Platform release can consume. One table
//! (`PROFILES`) decides the artifact mechanism, the `heat_template_version` of every
//! rendered template, whether keystone has a JWS provider, and the parameter names; the
//! rest of the crate asks it instead of hard-coding a release.
//!
//! Evidence for each column is in `docs/releases.md` (Heat's `setup.cfg` entry points,
//! tripleo-heat-templates' artifact parameters, keystone's release notes).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A Red Hat OpenStack Platform release this tool renders for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Release {
    /// OSP 10 (OpenStack Newton: Heat 7, keystone 10; keystone on the host).
    Osp10,
    /// OSP 11 (OpenStack Ocata: Heat 8, keystone 11; keystone on the host).
    Osp11,
    /// OSP 13 (OpenStack Queens: Heat 10, keystone 13).
    Osp13,
    /// OSP 16.2 (OpenStack Train: Heat 13, keystone 16).
    Osp16_2,
    /// OSP 17.1 (OpenStack Wallaby: Heat 16, keystone 19).
    #[default]
    Osp17_1,
}

/// What one release can consume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// The release.
    pub release: Release,
    /// Its name on the command line and in the config (`13`, `16.2`, `17.1`).
    pub name: &'static str,
    /// The upstream OpenStack release it is built on.
    pub openstack: &'static str,
    /// `heat_template_version` of every template rendered for it: the newest HOT version
    /// that release's Heat registers in its `heat.templates` entry points.
    pub heat_template_version: &'static str,
    /// tripleo-heat-templates has `DeployArtifactFILEs` (wallaby and later). Without it
    /// artifacts go by Swift TempURL (`DeployArtifactURLs`), which is then the default.
    pub artifact_files: bool,
    /// keystone has the JWS token provider (keystone 15, Stein, and later).
    pub jws: bool,
    /// The parameter that lists artifacts by default on this release.
    pub artifacts_param: &'static str,
    /// How tripleo-heat-templates takes the Fernet token keys.
    pub fernet_params: FernetParams,
    /// keystone runs in a container (OSP 12 and later); before, on the host (baremetal
    /// layout, `/etc/keystone`).
    pub containerized: bool,
    /// The parameters carrying credential keys 0 and 1.
    pub credential_params: [&'static str; 2],
}

/// How a release's tripleo-heat-templates takes the Fernet token keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FernetParams {
    /// `KeystoneFernetKeys` (json map of path to content), `ManageKeystoneFernetKeys` and
    /// `KeystoneFernetMaxActiveKeys` (pike and later).
    KeysMap,
    /// `KeystoneFernetKey0` and `KeystoneFernetKey1` (ocata): puppet always writes files
    /// 0 and 1 from them, so they must mirror the repository the tarball carries.
    KeyPair,
    /// No Fernet key parameter at all (newton): the tarball alone carries the keys.
    NoParams,
}

/// The table. Order: oldest first, as [`Release::ALL`].
pub(crate) const PROFILES: [Profile; 5] = [
    Profile {
        release: Release::Osp10,
        name: "10",
        openstack: "newton",
        heat_template_version: "newton",
        artifact_files: false,
        jws: false,
        artifacts_param: "DeployArtifactURLs",
        fernet_params: FernetParams::NoParams,
        containerized: false,
        credential_params: ["KeystoneCredential0", "KeystoneCredential1"],
    },
    Profile {
        release: Release::Osp11,
        name: "11",
        openstack: "ocata",
        heat_template_version: "ocata",
        artifact_files: false,
        jws: false,
        artifacts_param: "DeployArtifactURLs",
        fernet_params: FernetParams::KeyPair,
        containerized: false,
        credential_params: ["KeystoneCredential0", "KeystoneCredential1"],
    },
    Profile {
        release: Release::Osp13,
        name: "13",
        openstack: "queens",
        heat_template_version: "queens",
        artifact_files: false,
        jws: false,
        artifacts_param: "DeployArtifactURLs",
        fernet_params: FernetParams::KeysMap,
        containerized: true,
        credential_params: ["KeystoneCredential0", "KeystoneCredential1"],
    },
    Profile {
        release: Release::Osp16_2,
        name: "16.2",
        openstack: "train",
        heat_template_version: "rocky",
        artifact_files: false,
        jws: true,
        artifacts_param: "DeployArtifactURLs",
        fernet_params: FernetParams::KeysMap,
        containerized: true,
        credential_params: ["KeystoneCredential0", "KeystoneCredential1"],
    },
    Profile {
        release: Release::Osp17_1,
        name: "17.1",
        openstack: "wallaby",
        heat_template_version: "wallaby",
        artifact_files: true,
        jws: true,
        artifacts_param: "DeployArtifactFILEs",
        fernet_params: FernetParams::KeysMap,
        containerized: true,
        credential_params: ["KeystoneCredential0", "KeystoneCredential1"],
    },
];

impl Release {
    /// Every release, oldest first.
    pub const ALL: [Release; 5] = [
        Release::Osp10,
        Release::Osp11,
        Release::Osp13,
        Release::Osp16_2,
        Release::Osp17_1,
    ];

    /// Its row of `PROFILES`.
    pub fn profile(self) -> &'static Profile {
        let profile = &PROFILES[self as usize];
        debug_assert_eq!(profile.release, self, "PROFILES is in Release order");
        profile
    }

    /// `13`, `16.2` or `17.1`.
    pub fn as_str(self) -> &'static str {
        self.profile().name
    }

    /// The accepted names, for messages: `10, 11, 13, 16.2, 17.1`.
    pub fn names() -> String {
        Release::ALL.map(Release::as_str).join(", ")
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A release string that names no release in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRelease(pub String);

impl fmt::Display for UnknownRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown release {:?}: expected one of {}",
            self.0,
            Release::names()
        )
    }
}

impl std::error::Error for UnknownRelease {}

impl FromStr for Release {
    type Err = UnknownRelease;

    /// Exactly a name of the table; `16` is refused rather than guessed (16.0, 16.1 and 16.2
    /// differ, and only 16.2 is described).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Release::ALL
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| UnknownRelease(text.to_string()))
    }
}

impl Serialize for Release {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Release {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Release;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a release string, one of {}", Release::names())
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Release, E> {
                text.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// Why a setting is refused on a release: the message and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The release.
    pub release: Release,
    /// The setting (`artifacts`, `jws`).
    pub setting: &'static str,
    /// The value asked for.
    pub value: String,
    /// What the release lacks, and where that is documented.
    pub reason: &'static str,
    /// What to do instead.
    pub fix: String,
}

impl Profile {
    /// `artifacts = files` (`DeployArtifactFILEs`) on a release whose THT lacks it.
    pub(crate) fn check_artifact_files(&self) -> Result<(), Refusal> {
        if self.artifact_files {
            return Ok(());
        }
        Err(Refusal {
            release: self.release,
            setting: "artifacts",
            value: "files".into(),
            reason: "DeployArtifactFILEs exists only from tripleo-heat-templates wallaby (OSP 17)",
            fix: format!(
                "use --artifacts swift (DeployArtifactURLs, the default on {}), or --release 17.1 if the overcloud runs OSP 17.1",
                self.name
            ),
        })
    }

    /// The containerized layout on a release whose keystone runs on the host.
    pub(crate) fn check_layout(&self, containerized: bool) -> Result<(), Refusal> {
        if !containerized || self.containerized {
            return Ok(());
        }
        Err(Refusal {
            release: self.release,
            setting: "layout",
            value: "containerized".into(),
            reason: "keystone runs on the host before OSP 12: it reads /etc/keystone, not puppet-generated",
            fix: format!(
                "use --layout baremetal (the default on {}), or the --release the overcloud really runs",
                self.name
            ),
        })
    }

    /// JWS keys (`stage` or `enable`) on a release whose keystone has no JWS provider.
    pub(crate) fn check_jws(&self, value: &str) -> Result<(), Refusal> {
        if self.jws {
            return Ok(());
        }
        Err(Refusal {
            release: self.release,
            setting: "jws",
            value: value.into(),
            reason: "no JWS token provider before keystone 15 (Stein); OSP 10, 11 and 13 run keystone 10, 11 and 13",
            fix: format!(
                "drop --jws (and any jws setting in the config): on {} the default is jws = \"off\", Fernet tokens only",
                self.name
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_release_order_and_names_round_trip() {
        for (i, release) in Release::ALL.into_iter().enumerate() {
            assert_eq!(PROFILES[i].release, release);
            assert_eq!(release.as_str().parse::<Release>(), Ok(release));
            let json = serde_json::to_string(&release).unwrap();
            assert_eq!(json, format!("\"{}\"", release.as_str()));
            assert_eq!(serde_json::from_str::<Release>(&json).unwrap(), release);
        }
        assert_eq!(Release::default(), Release::Osp17_1);
    }

    #[test]
    fn what_each_release_consumes() {
        let [osp10, osp11, osp13, osp16, osp17] = Release::ALL.map(Release::profile);
        assert_eq!(
            [osp10, osp11, osp13].map(|p| p.fernet_params),
            [
                FernetParams::NoParams,
                FernetParams::KeyPair,
                FernetParams::KeysMap
            ]
        );
        assert!(osp11.check_layout(true).is_err() && osp11.check_layout(false).is_ok());
        assert!(osp13.check_layout(true).is_ok());
        assert_eq!(
            [osp10, osp11].map(|p| p.heat_template_version),
            ["newton", "ocata"]
        );
        assert_eq!(
            [osp13, osp16, osp17].map(|p| p.heat_template_version),
            ["queens", "rocky", "wallaby"]
        );
        assert_eq!(
            [osp13, osp16, osp17].map(|p| p.artifacts_param),
            [
                "DeployArtifactURLs",
                "DeployArtifactURLs",
                "DeployArtifactFILEs"
            ]
        );
        assert_eq!([osp13, osp16, osp17].map(|p| p.jws), [false, true, true]);
        assert!(osp17.check_artifact_files().is_ok());
        assert!(osp16.check_jws("enable").is_ok());
        let refused = osp16.check_artifact_files().unwrap_err();
        assert_eq!(
            (refused.setting, refused.value.as_str()),
            ("artifacts", "files")
        );
        assert!(refused.fix.contains("--artifacts swift"), "{}", refused.fix);
        let refused = osp13.check_jws("stage").unwrap_err();
        assert!(refused.reason.contains("keystone 15"), "{}", refused.reason);
    }

    #[test]
    fn unknown_release_is_one_line_naming_the_value_and_the_choices() {
        for text in ["16", "17", "", "osp13", "16.2 ", "wallaby"] {
            let err = text.parse::<Release>().unwrap_err().to_string();
            assert!(!err.contains('\n'), "{err}");
            assert!(err.contains(&format!("{text:?}")), "{err}");
            assert!(err.contains("10, 11, 13, 16.2, 17.1"), "{err}");
        }
        let err = toml::from_str::<std::collections::BTreeMap<String, Release>>("release = 16.2")
            .unwrap_err()
            .to_string();
        assert!(err.contains("a release string"), "{err}");
        let err = toml::from_str::<std::collections::BTreeMap<String, Release>>("release = \"16\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown release \"16\""), "{err}");
    }
}
