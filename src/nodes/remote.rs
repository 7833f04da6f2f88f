//! The fixed, read-only remote command that fingerprints a node's key directories, and the
//! parser of what it prints.
//!
//! The command lists, for every file of the key directories under the node's keystone root
//! (`/var/lib/config-data/puppet-generated/keystone/etc/keystone` containerized, where
//! puppet and the artifacts put them) its name, mode, owner, size and the SHA-256 of its
//! bytes, never its content; then the same inside the running keystone container's
//! `/etc/keystone` (podman, else docker), which is what keystone actually reads: kolla copies
//! the host tree in at each container start. It writes nothing, anywhere.
//!
//! The parser trusts nothing: a line it does not expect, a missing header or end marker, a
//! bad number or hash is a [`NodeError::Garbage`] for that node, never a panic.

use std::collections::BTreeMap;

use serde::Serialize;

use super::error::NodeError;
use crate::artifact::layout::dirs;

/// The key directories fingerprinted, relative to keystone's `/etc/keystone`.
pub(crate) const KEY_DIRS: [&str; 5] = [
    dirs::FERNET,
    dirs::CREDENTIAL,
    dirs::RECEIPT,
    dirs::JWS_PRIVATE,
    dirs::JWS_PUBLIC,
];

/// Name of the keystone container in TripleO (OSP 13 docker, 16+ podman).
pub(crate) const CONTAINER: &str = "keystone";
const HEADER: &str = "overcloud-keys-fingerprints\t1";
const END: &str = "end";

/// The POSIX sh scanner run on the host and inside the container: `$1` where, `$2` root.
const SCAN: &str = r#"where=$1; root=$2
[ -d "$root" ] || printf 'noroot\t%s\t%s\n' "$where" "$root"
for d in fernet-keys credential-keys fernet-receipts jws-keys/private jws-keys/public; do
  p="$root/$d"
  if [ ! -e "$p" ]; then printf 'nodir\t%s\t%s\n' "$where" "$d"; continue; fi
  printf 'dir\t%s\t%s\t%s\n' "$where" "$d" "$(stat -c '%a %u %g %s %F' "$p")"
  [ -d "$p" ] || continue
  for f in "$p"/* "$p"/.[!.]* "$p"/..?*; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    meta=$(stat -c '%a %u %g %s %F' "$f") || continue
    case "$meta" in
      *' regular file'|*' regular empty file') h=$(sha256sum < "$f" | cut -c1-64) || h=-;;
      *) h=-;;
    esac
    printf 'file\t%s\t%s\t%s\t%s\t%s\n' "$where" "$d" "${f##*/}" "$meta" "${h:--}"
  done
done
"#;

/// The whole remote script for a node whose keystone root is `root` (absolute).
pub(crate) fn fingerprint_script(root: &str) -> String {
    let quote = |s: &str| {
        shlex::try_quote(s)
            .map(|q| q.into_owned())
            .unwrap_or_default()
    };
    format!(
        r#"LC_ALL=C; export LC_ALL
scan={scan}
printf '%s\n' {header}
sh -c "$scan" sh host {root}
found=
for e in podman docker; do
  command -v "$e" >/dev/null 2>&1 || continue
  if $e ps --format '{{{{.Names}}}}' 2>/dev/null | grep -qx {container}; then
    printf 'container\t%s\t%s\n' "$e" {container}
    $e exec -u root {container} sh -c "$scan" sh container /etc/keystone
    rc=$?
    [ "$rc" -eq 0 ] || printf 'containerfailed\t%s\t%s\n' "$e" "$rc"
    found=1
    break
  fi
done
[ -n "$found" ] || printf 'nocontainer\n'
printf '%s\n' {end}
"#,
        scan = quote(SCAN),
        header = quote(HEADER),
        root = quote(root),
        container = CONTAINER,
        end = END,
    )
}

/// One file of a key directory, as the node reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileView {
    /// Permission bits.
    pub mode: u32,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// `regular file`, `directory`, `symbolic link`...
    pub kind: String,
    /// SHA-256 of the file's bytes (regular files only).
    pub sha256: Option<String>,
}

impl FileView {
    /// A regular file (empty or not).
    pub(crate) fn is_regular(&self) -> bool {
        self.kind.starts_with("regular")
    }
}

/// One key directory on a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirView {
    /// The directory itself (mode, owner, kind).
    pub meta: FileView,
    /// Its entries by name.
    pub files: BTreeMap<String, FileView>,
}

/// The key directories of one place (the host tree or the container), by name; absent
/// directories are not in the map.
pub type Tree = BTreeMap<String, DirView>;

