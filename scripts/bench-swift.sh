#!/usr/bin/env bash
# Benchmark: `overcloud-keys upload` vs `swift upload` (python-swiftclient), same file, same
# local Swift 2.38.3, same run.
#
#   scripts/bench-swift.sh
#
# Starts an all-in-one Swift on 127.0.0.1 with the test harness's launcher
# (tests/swift_harness/swift_aio.py: account, container, object servers + a tempauth proxy,
# one process each), writes a random file (1 GiB by default) and its .sha256, then uploads it
# BENCH_RUNS times with each client, alternating, each run into a fresh container (so neither
# side can skip an upload), timed as whole processes under `/usr/bin/time -v` (wall time and
# peak RSS; `time` is installed with apt-get when missing and running as root). Every upload is
# checked afterwards (object size, and for overcloud-keys the TempURL's body SHA-256 through a
# plain GET) and deleted before the next run.
#
# Targets (issue 5): overcloud-keys faster than swiftclient, peak RSS under 64 MiB.
# Results: a table on stdout, target/bench/swift.json.
#
# Environment knobs:
#   BENCH_SIZE_MIB=1024   file size
#   BENCH_RUNS=3          runs per client (the median is reported)
#   BENCH_KEEP=1          keep the work directory (file, logs, Swift)
#   BENCH_OK_ARGS="..."   extra arguments for `overcloud-keys upload` (word-split)
#   BENCH_SC_ARGS="..."   extra arguments for `swift upload` (word-split)
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

SIZE_MIB="${BENCH_SIZE_MIB:-1024}"
RUNS="${BENCH_RUNS:-3}"
RSS_TARGET_KIB=$((64 * 1024))
out="$repo/target/bench"

log() { printf '>> %s\n' "$*" >&2; }
die() { printf 'bench-swift.sh: %s\n' "$*" >&2; exit 1; }

# --- prerequisites ---------------------------------------------------------------------------
log "cargo build --release"
cargo build --release --quiet --bin overcloud-keys || die "cargo build --release failed"
BIN="$repo/target/release/overcloud-keys"
"$BIN" upload --help >/dev/null 2>&1 || die "$BIN has no 'upload' subcommand"

log "swift venv (scripts/venv.sh swift)"
venv="$("$repo/scripts/venv.sh" swift)" || die "scripts/venv.sh swift failed"
PY="$venv/bin/python"
SWIFT_CLI="$venv/bin/swift"

if [ ! -x /usr/bin/time ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing GNU time (apt-get)"
    apt-get install -y -qq time >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq time >/dev/null 2>&1; } \
      || die "apt-get install time failed"
  else
    die "/usr/bin/time (GNU time) is required"
  fi
fi

# Nothing may reach a proxy or another cloud.
for v in $(env | sed -n 's/^\(OS_[A-Za-z_]*\|ST_[A-Za-z_]*\|[A-Za-z_]*_proxy\|[A-Za-z_]*_PROXY\)=.*/\1/p'); do
  unset "$v"
done
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

# --- sandbox and Swift -----------------------------------------------------------------------
W="$(mktemp -d "${TMPDIR:-/tmp}/overcloud-keys-bench-swift.XXXXXX")"
mkdir -p "$W/home" "$W/swift" "$out"
aio_pid=""
cleanup() {
  # SIGTERM: the launcher stops the servers (and removes their directory unless kept).
  if [ -n "$aio_pid" ] && kill -TERM "$aio_pid" 2>/dev/null; then
    for _ in $(seq 100); do kill -0 "$aio_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$W"; else log "kept $W"; fi
}
trap cleanup EXIT

log "starting Swift (tests/swift_harness/swift_aio.py)"
cleanup_flag="--cleanup"
[ -n "${BENCH_KEEP:-}" ] && cleanup_flag=""
coproc AIO {
  exec "$PY" -I -B "$repo/tests/swift_harness/swift_aio.py" --root "$W/swift" \
    --ring-cache "$repo/target/tmp/swift-rings" --accounts 1 $cleanup_flag 2>"$W/launcher.log"
}
# shellcheck disable=SC2153 # AIO_PID is set by coproc
aio_pid="$AIO_PID"
IFS= read -r -t 120 info <&"${AIO[0]}" || die "Swift did not start: $(tail -n 20 "$W/launcher.log")"
auth_url="$("$PY" -I -c 'import json,sys; print(json.loads(sys.argv[1])["auth_url"])' "$info")"
swift_version="$("$PY" -I -c 'import json,sys; print(json.loads(sys.argv[1])["version"])' "$info")"
swiftclient_version="$("$PY" -I -c 'from importlib.metadata import version; print(version("python-swiftclient"))')"
export ST_AUTH="$auth_url" ST_USER="t0:tester" ST_KEY="testing"
log "Swift $swift_version at $auth_url; python-swiftclient $swiftclient_version"

