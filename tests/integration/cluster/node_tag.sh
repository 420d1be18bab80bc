#!/usr/bin/env bash
# node_tag.sh - a node whose id has the node tag of a live member's (the
# last 8 bits of every version it would stamp) is refused: node1 and node3
# run (factor 2), then a node with id node200 starts (FNV tag 29, like
# node1). It refuses to join (logged naming both ids, /health degraded,
# "refused" in its cluster JSON names itself); node1 and node3 refuse it
# (logged, "refused" names it) and keep it off their rings: points written
# to node1 are all read back from node1 without a warning, and node200
# keeps what it accepts itself, answering alone. node200 restarted with
# cluster.node_tag 7 (its status tells the members) joins: nobody refuses
# it, the ring has all three. A tag out of 0..255 is a config error.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
it_setup
KEY="integration-node-tag-key-01"
cl_ports 3
for n in 1 2 3; do cl_config $n 2; done
sed -i 's/^node_id: node2$/node_id: node200/' "$IT_DIR/node2.yaml"
tags=$("$PY" -c '
def tag(s):
    h = 2166136261
    for c in s.encode():
        h = ((h ^ c) * 16777619) & 0xffffffff
    return (h ^ h >> 8 ^ h >> 16 ^ h >> 24) & 0xff
print(tag("node1"), tag("node200"), tag("node3"))')
it_eq "node1 and node200 share a node tag, node3 has its own ($tags)" \
  "$(echo "$tags" | awk '{print ($1 == $2 && $1 != $3) ? 0 : 1}')" 0

cl_start 1
cl_start 3
it_expect "node1 and node3 see each other" it_wait_for 20 cl_alive_is 1 2
cl_start 2
refused() { [ "$(cl_field "$1" '",".join(j["rebalance"]["refused"])')" = "$2" ]; }
it_expect "node200 refuses to join" it_wait_for 20 refused 2 node200
it_expect "node1 refuses node200" it_wait_for 20 refused 1 node200
it_expect "node3 refuses node200" it_wait_for 20 refused 3 node200
logged() { grep -q "$2" "${LOG[$1]}" && grep "$2" "${LOG[$1]}" | grep -q 'node200' &&
  grep "$2" "${LOG[$1]}" | grep -q 'node1'; }
it_expect "node200 logs why, naming both ids" logged 2 "refusing to join"
it_expect "node1 logs the refusal, naming both ids" logged 1 "refusing a member"
health=$(curl -s "http://127.0.0.1:${HTTP[2]}/health")
it_contains "node200 is degraded, saying why" "$health" "give this node another node_id"
status=$("$NEOEDGE_BIN" cluster status --host "127.0.0.1:${HTTP[1]}" 2>&1)
it_contains "neoedge cluster status on node1 names node200 refused" "$status" \
  "off the placement ring: refused (node tag) node200"
ring=$(cl_field 1 '",".join(n["id"] for n in j["ring"]["nodes"])')
it_eq "node1's ring holds node1 and node3 only ($ring)" "$ring" "node1,node3"

for n in 1 2; do
  lines=""
  for d in $(seq 1 40); do lines+="m,dev=d$d v=$n $((1767225600000000000 + n * 1000 + d))"$'\n'; done
  code=$(it_http_code -X POST --data-binary "$lines" \
    "http://127.0.0.1:${HTTP[$n]}/write?db=iot&precision=ns")
  it_eq "a write to node$n is acknowledged" "$code" 204
done
HTTP_PORT=${HTTP[1]}
it_expect "node1 reads its 40 points, and no others, from node1 and node3" \
  it_wait_query 20 iot 'SELECT count(v) FROM m' 40
body=$(curl -s -G "http://127.0.0.1:${HTTP[1]}/query" --data-urlencode db=iot \
  --data-urlencode 'q=SELECT count(v) FROM m')
it_eq "node1's answer carries no warning ($body)" "$(echo "$body" | grep -c messages)" 0
count2=$(it_query_scalar iot 'SELECT count(v) FROM m' "${HTTP[2]}")
it_eq "node200 answers alone with what it accepted" "$count2" 40
q=$(it_metric neoedge_replication_queue_records '' "${HTTP[2]}")
it_eq "node200 queues nothing for the others" "$q" 0

bad=$(sed 's/^  shards:/  node_tag: 256\n  shards:/' "$IT_DIR/node2.yaml" >"$IT_DIR/bad.yaml" &&
  "$NEOEDGE_BIN" config check "$IT_DIR/bad.yaml" 2>&1)
it_contains "cluster.node_tag 256 is refused by config check" "$bad" \
  "cluster.node_tag: out of range: must be between -1 and 255, got 256"

cl_stop 2
cl_start 2 NEOEDGE_CLUSTER_NODE_TAG=7
ring_is() { [ "$(cl_field "$1" '",".join(n["id"] for n in j["ring"]["nodes"])')" = "$2" ]; }
it_expect "with node_tag 7 node200 joins: node1's ring has all three" \
  it_wait_for 20 ring_is 1 node1,node200,node3
it_expect "node3 no longer refuses node200" it_wait_for 20 refused 3 ""
it_expect "node200 no longer refuses to join" it_wait_for 20 refused 2 ""
it_expect "node1 logs that node200 is no longer refused" grep -q "member no longer refused" \
  "${LOG[1]}"
health=$(curl -s "http://127.0.0.1:${HTTP[2]}/health")
it_contains "node200 is healthy" "$health" '"ok"'

for n in 1 2 3; do cl_stop $n; done
cl_no_sanitizer_reports
it_done
