//! Resource bounds measured on the real process (peak RSS from /proc, `VmHWM`): output that
//! streams must not grow with its input. Timing lives in the benchmarks (scripts/bench*.sh),
//! never here.

use std::io::{BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::cli_support::BIN;

/// The process's peak resident set so far, in KiB (`None` once it has exited).
fn peak_kib(child: &Child) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Waits for `child`, polling its high-water mark until it exits; the largest value seen.
fn wait_with_peak(mut child: Child) -> (std::process::ExitStatus, u64) {
    let mut peak = 0;
    loop {
        if let Some(kib) = peak_kib(&child) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (status, peak);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `token inspect -f json` of 30 000 tokens (and a few bad lines): one valid JSON document,
/// and a peak under 32 MiB. Collecting the results first peaked at about 140 MiB here
/// (4.4 KiB per token); a million tokens are in docs/benchmarks.md.
#[test]
fn token_inspect_json_streams_in_constant_memory() {
    const TOKENS: usize = 30_000;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokens");
    let vectors: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures.join("vectors.json")).unwrap()).unwrap();
    let token = vectors["fernet"][0]["token"].as_str().unwrap().to_string();
    let out_file = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(BIN)
        .args(["token", "inspect", "-", "--key-repository"])
        .arg(fixtures.join("fernet-keys"))
        .args(["-f", "json"])
        .stdin(Stdio::piped())
        .stdout(out_file.reopen().unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let mut input = std::io::BufWriter::new(&mut stdin);
        for i in 0..TOKENS {
            writeln!(input, "{token}").unwrap();
            if i % 10_000 == 0 {
                writeln!(input, "not*a*token").unwrap();
            }
        }
    });
    let (status, peak) = wait_with_peak(child);
    feeder.join().unwrap();
    assert_eq!(status.code(), Some(1), "some lines are not tokens: exit 1");
    let document: serde_json::Value =
        serde_json::from_reader(BufReader::new(out_file.reopen().unwrap()))
            .expect("one valid JSON document");
    let bad = TOKENS.div_ceil(10_000);
    assert_eq!(document["tokens"], TOKENS + bad);
    assert_eq!(document["failed"], bad);
    assert_eq!(document["results"].as_array().unwrap().len(), TOKENS + bad);
    assert!(peak > 0, "no /proc reading of the process");
    assert!(
        peak < 32 * 1024,
        "peak RSS {peak} KiB for {TOKENS} tokens: the JSON output is not streaming"
    );
}
