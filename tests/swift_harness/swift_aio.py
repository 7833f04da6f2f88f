"""A real, all-in-one Swift on 127.0.0.1 for tests and benchmarks (test harness only).

    python -I swift_aio.py --root DIR --ring-cache DIR [--accounts N] [--token-life S] [--cleanup]
                           [--keystone-url URL --keystone-password PW --keystone-site DIR]

Starts swift's own account, container and object servers and a tempauth proxy (plus, with
--keystone-url, a second proxy whose pipeline has authtoken + keystoneauth instead of
tempauth), each its own process (run_server.py) on a free 127.0.0.1 port, with everything
(configs, rings, device, logs) under --root. When the cluster answers (each proxy's /info, and
an object PUT/GET/DELETE round trip through the tempauth proxy), prints one JSON line
describing it on stdout, then runs until stdin reaches EOF (the harness dropped its end, or
died) or SIGTERM/SIGINT, and stops the servers. The servers also die with this process
(PR_SET_PDEATHSIG in run_server.py).

Rings: 1 replica, one device. swift-ring-builder runs once per swift version (its rings are
cached under --ring-cache, locked for concurrent builders); each cluster copies them with the
device's port rewritten, so a start costs only the servers' imports.

Tempauth users: `t<i>:tester` / key `testing` (group .admin, account AUTH_t<i>) for i below
--accounts, so tests sharing a cluster each take their own account; `probe:probe` is the
harness's own.
"""

import argparse
import fcntl
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
RING_NAMES = ("account", "container", "object")
START_TIMEOUT = 90.0


def swift_version():
    import swift

    return swift.__version__


