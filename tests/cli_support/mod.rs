//! Shared helpers for the CLI tests: run the real binary in its own temporary directory,
//! capture what it printed, and take byte-exact snapshots of what is on disk.
//!
//! Each test binary uses only part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_overcloud-keys");

/// Marker of the tool's temporary files and staging directories.
pub const TEMP_MARKER: &str = ".overcloud-keys-tmp";

/// A private temporary directory; every command runs with it as working directory.
pub struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("overcloud-keys-test-")
            .tempdir()
            .expect("create temporary directory");
        Env { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A command builder for the binary, run in this directory.
    pub fn cmd(&self) -> Cmd {
        Cmd {
            wrapper: Vec::new(),
            args: Vec::new(),
            envs: Vec::new(),
            cwd: self.root().to_path_buf(),
        }
    }

    /// Runs the binary with `args` and returns what it did.
    pub fn run<I, S>(&self, args: I) -> Out
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd().args(args).run()
    }

    /// Runs a command that must succeed.
    pub fn ok<I, S>(&self, args: I) -> Out
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self.run(args);
        out.expect_code(0);
        out
    }
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

/// Builder for one run of the binary.
#[derive(Debug, Clone)]
pub struct Cmd {
    wrapper: Vec<OsString>,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    cwd: PathBuf,
}

impl Cmd {
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Sets an environment variable for the run (e.g. `HOME`).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// Runs the binary through `wrapper` (e.g. `setpriv ... --`), to run as another user.
    pub fn wrapped(mut self, wrapper: &[OsString]) -> Self {
        self.wrapper = wrapper.to_vec();
        self
    }

    fn command(&self) -> Command {
        let mut command = match self.wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        command
            .args(&self.args)
            .current_dir(&self.cwd)
            .env_remove("RUST_BACKTRACE")
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        command
    }

    /// Runs to completion, capturing stdout, stderr and the exit code.
    pub fn run(&self) -> Out {
        let output = self.command().output().expect("run overcloud-keys");
        Out {
            args: self.describe(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Starts the binary with its output discarded (for the crash tests).
    pub fn spawn_quiet(&self) -> Child {
        self.command()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn overcloud-keys")
    }

    fn describe(&self) -> String {
        self.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What one run printed and returned.
#[derive(Debug, Clone)]
pub struct Out {
    pub args: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Panics, showing everything, unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "`overcloud-keys {}` exited {:?}, expected {code}\n--- stdout\n{}--- stderr\n{}",
            self.args,
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    /// stdout and stderr together.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "`overcloud-keys {}` printed no JSON ({e}):\n{}",
                self.args, self.stdout
            )
        })
    }

    /// The stderr lines starting with `prefix`.
    pub fn stderr_lines(&self, prefix: &str) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with(prefix))
            .collect()
    }

    /// Asserts the bad-input contract: exit 2, exactly one `error:` line that names
    /// `names`, and a `hint:` line. Returns the error line.
    pub fn expect_bad_input(&self, names: &Path) -> String {
        self.expect_code(2);
        let errors = self.stderr_lines("error:");
        assert_eq!(errors.len(), 1, "one error line expected:\n{}", self.stderr);
        let error = errors[0].to_string();
        assert!(
            error.contains(&names.display().to_string()),
            "the error line does not name {}:\n{}",
            names.display(),
            self.stderr
        );
        self.expect_hint();
        error
    }

    /// Asserts that a `hint:` line follows the error. Returns it.
    pub fn expect_hint(&self) -> String {
        let hints = self.stderr_lines("hint:");
        assert_eq!(hints.len(), 1, "one hint line expected:\n{}", self.stderr);
        hints[0].to_string()
    }
}

/// One file system entry, as compared by the "untouched byte for byte" assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub ino: u64,
    /// File content; `None` for a directory.
    pub content: Option<Vec<u8>>,
}

/// Everything under a directory, by path relative to it (the directory itself is "").
pub type Tree = BTreeMap<PathBuf, Node>;

