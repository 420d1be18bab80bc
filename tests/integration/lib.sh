# lib.sh - helpers for the integration tests (sourced, never run).
#
# Each test script runs against the real binary $NEOEDGE_BIN, in a fresh
# temporary directory, with its own processes on free loopback ports. The
# EXIT trap stops every process the test started (by pid) and removes the
# directory.
#
#   . "$(dirname "$0")/lib.sh"
#   it_setup                       # temp dir, trap, $IT_DIR
#   port=$(it_free_port tcp)
#   it_start_mosquitto             # sets $MQTT_PORT
#   it_start_neoedge [ARGS...]     # sets $NE_PID, $HTTP_PORT, $NE_LOG
#   it_wait_health                 # waits until /health answers
#   it_expect "what" test-command ...
#   it_done

set -u

: "${NEOEDGE_BIN:?NEOEDGE_BIN must name the neoedge binary}"
PY=/usr/bin/python3
IT_PIDS=()
IT_FAILS=0
IT_CHECKS=0

it_log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

it_cleanup() {
  local pid
  for pid in "${IT_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${IT_PIDS[@]}"; do
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -z "${IT_KEEP:-}" ] && [ -n "${IT_DIR:-}" ] && [ -d "$IT_DIR" ]; then
    chmod -R u+w "$IT_DIR" 2>/dev/null || true
    rm -rf "$IT_DIR"
  fi
}

it_setup() {
  IT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/neoedge-it-XXXXXX")
  trap it_cleanup EXIT
  cd "$IT_DIR" || exit 1
}

# Forgets a pid the test has stopped itself.
it_forget_pid() {
  local keep=() p
  for p in "${IT_PIDS[@]}"; do
    [ "$p" = "$1" ] || keep+=("$p")
  done
  IT_PIDS=("${keep[@]}")
}

# Prints a free port on 127.0.0.1 (tcp or udp).
it_free_port() {
  "$PY" - "$1" <<'EOF'
import socket, sys
kind = socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM
s = socket.socket(socket.AF_INET, kind)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# Waits until a TCP port accepts connections (max $2 seconds, default 10).
it_wait_port() {
  local port=$1 limit=${2:-10} i
  for i in $(seq 1 $((limit * 10))); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# Starts a private mosquitto on a free port; sets MQTT_PORT. Extra
# mosquitto.conf lines may be given as arguments.
it_start_mosquitto() {
  MQTT_PORT=$(it_free_port tcp)
  local conf="$IT_DIR/mosquitto.conf" line
  {
    echo "listener $MQTT_PORT 127.0.0.1"
    echo "allow_anonymous true"
    echo "persistence false"
    echo "max_queued_messages 100000"
    for line in "$@"; do echo "$line"; done
  } >"$conf"
  mosquitto -c "$conf" >"$IT_DIR/mosquitto.log" 2>&1 &
  MQTT_PID=$!
  IT_PIDS+=("$MQTT_PID")
  it_wait_port "$MQTT_PORT" 10 || { cat "$IT_DIR/mosquitto.log" >&2; it_fail "mosquitto did not start"; exit 1; }
}

# Environment for a daemon on free ports: HTTP, CoAP, MQTT broker.
it_neoedge_env() {
  HTTP_PORT=${HTTP_PORT:-$(it_free_port tcp)}
  COAP_PORT=${COAP_PORT:-$(it_free_port udp)}
  export NEOEDGE_HTTP_LISTEN="127.0.0.1:$HTTP_PORT"
  export NEOEDGE_COAP_LISTEN="127.0.0.1:$COAP_PORT"
  export NEOEDGE_MQTT_BROKERS="tcp://127.0.0.1:${MQTT_PORT:-1}"
}

# Starts `neoedge run ARGS...` in the background; sets NE_PID and NE_LOG.
it_start_neoedge() {
  it_neoedge_env
  NE_LOG="$IT_DIR/neoedge.$RANDOM.log"
  "$NEOEDGE_BIN" run "$@" >"$NE_LOG" 2>&1 &
  NE_PID=$!
  IT_PIDS+=("$NE_PID")
}

# Waits until GET /health answers (any status); fails after 20 s.
it_wait_health() {
  local port=${1:-$HTTP_PORT} i
  for i in $(seq 1 200); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/health"; then
      return 0
    fi
    if [ -n "${NE_PID:-}" ] && ! kill -0 "$NE_PID" 2>/dev/null; then
      cat "$NE_LOG" >&2
      it_fail "neoedge exited before serving /health"
      exit 1
    fi
    sleep 0.1
  done
  cat "$NE_LOG" >&2
  it_fail "neoedge /health did not answer"
  exit 1
}

# Waits until command succeeds (max $1 seconds).
it_wait_for() {
  local limit=$1 i
  shift
  for i in $(seq 1 $((limit * 10))); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  return 1
}

# Sends a signal and waits for the daemon to exit; sets IT_RC to its exit
# code. (Not for $(...): only this shell can wait for its children.)
it_stop_neoedge() {
  local sig=${1:-TERM} pid=${2:-$NE_PID}
  kill -"$sig" "$pid"
  wait "$pid"
  IT_RC=$?
  it_forget_pid "$pid"
}

it_fail() {
  IT_FAILS=$((IT_FAILS + 1))
  echo "FAIL: $*" >&2
}

# it_expect DESCRIPTION COMMAND...: runs the command, counts a failure if
# it fails.
it_expect() {
  local what=$1
  shift
  IT_CHECKS=$((IT_CHECKS + 1))
  if "$@"; then
    echo "ok - $what" >&2
  else
    it_fail "$what"
  fi
}

# it_eq DESCRIPTION GOT WANT
it_eq() {
  IT_CHECKS=$((IT_CHECKS + 1))
  if [ "$2" = "$3" ]; then
    echo "ok - $1" >&2
  else
    it_fail "$1: got '$2', want '$3'"
  fi
}

# it_contains DESCRIPTION HAYSTACK NEEDLE
it_contains() {
  IT_CHECKS=$((IT_CHECKS + 1))
  case "$2" in
  *"$3"*) echo "ok - $1" >&2 ;;
  *) it_fail "$1: '$3' not in: $2" ;;
  esac
}

