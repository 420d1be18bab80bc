#!/usr/bin/env bash
# rb_remove.sh - `neoedge cluster remove` and the saved list of removed
# members: four nodes, factor 2, no automatic removal
# (dead_member_timeout 0). node2 is stopped gracefully; node4 is killed
# (-9) and, while node2 is down, removed with `neoedge cluster remove`
# asked of node1 (which refuses this node, an unknown node and a running
# one). node1 and node3 list node4 as removed and save it in
# data_dir/cluster/removed; both are then restarted at once, so that no
# running member remembers node4, and they still keep it off their ring.
# node2, which was down during the removal and still has node4 in its own
# member list, is started last: it learns the removal from them, queues
# nothing for node4, and the three nodes settle on a ring without it.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/rb_lib.sh"
it_setup
cl_ports 4
for n in 1 2 3 4; do cl_config $n 2 "anti_entropy_interval: 1s" "dead_member_timeout: 0s"; done
for n in 1 2 3 4; do cl_start $n; done
for n in 1 2 3 4; do
  it_expect "node$n sees four alive members" it_wait_for 20 cl_alive_is $n 4
done
it_expect "the four nodes settle (nothing moving)" it_wait_for 40 cl_settled 1 2 3 4
cl_writer W1 1 writer "$IT_DIR/stop"
acked_lines() { [ "$(cat "$IT_DIR"/acked[12] 2>/dev/null | wc -l)" -ge "$1" ]; }
it_expect "a writer is under way" it_wait_for 20 acked_lines 500

state_of() { cl_field "$1" "[m['state'] for m in j['members'] if m['id'] == '$2'][0]"; }
removed() { [ "$(cl_field "$1" "'$2' in j['rebalance']['removed']")" = "$3" ]; }
cl_stop 2
stopped2() { [ "$(state_of 1 node2)" = stopped ]; }
it_expect "node1 sees node2 stopped" it_wait_for 5 stopped2
cl_kill 4
dead4() { [ "$(state_of "$1" node4)" = dead ]; }
for n in 1 3; do it_expect "node$n sees node4 dead" it_wait_for 10 dead4 $n; done
remove() { "$NEOEDGE_BIN" cluster remove --host "127.0.0.1:${HTTP[1]}" "$1" 2>&1; }
out=$(remove node1)
it_eq "removing the node asked fails" "$?" 1
it_contains "and says to decommission it" "$out" "decommission it instead"
out=$(remove nosuchnode)
it_eq "removing an unknown node fails" "$?" 1
it_contains "and names it" "$out" "no member 'nosuchnode'"
out=$(remove node3)
it_eq "removing a running node fails" "$?" 1
it_contains "and says why" "$out" "member 'node3' is alive"
it_eq "node4 is still dead on node1 (nothing removes it by itself)" "$(state_of 1 node4)" dead
out=$(remove node4)
it_eq "neoedge cluster remove node4 (asked of node1) exits 0" "$?" 0
it_contains "it says what happens next" "$out" "node4: removed from the placement ring"
for n in 1 3; do
  it_expect "node$n removes node4" it_wait_for 10 removed $n node4 True
  it_eq "node$n lists node4 as left" "$(state_of $n node4)" left
done
status=$("$NEOEDGE_BIN" cluster status --host "127.0.0.1:${HTTP[1]}" 2>&1)
it_expect "neoedge cluster status on node1 shows node2 stopped" \
  bash -c 'grep -Eq "^node2 +[^ ]+ +stopped " <<<"$1"' _ "$status"
it_contains "and node4 off the ring" "$status" "off the placement ring: left or removed node4"
it_eq "node1 still places on node2 (stopped, not removed)" \
  "$(cl_field 1 "'node2' in j['rebalance']['removed']")" False
n_now=$(cat "$IT_DIR"/acked1 | wc -l)
it_expect "writes go on" it_wait_for 20 acked_lines $((n_now + 500))
touch "$IT_DIR/stop"
cl_reap "$W1"
for n in 1 3; do
  it_expect "data$n/cluster/removed names node4" it_wait_for 30 \
    grep -Eq "^left [0-9]+ node4 127.0.0.1:${CLUS[4]}$" "$IT_DIR/data$n/cluster/removed"
done

# node1 and node3 restart at once: only their saved lists remember node4.
for n in 1 3; do kill -TERM "${PID[$n]}"; done
for n in 1 3; do
  wait "${PID[$n]}"
  it_eq "node$n exits 0 on SIGTERM" "$?" 0
  it_forget_pid "${PID[$n]}"
done
for n in 1 3; do cl_start $n; done
for n in 1 3; do
  it_eq "restarted node$n keeps node4 off its ring" \
    "$(cl_field $n "'node4' in j['rebalance']['removed']")" True
done
it_expect "data2/cluster/members still names node4 (node2 was down)" \
  grep -qx node4 "$IT_DIR/data2/cluster/members"
echo ghost >>"$IT_DIR/data2/cluster/members"
cl_start 2
for n in 1 2 3; do
  it_expect "node$n sees three alive members" it_wait_for 20 cl_alive_is $n 3
done
out=$("$NEOEDGE_BIN" cluster remove --host "127.0.0.1:${HTTP[2]}" ghost 2>&1)
it_eq "a member only node2's saved write ring names can be removed on node2 ($out)" "$?" 0
it_expect "node2 lists it as removed" removed 2 ghost True
it_expect "node2 learns that node4 was removed" it_wait_for 10 removed 2 node4 True
cl_writer W2 2 writer "$IT_DIR/stop2"
n_now=$(cat "$IT_DIR"/acked2 | wc -l)
it_expect "node2 takes writes" it_wait_for 20 acked_lines $((n_now + 500))
touch "$IT_DIR/stop2"
cl_reap "$W2"
it_eq "node2 queued nothing for node4" \
  "$(it_metric neoedge_replication_queue_records 'peer="node4"' "${HTTP[2]}")" 0
it_expect "the three nodes settle" it_wait_for 60 cl_settled 1 2 3
it_expect "node2's saved write ring no longer names node4" \
  bash -c '! grep -qx node4 "$1"' _ "$IT_DIR/data2/cluster/members"
for n in 1 2 3; do cl_stop $n; done
cl_no_sanitizer_reports
it_done