/// What the remote command found on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeView {
    /// The host's keystone root (puppet-generated).
    pub host: Tree,
    /// The running keystone container's `/etc/keystone`, when one runs.
    pub container: Option<Tree>,
    /// `podman` or `docker`, when a keystone container was found.
    pub engine: Option<String>,
    /// The places (`host`, `container`) whose keystone root itself does not exist, with
    /// that root's path.
    pub roots_missing: BTreeMap<String, String>,
}

/// Parses the remote command's output (`node` names the node in errors).
pub fn parse(node: &str, output: &[u8]) -> Result<NodeView, NodeError> {
    let garbage = |message: String| NodeError::Garbage {
        node: node.to_string(),
        message,
    };
    let text = std::str::from_utf8(output).map_err(|_| garbage("not UTF-8 text".into()))?;
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, line)) if line == HEADER => {}
        other => {
            return Err(garbage(format!(
                "expected the header line, got {:?}",
                other.map(|(_, l)| clip(l)).unwrap_or_default()
            )));
        }
    }
    let mut view = NodeView {
        host: Tree::new(),
        container: None,
        engine: None,
        roots_missing: BTreeMap::new(),
    };
    let mut ended = false;
    for (no, line) in lines {
        if ended {
            return Err(garbage(format!(
                "line {}: text after the end marker",
                no + 1
            )));
        }
        if let ["containerfailed", engine, code] = line.split('\t').collect::<Vec<_>>()[..] {
            // The container runs but could not be read: its view is unknown, not empty.
            return Err(NodeError::Remote {
                node: node.to_string(),
                message: format!(
                    "the running {CONTAINER} container could not be read: `{} exec` exited {}",
                    clip(engine),
                    clip(code)
                ),
            });
        }
        parse_line(line, &mut view, &mut ended)
            .map_err(|why| garbage(format!("line {}: {why}: {:?}", no + 1, clip(line))))?;
    }
    if !ended {
        return Err(garbage("the output stops before its end marker".into()));
    }
    Ok(view)
}

fn parse_line(line: &str, view: &mut NodeView, ended: &mut bool) -> Result<(), String> {
    let fields: Vec<&str> = line.split('\t').collect();
    match fields.as_slice() {
        ["noroot", place, root] if root.starts_with('/') => {
            tree(view, place)?;
            view.roots_missing
                .insert(place.to_string(), root.to_string());
            Ok(())
        }
        ["nodir", place, dir] => tree(view, place)
            .map(|_| known_dir(dir))
            .and_then(|r| r.map(|_| ())),
        ["dir", place, dir, meta] => {
            let dir = known_dir(dir)?;
            let meta = parse_meta(meta, None)?;
            tree(view, place)?.insert(
                dir.into(),
                DirView {
                    meta,
                    files: BTreeMap::new(),
                },
            );
            Ok(())
        }
        ["file", place, dir, name, meta, hash] => {
            let dir = known_dir(dir)?;
            if name.is_empty() || name.contains('/') {
                return Err("bad file name".into());
            }
            let file = parse_meta(meta, Some(hash))?;
            let entry = tree(view, place)?
                .get_mut(dir)
                .ok_or("a file before its directory")?;
            entry.files.insert(name.to_string(), file);
            Ok(())
        }
        ["container", engine, _name] if matches!(*engine, "podman" | "docker") => {
            view.engine = Some(engine.to_string());
            view.container = Some(Tree::new());
            Ok(())
        }
        ["nocontainer"] => Ok(()),
        [marker] if *marker == END => {
            *ended = true;
            Ok(())
        }
        _ => Err("unexpected line".into()),
    }
}

fn tree<'a>(view: &'a mut NodeView, place: &str) -> Result<&'a mut Tree, String> {
    match place {
        "host" => Ok(&mut view.host),
        "container" => view
            .container
            .as_mut()
            .ok_or_else(|| "container line before the container".into()),
        _ => Err("unknown place".into()),
    }
}

fn known_dir(dir: &str) -> Result<&'static str, String> {
    KEY_DIRS
        .iter()
        .find(|d| **d == dir)
        .copied()
        .ok_or_else(|| "unknown directory".into())
}

/// `stat -c '%a %u %g %s %F'` and an optional hash field.
fn parse_meta(meta: &str, hash: Option<&str>) -> Result<FileView, String> {
    let mut parts = meta.splitn(5, ' ');
    let mut next = || parts.next().ok_or_else(|| "short stat line".to_string());
    let mode = u32::from_str_radix(next()?, 8).map_err(|_| "bad mode")?;
    let uid = next()?.parse().map_err(|_| "bad uid")?;
    let gid = next()?.parse().map_err(|_| "bad gid")?;
    let size = next()?.parse().map_err(|_| "bad size")?;
    let kind = next()?.to_string();
    let sha256 = match hash {
        None | Some("-") => None,
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(h.to_ascii_lowercase())
        }
        Some(_) => return Err("bad sha256".into()),
    };
    if mode > 0o7777 {
        return Err("bad mode".into());
    }
    Ok(FileView {
        mode,
        uid,
        gid,
        size,
        kind,
        sha256,
    })
}

