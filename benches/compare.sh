#!/usr/bin/env bash
# compare.sh: the same etcd-bench workloads against real etcd and etcd-rs.
#
# Why: numbers for etcd-rs only mean something next to etcd's, measured on
# the same machine, the same way, minutes apart. This script starts each
# server in turn (single member, fresh temp data dir, free loopback ports),
# runs every workload against it with etcd-bench, records the server's peak
# RSS (VmHWM), CPU time and data dir size, stops it, and prints markdown
# tables side by side. Raw outputs and server logs stay in $OUT.
#
# Usage: benches/compare.sh             (builds release binaries first)
#   SKIP_BUILD=1      use the binaries already in target/release
#   ETCD=/path/etcd   the reference etcd (default /usr/bin/etcd)
#   BENCH=/path/etcd-bench  the load generator (default target/release/etcd-bench)
#   LIMIT=20          --duration-limit of each workload, seconds
#   OUT=/some/dir     where raw outputs go (default: a new temp dir)
#   SERVERS="etcd etcd-rs"  which servers to run
#   QUICK=1           every --total / --put-total divided by 100 (a smoke run)
#
# The workloads are etcd's own benchmark command lines (etcd-bench takes
# them unchanged); each run prints JSON lines (--output json) that this
# script reads with python3. Every workload is bounded by count and by
# LIMIT seconds; traffic goes only to 127.0.0.1. Only the servers this
# script started are stopped.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ETCD=${ETCD:-/usr/bin/etcd}
ETCD_RS=${ETCD_RS:-$ROOT/target/release/etcd-rs}
BENCH=${BENCH:-$ROOT/target/release/etcd-bench}
LIMIT=${LIMIT:-20}
SERVERS=${SERVERS:-"etcd etcd-rs"}
OUT=${OUT:-$(mktemp -d /tmp/etcd-compare.XXXXXX)}
mkdir -p "$OUT"

KV="--key-size 8 --val-size 256 --key-space-size 10000"
# name|report read from the output|etcd-bench arguments (global flags, subcommand, its flags)
WORKLOADS=(
  "put c=1|put|--clients 1 put $KV --total 2000"
  "put c=16|put|--clients 16 put $KV --total 10000"
  "put c=64 (4 conns)|put|--clients 64 --conns 4 put $KV --total 20000"
  "range linearizable c=16|range|--clients 16 range foo --total 20000"
  "range serializable c=16|range|--clients 16 range foo --consistency s --total 20000"
  "txn-put c=16|txn-put|--clients 16 txn-put $KV --total 10000"
  "txn-mixed c=16, reads|txn-mixed-read|--clients 16 txn-mixed $KV --total 10000"
  "txn-mixed c=16, writes|txn-mixed-write|--clients 16 txn-mixed $KV --total 10000"
  "lease-keepalive c=16|lease-keepalive|--clients 16 lease-keepalive --total 20000"
  "watch-latency 64 watchers, 200 put/s (events)|watch-latency-events|--clients 4 --conns 4 watch-latency --streams 4 --watchers-per-stream 16 --put-total 1000 --put-rate 200"
  "stm c=16 ss, 100 keys|stm|--clients 16 stm --isolation ss --keys 100 --keys-per-txn 2 --total 5000"
  "put c=1000 conns=100|put|--clients 1000 --conns 100 put $KV --total 50000"
)

# quick ARGS: ARGS with every --total/--put-total divided by 100 when QUICK=1.
quick() {
  if [[ -z "${QUICK:-}" ]]; then echo "$1"; return; fi
  echo "$1" | awk '{ for (i = 1; i < NF; i++) if ($i == "--total" || $i == "--put-total") { $(i+1) = int($(i+1) / 100); if ($(i+1) < 1) $(i+1) = 1 } print }'
}

if [[ -z "${SKIP_BUILD:-}" ]]; then
  echo "building release binaries (etcd-rs, etcd-bench)..." >&2
  (cd "$ROOT" && cargo build --release --jobs 1 -p raft-node --bin etcd-rs \
    -p etcd-benches --bin etcd-bench) >&2
fi
for bin in "$ETCD" "$ETCD_RS" "$BENCH"; do
  [[ -x "$bin" ]] || { echo "missing binary: $bin" >&2; exit 1; }
done

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap cleanup EXIT

# The server's own listening socket on $port (guards against a port that
# another process took between free_port and bind).
owns_port() {
  local pid=$1 port=$2
  ss -ltnpH "sport = :$port" 2>/dev/null | grep -q "pid=$pid,"
}

# field FILE REPORT KEY: one number of the JSON report named REPORT in
# FILE: requests_per_sec, requests, failed, abandoned, or p50 / p99 / max
# (milliseconds); "-" when absent (or a percentile too few requests reach).
field() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
path, name, key = sys.argv[1:4]
for line in open(path):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("name") != name:
        continue
    if key in ("p50", "p99"):
        # etcd's rule leaves a percentile at 0 when too few requests reach it.
        v = r["percentiles"][key]
        print("%.2f" % (v * 1000) if v > 0 else "-")
    elif key == "max":
        print("%.2f" % (r["slowest_secs"] * 1000))
    elif key == "requests_per_sec":
        print("%.0f" % r[key])
    else:
        print(r[key])
    break
else:
    print("-")
PY
}

