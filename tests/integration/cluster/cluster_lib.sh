# cluster_lib.sh - what the multi-node cluster tests share (sourced after
# lib.sh): nodes on loopback numbered 1.., each with its own HTTP and
# cluster port, config file $IT_DIR/nodeN.yaml, data dir $IT_DIR/dataN and
# log; nodes 1 to 3 are the seeds (a fourth node joins through them).
#   cl_ports COUNT           free ports for nodes 1..COUNT, sets CL_SEEDS
#   cl_config N FACTOR [LINE...]  node N's config, KEY as the cluster key;
#                            LINEs are added to its replication section;
#                            timings from CL_SHARDS, CL_PROBE_INTERVAL,
#                            CL_SUSPECT_TIMEOUT, CL_CONNECT_TIMEOUT,
#                            CL_MAX_LAG (defaults: a quick 16-shard cluster)
#   cl_start N [VAR=VALUE...]  starts node N (with VARs in its environment),
#                            waits for /health; PID[N], LOG[N]
#   cl_kill N / cl_stop N    kill -9 / SIGTERM (exit 0 expected)
#   cl_field N PYEXPR(j)     a field of GET /api/v1/cluster on node N (-1
#                            when it does not answer)
#   cl_alive_is N COUNT      node N sees COUNT alive members
#   cl_positive NUMBER       true when NUMBER (a metric, a count) is above 0
#   cl_bg VAR CMD...         runs CMD in the background, its pid in VAR
#   cl_reap PID...           waits for background commands that were told
#                            to stop, forgets their pids
#   cl_writer VAR N MODE STOP  ae_check.py MODE (writer, conflict) writing to
#                            node N in the background until file STOP exists,
#                            pid in VAR, the batches node N acknowledged in
#                            $IT_DIR/ackedN (emptied first)
#   cl_read_stores N...      each stopped node's own store as $IT_DIR/nodeN.json
#   cl_no_sanitizer_reports  no node log holds a sanitizer report
declare -A HTTP CLUS PID LOG
CL_AE_CHECK="$(dirname "${BASH_SOURCE[0]}")/ae_check.py"

cl_ports() {
  local n
  for n in $(seq 1 "$1"); do
    HTTP[$n]=$(it_free_port tcp)
    CLUS[$n]=$(it_free_port tcp)
  done
  CL_SEEDS="127.0.0.1:${CLUS[1]}, 127.0.0.1:${CLUS[2]}, 127.0.0.1:${CLUS[3]}"
}

cl_config() {
  local n=$1 factor=$2 line
  shift 2
  {
    cat <<YAML
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
  seeds: [$CL_SEEDS]
  key: $KEY
  shards: ${CL_SHARDS:-16}
  probe_interval: ${CL_PROBE_INTERVAL:-200ms}
  probe_timeout: 100ms
  suspect_timeout: ${CL_SUSPECT_TIMEOUT:-1s}
  connect_timeout: ${CL_CONNECT_TIMEOUT:-500ms}
  io_timeout: 5s
replication:
  factor: $factor
  max_lag: ${CL_MAX_LAG:-50ms}
YAML
    for line in "$@"; do printf '  %s\n' "$line"; done
  } >"$IT_DIR/node$n.yaml"
}

cl_start() {
  local n=$1
  shift
  LOG[$n]="$IT_DIR/node$n.$RANDOM.log"
  env "$@" "$NEOEDGE_BIN" run --config "$IT_DIR/node$n.yaml" >"${LOG[$n]}" 2>&1 &
  PID[$n]=$!
  IT_PIDS+=("${PID[$n]}")
  NE_PID=${PID[$n]} NE_LOG=${LOG[$n]} it_wait_health "${HTTP[$n]}"
}

cl_kill() {
  kill -KILL "${PID[$1]}"
  wait "${PID[$1]}" 2>/dev/null
  it_forget_pid "${PID[$1]}"
}

cl_stop() {
  it_stop_neoedge TERM "${PID[$1]}"
  it_eq "node$1 exits 0 on SIGTERM" "$IT_RC" 0
}

cl_field() {
  curl -s "http://127.0.0.1:${HTTP[$1]}/api/v1/cluster" | "$PY" -c '
import json, sys
try:
    j = json.load(sys.stdin)
    print(eval(sys.argv[1]))
except Exception:
    print(-1)
' "$2"
}

# cl_settled N...: nodes N... have no shard moving here nor kept for new
# owners.
cl_settled() {
  local n
  for n in "$@"; do
    [ "$(cl_field "$n" 'j["rebalance"]["shards_moving"] + j["rebalance"]["shards_leaving"]')" = 0 ] ||
      return 1
  done
}

# cl_steady S CMD...: CMD holds at S + 1 checks a second apart (a state
# that lasts, not a moment between two changes).
cl_steady() {
  local i
  for ((i = 0; i <= $1; i++)); do
    "${@:2}" || return 1
    [ "$i" -lt "$1" ] && sleep 1
  done
  return 0
}

# cl_up N...: starts nodes N..., and waits until each sees all of them
# alive and no shard is moving or kept on any of them.
cl_up() {
  local n
  for n in "$@"; do cl_start "$n"; done
  for n in "$@"; do
    it_expect "node$n sees $# alive members" it_wait_for 20 cl_alive_is "$n" $#
  done
  it_expect "the $# nodes settle (nothing moving)" it_wait_for 40 cl_settled "$@"
}

cl_alive_is() { [ "$(cl_field "$1" 'j["counts"]["alive"]')" = "$2" ]; }

cl_positive() { "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)' "$1"; }

cl_bg() {
  local var=$1
  shift
  "$@" &
  printf -v "$var" '%s' "$!"
  IT_PIDS+=("$!")
}

cl_writer() {
  : >"$IT_DIR/acked$2"
  cl_bg "$1" "$PY" "$CL_AE_CHECK" "$3" "${HTTP[$2]}" "$2" "$IT_DIR/acked$2" "$4"
}

cl_reap() {
  local p
  wait "$@"
  for p in "$@"; do it_forget_pid "$p"; done
}

cl_read_stores() {
  local n
  for n in "$@"; do
    "$NEOEDGE_BIN" query --data-dir "$IT_DIR/data$n" --db iot --format json --epoch ns \
      'SELECT v FROM m GROUP BY dev' >"$IT_DIR/node$n.json" 2>"$IT_DIR/query$n.err"
    it_eq "query of node$n's own store exits 0" "$?" 0
  done
}

cl_no_sanitizer_reports() {
  local f
  for f in "$IT_DIR"/node*.log; do
    it_expect "no sanitizer report in $(basename "$f")" \
      bash -c '! grep -Eq "runtime error|AddressSanitizer|LeakSanitizer" "$1"' _ "$f"
  done
}
