#!/usr/bin/env bash
# central.sh - the central role end to end, with the example configs
# (examples/central.yaml, examples/gateway-to-central.yaml; ports, data
# dirs, node ids and URLs through environment overrides):
#   - two gateways (gw-a through a recording forwarder, gw-b directly) push
#     their sealed segments to one central node; after both sinks' backlog
#     is 0, per series count/sum/min/max on the central node, filtered by
#     gateway, equal each gateway's own answers; GROUP BY gateway shows
#     both; a series with the same tags on both gateways is two series on
#     the central node and their union there;
#   - replaying a recorded push answers duplicate and changes nothing; the
#     same segment with another checksum is 409; a damaged bundle, or one
#     that is not the segment its headers name, is 400 with the reason;
#     a wrong token is 401; a gateway answers 404;
#   - a gateway with a wrong token gets 401, its /health turns failing with
#     the reason, and none of its data reaches the central node;
#   - the central node down: a gateway's segments wait, then arrive when it
#     is back; a restart keeps every point and the received log (the replay
#     is still a duplicate, also after a torn append to that log); a push
#     above central.max_segment_size is 413 before its body is read.
. "$(dirname "$0")/../lib.sh"

SRC=${NEOEDGE_SRC:-$(cd "$(dirname "$0")/../../.." && pwd)}
TOKEN=central-test-token-4f9a2c
# Two hours back, on a 10 s boundary: inside the gateways' retention (7d)
# and future grace.
T0=$(( ($(date +%s) - 7200) / 10 * 10 ))

it_setup
command -v node >/dev/null || { it_fail "node is required"; it_done; }
unset NEOEDGE_CENTRAL_URL NEOEDGE_NODE_ID NEOEDGE_CENTRAL_TOKEN NEOEDGE_SINKS

# ---- processes ---------------------------------------------------------------

# wait_up NAME PORT PID: until /health answers; fails if the process died.
wait_up() {
  local name=$1 port=$2 pid=$3 i
  for i in $(seq 1 200); do
    curl -s -o /dev/null "http://127.0.0.1:$port/health" && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$IT_DIR/$name.log" >&2
      it_fail "$name exited before serving /health"
      it_done
    fi
    sleep 0.1
  done
  cat "$IT_DIR/$name.log" >&2
  it_fail "$name: /health did not answer"
  it_done
}

C_PORT=$(it_free_port tcp)
start_central() {
  env NEOEDGE_HTTP_LISTEN="127.0.0.1:$C_PORT" NEOEDGE_DATA_DIR="$IT_DIR/central" \
    NEOEDGE_CENTRAL_TOKEN="$TOKEN" "$@" \
    "$NEOEDGE_BIN" run --config "$SRC/examples/central.yaml" >>"$IT_DIR/central.log" 2>&1 &
  C_PID=$!
  IT_PIDS+=("$C_PID")
  wait_up central "$C_PORT" "$C_PID"
}

# start_gateway NAME NODE_ID PORT URL TOKEN: sets PID_<NAME>.
start_gateway() {
  local name=$1 node=$2 port=$3 url=$4 token=$5
  env NEOEDGE_NODE_ID="$node" NEOEDGE_HTTP_LISTEN="127.0.0.1:$port" \
    NEOEDGE_DATA_DIR="$IT_DIR/$name" NEOEDGE_CENTRAL_URL="$url" NEOEDGE_CENTRAL_TOKEN="$token" \
    NEOEDGE_MQTT_ENABLED=false NEOEDGE_COAP_ENABLED=false \
    "$NEOEDGE_BIN" run --config "$SRC/examples/gateway-to-central.yaml" >>"$IT_DIR/$name.log" 2>&1 &
  local pid=$!
  IT_PIDS+=("$pid")
  eval "PID_$name=$pid"
  wait_up "$name" "$port" "$pid"
}

# ---- data ----------------------------------------------------------------------

# write_points PORT FILE: POST line protocol into db iot (or the db named
# by a "# db=NAME" first line); expects 204.
write_points() {
  local port=$1 file=$2 db=iot
  if head -n1 "$file" | grep -q '^# db='; then db=$(head -n1 "$file" | sed 's/^# db=//'); fi
  local code
  code=$(grep -v '^#' "$file" | curl -s -o "$IT_DIR/body" -w '%{http_code}' \
    -XPOST "http://127.0.0.1:$port/write?db=$db&precision=s" --data-binary @-)
  it_eq "write $(basename "$file") to :$port" "$code" 204
}

