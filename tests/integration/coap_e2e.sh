#!/usr/bin/env bash
# coap_e2e.sh - CoAP end to end through coap-client-openssl: line protocol
# and JSON POSTs are stored (2.04), a bad payload answers 4.00.
. "$(dirname "$0")/lib.sh"
it_setup

cat >neoedge.yaml <<'YAML'
data_dir: ./data
mqtt:
  enabled: false
YAML
it_start_neoedge --config neoedge.yaml
it_wait_health
curi="coap://127.0.0.1:$COAP_PORT/write"
base=$(( $(date +%s) - 600 ))

for i in $(seq 1 20); do
  out=$(coap-client-openssl -m post -t 0 -B 5 -e "cp,dev=c1 v=${i}i $((base + i))000000000" "$curi" 2>&1)
  rc=$?
  [ "$rc" -eq 0 ] || it_fail "coap-client exit $rc: $out"
done
it_expect "20 line-protocol POSTs are stored" it_wait_query 20 iot "SELECT count(v) FROM cp" 20

out=$(coap-client-openssl -m post -t 50 -B 5 -e "{\"measurement\":\"cj\",\"temp\":21.5,\"time\":$((base + 1))}" "$curi" 2>&1)
it_expect "a JSON POST is stored" it_wait_query 20 iot "SELECT count(temp) FROM cj" 1

out=$(coap-client-openssl -m post -t 0 -B 5 -e "cp v=oops" "$curi" 2>&1)
it_contains "a bad payload answers 4.00" "$out" "4.00"

it_stop_neoedge TERM; rc=$IT_RC
it_eq "graceful exit 0" "$rc" 0
it_done
