//! Credential repository rules on top of the numbered repository.
//!
//! Credential keys encrypt stored credentials (EC2, TOTP) in keystone's database, not
//! tokens: replacing them destroys every stored credential, and pruning a key before
//! `keystone-manage credential_migrate` re-encrypted everything loses the credentials still
//! encrypted with it. keystone-manage checks the database for the latter; this tool cannot
//! see the database, so it asks the operator to confirm.

use std::path::Path;

use crate::error::{Error, Result};
use crate::keys::fernet::FernetKey;
use crate::keys::kind::RepoKind;
use crate::keys::repo::{self, CREDENTIAL_MAX_KEYS, RepoOptions, RotateOutcome, SetupOutcome};
use crate::owner::Owner;

fn options(owner: Owner) -> RepoOptions {
    RepoOptions {
        kind: RepoKind::Credential,
        owner,
        max_active_keys: CREDENTIAL_MAX_KEYS,
    }
}

/// `credential setup`: creates keys 0 and 1; an existing repository is kept as it is unless
/// `destroy_existing` (the explicit flag) is set.
pub fn setup(path: &Path, owner: Owner, destroy_existing: bool) -> Result<SetupOutcome> {
    if destroy_existing {
        return repo::setup(path, &options(owner), true);
    }
    match repo::setup(path, &options(owner), false) {
        // An existing but broken credential repository is never replaced implicitly either.
        Err(Error::InvalidRepository { .. }) => Err(Error::CredentialKeysExist(path.to_path_buf())),
        other => other,
    }
}

/// `credential rotate`: keystone's rotation with at most three keys. When the rotation
/// would prune a key, `migrated` must confirm that credential_migrate ran since the last
/// rotation.
pub fn rotate(path: &Path, owner: Owner, migrated: bool) -> Result<RotateOutcome> {
    let _lock = crate::fsutil::lock(path)?;
    let keys = repo::load(path, RepoKind::Credential)?;
    let preview = repo::rotate_keys(&keys, FernetKey::from_bytes([1; 32]), CREDENTIAL_MAX_KEYS);
    let pruned: Vec<u64> = keys
        .keys()
        .filter(|k| !preview.contains_key(k) && **k != 0)
        .copied()
        .collect();
    if !pruned.is_empty() && !migrated {
        return Err(Error::InvalidValue {
            name: "credential rotation",
            value: format!("{}", path.display()),
            reason: format!(
                "it would remove key {:?}; credentials still encrypted with it would be lost. Run `keystone-manage credential_migrate` on a controller after the last deploy, then re-run with --credentials-migrated",
                pruned
            ),
        });
    }
    repo::rotate(path, &options(owner))
}
