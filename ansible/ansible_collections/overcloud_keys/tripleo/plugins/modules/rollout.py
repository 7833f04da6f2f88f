#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to overcloud-keys
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), like overcloud-keys

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: rollout
short_description: Rotate the Fernet keys and push them to every keystone node, one at a time
version_added: "0.1.0"
description:
  - Runs C(overcloud-keys rollout) on the target host (the undercloud) and returns its report.
  - Verifies every keystone node first (as M(overcloud_keys.tripleo.verify)) and refuses on
    drift, then rotates the work directory's Fernet keys with the rotation guard of
    C(overcloud-keys fernet rotate), pushes the new repository to the nodes one at a time
    over ssh (staged, then swapped in with two renames; keystone needs no restart), confirms
    each node by its fingerprints and renders C(fernet.yaml) so the next deploy keeps the
    rotated keys. On a failure the nodes already done and the work directory are put back.
  - Every successful run rotates once, so the module is not idempotent by design. Run it on
    a schedule no shorter than the one C(overcloud-keys plan rotation) recommends (the
    rotation guard refuses rotations that would invalidate live tokens).
  - C(changed) comes from the tool's C(status) - C(rolled-out) and C(dry-run) (check mode, a
    rotation would happen) are changes. A refused rollout fails unchanged; a failed one fails,
    C(changed) only when a node could not be put back; one whose C(fernet.yaml) could not be
    rendered (C(render-failed)) fails as changed, because the nodes hold the new keys.
author:
  - overcloud-keys contributors (!UNKNOWN)
requirements:
  - the C(overcloud-keys) binary on the target host (on PATH, or O(binary))
  - ssh access from the target host to the keystone nodes (the inventory's users and keys)
notes:
  - Check mode runs C(overcloud-keys rollout --dry-run) - the nodes are verified and the
    rotation guard judged, nothing is written on the undercloud or the nodes.
  - The keys travel inside the ssh session's standard input, never on a command line; the
    returned report carries key indices, paths and node names only. No option carries a
    secret.
  - A failure returns the tool's C(error:) line (or the refusal, the failing node and step,
    or the drift findings) as C(msg), a C(hint) and the tool's exit code as C(rc).
attributes:
  check_mode:
    support: full
    description: Maps to C(--dry-run); nothing is written.
  diff_mode:
    support: none
    description: No diff is produced.
