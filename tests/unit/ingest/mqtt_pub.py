#!/usr/bin/python3
"""Publishes numbered test messages with paho-mqtt (used by the MQTT source tests).

    mqtt_pub.py PORT TOPIC QOS FORMAT FIRST COUNT [--client-id ID] [--pace N]

FORMAT is line, json or raw; message i carries the id i in the field "seq"
(line, json) or as the raw value. The publisher keeps a persistent session
and reconnects by itself, so it survives a broker restart; it exits 0 once
the broker acknowledged every message (QoS 1/2) or all were written (QoS 0),
1 on timeout. --pace N sleeps 10 ms after every N messages.
"""
import argparse
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt


def payload(fmt, i):
    if fmt == "line":
        return "py,src=paho seq=%di" % i
    if fmt == "json":
        return json.dumps({"measurement": "py", "seq": i, "tags": {"src": "paho"}})
    return str(i)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("topic")
    ap.add_argument("qos", type=int)
    ap.add_argument("fmt", choices=["line", "json", "raw"])
    ap.add_argument("first", type=int)
    ap.add_argument("count", type=int)
    ap.add_argument("--client-id", default="neoedge-test-pub")
    ap.add_argument("--pace", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args()

    c = mqtt.Client(client_id=a.client_id, clean_session=False)
    # mosquitto drops a 3.1.1 client that has more QoS 2 messages in flight
    # than its max_inflight_messages (20 by default)
    c.max_inflight_messages_set(20)
    c.max_queued_messages_set(0)
    c.reconnect_delay_set(min_delay=1, max_delay=1)
    # on_publish, not is_published(): a message published while the broker is
    # away is queued and sent after the reconnect, but is_published() raises
    done = set()
    lock = threading.Lock()

    def on_publish(client, userdata, mid):
        with lock:
            done.add(mid)

    c.on_publish = on_publish
    c.connect("127.0.0.1", a.port, keepalive=30)
    c.loop_start()
    infos = []
    for i in range(a.first, a.first + a.count):
        infos.append(c.publish(a.topic, payload(a.fmt, i), qos=a.qos))
        if a.pace and (i - a.first + 1) % a.pace == 0:
            time.sleep(0.01)
    deadline = time.monotonic() + a.timeout
    ok = False
    while time.monotonic() < deadline:
        with lock:
            if all(m.mid in done for m in infos):
                ok = True
                break
        time.sleep(0.05)
    c.disconnect()
    c.loop_stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
