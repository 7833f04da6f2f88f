//! Rendering inspection results for `-f table|json|value`, one result per token.
//!
//! Every format is written to the given writer as each token is inspected (a followed log
//! shows results at once; a million tokens need no memory beyond one result and the write
//! buffer). Table: the summary line comes back in the [`Outcome`]. JSON and YAML stay one
//! document: `results` opens it and each result is serialized as it comes; the counts and
//! the key sources close it in [`Renderer::finish`], so the outcome's value is empty.
//!
//! Table: a head line per token (`line N: ok fernet key 2 (primary, ...)`) and the fields
//! indented below; failures on one line with their code. JSON: `{"results": [...]}` with
//! keystone's field names. Value: one line per token, `LINE ok KEY ROLE TYPE USER SCOPE EXPIRES
//! valid|expired` (`-` for no scope; JWS tokens show `public` as the role) or `LINE failed CODE`.

use std::io;
use std::sync::Arc;

use serde_json::{Value, json};

use super::fernet::KeyInfo;
use super::jws::{JwsClaims, JwsKeyInfo};
use super::payload::{AuditId, Id, Payload};
use super::time::IsoTime;
use super::{Inspection, Inspector, Sink};
use crate::format::Format;
use crate::format::Outcome;
use crate::keys::repo::KeyRole;

/// Renders the results of a run into `out` (table, value) or a JSON document.
#[derive(Debug)]
pub struct Renderer<W: io::Write> {
    format: Format,
    now: i64,
    out: W,
    /// One token's text, reused.
    text: String,
    decoded: usize,
    failed: usize,
}

/// Appends itself to the table without going through `fmt`: the table is written for every
/// token of a run, and `fmt` costs as much as the decryption.
trait Text {
    fn push_to(&self, out: &mut String);
}

