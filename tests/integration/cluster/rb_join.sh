#!/usr/bin/env bash
# rb_join.sh [FACTOR] - a fourth node joins under write load: three nodes,
# replication factor FACTOR (default 2), two writers (node1, node2) and a
# counter querying the whole cluster on node3 all the time; node4 starts,
# the shards it gains move to it. Every query answers without a warning
# and counts at least the points acknowledged before it and at most those
# sent before its answer (at factor 1 too: a moving shard is read from its
# old owner, which gets the writes while it keeps the shard); once the
# moves settled, the old owners dropped their copies: in the nodes' own
# stores each acknowledged point is on the FACTOR owners of its shard and
# on no other node (but, maybe, the one that accepted it: a node keeps
# what it takes until it drops the shard).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/rb_lib.sh"
RB_FACTOR=${1:-2}
it_setup
rb_setup
cl_up 1 2 3

cl_writer W1 1 writer "$IT_DIR/stop"
cl_writer W2 2 writer "$IT_DIR/stop"
acked_lines() { [ "$(cat "$IT_DIR"/acked1 "$IT_DIR"/acked2 | wc -l)" -ge "$1" ]; }
it_expect "the writers are under way" it_wait_for 20 acked_lines $((2000 * RB_SCALE))
cl_bg C "$PY" "$RB_CHECK" counter "${HTTP[3]}" "$IT_DIR/counts" "$IT_DIR/stop" \
  "$IT_DIR/acked1" "$IT_DIR/acked2"

cl_start 4
it_expect "node4 joins: four alive members" it_wait_for 20 cl_alive_is 1 4
moving() { [ "$(cl_field 4 'j["rebalance"]["moves_completed"]')" -gt 0 ]; }
it_expect "shards move to node4" it_wait_for 30 moving
it_expect "the moves settle: nothing moving or kept on any node" \
  it_wait_for $((40 * RB_SCALE)) cl_settled 1 2 3 4
n_settled=$(cat "$IT_DIR"/acked1 "$IT_DIR"/acked2 | wc -l)
it_expect "writes go on after the move" it_wait_for $((20 * RB_SCALE)) acked_lines \
  $((n_settled + 500 * RB_SCALE))
touch "$IT_DIR/stop"
cl_reap "$W1" "$W2" "$C"
it_log "writers stopped: $(cat "$IT_DIR"/acked1 "$IT_DIR"/acked2 | wc -l) points acknowledged"

verdict=$("$PY" "$RB_CHECK" complete "$IT_DIR/counts" "$IT_DIR/acked1" "$IT_DIR/acked2")
it_eq "every query during the move was complete ($verdict)" "$?" 0
# what node4 lacks is pulled by its moves, or already by anti-entropy
# with the owners it shares the shard with
moved=$(cl_field 4 'j["rebalance"]["points_moved"] + j["antientropy"]["points_repaired"]')
it_expect "node4 pulled points ($moved)" cl_positive "$moved"
dropped=$(($(cl_field 1 'j["rebalance"]["shards_dropped"]') + \
  $(cl_field 2 'j["rebalance"]["shards_dropped"]') + $(cl_field 3 'j["rebalance"]["shards_dropped"]')))
it_expect "the old owners dropped shard copies ($dropped)" test "$dropped" -gt 0
status=$("$NEOEDGE_BIN" cluster status --host "127.0.0.1:${HTTP[4]}" 2>&1)
it_contains "neoedge cluster status shows the shard move line" "$status" "shard moves: 0 moving here"
metric=$(it_metric neoedge_rebalance_moves_completed_total '' "${HTTP[4]}")
it_expect "node4 counts its moves in /metrics ($metric)" cl_positive "$metric"

skipped=0
for n in 1 2 3; do
  skipped=$((skipped + $(it_metric neoedge_replication_keeper_skipped_points_total '' "${HTTP[$n]}")))
done
it_log "writes that reached an old owner after its drop, skipped there: $skipped points"

curl -s "http://127.0.0.1:${HTTP[3]}/api/v1/cluster" >"$IT_DIR/cluster.json"
rb_local_stores 1 2 3 4
verdict=$("$PY" "$RB_CHECK" copies "$IT_DIR/cluster.json" "$IT_DIR/acked1:node1" \
  "$IT_DIR/acked2:node2" -- \
  "$IT_DIR/node1.json" "$IT_DIR/node2.json" "$IT_DIR/node3.json" "$IT_DIR/node4.json")
it_eq "every acknowledged point is on its $RB_FACTOR owners and no old owner ($verdict)" \
  "$?" 0
it_done
