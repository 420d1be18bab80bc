#!/usr/bin/env bash
# rb_decommission.sh - a node is decommissioned under write load: four
# nodes, factor 2, two writers (node1, node2) and a counter querying the
# whole cluster on node1 all the time; `neoedge cluster decommission`
# (asked of node1) takes node3 off the placement ring. A third writer
# writes to node3 until it is leaving (it forwards what it takes to the
# owners). node3 reports "done" only once the shards it held are held by
# their 2 new owners and its hint queues are empty; it is stopped then. Every query stays complete, and in the remaining
# nodes' own stores every acknowledged point is on the 2 owners of its
# shard: nothing acknowledged is lost. node1 saves node3 in its list of
# removed members (decommissioned, then left) and, restarted, keeps it off
# its ring.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/rb_lib.sh"
it_setup
rb_setup
for n in 1 2 3 4; do cl_start $n; done
for n in 1 2 3 4; do
  it_expect "node$n sees four alive members" it_wait_for 20 cl_alive_is $n 4
done
it_expect "the four nodes settle (nothing moving)" it_wait_for 40 cl_settled 1 2 3 4

cl_writer W3 3 writer "$IT_DIR/stop3"
cl_writer W1 1 writer "$IT_DIR/stop"
cl_writer W2 2 writer "$IT_DIR/stop"
acked_lines() { [ "$(cat "$IT_DIR"/acked[123] | wc -l)" -ge "$1" ]; }
it_expect "the writers are under way" it_wait_for 20 acked_lines $((2000 * RB_SCALE))
cl_bg C "$PY" "$RB_CHECK" counter "${HTTP[1]}" "$IT_DIR/counts" "$IT_DIR/stop" \
  "$IT_DIR/acked1" "$IT_DIR/acked2" "$IT_DIR/acked3"

out=$("$NEOEDGE_BIN" cluster decommission --host "127.0.0.1:${HTTP[1]}" nosuchnode 2>&1)
it_eq "decommissioning an unknown node fails" "$?" 1
it_contains "and names it" "$out" "no member 'nosuchnode'"
out=$("$NEOEDGE_BIN" cluster decommission --host "127.0.0.1:${HTTP[1]}" node3 2>&1)
it_eq "neoedge cluster decommission node3 (asked of node1) exits 0" "$?" 0
it_contains "it says what happens next" "$out" "node3: decommissioning"
state() { cl_field 3 'j["rebalance"]["decommission"]'; }
leaving() { [ "$(state)" = leaving ] || [ "$(state)" = done ]; }
it_expect "node3 is leaving" it_wait_for 10 leaving
off_ring() { [ "$(cl_field "$1" '"node3" in j["rebalance"]["decommissioned"]')" = True ]; }
for n in 1 2 4; do
  it_expect "node$n places without node3" it_wait_for 10 off_ring $n
done
it_expect "node1 saves node3 as decommissioned in data1/cluster/removed" it_wait_for 30 \
  grep -Eq "^decommissioned [0-9]+ node3 127.0.0.1:${CLUS[3]}$" "$IT_DIR/data1/cluster/removed"
n3=$(wc -l <"$IT_DIR/acked3")
acked3() { [ "$(wc -l <"$IT_DIR/acked3")" -ge "$1" ]; }
it_expect "node3 takes writes while leaving" it_wait_for 20 acked3 $((n3 + 300))
touch "$IT_DIR/stop3"
cl_reap "$W3"
done_() { [ "$(state)" = done ]; }
it_expect "node3 reports done" it_wait_for $((40 * RB_SCALE)) done_
# done means: every shard node3 held has its 2 owners, both holding it
status=$("$NEOEDGE_BIN" cluster status --host "127.0.0.1:${HTTP[3]}" 2>&1)
it_contains "neoedge cluster status on node3 shows it" "$status" "decommission: done"
metric=$(it_metric neoedge_rebalance_decommission_state '' "${HTTP[3]}")
it_expect "and /metrics ($metric)" "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) == 2 else 1)' \
  "$metric"
cl_stop 3
n_now=$(cat "$IT_DIR"/acked[123] | wc -l)
it_expect "writes go on without node3" it_wait_for $((20 * RB_SCALE)) acked_lines \
  $((n_now + 500 * RB_SCALE))
it_expect "the three others settle" it_wait_for 30 cl_settled 1 2 4
touch "$IT_DIR/stop"
cl_reap "$W1" "$W2" "$C"
it_log "writers stopped: $(cat "$IT_DIR"/acked[123] | wc -l) points acknowledged"
verdict=$("$PY" "$RB_CHECK" complete "$IT_DIR/counts")
it_eq "every query during the decommission was complete ($verdict)" "$?" 0

it_expect "node1 saves node3 as left once it stopped" it_wait_for 30 \
  grep -Eq "^left [0-9]+ node3 " "$IT_DIR/data1/cluster/removed"
# A restarted node1 keeps node3 off its ring from its saved list.
cl_stop 1
cl_start 1
it_eq "restarted node1 keeps node3 off its ring" \
  "$(cl_field 1 "'node3' in j['rebalance']['removed']")" True
it_expect "node1 sees the two others" it_wait_for 20 cl_alive_is 1 3
it_expect "the three settle again" it_wait_for 60 cl_settled 1 2 4
curl -s "http://127.0.0.1:${HTTP[1]}/api/v1/cluster" >"$IT_DIR/cluster.json"
rb_local_stores 1 2 4
verdict=$("$PY" "$RB_CHECK" copies "$IT_DIR/cluster.json" "$IT_DIR/acked1:node1" \
  "$IT_DIR/acked2:node2" "$IT_DIR/acked3:node3" -- "$IT_DIR/node1.json" "$IT_DIR/node2.json" "$IT_DIR/node4.json")
it_eq "every acknowledged point is on its 2 owners among the 3 remaining nodes ($verdict)" "$?" 0
it_done
