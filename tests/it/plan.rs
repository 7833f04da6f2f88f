//! Day-2 planning on the real binary: `plan rotation` figures against the rule, the rotate
//! guard and its record, `repo manifest` / `repo check --against`, and the provider
//! cutover (`switch` pre-flight and environments, `plan cutover` runbook snapshots).

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use crate::cli_support;

use std::fs;
use std::path::{Path, PathBuf};

use cli_support::{Env, Out, assert_same_tree, files, key_numbers, tree};

// ------------------------------------------------------------------ plan rotation

/// The rule, written independently of the library: safe iff (N - 2) * R >= E + W.
fn expected(e: u64, w: u64, n: u64, r: u64) -> (bool, u64, Option<u64>) {
    let life = e + w;
    let safe = n.saturating_sub(2) * r >= life;
    let min_keys = 2 + life.div_ceil(r);
    let min_interval = (n > 2).then(|| life.div_ceil(n - 2));
    (safe, min_keys, min_interval)
}

fn plan_rotation(env: &Env, args: &[&str]) -> Out {
    let mut all = vec!["-f", "json", "plan", "rotation"];
    all.extend_from_slice(args);
    env.run(all)
}

#[test]
fn plan_rotation_tripleo_default_is_16h20m() {
    let env = Env::new();
    let out = plan_rotation(&env, &[]);
    out.expect_code(0);
    let j = out.json();
    assert_eq!(j["max_active_keys"], 5);
    assert_eq!(j["token_life"], 176_400);
    assert_eq!(j["shortest_safe_interval"], 58_800);
    assert_eq!(j["shortest_safe_interval_human"], "16h 20m");
    assert_eq!(j["safe"], serde_json::Value::Null);
    let table = env.run(["plan", "rotation"]);
    table.expect_code(0);
    assert!(
        table.stdout.contains("58800 s (16h 20m, 16.33 h)"),
        "{}",
        table.stdout
    );
}

#[test]
fn plan_rotation_figures_match_the_rule() {
    let env = Env::new();
    // (expiration, allow_expired_window, max_active_keys, interval text, interval seconds)
    let cases: &[(u64, u64, u64, &str, u64)] = &[
        (3600, 172_800, 5, "16h", 57_600),
        (3600, 172_800, 5, "58800s", 58_800),
        (3600, 172_800, 5, "58799", 58_799),
        (3600, 172_800, 5, "1d", 86_400),
        (3600, 172_800, 3, "1d", 86_400),
        (3600, 172_800, 4, "1d", 86_400),
        (3600, 172_800, 3, "90m", 5400),
        (7200, 0, 3, "2h", 7200),
        (7200, 0, 4, "1h", 3600),
        (600, 3000, 6, "15m", 900),
        (3600, 172_800, 2, "1d", 86_400),
    ];
    for &(e, w, n, text, r) in cases {
        let (safe, min_keys, min_interval) = expected(e, w, n, r);
        let out = plan_rotation(
            &env,
            &[
                "--expiration",
                &e.to_string(),
                "--allow-expired-window",
                &w.to_string(),
                "--max-active-keys",
                &n.to_string(),
                "--interval",
                text,
            ],
        );
        out.expect_code(if safe { 0 } else { 1 });
        let j = out.json();
        let case = format!("E={e} W={w} N={n} R={r}: {j}");
        assert_eq!(j["interval"], r, "{case}");
        assert_eq!(j["safe"], safe, "{case}");
        assert_eq!(j["smallest_safe_max_active_keys"], min_keys, "{case}");
        assert_eq!(j["shortest_safe_interval"].as_u64(), min_interval, "{case}");
        if safe {
            assert!(j["violation"].is_null(), "{case}");
        } else {
            let deficit = e + w - (n - 2) * r;
            assert_eq!(j["violation"]["deficit"], deficit, "{case}");
            assert_eq!(j["violation"]["early_by_max"], deficit, "{case}");
            assert_eq!(
                j["violation"]["affected_issue_window"],
                deficit.min(r),
                "{case}"
            );
            // Unexpired tokens die only when (N - 2) * R < E.
            assert_eq!(
                j["violation"]["valid_tokens"].is_null(),
                (n - 2) * r >= e,
                "{case}"
            );
        }
    }
}

