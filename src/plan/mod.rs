//! Plans: rotation interval math and the provider cutover runbook.

pub mod cli;
