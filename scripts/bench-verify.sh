#!/usr/bin/env bash
# Benchmark: `overcloud-keys verify` against N simulated keystone nodes vs fingerprinting the
# same files with `ansible -m shell` across the same inventory, timed as whole processes in
# the same run, paired (A B A B ...), medians.
#
#   scripts/bench-verify.sh            set up the nodes, run the paired comparison, clean up
#   scripts/bench-verify.sh --hold     set up the nodes, print both commands, keep the nodes
#                                      up until interrupted (time them with any timer, e.g.
#                                      hyperfine or /usr/bin/time -v)
#
# Nodes: real sshd daemons on 127.0.0.1 (as tests/nodes_harness does), each started inside
# `unshare -m --propagation private` with its own directory bind-mounted on
# /var/lib/config-data, so both sides read the real absolute path
# /var/lib/config-data/puppet-generated/keystone/etc/keystone on every node. Each node holds
# the keys of a work directory made by `overcloud-keys build` (owner 42425, 0600/0700).
# Needs root, unshare, openssh-server (installed with apt-get when missing) and the
# ansible-core venv (scripts/test-ansible.sh --venv).
#
# A: overcloud-keys verify --forks N (fingerprints every key directory on the host and, where
#    one runs, in the keystone container, and compares them with the work directory).
# B: ansible keystone -m shell -f N -a '<stat + sha256sum of the same key directories>' with
#    ansible-core's defaults (ControlMaster/ControlPersist=60s: B reuses its ssh connections
#    between runs, A opens new ones every run) and ansible_python_interpreter set (no
#    interpreter discovery round trip). B only gathers: comparing is left undone on its side.
#
# Knobs: BENCH_NODES=20  BENCH_RUNS=10  BENCH_WARMUP=1  BENCH_FORKS=<nodes>
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
NODES="${BENCH_NODES:-20}"
RUNS="${BENCH_RUNS:-10}"
WARMUP="${BENCH_WARMUP:-1}"
FORKS="${BENCH_FORKS:-$NODES}"
SSHD=/usr/sbin/sshd
ROOT_ON_NODE=/var/lib/config-data/puppet-generated/keystone/etc/keystone
HOLD=0
[ "${1:-}" = "--hold" ] && HOLD=1

