//! Read-only token inspection: which key of a Fernet repository decrypts a token, or which
//! JWS public key verifies it, and what the token says (user, scope, expiry, audit ids),
//! decoded the way keystone 30 decodes it.
//!
//! Invariants: keys are loaded once per run; no key material and no token text is ever
//! printed (keys are named by file, role and fingerprint, tokens by input line); every input,
//! however malformed, yields a [`Inspection`] and never a panic.

pub mod fernet;
pub mod jws;
mod msgpack;
pub mod payload;
pub mod report;
pub(crate) mod time;

use std::io::{BufRead, BufReader, ErrorKind, Read};

use crate::error::{Error, Result};
use fernet::{FernetError, FernetKeyring, KeyInfo, Scratch};
use jws::{JwsClaims, JwsError, JwsKeyInfo, JwsVerifier};
use payload::{MethodMap, Payload, PayloadError};

/// Longer lines are not tokens (keystone's own tokens are about 183 characters for Fernet
/// and 400-600 for JWS).
pub(crate) const MAX_TOKEN_LEN: usize = 16 * 1024;

crate::codes::stable_codes! {
    /// Stable codes of the ways a token can fail inspection (shown in text and JSON).
    pub enum FailureCode, FAILURE_CODES {
        /// Not URL-safe base64.
        BadBase64 => "bad-base64",
        /// Not a Fernet token (wrong version byte or shape).
        NotFernet => "not-fernet",
        /// Too short, or of a length no Fernet token has.
        Truncated => "truncated",
        /// No key of the repository decrypts it.
        NoKey => "no-key",
        /// Decrypted, but the padding is wrong.
        BadPadding => "bad-padding",
        /// Decrypted, but the payload is malformed.
        BadPayload => "bad-payload",
        /// Decrypted, but the payload version is one keystone does not know.
        UnknownPayloadVersion => "unknown-payload-version",
        /// Not a well-formed JWS token.
        JwsMalformed => "jws-malformed",
        /// Signed with an algorithm keystone does not use.
        JwsAlgorithm => "jws-algorithm",
        /// No public key verifies its signature.
        JwsBadSignature => "jws-bad-signature",
        /// Verified, but the claims are malformed.
        JwsBadClaims => "jws-bad-claims",
        /// A Fernet token, but no Fernet repository was given.
        NoFernetRepository => "no-fernet-repository",
        /// A JWS token, but no JWS public key directory was given.
        NoJwsPublicDir => "no-jws-public-dir",
        /// Far longer than any keystone token.
        TooLong => "too-long",
    }
}

/// Why one token could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    /// `fernet` or `jws` (what the token looks like).
    pub format: &'static str,
    /// Why, as a stable code (its text is one of [`FAILURE_CODES`]).
    pub code: FailureCode,
    /// What is wrong, naming the repository tried.
    pub message: String,
}

/// The result of inspecting one token.
#[derive(Debug, Clone, PartialEq)]
pub enum Inspection<'a> {
    /// A Fernet token a key decrypted.
    Fernet {
        /// The key that did it.
        key: &'a KeyInfo,
        /// Creation time from the token header (Unix seconds).
        timestamp: u64,
        /// The decoded payload.
        payload: Payload,
    },
    /// A JWS token a public key verified.
    Jws {
        /// The public key that did it.
        key: &'a JwsKeyInfo,
        /// The decoded claims.
        claims: JwsClaims,
    },
    /// Not decoded.
    Failed(Failure),
}

/// Keys loaded once, ready to inspect any number of tokens.
#[derive(Debug)]
pub struct Inspector {
    fernet: Option<FernetKeyring>,
    jws: Option<JwsVerifier>,
    methods: MethodMap,
    no_key_message: String,
    bad_signature_message: String,
}

impl Inspector {
    /// An inspector for a Fernet repository, a JWS public key directory, or both.
    pub fn new(
        fernet: Option<FernetKeyring>,
        jws: Option<JwsVerifier>,
        methods: MethodMap,
    ) -> Self {
        let no_key_message = fernet.as_ref().map_or_else(String::new, |ring| {
            format!(
                "no key in Fernet repository {} (keys {}) decrypts this token: it was issued by another cloud, its key was rotated out, or it is damaged",
                ring.path().display(),
                ring.key_names()
            )
        });
        let bad_signature_message = jws.as_ref().map_or_else(String::new, |v| {
            format!(
                "no public key in {} ({}) verifies this token's signature: it was tampered with, or signed by a key not in that directory",
                v.path().display(),
                v.key_names()
            )
        });
        Inspector {
            fernet,
            jws,
            methods,
            no_key_message,
            bad_signature_message,
        }
    }

    /// The Fernet repository, if any.
    pub fn fernet(&self) -> Option<&FernetKeyring> {
        self.fernet.as_ref()
    }

    /// The JWS public key directory, if any.
    pub fn jws(&self) -> Option<&JwsVerifier> {
        self.jws.as_ref()
    }

