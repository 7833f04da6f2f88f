#!/bin/sh
# overcloud-keys role-scoped delivery, run by Heat/Ansible as root on each node of the roles
# that run keystone (<Role>ExtraConfigPre), before services are configured.
# The tarball (base64) or its TempURL is substituted into this script by Heat (str_replace),
# never passed as a deployment input: heat-config's script hook logs every input's value, and
# TripleO prints that log. Inputs (environment): artifact_sha256; layout_root and key_dirs
# (paths relative to /). When this script is run by hand, artifact_b64 or artifact_url
# (environment) stand in for the substituted values. OVERCLOUD_KEYS_ROOT replaces / in tests.
# Nothing is changed unless the tarball matches its SHA-256 and holds only the key
# directories; each key directory is then replaced whole, so keys removed from the
# tarball (a retired JWS public key) disappear from the node too. Under SELinux, what this
# script creates below var/lib/config-data is labelled container_file_t (level s0), as
# tripleo-heat-templates labels that tree. Afterwards, the copies of this deployment that
# heat-config and config-download left on the node are scrubbed of the tarball and TempURL
# signature and made 0600 (docs/delivery.md lists them).
set -eu

root=${OVERCLOUD_KEYS_ROOT:-/}
root=${root%/}

# Substituted by Heat; a value still starting with the placeholder prefix was not.
b64=$(
    cat << 'OVERCLOUD_KEYS_B64'
__OVERCLOUD_KEYS_ARTIFACT_B64__
OVERCLOUD_KEYS_B64
)
url=$(
    cat << 'OVERCLOUD_KEYS_URL'
__OVERCLOUD_KEYS_ARTIFACT_URL__
OVERCLOUD_KEYS_URL
)
case $b64 in __OVERCLOUD_KEYS_*) b64=${artifact_b64:-} ;; esac
case $url in __OVERCLOUD_KEYS_*) url=${artifact_url:-} ;; esac

# A line found in every copy of this deployment (this script is its config).
marker='overcloud-keys role-scoped delivery'
scrubbed=SCRUBBED-BY-OVERCLOUD-KEYS

# Scrubs one file that holds this deployment and makes it 0600; never fails, prints no
# secret. The scrubbed copy replaces the file (rename), so a reader never sees half of it.
scrub_file() {
    sc_file=$1
    sc_tmp=$(mktemp "$(dirname "$sc_file")/.overcloud-keys-scrub.XXXXXX" 2> /dev/null) \
        || sc_tmp=
    # A gzip stream's base64 starts with H4sI; a TempURL's secret is its signature.
    if [ -n "$sc_tmp" ] \
        && sed -e "s|H4sI[A-Za-z0-9+/=]\{64,\}|$scrubbed|g" \
            -e "s|temp_url_sig=[A-Za-z0-9:+/=_%-]\{32,\}|temp_url_sig=$scrubbed|g" \
            "$sc_file" > "$sc_tmp" 2> /dev/null \
        && chmod 0600 "$sc_tmp" 2> /dev/null \
        && mv -f "$sc_tmp" "$sc_file" 2> /dev/null; then
        return 0
    fi
    [ -z "$sc_tmp" ] || rm -f "$sc_tmp" 2> /dev/null
    chmod 0600 "$sc_file" 2> /dev/null \
        || echo "overcloud-keys: warning: cannot scrub or restrict $sc_file" >&2
    return 0
}

