#!/usr/bin/env bash
# soak.sh - a three-node neoedge cluster under steady sensor traffic for
# NEOEDGE_SOAK_WARMUP (default 60) + NEOEDGE_SOAK_SECONDS (default 120; the
# long run uses 1800) seconds, checking that nothing drifts: no process dies, health stays ok, open fds and RSS stay
# flat, the data dirs stay within the retention budget and ingest keeps its
# rate, while memtables flush, segments compact and retention evicts all
# the time.
#
# Coverage: MQTT ingest (mosquitto, one shared subscription spread over the
# three nodes), HTTP /write to each node, flushes, compaction, retention by
# disk budget (every node) and by age (node3), cluster membership (SWIM,
# three members alive to the end), and cloud sync: every node ships its
# sealed segments as Parquet to s3rver on loopback (behind the
# SigV4-verifying proxy of tests/integration/s3, which this script starts
# by re-running itself under run_s3.sh), so retention only evicts what was
# delivered; and write replication at factor 2 (each write forwarded to
# the other owners of its shards through the hint queues).
#
# Traffic (soak_load.py): NEOEDGE_SOAK_DEVICES sensors (default 3000), one
# point per second each, five fields (S1 "sensors" shape), stamped now;
# NEOEDGE_SOAK_MQTT_DEVICES of them (default 200) publish over MQTT at
# QoS 1, the others are posted as one /write batch per node per second.
# Store settings keep the machinery busy at that rate: memtable_budget
# 4MiB (every node holds two thirds of the series), memtable_max_age 5s,
# segment_target_size 1MiB, retention.max_disk NEOEDGE_SOAK_MAX_DISK bytes
# (default 6MiB; the WAL, which counts against it, holds up to a
# memtable's worth) and, on node3,
# retention.max_age NEOEDGE_SOAK_MAX_AGE (default 8s, short enough that
# age evicts on node3 before its disk budget does).
#
# Samples (soak_watch.py) every NEOEDGE_SOAK_SAMPLE seconds (default 2 for
# runs up to 5 minutes, else 10) go to soak.csv. Liveness, health and disk
# are judged on every sample; the flatness rules (fds, RSS, ingest rate:
# last quarter against first) on the time after the warm-up, by which the
# data dirs have filled up to their budget. The verdicts, a table and
# soak.png (gnuplot, skipped with a message when gnuplot is absent) are
# written next to it. With NEOEDGE_SOAK_OUT=DIR they are kept in DIR,
# otherwise they go with the temporary directory.
#
# Under AddressSanitizer the daemons run with a small quarantine
# (quarantine_size_mb=16), so RSS shows the program's memory rather than
# the sanitizer's delay buffer filling up; leak checking stays on, and each
# node must exit 0 on SIGTERM.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${S3_IT_PROXY_PORT:-}" ]; then
  NEOEDGE_SRC=${NEOEDGE_SRC:-$(cd "$HERE/../.." && pwd)} \
    exec bash "$HERE/../integration/s3/run_s3.sh" bash "$0" "$@"
fi
# shellcheck source=tests/integration/lib.sh
. "$HERE/../integration/lib.sh"
it_setup

SECONDS_RUN=${NEOEDGE_SOAK_SECONDS:-120}
WARMUP=${NEOEDGE_SOAK_WARMUP:-60}
TOTAL=$((WARMUP + SECONDS_RUN))
DEVICES=${NEOEDGE_SOAK_DEVICES:-3000}
MQTT_DEVICES=${NEOEDGE_SOAK_MQTT_DEVICES:-200}
MAX_DISK=${NEOEDGE_SOAK_MAX_DISK:-6291456}
MEMTABLE=4194304
MAX_AGE=${NEOEDGE_SOAK_MAX_AGE:-8s}
SEGMENT_TARGET=1048576
if [ "$SECONDS_RUN" -le 300 ]; then SAMPLE=${NEOEDGE_SOAK_SAMPLE:-2}; else SAMPLE=${NEOEDGE_SOAK_SAMPLE:-10}; fi
OUT=${NEOEDGE_SOAK_OUT:-$IT_DIR/out}
mkdir -p "$OUT"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"
it_log "soak: ${WARMUP}s warm-up + ${SECONDS_RUN}s, $DEVICES devices ($MQTT_DEVICES over MQTT), max_disk $MAX_DISK, sample ${SAMPLE}s, out $OUT"

