//! Node-side secrecy and SELinux labels of role-scoped delivery.
//!
//! The hook-flow tests run heat-agents' own heat-config flow (`55-heat-config`, the `script`
//! hook, `heat-config-notify`, from the heat-agents sdist on PyPI, cached under
//! target/heat-agents) the way tripleo-common's `deployments.yaml` runs it: the deployment
//! file in `/var/lib/heat-config/tripleo-config-download/` (0644, as Ansible's `template` and
//! `copy` leave it), `HEAT_SHELL_CONFIG` pointing at it. They run in a private mount
//! namespace whose `/var/lib` and `/run` are a temporary directory, so every path is the one
//! a node uses. The deployment is built from the rendered template the way Heat does it
//! (`str_replace` of the script with the environment's parameters, `input_values`).
//!
//! The SELinux tests run the node script with a fake `selinuxenabled` and `chcon` on PATH.

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::cli_support::{BIN, is_root, skip};
use crate::scoped::scoped_inputs;

/// heat-agents of OSP 17.1 (wallaby); `55-heat-config`, the script hook and
/// `heat-config-notify` are the same in train's 1.10.0 but for Python 2 idioms.
const HEAT_AGENTS: &str = "2.2.0";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/templates/deliver-keys.sh");
const SCRUBBED: &str = "SCRUBBED-BY-OVERCLOUD-KEYS";
const CONFIG_DOWNLOAD: &str = "var/lib/heat-config/tripleo-config-download";
const DEPLOYED: &str = "var/lib/heat-config/deployed";

/// The extracted heat-agents sdist, downloaded once into target/heat-agents/VERSION.
fn heat_agents(python: &Path) -> Result<PathBuf, String> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/heat-agents");
    let dir = base.join(HEAT_AGENTS);
    let src = dir.join(format!("heat-agents-{HEAT_AGENTS}"));
    if dir.join(".complete").exists() {
        return Ok(src);
    }
    // One download per test process; a concurrent process uses its own temporary copy.
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    if dir.join(".complete").exists() {
        return Ok(src);
    }
    fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{HEAT_AGENTS}.tmp-"))
        .tempdir_in(&base)
        .map_err(|e| format!("{}: {e}", base.display()))?
        .keep();
    let pip = Command::new(python)
        .args(["-m", "pip", "download", "--quiet", "--no-deps"])
        .args(["--no-binary", ":all:", "--disable-pip-version-check", "-d"])
        .arg(&tmp)
        .arg(format!("heat-agents=={HEAT_AGENTS}"))
        .status()
        .map_err(|e| format!("pip: {e}"))?;
    let sdist = tmp.join(format!("heat-agents-{HEAT_AGENTS}.tar.gz"));
    if !pip.success() || !sdist.exists() {
        let _ = fs::remove_dir_all(&tmp);
        return Err(format!(
            "cannot download the heat-agents {HEAT_AGENTS} sdist from PyPI"
        ));
    }
    let tar = Command::new("tar")
        .arg("-xzf")
        .arg(&sdist)
        .arg("-C")
        .arg(&tmp)
        .status()
        .map_err(|e| format!("tar: {e}"))?;
    if !tar.success() {
        let _ = fs::remove_dir_all(&tmp);
        return Err(format!("cannot extract {}", sdist.display()));
    }
    fs::write(tmp.join(".complete"), "").map_err(|e| e.to_string())?;
    // Another test may have won the race: its copy is as good as ours.
    if fs::rename(&tmp, &dir).is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    if dir.join(".complete").exists() {
        Ok(src)
    } else {
        Err(format!("no complete copy in {}", dir.display()))
    }
}

