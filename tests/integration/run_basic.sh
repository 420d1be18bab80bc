#!/usr/bin/env bash
# run_basic.sh - `neoedge run` with the embedded default config in an empty
# directory: /health, /metrics, /ping, SIGTERM; then with the MQTT broker
# unreachable (/health degraded with the reason).
. "$(dirname "$0")/lib.sh"
it_setup

it_start_mosquitto
it_start_neoedge
it_wait_health

it_expect "the default data dir ./neoedge-data was created" test -d ./neoedge-data

health_ok() {
  [ "$(it_health_status)" = ok ]
}
it_expect "/health becomes ok with the broker up" it_wait_for 20 health_ok
code=$(it_http_code "http://127.0.0.1:$HTTP_PORT/health")
it_eq "/health answers 200" "$code" 200
"$PY" - "$IT_DIR/body" <<'PYEOF' || it_fail "/health is not the expected JSON"
import json, sys
h = json.load(open(sys.argv[1]))
assert h["status"] in ("ok", "degraded", "failing"), h
assert isinstance(h["checks"], list) and h["checks"], h
names = {c["name"] for c in h["checks"]}
assert "store" in names, names
for c in h["checks"]:
    assert c["status"] in ("ok", "degraded", "failing"), c
assert h["version"], h
PYEOF
it_expect "/health lists the mqtt check" grep -q '"name":"mqtt"' "$IT_DIR/body"

# /metrics: Prometheus text format, process figures, build info.
code=$(curl -s -D "$IT_DIR/hdr" -o "$IT_DIR/metrics" -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/metrics")
it_eq "/metrics answers 200" "$code" 200
it_expect "/metrics has Content-Type text/plain; version=0.0.4" grep -qi '^content-type: text/plain; version=0.0.4' "$IT_DIR/hdr"
"$PY" - "$IT_DIR/metrics" <<'PYEOF' || it_fail "/metrics does not parse"
import re, sys
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (\S+)( -?\d+)?$')
seen = {}
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if not line:
        continue
    if line.startswith("# HELP ") or line.startswith("# TYPE "):
        continue
    assert not line.startswith("#"), line
    m = sample.match(line)
    assert m, "bad sample line: %r" % line
    v = m.group(5)
    float(v.replace("+Inf", "inf").replace("-Inf", "-inf"))
    seen[m.group(1)] = float(v) if v not in ("NaN",) else v
for name in ("process_resident_memory_bytes", "process_cpu_seconds_total",
             "process_open_fds", "process_start_time_seconds", "neoedge_build_info"):
    assert name in seen, "missing " + name
assert seen["process_resident_memory_bytes"] > 1e6, seen["process_resident_memory_bytes"]
assert seen["process_open_fds"] >= 3
assert seen["neoedge_build_info"] == 1
PYEOF
it_expect "build info names the version" grep -q '^neoedge_build_info{version="[0-9]' "$IT_DIR/metrics"

# /ping: 204 with the InfluxDB version header, GET and HEAD.
code=$(curl -s -D "$IT_DIR/hdr" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/ping")
it_eq "GET /ping answers 204" "$code" 204
it_expect "/ping sends X-Influxdb-Version" grep -qi '^x-influxdb-version: ' "$IT_DIR/hdr"
code=$(curl -s -I -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/ping")
it_eq "HEAD /ping answers 204" "$code" 204
code=$(it_http_code "http://127.0.0.1:$HTTP_PORT/nowhere")
it_eq "an unknown path answers 404" "$code" 404
code=$(it_http_code -X DELETE "http://127.0.0.1:$HTTP_PORT/health")
it_eq "a wrong method answers 405" "$code" 405

# The daemon's own status command agrees.
out=$("$NEOEDGE_BIN" status --host "127.0.0.1:$HTTP_PORT"); rc=$?
it_eq "neoedge status exits 0" "$rc" 0
it_contains "neoedge status prints the health" "$out" 'health: '

it_stop_neoedge TERM; rc=$IT_RC
it_eq "SIGTERM: graceful exit 0" "$rc" 0
it_expect "the log says it stopped" grep -q 'neoedge stopped' "$NE_LOG"
it_expect "no sanitizer report" bash -c "! grep -q 'Sanitizer' '$NE_LOG'"
out=$("$NEOEDGE_BIN" status --host "127.0.0.1:$HTTP_PORT" 2>&1); rc=$?
it_eq "neoedge status of a stopped daemon exits 1" "$rc" 1
it_contains "it says why" "$out" "127.0.0.1:$HTTP_PORT"

# Broker unreachable: the daemon runs, /health is degraded and says why.
kill -TERM "$MQTT_PID"; wait "$MQTT_PID" 2>/dev/null; it_forget_pid "$MQTT_PID"
it_start_neoedge
it_wait_health
health_degraded() {
  curl -s -o "$IT_DIR/health.json" -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/health" >"$IT_DIR/code"
  grep -q '"status":"degraded"' "$IT_DIR/health.json"
}
it_expect "/health is degraded without the broker" it_wait_for 20 health_degraded
it_eq "degraded is still HTTP 200" "$(cat "$IT_DIR/code")" 200
"$PY" - "$IT_DIR/health.json" <<'PYEOF' || it_fail "the mqtt check does not carry a reason"
import json, sys
h = json.load(open(sys.argv[1]))
mq = [c for c in h["checks"] if c["name"] == "mqtt"][0]
assert mq["status"] != "ok" and mq.get("reason"), mq
PYEOF
it_stop_neoedge INT; rc=$IT_RC
it_eq "SIGINT: graceful exit 0" "$rc" 0

it_done
