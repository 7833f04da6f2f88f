//! Real `sshd` daemons on 127.0.0.1, one per simulated keystone node, for the `verify` /
//! `adopt --from-node` tests. Nothing here fakes SSH: the binary under test runs the system
//! `ssh` client against these daemons with strict host key checking.
//!
//! Each node gets its own host key, an `authorized_keys` holding the test's client key, a
//! free port, and its own view of `/var/lib/config-data`: sshd starts inside a private mount
//! namespace (`unshare -m --propagation private`) where the node's directory is bind-mounted
//! on `/var/lib/config-data`, so the remote command reads the real absolute paths
//! (`/var/lib/config-data/puppet-generated/keystone/etc/keystone/...`). The host's own
//! `/var/lib/config-data` is never written (it is created empty when missing, as the mount
//! point). Needs root, `unshare` and openssh-server (installed with apt-get when missing).
#![allow(dead_code, clippy::disallowed_methods, clippy::disallowed_macros)]

use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where keystone's key directories live on a containerized node.
pub const KEYSTONE_ROOT: &str = "puppet-generated/keystone/etc/keystone";
/// The mount point every node's private tree is bound to.
pub const CONFIG_DATA: &str = "/var/lib/config-data";
/// Containerized keystone's uid/gid.
pub const KEYSTONE_ID: u32 = 42425;
const SSHD: &str = "/usr/sbin/sshd";

/// Why the real-sshd tests cannot run here, or `None` when they can (installing
/// openssh-server first when it is missing and we are root).
pub fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root (private mount namespaces, sshd)".into());
    }
    if !Path::new(SSHD).exists() {
        install_sshd();
    }
    if !Path::new(SSHD).exists() {
        return Some("openssh-server is not installed and apt-get could not install it".into());
    }
    for tool in ["unshare", "ssh", "ssh-keygen"] {
        if Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .stdout(Stdio::null())
            .status()
            .map(|s| !s.success())
            .unwrap_or(true)
        {
            return Some(format!("{tool} is not installed"));
        }
    }
    let probe = Command::new("unshare")
        .args(["-m", "--propagation", "private", "true"])
        .status();
    if !probe.map(|s| s.success()).unwrap_or(false) {
        return Some("unshare -m is not permitted here (no CAP_SYS_ADMIN)".into());
    }
    None
}

/// Skips (visibly) when the harness cannot run; under CI (`CI` set) that is a failure.
pub fn require(test: &str) -> bool {
    match unavailable() {
        None => true,
        Some(why) if std::env::var_os("CI").is_some() => {
            panic!("{test}: real sshd unavailable under CI: {why}")
        }
        Some(why) => {
            crate::cli_support::skip(test, &format!("real sshd unavailable: {why}"));
            false
        }
    }
}

/// `apt-get install openssh-server`, serialized across test processes with flock.
fn install_sshd() {
    let script = format!(
        "exec 9>/tmp/overcloud-keys-apt.lock; flock 9; [ -x {SSHD} ] && exit 0; \
         (apt-get install -y -q openssh-server || (apt-get update -q && apt-get install -y -q openssh-server)) >/tmp/overcloud-keys-apt.log 2>&1"
    );
    let _ = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The test's client side: its key pair and the known_hosts of its nodes.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<SshNode>,
}

/// One simulated keystone node: an sshd in its own mount namespace.
pub struct SshNode {
    pub name: String,
    pub port: u16,
    /// Bind-mounted on /var/lib/config-data inside the node's namespace.
    pub config_data: PathBuf,
    /// The node's directory (config-data, bin, container, host key, logs).
    pub home: PathBuf,
    child: Option<Child>,
    log: PathBuf,
}

impl Cluster {
    /// Starts `count` nodes named `ctl-0`, `ctl-1`, ...
    pub fn start(count: usize) -> Cluster {
        Self::start_with(count, |_| String::new())
    }

