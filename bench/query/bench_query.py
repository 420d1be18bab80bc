#!/usr/bin/env python3
"""Query latency of neoedge beside InfluxDB 1.6 on the same data, same run.

Starts influxd and neoedge on loopback (data in a temp dir), loads S1 and I1
(generated with ../shared/bench/gen_iot.py; --quick uses small versions)
into both over HTTP (batches of 5,000 lines, 2 connections), seals
neoedge's memtable, then runs q1..q4 five times on each engine and prints
a table of the best latency, the ratio, and whether both answered the same
(floats to 1e-9 relative). The first rows, /ping and SHOW DATABASES, show
what the client and the HTTP round trip alone cost on each engine: the
floor under every query's time. With --in-a-row N, a second table gives
the medians of N requests in a row per engine of those and of q4 (caches
warm; `taskset -c 0` keeps client and servers on one CPU, so that no
request waits for another CPU to wake). It never asserts on time.

Usage: bench_query.py --neoedge BIN [--baseline BIN] [--quick] [--data DIR] [--runs 5]
                      [--in-a-row N]
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import shutil
import socket
import statistics
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
sys.path.insert(0, os.path.join(HERE, ".."))
from benchlib import free_port, stop_all  # noqa: E402

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


def cpu_seconds(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(pids, limit=300):
    """Waits until none of pids used more than 20 ms of CPU in a second (a
    server compacting after the load would be timed too), at most limit s."""
    last = [cpu_seconds(p) for p in pids]
    for _ in range(limit):
        time.sleep(1)
        now = [cpu_seconds(p) for p in pids]
        if all(n - l < 0.02 for n, l in zip(now, last)):
            return
        last = now


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


# One keep-alive connection per server for the timed requests, as any
# InfluxDB client keeps: the clock then sees the request, the server's
# work and the body arriving, not a TCP handshake or JSON decoding in
# Python (done after the clock stops). The same client for both engines.
#
# It is a raw socket with the request bytes built before the clock
# starts, reading the answer by its Content-Length or chunked framing:
# http.client's own parsing costs more per request than neoedge's whole
# answer to a small query, and would hide the servers' difference.
class RawConn:
    """A kept HTTP/1.1 connection to 127.0.0.1:port for GET requests."""

    def __init__(self, port, timeout=600):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        # Reads land in one buffer made once: sock.recv(n) allocates n
        # bytes per call, and whether Python's allocator then maps and
        # faults in fresh pages depends on what the process did before.
        # That cost 16 us per read in one run and nothing in another,
        # timed as if the server had spent it (bench/README.md).
        self._rbuf = bytearray(262144)
        self._rview = memoryview(self._rbuf)

    def close(self):
        self.sock.close()

    def _more(self):
        n = self.sock.recv_into(self._rbuf)
        if not n:
            raise ConnectionError("the server closed the connection")
        self.buf += self._rview[:n]

    def _line(self, start):
        """Index of the CRLF at or after start, reading more as needed."""
        while True:
            i = self.buf.find(b"\r\n", start)
            if i >= 0:
                return i
            self._more()

    def _need(self, n):
        while len(self.buf) < n:
            self._more()

    def get(self, request):
        """Sends the prebuilt request bytes; returns (status, body bytes)."""
        self.sock.sendall(request)
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            self._more()
        head = self.buf[:end].decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        length, chunked = 0, False
        for h in head[1:]:
            k, _, v = h.partition(":")
            k = k.strip().lower()
            if k == "content-length":
                length = int(v)
            elif k == "transfer-encoding" and "chunked" in v.lower():
                chunked = True
        pos = end + 4
        if not chunked:
            self._need(pos + length)
            body = self.buf[pos:pos + length]
            self.buf = self.buf[pos + length:]
            return status, body
        parts = []
        while True:
            eol = self._line(pos)
            size = int(self.buf[pos:eol].split(b";", 1)[0], 16)
            pos = eol + 2
            if size == 0:  # no trailers are expected: the blank line ends it
                eol = self._line(pos)
                while eol != pos:  # skip any trailer lines
                    pos = eol + 2
                    eol = self._line(pos)
                self.buf = self.buf[eol + 2:]
                return status, b"".join(parts)
            self._need(pos + size + 2)
            parts.append(self.buf[pos:pos + size])
            pos += size + 2


_conns = {}


def _request_bytes(port, path):
    return ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (path, port)).encode()


def _timed_get(port, path):
    """(seconds, status, body) of GET path on the kept connection."""
    req = _request_bytes(port, path)
    for attempt in range(2):
        c = _conns.get(port)
        if c is None:
            c = _conns[port] = RawConn(port)
        try:
            t = time.perf_counter()
            status, body = c.get(req)
            return time.perf_counter() - t, status, body
        except (ValueError, IndexError, OSError):
            c.close()  # the server closed it: one retry on a new one
            _conns.pop(port, None)
            if attempt:
                raise


def timings(port, db, q, runs):
    """The times of runs requests of q (None: GET /ping) and the last answer."""
    path = "/ping" if q is None else "/query?" + urllib.parse.urlencode(
        {"db": db, "q": q, "epoch": "ns"})
    times, body = [], b""
    for _ in range(runs):
        dt, status, body = _timed_get(port, path)
        times.append(dt)
    return times, (json.loads(body) if body else {})


def best_of(port, db, q, runs):
    """Best time of runs requests of q (None: GET /ping) and the last answer."""
    times, res = timings(port, db, q, runs)
    return min(times), res


# What the client and the round trip cost on their own: an empty request
# and the smallest query. No engine can answer faster than these.
FLOOR = [("ping", "", None), ("show-db", "", "SHOW DATABASES")]


def in_a_row(servers, labels, n):
    """Prints the median of n requests in a row on each engine (the engines
    one after the other, three rounds, the median of the rounds' medians)
    for /ping, SHOW DATABASES and the SHOW queries of QUERIES."""
    qs = FLOOR + [q for q in QUERIES if q[2].startswith("SHOW")]
    med = {}
    for _ in range(3):
        for name, db, q in qs:
            for k, (port, _) in enumerate(servers):
                times, _ = timings(port, db, q, n)
                med.setdefault((name, k), []).append(statistics.median(times) * 1e3)
    print("\n| %d requests in a row, median (ms) | InfluxDB 1.6 | %s |" % (n, " | ".join(labels)))
    print("|---|" + "---:|" * len(servers))
    for name, _, _ in qs:
        print("| %s | %s |" % (name, " | ".join(
            "%.3f" % statistics.median(med[(name, k)]) for k in range(len(servers)))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--neoedge", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--data", default=os.path.join(SRC, "bench", "data"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--in-a-row", type=int, default=0, metavar="N",
                    help="also time N requests in a row per engine (caches warm) of the floor "
                    "rows and the meta queries, three rounds, and print their medians")
    ap.add_argument("--baseline", help="a second neoedge binary (e.g. an older build) loaded and "
                    "timed in the same run, for before/after figures")
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
        nes = [("neoedge", a.neoedge, np_)]
        if a.baseline:
            nes.append(("baseline", a.baseline, free_port()))
        for label, binary, port in nes:
            env = dict(os.environ, NEOEDGE_HTTP_LISTEN="127.0.0.1:%d" % port,
                       NEOEDGE_MQTT_ENABLED="false", NEOEDGE_COAP_ENABLED="false",
                       NEOEDGE_LOG_LEVEL="warn")
            ne = subprocess.Popen([binary, "run", "--data-dir", os.path.join(tmp, label)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(ne)
            wait_ping(port, ne, label)
        wait_ping(ip, influx, "influxd")
        for db in ("s1", "i1"):
            query(ip, "", "CREATE DATABASE " + db)
        for db, path in (("s1", s1), ("i1", i1)):
            for label, port in [("influxdb", ip)] + [(n[0], n[2]) for n in nes]:
                t = time.perf_counter()
                load(port, db, path)
                print("loaded %s into %s in %.1f s" % (db, label, time.perf_counter() - t),
                      file=sys.stderr)
        for _, _, port in nes:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            c.request("POST", "/api/v1/flush")
            c.getresponse().read()
        wait_idle([p.pid for p in procs])
        rows = []
        servers = [(ip, influx.pid)] + [(n[2], procs[1 + k].pid) for k, n in enumerate(nes)]
        for name, db, q in FLOOR + QUERIES:
            # the engines take turns, one request each, so that a burst of
            # load from elsewhere on the machine hits them alike; the
            # server's CPU time (utime + stime, 10 ms ticks) is summed too
            times = [[] for _ in servers]
            cpu = [0.0 for _ in servers]
            answers = [None for _ in servers]
            for _ in range(a.runs):
                for k, (port, pid) in enumerate(servers):
                    c0 = cpu_seconds(pid)
                    t, answers[k] = timings(port, db, q, 1)
                    cpu[k] += cpu_seconds(pid) - c0
                    times[k] += t
            ti, tn, ri, rn = times[0], times[1], answers[0], answers[1]
            if (name, db, q) in FLOOR:
                same = "-"  # timed only
            else:
                same = "yes" if diff(ri, rn) is None else "NO: " + diff(ri, rn)[:60]
            row = [name, db or "-", min(ti) * 1e3, min(tn) * 1e3,
                   min(ti) / min(tn) if min(tn) > 0 else float("inf"), same,
                   statistics.median(ti) * 1e3, statistics.median(tn) * 1e3,
                   cpu[0] * 1e3 / a.runs, cpu[1] * 1e3 / a.runs]
            if a.baseline:
                tb = times[2]
                row += [min(tb) * 1e3, statistics.median(tb) * 1e3, cpu[2] * 1e3 / a.runs]
            rows.append(row)
        print("\n| query | data | InfluxDB 1.6 best of %d (ms) | neoedge best of %d (ms) | "
              "speed-up | same result | medians InfluxDB / neoedge (ms) | server CPU per query "
              "InfluxDB / neoedge (ms)%s |"
              % (a.runs, a.runs, " | baseline best / median / CPU (ms)" if a.baseline else ""))
        print("|---|---|---:|---:|---:|---|---:|---:|" + ("---:|" if a.baseline else ""))
        for r in rows:
            line = "| %s | %s | %.2f | %.2f | %.1fx | %s | %.2f / %.2f | %.1f / %.1f |" % tuple(
                r[:10])
            if a.baseline:
                line += " %.2f / %.2f / %.1f |" % tuple(r[10:])
            print(line)
        if a.in_a_row:
            in_a_row(servers, [l for l, _, _ in nes], a.in_a_row)
    finally:
        stop_all(procs)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
