#!/usr/bin/env bash
# Prints, one per line, the heat_template_version names a Heat release series knows, read
# from Heat's own setup.cfg (its `heat.templates` entry points) in the openstack-heat sdist
# from PyPI:
#   scripts/heat-versions.sh newton|ocata|queens|train|wallaby
#
#   train   (OSP 16.2): openstack-heat 13.1.0
#   wallaby (OSP 17.1): openstack-heat 16.1.0
#   queens  (OSP 13):   Heat 10.0.x was never published on PyPI (openstack-heat starts at
#                       rocky, 11.0.x). The list is rocky's (openstack-heat 11.0.2) without
#                       the entries rocky added: those naming the same template class as
#                       `heat_template_version.rocky`. That is exactly queens' own setup.cfg
#                       (heat git tag 10.0.3; see docs/releases.md).
#   ocata   (OSP 11), newton (OSP 10): the same way, dropping every series rocky's list
#                       names after them; the results are exactly the setup.cfg lists of
#                       heat git tags 8.0.7 and 7.0.6 (read for this script, see
#                       docs/releases.md).
#
# sdists are cached under ${OVERCLOUD_KEYS_HEAT_SDIST_DIR:-<repo>/target/heat-sdists}/<version>,
# downloaded once (flock: safe to run concurrently); a cached run does not touch the network.
# Any failure (no network on the first run, no entry points found) exits non-zero with a
# message: callers must not treat that as an empty list.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
base="${OVERCLOUD_KEYS_HEAT_SDIST_DIR:-$repo/target/heat-sdists}"
drop_newest=""
case "${1:-}" in
  newton) version=11.0.2 drop_newest="rocky queens pike ocata" ;;
  ocata) version=11.0.2 drop_newest="rocky queens pike" ;;
  queens) version=11.0.2 drop_newest=rocky ;;
  train) version=13.1.0 ;;
  wallaby) version=16.1.0 ;;
  *) echo "usage: $0 newton|ocata|queens|train|wallaby" >&2; exit 2 ;;
esac

dir="$base/$version"
sdist="$dir/openstack-heat-$version.tar.gz"
mkdir -p "$base"
exec 9>"$base/.$version.lock"
flock 9
if [ ! -f "$dir/.complete" ]; then
  rm -rf "$dir" "$dir.tmp"
  echo "downloading openstack-heat $version (sdist) into $dir" >&2
  if ! "${PYTHON:-python3}" -m pip download --quiet --no-deps --no-binary :all: \
      --disable-pip-version-check -d "$dir.tmp" "openstack-heat==$version" >&2; then
    rm -rf "$dir.tmp"
    echo "error: cannot download the openstack-heat $version sdist from PyPI" >&2
    exit 1
  fi
  [ -f "$dir.tmp/openstack-heat-$version.tar.gz" ] || {
    echo "error: pip left no openstack-heat-$version.tar.gz in $dir.tmp" >&2
    exit 1
  }
  mv "$dir.tmp" "$dir"
  touch "$dir/.complete"
fi

# `heat_template_version.<name> = <module>:<class>` lines of setup.cfg, as "<name> <class>".
entries="$(tar -xzOf "$sdist" "openstack-heat-$version/setup.cfg" |
  sed -n 's/^[[:space:]]*heat_template_version\.\([^[:space:]=]*\)[[:space:]]*=[[:space:]]*[^:]*:\([A-Za-z0-9_]*\).*/\1 \2/p')"
if [ -z "$entries" ]; then
  echo "error: no heat_template_version entry points in openstack-heat $version's setup.cfg" >&2
  exit 1
fi
for newer in $drop_newest; do
  newest_class="$(awk -v n="$newer" '$1 == n { print $2 }' <<<"$entries")"
  if [ -z "$newest_class" ]; then
    echo "error: openstack-heat $version has no heat_template_version.$newer" >&2
    exit 1
  fi
  entries="$(awk -v c="$newest_class" '$2 != c' <<<"$entries")"
done
awk '{ print $1 }' <<<"$entries"
