#!/usr/bin/env bash
# faults.sh - a failed fsync through the real daemon (NEOEDGE_FAULTS):
# with durability sync the write whose fsync fails is answered 503 and is
# not acknowledged (as may be writes during the recovery); the store
# recovers by itself, later writes succeed, and
# exactly the acknowledged points are there, before and after a restart.
. "$(dirname "$0")/lib.sh"
it_setup

cat >neoedge.yaml <<'YAML'
data_dir: ./data
storage:
  durability: sync
mqtt:
  enabled: false
coap:
  enabled: false
YAML
NEOEDGE_FAULTS="sync:12:eio" it_start_neoedge --config neoedge.yaml
it_wait_health
base=$(( $(date +%s) - 3600 ))
acked=0 refused=0 other=0
for i in $(seq 1 20); do
  code=$(it_http_code -X POST "http://127.0.0.1:$HTTP_PORT/write?db=f&precision=s" --data-binary "f v=${i}i $((base + i))")
  case "$code" in
  204) acked=$((acked + 1)) ;;
  503) refused=$((refused + 1)) ;;
  *) other=$((other + 1)) ;;
  esac
done
it_expect "the write that met the failed fsync got 503 ($refused refused, $acked acked)" test "$refused" -ge 1
it_eq "no other answer than 204 and 503" "$other" 0
final() {
  [ "$(it_http_code -X POST "http://127.0.0.1:$HTTP_PORT/write?db=f&precision=s" --data-binary "f v=99i $((base + 99))")" = 204 ]
}
it_expect "writes are acknowledged again after the recovery" it_wait_for 10 final
acked=$((acked + 1))
it_expect "the daemon kept running" kill -0 "$NE_PID"
it_expect "the failure was logged" grep -q 'fdatasync failed' "$NE_LOG"
code=$(it_http_code "http://127.0.0.1:$HTTP_PORT/health")
it_eq "healthy again after recovery" "$code" 200
it_eq "exactly the acknowledged points are stored" "$(it_query_rows f 'SELECT v FROM f')" "$acked"

it_stop_neoedge TERM; rc=$IT_RC
it_eq "graceful exit 0" "$rc" 0
it_start_neoedge --config neoedge.yaml
it_wait_health
it_eq "after a restart: exactly the acknowledged points" "$(it_query_rows f 'SELECT v FROM f')" "$acked"
it_stop_neoedge TERM; rc=$IT_RC
it_eq "graceful exit 0 after the restart" "$rc" 0
it_done
