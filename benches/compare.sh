#!/usr/bin/env bash
# compare.sh: etcd-bench's workloads against real etcd and etcd-rs, alternated.
#
# A thin call of `etcd-bench compare`: for every workload below it starts a
# fresh etcd and a fresh etcd-rs (one member, temp data dir, free loopback
# ports) PAIRS times each, A B A B ..., and prints every pair's ratio
# (etcd-rs / etcd, requests per second), their median, and the CPU seconds
# and peak memory of each server during the run.
#
# Usage: benches/compare.sh             (builds release binaries first)
#   SKIP_BUILD=1      use the binaries already in target/release
#   ETCD=/path/etcd   the reference etcd (default /usr/bin/etcd)
#   PAIRS=3           pairs of runs per workload
#   LIMIT=60          --duration-limit of each run, seconds
#   OUTPUT=json       JSON lines instead of the text report
#   QUICK=1           every --total / --put-total divided by 100 (a smoke run)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ETCD=${ETCD:-/usr/bin/etcd}
ETCD_RS=${ETCD_RS:-$ROOT/target/release/etcd-rs}
BENCH=${BENCH:-$ROOT/target/release/etcd-bench}

KV="--key-size 8 --val-size 256"
WORKLOADS=(
  "--clients 1 put $KV --total 2000"
  "--clients 1000 --conns 100 put $KV --sequential-keys --key-space-size 30000 --total 30000"
  "--clients 1000 --conns 100 txn-put $KV --key-space-size 30000 --total 30000"
  "--clients 1000 --conns 100 range foo --total 30000"
  "--clients 1000 --conns 100 range foo --consistency s --total 30000"
  "--clients 1000 --conns 100 lease-keepalive --total 30000"
  "--clients 100 --conns 100 watch --streams 100 --watch-per-stream 10 --put-total 1000"
  "--clients 16 stm --isolation ss --keys 100 --keys-per-txn 2 --total 5000"
)

if [[ -z "${SKIP_BUILD:-}" ]]; then
  (cd "$ROOT" && cargo build --release -p raft-node --bin etcd-rs -p etcd-benches --bin etcd-bench) >&2
fi

args=()
for w in "${WORKLOADS[@]}"; do
  if [[ -n "${QUICK:-}" ]]; then
    w=$(echo "$w" | awk '{ for (i = 1; i < NF; i++) if ($i == "--total" || $i == "--put-total") { $(i+1) = int($(i+1) / 100); if ($(i+1) < 1) $(i+1) = 1 } print }')
  fi
  args+=(--workload "--duration-limit ${LIMIT:-60} $w")
done

echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo); load average $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$BENCH" compare --pairs "${PAIRS:-3}" --output "${OUTPUT:-text}" \
  --a-server "$ETCD" --a-name etcd --b-server "$ETCD_RS" --b-name etcd-rs "${args[@]}"
