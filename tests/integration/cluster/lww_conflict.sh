#!/usr/bin/env bash
# lww_conflict.sh - two writers on two nodes write the same (series, time,
# field) keys at once, with values of their own; node3 is cut off for part
# of the run (so some conflicting writes meet only through anti-entropy).
# After quiescence every node's own store holds the same value for each
# key, and where the two requests for a key did not overlap in time that
# value is the later one: the greatest hybrid-logical-clock version wins,
# whatever order the replicas received the writes in.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/ae_lib.sh"
it_setup
ae_cluster_up

cl_writer W1 1 conflict "$IT_DIR/stop"
cl_writer W2 2 conflict "$IT_DIR/stop"
lines() { [ "$(cat "$IT_DIR"/acked1 "$IT_DIR"/acked2 | wc -l)" -ge "$1" ]; }
it_expect "both writers are under way" it_wait_for 20 lines 1000
ae_partition 3 node1 node2
ae_partition 1 node3
ae_partition 2 node3
it_expect "node3 is cut off" it_wait_for 20 cl_alive_is 1 2
n_cut=$(cat "$IT_DIR"/acked1 "$IT_DIR"/acked2 | wc -l)
it_expect "the writers go on while node3 is cut off" it_wait_for $((20 * AE_SCALE)) \
  lines $((n_cut + 1500 * AE_SCALE))
for n in 1 2 3; do ae_partition $n; done
it_expect "node3 is back" it_wait_for 20 cl_alive_is 3 3
it_expect "the writers go on after the heal" it_wait_for $((20 * AE_SCALE)) \
  lines $((n_cut + 2500 * AE_SCALE))
touch "$IT_DIR/stop"
cl_reap "$W1" "$W2"
for n in 1 2 3; do
  it_expect "node$n's anti-entropy is quiet" ae_wait_quiet $n $((60 * AE_SCALE))
done
ae_verify "$IT_DIR/acked1" "$IT_DIR/acked2"
it_done
