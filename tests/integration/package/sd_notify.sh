#!/usr/bin/env bash
# sd_notify.sh - `neoedge run` under a service manager: with NOTIFY_SOCKET
# set it sends READY=1 once /health answers, RELOADING=1 then READY=1
# around a SIGHUP reload, STOPPING=1 on SIGTERM; for a path socket and for
# an abstract one ('@name').
. "$(dirname "$0")/../lib.sh"
it_setup

# A listener on a Unix datagram socket: prints every message on one line
# (newlines as '|'); on the first READY=1 it asks /health at once and
# prints "health=<status>", proving the daemon served before it said ready.
cat >listen.py <<'PY'
import os, socket, sys, urllib.request, urllib.error
addr, out, port = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
open(out + ".bound", "w").close()
ready_seen = False
with open(out, "a", buffering=1) as f:
    while True:
        msg = s.recv(4096).decode()
        f.write(msg.replace("\n", "|") + "\n")
        if "READY=1" in msg.split("\n") and not ready_seen:
            ready_seen = True
            try:
                code = urllib.request.urlopen("http://127.0.0.1:%s/health" % port, timeout=5).status
            except urllib.error.HTTPError as e:
                code = e.code
            except Exception as e:
                code = "down"
            f.write("health=%s\n" % code)
PY

start_listener() { # address outfile
  "$PY" listen.py "$1" "$2" "$HTTP_PORT" &
  IT_PIDS+=("$!")
  it_wait_for 10 test -e "$2.bound" || { it_fail "listener did not bind $1"; it_done; }
}
lines() { cat "$1" 2>/dev/null || true; }

cat >neoedge.yaml <<YAML
data_dir: ./data
mqtt:
  enabled: false
coap:
  enabled: false
YAML

# 1. A path socket: the full life cycle.
HTTP_PORT=$(it_free_port tcp)
start_listener "$IT_DIR/notify.sock" msgs
NOTIFY_SOCKET="$IT_DIR/notify.sock" it_start_neoedge --config neoedge.yaml
it_wait_for 20 grep -q '^health=' msgs || it_fail "no READY=1 within 20 s"
it_eq "the first message is READY=1" "$(head -n 1 msgs | cut -d'|' -f1)" "READY=1"
it_eq "/health answered when READY=1 arrived" "$(grep '^health=' msgs)" "health=200"

kill -HUP "$NE_PID"
it_wait_for 10 bash -c "[ \$(grep -c '^READY=1' msgs) -ge 2 ]" || it_fail "no READY=1 after SIGHUP"
seq_after_hup=$(grep -v '^health=' msgs | sed -n '2,3p' | cut -d'|' -f1 | tr '\n' ' ')
it_eq "SIGHUP: RELOADING=1 then READY=1" "$seq_after_hup" "RELOADING=1 READY=1 "
it_expect "RELOADING=1 carries MONOTONIC_USEC" grep -Eq '^RELOADING=1\|MONOTONIC_USEC=[0-9]+$' msgs
it_expect "the reload itself happened" grep -q 'config reloaded' "$NE_LOG"

it_stop_neoedge TERM
it_eq "graceful exit code" "$IT_RC" 0
it_wait_for 5 grep -q '^STOPPING=1' msgs || true
it_eq "last message is STOPPING=1" "$(tail -n 1 msgs | cut -d'|' -f1)" "STOPPING=1"
it_eq "exactly one STOPPING=1" "$(grep -c '^STOPPING=1' msgs)" 1

# 2. An abstract socket ('@' prefix).
HTTP_PORT=$(it_free_port tcp)
abstract="@neoedge-it-$$-$RANDOM"
start_listener "$abstract" amsgs
NOTIFY_SOCKET="$abstract" it_start_neoedge --config neoedge.yaml
it_wait_for 20 grep -q '^health=' amsgs || it_fail "no READY=1 on the abstract socket"
it_eq "abstract socket: READY=1 after /health" "$(grep '^health=' amsgs)" "health=200"
it_stop_neoedge TERM
it_wait_for 5 grep -q '^STOPPING=1' amsgs || it_fail "no STOPPING=1 on the abstract socket"

# 3. No NOTIFY_SOCKET: the daemon runs as before, and a dead socket path is
#    only a warning, never a failure.
HTTP_PORT=$(it_free_port tcp)
NOTIFY_SOCKET="$IT_DIR/nobody-listens.sock" it_start_neoedge --config neoedge.yaml
it_wait_health
it_expect "an unreachable socket is logged as a warning" \
  grep -q 'cannot notify the service manager' "$NE_LOG"
it_stop_neoedge TERM
it_eq "graceful exit with an unreachable socket" "$IT_RC" 0
it_done
