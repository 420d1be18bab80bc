#!/usr/bin/env bash
# End-to-end cloud sync benchmark: the daemon drains a backlog of sealed
# segments to s3rver on loopback (behind the SigV4-verifying proxy of
# tests/integration/s3) through its S3 sink, as Parquet and as native
# bundles. Prints a table: segments, points (lines of the dataset), wall
# seconds, points/s, MB/s
# uploaded, daemon CPU seconds (compaction of delivered segments runs in
# the same process), the sink thread's own CPU seconds and those per GB
# uploaded.
#
#   cmake -S . -B build-rel -G Ninja -DCMAKE_BUILD_TYPE=Release
#   cmake --build build-rel --target neoedge
#   bench/sync/sink_e2e.sh build-rel [DATASET.lp ...]
#
# Datasets default to bench/data/s1-quick.lp and i1-quick.lp (generate the
# standard ones with ../shared/bench/gen_iot.py; see bench/README or
# bench/compare.sh). Each dataset is imported once per format with
# `neoedge import` (segments as flushes seal them: 2 MiB memtable budget),
# then the daemon starts with the sink and the clock runs until the sink's
# backlog is empty.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build}
shift || true
bin=$build/agent/neoedge
[ -x "$bin" ] || { echo "neoedge is not built in $build (see the top of this file)" >&2; exit 1; }
datasets=("$@")
[ ${#datasets[@]} -gt 0 ] || datasets=("$src/bench/data/s1-quick.lp" "$src/bench/data/i1-quick.lp")

if [ -z "${S3_IT_PROXY_PORT:-}" ]; then # start s3rver + proxy, then come back
  NEOEDGE_SRC=$src exec bash "$src/tests/integration/s3/run_s3.sh" "$0" "$build" "${datasets[@]}"
fi

py=/usr/bin/python3
work=$(mktemp -d "${TMPDIR:-/tmp}/neoedge-sink-bench-XXXXXX")
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

config() { # data_dir port format
  cat <<EOF
node_id: bench-gw
data_dir: $1
http: {listen: "127.0.0.1:$2"}
mqtt: {enabled: false}
coap: {enabled: false}
storage:
  durability: none
  memtable_budget: 2MiB
  memtable_max_age: 1h
  future_grace: 0
sinks:
  - name: bench
    type: s3
    format: $3
    endpoint: http://127.0.0.1:$S3_IT_PROXY_PORT
    bucket: $S3_IT_BUCKET
    path_style: true
    access_key: $S3_IT_ACCESS
    secret_key: $S3_IT_SECRET
    session_token: $S3_IT_TOKEN
    prefix: bench-$3
EOF
}

cpu_s() { # pid -> utime+stime in seconds
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}

sink_cpu_s() { # pid -> CPU seconds of its sink thread ("sink:bench")
  local t
  for t in /proc/$1/task/*; do
    if [ "$(cat "$t/comm" 2>/dev/null)" = "sink:bench" ]; then
      awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "$t/stat"
      return
    fi
  done
  echo 0
}

sinks_json() { curl -s "http://127.0.0.1:$1/api/v1/sinks"; }

printf '| dataset | format | segments | points | wall s | points/s | MB uploaded | MB/s | daemon CPU s | sink thread CPU s | sink CPU s per GB |\n'
printf '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for ds in "${datasets[@]}"; do
  name=$(basename "$ds" .lp)
  for fmt in parquet native; do
    dir=$work/$name-$fmt
    port=$(free_port)
    config "$dir" "$port" "$fmt" > "$work/c.yaml"
    "$bin" import --config "$work/c.yaml" --db bench "$ds" 2>/dev/null
    [ -n "${NEOEDGE_BENCH_PERF:-}" ] && perf_args=(perf record -g -o "$NEOEDGE_BENCH_PERF.$name.$fmt" --) || perf_args=()
    "${perf_args[@]}" "$bin" run --config "$work/c.yaml" > "$work/log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/ping" >/dev/null && break; sleep 0.1; done
    t0=$(date +%s.%N)
    c0=$(cpu_s "$pid")
    segs=""
    while :; do
      j=$(sinks_json "$port")
      left=$(echo "$j" | "$py" -c 'import json,sys; print(json.load(sys.stdin)[0]["backlog_segments"])')
      [ "$left" = 0 ] && break
      [ -z "$segs" ] && segs=$left
      kill -0 "$pid" 2>/dev/null || { echo "daemon died:" >&2; tail "$work/log" >&2; exit 1; }
      sleep 0.2
    done
    t1=$(date +%s.%N)
    c1=$(cpu_s "$pid")
    k1=$(sink_cpu_s "$pid")
    j=$(sinks_json "$port")
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    echo "$j" | "$py" -c '
import json, sys
s = json.load(sys.stdin)[0]
name, fmt, segs, t0, t1, c0, c1, points, k1 = sys.argv[1:10]
points = int(points); k1 = float(k1)
wall = float(t1) - float(t0); cpu = float(c1) - float(c0)
mb = s["delivered_bytes"] / 1e6; rows = s["delivered_rows"]
gb = s["delivered_bytes"] / 1e9
nseg = s["delivered_segments"]
per_gb = k1 / gb if gb else 0
print(f"| {name} | {fmt} | {nseg} | {points} | {wall:.2f} | {points / wall:,.0f} | "
      f"{mb:.1f} | {mb / wall:.1f} | {cpu:.2f} | {k1:.2f} | {per_gb:.1f} |")' \
      "$name" "$fmt" "${segs:-0}" "$t0" "$t1" "$c0" "$c1" "$(wc -l < "$ds")" "$k1"
    rm -rf "$dir"
  done
done
