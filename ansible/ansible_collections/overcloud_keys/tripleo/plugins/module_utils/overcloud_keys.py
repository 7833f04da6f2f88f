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


def run_json(module, argv, report_codes=()):
    """Runs ``argv + ['-f', 'json']``; returns (report, rc, stderr) or fails the module.

    A non-zero exit fails the module with the tool's error line as ``msg`` and its hint line
    as ``hint``; ``rc``, ``stderr`` and (when the tool printed one) ``report`` are returned
    alongside. Exit codes in ``report_codes`` are returned to the caller instead, when the
    tool printed a JSON report with them (``verify`` and ``rollout`` report drift, refusals
    and failed nodes that way, with no ``error:`` line); the caller decides what fails.
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
    if rc != 0 and not (rc in report_codes and isinstance(report, dict)):
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


def node_argument_spec():
    """The options of the commands that reach the keystone nodes (``verify``, ``rollout``)."""
    return dict(
        config=dict(type="path"),
        stack=dict(type="str"),
        workdir=dict(type="path"),
        layout=dict(type="str", choices=["containerized", "baremetal"]),
        inventory=dict(type="path"),
        role=dict(type="list", elements="str"),
        forks=dict(type="int"),
        timeout=dict(type="int"),
    )


def node_arguments(params):
    """The command line flags of the options of :func:`node_argument_spec` that are set."""
    argv = []
    for option, flag in (("config", "--config"), ("stack", "--stack"),
                         ("workdir", "--workdir"), ("layout", "--layout"),
                         ("inventory", "--inventory")):
        if params.get(option) is not None:
            argv.extend([flag, params[option]])
    for group in params.get("role") or []:
        argv.extend(["--role", group])
    for option, flag in (("forks", "--forks"), ("timeout", "--timeout")):
        if params.get(option) is not None:
            argv.extend([flag, str(params[option])])
    return argv


def finding_line(finding):
    """One node finding as the tool's text report prints it: code, where, message, fix."""
    where = [finding.get("node") or "", finding.get("place") or ""]
    directory, key = finding.get("dir"), finding.get("key")
    if directory and key:
        where.append("%s/%s" % (directory, key))
    elif directory:
        where.append(directory)
    where = " ".join(w for w in where if w)
    line = "%s %s" % (finding.get("code"), where) if where else str(finding.get("code"))
    return "%s: %s (fix: %s)" % (line, finding.get("message"), finding.get("fix"))


def verify_problem(verify):
    """(msg, hint) summing up a verify report that is not clean, from the tool's findings."""
    findings = verify.get("findings") or []
    lines = [finding_line(f) for f in findings]
    if not lines:
        lines = ["%s: %s" % (n.get("node"), n.get("error") or n.get("status"))
                 for n in verify.get("nodes") or [] if n.get("status") != "match"]
    msg = "%d finding(s) on the keystone nodes: %s" % (len(findings), "; ".join(lines))
    fixes = []
    for finding in findings:
        if finding.get("fix") and finding["fix"] not in fixes:
            fixes.append(finding["fix"])
    return msg, "; ".join(fixes) if fixes else None


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
