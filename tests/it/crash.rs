//! Real crash tests: start a key-writing command, SIGKILL it after a random short delay,
//! and check that what is on disk is exactly the old state or the new one, that `repo check`
//! accepts it, and that leftovers are only the tool's own temporary names, gone after the
//! next successful run.
//!
//! The kill delay is drawn uniformly from 0 to 1.25 times the measured duration of an
//! uninterrupted run, so kills land before, during and after the writes. Each loop is
//! bounded by an iteration count and a time budget; its statistics are printed (run with
//! `--nocapture` to see them).

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

use crate::cli_support;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cli_support::{Cmd, Env, TEMP_MARKER, files, mode, names, staging_leftovers};

const ITERATIONS: usize = 200;
const BUDGET: Duration = Duration::from_secs(7);

/// xorshift64*: enough randomness for kill delays, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn from_clock() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Rng(nanos | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// Where the on-disk state is after a kill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Exactly as before the command.
    Old,
    /// A valid in-between state the command documents (JWS promote: both files equal).
    Between,
    /// Exactly what a complete run produces.
    New,
}

/// Where the kills landed.
#[derive(Debug, Default)]
struct Stats {
    /// Killed with nothing visible changed: before the first write.
    before: usize,
    /// Killed with a visible partial effect (a leftover, or an in-between state).
    mid: usize,
    /// Killed after the new state was complete, before the process exited.
    after: usize,
    /// The process finished before the kill.
    completed: usize,
    /// Leftover temporary entries found (and checked to be removed by the next run).
    leftovers: usize,
}

impl Stats {
    fn total(&self) -> usize {
        self.before + self.mid + self.after + self.completed
    }

    fn print(&self, name: &str, seed: u64, max_delay: Duration, elapsed: Duration) {
        eprintln!(
            "crash stats {name}: {} runs in {:.1}s (seed {seed:#x}, final delay window 0..{}us): \
             killed before any write {}, mid-operation {}, after the new state was complete {}, \
             finished before the kill {}; runs that left temporary entries {}",
            self.total(),
            elapsed.as_secs_f64(),
            max_delay.as_micros(),
            self.before,
            self.mid,
            self.after,
            self.completed,
            self.leftovers
        );
    }
}

/// One crash scenario: how to set up an iteration, what the command is, how to judge the
/// result, and how to find and clean up leftovers.
trait Scenario {
    type Snapshot;
    /// Brings the directory into a state where the command can run (completed runs only).
    fn prepare(&mut self, env: &Env);
    /// The command to kill.
    fn command(&self, env: &Env) -> Cmd;
    fn snapshot(&self) -> Self::Snapshot;
    /// Old, in-between or new; panics when the state is none of them.
    fn judge(&self, before: &Self::Snapshot, after: &Self::Snapshot) -> State;
    /// Temporary entries left by interrupted runs; panics on any other unexpected entry.
    fn leftovers(&self) -> Vec<PathBuf>;
    /// Whether the next successful run must remove every leftover.
    fn must_clean(&self) -> bool;
    /// What `repo check` is given.
    fn check_dir(&self) -> PathBuf;
    /// Runs the command(s) after which no leftover may remain.
    fn recover(&mut self, env: &Env);
}

fn run_ok(cmd: Cmd) {
    cmd.run().expect_code(0);
}

fn assert_check_clean(env: &Env, dir: &Path, context: &str) {
    let out = env.cmd().arg("repo").arg("check").arg(dir).run();
    assert_eq!(
        out.code,
        Some(0),
        "{context}: repo check rejects the repository:\n{}{}",
        out.stdout,
        out.stderr
    );
}

/// Median duration of three complete runs (after `prepare`).
fn calibrate<S: Scenario>(env: &Env, scenario: &mut S) -> Duration {
    let mut times: Vec<Duration> = (0..3)
        .map(|_| {
            scenario.prepare(env);
            let start = Instant::now();
            run_ok(scenario.command(env));
            start.elapsed()
        })
        .collect();
    times.sort();
    times[1]
}

/// The upper bound of the kill delays, adapted as the loop goes: a run that finished
/// before the kill shrinks it, a kill before any write grows it, so the kills concentrate
/// on the window where the command writes.
struct DelayWindow {
    max: Duration,
    limit: Duration,
}

impl DelayWindow {
    fn new(calibrated: Duration) -> Self {
        DelayWindow {
            max: calibrated,
            limit: calibrated * 3,
        }
    }

    fn draw(&self, rng: &mut Rng) -> Duration {
        Duration::from_micros(rng.below(self.max.as_micros() as u64 + 1))
    }

