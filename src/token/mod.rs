//! Read-only token inspection (Fernet and JWS).

pub mod cli;
