//! overcloud-keys: Keystone key repositories (Fernet tokens, Fernet receipts, credentials,
//! JWS ES256 pairs) for TripleO overclouds, built on the undercloud, written crash-safely,
//! checked as strictly as keystone needs.
//!
//! The binary is a thin layer over this library; everything a pipeline might call is here.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Tests write fixtures directly; shipped code goes through fsutil (see clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods, clippy::disallowed_macros))]

pub mod adopt;
pub mod artifact;
pub mod build_record;
pub mod check;
pub mod clock;
mod codes;
pub mod config;
pub(crate) mod dirsafety;
pub mod encoding;
pub mod error;
pub mod format;
pub mod fsutil;
pub mod heat;
pub mod keys;
pub mod nodes;
pub(crate) mod owner;
pub mod pipeline;
pub mod plan;
pub mod release;
pub mod swift;
pub mod token;
pub mod workdir;

pub use check::{CheckOptions, Finding, RepoKind, RepoReport, Severity};
pub use error::{Error, Result};
pub use owner::Owner;

#[cfg(test)]
mod fuzz_tests;
