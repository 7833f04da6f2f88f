#!/usr/bin/env bash
# Builds the overcloud-keys RPM (dist/overcloud-keys.spec).
#
#   scripts/build-rpm.sh            x86_64 binary by cargo-zigbuild against glibc 2.28 (runs on
#                                   RHEL 8 and 9; checked with objdump -T), packaged as is:
#                                   $RPM_OUT/overcloud-keys-<version>-<release>.x86_64.rpm
#   scripts/build-rpm.sh --source   the distribution way: source tarball with vendored crates
#                                   (cargo vendor) + .cargo/config.toml, then `rpmbuild -ta` with
#                                   cargo offline (and, as root, no network at all: unshare -n).
#                                   Writes the tarball, the SRPM and the RPM to $RPM_OUT/source/.
#   --force                         rebuild even when the cached result matches the tree
#
# RPM_OUT: output directory (default <repo>/target/rpm). Tools are cached under
# <repo>/target/rpm-tools (zig from PyPI in a venv, cargo-zigbuild via cargo install --root),
# the zig build under <repo>/target/zigbuild. The prebuilt mode is keyed by a hash of the
# source tree (every file git does not ignore) and the tool versions: an unchanged tree
# reuses the RPM in seconds. Missing rpmbuild/rpm2cpio/cpio/objdump are installed from apt
# (dnf) when root, else the script stops saying what to install.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
name=overcloud-keys
version="$(awk -F'"' '/^version = / {print $2; exit}' Cargo.toml)"
spec="$repo/dist/$name.spec"
out="${RPM_OUT:-$repo/target/rpm}"
tools="$repo/target/rpm-tools"
ZIG_VERSION=0.14.1
ZIGBUILD_VERSION=0.24.1
GLIBC_MAX=2.28
target="x86_64-unknown-linux-gnu"

mode=prebuilt
force=0
for arg in "$@"; do
  case "$arg" in
    --source | --srpm) mode=source ;;
    --force) force=1 ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "build-rpm: unknown argument $arg (--source, --force)" >&2; exit 2 ;;
  esac
done

log() { echo "build-rpm: $*" >&2; }
die() { echo "build-rpm: error: $*" >&2; exit 1; }

spec_version="$(sed -n 's/^Version:[[:space:]]*//p' "$spec")"
[ "$spec_version" = "$version" ] || die "dist/$name.spec Version $spec_version != Cargo.toml version $version"

# tool -> package; installs it when missing (root only), else fails naming the package.
need() {
  local tool="$1" deb="$2" rpmpkg="${3:-$2}"
  command -v "$tool" >/dev/null && return 0
  if [ "$(id -u)" -ne 0 ]; then
    die "$tool not found; install it (Debian: apt-get install $deb; RHEL: dnf install $rpmpkg)"
  fi
  log "installing $tool"
  if command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >&2 ||
      { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >&2; } ||
      die "apt-get install $deb failed"
  elif command -v dnf >/dev/null; then
    dnf install -y -q "$rpmpkg" >&2 || die "dnf install $rpmpkg failed"
  else
    die "$tool not found and no apt-get/dnf to install $deb"
  fi
  command -v "$tool" >/dev/null || die "$tool still not found after installing $deb"
}

need rpmbuild rpm rpm-build
need objdump binutils
need rpm2cpio rpm2cpio rpm
need cpio cpio

mkdir -p "$out" "$tools"
exec 8>"$out/.build-rpm.lock"
flock 8

# rpmbuild on a system whose package database is not RPM's (Debian): BuildRequires cannot
# be checked there.
nodeps=()
rpm -q rpm >/dev/null 2>&1 || nodeps=(--nodeps)

# The source tree: every file git does not ignore (committed or not), as NUL-separated paths.
tree_files() { git -C "$repo" ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done; }

# A copy of the tree in STAGE/$name-$version/ (tarred by the caller).
stage_tree() {
  local stage="$1"
  rm -rf "$stage/$name-$version"
  mkdir -p "$stage/$name-$version"
  tree_files | tar -C "$repo" --null -T - -cf - | tar -C "$stage/$name-$version" -xf -
}

rpmbuild_in() {
  local top="$1"; shift
  rm -rf "$top"
  mkdir -p "$top"/{BUILD,BUILDROOT,RPMS,SOURCES,SPECS,SRPMS}
  "$@"
}