it_start_mosquitto
KEY="soak-cluster-key-0123456789abcd"
declare -A HTTP CLUS PID LOG
for n in 1 2 3; do
  HTTP[$n]=$(it_free_port tcp)
  CLUS[$n]=$(it_free_port tcp)
done
SEEDS="127.0.0.1:${CLUS[1]}, 127.0.0.1:${CLUS[2]}, 127.0.0.1:${CLUS[3]}"

# write_config N: node N's config file; node3 also retains by age.
write_config() {
  local age=0
  [ "$1" = 3 ] && age=$MAX_AGE
  cat >"$IT_DIR/node$1.yaml" <<YAML
node_id: node$1
data_dir: $IT_DIR/data$1
http:
  listen: 127.0.0.1:${HTTP[$1]}
coap:
  enabled: false
mqtt:
  brokers: [tcp://127.0.0.1:$MQTT_PORT]
  subscriptions:
    - topic: "\$share/soak/sensors/#"
      qos: 1
      format: line
storage:
  durability: interval
  memtable_budget: $MEMTABLE
  memtable_max_age: 5s
  segment_target_size: $SEGMENT_TARGET
  retention:
    max_disk: $MAX_DISK
    max_age: $age
cluster:
  listen: 127.0.0.1:${CLUS[$1]}
  seeds: [$SEEDS]
  key: $KEY
  probe_interval: 1s
  probe_timeout: 500ms
  suspect_timeout: 5s
replication:
  factor: 2
sinks:
  - name: archive
    type: s3
    endpoint: http://127.0.0.1:$S3_IT_PROXY_PORT
    bucket: $S3_IT_BUCKET
    prefix: soak/node$1
    path_style: true
    access_key: $S3_IT_ACCESS
    secret_key: "$S3_IT_SECRET"
    session_token: "$S3_IT_TOKEN"
YAML
}

start_node() {
  LOG[$1]="$IT_DIR/node$1.log"
  "$NEOEDGE_BIN" run --config "$IT_DIR/node$1.yaml" >"${LOG[$1]}" 2>&1 &
  PID[$1]=$!
  IT_PIDS+=("${PID[$1]}")
  NE_PID=${PID[$1]} NE_LOG=${LOG[$1]} it_wait_health "${HTTP[$1]}"
}

alive_members() {
  curl -s "http://127.0.0.1:${HTTP[$1]}/api/v1/cluster" |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)["counts"]["alive"])' 2>/dev/null
}
sees_three() { [ "$(alive_members "$1")" = 3 ]; }

for n in 1 2 3; do write_config $n; done
for n in 1 2 3; do start_node $n; done
for n in 1 2 3; do
  it_expect "node$n sees three alive members" it_wait_for 30 sees_three $n
done
[ "$IT_FAILS" -eq 0 ] || it_done

# ---- run: traffic and sampling side by side ----------------------------------
nodes=()
for n in 1 2 3; do nodes+=(--node "node$n,${HTTP[$n]},${PID[$n]},$IT_DIR/data$n"); done
"$PY" "$HERE/soak_watch.py" sample "${nodes[@]}" --interval "$SAMPLE" \
  --duration "$TOTAL" --out "$OUT/soak.csv" &
WATCH_PID=$!
IT_PIDS+=("$WATCH_PID")
share=$("$PY" -c "print($MQTT_DEVICES / $DEVICES)")
"$PY" "$HERE/soak_load.py" --devices "$DEVICES" --mqtt-share "$share" \
  --mqtt-port "$MQTT_PORT" --http "127.0.0.1:${HTTP[1]}" --http "127.0.0.1:${HTTP[2]}" \
  --http "127.0.0.1:${HTTP[3]}" --duration "$TOTAL" --status "$OUT/load.json" \
  2>"$OUT/load.log" &
LOAD_PID=$!
IT_PIDS+=("$LOAD_PID")
wait "$LOAD_PID"
it_eq "load generator exits 0" "$?" 0
it_forget_pid "$LOAD_PID"
wait "$WATCH_PID"
it_eq "sampler exits 0" "$?" 0
it_forget_pid "$WATCH_PID"

