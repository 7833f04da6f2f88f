//! Role-scoped delivery: the key tarball reaches only the nodes of the roles that run
//! keystone, through `OS::TripleO::<Role>ExtraConfigPre` (THT 18 `puppet/role.role.j2.yaml`
//! maps one template per role, run before services are configured).
//!
//! `DeployArtifactURLs/FILEs` are global variables: every node of every role extracts them.
//! This module renders instead a nested template that runs a checked script on each node of
//! the chosen roles, and the environment mapping it. If the operator already maps a role's
//! `ExtraConfigPre`, a chaining template runs theirs and ours.

use std::path::{Path, PathBuf};

use base64::Engine;
use minijinja::context;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::heat::{ser, template_env, validate_role};

/// The node-side script (shellcheck-clean POSIX sh).
pub(crate) const DELIVER_SCRIPT: &str = include_str!("../../templates/deliver-keys.sh");

/// Largest tarball embedded in the environment file. Keys make a few KB; Heat refuses
/// environments and templates over `max_template_size` (512 KiB by default), which every
/// other file the operator passes shares, and config-download copies the value into each
/// node's deployment data: 64 KiB (about 87 KiB of base64) keeps well clear of both.
pub(crate) const MAX_EMBEDDED_BYTES: usize = 64 * 1024;

/// File names of what scoped delivery renders.
pub mod names {
    /// The nested template mapped to `<Role>ExtraConfigPre`.
    pub const TEMPLATE: &str = "keystone-keys-pre.yaml";
    /// The environment mapping it and passing its inputs (secret when embedded).
    pub const ENV: &str = "keystone-keys-scoped.yaml";
}

/// How the nodes obtain the tarball.
#[derive(Debug, Clone)]
pub(crate) enum Source<'a> {
    /// Embedded in the environment, base64.
    Embedded(&'a [u8]),
    /// Downloaded from a Swift TempURL.
    Url(&'a str),
}

/// A role whose `ExtraConfigPre` is already mapped by the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ExistingMapping {
    /// The role.
    pub role: String,
    /// Their template (absolute when resolvable).
    pub template: String,
    /// The environment file that maps it.
    pub env_file: PathBuf,
}

/// One rendered file.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// File name inside the output directory.
    pub name: String,
    /// Content.
    pub text: String,
    /// Holds key material.
    pub secret: bool,
}

/// Inputs of the scoped files.
#[derive(Debug, Clone)]
pub(crate) struct ScopedInputs<'a> {
    /// Stack name.
    pub stack: &'a str,
    /// Roles that receive the keys.
    pub roles: &'a [String],
    /// Where the rendered files will live (absolute; the environment maps templates by path).
    pub output_dir: &'a Path,
    /// SHA-256 of the tarball.
    pub sha256: &'a str,
    /// The layout root (relative to /).
    pub layout_root: &'a str,
    /// Key directories the tarball owns (relative to /).
    pub key_dirs: &'a [String],
    /// Tarball source.
    pub source: Source<'a>,
    /// Mappings the operator already has.
    pub existing: &'a [ExistingMapping],
    /// The release rendered for: its profile's `heat_template_version` heads every
    /// template, so that release's Heat knows it.
    pub release: crate::release::Release,
}

#[derive(Serialize)]
struct Mapping {
    role: String,
    template: String,
}

