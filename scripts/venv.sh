#!/usr/bin/env bash
# Creates (once) and prints the path of a cached Python venv for the interop harnesses.
#   scripts/venv.sh keystone|heat|swift
# Venvs live under ${OVERCLOUD_KEYS_VENV_DIR:-<repo>/target/venvs}/<name>-<versions>, keyed by
# the pinned versions so a version bump builds a new one. Safe to call concurrently (flock).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
base="${OVERCLOUD_KEYS_VENV_DIR:-$repo/target/venvs}"
case "${1:-}" in
  keystone) pkgs=(keystone==30.0.0 waitress==3.0.2) ;;
  heat) pkgs=(openstack-heat==27.0.1) ;;
  swift) pkgs=(swift==2.38.3 python-swiftclient) ;;
  *) echo "usage: $0 keystone|heat|swift" >&2; exit 2 ;;
esac
py="${PYTHON:-python3}"
pyver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
key="$(printf '%s ' "${pkgs[@]}" | sha256sum | cut -c1-12)"
dir="$base/$1-py$pyver-$key"
mkdir -p "$base"
exec 9>"$base/.$1.lock"
flock 9
if [ ! -x "$dir/bin/python" ] || [ ! -f "$dir/.complete" ]; then
  rm -rf "$dir"
  echo "creating $dir (${pkgs[*]})" >&2
  "$py" -m venv "$dir" >&2
  "$dir/bin/pip" install -q --disable-pip-version-check "${pkgs[@]}" >&2
  touch "$dir/.complete"
fi
echo "$dir"