impl Text for str {
    fn push_to(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl Text for String {
    fn push_to(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl Text for Arc<str> {
    fn push_to(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl Text for Id {
    fn push_to(&self, out: &mut String) {
        Id::push_to(self, out);
    }
}

impl Text for AuditId {
    fn push_to(&self, out: &mut String) {
        AuditId::push_to(self, out);
    }
}

impl Text for IsoTime {
    fn push_to(&self, out: &mut String) {
        IsoTime::push_to(self, out);
    }
}

impl Text for Value {
    fn push_to(&self, out: &mut String) {
        out.push_str(&self.to_string());
    }
}

/// A list as `a, b, c`, or `-` when empty.
impl<T: Text> Text for [T] {
    fn push_to(&self, out: &mut String) {
        if self.is_empty() {
            out.push('-');
        }
        for (i, item) in self.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            item.push_to(out);
        }
    }
}

impl<T: Text> Text for Vec<T> {
    fn push_to(&self, out: &mut String) {
        self.as_slice().push_to(out);
    }
}

/// `    name                 value`, the value column aligned.
fn field<T: Text + ?Sized>(out: &mut String, name: &str, value: &T) {
    const PAD: &str = "                         ";
    out.push_str("    ");
    out.push_str(name);
    out.push_str(&PAD[..21usize.saturating_sub(name.len())]);
    value.push_to(out);
    out.push('\n');
}

fn opt_field<T: Text>(out: &mut String, name: &str, value: &Option<T>) {
    if let Some(v) = value {
        field(out, name, v);
    }
}

fn push_int(out: &mut String, n: impl Into<i128>) {
    out.push_str(itoa::Buffer::new().format(n.into()));
}

fn expiry(out: &mut String, at: IsoTime, now: i64) {
    field(out, "expires_at", &at);
    if at.seconds() < now {
        out.pop();
        out.push_str(" (expired)\n");
    }
}

fn role_name(role: KeyRole) -> &'static str {
    match role {
        KeyRole::Staged => "staged",
        KeyRole::Primary => "primary",
        KeyRole::Secondary => "secondary",
    }
}

fn created(timestamp: u64) -> Option<IsoTime> {
    i64::try_from(timestamp)
        .ok()
        .and_then(IsoTime::from_seconds)
}

/// The text report of a decoded Fernet token: the key, the payload's fields, when it was
/// issued (from the token's header) and when it expires.
fn fernet_text(out: &mut String, key: &KeyInfo, timestamp: u64, p: &Payload, now: i64) {
    for part in [
        "ok fernet key ",
        &key.file,
        " (",
        role_name(key.role),
        ", ",
        &key.fingerprint[..12],
        ") ",
        p.kind.name(),
    ] {
        out.push_str(part);
    }
    out.push_str(" (version ");
    push_int(out, p.version);
    out.push_str(")\n");
    field(out, "user_id", &p.user_id);
    field(out, "methods", &p.methods);
    out.pop();
    out.push_str(" (bitmask ");
    push_int(out, p.methods_bitmask);
    out.push_str(")\n");
    opt_field(out, "system", &p.system);
    opt_field(out, "domain_id", &p.domain_id);
    opt_field(out, "project_id", &p.project_id);
    opt_field(out, "trust_id", &p.trust_id);
    opt_field(out, "federated_group_ids", &p.federated_group_ids);
    opt_field(out, "identity_provider_id", &p.identity_provider_id);
    opt_field(out, "protocol_id", &p.protocol_id);
    opt_field(out, "access_token_id", &p.access_token_id);
    opt_field(out, "app_cred_id", &p.app_cred_id);
    opt_field(out, "thumbprint", &p.thumbprint);
    match created(timestamp) {
        Some(at) => field(out, "issued_at", &at),
        None => field(
            out,
            "issued_at",
            &format!("unix time {timestamp} (out of range)"),
        ),
    }
    expiry(out, p.expires_at, now);
    field(out, "audit_ids", &p.audit_ids);
}

/// The text report of a verified JWS token: the public key and the claims.
fn jws_text(out: &mut String, key: &JwsKeyInfo, c: &JwsClaims, now: i64) {
    for part in [
        "ok jws public key ",
        &key.file,
        " (",
        &key.fingerprint[..12],
        ") ",
        c.kind.name(),
        "\n",
    ] {
        out.push_str(part);
    }
    field(out, "user_id", &c.user_id);
    field(out, "methods", &c.methods);
    opt_field(out, "system", &c.system);
    opt_field(out, "domain_id", &c.domain_id);
    opt_field(out, "project_id", &c.project_id);
    opt_field(out, "trust_id", &c.trust_id);
    opt_field(out, "federated_group_ids", &c.federated_group_ids);
    opt_field(out, "identity_provider_id", &c.identity_provider_id);
    opt_field(out, "protocol_id", &c.protocol_id);
    opt_field(out, "access_token_id", &c.access_token_id);
    opt_field(out, "app_cred_id", &c.app_cred_id);
    opt_field(out, "thumbprint", &c.thumbprint);
    field(out, "issued_at", &c.issued_at);
    expiry(out, c.expires_at, now);
    field(out, "audit_ids", &c.audit_ids);
}

impl<W: io::Write> Renderer<W> {
    /// A renderer for `format` writing to `out`; `now` (Unix seconds) decides what is shown
    /// as expired.
    pub fn new(format: Format, now: i64, out: W) -> Self {
        Renderer {
            format,
            now,
            out,
            text: String::with_capacity(1024),
            decoded: 0,
            failed: 0,
        }
    }

    /// Tokens seen so far.
    pub fn count(&self) -> usize {
        self.decoded + self.failed
    }

    /// Adds the result for the token on input line `line`.
    pub fn add(&mut self, line: usize, inspection: &Inspection<'_>) -> io::Result<()> {
        match inspection {
            Inspection::Failed(_) => self.failed += 1,
            _ => self.decoded += 1,
        }
        match self.format {
            Format::Table => {
                self.text.clear();
                self.add_text(line, inspection);
                self.out.write_all(self.text.as_bytes())
            }
            Format::Value => {
                self.text.clear();
                self.add_value(line, inspection);
                self.out.write_all(self.text.as_bytes())
            }
            Format::Json | Format::Yaml => {
                let value = self.json(line, inspection);
                let first = self.count() == 1;
                self.text.clear();
                document_item(self.format, first, &value, &mut self.text);
                self.out.write_all(self.text.as_bytes())
            }
        }
    }

    fn add_text(&mut self, line: usize, inspection: &Inspection<'_>) {
        let now = self.now;
        let out = &mut self.text;
        out.push_str("line ");
        push_int(out, line as u64);
        out.push_str(": ");
        match inspection {
            Inspection::Fernet {
                key,
                timestamp,
                payload,
            } => fernet_text(out, key, *timestamp, payload, now),
            Inspection::Jws { key, claims } => jws_text(out, key, claims, now),
            Inspection::Failed(f) => {
                for part in [
                    "FAILED ",
                    f.format,
                    " ",
                    f.code.as_str(),
                    ": ",
                    &f.message,
                    "\n",
                ] {
                    out.push_str(part);
                }
            }
        }
    }

    fn json(&self, line: usize, inspection: &Inspection<'_>) -> Value {
        let mut value = match inspection {
            Inspection::Fernet {
                key,
                timestamp,
                payload,
            } => {
                let mut v = serde_json::to_value(payload).expect("payload serializes");
                v["format"] = json!("fernet");
                v["key"] = serde_json::to_value(key).expect("key info serializes");
                v["timestamp"] = json!(timestamp);
                v["issued_at"] = json!(created(*timestamp));
                v["expired"] = json!(payload.expires_at.seconds() < self.now);
                v
            }
            Inspection::Jws { key, claims } => {
                let mut v = serde_json::to_value(claims).expect("claims serialize");
                v["format"] = json!("jws");
                v["key"] = serde_json::to_value(key).expect("key info serializes");
                v["expired"] = json!(claims.expires_at.seconds() < self.now);
                v
            }
            Inspection::Failed(f) => serde_json::to_value(f).expect("failure serializes"),
        };
        value["line"] = json!(line);
        value["ok"] = json!(!matches!(inspection, Inspection::Failed(_)));
        value
    }

    fn add_value(&mut self, line: usize, inspection: &Inspection<'_>) {
        let now = self.now;
        let out = &mut self.text;
        push_int(out, line as u64);
        let (expires_at, scope): (IsoTime, Option<&dyn Text>) = match inspection {
            Inspection::Fernet {
                key, payload: p, ..
            } => {
                for part in [
                    " ok ",
                    &key.file,
                    " ",
                    role_name(key.role),
                    " ",
                    p.kind.name(),
                    " ",
                ] {
                    out.push_str(part);
                }
                p.user_id.push_to(out);
                let scope = (p.project_id.as_ref().map(|id| id as &dyn Text))
                    .or(p.domain_id.as_ref().map(|id| id as &dyn Text))
                    .or(p.system.as_ref().map(|s| s as &dyn Text));
                (p.expires_at, scope)
            }
            Inspection::Jws { key, claims: c } => {
                for part in [
                    " ok ",
                    &key.file,
                    " public ",
                    c.kind.name(),
                    " ",
                    &c.user_id,
                ] {
                    out.push_str(part);
                }
                let scope = (c.project_id.as_ref())
                    .or(c.domain_id.as_ref())
                    .or(c.system.as_ref())
                    .map(|s| s as &dyn Text);
                (c.expires_at, scope)
            }
            Inspection::Failed(f) => {
                out.push_str(" failed ");
                out.push_str(f.code.as_str());
                out.push('\n');
                return;
            }
        };
        out.push(' ');
        match scope {
            Some(scope) => scope.push_to(out),
            None => out.push('-'),
        }
        out.push(' ');
        expires_at.push_to(out);
        out.push_str(if expires_at.seconds() < now {
            " expired\n"
        } else {
            " valid\n"
        });
    }

    /// Flushes the output and returns the writer and the outcome of the run: exit 0 when
    /// every token decoded, 1 when any did not. The outcome's text is the summary line
    /// (table) or empty (value: one line per token and nothing else); its JSON the whole
    /// document (json) or the counts.
    pub fn finish(mut self, inspector: &Inspector) -> io::Result<(W, Outcome)> {
        let summary = format!(
            "{} token(s): {} decoded, {} failed",
            self.count(),
            self.decoded,
            self.failed
        );
        let counts = json!({
            "tokens": self.decoded + self.failed,
            "decoded": self.decoded,
            "failed": self.failed,
        });
        let (text, json) = match self.format {
            Format::Table => (format!("{summary}\n"), counts),
            Format::Value => (String::new(), Value::Null),
            Format::Json | Format::Yaml => {
                let mut tail = counts;
                tail["fernet_repository"] = json!(inspector.fernet().map(|r| r.path()));
                tail["fernet_keys"] = json!(inspector.fernet().map(|r| r.key_names()));
                tail["jws_public_dir"] = json!(inspector.jws().map(|v| v.path()));
                self.text.clear();
                document_end(self.format, self.count() == 0, &tail, &mut self.text);
                match self.out.write_all(self.text.as_bytes()) {
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                    other => other?,
                }
                (String::new(), Value::Null)
            }
        };
        let mut warnings: Vec<String> = inspector
            .fernet()
            .map(|r| r.warnings().to_vec())
            .unwrap_or_default();
        if self.failed > 0 && self.format != Format::Table {
            warnings.push(summary);
        }
        let outcome = Outcome {
            text,
            json,
            warning: (!warnings.is_empty()).then(|| warnings.join("\nWARNING: ")),
            code: u8::from(self.failed > 0),
        };
        match self.out.flush() {
            // `| head` closed the pipe: not an error (the binary treats it the same way).
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
            other => other?,
        }
        Ok((self.out, outcome))
    }
}

/// `text` indented by `by` spaces after each newline (a nested pretty-printed value).
fn push_indented(out: &mut String, text: &str, by: usize) {
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', by));
        }
        out.push_str(line);
    }
}

/// One result of the streamed document: a pretty-printed element of the JSON `results`
/// array, or a YAML sequence item. The first one also opens the document.
fn document_item(format: Format, first: bool, value: &Value, out: &mut String) {
    if format == Format::Yaml {
        if first {
            out.push_str("results:\n");
        }
        let item = serde_yaml_ng::to_string(std::slice::from_ref(value)).expect("yaml");
        out.push_str(&item);
        return;
    }
    out.push_str(if first {
        "{\n  \"results\": [\n    "
    } else {
        ",\n    "
    });
    let text = serde_json::to_string_pretty(value).expect("json");
    push_indented(out, &text, 4);
}

/// Closes the streamed document with the remaining fields of `tail` (an object), sorted as
/// serde_json sorts a whole document's keys; `empty`: no result was written.
fn document_end(format: Format, empty: bool, tail: &Value, out: &mut String) {
    if format == Format::Yaml {
        if empty {
            out.push_str("results: []\n");
        }
        out.push_str(&serde_yaml_ng::to_string(tail).expect("yaml"));
        return;
    }
    out.push_str(if empty {
        "{\n  \"results\": []"
    } else {
        "\n  ]"
    });
    if let Value::Object(fields) = tail {
        for (name, value) in fields {
            out.push_str(",\n  ");
            out.push_str(&Value::String(name.clone()).to_string());
            out.push_str(": ");
            push_indented(out, &serde_json::to_string_pretty(value).expect("json"), 2);
        }
    }
    out.push_str("\n}\n");
}

impl<W: io::Write> Sink for Renderer<W> {
    fn result(&mut self, line: usize, inspection: &Inspection<'_>) -> io::Result<()> {
        self.add(line, inspection)
    }

    fn idle(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
