#!/usr/bin/env bash
# rb_partition.sh - the two sides of a long partition disagree about who
# is a member, and heal: three nodes, factor 2, dead_member_timeout 4s,
# writers on node1 and on node3. node3 is cut off (NEOEDGE_TEST_PARTITION:
# transport and membership traffic dropped both ways). node1 and node2,
# the majority, remove it and copy its shards between them; node3, alone,
# sees them dead but removes nobody and keeps taking writes (queued as
# hints). Once the cut heals, node3 learns it was removed, refutes it, and
# pulls its shards again before it serves them; nobody removes anybody
# on the way back, and in the three nodes' own stores every acknowledged
# point of both sides is on exactly the 2 owners of its shard.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/rb_lib.sh"
it_setup
cl_ports 3
for n in 1 2 3; do
  : >"$IT_DIR/part$n"
  cl_config $n 2 "anti_entropy_interval: 1s" "dead_member_timeout: 4s"
done
for n in 1 2 3; do cl_start $n NEOEDGE_TEST_PARTITION="$IT_DIR/part$n"; done
for n in 1 2 3; do
  it_expect "node$n sees three alive members" it_wait_for 20 cl_alive_is $n 3
done
it_expect "the three nodes settle (nothing moving)" it_wait_for 40 cl_settled 1 2 3
# partition N PEER...: node N drops traffic with PEERs (none: heals).
partition() {
  local n=$1
  shift
  printf '%s\n' "$@" >"$IT_DIR/part$n.tmp"
  mv "$IT_DIR/part$n.tmp" "$IT_DIR/part$n"
}
removed() { cl_field "$1" 'sorted(j["rebalance"]["removed"])'; }
state_of() { cl_field "$1" "[m['state'] for m in j['members'] if m['id'] == '$2'][0]"; }

cl_writer W1 1 writer "$IT_DIR/stop"
cl_writer W3 3 writer "$IT_DIR/stop"
acked() { [ "$(wc -l <"$IT_DIR/acked$1")" -ge "$2" ]; }
it_expect "the writers are under way" it_wait_for 20 acked 3 500
moves0=$(($(rb_moves 1) + $(rb_moves 2)))

partition 1 node3
partition 2 node3
partition 3 node1 node2
node3_out() { [ "$(removed "$1")" = "['node3']" ]; }
for n in 1 2; do
  it_expect "node$n removes node3 after dead_member_timeout" it_wait_for 30 node3_out $n
done
re_replicated() { [ $(($(rb_moves 1) + $(rb_moves 2))) -gt "$moves0" ] && cl_settled 1 2; }
it_expect "node1 and node2 copy node3's shards between them" it_wait_for 60 re_replicated
for p in node1 node2; do
  it_eq "node3 sees $p dead" "$(state_of 3 $p)" dead
done
it_eq "node3, cut off from the majority, removed nobody" "$(removed 3)" "[]"
n3=$(wc -l <"$IT_DIR/acked3")
it_expect "node3 takes writes while cut off" it_wait_for 20 acked 3 $((n3 + 300))

for n in 1 2 3; do partition $n; done
for n in 1 2 3; do
  it_expect "node$n sees three alive members after the heal" it_wait_for 30 cl_alive_is $n 3
done
it_expect "node3 learns it had been removed, pulls its shards again" it_wait_for 10 \
  grep -q "the other members had removed this node" "${LOG[3]}"
n1=$(wc -l <"$IT_DIR/acked1")
it_expect "writes go on" it_wait_for 20 acked 1 $((n1 + 300))
it_expect "the three nodes settle" it_wait_for 60 cl_settled 1 2 3
touch "$IT_DIR/stop"
cl_reap "$W1" "$W3"
for n in 1 2 3; do
  it_eq "node$n has removed nobody" "$(removed $n)" "[]"
done
for n in 1 2; do
  it_expect "node$n was never removed (node3 did not act on its stale view)" \
    bash -c '! grep -q "the other members had removed this node" "$1"' _ "${LOG[$n]}"
done
drained() {
  [ "$(it_metric neoedge_replication_queue_records '' "${HTTP[$1]}")" = 0 ]
}
for n in 1 3; do
  it_expect "node$n's hint queues drain" it_wait_for 30 drained $n
done
it_expect "the three nodes settle again" it_wait_for 30 cl_settled 1 2 3

curl -s "http://127.0.0.1:${HTTP[1]}/api/v1/cluster" >"$IT_DIR/cluster.json"
rb_local_stores 1 2 3
verdict=$("$PY" "$RB_CHECK" copies "$IT_DIR/cluster.json" "$IT_DIR/acked1:node1" \
  "$IT_DIR/acked3:node3" -- "$IT_DIR/node1.json" "$IT_DIR/node2.json" "$IT_DIR/node3.json")
it_eq "every acknowledged point of both sides is on exactly its 2 owners ($verdict)" "$?" 0
it_done
