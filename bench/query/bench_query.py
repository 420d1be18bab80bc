#!/usr/bin/env python3
"""Query latency of neoedge beside InfluxDB 1.6 on the same data, same run.

Starts influxd and neoedge on loopback (data in a temp dir), loads S1 and I1
(generated with ../shared/bench/gen_iot.py; --quick uses small versions)
into both over HTTP (batches of 5,000 lines, 2 connections), seals
neoedge's memtable, then runs q1..q4 five times on each engine and prints
a table of the best latency, the ratio, and whether both answered the same
(floats to 1e-9 relative). It never asserts on time.

Usage: bench_query.py --neoedge BIN [--quick] [--data DIR] [--runs 5]
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
GEN = os.path.abspath(os.path.join(SRC, "..", "shared", "bench", "gen_iot.py"))
sys.path.insert(0, os.path.join(SRC, "tests", "integration", "influx_compat"))
from compare import diff  # noqa: E402

T0 = "'2026-01-01T00:00:00Z'"
QUERIES = [
    ("q1", "s1", "SELECT mean(temperature) FROM env WHERE time >= %s AND time < "
     "'2026-01-01T01:00:00Z' GROUP BY time(1m)" % T0),
    ("q2", "i1", "SELECT max(velocity) FROM readings WHERE fleet = 'East' AND time >= %s AND "
     "time < '2026-01-01T06:00:00Z' GROUP BY time(1h), \"name\"" % T0),
    # one bucket over all the data: the answer's time is the bucket's, not
    # that of one of several equal values
    ("q3", "s1", "SELECT percentile(temperature, 95) FROM env WHERE time >= %s AND time < "
     "'2026-01-01T01:00:00Z' GROUP BY time(1h)" % T0),
    ("q4", "s1", "SHOW TAG VALUES FROM env WITH KEY = \"device\""),
]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_ping(port, proc, what):
    for _ in range(300):
        if proc.poll() is not None:
            sys.exit("%s exited early" % what)
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/ping")
            if c.getresponse().status == 204:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("%s did not answer /ping" % what)


def dataset(path, args):
    if os.path.exists(path):
        return path
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        subprocess.check_call([sys.executable, GEN] + args, stdout=f)
    os.rename(tmp, path)
    return path


def chunks(path, n=5000):
    with open(path, "rb") as f:
        buf = []
        for line in f:
            buf.append(line)
            if len(buf) == n:
                yield b"".join(buf)
                buf = []
        if buf:
            yield b"".join(buf)


def load(port, db, path):
    def post(body):
        # 503 is backpressure: wait as Retry-After says and send again, as
        # InfluxDB clients do
        for _ in range(600):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            c.request("POST", "/write?db=" + db, body)
            r = c.getresponse()
            r.read()
            if r.status == 204:
                return
            if r.status != 503:
                raise RuntimeError("write to %d: HTTP %d" % (port, r.status))
            time.sleep(float(r.getheader("Retry-After") or 1) / 10)
        raise RuntimeError("write to %d: still 503 after retries" % port)
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        list(ex.map(post, chunks(path)))


def query(port, db, q):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("GET", "/query?" + urllib.parse.urlencode({"db": db, "q": q, "epoch": "ns"}))
    r = c.getresponse()
    return json.loads(r.read())


def best_of(port, db, q, runs):
    best, res = None, None
    for _ in range(runs):
        t = time.perf_counter()
        res = query(port, db, q)
        dt = time.perf_counter() - t
        best = dt if best is None or dt < best else best
    return best, res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--neoedge", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--data", default=os.path.join(SRC, "bench", "data"))
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    os.makedirs(a.data, exist_ok=True)
    if a.quick:
        s1 = dataset(os.path.join(a.data, "s1-quick.lp"),
                     ["--shape", "sensors", "--devices", "1000", "--duration", "10m", "--seed", "1"])
        i1 = dataset(os.path.join(a.data, "i1-quick.lp"),
                     ["--shape", "iot", "--devices", "200", "--duration", "6h", "--seed", "1"])
    else:
        s1 = dataset(os.path.join(a.data, "s1.lp"),
                     ["--shape", "sensors", "--devices", "1000", "--duration", "1h", "--interval",
                      "1s", "--seed", "1"])
        i1 = dataset(os.path.join(a.data, "i1.lp"),
                     ["--shape", "iot", "--devices", "1000", "--duration", "6h", "--interval",
                      "10s", "--seed", "1"])
    tmp = tempfile.mkdtemp(prefix="neoedge-qbench.")
    procs = []
    try:
        ip, irpc, np_ = free_port(), free_port(), free_port()
        conf = os.path.join(tmp, "influx.conf")
        with open(conf, "w") as f:
            f.write('reporting-disabled = true\nbind-address = "127.0.0.1:%d"\n[meta]\n'
                    '  dir = "%s/meta"\n[data]\n  dir = "%s/data"\n  wal-dir = "%s/wal"\n'
                    '  query-log-enabled = false\n[http]\n  bind-address = "127.0.0.1:%d"\n'
                    '  log-enabled = false\n[monitor]\n  store-enabled = false\n'
                    '[continuous_queries]\n  enabled = false\n' % (irpc, tmp, tmp, tmp, ip))
        influx = subprocess.Popen(["influxd", "-config", conf], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        procs.append(influx)
        env = dict(os.environ, NEOEDGE_HTTP_LISTEN="127.0.0.1:%d" % np_,
                   NEOEDGE_MQTT_ENABLED="false", NEOEDGE_COAP_ENABLED="false",
                   NEOEDGE_LOG_LEVEL="warn")
        ne = subprocess.Popen([a.neoedge, "run", "--data-dir", os.path.join(tmp, "ne")], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(ne)
        wait_ping(ip, influx, "influxd")
        wait_ping(np_, ne, "neoedge")
        for db in ("s1", "i1"):
            query(ip, "", "CREATE DATABASE " + db)
        for db, path in (("s1", s1), ("i1", i1)):
            for port in (ip, np_):
                t = time.perf_counter()
                load(port, db, path)
                print("loaded %s into %s in %.1f s" % (db, "influxdb" if port == ip else "neoedge",
                                                      time.perf_counter() - t), file=sys.stderr)
        c = http.client.HTTPConnection("127.0.0.1", np_, timeout=600)
        c.request("POST", "/api/v1/flush")
        c.getresponse().read()
        rows = []
        for name, db, q in QUERIES:
            ti, ri = best_of(ip, db, q, a.runs)
            tn, rn = best_of(np_, db, q, a.runs)
            same = "yes" if diff(ri, rn) is None else "NO: " + diff(ri, rn)[:60]
            rows.append((name, db, ti * 1000, tn * 1000, ti / tn if tn > 0 else float("inf"), same))
        print("\n| query | data | InfluxDB 1.6 best of %d (ms) | neoedge best of %d (ms) | "
              "speed-up | same result |" % (a.runs, a.runs))
        print("|---|---|---:|---:|---:|---|")
        for r in rows:
            print("| %s | %s | %.1f | %.2f | %.1fx | %s |" % r)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
