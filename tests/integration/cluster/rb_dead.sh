#!/usr/bin/env bash
# rb_dead.sh - a member lost for good heals itself: three nodes, factor 2,
# replication.dead_member_timeout 4s, two writers (node1, node2) and a
# counter querying the whole cluster on node1 (from the moment the crash is
# detected on). node3 is killed (-9); once it has been dead for the timeout,
# node1 and node2 remove it from the placement ring and copy its shards from
# the live replicas: then
# each of them owns every shard, and each one's answer (read from its own
# store) holds every acknowledged point. node3 is then started again: it
# rejoins, its shards move back, the others drop their extra copies, and
# in the three nodes' own stores every acknowledged point is on exactly
# the 2 owners of its shard (nothing lost, nothing duplicated). Every
# query on the way is complete. Last, a member only node1's saved write
# ring still names is removed after the timeout too.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/rb_lib.sh"
it_setup
cl_ports 3
for n in 1 2 3; do cl_config $n 2 "anti_entropy_interval: 1s" "dead_member_timeout: 4s"; done
cl_up 1 2 3
moves0=$(($(rb_moves 1) + $(rb_moves 2)))

cl_writer W1 1 writer "$IT_DIR/stopA"
cl_writer W2 2 writer "$IT_DIR/stopA"
acked_lines() { [ "$(cat "$IT_DIR"/acked[1245] 2>/dev/null | wc -l)" -ge "$1" ]; }
it_expect "the writers are under way" it_wait_for 20 acked_lines $((2000 * RB_SCALE))

t_kill=$(date +%s.%N)
cl_kill 3
state3() { [ "$(cl_field "$1" '[m["state"] for m in j["members"] if m["id"] == "node3"][0]')" = "$2" ]; }
removed3() { [ "$(cl_field "$1" '"node3" in j["rebalance"]["removed"]')" = "$2" ]; }
for n in 1 2; do
  it_expect "node$n sees node3 dead" it_wait_for 10 state3 $n dead
done
# Until a crash is detected, a query may still ask node3 and report what
# it missed; from then on, through the removal and the copies, none may.
cl_bg C "$PY" "$RB_CHECK" counter "${HTTP[1]}" "$IT_DIR/counts" "$IT_DIR/stopA" \
  "$IT_DIR/acked1" "$IT_DIR/acked2"
for n in 1 2; do
  it_expect "node$n removes node3 after dead_member_timeout" it_wait_for 30 removed3 $n True
  it_expect "and lists it as left" state3 $n left
done
t_removed=$(date +%s.%N)
removals=$(($(it_metric neoedge_cluster_members_removed_total '' "${HTTP[1]}") +
  $(it_metric neoedge_cluster_members_removed_total '' "${HTTP[2]}")))
it_expect "neoedge_cluster_members_removed_total counts it ($removals)" cl_positive "$removals"
n_now=$(cat "$IT_DIR"/acked[12] | wc -l)
it_expect "writes go on without node3" it_wait_for 20 acked_lines $((n_now + 1000 * RB_SCALE))
re_replicated() { [ $(($(rb_moves 1) + $(rb_moves 2))) -gt "$moves0" ] && cl_settled 1 2; }
it_expect "node1 and node2 copy node3's shards (moves done, nothing moving)" \
  it_wait_for $((60 * RB_SCALE)) re_replicated