    /// Like [`Cluster::start`], with extra `sshd_config` lines per node name (e.g. a
    /// `ForceCommand` that makes one node answer garbage).
    pub fn start_with(count: usize, extra: impl Fn(&str) -> String) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("overcloud-keys-nodes-")
            .tempdir()
            .unwrap();
        fs::create_dir_all(CONFIG_DATA).expect("create the mount point /var/lib/config-data");
        fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        let client = dir.path().join("client_key");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", ""])
            .arg("-f")
            .arg(&client));
        let authorized = dir.path().join("authorized_keys");
        fs::copy(client.with_extension("pub"), &authorized).unwrap();
        let mut cluster = Cluster { dir, nodes: vec![] };
        let mut known = String::new();
        for i in 0..count {
            let name = format!("ctl-{i}");
            let node = cluster.start_node(&name, &authorized, &extra(&name));
            let pubkey =
                fs::read_to_string(node.config_data.parent().unwrap().join("host_key.pub"))
                    .unwrap();
            let pubkey: Vec<&str> = pubkey.split_whitespace().take(2).collect();
            known.push_str(&format!("[127.0.0.1]:{} {}\n", node.port, pubkey.join(" ")));
            cluster.nodes.push(node);
        }
        fs::write(cluster.known_hosts(), known).unwrap();
        for node in &mut cluster.nodes {
            node.wait_ready();
        }
        cluster
    }

    fn start_node(&self, name: &str, authorized: &Path, extra: &str) -> SshNode {
        let home = self.dir.path().join(name);
        let config_data = home.join("config-data");
        fs::create_dir_all(config_data.join(KEYSTONE_ROOT)).unwrap();
        let bin = home.join("bin");
        fs::create_dir_all(&bin).unwrap();
        let host_key = home.join("host_key");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", ""])
            .arg("-f")
            .arg(&host_key));
        let port = free_port();
        let config = home.join("sshd_config");
        // StrictModes no: the test's files sit under the world-writable /tmp, which sshd's
        // path check refuses; the keys themselves are 0600 as usual. SetEnv PATH: the node's
        // own bin directory first (fake podman, selinuxenabled, chcon), then the system's.
        fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\n\
                 PidFile none\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\nMaxStartups 100\nLogLevel ERROR\n\
                 SetEnv PATH={}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n{extra}",
                host_key.display(),
                authorized.display(),
                bin.display(),
            ),
        )
        .unwrap();
        let log = home.join("sshd.log");
        let script = format!(
            "mount --bind '{}' {CONFIG_DATA} && exec {SSHD} -D -e -f '{}'",
            config_data.display(),
            config.display()
        );
        let child = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("start sshd");
        SshNode {
            name: name.into(),
            port,
            config_data,
            home,
            child: Some(child),
            log,
        }
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    /// A tripleo-ansible-shaped inventory: role group `Controller` with the nodes (plus
    /// `extra` hosts as `(name, port)`, e.g. an unreachable one), service group `keystone`.
    pub fn inventory(&self, extra: &[(&str, u16)]) -> PathBuf {
        let mut hosts = String::new();
        for n in &self.nodes {
            hosts.push_str(&format!(
                "    {}: {{ansible_host: 127.0.0.1, ansible_port: {}}}\n",
                n.name, n.port
            ));
        }
        for (name, port) in extra {
            hosts.push_str(&format!(
                "    {name}: {{ansible_host: 127.0.0.1, ansible_port: {port}}}\n"
            ));
        }
        let text = format!(
            "Undercloud:\n  hosts:\n    undercloud: {{ansible_host: localhost}}\n\
             Controller:\n  hosts:\n{hosts}  vars:\n    ansible_ssh_user: root\n\
             \x20   ansible_ssh_private_key_file: {}\n\
             \x20   ansible_ssh_common_args: '-F /dev/null -o IdentitiesOnly=yes -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes'\n\
             keystone:\n  children:\n    Controller: {{}}\n",
            self.client_key().display(),
            self.known_hosts().display()
        );
        let path = self.dir.path().join("inventory.yaml");
        fs::write(&path, text).unwrap();
        path
    }
}

