//! The RPM (`scripts/build-rpm.sh`, `dist/`): what it installs (`rpm -qlp`), that its binary
//! needs no glibc newer than 2.28 (RHEL 8) and runs, that the systemd units pass
//! `systemd-analyze verify`, that the timer's interval is one `plan rotation` calls safe for
//! TripleO's defaults, and that the rotation script aborts (non-zero) where it must.
//!
//! The script builds once per source tree (cached under target/rpm, keyed by the tree's
//! hash): the first run compiles a release binary with cargo-zigbuild (minutes), later runs
//! reuse it (seconds). Missing tools (rpm, cpio, binutils, zig, cargo-zigbuild) are
//! installed by the script as root; when that is impossible the tests fail saying so.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::cli_support::skip;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const VERSION: &str = env!("CARGO_PKG_VERSION");
const GLIBC_MAX: (u32, u32) = (2, 28);

struct Built {
    rpm: PathBuf,
    /// The payload, unpacked with rpm2cpio | cpio.
    root: tempfile::TempDir,
}

impl Built {
    fn path(&self, abs: &str) -> PathBuf {
        self.root.path().join(abs.trim_start_matches('/'))
    }
    fn bin(&self) -> PathBuf {
        self.path("/usr/bin/overcloud-keys")
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Builds (or reuses) the RPM and unpacks it; shared by every test of this module.
fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = run(Command::new(format!("{REPO}/scripts/build-rpm.sh")).current_dir(REPO));
        assert!(
            out.status.success(),
            "scripts/build-rpm.sh failed ({}):\n{}",
            out.status,
            text(&out.stderr)
        );
        let rpm = PathBuf::from(
            text(&out.stdout)
                .lines()
                .last()
                .expect("build-rpm.sh printed the RPM's path")
                .trim(),
        );
        assert!(rpm.is_file(), "{} missing", rpm.display());
        let root = tempfile::Builder::new()
            .prefix("overcloud-keys-rpm-")
            .tempdir()
            .unwrap();
        let unpack = run(Command::new("sh")
            .arg("-c")
            .arg("rpm2cpio \"$1\" | cpio -idm --quiet")
            .arg("sh")
            .arg(&rpm)
            .current_dir(root.path()));
        assert!(
            unpack.status.success(),
            "rpm2cpio | cpio: {}",
            text(&unpack.stderr)
        );
        Built { rpm, root }
    })
}

