//! `overcloud-keys upload`: its flags (clap) and the glue from them to the library, with the
//! text and JSON it reports.
#![allow(missing_docs)] // clap fields carry their docs as help text

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::json;

use crate::cli::output::Outcome;
use overcloud_keys::error::{Error, Result};
use overcloud_keys::swift::auth::Environment;
use overcloud_keys::swift::envfile::{self, EnvFile, RecordedUrl, RefreshOptions, RefreshStatus};
use overcloud_keys::swift::http::ConnectOptions;
use overcloud_keys::swift::tempurl::{Digest, format_utc};
use overcloud_keys::swift::upload::{
    self, DEFAULT_CONTAINER, UploadAction, UploadOptions, UploadReport,
};

/// `upload`.
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The artifact to upload (the tarball `overcloud-keys build` or `pack` wrote).
    ///
    /// Hashed first (MD5 for the ETag, SHA-256 for the name and X-Object-Meta-Sha256); when
    /// FILE.sha256 exists beside it, it must agree.
    #[arg(value_name = "FILE", required_unless_present = "refresh")]
    pub file: Option<PathBuf>,

    /// Re-sign the TempURLs in --env-file that expire within --refresh-margin; no upload.
    ///
    /// Each URL's object is HEADed first: it must still exist and hold the content its name
    /// promises. URLs valid beyond the margin are left alone.
    #[arg(long, conflicts_with_all = ["file", "object", "replace", "segment_size", "slo_threshold"])]
    pub refresh: bool,

    /// Container (created if missing). Default: overcloud-artifacts.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_CONTAINER, conflicts_with = "refresh")]
    pub container: String,

    /// Object name. Default: `<file stem>-<first 12 hex of sha256>.tar.gz`.
    ///
    /// The default embeds the content hash, so a new tarball never hides behind an old URL;
    /// a name given here without it gets a warning.
    #[arg(long, value_name = "NAME")]
    pub object: Option<String>,

    /// TempURL lifetime in seconds from now. Default: 31536000 (one year).
    ///
    /// The URL is a bearer credential for the artifact until then.
    #[arg(long, value_name = "SECONDS", default_value_t = upload::DEFAULT_EXPIRY, allow_negative_numbers = true)]
    pub temp_url_expiry: i64,

    /// TempURL signature digest: sha256, sha512, or sha1 (only for Ceph RGW).
    ///
    /// Default: sha256 for uploads; --refresh keeps each URL's digest.
    #[arg(long, value_enum, value_name = "DIGEST")]
    pub temp_url_digest: Option<Digest>,

    /// Heat environment to write DeployArtifactURLs to (mode 0600).
    ///
    /// Default: ~/.tripleo/environments/deployment-artifacts.yaml, which tripleoclient loads
    /// automatically. URLs of other artifacts in it are kept; older versions of this one are
    /// replaced. Written only after the upload is verified.
    #[arg(long, value_name = "PATH")]
    pub env_file: Option<PathBuf>,

    /// Overwrite an object that exists under the same name with another SHA-256.
    ///
    /// Every URL already handed out for it then serves the new file.
    #[arg(long)]
    pub replace: bool,

    /// Retries of each request after 5xx, reset, truncated reply or timeout. Default: 5.
    ///
    /// Exponential backoff from 0.5 s (doubling, at most 30 s, with jitter). 4xx answers are
    /// never retried.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub retries: u32,

    /// Seconds to wait for a connection or for any progress of a request. Default: 60.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,

    /// Largest segment of a static large object, bytes. The first segment is 8 MiB (or this,
    /// if smaller) and each next one twice as long up to this, so the upload starts at once
    /// while the rest is hashed. Default: 268435456 (256 MiB).
    #[arg(long, value_name = "BYTES", default_value_t = upload::DEFAULT_SEGMENT_SIZE)]
    pub segment_size: u64,

    /// Files larger than this go up as a static large object, bytes (at most 5368709120,
    /// Swift's largest single object). With FILE.sha256 beside it, such a file is hashed while
    /// it uploads instead of in a pass of its own first. Default: 268435456 (256 MiB).
    #[arg(long, value_name = "BYTES", default_value_t = upload::DEFAULT_SLO_THRESHOLD)]
    pub slo_threshold: u64,

    /// With --refresh: re-sign URLs expiring within this many seconds. Default: 2592000 (30 days).
    #[arg(long, value_name = "SECONDS", default_value_t = 2_592_000)]
    pub refresh_margin: u64,

    /// Cloud in clouds.yaml (./, ~/.config/openstack/, /etc/openstack/; OS_CLIENT_CONFIG_FILE).
    ///
    /// Env: OS_CLOUD. Without it: OS_AUTH_URL and the other OS_* variables (Keystone v3
    /// password or application credential), else ST_AUTH/ST_USER/ST_KEY (tempauth).
    #[arg(long, value_name = "NAME", env = "OS_CLOUD")]
    pub os_cloud: Option<String>,

    /// Storage URL to use instead of the catalog's object-store endpoint (…/v1/AUTH_<project>).
    ///
    /// Env: OS_STORAGE_URL.
    #[arg(long, value_name = "URL", env = "OS_STORAGE_URL")]
    pub os_storage_url: Option<String>,

    /// CA certificate (PEM) that signed the Keystone and Swift endpoints' certificates.
    ///
    /// Env: OS_CACERT. Default: clouds.yaml's cacert, else the system trust store
    /// (where an undercloud's own CA is installed).
    #[arg(long, value_name = "FILE", env = "OS_CACERT")]
    pub os_cacert: Option<PathBuf>,

    /// Do not verify the endpoints' TLS certificates (like `openstack --insecure`; also
    /// clouds.yaml `verify: false`). Anyone on the path can then read the token and keys.
    #[arg(long)]
    pub insecure: bool,
}