# --- the file ----------------------------------------------------------------------------------
FILE="$W/artifact.bin"
log "writing a ${SIZE_MIB} MiB random file"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$FILE"
(cd "$W" && sha256sum artifact.bin >artifact.bin.sha256)
SHA="$(cut -d' ' -f1 "$W/artifact.bin.sha256")"
SIZE="$(stat -c %s "$FILE")"
cat "$FILE" >/dev/null # both sides read from the page cache

# --- runs --------------------------------------------------------------------------------------
# timed NAME I CMD... : runs CMD under /usr/bin/time -v, appends "name i wall_us rss_kib
# user_s sys_s" to
# $W/results.txt; stdout of CMD goes to $W/NAME-I.out.
# server_ticks: CPU time (clock ticks, user + system) used so far by the Swift servers (the
# launcher's child processes), to show how much of each upload is the server's own work.
server_ticks() {
  local total=0 pid stat
  for pid in $(pgrep -P "$aio_pid"); do
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || continue
    stat="${stat##*) }" # fields after the command name
    # shellcheck disable=SC2086 # word-split the fields on purpose
    set -- $stat
    total=$((total + ${12} + ${13}))
  done
  echo "$total"
}

timed() {
  local name="$1" i="$2" t0 t1 s0 s1
  shift 2
  s0="$(server_ticks)"
  t0="${EPOCHREALTIME/[.,]/}"
  /usr/bin/time -v -o "$W/$name-$i.time" "$@" >"$W/$name-$i.out" 2>"$W/$name-$i.err" \
    || die "$name run $i failed: $(tail -n 5 "$W/$name-$i.err")"
  t1="${EPOCHREALTIME/[.,]/}"
  s1="$(server_ticks)"
  local server_s
  server_s="$(awk -v t="$((s1 - s0))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')"
  local rss user sys
  rss="$(sed -n 's/^\s*Maximum resident set size (kbytes): //p' "$W/$name-$i.time")"
  user="$(sed -n 's/^\s*User time (seconds): //p' "$W/$name-$i.time")"
  sys="$(sed -n 's/^\s*System time (seconds): //p' "$W/$name-$i.time")"
  printf '%s %s %s %s %s %s %s\n' "$name" "$i" "$((t1 - t0))" "$rss" "$user" "$sys" \
    "$server_s" >>"$W/results.txt"
  log "$name run $i: $(((t1 - t0) / 1000)) ms, CPU ${user}+${sys} s, server CPU ${server_s} s," \
    "max RSS ${rss} KiB" \
    "(load $(cut -d' ' -f1 /proc/loadavg))"
}

object_bytes() { # CONTAINER OBJECT
  "$PY" -I -B "$SWIFT_CLI" stat "$1" "$2" | sed -n 's/^ *Content Length: //p'
}

: >"$W/results.txt"
read -ra ok_args <<<"${BENCH_OK_ARGS:-}"
read -ra sc_args <<<"${BENCH_SC_ARGS:-}"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$RUNS"); do
  c="bench-ok-$i"
  timed overcloud-keys "$i" env HOME="$W/home" "$BIN" upload "$FILE" --container "$c" \
    --env-file "$W/env-$i.yaml" -f json "${ok_args[@]}"
  url="$("$PY" -I -c '
import json, sys
doc = json.load(open(sys.argv[1]))
def find(v):
    if isinstance(v, str) and "temp_url_sig=" in v:
        return v
    if isinstance(v, dict):
        v = list(v.values())
    if isinstance(v, list):
        for x in v:
            r = find(x)
            if r:
                return r
print(find(doc) or "")' "$W/overcloud-keys-$i.out")"
  [ -n "$url" ] || die "no TempURL in overcloud-keys -f json output: $(cat "$W/overcloud-keys-$i.out")"
  got="$(curl -sf --noproxy '*' "$url" | sha256sum | cut -d' ' -f1)"
  [ "$got" = "$SHA" ] || die "the TempURL of run $i does not return the file (sha256 $got)"
  "$PY" -I -B "$SWIFT_CLI" delete "$c" >/dev/null 2>&1 || "$PY" -I -B "$SWIFT_CLI" delete "$c" >/dev/null 2>&1 || true

  c="bench-sc-$i"
  timed swiftclient "$i" "$PY" -I -B "$SWIFT_CLI" upload "$c" "$FILE" --object-name artifact.bin "${sc_args[@]}"
  [ "$(object_bytes "$c" artifact.bin)" = "$SIZE" ] || die "swift upload run $i stored a wrong size"
  "$PY" -I -B "$SWIFT_CLI" delete "$c" >/dev/null 2>&1 || "$PY" -I -B "$SWIFT_CLI" delete "$c" >/dev/null 2>&1 || true
done

# --- report ------------------------------------------------------------------------------------
"$PY" -I - "$W/results.txt" "$out/swift.json" "$SIZE" "$RUNS" "$RSS_TARGET_KIB" \
  "$swift_version" "$swiftclient_version" "$("$BIN" --version)" "$(nproc)" "$(uname -srm)" \
  "$load_start" "$(cut -d' ' -f1-3 /proc/loadavg)" "$W/swift/log/proxy.log" <<'PYEOF'