#[test]
fn rpm_is_named_after_the_crate_version_and_installs_everything() {
    let b = built();
    let file = b.rpm.file_name().unwrap().to_str().unwrap();
    assert!(
        file.starts_with(&format!("overcloud-keys-{VERSION}-1")) && file.ends_with(".x86_64.rpm"),
        "{file}"
    );
    let q = run(Command::new("rpm")
        .args(["-qp", "--qf", "%{NAME} %{VERSION} %{ARCH} %{LICENSE}"])
        .arg(&b.rpm));
    assert_eq!(
        text(&q.stdout),
        format!("overcloud-keys {VERSION} x86_64 Apache-2.0")
    );

    let out = run(Command::new("rpm").arg("-qlp").arg(&b.rpm));
    assert!(out.status.success(), "rpm -qlp: {}", text(&out.stderr));
    let list = text(&out.stdout);
    let files: Vec<&str> = list.lines().collect();
    let has = |want: &str| files.contains(&want);
    // man pages: gzip'ed by brp-compress on RHEL, plain where rpmbuild does not compress.
    let has_man = |page: &str| {
        has(&format!("/usr/share/man/man1/{page}"))
            || has(&format!("/usr/share/man/man1/{page}.gz"))
    };
    for f in [
        "/usr/bin/overcloud-keys",
        "/usr/share/bash-completion/completions/overcloud-keys",
        "/usr/share/zsh/site-functions/_overcloud-keys",
        "/usr/share/fish/vendor_completions.d/overcloud-keys.fish",
        "/usr/lib/systemd/system/overcloud-keys-rotate.service",
        "/usr/lib/systemd/system/overcloud-keys-rotate.timer",
        "/usr/libexec/overcloud-keys/scheduled-rotate",
        "/etc/sysconfig/overcloud-keys-rotate",
        "/usr/share/doc/overcloud-keys/README.md",
        "/usr/share/doc/overcloud-keys/docs/install.md",
        "/usr/share/doc/overcloud-keys/docs/build.md",
        "/usr/share/doc/overcloud-keys/keys.toml.example",
    ] {
        assert!(has(f), "{f} not in the RPM:\n{list}");
    }
    for page in [
        "overcloud-keys.1",
        "overcloud-keys-build.1",
        "overcloud-keys-fernet-rotate.1",
        "overcloud-keys-plan-rotation.1",
    ] {
        assert!(has_man(page), "{page} not in the RPM:\n{list}");
    }
    // Every doc of the tree is shipped.
    for entry in fs::read_dir(format!("{REPO}/docs")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".md") {
            assert!(
                has(&format!("/usr/share/doc/overcloud-keys/docs/{name}")),
                "docs/{name} not shipped"
            );
        }
    }
    // One man page per page the packaged binary writes.
    let dir = tempfile::tempdir().unwrap();
    let man = run(Command::new(b.bin())
        .arg("man")
        .arg("--output-dir")
        .arg(dir.path()));
    assert!(man.status.success(), "{}", text(&man.stderr));
    for entry in fs::read_dir(dir.path()).unwrap() {
        let page = entry.unwrap().file_name().into_string().unwrap();
        assert!(has_man(&page), "{page} not in the RPM");
    }
    // The timer is shipped disabled: no scriptlet enables it.
    let scripts = text(&run(Command::new("rpm").args(["-qp", "--scripts"]).arg(&b.rpm)).stdout);
    assert!(!scripts.contains("systemctl enable"), "{scripts}");
    let config = text(&run(Command::new("rpm").args(["-qcp"]).arg(&b.rpm)).stdout);
    assert_eq!(config.trim(), "/etc/sysconfig/overcloud-keys-rotate");
}

/// The newest `GLIBC_x.y[.z]` version in `objdump -T`'s output.
fn newest_glibc(objdump: &str) -> Option<(u32, u32, u32)> {
    objdump
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|w| w.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let mut it = v.split('.').map(|n| n.parse::<u32>().ok());
            Some((it.next()??, it.next()??, it.next().flatten().unwrap_or(0)))
        })
        .max()
}

#[test]
fn packaged_binary_needs_at_most_glibc_2_28_and_runs() {
    let b = built();
    let out = run(Command::new("objdump").arg("-T").arg(b.bin()));
    assert!(out.status.success(), "objdump -T: {}", text(&out.stderr));
    let (major, minor, patch) = newest_glibc(&text(&out.stdout)).expect("a GLIBC_ version");
    assert!(
        (major, minor) <= GLIBC_MAX,
        "the packaged binary needs GLIBC_{major}.{minor}.{patch}: it would not start on RHEL 8 (glibc 2.28)"
    );
    // The script's own check agrees.
    let check = run(Command::new(format!("{REPO}/scripts/check-glibc.sh")).arg(b.bin()));
    assert!(check.status.success(), "{}", text(&check.stderr));
    // ... and fails a binary that needs more (a dynamic host binary: this Debian's sh).
    let sh = run(Command::new(format!("{REPO}/scripts/check-glibc.sh")).args(["/bin/sh", "2.2.5"]));
    assert_eq!(sh.status.code(), Some(1), "{}", text(&sh.stderr));

    let ver = run(Command::new(b.bin()).arg("--version"));
    assert!(ver.status.success(), "{}", text(&ver.stderr));
    assert_eq!(
        text(&ver.stdout).trim(),
        format!("overcloud-keys {VERSION}")
    );
    let bash = run(Command::new(b.bin()).args(["completions", "bash"]));
    let shipped =
        fs::read(b.path("/usr/share/bash-completion/completions/overcloud-keys")).unwrap();
    assert_eq!(
        bash.stdout, shipped,
        "the shipped bash completion is the binary's"
    );
}

