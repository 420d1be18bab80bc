# ae_lib.sh - what the anti-entropy tests share (sourced after lib.sh):
# three nodes on loopback, every shard on every node (factor 3), a short
# anti-entropy interval, a hint window so short that hints for an absent
# node are dropped (only anti-entropy can bring their points back), and a
# partition file per node (NEOEDGE_TEST_PARTITION, the test hook of the
# cluster module).
#   ae_setup                 ports, configs; AE_NODES=3
#   ae_start N / ae_kill N / ae_stop_all
#   ae_partition N PEER...   node N drops traffic with PEERs ("" heals)
#   ae_wait_quiet N          N's anti-entropy ran two passes finding nothing
#   ae_verify ACKED...       stops every node, reads each store, checks
KEY="integration-antientropy-key-01"
# NEOEDGE_LONG=1: the long forms (20 times the writes, and the time).
AE_SCALE=1
[ "${NEOEDGE_LONG:-}" = 1 ] && AE_SCALE=20
declare -A HTTP CLUS PID LOG
AE_CHECK="$(dirname "${BASH_SOURCE[0]}")/ae_check.py"

ae_setup() {
  local n
  for n in 1 2 3; do
    HTTP[$n]=$(it_free_port tcp)
    CLUS[$n]=$(it_free_port tcp)
    : >"$IT_DIR/part$n"
  done
  local seeds="127.0.0.1:${CLUS[1]}, 127.0.0.1:${CLUS[2]}, 127.0.0.1:${CLUS[3]}"
  for n in 1 2 3; do
    cat >"$IT_DIR/node$n.yaml" <<YAML
node_id: node$n
data_dir: $IT_DIR/data$n
default_database: iot
http:
  listen: 127.0.0.1:${HTTP[$n]}
mqtt:
  enabled: false
coap:
  enabled: false
storage:
  durability: interval
cluster:
  listen: 127.0.0.1:${CLUS[$n]}
  seeds: [$seeds]
  key: $KEY
  shards: 16
  probe_interval: 200ms
  probe_timeout: 100ms
  suspect_timeout: 1s
  connect_timeout: 500ms
  io_timeout: 5s
replication:
  factor: 3
  max_lag: 50ms
  hint_window: ${AE_HINT_WINDOW:-300ms}
  anti_entropy_interval: 1s
YAML
  done
}

ae_start() {
  LOG[$1]="$IT_DIR/node$1.$RANDOM.log"
  NEOEDGE_TEST_PARTITION="$IT_DIR/part$1" "$NEOEDGE_BIN" run --config "$IT_DIR/node$1.yaml" \
    >"${LOG[$1]}" 2>&1 &
  PID[$1]=$!
  IT_PIDS+=("${PID[$1]}")
  NE_PID=${PID[$1]} NE_LOG=${LOG[$1]} it_wait_health "${HTTP[$1]}"
}

ae_kill() {
  kill -KILL "${PID[$1]}"
  wait "${PID[$1]}" 2>/dev/null
  it_forget_pid "${PID[$1]}"
}

# ae_partition N PEER...: node N drops traffic with PEERs (none: heals).
ae_partition() {
  local n=$1
  shift
  printf '%s\n' "$@" >"$IT_DIR/part$n.tmp"
  mv "$IT_DIR/part$n.tmp" "$IT_DIR/part$n"
}

ae_cluster_field() { # ae_cluster_field N PYEXPR(j)
  curl -s "http://127.0.0.1:${HTTP[$1]}/api/v1/cluster" | "$PY" -c '
import json, sys
try:
    j = json.load(sys.stdin)
    print(eval(sys.argv[1]))
except Exception:
    print(-1)
' "$2"
}
ae_alive_is() { [ "$(ae_cluster_field "$1" 'j["counts"]["alive"]')" = "$2" ]; }

# Waits until node N's anti-entropy ran 2 more passes (2 rounds each)
# without finding a differing bucket.
ae_wait_quiet() {
  local n=$1 limit=${2:-40} i r d r0 d0
  r0=$(ae_cluster_field "$n" 'j["antientropy"]["rounds"]')
  d0=$(ae_cluster_field "$n" 'j["antientropy"]["buckets_differing"]')
  for i in $(seq 1 $((limit * 5))); do
    sleep 0.2
    r=$(ae_cluster_field "$n" 'j["antientropy"]["rounds"]')
    d=$(ae_cluster_field "$n" 'j["antientropy"]["buckets_differing"]')
    if [ "$d" != "$d0" ]; then
      r0=$r
      d0=$d
    elif [ "$r" -ge $((r0 + 4)) ]; then
      return 0
    fi
  done
  return 1
}

ae_stop_all() {
  local n
  for n in 1 2 3; do
    it_stop_neoedge TERM "${PID[$n]}"
    it_eq "node$n exits 0 on SIGTERM" "$IT_RC" 0
  done
}

# ae_verify ACKED...: every node's own store holds every acknowledged key,
# all the same values, the last write winning (ae_check.py verify).
ae_verify() {
  local n verdict
  ae_stop_all
  for n in 1 2 3; do
    "$NEOEDGE_BIN" query --data-dir "$IT_DIR/data$n" --db iot --format json --epoch ns \
      'SELECT v FROM m GROUP BY dev' >"$IT_DIR/node$n.json" 2>"$IT_DIR/query$n.err"
    it_eq "query of node$n's own store exits 0" "$?" 0
  done
  verdict=$("$PY" "$AE_CHECK" verify "$@" -- "$IT_DIR/node1.json" "$IT_DIR/node2.json" \
    "$IT_DIR/node3.json")
  it_eq "every node holds every acknowledged point, the same values ($verdict)" "$?" 0
  for f in "$IT_DIR"/node*.log; do
    it_expect "no sanitizer report in $(basename "$f")" \
      bash -c '! grep -Eq "runtime error|AddressSanitizer|LeakSanitizer" "$1"' _ "$f"
  done
}
