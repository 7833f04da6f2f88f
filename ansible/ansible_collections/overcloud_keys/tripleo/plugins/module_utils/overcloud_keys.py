# -*- coding: utf-8 -*-
# Copyright: contributors to overcloud-keys
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), like overcloud-keys
"""Shared code of the overcloud_keys.tripleo modules.

Runs the ``overcloud-keys`` binary with ``-f json``, parses its report and turns its exit
codes into module failures carrying the tool's own ``error:`` and ``hint:`` lines:

* 0: success, the JSON report is on stdout;
* 1: findings (the report is on stdout, the reason on stderr);
* 2: usage error or bad input, nothing was changed;
* 3: a remote service (Swift, Keystone) was unreachable.

The tool never puts key material in its JSON reports (only paths, indices and hashes).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import tempfile

EXIT_MEANINGS = {
    1: "overcloud-keys reported findings",
    2: "usage error or bad input (nothing was changed)",
    3: "a remote service (Swift, Keystone) was unreachable or kept failing",
}


def binary_argument_spec():
    """The ``binary`` option every module of the collection has."""
    return dict(binary=dict(type="path"))


def find_binary(module):
    """The overcloud-keys executable: the ``binary`` option, else the one on PATH."""
    binary = module.params.get("binary")
    if not binary:
        return module.get_bin_path("overcloud-keys", required=True)
    if not os.path.isfile(binary):
        module.fail_json(msg="binary %s does not exist" % binary,
                         hint="install overcloud-keys or set binary to its path")
    if not os.access(binary, os.X_OK):
        module.fail_json(msg="binary %s is not executable" % binary,
                         hint="install overcloud-keys or set binary to its path")
    return binary


def _tool_lines(stderr):
    """The tool's ``error:`` and ``hint:`` lines (prefixes removed), or (None, None)."""
    error = hint = None
    for line in (stderr or "").splitlines():
        if error is None and line.startswith("error:"):
            error = line[len("error:"):].strip()
        elif hint is None and line.startswith("hint:"):
            hint = line[len("hint:"):].strip()
    return error, hint


def run_json(module, argv):
    """Runs ``argv + ['-f', 'json']``; returns (report, rc, stderr) or fails the module.

    A non-zero exit fails the module with the tool's error line as ``msg`` and its hint line
    as ``hint``; ``rc``, ``stderr`` and (when the tool printed one) ``report`` are returned
    alongside.
    """
    cmd = list(argv) + ["-f", "json"]
    # LC_ALL=C: stable messages; the tool's JSON is UTF-8 either way.
    rc, out, err = module.run_command(cmd, environ_update={"LC_ALL": "C", "LANG": "C"})
    report = None
    if out and out.strip():
        try:
            report = json.loads(out)
        except ValueError:
            report = None
    if rc != 0:
        error, hint = _tool_lines(err)
        if error is None:
            error = (err or "").strip().splitlines()[-1] if (err or "").strip() else \
                "overcloud-keys exited with %d: %s" % (rc, EXIT_MEANINGS.get(rc, "unknown exit code"))
        fail = dict(msg=error, rc=rc, cmd=cmd, stderr=err,
                    meaning=EXIT_MEANINGS.get(rc, "unknown exit code"))
        if hint is not None:
            fail["hint"] = hint
        if isinstance(report, dict):
            fail["report"] = report
        module.fail_json(**fail)
    if not isinstance(report, dict):
        module.fail_json(msg="overcloud-keys printed no JSON report", rc=rc, cmd=cmd,
                         stdout=out, stderr=err)
    return report, rc, err


def relay_warnings(module, report):
    """The report's warnings become Ansible warnings (shown by ansible-playbook)."""
    for warning in report.get("warnings") or []:
        module.warn(str(warning))


def _toml_string(value):
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append("\\u%04X" % code)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return _toml_string(str(value))


def toml_document(settings):
    """A TOML document of top-level keys (strings, ints, bools, lists of those)."""
    lines = ["# written by the overcloud_keys.tripleo collection; removed after the run"]
    for key, value in settings:
        lines.append("%s = %s" % (key, _toml_value(value)))
    return "\n".join(lines) + "\n"


class PrivateConfig(object):
    """A TOML config file in a private temporary directory (0700, file 0600), removed on exit."""

    def __init__(self, module, settings):
        self.module = module
        self.settings = settings
        self.dir = None
        self.path = None

    def __enter__(self):
        parent = getattr(self.module, "tmpdir", None)
        self.dir = tempfile.mkdtemp(prefix="overcloud-keys-", dir=parent)
        os.chmod(self.dir, 0o700)
        self.path = os.path.join(self.dir, "build.toml")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(toml_document(self.settings))
        return self.path

    def __exit__(self, *exc):
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False
