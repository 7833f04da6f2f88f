//! Running a fixed script on a node through the system OpenSSH client, so known_hosts,
//! ProxyJump, agents and ControlMaster work as the operator configured them; never a
//! home-made SSH stack, and never a weakened host key check.
//!
//! The script travels on stdin to `sh -s` (as root: `sudo -n sh -s` when the inventory's
//! user is not root, as Ansible's become does), so nothing of it shows in the node's process
//! list. `BatchMode=yes` makes a missing key or an unknown host key fail at once instead of
//! prompting; the whole exchange is bounded by a timeout, and the output by a size cap.
//!
//! Connection sharing: like Ansible's default (`ControlMaster=auto`, `ControlPersist=60s`),
//! the first command to a node leaves a master connection that the next ones (rollout's
//! push and confirm, the next verify) reuse without a new key exchange, for [`Multiplex`]'s
//! seconds. Its sockets live in a private directory (0700, ours, never a symlink); a node
//! whose inventory already sets `ControlMaster`/`ControlPath`/`ControlPersist` keeps the
//! operator's choice, and a socket path too long for a Unix socket turns sharing off.

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::error::NodeError;
use super::inventory::Node;

/// Largest output read from one node (a key repository's fingerprints are a few KB).
const MAX_OUTPUT: u64 = 8 << 20;
/// How much of ssh's stderr is kept for the error message.
const STDERR_TAIL: usize = 2048;

/// How to run ssh.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// `ConnectTimeout` in seconds.
    pub connect_timeout: u64,
    /// The whole exchange with one node (connect, run, read), after which ssh is killed.
    pub timeout: Duration,
    /// The ssh client (default `ssh` from PATH).
    pub program: String,
    /// Share one connection per node between commands; `None`: a new connection each time.
    pub multiplex: Option<Multiplex>,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            connect_timeout: 10,
            timeout: Duration::from_secs(60),
            program: "ssh".into(),
            multiplex: None,
        }
    }
}

/// OpenSSH connection sharing (`ControlMaster=auto`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multiplex {
    /// The private directory of the control sockets (see [`control_dir`]).
    pub dir: PathBuf,
    /// Seconds an idle master connection stays up (`ControlPersist`).
    pub persist: u64,
}

/// Longest control socket path: `sun_path` is 108 bytes, and ssh adds a 17-byte suffix to
/// the path while it sets the socket up.
const MAX_CONTROL_PATH: usize = 108 - 1 - 17;

/// `base` made (0700) or checked as a private directory for control sockets: a directory
/// (not a symlink) owned by the current user and closed to others. `None` if it is not:
/// sharing is then off rather than trusting a socket someone else could plant.
pub fn control_dir(base: &Path) -> Option<PathBuf> {
    if !base.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(base)
            .ok()?;
    }
    let meta = std::fs::symlink_metadata(base).ok()?;
    let private =
        meta.is_dir() && meta.uid() == crate::owner::current_uid() && meta.mode() & 0o077 == 0;
    private.then(|| base.to_path_buf())
}

/// The `-o` options sharing `node`'s connection, unless the inventory chose for itself or
/// the socket path would be too long.
fn multiplex_args(node: &Node, host: &str, multiplex: &Multiplex) -> Vec<String> {
    let chosen = node.common_args.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        a.contains("controlmaster") || a.contains("controlpath") || a.contains("controlpersist")
    });
    if chosen || multiplex.persist == 0 {
        return vec![];
    }
    let identity = format!(
        "{}@{host}:{}\0{}\0{}",
        node.user.as_deref().unwrap_or(""),
        node.port.unwrap_or(22),
        node.key_file
            .as_deref()
            .map(|k| k.display().to_string())
            .unwrap_or_default(),
        node.common_args.join("\0")
    );
    let name = &crate::encoding::sha256_hex(identity.as_bytes())[..16];
    let path = multiplex.dir.join(name);
    let Some(path) = path.to_str().filter(|p| p.len() <= MAX_CONTROL_PATH) else {
        return vec![];
    };
    vec![
        "-o".into(),
        "ControlMaster=auto".into(),
        "-o".into(),
        format!("ControlPersist={}s", multiplex.persist),
        "-o".into(),
        format!("ControlPath={path}"),
    ]
}

