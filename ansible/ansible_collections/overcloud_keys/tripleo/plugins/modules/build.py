#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to overcloud-keys
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), like overcloud-keys

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: build
short_description: Build Keystone key repositories, the key artifact and Heat environment files
version_added: "0.1.0"
description:
  - Runs C(overcloud-keys build) on the target host (the undercloud) and reports what it did.
  - Creates the Fernet, credential and (unless O(jws=off)) JWS key repositories when they are
    missing, reuses them when they exist (keys are never regenerated), stages the key artifact
    and renders the Heat environment files to pass to C(openstack overcloud deploy).
  - The options are the keys of the tool's TOML config file. The module writes the options
    that are set into a temporary config file (mode 0600, in a private directory, removed
    afterwards) and runs C(overcloud-keys build --config FILE -f json). Options left unset
    take the tool's defaults, which depend on O(release).
  - C(changed) is the tool's own verdict, so a second run with the same options reports
    C(changed=false).
  - On a stack that is already deployed (its passwords file or plan container exists) and has
    no key repositories yet, the tool refuses to mint new keys. Run
    M(overcloud_keys.tripleo.adopt) first, or set O(new_keys=true) knowingly.
  - M(overcloud_keys.tripleo.verify) then compares the keystone nodes with the work directory;
    M(overcloud_keys.tripleo.rollout) rotates the Fernet keys and pushes them to the nodes.
author:
  - overcloud-keys contributors (!UNKNOWN)
requirements:
  - the C(overcloud-keys) binary on the target host (on PATH, or O(binary))