/// Snapshot of `root` and everything below it (empty when `root` does not exist).
pub fn tree(root: &Path) -> Tree {
    let mut out = Tree::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, path: &Path, out: &mut Tree) {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return;
    };
    let rel = path.strip_prefix(root).unwrap_or(path).to_path_buf();
    let content = if meta.is_dir() {
        None
    } else {
        Some(fs::read(path).unwrap_or_default())
    };
    out.insert(
        rel,
        Node {
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            ino: meta.ino(),
            content,
        },
    );
    if meta.is_dir() {
        let mut children: Vec<PathBuf> = fs::read_dir(path)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        children.sort();
        for child in children {
            walk(root, &child, out);
        }
    }
}

/// Asserts two snapshots are equal, naming the first difference.
pub fn assert_same_tree(before: &Tree, after: &Tree, what: &str) {
    let names = |t: &Tree| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(before),
        names(after),
        "{what}: entries differ (staging leftovers or removed files)"
    );
    for (path, node) in before {
        assert!(
            after.get(path) == Some(node),
            "{what}: {} changed (mode, owner, inode or bytes)",
            path.display()
        );
    }
}

/// Contents of the regular files directly in `dir`, by name.
pub fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                let bytes = fs::read(entry.path()).expect("read file");
                out.insert(entry.file_name().to_string_lossy().into_owned(), bytes);
            }
        }
    }
    out
}

/// Names of every entry directly in `dir`, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Key numbers of a numbered repository (non-numeric names are left out).
pub fn key_numbers(dir: &Path) -> Vec<u64> {
    let mut out: Vec<u64> = names(dir).iter().filter_map(|n| n.parse().ok()).collect();
    out.sort_unstable();
    out
}

/// Permission bits of a path.
pub fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Sets the permission bits of a path.
pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Staging directories `.<name>.overcloud-keys-tmp-*` next to `repo`.
pub fn staging_leftovers(repo: &Path) -> Vec<String> {
    let name = repo.file_name().expect("repo name").to_string_lossy();
    let prefix = format!(".{name}{TEMP_MARKER}-");
    names(repo.parent().expect("repo parent"))
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

/// True when the tests run as root (chown, mount and user switching need it).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Prints why a test did nothing.
pub fn skip(test: &str, why: &str) {
    // Straight to the process's stderr, not `eprintln!`: the test harness captures the
    // macros' output of a passing test, and a skip must be seen (`SKIPPED` in the log).
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

fn in_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false)
}

/// A command prefix running the binary as `nobody` (uid/gid 65534), when root and a tool
/// for it exists.
pub fn as_nobody() -> Option<Vec<OsString>> {
    if !is_root() {
        return None;
    }
    let words: &[&str] = if in_path("setpriv") {
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
        ]
    } else if in_path("runuser") {
        &["runuser", "-u", "nobody", "--"]
    } else {
        return None;
    };
    Some(words.iter().map(OsString::from).collect())
}

/// A tmpfs mounted for the life of this value (unmounted on drop).
pub struct Tmpfs {
    path: PathBuf,
}

fn run_tool(program: &str, args: &[&OsStr]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {:?}: {}",
            args,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. "16k") on `path` (created if missing).
    pub fn mount(path: &Path, size: &str) -> Result<Self, String> {
        if !is_root() {
            return Err("not root".into());
        }
        fs::create_dir_all(path).map_err(|e| e.to_string())?;
        let opts = format!("size={size},mode=0755");
        run_tool(
            "mount",
            &[
                OsStr::new("-t"),
                OsStr::new("tmpfs"),
                OsStr::new("-o"),
                OsStr::new(&opts),
                OsStr::new("tmpfs"),
                path.as_os_str(),
            ],
        )?;
        Ok(Tmpfs {
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes the file system read-only.
    pub fn remount_read_only(&self) -> Result<(), String> {
        run_tool(
            "mount",
            &[
                OsStr::new("-o"),
                OsStr::new("remount,ro"),
                self.path.as_os_str(),
            ],
        )
    }

    /// Fills the file system until writes fail with ENOSPC.
    pub fn fill(&self) {
        let mut filler = fs::File::create(self.path.join("filler")).expect("create filler");
        let chunk = [0u8; 512];
        loop {
            if filler.write_all(&chunk).is_err() || filler.sync_all().is_err() {
                break;
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if run_tool("umount", &[self.path.as_os_str()]).is_err() {
            let _ = run_tool("umount", &[OsStr::new("-l"), self.path.as_os_str()]);
        }
    }
}