    fn learn(&mut self, completed: bool, untouched: bool) {
        if completed {
            self.max = self.max.mul_f64(0.93).max(Duration::from_micros(200));
        } else if untouched {
            self.max = self.max.mul_f64(1.07).min(self.limit);
        }
    }
}

/// The kill loop shared by every scenario.
fn crash_loop<S: Scenario>(name: &str, env: &Env, scenario: &mut S) -> Stats {
    let mut rng = Rng::from_clock();
    let seed = rng.0;
    let mut window = DelayWindow::new(calibrate(env, scenario));
    let mut stats = Stats::default();
    let start = Instant::now();
    for i in 0..ITERATIONS {
        if start.elapsed() > BUDGET {
            break;
        }
        scenario.prepare(env);
        let before = scenario.snapshot();
        let earlier = scenario.leftovers();
        let delay = window.draw(&mut rng);
        let mut child = scenario.command(env).spawn_quiet();
        std::thread::sleep(delay);
        let _ = child.kill();
        let status = child.wait().expect("wait for the killed child");
        let context = format!("{name} run {i} (delay {}us, {status})", delay.as_micros());
        let killed = status.signal() == Some(9);
        assert!(killed || status.code() == Some(0), "{context}: failed");
        let after = scenario.snapshot();
        let state = scenario.judge(&before, &after);
        let left: Vec<PathBuf> = scenario
            .leftovers()
            .into_iter()
            .filter(|p| !earlier.contains(p))
            .collect();
        assert_check_clean(env, &scenario.check_dir(), &context);
        if !killed {
            assert_eq!(state, State::New, "{context}: finished but not new");
            stats.completed += 1;
        } else if state == State::Between || !left.is_empty() {
            stats.mid += 1;
        } else if state == State::Old {
            stats.before += 1;
        } else {
            stats.after += 1;
        }
        window.learn(!killed, killed && state == State::Old && left.is_empty());
        if !left.is_empty() {
            stats.leftovers += 1;
            if scenario.must_clean() {
                scenario.recover(env);
                let still = scenario.leftovers();
                assert!(
                    still.is_empty(),
                    "{context}: leftovers {left:?} survive the next successful run: {still:?}"
                );
                assert_check_clean(env, &scenario.check_dir(), &context);
            }
        }
    }
    stats.print(name, seed, window.max, start.elapsed());
    assert!(stats.total() >= 20, "too few runs to mean anything");
    stats
}

// ---------------------------------------------------------------- fernet rotate

/// `fernet rotate` on `fk`, default max_active_keys 3.
struct FernetRotate {
    repo: PathBuf,
}

const MAX_ACTIVE: usize = 3;

/// What a complete rotation of `old` must leave, apart from the new random key 0.
fn rotated(old: &BTreeMap<String, Vec<u8>>) -> BTreeMap<u64, Vec<u8>> {
    let mut next: BTreeMap<u64, Vec<u8>> = old
        .iter()
        .map(|(name, bytes)| (name.parse().expect("numeric key name"), bytes.clone()))
        .collect();
    let highest = *next.keys().next_back().expect("keys");
    let staged = next.remove(&0).expect("staged key 0");
    next.insert(highest + 1, staged);
    while next.len() + 1 > MAX_ACTIVE {
        let lowest = *next.keys().next().expect("a key");
        next.remove(&lowest);
    }
    next
}

impl Scenario for FernetRotate {
    type Snapshot = BTreeMap<String, Vec<u8>>;

    fn prepare(&mut self, _env: &Env) {}

    fn command(&self, env: &Env) -> Cmd {
        env.cmd()
            // --force: back-to-back rotations break the safe-rotation rule on purpose.
            .args(["fernet", "rotate", "--force", "--key-repository"])
            .arg(&self.repo)
    }

    fn snapshot(&self) -> Self::Snapshot {
        files(&self.repo)
    }

    fn judge(&self, before: &Self::Snapshot, after: &Self::Snapshot) -> State {
        if after == before {
            return State::Old;
        }
        let mut rest = after.clone();
        let new_staged = rest.remove("0").expect("key 0 missing after a kill");
        let rest: BTreeMap<u64, Vec<u8>> = rest
            .into_iter()
            .map(|(n, b)| (n.parse().expect("numeric key name"), b))
            .collect();
        assert_eq!(
            rest,
            rotated(before),
            "neither the old nor the new key set: before {:?}, after {:?}",
            before.keys(),
            after.keys()
        );
        assert!(
            !before.values().any(|k| *k == new_staged),
            "the new staged key repeats an old key"
        );
        State::New
    }

