//! Swift delivery of deployment artifacts, as tripleo-common's upload-swift-artifacts did for
//! OSP 10-16, with integrity checks: authentication (clouds.yaml / `OS_*` with Keystone v3,
//! tempauth), a retrying HTTP client, verified uploads (ETag + SHA-256, static large objects
//! above 256 MiB, hashed while they upload), signed TempURLs with container-key management, and
//! `deployment-artifacts.yaml` in tripleo-common's format.
//!
//! Invariant: nothing points at an object (no TempURL is returned, no env file is written)
//! before a HEAD has verified its size, ETag and SHA-256.
//!
//! HTTP is ureq (small, blocking, rustls on ring): the few calls needed do not justify the
//! tokio/reqwest stack that the openstack/osauth crates bring.

pub mod auth;
pub(crate) mod client;
pub(crate) mod download;
pub mod envfile;
pub(crate) mod hashing;
pub mod http;
pub(crate) mod login;
mod objects;
pub(crate) mod options;
pub mod progress;
pub(crate) mod secret;
mod slo;
pub mod tempurl;
pub mod upload;

pub use crate::error::swift::SwiftError;
pub use client::Swift;
pub use envfile::{EnvFile, RefreshOptions, RefreshReport, refresh};
pub use http::ConnectOptions;
pub use secret::Secret;
pub use tempurl::{Digest, KeySource, TempUrl};
pub use upload::{UploadAction, UploadOptions, UploadReport, upload_artifact};
