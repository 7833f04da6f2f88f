//! Who owns what we write: `--keystone-user` / `--keystone-group`, as keystone-manage does.
//!
//! Names are resolved through NSS (getpwnam/getgrnam); numeric ids are taken as they are,
//! because on an undercloud the overcloud's keystone user (42425 in containers) usually
//! does not exist. Without either flag nothing is chowned: files belong to the caller.

use std::fs::File;
use std::os::unix::fs::{MetadataExt, fchown};
use std::path::Path;

use crate::error::{Error, Result};

/// Owner to apply to every file and directory written; `None` leaves that id unchanged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Owner {
    /// Numeric user id to set.
    pub uid: Option<u32>,
    /// Numeric group id to set.
    pub gid: Option<u32>,
}

impl Owner {
    /// Leaves ownership to the process (the current user).
    pub fn current() -> Self {
        Self::default()
    }

    /// Resolves `--keystone-user` / `--keystone-group` values (names or numeric ids).
    /// A user given without a group also sets that user's primary group, as keystone-manage
    /// expects both.
    pub fn resolve(user: Option<&str>, group: Option<&str>) -> Result<Self> {
        let mut owner = Owner::default();
        if let Some(user) = user {
            if let Ok(uid) = user.parse::<u32>() {
                owner.uid = Some(uid);
            } else {
                let found = nix::unistd::User::from_name(user)
                    .ok()
                    .flatten()
                    .ok_or_else(|| Error::UnknownUser(user.to_string()))?;
                owner.uid = Some(found.uid.as_raw());
                owner.gid = Some(found.gid.as_raw());
            }
        }
        if let Some(group) = group {
            if let Ok(gid) = group.parse::<u32>() {
                owner.gid = Some(gid);
            } else {
                let found = nix::unistd::Group::from_name(group)
                    .ok()
                    .flatten()
                    .ok_or_else(|| Error::UnknownGroup(group.to_string()))?;
                owner.gid = Some(found.gid.as_raw());
            }
        }
        Ok(owner)
    }

    /// Applies the owner to an open file (before its content is written).
    pub(crate) fn apply_to_file(&self, file: &File, path: &Path) -> Result<()> {
        if self.uid.is_none() && self.gid.is_none() {
            return Ok(());
        }
        fchown(file, self.uid, self.gid).map_err(|source| Error::Chown {
            path: path.to_path_buf(),
            owner: self.to_string(),
            source,
        })
    }

    /// Applies the owner to a path (a directory we just created).
    pub(crate) fn apply_to_path(&self, path: &Path) -> Result<()> {
        if self.uid.is_none() && self.gid.is_none() {
            return Ok(());
        }
        std::os::unix::fs::chown(path, self.uid, self.gid).map_err(|source| Error::Chown {
            path: path.to_path_buf(),
            owner: self.to_string(),
            source,
        })
    }

    /// The owner that an existing path has, as an explicit owner.
    pub(crate) fn of_path(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Owner {
            uid: Some(meta.uid()),
            gid: Some(meta.gid()),
        })
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |id: Option<u32>| id.map_or("-".to_string(), |v| v.to_string());
        write!(f, "{}:{}", show(self.uid), show(self.gid))
    }
}

/// The effective user id of this process (read from `/proc/self`, no libc call needed).
pub(crate) fn current_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}
