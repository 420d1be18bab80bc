#!/usr/bin/env bash
# mqtt_e2e.sh - MQTT end to end: a test-started mosquitto, neoedge with the
# default subscription (sensors/#, line protocol, QoS 1, database iot),
# mosquitto_pub at QoS 1; every message is queryable, bad ones are counted.
. "$(dirname "$0")/lib.sh"
it_setup

it_start_mosquitto
it_start_neoedge
it_wait_health
# The mqtt check turns ok only once the SUBSCRIBE is acknowledged: a message
# published before that has no subscriber and the broker drops it.
subscribed() { [ "$(it_health_status mqtt)" = ok ]; }
it_expect "subscribed (the mqtt health check is ok)" it_wait_for 20 subscribed

n=500
base=$(( $(date +%s) - 3600 ))
for i in $(seq 1 $n); do
  echo "mq,dev=d$((i % 5)) v=${i}i,f=$i.5 $((base + i))000000000"
done >msgs.txt
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t sensors/line -l <msgs.txt
rc=$?
it_eq "mosquitto_pub sent every message" "$rc" 0
it_expect "all $n messages are stored" it_wait_query 30 iot "SELECT count(v) FROM mq" "$n"
it_eq "the sum is right" "$(it_query_scalar iot 'SELECT sum(v) FROM mq')" $((n * (n + 1) / 2))
it_eq "5 series" "$(it_query_scalar iot 'SELECT count(v) FROM mq WHERE dev = '"'"'d3'"'"'')" $((n / 5))

# A poison message is acknowledged and counted, the stream goes on.
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t sensors/line -m 'mq v=notanumber'
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t sensors/line -m "mq,dev=late v=1i $((base + n + 1))000000000"
it_expect "the message after a bad one is stored" it_wait_query 20 iot "SELECT count(v) FROM mq" $((n + 1))
bad=$(it_metric neoedge_payloads_rejected_total 'source="mqtt"')
it_expect "the bad payload is counted (got $bad)" test "$bad" -ge 1

it_stop_neoedge TERM; rc=$IT_RC
it_eq "graceful exit 0" "$rc" 0
it_done