/// The ssh command line for `node` (without the script, which goes to stdin).
pub fn command(node: &Node, opts: &SshOptions) -> Result<Command, NodeError> {
    if let Some(problem) = &node.problem {
        return Err(NodeError::Remote {
            node: node.name.clone(),
            message: problem.clone(),
        });
    }
    let host = node.host.as_deref().unwrap_or(&node.name);
    let mut cmd = Command::new(&opts.program);
    cmd.args(["-o", "BatchMode=yes", "-o"])
        .arg(format!("ConnectTimeout={}", opts.connect_timeout.max(1)));
    if let Some(port) = node.port {
        cmd.arg("-p").arg(port.to_string());
    }
    if let Some(key) = &node.key_file {
        cmd.arg("-i").arg(key);
    }
    if let Some(user) = &node.user {
        cmd.arg("-l").arg(user);
    }
    cmd.args(&node.common_args);
    if let Some(multiplex) = &opts.multiplex {
        cmd.args(multiplex_args(node, host, multiplex));
    }
    cmd.arg("--").arg(host);
    cmd.arg(if node.needs_sudo() {
        "sudo -n sh -s"
    } else {
        "sh -s"
    });
    Ok(cmd)
}

/// Runs `script` on `node` and returns its stdout; a non-zero exit, a timeout or an
/// oversized answer is a [`NodeError::Remote`] naming the node.
pub(crate) fn run_script(
    node: &Node,
    opts: &SshOptions,
    script: &[u8],
) -> Result<Vec<u8>, NodeError> {
    let remote = |message: String| NodeError::Remote {
        node: node.name.clone(),
        message,
    };
    let mut child = command(node, opts)?
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| remote(format!("cannot run {}: {e}", opts.program)))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let script = script.to_vec();
    let writer = std::thread::spawn(move || {
        // A node that hangs up early makes this fail; its exit status tells why.
        let _ = stdin.write_all(&script);
    });
    let stdout = reader(child.stdout.take().expect("piped stdout"));
    let stderr = reader(child.stderr.take().expect("piped stderr"));
    let status = wait_until(&mut child, opts.timeout);
    let _ = writer.join();
    let out = stdout.join().unwrap_or_default();
    let err = stderr.join().unwrap_or_default();
    let Some(status) = status else {
        return Err(remote(format!(
            "no answer within {} s (--timeout); ssh was stopped",
            opts.timeout.as_secs()
        )));
    };
    if out.len() as u64 >= MAX_OUTPUT {
        return Err(remote(format!("answered more than {MAX_OUTPUT} bytes")));
    }
    if !status.success() {
        let code = status.code().map_or("a signal".into(), |c| c.to_string());
        let why = if status.code() == Some(255) {
            "ssh failed"
        } else {
            "the remote command failed"
        };
        return Err(remote(format!("{why} (exit {code}): {}", tail(&err))));
    }
    Ok(out)
}

fn reader<R: Read + Send + 'static>(pipe: R) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.take(MAX_OUTPUT).read_to_end(&mut buf);
        buf
    })
}

