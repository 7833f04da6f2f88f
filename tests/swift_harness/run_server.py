"""Run one Swift server in the foreground, logging to stderr (test harness only).

    python -I run_server.py account|container|object|proxy CONF

Started by swift_aio.py. It is the real ``swift-<kind>-server`` entry point with two additions:
the process dies with its parent (PR_SET_PDEATHSIG), so a killed harness leaves no server
behind; and ``SWIFT_HARNESS_EXTRA_PATH`` is appended (never prepended) to ``sys.path``, so the
Keystone proxy can import keystonemiddleware from the keystone venv while every package Swift
itself needs still comes from the swift venv. This directory is appended too, for the
in-process cache filter (``harness_cache``); ``-I`` leaves it off ``sys.path``.
"""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:
        sys.exit("parent already gone")


def main():
    kind, conf = sys.argv[1], sys.argv[2]
    die_with_parent()
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))
    extra = os.environ.get("SWIFT_HARNESS_EXTRA_PATH")
    if extra:
        sys.path.append(extra)
    mains = {
        "account": "swift.account.server",
        "container": "swift.container.server",
        "object": "swift.obj.server",
        "proxy": "swift.proxy.server",
    }
    module = __import__(mains[kind], fromlist=["main"])
    # The servers parse sys.argv themselves; -v logs to the console (stderr), which the
    # launcher sends to <root>/log/<name>.log (there is no syslog here).
    sys.argv = ["swift-%s-server" % kind, conf, "-v"]
    sys.exit(module.main())


if __name__ == "__main__":
    main()
