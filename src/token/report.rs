//! Rendering inspection results for `-f table|json|value`, one result per token, built as the
//! tokens stream by so nothing per token is kept but the output itself.
//!
//! Table: a head line per token (`line N: ok fernet key 2 (primary, ...)`) and the fields
//! indented below; failures on one line with their code. JSON: `{"results": [...]}` with
//! keystone's field names. Value: one line per token, `LINE ok KEY ROLE TYPE USER SCOPE EXPIRES`
//! or `LINE failed CODE`.

use std::fmt::{Display, Write};

use serde_json::{Value, json};

use super::payload::Id;
use super::time::IsoTime;
use super::{Inspection, Inspector};
use crate::cli::Format;
use crate::keys::repo::KeyRole;
use crate::output::Outcome;

/// Accumulates the output of a run.
#[derive(Debug)]
pub struct Renderer {
    format: Format,
    now: i64,
    text: String,
    results: Vec<Value>,
    decoded: usize,
    failed: usize,
}

fn field(out: &mut String, name: &str, value: impl Display) {
    const PAD: &str = "                         ";
    out.push_str("    ");
    out.push_str(name);
    out.push_str(&PAD[..21usize.saturating_sub(name.len())]);
    let _ = write!(out, "{value}");
    out.push('\n');
}

fn opt_field<T: Display>(out: &mut String, name: &str, value: &Option<T>) {
    if let Some(v) = value {
        field(out, name, v);
    }
}

struct Joined<'a, T>(&'a [T]);

impl<T: Display> Display for Joined<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("-");
        }
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            item.fmt(f)?;
        }
        Ok(())
    }
}

fn expiry(out: &mut String, at: IsoTime, now: i64) {
    if at.seconds() < now {
        field(out, "expires_at", format_args!("{at} (expired)"));
    } else {
        field(out, "expires_at", at);
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

impl Renderer {
    /// A renderer for `format`; `now` (Unix seconds) decides what is shown as expired.
    pub fn new(format: Format, now: i64) -> Self {
        Renderer {
            format,
            now,
            text: String::new(),
            results: Vec::new(),
            decoded: 0,
            failed: 0,
        }
    }

    /// Tokens seen so far.
    pub fn count(&self) -> usize {
        self.decoded + self.failed
    }

    fn expired(&self, at: IsoTime) -> &'static str {
        if at.seconds() < self.now {
            " (expired)"
        } else {
            ""
        }
    }

    /// Adds the result for the token on input line `line`.
    pub fn add(&mut self, line: usize, inspection: &Inspection<'_>) {
        match inspection {
            Inspection::Failed(_) => self.failed += 1,
            _ => self.decoded += 1,
        }
        match self.format {
            Format::Table => self.add_text(line, inspection),
            Format::Json => {
                let value = self.json(line, inspection);
                self.results.push(value);
            }
            Format::Value => {
                let value = Value::String(self.value_line(line, inspection));
                self.results.push(value);
            }
        }
    }

    fn add_text(&mut self, line: usize, inspection: &Inspection<'_>) {
        let now = self.now;
        let out = &mut self.text;
        let _ = write!(out, "line {line}: ");
        match inspection {
            Inspection::Fernet {
                key,
                timestamp,
                payload: p,
            } => {
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
                let _ = writeln!(out, " (version {})", p.version);
                field(out, "user_id", &p.user_id);
                field(
                    out,
                    "methods",
                    format_args!("{} (bitmask {})", Joined(&p.methods), p.methods_bitmask),
                );
                opt_field(out, "system", &p.system);
                opt_field(out, "domain_id", &p.domain_id);
                opt_field(out, "project_id", &p.project_id);
                opt_field(out, "trust_id", &p.trust_id);
                if let Some(groups) = &p.federated_group_ids {
                    field(out, "federated_group_ids", Joined::<Id>(groups));
                }
                opt_field(out, "identity_provider_id", &p.identity_provider_id);
                opt_field(out, "protocol_id", &p.protocol_id);
                opt_field(out, "access_token_id", &p.access_token_id);
                opt_field(out, "app_cred_id", &p.app_cred_id);
                opt_field(out, "thumbprint", &p.thumbprint);
                match created(*timestamp) {
                    Some(at) => field(out, "issued_at", at),
                    None => field(
                        out,
                        "issued_at",
                        format_args!("unix time {timestamp} (out of range)"),
                    ),
                }
                expiry(out, p.expires_at, now);
                field(out, "audit_ids", Joined(&p.audit_ids));
            }
            Inspection::Jws { key, claims: c } => {
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
                field(out, "methods", Joined(&c.methods));
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
                field(out, "issued_at", c.issued_at);
                expiry(out, c.expires_at, now);
                field(out, "audit_ids", Joined(&c.audit_ids));
            }
            Inspection::Failed(f) => {
                for part in ["FAILED ", f.format, " ", f.code, ": ", &f.message, "\n"] {
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

    fn value_line(&self, line: usize, inspection: &Inspection<'_>) -> String {
        fn scope<T: Display>(ids: [&Option<T>; 3]) -> String {
            ids.iter()
                .find_map(|id| id.as_ref().map(|v| v.to_string()))
                .unwrap_or_else(|| "-".into())
        }
        match inspection {
            Inspection::Fernet {
                key, payload: p, ..
            } => format!(
                "{line} ok {} {} {} {} {} {}{}",
                key.file,
                key.role,
                p.kind,
                p.user_id,
                scope([
                    &p.project_id,
                    &p.domain_id,
                    &p.system.as_ref().map(|s| Id::Text(s.clone())),
                ]),
                p.expires_at,
                self.expired(p.expires_at)
            ),
            Inspection::Jws { key, claims: c } => format!(
                "{line} ok {} public {} {} {} {}{}",
                key.file,
                c.kind,
                c.user_id,
                scope([&c.project_id, &c.domain_id, &c.system]),
                c.expires_at,
                self.expired(c.expires_at)
            ),
            Inspection::Failed(f) => format!("{line} failed {}", f.code),
        }
    }

    /// The outcome of the run: exit 0 when every token decoded, 1 when any did not.
    pub fn finish(self, inspector: &Inspector) -> Outcome {
        let summary = format!(
            "{} token(s): {} decoded, {} failed",
            self.count(),
            self.decoded,
            self.failed
        );
        let mut text = self.text;
        text.push_str(&summary);
        text.push('\n');
        let json = match self.format {
            Format::Table => json!({"summary": summary}),
            Format::Json => {
                let mut top = json!({
                    "fernet_repository": inspector.fernet().map(|r| r.path()),
                    "fernet_keys": inspector.fernet().map(|r| r.key_names()),
                    "jws_public_dir": inspector.jws().map(|v| v.path()),
                    "tokens": self.decoded + self.failed,
                    "decoded": self.decoded,
                    "failed": self.failed,
                });
                // Moved in, not through `json!`, which would copy every result.
                top["results"] = Value::Array(self.results);
                top
            }
            Format::Value => Value::Array(self.results),
        };
        let mut warnings: Vec<String> = inspector
            .fernet()
            .map(|r| r.warnings().to_vec())
            .unwrap_or_default();
        if self.failed > 0 && self.format != Format::Table {
            warnings.push(summary);
        }
        Outcome {
            text,
            json,
            warning: (!warnings.is_empty()).then(|| warnings.join("\nWARNING: ")),
            code: u8::from(self.failed > 0),
        }
    }
}
