//! Plans and day-2 safety: the safe Fernet rotation rule and the guard `rotate` applies,
//! key manifests for comparing nodes without moving keys, and the token provider cutover
//! (pre-flight, flip and rollback environments, operator runbook).

pub mod cutover;
pub(crate) mod delivered;
pub(crate) mod haproxy;
pub mod keystone_conf;
pub mod manifest;
pub mod record;
pub mod rotation;
pub mod runbook;
