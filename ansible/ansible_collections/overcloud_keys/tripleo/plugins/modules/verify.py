#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to overcloud-keys
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), like overcloud-keys

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: verify
short_description: Compare the keys on every keystone node with the work directory
version_added: "0.1.0"
description:
  - Runs C(overcloud-keys verify) on the target host (the undercloud) and returns its report.
  - Reaches every keystone node of the stack's inventory over ssh (the system OpenSSH client,
    batch mode) and fingerprints, without reading them, the key files of its key
    directories, on the host and inside the running keystone container. Compares them with
    the work directory's repositories and the nodes with each other.
  - Never changes anything, so the task is never C(changed).
  - Drift (exit 1, a node holding other keys, modes or owners) fails the task with the tool's
    findings unless O(fail_on_drift=false), which returns the report with C(drift=true)
    instead. An unreachable node (exit 3) or an inventory problem (exit 2) always fails; the
    report covering the other nodes is returned alongside.
author:
  - overcloud-keys contributors (!UNKNOWN)
requirements:
  - the C(overcloud-keys) binary on the target host (on PATH, or O(binary))
  - ssh access from the target host to the keystone nodes (the inventory's users and keys)
notes:
  - The report names nodes, directories, key indices and short fingerprints (SHA-256 of
    the files); never key material. No option carries a secret.
  - A failure returns the tool's C(error:) line (or, for drift, its findings) as C(msg), its
    C(hint:) line (or the findings' fixes) as C(hint) and its exit code as C(rc).
attributes:
  check_mode:
    support: full
    description: The module only reads; check mode runs it unchanged.
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
      - The TOML config file C(build) uses; its C(stack), C(workdir) and C(layout) apply.
    type: path
  stack:
    description:
      - Heat stack name. The tool's default is C(overcloud).
    type: str
  workdir:
    description:
      - Work directory holding the expected keys. The tool's default is
        C(~/overcloud-keys/<stack>).
    type: path
  layout:
    description:
      - Where keys live on the nodes. C(containerized) (the tool's default,
        C(/var/lib/config-data/puppet-generated/keystone/etc/keystone), owner 42425) or
        C(baremetal) (C(/etc/keystone), owner 163).
    type: str
    choices: [containerized, baremetal]
  inventory:
    description:
      - The stack's Ansible inventory (YAML). The tool's default is
        C(~/overcloud-deploy/<stack>/tripleo-ansible-inventory.yaml) (OSP 17). Hosts come from
        its C(keystone) group unless O(role) is given.
    type: path
  role:
    description:
      - Take hosts from these inventory groups instead of C(keystone).
    type: list
    elements: str
  forks:
    description:
      - Contact at most this many nodes at once. The tool's default is 10.
    type: int
  timeout:
    description:
      - Seconds one node may take before it counts as unreachable. The tool's default is 60.
    type: int
  fail_on_drift:
    description:
      - Fail the task when a node differs from the work directory (the tool's exit 1).
      - With V(false) the task succeeds and returns the report with C(drift=true); unreachable
        nodes and inventory problems still fail.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Check that every controller holds the work directory's keys
  overcloud_keys.tripleo.verify:
    stack: overcloud

- name: Report drift without failing (OSP 16.2, a static inventory)
  overcloud_keys.tripleo.verify:
    stack: overcloud
    inventory: /home/stack/inventory.yaml
    fail_on_drift: false
  register: keys_on_nodes

- name: Show what differs
  ansible.builtin.debug:
    var: keys_on_nodes.findings
  when: keys_on_nodes.drift
"""

RETURN = r"""
changed:
  description: Always false; the module only reads.
  returned: always
  type: bool
ok:
  description: Every node holds exactly the work directory's keys, modes and owners.
  returned: when the tool printed a report
  type: bool
drift:
  description: Some node differs from the work directory (the tool's exit 1).
  returned: success
  type: bool
nodes_agree:
  description: All reached nodes hold the same keys as each other.
  returned: when the tool printed a report
  type: bool
nodes:
  description:
    - One entry per node, in inventory order, with C(node), C(address), C(status) (C(match),
      C(drift), C(unreachable), C(inventory-problem)), C(keys) (key names per directory),
      C(container) and C(error).
  returned: when the tool printed a report
  type: list
  elements: dict
findings:
  description:
    - Every difference, with C(code) (such as C(node-key-missing)), C(level), C(node),
      C(place), C(dir), C(key), C(message) and C(fix).
  returned: when the tool printed a report
  type: list
  elements: dict
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
  description: The tool's exit code (0 in sync, 1 drift, 2 usage or inventory, 3 unreachable).
  returned: always
  type: int
hint:
  description: The tool's hint line, or the findings' fixes, on failure.
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

NODE_EXIT_MEANINGS = {
    1: "drift: some keystone node differs from the work directory",
    2: EXIT_MEANINGS[2],
    3: "a keystone node was unreachable or answered garbage",
}


def main():
    spec = binary_argument_spec()
    spec.update(node_argument_spec())
    spec.update(fail_on_drift=dict(type="bool", default=True))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    binary = find_binary(module)
    argv = [binary, "verify"] + node_arguments(module.params)
    report, rc, stderr = run_json(module, argv, report_codes=(1, 2, 3))
    cmd = argv + ["-f", "json"]
    if rc != 0 and (rc != 1 or module.params["fail_on_drift"]):
        msg, hint = verify_problem(report)
        fail = dict(msg=msg, rc=rc, cmd=cmd, stderr=stderr, changed=False,
                    meaning=NODE_EXIT_MEANINGS[rc], report=report)
        if hint:
            fail["hint"] = hint
        module.fail_json(**fail)
    result = dict(report)
    # failed=False: Ansible fails any result whose rc is non-zero unless it says otherwise.
    result.update(changed=False, failed=False, drift=rc == 1, cmd=cmd, rc=rc)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
