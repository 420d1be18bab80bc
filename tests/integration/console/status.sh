#!/usr/bin/env bash
# status.sh - `neoedge status` against a running daemon: the text summary
# and --json agree with /health, /metrics and /api/v1/status; rates come
# from two reads of /metrics; a sink's backlog shows (an S3 sink whose
# endpoint refuses connections); a wrong token and a stopped daemon exit 1.
. "$(dirname "$0")/../lib.sh"
it_setup

HTTP_PORT=$(it_free_port tcp)
dead_port=$(it_free_port tcp) # nothing listens: the MQTT broker and the S3 endpoint
token=status-test-token
cat >"$IT_DIR/neoedge.yaml" <<YAML
data_dir: $IT_DIR/data
http:
  listen: 127.0.0.1:$HTTP_PORT
  auth_token: $token
mqtt:
  enabled: true
  brokers:
    - tcp://127.0.0.1:$dead_port
coap:
  enabled: false
sinks:
  - name: archive
    type: s3
    endpoint: http://127.0.0.1:$dead_port
    bucket: status-archive
    path_style: true
    region: us-east-1
    access_key: AKIDSTATUS
    secret_key: status-secret
YAML
NE_LOG="$IT_DIR/neoedge.log"
"$NEOEDGE_BIN" run --config "$IT_DIR/neoedge.yaml" >"$NE_LOG" 2>&1 &
NE_PID=$!
IT_PIDS+=("$NE_PID")
it_wait_health
base="http://127.0.0.1:$HTTP_PORT"
st() { "$NEOEDGE_BIN" status --config "$IT_DIR/neoedge.yaml" "$@"; }

write() { # write FIRST COUNT: points of measurement m, one series
  local i body=""
  for i in $(seq "$1" $(($1 + $2 - 1))); do body+="m,host=gw v=$i $((1700000000 + i))000000000"$'\n'; done
  curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Token $token" \
    -XPOST "$base/write?db=iot" --data-binary "$body"
}
it_eq "10 points written" "$(write 0 10)" 204
it_eq "flush" "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Token $token" \
  -XPOST "$base/api/v1/flush")" 204
it_expect "the sink fails to deliver the segment" \
  it_wait_for 20 bash -c "[ \"\$(curl -s $base/metrics | grep -c '^neoedge_sink_errors_total{sink=\"archive\".* [1-9]')\" -gt 0 ]"

out=$(st --interval 0); rc=$?
echo "$out" >&2
it_eq "degraded (no broker) still exits 0" "$rc" 0
it_contains "node and role" "$out" "node $(hostname) (gateway)"
it_contains "health with its reason" "$out" "health: degraded"
it_contains "the mqtt check says why" "$out" "connection refused"
it_expect "http ingest: 10 points, 10 values" \
  grep -Eq '^  http +10 +10 +- *$' <<<"$out"
it_expect "mqtt listed with nothing taken" grep -Eq '^  mqtt +0 +0 ' <<<"$out"
it_expect "store: one segment" grep -Eq '^  segments +1 \(' <<<"$out"
it_expect "store: points written" grep -Eq '^  points written +10$' <<<"$out"
it_expect "the sink's backlog: one segment, errors counted" \
  grep -Eq '^  archive +s3 +[0-9.]+ (B|KiB) +1 +[0-9a-z ]+ +0 +0 B/s +[1-9][0-9]*' <<<"$out"
it_contains "clustering is off" "$out" "cluster: off"

# --json: the daemon's documents and the figures of /metrics.
st --json --interval 0 >"$IT_DIR/status.json"; rc=$?
it_eq "--json exits 0" "$rc" 0
want_accepted=$(it_metric neoedge_points_accepted_total 'source="http"')
it_expect "--json agrees with /health, /metrics and /api/v1/status" "$PY" - "$IT_DIR/status.json" \
  "$want_accepted" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["health"]["status"] == "degraded", j["health"]
assert any(c["name"] == "mqtt" and "refused" in c["reason"] for c in j["health"]["checks"])
assert j["status"]["store"]["segments"] == 1, j["status"]["store"]
assert j["status"]["store"]["points_written"] == 10
assert j["status"]["sinks"] == ["archive"]
http = j["ingest"]["sources"]["http"]
assert http["points"] == int(sys.argv[2]) == 10, http
assert http["values"] == 10 and http["points_per_second"] is None, http
assert j["ingest"]["sources"]["mqtt"]["points"] == 0
s = j["sinks"]["archive"]
assert s["type"] == "s3" and s["backlog_segments"] == 1 and s["backlog_bytes"] > 0, s
assert s["errors_total"]["connect"] >= 1, s
assert j["cluster"] is None
PY

# Rates: points written while status reads /metrics twice, 1 s apart.
(for i in $(seq 1 30); do write $((100 + i * 5)) 5 >/dev/null; sleep 0.1; done) &
writer=$!
sleep 0.3
st --json --interval 1 >"$IT_DIR/rate.json"
wait "$writer"
it_expect "points written during the window give a rate" "$PY" - "$IT_DIR/rate.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["ingest"]["interval_seconds"] >= 1, j["ingest"]
assert j["ingest"]["sources"]["http"]["points_per_second"] > 0, j["ingest"]
PY

out=$(st --token wrong 2>&1); rc=$?
it_eq "a wrong token exits 1" "$rc" 1
it_contains "and says so" "$out" "refused the token (HTTP 401)"
it_contains "health still shows" "$out" "health: degraded"

it_stop_neoedge TERM
out=$(st 2>&1); rc=$?
it_eq "a stopped daemon exits 1" "$rc" 1
it_contains "naming the address" "$out" "127.0.0.1:$HTTP_PORT"
it_done
