#!/usr/bin/env bash
# tools.sh - the data tools against real data: flush (through the daemon and
# on a data dir), import (file and stdin), query (remote and local), verify
# and inspect, including a corrupted segment.
. "$(dirname "$0")/lib.sh"
it_setup

cat >neoedge.yaml <<'YAML'
data_dir: ./data
mqtt:
  enabled: false
coap:
  enabled: false
YAML
base=$(( $(date +%s) - 86400 ))

# import: 12,000 lines (3 batches of 5,000) from a file, 10 from stdin.
for i in $(seq 1 12000); do echo "imp,dev=d$((i % 3)) v=${i}i $((base + i))"; done >lines.txt
"$NEOEDGE_BIN" import --config neoedge.yaml --db iot --precision s lines.txt 2>import.err; rc=$?
it_eq "import of a file exits 0" "$rc" 0
it_contains "import reports its progress" "$(cat import.err)" "imported 12000 points from 12000 lines"
for i in $(seq 1 10); do echo "imp2 v=$i $((base + i))"; done | "$NEOEDGE_BIN" import --config neoedge.yaml --precision s - 2>import2.err; rc=$?
it_eq "import from stdin exits 0" "$rc" 0
printf 'imp3 v=1\nimp3 v=oops\n' | "$NEOEDGE_BIN" import --config neoedge.yaml - 2>import3.err; rc=$?
it_eq "import with a bad line exits 1" "$rc" 1
it_contains "the bad line is named" "$(cat import3.err)" "line 2"

# The daemon serves what was imported.
it_start_neoedge --config neoedge.yaml
it_wait_health
it_eq "imported points are queryable" "$(it_query_scalar iot 'SELECT count(v) FROM imp')" 12000
it_eq "stdin points are queryable" "$(it_query_scalar iot 'SELECT count(v) FROM imp2')" 10
out=$("$NEOEDGE_BIN" query --host "127.0.0.1:$HTTP_PORT" --db iot --format csv 'SELECT count(v) FROM imp WHERE dev = '"'"'d1'"'"''); rc=$?
it_eq "neoedge query exits 0" "$rc" 0
it_contains "neoedge query prints the count as CSV" "$out" ",4000"

# A second import while the daemon runs is refused.
"$NEOEDGE_BIN" import --config neoedge.yaml lines.txt 2>busy.err; rc=$?
it_eq "import beside the daemon exits 1" "$rc" 1
it_contains "it says the data dir is in use" "$(cat busy.err)" "in use"

# flush through the daemon, then a segment exists.
curl -s -X POST "http://127.0.0.1:$HTTP_PORT/write?db=iot&precision=s" --data-binary "fl v=1 $base" >/dev/null
out=$("$NEOEDGE_BIN" flush --host "127.0.0.1:$HTTP_PORT"); rc=$?
it_eq "flush --host exits 0" "$rc" 0
# (a glob test, not ls: compaction may unlink an input between listing and stat)
it_expect "flush wrote a segment" compgen -G 'data/store/seg/*.seg'
it_stop_neoedge TERM; rc=$IT_RC
it_eq "graceful exit 0" "$rc" 0

# Offline tools on the stopped data dir.
out=$("$NEOEDGE_BIN" flush --config neoedge.yaml --data-dir ./data); rc=$?
it_eq "flush --data-dir exits 0" "$rc" 0
out=$("$NEOEDGE_BIN" query --config neoedge.yaml --data-dir ./data --db iot --format json 'SELECT count(v) FROM imp'); rc=$?
it_eq "local query exits 0" "$rc" 0
it_contains "local query counts the points" "$out" '"count"],"values":[['
it_contains "local query has the right count" "$out" ',12000]'
out=$("$NEOEDGE_BIN" verify ./data); rc=$?
it_eq "verify of a healthy dir exits 0" "$rc" 0
seg=$(ls data/store/seg/*.seg | head -n 1)
out=$("$NEOEDGE_BIN" inspect segment "$seg"); rc=$?
it_eq "inspect segment exits 0" "$rc" 0
it_expect "inspect segment prints something" test -n "$out"
wal=$(ls data/store/wal/* 2>/dev/null | head -n 1)
if [ -n "$wal" ]; then
  "$NEOEDGE_BIN" inspect wal "$wal" >/dev/null; rc=$?
  it_eq "inspect wal exits 0" "$rc" 0
fi
# Flip one byte in the middle of the segment: verify and inspect notice.
size=$(stat -c %s "$seg")
"$PY" - "$seg" "$((size / 2))" <<'PYEOF'
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0xFF]))
PYEOF
"$NEOEDGE_BIN" verify ./data >verify.out 2>&1; rc=$?
it_eq "verify of a corrupted segment exits 1" "$rc" 1
"$NEOEDGE_BIN" inspect segment "$seg" >/dev/null 2>&1; rc=$?
it_eq "inspect of a corrupted segment exits 1" "$rc" 1

it_done
