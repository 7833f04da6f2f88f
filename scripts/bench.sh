#!/usr/bin/env bash
# Benchmark: overcloud-keys vs keystone-manage, timed as whole processes in the same run.
#
#   scripts/bench.sh
#
# 1. keys:  `overcloud-keys fernet setup` + `credential setup` + `jws create` (3 processes)
#           vs `keystone-manage fernet_setup` + `credential_setup` + `create_jws_keypair`.
# 2. build: `overcloud-keys build --workdir DIR` (only if the subcommand exists)
#           vs the manual seed procedure: the same 3 keystone-manage calls + `tar -zcf`.
#
# Every timed run starts from fresh, empty directories (removed and recreated by the untimed
# prepare step). keystone-manage gets its own keystone.conf whose key repositories point at
# temporary directories (never /etc/keystone). [fernet_receipts] points at the same directory
# as [fernet_tokens], so fernet_setup creates exactly one Fernet repository, like ours.
# As root, both sides get --keystone-user/--keystone-group (the current uid/gid), so both
# chown what they write.
#
# Uses hyperfine when available (installed with apt-get when running as root and it is
# missing), otherwise a bash loop timed with $EPOCHREALTIME (bash >= 5) or `date +%s%N`. Results: a table on stdout and
# target/bench/results.json (raw per-benchmark data in target/bench/raw/).
#
# Environment knobs (defaults keep the whole script under ~3 minutes on a 2-core machine once
# the release binary and the keystone venv exist):
#   BENCH_OURS_RUNS=100 BENCH_OURS_WARMUP=10   runs of the overcloud-keys side
#   BENCH_KS_RUNS=5     BENCH_KS_WARMUP=1      runs of the keystone-manage side (~2-4 s/process)
#   BENCH_NO_HYPERFINE=1                       force the bash-loop fallback
#   BENCH_NO_INSTALL=1                         never apt-get install hyperfine
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

TARGET_RATIO=200
OURS_RUNS="${BENCH_OURS_RUNS:-100}"
OURS_WARMUP="${BENCH_OURS_WARMUP:-10}"
KS_RUNS="${BENCH_KS_RUNS:-5}"
KS_WARMUP="${BENCH_KS_WARMUP:-1}"
out="$repo/target/bench"
raw="$out/raw"

log() { printf '>> %s\n' "$*" >&2; }
die() { printf 'bench.sh: %s\n' "$*" >&2; exit 1; }

# Wall clock in microseconds, stored into the variable named $1. bash >= 5 has $EPOCHREALTIME,
# read without a fork; `$(date +%s%N)` forks and execs inside the timed interval (a few ms
# charged to the fast side), so it is only the fallback for older shells.
if [ -n "${EPOCHREALTIME:-}" ]; then
  stamp_us() { printf -v "$1" '%s' "${EPOCHREALTIME/[.,]/}"; }
  loop_clock="\$EPOCHREALTIME"
else
  stamp_us() { local t; t="$(date +%s%N)"; printf -v "$1" '%s' "${t%???}"; }
  loop_clock='date +%s%N'
fi

# --- prerequisites ---------------------------------------------------------------------------
log "cargo build --release"
cargo build --release --quiet --bin overcloud-keys || die "cargo build --release failed"
BIN="$repo/target/release/overcloud-keys"
[ -x "$BIN" ] || die "missing $BIN after cargo build"

log "keystone venv (scripts/venv.sh keystone; installs keystone 30.0.0 on first call)"
venv="$("$repo/scripts/venv.sh" keystone)" || die "scripts/venv.sh keystone failed"
KM="$venv/bin/keystone-manage"
PY="$venv/bin/python"
[ -x "$KM" ] || die "missing $KM"
ks_version="$("$PY" -I -c 'from importlib.metadata import version; print(version("keystone"))')"

have_hyperfine=0
if [ -z "${BENCH_NO_HYPERFINE:-}" ]; then
  if ! command -v hyperfine >/dev/null 2>&1 && [ -z "${BENCH_NO_INSTALL:-}" ] \
    && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing hyperfine (apt-get)"
    apt-get install -y -qq hyperfine >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq hyperfine >/dev/null 2>&1; } \
      || log "apt-get install hyperfine failed; using the bash loop"
  fi
  command -v hyperfine >/dev/null 2>&1 && have_hyperfine=1
fi
if [ "$have_hyperfine" -eq 1 ]; then
  timer="hyperfine $(hyperfine --version | awk '{print $2}')"
else
  timer="bash loop ($loop_clock)"
fi
log "timer: $timer"

