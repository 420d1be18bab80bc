#!/usr/bin/env bash
# rb_restart.sh - a restart is not a departure: three nodes, factor 2, two
# writers (node1, node2) and a counter querying the whole cluster on node1
# all the time. node3 is stopped gracefully (SIGTERM) and started again.
# The others see it "stopped" at once (no suspicion), keep its shards where
# they are (no shard moving or kept on node1 or node2 at any time, no move
# completed, no copy dropped anywhere) and queue its writes as hints, which
# reach it once it is back. Every query stays complete, and in the three
# nodes' own stores every acknowledged point is on the 2 owners of its
# shard.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/rb_lib.sh"
it_setup
rb_setup
cl_up 1 2 3
declare -A MOVES0 DROPPED0
for n in 1 2 3; do
  MOVES0[$n]=$(rb_moves $n)
  DROPPED0[$n]=$(rb_dropped $n)
done

cl_writer W1 1 writer "$IT_DIR/stop"
cl_writer W2 2 writer "$IT_DIR/stop"
acked_lines() { [ "$(cat "$IT_DIR"/acked[12] | wc -l)" -ge "$1" ]; }
it_expect "the writers are under way" it_wait_for 20 acked_lines $((2000 * RB_SCALE))
cl_bg C "$PY" "$RB_CHECK" counter "${HTTP[1]}" "$IT_DIR/counts" "$IT_DIR/stop" \
  "$IT_DIR/acked1" "$IT_DIR/acked2"
# Samples shards moving or kept on node1 and node2 until the writers stop.
watch_moves() {
  while [ ! -e "$IT_DIR/stop" ]; do
    for n in 1 2; do
      echo "node$n $(cl_field $n 'j["rebalance"]["shards_moving"] + j["rebalance"]["shards_leaving"]')"
    done
    sleep 0.3
  done >"$IT_DIR/moving"
}
cl_bg M watch_moves

cl_stop 3
state3() { [ "$(cl_field "$1" '[m["state"] for m in j["members"] if m["id"] == "node3"][0]')" = "$2" ]; }
for n in 1 2; do
  it_expect "node$n sees node3 stopped" it_wait_for 5 state3 $n stopped
done
health=$(curl -s "http://127.0.0.1:${HTTP[1]}/health")
it_contains "node1 /health names node3 as stopped" "$health" "stopped: node3"
status=$("$NEOEDGE_BIN" cluster status --host "127.0.0.1:${HTTP[1]}" 2>&1)
it_contains "neoedge cluster status on node1 shows it" "$status" "stopped"
queued() { cl_positive "$(it_metric neoedge_replication_queue_records 'peer="node3"' "${HTTP[$1]}")"; }
for n in 1 2; do
  it_expect "node$n queues node3's writes as hints" it_wait_for 20 queued $n
done
n_now=$(cat "$IT_DIR"/acked[12] | wc -l)
it_expect "writes go on while node3 is down" it_wait_for 20 acked_lines $((n_now + 1000 * RB_SCALE))

cl_start 3
for n in 1 2 3; do
  it_expect "node$n sees three alive members again" it_wait_for 20 cl_alive_is $n 3
done
drained() { [ "$(it_metric neoedge_replication_queue_records 'peer="node3"' "${HTTP[$1]}")" = 0 ]; }
for n in 1 2; do
  it_expect "node$n replays its hints to node3" it_wait_for 30 drained $n
done
n_now=$(cat "$IT_DIR"/acked[12] | wc -l)
it_expect "writes go on with node3 back" it_wait_for 20 acked_lines $((n_now + 500 * RB_SCALE))
it_expect "the three nodes settle" it_wait_for 40 cl_settled 1 2 3
touch "$IT_DIR/stop"
cl_reap "$W1" "$W2" "$C" "$M"
it_log "writers stopped: $(cat "$IT_DIR"/acked[12] | wc -l) points acknowledged"
verdict=$("$PY" "$RB_CHECK" complete "$IT_DIR/counts")
it_eq "every query while node3 restarted was complete ($verdict)" "$?" 0
it_expect "node1 and node2 were sampled" grep -q "^node2 0$" "$IT_DIR/moving"
it_eq "no shard moved to or kept on node1 or node2 at any time" \
  "$(grep -vc ' 0$' "$IT_DIR/moving")" 0
for n in 1 2; do
  it_eq "node$n completed no shard move" "$(rb_moves $n)" "${MOVES0[$n]}"
done
for n in 1 2 3; do
  it_eq "node$n dropped no shard copy" "$(rb_dropped $n)" "${DROPPED0[$n]}"
done

curl -s "http://127.0.0.1:${HTTP[1]}/api/v1/cluster" >"$IT_DIR/cluster.json"
rb_local_stores 1 2 3
verdict=$("$PY" "$RB_CHECK" copies "$IT_DIR/cluster.json" "$IT_DIR/acked1:node1" \
  "$IT_DIR/acked2:node2" -- "$IT_DIR/node1.json" "$IT_DIR/node2.json" "$IT_DIR/node3.json")
it_eq "every acknowledged point is on its 2 owners ($verdict)" "$?" 0
it_done
