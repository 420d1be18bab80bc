#!/usr/bin/env python3
"""End-to-end ingest into a real neoedge daemon: HTTP line protocol, MQTT
messages carrying batches of line-protocol lines, and MQTT one-reading JSON
messages, each through the whole path (decode, WAL with durability interval,
memtable) and each acknowledged by the daemon.

Starts mosquitto and neoedge on free loopback ports (data in a temp dir),
measures for each mode: points/s and field values/s (wall, from the first
send until the store counted the last point), the daemon's CPU seconds
(utime + stime from /proc/PID/stat) and from those values per CPU-second
and the CPU share of one core, and the broker's CPU share (MQTT rows).
Prints a table; asserts nothing on time.

Usage: bench_e2e.py --neoedge BIN [--lines N] [--json-messages N]
"""
import argparse
import concurrent.futures
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
GEN = os.path.abspath(os.path.join(SRC, "..", "shared", "bench", "gen_iot.py"))
TICKS = os.sysconf("SC_CLK_TCK")
sys.path.insert(0, os.path.join(HERE, ".."))
from benchlib import free_port, stop_all  # noqa: E402


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def metric(port, name):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics")
    total = 0.0
    for line in c.getresponse().read().decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_points(port, target, timeout=600):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if metric(port, "neoedge_store_points_written_total") >= target:
            return True
        time.sleep(0.05)
    return False


def http_mode(port, lines):
    batches = [b"".join(lines[i:i + 5000]) for i in range(0, len(lines), 5000)]

    def post(body):
        while True:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            c.request("POST", "/write?db=bench", body)
            r = c.getresponse()
            r.read()
            if r.status == 204:
                return
            if r.status != 503:
                raise RuntimeError("HTTP %d" % r.status)
            time.sleep(0.05)
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        list(ex.map(post, batches))


def mosquitto_pub(mport, topic, path, qos=1):
    subprocess.check_call(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mport), "-q", str(qos),
                           "-t", topic, "-l"], stdin=open(path, "rb"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--neoedge", required=True)
    ap.add_argument("--lines", type=int, default=600000, help="line-protocol lines (HTTP, MQTT batches)")
    ap.add_argument("--json-messages", type=int, default=100000)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="neoedge-ingest-bench.")
    procs = []
    try:
        devices = 1000
        minutes = max(1, a.lines // devices // 60)
        lp = os.path.join(tmp, "s1.lp")
        with open(lp, "w") as f:
            subprocess.check_call([sys.executable, GEN, "--shape", "sensors", "--devices",
                                   str(devices), "--duration", "%dm" % minutes, "--seed", "1"],
                                  stdout=f)
        with open(lp, "rb") as f:
            lines = f.readlines()[: a.lines]
        values = sum(l.split(b" ")[1].count(b",") + 1 for l in lines)
        mport, hport = free_port(), free_port()
        with open(os.path.join(tmp, "mosquitto.conf"), "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 1000\n"
                    "max_queued_messages 1000000\n" % mport)
        broker = subprocess.Popen(["mosquitto", "-c", os.path.join(tmp, "mosquitto.conf")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(broker)
        with open(os.path.join(tmp, "neoedge.yaml"), "w") as f:
            f.write("data_dir: %s/ne\nlog:\n  level: warn\nhttp:\n  listen: 127.0.0.1:%d\n"
                    "storage:\n  durability: interval\ncoap:\n  enabled: false\n"
                    "mqtt:\n  brokers: [tcp://127.0.0.1:%d]\n  subscriptions:\n"
                    "    - topic: bench/lp\n      format: line\n      database: bench\n"
                    "    - topic: bench/json/+\n      format: json\n      database: bench\n"
                    "      template: bench/json/{device}\n      measurement: env\n"
                    % (tmp, hport, mport))
        ne = subprocess.Popen([a.neoedge, "run", "--config", os.path.join(tmp, "neoedge.yaml")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(ne)
        for _ in range(200):
            try:
                c = http.client.HTTPConnection("127.0.0.1", hport, timeout=1)
                c.request("GET", "/health")
                if b'"ok"' in c.getresponse().read():
                    break
            except OSError:
                pass
            time.sleep(0.1)
        rows = []

        def run(name, points, nvalues, fn):
            base = metric(hport, "neoedge_store_points_written_total")
            c0, b0, t0 = cpu_seconds(ne.pid), cpu_seconds(broker.pid), time.time()
            fn()
            if not wait_points(hport, base + points):
                raise RuntimeError("%s: not every point arrived" % name)
            dt, cpu = time.time() - t0, cpu_seconds(ne.pid) - c0
            bcpu = cpu_seconds(broker.pid) - b0
            rows.append((name, points, points / dt, nvalues / dt, nvalues / cpu if cpu else 0,
                         cpu / dt * 100, cpu / points * 1e5, bcpu / dt * 100))

        run("HTTP line protocol, 5,000 lines/request, 2 connections", len(lines), values,
            lambda: http_mode(hport, lines))
        # MQTT: messages carrying 100 line-protocol lines each
        msgs = [b"".join(lines[i:i + 100]) for i in range(0, len(lines), 100)]
        run("MQTT QoS 1, 100 line-protocol lines per message", len(lines), values,
            lambda: paho_publish(mport, "bench/lp", msgs))
        jpath = os.path.join(tmp, "json.txt")
        n = a.json_messages
        with open(jpath, "w") as f:
            for i in range(n):
                f.write('{"temperature":%.2f,"humidity":%.1f,"time":%d}\n'
                        % (20 + (i % 100) / 10, 40 + (i % 50) / 10, 1767225600 + i // devices))
        run("MQTT QoS 1, one-reading JSON messages", n, 2 * n,
            lambda: json_publish(mport, jpath, n))
        print("\n| mode | points | points/s | field values/s | values per CPU-second | "
              "neoedge CPU (% of a core) | CPU ms per 100k points | mosquitto CPU (% of a core) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print("| %s | %d | %.0f | %.0f | %.0f | %.0f%% | %.0f | %.0f%% |"
                  % (r[0], r[1], r[2], r[3], r[4], r[5], r[6] * 1000, r[7]))
    finally:
        stop_all(procs)
        shutil.rmtree(tmp, ignore_errors=True)


def paho_publish(mport, topic, msgs):
    """Publishes msgs at QoS 1 with paho, at most 1,000 in flight."""
    import paho.mqtt.client as mqtt
    import threading
    done = threading.Semaphore(0)
    c = mqtt.Client(client_id="bench-pub-%d" % os.getpid(), clean_session=True)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", mport)
    c.loop_start()
    window = threading.Semaphore(1000)
    def acked(cl, ud, mid):
        window.release()
        done.release()
    c.on_publish = acked
    for m in msgs:
        window.acquire()
        c.publish(topic, m, qos=1)
    for _ in msgs:
        done.acquire()
    c.loop_stop()
    c.disconnect()


def json_publish(mport, path, n):
    # 4 publishers on 4 device topics (the template names the device tag)
    with open(path) as f:
        msgs = f.readlines()
    procs = []
    for d in range(4):
        p = path + ".%d" % d
        with open(p, "w") as f:
            f.writelines(msgs[d::4])
        procs.append(subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mport), "-q",
                                       "1", "-t", "bench/json/dev-%d" % d, "-l"],
                                      stdin=open(p, "rb")))
    for p in procs:
        p.wait()


if __name__ == "__main__":
    main()