# Every copy of this deployment (this run's and earlier ones') where heat-config and
# config-download keep them; missing directories are fine. Never fails.
scrub() {
    for sc_dir in "${HEAT_CONFIG_DEPLOYED:-$root/var/lib/heat-config/deployed}" \
        "$root/var/lib/heat-config/tripleo-config-download"; do
        for sc_file in "$sc_dir"/* "$sc_dir"/.[!.]*; do
            if [ ! -f "$sc_file" ] || [ -L "$sc_file" ]; then continue; fi
            case $sc_file in */.overcloud-keys-scrub.*) continue ;; esac
            grep -qF "$marker" "$sc_file" 2> /dev/null || continue
            scrub_file "$sc_file"
        done
    done
    # The script hook's copy of this script (it writes a new one for a re-run).
    sc_dir=${HEAT_SCRIPT_WORKING:-$root/var/lib/heat-config/heat-config-script}
    for sc_file in "$sc_dir"/*; do
        if [ ! -f "$sc_file" ] || [ -L "$sc_file" ]; then continue; fi
        grep -qF "$marker" "$sc_file" 2> /dev/null || continue
        rm -f "$sc_file" 2> /dev/null \
            || echo "overcloud-keys: warning: cannot remove $sc_file" >&2
    done
    return 0
}

fail() {
    scrub || :
    echo "overcloud-keys: $*; the previous keys were left in place" >&2
    exit 1
}

[ -n "${artifact_sha256:-}" ] || fail "input artifact_sha256 is empty"
[ -n "${layout_root:-}" ] || fail "input layout_root is empty"
[ -n "${key_dirs:-}" ] || fail "input key_dirs is empty"

# Under SELinux, directories created below var/lib/config-data (bind-mounted into the
# keystone container) get the type and level tripleo-heat-templates gives that tree.
selinux=no
if command -v selinuxenabled > /dev/null 2>&1 && selinuxenabled; then
    selinux=yes
fi
container_path() {
    case $1 in
        "$root/var/lib/config-data" | "$root/var/lib/config-data/"*) return 0 ;;
    esac
    return 1
}
label() {
    if [ "$1" = -R ]; then
        chcon -R -t container_file_t -l s0 "$2" \
            || fail "cannot label $2 container_file_t (SELinux)"
    else
        chcon -t container_file_t -l s0 "$1" \
            || fail "cannot label $1 container_file_t (SELinux)"
    fi
}
# Creates a directory and its missing parents, labelling the ones it created.
make_dir() {
    md_missing=
    md_dir=$1
    while [ ! -e "$md_dir" ]; do
        md_missing="$md_dir
$md_missing"
        md_dir=$(dirname "$md_dir")
    done
    mkdir -p "$1"
    [ "$selinux" = yes ] || return 0
    printf '%s' "$md_missing" > "$work/created"
    while IFS= read -r md_dir; do
        [ -n "$md_dir" ] || continue
        if container_path "$md_dir"; then
            label "$md_dir"
        fi
    done < "$work/created"
}

work=$(mktemp -d) || fail "cannot create a temporary directory"
trap 'rm -rf "$work"' EXIT INT TERM
archive="$work/keys.tar.gz"

if [ -n "$url" ]; then
    case $url in
        *'"'* | *\\*) fail "the artifact URL has a quote or a backslash" ;;
    esac
    # The URL goes to curl on stdin: a command line is readable by every local user.
    printf 'url = "%s"\n' "$url" \
        | curl -fsS --retry 3 --max-time 300 -o "$archive" -K - \
        || fail "cannot download the key artifact"
elif [ -n "$b64" ]; then
    printf '%s' "$b64" | base64 -d > "$archive" \
        || fail "the embedded key artifact is not valid base64"
else
    fail "neither an embedded artifact nor an artifact URL is set"
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

make_dir "$root/$layout_root"
stage=$(mktemp -d "$root/$layout_root/.overcloud-keys-new.XXXXXX") \
    || fail "cannot create a staging directory under $root/$layout_root"
trap 'rm -rf "$work" "$stage"' EXIT INT TERM
tar -xzf "$archive" --same-owner --same-permissions --numeric-owner -C "$stage" \
    || fail "cannot extract the key artifact"

for dir in $key_dirs; do
    [ -d "$stage/$dir" ] || fail "the key artifact has no $dir"
done
# Labelled before anything moves, so a labelling failure leaves the old keys in place.
if [ "$selinux" = yes ] && container_path "$root/$layout_root"; then
    label -R "$stage"
fi
for dir in $key_dirs; do
    target="$root/$dir"
    make_dir "$(dirname "$target")"
    if [ -e "$target" ]; then
        rm -rf "$target.overcloud-keys-old"
        mv "$target" "$target.overcloud-keys-old"
    fi
    mv "$stage/$dir" "$target"
    rm -rf "$target.overcloud-keys-old"
done
scrub || :
echo "overcloud-keys: installed key artifact $artifact_sha256 into $key_dirs"
