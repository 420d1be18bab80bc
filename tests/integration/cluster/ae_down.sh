#!/usr/bin/env bash
# ae_down.sh - anti-entropy repairs a node that was down longer than the
# hint window: three nodes, every shard on each; node3 is killed while two
# writers write to node1 and node2; their hints for node3 outlive the
# (300 ms) hint window and are dropped and counted; node3 restarts, and
# once anti-entropy is quiet every node's own store holds every
# acknowledged point.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/ae_lib.sh"
it_setup
ae_cluster_up

: >"$IT_DIR/acked2"
cl_writer W1 1 writer "$IT_DIR/stop"
acked_lines() { [ "$(cat "$IT_DIR"/acked1 "$IT_DIR"/acked2 | wc -l)" -ge "$1" ]; }
it_expect "the first writer is under way" it_wait_for 20 acked_lines 200

cl_kill 3
it_log "node3 killed"
cl_writer W2 2 writer "$IT_DIR/stop"
it_expect "node1 drops its hints for node3 past the hint window, counted" it_wait_for 30 ae_dropped 1
it_expect "node2 drops its hints for node3 past the hint window, counted" it_wait_for 30 ae_dropped 2
n_before=$(cat "$IT_DIR"/acked1 "$IT_DIR"/acked2 | wc -l)
it_expect "writes go on while node3 is down" it_wait_for $((20 * AE_SCALE)) \
  acked_lines $((n_before + 500 * AE_SCALE))

ae_start 3
it_expect "node3 sees three alive members again" it_wait_for 20 cl_alive_is 3 3
touch "$IT_DIR/stop"
cl_reap "$W1" "$W2"
it_log "writers stopped: $(cat "$IT_DIR"/acked1 "$IT_DIR"/acked2 | wc -l) points acknowledged"
for n in 1 2 3; do
  it_expect "node$n's anti-entropy is quiet" ae_wait_quiet $n $((60 * AE_SCALE))
done
repaired=$(it_metric neoedge_antientropy_points_repaired_total '' "${HTTP[3]}")
it_expect "node3 repaired points through anti-entropy ($repaired)" cl_positive "$repaired"
status=$("$NEOEDGE_BIN" cluster status --host "127.0.0.1:${HTTP[3]}" 2>&1)
it_contains "neoedge cluster status shows the anti-entropy line" "$status" "anti-entropy: every 1s"
ae_verify "$IT_DIR/acked1" "$IT_DIR/acked2"
it_done
