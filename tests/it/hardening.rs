//! Hostile or odd file systems (issue 12): symlinked key files are findings and never read,
//! packed or rewritten through; FIFOs and devices never hang a command; duplicate and absurd
//! key counts are findings; a repairable finding never gets a destructive hint; concurrent
//! writers of one repository are serialized and every success took effect.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::cli_support::{Env, Out, chmod, key_numbers, tree};

fn setup(env: &Env, rel: &str) -> std::path::PathBuf {
    let repo = env.path(rel);
    env.ok([
        "fernet",
        "setup",
        "--key-repository",
        repo.to_str().unwrap(),
    ]);
    repo
}

fn codes(out: &Out) -> Vec<String> {
    out.json()["repositories"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

fn check(env: &Env, repo: &Path) -> Out {
    env.run(["repo", "check", repo.to_str().unwrap(), "-f", "json"])
}

#[test]
fn a_symlinked_key_file_is_a_finding_and_never_read_or_packed() {
    let env = Env::new();
    let repo = setup(&env, "fk");
    // A root-only file with a key's shape, and the repository's key 1 replaced by a link to it.
    let secret = env.path("root-only-secret");
    std::fs::write(&secret, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap();
    chmod(&secret, 0o600);
    std::fs::remove_file(repo.join("1")).unwrap();
    symlink(&secret, repo.join("1")).unwrap();
    let out = check(&env, &repo);
    out.expect_code(1);
    assert!(
        codes(&out).contains(&"key-symlink".to_string()),
        "{}",
        out.stdout
    );
    // The repository and the secret (the lock file beside the repository records its holder).
    let before = (tree(&repo), std::fs::read(&secret).unwrap());
    let rotate = env.run([
        "fernet",
        "rotate",
        "--key-repository",
        repo.to_str().unwrap(),
    ]);
    rotate.expect_bad_input(&repo);
    let tarball = env.path("k.tar.gz");
    env.run([
        "pack",
        "--layout",
        "baremetal",
        "--fernet",
        repo.to_str().unwrap(),
        "--output",
        tarball.to_str().unwrap(),
    ])
    .expect_code(2);
    assert!(!tarball.exists(), "packed through a symlink");
    crate::cli_support::assert_same_tree(&before.0, &tree(&repo), "refused");
    assert_eq!(before.1, std::fs::read(&secret).unwrap());
}

fn quick(started: Instant, what: &str) {
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{what} took {:?}: it blocked",
        started.elapsed()
    );
}

#[test]
fn fifos_and_devices_never_hang_a_command() {
    let env = Env::new();
    let repo = setup(&env, "fk");
    std::fs::remove_file(repo.join("1")).unwrap();
    let made = Command::new("mkfifo").arg(repo.join("1")).status().unwrap();
    assert!(made.success());
    let started = Instant::now();
    let out = check(&env, &repo);
    quick(started, "repo check on a FIFO key");
    out.expect_code(1);
    assert!(
        codes(&out).contains(&"key-not-regular".to_string()),
        "{}",
        out.stdout
    );

    let fifo = env.path("config.toml");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    env.run(["build", "--config", fifo.to_str().unwrap()])
        .expect_bad_input(&fifo);
    quick(started, "build --config FIFO");
    for device in ["/dev/zero", "/dev/urandom"] {
        let started = Instant::now();
        env.run(["build", "--config", device])
            .expect_bad_input(Path::new(device));
        env.run(["plan", "rotation", "--keystone-conf", device])
            .expect_code(2);
        quick(started, device);
    }
}

#[test]
fn duplicate_and_absurd_key_counts_are_findings() {
    let env = Env::new();
    let repo = setup(&env, "fk");
    std::fs::copy(repo.join("0"), repo.join("2")).unwrap();
    let out = check(&env, &repo);
    assert!(
        codes(&out).contains(&"key-duplicate".to_string()),
        "{}",
        out.stdout
    );

    let many = setup(&env, "many");
    let key = std::fs::read(many.join("1")).unwrap();
    for n in 2..=1002u32 {
        // Distinct keys: the last byte before the padding varies.
        let mut k = key.clone();
        k[40] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"[(n % 32) as usize];
        k[39] = b"ghijklmnopqrstuvwxyz0123456789-_"[((n / 32) % 32) as usize];
        std::fs::write(many.join(n.to_string()), &k).unwrap();
        chmod(&many.join(n.to_string()), 0o600);
    }
    let out = check(&env, &many);
    out.expect_code(1);
    assert!(codes(&out).contains(&"key-count-absurd".to_string()));
}

#[test]
fn a_repairable_finding_never_gets_a_destructive_hint() {
    let env = Env::new();
    let wd = env.path("w");
    let build = || {
        env.cmd()
            .env("HOME", env.path("home"))
            .args(["build", "--workdir"])
            .arg(&wd)
            .run()
    };
    build().expect_code(0);
    let repo = wd.join("keys/fernet-keys");
    chmod(&repo.join("1"), 0o644);
    let out = build();
    out.expect_code(2);
    let hint = out.expect_hint();
    assert!(
        !hint.contains("--force"),
        "suggests replacing every key: {hint}"
    );
    assert!(hint.contains("repo check"), "{hint}");
    let check = check(&env, &repo);
    let fix = check.json()["repositories"][0]["findings"][0]["fix"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(fix.starts_with("chmod 0600"), "{fix}");
}

/// Twenty concurrent `fernet rotate --force` on one repository: every run that reports
/// success took effect (the primary moved up by the number of successes), none failed.
#[test]
fn concurrent_rotations_are_serialized() {
    let env = Env::new();
    let repo = setup(&env, "fk");
    let children: Vec<_> = (0..20)
        .map(|_| {
            env.cmd()
                .args([
                    "fernet",
                    "rotate",
                    "--force",
                    "--max-active-keys",
                    "50",
                    "--key-repository",
                ])
                .arg(&repo)
                .spawn_quiet()
        })
        .collect();
    let mut ok = 0;
    for mut child in children {
        if child.wait().unwrap().success() {
            ok += 1;
        }
    }
    assert_eq!(
        ok, 20,
        "every rotation should wait for the lock and succeed"
    );
    let numbers = key_numbers(&repo);
    assert_eq!(numbers.last(), Some(&21), "{numbers:?}: a lost rotation");
    assert_eq!(numbers.len(), 22);
}

/// Non-UTF-8 and control characters in paths: refused before anything is written, one
/// line, exit 2 (they used to panic after writing, or inject YAML through a comment).
#[test]
fn odd_path_bytes_are_refused_before_anything_is_written() {
    use std::os::unix::ffi::OsStrExt;
    let env = Env::new();
    let bad = env.root().join(std::ffi::OsStr::from_bytes(b"k\xff\xfe"));
    for args in [
        vec!["fernet", "setup", "--key-repository"],
        vec!["repo", "check"],
    ] {
        let out = env.cmd().args(&args).arg(&bad).run();
        out.expect_code(2);
        assert!(out.stderr.contains("not UTF-8"), "{}", out.stderr);
        assert!(!bad.exists(), "{args:?} wrote {}", bad.display());
    }
    let injected = env.path("w\nresource_registry:\n  OS::Evil: /tmp/evil.yaml");
    let out = env
        .cmd()
        .env("HOME", env.path("home"))
        .args(["build", "--workdir"])
        .arg(&injected)
        .run();
    out.expect_code(2);
    assert!(out.stderr.contains("control character"), "{}", out.stderr);
    assert!(!injected.exists());
    // The same from a config file: the work directory is refused by name.
    let config = env.path("keys.toml");
    std::fs::write(
        &config,
        format!(
            "workdir = \"{}/w\\nresource_registry: x\"\n",
            env.root().display()
        ),
    )
    .unwrap();
    let out = env.run(["build", "--config", config.to_str().unwrap()]);
    let error = out.expect_bad_input(&config);
    assert!(error.contains("workdir"), "{error}");
}

fn build_wd(env: &Env, wd: &Path) -> Out {
    env.run(["build", "--workdir", wd.to_str().unwrap(), "-f", "json"])
}

/// StrictModes for the work directory: readable by others is tightened (and said), writable
/// by others, foreign-owned or a symlinked `keys/` is refused before anything is read, with a
/// fix that destroys nothing; `fernet.yaml` keeps rendering the work directory's own keys.
#[test]
fn a_work_directory_someone_else_could_change_is_tightened_or_refused() {
    let env = Env::new();
    let wd = env.path("wd");
    build_wd(&env, &wd).expect_code(0);
    let rendered = std::fs::read(wd.join("fernet.yaml")).unwrap();
    let keys = wd.join("keys");

    chmod(&wd, 0o755);
    let out = build_wd(&env, &wd);
    out.expect_code(0);
    assert_eq!(crate::cli_support::mode(&wd), 0o700);
    let warnings = out.json()["warnings"].to_string();
    assert!(
        warnings.contains("had mode 0755") && warnings.contains("tightened to 0700"),
        "{warnings}"
    );

    chmod(&keys, 0o775);
    let out = build_wd(&env, &wd);
    let error = out.expect_bad_input(&keys);
    assert!(error.contains("lets group or others write"), "{error}");
    assert!(out.stderr.contains("chmod 0700"), "{}", out.stderr);
    assert_eq!(
        crate::cli_support::mode(&keys),
        0o775,
        "refused: left as it was"
    );
    chmod(&keys, 0o700);

    // The attack: keys/ replaced by a directory (with keys someone knows) through a symlink.
    let theirs = env.path("theirs");
    std::fs::rename(&keys, &theirs).unwrap();
    symlink(&theirs, &keys).unwrap();
    let out = build_wd(&env, &wd);
    let error = out.expect_bad_input(&keys);
    assert!(error.contains("it is a symlink"), "{error}");
    std::fs::remove_file(&keys).unwrap();
    std::fs::rename(&theirs, &keys).unwrap();
    assert_eq!(std::fs::read(wd.join("fernet.yaml")).unwrap(), rendered);

    if !crate::cli_support::is_root() {
        crate::cli_support::skip(
            "hardening::a_work_directory_someone_else_could_change (foreign owner)",
            "chown to another uid needs root",
        );
        return;
    }
    // Owned by another user: refused, owner left as it was.
    std::os::unix::fs::chown(&keys, Some(4242), Some(4242)).unwrap();
    let out = build_wd(&env, &wd);
    let error = out.expect_bad_input(&keys);
    assert!(error.contains("owned by uid 4242"), "{error}");
    assert!(out.stderr.contains("chown"), "{}", out.stderr);
    std::os::unix::fs::chown(&keys, Some(0), Some(0)).unwrap();
    std::os::unix::fs::chown(&wd, Some(4242), Some(4242)).unwrap();
    build_wd(&env, &wd).expect_bad_input(&wd);
    std::os::unix::fs::chown(&wd, Some(0), Some(0)).unwrap();
    build_wd(&env, &wd).expect_code(0);
    assert_eq!(std::fs::read(wd.join("fernet.yaml")).unwrap(), rendered);
}