/// Waits for `child` at most `timeout`; kills it and returns `None` past that.
fn wait_until(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// The last non-empty lines of ssh's stderr, trimmed to a readable size.
fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    if text.is_empty() {
        return "no message".into();
    }
    let start = text.len().saturating_sub(STDERR_TAIL);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    text[start..]
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Runs `job` for every node, at most `forks` at a time (std threads), results in node order.
pub(crate) fn fan_out<T, F>(nodes: &[Node], forks: usize, job: F) -> Vec<T>
where
    T: Send,
    F: Fn(&Node) -> T + Sync,
{
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<T>> = (0..nodes.len()).map(|_| None).collect();
    let slots: Vec<std::sync::Mutex<&mut Option<T>>> =
        results.iter_mut().map(std::sync::Mutex::new).collect();
    std::thread::scope(|scope| {
        for _ in 0..forks.clamp(1, nodes.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(node) = nodes.get(i) else { break };
                    let result = job(node);
                    **slots[i].lock().expect("slot") = Some(result);
                }
            });
        }
    });
    drop(slots);
    results
        .into_iter()
        .map(|r| r.expect("every node ran"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Node {
        Node {
            name: "ctl-0".into(),
            host: Some("192.0.2.1".into()),
            port: Some(2222),
            user: Some("tripleo-admin".into()),
            key_file: Some("/k".into()),
            common_args: vec!["-o".into(), "ProxyJump=bastion".into()],
            problem: None,
        }
    }

    #[test]
    fn command_line_is_batch_mode_with_the_inventory_settings() {
        let cmd = command(&node(), &SshOptions::default()).unwrap();
        let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into()).collect();
        assert_eq!(
            args,
            [
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=10",
                "-p",
                "2222",
                "-i",
                "/k",
                "-l",
                "tripleo-admin",
                "-o",
                "ProxyJump=bastion",
                "--",
                "192.0.2.1",
                "sudo -n sh -s"
            ]
        );
        let mut root = node();
        root.user = Some("root".into());
        let cmd = command(&root, &SshOptions::default()).unwrap();
        assert_eq!(cmd.get_args().last().unwrap(), "sh -s");
    }

    #[test]
    fn connection_sharing_unless_the_inventory_chose() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("cm");
        let private = control_dir(&base).unwrap();
        let opts = SshOptions {
            multiplex: Some(Multiplex {
                dir: private.clone(),
                persist: 60,
            }),
            ..SshOptions::default()
        };
        let args = |n: &Node| -> Vec<String> {
            command(n, &opts)
                .unwrap()
                .get_args()
                .map(|a| a.to_string_lossy().into())
                .collect()
        };
        let shared = args(&node());
        let at = shared
            .iter()
            .position(|a| a == "ControlMaster=auto")
            .unwrap();
        assert_eq!(shared[at + 2], "ControlPersist=60s");
        assert!(shared[at + 4].starts_with(&format!("ControlPath={}/", private.display())));
        // After the inventory's own options (ssh takes the first value given).
        assert!(
            at > shared
                .iter()
                .position(|a| a == "ProxyJump=bastion")
                .unwrap()
        );
        let mut other = node();
        other.port = Some(2223);
        assert_ne!(args(&other)[at + 4], shared[at + 4], "one socket per node");
        let mut own = node();
        own.common_args = vec!["-o".into(), "ControlMaster=no".into()];
        assert!(!args(&own).iter().any(|a| a.starts_with("ControlPath")));
        // Not private: no sharing.
        std::fs::set_permissions(&base, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        assert_eq!(control_dir(&base), None);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&private, &link).unwrap();
        assert_eq!(control_dir(&link), None);
    }

    #[test]
    fn a_node_with_a_problem_is_not_contacted() {
        let mut n = node();
        n.problem = Some("no ansible_host in the inventory".into());
        let err = command(&n, &SshOptions::default()).unwrap_err();
        assert!(err.to_string().contains("ctl-0: no ansible_host"), "{err}");
    }

    #[test]
    fn fan_out_keeps_order_and_bounds_parallelism() {
        let nodes: Vec<Node> = (0..7)
            .map(|i| Node {
                name: format!("n{i}"),
                ..node()
            })
            .collect();
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let names = fan_out(&nodes, 3, |n| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(20));
            running.fetch_sub(1, Ordering::SeqCst);
            n.name.clone()
        });
        assert_eq!(names, (0..7).map(|i| format!("n{i}")).collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= 3);
    }

    #[test]
    fn a_client_that_fails_is_a_node_error() {
        let opts = SshOptions {
            timeout: Duration::from_millis(300),
            program: "sleep".into(),
            ..SshOptions::default()
        };
        // `sleep` rejects ssh's flags at once: exercises the failure path without a network.
        let err = run_script(&node(), &opts, b"true\n").unwrap_err();
        assert!(err.to_string().starts_with("node ctl-0:"), "{err}");
    }
}