options:
  binary:
    description:
      - Path of the C(overcloud-keys) executable. Default, the one found on PATH.
    type: path
  config:
    description:
      - The TOML config file of the last C(build); its stack, work directory, layout and
        build settings apply when C(fernet.yaml) is rendered.
    type: path
  stack:
    description:
      - Heat stack name. The tool's default is C(overcloud).
    type: str
  workdir:
    description:
      - Work directory whose Fernet keys are rotated. The tool's default is
        C(~/overcloud-keys/<stack>).
    type: path
  layout:
    description:
      - Where keys live on the nodes. C(containerized) (the tool's default) or C(baremetal).
    type: str
    choices: [containerized, baremetal]
  inventory:
    description:
      - The stack's Ansible inventory (YAML). The tool's default is
        C(~/overcloud-deploy/<stack>/tripleo-ansible-inventory.yaml) (OSP 17).
    type: path
  role:
    description:
      - Take hosts from these inventory groups instead of C(keystone).
    type: list
    elements: str
  forks:
    description:
      - Contact at most this many nodes at once during the pre-flight verify. The tool's
        default is 10. The push is always one node at a time.
    type: int
  timeout:
    description:
      - Seconds one node may take before it counts as unreachable. The tool's default is 60.
    type: int
  expiration:
    description:
      - Keystone's C([token] expiration) in seconds, for the rotation guard. The tool's
        default is 3600.
    type: int
  allow_expired_window:
    description:
      - Keystone's C([token] allow_expired_window) in seconds, for the rotation guard. The
        tool's default is 172800.
    type: int
  force:
    description:
      - Go ahead although a node drifts from the work directory or the rotation guard refuses
        (C(--force)). Unreachable nodes still refuse. Tokens issued before may stop validating.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Rotate the Fernet keys on every controller
  overcloud_keys.tripleo.rollout:
    stack: overcloud
  register: rotation

- name: What a rollout would do (nothing is written)
  overcloud_keys.tripleo.rollout:
    stack: overcloud
    inventory: /home/stack/inventory.yaml
    expiration: 3600
  check_mode: true

- name: Show the deploy arguments that keep the rotated keys
  ansible.builtin.debug:
    var: rotation.render.deploy_args
"""

RETURN = r"""
changed:
  description: True when the keys were rotated and pushed (or, in check mode, would be).
  returned: always
  type: bool
status:
  description:
    - The tool's verdict, one of C(rolled-out), C(dry-run), C(refused), C(failed),
      C(render-failed).
  returned: when the tool printed a report
  type: str
  sample: rolled-out
repository:
  description: The work directory's Fernet repository.
  returned: when the tool printed a report
  type: str
verify:
  description: The pre-flight verify report (C(nodes), C(findings), C(nodes_agree), C(ok)).
  returned: when the tool printed a report
  type: dict
refused:
  description: Why the rollout was refused, or null.
  returned: when the tool printed a report
  type: str
overridden:
  description: What C(force) overrode.
  returned: when the tool printed a report
  type: list
  elements: str
rotation:
  description:
    - The rotation (C(before), C(after), C(new_primary), C(old_primary), C(pruned) key
      indices, the rotation C(guard) verdict, C(max_active_keys)), or null when refused.
  returned: when the tool printed a report
  type: dict
nodes:
  description: One entry per node with C(node), C(address), C(action) (C(updated),
    C(would-update), C(failed), C(not-touched)), C(container) and C(error).
  returned: when the tool printed a report
  type: list
  elements: dict
failure:
  description: The node, step and reason of a failed rollout, or null.
  returned: when the tool printed a report
  type: dict
restore:
  description: After a failure, which nodes and whether the work directory were put back.
  returned: when the tool printed a report
  type: dict
render:
  description: The rendered C(fernet.yaml) (C(fernet_yaml), C(action), C(deploy_args)).
  returned: when the tool printed a report
  type: dict
report:
  description: On failure, the tool's report when it printed one.
  returned: failure
  type: dict
cmd:
  description: The command that was run.
  returned: always
  type: list
  elements: str
rc:
  description: The tool's exit code.
  returned: always
  type: int
hint:
  description: What to do, on failure.
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.overcloud_keys.tripleo.plugins.module_utils.overcloud_keys import (
    EXIT_MEANINGS,
    binary_argument_spec,
    find_binary,
    node_argument_spec,
    node_arguments,
    run_json,
    verify_problem,
)

CHANGED_STATUSES = ("rolled-out", "dry-run")


def failure(report):
    """(msg, hint, changed) of a report whose status is not a success."""
    status = report.get("status")
    if status == "refused":
        msg, hint = verify_problem(report.get("verify") or {})
        if report.get("verify", {}).get("findings"):
            msg = "refused: %s; %s" % (report.get("refused"), msg)
        else:
            msg = "refused: %s" % report.get("refused")
        return msg, hint, False
    if status == "render-failed":
        return ("every node and the work directory hold the rotated keys, but fernet.yaml "
                "was not rendered: %s" % report.get("render_error"),
                "run `overcloud-keys build` before the next deploy, or the deploy puts the "
                "old keys back", True)
    failed = report.get("failure") or {}
    restore = report.get("restore") or {}
    not_restored = [n.get("node") for n in restore.get("nodes") or [] if not n.get("ok")]
    msg = "rollout failed on node %s (%s): %s" % (
        failed.get("node"), failed.get("step"), failed.get("message"))
    if not restore.get("workdir"):
        not_restored.append("work directory")
    if not_restored:
        hint = ("NOT put back: %s; run `overcloud-keys verify` and fix them by hand or with "
                "`overcloud-keys adopt --from-node`" % ", ".join(not_restored))
        return msg, hint, True
    return (msg + "; the nodes already done and the work directory were put back",
            "fix the node, then run the rollout again", False)


def main():
    spec = binary_argument_spec()
    spec.update(node_argument_spec())
    spec.update(
        expiration=dict(type="int"),
        allow_expired_window=dict(type="int"),
        force=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    binary = find_binary(module)
    argv = [binary, "rollout"] + node_arguments(module.params)
    for option, flag in (("expiration", "--expiration"),
                         ("allow_expired_window", "--allow-expired-window")):
        if module.params.get(option) is not None:
            argv.extend([flag, str(module.params[option])])
    if module.params["force"]:
        argv.append("--force")
    if module.check_mode:
        argv.append("--dry-run")
    cmd = argv + ["-f", "json"]
    report, rc, stderr = run_json(module, argv, report_codes=(1, 2, 3))
    warnings = list(report.get("overridden") or [])
    warnings.extend((report.get("rotation") or {}).get("warnings") or [])
    for warning in warnings:
        module.warn(str(warning))
    if rc != 0 or report.get("status") not in CHANGED_STATUSES:
        msg, hint, changed = failure(report)
        module.fail_json(msg=msg, hint=hint, rc=rc, cmd=cmd, stderr=stderr, changed=changed,
                         meaning=EXIT_MEANINGS.get(rc, "the rollout did not complete"),
                         report=report)
    result = dict(report)
    result.update(changed=True, cmd=cmd, rc=rc)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