/// Renders the template, the chaining templates needed, and the environment.
pub fn render(inputs: &ScopedInputs<'_>) -> Result<Vec<Rendered>> {
    check_inputs(inputs)?;
    let heat_template_version = inputs.release.profile().heat_template_version;
    let env = template_env()?;
    let render = |name: &str, ctx: minijinja::Value| render_one(&env, name, ctx);
    let version = env!("CARGO_PKG_VERSION");
    let ours = inputs
        .output_dir
        .join(names::TEMPLATE)
        .display()
        .to_string();
    let mut out = vec![Rendered {
        name: names::TEMPLATE.into(),
        text: render(
            names::TEMPLATE,
            context! { version => version, script => DELIVER_SCRIPT, heat_template_version => heat_template_version },
        )?,
        secret: false,
    }];
    let mappings = map_roles(inputs, &render, version, &ours, &mut out)?;
    let (embedded, url) = delivered_by(&inputs.source)?;
    out.push(Rendered {
        name: names::ENV.into(),
        text: render(
            names::ENV,
            context! {
                stack => inputs.stack,
                version => version,
                roles => ser(inputs.roles),
                mappings => ser(&mappings),
                sha256 => inputs.sha256,
                layout_root => inputs.layout_root,
                key_dirs => inputs.key_dirs.join(" "),
                embedded => embedded,
                url => url,
            },
        )?,
        // Embedded tarball or TempURL: either one hands out the keys.
        secret: true,
    });
    Ok(out)
}

/// Refuses role names Heat would not take and an output directory that is not absolute
/// (the environment maps the templates by path).
fn check_inputs(inputs: &ScopedInputs<'_>) -> Result<()> {
    for role in inputs.roles {
        validate_role(role)?;
    }
    if !inputs.output_dir.is_absolute() {
        return Err(Error::InvalidValue {
            name: "output directory",
            value: inputs.output_dir.display().to_string(),
            reason: "must be absolute: the environment maps the templates by path".into(),
        });
    }
    Ok(())
}

/// Renders template `name` with `ctx`, ending it with a newline.
fn render_one(
    env: &minijinja::Environment<'static>,
    name: &str,
    ctx: minijinja::Value,
) -> Result<String> {
    let text = env
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| Error::Render {
            name: name.into(),
            message: e.to_string(),
        })?;
    Ok(if text.ends_with('\n') {
        text
    } else {
        text + "\n"
    })
}

/// Which template each role's `ExtraConfigPre` maps to: ours (`ours`), or, for a role the
/// operator already maps, a chaining template (rendered into `out`) that runs theirs and ours.
fn map_roles(
    inputs: &ScopedInputs<'_>,
    render: &dyn Fn(&str, minijinja::Value) -> Result<String>,
    version: &str,
    ours: &str,
    out: &mut Vec<Rendered>,
) -> Result<Vec<Mapping>> {
    let heat_template_version = inputs.release.profile().heat_template_version;
    let mut mappings = vec![];
    for role in inputs.roles {
        match inputs.existing.iter().find(|m| &m.role == role) {
            None => mappings.push(Mapping {
                role: role.clone(),
                template: ours.to_string(),
            }),
            Some(existing) => {
                let name = format!("keystone-keys-pre-chain-{role}.yaml");
                out.push(Rendered {
                    text: render(
                        "keystone-keys-chain.yaml",
                        context! { version => version, role => role, existing => existing.template.clone(), ours => ours.to_string(), heat_template_version => heat_template_version },
                    )?,
                    name: name.clone(),
                    secret: false,
                });
                mappings.push(Mapping {
                    role: role.clone(),
                    template: inputs.output_dir.join(name).display().to_string(),
                });
            }
        }
    }
    Ok(mappings)
}

/// How the node script gets the tarball: embedded (base64, within Heat's size limits) or
/// by its TempURL.
fn delivered_by(source: &Source<'_>) -> Result<(Option<String>, Option<String>)> {
    Ok(match *source {
        Source::Embedded(bytes) => {
            if bytes.len() > MAX_EMBEDDED_BYTES {
                return Err(Error::InvalidValue {
                    name: "embedded artifact",
                    value: format!("{} bytes", bytes.len()),
                    reason: format!(
                        "larger than the {MAX_EMBEDDED_BYTES}-byte embedding limit (Heat's 512 KiB environment limit is shared with every other file); deliver it by URL (--artifacts swift)"
                    ),
                });
            }
            (
                Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                None,
            )
        }
        Source::Url("") => {
            return Err(Error::InvalidValue {
                name: "artifact URL",
                value: "(empty)".into(),
                reason: "URL delivery needs the Swift TempURL of the uploaded tarball".into(),
            });
        }
        Source::Url(url) => (None, Some(url.to_string())),
    })
}

