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

/// Temporary files a killed writer left (they can hold superseded keys or the JWS private
/// key) are removed by the next build, under its lock; a live writer's are kept.
#[test]
fn stale_temporary_files_of_killed_writers_are_swept() {
    use crate::cli_support::TEMP_MARKER;
    let env = Env::new();
    let wd = env.path("wd");
    build_wd(&env, &wd).expect_code(0);
    // pid_max is at most 2^22: no process has this pid.
    let dead = format!("fernet.yaml{TEMP_MARKER}-4194305-1");
    let live = format!("fernet.yaml{TEMP_MARKER}-{}-1", std::process::id());
    let record = format!(".fernet-keys.rotation.json{TEMP_MARKER}-4194305-2");
    let artifact = format!("x.tar.gz{TEMP_MARKER}-4194305-3");
    std::fs::write(wd.join(&dead), "old secret").unwrap();
    std::fs::write(wd.join(&live), "in progress").unwrap();
    std::fs::write(wd.join("keys").join(&record), "old record").unwrap();
    std::fs::write(wd.join("artifacts").join(&artifact), "old tarball").unwrap();
    env.cmd()
        .args(["build", "--workdir"])
        .arg(&wd)
        .args(["--dry-run"])
        .run()
        .expect_code(0);
    assert!(wd.join(&dead).exists(), "a dry run removes nothing");
    build_wd(&env, &wd).expect_code(0);
    assert!(
        !wd.join(&dead).exists(),
        "stale temporary file left in the work directory"
    );
    assert!(
        !wd.join("keys").join(&record).exists(),
        "stale record temp left in keys/"
    );
    assert!(
        !wd.join("artifacts").join(&artifact).exists(),
        "stale temp left in artifacts/"
    );
    assert!(
        wd.join(&live).exists(),
        "a live writer's temporary file was removed"
    );
}

/// Parallel `pack`s into one output: serialized, so the tarball, `.sha256` and manifest
/// left at the end always belong together.
#[test]
fn concurrent_packs_into_one_output_leave_a_consistent_trio() {
    let env = Env::new();
    let a = setup(&env, "a");
    let b = setup(&env, "b");
    let out = env.path("out/keys.tar.gz");
    let children: Vec<_> = (0..12)
        .map(|i| {
            env.cmd()
                .args(["pack", "--layout", "baremetal", "--output"])
                .arg(&out)
                .arg("--fernet")
                .arg(if i % 2 == 0 { &a } else { &b })
                .spawn_quiet()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "every pack waits its turn");
    }
    let tarball = std::fs::read(&out).unwrap();
    let sha: String = <sha2::Sha256 as sha2::Digest>::digest(&tarball)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let checksum = std::fs::read_to_string(env.path("out/keys.tar.gz.sha256")).unwrap();
    assert!(
        checksum.starts_with(&sha),
        "{checksum} is not the tarball's {sha}"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path("out/keys.tar.gz.manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["sha256"], sha);
    let leftovers: Vec<_> = crate::cli_support::names(&env.path("out"))
        .into_iter()
        .filter(|n| n.contains(crate::cli_support::TEMP_MARKER))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A full disk while `build` writes a new artifact: the previous trio stays as it was and
/// nothing half-written is left (the trio is staged, then published together). A tmpfs in
/// a private mount namespace with one free page: enough for one of the three files only.
#[test]
fn a_full_disk_during_build_leaves_the_previous_artifact_trio() {
    if !crate::cli_support::is_root() {
        crate::cli_support::skip(
            "hardening::a_full_disk_during_build",
            "mounting a tmpfs needs root",
        );
        return;
    }
    let env = Env::new();
    let mnt = env.path("small");
    std::fs::create_dir(&mnt).unwrap();
    let script = r#"
set -u
bin="$1"; mnt="$2"
mount -t tmpfs -o size=512k,mode=0700 tmpfs "$mnt" || exit 90
"$bin" build --workdir "$mnt/wd" >/dev/null || exit 91
"$bin" jws rotate stage --private-dir "$mnt/wd/keys/jws-keys/private" \
    --public-dir "$mnt/wd/keys/jws-keys/public" >/dev/null || exit 92
ls "$mnt/wd/artifacts" > "$mnt/../before.txt"
(cd "$mnt/wd/artifacts" && sha256sum -c --quiet *.sha256) || exit 93
dd if=/dev/zero of="$mnt/fill" bs=4096 2>/dev/null
truncate -s -4096 "$mnt/fill"
"$bin" build --workdir "$mnt/wd" 2> "$mnt/../stderr.txt"
echo $? > "$mnt/../code.txt"
ls -a "$mnt/wd/artifacts" > "$mnt/../after.txt"
(cd "$mnt/wd/artifacts" && sha256sum -c --quiet *.sha256) || exit 94
"#;
    let out = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(crate::cli_support::BIN)
        .arg(&mnt)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "setup or final check failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |n: &str| std::fs::read_to_string(env.path(n)).unwrap();
    assert_eq!(read("code.txt").trim(), "2", "{}", read("stderr.txt"));
    assert!(
        read("stderr.txt").contains("no space left"),
        "{}",
        read("stderr.txt")
    );
    let after: Vec<String> = read("after.txt")
        .lines()
        .filter(|n| *n != "." && *n != "..")
        .map(String::from)
        .collect();
    let before: Vec<String> = read("before.txt").lines().map(String::from).collect();
    assert_eq!(after, before, "artifacts/ changed on a full disk");
}

/// A stack name whose derived file names would exceed NAME_MAX is refused before the first
/// write ("nothing was changed" holds); the longest accepted one builds.
#[test]
fn a_stack_name_too_long_for_its_file_names_is_refused_before_any_write() {
    let env = Env::new();
    let wd = env.path("wd");
    let long = "s".repeat(156);
    let out = env.run(["build", "--workdir", wd.to_str().unwrap(), "--stack", &long]);
    out.expect_code(2);
    assert!(out.stderr.contains("at most 155 bytes"), "{}", out.stderr);
    assert!(!wd.exists(), "the work directory was created");
    let longest = "s".repeat(155);
    env.run([
        "build",
        "--workdir",
        wd.to_str().unwrap(),
        "--stack",
        &longest,
    ])
    .expect_code(0);
}
