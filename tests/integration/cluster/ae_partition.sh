#!/usr/bin/env bash
# ae_partition.sh - a partition heals to the union of both sides' writes:
# three nodes, every shard on each; node1 is cut off from node2 and node3
# (NEOEDGE_TEST_PARTITION: transport and membership traffic dropped both
# ways) while writers write to node1 and to node2; hints across the cut
# outlive the hint window and are dropped. Once the cut heals (node1's
# next rounds compare all time, the members being back) and anti-entropy
# is quiet, every node's own store holds every acknowledged point of both
# sides.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/ae_lib.sh"
it_setup
ae_cluster_up

ae_partition 1 node2 node3
ae_partition 2 node1
ae_partition 3 node1
it_expect "node1 sees only itself alive" it_wait_for 20 cl_alive_is 1 1
it_expect "node2 sees two alive members" it_wait_for 20 cl_alive_is 2 2
it_expect "node1 logged the test partition" \
  grep -q 'msg="test partition: dropping traffic with a peer" peer=node2' "${LOG[1]}"

cl_writer W1 1 writer "$IT_DIR/stop"
cl_writer W2 2 writer "$IT_DIR/stop"
lines() { [ "$(wc -l <"$1")" -ge "$2" ]; }
it_expect "node1's side acknowledges writes" it_wait_for $((20 * AE_SCALE)) \
  lines "$IT_DIR/acked1" $((1000 * AE_SCALE))
it_expect "node2's side acknowledges writes" it_wait_for $((20 * AE_SCALE)) \
  lines "$IT_DIR/acked2" $((1000 * AE_SCALE))
it_expect "node1's hints across the cut are dropped, counted" it_wait_for 30 ae_dropped 1
it_expect "node2's hints across the cut are dropped, counted" it_wait_for 30 ae_dropped 2
touch "$IT_DIR/stop"
cl_reap "$W1" "$W2"

full0=$(cl_field 1 'j["antientropy"]["rounds_full"]')
for n in 1 2 3; do ae_partition $n; done
for n in 1 2 3; do
  it_expect "node$n sees three alive members after the heal" it_wait_for 20 cl_alive_is $n 3
done
for n in 1 2 3; do
  it_expect "node$n's anti-entropy is quiet" ae_wait_quiet $n $((60 * AE_SCALE))
done
for n in 1 2; do
  it_expect "node$n repaired points from the other side" \
    cl_positive "$(it_metric neoedge_antientropy_points_repaired_total '' "${HTTP[$n]}")"
done
full1=$(cl_field 1 'j["antientropy"]["rounds_full"]')
it_expect "node1 compared all time with the members back from the cut ($full0 -> $full1)" \
  test "$full1" -gt "$full0"
ae_verify "$IT_DIR/acked1" "$IT_DIR/acked2"
it_done
