#!/usr/bin/env bash
# Compatibility suite: loads the same line protocol into InfluxDB 1.6 and
# neoedge (both started here on loopback, data in a temp dir), then runs
# queries.txt against both and compares the JSON answers (compare.py).
# The same data also goes into a second database, compat_del, for
# deletes.txt (DELETE, DROP, chunked answers), and chunked CSV is compared
# byte for byte; then neoedge is killed with
# SIGKILL, restarted on its data dir, and deletes_after.txt checks that
# every deletion survived.
# Needs: influxd (Debian influxdb), python3, curl, $NEOEDGE_BIN.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${NEOEDGE_SRC:-$(cd "$here/../../.." && pwd)}
bin=${NEOEDGE_BIN:?set NEOEDGE_BIN to the neoedge binary}
gen="$src/../shared/bench/gen_iot.py"
py=/usr/bin/python3
[ -x "$py" ] || py=python3
command -v influxd >/dev/null || { echo "influxd not installed (apt-get install influxdb)"; exit 1; }
[ -f "$gen" ] || { echo "missing $gen"; exit 1; }

tmp=$(mktemp -d /tmp/neoedge-compat.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { # url
    for _ in $(seq 1 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
    echo "no answer from $1"; return 1
}

ip=$(free_port); irpc=$(free_port); np=$(free_port)
cat > "$tmp/influx.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$irpc"
[meta]
  dir = "$tmp/influx/meta"
[data]
  dir = "$tmp/influx/data"
  wal-dir = "$tmp/influx/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$ip"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
CONF
influxd -config "$tmp/influx.conf" > "$tmp/influxd.log" 2>&1 &
pids+=($!)
start_neoedge() {
    NEOEDGE_HTTP_LISTEN=127.0.0.1:$np NEOEDGE_MQTT_ENABLED=false NEOEDGE_COAP_ENABLED=false \
        "$bin" run --data-dir "$tmp/ne" >> "$tmp/neoedge.log" 2>&1 &
    ne_pid=$!
    pids+=($ne_pid)
}
start_neoedge
wait_http "http://127.0.0.1:$ip/ping"
wait_http "http://127.0.0.1:$np/ping"

"$py" "$gen" --shape sensors --devices 20 --sites 2 --duration 2h --interval 10s \
    --out-of-order 0.05 --missing 0.1 --seed 7 > "$tmp/data.lp"
"$py" "$gen" --shape iot --devices 10 --duration 2h --interval 60s --missing 0.05 --seed 7 \
    >> "$tmp/data.lp"
split -l 5000 "$tmp/data.lp" "$tmp/part."
for db in compat compat_del; do
    curl -sf -XPOST "http://127.0.0.1:$ip/query" --data-urlencode "q=CREATE DATABASE $db" >/dev/null
done
n=0
for part in "$tmp"/part.*; do
    for url in "http://127.0.0.1:$ip/write?db=compat" "http://127.0.0.1:$np/write?db=compat" \
        "http://127.0.0.1:$ip/write?db=compat_del" "http://127.0.0.1:$np/write?db=compat_del"; do
        code=$(curl -s -o "$tmp/resp" -w '%{http_code}' -XPOST "$url" --data-binary @"$part")
        [ "$code" = 204 ] || { echo "write to $url failed: $code $(cat "$tmp/resp")"; exit 1; }
    done
    n=$((n + 1))
    # seal the first half into segments, keep the rest in the memtable
    if [ "$n" -eq 2 ]; then
        curl -sf -XPOST "http://127.0.0.1:$np/api/v1/flush" >/dev/null
    fi
done
echo "loaded $(wc -l < "$tmp/data.lp") lines into both, twice"
compare() { # db queries-file
    "$py" "$here/compare.py" --influx "http://127.0.0.1:$ip" --neoedge "http://127.0.0.1:$np" \
        --db "$1" --queries "$2"
}
rc=0
compare compat "$here/queries.txt" || rc=1
# Chunked CSV: streamed (Transfer-Encoding: chunked) and byte for byte what
# InfluxDB answers (exact aggregates: sums may differ in the last digit),
# and what neoedge answers unchunked.
csv_get() { # port out-file [extra curl args...]
    local port=$1 out=$2
    shift 2
    curl -sf -D "$out.hdr" -o "$out" -H 'Accept: application/csv' -G \
        "http://127.0.0.1:$port/query" --data-urlencode db=compat --data-urlencode "q=$csvq" "$@"
}
csvq="SELECT temperature, status FROM env WHERE time < '2026-01-01T00:05:00Z' GROUP BY device; \
SELECT max(temperature), count(humidity) FROM env WHERE time >= '2026-01-01T00:00:00Z' AND \
time < '2026-01-01T02:00:00Z' GROUP BY time(10m), site; SHOW TAG VALUES FROM env WITH KEY = site"
csv_get "$ip" "$tmp/csv.influx" --data-urlencode chunked=true --data-urlencode chunk_size=7
csv_get "$np" "$tmp/csv.ne" --data-urlencode chunked=true --data-urlencode chunk_size=7
csv_get "$np" "$tmp/csv.ne.whole"
if ! grep -qi '^transfer-encoding: chunked' "$tmp/csv.ne.hdr"; then
    echo "chunked CSV: neoedge did not stream the answer"; rc=1
elif ! cmp -s "$tmp/csv.influx" "$tmp/csv.ne"; then
    echo "chunked CSV differs from InfluxDB's:"; diff "$tmp/csv.influx" "$tmp/csv.ne" | head -n 20 || true; rc=1
elif ! cmp -s "$tmp/csv.ne" "$tmp/csv.ne.whole"; then
    echo "chunked CSV differs from the unchunked answer"; rc=1
else
    echo "chunked CSV: $(wc -l < "$tmp/csv.ne") lines, streamed, same as InfluxDB"
fi
compare compat_del "$here/deletes.txt" || rc=1
kill -9 "$ne_pid"
wait "$ne_pid" 2>/dev/null || true
start_neoedge
wait_http "http://127.0.0.1:$np/ping"
compare compat_del "$here/deletes_after.txt" || rc=1
exit $rc
