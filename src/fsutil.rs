//! Crash-safe file system primitives: every secret goes through here.
//!
//! Invariants: files are created with `create_new` and mode 0600 (or the mode asked for)
//! set *before* the first byte is written; every write is fsynced, renamed into place and
//! followed by an fsync of the directory; a whole repository is replaced by building it in
//! a sibling staging directory and exchanging the two directories atomically
//! (`renameat2(RENAME_EXCHANGE)`), so a crash leaves the old repository or the new one.

use std::ffi::OsStr;
use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::owner::Owner;

/// Mode of a secret file (key, private key, rendered environment holding keys).
pub(crate) const SECRET_FILE_MODE: u32 = 0o600;
/// Mode of a public file (JWS public key).
pub const PUBLIC_FILE_MODE: u32 = 0o644;
/// Mode of every key directory.
pub(crate) const KEY_DIR_MODE: u32 = 0o700;

/// Marker in the names of our temporary files and staging directories, so leftovers of an
/// interrupted run can be recognised and cleaned up.
pub(crate) const TEMP_MARKER: &str = ".overcloud-keys-tmp";

/// Wraps an I/O error with the path and the operation it failed on.
pub(crate) fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn unique_suffix() -> String {
    format!("{}-{}", std::process::id(), crate::clock::now_nanos())
}

/// Creates `dir/name` (which must not exist) with `mode`, writes `bytes`, applies `owner`
/// and fsyncs the file. The mode is set on the empty file before any byte is written.
pub(crate) fn write_new_file(path: &Path, bytes: &[u8], mode: u32, owner: &Owner) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io_err("create", path))?;
    // The umask may have removed bits we want (it never adds any): fix the empty file.
    file.set_permissions(Permissions::from_mode(mode))
        .map_err(io_err("set mode of", path))?;
    owner.apply_to_file(&file, path)?;
    file.write_all(bytes).map_err(io_err("write", path))?;
    file.sync_all().map_err(io_err("fsync", path))?;
    Ok(())
}

/// Atomically replaces (or creates) the file at `path` with `bytes`: temp file in the same
/// directory, fsync, rename, fsync of the directory.
pub(crate) fn write_file_atomic(path: &Path, bytes: &[u8], mode: u32, owner: &Owner) -> Result<()> {
    publish_all(vec![stage_file(path, bytes, mode, owner)?])
}