fn clip(line: &str) -> String {
    line.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn sample() -> String {
        format!(
            "{HEADER}\ndir\thost\tfernet-keys\t700 42425 42425 4096 directory\n\
             file\thost\tfernet-keys\t0\t600 42425 42425 44 regular file\t{H}\n\
             nodir\thost\tcredential-keys\n\
             container\tpodman\tkeystone\n\
             dir\tcontainer\tfernet-keys\t700 42425 42425 4096 directory\n\
             file\tcontainer\tfernet-keys\t0\t600 42425 42425 44 regular file\t{H}\n\
             end\n"
        )
    }

    #[test]
    fn parses_host_and_container_trees() {
        let view = parse("n", sample().as_bytes()).unwrap();
        let f = &view.host["fernet-keys"].files["0"];
        assert_eq!((f.mode, f.uid, f.size), (0o600, 42425, 44));
        assert_eq!(f.sha256.as_deref(), Some(H));
        assert!(!view.host.contains_key("credential-keys"));
        assert_eq!(view.engine.as_deref(), Some("podman"));
        assert_eq!(view.container.unwrap()["fernet-keys"].files.len(), 1);
    }

    #[test]
    fn garbage_is_a_node_error_never_a_panic() {
        let good = sample();
        let cases = [
            String::new(),
            "Welcome to the node!\n".into(),
            good.replace("end\n", ""),
            good.replace("600 42425", "6x0 42425"),
            good.replace(H, "zz"),
            good.replace("fernet-keys\t0", "fernet-keys\ta/b"),
            good.replace("dir\thost", "dir\tmoon"),
            format!("{good}trailing\n"),
            good.replace("dir\tcontainer", "dir\tcontainer\textra"),
        ];
        for case in &cases {
            let err = parse("ctl-0", case.as_bytes()).unwrap_err();
            assert!(matches!(err, NodeError::Garbage { .. }), "{case:?}: {err}");
            assert!(err.to_string().contains("ctl-0"));
        }
        assert!(parse("n", &[0xff, 0xfe]).is_err());
    }

    #[test]
    fn a_missing_root_and_an_unreadable_container_are_told_apart() {
        let text = format!(
            "{HEADER}\nnoroot\thost\t/var/lib/x\nnodir\thost\tfernet-keys\nnocontainer\nend\n"
        );
        let view = parse("n", text.as_bytes()).unwrap();
        assert_eq!(view.roots_missing["host"], "/var/lib/x");
        assert!(parse("n", text.replace("/var/lib/x", "x").as_bytes()).is_err());
        let failed = sample().replace(
            "dir\tcontainer\tfernet-keys\t700 42425 42425 4096 directory\n\
             file\tcontainer\tfernet-keys\t0\t600 42425 42425 44 regular file\t",
            "containerfailed\tpodman\t125\n",
        );
        let failed = failed.replace(&format!("{H}\nend"), "end");
        let err = parse("ctl-2", failed.as_bytes()).unwrap_err();
        assert!(matches!(err, NodeError::Remote { .. }), "{err}");
        assert!(err.to_string().contains("ctl-2"), "{err}");
        assert!(err.to_string().contains("podman exec` exited 125"), "{err}");
    }

    /// The fingerprint script run by this machine's `sh` on `root`, parsed.
    fn run_here(root: &std::path::Path) -> NodeView {
        let script = fingerprint_script(&root.display().to_string());
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        parse("local", &out.stdout).unwrap()
    }

    #[test]
    fn the_script_reports_a_missing_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("absent");
        let view = run_here(&root);
        assert_eq!(view.roots_missing["host"], root.display().to_string());
        assert!(view.host.is_empty());
    }

    #[test]
    fn the_script_runs_here_on_a_local_tree() {
        let dir = tempfile::tempdir().unwrap();
        let fernet = dir.path().join("fernet-keys");
        std::fs::create_dir(&fernet).unwrap();
        std::fs::write(fernet.join("0"), b"").unwrap();
        std::fs::write(fernet.join("1"), b"x").unwrap();
        std::fs::create_dir(fernet.join("sub")).unwrap();
        let view = run_here(dir.path());
        let files = &view.host["fernet-keys"].files;
        assert_eq!(files["0"].sha256.as_deref(), Some(H));
        assert_eq!(files["1"].size, 1);
        assert_eq!(files["sub"].kind, "directory");
        assert_eq!(files["sub"].sha256, None);
        assert!(!view.host.contains_key("credential-keys"));
    }
}