    /// Inspects one token (surrounding whitespace ignored).
    pub fn inspect<'a>(&'a self, token: &[u8], scratch: &mut Scratch) -> Inspection<'a> {
        let token = token.trim_ascii();
        let is_jws = token.contains(&b'.');
        let format = if is_jws { "jws" } else { "fernet" };
        let fail = |code, message: String| {
            Inspection::Failed(Failure {
                format,
                code,
                message,
            })
        };
        if token.len() > MAX_TOKEN_LEN {
            return fail(
                FailureCode::TooLong,
                format!(
                    "{} characters is far longer than any keystone token",
                    token.len()
                ),
            );
        }
        if is_jws {
            let Some(verifier) = &self.jws else {
                return fail(
                    FailureCode::NoJwsPublicDir,
                    "a JWS token (it has '.' separators), but no --jws-public-dir was given".into(),
                );
            };
            return match verifier.verify(token) {
                Ok((key, claims)) => Inspection::Jws { key, claims },
                Err(JwsError::BadSignature) => fail(
                    FailureCode::JwsBadSignature,
                    self.bad_signature_message.clone(),
                ),
                Err(e @ JwsError::Malformed(_)) => fail(FailureCode::JwsMalformed, e.to_string()),
                Err(e @ JwsError::Algorithm(_)) => fail(FailureCode::JwsAlgorithm, e.to_string()),
                Err(e @ JwsError::BadClaims(_)) => fail(FailureCode::JwsBadClaims, e.to_string()),
            };
        }
        let Some(ring) = &self.fernet else {
            return fail(
                FailureCode::NoFernetRepository,
                "a Fernet token (no '.' separators), but no --key-repository was given".into(),
            );
        };
        match ring.decrypt(token, scratch) {
            Ok(d) => match payload::decode(d.plaintext, &self.methods) {
                Ok(payload) => Inspection::Fernet {
                    key: d.key,
                    timestamp: d.timestamp,
                    payload,
                },
                Err(e @ PayloadError::UnknownVersion(_)) => fail(
                    FailureCode::UnknownPayloadVersion,
                    format!("decrypted by key {}, but {e}", d.key.file),
                ),
                Err(e) => fail(
                    FailureCode::BadPayload,
                    format!(
                        "decrypted by key {}, but the payload is malformed: {e}",
                        d.key.file
                    ),
                ),
            },
            Err(FernetError::NoKey) => fail(FailureCode::NoKey, self.no_key_message.clone()),
            Err(e @ FernetError::BadBase64(_)) => fail(FailureCode::BadBase64, e.to_string()),
            Err(e @ FernetError::NotFernet(_)) => fail(FailureCode::NotFernet, e.to_string()),
            Err(e @ (FernetError::Truncated(_) | FernetError::ImpossibleLength(_))) => {
                fail(FailureCode::Truncated, e.to_string())
            }
            Err(e @ FernetError::BadPadding(_)) => fail(FailureCode::BadPadding, e.to_string()),
        }
    }

    /// Inspects every token of `input`, one per line (blank lines skipped, line numbers
    /// kept), handing each result to `sink` as soon as it is known, and calling
    /// [`Sink::idle`] before waiting for more input (so a live stream, such as a log being
    /// followed, shows its results at once). Returns the number of tokens seen. A sink that
    /// hits a closed pipe (`| head`) ends the run quietly.
    pub fn inspect_stream<R: Read, S: Sink>(&self, input: R, sink: &mut S) -> Result<usize> {
        let mut input = BufReader::with_capacity(64 * 1024, input);
        let mut line = Vec::with_capacity(256);
        let mut scratch = Scratch::default();
        let (mut number, mut tokens) = (0, 0);
        let write_err = |source: std::io::Error| Error::Io {
            op: "write results to",
            path: "standard output".into(),
            source,
        };
        loop {
            if input.buffer().is_empty() {
                match sink.idle() {
                    Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(tokens),
                    other => other.map_err(write_err)?,
                }
            }
            line.clear();
            let n = input
                .read_until(b'\n', &mut line)
                .map_err(|source| Error::Io {
                    op: "read tokens from",
                    path: "standard input".into(),
                    source,
                })?;
            if n == 0 {
                return Ok(tokens);
            }
            number += 1;
            if line.trim_ascii().is_empty() {
                continue;
            }
            tokens += 1;
            match sink.result(number, &self.inspect(&line, &mut scratch)) {
                Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(tokens),
                other => other.map_err(write_err)?,
            }
        }
    }
}

/// Where inspection results go, one token at a time.
pub trait Sink {
    /// The result for the token on input line `line` (numbered from 1, blank lines counted).
    fn result(&mut self, line: usize, inspection: &Inspection<'_>) -> std::io::Result<()>;

    /// No more input is buffered: the next read may block. A chance to flush output.
    fn idle(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
#[path = "inspect_tests.rs"]
mod tests;
