#!/usr/bin/env bash
# http_query.sh - queries that read data run on the query threads, not on
# the HTTP thread that owns their connection: with one HTTP thread, pings
# on a second connection are answered while a long SELECT runs; the
# SELECT's answer is whole; a SIGTERM during a long query lets it finish
# and answer before the daemon exits 0.
. "$(dirname "$0")/lib.sh"
it_setup

# The embedded defaults but one HTTP thread, and no MQTT or CoAP.
export NEOEDGE_HTTP_THREADS=1 NEOEDGE_MQTT_ENABLED=false NEOEDGE_COAP_ENABLED=false
it_start_neoedge --data-dir ./data
it_wait_health
url="http://127.0.0.1:$HTTP_PORT"

# 400,000 points of one field over 40 series (value = the point's index).
"$PY" - "$HTTP_PORT" <<'PY' || it_fail "loading the points failed"
import http.client, sys
port = int(sys.argv[1])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
t0 = 1767225600
for start in range(0, 400000, 10000):
    body = "\n".join("m,s=s%02d v=%d %d" % (i % 40, i, t0 + i // 40) for i in range(start, start + 10000))
    c.request("POST", "/write?db=q&precision=s", body)
    r = c.getresponse(); r.read()
    if r.status != 204:
        sys.exit("write answered %d" % r.status)
PY
it_eq "all points are in" "$(it_query_scalar q 'SELECT count(v) FROM m')" 400000

# A query of 6 full-decode statements on one connection; pings every 5 ms
# on another while it runs. An HTTP thread running the query itself could
# answer none of them before the query's own answer.
cat >long.py <<'PY'
import http.client, json, sys, threading, time, urllib.parse
port, mode = int(sys.argv[1]), sys.argv[2]
rounds = 1 if mode == "pings" else 5  # the signal's query runs longer
ps = (10, 25, 50, 75, 90, 99) * rounds
q = ";".join("SELECT percentile(v, %d) FROM m" % p for p in ps)
path = "/query?" + urllib.parse.urlencode({"db": "q", "q": q})
done = threading.Event()
answer = {}
def run():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        c.request("GET", path)
        r = c.getresponse()
        answer["status"], answer["body"] = r.status, r.read()
    except Exception as e:
        answer["error"] = repr(e)
    done.set()
t = threading.Thread(target=run)
t.start()
if mode == "pings":
    pings = 0
    p = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    while not done.is_set():
        p.request("GET", "/ping")
        r = p.getresponse(); r.read()
        if r.status == 204 and not done.is_set():
            pings += 1
        time.sleep(0.005)
    print("pings", pings)
else:  # a signal arrives while the query runs
    time.sleep(0.05)
    print("sent", flush=True)
    sys.stdout.flush()
t.join()
if "error" in answer:
    print("query error", answer["error"])
    sys.exit(0)
res = json.loads(answer["body"])["results"]
vals = [r["series"][0]["values"][0][1] for r in res if "series" in r]
# Nearest rank, as InfluxDB computes percentile: the value at
# floor(n * p / 100 + 0.5) - 1 of the sorted values 0 .. n-1.
want = [int(400000 * p / 100 + 0.5) - 1 for p in ps]
print("status", answer["status"], "right", int(vals == want))
PY
out=$("$PY" long.py "$HTTP_PORT" pings)
echo "$out" >&2
it_contains "the long query answers 200" "$out" "status 200"
it_contains "its six percentiles are right" "$out" "right 1"
pings=$(echo "$out" | sed -n 's/^pings //p')
it_expect "pings answered while the query ran ($pings)" test "${pings:-0}" -ge 3

# SIGTERM while a query of 30 such statements runs: it finishes and
# answers, then the daemon stops cleanly.
"$PY" long.py "$HTTP_PORT" signal >signal.out &
lp=$!
it_wait_for 10 grep -q sent signal.out
it_stop_neoedge TERM
wait "$lp"
cat signal.out >&2
it_eq "the daemon exits 0 with a query in flight" "$IT_RC" 0
it_contains "the query in flight got its whole answer" "$(cat signal.out)" "status 200 right 1"
it_done
