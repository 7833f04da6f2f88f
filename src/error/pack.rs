//! Why a tarball cannot be built (see `artifact`): its own error type, kept at the base so
//! `Error` wraps it without importing the artifact layer.

/// Why a set of entries cannot be packed.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// An entry path is absolute, has `..`, `.` or is a shared system directory.
    #[error("refusing tarball entry {0:?}: {1}")]
    BadPath(String, &'static str),
    /// Building the archive failed.
    #[error("cannot build tarball: {0}")]
    Io(#[from] std::io::Error),
}