fn connect_options(args: &UploadArgs) -> ConnectOptions {
    ConnectOptions {
        cloud: args.os_cloud.clone(),
        storage_url: args.os_storage_url.clone(),
        cacert: args.os_cacert.clone(),
        insecure: args.insecure,
        retries: args.retries,
        timeout: Duration::from_secs(args.timeout),
        progress: true,
    }
}

fn env_path(args: &UploadArgs) -> Result<PathBuf> {
    match &args.env_file {
        Some(path) => Ok(path.clone()),
        None => envfile::default_path(Environment::from_process().home()),
    }
}

/// Runs `upload`.
pub fn run(args: UploadArgs) -> Result<Outcome> {
    if args.refresh {
        return run_refresh(&args);
    }
    let opts = UploadOptions {
        container: args.container.clone(),
        object: args.object.clone(),
        expiry: args.temp_url_expiry,
        digest: args.temp_url_digest.unwrap_or_default(),
        replace: args.replace,
        segment_size: args.segment_size,
        slo_threshold: args.slo_threshold,
        connect: connect_options(&args),
    };
    let file = args
        .file
        .clone()
        .expect("clap requires FILE without --refresh");
    // Everything local is checked before anything is sent.
    opts.validate()?;
    let env_file = env_path(&args)?;
    EnvFile::load(&env_file)?;
    upload::regular_file(&file)?;
    let report = upload::upload_artifact(&opts, &file)?;
    let recorded = envfile::record_url(&env_file, &report.temp_url.expose())?;
    let text = upload_text(&report, &recorded);
    let json = upload_json(&report, &recorded);
    let mut out = Outcome::ok(text, json);
    if !report.warnings.is_empty() {
        out.warning = Some(report.warnings.join("\nWARNING: "));
    }
    Ok(out)
}