declare -A RES
run_server() {
  local server=$1 cport pport data log bin
  cport=$(free_port); pport=$(free_port)
  while [[ "$pport" == "$cport" ]]; do pport=$(free_port); done
  data=$(mktemp -d "/tmp/bench-$server.XXXXXX")
  log="$OUT/$server.log"
  bin=$ETCD; [[ "$server" == etcd-rs ]] && bin=$ETCD_RS
  "$bin" --name bench --data-dir "$data/data" \
    --listen-client-urls "http://127.0.0.1:$cport" \
    --advertise-client-urls "http://127.0.0.1:$cport" \
    --listen-peer-urls "http://127.0.0.1:$pport" \
    --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "bench=http://127.0.0.1:$pport" >"$log" 2>&1 &
  SERVER_PID=$!
  local ep="127.0.0.1:$cport" ready=""
  for _ in $(seq 100); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    if owns_port "$SERVER_PID" "$cport" &&
      "$BENCH" --endpoints "$ep" --duration-limit 2 --output json put --total 1 \
        >"$OUT/$server.probe" 2>/dev/null &&
      [[ "$(field "$OUT/$server.probe" put requests)" == 1 ]]; then
      ready=1; break
    fi
    sleep 0.2
  done
  if [[ -z "$ready" ]]; then
    echo "$server did not become ready on $ep (log: $log)" >&2
    tail -5 "$log" >&2
    cleanup; rm -rf "$data"
    RES[$server,failed]=1
    return 0
  fi
  echo "== $server (pid $SERVER_PID) on $ep" >&2
  local i=0 w name report flags f
  for w in "${WORKLOADS[@]}"; do
    i=$((i + 1)); name=${w%%|*}; report=${w#*|}; flags=${report#*|}; report=${report%%|*}
    flags=$(quick "$flags")
    f="$OUT/$server.$i.json"
    # shellcheck disable=SC2086 # flags are words on purpose
    if ! "$BENCH" --endpoints "$ep" --duration-limit "$LIMIT" --output json $flags >"$f" 2>"$OUT/$server.$i.err"; then
      echo "  $name: etcd-bench failed: $(tail -1 "$OUT/$server.$i.err")" >&2
      RES[$server,$i]="failed|-|-|-|-|-"
      continue
    fi
    RES[$server,$i]="$(field "$f" "$report" requests_per_sec)|$(field "$f" "$report" p50)|$(field "$f" "$report" p99)|$(field "$f" "$report" max)|$(field "$f" "$report" failed)|$(field "$f" "$report" abandoned)"
    echo "  $name: $(field "$f" "$report" requests_per_sec) req/s, p50 $(field "$f" "$report" p50) ms, p99 $(field "$f" "$report" p99) ms, failed $(field "$f" "$report" failed)" >&2
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "  $server died during '$name'" >&2; RES[$server,died]="$name"; break; }
  done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    local status ticks
    status=/proc/$SERVER_PID/status
    RES[$server,hwm]=$(awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' "$status")
    RES[$server,rss]=$(awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "$status")
    ticks=$(getconf CLK_TCK)
    # utime + stime are fields 14 and 15 (the name in field 2 has no spaces here).
    RES[$server,cpu]=$(awk -v t="$ticks" '{ printf "%.1f", ($14 + $15) / t }' "/proc/$SERVER_PID/stat")
  fi
  cleanup
  RES[$server,disk]=$(du -sm "$data" | awk '{ print $1 }')
  rm -rf "$data"
}

START=$(date +%s)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for s in $SERVERS; do run_server "$s"; done

cell() { # cell SERVER INDEX FIELD(1-6)
  local v=${RES[$1,$2]:-"-|-|-|-|-|-"}
  echo "$v" | cut -d'|' -f"$3"
}
echo
echo "Machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo); load average at start: $LOAD_BEFORE, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| workload | etcd req/s | etcd-rs req/s | etcd p50 / p99 / max ms | etcd-rs p50 / p99 / max ms | etcd failed (abandoned) | etcd-rs failed (abandoned) |"
echo "|---|---:|---:|---|---|---:|---:|"
i=0
for w in "${WORKLOADS[@]}"; do
  i=$((i + 1))
  echo "| ${w%%|*} | $(cell etcd $i 1) | $(cell etcd-rs $i 1) | $(cell etcd $i 2) / $(cell etcd $i 3) / $(cell etcd $i 4) | $(cell etcd-rs $i 2) / $(cell etcd-rs $i 3) / $(cell etcd-rs $i 4) | $(cell etcd $i 5) ($(cell etcd $i 6)) | $(cell etcd-rs $i 5) ($(cell etcd-rs $i 6)) |"
done
echo
echo "| server | peak RSS (VmHWM) MiB | RSS at end MiB | CPU s (user+sys) | data dir MiB | notes |"
echo "|---|---:|---:|---:|---:|---|"
for s in etcd etcd-rs; do
  note=""
  [[ -n "${RES[$s,failed]:-}" ]] && note="did not start"
  [[ -n "${RES[$s,died]:-}" ]] && note="died during ${RES[$s,died]}"
  echo "| $s | ${RES[$s,hwm]:--} | ${RES[$s,rss]:--} | ${RES[$s,cpu]:--} | ${RES[$s,disk]:--} | $note |"
done
echo
echo "raw outputs and server logs: $OUT (total $(($(date +%s) - START)) s)"
for s in $SERVERS; do
  if [[ -n "${RES[$s,failed]:-}" || -n "${RES[$s,died]:-}" ]]; then exit 1; fi
done
