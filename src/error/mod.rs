//! Errors of the library: each carries the offending path or value, and a hint to fix it.

use std::io;
use std::path::PathBuf;

pub(crate) mod nodes;
pub(crate) mod pack;
pub(crate) mod swift;

/// Result type of the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which keys [`Error::NoKeys`] found none of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySetKind {
    /// A Fernet key repository (`[fernet_tokens] key_repository`).
    Fernet,
    /// A JWS public key directory (`[jwt_tokens] jws_public_key_repository`).
    JwsPublic,
}

impl std::fmt::Display for KeySetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeySetKind::Fernet => "fernet",
            KeySetKind::JwsPublic => "JWS public",
        })
    }
}

/// Everything that can go wrong while reading or writing key material.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system operation failed.
    #[error("cannot {op} {}: {}", path.display(), describe_io(source))]
    Io {
        /// What we tried to do.
        op: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// chown failed (not root, or unknown id).
    #[error("cannot set owner {owner} on {}: {source}", path.display())]
    Chown {
        /// Path we tried to chown.
        path: PathBuf,
        /// uid:gid we tried to set (`Owner`'s display; a string so this base module does not
        /// depend on `owner`).
        owner: String,
        /// The OS error.
        source: io::Error,
    },
    /// `--keystone-user` names no user on this machine.
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    /// `--keystone-group` names no group on this machine.
    #[error("unknown group {0:?}")]
    UnknownGroup(String),
    /// A directory the tool keeps keys in could be changed by someone else (StrictModes).
    #[error("{} is not safe to keep keys in: {problem}", path.display())]
    UnsafeDirectory {
        /// The directory.
        path: PathBuf,
        /// What is wrong (owner, mode, symlink).
        problem: String,
        /// What to do (never destroys anything).
        fix: String,
    },
    /// A key directory under `/etc/keystone` (the undercloud's own keystone).
    #[error("invalid key directory {}: is under /etc/keystone, which on an undercloud holds the undercloud's own keys; overcloud keys belong in the work directory (pass --allow-etc-keystone if this machine really is the keystone node)", .0.display())]
    UndercloudKeystone(PathBuf),
    /// A path that must be a directory is something else.
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// The repository does not exist.
    #[error("no key repository at {}", .0.display())]
    RepositoryMissing(PathBuf),
    /// The repository exists but holds something keystone would choke on.
    #[error("key repository {} is invalid: {summary}", path.display())]
    InvalidRepository {
        /// The repository.
        path: PathBuf,
        /// The first findings, one per line.
        summary: String,
    },
    /// Credential keys exist and setup was asked to replace them without the explicit flag.
    #[error("credential keys already exist in {} and replacing them destroys every stored credential", .0.display())]
    CredentialKeysExist(PathBuf),
    /// A value given on the command line or in a config file is out of range.
    #[error("invalid {name} {value}: {reason}")]
    InvalidValue {
        /// Flag or key name.
        name: &'static str,
        /// The value given.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A PEM or DER document is not what keystone's JWS provider needs.
    #[error("{}: {reason}", path.display())]
    BadJwsKey {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A JWS rotation phase was run out of order.
    #[error("{0}")]
    JwsRotationOrder(String),
    /// The tarball could not be built.
    #[error(transparent)]
    Pack(#[from] pack::PackError),
    /// A key kind would reach the nodes two ways.
    #[error("{0}")]
    Delivery(String),
    /// The config file is wrong.
    #[error("{}: {message}", file.display())]
    Config {
        /// The config file.
        file: PathBuf,
        /// What is wrong, with the key and line.
        message: String,
    },
    /// A template failed to render.
    #[error("cannot render {name}: {message}")]
    Render {
        /// Template name.
        name: String,
        /// The template engine's message.
        message: String,
    },
    /// Asked for something this version does not do.
    #[error("{0}")]
    Unsupported(String),
    /// A setting the chosen release cannot consume (see [`crate::release`]).
    #[error("{} = {:?} is not available on OSP {}: {}", .0.setting, .0.value, .0.release, .0.reason)]
    NotInRelease(crate::release::Refusal),
    /// A keystone.conf that oslo.config would refuse, or a setting in it keystone rejects.
    #[error("{}: line {line}: {message}", file.display())]
    KeystoneConf {
        /// The file.
        file: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// What is wrong there.
        message: String,
    },
    /// A rotation would delete a key that still decrypts live tokens.
    #[error("refusing to rotate {}: {message}", path.display())]
    UnsafeRotation {
        /// The repository.
        path: PathBuf,
        /// Which key and which tokens.
        message: String,
        /// When the next safe rotation is (UTC), or why there is none.
        next_safe: String,
    },
    /// A rotation record next to a repository cannot be read.
    #[error("{}: {message}", path.display())]
    RotationRecord {
        /// The record file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The record a build left in its work directory (`build.json`) cannot be read.
    #[error("{}: {message}", path.display())]
    BuildRecord {
        /// The record file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A key manifest (`repo manifest`) cannot be used.
    #[error("{}: {message}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A provider switch's pre-flight checks failed; nothing was written.
    #[error("pre-flight failed, nothing written:\n{0}")]
    Preflight(String),
    /// A key repository or JWS public key directory exists but holds no usable key.
    #[error("{} holds no {what} keys: nothing there can decrypt or verify a token", path.display())]
    NoKeys {
        /// The directory.
        path: PathBuf,
        /// Which keys.
        what: KeySetKind,
    },
    /// A file or object that should record a deployed cloud's keys does not hold usable ones.
    #[error("{origin}: {}{message}", key_prefix(key))]
    AdoptSource {
        /// The file, tarball or Swift object.
        origin: String,
        /// The parameter (or section) at fault; empty for the whole document.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// `adopt`: the work directory already holds keys other than the deployed cloud's.
    #[error("{} holds keys other than the deployed cloud's ({source_name}): {detail}", workdir.display())]
    AdoptConflict {
        /// The work directory.
        workdir: PathBuf,
        /// Where the deployed keys were read.
        source_name: String,
        /// What each side would do to the cloud.
        detail: String,
    },
    /// `adopt`: no record of a deployed cloud's keys was found.
    #[error("found no deployed keys for stack {stack}: {looked}")]
    NoDeployedKeys {
        /// The stack.
        stack: String,
        /// Where we looked and why each place gave nothing.
        looked: String,
    },
    /// `build`: the stack is deployed and the work directory has no repositories, so new
    /// keys would replace the cloud's.
    #[error("stack {stack} is already deployed ({evidence}) and {} holds no key repositories: new keys would log out every user and make every stored credential undecryptable", workdir.display())]
    StackDeployed {
        /// The stack.
        stack: String,
        /// What shows it is deployed.
        evidence: String,
        /// The work directory.
        workdir: PathBuf,
    },
    /// `build`: an OSP 13/16.2 stack's plan container could not be checked, so build cannot
    /// tell whether new keys would replace a deployed cloud's.
    #[error(
        "cannot tell whether stack {stack} is already deployed: OSP {release} keeps its plan in the undercloud's Swift, and {why}"
    )]
    DeployedUnknown {
        /// The stack.
        stack: String,
        /// The release.
        release: String,
        /// Why the plan container was not checked.
        why: String,
    },
    /// Another run holds the lock of what this run would change.
    #[error("{} is being changed by another overcloud-keys run (pid {holder}, lock on {}); waited {waited} s", target.display(), lock.display())]
    Locked {
        /// What is locked (a repository, a work directory, a file).
        target: PathBuf,
        /// The directory whose lock is held.
        lock: PathBuf,
        /// The holder's pid, as it wrote it.
        holder: String,
        /// Seconds waited.
        waited: f64,
    },
    /// Swift, Keystone or an upload input (see [`swift::SwiftError`]).
    #[error(transparent)]
    Swift(#[from] swift::SwiftError),
    /// The keystone nodes: inventory, SSH, remote output (see [`nodes::NodeError`]).
    #[error(transparent)]
    Nodes(#[from] nodes::NodeError),
}

fn key_prefix(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("{key} ")
    }
}

fn describe_io(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::StorageFull => "no space left on device".into(),
        io::ErrorKind::ReadOnlyFilesystem => "read-only file system".into(),
        _ => err.to_string(),
    }
}

impl Error {
    /// A second line telling the user what to do, when there is something to do.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Swift(e) => e.hint(),
            Error::Nodes(e) => e.hint(),
            _ => self
                .hint_files()
                .or_else(|| self.hint_repo())
                .or_else(|| self.hint_rotation())
                .or_else(|| self.hint_settings())
                .or_else(|| self.hint_adoption()),
        }
    }

    /// The hint for a file system or ownership error (I/O, chown, users, unsafe or
    /// misplaced directories); `None` for any other error.
    fn hint_files(&self) -> Option<String> {
        Some(match self {
            Error::Io { path, source, .. } => match source.kind() {
                io::ErrorKind::PermissionDenied => format!(
                    "check the owner and mode of {} (and its parent); run as its owner, or as root with --keystone-user/--keystone-group",
                    path.display()
                ),
                io::ErrorKind::NotFound => format!("check that {} exists", path.display()),
                io::ErrorKind::StorageFull => {
                    "free space on that file system; nothing was changed".into()
                }
                io::ErrorKind::ReadOnlyFilesystem => {
                    "use a writable location (for example --key-repository under your work directory)".into()
                }
                _ => return None,
            },
            Error::Chown { .. } => {
                "changing ownership needs root; drop --keystone-user/--keystone-group or run as root".into()
            }
            Error::UnknownUser(_) | Error::UnknownGroup(_) => {
                "give a numeric id (42425 for containerized keystone, 163 for baremetal RHEL) or an existing name".into()
            }
            Error::UnsafeDirectory { fix, .. } => fix.clone(),
            Error::NotADirectory(path) => format!(
                "move {} away, or point the option at a directory",
                path.display()
            ),
            Error::UndercloudKeystone(_) => {
                "use a directory under the work directory (default ~/overcloud-keys/<stack>/keys)".into()
            }
            _ => return None,
        })
    }

    /// The hint for a key repository error (missing, invalid, credential keys kept, bad
    /// JWS pair, no keys, node manifest); `None` for any other error.
    fn hint_repo(&self) -> Option<String> {
        Some(match self {
            Error::RepositoryMissing(_) => {
                "create it first with `overcloud-keys <kind> setup --key-repository DIR`".into()
            }
            // Never a destructive fix here: a mode, an owner or a stray file is repaired in
            // place, and `setup --force` would replace every key (every token invalid).
            Error::InvalidRepository { path, .. } => format!(
                "run `overcloud-keys repo check {}`: every finding names its repair (chmod, chown, moving a stray file out); no key needs replacing for those",
                path.display()
            ),
            Error::CredentialKeysExist(_) => {
                "keep them (nothing to do), or pass --i-understand-this-destroys-credentials to replace them".into()
            }
            Error::BadJwsKey { .. } => {
                "create a fresh pair with `overcloud-keys jws create --force`".into()
            }
            Error::NoKeys {
                what: KeySetKind::JwsPublic,
                ..
            } => {
                "point --jws-public-dir at keystone's [jwt_tokens] jws_public_key_repository, or create keys with `overcloud-keys jws create`".into()
            }
            Error::NoKeys {
                what: KeySetKind::Fernet,
                ..
            } => {
                "point --key-repository at keystone's [fernet_tokens] key_repository, or create keys with `overcloud-keys fernet setup`".into()
            }
            Error::Manifest { .. } => {
                "make the manifest on the node with `overcloud-keys repo manifest DIR -f json > NODE.json`".into()
            }
            _ => return None,
        })
    }

    /// The hint for a rotation or cutover error (keystone.conf, the rotation guard and its
    /// records, the pre-flight); `None` for any other error.
    fn hint_rotation(&self) -> Option<String> {
        Some(match self {
            Error::KeystoneConf { line, .. } => format!(
                "keystone (oslo.config) rejects the file at the same line: fix line {line}, or pass --expiration/--allow-expired-window/--max-active-keys instead of --keystone-conf"
            ),
            Error::UnsafeRotation { next_safe, .. } => format!(
                "{next_safe}; or rotate with a larger --max-active-keys; --force rotates anyway and those tokens fail early"
            ),
            Error::RotationRecord { path, .. } => format!(
                "fix or remove {} (it only records when keys became primary); --force rotates without the check",
                path.display()
            ),
            Error::BuildRecord { .. } => {
                "pass --max-active-keys N, or run `overcloud-keys build` again to rewrite the record".into()
            }
            Error::Preflight(_) => {
                "run `overcloud-keys build` (it stages the keys), deploy with the -e files it prints, then run the switch again; `overcloud-keys plan cutover` shows every check".into()
            }
            _ => return None,
        })
    }

    /// The hint for a settings error (a value, the delivery, the config file, a release
    /// refusal); `None` for any other error.
    fn hint_settings(&self) -> Option<String> {
        Some(match self {
            Error::InvalidValue { .. } => "correct the value named above and run the command again".into(),
            Error::Delivery(_) => {
                "deliver Fernet and credential keys with fernet.yaml (parameters) and leave them out of the tarball; only the baremetal layout carries them in a tarball".into()
            }
            Error::Config { .. } => {
                "fix that key in the config file; `overcloud-keys build --help` lists every setting and its default".into()
            }
            Error::NotInRelease(refusal) => refusal.fix.clone(),
            _ => return None,
        })
    }

    /// The hint for an adoption or work directory error (the source, a conflict, no
    /// deployed keys, the lock, the deployed state of the stack); `None` for any other error.
    fn hint_adoption(&self) -> Option<String> {
        Some(match self {
            Error::AdoptSource { .. } => {
                "export the stack's environment again (`openstack stack environment show <stack> -f yaml > env.yaml`) and pass it with --from; nothing was written".into()
            }
            Error::AdoptConflict { .. } => {
                "keep the work directory: do nothing (build and deploy as before); or take the cloud's keys with `overcloud-keys adopt --replace-workdir` (the current repositories are kept in keys/replaced-<time>/)".into()
            }
            Error::NoDeployedKeys { .. } => {
                "a new cloud needs no adoption: run `overcloud-keys build`; otherwise pass --from FILE (`openstack stack environment show <stack> -f yaml`, a passwords file, plan-environment.yaml or a plan export)".into()
            }
            Error::Locked { .. } => {
                "wait for that run to finish and run again (nothing was changed), or give it longer with --lock-timeout SECONDS".into()
            }
            Error::DeployedUnknown { stack, .. } => format!(
                "source the undercloud's stackrc (or pass --os-cloud) and run again; on a deployed cloud run `overcloud-keys adopt --stack {stack}` first; --new-keys if this is a new cloud"
            ),
            Error::StackDeployed { stack, .. } => format!(
                "run `overcloud-keys adopt --stack {stack}` first (it imports the keys the cloud uses); --new-keys creates new ones anyway"
            ),
            _ => return None,
        })
    }

    /// True when a remote service (Swift, Keystone) was unreachable or kept failing after
    /// retries: exit code 3 instead of 2.
    pub fn is_remote_failure(&self) -> bool {
        matches!(self, Error::Swift(e) if e.is_remote_failure())
            || matches!(self, Error::Nodes(e) if e.is_remote_failure())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_keys_hint_follows_the_kind_of_keys() {
        let hint = |what| {
            Error::NoKeys {
                path: "/d".into(),
                what,
            }
            .hint()
            .unwrap()
        };
        assert!(hint(KeySetKind::JwsPublic).contains("--jws-public-dir"));
        assert!(hint(KeySetKind::Fernet).contains("--key-repository"));
        let message = Error::NoKeys {
            path: "/d".into(),
            what: KeySetKind::JwsPublic,
        }
        .to_string();
        assert!(
            message.starts_with("/d holds no JWS public keys"),
            "{message}"
        );
    }
}
