#!/usr/bin/env bash
# demo.sh - the one command that shows neoedge working end to end.
#
#   scripts/demo.sh [--keep]
#
# Installs the dependencies (scripts/deps.sh), builds a Release binary in
# build/release, starts a local mosquitto on 127.0.0.1:1883 if nothing is
# listening there, starts neoedge with its embedded default config (no
# --config; data in ./neoedge-data, HTTP on 127.0.0.1:8086, CoAP on
# 127.0.0.1:5683), and then:
#   - publishes readings over MQTT (mosquitto_pub to sensors/...),
#   - posts readings over CoAP (coap-client-openssl POST /write),
#   - writes readings over HTTP /write with curl,
#   - shows /health and a few /metrics lines,
#   - queries the readings back.
# At the end neoedge (and the mosquitto it started, if any) is stopped
# cleanly with SIGTERM; with --keep both keep running and the script
# prints how to stop them.
#
# Environment overrides work as for the daemon, e.g.
#   NEOEDGE_HTTP_LISTEN=127.0.0.1:18086 scripts/demo.sh
set -euo pipefail

keep=0
for a in "$@"; do
  case "$a" in
  --keep) keep=1 ;;
  -h | --help)
    sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "usage: scripts/demo.sh [--keep]" >&2
    exit 2
    ;;
  esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "dependencies"
# shellcheck source=scripts/deps.sh
. scripts/deps.sh
ne_install_deps
echo "all installed"

step "build (Release, build/release)"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DNE_TESTS=OFF -DNE_BENCH=OFF >/dev/null
cmake --build build/release --target neoedge -j "$(nproc)"
bin=$root/build/release/agent/neoedge
"$bin" version

http=${NEOEDGE_HTTP_LISTEN:-127.0.0.1:8086}
coap=${NEOEDGE_COAP_LISTEN:-127.0.0.1:5683}
url="http://$http"
run_dir=$root/build/release/demo
mkdir -p "$run_dir"

mosq_pid=""
ne_pid=""
stop_all() {
  if [ -n "$ne_pid" ] && kill -0 "$ne_pid" 2>/dev/null; then
    kill -TERM "$ne_pid"
    wait "$ne_pid" 2>/dev/null || true
  fi
  if [ -n "$mosq_pid" ] && kill -0 "$mosq_pid" 2>/dev/null; then
    kill -TERM "$mosq_pid"
    wait "$mosq_pid" 2>/dev/null || true
  fi
}
if [ "$keep" -eq 0 ]; then
  trap stop_all EXIT
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

step "MQTT broker on 127.0.0.1:1883"
if port_open 1883; then
  echo "a broker is already listening on 1883: using it"
else
  printf 'listener 1883 127.0.0.1\nallow_anonymous true\n' >"$run_dir/mosquitto.conf"
  mosquitto -c "$run_dir/mosquitto.conf" >"$run_dir/mosquitto.log" 2>&1 &
  mosq_pid=$!
  for _ in $(seq 1 50); do port_open 1883 && break; sleep 0.1; done
  port_open 1883 || { cat "$run_dir/mosquitto.log"; exit 1; }
  echo "started mosquitto (pid $mosq_pid)"
fi

step "neoedge run (embedded default config, data in ./neoedge-data)"
"$bin" run >"$run_dir/neoedge.log" 2>&1 &
ne_pid=$!
for _ in $(seq 1 100); do
  curl -s -o /dev/null "$url/health" && break
  if ! kill -0 "$ne_pid" 2>/dev/null; then
    cat "$run_dir/neoedge.log"
    echo "neoedge did not start (see above)" >&2
    ne_pid=""
    exit 1
  fi
  sleep 0.1
done
echo "neoedge pid $ne_pid, log $run_dir/neoedge.log"
# Wait until the MQTT subscription is up (health ok), at most 10 s.
for _ in $(seq 1 100); do
  curl -s "$url/health" | grep -q '"status":"ok"' && break
  sleep 0.1
done

now=$(date +%s)
step "publish over MQTT (sensors/..., QoS 1, line protocol)"
for i in 1 2 3; do
  msg="climate,room=kitchen,via=mqtt temp=2$i.5,hum=4${i}i $((now - 10 + i))000000000"
  echo "  sensors/kitchen: $msg"
  mosquitto_pub -h 127.0.0.1 -p 1883 -q 1 -t sensors/kitchen -m "$msg"
done

step "post over CoAP (coap://$coap/write)"
for i in 1 2 3; do
  msg="climate,room=cellar,via=coap temp=1$i.0,hum=7${i}i $((now - 10 + i))000000000"
  echo "  $msg"
  coap-client-openssl -m post -t 0 -B 5 -e "$msg" "coap://$coap/write" | sed 's/^/    /'
done

step "write over HTTP (POST $url/write?db=iot)"
body="climate,room=attic,via=http temp=30.5,hum=20i $((now - 5))
climate,room=attic,via=http temp=31.0,hum=19i $((now - 4))"
echo "$body" | sed 's/^/  /'
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/write?db=iot&precision=s" --data-binary "$body")
echo "  -> HTTP $code"

sleep 1
step "GET /health"
curl -s "$url/health"

step "GET /metrics (a few lines)"
curl -s "$url/metrics" |
  grep -E '^(neoedge_points_accepted_total|neoedge_store_points_written_total|neoedge_store_series|neoedge_http_requests_total\{path="/write"\}|process_resident_memory_bytes|process_open_fds|neoedge_build_info)' || true

step "query back: SELECT * FROM climate (last 5 minutes)"
"$bin" query --host "$http" --db iot 'SELECT * FROM climate WHERE time > now() - 5m GROUP BY room'
echo
"$bin" query --host "$http" --db iot 'SELECT count(temp), mean(temp) FROM climate WHERE time > now() - 5m GROUP BY via'

step "seal the memtables into a segment (neoedge flush)"
"$bin" flush --host "$http"

if [ "$keep" -eq 1 ]; then
  step "left running"
  echo "neoedge pid $ne_pid (stop: kill $ne_pid)"
  [ -n "$mosq_pid" ] && echo "mosquitto pid $mosq_pid (stop: kill $mosq_pid)"
else
  step "stop"
  stop_all
  trap - EXIT
  echo "neoedge stopped cleanly; data kept in ./neoedge-data"
fi
