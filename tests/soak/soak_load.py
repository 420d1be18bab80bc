#!/usr/bin/python3
"""soak_load.py - steady sensor traffic for the soak test.

Simulates DEVICES gateway sensors, each reporting one point every INTERVAL
seconds with the five fields of the S1 "sensors" shape (temperature,
humidity, pressure as random walks, battery as an integer that drains,
status as a string), stamped with the current time so that age-based
retention sees fresh data:

  env,site=site-03,device=dev-00042 temperature=21.37,humidity=45.2,
      pressure=1013.25,battery=87i,status="ok" <now in ns>

The first MQTT_SHARE of the devices publish over MQTT (one QoS 1 message
per point, topic sensors/<site>/<device>, through one paho connection);
the others are split evenly over the HTTP endpoints given with --http and
are posted once per tick as one /write batch per endpoint (keep-alive).

Invariants: the schedule is absolute (tick k starts at start + k*INTERVAL),
so a slow tick is followed by a prompt one rather than drifting; at most
MAX_INFLIGHT QoS 1 messages are unacknowledged at once.

At the end (after --duration seconds, or on SIGTERM) it waits up to 20 s
for outstanding PUBACKs and writes a JSON summary to --status:
  {"ticks", "late_ticks", "mqtt_sent", "mqtt_acked", "mqtt_errors",
   "http_points_ok", "http_points_failed", "http_status": {code: count},
   "points_sent_ok"}
where points_sent_ok = mqtt_acked + http_points_ok (points the broker or a
node acknowledged). Progress goes to stderr every 10 s.
"""

import argparse
import http.client
import json
import random
import signal
import sys
import threading
import time

import paho.mqtt.client as mqtt

MAX_INFLIGHT = 2000