since() { "$PY" -c 'import sys, time; print("%.1f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$@"; }
it_log "node3 removed $(since "$t_kill" "$t_removed") s after the kill, its shards copied" \
  "$(since "$t_kill" "$(date +%s.%N)") s after it (dead_member_timeout 4s)"
touch "$IT_DIR/stopA"
cl_reap "$W1" "$W2" "$C"
it_log "writers stopped: $(cat "$IT_DIR"/acked[12] | wc -l) points acknowledged"
verdict=$("$PY" "$RB_CHECK" complete "$IT_DIR/counts")
it_eq "every query while node3 was dead and removed was complete ($verdict)" "$?" 0
# Two nodes at factor 2 own every shard: each answers from its own store.
curl -s "http://127.0.0.1:${HTTP[1]}/api/v1/cluster" >"$IT_DIR/cluster2.json"
mkdir -p "$IT_DIR/live"
for n in 1 2; do
  curl -s -G "http://127.0.0.1:${HTTP[$n]}/query" --data-urlencode db=iot \
    --data-urlencode epoch=ns --data-urlencode "q=SELECT v FROM m GROUP BY dev" \
    >"$IT_DIR/live/node$n.json"
done
verdict=$("$PY" "$RB_CHECK" copies "$IT_DIR/cluster2.json" "$IT_DIR/acked1:node1" \
  "$IT_DIR/acked2:node2" -- "$IT_DIR/live/node1.json" "$IT_DIR/live/node2.json")
it_eq "every acknowledged point is on both live nodes ($verdict)" "$?" 0

dropped0=$(($(rb_dropped 1) + $(rb_dropped 2)))
cl_start 3
for n in 1 2 3; do
  it_expect "node$n sees three alive members again" it_wait_for 20 cl_alive_is $n 3
done
for n in 1 2; do
  it_expect "node$n places on node3 again" it_wait_for 10 removed3 $n False
done
: >"$IT_DIR/acked4"
: >"$IT_DIR/acked5"
cl_bg W4 "$PY" "$CL_AE_CHECK" writer "${HTTP[1]}" 4 "$IT_DIR/acked4" "$IT_DIR/stopB"
cl_bg W5 "$PY" "$CL_AE_CHECK" writer "${HTTP[2]}" 5 "$IT_DIR/acked5" "$IT_DIR/stopB"
cl_bg C "$PY" "$RB_CHECK" counter "${HTTP[1]}" "$IT_DIR/counts2" "$IT_DIR/stopB" \
  "$IT_DIR/acked1" "$IT_DIR/acked2" "$IT_DIR/acked4" "$IT_DIR/acked5"
n_now=$(cat "$IT_DIR"/acked[1245] | wc -l)
it_expect "writes go on with node3 back" it_wait_for 20 acked_lines $((n_now + 1000 * RB_SCALE))
moved_back() { [ $(($(rb_dropped 1) + $(rb_dropped 2))) -gt "$dropped0" ] && cl_settled 1 2 3; }
it_expect "the shards move back (node1 and node2 drop the copies node3 took back) and settle" \
  it_wait_for $((60 * RB_SCALE)) moved_back
touch "$IT_DIR/stopB"
cl_reap "$W4" "$W5" "$C"
it_log "writers stopped: $(cat "$IT_DIR"/acked[1245] | wc -l) points acknowledged"
verdict=$("$PY" "$RB_CHECK" complete "$IT_DIR/counts2")
it_eq "every query while node3 rejoined was complete ($verdict)" "$?" 0

curl -s "http://127.0.0.1:${HTTP[1]}/api/v1/cluster" >"$IT_DIR/cluster.json"
rb_local_stores 1 2 3
verdict=$("$PY" "$RB_CHECK" copies "$IT_DIR/cluster.json" "$IT_DIR/acked1:node1" \
  "$IT_DIR/acked2:node2" "$IT_DIR/acked4:node1" "$IT_DIR/acked5:node2" -- \
  "$IT_DIR/node1.json" "$IT_DIR/node2.json" "$IT_DIR/node3.json")
it_eq "every acknowledged point is on exactly its 2 owners ($verdict)" "$?" 0

# A member of node1's last write ring that no running member knows any
# more (every node that knew it restarted) is removed too, once node1 has
# run for the timeout.
echo ghost >>"$IT_DIR/data1/cluster/members"
for n in 1 2 3; do cl_start $n; done
for n in 1 2 3; do
  it_expect "node$n sees three alive members after a restart" it_wait_for 20 cl_alive_is $n 3
done
ghost_gone() { [ "$(cl_field "$1" '"ghost" in j["rebalance"]["removed"]')" = True ]; }
for n in 1 2 3; do
  it_expect "node$n lists the forgotten member as removed" it_wait_for 30 ghost_gone $n
done
it_expect "node1 logs why" grep -q "nobody has heard of since the start" "${LOG[1]}"
for n in 1 2 3; do cl_stop $n; done
cl_no_sanitizer_reports
it_done
