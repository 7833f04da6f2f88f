//! Interop: `overcloud-keys upload` against a real Swift 2.38.3 (all-in-one on 127.0.0.1,
//! `tests/swift_harness`), checked with a plain HTTP client and Swift's own answers.

#[path = "keystone_harness/mod.rs"]
mod keystone_harness;
#[path = "swift_harness/mod.rs"]
mod swift_harness;

use std::time::Duration;

use swift_harness::{
    Fault, FaultProxy, Swift, TempUrl, TempUrlDigest, dead_url, http, noise, sha256_hex, sign,
    try_http,
};

// ---------------------------------------------------------------------------------------
// The harness itself: if these fail, every other verdict here is meaningless.
// ---------------------------------------------------------------------------------------

/// The harness signs TempURLs the way Swift checks them, and Swift refuses what it must.
#[test]
fn harness_signatures_agree_with_swift() {
    let swift = Swift::shared();
    let acct = swift.account();
    acct.put_container("harness", &[("X-Container-Meta-Temp-URL-Key", "k3y")]);
    let body = noise(1000, 7);
    acct.put_object("harness", "dir/é x.bin", &body, &[]);
    let path = format!("{}/harness/dir/é x.bin", acct.path());
    let expires = swift_harness::now() + 600;
    for digest in [
        TempUrlDigest::Sha1,
        TempUrlDigest::Sha256,
        TempUrlDigest::Sha512,
    ] {
        let sig = sign("k3y", "GET", expires, &path, digest);
        let url = format!(
            "{}?temp_url_sig={sig}&temp_url_expires={expires}",
            acct.url("harness", Some("dir/é x.bin"))
        );
        let parsed = TempUrl::parse(&url);
        assert_eq!(parsed.digest(), digest);
        assert_eq!(parsed.decoded_path(), path);
        let resp = http("GET", &url, &[], None);
        assert_eq!(resp.status, 200, "{digest:?}: {}", resp.text());
        assert_eq!(sha256_hex(&resp.body), sha256_hex(&body));
        let wrong = sign("other", "GET", expires, &path, digest);
        assert_eq!(
            http("GET", &parsed.with(&wrong, expires), &[], None).status,
            401
        );
        let past = swift_harness::now() - 10;
        let expired = sign("k3y", "GET", past, &path, digest);
        assert_eq!(
            http("GET", &parsed.with(&expired, past), &[], None).status,
            401
        );
    }
    // A bad token gets 401 (the proxy has a cache), not 500.
    let resp = http(
        "HEAD",
        &acct.storage_url,
        &[("X-Auth-Token", "AUTH_tk0000")],
        None,
    );
    assert_eq!(resp.status, 401);
}

/// Each fault mode does what the upload tests rely on.
#[test]
fn harness_fault_proxy_modes() {
    let swift = Swift::shared();
    let acct = swift.account();
    acct.put_container("faults", &[]);
    acct.put_object("faults", "o", b"payload", &[]);
    let proxy = FaultProxy::start(swift.proxy_addr(), Fault::ServiceUnavailable, 2);
    let url = format!("{}/faults/o", acct.storage_url_via(&proxy.url()));
    let auth = [("X-Auth-Token", acct.token.as_str())];
    for _ in 0..2 {
        assert_eq!(http("GET", &url, &auth, None).status, 503);
    }
    let resp = http("GET", &url, &auth, None);
    assert_eq!((resp.status, resp.body.as_slice()), (200, &b"payload"[..]));
    // A PUT refused with 503 (body drained first) has no effect.
    proxy.set_fault(Fault::ServiceUnavailable, 1);
    let resp = http("PUT", &url, &auth, Some(&noise(300_000, 1)));
    assert_eq!(resp.status, 503);
    assert_eq!(acct.get_object("faults", "o").body, b"payload");
    assert_eq!(proxy.count(), 4, "{:?}", proxy.log());

    proxy.set_fault(Fault::Reset, 1);
    let err = try_http("GET", &url, &auth, None).expect_err("reset");
    assert!(
        format!("{err}").to_lowercase().contains("reset")
            || format!("{err:?}").contains("ConnectionReset"),
        "{err:?}"
    );
    proxy.set_fault(Fault::Truncate, 1);
    match try_http("GET", &url, &auth, None) {
        Err(_) => {}
        Ok(resp) => panic!("truncated response read as complete: {resp:?}"),
    }
    proxy.set_fault(Fault::Stall, 1);
    let agent = ureq::Agent::config_builder()
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(1)))
        .build()
        .new_agent();
    let started = std::time::Instant::now();
    assert!(
        agent
            .get(&url)
            .header("X-Auth-Token", &acct.token)
            .call()
            .is_err()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(http("GET", &url, &auth, None).status, 200);
    assert_eq!(proxy.count(), 8, "{:?}", proxy.log());

    assert!(try_http("GET", &format!("{}/info", dead_url()), &[], None).is_err());
}