    fn leftovers(&self) -> Vec<PathBuf> {
        let parent = self.repo.parent().expect("parent");
        let staging = staging_leftovers(&self.repo);
        assert!(staging.len() <= 1, "several staging dirs: {staging:?}");
        // The rotation record lives next to the repository; a killed record write may leave
        // its temporary file, which the next record write removes.
        let record_tmp = format!(".fk.rotation.json{TEMP_MARKER}");
        let others: Vec<String> = names(parent)
            .into_iter()
            .filter(|n| n != "fk" && n != ".fk.rotation.json" && !staging.contains(n))
            .filter(|n| !n.starts_with(&record_tmp))
            .collect();
        assert!(
            others.is_empty(),
            "unexpected entries next to fk: {others:?}"
        );
        let mut staging: Vec<PathBuf> = staging.iter().map(|n| parent.join(n)).collect();
        staging.extend(
            names(parent)
                .into_iter()
                .filter(|n| n.starts_with(&record_tmp))
                .map(|n| parent.join(n)),
        );
        for dir in &staging {
            // It may hold the old keys after the exchange: never readable by others.
            assert_eq!(mode(dir) & 0o077, 0, "{} is open to others", dir.display());
        }
        staging
    }

    fn must_clean(&self) -> bool {
        true
    }

    fn check_dir(&self) -> PathBuf {
        self.repo.clone()
    }

    fn recover(&mut self, env: &Env) {
        let before = self.snapshot();
        run_ok(self.command(env));
        assert_eq!(self.judge(&before, &self.snapshot()), State::New);
    }
}

#[test]
fn fernet_rotate_survives_sigkill_at_any_point() {
    let env = Env::new();
    let repo = env.path("fk");
    run_ok(
        env.cmd()
            .args(["fernet", "setup", "--key-repository"])
            .arg(&repo),
    );
    let stats = crash_loop("fernet rotate", &env, &mut FernetRotate { repo });
    assert_eq!(
        stats.total(),
        stats.before + stats.mid + stats.after + stats.completed
    );
}

// ---------------------------------------------------------------- JWS rotation

/// The two JWS directories under `jws/`, with a pair already created.
struct Jws {
    base: PathBuf,
    /// Whether leftovers must be gone after the next successful run. Otherwise they only
    /// have to carry the tool's temporary marker, and `repo check` must still pass with
    /// them in place (keystone reads every file of the public set).
    strict: bool,
}

/// Contents of `private/` and `public/` (temporary files left out).
type JwsSnapshot = (BTreeMap<String, Vec<u8>>, BTreeMap<String, Vec<u8>>);

impl Jws {
    fn new(env: &Env, strict: bool) -> Self {
        let base = env.path("jws");
        let jws = Jws { base, strict };
        run_ok(jws.cmd(env, &["create"]));
        jws
    }

    fn cmd(&self, env: &Env, args: &[&str]) -> Cmd {
        env.cmd()
            .arg("jws")
            .args(args)
            .arg("--private-dir")
            .arg(self.base.join("private"))
            .arg("--public-dir")
            .arg(self.base.join("public"))
    }

    fn dir(&self, which: &str) -> PathBuf {
        self.base.join(which)
    }

    fn has_staged(&self) -> bool {
        self.dir("private").join("staged.pem").exists()
    }

    fn snap(&self) -> JwsSnapshot {
        let clean = |dir: PathBuf| -> BTreeMap<String, Vec<u8>> {
            files(&dir)
                .into_iter()
                .filter(|(n, _)| !n.contains(TEMP_MARKER))
                .collect()
        };
        (clean(self.dir("private")), clean(self.dir("public")))
    }

    /// Temporary entries anywhere under `jws/`; panics on any other unexpected name.
    fn temp_entries(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for (dir, expected) in [
            (self.base.clone(), &["private", "public"][..]),
            (self.dir("private"), &["private.pem", "staged.pem"][..]),
            (self.dir("public"), &[][..]),
        ] {
            for name in names(&dir) {
                if name.contains(TEMP_MARKER) {
                    out.push(dir.join(&name));
                } else {
                    assert!(
                        expected.is_empty() || expected.contains(&name.as_str()),
                        "unexpected {} in {}",
                        name,
                        dir.display()
                    );
                }
            }
        }
        out
    }

    /// A full rotation cycle (promote what is staged, stage, promote) with retirement, so
    /// the public set stays small; afterwards the pair is as after `create`.
    fn settle(&self, env: &Env) {
        if self.has_staged() {
            run_ok(self.cmd(env, &["rotate", "promote"]));
        }
        run_ok(self.cmd(env, &["rotate", "retire", "--force"]));
    }
}