/// `build --workdir DIR` (scoped delivery, embedded tarball).
fn build(workdir: &Path) {
    let out = Command::new(BIN)
        .args(["build", "--workdir"])
        .arg(workdir)
        .args(["-f", "json"])
        .output()
        .expect("binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn yaml(path: &Path) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

/// What Heat hands a node for the rendered deployment: the script with the `str_replace`
/// parameters substituted, and the `input_values`, each `get_param` resolved against the
/// environment (a parameter it does not set has the template's default, '').
fn deployment(workdir: &Path, id: &str) -> Value {
    let params = scoped_inputs(workdir);
    let template = yaml(&workdir.join("keystone-keys-pre.yaml"));
    let get_param = |v: &serde_yaml_ng::Value| -> String {
        let name = v["get_param"].as_str().expect("a get_param");
        params.get(name).cloned().unwrap_or_default()
    };
    let config = &template["resources"]["OvercloudKeysConfig"]["properties"];
    assert_eq!(config["group"].as_str(), Some("script"));
    let replace = &config["config"]["str_replace"];
    let mut script = replace["template"].as_str().unwrap().to_string();
    for (key, value) in replace["params"].as_mapping().unwrap() {
        script = script.replace(key.as_str().unwrap(), &get_param(value));
    }
    let values = &template["resources"]["OvercloudKeysDeployment"]["properties"]["input_values"];
    let mut inputs: Vec<Value> = config["inputs"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|i| {
            let name = i["name"].as_str().unwrap();
            json!({"name": name, "type": "String", "description": null,
                   "value": get_param(&values[name])})
        })
        .collect();
    // Heat's own inputs for a deployment that does not signal (config-download).
    for (name, value) in [
        ("deploy_server_id", "8d7e2a55-0f6b-4a8e-9d63-3c3f5b2e9a01"),
        ("deploy_action", "CREATE"),
        ("deploy_stack_id", "overcloud-ControllerExtraConfigPre/5f0c"),
        ("deploy_resource_name", "OvercloudKeysDeployment"),
        ("deploy_signal_transport", "NO_SIGNAL"),
    ] {
        inputs.push(json!({"name": name, "type": "String", "value": value}));
    }
    json!({
        "id": id,
        "name": "OvercloudKeysDeployment",
        "deployment_name": "OvercloudKeysDeployment",
        "group": "script",
        "config": script,
        "inputs": inputs,
        "outputs": [],
        "options": {},
        "creation_time": "2026-12-03T12:00:00Z",
    })
}

fn write_mode(path: &Path, text: &str, mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// What tripleo-common's deployments.yaml leaves before it runs 55-heat-config: the
/// `template` task's `NAME-ID.rendered` and the `copy` task's `NAME-ID` (a JSON list),
/// both 0644 (no mode given, umask 022).
fn place_config_download(root: &Path, deployment: &Value) -> PathBuf {
    let id = deployment["id"].as_str().unwrap();
    let file = root.join(CONFIG_DOWNLOAD).join(format!(
        "{}-{id}",
        deployment["deployment_name"].as_str().unwrap()
    ));
    let mut by_name = serde_json::Map::new();
    by_name.insert(
        deployment["deployment_name"].as_str().unwrap().to_string(),
        deployment.clone(),
    );
    let rendered = serde_yaml_ng::to_string(&by_name).unwrap();
    write_mode(
        &file.with_file_name(format!(
            "{}.rendered",
            file.file_name().unwrap().to_string_lossy()
        )),
        &rendered,
        0o644,
    );
    write_mode(&file, &json!([deployment]).to_string(), 0o644);
    file
}

/// Every 48-character window of `secret` at a few offsets: a partial leak shows too.
fn fragments(secret: &str) -> Vec<String> {
    assert!(secret.len() > 200, "a real tarball, not a stub");
    let step = (secret.len() - 48) / 6;
    (0..=6)
        .map(|i| secret[i * step..i * step + 48].to_string())
        .collect()
}

/// Regular files under `dir` (not following symlinks), relative path → content.
fn files_under(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(m) = fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() {
            stack.extend(fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
        } else if m.is_file() {
            out.insert(
                p.strip_prefix(dir).unwrap().to_path_buf(),
                fs::read(&p).unwrap(),
            );
        }
    }
    out
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn can_unshare() -> bool {
    Command::new("unshare")
        .args(["-m", "true"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Runs heat-agents' 55-heat-config as tripleo-common's deployments.yaml does (only
/// `HEAT_SHELL_CONFIG` set), in a mount namespace whose /var/lib and /run are `root`'s.
/// `read_only` directories (relative to `root`) are mounted read-only there.
fn run_heat_config(
    root: &Path,
    agents: &Path,
    venv: &Path,
    shell_config: Option<&Path>,
    read_only: &[&str],
) -> Output {
    // The hook as heat-agents' element installs it, and heat-config-notify outside the mounts.
    let hook = root.join("var/lib/heat-config/hooks/script");
    fs::create_dir_all(hook.parent().unwrap()).unwrap();
    fs::copy(
        agents.join("heat-config-script/install.d/hook-script.py"),
        &hook,
    )
    .unwrap();
    fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).unwrap();
    let notify = root.join("bin/heat-config-notify");
    fs::create_dir_all(notify.parent().unwrap()).unwrap();
    fs::copy(agents.join("heat-config/bin/heat-config-notify"), &notify).unwrap();
    fs::set_permissions(&notify, fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir_all(root.join("run")).unwrap();
    let mut mounts =
        String::from("mount -n --bind \"$1/var/lib\" /var/lib && mount -n --bind \"$1/run\" /run");
    for dir in read_only {
        mounts.push_str(&format!(
            " && mount -n --bind /{dir} /{dir} && mount -n -o remount,ro,bind /{dir}"
        ));
    }
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("unshare");
    if let Some(file) = shell_config {
        cmd.env(
            "HEAT_SHELL_CONFIG",
            Path::new("/").join(file.strip_prefix(root).unwrap()),
        );
    } else {
        cmd.env_remove("HEAT_SHELL_CONFIG");
    }
    cmd.arg("-m")
        .arg("sh")
        .arg("-c")
        .arg(format!("{mounts} && exec python \"$2\""))
        .arg("sh")
        .arg(root)
        .arg(agents.join("heat-config/os-refresh-config/configure.d/55-heat-config"))
        .env("PATH", path)
        .env("HEAT_CONFIG_NOTIFY", &notify)
        .env_remove("HEAT_CONFIG_DEPLOYED")
        .env_remove("HEAT_SCRIPT_WORKING")
        .env_remove("HEAT_CONFIG_HOOKS")
        .env_remove("OVERCLOUD_KEYS_ROOT")
        .output()
        .expect("unshare runs")
}

/// After a run of 55-heat-config that must have succeeded: its stderr, the current
/// deployment's id and what the notify hook recorded for it (what deployments.yaml checks,
/// `jq .deploy_status_code` of the notify file).
fn notified(f: &Flow, out: &Output) -> (String, String, Value) {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "55-heat-config failed:\n{stderr}");
    let id = f.current["id"].as_str().unwrap().to_string();
    let notify = serde_json::from_slice(
        &fs::read(f.root.join(DEPLOYED).join(format!("{id}.notify.json"))).unwrap(),
    )
    .unwrap();
    (stderr, id, notify)
}

struct Flow {
    _tmp: TempDir,
    root: PathBuf,
    workdir: PathBuf,
    agents: PathBuf,
    venv: PathBuf,
    /// This deployment and an earlier one (other keys), as Heat hands them to the node.
    current: Value,
    earlier: Value,
    /// The base64 tarballs of both.
    secrets: Vec<String>,
    /// Another deployment's file, which holds a base64 gzip stream of its own.
    unrelated: (PathBuf, Vec<u8>),
}

/// The node before `55-heat-config` runs: an earlier deployment of ours already ran (its
/// config-download files and heat-config's deployed copy are there), another role's
/// deployment file too, and config-download has just written this one.
fn flow(test: &str) -> Option<Flow> {
    if !is_root() || !can_unshare() {
        skip(
            test,
            "needs root and a mount namespace (unshare -m) to run heat-config with its own paths",
        );
        return None;
    }
    let venv = crate::venv_support::venv("heat").expect("the heat venv (scripts/venv.sh heat)");
    let agents = heat_agents(&venv.join("bin/python")).expect("the heat-agents sdist");
    let tmp = TempDir::new().unwrap();
    let workdir = tmp.path().join("wd");
    build(&workdir);
    let old_workdir = tmp.path().join("old-wd");
    build(&old_workdir);
    let root = tmp.path().join("node");
    let current = deployment(&workdir, "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0");
    let earlier = deployment(&old_workdir, "11111111-2222-4333-8444-555555555555");
    let secrets: Vec<String> = [&workdir, &old_workdir]
        .iter()
        .map(|w| scoped_inputs(w)["OvercloudKeysArtifactBase64"].clone())
        .collect();
    assert_ne!(secrets[0], secrets[1]);
    place_config_download(&root, &earlier);
    let earlier_id = earlier["id"].as_str().unwrap();
    write_mode(
        &root.join(DEPLOYED).join(format!("{earlier_id}.json")),
        &serde_json::to_string_pretty(&earlier).unwrap(),
        0o600,
    );
    write_mode(
        &root
            .join(DEPLOYED)
            .join(format!("{earlier_id}.notify.json")),
        r#"{"deploy_stdout": "", "deploy_stderr": "", "deploy_status_code": 0}"#,
        0o600,
    );
    let unrelated = root
        .join(CONFIG_DOWNLOAD)
        .join("ComputeHostConfig-99999999-8888-4777-8666-555555555555");
    let unrelated_text = format!(
        r#"[{{"group": "script", "config": "echo H4sI{}"}}]"#,
        "A".repeat(300)
    );
    write_mode(&unrelated, &unrelated_text, 0o644);
    Some(Flow {
        _tmp: tmp,
        root,
        workdir,
        agents,
        venv,
        current,
        earlier,
        secrets,
        unrelated: (unrelated, unrelated_text.into_bytes()),
    })
}

fn assert_no_secret(f: &Flow, what: &str, text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    for secret in &f.secrets {
        for piece in fragments(secret) {
            assert!(!text.contains(&piece), "{what} still holds the key tarball");
        }
    }
}

/// Every file of both deployments that config-download and heat-config keep.
fn deployment_files(f: &Flow) -> Vec<PathBuf> {
    let mut out = vec![];
    for d in [&f.current, &f.earlier] {
        let id = d["id"].as_str().unwrap();
        let base = f
            .root
            .join(CONFIG_DOWNLOAD)
            .join(format!("OvercloudKeysDeployment-{id}"));
        out.push(base.with_file_name(format!("OvercloudKeysDeployment-{id}.rendered")));
        out.push(base);
        out.push(f.root.join(DEPLOYED).join(format!("{id}.json")));
    }
    out
}

#[test]
fn heat_config_flow_installs_the_keys_and_leaves_no_readable_copy_of_the_tarball() {
    let Some(f) = flow("heat-config flow scrubs every copy") else {
        return;
    };
    let shell_config = place_config_download(&f.root, &f.current);
    // Before: every copy there holds a tarball (the test can fail).
    for file in deployment_files(&f).into_iter().filter(|p| p.exists()) {
        let text = fs::read_to_string(&file).unwrap();
        assert!(
            f.secrets.iter().any(|s| text.contains(s.as_str())),
            "{} holds no tarball before the run",
            file.display()
        );
    }
    let out = run_heat_config(&f.root, &f.agents, &f.venv, Some(&shell_config), &[]);
    let (stderr, id, notify) = notified(&f, &out);
    assert_eq!(notify["deploy_status_code"], 0, "{notify:#}\n{stderr}");
    assert!(
        notify["deploy_stdout"]
            .as_str()
            .unwrap()
            .contains("installed key artifact"),
        "{notify:#}"
    );
    // The hook logs every input (why the tarball is not one); heat-config-notify ran on
    // the scrubbed deployed copy without error.
    assert!(stderr.contains("artifact_sha256="), "{stderr}");
    assert!(!stderr.contains("Error running"), "{stderr}");

    // The keys, unpacked with their modes and owners.
    let params = scoped_inputs(&f.workdir);
    let jws = f.root.join(&params["OvercloudKeysKeyDirs"]);
    let meta = |p: &str| {
        let m = fs::metadata(jws.join(p)).unwrap();
        (m.permissions().mode() & 0o7777, m.uid(), m.gid())
    };
    assert_eq!(meta("."), (0o700, 42425, 42425));
    assert_eq!(meta("private/private.pem"), (0o600, 42425, 42425));
    assert_eq!(meta("public/public.pem"), (0o644, 42425, 42425));
    assert_eq!(
        fs::read(jws.join("private/private.pem")).unwrap(),
        fs::read(f.workdir.join("keys/jws-keys/private/private.pem")).unwrap()
    );

    // Each copy of both deployments: 0600, scrubbed, still what its reader parses.
    for file in deployment_files(&f) {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
        let text = fs::read_to_string(&file).unwrap();
        assert!(text.contains(SCRUBBED), "{} not scrubbed", file.display());
        if file.extension().is_some_and(|e| e == "rendered") {
            let _: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        } else {
            let _: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
    }
    // The hook's copy of the script is gone (it writes a new one for a re-run).
    let hook_copy = f
        .root
        .join("var/lib/heat-config/heat-config-script")
        .join(id);
    assert!(
        !hook_copy.exists(),
        "{} is still there",
        hook_copy.display()
    );
    // Nothing anywhere on the node (but the installed keys) holds either tarball, nor
    // does what Ansible prints (55-heat-config's output).
    let keys_dir = PathBuf::from(&params["OvercloudKeysKeyDirs"]);
    for (path, content) in files_under(&f.root) {
        if path.starts_with(&keys_dir) {
            continue;
        }
        assert!(
            !path.to_string_lossy().contains(".overcloud-keys-scrub."),
            "left behind: {}",
            path.display()
        );
        assert_no_secret(&f, &path.display().to_string(), &content);
    }
    assert_no_secret(&f, "55-heat-config's stderr", &out.stderr);
    assert_no_secret(&f, "55-heat-config's stdout", &out.stdout);
    // Another deployment's file is left exactly as it was.
    assert_eq!(fs::read(&f.unrelated.0).unwrap(), f.unrelated.1);
    assert_eq!(mode(&f.unrelated.0), 0o644);
}

#[test]
fn scrubbing_that_cannot_write_never_fails_the_deployment() {
    let Some(f) = flow("scrubbing never fails the deployment") else {
        return;
    };
    let shell_config = place_config_download(&f.root, &f.current);
    // 55-heat-config itself makes HEAT_SHELL_CONFIG 0600 (and would fail on a read-only
    // file system if it had to); the scrub of the config-download files fails.
    fs::set_permissions(&shell_config, fs::Permissions::from_mode(0o600)).unwrap();
    let out = run_heat_config(
        &f.root,
        &f.agents,
        &f.venv,
        Some(&shell_config),
        &[CONFIG_DOWNLOAD],
    );
    let (_, id, notify) = notified(&f, &out);
    assert_eq!(notify["deploy_status_code"], 0, "{notify:#}");
    let deploy_stderr = notify["deploy_stderr"].as_str().unwrap();
    assert!(
        deploy_stderr.contains("warning: cannot scrub or restrict")
            && deploy_stderr.contains(&format!("OvercloudKeysDeployment-{id}")),
        "{deploy_stderr}"
    );
    assert_no_secret(&f, "the script's stderr", deploy_stderr.as_bytes());
    let params = scoped_inputs(&f.workdir);
    assert_eq!(
        fs::read(
            f.root
                .join(&params["OvercloudKeysKeyDirs"])
                .join("private/private.pem")
        )
        .unwrap(),
        fs::read(f.workdir.join("keys/jws-keys/private/private.pem")).unwrap()
    );
    // What could be written was: heat-config's deployed copies.
    for d in [&f.current, &f.earlier] {
        let file = f
            .root
            .join(DEPLOYED)
            .join(format!("{}.json", d["id"].as_str().unwrap()));
        assert_eq!(mode(&file), 0o600);
        assert_no_secret(&f, &file.display().to_string(), &fs::read(&file).unwrap());
    }
}

#[test]
fn without_config_download_the_deployed_copy_is_scrubbed_and_heat_config_stays_root_only() {
    let Some(f) = flow("os-collect-config flow") else {
        return;
    };
    // os-apply-config's rendering of the metadata os-collect-config fetched: every
    // deployment of the server, 55-heat-config's default input (no HEAT_SHELL_CONFIG).
    let conf = f.root.join("run/heat-config/heat-config");
    write_mode(&conf, &json!([f.current]).to_string(), 0o644);
    let out = run_heat_config(&f.root, &f.agents, &f.venv, None, &[]);
    let (stderr, id, notify) = notified(&f, &out);
    assert_eq!(notify["deploy_status_code"], 0, "{notify:#}\n{stderr}");
    let deployed = f.root.join(DEPLOYED).join(format!("{id}.json"));
    assert_eq!(mode(&deployed), 0o600);
    assert_no_secret(&f, "deployed copy", &fs::read(&deployed).unwrap());
    assert!(
        !f.root
            .join("var/lib/heat-config/heat-config-script")
            .join(id)
            .exists()
    );
    assert_no_secret(&f, "55-heat-config's stderr", &out.stderr);
    // What docs/delivery.md says remains: heat-config's input, made 0600 by 55-heat-config
    // and rewritten from os-collect-config's cache on every run.
    assert_eq!(mode(&conf), 0o600);
    assert!(
        fs::read_to_string(&conf)
            .unwrap()
            .contains(f.secrets[0].as_str())
    );
}

// ---- SELinux labels ----

/// A directory with a fake `chcon` that records each call (arguments, and for -R the
/// files it would label) in `chcon.log`, and, when `enabled` is given, a fake
/// `selinuxenabled` that exits with it.
fn fake_selinux(dir: &Path, enabled: Option<i32>) -> PathBuf {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let log = dir.join("chcon.log");
    write_mode(
        &bin.join("chcon"),
        &format!(
            "#!/bin/sh\nprintf 'chcon %s\\n' \"$*\" >> '{log}'\n\
             if [ \"$1\" = -R ]; then for a; do :; done; \
             find \"$a\" | sed 's/^/  /' >> '{log}'; fi\n",
            log = log.display()
        ),
        0o755,
    );
    if let Some(code) = enabled {
        write_mode(
            &bin.join("selinuxenabled"),
            &format!("#!/bin/sh\nexit {code}\n"),
            0o755,
        );
    }
    bin
}

struct Labelled {
    out: Output,
    log: String,
    root: PathBuf,
    params: BTreeMap<String, String>,
    _tmp: TempDir,
}

/// Runs the node script directly (as in tests/it/scoped.rs) with the fake tools first on
/// PATH; `existing` layout directories are created beforehand.
fn deliver_with(enabled: Option<i32>, layout: &str, existing: bool) -> Labelled {
    let tmp = TempDir::new().unwrap();
    let workdir = tmp.path().join("wd");
    let out = Command::new(BIN)
        .args(["build", "--workdir"])
        .arg(&workdir)
        .args(["--layout", layout, "-f", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let params = scoped_inputs(&workdir);
    let root = tmp.path().join("node");
    fs::create_dir_all(root.join("var/lib")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    if existing {
        fs::create_dir_all(root.join(&params["OvercloudKeysLayoutRoot"])).unwrap();
    }
    let bin = fake_selinux(tmp.path(), enabled);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .arg(SCRIPT)
        .env("PATH", path)
        .env("OVERCLOUD_KEYS_ROOT", &root)
        .env("artifact_b64", &params["OvercloudKeysArtifactBase64"])
        .env("artifact_url", "")
        .env("artifact_sha256", &params["OvercloudKeysArtifactSha256"])
        .env("layout_root", &params["OvercloudKeysLayoutRoot"])
        .env("key_dirs", &params["OvercloudKeysKeyDirs"])
        .output()
        .unwrap();
    let log = fs::read_to_string(tmp.path().join("chcon.log")).unwrap_or_default();
    Labelled {
        out,
        log,
        root,
        params,
        _tmp: tmp,
    }
}

fn host_has_selinuxenabled() -> bool {
    Command::new("sh")
        .args(["-c", "command -v selinuxenabled"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn assert_installed(l: &Labelled) {
    assert!(
        l.out.status.success(),
        "{}",
        String::from_utf8_lossy(&l.out.stderr)
    );
    let jws = l.params["OvercloudKeysKeyDirs"]
        .split(' ')
        .find(|d| d.ends_with("/jws-keys"))
        .unwrap();
    assert!(l.root.join(jws).join("private/private.pem").is_file());
}

#[test]
fn under_selinux_what_the_script_creates_below_config_data_is_labelled_container_file_t() {
    if !is_root() {
        return skip(
            "SELinux labels of created directories",
            "needs root to extract numeric owners (CI runs as root)",
        );
    }
    let l = deliver_with(Some(0), "containerized", false);
    assert_installed(&l);
    let root = l.root.display().to_string();
    let calls: Vec<&str> = l.log.lines().filter(|c| c.starts_with("chcon ")).collect();
    // Each directory it created, outermost first, not the existing var/lib; then the
    // staged key directories, recursively, before they were moved into place.
    let mut want: Vec<String> = [
        "var/lib/config-data",
        "var/lib/config-data/puppet-generated",
        "var/lib/config-data/puppet-generated/keystone",
        "var/lib/config-data/puppet-generated/keystone/etc",
        "var/lib/config-data/puppet-generated/keystone/etc/keystone",
    ]
    .iter()
    .map(|d| format!("chcon -t container_file_t -l s0 {root}/{d}"))
    .collect();
    let layout = format!("{root}/{}", l.params["OvercloudKeysLayoutRoot"]);
    let recursive = calls.last().copied().unwrap_or_default();
    want.push(recursive.to_string());
    assert_eq!(calls, want, "{}", l.log);
    assert!(
        recursive.starts_with(&format!(
            "chcon -R -t container_file_t -l s0 {layout}/.overcloud-keys-new."
        )),
        "{}",
        l.log
    );
    // The recursive call covered the staged private key.
    let private = format!("/{}/private/private.pem", l.params["OvercloudKeysKeyDirs"]);
    assert!(
        l.log
            .lines()
            .any(|line| line.starts_with("  ") && line.ends_with(&private)),
        "{}",
        l.log
    );

    // Directories that were already there are left to THT: only the staged keys.
    let l = deliver_with(Some(0), "containerized", true);
    assert_installed(&l);
    let calls: Vec<&str> = l.log.lines().filter(|c| c.starts_with("chcon ")).collect();
    assert_eq!(calls.len(), 1, "{}", l.log);
    assert!(calls[0].starts_with("chcon -R -t container_file_t -l s0 "));
}

#[test]
fn without_selinux_or_outside_config_data_nothing_is_labelled() {
    if !is_root() {
        return skip(
            "no SELinux labels without SELinux",
            "needs root to extract numeric owners (CI runs as root)",
        );
    }
    // selinuxenabled says no.
    let l = deliver_with(Some(1), "containerized", false);
    assert_installed(&l);
    assert_eq!(l.log, "", "labelled although SELinux is disabled");
    // Baremetal (keys in the host's /etc/keystone): not a container tree.
    let l = deliver_with(Some(0), "baremetal", false);
    assert_installed(&l);
    assert_eq!(l.log, "", "labelled the host's /etc/keystone");
    // No selinuxenabled at all.
    if host_has_selinuxenabled() {
        return skip(
            "no SELinux labels without selinuxenabled",
            "this host has a selinuxenabled on PATH",
        );
    }
    let l = deliver_with(None, "containerized", false);
    assert_installed(&l);
    assert_eq!(l.log, "", "labelled without selinuxenabled");
}

#[test]
fn a_labelling_failure_leaves_the_previous_keys_in_place() {
    if !is_root() {
        return skip(
            "a labelling failure leaves the previous keys",
            "needs root to extract numeric owners (CI runs as root)",
        );
    }
    let tmp = TempDir::new().unwrap();
    let workdir = tmp.path().join("wd");
    build(&workdir);
    let params = scoped_inputs(&workdir);
    let root = tmp.path().join("node");
    let old = root
        .join(&params["OvercloudKeysKeyDirs"])
        .join("private/private.pem");
    write_mode(&old, "old", 0o600);
    let bin = fake_selinux(tmp.path(), Some(0));
    write_mode(&bin.join("chcon"), "#!/bin/sh\nexit 1\n", 0o755);
    let out = Command::new("sh")
        .arg(SCRIPT)
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("OVERCLOUD_KEYS_ROOT", &root)
        .env("artifact_b64", &params["OvercloudKeysArtifactBase64"])
        .env("artifact_url", "")
        .env("artifact_sha256", &params["OvercloudKeysArtifactSha256"])
        .env("layout_root", &params["OvercloudKeysLayoutRoot"])
        .env("key_dirs", &params["OvercloudKeysKeyDirs"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("cannot label") && stderr.contains("previous keys were left in place"),
        "{stderr}"
    );
    assert_eq!(fs::read_to_string(&old).unwrap(), "old");
    let layout = root.join(&params["OvercloudKeysLayoutRoot"]);
    let leftovers: Vec<_> = fs::read_dir(&layout)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("overcloud-keys"))
        .collect();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
}
