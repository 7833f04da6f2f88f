#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to overcloud-keys
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), like overcloud-keys

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: adopt
short_description: Import the keys a deployed overcloud already uses into the work directory
version_added: "0.1.0"
description:
  - Runs C(overcloud-keys adopt) on the target host (the undercloud) and reports what it did.
  - Run it once on an undercloud whose stack is already deployed, before the first
    M(overcloud_keys.tripleo.build); otherwise build would mint new keys that log out every
    user and make every stored credential undecryptable.
  - Reads, in order, O(from); the OSP 17 passwords file
    C(~/overcloud-deploy/<stack>/<stack>-passwords.yaml); the OSP 13/16.2 plan container's
    C(plan-environment.yaml) in the undercloud's Swift. Keys are imported byte for byte with
    their indices (0600 files, 0700 directories), then checked.
  - A work directory that already holds the same keys is left alone (C(changed=false)). One
    holding other keys is never replaced without O(replace_workdir=true); without it the
    task fails with the tool's message and nothing is written.
  - C(changed) follows the tool's C(status) - C(imported), C(replaced), C(would-import) and
    C(would-replace) are changes; C(nothing-to-adopt) and C(workdir-is-deployed) are not.
author:
  - overcloud-keys contributors (!UNKNOWN)
requirements:
  - the C(overcloud-keys) binary on the target host (on PATH, or O(binary))
notes:
  - Check mode runs C(overcloud-keys adopt --dry-run), which writes nothing.
  - The source file holds key material, but the returned report carries none (paths, key
    indices and findings only).
  - A failure returns the tool's C(error:) line as C(msg), its C(hint:) line as C(hint) and
    its exit code as C(rc).
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
  stack:
    description:
      - Heat stack name. The tool's default is C(overcloud).
    type: str
  workdir:
    description:
      - Work directory to import into (created mode 0700). The tool's default is
        C(~/overcloud-keys/<stack>).
    type: path
  from:
    description:
      - Read the deployed keys from this file instead of looking for them. An OSP 17 passwords
        file, any Heat environment with the keys in C(parameter_defaults), a
        C(plan-environment.yaml) or a plan export tarball.
    type: path
  os_cloud:
    description:
      - The cloud in C(clouds.yaml) for the undercloud's Swift (OSP 13/16.2 plan container).
        Otherwise the tool uses C(OS_CLOUD), then C(OS_*), then C(ST_*) variables.
    type: str
  replace_workdir:
    description:
      - Replace work directory keys that differ from the deployed cloud's; the old
        repositories are kept in C(keys/replaced-<unix time>/).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Import the keys of the deployed overcloud (OSP 17 passwords file)
  overcloud_keys.tripleo.adopt:
    stack: overcloud

- name: Import from an exported stack environment, then build
  block:
    - name: Adopt
      overcloud_keys.tripleo.adopt:
        stack: overcloud
        from: /home/stack/overcloud-env.yaml
    - name: Build
      overcloud_keys.tripleo.build:
        stack: overcloud

- name: The cloud's keys are the truth (after tripleo-ansible rotated them)
  overcloud_keys.tripleo.adopt:
    stack: overcloud
    replace_workdir: true
"""

RETURN = r"""
changed:
  description: True when keys were (or, in check mode, would be) imported or replaced.
  returned: always
  type: bool
status:
  description:
    - The tool's verdict, one of C(imported), C(would-import), C(nothing-to-adopt),
      C(workdir-is-deployed), C(replaced), C(would-replace).
  returned: success
  type: str
  sample: imported
dry_run:
  description: Whether the run was a dry run (check mode).
  returned: success
  type: bool
stack:
  description: The stack.
  returned: success
  type: str
workdir:
  description: The work directory.
  returned: success
  type: str
source:
  description: Where the keys were read from.
  returned: success
  type: str
backup:
  description: Where replaced repositories were kept, or null.
  returned: success
  type: str
fernet_params:
  description: Which Heat parameters carried the Fernet keys.
  returned: success
  type: str
repositories:
  description: Each repository looked at, with C(kind), C(path), C(keys) (indices), C(action)
    and C(findings).
  returned: success
  type: list
  elements: dict
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
  description: The tool's hint line, on failure.
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.overcloud_keys.tripleo.plugins.module_utils.overcloud_keys import (
    binary_argument_spec,
    find_binary,
    relay_warnings,
    run_json,
)

CHANGED_STATUSES = ("imported", "replaced", "would-import", "would-replace")


def main():
    spec = binary_argument_spec()
    spec.update(
        stack=dict(type="str"),
        workdir=dict(type="path"),
        os_cloud=dict(type="str"),
        replace_workdir=dict(type="bool", default=False),
    )
    spec["from"] = dict(type="path")
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    binary = find_binary(module)
    argv = [binary, "adopt"]
    for option, flag in (("stack", "--stack"), ("workdir", "--workdir"), ("from", "--from"),
                         ("os_cloud", "--os-cloud")):
        if module.params.get(option) is not None:
            argv.extend([flag, module.params[option]])
    if module.params["replace_workdir"]:
        argv.append("--replace-workdir")
    if module.check_mode:
        argv.append("--dry-run")
    report, rc, _stderr = run_json(module, argv)
    relay_warnings(module, report)
    result = dict((k, v) for k, v in report.items() if k not in ("changed", "warnings"))
    result.update(changed=report.get("status") in CHANGED_STATUSES,
                  cmd=argv + ["-f", "json"], rc=rc)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