# --- sandbox ---------------------------------------------------------------------------------
W="$(mktemp -d "${TMPDIR:-/tmp}/overcloud-keys-bench.XXXXXX")"
cleanup() { rm -rf "$W"; }
trap cleanup EXIT
mkdir -p "$W/home" "$raw"
rm -f "$raw"/*.json

KCONF="$W/keystone.conf"
cat >"$KCONF" <<EOF
[DEFAULT]
log_file = $W/keystone-manage.log
[fernet_tokens]
key_repository = $W/ks/fernet-keys
[fernet_receipts]
key_repository = $W/ks/fernet-keys
[credential]
key_repository = $W/ks/credential-keys
EOF

# keystone-manage refuses the key-setup subcommands as root without an owner; give both sides
# the same owner so both do the chown work.
OWN=""
if [ "$(id -u)" -eq 0 ]; then OWN="--keystone-user $(id -u) --keystone-group $(id -g)"; fi

# The timed commands read their paths from the environment (no quoting games in strings).
export W BIN KM KCONF OWN

# shellcheck disable=SC2016 # these strings are expanded by the benchmark shell, not here
{
  PREP_OURS='rm -rf "$W/ours" && mkdir -p "$W/ours"'
  CMD_OURS='"$BIN" fernet setup --key-repository "$W/ours/fernet-keys" $OWN && "$BIN" credential setup --key-repository "$W/ours/credential-keys" $OWN && "$BIN" jws create --private-dir "$W/ours/jws-private" --public-dir "$W/ours/jws-public" $OWN'
  PREP_KS='rm -rf "$W/ks" && mkdir -p "$W/ks/jws"'
  CMD_KS='"$KM" --config-file "$KCONF" fernet_setup $OWN && "$KM" --config-file "$KCONF" credential_setup $OWN && env -C "$W/ks/jws" "$KM" --config-file "$KCONF" create_jws_keypair $OWN'
  PREP_SEED="$PREP_KS"' && rm -f "$W/seed.tar.gz"'
  CMD_SEED="$CMD_KS"' && tar -zcf "$W/seed.tar.gz" -C "$W/ks" fernet-keys credential-keys jws'
  PREP_BUILD='rm -rf "$W/build"'
  CMD_BUILD_BASE='HOME="$W/home" "$BIN" build --workdir "$W/build"'
}

# run_bench NAME WARMUP RUNS PREPARE COMMAND -> writes $raw/NAME.json (hyperfine schema subset)
run_bench() {
  local name="$1" warmup="$2" runs="$3" prep="$4" cmd="$5"
  log "benchmark $name: $warmup warmup + $runs runs"
  if [ "$have_hyperfine" -eq 1 ]; then
    hyperfine --style basic --shell sh --warmup "$warmup" --runs "$runs" \
      --prepare "$prep" -n "$name" --export-json "$raw/$name.json" "$cmd" >&2
  else
    local i t0 t1 times=()
    for ((i = 0; i < warmup + runs; i++)); do
      eval "$prep"
      stamp_us t0
      eval "$cmd" >/dev/null 2>&1 || die "$name: command failed: $cmd"
      stamp_us t1
      if ((i >= warmup)); then times+=("$((t1 - t0))"); fi
    done
    "$PY" -I - "$raw/$name.json" "$name" "$cmd" "${times[@]}" <<'PYEOF'
import json, statistics, sys
path, name, cmd, *ns = sys.argv[1:]
t = [int(x) / 1e6 for x in ns]
json.dump({"results": [{"command": name, "command_line": cmd, "mean": statistics.mean(t),
           "stddev": statistics.stdev(t) if len(t) > 1 else 0.0,
           "median": statistics.median(t), "min": min(t), "max": max(t), "times": t}]},
          open(path, "w"), indent=2)
PYEOF
  fi
}

# check_files FILE... : every listed file must exist and be non-empty (catches silent no-ops)
check_files() {
  local f
  for f in "$@"; do [ -s "$f" ] || die "expected output missing after benchmark: $f"; done
}

# --- 1. keys ---------------------------------------------------------------------------------
run_bench ours-keys "$OURS_WARMUP" "$OURS_RUNS" "$PREP_OURS" "$CMD_OURS"
check_files "$W"/ours/fernet-keys/{0,1} "$W"/ours/credential-keys/{0,1} \
  "$W/ours/jws-private/private.pem" "$W/ours/jws-public/public.pem"
run_bench keystone-keys "$KS_WARMUP" "$KS_RUNS" "$PREP_KS" "$CMD_KS"
check_files "$W"/ks/fernet-keys/{0,1} "$W"/ks/credential-keys/{0,1} \
  "$W/ks/jws/private.pem" "$W/ks/jws/public.pem"

# --- 2. build (if the subcommand exists) -----------------------------------------------------
build_state="not available"
CMD_BUILD=""
if "$BIN" build --help >/dev/null 2>&1; then
  # Default flags: build creates every repository (Fernet, credential, JWS), packs and stages
  # the local artifact and renders the environment files (checked after the runs).
  CMD_BUILD="$CMD_BUILD_BASE"
  # One untimed probe: a failing build is reported, not fatal for the rest of the benchmark.
  eval "$PREP_BUILD"
  if probe_err="$(eval "$CMD_BUILD" 2>&1 >/dev/null)"; then
    build_state="available"
    run_bench ours-build "$OURS_WARMUP" "$OURS_RUNS" "$PREP_BUILD" "$CMD_BUILD"
    for f in '*.tar.gz' private.pem public.pem; do
      [ -n "$(find "$W/build" -name "$f" -size +0 -print -quit 2>/dev/null)" ] \
        || die "overcloud-keys build left no $f under its workdir"
    done
    [ "$(find "$W/build" -path '*-keys/1' -size +0 | wc -l)" -ge 2 ] \
      || die "overcloud-keys build left no Fernet/credential keys under its workdir"
    # keystone-manage is already warm from section 1 (same processes, same venv), so the seed
    # side needs no extra warmup run unless asked for.
    run_bench keystone-seed "${BENCH_SEED_WARMUP:-0}" "$KS_RUNS" "$PREP_SEED" "$CMD_SEED"
    check_files "$W/seed.tar.gz"
  else
    build_state="failed"
    log "overcloud-keys build failed, section skipped: $(printf '%s' "$probe_err" | tail -n 3)"
  fi
fi

# --- report ----------------------------------------------------------------------------------
"$PY" -I - "$raw" "$out/results.json" "$TARGET_RATIO" "$build_state" "$timer" "$ks_version" \
  "$("$BIN" --version)" "$(nproc)" "$(uname -srm)" "$(id -u)" \
  "$CMD_OURS" "$CMD_KS" "$CMD_BUILD" "$CMD_SEED" <<'PYEOF'
import datetime, json, os, sys
(raw, dest, target, build_state, timer, ks_version, ok_version, ncpu, kernel, uid,
 cmd_ours, cmd_ks, cmd_build, cmd_seed) = sys.argv[1:]
target = float(target)

def load(name, cmdline):
    r = json.load(open(os.path.join(raw, name + ".json")))["results"][0]
    return {"command": cmdline, "runs": len(r["times"]), "median_s": r["median"],
            "mean_s": r["mean"], "stddev_s": r.get("stddev") or 0.0, "min_s": r["min"],
            "max_s": r["max"], "times_s": r["times"]}

def section(ours, theirs, ours_cmd, theirs_cmd):
    o, t = load(ours, ours_cmd), load(theirs, theirs_cmd)
    ratio = t["median_s"] / o["median_s"]
    return {"overcloud_keys": o, "keystone": t, "ratio": ratio, "meets_target": ratio >= target}

res = {
    "schema": 1,
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "timer": timer,
    "host": {"cpus": int(ncpu), "kernel": kernel, "uid": int(uid)},
    "versions": {"overcloud_keys": ok_version, "keystone": ks_version},
    "target_ratio": target,
    "ratio_definition": "median wall time keystone side / median wall time overcloud-keys side",
    "keys": section("ours-keys", "keystone-keys", cmd_ours, cmd_ks),
    "build": {"available": build_state == "available", "state": build_state},
}
if build_state == "available":
    res["build"].update(section("ours-build", "keystone-seed", cmd_build, cmd_seed))
with open(dest + ".tmp", "w") as f:
    json.dump(res, f, indent=2)
    f.write("\n")
os.replace(dest + ".tmp", dest)

def ms(s):
    return f"{s * 1000:10.2f} ms"

rows = [("keys", "overcloud-keys (fernet+credential+jws)", "keystone-manage x3", res["keys"])]
if res["build"]["available"]:
    rows.append(("build", "overcloud-keys build", "keystone-manage x3 + tar -zcf", res["build"]))
print()
print(f"{timer}; keystone {ks_version}; {ncpu} CPUs; medians of whole-process wall time")
print(f"{'section':8} {'overcloud-keys':>13} {'keystone side':>13} {'ratio':>9}  target >= {target:.0f}x")
for name, _, _, s in rows:
    o, t = s["overcloud_keys"], s["keystone"]
    verdict = "met" if s["meets_target"] else "NOT met"
    print(f"{name:8} {ms(o['median_s'])} {ms(t['median_s'])} {s['ratio']:8.0f}x  {verdict}"
          f"  (runs {o['runs']}/{t['runs']})")
if not res["build"]["available"]:
    print(f"build: {build_state}")
for name, ours, theirs, _ in rows:
    print(f"  {name}: {ours} vs {theirs}")
print(f"results: {dest}")
PYEOF