#[test]
fn example_config_is_accepted_by_build() {
    let b = built();
    let dir = tempfile::tempdir().unwrap();
    let out = run(Command::new(b.bin())
        .arg("build")
        .arg("--config")
        .arg(b.path("/usr/share/doc/overcloud-keys/keys.toml.example"))
        .arg("--workdir")
        .arg(dir.path().join("wd"))
        .arg("--dry-run")
        .current_dir(dir.path()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !dir.path().join("wd").exists(),
        "--dry-run wrote the work directory"
    );
}

#[test]
fn units_pass_systemd_analyze_verify() {
    let b = built();
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        return skip("systemd-analyze verify", "systemd-analyze is not installed");
    }
    // verify checks that ExecStart= is executable and that the Documentation= man pages
    // exist: point it at the unpacked payload (ExecStart rewritten below it, MANPATH).
    let units = tempfile::tempdir().unwrap();
    let service =
        fs::read_to_string(b.path("/usr/lib/systemd/system/overcloud-keys-rotate.service"))
            .unwrap();
    let exec = format!("ExecStart={}/", b.root.path().display());
    fs::write(
        units.path().join("overcloud-keys-rotate.service"),
        service.replace("ExecStart=/", &exec),
    )
    .unwrap();
    fs::copy(
        b.path("/usr/lib/systemd/system/overcloud-keys-rotate.timer"),
        units.path().join("overcloud-keys-rotate.timer"),
    )
    .unwrap();
    let out = run(Command::new("systemd-analyze")
        .arg("verify")
        .arg(units.path().join("overcloud-keys-rotate.service"))
        .arg(units.path().join("overcloud-keys-rotate.timer"))
        .env("MANPATH", b.path("/usr/share/man")));
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let settings: Vec<&str> = service.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(settings.contains(&"Type=oneshot") && settings.contains(&"User=stack"));
    assert!(
        !settings.iter().any(|l| l.contains("%h")),
        "%h is root's home in a system unit, whatever User= says"
    );
    assert!(
        !settings.contains(&"[Install]"),
        "the service is started by the timer only"
    );
}

