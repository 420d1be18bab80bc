#!/usr/bin/env bash
# fanout.sh - reads fan out over the cluster: three gateways on loopback,
# each written only the series its shards hold (placement computed by the
# same ring as the nodes' own: series hash -> shard -> owners, checked
# against GET /api/v1/cluster), and a query on any node answers with the
# union:
#   1. RF 1: every node answers count, sum, GROUP BY tag, SHOW TAG VALUES
#      and SHOW MEASUREMENTS for the whole cluster, with no warning;
#   2. RF 1, node3 killed: the others answer with the rest and a warning
#      message naming the shards without a live replica and their owner;
#   3. RF 2 (each series written to both owners), node3 killed: the answer
#      is complete and carries no warning.
. "$(dirname "$0")/../lib.sh"
it_setup

KEY="integration-fanout-key-0123"
SHARDS=64
VNODES=32
NSERIES=30
NPOINTS=10
declare -A HTTP CLUS PID LOG

# The ring of sharding/ring.c in Python: FNV-1a 64 + fmix64, tokens
# "node#i", shards at evenly spaced positions, owners clockwise.
cat >"$IT_DIR/ring.py" <<'PY'
import bisect, sys
M = (1 << 64) - 1
def fnv(h, b):
    for c in b:
        h = ((h ^ c) * 0x100000001b3) & M
    return h
def fmix(k):
    k ^= k >> 33; k = (k * 0xff51afd7ed558ccd) & M
    k ^= k >> 33; k = (k * 0xc4ceb9fe1a85ec53) & M
    return k ^ (k >> 33)
def with_len(h, s):
    b = s.encode()
    return fnv(fnv(h, len(b).to_bytes(4, "little")), b)
def series_hash(meas, tags):
    h = with_len(0xcbf29ce484222325, meas)
    for k, v in sorted(tags.items()):
        h = with_len(with_len(h, k), v)
    return fmix(h)