/// Finds `OS::TripleO::<Role>ExtraConfigPre` mappings in the operator's environment files.
/// Relative template paths are resolved against the environment file's directory, as
/// tripleoclient does.
pub(crate) fn existing_mappings(env_files: &[PathBuf]) -> Result<Vec<ExistingMapping>> {
    let mut out = vec![];
    for file in env_files {
        let text = crate::fsutil::read_text(file)?;
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&text).map_err(|e| Error::Config {
                file: file.clone(),
                message: format!("not a YAML environment: {e}"),
            })?;
        let Some(registry) = doc.get("resource_registry").and_then(|r| r.as_mapping()) else {
            continue;
        };
        for (key, value) in registry {
            let (Some(key), Some(template)) = (key.as_str(), value.as_str()) else {
                continue;
            };
            let Some(role) = key
                .strip_prefix("OS::TripleO::")
                .and_then(|k| k.strip_suffix("ExtraConfigPre"))
            else {
                continue;
            };
            if role.is_empty()
                || template == "OS::Heat::None"
                || template.ends_with("pre_deploy/default.yaml")
            {
                continue;
            }
            // Heat treats only `.yaml`/`.template` values as files; anything else
            // (`OS::TripleO::OperatorPre`) is a type name and must stay as it is.
            let is_file = template.ends_with(".yaml") || template.ends_with(".template");
            let resolved =
                if !is_file || Path::new(template).is_absolute() || template.contains("://") {
                    template.to_string()
                } else {
                    let joined = crate::fsutil::parent_of(file).join(template);
                    let absolute = std::path::absolute(&joined).unwrap_or(joined);
                    // Drop `.` components so the chain template names a clean path.
                    let clean: PathBuf = absolute
                        .components()
                        .filter(|c| !matches!(c, std::path::Component::CurDir))
                        .collect();
                    clean.display().to_string()
                };
            out.push(ExistingMapping {
                role: role.to_string(),
                template: resolved,
                env_file: file.clone(),
            });
        }
    }
    Ok(out)
}