# gen FILE DEVICES... -- START STEP N: fields temp (float) and count (int).
gen() {
  local file=$1
  shift
  "$PY" - "$file" "$@" <<'EOF'
import sys
out, rest = sys.argv[1], sys.argv[2:]
sep = rest.index("--")
devices, (start, step, n) = rest[:sep], map(int, rest[sep + 1:])
with open(out, "w") as f:
    for d in devices:
        for i in range(n):
            temp = 15 + ((i * 37 + len(d) * 11 + ord(d[-1])) % 2000) / 100.0
            f.write(f"env,device={d},site=s1 temp={temp},count={i}i {start + i * step}\n")
EOF
}

flush() {
  it_eq "flush :$1" "$(curl -s -o /dev/null -w '%{http_code}' -XPOST "http://127.0.0.1:$1/api/v1/flush")" 204
}

# synced PORT MIN_DELIVERED: the central sink has nothing left and has
# delivered at least MIN_DELIVERED segments.
synced() {
  [ "$(it_metric neoedge_sink_backlog_segments 'sink="central"' "$1")" = 0 ] &&
    [ "$(it_metric neoedge_sink_delivered_segments_total 'sink="central"' "$1")" -ge "$2" ]
}

# q PORT DB QUERY: the JSON answer of /query.
q() {
  curl -s -G "http://127.0.0.1:$1/query" --data-urlencode "db=$2" --data-urlencode "q=$3"
}

AGG='SELECT count(temp), sum(temp), min(temp), max(temp), count("count"), sum("count") FROM env'

# same_as_gateway NODE PORT: the gateway's per-device aggregates equal the
# central node's for gateway=NODE.
same_as_gateway() {
  local node=$1 port=$2
  q "$port" iot "$AGG GROUP BY device" >"$IT_DIR/gw.json"
  q "$C_PORT" iot "$AGG WHERE gateway = '$node' GROUP BY device" >"$IT_DIR/central.json"
  "$PY" - "$IT_DIR/gw.json" "$IT_DIR/central.json" <<'EOF'
import json, math, sys
def rows(path):
    r = json.load(open(path))["results"][0]
    out = {}
    for s in r.get("series", []):
        out[s["tags"]["device"]] = s["values"][0][1:]
    return out
gw, central = rows(sys.argv[1]), rows(sys.argv[2])
if not gw:
    sys.exit("the gateway answered no series: " + open(sys.argv[1]).read())
if set(gw) != set(central):
    sys.exit(f"devices differ: gateway {sorted(gw)}, central {sorted(central)}")
for d in gw:
    for a, b in zip(gw[d], central[d]):
        if isinstance(a, float) or isinstance(b, float):
            ok = math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)
        else:
            ok = a == b
        if not ok:
            sys.exit(f"device {d}: gateway {gw[d]} != central {central[d]}")
EOF
}

# count_of PORT QUERY: the first value of the first row (0 when none).
count_of() {
  local port=$1
  shift
  HTTP_PORT=$port it_query_scalar iot "$1"
}

# ---- start ---------------------------------------------------------------------

start_central
REC_DIR="$IT_DIR/pushes"
mkdir -p "$REC_DIR"
node "$SRC/tests/integration/sync/central_recorder.js" --target "$C_PORT" --dir "$REC_DIR" \
  --ready "$IT_DIR/rec.ready" >"$IT_DIR/recorder.log" 2>&1 &
IT_PIDS+=("$!")
it_wait_for 10 test -s "$IT_DIR/rec.ready" || { it_fail "recorder did not start"; it_done; }
REC_PORT=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$IT_DIR/rec.ready")

A_PORT=$(it_free_port tcp)
B_PORT=$(it_free_port tcp)
start_gateway gwa gw-a "$A_PORT" "http://127.0.0.1:$REC_PORT" "$TOKEN"
start_gateway gwb gw-b "$B_PORT" "http://127.0.0.1:$C_PORT/" "$TOKEN"

# Different and overlapping series and times: "shared" exists on both.
gen "$IT_DIR/a.lp" d1 d2 shared -- "$T0" 10 600
gen "$IT_DIR/b.lp" d3 shared -- $((T0 + 5)) 10 600
printf '# db=lab\npower,device=p1 watts=12.5 %s\npower,device=p1 watts=13.5 %s\n' \
  "$T0" $((T0 + 60)) >"$IT_DIR/b-lab.lp"
