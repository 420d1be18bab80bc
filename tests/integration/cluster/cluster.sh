#!/usr/bin/env bash
# cluster.sh - three gateways on loopback form a cluster (SWIM membership
# over UDP, TLS-PSK transport) and report it through GET /api/v1/cluster,
# `neoedge cluster status`, /health and /metrics:
#   1. all three see three alive members;
#   2. after kill -9 of node3 the survivors mark it suspect, then dead
#      (short probe timings), and /health says degraded naming node3;
#   3. restarted, node3 is alive again with a higher incarnation;
#   4. a fourth node with another cluster key is refused: not a member
#      anywhere, and the refusal is logged on both sides.
. "$(dirname "$0")/../lib.sh"
it_setup

KEY="integration-cluster-key-01234"
declare -A HTTP CLUS PID LOG

for n in 1 2 3 4; do
  HTTP[$n]=$(it_free_port tcp)
  CLUS[$n]=$(it_free_port tcp)
done
SEEDS="127.0.0.1:${CLUS[1]}, 127.0.0.1:${CLUS[2]}, 127.0.0.1:${CLUS[3]}"

# write_config N KEY
write_config() {
  cat >"$IT_DIR/node$1.yaml" <<YAML
node_id: node$1
data_dir: $IT_DIR/data$1
http:
  listen: 127.0.0.1:${HTTP[$1]}
mqtt:
  enabled: false
coap:
  enabled: false
cluster:
  listen: 127.0.0.1:${CLUS[$1]}
  seeds: [$SEEDS]
  key: \${TEST_CLUSTER_KEY}
  probe_interval: 250ms
  probe_timeout: 100ms
  suspect_timeout: 2s
  connect_timeout: 1s
replication:
  factor: 2
YAML
}

# start_node N KEY: runs node N in the background with cluster key KEY.
start_node() {
  LOG[$1]="$IT_DIR/node$1.$RANDOM.log"
  TEST_CLUSTER_KEY=$2 "$NEOEDGE_BIN" run --config "$IT_DIR/node$1.yaml" >"${LOG[$1]}" 2>&1 &
  PID[$1]=$!
  IT_PIDS+=("${PID[$1]}")
  NE_PID=${PID[$1]} NE_LOG=${LOG[$1]} it_wait_health "${HTTP[$1]}"
}

cluster_json() { curl -s "http://127.0.0.1:${HTTP[$1]}/api/v1/cluster"; }

# member_field N ID FIELD: a member's field as node N sees it ("" if absent).
member_field() {
  cluster_json "$1" | "$PY" -c '
import json, sys
try:
    d = json.load(sys.stdin)
except Exception:
    print(""); sys.exit(0)
for m in d.get("members", []):
    if m["id"] == sys.argv[1]:
        print(m[sys.argv[2]]); break
else:
    print("")
' "$2" "$3"
}

# alive_count N: members node N sees alive.
alive_count() {
  cluster_json "$1" | "$PY" -c '
import json, sys
try:
    print(json.load(sys.stdin)["counts"]["alive"])
except Exception:
    print(-1)
'
}

sees_alive() { [ "$(alive_count "$1")" = "$2" ]; }
state_is() { [ "$(member_field "$1" "$2" state)" = "$3" ]; }

for n in 1 2 3 4; do write_config $n; done
for n in 1 2 3; do start_node $n "$KEY"; done

# ---- 1. three alive members everywhere ------------------------------------
for n in 1 2 3; do
  it_expect "node$n sees three alive members" it_wait_for 20 sees_alive $n 3
done
status=$("$NEOEDGE_BIN" cluster status --host "127.0.0.1:${HTTP[2]}")
it_eq "cluster status exits 0" "$?" 0
for n in 1 2 3; do
  it_expect "cluster status lists node$n alive" \
    grep -Eq "^node$n +127\.0\.0\.1:${CLUS[$n]} +alive " <<<"$status"