notes:
  - Check mode runs C(overcloud-keys build --dry-run), which writes nothing and reports what
    would change.
  - The returned report carries no key material, only paths, actions and hashes.
  - Paths (O(workdir), O(artifact_dir), O(check_env), O(roles_data)) must be absolute; the tool
    refuses relative ones.
  - A failure returns the tool's C(error:) line as C(msg), its C(hint:) line as C(hint) and
    its exit code as C(rc) (2 bad input, nothing changed; 3 Swift or Keystone unreachable).
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
      - Work directory for repositories, artifacts and environment files (absolute, created
        mode 0700). The tool's default is C(~/overcloud-keys/<stack>).
    type: path
  layout:
    description:
      - Node layout. C(containerized) for OSP 12 and later (the tool's default), C(baremetal)
        for OSP 10 and 11 (keystone on the host).
    type: str
    choices: [containerized, baremetal]
  release:
    description:
      - The OSP release of the overcloud, one of C(10), C(11), C(13), C(16.2), C(17.1) (the
        tool's default). Quote it in YAML (C("16.2")). Other values such as C(16) are refused
        by the tool with its message.
    type: str
  artifacts:
    description:
      - C(files) stages a local artifact for DeployArtifactFILEs (default on 17.1, refused on
        13 and 16.2); C(swift) uploads it and publishes a signed TempURL (default on 13 and 16.2).
    type: str
    choices: [files, swift]
  artifact_dir:
    description:
      - Where to stage the artifact (absolute). The tool's default is C(<workdir>/artifacts).
    type: path
  jws:
    description:
      - C(off) creates no JWS keys, C(stage) creates and delivers them with keystone staying on
        Fernet, C(enable) also switches keystone to JWS.
      - An unquoted C(off), which YAML reads as a boolean, is taken as C(off).
    type: str
    choices: ['off', stage, enable]
  separate_receipts:
    description:
      - Keep Fernet receipts in their own repository (delivered by the tarball).
    type: bool
  max_active_keys:
    description:
      - KeystoneFernetMaxActiveKeys and the rotation limit, at least 2. The tool's default is 5.
    type: int
  roles:
    description:
      - Roles running keystone. The tool's default is C([Controller]).
    type: list
    elements: str
  delivery:
    description:
      - C(scoped) (the tool's default) delivers the key artifact only to the keystone roles;
        C(all-roles) uses DeployArtifactFILEs/URLs (every node).
    type: str
    choices: [scoped, all-roles]
  os_cloud:
    description:
      - With O(artifacts=swift), the cloud in C(clouds.yaml) holding the Swift credentials.
        Otherwise the tool uses C(OS_CLOUD), then C(OS_*) variables, then C(ST_*) variables
        of the module's environment.
    type: str
  os_storage_url:
    description:
      - With O(artifacts=swift), a storage URL to use instead of the catalog's.
    type: str
  swift_container:
    description:
      - With O(artifacts=swift), the container. The tool's default is C(overcloud-artifacts).
    type: str
  temp_url_expiry:
    description:
      - With O(artifacts=swift), the TempURL lifetime in seconds (the tool's default, one year).
    type: int
  temp_url_digest:
    description:
      - With O(artifacts=swift), the TempURL signature digest (C(sha1) for RGW).
    type: str
    choices: [sha256, sha512, sha1]
  temp_url_refresh_margin:
    description:
      - With O(artifacts=swift), re-sign a TempURL that expires within this many seconds
        (the tool's default, 30 days).
    type: int
  check_env:
    description:
      - The operator's environment files (absolute). An existing C(<Role>ExtraConfigPre)
        mapping found there is chained instead of replaced.
    type: list
    elements: path
  roles_data:
    description:
      - A roles_data file (absolute) to check O(roles) against.
    type: path
  node_uid:
    description:
      - Owner of the key files on the nodes (in the tarball). Default from O(layout).
    type: int
  node_gid:
    description:
      - Group of the key files on the nodes (in the tarball). Default from O(layout).
    type: int
  keys_from:
    description:
      - Use the key repositories of another stack's work directory (a sibling of this one),
        for clouds whose stacks validate each other's tokens. This build never creates or
        rotates them.
    type: str
  new_keys:
    description:
      - Create new keys even though the stack is already deployed (C(--new-keys)). The next
        deploy then invalidates every token and makes every stored credential undecryptable.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Build the keys of the overcloud (OSP 17.1 defaults)
  overcloud_keys.tripleo.build:
  register: keys

- name: Deploy with the environment files it rendered
  ansible.builtin.command:
    argv: "{{ ['openstack', 'overcloud', 'deploy', '--templates'] + keys.deploy_args }}"
  when: keys.changed

- name: An OSP 16.2 stack with its artifact in Swift
  overcloud_keys.tripleo.build:
    stack: overcloud
    release: "16.2"
    os_cloud: undercloud
    roles: [Controller, ControllerStorage]
    max_active_keys: 5

- name: Stage JWS keys without switching, in a chosen work directory
  overcloud_keys.tripleo.build:
    workdir: /home/stack/overcloud-keys/overcloud
    jws: stage
    binary: /usr/local/bin/overcloud-keys
"""

RETURN = r"""
changed:
  description: The tool's verdict; false when a re-run had nothing to write.
  returned: always
  type: bool
dry_run:
  description: Whether the run was a dry run (check mode).
  returned: success
  type: bool
deploy_args:
  description: Arguments to add to C(openstack overcloud deploy) (C(-e FILE) pairs).
  returned: success
  type: list
  elements: str
  sample: ["-e", "/home/stack/overcloud-keys/overcloud/fernet.yaml",
           "-e", "/home/stack/overcloud-keys/overcloud/keystone-keys-scoped.yaml"]
env_files:
  description:
    - The Heat environment files, each with C(path), C(action) (written, unchanged, would-write
      ...), C(deploy) (whether it is in deploy_args) and C(secret) (whether the file holds key
      material, so keep it private; the file's content is never returned).
  returned: success
  type: list
  elements: dict
artifact:
  description: The key artifact (path, manifest, sha256, size, action), or null when none.
  returned: success
  type: dict
repositories:
  description: The key repositories, each with C(kind), C(path) and C(action).
  returned: success
  type: list
  elements: dict
secrets:
  description: Which secrets go to which roles, and how.
  returned: success
  type: list
  elements: dict
delivery:
  description: How the key artifact is delivered (scoped or all-roles).
  returned: success
  type: str
settings:
  description: The fully resolved settings the tool used.
  returned: success
  type: dict
cmd:
  description: The command that was run (the temporary config file is removed afterwards).
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
    PrivateConfig,
    binary_argument_spec,
    find_binary,
    relay_warnings,
    run_json,
)

# The keys of the tool's config file (src/config.rs ConfigFile), in its order.
CONFIG_KEYS = (
    "stack", "workdir", "layout", "release", "artifacts", "artifact_dir", "jws",
    "separate_receipts", "max_active_keys", "roles", "delivery", "os_cloud", "os_storage_url",
    "swift_container", "temp_url_expiry", "temp_url_digest", "temp_url_refresh_margin",
    "check_env", "roles_data", "node_uid", "node_gid", "keys_from",
)


def argument_spec():
    spec = binary_argument_spec()
    spec.update(
        stack=dict(type="str"),
        workdir=dict(type="path"),
        layout=dict(type="str", choices=["containerized", "baremetal"]),
        release=dict(type="str"),
        artifacts=dict(type="str", choices=["files", "swift"]),
        artifact_dir=dict(type="path"),
        jws=dict(type="str", choices=["off", "stage", "enable"]),
        separate_receipts=dict(type="bool"),
        # no_log=False: "key" in the name, but a count, not a secret.
        max_active_keys=dict(type="int", no_log=False),
        roles=dict(type="list", elements="str"),
        delivery=dict(type="str", choices=["scoped", "all-roles"]),
        os_cloud=dict(type="str"),
        os_storage_url=dict(type="str"),
        swift_container=dict(type="str"),
        temp_url_expiry=dict(type="int"),
        temp_url_digest=dict(type="str", choices=["sha256", "sha512", "sha1"]),
        temp_url_refresh_margin=dict(type="int"),
        check_env=dict(type="list", elements="path"),
        roles_data=dict(type="path"),
        node_uid=dict(type="int"),
        node_gid=dict(type="int"),
        # no_log=False: a stack name, not a secret.
        keys_from=dict(type="str", no_log=False),
        new_keys=dict(type="bool", default=False),
    )
    return spec


def config_settings(params):
    """(key, value) pairs of the options that are set, in the tool's key order."""
    settings = []
    for key in CONFIG_KEYS:
        value = params.get(key)
        if value is None:
            continue
        settings.append((key, value))
    return settings


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    binary = find_binary(module)
    with PrivateConfig(module, config_settings(module.params)) as config:
        argv = [binary, "build", "--config", config]
        if module.check_mode:
            argv.append("--dry-run")
        if module.params["new_keys"]:
            argv.append("--new-keys")
        report, rc, _stderr = run_json(module, argv)
    relay_warnings(module, report)
    result = dict((k, v) for k, v in report.items() if k not in ("changed", "warnings"))
    result.update(changed=bool(report.get("changed")), cmd=argv + ["-f", "json"], rc=rc)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
