#!/usr/bin/env bash
# kill9_mqtt.sh - kill -9 of neoedge in the middle of a QoS 1 stream with a
# persistent session. The broker keeps what neoedge did not acknowledge;
# after a restart every message the broker acknowledged to the publisher
# is in the store, exactly once per timestamp.
. "$(dirname "$0")/lib.sh"
it_setup

it_start_mosquitto
cat >neoedge.yaml <<'YAML'
data_dir: ./data
storage:
  durability: interval
mqtt:
  client_id: neoedge-kill9
  clean_session: false
  max_inflight: 200
  subscriptions:
    - topic: "sensors/#"
      qos: 1
      format: line
coap:
  enabled: false
YAML
it_start_neoedge --config neoedge.yaml
it_wait_health
# The mqtt check turns ok only once the SUBSCRIBE is acknowledged: a message
# published before that has no subscriber and the broker drops it.
subscribed() { [ "$(it_health_status mqtt)" = ok ]; }
it_expect "subscribed (the mqtt health check is ok)" it_wait_for 20 subscribed

n=20000
base=$(( $(date +%s) - 86400 ))  # n seconds, all in the past
# The publisher counts the PUBACKs the broker sent it.
cat >pub.py <<'PYEOF'
import sys, time
import paho.mqtt.client as mqtt
port, n, base, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
acked = set()
c = mqtt.Client(client_id="k9-publisher", clean_session=True)
c.max_inflight_messages_set(500)
c.on_publish = lambda cl, ud, mid: acked.add(mid)
c.connect("127.0.0.1", port)
c.loop_start()
infos = []
for i in range(1, n + 1):
    payload = "k9,run=a v=%di %d000000000" % (i, base + i)
    infos.append(c.publish("sensors/k9", payload, qos=1))
    if i % 1000 == 0:
        infos[-1].wait_for_publish()
        time.sleep(0.2)
for info in infos:
    info.wait_for_publish()
c.loop_stop()
c.disconnect()
with open(out, "w") as f:
    f.write("%d\n" % sum(1 for info in infos if info.is_published()))
PYEOF
"$PY" pub.py "$MQTT_PORT" "$n" "$base" acked.txt >pub.log 2>&1 &
pub_pid=$!
IT_PIDS+=("$pub_pid")

# Kill neoedge once a part of the stream is stored.
some() {
  seen=$(it_query_scalar iot 'SELECT count(v) FROM k9')
  [ "$seen" -ge 3000 ] 2>/dev/null
}
it_expect "part of the stream arrived before the kill" it_wait_for 60 some
kill -KILL "$NE_PID"
wait "$NE_PID" 2>/dev/null
it_forget_pid "$NE_PID"
it_expect "the kill came mid-stream ($seen of $n stored)" test "$seen" -lt "$n"

wait "$pub_pid"
rc=$?
it_forget_pid "$pub_pid"
it_eq "the publisher finished" "$rc" 0
acked=$(cat acked.txt 2>/dev/null || echo 0)
it_eq "the broker acknowledged every message" "$acked" "$n"

it_start_neoedge --config neoedge.yaml
it_wait_health
it_expect "after the restart all $acked acknowledged messages are stored" \
  it_wait_query 20 iot "SELECT count(v) FROM k9" "$acked"
it_eq "no value is lost or doubled (sum)" "$(it_query_scalar iot 'SELECT sum(v) FROM k9')" $((n * (n + 1) / 2))

it_stop_neoedge TERM; rc=$IT_RC
it_eq "graceful exit 0" "$rc" 0
it_done