write_points "$A_PORT" "$IT_DIR/a.lp"
write_points "$B_PORT" "$IT_DIR/b.lp"
write_points "$B_PORT" "$IT_DIR/b-lab.lp"
flush "$A_PORT"
flush "$B_PORT"

it_expect "gw-a delivered its segment (backlog 0)" it_wait_for 60 synced "$A_PORT" 1
it_expect "gw-b delivered its segment (backlog 0)" it_wait_for 60 synced "$B_PORT" 1

# ---- the fleet view --------------------------------------------------------------

it_expect "central matches gw-a per device" same_as_gateway gw-a "$A_PORT"
it_expect "central matches gw-b per device" same_as_gateway gw-b "$B_PORT"
it_eq "central total = union" "$(count_of "$C_PORT" 'SELECT count(temp) FROM env')" $((5 * 600))
it_eq "shared device: both gateways' points" \
  "$(count_of "$C_PORT" "SELECT count(temp) FROM env WHERE device = 'shared'")" 1200
it_eq "GROUP BY gateway shows both" \
  "$(q "$C_PORT" iot 'SELECT count(temp) FROM env GROUP BY gateway' | "$PY" -c '
import json, sys
r = json.load(sys.stdin)["results"][0]
print(" ".join("%s=%s" % (s["tags"]["gateway"], s["values"][0][1]) for s in r["series"]))')" \
  "gw-a=1800 gw-b=1200"
it_eq "db lab arrived with its gateway tag" \
  "$(HTTP_PORT=$C_PORT it_query_scalar lab "SELECT sum(watts) FROM power WHERE gateway = 'gw-b'")" 26
it_eq "central counted the points" "$(it_metric neoedge_central_points_total '' "$C_PORT")" \
  $((3 * 600 + 2 * 600 + 2))
it_eq "two pushes stored" "$(it_metric neoedge_central_pushes_total 'result="stored"' "$C_PORT")" 2

# ---- replays and refusals ----------------------------------------------------------

# push ARGS...: POST a recorded push to the central node with the recorded
# headers (python prints them as curl -H options), overridden by ARGS
# (NAME=VALUE for a header, body=FILE for the body); prints the status,
# the answer goes to $IT_DIR/body.
push() {
  local -a hdr=()
  local body="$REC_DIR/push-1.body" a
  mapfile -t hdr < <("$PY" - "$REC_DIR/push-1.json" "$@" <<'EOF'
import json, sys
h = json.load(open(sys.argv[1]))["headers"]
keep = {k: v for k, v in h.items() if k.lower() in
        ("authorization", "x-neoedge-node", "x-neoedge-segment", "x-neoedge-checksum", "content-type")}
for a in sys.argv[2:]:
    k, _, v = a.partition("=")
    if k == "body":
        continue
    keep = {kk: vv for kk, vv in keep.items() if kk.lower() != k.lower()}
    keep[k] = v
for k, v in keep.items():
    print("-H")
    print(f"{k}: {v}")
EOF
  )
  for a in "$@"; do
    case "$a" in body=*) body=${a#body=} ;; esac
  done
  curl -s -o "$IT_DIR/body" -w '%{http_code}' -XPOST "${hdr[@]}" --data-binary @"$body" \
    "http://127.0.0.1:$C_PORT/api/v1/segments"
}

before=$(q "$C_PORT" iot "$AGG GROUP BY gateway, device")
it_expect "the forwarder recorded gw-a's push" test -s "$REC_DIR/push-1.body"
it_eq "replay: 200" "$(push)" 200
it_contains "replay: duplicate" "$(cat "$IT_DIR/body")" '"status":"duplicate"'
it_eq "replay counted" "$(it_metric neoedge_central_pushes_total 'result="duplicate"' "$C_PORT")" 1
it_eq "replay changed nothing" "$(q "$C_PORT" iot "$AGG GROUP BY gateway, device")" "$before"

it_eq "other checksum: 409" \
  "$(push "X-Neoedge-Checksum=sha256:$(printf '%064d' 7)")" 409
it_contains "409 says why" "$(cat "$IT_DIR/body")" "was stored before with checksum"

