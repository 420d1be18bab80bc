# rb_lib.sh - what the shard move tests share (sourced after lib.sh): up
# to four nodes on loopback, replication factor 2, 16 shards, a short
# anti-entropy interval; node4 is not a seed of the others (it joins).
#   rb_setup                 ports, configs of node1..node4
#   rb_start N / rb_stop N
#   rb_field N PYEXPR(j)     a field of GET /api/v1/cluster on node N
#   rb_settled N...          no shard moving or kept on any of the nodes
#   rb_local_stores OUT N... stops the nodes, reads each one's own store
# NEOEDGE_LONG=1: the long forms (10 times the writes before and after the
# change, and the time).
KEY="integration-rebalance-key-01"
RB_SCALE=1
[ "${NEOEDGE_LONG:-}" = 1 ] && RB_SCALE=10
declare -A HTTP CLUS PID LOG
RB_CHECK="$(dirname "${BASH_SOURCE[0]}")/rb_check.py"
AE_CHECK="$(dirname "${BASH_SOURCE[0]}")/ae_check.py"

rb_setup() {
  local n
  for n in 1 2 3 4; do
    HTTP[$n]=$(it_free_port tcp)
    CLUS[$n]=$(it_free_port tcp)
  done
  local seeds="127.0.0.1:${CLUS[1]}, 127.0.0.1:${CLUS[2]}, 127.0.0.1:${CLUS[3]}"
  for n in 1 2 3 4; do
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
  factor: 2
  max_lag: 50ms
  anti_entropy_interval: 1s
YAML
  done
}

rb_start() {
  LOG[$1]="$IT_DIR/node$1.$RANDOM.log"
  "$NEOEDGE_BIN" run --config "$IT_DIR/node$1.yaml" >"${LOG[$1]}" 2>&1 &
  PID[$1]=$!
  IT_PIDS+=("${PID[$1]}")
  NE_PID=${PID[$1]} NE_LOG=${LOG[$1]} it_wait_health "${HTTP[$1]}"
}

rb_stop() {
  it_stop_neoedge TERM "${PID[$1]}"
  it_eq "node$1 exits 0 on SIGTERM" "$IT_RC" 0
}

rb_field() { # rb_field N PYEXPR(j)
  curl -s "http://127.0.0.1:${HTTP[$1]}/api/v1/cluster" | "$PY" -c '
import json, sys
try:
    j = json.load(sys.stdin)
    print(eval(sys.argv[1]))
except Exception:
    print(-1)
' "$2"
}
rb_alive_is() { [ "$(rb_field "$1" 'j["counts"]["alive"]')" = "$2" ]; }

rb_settled() {
  local n
  for n in "$@"; do
    [ "$(rb_field "$n" 'j["rebalance"]["shards_moving"] + j["rebalance"]["shards_leaving"]')" = 0 ] ||
      return 1
  done
}

# rb_local_stores N...: stops nodes N... all at once (one by one, each
# stop would be a member leaving, and the others would take its shards
# over), then writes each one's own store as $IT_DIR/nodeN.json.
rb_local_stores() {
  local n
  for n in "$@"; do kill -TERM "${PID[$n]}"; done
  for n in "$@"; do
    wait "${PID[$n]}"
    it_eq "node$n exits 0 on SIGTERM" "$?" 0
    it_forget_pid "${PID[$n]}"
  done
  for n in "$@"; do
    "$NEOEDGE_BIN" query --data-dir "$IT_DIR/data$n" --db iot --format json --epoch ns \
      'SELECT v FROM m GROUP BY dev' >"$IT_DIR/node$n.json" 2>"$IT_DIR/query$n.err"
    it_eq "query of node$n's own store exits 0" "$?" 0
  done
  for f in "$IT_DIR"/node*.log; do
    it_expect "no sanitizer report in $(basename "$f")" \
      bash -c '! grep -Eq "runtime error|AddressSanitizer|LeakSanitizer" "$1"' _ "$f"
  done
}