def cached_rings(cache_dir):
    """Directory holding account/container/object .ring.gz built by swift-ring-builder."""
    version = swift_version()
    target = os.path.join(cache_dir, "swift-%s-p6-r1" % version)
    if os.path.exists(os.path.join(target, ".complete")):
        return target
    os.makedirs(cache_dir, exist_ok=True)
    with open(os.path.join(cache_dir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(target, ".complete")):
            return target
        shutil.rmtree(target, ignore_errors=True)
        work = target + ".tmp"
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        builder_bin = os.path.join(os.path.dirname(sys.executable), "swift-ring-builder")
        for name in RING_NAMES:
            builder = os.path.join(work, name + ".builder")
            # part power 6 (64 partitions), 1 replica, min_part_hours 0; the port is a
            # placeholder rewritten per cluster.
            for args in (
                ["create", "6", "1", "0"],
                ["add", "r1z1-127.0.0.1:6000/d1", "100"],
                ["rebalance"],
            ):
                proc = subprocess.run(
                    [sys.executable, "-I", builder_bin, builder] + args,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
                if proc.returncode != 0:
                    sys.exit(
                        "swift-ring-builder %s %s failed (%d):\n%s"
                        % (name, " ".join(args), proc.returncode, proc.stdout.decode())
                    )
        open(os.path.join(work, ".complete"), "w").close()
        os.rename(work, target)
    return target


def install_rings(cache, etc, ports):
    from swift.common.ring import RingData

    for name in RING_NAMES:
        ring = RingData.load(os.path.join(cache, name + ".ring.gz"))
        for dev in ring.devs:
            if dev is not None:
                dev["port"] = ports[name]
                dev["replication_port"] = ports[name]
        ring.save(os.path.join(etc, name + ".ring.gz"))


def free_ports(count):
    """Ports the kernel picked; all held until every one is chosen, so they are distinct."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def common_conf(port, etc, srv, name):
    return (
        "[DEFAULT]\n"
        "bind_ip = 127.0.0.1\n"
        "bind_port = %d\n"
        "workers = 0\n"
        "user = %s\n"
        "swift_dir = %s\n"
        "devices = %s\n"
        "mount_check = false\n"
        "log_name = %s\n"
        "log_level = INFO\n"
        "eventlet_debug = false\n"
        % (port, pwd.getpwuid(os.getuid()).pw_name, etc, srv, name)
    )


def backend_conf(kind, port, etc, srv):
    egg = {"object": "object", "container": "container", "account": "account"}[kind]
    return common_conf(port, etc, srv, kind) + (
        "\n[pipeline:main]\npipeline = %s-server\n\n"
        "[app:%s-server]\nuse = egg:swift#%s\n\n"
        "[%s-replicator]\n[%s-updater]\n[%s-auditor]\n"
        % (kind, kind, egg, kind, kind, kind)
    )


PROXY_COMMON = """
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
# A backend that errored is retried at once (servers here restart or stall on purpose).
error_suppression_interval = 1
conn_timeout = 2
node_timeout = 60

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

# In-process stand-in for memcached (harness_cache.py): tokens and account/container info.
[filter:cache]
paste.filter_factory = harness_cache:filter_factory

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:tempurl]
use = egg:swift#tempurl
methods = GET HEAD PUT POST DELETE
allowed_digests = sha1 sha256 sha512

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo

[filter:versioned_writes]
use = egg:swift#versioned_writes
"""


def tempauth_proxy_conf(port, etc, srv, accounts, token_life):
    users = "".join(
        "user_t%d_tester = testing .admin\n" % i for i in range(accounts)
    )
    return (
        common_conf(port, etc, srv, "proxy")
        + "\n[pipeline:main]\n"
        "pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats "
        "tempurl tempauth copy slo dlo versioned_writes proxy-logging proxy-server\n"
        + PROXY_COMMON
        + "\n[filter:tempauth]\nuse = egg:swift#tempauth\n"
        + "token_life = %d\n" % token_life
        + "user_probe_probe = probe .admin\n"
        + users
    )


def keystone_proxy_conf(port, etc, srv, keystone_url, password):
    return (
        common_conf(port, etc, srv, "proxy-keystone")
        + "\n[pipeline:main]\n"
        "pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats "
        "tempurl authtoken keystoneauth copy slo dlo versioned_writes proxy-logging "
        "proxy-server\n"
        + PROXY_COMMON
        + "\n[filter:authtoken]\n"
        "paste.filter_factory = keystonemiddleware.auth_token:filter_factory\n"
        "www_authenticate_uri = %(ks)s\n"
        "auth_url = %(ks)s\n"
        "auth_type = password\n"
        "username = admin\n"
        "password = %(pw)s\n"
        "project_name = admin\n"
        "user_domain_id = default\n"
        "project_domain_id = default\n"
        # TempURL requests carry no token: let them through to tempurl's authorize.
        "delay_auth_decision = True\n"
        "\n[filter:keystoneauth]\n"
        "use = egg:swift#keystoneauth\n"
        "operator_roles = admin, member\n" % {"ks": keystone_url, "pw": password}
    )


SWIFT_CONF = """[swift-hash]
swift_hash_path_suffix = overcloud-keys-harness
swift_hash_path_prefix = overcloud-keys-harness

[storage-policy:0]
name = Policy-0
default = yes
"""


class Cluster(object):
    def __init__(self, args):
        self.args = args
        self.root = os.path.abspath(args.root)
        self.etc = os.path.join(self.root, "etc")
        self.srv = os.path.join(self.root, "srv")
        self.logs = os.path.join(self.root, "log")
        self.children = {}

    def write(self, name, text):
        path = os.path.join(self.etc, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def spawn(self, name, kind, conf, extra_path=None):
        env = dict(os.environ)
        env.pop("SWIFT_HARNESS_EXTRA_PATH", None)
        if extra_path:
            env["SWIFT_HARNESS_EXTRA_PATH"] = extra_path
        log = open(os.path.join(self.logs, name + ".log"), "ab")
        child = subprocess.Popen(
            [sys.executable, "-I", "-B", os.path.join(HERE, "run_server.py"), kind, conf],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        log.close()
        self.children[name] = child

    def log_tail(self, name, lines=40):
        try:
            with open(os.path.join(self.logs, name + ".log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def check_alive(self):
        for name, child in self.children.items():
            if child.poll() is not None:
                raise RuntimeError(
                    "%s exited (%s) while starting:\n%s"
                    % (name, child.returncode, self.log_tail(name))
                )

    def start(self):
        for d in (self.etc, os.path.join(self.srv, "d1"), self.logs):
            os.makedirs(d, exist_ok=True)
        names = ["account", "container", "object", "proxy"]
        if self.args.keystone_url:
            names.append("proxy-keystone")
        self.ports = dict(zip(names, free_ports(len(names))))
        rings = cached_rings(self.args.ring_cache)
        self.write("swift.conf", SWIFT_CONF)
        # The backend servers never read the rings: start them first, and rewrite the rings
        # (importing swift here takes ~0.6 s) while they import.
        for kind in ("account", "container", "object"):
            conf = self.write(
                kind + "-server.conf",
                backend_conf(kind, self.ports[kind], self.etc, self.srv),
            )
            self.spawn(kind, kind, conf)
        install_rings(rings, self.etc, self.ports)
        conf = self.write(
            "proxy-server.conf",
            tempauth_proxy_conf(
                self.ports["proxy"], self.etc, self.srv, self.args.accounts, self.args.token_life
            ),
        )
        self.spawn("proxy", "proxy", conf)
        if self.args.keystone_url:
            conf = self.write(
                "proxy-keystone.conf",
                keystone_proxy_conf(
                    self.ports["proxy-keystone"],
                    self.etc,
                    self.srv,
                    self.args.keystone_url,
                    self.args.keystone_password,
                ),
            )
            self.spawn("proxy-keystone", "proxy", conf, self.args.keystone_site)
        deadline = time.time() + START_TIMEOUT
        for name in names:
            self.wait_ready(name, deadline)
        self.probe(deadline)

    def url(self, name):
        return "http://127.0.0.1:%d" % self.ports[name]

    def wait_ready(self, name, deadline):
        while True:
            self.check_alive()
            try:
                if name.startswith("proxy"):
                    with urllib.request.urlopen(self.url(name) + "/info", timeout=5) as r:
                        if r.status == 200:
                            return
                else:
                    socket.create_connection(("127.0.0.1", self.ports[name]), 1).close()
                    return
            except (OSError, urllib.error.URLError):
                pass
            if time.time() > deadline:
                raise RuntimeError("%s not ready:\n%s" % (name, self.log_tail(name)))
            time.sleep(0.05)

    def probe(self, deadline):
        """An object round trip through the tempauth proxy: every server really works."""
        base = self.url("proxy")
        while True:
            try:
                req = urllib.request.Request(
                    base + "/auth/v1.0",
                    headers={"X-Auth-User": "probe:probe", "X-Auth-Key": "probe"},
                )
                with urllib.request.urlopen(req, timeout=10) as r:
                    token = r.headers["X-Auth-Token"]
                    storage = r.headers["X-Storage-Url"]
                break
            except (OSError, urllib.error.URLError):
                self.check_alive()
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        body = b"harness probe"
        for method, path, data in (
            ("PUT", "/probe", None),
            ("PUT", "/probe/object", body),
            ("GET", "/probe/object", None),
            ("DELETE", "/probe/object", None),
        ):
            req = urllib.request.Request(
                storage + path, data=data, method=method, headers={"X-Auth-Token": token}
            )
            if method == "PUT":
                req.add_header("Content-Length", str(len(data or b"")))
            with urllib.request.urlopen(req, timeout=30) as r:
                got = r.read()
                if method == "GET" and got != body:
                    raise RuntimeError("probe object came back as %r" % got)

    def info(self):
        info = {
            "pid": os.getpid(),
            "root": self.root,
            "version": swift_version(),
            "ports": self.ports,
            "proxy_url": self.url("proxy"),
            "auth_url": self.url("proxy") + "/auth/v1.0",
            "accounts": self.args.accounts,
            "logs": self.logs,
        }
        if self.args.keystone_url:
            info["keystone_proxy_url"] = self.url("proxy-keystone")
        return info

    def stop(self):
        for child in self.children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.time() + 3
        for child in self.children.values():
            try:
                child.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--ring-cache", required=True)
    parser.add_argument("--accounts", type=int, default=64)
    parser.add_argument("--token-life", type=int, default=86400, help="tempauth token_life")
    parser.add_argument("--keystone-url")
    parser.add_argument("--keystone-password")
    parser.add_argument("--keystone-site")
    parser.add_argument("--cleanup", action="store_true", help="remove --root on exit")
    args = parser.parse_args()

    cluster = Cluster(args)

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = False
    try:
        try:
            cluster.start()
        except Exception as exc:  # report, then stop what started
            sys.stderr.write("swift_aio: %s\n" % exc)
            return 1
        started = True
        sys.stdout.write(json.dumps(cluster.info()) + "\n")
        sys.stdout.flush()
        # Runs until the harness closes stdin (or dies), or a signal arrives.
        while sys.stdin.buffer.read(65536):
            pass
        return 0
    finally:
        cluster.stop()
        # A failed start leaves --root (and the logs saying why) to whoever reads them.
        if args.cleanup and started:
            shutil.rmtree(cluster.root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