# HTTP status of a curl call: it_http_code ARGS...
it_http_code() {
  curl -s -o "$IT_DIR/body" -w '%{http_code}' "$@"
}

# Prints the status /health gives for check NAME (mqtt, store, ...), or the
# overall status without NAME; prints nothing when /health does not answer.
# The overall status is the worst of the checks, so "ok" for one check says
# nothing about another.
it_health_status() {
  local name=${1:-} port=${2:-$HTTP_PORT}
  curl -s "http://127.0.0.1:$port/health" | "$PY" -c '
import json, sys
try:
    h = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
name = sys.argv[1]
if not name:
    print(h.get("status", ""))
else:
    print(next((c.get("status", "") for c in h.get("checks", []) if c.get("name") == name), ""))
' "$name"
}

# A counter's value from /metrics (sum over the series whose labels match
# the optional pattern), or 0.
it_metric() {
  local name=$1 pat=${2:-} port=${3:-$HTTP_PORT}
  curl -s "http://127.0.0.1:$port/metrics" | "$PY" -c '
import re, sys
name, pat = sys.argv[1], sys.argv[2]
total = 0.0
for line in sys.stdin:
    if line.startswith("#"):
        continue
    m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
    if m and m.group(1) == name and pat in (m.group(2) or ""):
        total += float(m.group(3))
print(int(total) if total == int(total) else total)
' "$name" "$pat"
}

it_done() {
  if [ "$IT_FAILS" -ne 0 ]; then
    echo "$IT_FAILS of $IT_CHECKS checks failed" >&2
    [ -n "${NE_LOG:-}" ] && [ -f "$NE_LOG" ] && { echo "--- last neoedge log ---" >&2; tail -n 40 "$NE_LOG" >&2; }
    exit 1
  fi
  echo "all $IT_CHECKS checks passed" >&2
  exit 0
}

# The first value of the first row of an InfluxQL query through GET /query
# (e.g. a count), or 0 when there is no row: it_query_scalar DB QUERY [PORT]
it_query_scalar() {
  local db=$1 q=$2 port=${3:-$HTTP_PORT}
  curl -s -G "http://127.0.0.1:$port/query" --data-urlencode "db=$db" --data-urlencode "q=$q" \
    ${IT_TOKEN:+-H "Authorization: Token $IT_TOKEN"} | "$PY" -c '
import json, sys
try:
    r = json.load(sys.stdin)["results"][0]
    v = r["series"][0]["values"][0][1]
except Exception:
    v = 0
print(int(v) if isinstance(v, (int, float)) and v == int(v) else v)
'
}

# Waits (max $1 s) until it_query_scalar DB QUERY prints WANT.
it_wait_query() {
  local limit=$1 db=$2 q=$3 want=$4 i got=""
  for i in $(seq 1 $((limit * 5))); do
    got=$(it_query_scalar "$db" "$q")
    [ "$got" = "$want" ] && return 0
    sleep 0.2
  done
  echo "last answer: $got" >&2
  return 1
}

# Number of rows an InfluxQL query returns through GET /query (all series).
it_query_rows() {
  local db=$1 q=$2 port=${3:-$HTTP_PORT}
  curl -s -G "http://127.0.0.1:$port/query" --data-urlencode "db=$db" --data-urlencode "q=$q" \
    ${IT_TOKEN:+-H "Authorization: Token $IT_TOKEN"} | "$PY" -c '
import json, sys
try:
    r = json.load(sys.stdin)["results"][0]
    print(sum(len(s.get("values", [])) for s in r.get("series", [])))
except Exception:
    print(-1)
'
}