if [ "$mode" = prebuilt ]; then
  key="$( { tree_files | xargs -0 sha256sum; echo "zig=$ZIG_VERSION zigbuild=$ZIGBUILD_VERSION glibc=$GLIBC_MAX"; } | sha256sum | cut -c1-16)"
  if [ "$force" = 0 ] && [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$key" ] &&
    ls "$out"/"$name-$version"-*.x86_64.rpm >/dev/null 2>&1; then
    log "up to date (tree $key): $(ls "$out"/"$name-$version"-*.x86_64.rpm)"
    ls "$out"/"$name-$version"-*.x86_64.rpm
    exit 0
  fi
  rm -f "$out/.stamp"

  # zig from PyPI, in a venv keyed by its version.
  zigvenv="$tools/zig-$ZIG_VERSION"
  (
    exec 9>"$tools/.tools.lock"
    flock 9
    if [ ! -f "$zigvenv/.complete" ]; then
      log "zig $ZIG_VERSION from PyPI into $zigvenv"
      rm -rf "$zigvenv"
      "${PYTHON:-python3}" -m venv "$zigvenv" >&2 || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
      "$zigvenv/bin/pip" install -q --disable-pip-version-check "ziglang==$ZIG_VERSION" >&2
      touch "$zigvenv/.complete"
    fi
    zb="$tools/cargo-zigbuild-$ZIGBUILD_VERSION"
    if [ ! -x "$zb/bin/cargo-zigbuild" ]; then
      log "cargo-zigbuild $ZIGBUILD_VERSION into $zb"
      cargo install --locked --quiet --version "$ZIGBUILD_VERSION" --root "$zb" cargo-zigbuild >&2
    fi
  )
  export PATH="$tools/cargo-zigbuild-$ZIGBUILD_VERSION/bin:$zigvenv/bin:$PATH"
  # cargo-zigbuild runs `python3 -m ziglang` from the venv (first python3 on PATH).
  export CARGO_TARGET_DIR="$repo/target/zigbuild"
  unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_TARGET
  # Run from `cargo test`, the environment carries the test crate's CARGO_MANIFEST_DIR,
  # CARGO_PKG_*, ...; build scripts that watch them (ring's) would rebuild everything.
  while IFS= read -r var; do
    case "$var" in
      CARGO_MANIFEST_* | CARGO_PKG_* | CARGO_CRATE_* | CARGO_BIN_* | CARGO_PRIMARY_PACKAGE | \
        CARGO_TARGET_TMPDIR | CARGO_RUSTC_CURRENT_DIR | OUT_DIR) unset "$var" ;;
    esac
  done < <(compgen -e)
  log "cargo zigbuild --release --target $target.$GLIBC_MAX"
  cargo zigbuild --release --locked --target "$target.$GLIBC_MAX" >&2
  bin="$CARGO_TARGET_DIR/$target/release/$name"
  newest="$("$repo/scripts/check-glibc.sh" "$bin" "$GLIBC_MAX")" || die "$bin would not run on RHEL 8 (see above)"
  log "$bin: newest glibc symbol $newest (<= GLIBC_$GLIBC_MAX)"
  "$bin" --version >/dev/null || die "$bin does not run"

  work="$out/.work"
  rpmbuild_in "$work/rpmbuild" true
  stage_tree "$work/stage"
  tar -C "$work/stage" -czf "$work/rpmbuild/SOURCES/$name-$version.tar.gz" "$name-$version"
  log "rpmbuild -bb (prebuilt binary)"
  rpmbuild -bb "${nodeps[@]}" --define "_topdir $work/rpmbuild" \
    --define "prebuilt_binary $bin" "$spec" >"$work/rpmbuild.log" 2>&1 ||
    { tail -n 40 "$work/rpmbuild.log" >&2; die "rpmbuild failed (log: $work/rpmbuild.log)"; }
  rm -f "$out"/"$name-$version"-*.x86_64.rpm
  cp "$work/rpmbuild/RPMS/x86_64/$name-$version"-*.x86_64.rpm "$out"/
  echo "$key" >"$out/.stamp"
  ls "$out"/"$name-$version"-*.x86_64.rpm
  exit 0
fi

# --source: the distribution build, from a tarball with vendored crates, offline.
src_out="$out/source"
work="$out/.work-source"
rm -rf "$work"
mkdir -p "$work" "$src_out"
stage_tree "$work/stage"
tree="$work/stage/$name-$version"
log "cargo vendor into the tarball"
(cd "$tree" && cargo vendor --locked vendor >"$work/vendor-config.toml" 2>"$work/vendor.log")
mkdir -p "$tree/.cargo"
cp "$work/vendor-config.toml" "$tree/.cargo/config.toml"
grep -q 'directory = "vendor"' "$tree/.cargo/config.toml" || die "cargo vendor printed no source replacement"
tarball="$src_out/$name-$version.tar.gz"
tar -C "$work/stage" -czf "$tarball" "$name-$version"
log "$tarball: $(du -h "$tarball" | cut -f1)"

rpmbuild_in "$work/rpmbuild" true
# Proof of the offline build: cargo is told so, and as root it has no network at all.
isolate=()
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null && unshare -n true 2>/dev/null; then
  isolate=(unshare -n)
  log "rpmbuild -ta without network (unshare -n, CARGO_NET_OFFLINE=true)"
else
  log "rpmbuild -ta with CARGO_NET_OFFLINE=true (not root: network namespace unavailable)"
fi
start=$(date +%s)
env -u CARGO_TARGET_DIR -u RUSTFLAGS CARGO_NET_OFFLINE=true "${isolate[@]}" \
  rpmbuild -ta "${nodeps[@]}" --define "_topdir $work/rpmbuild" "$tarball" >"$work/rpmbuild.log" 2>&1 ||
  { tail -n 40 "$work/rpmbuild.log" >&2; die "rpmbuild -ta failed (log: $work/rpmbuild.log)"; }
log "source build took $(($(date +%s) - start)) s"
cp "$work"/rpmbuild/SRPMS/*.src.rpm "$work"/rpmbuild/RPMS/x86_64/*.rpm "$src_out"/
ls "$src_out"/*.rpm