class Device:
    """One sensor: its tags and the state of its random walks."""

    def __init__(self, idx, rng, devices_per_site):
        self.site = "site-%02d" % (idx // devices_per_site)
        self.name = "dev-%05d" % idx
        self.rng = rng
        self.temp = rng.uniform(15.0, 25.0)
        self.hum = rng.uniform(30.0, 60.0)
        self.pres = rng.uniform(1000.0, 1025.0)
        self.battery = rng.randint(40, 100)

    def line(self, ts_ns):
        r = self.rng
        self.temp += (21.0 - self.temp) * 0.01 + r.gauss(0, 0.05)
        self.hum = min(100.0, max(0.0, self.hum + (45.0 - self.hum) * 0.01 + r.gauss(0, 0.1)))
        self.pres += (1013.0 - self.pres) * 0.01 + r.gauss(0, 0.02)
        if r.random() < 0.002:
            self.battery = self.battery - 1 if self.battery > 0 else 100
        status = "warn" if r.random() < 0.01 else "ok"
        return ('env,site=%s,device=%s temperature=%.2f,humidity=%.1f,pressure=%.2f,'
                'battery=%di,status="%s" %d' % (self.site, self.name, self.temp, self.hum,
                                                 self.pres, self.battery, status, ts_ns))


class Mqtt:
    """One QoS 1 publisher with a bound on unacknowledged messages."""

    def __init__(self, port):
        self.sent = 0
        self.acked = 0
        self.errors = 0
        self.cv = threading.Condition()
        self.c = mqtt.Client(client_id="soak-load-%d" % random.getrandbits(32), clean_session=True)
        self.c.max_inflight_messages_set(MAX_INFLIGHT)
        self.c.max_queued_messages_set(0)
        self.c.on_publish = self._on_publish
        self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.loop_start()

    def _on_publish(self, _client, _userdata, _mid):
        with self.cv:
            self.acked += 1
            self.cv.notify_all()

    def publish(self, topic, payload):
        with self.cv:
            while self.sent - self.acked >= MAX_INFLIGHT:
                if not self.cv.wait(timeout=5.0):
                    break
        info = self.c.publish(topic, payload, qos=1)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            with self.cv:
                self.sent += 1
        else:
            self.errors += 1

    def drain(self, limit_s):
        end = time.monotonic() + limit_s
        with self.cv:
            while self.acked < self.sent and time.monotonic() < end:
                self.cv.wait(timeout=0.5)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


class HttpTarget:
    """One node's /write endpoint over a keep-alive connection."""

    def __init__(self, hostport, db):
        host, port = hostport.rsplit(":", 1)
        self.host, self.port, self.db = host, int(port), db
        self.conn = None
        self.points_ok = 0
        self.points_failed = 0
        self.status = {}

    def post(self, lines):
        body = ("\n".join(lines) + "\n").encode()
        code = "error"
        for _ in range(2):  # one retry on a dropped keep-alive connection
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                self.conn.request("POST", "/write?db=%s" % self.db, body,
                                  {"Content-Type": "text/plain"})
                resp = self.conn.getresponse()
                resp.read()
                code = str(resp.status)
                break
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
        self.status[code] = self.status.get(code, 0) + 1
        if code == "204":
            self.points_ok += len(lines)
        else:
            self.points_failed += len(lines)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--devices", type=int, default=200)
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--mqtt-port", type=int, required=True)
    p.add_argument("--mqtt-share", type=float, default=0.5,
                   help="fraction of the devices that publish over MQTT")
    p.add_argument("--http", action="append", default=[], help="host:port of a node, repeatable")
    p.add_argument("--db", default="iot")
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--status", required=True, help="JSON summary written at the end")
    return p.parse_args()


def main():
    a = parse_args()
    rng = random.Random(a.seed)
    devices = [Device(i, rng, 50) for i in range(a.devices)]
    n_mqtt = int(round(a.devices * a.mqtt_share)) if a.http else a.devices
    mqtt_devs = devices[:n_mqtt]
    http_devs = devices[n_mqtt:]
    targets = [HttpTarget(h, a.db) for h in a.http]
    groups = [http_devs[i::len(targets)] for i in range(len(targets))] if targets else []
    pub = Mqtt(a.mqtt_port) if mqtt_devs else None

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    start = time.monotonic()
    ticks = late = 0
    next_report = start + 10
    while not stop.is_set():
        due = start + ticks * a.interval
        now = time.monotonic()
        if due - start >= a.duration:
            break
        if due > now:
            stop.wait(due - now)
            if stop.is_set():
                break
        elif now - due > a.interval:
            late += 1
        ts = time.time_ns()
        for d in mqtt_devs:
            pub.publish("sensors/%s/%s" % (d.site, d.name), d.line(ts))
        for t, g in zip(targets, groups):
            if g:
                t.post([d.line(ts) for d in g])
        ticks += 1
        if time.monotonic() >= next_report:
            next_report += 10
            print("soak_load: t=%.0fs ticks=%d late=%d mqtt sent=%d acked=%d http ok=%d failed=%d"
                  % (time.monotonic() - start, ticks, late, pub.sent if pub else 0,
                     pub.acked if pub else 0, sum(t.points_ok for t in targets),
                     sum(t.points_failed for t in targets)), file=sys.stderr, flush=True)

    if pub:
        pub.drain(20.0)
        pub.close()
    status = {}
    for t in targets:
        for k, v in t.status.items():
            status[k] = status.get(k, 0) + v
    summary = {
        "ticks": ticks,
        "late_ticks": late,
        "mqtt_sent": pub.sent if pub else 0,
        "mqtt_acked": pub.acked if pub else 0,
        "mqtt_errors": pub.errors if pub else 0,
        "http_points_ok": sum(t.points_ok for t in targets),
        "http_points_failed": sum(t.points_failed for t in targets),
        "http_status": status,
    }
    summary["points_sent_ok"] = summary["mqtt_acked"] + summary["http_points_ok"]
    with open(a.status, "w") as f:
        json.dump(summary, f)
    print("soak_load: done " + json.dumps(summary), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