#[test]
fn timer_interval_is_one_plan_rotation_calls_safe_for_tripleo_defaults() {
    let b = built();
    let timer =
        fs::read_to_string(b.path("/usr/lib/systemd/system/overcloud-keys-rotate.timer")).unwrap();
    assert!(timer.contains("\nOnCalendar=*-*-* 03:00:00\n"), "{timer}");
    assert!(timer.contains("\nPersistent=false\n"), "{timer}");
    let out =
        run(Command::new(b.bin()).args(["plan", "rotation", "--interval", "1d", "-f", "json"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["safe"], true, "{plan}");
    assert_eq!(
        plan["max_active_keys"], 5,
        "TripleO's KeystoneFernetMaxActiveKeys default"
    );
    // The comment quotes the figure plan rotation gives; it must not drift from it.
    let shortest = plan["shortest_safe_interval"].as_u64().unwrap();
    assert!(shortest <= 86_400);
    assert!(
        timer.contains(&format!("shortest_safe_interval {shortest} s")),
        "the timer's comment should quote shortest_safe_interval {shortest} s"
    );
}

#[test]
fn rotation_script_prefers_rollout_and_stops_on_refusals() {
    let b = built();
    let script = b.path("/usr/libexec/overcloud-keys/scheduled-rotate");
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    fs::create_dir(&home).unwrap();
    let rotate = |envs: &[(&str, &Path)], extra: &[(&str, &str)]| {
        let mut cmd = Command::new(&script);
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &home)
            .current_dir(dir.path());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        run(&mut cmd)
    };

    // rollout available: it alone runs, with the stack and inventory.
    let fake = dir.path().join("fake-overcloud-keys");
    let calls = dir.path().join("calls");
    fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho \"$*\" >> {}\n[ \"$1\" = rollout ] && exit 0\nexit 9\n",
            calls.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    let out = rotate(
        &[("OVERCLOUD_KEYS_BIN", &fake)],
        &[
            ("OVERCLOUD_KEYS_STACK", "east"),
            ("OVERCLOUD_KEYS_INVENTORY", "/inv.yaml"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        fs::read_to_string(&calls).unwrap(),
        format!(
            "rollout --help\nrollout --stack east --workdir {}/overcloud-keys/east \
             --expiration 3600 --allow-expired-window 172800 --inventory /inv.yaml\n",
            home.display()
        )
    );

    // The real binary: a fresh work directory, 3 keys.
    let bin = b.bin();
    let config = dir.path().join("keys.toml");
    fs::write(&config, "max_active_keys = 3\njws = \"off\"\n").unwrap();
    let workdir = home.join("overcloud-keys/overcloud");
    let build = run(Command::new(&bin)
        .arg("build")
        .arg("--config")
        .arg(&config)
        .env("HOME", &home)
        .current_dir(dir.path()));
    assert!(build.status.success(), "{}", text(&build.stderr));
    let fernet = workdir.join("keys/fernet-keys");
    let keys = || {
        let mut k: Vec<String> = fs::read_dir(&fernet)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| !n.starts_with('.'))
            .collect();
        k.sort();
        k
    };
    assert_eq!(keys(), ["0", "1"]);
    let envs: &[(&str, &Path)] = &[
        ("OVERCLOUD_KEYS_BIN", &bin),
        ("OVERCLOUD_KEYS_CONFIG", &config),
    ];

    // rollout (when the binary has it) starts with verify: no inventory here, so it fails
    // and nothing rotates.
    if run(Command::new(&bin).args(["rollout", "--help"]))
        .status
        .success()
    {
        let out = rotate(envs, &[]);
        assert!(!out.status.success(), "rollout without an inventory passed");
        assert!(
            text(&out.stderr).contains("'rollout' failed"),
            "{}",
            text(&out.stderr)
        );
        assert_eq!(keys(), ["0", "1"], "rotated although rollout failed");
    }

    // Without rollout, verify is the default pre-flight: it fails the same way.
    let out = rotate(envs, &[("OVERCLOUD_KEYS_ROLLOUT", "no")]);
    assert!(!out.status.success(), "verify without an inventory passed");
    assert!(
        text(&out.stderr).contains("'verify' failed"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(keys(), ["0", "1"], "rotated although verify failed");

    // Without rollout and verify: rotate + build.
    let out = rotate(
        envs,
        &[
            ("OVERCLOUD_KEYS_ROLLOUT", "no"),
            ("OVERCLOUD_KEYS_VERIFY", "no"),
        ],
    );
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(keys(), ["0", "1", "2"]);
    let fernet_yaml = fs::read_to_string(workdir.join("fernet.yaml")).unwrap();
    // `build` ran after the rotation: fernet.yaml carries the new primary (key 2).
    let key2 = fs::read_to_string(fernet.join("2")).unwrap();
    assert!(
        fernet_yaml.contains(key2.trim()),
        "fernet.yaml was not rebuilt after the rotation"
    );

    // At once again: that rotation would delete key 1, primary until a moment ago. The guard
    // refuses, the unit fails (non-zero), nothing changed, build did not run.
    let out = rotate(
        envs,
        &[
            ("OVERCLOUD_KEYS_ROLLOUT", "no"),
            ("OVERCLOUD_KEYS_VERIFY", "no"),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("'fernet' failed"),
        "{}",
        text(&out.stderr)
    );
    let ran = text(&out.stdout);
    assert!(
        !ran.contains(" build "),
        "build ran after the refusal:\n{ran}"
    );
    assert_eq!(keys(), ["0", "1", "2"]);
}

#[test]
fn spec_version_is_the_crate_version() {
    let spec = fs::read_to_string(format!("{REPO}/dist/overcloud-keys.spec")).unwrap();
    let version = spec
        .lines()
        .find_map(|l| l.strip_prefix("Version:"))
        .map(str::trim)
        .expect("Version: in the spec");
    assert_eq!(version, VERSION);
    assert!(spec.contains("cargo build --release --offline --frozen"));
    // The newest changelog entry is this version's, with no placeholder left in the spec.
    let entry = spec
        .lines()
        .skip_while(|l| !l.starts_with("%changelog"))
        .find(|l| l.starts_with("* "))
        .expect("a %changelog entry");
    assert!(entry.ends_with(&format!("- {VERSION}-1")), "{entry}");
    assert!(
        !spec.contains(".invalid"),
        "placeholder address in the spec"
    );
}