done
ring_owned=$(cluster_json 1 | "$PY" -c '
import json, sys
r = json.load(sys.stdin)["ring"]
print(sum(n["owned"] for n in r["nodes"]), r["shards"] * r["replicas"], len(r["nodes"]))')
read -r owned want nodes <<<"$ring_owned"
it_eq "ring: three nodes" "$nodes" 3
it_eq "ring: every shard has factor 2 owners" "$owned" "$want"
it_eq "metrics: three alive" "$(it_metric neoedge_cluster_members 'state="alive"' "${HTTP[1]}")" 3
it_eq "health ok with all members alive" \
  "$(curl -s "http://127.0.0.1:${HTTP[1]}/health" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["status"])')" ok
inc_before=$(member_field 1 node3 incarnation)

# ---- 2. kill -9 node3: suspect, then dead ----------------------------------
kill -KILL "${PID[3]}"
wait "${PID[3]}" 2>/dev/null
it_forget_pid "${PID[3]}"
for n in 1 2; do
  it_expect "node$n marks node3 dead" it_wait_for 20 state_is $n node3 dead
  it_expect "node$n logged node3 suspect before dead" \
    grep -q 'msg="member changed" node=node3 .*from=alive to=suspect' "${LOG[$n]}"
  health=$(curl -s "http://127.0.0.1:${HTTP[$n]}/health")
  it_contains "node$n /health is degraded" "$health" '"status":"degraded"'
  it_contains "node$n /health names the dead node" "$health" 'dead: node3 (127.0.0.1:'"${CLUS[3]}"')'
done
it_eq "metrics: one dead member" "$(it_metric neoedge_cluster_members 'state="dead"' "${HTTP[1]}")" 1
it_eq "metrics: node3 state is dead (2)" \
  "$(it_metric neoedge_cluster_member_state 'node="node3"' "${HTTP[2]}")" 2
dead_ring=$(cluster_json 1 | "$PY" -c '
import json, sys
print(",".join(sorted(n["id"] for n in json.load(sys.stdin)["ring"]["nodes"])))')
it_eq "the dead node leaves the ring" "$dead_ring" "node1,node2"

# ---- 3. restart node3: it rejoins with a higher incarnation -----------------
start_node 3 "$KEY"
for n in 1 2; do
  it_expect "node$n sees node3 alive again" it_wait_for 20 state_is $n node3 alive
done
it_expect "node3 sees three alive members" it_wait_for 20 sees_alive 3 3
inc_after=$(member_field 1 node3 incarnation)
it_expect "node3 incarnation grew ($inc_before -> $inc_after)" \
  "$PY" -c 'import sys; sys.exit(0 if int(sys.argv[2]) > int(sys.argv[1]) else 1)' \
  "$inc_before" "$inc_after"
node1_ok() { [ "$(it_health_status "" "${HTTP[1]}")" = ok ]; }
it_expect "node1 health back to ok" it_wait_for 10 node1_ok

# ---- 4. a node with another key is refused ---------------------------------
start_node 4 "another-key-that-is-wrong-0123"
it_expect "node4 logs that the seeds refused it" it_wait_for 20 \
  grep -q 'msg="seed refused this node' "${LOG[4]}"
it_expect "node1 logs the failed authentication" it_wait_for 10 \
  grep -q 'failed authentication (wrong key?)" peer=127.0.0.1:'"${CLUS[4]}" "${LOG[1]}"
sleep 1 # several probe periods: time enough to have joined with the right key
for n in 1 2 3; do
  it_eq "node$n does not list node4" "$(member_field $n node4 state)" ""
  it_expect "node$n still sees three alive" it_wait_for 10 sees_alive $n 3
done
it_eq "node4 sees only itself" "$(alive_count 4)" 1
it_contains "node4 /health says it could not join" \
  "$(curl -s "http://127.0.0.1:${HTTP[4]}/health")" "not joined"
it_expect "node1 counted rejected datagrams" \
  "$PY" -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1])["rejected_datagrams"] > 0 else 1)' \
  "$(cluster_json 1)"

# ---- graceful stop: the others see STOPPED (down, keeping its place), not dead
it_stop_neoedge TERM "${PID[2]}"
it_eq "node2 exits 0 on SIGTERM" "$IT_RC" 0
it_expect "node1 sees node2 stopped" it_wait_for 10 state_is 1 node2 stopped
"$NEOEDGE_BIN" cluster status --host "127.0.0.1:${HTTP[2]}" >/dev/null 2>&1
it_eq "cluster status fails for a stopped daemon" "$?" 1
for n in 1 4; do
  it_stop_neoedge TERM "${PID[$n]}"
  it_eq "node$n exits 0 on SIGTERM" "$IT_RC" 0
done
for f in "$IT_DIR"/node*.log; do
  it_expect "no sanitizer report in $(basename "$f")" \
    bash -c '! grep -Eq "runtime error|AddressSanitizer|LeakSanitizer" "$1"' _ "$f"
done

it_done