/// Checks role names against a roles_data file (a YAML list of `- name: Role`).
pub(crate) fn check_roles(roles: &[String], roles_data: &Path) -> Result<()> {
    let text = crate::fsutil::read_text(roles_data)?;
    let doc: Vec<serde_yaml_ng::Value> =
        serde_yaml_ng::from_str(&text).map_err(|e| Error::Config {
            file: roles_data.to_path_buf(),
            message: format!("not a roles_data list: {e}"),
        })?;
    let known: Vec<&str> = doc
        .iter()
        .filter_map(|r| r.get("name").and_then(|n| n.as_str()))
        .collect();
    for role in roles {
        if !known.contains(&role.as_str()) {
            return Err(Error::InvalidValue {
                name: "role",
                value: role.clone(),
                reason: format!(
                    "not in {} (roles there: {})",
                    roles_data.display(),
                    known.join(", ")
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs<'a>(source: Source<'a>, roles: &'a [String], dirs: &'a [String]) -> ScopedInputs<'a> {
        ScopedInputs {
            stack: "overcloud",
            roles,
            output_dir: Path::new("/w"),
            sha256: "00",
            layout_root: "etc/keystone",
            key_dirs: dirs,
            source,
            existing: &[],
            release: crate::release::Release::Osp17_1,
        }
    }

    #[test]
    fn embedding_limit_is_enforced() {
        let roles = vec!["Controller".to_string()];
        let dirs = vec!["etc/keystone/jws-keys".to_string()];
        let big = vec![0u8; MAX_EMBEDDED_BYTES + 1];
        let err = render(&inputs(Source::Embedded(&big), &roles, &dirs)).unwrap_err();
        assert!(err.to_string().contains("embedding limit"), "{err}");
        let small = vec![0u8; 10];
        assert!(render(&inputs(Source::Embedded(&small), &roles, &dirs)).is_ok());
    }

    #[test]
    fn templates_carry_the_release_heat_template_version() {
        let roles = vec!["Controller".to_string()];
        let dirs = vec!["etc/keystone/jws-keys".to_string()];
        let existing = [ExistingMapping {
            role: "Controller".into(),
            template: "/home/stack/pre.yaml".into(),
            env_file: "/home/stack/env.yaml".into(),
        }];
        for release in crate::release::Release::ALL {
            let mut inputs = inputs(Source::Embedded(b"x"), &roles, &dirs);
            inputs.release = release;
            inputs.existing = &existing;
            let files = render(&inputs).unwrap();
            let templates: Vec<_> = files.iter().filter(|f| f.name != names::ENV).collect();
            assert_eq!(templates.len(), 2, "the template and the chaining template");
            for file in templates {
                let first = file.text.lines().next().unwrap();
                let want = release.profile().heat_template_version;
                assert_eq!(
                    first,
                    format!("heat_template_version: {want}"),
                    "{}",
                    file.name
                );
            }
        }
    }

    #[test]
    fn secrets_are_substituted_into_the_script_never_passed_as_inputs() {
        // Heat replaces every occurrence: one place each in the script, nowhere else.
        for placeholder in [
            "__OVERCLOUD_KEYS_ARTIFACT_B64__",
            "__OVERCLOUD_KEYS_ARTIFACT_URL__",
        ] {
            assert_eq!(
                DELIVER_SCRIPT.matches(placeholder).count(),
                1,
                "{placeholder}"
            );
        }
        let roles = vec!["Controller".to_string()];
        let dirs = vec!["etc/keystone/jws-keys".to_string()];
        let files = render(&inputs(Source::Embedded(b"x"), &roles, &dirs)).unwrap();
        let template = files.iter().find(|f| f.name == names::TEMPLATE).unwrap();
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&template.text).unwrap();
        let resources = &doc["resources"];
        let values = resources["OvercloudKeysDeployment"]["properties"]["input_values"]
            .as_mapping()
            .unwrap();
        // The script hook logs every input's value.
        for (name, value) in values {
            let param = value["get_param"].as_str().unwrap();
            assert!(
                !matches!(
                    param,
                    "OvercloudKeysArtifactBase64" | "OvercloudKeysArtifactUrl"
                ),
                "{name:?} passes {param} as an input"
            );
        }
        let replace = &resources["OvercloudKeysConfig"]["properties"]["config"]["str_replace"];
        assert_eq!(replace["template"].as_str(), Some(DELIVER_SCRIPT));
        assert_eq!(
            replace["params"]["__OVERCLOUD_KEYS_ARTIFACT_B64__"]["get_param"].as_str(),
            Some("OvercloudKeysArtifactBase64")
        );
        assert_eq!(
            replace["params"]["__OVERCLOUD_KEYS_ARTIFACT_URL__"]["get_param"].as_str(),
            Some("OvercloudKeysArtifactUrl")
        );
    }

    #[test]
    fn url_mode_needs_a_url() {
        let roles = vec!["Controller".to_string()];
        let dirs = vec!["etc/keystone/jws-keys".to_string()];
        assert!(render(&inputs(Source::Url(""), &roles, &dirs)).is_err());
        let files = render(&inputs(
            Source::Url("http://127.0.0.1/x?temp_url_sig=a"),
            &roles,
            &dirs,
        ))
        .unwrap();
        let env = files.iter().find(|f| f.name == names::ENV).unwrap();
        assert!(env.secret, "a TempURL is a bearer credential");
        assert!(env.text.contains("OvercloudKeysArtifactUrl"));
    }
}