def owners_table(nodes, shards, vnodes, rf):
    nodes = sorted(nodes)
    toks = sorted((fmix(fnv(0xcbf29ce484222325, f"{n}#{v}".encode())), i)
                  for i, n in enumerate(nodes) for v in range(vnodes))
    pos = [t[0] for t in toks]
    step = M // shards
    table = []
    for s in range(shards):
        t = bisect.bisect_left(pos, step * s + step // 2) % len(toks)
        own = []
        while len(own) < min(rf, len(nodes)):
            if nodes[toks[t][1]] not in own:
                own.append(nodes[toks[t][1]])
            t = (t + 1) % len(toks)
        table.append(own)
    return table
PY

# The series: env,dev=dNN,site=(a|b) v=NN at NPOINTS seconds.
T0=$(($(date +%s) - 3600))
cat >"$IT_DIR/plan.py" <<PY
import sys
sys.path.insert(0, "$IT_DIR")
from ring import series_hash, owners_table
rf = int(sys.argv[1])
table = owners_table(["node1", "node2", "node3"], $SHARDS, $VNODES, rf)
out = {n: [] for n in ("node1", "node2", "node3")}
for k in range($NSERIES):
    tags = {"dev": "d%02d" % k, "site": "ab"[k % 2]}
    own = table[series_hash("env", tags) % $SHARDS]
    for i in range($NPOINTS):
        line = "env,dev=%s,site=%s v=%d %d" % (tags["dev"], tags["site"], k, $T0 + i)
        for n in own:
            out[n].append(line)
for n, lines in out.items():
    open("$IT_DIR/%s.rf%d.lp" % (n, rf), "w").write("\n".join(lines) + "\n")
# shards owned by node3 alone, and the points of series there
only3 = [s for s in range($SHARDS) if table[s] == ["node3"]]
lost = sum(1 for k in range($NSERIES)
           if table[series_hash("env", {"dev": "d%02d" % k, "site": "ab"[k % 2]}) % $SHARDS]
           == ["node3"])
owned = {n: sum(1 for s in table if n in s) for n in ("node1", "node2", "node3")}
print(len(only3), lost * $NPOINTS, owned["node1"], owned["node2"], owned["node3"])
PY

for n in 1 2 3; do
  HTTP[$n]=$(it_free_port tcp)
  CLUS[$n]=$(it_free_port tcp)
done
SEEDS="127.0.0.1:${CLUS[1]}, 127.0.0.1:${CLUS[2]}, 127.0.0.1:${CLUS[3]}"

# write_config N RF
write_config() {
  cat >"$IT_DIR/node$1.yaml" <<YAML
node_id: node$1
data_dir: $IT_DIR/rf$2/data$1
http:
  listen: 127.0.0.1:${HTTP[$1]}
mqtt:
  enabled: false
coap:
  enabled: false
cluster:
  listen: 127.0.0.1:${CLUS[$1]}
  seeds: [$SEEDS]
  key: $KEY
  shards: $SHARDS
  vnodes: $VNODES
  probe_interval: 200ms
  probe_timeout: 100ms
  suspect_timeout: 1s
  connect_timeout: 1s
replication:
  factor: $2
YAML
}

start_node() {
  LOG[$1]="$IT_DIR/node$1.$RANDOM.log"
  "$NEOEDGE_BIN" run --config "$IT_DIR/node$1.yaml" >"${LOG[$1]}" 2>&1 &
  PID[$1]=$!
  IT_PIDS+=("${PID[$1]}")
  NE_PID=${PID[$1]} NE_LOG=${LOG[$1]} it_wait_health "${HTTP[$1]}"
}

cluster_json() { curl -s "http://127.0.0.1:${HTTP[$1]}/api/v1/cluster"; }
member_state() {
  cluster_json "$1" | "$PY" -c '
import json, sys
try:
    print(next(m["state"] for m in json.load(sys.stdin)["members"] if m["id"] == sys.argv[1]))
except Exception:
    print("")' "$2"
}
sees_alive() {
  [ "$(cluster_json "$1" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["counts"]["alive"])' 2>/dev/null)" = "$2" ]
}
state_is() { [ "$(member_state "$1" "$2")" = "$3" ]; }

# q N QUERY: the raw JSON answer of node N.
q() {
  curl -s -G "http://127.0.0.1:${HTTP[$1]}/query" --data-urlencode "db=fan" \
    --data-urlencode "q=$2"
}

# summary N: "count sum site_a site_b tag_values measurements warnings" of
# the whole data set as node N answers it (-1 where a part is missing).
summary() {
  q "$1" "SELECT count(v), sum(v) FROM env; SELECT count(v) FROM env GROUP BY site; \
SHOW TAG VALUES FROM env WITH KEY = dev; SHOW MEASUREMENTS" | "$PY" -c '
import json, sys
try:
    rs = json.load(sys.stdin)["results"]
except Exception:
    print("bad answer"); sys.exit(0)
def first(r, i):
    try:
        return r["series"][0]["values"][0][i]
    except Exception:
        return -1
sites = {s["tags"]["site"]: s["values"][0][1] for s in rs[1].get("series", [])}
tv = sum(len(s.get("values", [])) for s in rs[2].get("series", []))
ms = ",".join(v[0] for s in rs[3].get("series", []) for v in s.get("values", []))
warn = sum(len(r.get("messages", [])) for r in rs)
print(first(rs[0], 1), first(rs[0], 2), sites.get("a", -1), sites.get("b", -1), tv, ms, warn)'
}

# messages N QUERY: the warning texts of the first statement.
messages() {
  q "$1" "$2" | "$PY" -c '
import json, sys
r = json.load(sys.stdin)["results"][0]
print(" | ".join(m["level"] + ": " + m["text"] for m in r.get("messages", [])))'
}

write_lp() { # write_lp N FILE
  curl -s -o /dev/null -w '%{http_code}' -X POST \
    "http://127.0.0.1:${HTTP[$1]}/write?db=fan&precision=s" --data-binary "@$2"
}

FULL_SUM=$((NPOINTS * NSERIES * (NSERIES - 1) / 2))
HALF=$((NSERIES / 2 * NPOINTS))

# ---- 1. RF 1: every node answers for the whole cluster ------------------------
for n in 1 2 3; do write_config $n 1; done
for n in 1 2 3; do start_node $n; done
for n in 1 2 3; do
  it_expect "node$n sees three alive members" it_wait_for 20 sees_alive $n 3
done
read -r ONLY3 LOST1 OWN1 OWN2 OWN3 <<<"$("$PY" "$IT_DIR/plan.py" 1)"
ring_owned=$(cluster_json 1 | "$PY" -c '
import json, sys
print(" ".join(str(n["owned"]) for n in sorted(json.load(sys.stdin)["ring"]["nodes"], key=lambda n: n["id"])))')
it_eq "the test's ring places shards as the nodes do" "$ring_owned" "$OWN1 $OWN2 $OWN3"
for n in 1 2 3; do
  it_eq "node$n takes its own series" "$(write_lp $n "$IT_DIR/node$n.rf1.lp")" 204
done
for n in 1 2 3; do
  it_eq "RF 1: node$n answers for the whole cluster" "$(summary $n)" \
    "$((NSERIES * NPOINTS)) $FULL_SUM $HALF $HALF $NSERIES env 0"
done
it_eq "RF 1: a series on another node, by tag" \
  "$(q 1 "SELECT last(v) FROM env WHERE dev = 'd17'" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["series"][0]["values"][0][1])')" 17
chunked=$(curl -s -G "http://127.0.0.1:${HTTP[2]}/query" --data-urlencode "db=fan" \
  --data-urlencode "chunked=true" --data-urlencode "q=SELECT count(v) FROM env")
it_contains "RF 1: a chunked answer is the union too" "$chunked" ",$((NSERIES * NPOINTS))]]"

# ---- 2. RF 1, node3 killed: the rest, and a warning naming what is missing ----
kill -KILL "${PID[3]}"
wait "${PID[3]}" 2>/dev/null
it_forget_pid "${PID[3]}"
for n in 1 2; do
  it_expect "node$n marks node3 dead" it_wait_for 20 state_is $n node3 dead
done
for n in 1 2; do
  got=$(summary $n)
  read -r cnt _ _ _ _ _ nwarn <<<"$got"
  it_eq "RF 1 without node3: node$n answers the rest" "$cnt" "$((NSERIES * NPOINTS - LOST1))"
  it_eq "RF 1 without node3: node$n warns on every statement" "$nwarn" 4
  msg=$(messages $n "SELECT count(v) FROM env")
  it_log "node$n: $msg"
  it_contains "node$n: the warning is a warning" "$msg" "warning: partial result: $ONLY3 of $SHARDS shards have no live replica"
  it_contains "node$n: the warning names the owner" "$msg" "owners down: node3"
  it_contains "node$n: the warning names the shards" "$msg" "missing shards: "
done
it_expect "RF 1: node3 owned series here (the test covers a loss)" [ "$LOST1" -gt 0 ]
chunked=$(curl -s -G "http://127.0.0.1:${HTTP[1]}/query" --data-urlencode "db=fan" \
  --data-urlencode "chunked=true" --data-urlencode "q=SELECT count(v) FROM env")
it_contains "RF 1 without node3: a chunked answer carries the warning" "$chunked" \
  '"messages":[{"level":"warning","text":"partial result: '"$ONLY3"' of'
for n in 1 2; do
  it_stop_neoedge TERM "${PID[$n]}"
  it_eq "node$n exits 0 on SIGTERM" "$IT_RC" 0
done

# ---- 3. RF 2: each series on both owners; node3 down, the answer is whole ------
for n in 1 2 3; do write_config $n 2; done
for n in 1 2 3; do start_node $n; done
for n in 1 2 3; do
  it_expect "RF 2: node$n sees three alive members" it_wait_for 20 sees_alive $n 3
done
"$PY" "$IT_DIR/plan.py" 2 >/dev/null
for n in 1 2 3; do
  it_eq "RF 2: node$n takes the series it owns" "$(write_lp $n "$IT_DIR/node$n.rf2.lp")" 204
done
for n in 1 2 3; do
  it_eq "RF 2: node$n answers for the whole cluster" "$(summary $n)" \
    "$((NSERIES * NPOINTS)) $FULL_SUM $HALF $HALF $NSERIES env 0"
done
kill -KILL "${PID[3]}"
wait "${PID[3]}" 2>/dev/null
it_forget_pid "${PID[3]}"
for n in 1 2; do
  it_expect "RF 2: node$n marks node3 dead" it_wait_for 20 state_is $n node3 dead
  it_eq "RF 2 without node3: node$n answers everything, no warning" "$(summary $n)" \
    "$((NSERIES * NPOINTS)) $FULL_SUM $HALF $HALF $NSERIES env 0"
done
for n in 1 2; do
  it_stop_neoedge TERM "${PID[$n]}"
  it_eq "RF 2: node$n exits 0 on SIGTERM" "$IT_RC" 0
done
for f in "$IT_DIR"/node*.log; do
  it_expect "no sanitizer report in $(basename "$f")" \
    bash -c '! grep -Eq "runtime error|AddressSanitizer|LeakSanitizer" "$1"' _ "$f"
done

it_done
