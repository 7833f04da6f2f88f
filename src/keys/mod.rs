//! Key material and key repositories.

pub mod credential;
pub mod fernet;
pub mod jws;
pub mod jws_repo;
pub mod kind;
pub mod repo;
