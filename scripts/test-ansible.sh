#!/usr/bin/env bash
# Tests the Ansible collection overcloud_keys.tripleo (ansible/ansible_collections/...) with a
# real ansible-core from PyPI, running the playbooks of ansible/tests/ against localhost.
#   scripts/test-ansible.sh [/path/to/overcloud-keys]     (or OVERCLOUD_KEYS_BIN=...)
#   scripts/test-ansible.sh --venv                        (create the venv, print its path)
# The venv is created once and cached under ${OVERCLOUD_KEYS_VENV_DIR:-<repo>/target/venvs}/
# ansible-<version>-py<python>, keyed by the pinned version (flock-guarded, like venv.sh).
# Everything the playbooks write goes to a private temporary directory (also HOME), removed
# at the end. Exits non-zero when a scenario fails.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
ansible_core_version="${ANSIBLE_CORE_VERSION:-2.18.19}"
base="${OVERCLOUD_KEYS_VENV_DIR:-$repo/target/venvs}"
py="${PYTHON:-python3}"

make_venv() {
  local pyver dir
  pyver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  dir="$base/ansible-$ansible_core_version-py$pyver"
  mkdir -p "$base"
  exec 8>"$base/.ansible.lock"
  flock 8
  if [ ! -x "$dir/bin/ansible-playbook" ] || [ ! -f "$dir/.complete" ]; then
    rm -rf "$dir"
    echo "creating $dir (ansible-core==$ansible_core_version)" >&2
    "$py" -m venv "$dir" >&2
    "$dir/bin/pip" install -q --disable-pip-version-check "ansible-core==$ansible_core_version" >&2
    touch "$dir/.complete"
  fi
  exec 8>&-
  echo "$dir"
}

if [ "${1:-}" = "--venv" ]; then
  make_venv
  exit 0
fi

bin="${1:-${OVERCLOUD_KEYS_BIN:-}}"
if [ -z "$bin" ]; then
  echo "usage: $0 /path/to/overcloud-keys   (or OVERCLOUD_KEYS_BIN=...)" >&2
  exit 2
fi
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
if [ ! -x "$bin" ] || [ -d "$bin" ]; then
  echo "error: $bin is not an executable file" >&2
  exit 2
fi

venv="$(make_venv)"
collections="$repo/ansible"
playbooks="$repo/ansible/tests"
work="$(mktemp -d "${TMPDIR:-/tmp}/overcloud-keys-ansible.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home" "$work/ansible-tmp"

# An isolated Ansible: no user or system config, no other collections, no colours; HOME (where
# the tool's defaults and the deployed stacks' passwords files live) is private too.
cat >"$work/ansible.cfg" <<CFG
[defaults]
collections_path = $collections
collections_scan_sys_path = false
local_tmp = $work/ansible-tmp
remote_tmp = $work/ansible-tmp
retry_files_enabled = false
stdout_callback = default
interpreter_python = $venv/bin/python
CFG
export ANSIBLE_CONFIG="$work/ansible.cfg"
export ANSIBLE_COLLECTIONS_PATH="$collections"
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_DEPRECATION_WARNINGS=1
export HOME="$work/home"
export PATH="$venv/bin:$PATH"
unset OS_CLOUD OS_AUTH_URL ST_AUTH ST_USER ST_KEY || true
cd "$work"

failures=0
pass=0
step() { # step NAME COMMAND...: runs one scenario, its output kept, timed
  local name="$1" start end
  shift
  start=$(date +%s)
  if "$@" >"$work/$name.log" 2>&1; then
    end=$(date +%s)
    echo "ok   $name ($((end - start)) s)"
    pass=$((pass + 1))
  else
    end=$(date +%s)
    echo "FAIL $name ($((end - start)) s)"
    sed 's/^/    /' "$work/$name.log"
    failures=$((failures + 1))
  fi
}

"$venv/bin/ansible" --version >"$work/version.txt"
echo "ansible-core: $(head -n 1 "$work/version.txt")"
echo "overcloud-keys: $bin"