/// What `upload` did, for people.
fn upload_text(report: &UploadReport, recorded: &RecordedUrl) -> String {
    let name = format!("{}/{}", report.container, report.object);
    let mut text = match report.action {
        UploadAction::Uploaded => format!("uploaded {name} ({} bytes)", report.size),
        UploadAction::Replaced => format!("replaced {name} ({} bytes)", report.size),
        UploadAction::Reused => {
            format!("reused {name}: already in Swift with the same sha256, not uploaded again")
        }
    };
    if let Some(seg_container) = &report.segments_container {
        text.push_str(&format!(
            " as a static large object of {} segment(s) in container {seg_container}{}",
            report.segments,
            if report.segments_reused > 0 {
                format!(" ({} already there)", report.segments_reused)
            } else {
                String::new()
            }
        ));
    }
    text.push('\n');
    text.push_str(&format!(
        "verified: size {}, ETag {}, sha256 {}\n",
        report.size, report.etag, report.sha256
    ));
    text.push_str(&format!(
        "temp URL ({}, signed with {}), expires {}:\n  {}\n",
        report.temp_url.digest(),
        report.key_source,
        format_utc(report.temp_url.expires()),
        report.temp_url.redacted()
    ));
    text.push_str(&format!(
        "env file {} {} (0600){}\n",
        recorded.path.display(),
        match recorded.action {
            overcloud_keys::fsutil::WriteAction::Unchanged => "unchanged",
            _ => "written",
        },
        if recorded.replaced > 0 {
            format!(
                ": replaced {} earlier URL(s) of this artifact",
                recorded.replaced
            )
        } else {
            String::new()
        }
    ));
    text
}

/// What `upload` did, for pipelines (with the bearer URL itself: they asked for it).
fn upload_json(report: &UploadReport, recorded: &RecordedUrl) -> serde_json::Value {
    json!({
        "action": report.action,
        "storage_url": report.storage_url,
        "container": report.container,
        "object": report.object,
        "size": report.size,
        "sha256": report.sha256,
        "etag": report.etag,
        "segments": report.segments,
        "segments_container": report.segments_container,
        "segments_reused": report.segments_reused,
        "hashed_while_uploading": report.hashed_while_uploading,
        "container_created": report.container_created,
        // The bearer URL itself: pipelines asked for JSON to get it.
        "temp_url": report.temp_url.expose(),
        "temp_url_expires": report.temp_url.expires(),
        "temp_url_expires_at": format_utc(report.temp_url.expires()),
        "temp_url_digest": report.temp_url.digest(),
        "temp_url_key": report.key_source,
        "env_file": {
            "path": recorded.path,
            "action": recorded.action,
            "urls": recorded.urls,
            "replaced": recorded.replaced,
        },
        "warnings": report.warnings,
    })
}

fn run_refresh(args: &UploadArgs) -> Result<Outcome> {
    let opts = RefreshOptions {
        env_file: env_path(args)?,
        margin: args.refresh_margin,
        expiry: args.temp_url_expiry,
        digest: args.temp_url_digest,
        connect: connect_options(args),
    };
    let report = envfile::refresh(&opts)?;
    let mut text = String::new();
    for u in &report.urls {
        let when = |e: Option<u64>| e.map(format_utc).unwrap_or_else(|| "-".into());
        text.push_str(&match u.status {
            RefreshStatus::Refreshed => format!(
                "refreshed   {} (was {}, now {})\n",
                u.url,
                when(u.previous_expires),
                when(u.expires)
            ),
            RefreshStatus::Valid => {
                format!("valid       {} (expires {})\n", u.url, when(u.expires))
            }
            RefreshStatus::NotTempUrl => format!("not a TempURL, left alone: {}\n", u.url),
        });
    }
    text.push_str(&format!(
        "env file {} {}\n",
        report.env_file.display(),
        match report.action {
            overcloud_keys::fsutil::WriteAction::Unchanged => "unchanged",
            _ => "written (0600)",
        }
    ));
    let json = serde_json::to_value(&report).map_err(|e| Error::Render {
        name: "refresh report".into(),
        message: e.to_string(),
    })?;
    Ok(Outcome::ok(text, json))
}