/// A file fully written and fsynced under a temporary name beside its target, not yet in
/// place; dropped unpublished, the temporary file is removed.
pub(crate) struct Staged {
    tmp: Option<PathBuf>,
    path: PathBuf,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Writes `bytes` to a new temporary file beside `path` (mode and owner set before the
/// first byte, fsynced). Nothing at `path` changes until [`publish_all`].
pub(crate) fn stage_file(path: &Path, bytes: &[u8], mode: u32, owner: &Owner) -> Result<Staged> {
    let name = path.file_name().unwrap_or_else(|| OsStr::new("file"));
    let tmp = parent_of(path).join(format!(
        "{}{}-{}",
        name.to_string_lossy(),
        TEMP_MARKER,
        unique_suffix()
    ));
    if let Err(err) = write_new_file(&tmp, bytes, mode, owner) {
        let _ = fs::remove_file(&tmp);
        return Err(err);
    }
    Ok(Staged {
        tmp: Some(tmp),
        path: path.to_path_buf(),
    })
}

/// Renames staged files into place in order, then fsyncs their directories. Every byte was
/// written while staging, so running out of space there changes nothing; the renames
/// allocate nothing.
pub(crate) fn publish_all(files: Vec<Staged>) -> Result<()> {
    let mut dirs: Vec<PathBuf> = vec![];
    for mut staged in files {
        let tmp = staged.tmp.take().expect("staged once");
        if let Err(source) = fs::rename(&tmp, &staged.path) {
            let _ = fs::remove_file(&tmp);
            return Err(Error::Io {
                op: "rename into place",
                path: staged.path.clone(),
                source,
            });
        }
        let dir = parent_of(&staged.path);
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs.iter().try_for_each(|d| sync_dir(d))
}

/// Removes the temporary files (`<name><TEMP_MARKER>-<pid>-<nanos>`) that writers killed
/// mid-write left in `dir`: only regular files whose writer process is gone. Call it under
/// the lock of what `dir` holds. They can hold superseded keys; failing to remove one is
/// not an error (the next run tries again).
pub(crate) fn sweep_temp_files(dir: &Path) -> usize {
    let marker = format!("{TEMP_MARKER}-");
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((_, suffix)) = name.split_once(&marker) else {
            continue;
        };
        let writer = suffix.split('-').next().and_then(|p| p.parse::<u32>().ok());
        let alive = writer.is_some_and(|pid| {
            pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
        });
        let regular = entry
            .file_type()
            .is_ok_and(|t| t.is_file() || t.is_symlink());
        if regular && !alive && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Removes a file and fsyncs its directory.
pub(crate) fn remove_file_durable(path: &Path) -> Result<()> {
    fs::remove_file(path).map_err(io_err("remove", path))?;
    sync_dir(&parent_of(path))
}

/// The directory holding `path` (`.` for a bare name).
pub(crate) fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// fsyncs a directory so renames and unlinks inside it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

/// Creates one directory with `mode` (parents must exist) and applies `owner`.
pub fn create_dir(path: &Path, mode: u32, owner: &Owner) -> Result<()> {
    DirBuilder::new()
        .mode(mode)
        .create(path)
        .map_err(io_err("create directory", path))?;
    fs::set_permissions(path, Permissions::from_mode(mode)).map_err(io_err("set mode of", path))?;
    owner.apply_to_path(path)?;
    Ok(())
}

/// Creates the missing parents of `path` with mode 0700 (never touching existing ones).
pub fn create_parents(path: &Path) -> Result<()> {
    let parent = parent_of(path);
    if parent.is_dir() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(KEY_DIR_MODE)
        .create(&parent)
        .map_err(io_err("create directory", &parent))
}

/// A sibling staging directory for `target`, created empty with `mode` and `owner`.
pub(crate) fn create_staging_dir(target: &Path, mode: u32, owner: &Owner) -> Result<PathBuf> {
    create_parents(target)?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repo".into());
    let staging = parent_of(target).join(format!(".{name}{TEMP_MARKER}-{}", unique_suffix()));
    create_dir(&staging, mode, owner)?;
    Ok(staging)
}

/// Removes staging directories that an interrupted earlier run left next to `target`.
pub(crate) fn remove_stale_staging(target: &Path) {
    let Some(name) = target.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let prefix = format!(".{name}{TEMP_MARKER}-");
    if let Ok(entries) = fs::read_dir(parent_of(target)) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Puts the fully written, fsynced `staging` directory in place of `target` atomically.
///
/// If `target` exists, the two are exchanged with `renameat2(RENAME_EXCHANGE)` and the old
/// contents (now at the staging path) are removed; otherwise `staging` is renamed. Either
/// way the parent directory is fsynced, so after a crash `target` is the old or the new.
pub(crate) fn replace_dir(staging: &Path, target: &Path) -> Result<()> {
    sync_dir(staging)?;
    let parent = parent_of(target);
    let exists = fs::symlink_metadata(target).is_ok();
    if exists {
        nix::fcntl::renameat2(
            nix::fcntl::AT_FDCWD,
            staging,
            nix::fcntl::AT_FDCWD,
            target,
            nix::fcntl::RenameFlags::RENAME_EXCHANGE,
        )
        .map_err(|errno| Error::Io {
            op: "atomically exchange the repository at",
            path: target.to_path_buf(),
            source: io::Error::from(errno),
        })?;
        sync_dir(&parent)?;
        fs::remove_dir_all(staging).map_err(io_err("remove old repository copy", staging))?;
    } else {
        fs::rename(staging, target).map_err(io_err("rename into place", target))?;
    }
    sync_dir(&parent)
}

/// One file of a directory being committed.
pub(crate) struct DirFile {
    /// File name inside the directory.
    pub name: String,
    /// Content (zeroized on drop).
    pub content: zeroize::Zeroizing<Vec<u8>>,
    /// Permission bits.
    pub mode: u32,
}

/// Replaces the directory `target` with one holding exactly `files`, atomically: a sibling
/// staging directory (0700) is filled and fsynced, then exchanged with `target`. Nothing is
/// ever written inside `target` itself, so keystone (which reads every file of a key or
/// public-key directory) never sees a temporary or half-written file. Leftovers of a crash
/// are sibling staging directories, removed by the next commit.
pub(crate) fn commit_dir(target: &Path, files: &[DirFile], owner: &Owner) -> Result<()> {
    if let Ok(meta) = fs::symlink_metadata(target)
        && !meta.is_dir()
    {
        return Err(Error::NotADirectory(target.to_path_buf()));
    }
    remove_stale_staging(target);
    let in_target = |err: Error| match err {
        Error::Io { source, .. } => Error::Io {
            op: "write the new contents of",
            path: target.to_path_buf(),
            source,
        },
        other => other,
    };
    let staging = create_staging_dir(target, KEY_DIR_MODE, owner).map_err(in_target)?;
    let written = (|| {
        for file in files {
            write_new_file(&staging.join(&file.name), &file.content, file.mode, owner)?;
        }
        replace_dir(&staging, target)
    })();
    if written.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    written.map_err(in_target)
}

/// The files of an existing directory, for a commit that changes some of them.
pub(crate) fn read_dir_files(dir: &Path) -> Result<Vec<DirFile>> {
    let mut out = vec![];
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err("list", dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err("list", dir))?;
        let path = entry.path();
        let meta = fs::metadata(&path).map_err(io_err("inspect", &path))?;
        if meta.is_file() {
            out.push(DirFile {
                name: entry.file_name().to_string_lossy().into_owned(),
                content: zeroize::Zeroizing::new(read_key_file(&path)?),
                mode: meta.permissions().mode() & 0o7777,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The owner to write with: the explicit one when given, else the existing directory's
/// (a rotation run as root must not hand keystone's keys to root), else the caller.
pub(crate) fn effective_owner(explicit: &Owner, existing: &Path) -> Owner {
    if explicit.uid.is_some() || explicit.gid.is_some() {
        *explicit
    } else {
        Owner::of_path(existing).unwrap_or_default()
    }
}

/// Largest file `read_small` reads (configs, manifests, records, a key tarball).
pub(crate) const MAX_SMALL_FILE: u64 = 64 << 20;
/// Largest key file read (a Fernet key is 44 bytes, a PEM key under 1 KiB).
pub(crate) const MAX_KEY_FILE: u64 = 64 << 10;

/// Reads a whole small input file: a regular file only, capped (see [`read_input`]).
pub(crate) fn read_small(path: &Path) -> Result<Vec<u8>> {
    read_input(path, MAX_SMALL_FILE)
}

/// Reads a small text input (a config, an environment, an inventory): as [`read_small`],
/// and it must be UTF-8; the error names the file.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    String::from_utf8(read_small(path)?).map_err(|e| Error::InvalidValue {
        name: "input file",
        value: path.display().to_string(),
        reason: format!("is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
    })
}

/// Reads a key file inside a repository: as [`read_input`], and never through a symbolic
/// link (`O_NOFOLLOW`): a repository owned by the keystone user must not make root read, pack
/// or hand back any root-only file that has a key's shape.
pub(crate) fn read_key_file(path: &Path) -> Result<Vec<u8>> {
    read_regular(path, MAX_KEY_FILE, nix::fcntl::OFlag::O_NOFOLLOW.bits())
}

/// Reads a whole input file (a config, an exported environment, a tarball) of at most
/// `cap` bytes. Only a regular file is read: it is opened non-blocking (a FIFO cannot hang
/// the run) and checked with fstat before the first byte (a device never ends).
pub(crate) fn read_input(path: &Path, cap: u64) -> Result<Vec<u8>> {
    read_regular(path, cap, 0)
}

fn read_regular(path: &Path, cap: u64, flags: i32) -> Result<Vec<u8>> {
    use std::io::Read;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits() | flags)
        .open(path)
        .map_err(|source| match source.raw_os_error() {
            // O_NOFOLLOW on a symbolic link (io::ErrorKind::FilesystemLoop is not stable).
            Some(errno) if errno == nix::errno::Errno::ELOOP as i32 => Error::InvalidValue {
                name: "key file",
                value: path.display().to_string(),
                reason: "is a symbolic link: keys are never read through one".into(),
            },
            _ => io_err("read", path)(source),
        })?;
    let meta = file.metadata().map_err(io_err("inspect", path))?;
    let refuse = |reason: String| Error::InvalidValue {
        name: "input file",
        value: path.display().to_string(),
        reason,
    };
    if !meta.is_file() {
        return Err(refuse("is not a regular file".into()));
    }
    if meta.len() > cap {
        return Err(refuse(format!(
            "is {} bytes; inputs of this kind are at most {cap}",
            meta.len()
        )));
    }
    let mut out = Vec::with_capacity(meta.len() as usize);
    file.take(cap + 1)
        .read_to_end(&mut out)
        .map_err(io_err("read", path))?;
    if out.len() as u64 > cap {
        return Err(refuse(format!("grew past {cap} bytes while being read")));
    }
    Ok(out)
}

/// How long [`lock`] waits for another writer, in milliseconds (`--lock-timeout`).
static LOCK_TIMEOUT_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(10_000);

/// Sets how long [`lock`] waits for another writer before giving up.
pub fn set_lock_timeout(timeout: std::time::Duration) {
    LOCK_TIMEOUT_MS.store(
        u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        std::sync::atomic::Ordering::Relaxed,
    );
}

/// An exclusive advisory lock on what one writer changes (see [`lock`]); released when
/// dropped.
#[derive(Debug)]
pub struct Lock {
    /// `None`: this thread already held the lock (a nested take), released by the outer one.
    held: Option<(nix::fcntl::Flock<File>, (u64, u64))>,
}

impl Drop for Lock {
    fn drop(&mut self) {
        if let Some((_, key)) = &self.held {
            HELD.with(|held| held.borrow_mut().retain(|k| k != key));
        }
    }
}

thread_local! {
    /// The directories (device, inode) whose lock this thread holds: taking one again (a
    /// build whose artifact directory is the work directory's parent) nests instead of
    /// waiting for itself.
    static HELD: std::cell::RefCell<Vec<(u64, u64)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Takes the exclusive lock of `target` (a repository, a work directory, an output file):
/// an advisory `flock` on the directory that holds it, so no lock file is ever created
/// (nothing appears beside a repository, and a refused run leaves the tree as it was) and
/// nothing is ever put inside a key directory keystone reads. Waits up to the lock timeout
/// for the writer that holds it, then refuses, naming the holder's pid. Every writer takes
/// it, so concurrent runs are serialized and every run that reports success has taken
/// effect. (Writers of neighbours in the same directory wait for each other too: coarser,
/// never wrong.)
pub fn lock(target: &Path) -> Result<Lock> {
    use nix::fcntl::{Flock, FlockArg};
    let dir = parent_of(target);
    if !dir.is_dir() {
        create_parents(target)?;
    }
    let timeout = std::time::Duration::from_millis(
        LOCK_TIMEOUT_MS.load(std::sync::atomic::Ordering::Relaxed),
    );
    let started = std::time::Instant::now();
    let mut handle = File::open(&dir).map_err(io_err("open for locking", &dir))?;
    let key = {
        use std::os::unix::fs::MetadataExt;
        let meta = handle.metadata().map_err(io_err("inspect", &dir))?;
        (meta.dev(), meta.ino())
    };
    if HELD.with(|held| held.borrow().contains(&key)) {
        return Ok(Lock { held: None });
    }
    loop {
        match Flock::lock(handle, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => {
                HELD.with(|held| held.borrow_mut().push(key));
                return Ok(Lock {
                    held: Some((lock, key)),
                });
            }
            Err((back, nix::errno::Errno::EWOULDBLOCK)) if started.elapsed() < timeout => {
                handle = back;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                return Err(Error::Locked {
                    target: target.to_path_buf(),
                    lock: dir.clone(),
                    holder: lock_holder(&dir).unwrap_or_else(|| "unknown".into()),
                    waited: timeout.as_secs_f64(),
                });
            }
            Err((_, errno)) => return Err(io_err("lock", &dir)(io::Error::from(errno))),
        }
    }
}

/// The pid holding a `flock` on `dir`, from `/proc/locks` (`N: FLOCK ADVISORY WRITE PID
/// MAJ:MIN:INODE ...`).
fn lock_holder(dir: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let inode = fs::metadata(dir).ok()?.ino();
    let locks = fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let flock = fields.get(1) == Some(&"FLOCK");
        let ours = fields
            .get(5)
            .and_then(|id| id.rsplit(':').next())
            .is_some_and(|i| i == inode.to_string());
        (flock && ours).then(|| fields.get(4).map(|p| p.to_string()))?
    })
}

crate::codes::stable_codes! {
    /// What a write did (or would do).
    pub enum WriteAction, WRITE_ACTIONS {
        /// Written (new or different content).
        Written => "written",
        /// Same bytes already there: not touched.
        Unchanged => "unchanged",
        /// Dry run: would be written.
        WouldWrite => "would-write",
    }
}

/// Writes `bytes` atomically unless the file already holds exactly them (then leaves it,
/// mtime included, so a re-run changes nothing). Under `dry_run` only compares.
pub fn write_if_changed(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    dry_run: bool,
) -> Result<WriteAction> {
    let (action, staged) = stage_if_changed(path, bytes, mode, dry_run)?;
    if let Some(staged) = staged {
        publish_all(vec![staged])?;
    }
    Ok(action)
}

/// Whether the file at `path` already holds exactly `bytes` with `mode`.
pub fn holds(path: &Path, bytes: &[u8], mode: u32) -> bool {
    let Ok(existing) = fs::read(path) else {
        return false;
    };
    let existing = zeroize::Zeroizing::new(existing);
    existing.as_slice() == bytes
        && fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o7777 == mode)
}

/// [`write_if_changed`] in two steps: the new contents staged (not yet in place) when they
/// differ, so a group of files can be published together with [`publish_all`].
pub(crate) fn stage_if_changed(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    dry_run: bool,
) -> Result<(WriteAction, Option<Staged>)> {
    if holds(path, bytes, mode) {
        return Ok((WriteAction::Unchanged, None));
    }
    if dry_run {
        return Ok((WriteAction::WouldWrite, None));
    }
    let staged = stage_file(path, bytes, mode, &Owner::current())?;
    Ok((WriteAction::Written, Some(staged)))
}
