//! `rollout`'s write side: the fixed POSIX sh script that replaces one node's Fernet key
//! directory with a given repository, and the parser of what it prints.
//!
//! The keys travel base64-encoded inside the script, which goes to the node on ssh's stdin
//! (never on a command line, so never in a process list) and is decoded by builtins
//! (`printf` into `base64 -d`), never through a temporary file. On the node the script:
//!
//! 1. writes every key into a staging directory next to the live one
//!    (`.fernet-keys.overcloud-keys-new`, same owner as the live directory through
//!    `chown --reference`, 0700; files 0600 under `umask 077` from their creation), checks
//!    each file's SHA-256 against what was sent, labels it `container_file_t` (level `s0`)
//!    with `chcon` where `selinuxenabled` succeeds (as tripleo-heat-templates labels
//!    `/var/lib/config-data`: the keystone container reads the tree through a bind mount and
//!    a file of another type would be denied to it), and `sync`s;
//! 2. swaps it in: `mv live old` then `mv new live` (two renames; the second failing puts
//!    the old directory back), then removes the old one. Keystone therefore only ever sees
//!    the complete old directory or the complete new one, never a half-written one (between
//!    the two renames, for microseconds, it sees none: a request then fails like any I/O
//!    error and the next one works; no coreutils before 9.5 can exchange two directories);
//! 3. where a `keystone` container runs (podman, else docker), does the same inside it:
//!    `cp` of the new host directory to a staging directory in the container's
//!    `/etc/keystone`, then, inside, owner and modes from the live directory, `sync`, and the
//!    same two renames.
//!
//! No restart: keystone's `fernet_utils` lists and reads the key repository on every token
//! issue and validation (`load_keys` is called per request; there is no cache), so the next
//! request uses the new directory.
//!
//! It prints only counts and markers, never key material; a failing step exits non-zero
//! with a message on stderr that names the step and path.

use serde::Serialize;
use zeroize::Zeroizing;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::error::NodeError;
use super::inventory::Node;
use super::remote::CONTAINER;
use super::transport::{self, SshOptions};
use crate::artifact::layout::dirs;
use crate::encoding::sha256_hex;
use crate::keys::repo::KeySet;

const HEADER: &str = "overcloud-keys-push\t1";

/// The SELinux type of everything under `/var/lib/config-data` on a TripleO node
/// (tripleo-heat-templates' common container setup tasks create the directory with
/// `setype: container_file_t`, `selevel: s0`, so the containers may read the tree).
pub(crate) const SETYPE: &str = "container_file_t";