# ---- every acknowledged point reached a store ----------------------------------
read -r sent http_failed mqtt_errors late <<<"$("$PY" -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(s["points_sent_ok"], s["http_points_failed"], s["mqtt_errors"], s["late_ticks"])' "$OUT/load.json")"
it_log "load: $(cat "$OUT/load.json")"
it_eq "no HTTP write failed" "$http_failed" 0
it_eq "no MQTT publish failed" "$mqtt_errors" 0
written_total() {
  local n t=0
  for n in 1 2 3; do t=$((t + $(it_metric neoedge_store_points_written_total "" "${HTTP[$n]}"))); done
  echo "$t"
}
all_written() { [ "$(written_total)" -ge "$sent" ]; }
it_expect "the nodes stored every acknowledged point ($sent)" it_wait_for 60 all_written
it_log "points stored by the cluster: $(written_total) (acknowledged to the load: $sent, late ticks: $late)"

status=$("$NEOEDGE_BIN" cluster status --host "127.0.0.1:${HTTP[1]}")
for n in 1 2 3; do
  it_expect "cluster status lists node$n alive" grep -Eq "^node$n +127\.0\.0\.1:${CLUS[$n]} +alive " <<<"$status"
done
# ---- cloud sync kept up ------------------------------------------------------
sink_field() { # node field
  curl -s "http://127.0.0.1:${HTTP[$1]}/api/v1/sinks" |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0][sys.argv[1]])' "$2" 2>/dev/null
}
for n in 1 2 3; do
  delivered=$(sink_field $n delivered_segments)
  it_expect "node$n delivered segments to S3 ($delivered)" test "${delivered:-0}" -gt 0
  it_eq "node$n sink has no failed attempt" \
    "$(it_metric neoedge_sink_errors_total 'sink="archive",type="s3",kind="server"' "${HTTP[$n]}")" 0
  backlog_small() { [ "$(sink_field "$1" backlog_segments)" -le 2 ]; }
  it_expect "node$n sink backlog drains" it_wait_for 60 backlog_small $n
done
it_eq "the proxy rejected no signature" \
  "$(curl -s "http://127.0.0.1:$S3_IT_ADMIN_PORT/stats" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["rejected"])')" 0

it_expect "node3 evicted by age" grep -q 'msg="segment evicted by retention".*reason=age' "${LOG[3]}"
it_expect "node1 evicted by disk budget" grep -q 'msg="segment evicted by retention".*reason=disk_budget' "${LOG[1]}"

# ---- clean shutdown, sanitizers quiet --------------------------------------------
for n in 1 2 3; do
  it_stop_neoedge TERM "${PID[$n]}"
  it_eq "node$n exits 0 on SIGTERM" "$IT_RC" 0
  it_expect "node$n log has no sanitizer report" \
    bash -c "! grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' '${LOG[$n]}'"
  cp "${LOG[$n]}" "$OUT/node$n.log"
done

# ---- flatness verdicts, plot ---------------------------------------------------------
budgets=()
for n in 1 2 3; do budgets+=(--node-budget "node$n,$MAX_DISK,$([ $n = 3 ] && echo 1 || echo 0)"); done
# the WAL holds up to a memtable's worth beyond what retention can evict
disk_slack=$((SEGMENT_TARGET + MAX_DISK / 4 + MEMTABLE))
"$PY" "$HERE/soak_watch.py" check --csv "$OUT/soak.csv" "${budgets[@]}" \
  --warmup "$WARMUP" --disk-slack "$disk_slack" >"$OUT/summary.txt"
rc=$?
cat "$OUT/summary.txt" >&2
it_eq "soak checks pass" "$rc" 0
if command -v gnuplot >/dev/null 2>&1; then
  it_expect "soak.png plotted" "$PY" "$HERE/soak_watch.py" plot --csv "$OUT/soak.csv" \
    --png "$OUT/soak.png" --budget "$MAX_DISK" --warmup "$WARMUP"
else
  it_log "gnuplot not installed: no plot (the checks above still ran)"
fi
it_done
