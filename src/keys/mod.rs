//! Key material and key repositories.

pub mod credential;
pub mod fernet;
pub mod jws;
pub mod jws_repo;
pub(crate) mod kind;
pub mod repo;
pub(crate) mod scan;

use std::path::Path;

use crate::error::{Error, Result};

/// The directory an undercloud's own keystone keeps its keys under.
pub(crate) const UNDERCLOUD_KEYSTONE: &str = "/etc/keystone";

/// Refuses key directories under `/etc/keystone` unless `allow`: on an undercloud that is
/// the undercloud's own keystone, and overwriting its keys logs everyone out of it.
pub fn refuse_undercloud_keystone(paths: &[&Path], allow: bool) -> Result<()> {
    if allow {
        return Ok(());
    }
    for path in paths {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        if absolute.starts_with(UNDERCLOUD_KEYSTONE) {
            return Err(Error::UndercloudKeystone(absolute));
        }
    }
    Ok(())
}
