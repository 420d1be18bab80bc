#!/usr/bin/env bash
# refuse.sh - start-up refusals, each with one clear message and a non-zero
# exit: data dir in use, HTTP port in use, data dir not writable.
. "$(dirname "$0")/lib.sh"
it_setup

cat >neoedge.yaml <<'YAML'
mqtt:
  enabled: false
coap:
  enabled: false
YAML

it_start_neoedge --config neoedge.yaml --data-dir ./data
it_wait_health
first_pid=$NE_PID
first_port=$HTTP_PORT

# A second daemon on the same data dir (on another HTTP port).
HTTP_PORT=$(it_free_port tcp)
it_neoedge_env
out=$(timeout 30 "$NEOEDGE_BIN" run --config neoedge.yaml --data-dir ./data 2>&1); rc=$?
it_eq "second daemon on the same data dir exits 1" "$rc" 1
it_contains "it names the data dir and the holder" "$out" "data dir ./data is in use by pid $first_pid"

# The HTTP port in use (the first daemon's), on another data dir.
export NEOEDGE_HTTP_LISTEN="127.0.0.1:$first_port"
out=$(timeout 30 "$NEOEDGE_BIN" run --config neoedge.yaml --data-dir ./data2 2>&1); rc=$?
it_eq "port in use exits 1" "$rc" 1
it_contains "it names the address" "$out" "http.listen 127.0.0.1:$first_port: address already in use"
# Nothing stays half-started: the data dir it locked is free again.
export NEOEDGE_HTTP_LISTEN="127.0.0.1:$(it_free_port tcp)"
"$NEOEDGE_BIN" flush --data-dir ./data2 --config neoedge.yaml >/dev/null 2>&1; rc=$?
it_eq "the refused daemon released its data dir" "$rc" 0

# The CoAP port in use (held by another socket).
udp=$(it_free_port udp)
"$PY" -c "
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', $udp))
time.sleep(120)
" &
holder=$!
IT_PIDS+=("$holder")
sleep 0.3
cat >coap.yaml <<'YAML'
mqtt:
  enabled: false
YAML
out=$(NEOEDGE_COAP_LISTEN="127.0.0.1:$udp" timeout 30 "$NEOEDGE_BIN" run --config coap.yaml --data-dir ./data4 2>&1); rc=$?
it_eq "CoAP port in use exits 1" "$rc" 1
it_contains "it names the CoAP address" "$out" "127.0.0.1:$udp"
it_contains "it says the address is in use" "$out" "in use"
kill "$holder"; wait "$holder" 2>/dev/null; it_forget_pid "$holder"

# A data dir that cannot be created (its parent is a file).
touch afile
out=$(timeout 30 "$NEOEDGE_BIN" run --config neoedge.yaml --data-dir ./afile/sub 2>&1); rc=$?
it_eq "uncreatable data dir exits 1" "$rc" 1
it_contains "it names the data dir" "$out" "data dir ./afile/sub cannot be created"

# A data dir without write permission (as an unprivileged user when root).
mkdir ro && chmod 0555 ro
if [ "$(id -u)" -eq 0 ]; then
  chmod 0755 "$IT_DIR"
  run_as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
else
  run_as=()
fi
out=$(timeout 30 "${run_as[@]}" "$NEOEDGE_BIN" run --config neoedge.yaml --data-dir ./ro 2>&1); rc=$?
it_eq "unwritable data dir exits 1" "$rc" 1
it_contains "it says the data dir is not writable" "$out" "data dir ./ro is not writable"

# A malformed fault-injection spec (tests only) is refused up front.
out=$(NEOEDGE_FAULTS=fsync:x:boom timeout 30 "$NEOEDGE_BIN" run --config neoedge.yaml --data-dir ./data3 2>&1); rc=$?
it_eq "bad NEOEDGE_FAULTS exits 1" "$rc" 1
it_contains "it names the variable" "$out" "NEOEDGE_FAULTS=fsync:x:boom"

it_expect "the first daemon is still running" kill -0 "$first_pid"
it_stop_neoedge TERM "$first_pid"; rc=$IT_RC
it_eq "first daemon exits 0" "$rc" 0
it_done