"$PY" - "$REC_DIR/push-1.body" "$IT_DIR/damaged.body" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[len(b) // 2] ^= 0x40
open(sys.argv[2], "wb").write(b)
EOF
it_eq "damaged bundle: 400" "$(push X-Neoedge-Segment=00000000000000ff body="$IT_DIR/damaged.body")" 400
it_contains "400 names the damage" "$(cat "$IT_DIR/body")" "bundle rejected: bundle segment bytes"
it_eq "bundle that is not the named segment: 400" "$(push X-Neoedge-Segment=00000000000000ff)" 400
it_contains "400 names the mismatch" "$(cat "$IT_DIR/body")" "X-Neoedge-Segment says 00000000000000ff"
it_eq "wrong token: 401" "$(push "Authorization=Bearer nope")" 401
it_contains "401 says why" "$(cat "$IT_DIR/body")" '"error":"wrong token'
it_eq "no token: 401" "$(push "Authorization=Basic eDp5")" 401
it_eq "missing segment header: 400" "$(push X-Neoedge-Segment=)" 400
it_eq "a gateway has no push route: 404" \
  "$(curl -s -o /dev/null -w '%{http_code}' -XPOST --data-binary @"$REC_DIR/push-1.body" \
    "http://127.0.0.1:$B_PORT/api/v1/segments")" 404
it_eq "refusals counted" "$(it_metric neoedge_central_pushes_total 'result="rejected"' "$C_PORT")" 6
it_eq "refusals changed nothing" "$(q "$C_PORT" iot "$AGG GROUP BY gateway, device")" "$before"
it_expect "nothing left in incoming/" test -z "$(ls -A "$IT_DIR/central/central/incoming")"

# ---- a gateway with the wrong token ---------------------------------------------------

C2_PORT=$(it_free_port tcp)
start_gateway gwc gw-c "$C2_PORT" "http://127.0.0.1:$C_PORT" wrong-token
gen "$IT_DIR/c.lp" d9 -- "$T0" 10 50
write_points "$C2_PORT" "$IT_DIR/c.lp"
flush "$C2_PORT"
health_failing() {
  curl -s "http://127.0.0.1:$C2_PORT/health" >"$IT_DIR/health.json"
  grep -q '"status":"failing"' "$IT_DIR/health.json"
}
it_expect "wrong token: gw-c health failing" it_wait_for 30 health_failing
it_contains "the reason names the refusal" "$(cat "$IT_DIR/health.json")" "central 401: wrong token"
it_eq "gw-c's data kept there" "$(count_of "$C2_PORT" 'SELECT count(temp) FROM env')" 50
it_eq "none of it on central" \
  "$(count_of "$C_PORT" "SELECT count(temp) FROM env WHERE gateway = 'gw-c'")" 0
it_expect "central refused it" test "$(it_metric neoedge_central_pushes_total 'result="rejected"' "$C_PORT")" -gt 6
it_stop_neoedge TERM "$PID_gwc"

# ---- central offline, restart, size limit ----------------------------------------------

it_stop_neoedge TERM "$C_PID"
it_eq "central stopped cleanly" "$IT_RC" 0
gen "$IT_DIR/b2.lp" d3 -- $((T0 + 6005)) 10 100
write_points "$B_PORT" "$IT_DIR/b2.lp"
flush "$B_PORT"
backlog_waits() { [ "$(it_metric neoedge_sink_backlog_segments 'sink="central"' "$B_PORT")" -ge 1 ]; }
it_expect "central down: gw-b's segment waits" it_wait_for 10 backlog_waits

# A torn append at the end of the received log (a crash mid-record) is
# cut off at start; the records before it stay.
printf '\x50\x00\x00\x00torn' >>"$IT_DIR/central/central/received"
start_central NEOEDGE_CENTRAL_MAX_SEGMENT_SIZE=1MiB
it_contains "torn log tail cut at start" "$(cat "$IT_DIR/central.log")" "received log: cutting a torn tail"
it_expect "central back: gw-b's backlog drains" it_wait_for 90 synced "$B_PORT" 2
it_expect "after restart: central matches gw-a" same_as_gateway gw-a "$A_PORT"
it_expect "after restart: central matches gw-b (new points too)" same_as_gateway gw-b "$B_PORT"
it_eq "after restart: total" "$(count_of "$C_PORT" 'SELECT count(temp) FROM env')" $((5 * 600 + 100))
it_eq "after restart: replay is still a duplicate" "$(push)" 200
it_contains "after restart: duplicate" "$(cat "$IT_DIR/body")" '"status":"duplicate"'

head -c $((2 * 1024 * 1024)) /dev/zero >"$IT_DIR/big.body"
it_eq "above max_segment_size: 413" \
  "$(push X-Neoedge-Segment=0000000000000abc body="$IT_DIR/big.body")" 413
it_contains "413 says why" "$(cat "$IT_DIR/body")" "central.max_segment_size"

it_done