impl SshNode {
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "sshd of {} exited {status}: {}",
                    self.name,
                    fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("sshd of {} did not listen on {}", self.name, self.port);
    }

    /// A key directory of this node (as the node sees it under /var/lib/config-data).
    pub fn dir(&self, sub: &str) -> PathBuf {
        self.config_data.join(KEYSTONE_ROOT).join(sub)
    }

    /// Writes a key directory the way puppet / the tarball do: 0700 dir, files with `mode`,
    /// owner 42425.
    pub fn put(&self, sub: &str, files: &[(&str, &[u8])], mode: u32) {
        let dir = self.dir(sub);
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        chown(&dir);
        for (name, content) in files {
            self.put_file(sub, name, content, mode);
        }
    }

    /// One file, owner 42425.
    pub fn put_file(&self, sub: &str, name: &str, content: &[u8], mode: u32) {
        let path = self.dir(sub).join(name);
        let mut f = fs::File::create(&path).unwrap();
        f.write_all(content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        chown(&path);
    }

    /// Makes the node's keystone root read-only inside its mount namespace (a read-only bind
    /// mount over itself, through `nsenter` into sshd's namespace): the node still reads
    /// (verify passes) but nothing can be created there (a rollout's push fails).
    pub fn make_keystone_root_read_only(&self) {
        let pid = self.child.as_ref().expect("sshd runs").id();
        let root = format!("{CONFIG_DATA}/{KEYSTONE_ROOT}");
        run(Command::new("nsenter")
            .arg("-t")
            .arg(pid.to_string())
            .args(["-m", "sh", "-c"])
            .arg(format!(
                "mount --bind '{root}' '{root}' && mount -o remount,bind,ro '{root}'"
            )));
    }

    /// The directory first on the PATH of the node's ssh sessions.
    pub fn bin_dir(&self) -> PathBuf {
        self.home.join("bin")
    }

    /// Puts an executable `name` holding `script` first on the node's PATH.
    pub fn install_tool(&self, name: &str, script: &str) {
        let path = self.bin_dir().join(name);
        fs::write(&path, script).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// The simulated keystone container's `/etc/keystone` (see [`SshNode::fake_container`]).
    pub fn container_dir(&self, sub: &str) -> PathBuf {
        self.home.join("container/etc/keystone").join(sub)
    }

    /// A fake `podman` on the node's PATH with one running container, `keystone`, whose
    /// `/etc/keystone` is [`SshNode::container_dir`]: `ps` lists it, `exec` runs the command
    /// on the node with `/etc/keystone` paths mapped there, `cp` copies with `cp -a` (the
    /// semantics of `podman cp` for a directory to a new path). Every call is logged
    /// (subcommand and container-side paths only) to `podman.log` in the node's home.
    /// `exec_answer`, when given, replaces what `exec` prints (and its exit status).
    pub fn fake_container(&self, exec_answer: Option<(&str, i32)>) {
        fs::create_dir_all(self.container_dir("")).unwrap();
        let exec = match exec_answer {
            Some((text, code)) => format!("printf '%s' '{text}'; exit {code}"),
            None => "exec \"$@\"".into(),
        };
        let script = format!(
            r#"#!/bin/sh
# fake podman (tests): one running container, keystone, /etc/keystone = $C
C='{c}'
log='{log}'
map() {{
  case "$1" in
    /etc/keystone|/etc/keystone/*) printf '%s' "$C${{1#/etc/keystone}}" ;;
    keystone:/etc/keystone*) p=${{1#keystone:}}; printf '%s' "$C${{p#/etc/keystone}}" ;;
    *) printf '%s' "$1" ;;
  esac
}}
cmd=$1; shift
case "$cmd" in
  ps) printf 'keystone
' ;;
  exec)
    [ "$1" = -u ] && shift 2
    [ "$1" = keystone ] || {{ echo "Error: no container with name $1" >&2; exit 125; }}
    shift
    for a; do shift; set -- "$@" "$(map "$a")"; done
    printf 'exec %s
' "$1" >> "$log"
    {exec} ;;
  cp) printf 'cp %s
' "$2" >> "$log"; exec cp -a "$(map "$1")" "$(map "$2")" ;;
  *) echo "fake podman: $cmd is not simulated" >&2; exit 125 ;;
esac
"#,
            c = self.container_dir("").display(),
            log = self.home.join("podman.log").display(),
        );
        self.install_tool("podman", &script);
    }

    /// Writes a key directory inside the fake container, as kolla's copy leaves it.
    pub fn put_in_container(&self, sub: &str, files: &[(&str, &[u8])], mode: u32) {
        let dir = self.container_dir(sub);
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        chown(&dir);
        for (name, content) in files {
            let path = dir.join(name);
            fs::write(&path, content).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            chown(&path);
        }
    }

    /// Stops this node's sshd (it becomes unreachable).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn chown(path: &Path) {
    std::os::unix::fs::chown(path, Some(KEYSTONE_ID), Some(KEYSTONE_ID)).unwrap();
}

impl Drop for SshNode {
    fn drop(&mut self) {
        self.stop();
    }
}
