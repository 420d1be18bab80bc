#!/usr/bin/env bash
# delete.sh MODE - DELETE, DROP MEASUREMENT and DROP DATABASE in a cluster:
# three nodes, factor 2. A fixed data set reaches its owners; node3 is
# killed; old points are written through node1 (hints for node3); the
# deletions go to node2 (answered as a single node answers); newer points
# are written into the deleted range through node1; node3 restarts. Once
# hints are drained and anti-entropy is quiet, no node's own store holds a
# deleted point, every expected point (the newer ones included) is on at
# least two nodes, and a query through any node answers exactly the
# expected points; the dropped database is nowhere.
#   MODE hints: node3 returns cut off from node1 (the test partition hook)
#               and gets the deletions as hints from node2; then node1's
#               hints arrive, and the old points among them are dropped on
#               arrival, counted;
#   MODE ae:    the hint window is so short that node3's hints are dropped
#               while it is down: only anti-entropy's tombstone exchange
#               can tell it.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/ae_lib.sh"
KEY="integration-cdelete-key-01"
MODE=${1:-hints}
CHECK="$(cd "$(dirname "$0")" && pwd)/del_check.py"
SELECT='SELECT v FROM m, gone GROUP BY dev'
OK_JSON='{"results":[{"statement_id":0}]}'
it_setup

hint_window=1h
[ "$MODE" = ae ] && hint_window=300ms
cl_ports 3
for n in 1 2 3; do cl_config $n 2 "hint_window: $hint_window" "anti_entropy_interval: 1s"; done
for n in 1 2 3; do
  : >"$IT_DIR/part$n"
  ae_start $n
done
for n in 1 2 3; do
  it_expect "node$n sees three alive members" it_wait_for 20 cl_alive_is $n 3
done

# queued N [PEER]: node N's hint records (for PEER, or all) number exactly $3
queued_is() {
  [ "$(it_metric neoedge_replication_queue_records "${2:+peer=\"$2\"}" "${HTTP[$1]}")" = "$3" ]
}
drained() { queued_is 1 "" 0 && queued_is 2 "" 0 && queued_is 3 "" 0; }
tombs_is() { [ "$(it_metric neoedge_cluster_tombstones '' "${HTTP[$1]}")" = "$2" ]; }

# query N STATEMENT: POST /query on node N, the body in $IT_DIR/answer
query() {
  curl -s -X POST "http://127.0.0.1:${HTTP[$1]}/query" --data-urlencode "db=iot" \
    --data-urlencode "epoch=ns" --data-urlencode "q=$2" >"$IT_DIR/answer"
}

"$PY" "$CHECK" write "${HTTP[1]}" base
it_eq "the data set is acknowledged by node1" "$?" 0
it_expect "the data set reached its owners (hint queues empty)" it_wait_for 30 drained
query 1 'SHOW DATABASES'
it_contains "database lab exists before it is dropped" "$(cat "$IT_DIR/answer")" '"lab"'

cl_kill 3
dead_is() { [ "$(cl_field "$1" 'j["counts"]["dead"]')" = "$2" ]; }
it_expect "node1 sees node3 dead" it_wait_for 20 dead_is 1 1
it_expect "node2 sees node3 dead" it_wait_for 20 dead_is 2 1
"$PY" "$CHECK" write "${HTTP[1]}" old
it_eq "old points for node3 are acknowledged by node1" "$?" 0
it_expect "node2 got node1's old points (the deletion orders after them)" \
  it_wait_for 30 queued_is 1 node2 0
while IFS= read -r stmt; do
  query 2 "$stmt"
  it_eq "node2 answers '$stmt' as a single node does" "$(cat "$IT_DIR/answer")" "$OK_JSON"
done < <("$PY" "$CHECK" statements)
query 2 'DELETE FROM m WHERE v > 1'
it_contains "a DELETE on a field is refused with the single-node error" \
  "$(cat "$IT_DIR/answer")" 'fields not supported in WHERE clause during deletion'
it_expect "node1 learned the three deletions" it_wait_for 20 tombs_is 1 3
if [ "$MODE" = hints ]; then
  held=$(it_metric neoedge_replication_queue_records 'peer="node3"' "${HTTP[2]}")
  it_expect "node2 holds the deletions for node3 as hints ($held records)" cl_positive "$held"
fi
"$PY" "$CHECK" write "${HTTP[1]}" newer
it_eq "newer points in the deleted range are acknowledged by node1" "$?" 0
if [ "$MODE" = ae ]; then
  it_expect "node1's hints for node3 pass the hint window and are dropped" \
    it_wait_for 30 queued_is 1 node3 0
  it_expect "node2's hints for node3 (the deletions) are dropped" \
    it_wait_for 30 queued_is 2 node3 0
fi

if [ "$MODE" = hints ]; then
  ae_partition 1 node3
  ae_partition 3 node1
fi
ae_start 3
it_expect "node3 learned the three deletions" it_wait_for 30 tombs_is 3 3
if [ "$MODE" = hints ]; then
  it_eq "node3 got the deletions from node2 while cut off from node1" \
    "$(it_metric neoedge_cluster_points_deleted_on_arrival_total '' "${HTTP[3]}")" 0
  ae_partition 1
  ae_partition 3
  arrived() { cl_positive "$(it_metric neoedge_cluster_points_deleted_on_arrival_total '' "${HTTP[3]}")"; }
  it_expect "node1's hints of old points are dropped on arrival at node3, counted" \
    it_wait_for 30 arrived
fi
for n in 1 2 3; do
  it_expect "node$n sees three alive members again" it_wait_for 20 cl_alive_is $n 3
done
it_expect "every hint queue is drained" it_wait_for 30 drained
for n in 1 2 3; do
  it_expect "node$n's anti-entropy is quiet" ae_wait_quiet $n 30
done
answers=()
for n in 1 2 3; do
  query $n "$SELECT"
  cp "$IT_DIR/answer" "$IT_DIR/cluster$n.json"
  answers+=("$IT_DIR/cluster$n.json")
done
verdict=$("$PY" "$CHECK" cluster "${answers[@]}")
it_eq "a query through any node answers exactly the expected points ($verdict)" "$?" 0
no_lab() { [[ "$1" == *'"iot"'* && "$1" != *'"lab"'* ]]; }
for n in 1 2 3; do
  query $n 'SHOW DATABASES'
  it_expect "node$n lists no dropped database across the cluster" no_lab "$(cat "$IT_DIR/answer")"
done

stores=()
for n in 1 2 3; do
  cl_stop $n
  "$NEOEDGE_BIN" query --data-dir "$IT_DIR/data$n" --db iot --format json --epoch ns \
    "$SELECT" >"$IT_DIR/node$n.json" 2>"$IT_DIR/query$n.err"
  it_eq "query of node$n's own store exits 0" "$?" 0
  stores+=("$IT_DIR/node$n.json")
  dbs=$("$NEOEDGE_BIN" query --data-dir "$IT_DIR/data$n" --format json 'SHOW DATABASES' 2>&1)
  it_expect "node$n's own store has no dropped database ($dbs)" no_lab "$dbs"
  report=$("$NEOEDGE_BIN" verify "$IT_DIR/data$n" 2>&1)
  it_eq "neoedge verify passes on node$n's data dir" "$?" 0
  it_contains "neoedge verify reads node$n's tombstones" "$report" "tombstones: 3 tombstones"
done
verdict=$("$PY" "$CHECK" nodes "${stores[@]}")
it_eq "no node holds a deleted point; every expected point is on two nodes ($verdict)" "$?" 0
cl_no_sanitizer_reports
it_done
