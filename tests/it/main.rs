//! The integration tests, one crate so the suite links once: the binary through its command
//! line (`cli_support`), and interop with a real Keystone, Swift and Heat (the harnesses).
//! Each module is one former test file; the support modules are shared by all of them.

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // test fixtures are written directly

#[path = "../cli_support/mod.rs"]
mod cli_support;
#[path = "../heat_harness/mod.rs"]
mod heat_harness;
#[path = "../support/heat_versions.rs"]
mod heat_versions;
#[path = "../keystone_harness/mod.rs"]
mod keystone_harness;
#[path = "../nodes_harness/mod.rs"]
mod nodes_harness;
#[path = "../swift_harness/mod.rs"]
mod swift_harness;
#[path = "../support/venv.rs"]
mod venv_support;

mod adopt;
mod adopt_swift;
mod ansible_collection;
mod ansible_nodes;
mod build;
mod build_swift;
mod cli;
mod crash;
mod docs;
mod hardening;
mod help_snapshots;
mod interop_adopt;
mod interop_heat;
mod interop_heat_scoped;
mod interop_keystone;
mod interop_rollout;
mod interop_swift;
mod interop_token;
mod jws_extra_config;
mod keys_from;
mod node_secrecy;
mod nodes;
mod plan;
mod release;
mod render_snapshots;
mod resources;
mod rollout;
mod rpm;
mod scoped;
mod tls;
mod upload_cli;
mod verify_stacks;