import datetime, json, re, statistics, sys
(results, dest, size, runs, rss_target, swift_version, swiftclient_version, ok_version, ncpu,
 kernel, load_start, load_end, proxy_log) = sys.argv[1:]

# Swift's own view of each object PUT (proxy-logging's request time), per container: the
# part of the wall time spent streaming the body, the rest being the client's own work
# (start-up, hashing, auth, HEADs, verification).
put_s = {}
pattern = re.compile(r" PUT /v1/[^/ ]+/(bench-(?:ok|sc)-\d+)/\S+ HTTP/\S+ 201 .* (tx\S+) - ([0-9.]+) ")
for line in open(proxy_log, errors="replace"):
    m = pattern.search(line)
    if m:
        put_s[m.group(1)] = put_s.get(m.group(1), 0.0) + float(m.group(3))
size, rss_target = int(size), int(rss_target)
rows = {}
for line in open(results):
    name, i, us, rss, user, system, server = line.split()
    container = "bench-%s-%s" % ("ok" if name == "overcloud-keys" else "sc", i)
    rows.setdefault(name, []).append(
        (int(us) / 1e6, int(rss), float(user) + float(system), put_s.get(container),
         float(server)))
summary = {}
for name, vals in rows.items():
    walls = [v[0] for v in vals]
    rsss = [v[1] for v in vals]
    cpus = [v[2] for v in vals]
    puts = [v[3] for v in vals if v[3] is not None]
    servers = [v[4] for v in vals]
    med = statistics.median(walls)
    summary[name] = {
        "runs": len(vals),
        "wall_s": {"median": med, "min": min(walls), "max": max(walls), "all": walls},
        "throughput_mb_s": size / 1e6 / med,
        "throughput_mib_s": size / 1048576 / med,
        "max_rss_kib": {"median": statistics.median(rsss), "max": max(rsss), "all": rsss},
        "cpu_s": {"median": statistics.median(cpus), "all": cpus},
        "server_cpu_s": {"median": statistics.median(servers), "all": servers},
        "object_put_s_server_side": {
            "median": statistics.median(puts) if puts else None, "all": puts},
    }
ok, sc = summary["overcloud-keys"], summary["swiftclient"]
targets = {
    "faster_than_swiftclient": ok["wall_s"]["median"] < sc["wall_s"]["median"],
    "speedup": sc["wall_s"]["median"] / ok["wall_s"]["median"],
    "rss_under_64_mib": ok["max_rss_kib"]["max"] < rss_target,
}
doc = {
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "file_bytes": size,
    "runs_per_client": int(runs),
    "swift": swift_version,
    "python_swiftclient": swiftclient_version,
    "overcloud_keys": ok_version,
    "host": {"cpus": int(ncpu), "kernel": kernel, "loadavg_start": load_start,
             "loadavg_end": load_end},
    "server": "all-in-one Swift on 127.0.0.1 (tests/swift_harness/swift_aio.py), 1 replica",
    "results": summary,
    "targets": targets,
}
json.dump(doc, open(dest, "w"), indent=2)
print()
print("Upload of a %.0f MiB file to a local Swift %s (median of %s runs each)"
      % (size / 1048576, swift_version, runs))
print()
print("%-34s %9s %8s %12s %9s %11s %15s" % ("client", "wall (s)", "MB/s", "object PUT (s)",
                                             "CPU (s)", "server CPU", "peak RSS (MiB)"))
print("-" * 104)
for name, label in (("overcloud-keys", "overcloud-keys upload (release)"),
                    ("swiftclient", "swift upload (swiftclient %s)" % swiftclient_version)):
    s = summary[name]
    put = s["object_put_s_server_side"]["median"]
    print("%-34s %9.2f %8.1f %14s %9.2f %11.2f %15.1f" % (
        label, s["wall_s"]["median"], s["throughput_mb_s"],
        "%.2f" % put if put is not None else "-", s["cpu_s"]["median"],
        s["server_cpu_s"]["median"], s["max_rss_kib"]["max"] / 1024))
print()
print("target: faster than swiftclient   %s (x%.2f)"
      % ("MET" if targets["faster_than_swiftclient"] else "MISSED", targets["speedup"]))
print("target: peak RSS < 64 MiB         %s (%.1f MiB)"
      % ("MET" if targets["rss_under_64_mib"] else "MISSED", ok["max_rss_kib"]["max"] / 1024))
print("object PUT: Swift's proxy-logging request time of the object PUT(s); wall minus that")
print("is the client's own work (start-up, hashing before the PUT, auth, HEADs, verification).")
print("CPU: the client process (user + system); server CPU: the Swift servers during that run.")
print("load average: %s at start, %s at end (%s CPUs)" % (load_start, load_end, ncpu))
print()
print("written: %s" % dest)
PYEOF