/// `jws rotate promote`, killed; before each kill a complete `stage` runs.
struct JwsPromote(Jws);

impl Scenario for JwsPromote {
    type Snapshot = JwsSnapshot;

    fn prepare(&mut self, env: &Env) {
        self.0.settle(env);
        run_ok(self.0.cmd(env, &["rotate", "stage"]));
    }

    fn command(&self, env: &Env) -> Cmd {
        self.0.cmd(env, &["rotate", "promote"])
    }

    fn snapshot(&self) -> Self::Snapshot {
        self.0.snap()
    }

    fn judge(&self, before: &Self::Snapshot, after: &Self::Snapshot) -> State {
        assert_eq!(after.1, before.1, "promote changed the public set");
        let staged = &before.0["staged.pem"];
        let private = after.0.get("private.pem").expect("private.pem missing");
        match (private == staged, after.0.get("staged.pem")) {
            (false, _) if after.0 == before.0 => State::Old,
            (true, Some(s)) if s == staged => State::Between,
            (true, None) => State::New,
            _ => panic!("promote left neither old nor new: {:?}", after.0.keys()),
        }
    }

    fn leftovers(&self) -> Vec<PathBuf> {
        self.0.temp_entries()
    }

    fn must_clean(&self) -> bool {
        self.0.strict
    }

    fn check_dir(&self) -> PathBuf {
        self.0.base.clone()
    }

    fn recover(&mut self, env: &Env) {
        // The next successful promote: finish this one, or stage and promote anew.
        if !self.0.has_staged() {
            run_ok(self.0.cmd(env, &["rotate", "stage"]));
        }
        run_ok(self.command(env));
    }
}

/// `jws rotate stage`, killed; before each kill the previous stage is promoted and retired.
struct JwsStage(Jws);

impl Scenario for JwsStage {
    type Snapshot = JwsSnapshot;

    fn prepare(&mut self, env: &Env) {
        self.0.settle(env);
    }

    fn command(&self, env: &Env) -> Cmd {
        self.0.cmd(env, &["rotate", "stage"])
    }

    fn snapshot(&self) -> Self::Snapshot {
        self.0.snap()
    }

    fn judge(&self, before: &Self::Snapshot, after: &Self::Snapshot) -> State {
        assert_eq!(
            after.0.get("private.pem"),
            before.0.get("private.pem"),
            "stage changed private.pem"
        );
        let added: Vec<&String> = after
            .1
            .keys()
            .filter(|n| !before.1.contains_key(*n))
            .collect();
        assert!(
            before.1.iter().all(|(n, b)| after.1.get(n) == Some(b)),
            "stage changed or removed a public key"
        );
        assert!(
            added.len() <= 1,
            "stage added several public keys: {added:?}"
        );
        match (added.is_empty(), after.0.contains_key("staged.pem")) {
            (true, false) => State::Old,
            (false, false) => State::Between,
            (false, true) => State::New,
            (true, true) => panic!("staged.pem written before its public key"),
        }
    }

    fn leftovers(&self) -> Vec<PathBuf> {
        self.0.temp_entries()
    }

    fn must_clean(&self) -> bool {
        self.0.strict
    }

    fn check_dir(&self) -> PathBuf {
        self.0.base.clone()
    }

    fn recover(&mut self, env: &Env) {
        // The next successful stage (after promoting a complete one).
        self.prepare(env);
        run_ok(self.command(env));
    }
}

#[test]
fn jws_promote_survives_sigkill_at_any_point() {
    let env = Env::new();
    let mut scenario = JwsPromote(Jws::new(&env, false));
    crash_loop("jws rotate promote", &env, &mut scenario);
}

#[test]
fn jws_promote_leftovers_are_removed_by_the_next_run() {
    let env = Env::new();
    let mut scenario = JwsPromote(Jws::new(&env, true));
    crash_loop("jws rotate promote (strict)", &env, &mut scenario);
}

#[test]
fn jws_stage_survives_sigkill_at_any_point() {
    let env = Env::new();
    let mut scenario = JwsStage(Jws::new(&env, false));
    crash_loop("jws rotate stage", &env, &mut scenario);
}

#[test]
fn jws_stage_leftovers_are_removed_by_the_next_run() {
    let env = Env::new();
    let mut scenario = JwsStage(Jws::new(&env, true));
    crash_loop("jws rotate stage (strict)", &env, &mut scenario);
}