/// The fixed part of the script: `$@` holds `name sha256 base64` triples, `root` the
/// keystone root and `dir` the repository's directory name (both set before it).
const PUSH: &str = r#"live=$root/$dir
stage=$root/.$dir.overcloud-keys-new
old=$root/.$dir.overcloud-keys-old
die() { printf 'overcloud-keys rollout: %s\n' "$*" >&2; exit 1; }
fail() { rm -rf "$stage"; die "$@"; }
printf '%s\n' "$header"
[ -d "$live" ] || die "$live is missing: nothing to replace"
rm -rf "$stage" "$old" || die "cannot remove the leftover $stage or $old"
mkdir "$stage" || die "cannot create the staging directory $stage"
chown --reference="$live" "$stage" || fail "cannot give $stage the owner of $live"
chmod 700 "$stage" || fail "cannot chmod 700 $stage"
n=0
while [ $# -ge 3 ]; do
  name=$1; sum=$2; data=$3; shift 3
  f=$stage/$name
  printf '%s\n' "$data" | base64 -d > "$f" || fail "cannot write $f"
  [ "$(sha256sum < "$f" | cut -c1-64)" = "$sum" ] || fail "$f does not hold what was sent"
  chown --reference="$live" "$f" || fail "cannot give $f the owner of $live"
  chmod 600 "$f" || fail "cannot chmod 600 $f"
  n=$((n + 1))
done
data=
[ "$n" -gt 0 ] || fail "no keys were sent"
if command -v selinuxenabled >/dev/null 2>&1 && selinuxenabled; then
  chcon -R -t "$setype" -l s0 "$stage" || fail "cannot label $stage $setype (SELinux)"
  printf 'selinux\t%s\n' "$setype"
fi
sync || fail "sync failed"
mv "$live" "$old" || fail "cannot move $live aside"
if ! mv "$stage" "$live"; then
  mv "$old" "$live"
  fail "cannot move $stage to $live (the previous directory was put back)"
fi
rm -rf "$old" || printf 'overcloud-keys rollout: could not remove %s\n' "$old" >&2
sync
printf 'host\t%s\n' "$n"
for e in podman docker; do
  command -v "$e" >/dev/null 2>&1 || continue
  $e ps --format '{{.Names}}' 2>/dev/null | grep -qx "$container" || continue
  clive=/etc/keystone/$dir
  cstage=/etc/keystone/.$dir.overcloud-keys-new
  cold=/etc/keystone/.$dir.overcloud-keys-old
  $e exec -u root "$container" rm -rf "$cstage" "$cold" || die "$e: cannot clean $cstage in the $container container"
  $e cp "$live" "$container:$cstage" || die "$e cp: cannot copy $live into the $container container"
  $e exec -u root "$container" sh -c "$cswap" sh "$clive" "$cstage" "$cold" || die "$e: cannot swap $clive in the $container container"
  printf 'container\t%s\n' "$e"
  break
done
printf 'end\n'
"#;

/// Run inside the container: `$1` live, `$2` staging (already holding the files), `$3` old.
const CONTAINER_SWAP: &str = r#"set -e
live=$1; stage=$2; old=$3
trap 'rm -rf "$stage"' EXIT
[ -d "$live" ]
chown -R --reference="$live" "$stage"
chmod 700 "$stage"
chmod 600 "$stage"/*
sync
mv "$live" "$old"
mv "$stage" "$live" || { mv "$old" "$live"; exit 1; }
trap - EXIT
rm -rf "$old"
sync
"#;

fn quote(s: &str) -> String {
    shlex::try_quote(s)
        .map(|q| q.into_owned())
        .unwrap_or_default()
}

/// The whole script replacing `<root>/fernet-keys` with `keys` (holds key material: zeroized
/// on drop).
pub(crate) fn push_script(root: &str, keys: &KeySet) -> Zeroizing<String> {
    let mut args = Zeroizing::new(String::new());
    for (index, key) in keys {
        let content = key.encode();
        // Names are digits, sums hex, data standard base64: nothing needs quoting.
        args.push_str(&format!(
            " {index} {} {}",
            sha256_hex(content.as_bytes()),
            Zeroizing::new(STANDARD.encode(content.as_bytes())).as_str()
        ));
    }
    Zeroizing::new(format!(
        "LC_ALL=C; export LC_ALL; umask 077\nset --{args}\nroot={root}\ndir={dir}\nheader={header}\ncontainer={CONTAINER}\nsetype={SETYPE}\ncswap={cswap}\n{PUSH}",
        args = args.as_str(),
        root = quote(root),
        dir = dirs::FERNET,
        header = quote(HEADER),
        cswap = quote(CONTAINER_SWAP),
    ))
}

/// What one push did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Pushed {
    /// Key files written on the host.
    pub files: usize,
    /// The container engine whose keystone container was updated too, if one runs.
    pub container: Option<String>,
    /// The SELinux type the new directory was labeled with (SELinux enabled on the node).
    pub selinux: Option<String>,
}

/// Replaces `node`'s Fernet key directory (and its keystone container's) with `keys`.
pub fn push(node: &Node, root: &str, ssh: &SshOptions, keys: &KeySet) -> Result<Pushed, NodeError> {
    let script = push_script(root, keys);
    let out = transport::run_script(node, ssh, script.as_bytes())?;
    parse(&node.name, &out)
}

/// Parses the push script's output.
pub fn parse(node: &str, output: &[u8]) -> Result<Pushed, NodeError> {
    let garbage = |message: &str| NodeError::Garbage {
        node: node.to_string(),
        message: format!("rollout push: {message}"),
    };
    let text = std::str::from_utf8(output).map_err(|_| garbage("not UTF-8 text"))?;
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err(garbage("expected the header line"));
    }
    let mut files = None;
    let mut container = None;
    let mut selinux = None;
    let mut ended = false;
    for line in lines {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["host", n] if !ended && files.is_none() => {
                files = Some(n.parse().map_err(|_| garbage("bad file count"))?);
            }
            ["selinux", t] if !ended && files.is_none() && *t == SETYPE => {
                selinux = Some(t.to_string());
            }
            ["container", e] if !ended && matches!(*e, "podman" | "docker") => {
                container = Some(e.to_string());
            }
            ["end"] if !ended => ended = true,
            _ => return Err(garbage("unexpected line")),
        }
    }
    match (files, ended) {
        (Some(files), true) => Ok(Pushed {
            files,
            container,
            selinux,
        }),
        _ => Err(garbage("the output stops before its end marker")),
    }
}

/// Whether `err` means the node could not be reached (ssh itself failed, or no answer in
/// time) rather than the remote command failing.
pub(crate) fn is_unreachable(err: &NodeError) -> bool {
    match err {
        NodeError::Remote { message, .. } => {
            message.starts_with("ssh failed")
                || message.starts_with("no answer within")
                || message.starts_with("cannot run")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::fernet::FernetKey;
    use std::os::unix::fs::PermissionsExt;

    fn keys() -> KeySet {
        (0..3u8)
            .map(|i| (u64::from(i), FernetKey::from_bytes([i + 1; 32])))
            .collect()
    }

    fn run_here(script: &str) -> std::process::Output {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap()
    }

    #[test]
    fn the_script_swaps_in_the_repository_here() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("fernet-keys");
        std::fs::create_dir(&live).unwrap();
        std::fs::write(live.join("0"), b"old").unwrap();
        std::fs::write(live.join("7"), b"gone").unwrap();
        let script = push_script(&dir.path().display().to_string(), &keys());
        let out = run_here(&script);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pushed = parse("local", &out.stdout).unwrap();
        assert_eq!(pushed.files, 3);
        let mut names: Vec<String> = std::fs::read_dir(&live)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["0", "1", "2"]);
        for (index, key) in keys() {
            let path = live.join(index.to_string());
            assert_eq!(
                std::fs::read(&path).unwrap(),
                key.encode().as_bytes(),
                "{index}"
            );
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
                0o600
            );
        }
        assert_eq!(
            std::fs::metadata(&live).unwrap().permissions().mode() & 0o7777,
            0o700
        );
        // No staging or old directory is left behind.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["fernet-keys"]);
        // Key material is never printed.
        let printed = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        for (_, key) in keys() {
            assert!(!printed.contains(key.encode().as_str()));
        }
    }

    #[test]
    fn a_missing_live_directory_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let script = push_script(&dir.path().display().to_string(), &keys());
        let out = run_here(&script);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("is missing"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn the_script_carries_no_key_on_a_command_line() {
        let script = push_script("/r", &keys());
        // Keys only appear in the `set --` line (read by sh from stdin), as base64.
        for (_, key) in keys() {
            let b64 = STANDARD.encode(key.encode().as_bytes());
            let lines: Vec<&str> = script.lines().filter(|l| l.contains(&b64)).collect();
            assert_eq!(lines.len(), 1);
            assert!(lines[0].starts_with("set -- "));
        }
    }

    #[test]
    fn garbage_output_is_a_node_error() {
        for case in [
            "",
            "hello\n",
            "overcloud-keys-push\t1\nhost\t3\n",
            "overcloud-keys-push\t1\nhost\tx\nend\n",
            "overcloud-keys-push\t1\nhost\t3\nend\nmore\n",
        ] {
            let err = parse("ctl-0", case.as_bytes()).unwrap_err();
            assert!(matches!(err, NodeError::Garbage { .. }), "{case:?}");
        }
        let ok = parse(
            "n",
            b"overcloud-keys-push\t1\nhost\t2\ncontainer\tpodman\nend\n",
        )
        .unwrap();
        assert_eq!(ok.container.as_deref(), Some("podman"));
        let labeled = parse(
            "n",
            b"overcloud-keys-push\t1\nselinux\tcontainer_file_t\nhost\t2\nend\n",
        )
        .unwrap();
        assert_eq!(labeled.selinux.as_deref(), Some(SETYPE));
        assert!(
            parse(
                "n",
                b"overcloud-keys-push\t1\nselinux\tetc_t\nhost\t2\nend\n"
            )
            .is_err()
        );
    }

    #[test]
    fn unreachable_is_told_from_a_failing_command() {
        let remote = |m: &str| NodeError::Remote {
            node: "n".into(),
            message: m.into(),
        };
        assert!(is_unreachable(&remote(
            "ssh failed (exit 255): Connection refused"
        )));
        assert!(is_unreachable(&remote(
            "no answer within 5 s (--timeout); ssh was stopped"
        )));
        assert!(!is_unreachable(&remote(
            "the remote command failed (exit 1): cannot create"
        )));
    }
}
