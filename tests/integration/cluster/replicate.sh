#!/usr/bin/env bash
# replicate.sh - write replication across three gateways on loopback (RF 2,
# durability interval), checked point by point:
#   1. points written to node1 over HTTP reach the owners of their shards
#      (owners taken from GET /api/v1/cluster's ring); node1 forwards
#      exactly the points the other nodes own;
#   2. node3 is killed (kill -9) while a writer keeps writing to node1:
#      node1's hint queue for node3 grows (metrics);
#   3. node3 restarts, node1's queues drain; then node2 is killed, node1
#      queues hints for it and is itself killed: restarted, node1 replays
#      its queue to node2 once node2 is back, and a write it takes at once
#      after its restart is forwarded too;
#   4. every node is stopped and its store read with `neoedge query
#      --data-dir`: each acknowledged point is on node1 and on each owner of
#      its series, on no other node, and nothing acknowledged is lost.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
it_setup

KEY="integration-replicate-key-0123"
CL_SHARDS=64 CL_PROBE_INTERVAL=250ms CL_SUSPECT_TIMEOUT=2s CL_CONNECT_TIMEOUT=1s CL_MAX_LAG=200ms
cl_ports 3

# state_is N ID STATE: node N sees member ID in STATE.
state_is() {
  curl -s "http://127.0.0.1:${HTTP[$1]}/api/v1/cluster" | "$PY" -c '
import json, sys
try:
    ms = json.load(sys.stdin)["members"]
except Exception:
    sys.exit(1)
sys.exit(0 if any(m["id"] == sys.argv[1] and m["state"] == sys.argv[2] for m in ms) else 1)
' "$2" "$3"
}

