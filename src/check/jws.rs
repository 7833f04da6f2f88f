//! The JWS pair: the public key set keystone validates with, `private.pem` it signs with,
//! and `staged.pem` during a rotation.

use std::fs;
use std::path::Path;

use crate::keys::jws;
use crate::keys::kind::RepoKind;
use crate::keys::scan::{
    CheckOptions, Collector, FindingCode, KeyEntry, RepoReport, Severity, list,
};

/// Checks a JWS key pair: `private_dir/private.pem` and the public set in `public_dir`.
pub fn check_jws(
    report_path: &Path,
    private_dir: &Path,
    public_dir: &Path,
    opts: &CheckOptions,
) -> RepoReport {
    let mut c = Collector { findings: vec![] };
    let mut keys = Vec::new();
    let public_fps = c.jws_public(public_dir, opts, &mut keys);
    c.jws_private(private_dir, public_dir, &public_fps, opts, &mut keys);
    RepoReport {
        path: report_path.to_path_buf(),
        kind: RepoKind::Jws,
        keys,
        findings: c.findings,
    }
}

impl Collector {
    /// The public key set of a JWS pair: each key's entry, the fingerprints found.
    fn jws_public(
        &mut self,
        public_dir: &Path,
        opts: &CheckOptions,
        keys: &mut Vec<KeyEntry>,
    ) -> Vec<String> {
        let mut public_fps = Vec::new();
        if !self.directory(public_dir, false, opts) {
            return public_fps;
        }
        for (name, path, meta) in list(public_dir, self) {
            if meta.is_dir() {
                self.add(
                    FindingCode::JwsPublicSubdirectory,
                    Severity::Error,
                    &path,
                    "a directory in the JWS public key set: keystone fails token validation with HTTP 500".into(),
                    format!("move {} out of {}", path.display(), public_dir.display()),
                );
                continue;
            }
            self.mode(&path, &meta, false, opts);
            match crate::fsutil::read_key_file(&path)
                .ok()
                .and_then(|pem| jws::PublicKey::from_pem(&pem).ok())
            {
                Some(public) => {
                    public_fps.push(public.fingerprint());
                    keys.push(KeyEntry { name, index: 0, role: "public".into(), fingerprint: public.fingerprint() });
                }
                None => self.add(
                    FindingCode::JwsPublicInvalid,
                    Severity::Error,
                    &path,
                    "not a P-256 public key in SubjectPublicKeyInfo PEM: keystone fails token validation with HTTP 500".into(),
                    format!("remove {}", path.display()),
                ),
            }
        }
        if public_fps.is_empty()
            && !self
                .findings
                .iter()
                .any(|f| f.code == FindingCode::JwsPublicSubdirectory)
        {
            self.add(
                FindingCode::JwsPublicMissing,
                Severity::Error,
                public_dir,
                "no public key: keystone cannot validate any JWS token".into(),
                "run `overcloud-keys jws create --private-dir DIR --public-dir DIR`".into(),
            );
        }
        public_fps
    }

    /// `private.pem` (and `staged.pem` during a rotation): valid, and each one's public
    /// half in the public set.
    fn jws_private(
        &mut self,
        private_dir: &Path,
        public_dir: &Path,
        public_fps: &[String],
        opts: &CheckOptions,
        keys: &mut Vec<KeyEntry>,
    ) {
        if !self.directory(private_dir, true, opts) {
            return;
        }
        for (file, role, code) in [
            (
                jws::PRIVATE_KEY_FILE,
                "private",
                FindingCode::JwsPrivateInvalid,
            ),
            (
                jws::STAGED_KEY_FILE,
                "staged-private",
                FindingCode::JwsStagedInvalid,
            ),
        ] {
            let path = private_dir.join(file);
            let meta = match fs::metadata(&path) {
                Ok(meta) => meta,
                Err(_) if role == "private" => {
                    self.add(
                        FindingCode::JwsPrivateMissing,
                        Severity::Error,
                        &path,
                        "no private.pem: keystone cannot sign JWS tokens".into(),
                        "run `overcloud-keys jws create --private-dir DIR --public-dir DIR`".into(),
                    );
                    continue;
                }
                Err(_) => continue,
            };
            self.mode(&path, &meta, true, opts);
            let parsed = crate::fsutil::read_key_file(&path)
                .ok()
                .map(zeroize::Zeroizing::new)
                .and_then(|pem| jws::KeyPair::from_pem(&pem).ok());
            match parsed {
                None => self.add(
                    code,
                    Severity::Error,
                    &path,
                    "not an ES256 (P-256) private key in PKCS#8 PEM: keystone fails to issue tokens with HTTP 500".into(),
                    "create a new pair with `overcloud-keys jws create --force`".into(),
                ),
                Some(pair) => {
                    let fp = pair.public().fingerprint();
                    if !public_fps.contains(&fp) && !public_fps.is_empty() {
                        self.add(
                            FindingCode::JwsPublicHalfMissing,
                            Severity::Error,
                            &path,
                            format!("its public key ({}) is not in {}: tokens it signs fail validation with 401", &fp[..16], public_dir.display()),
                            format!("write its public half into {} (`overcloud-keys jws rotate stage` does this in the right order)", public_dir.display()),
                        );
                    }
                    keys.push(KeyEntry { name: file.to_string(), index: 0, role: role.into(), fingerprint: fp });
                }
            }
        }
    }
}
