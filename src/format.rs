//! What a command produces, independent of how it is shown: the output formats of the
//! openstack client (`-f table|json|yaml|value`) and the [`Outcome`] of a command (text for
//! people, a JSON value for pipelines, a warning, an exit code). Plain data: the command-line
//! layer chooses and prints.

/// Output formats, as in the openstack client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Format {
    /// Human-readable lines (alias `markdown`: `plan cutover` and `switch` print their
    /// runbook as Markdown).
    #[cfg_attr(feature = "cli", value(alias = "markdown"))]
    Table,
    /// One JSON document.
    Json,
    /// Bare values, one per line.
    Value,
    /// One YAML document, the same data as json.
    Yaml,
}

/// What a command produced: text for people, a JSON value for pipelines, an optional warning
/// for stderr, and the exit code (0 ok, 1 findings, 2 error).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `-f table` output.
    pub text: String,
    /// `-f json` output (and the source of `-f value`).
    pub json: serde_json::Value,
    /// Printed to stderr as `WARNING: ...`.
    pub warning: Option<String>,
    /// Process exit code.
    pub code: u8,
}

impl Outcome {
    /// A successful outcome.
    pub fn ok(text: String, json: serde_json::Value) -> Self {
        Outcome {
            text,
            json,
            warning: None,
            code: 0,
        }
    }
}