#[test]
fn plan_rotation_unsafe_text_says_what_breaks() {
    let env = Env::new();
    let out = env.run(["plan", "rotation", "--interval", "16h"]);
    out.expect_code(1);
    assert!(out.stdout.contains("UNSAFE"), "{}", out.stdout);
    assert!(
        out.stdout.contains("max_active_keys >= 6"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Tokens issued in the last 1h before each rotation"),
        "{}",
        out.stdout
    );
    let out = env.run([
        "plan",
        "rotation",
        "--interval",
        "30m",
        "--max-active-keys",
        "3",
    ]);
    out.expect_code(1);
    assert!(out.stdout.contains("valid tokens die"), "{}", out.stdout);
}

#[test]
fn plan_rotation_reads_keystone_conf_and_flags_override_it() {
    let env = Env::new();
    let conf = env.path("keystone.conf");
    fs::write(
        &conf,
        "[DEFAULT]\ndebug = false\n\n[token]\n# comment\nexpiration = 7200\n\
         allow_expired_window: 86400\n[fernet_tokens]\nmax_active_keys = \"4\"\n",
    )
    .unwrap();
    let conf_arg = conf.to_str().unwrap();
    let j = plan_rotation(&env, &["--keystone-conf", conf_arg]).json();
    assert_eq!(j["expiration"], 7200);
    assert_eq!(j["allow_expired_window"], 86_400);
    assert_eq!(j["max_active_keys"], 4);
    assert_eq!(j["shortest_safe_interval"], (7200 + 86_400) / 2);
    assert!(
        j["sources"]["expiration"]
            .as_str()
            .unwrap()
            .ends_with("line 6"),
        "{j}"
    );
    let j = plan_rotation(
        &env,
        &["--keystone-conf", conf_arg, "--max-active-keys", "5"],
    )
    .json();
    assert_eq!(j["max_active_keys"], 5);
    assert_eq!(j["sources"]["max_active_keys"], "--max-active-keys");
    // A file without the setting: keystone's own default (3), not TripleO's.
    fs::write(&conf, "[token]\nexpiration = 3600\n").unwrap();
    let j = plan_rotation(&env, &["--keystone-conf", conf_arg]).json();
    assert_eq!(j["max_active_keys"], 3);
    assert_eq!(j["shortest_safe_interval"], 176_400);
}

#[test]
fn bad_keystone_conf_is_refused_with_its_line() {
    let env = Env::new();
    let conf = env.path("keystone.conf");
    for (text, line) in [
        ("[token]\nexpiration = 3600\nthis is not an assignment\n", 3),
        ("[token\nexpiration = 3600\n", 1),
        ("expiration = 3600\n", 1),
        ("[token]\nexpiration = 1h\n", 2),
        ("[token]\n\nallow_expired_window = -1\n", 3),
        ("[fernet_tokens]\nmax_active_keys = 0\n", 2),
        ("[token]\nexpiration =\n", 2),
    ] {
        fs::write(&conf, text).unwrap();
        let out = env.run([
            "plan",
            "rotation",
            "--keystone-conf",
            conf.to_str().unwrap(),
        ]);
        let error = out.expect_bad_input(&conf);
        assert!(
            error.contains(&format!("line {line}:")),
            "{text:?}: {error}"
        );
        assert!(out.stdout.is_empty(), "{}", out.stdout);
    }
    let missing = env.path("nope.conf");
    env.run([
        "plan",
        "rotation",
        "--keystone-conf",
        missing.to_str().unwrap(),
    ])
    .expect_bad_input(&missing);
}

#[test]
fn bad_interval_is_refused() {
    let env = Env::new();
    for bad in ["16.3h", "0", "1x", "h", ""] {
        let out = env.run(["plan", "rotation", "--interval", bad]);
        out.expect_code(2);
        out.expect_hint();
    }
}

// ------------------------------------------------------------------ rotate guard

fn rotate(env: &Env, kind: &str, repo: &Path, extra: &[&str]) -> Out {
    let mut args = vec![kind, "rotate", "--key-repository", repo.to_str().unwrap()];
    args.extend_from_slice(extra);
    env.run(args)
}

fn setup(env: &Env, kind: &str, rel: &str) -> PathBuf {
    let repo = env.path(rel);
    env.ok([kind, "setup", "--key-repository", repo.to_str().unwrap()]);
    repo
}

#[test]
fn rotate_refuses_to_delete_a_key_with_live_tokens_and_force_overrides() {
    let env = Env::new();
    let repo = setup(&env, "fernet", "keys/fernet-keys");
    rotate(&env, "fernet", &repo, &[]).expect_code(0);
    let record = env.path("keys/.fernet-keys.rotation.json");
    assert!(record.is_file(), "no rotation record beside the repository");
    let before = tree(env.root());
    // {0,1,2} -> {0,2,3} deletes key 1, retired seconds ago when key 2 became primary.
    let refused = rotate(&env, "fernet", &repo, &[]);
    let error = refused.expect_bad_input(&repo);
    assert!(error.contains("delete key 1"), "{error}");
    let hint = refused.expect_hint();
    assert!(hint.contains("next safe rotation is at"), "{hint}");
    assert!(hint.contains("in 2d 1h"), "{hint}");
    assert_same_tree(&before, &tree(env.root()), "refused rotation");
    let forced = rotate(&env, "fernet", &repo, &["--force"]);
    forced.expect_code(0);
    assert!(
        forced.stderr.contains("WARNING: --force"),
        "{}",
        forced.stderr
    );
    assert_eq!(key_numbers(&repo), [0, 2, 3]);
    // The record is outside the repository: `repo check` still finds nothing.
    env.ok(["repo", "check", repo.to_str().unwrap()]);
    let j: serde_json::Value = serde_json::from_slice(&fs::read(&record).unwrap()).unwrap();
    let primaries: Vec<u64> = j["rotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["primary"].as_u64().unwrap())
        .collect();
    assert_eq!(primaries, [2, 3]);
}

#[test]
fn rotate_names_the_next_safe_time_and_enough_keys_avoid_the_refusal() {
    let env = Env::new();
    let repo = setup(&env, "fernet", "fk");
    let out = env.run([
        "-f",
        "json",
        "fernet",
        "rotate",
        "--key-repository",
        repo.to_str().unwrap(),
    ]);
    out.expect_code(0);
    assert!(
        out.json()["next_safe_rotation"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{}",
        out.stdout
    );
    // With 5 keys the next two rotations delete nothing: no refusal.
    for _ in 0..2 {
        rotate(&env, "fernet", &repo, &["--max-active-keys", "5"]).expect_code(0);
    }
    assert_eq!(key_numbers(&repo), [0, 1, 2, 3, 4]);
    // The third would delete key 1, retired seconds ago.
    rotate(&env, "fernet", &repo, &["--max-active-keys", "5"]).expect_code(2);
    // With no token life at all, nothing can be cut short.
    rotate(
        &env,
        "fernet",
        &repo,
        &[
            "--max-active-keys",
            "5",
            "--expiration",
            "0",
            "--allow-expired-window",
            "0",
        ],
    )
    .expect_code(0);
}

#[test]
fn rotate_is_allowed_once_the_window_has_passed() {
    let env = Env::new();
    let repo = setup(&env, "fernet", "fk");
    let short = ["--expiration", "1", "--allow-expired-window", "1"];
    rotate(&env, "fernet", &repo, &short).expect_code(0);
    std::thread::sleep(std::time::Duration::from_millis(3100));
    rotate(&env, "fernet", &repo, &short).expect_code(0);
    assert_eq!(key_numbers(&repo), [0, 2, 3]);
}

#[test]
fn receipt_rotate_is_guarded_too() {
    let env = Env::new();
    let repo = setup(&env, "receipt", "fernet-receipts");
    rotate(&env, "receipt", &repo, &[]).expect_code(0);
    rotate(&env, "receipt", &repo, &[]).expect_code(2);
    assert!(env.path(".fernet-receipts.rotation.json").is_file());
}

#[test]
fn rotate_without_a_record_warns_and_proceeds() {
    let env = Env::new();
    let repo = setup(&env, "fernet", "fk");
    rotate(&env, "fernet", &repo, &["--force"]).expect_code(0);
    fs::remove_file(env.path(".fk.rotation.json")).unwrap();
    let out = rotate(&env, "fernet", &repo, &[]);
    out.expect_code(0);
    assert!(
        out.stderr.contains("no record of when key 2"),
        "{}",
        out.stderr
    );
}

// ------------------------------------------------------------------ manifests

#[test]
fn manifest_against_names_the_node_out_of_sync() {
    let env = Env::new();
    let reference = setup(&env, "fernet", "undercloud/fernet-keys");
    rotate(&env, "fernet", &reference, &[]).expect_code(0);
    // Three controllers: 0 and 1 hold the reference keys, 2 missed the last rotation.
    let mut manifests = vec![];
    for n in 0..3 {
        let node_dir = env.path(&format!("controller-{n}/fernet-keys"));
        fs::create_dir_all(node_dir.parent().unwrap()).unwrap();
        let status = std::process::Command::new("cp")
            .args([
                "-a",
                reference.to_str().unwrap(),
                node_dir.to_str().unwrap(),
            ])
            .status()
            .unwrap();
        assert!(status.success());
        if n == 2 {
            rotate(&env, "fernet", &node_dir, &["--force"]).expect_code(0);
        }
        let out = env.run([
            "-f",
            "json",
            "repo",
            "manifest",
            node_dir.to_str().unwrap(),
            "--node",
            &format!("controller-{n}"),
        ]);
        out.expect_code(0);
        // Fingerprints only: no key file's content appears in the manifest.
        for (_, content) in files(&node_dir) {
            let key = String::from_utf8(content).unwrap();
            assert!(
                !out.stdout.contains(key.trim()),
                "key material in the manifest"
            );
        }
        let path = env.path(&format!("controller-{n}.json"));
        fs::write(&path, &out.stdout).unwrap();
        manifests.push(path);
    }
    let args = |which: &[usize], json: bool| {
        let mut a: Vec<String> = vec![];
        if json {
            a.extend(["-f".into(), "json".into()]);
        }
        a.extend([
            "repo".into(),
            "check".into(),
            reference.to_str().unwrap().into(),
            "--against".into(),
        ]);
        a.extend(
            which
                .iter()
                .map(|&i| manifests[i].to_str().unwrap().to_string()),
        );
        a
    };
    env.run(args(&[0, 1], false)).expect_code(0);
    let table = env.run(args(&[0, 1, 2], false));
    table.expect_code(1);
    let line = table
        .stdout
        .lines()
        .find(|l| l.contains("repos-out-of-sync"))
        .unwrap_or_else(|| panic!("no finding:\n{}", table.stdout));
    assert!(line.contains("controller-2:"), "{line}");
    assert!(
        line.contains("0 differs") && line.contains("1 missing") && line.contains("3 extra"),
        "{line}"
    );
    let j = env.run(args(&[0, 1, 2], true)).json();
    let sync = j["sync_findings"].as_array().unwrap();
    assert_eq!(sync.len(), 1, "{j}");
    assert!(
        sync[0]["path"]
            .as_str()
            .unwrap()
            .starts_with("controller-2:")
    );
    assert_eq!(j["in_sync"], false);
}

#[test]
fn against_a_bad_manifest_is_bad_input() {
    let env = Env::new();
    let repo = setup(&env, "fernet", "fk");
    let bad = env.path("bad.json");
    fs::write(&bad, "{\"format\": 1}").unwrap();
    env.run([
        "repo",
        "check",
        repo.to_str().unwrap(),
        "--against",
        bad.to_str().unwrap(),
    ])
    .expect_bad_input(&bad);
}

// ------------------------------------------------------------------ switch / cutover

fn build(env: &Env, wd: &Path, extra: &[&str]) {
    let mut args = vec!["build", "--workdir", wd.to_str().unwrap()];
    args.extend_from_slice(extra);
    env.ok(args);
}

fn cutover(env: &Env, cmd: &[&str], wd: &Path, extra: &[&str]) -> Out {
    let mut args: Vec<&str> = cmd.to_vec();
    args.extend(["--workdir", wd.to_str().unwrap()]);
    args.extend_from_slice(extra);
    env.run(args)
}

fn provider_files(wd: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(wd)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("keystone-provider-"))
        .collect();
    names.sort();
    names
}

#[test]
fn switch_to_jws_fails_preflight_when_no_jws_keys_were_delivered() {
    let env = Env::new();
    let wd = env.path("wd");
    build(&env, &wd, &["--no-jws"]);
    let before = tree(env.root());
    let out = cutover(&env, &["switch", "--to", "jws"], &wd, &[]);
    out.expect_code(2);
    assert!(out.stderr.contains("pre-flight failed"), "{}", out.stderr);
    assert!(
        out.stderr.contains("jws-private-delivered"),
        "{}",
        out.stderr
    );
    out.expect_hint();
    assert_same_tree(&before, &tree(env.root()), "failed switch");
    // plan cutover shows the same failure and exits 1.
    let plan = cutover(&env, &["plan", "cutover", "--to", "jws"], &wd, &[]);
    plan.expect_code(1);
    assert!(plan.stdout.contains("**NOT READY**"), "{}", plan.stdout);
    assert!(plan.stdout.contains("| `jws-public-delivered` | FAILED |"));
}

#[test]
fn switch_to_jws_after_build_writes_the_flip_and_the_rollback() {
    let env = Env::new();
    let wd = env.path("wd");
    build(&env, &wd, &[]);
    let out = cutover(&env, &["switch", "--to", "jws"], &wd, &[]);
    out.expect_code(0);
    assert_eq!(
        provider_files(&wd),
        [
            "keystone-provider-fernet.yaml",
            "keystone-provider-jws.yaml"
        ]
    );
    let flip = fs::read_to_string(wd.join("keystone-provider-jws.yaml")).unwrap();
    assert!(flip.contains("keystone::token_provider: jws"), "{flip}");
    assert!(
        flip.contains("jwt_tokens/jws_private_key_repository"),
        "{flip}"
    );
    let rollback = fs::read_to_string(wd.join("keystone-provider-fernet.yaml")).unwrap();
    assert!(rollback.contains("  ControllerExtraConfig:\n    keystone::token_provider: fernet\n"));
    for needle in [
        "Ready: no check failed.",
        "404 \"Could not find token\"",
        "Trusts and application credentials survive",
        "Never flip a node that is still in the pool",
        "## Validation matrix",
        "## Rollback",
    ] {
        assert!(
            out.stdout.contains(needle),
            "missing {needle:?}:\n{}",
            out.stdout
        );
    }
    // Re-running changes nothing.
    let again = cutover(&env, &["-f", "json", "switch", "--to", "jws"], &wd, &[]);
    again.expect_code(0);
    assert_eq!(again.json()["flip"]["action"], "unchanged");
    // Back to Fernet is possible too; the rollback (JWS) keys are still delivered.
    let back = cutover(&env, &["-f", "json", "switch", "--to", "fernet"], &wd, &[]);
    back.expect_code(0);
    let j = back.json();
    assert_eq!(j["from"], "jws");
    let codes: Vec<&str> = j["preflight"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"fernet-keys-delivered"), "{codes:?}");
    assert!(codes.contains(&"rollback-keys-delivered"), "{codes:?}");
}

#[test]
fn switch_refuses_jws_keys_changed_since_the_last_build() {
    let env = Env::new();
    let wd = env.path("wd");
    build(&env, &wd, &[]);
    let jws = wd.join("keys/jws-keys");
    env.ok([
        "jws",
        "rotate",
        "stage",
        "--private-dir",
        jws.join("private").to_str().unwrap(),
        "--public-dir",
        jws.join("public").to_str().unwrap(),
    ]);
    let out = cutover(&env, &["switch", "--to", "jws"], &wd, &[]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("jws-artifact-current"),
        "{}",
        out.stderr
    );
    // After building (and deploying) the staged public key, the switch is ready.
    build(&env, &wd, &[]);
    cutover(&env, &["switch", "--to", "jws"], &wd, &[]).expect_code(0);
}

#[test]
fn switch_refuses_a_role_the_keys_were_not_delivered_to() {
    let env = Env::new();
    let wd = env.path("wd");
    build(&env, &wd, &[]);
    let out = cutover(
        &env,
        &["switch", "--to", "jws"],
        &wd,
        &["--role", "Controller", "--role", "Identity"],
    );
    out.expect_code(2);
    assert!(
        out.stderr.contains("artifact-in-deploy-env"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Identity"), "{}", out.stderr);
}

#[test]
fn plan_cutover_writes_nothing_and_markdown_is_the_table_output() {
    let env = Env::new();
    let wd = env.path("wd");
    build(&env, &wd, &[]);
    let before = tree(env.root());
    let table = cutover(&env, &["plan", "cutover", "--to", "jws"], &wd, &[]);
    table.expect_code(0);
    let markdown = cutover(
        &env,
        &["-f", "markdown", "plan", "cutover", "--to", "jws"],
        &wd,
        &[],
    );
    markdown.expect_code(0);
    assert_eq!(table.stdout, markdown.stdout);
    assert_same_tree(&before, &tree(env.root()), "plan cutover");
    assert!(provider_files(&wd).is_empty());
}

/// Replaces what differs between runs: the work directory and every run of 12 or more hex
/// digits (artifact names, key fingerprints).
fn redact(text: &str, wd: &Path) -> String {
    let text = text.replace(wd.to_str().unwrap(), "[WORKDIR]");
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 12 {
            out.push_str("[HEX]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_hexdigit() && !c.is_ascii_uppercase() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out.replace(env!("CARGO_PKG_VERSION"), "[VERSION]")
}

#[test]
fn runbook_fernet_to_jws() {
    let env = Env::new();
    let wd = env.path("wd");
    build(&env, &wd, &[]);
    let out = cutover(&env, &["plan", "cutover", "--to", "jws"], &wd, &[]);
    out.expect_code(0);
    insta::assert_snapshot!(redact(&out.stdout, &wd));
}

#[test]
fn runbook_jws_to_fernet_two_roles() {
    let env = Env::new();
    let wd = env.path("wd");
    build(&env, &wd, &["--role", "Controller", "--role", "Identity"]);
    let out = cutover(
        &env,
        &["plan", "cutover", "--to", "fernet"],
        &wd,
        &["--role", "Controller", "--role", "Identity"],
    );
    out.expect_code(0);
    insta::assert_snapshot!(redact(&out.stdout, &wd));
}

#[test]
fn runbook_json_fernet_to_jws() {
    let env = Env::new();
    let wd = env.path("wd");
    build(&env, &wd, &[]);
    let out = cutover(
        &env,
        &["-f", "json", "plan", "cutover", "--to", "jws"],
        &wd,
        &[],
    );
    out.expect_code(0);
    insta::assert_snapshot!(redact(&out.stdout, &wd));
}

#[test]
fn runbook_not_ready_without_jws_keys() {
    let env = Env::new();
    let wd = env.path("wd");
    build(&env, &wd, &["--no-jws"]);
    let out = cutover(&env, &["plan", "cutover", "--to", "jws"], &wd, &[]);
    out.expect_code(1);
    let preflight: String = out
        .stdout
        .split("## Environments")
        .next()
        .unwrap()
        .to_string();
    insta::assert_snapshot!(redact(&preflight, &wd));
}

/// Builds with `separate_receipts = true` (config only) into `wd`.
fn build_separate_receipts(env: &Env, wd: &Path) {
    let cfg = env.path("separate.toml");
    fs::write(&cfg, "separate_receipts = true\n").unwrap();
    build(env, wd, &["--config", cfg.to_str().unwrap()]);
}

/// The haproxy-bundle drain steps: how to drain, check and re-add, on every controller, and
/// why a runtime drain does not last.
fn assert_haproxy_steps(text: &str) {
    for needle in [
        "## Load balancer (TripleO haproxy-bundle)",
        "`haproxy-bundle`",
        "podman exec -i $(sudo podman ps -q --filter name=haproxy-bundle) socat stdio /var/lib/haproxy/stats",
        "`keystone_public`",
        "`keystone_admin`",
        "set server keystone_public/SERVER state drain; set server keystone_admin/SERVER state drain",
        "set server keystone_public/SERVER state ready; set server keystone_admin/SERVER state ready",
        "echo \"show stat\" | hap",
        "`DRAIN` with 0 current sessions",
        "tripleo::haproxy::haproxy_socket_access_level: admin",
        "`level user`",
        "lost when haproxy restarts",
        "a redeploy restarts haproxy",
        "when a VIP fails over (pacemaker moves it to another controller)",
        "drain on every controller's haproxy",
        "set server keystone_public/A_SERVER state ready",
        "set server keystone_public/B_SERVER state drain",
        "each `--limit NODE` run is a full `openstack overcloud deploy`, a stack update, not a quick restart",
        "tens of minutes to more than an hour",
        "Rotate no keys",
    ] {
        assert!(text.contains(needle), "missing {needle:?}:\n{text}");
    }
}

const SEPARATE_NOTE: &str = "MFA receipts in flight at the flip stay valid only if the receipt keys are the same on every node during the flip";
const SHARED_NOTE: &str =
    "that repository must remain non-empty (JWS still needs Fernet receipt keys)";

#[test]
fn runbook_drains_the_tripleo_haproxy_bundle_in_both_directions() {
    let env = Env::new();
    let wd = env.path("wd");
    build(&env, &wd, &[]);
    for to in ["jws", "fernet"] {
        let out = cutover(&env, &["plan", "cutover", "--to", to], &wd, &[]);
        out.expect_code(0);
        assert_haproxy_steps(&out.stdout);
        // `switch` prints the same runbook.
        let switch = cutover(&env, &["switch", "--to", to], &wd, &[]);
        switch.expect_code(0);
        assert_haproxy_steps(&switch.stdout);
    }
}

#[test]
fn runbook_json_carries_the_load_balancer_section_and_steps() {
    let env = Env::new();
    let wd = env.path("wd");
    build(&env, &wd, &[]);
    let j = cutover(
        &env,
        &["-f", "json", "plan", "cutover", "--to", "jws"],
        &wd,
        &[],
    )
    .json();
    let lb: Vec<&str> = j["load_balancer"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(lb.iter().any(|l| l.contains("`haproxy-bundle`")), "{lb:?}");
    assert!(lb.iter().any(|l| l.contains("state ready")), "{lb:?}");
    let drain = j["procedure"][1]["steps"][0].as_str().unwrap();
    assert!(
        drain.contains("set server keystone_public/SERVER state drain"),
        "{drain}"
    );
    // The Markdown renders the same section, line for line.
    let md = cutover(&env, &["plan", "cutover", "--to", "jws"], &wd, &[]);
    for line in &lb {
        assert!(md.stdout.contains(&format!("- {line}\n")), "{line}");
    }
}

#[test]
fn runbook_receipts_note_follows_separate_receipts() {
    let env = Env::new();
    let shared = env.path("shared");
    build(&env, &shared, &[]);
    let out = cutover(&env, &["plan", "cutover", "--to", "jws"], &shared, &[]);
    out.expect_code(0);
    assert!(!out.stdout.contains(SEPARATE_NOTE), "{}", out.stdout);
    assert!(out.stdout.contains(SHARED_NOTE), "{}", out.stdout);
    assert!(out.stdout.contains("a receipt in flight survives the flip"));

    let separate = env.path("separate");
    build_separate_receipts(&env, &separate);
    for (to, before, after) in [
        (
            "jws",
            "/etc/keystone/fernet-keys",
            "/etc/keystone/fernet-receipts",
        ),
        (
            "fernet",
            "/etc/keystone/fernet-receipts",
            "/etc/keystone/fernet-keys",
        ),
    ] {
        let out = cutover(&env, &["plan", "cutover", "--to", to], &separate, &[]);
        out.expect_code(0);
        let text = &out.stdout;
        assert!(text.contains(SEPARATE_NOTE), "{text}");
        assert!(text.contains("Do not rotate the receipt keys during the cutover"));
        assert!(!text.contains(SHARED_NOTE), "{text}");
        assert!(
            text.contains(&format!(
                "`[fernet_receipts] key_repository` moves from `{before}` to `{after}`"
            )),
            "{text}"
        );
    }
    // The JSON says the same.
    let j = cutover(
        &env,
        &["-f", "json", "plan", "cutover", "--to", "jws"],
        &separate,
        &[],
    )
    .json();
    assert!(
        j["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains(SEPARATE_NOTE))
    );
}

#[test]
fn runbook_fernet_to_jws_separate_receipts() {
    let env = Env::new();
    let wd = env.path("wd");
    build_separate_receipts(&env, &wd);
    let out = cutover(&env, &["plan", "cutover", "--to", "jws"], &wd, &[]);
    out.expect_code(0);
    insta::assert_snapshot!(redact(&out.stdout, &wd));
}
