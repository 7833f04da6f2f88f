#!/bin/sh
# overcloud-keys role-scoped delivery, run by Heat/Ansible as root on each node of the roles
# that run keystone (<Role>ExtraConfigPre), before services are configured.
# Inputs (environment): artifact_sha256; artifact_b64 (embedded tarball) or artifact_url;
# layout_root and key_dirs (paths relative to /). OVERCLOUD_KEYS_ROOT replaces / in tests.
# Nothing is changed unless the tarball matches its SHA-256 and holds only the key
# directories; each key directory is then replaced whole, so keys removed from the
# tarball (a retired JWS public key) disappear from the node too.
set -eu

root=${OVERCLOUD_KEYS_ROOT:-/}
root=${root%/}

fail() {
    echo "overcloud-keys: $*; the previous keys were left in place" >&2
    exit 1
}

[ -n "${artifact_sha256:-}" ] || fail "input artifact_sha256 is empty"
[ -n "${layout_root:-}" ] || fail "input layout_root is empty"
[ -n "${key_dirs:-}" ] || fail "input key_dirs is empty"

work=$(mktemp -d) || fail "cannot create a temporary directory"
trap 'rm -rf "$work"' EXIT INT TERM
archive="$work/keys.tar.gz"

if [ -n "${artifact_url:-}" ]; then
    curl -fsS --retry 3 --max-time 300 -o "$archive" "$artifact_url" \
        || fail "cannot download the key artifact"
elif [ -n "${artifact_b64:-}" ]; then
    printf '%s' "$artifact_b64" | base64 -d > "$archive" \
        || fail "the embedded key artifact is not valid base64"
else
    fail "neither artifact_url nor artifact_b64 is set"
fi

actual=$(sha256sum "$archive" | cut -d' ' -f1)
[ "$actual" = "$artifact_sha256" ] \
    || fail "key artifact checksum mismatch: expected $artifact_sha256, got $actual"

tar -tzf "$archive" > "$work/entries" || fail "the key artifact is not a readable tar.gz"
while IFS= read -r entry; do
    case "$entry" in
        /* | ../* | */../* | *..) fail "unsafe entry in the key artifact: $entry" ;;
    esac
    allowed=no
    for dir in $key_dirs; do
        case "$entry" in
            "$dir" | "$dir"/ | "$dir"/*) allowed=yes ;;
        esac
    done
    [ "$allowed" = yes ] || fail "entry outside the key directories: $entry"
done < "$work/entries"

mkdir -p "$root/$layout_root"
stage=$(mktemp -d "$root/$layout_root/.overcloud-keys-new.XXXXXX") \
    || fail "cannot create a staging directory under $root/$layout_root"
trap 'rm -rf "$work" "$stage"' EXIT INT TERM
tar -xzf "$archive" --same-owner --same-permissions --numeric-owner -C "$stage" \
    || fail "cannot extract the key artifact"

for dir in $key_dirs; do
    [ -d "$stage/$dir" ] || fail "the key artifact has no $dir"
done
for dir in $key_dirs; do
    target="$root/$dir"
    mkdir -p "$(dirname "$target")"
    if [ -e "$target" ]; then
        rm -rf "$target.overcloud-keys-old"
        mv "$target" "$target.overcloud-keys-old"
    fi
    mv "$stage/$dir" "$target"
    rm -rf "$target.overcloud-keys-old"
done
echo "overcloud-keys: installed key artifact $artifact_sha256 into $key_dirs"