# metric_is PORT NAME LABELPATTERN WANT
metric_is() { [ "$(it_metric "$2" "$3" "$1")" = "$4" ]; }
metric_above() { "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' \
  "$(it_metric "$2" "$3" "$1")" "$4"; }

# The checker: makes batches, writes them, reads the ring, verifies stores.
cat >"$IT_DIR/check.py" <<'PY'
import json, os, sys, time, urllib.request

BASE_TS = 1_700_000_000_000_000_000
SERIES = 240

def batch_points(k):
    """Points of batch k: (dev, ts, value); batch 0 has one point per series."""
    if k == 0:
        return [("d%03d" % i, BASE_TS + i, i) for i in range(SERIES)]
    return [("d%03d" % ((k * 20 + i) % SERIES), BASE_TS + k * 1000 + i, k * 100 + i)
            for i in range(20)]

def line_protocol(k):
    return "\n".join("m,dev=%s v=%d %d" % (d, v, t) for d, t, v in batch_points(k)) + "\n"

def write(port, k):
    req = urllib.request.Request("http://127.0.0.1:%s/write?db=iot&precision=ns" % port,
                                 data=line_protocol(k).encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status == 204
    except Exception:
        return False

from rb_check import series_hash  # the ring's series hash, on PYTHONPATH

def owners(ring, dev):
    """Owner names of series m,dev=<dev>."""
    h = series_hash("m", {"dev": dev})
    names = [n["id"] for n in ring["nodes"]]
    return [names[i] for i in ring["owners"][h % ring["shards"]]]

def acked_points(acked_file):
    pts = []
    for k in [0] + [int(x) for x in open(acked_file).read().split()]:
        pts.extend(batch_points(k))
    return pts

cmd = sys.argv[1]
if cmd == "write":  # write PORT K: exit 0 when acknowledged
    sys.exit(0 if write(sys.argv[2], int(sys.argv[3])) else 1)
elif cmd == "writer":  # writer PORT ACKED STOPFILE: batches 1.. until STOPFILE
    port, acked, stop = sys.argv[2:5]
    k = 1
    while not os.path.exists(stop) and k < 2000:
        if write(port, k):
            with open(acked, "a") as f:
                f.write("%d\n" % k)
        k += 1
        time.sleep(0.05)
elif cmd == "forwarded":  # forwarded RING.json: points node1 must forward in batch 0
    ring = json.load(open(sys.argv[2]))["ring"]
    print(sum(len([o for o in owners(ring, d) if o != "node1"]) for d, _, _ in batch_points(0)))
elif cmd == "verify":  # verify RING.json ACKED node1.json node2.json node3.json
    ring = json.load(open(sys.argv[2]))["ring"]
    want = acked_points(sys.argv[3])
    have = {}
    for i, path in enumerate(sys.argv[4:7], 1):
        got = set()
        for res in json.load(open(path)).get("results", []):
            for s in res.get("series", []):
                dev = s["tags"]["dev"]
                for row in s["values"]:
                    got.add((dev, int(row[0])))
        have["node%d" % i] = got
    missing, extra = [], []
    for d, t, _ in want:
        own = owners(ring, d)
        for node in ("node1", "node2", "node3"):
            should = node == "node1" or node in own
            if should and (d, t) not in have[node]:
                missing.append((node, d, t))
            if not should and (d, t) in have[node]:
                extra.append((node, d, t))
    print("points=%d missing=%d extra=%d first_missing=%s first_extra=%s" % (
        len(want), len(missing), len(extra), missing[:3], extra[:3]))
    sys.exit(0 if not missing and not extra else 1)
PY
check() { PYTHONPATH="$HERE" "$PY" "$IT_DIR/check.py" "$@"; }

for n in 1 2 3; do cl_config $n 2; done
for n in 1 2 3; do cl_start $n; done
for n in 1 2 3; do
  it_expect "node$n sees three alive members" it_wait_for 20 cl_alive_is $n 3
done
curl -s "http://127.0.0.1:${HTTP[1]}/api/v1/cluster" >"$IT_DIR/ring.json"
it_eq "ring: 64 shards, 2 owners each" \
  "$("$PY" -c 'import json,sys; r=json.load(open(sys.argv[1]))["ring"]; print(len(r["owners"]), {len(o) for o in r["owners"]})' "$IT_DIR/ring.json")" \
  "64 {2}"

# A node that started first owned every shard for a moment and keeps those
# it lost until their owners hold them, then drops them: wait for that, so
# that every copy node1 keeps of what it accepts below stays.
it_expect "no shard moving or kept on any node for 3 s" it_wait_for 60 cl_steady 3 cl_settled 1 2 3

# ---- 1. all alive: node1 forwards what the others own ------------------------
it_expect "node1 acknowledges 240 points, one per series" check write "${HTTP[1]}" 0
want=$(check forwarded "$IT_DIR/ring.json")
it_log "node1 must forward $want points"
sent_total() {
  "$PY" -c 'import sys; print(int(float(sys.argv[1]) + float(sys.argv[2])))' \
    "$(it_metric neoedge_replication_sent_points_total 'peer="node2"' "${HTTP[1]}")" \
    "$(it_metric neoedge_replication_sent_points_total 'peer="node3"' "${HTTP[1]}")"
}
sent_is() { [ "$(sent_total)" = "$1" ]; }
it_expect "node1 forwarded exactly the points the others own ($want)" it_wait_for 20 sent_is "$want"
received=$("$PY" -c 'import sys; print(int(float(sys.argv[1]) + float(sys.argv[2])))' \
  "$(it_metric neoedge_replication_received_points_total '' "${HTTP[2]}")" \
  "$(it_metric neoedge_replication_received_points_total '' "${HTTP[3]}")")
it_eq "node2 and node3 stored what node1 sent" "$received" "$want"
it_eq "node1 received nothing (nobody else was written to)" \
  "$(it_metric neoedge_replication_received_points_total '' "${HTTP[1]}")" 0

# ---- 2. kill -9 node3 under write load ---------------------------------------
: >"$IT_DIR/acked"
cl_bg WRITER check writer "${HTTP[1]}" "$IT_DIR/acked" "$IT_DIR/stop"

acked_at_least() { [ "$(wc -l <"$IT_DIR/acked")" -ge "$1" ]; }
it_expect "the writer is under way" it_wait_for 20 acked_at_least 5
cl_kill 3
it_log "node3 killed after $(wc -l <"$IT_DIR/acked") batches"
it_expect "node1's hint queue for node3 grows" it_wait_for 20 \
  metric_above "${HTTP[1]}" neoedge_replication_queue_records 'peer="node3"' 3
it_expect "node1 reports replication lag for node3" it_wait_for 10 \
  metric_above "${HTTP[1]}" neoedge_replication_lag_seconds 'peer="node3"' 0
it_expect "node1 logged that node3 could not be reached" it_wait_for 10 \
  grep -q 'msg="cannot deliver to a peer: keeping its writes as hints" peer=node3' "${LOG[1]}"
it_expect "node1 marks node3 dead" it_wait_for 20 state_is 1 node3 dead
queued=$(it_metric neoedge_replication_queue_records 'peer="node3"' "${HTTP[1]}")
n_before=$(wc -l <"$IT_DIR/acked")
it_expect "writes to node1 go on while node3 is dead" it_wait_for 20 acked_at_least $((n_before + 10))
it_expect "the queue for node3 keeps growing (was $queued records)" it_wait_for 10 \
  metric_above "${HTTP[1]}" neoedge_replication_queue_records 'peer="node3"' "$queued"

# ---- 3. node3 returns: the hints drain -----------------------------------------
cl_start 3
it_expect "node1 sees node3 alive again" it_wait_for 20 state_is 1 node3 alive
touch "$IT_DIR/stop"
cl_reap "$WRITER"
it_log "the writer stopped after $(wc -l <"$IT_DIR/acked") acknowledged batches"
for peer in node2 node3; do
  it_expect "node1's queue for $peer drains" it_wait_for 30 \
    metric_is "${HTTP[1]}" neoedge_replication_queue_records "peer=\"$peer\"" 0
done
it_eq "node1 dropped no points" "$(it_metric neoedge_replication_dropped_points_total '' "${HTTP[1]}")" 0
it_expect "node1 logged node3 reachable again" \
  grep -q 'msg="peer reachable again: draining its hints" peer=node3' "${LOG[1]}"

# ---- 3b. node1 itself crashes with hints queued ---------------------------------
cl_kill 2
it_expect "node1 acknowledges a batch while node2 is down" check write "${HTTP[1]}" 5000 &&
  echo 5000 >>"$IT_DIR/acked"
it_expect "node1 queues hints for node2" it_wait_for 20 \
  metric_above "${HTTP[1]}" neoedge_replication_queue_records 'peer="node2"' 0
cl_kill 1
cl_start 1
# at once, before membership may have found the others again: the member
# list of the last run places the write
it_expect "restarted node1 acknowledges a batch" check write "${HTTP[1]}" 5001 &&
  echo 5001 >>"$IT_DIR/acked"
it_expect "restarted node1 reopened its hint queue for node2" \
  grep -q 'msg="hints from a previous run will be replayed" peer=node2' "${LOG[1]}"
cl_start 2
for peer in node2 node3; do
  it_expect "restarted node1's queue for $peer drains" it_wait_for 30 \
    metric_is "${HTTP[1]}" neoedge_replication_queue_records "peer=\"$peer\"" 0
done

# ---- 4. every acknowledged point on node1 and its owners, nowhere else --------
for n in 1 2 3; do cl_stop $n; done
cl_read_stores 1 2 3
verdict=$(check verify "$IT_DIR/ring.json" "$IT_DIR/acked" "$IT_DIR/node1.json" \
  "$IT_DIR/node2.json" "$IT_DIR/node3.json")
it_eq "every acknowledged point on node1 and its owners only ($verdict)" "$?" 0
cl_no_sanitizer_reports

it_done
