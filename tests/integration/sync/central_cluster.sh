#!/usr/bin/env bash
# central_cluster.sh - several central nodes share the fleet's data the way
# gateways do: two central nodes (examples/central.yaml plus a cluster
# section, replication factor 1) form a cluster; a gateway pushes its
# segments to central A only. A forwards the points of the shards B owns
# to B (neoedge_replication_sent_points_total on A, points written on B),
# and a query on either central node answers over both (query fan-out):
# the same count, sum, min and max per series as the gateway's own store.
. "$(dirname "$0")/../lib.sh"

SRC=${NEOEDGE_SRC:-$(cd "$(dirname "$0")/../../.." && pwd)}
TOKEN=central-cluster-token-9d1e
KEY=central-cluster-key-0123456789ab
T0=$(( ($(date +%s) - 3600) / 10 * 10 ))

it_setup
unset NEOEDGE_CENTRAL_URL NEOEDGE_NODE_ID NEOEDGE_CENTRAL_TOKEN NEOEDGE_SINKS

wait_up() { # name port pid
  local i
  for i in $(seq 1 200); do
    curl -s -o /dev/null "http://127.0.0.1:$2/health" && return 0
    kill -0 "$3" 2>/dev/null || break
    sleep 0.1
  done
  cat "$IT_DIR/$1.log" >&2
  it_fail "$1 did not come up"
  it_done
}

A_HTTP=$(it_free_port tcp)
B_HTTP=$(it_free_port tcp)
A_CL=$(it_free_port tcp)
B_CL=$(it_free_port tcp)
G_HTTP=$(it_free_port tcp)
SEEDS="127.0.0.1:$A_CL,127.0.0.1:$B_CL"

start_central() { # name node http cluster
  env NEOEDGE_NODE_ID="$2" NEOEDGE_HTTP_LISTEN="127.0.0.1:$3" NEOEDGE_DATA_DIR="$IT_DIR/$1" \
    NEOEDGE_CENTRAL_TOKEN="$TOKEN" NEOEDGE_CLUSTER_LISTEN="127.0.0.1:$4" \
    NEOEDGE_CLUSTER_SEEDS="$SEEDS" NEOEDGE_CLUSTER_KEY="$KEY" NEOEDGE_REPLICATION_FACTOR=1 \
    NEOEDGE_REPLICATION_MAX_LAG=100ms \
    "$NEOEDGE_BIN" run --config "$SRC/examples/central.yaml" >>"$IT_DIR/$1.log" 2>&1 &
  local pid=$!
  IT_PIDS+=("$pid")
  wait_up "$1" "$3" "$pid"
}

start_central ca central-a "$A_HTTP" "$A_CL"
start_central cb central-b "$B_HTTP" "$B_CL"
alive2() {
  [ "$(curl -s "http://127.0.0.1:$1/api/v1/cluster" |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)["counts"]["alive"])' 2>/dev/null)" = 2 ]
}
it_expect "central A sees both central nodes alive" it_wait_for 30 alive2 "$A_HTTP"
it_expect "central B sees both central nodes alive" it_wait_for 30 alive2 "$B_HTTP"

env NEOEDGE_NODE_ID=gw-1 NEOEDGE_HTTP_LISTEN="127.0.0.1:$G_HTTP" NEOEDGE_DATA_DIR="$IT_DIR/gw" \
  NEOEDGE_CENTRAL_URL="http://127.0.0.1:$A_HTTP" NEOEDGE_CENTRAL_TOKEN="$TOKEN" \
  NEOEDGE_MQTT_ENABLED=false NEOEDGE_COAP_ENABLED=false \
  "$NEOEDGE_BIN" run --config "$SRC/examples/gateway-to-central.yaml" >>"$IT_DIR/gw.log" 2>&1 &
G_PID=$!
IT_PIDS+=("$G_PID")
wait_up gw "$G_HTTP" "$G_PID"

# 64 devices x 30 points: the series spread over both central nodes' shards.
"$PY" - "$T0" >"$IT_DIR/points.lp" <<'EOF'
import sys
t0 = int(sys.argv[1])
for d in range(64):
    for i in range(30):
        print("env,device=dev-%02d,site=s%d temp=%d.5,n=%di %d" % (d, d % 4, d * 100 + i, i, (t0 + i * 10) * 10**9))
EOF
code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST "http://127.0.0.1:$G_HTTP/write?db=iot" \
  --data-binary @"$IT_DIR/points.lp")
it_eq "gateway accepts the points" "$code" 204
curl -s -XPOST "http://127.0.0.1:$G_HTTP/api/v1/flush" >/dev/null
delivered() {
  [ "$(curl -s "http://127.0.0.1:$G_HTTP/api/v1/sinks" |
    "$PY" -c 'import json,sys; s=json.load(sys.stdin)[0]; print(s["backlog_segments"], s["delivered_segments"])')" = "0 1" ]
}
it_expect "the gateway delivered its segment to central A" it_wait_for 30 delivered

sent() { [ "$(it_metric neoedge_replication_sent_points_total "" "$A_HTTP")" -gt 0 ]; }
it_expect "central A forwarded the points of B's shards" it_wait_for 30 sent
on_b() { [ "$(it_metric neoedge_store_points_written_total "" "$B_HTTP")" -gt 0 ]; }
it_expect "central B stored its shards' points" it_wait_for 30 on_b
drained() { [ "$(it_metric neoedge_replication_queue_records "" "$A_HTTP")" = 0 ]; }
it_expect "central A's queue for B drained" it_wait_for 30 drained
a_only=$(it_metric neoedge_store_points_written_total "" "$A_HTTP")
b_only=$(it_metric neoedge_store_points_written_total "" "$B_HTTP")
it_log "points written: central A $a_only (all it received), central B $b_only (its shards)"
it_expect "B holds part of the data, not all of it" test "$b_only" -lt 1920

Q='SELECT count(temp), sum(temp), min(temp), max(temp) FROM env GROUP BY device'
answer() { # port [extra tag filter]
  curl -s -G "http://127.0.0.1:$1/query" --data-urlencode db=iot --data-urlencode "q=$Q" |
    "$PY" -c '
import json, sys
r = json.load(sys.stdin)["results"][0]
if "messages" in r: print("WARN", r["messages"])
for s in sorted(r.get("series", []), key=lambda s: s["tags"]["device"]):
    print(s["tags"]["device"], s["values"][0][1:])'
}
want=$(answer "$G_HTTP")
it_eq "the gateway answers for 64 devices" "$(echo "$want" | grep -c dev-)" 64
it_eq "central A answers the same over both nodes" "$(answer "$A_HTTP")" "$want"
it_eq "central B answers the same over both nodes" "$(answer "$B_HTTP")" "$want"
it_done
