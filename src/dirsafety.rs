//! StrictModes for the directories the tool keeps keys in, in the spirit of OpenSSH's check
//! of `~/.ssh`: a work directory, its `keys/` and `artifacts/` must belong to the invoking
//! user (or root) and be writable by nobody else, and so must every directory above them
//! (unless it is sticky, like `/tmp`); otherwise another local user could put keys he knows
//! in place of ours and the next build would render them into the environment files.
//!
//! Only modes are ever changed: a directory readable by others (0755 from an older run or a
//! loose umask) is tightened to 0700 and the report says so. Anything else is refused with a
//! fix that destroys nothing.

use std::fs::{self, Permissions};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil::{KEY_DIR_MODE, io_err};
use crate::owner::current_uid;

/// What [`secure_dir`] found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DirSafety {
    /// Absent (it will be created 0700) or already private.
    Private,
    /// Was readable by group or others (the old mode); now 0700, or would be under a dry run.
    Tightened(u32),
}

fn unsafe_dir(path: &Path, problem: String, fix: String) -> Error {
    Error::UnsafeDirectory {
        path: path.to_path_buf(),
        problem,
        fix,
    }
}

/// The owner rule: the invoking user or root.
fn check_owner(path: &Path, meta: &fs::Metadata) -> Result<()> {
    let me = current_uid();
    if meta.uid() == me || meta.uid() == 0 {
        return Ok(());
    }
    Err(unsafe_dir(
        path,
        format!(
            "it is owned by uid {}, not by you (uid {me}) or root",
            meta.uid()
        ),
        format!(
            "check what is in {} and `chown` it to yourself, or use another --workdir; nothing was changed",
            path.display()
        ),
    ))
}

/// A directory the tool keeps keys in: a real directory (`follow`: the work directory itself
/// may be reached through a symlink; `keys/` and `artifacts/` may not), owned by the invoking
/// user or root, writable by nobody else. Readable by others is tightened to 0700 unless
/// `dry_run`. Absent is fine.
pub(crate) fn secure_dir(path: &Path, follow: bool, dry_run: bool) -> Result<DirSafety> {
    let found = if follow {
        fs::metadata(path)
    } else {
        fs::symlink_metadata(path)
    };
    let meta = match found {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DirSafety::Private),
        Err(e) => return Err(io_err("inspect", path)(e)),
    };
    if meta.file_type().is_symlink() {
        return Err(unsafe_dir(
            path,
            "it is a symlink".into(),
            format!(
                "check where {} points; move the directory it names into its place (`mv`), or use another --workdir",
                path.display()
            ),
        ));
    }
    if !meta.is_dir() {
        return Err(Error::NotADirectory(path.to_path_buf()));
    }
    check_owner(path, &meta)?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(unsafe_dir(
            path,
            format!("mode {mode:04o} lets group or others write in it"),
            format!(
                "check that nobody replaced anything in it, then `chmod 0700 {}`",
                path.display()
            ),
        ));
    }
    if mode & 0o077 == 0 {
        return Ok(DirSafety::Private);
    }
    if !dry_run {
        fs::set_permissions(path, Permissions::from_mode(KEY_DIR_MODE))
            .map_err(io_err("set mode of", path))?;
    }
    Ok(DirSafety::Tightened(mode))
}

/// Every existing directory above `path`: owned by the invoking user or root, and writable
/// by others only when sticky (then nobody else can rename what we own away).
pub(crate) fn check_ancestors(path: &Path) -> Result<()> {
    let absolute = std::path::absolute(path).map_err(io_err("resolve", path))?;
    let mut dir: Option<PathBuf> = absolute.parent().map(Path::to_path_buf);
    while let Some(current) = dir {
        if let Ok(real) = fs::canonicalize(&current) {
            for ancestor in real.ancestors() {
                check_ancestor(ancestor)?;
            }
            return Ok(());
        }
        dir = current.parent().map(Path::to_path_buf);
    }
    Ok(())
}

fn check_ancestor(dir: &Path) -> Result<()> {
    let meta = fs::metadata(dir).map_err(io_err("inspect", dir))?;
    check_owner(dir, &meta)?;
    let mode = meta.mode();
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(unsafe_dir(
            dir,
            format!(
                "mode {:04o} lets group or others rename the work directory below it",
                mode & 0o7777
            ),
            format!(
                "`chmod go-w {}` (or `chmod +t` for a shared directory), or use a --workdir under your home",
                dir.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn dir(mode: u32) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::TempDir::new().unwrap();
        let path = tmp.path().join("wd");
        fs::create_dir(&path).unwrap();
        fs::set_permissions(&path, Permissions::from_mode(mode)).unwrap();
        (tmp, path)
    }

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn private_and_absent_directories_pass_untouched() {
        let (_tmp, path) = dir(0o700);
        assert_eq!(secure_dir(&path, false, false).unwrap(), DirSafety::Private);
        assert_eq!(
            secure_dir(&path.join("absent"), false, false).unwrap(),
            DirSafety::Private
        );
        assert_eq!(mode_of(&path), 0o700);
    }

    #[test]
    fn a_readable_directory_is_tightened_except_under_dry_run() {
        let (_tmp, path) = dir(0o755);
        assert_eq!(
            secure_dir(&path, false, true).unwrap(),
            DirSafety::Tightened(0o755)
        );
        assert_eq!(mode_of(&path), 0o755, "a dry run changes nothing");
        assert_eq!(
            secure_dir(&path, false, false).unwrap(),
            DirSafety::Tightened(0o755)
        );
        assert_eq!(mode_of(&path), 0o700);
    }

    #[test]
    fn a_writable_directory_is_refused_and_left_as_it_is() {
        for mode in [0o775, 0o757, 0o1777] {
            let (_tmp, path) = dir(mode);
            let err = secure_dir(&path, false, false).unwrap_err();
            assert!(
                err.to_string().contains("lets group or others write"),
                "{err}"
            );
            assert!(err.hint().unwrap().contains("chmod 0700"));
            assert_eq!(mode_of(&path), mode);
        }
    }

    #[test]
    fn a_symlink_is_refused_unless_followed() {
        let (tmp, path) = dir(0o700);
        let link = tmp.path().join("link");
        symlink(&path, &link).unwrap();
        let err = secure_dir(&link, false, false).unwrap_err();
        assert!(err.to_string().contains("it is a symlink"), "{err}");
        assert_eq!(secure_dir(&link, true, false).unwrap(), DirSafety::Private);
    }

    #[test]
    fn a_group_writable_ancestor_is_refused_a_sticky_one_is_not() {
        let (tmp, path) = dir(0o700);
        fs::set_permissions(tmp.path(), Permissions::from_mode(0o777)).unwrap();
        let err = check_ancestors(&path.join("keys")).unwrap_err();
        assert!(
            err.to_string().contains("rename the work directory"),
            "{err}"
        );
        fs::set_permissions(tmp.path(), Permissions::from_mode(0o1777)).unwrap();
        check_ancestors(&path.join("keys")).unwrap();
    }
}
