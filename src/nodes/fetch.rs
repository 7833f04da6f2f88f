//! `adopt --from-node`: read one node's Fernet token and credential repositories over SSH,
//! after a fingerprint scan has shown every keystone node holds the same ones.
//!
//! The only place key material leaves a node: the fixed remote command prints each key file
//! of `fernet-keys` and `credential-keys` base64-encoded (one line per file, nothing else),
//! the bytes are held in zeroizing memory, parsed with [`FernetKey::parse`] (keystone's own
//! rules) and checked against the fingerprints the scan saw, before the adopt machinery
//! commits them atomically (0600/0700) and runs the repository check.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::error::NodeError;
use super::expected::sha256_hex;
use super::inventory::Node;
use super::remote::{NodeView, Tree};
use super::transport::{self, SshOptions};
use super::verify;
use crate::adopt::source::{DeployedKeys, FernetParams};
use crate::artifact::layout::dirs;
use crate::check::parse_key_name;
use crate::keys::fernet::FernetKey;
use crate::keys::repo::KeySet;

const HEADER: &str = "overcloud-keys-keys\t1";
/// The repositories copied (what `KeystoneFernetKeys` / `KeystoneCredential0/1` deliver).
pub(crate) const COPIED: [&str; 2] = [dirs::FERNET, dirs::CREDENTIAL];
/// Largest key file copied (a key is 44 bytes).
const MAX_KEY_FILE: u64 = 4096;

/// The remote command: base64 of every integer-named file of the copied repositories.
pub(crate) fn key_script(root: &str) -> String {
    let root = shlex::try_quote(root)
        .map(|q| q.into_owned())
        .unwrap_or_default();
    format!(
        r#"LC_ALL=C; export LC_ALL
printf '%s\n' '{HEADER}'
for d in {dirs}; do
  p={root}/$d
  [ -d "$p" ] || {{ printf 'nodir\t%s\n' "$d"; continue; }}
  for f in "$p"/*; do
    [ -f "$f" ] || continue
    n=${{f##*/}}
    case "$n" in ''|*[!0-9]*) continue;; esac
    [ "$(wc -c < "$f")" -le {MAX_KEY_FILE} ] || {{ printf 'big\t%s\t%s\n' "$d" "$n"; continue; }}
    printf 'key\t%s\t%s\t%s\n' "$d" "$n" "$(base64 -w0 < "$f")"
  done
done
printf 'end\n'
"#,
        dirs = COPIED.join(" "),
    )
}

/// Refuses unless every node was reached and all hold the same copied repositories (host
/// side, where puppet and kolla take them from).
pub(crate) fn require_agreement(
    nodes: &[Node],
    scans: &[Result<NodeView, NodeError>],
) -> Result<(), NodeError> {
    let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (node, scan) in nodes.iter().zip(scans) {
        match scan {
            Ok(view) => groups
                .entry(verify::signature(&copied(&view.host)))
                .or_default()
                .push(&node.name),
            Err(NodeError::Remote { node, message }) => {
                return Err(NodeError::Remote {
                    node: node.clone(),
                    message: format!(
                        "{message}; every keystone node must be checked before adopting from one"
                    ),
                });
            }
            // A node whose answer does not parse was not checked either: exit 3 as verify.
            Err(NodeError::Garbage { node, message }) => {
                return Err(NodeError::Garbage {
                    node: node.clone(),
                    message: format!(
                        "{message}; every keystone node must be checked before adopting from one"
                    ),
                });
            }
            Err(e) => return Err(NodeError::Disagree(format!("cannot check every node: {e}"))),
        }
    }
    if groups.len() > 1 {
        let lines: Vec<String> = groups
            .iter()
            .map(|(sig, n)| format!("  {}: {sig}", n.join(", ")))
            .collect();
        return Err(NodeError::Disagree(lines.join("\n")));
    }
    Ok(())
}

fn copied(tree: &Tree) -> Tree {
    tree.iter()
        .filter(|(d, _)| COPIED.contains(&d.as_str()))
        .map(|(d, v)| (d.clone(), v.clone()))
        .collect()
}

/// Reads `node`'s repositories and checks them against `seen` (its scan).
pub fn fetch(
    node: &Node,
    root: &str,
    ssh: &SshOptions,
    seen: &NodeView,
) -> Result<DeployedKeys, NodeError> {
    let out = Zeroizing::new(transport::run_script(
        node,
        ssh,
        key_script(root).as_bytes(),
    )?);
    let garbage = |message: String| NodeError::Garbage {
        node: node.name.clone(),
        message,
    };
    let text = std::str::from_utf8(&out).map_err(|_| garbage("not UTF-8 text".into()))?;
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err(garbage("expected the header line".into()));
    }
    let mut repos: BTreeMap<&str, KeySet> = BTreeMap::new();
    let mut normalized = vec![];
    let mut ended = false;
    for line in lines {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["end"] if !ended => ended = true,
            ["nodir", _] if !ended => {}
            ["big", d, n] if !ended => {
                return Err(garbage(format!(
                    "{d}/{n} is larger than {MAX_KEY_FILE} bytes: not a key"
                )));
            }
            ["key", d, n, b64] if !ended => {
                let dir = COPIED
                    .iter()
                    .find(|c| *c == d)
                    .ok_or_else(|| garbage("unknown directory".into()))?;
                let index =
                    parse_key_name(n).ok_or_else(|| garbage(format!("{d}/{n}: not a key name")))?;
                let bytes = Zeroizing::new(
                    STANDARD
                        .decode(b64)
                        .map_err(|_| garbage(format!("{d}/{n}: bad base64")))?,
                );
                check_seen(node, seen, dir, n, &bytes)?;
                let (key, quirks) = FernetKey::parse(&bytes).map_err(|defect| {
                    garbage(format!(
                        "{d}/{n} is not a key keystone can use ({defect:?})"
                    ))
                })?;
                if quirks.trailing_whitespace || quirks.standard_alphabet {
                    normalized.push(format!("{d}/{n}"));
                }
                repos.entry(dir).or_default().insert(index, key);
            }
            _ => return Err(garbage("unexpected line (content not shown)".into())),
        }
    }
    if !ended {
        return Err(garbage("the output stops before its end marker".into()));
    }
    let fernet = repos
        .remove(dirs::FERNET)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| NodeError::Remote {
            node: node.name.clone(),
            message: format!("{root}/{} holds no keys", dirs::FERNET),
        })?;
    Ok(DeployedKeys {
        fernet,
        fernet_params: FernetParams::KeystoneFernetKeys,
        credential: repos.remove(dirs::CREDENTIAL).filter(|k| !k.is_empty()),
        normalized,
    })
}

/// The copied bytes must be what the scan fingerprinted (nothing changed in between).
fn check_seen(
    node: &Node,
    seen: &NodeView,
    dir: &str,
    name: &str,
    bytes: &[u8],
) -> Result<(), NodeError> {
    let want = seen
        .host
        .get(dir)
        .and_then(|d| d.files.get(name))
        .and_then(|f| f.sha256.as_deref());
    if want == Some(sha256_hex(bytes).as_str()) {
        return Ok(());
    }
    Err(NodeError::Disagree(format!(
        "{}: {dir}/{name} changed between the fingerprint scan and the copy; run again",
        node.name
    )))
}