# Scenario 5: ansible-doc renders every module (and lists exactly the modules that exist).
doc_check() {
  local module out
  for module in build adopt verify rollout; do
    out="$("$venv/bin/ansible-doc" -t module "overcloud_keys.tripleo.$module" 2>"$work/doc.err")"
    if grep -q 'WARNING\|ERROR' "$work/doc.err"; then
      cat "$work/doc.err"
      return 1
    fi
    grep -q "overcloud_keys.tripleo.$module" <<<"$out" || { echo "no title for $module"; return 1; }
    grep -q 'OPTIONS' <<<"$out" || { echo "no OPTIONS for $module"; return 1; }
    grep -q 'EXAMPLES' <<<"$out" || { echo "no EXAMPLES for $module"; return 1; }
    grep -q 'RETURN VALUES' <<<"$out" || { echo "no RETURN VALUES for $module"; return 1; }
    grep -q 'binary' <<<"$out" || { echo "no binary option for $module"; return 1; }
  done
  # (Into a variable first: `cmd | grep -q` under pipefail fails when grep exits before
  # cmd has written everything, as soon as the output outgrows the pipe buffer.)
  local module_option
  for module_option in build:max_active_keys adopt:replace_workdir verify:fail_on_drift \
    rollout:allow_expired_window; do
    module="${module_option%%:*}"
    out="$("$venv/bin/ansible-doc" -t module "overcloud_keys.tripleo.$module")"
    grep -q "${module_option#*:}" <<<"$out" || { echo "$module: no ${module_option#*:}"; return 1; }
  done
  out="$("$venv/bin/ansible-doc" -t module -l overcloud_keys.tripleo 2>&1 | awk '{print $1}' | sort | tr '\n' ' ')"
  echo "modules: $out"
  [ "$out" = "overcloud_keys.tripleo.adopt overcloud_keys.tripleo.build overcloud_keys.tripleo.rollout overcloud_keys.tripleo.verify " ] \
    || { echo "unexpected module list: $out"; return 1; }
}
step ansible-doc doc_check

# Throwaway passwords files in the OSP 17 format (two distinct key sets).
for name in passwords other-passwords; do
  "$venv/bin/python" - "$work/$name.yaml" <<'PY'
import base64, os, sys
def key():
    return base64.urlsafe_b64encode(os.urandom(32)).decode()
lines = ["parameter_defaults:", "  KeystoneFernetKeys:"]
for i in range(3):
    lines += ["    /etc/keystone/fernet-keys/%d:" % i, "      content: %s" % key()]
lines += ["  KeystoneCredential0: %s" % key(), "  KeystoneCredential1: %s" % key()]
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
with os.fdopen(fd, "w") as f:
    f.write("\n".join(lines) + "\n")
PY
done

play() { # play FILE: one playbook against localhost
  "$venv/bin/ansible-playbook" -i localhost, -c local "$playbooks/$1" \
    -e "overcloud_keys_bin=$bin" -e "work=$work" \
    -e "passwords_file=$work/passwords.yaml" -e "other_passwords_file=$work/other-passwords.yaml"
}
step build-idempotent play build.yml
step check-mode play check_mode.yml
step bad-input play bad_input.yml
step adopt play adopt.yml

# Scenario 6: ansible-test sanity (pep8, pylint, validate-modules, yamllint, ...). Its per-test
# venvs come from PyPI and are cached in their own HOME under the venv directory. ansible-test
# bootstraps pip in them with a get-pip script that it downloads from a host other than PyPI
# (unreachable here): a stand-in at the cached script's path bootstraps pip from Python's own
# ensurepip and installs the pinned pip from PyPI instead.
sanity() {
  local home pyver script
  home="$base/ansible-test-home-$ansible_core_version"
  pyver="$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  mkdir -p "$home/.ansible/test/cache"
  # The pip version this ansible-test bootstraps (get_venv_packages: pip='24.2').
  local at_dir pip_version
  at_dir="$("$venv/bin/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')"
  pip_version="$(grep -m 1 -o "pip='[0-9.]*'" "$at_dir/_internal/python_requirements.py" | tr -dc '0-9.')"
  [ -n "$pip_version" ] || { echo "cannot find the pip version ansible-test bootstraps"; return 1; }
  script="$home/.ansible/test/cache/get_pip_${pip_version//./_}.py"
  cat >"$script" <<'PY'
# Stand-in for ansible-test's downloaded get-pip bootstrap (see scripts/test-ansible.sh).
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, "-m", "pip", "install", "-q"] + args)
PY
  (
    flock 7
    cd "$repo/ansible/ansible_collections/overcloud_keys/tripleo"
    HOME="$home" "$venv/bin/ansible-test" sanity --python "$pyver" --requirements
  ) 7>"$base/.ansible-test.lock"
}
if [ "${OVERCLOUD_KEYS_SKIP_SANITY:-}" = 1 ]; then
  echo "skip ansible-test-sanity (OVERCLOUD_KEYS_SKIP_SANITY=1)"
else
  step ansible-test-sanity sanity
fi

echo "ansible: $pass passed, $failures failed"
[ "$failures" -eq 0 ]
