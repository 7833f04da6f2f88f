#!/usr/bin/env bash
# Benchmark: `overcloud-keys token inspect` on N Fernet tokens from stdin vs. the same
# decryption in Python (cryptography's MultiFernet with keystone's key list, the way
# keystone's TokenFormatter.unpack does it), in the same run, on the same tokens.
#
#   scripts/bench-token.sh [N [RUNS]]        (default N=100000, RUNS=3)
#
# The tokens are made here with cryptography's Fernet and msgpack payloads shaped like
# keystone 30's (project, domain, system, trust, application credential and unscoped), 80%
# under the primary key and 20% under the secondary one (the day after a rotation), so no
# keystone has to run. Python's figure is its decryption loop alone (interpreter start and
# imports excluded); ours is the whole process: start, key loading, decoding, printing.
# Each figure is the best of RUNS (the machines here are shared: the best run is the one
# least disturbed by other work).
# Target: at least 10x per token.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-100000}"
runs="${2:-3}"
venv="$("$repo/scripts/venv.sh" keystone)"
py="$venv/bin/python"

cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
bin="$repo/target/release/overcloud-keys"

work="$(mktemp -d)"
if [ -n "${BENCH_KEEP:-}" ]; then echo "keeping $work" >&2; else trap 'rm -rf "$work"' EXIT; fi
"$bin" fernet setup --key-repository "$work/keys" >/dev/null
"$bin" fernet rotate --key-repository "$work/keys" >/dev/null # keys 0, 1, 2: 2 is primary

echo "generating $n tokens..." >&2
"$py" -I - "$work/keys" "$n" >"$work/tokens" <<'EOF'
import os, random, sys, time, uuid
import msgpack
from cryptography.fernet import Fernet

repo, n = sys.argv[1], int(sys.argv[2])
primary, secondary = (Fernet(open(os.path.join(repo, k)).read()) for k in ("2", "1"))
rng = random.Random(42)

def uid():
    return (True, uuid.UUID(int=rng.getrandbits(128)).bytes)

def audit():
    return [rng.randbytes(16)]

def payload(i):
    exp = time.time() + 3600
    kind = i % 6
    if kind == 0:
        return (2, uid(), 2, uid(), exp, audit())
    if kind == 1:
        return (1, uid(), 2, "default", exp, audit())
    if kind == 2:
        return (8, uid(), 2, "all", exp, audit())
    if kind == 3:
        return (3, uid(), 2, uid(), exp, audit() + audit(), uid()[1])
    if kind == 4:
        return (9, uid(), 32, uid(), exp, audit(), uid())
    return (0, uid(), 2, exp, audit())

out = []
for i in range(n):
    key = secondary if rng.random() < 0.2 else primary
    out.append(key.encrypt(msgpack.packb(payload(i))).decode().rstrip("="))
sys.stdout.write("\n".join(out) + "\n")
EOF

echo "python: MultiFernet.decrypt + msgpack.unpackb (keystone's unpack)..." >&2
cat >"$work/unpack.py" <<'EOF'
import os, sys, time
import msgpack
from cryptography.fernet import Fernet, MultiFernet

repo = sys.argv[1]
# keystone's FernetUtils.load_keys: every key, sorted by number, descending.
names = sorted((int(f) for f in os.listdir(repo) if f.isdigit()), reverse=True)
crypto = MultiFernet([Fernet(open(os.path.join(repo, str(k))).read()) for k in names])
tokens = sys.stdin.read().split()

def restore_padding(token):  # keystone's TokenFormatter.restore_padding
    missing = len(token) % 4
    return token + "=" * (4 - missing) if missing else token

best_wall = best_cpu = float("inf")
for _ in range(int(sys.argv[2])):
    wall, cpu = time.perf_counter(), time.process_time()
    for token in tokens:
        msgpack.unpackb(crypto.decrypt(restore_padding(token).encode()))
    best_wall = min(best_wall, time.perf_counter() - wall)
    best_cpu = min(best_cpu, time.process_time() - cpu)
print("%.3f %.3f" % (best_wall / len(tokens) * 1e6, best_cpu / len(tokens) * 1e6))
EOF
py_us="$("$py" -I "$work/unpack.py" "$work/keys" "$runs" <"$work/tokens")"

echo "overcloud-keys token inspect (release build, whole process)..." >&2
# Best wall time and best CPU time (user + sys) of RUNS runs, in microseconds.
measure() {
  local t
  for _ in $(seq "$runs"); do
    t="$({
      TIMEFORMAT='%3R %3U %3S'
      time "$bin" "$@" --key-repository "$work/keys" <"$work/tokens" >"$work/out" 2>"$work/err"
    } 2>&1)" || {
      cat "$work/err" >&2
      exit 1
    }
    echo "$t"
  done | awk 'NR == 1 || $1 < w { w = $1 } NR == 1 || $2 + $3 < c { c = $2 + $3 }
    END { printf "%d %d\n", w * 1e6, c * 1e6 }'
}
table_us="$(measure token inspect)"
grep -q "^$n token(s): $n decoded, 0 failed$" "$work/out" || {
  echo "unexpected output: $(tail -1 "$work/out")" >&2
  exit 1
}
value_us="$(measure -f value token inspect)"
[ "$(grep -c ' ok ' "$work/out")" = "$n" ] || {
  echo "unexpected -f value output" >&2
  exit 1
}
json_us="$(measure -f json token inspect)"
grep -q "\"decoded\": $n" "$work/out" || {
  echo "unexpected JSON output" >&2
  exit 1
}

load="$(cut -d' ' -f1-3 /proc/loadavg)"
awk -v load="$load" -v n="$n" -v py="$py_us" -v t="$table_us" -v v="$value_us" -v j="$json_us" 'BEGIN {
  split(py, p, " "); split(t, tt, " "); split(v, vv, " "); split(j, jj, " ")
  printf "tokens: %d (80%% primary key, 20%% secondary; 6 payload versions); load average %s\n", n, load
  printf "per token, best of runs              wall us   cpu us   ratio (wall)  ratio (cpu)\n"
  printf "python  MultiFernet decrypt+unpack  %8.3f %8.3f   (decryption loop only)\n", p[1], p[2]
  row("rust    -f table, whole process", tt)
  row("rust    -f value, whole process", vv)
  row("rust    -f json,  whole process", jj)
  print "(-f json builds one JSON document in memory; table and value stream)"
}
function row(name, r,   w, c) {
  w = r[1] / n; c = r[2] / n
  printf "%-35s %8.3f %8.3f   %10.1fx %11.1fx\n", name, w, c, p[1] / w, p[2] / c
}'