log() { printf '>> %s\n' "$*" >&2; }
die() { printf 'bench-verify.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (private mount namespaces, sshd)"
[ -n "${EPOCHREALTIME:-}" ] || die "needs bash >= 5 (\$EPOCHREALTIME)"
if [ ! -x "$SSHD" ]; then
  log "installing openssh-server (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server >/dev/null 2>&1; } \
    || die "cannot install openssh-server"
fi
for tool in unshare ssh ssh-keygen ss; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed"
done

log "cargo build --release"
cargo build --release --quiet --bin overcloud-keys || die "cargo build --release failed"
BIN="$repo/target/release/overcloud-keys"
log "ansible-core venv (scripts/test-ansible.sh --venv)"
venv="$("$repo/scripts/test-ansible.sh" --venv)" || die "no ansible venv"
ANSIBLE="$venv/bin/ansible"
[ -x "$ANSIBLE" ] || die "missing $ANSIBLE"

# --- sandbox and nodes -----------------------------------------------------------------------
W="$(mktemp -d "${TMPDIR:-/tmp}/overcloud-keys-bench-verify.XXXXXX")"
pids=()
cleanup() {
  # The shared ssh connections both sides left (Ansible's and verify's masters).
  for sock in "$W"/home/.ansible/cp/* "$W"/home/.cache/overcloud-keys/ssh/*; do
    [ -S "$sock" ] && ssh -o ControlPath="$sock" -O exit node >/dev/null 2>&1
  done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p /var/lib/config-data /run/sshd "$W/home"
export HOME="$W/home" ANSIBLE_LOCAL_TEMP="$W/home/.ansible/tmp"
unset XDG_RUNTIME_DIR # the shared-connection sockets stay in the sandbox

"$BIN" build --workdir "$W/wd" >/dev/null || die "overcloud-keys build failed"
ssh-keygen -q -t ed25519 -N '' -f "$W/client_key"
cp "$W/client_key.pub" "$W/authorized_keys"
: >"$W/known_hosts"

free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 30000))
    ss -ltnH "sport = :$port" | grep -q . || { echo "$port"; return; }
  done
}

hosts=""
for i in $(seq 0 $((NODES - 1))); do
  node="$W/nodes/ctl-$i"
  keys="$node/config-data/puppet-generated/keystone/etc/keystone"
  mkdir -p "$keys"
  cp -a "$W/wd/keys/." "$keys/"
  chown -R 42425:42425 "$keys"
  ssh-keygen -q -t ed25519 -N '' -f "$node/host_key"
  port="$(free_port)"
  cat >"$node/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $node/host_key
AuthorizedKeysFile $W/authorized_keys
PidFile none
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
MaxStartups 100
LogLevel ERROR
EOF
  unshare -m --propagation private sh -c \
    "mount --bind '$node/config-data' /var/lib/config-data && exec $SSHD -D -e -f '$node/sshd_config'" \
    </dev/null >/dev/null 2>"$node/sshd.log" &
  pids+=("$!")
  printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$node/host_key.pub")" >>"$W/known_hosts"
  hosts+="    ctl-$i: {ansible_host: 127.0.0.1, ansible_port: $port}"$'\n'
done

cat >"$W/inventory.yaml" <<EOF
Controller:
  hosts:
$hosts  vars:
    ansible_ssh_user: root
    ansible_ssh_private_key_file: $W/client_key
    ansible_ssh_common_args: '-F /dev/null -o IdentitiesOnly=yes -o UserKnownHostsFile=$W/known_hosts -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes'
    ansible_python_interpreter: /usr/bin/python3
keystone:
  children:
    Controller: {}
EOF

log "waiting for $NODES sshd daemons"
for _ in $(seq 1 300); do
  "$BIN" verify --workdir "$W/wd" --inventory "$W/inventory.yaml" --forks "$FORKS" >/dev/null 2>&1 && break
  sleep 0.1
done
"$BIN" verify --workdir "$W/wd" --inventory "$W/inventory.yaml" --forks "$FORKS" >"$W/verify.txt" \
  || { cat "$W/verify.txt" >&2; die "verify does not pass on the fresh nodes"; }

# --- the two commands ------------------------------------------------------------------------
fingerprint="cd $ROOT_ON_NODE && for d in fernet-keys credential-keys fernet-receipts jws-keys/private jws-keys/public; do [ -d \$d ] || continue; stat -c '%a %u %g %s %n' \$d \$d/*; sha256sum \$d/*; done"
CMD_A=("$BIN" verify --workdir "$W/wd" --inventory "$W/inventory.yaml" --forks "$FORKS" -f json)
CMD_B=("$ANSIBLE" keystone -i "$W/inventory.yaml" -f "$FORKS" -m shell -a "$fingerprint")
"${CMD_B[@]}" >"$W/ansible.txt" 2>&1 || { cat "$W/ansible.txt" >&2; die "ansible fails on the nodes"; }
[ "$(grep -c 'CHANGED' "$W/ansible.txt")" -eq "$NODES" ] \
  || { cat "$W/ansible.txt" >&2; die "ansible did not reach every node"; }

if [ "$HOLD" -eq 1 ]; then
  {
    printf 'export HOME=%q ANSIBLE_LOCAL_TEMP=%q\n' "$HOME" "$ANSIBLE_LOCAL_TEMP"
    printf 'A=%q\n' "$(printf '%q ' "${CMD_A[@]}")"
    printf 'B=%q\n' "$(printf '%q ' "${CMD_B[@]}")"
  } >"$W/commands.sh"
  log "$NODES nodes up; commands in $W/commands.sh (source it; run \"\$A\" and \"\$B\" with sh -c); Ctrl-C to stop"
  cat "$W/commands.sh"
  while :; do sleep 3600 & wait "$!"; done
fi

# --- paired runs -----------------------------------------------------------------------------
time_us() {
  local start end
  start="${EPOCHREALTIME/[.,]/}"
  "$@" >/dev/null 2>&1 || die "failed: $*"
  end="${EPOCHREALTIME/[.,]/}"
  echo $((end - start))
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

log "warm-up x$WARMUP, then $RUNS paired runs (A B A B ...)"
for _ in $(seq 1 "$WARMUP"); do time_us "${CMD_A[@]}" >/dev/null; time_us "${CMD_B[@]}" >/dev/null; done
: >"$W/a"; : >"$W/b"; : >"$W/ratio"
for _ in $(seq 1 "$RUNS"); do
  a="$(time_us "${CMD_A[@]}")"
  b="$(time_us "${CMD_B[@]}")"
  echo "$a" >>"$W/a"
  echo "$b" >>"$W/b"
  awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f\n", b / a}' >>"$W/ratio"
done
ma="$(median <"$W/a")"
mb="$(median <"$W/b")"
mr="$(median <"$W/ratio")"
printf '\n%d nodes, --forks %d, %d paired runs, %s cores\n' "$NODES" "$FORKS" "$RUNS" "$(nproc)"
printf '%-58s median %8.1f ms\n' "A: overcloud-keys verify (fingerprint + compare)" "$(awk -v x="$ma" 'BEGIN {print x / 1000}')"
printf '%-58s median %8.1f ms\n' "B: ansible -m shell (stat + sha256sum only)" "$(awk -v x="$mb" 'BEGIN {print x / 1000}')"
printf 'median of the paired ratios B/A: %sx (target >= 5x)\n' "$mr"
